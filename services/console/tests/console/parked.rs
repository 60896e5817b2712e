//! Parked and given-up messages reach the Backlog view with their reason,
//! from the server's own advisories: a delivery a member's service
//! terminated (`+TERM parked …`, as `homeward_ministry::parked` does), and
//! one its consumer gave up on after its last delivery.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use futures::StreamExt;
use homeward_core::subjects;
use homeward_testkit::local::{Local, LocalOptions};

use crate::support::{ConsoleUnderTest, test_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_and_a_given_up_message_show_with_their_reason() {
    let local = Local::start(LocalOptions::default()).await.expect("local");
    let console = ConsoleUnderTest::start(&local, test_config()).await;
    let admin = local.client("test admin").await.expect("admin");
    let js = jetstream::new(admin.clone());
    for n in 0..2 {
        js.publish(
            "hw.deliver.kz.mfa.camp.resident.located",
            format!("delivery {n}").into(),
        )
        .await
        .expect("publishes")
        .await
        .expect("stored");
    }

    // Kazakhstan's foreign ministry parks the first: it terminates it with
    // its reason, as its service does after the last attempt.
    let stream = js
        .get_stream(subjects::DELIVER_STREAM)
        .await
        .expect("stream");
    let member: jetstream::consumer::Consumer<pull::Config> = stream
        .get_consumer("deliver_kz_mfa")
        .await
        .expect("the member's consumer");
    let mut batch = member
        .fetch()
        .max_messages(1)
        .messages()
        .await
        .expect("fetches");
    let first = batch.next().await.expect("a delivery").expect("ok");
    let reply = first.reply.clone().expect("an ack subject");
    admin
        .publish(reply, "+TERM parked handler_failed attempts=8".into())
        .await
        .expect("terminates");
    admin.flush().await.expect("flushed");

    // A consumer that gives up after one delivery, whose message is never
    // acknowledged.
    let probe = stream
        .create_consumer(pull::Config {
            durable_name: Some("probe_kz_mfa".into()),
            filter_subject: "hw.deliver.kz.mfa.>".into(),
            max_deliver: 1,
            ack_wait: Duration::from_millis(500),
            ..Default::default()
        })
        .await
        .expect("a probe consumer");
    let mut batch = probe
        .fetch()
        .max_messages(1)
        .messages()
        .await
        .expect("fetches");
    let _never_acked = batch.next().await.expect("a delivery").expect("ok");

    let snapshot = console
        .wait_for("both in the Backlog view", Duration::from_secs(10), |s| {
            let parked = s["parked"].as_array().cloned().unwrap_or_default();
            parked.iter().any(|p| p["kind"] == "terminated")
                && parked.iter().any(|p| p["kind"] == "max_deliveries")
        })
        .await;
    let parked = snapshot["parked"].as_array().expect("parked");
    let terminated = parked
        .iter()
        .find(|p| p["kind"] == "terminated")
        .expect("terminated");
    assert_eq!(terminated["member"], "kz.mfa");
    assert_eq!(terminated["consumer"], "deliver_kz_mfa");
    assert_eq!(terminated["stream"], subjects::DELIVER_STREAM);
    assert_eq!(
        terminated["reason"], "parked handler_failed attempts=8",
        "{terminated:#}"
    );
    let given_up = parked
        .iter()
        .find(|p| p["kind"] == "max_deliveries")
        .expect("given up");
    assert_eq!(given_up["member"], "kz.mfa");
    assert_eq!(given_up["consumer"], "probe_kz_mfa");
    assert_eq!(given_up["deliveries"], 1);
    // Never the message itself.
    let text = console
        .get("/api/snapshot")
        .await
        .text()
        .await
        .expect("text");
    assert!(!text.contains("delivery 0") && !text.contains("delivery 1"));
    console.stop().await;
}
