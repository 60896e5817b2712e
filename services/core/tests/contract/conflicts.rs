//! Optimistic concurrency as the real server reports it, on one server and
//! on a three-node cluster: a write that expected a sequence someone else
//! has moved past is a conflict, told apart from every other failure
//! (`streams::is_wrong_last_sequence`). A clustered stream answers with
//! another error code than a lone server, which async-nats files as
//! "other"; the case stores, the event log and the audit chain rely on
//! telling the two apart, so each setup is tried.

use async_nats::jetstream::{self, context::PublishErrorKind, kv};
use homeward_core::streams;
use homeward_testkit::local::{Local, LocalOptions};

async fn conflicts_are_told_apart(nodes: usize) {
    let local = Local::start(LocalOptions {
        nodes,
        ..Default::default()
    })
    .await
    .expect("local deployment");
    let js = jetstream::new(local.client("conflicts").await.expect("admin"));
    let bucket = js
        .create_key_value(kv::Config {
            bucket: "conflicts".into(),
            num_replicas: local.replicas,
            ..Default::default()
        })
        .await
        .expect("bucket");
    let first = bucket.create("case", "one".into()).await.expect("created");
    bucket
        .update("case", "two".into(), first)
        .await
        .expect("the first writer wins");
    let stale = bucket
        .update("case", "three".into(), first)
        .await
        .expect_err("a second writer from the same revision loses");
    assert!(
        stale.kind() == kv::UpdateErrorKind::WrongLastRevision
            || streams::is_wrong_last_sequence(&stale),
        "on {nodes} node(s), a stale update is not seen as a conflict: {stale:?}"
    );
    assert!(
        streams::is_wrong_last_sequence(&stale),
        "on {nodes} node(s): {stale:?}"
    );

    // A subject's expected last sequence, as the event log appends.
    js.create_stream(jetstream::stream::Config {
        name: "CONFLICTS".into(),
        subjects: vec!["conflicts.>".into()],
        num_replicas: local.replicas,
        ..Default::default()
    })
    .await
    .expect("stream");
    let append = |expected: u64| {
        let js = js.clone();
        async move {
            let message = jetstream::message::PublishMessage::build()
                .payload("event".into())
                .expected_last_subject_sequence(expected);
            match js.send_publish("conflicts.case", message).await {
                Ok(ack) => ack.await,
                Err(e) => Err(e),
            }
        }
    };
    append(0).await.expect("the first event");
    let lost = append(0).await.expect_err("a second first event");
    assert!(
        lost.kind() == PublishErrorKind::WrongLastSequence
            || streams::is_wrong_last_sequence(&lost),
        "on {nodes} node(s): {lost:?}"
    );
    assert!(streams::is_wrong_last_sequence(&lost), "{lost:?}");

    // A revision of a key never written is someone else's revision too;
    // a missing stream is no conflict.
    let missing = bucket
        .update("never-written", "x".into(), 7)
        .await
        .expect_err("no such revision");
    assert!(streams::is_wrong_last_sequence(&missing), "{missing:?}");
    let gone = js
        .get_stream("NO_SUCH_STREAM")
        .await
        .expect_err("no such stream");
    assert!(!streams::is_wrong_last_sequence(&gone), "{gone:?}");
}

#[tokio::test]
async fn a_lost_race_is_a_conflict_on_one_server() {
    conflicts_are_told_apart(1).await;
}

#[tokio::test]
async fn a_lost_race_is_a_conflict_on_a_three_node_cluster() {
    conflicts_are_told_apart(3).await;
}
