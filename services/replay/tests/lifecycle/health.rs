//! `/health` tells the truth: 200 while the delivery and receipt loops run,
//! 503 with the reason once one has failed.
//!
//! The failure is a real one on the real server: the administrator deletes
//! the member's delivery consumer, so its delivery loop ends before
//! shutdown. Before this, `/health` answered `ok` whatever the loops did,
//! and a dead delivery loop went unnoticed until shutdown.

use std::time::Duration;

use homeward_core::{MemberId, subjects};
use homeward_ministry::health::LoopState;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::world;

async fn health(http: &reqwest::Client, base: &str) -> (StatusCode, Value) {
    let response = http
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("get");
    (response.status(), response.json().await.expect("json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_503_with_the_reason_once_the_delivery_loop_has_failed() {
    let (local, world, _api) = world().await;
    let http = reqwest::Client::new();
    let mfa = world.api("kz.mfa").expect("api");
    let (status, body) = health(&http, &mfa).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["member"], "kz.mfa");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["loops"]["delivery"]["state"], "running", "{body}");
    assert_eq!(body["loops"]["receipts"]["state"], "running", "{body}");
    assert_eq!(body["policyVersion"], 1, "the published policy is in force");
    assert_eq!(body["alarms"]["foreignDuplicates"], 0, "{body}");

    // The administrator deletes kz.mfa's delivery consumer.
    let consumer = subjects::delivery_consumer(&MemberId::parse("kz.mfa").expect("id"));
    let admin = async_nats::jetstream::new(local.client("test-admin").await.expect("admin"));
    admin
        .get_stream(subjects::DELIVER_STREAM)
        .await
        .expect("stream")
        .delete_consumer(&consumer)
        .await
        .expect("deleted");
    let state = world.health("kz.mfa").expect("health");
    let failed = tokio::time::timeout(
        Duration::from_secs(30),
        state
            .delivery
            .wait_for(|s| matches!(s, LoopState::Failed { .. })),
    )
    .await
    .expect("the delivery loop fails within 30 s");
    let LoopState::Failed { reason } = failed else {
        unreachable!("waited for a failure")
    };

    let (status, body) = health(&http, &mfa).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "failed", "{body}");
    assert_eq!(body["loops"]["delivery"]["state"], "failed", "{body}");
    assert_eq!(body["loops"]["delivery"]["reason"], reason.as_str());
    // The reason says what is wrong: the consumer is not there.
    assert!(reason.contains(&consumer), "{reason}");
    assert_eq!(body["loops"]["receipts"]["state"], "running", "{body}");

    // Every other member's service is unaffected.
    let (status, body) = health(&http, &world.api("kz.security").expect("api")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // And stopping reports the failed loop rather than a clean stop.
    let stopped = world.stop().await.expect_err("the failed loop is reported");
    assert!(
        stopped
            .to_string()
            .contains("kz.mfa: the delivery loop failed"),
        "{stopped}"
    );
}
