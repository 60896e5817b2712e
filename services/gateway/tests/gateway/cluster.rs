//! A server lost: on a three-node cluster, a node is killed (SIGKILL) while
//! submissions flow, and started again. Every submission is still
//! delivered exactly once, receipted once and recorded once, on an audit
//! chain that verifies.

use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use homeward_core::client::MemberClient;
use homeward_core::envelope::Envelope;
use homeward_core::subjects;
use homeward_testkit::local::{Local, LocalOptions};

use crate::support::{assert_each_handled_once, jetstream, processed, wait_for_records};

const MESSAGES: usize = 1_000;

/// How long the cluster may take to serve a stream again after losing the
/// node that led it (about 5 s here).
const FAILOVER_WITHIN: Duration = Duration::from_secs(60);

/// Submits each envelope and waits for its ack, publishing it again (same
/// id, so JetStream's duplicate window keeps one copy) while the cluster
/// fails over; a repeat that finds the first copy stored is answered with
/// that copy's sequence.
async fn submit_through_failover(client: &MemberClient, envelopes: &[Envelope]) -> Vec<u64> {
    let subject = subjects::submit(client.member());
    let mut sequences = Vec::with_capacity(envelopes.len());
    for envelope in envelopes {
        let deadline = tokio::time::Instant::now() + FAILOVER_WITHIN;
        let sequence = loop {
            let publish = PublishMessage::build()
                .payload(envelope.to_bytes().into())
                .message_id(envelope.id());
            let stored = match client
                .jetstream()
                .send_publish(subject.clone(), publish)
                .await
            {
                Ok(ack) => ack.await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match stored {
                Ok(ack) => break ack.sequence,
                Err(e) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "submission {} not stored within {FAILOVER_WITHIN:?}: {e}",
                        envelope.id()
                    );
                    eprintln!("submission {} not stored yet: {e}", envelope.id());
                }
            }
            // The cluster is electing new leaders: ask again shortly.
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        sequences.push(sequence);
    }
    sequences
}

/// Waits until every Homeward stream has a leader and two current
/// replicas again: the restarted node has caught up. Asked of the server
/// until it says so, for at most a minute.
async fn until_whole(js: &async_nats::jetstream::Context) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut whole = true;
        for name in homeward_core::natsauth::STREAMS {
            let current = match js.get_stream(name).await {
                Ok(mut stream) => stream.info().await.ok().and_then(|info| {
                    let cluster = info.cluster.as_ref()?;
                    cluster.leader.as_ref()?;
                    Some(cluster.replicas.iter().filter(|r| r.current).count())
                }),
                Err(_) => None,
            };
            whole &= current == Some(2);
        }
        if whole {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cluster is not whole again within a minute"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_while_submissions_flow_loses_nothing_and_doubles_nothing() {
    let mut local = Local::start(LocalOptions {
        nodes: 3,
        ..Default::default()
    })
    .await
    .expect("a three-node cluster");
    let gateway = local
        .spawn_gateway(local.gateway_config("gw-cluster").expect("config"))
        .await
        .expect("gateway starts");
    let mfa = local.member("kz.mfa").await.expect("member");
    let envelopes: Vec<Envelope> = (0..MESSAGES).map(|_| processed(&local)).collect();
    let (before, after) = envelopes.split_at(MESSAGES / 3);

    let js = jetstream(&local).await;
    let mut sequences = submit_through_failover(&mfa, before).await;
    // The node that leads the work queue dies as a crash would, with the
    // first third still being decided; the rest are submitted without it,
    // then with it back.
    let leader = {
        let mut submit = js
            .get_stream(subjects::SUBMIT_STREAM)
            .await
            .expect("HW_SUBMIT");
        let info = submit.info().await.expect("info");
        info.cluster
            .as_ref()
            .and_then(|c| c.leader.clone())
            .expect("HW_SUBMIT has a leader")
    };
    let index = leader
        .strip_prefix('n')
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(|n| n.checked_sub(1))
        .unwrap_or_else(|| panic!("a node name: {leader}"));
    local
        .servers_mut()
        .nth(index)
        .expect("the leader is a node")
        .kill();
    let (during, rest) = after.split_at(after.len() / 2);
    sequences.extend(submit_through_failover(&mfa, during).await);
    local
        .servers_mut()
        .nth(index)
        .expect("the leader is a node")
        .restart()
        .expect("the node starts again");
    sequences.extend(submit_through_failover(&mfa, rest).await);
    until_whole(&js).await;

    wait_for_records(&js, &sequences, Duration::from_secs(120)).await;
    gateway.stop().await.expect("the gateway stops");
    let sent: Vec<(Envelope, u64)> = envelopes.into_iter().zip(sequences).collect();
    assert_each_handled_once(&local, &js, mfa.member(), &sent, &["aanes.camps"]).await;
}
