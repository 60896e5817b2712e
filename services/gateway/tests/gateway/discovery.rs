//! NATS micro discovery on the real server: the operator reaches the
//! gateway's `$SRV.PING`, `INFO` and `STATS` through its imports, with the
//! counters moving with the traffic; no member reaches another identity's
//! discovery, nor sees the operator's requests to another.

use std::time::Duration;

use futures::{FutureExt, StreamExt};
use homeward_core::{MemberId, natsauth};
use serde_json::Value;

use crate::permissions::{WAIT, connect_as, decision_for_uzbekistan, deployment};

/// Every answer to one request within `wait`.
async fn answers(client: &async_nats::Client, subject: String, wait: Duration) -> Vec<Value> {
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.expect("subscribes");
    client
        .publish_with_reply(subject, inbox, bytes::Bytes::new())
        .await
        .expect("sends");
    client.flush().await.expect("flush");
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, replies.next()).await {
        if m.status.is_none_or(|s| s == async_nats::StatusCode::OK)
            && let Ok(v) = serde_json::from_slice(&m.payload)
        {
            out.push(v);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_discovers_the_gateway_and_no_member_reaches_anothers_discovery() {
    let local = deployment().await;
    let gateway_id = MemberId::parse("homeward.gateway").expect("id");
    let gateway = local
        .spawn_gateway(local.gateway_config("gw-discovery").expect("config"))
        .await
        .expect("gateway");
    let mut operator = connect_as(&local, "homeward.operator").await;

    // PING, INFO and STATS answer, with the name, version and member.
    let ping = answers(
        &operator.client,
        natsauth::discovery_subject(&gateway_id, "PING"),
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(ping.len(), 1, "{ping:?}");
    assert_eq!(ping[0]["name"], "homeward-gateway");
    assert_eq!(ping[0]["version"], env!("CARGO_PKG_VERSION"));
    let info = answers(
        &operator.client,
        natsauth::discovery_subject(&gateway_id, "INFO"),
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(
        info[0]["metadata"]["member"], "homeward.gateway",
        "{info:?}"
    );

    // The counters move with a decision.
    let camps = local.member("aanes.camps").await.expect("camps");
    camps
        .submit(&decision_for_uzbekistan(&local))
        .await
        .expect("stored");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let stats = answers(
            &operator.client,
            natsauth::discovery_subject(&gateway_id, "STATS"),
            Duration::from_millis(500),
        )
        .await;
        let data = stats
            .first()
            .map(|s| s["endpoints"][0]["data"].clone())
            .unwrap_or_default();
        if data["processed"].as_u64() >= Some(1) {
            assert_eq!(data["refused"], 0, "{data}");
            assert_eq!(data["errors"], 0, "{data}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no decision counted: {stats:?}"
        );
    }
    operator.no_violations().await;

    // A member: its own account's $SRV has no gateway in it; the
    // operator's subjects are not its to publish to; and it does not see
    // what the operator asks another identity.
    let mut kz = connect_as(&local, "kz.mfa").await;
    let own = answers(&kz.client, "$SRV.PING".into(), Duration::from_millis(500)).await;
    assert!(
        own.is_empty(),
        "kz.mfa's $SRV reached another account: {own:?}"
    );
    let named = answers(
        &kz.client,
        "$SRV.STATS.homeward-gateway".into(),
        Duration::from_millis(500),
    )
    .await;
    assert!(named.is_empty(), "{named:?}");
    for target in ["homeward.gateway", "uz.mfa"] {
        let id = MemberId::parse(target).expect("id");
        kz.denied_request(&natsauth::discovery_subject(&id, "PING"), "")
            .await;
    }
    let mut overheard = kz.client.subscribe("$SRV.>").await.expect("its own $SRV");
    kz.client.flush().await.expect("flush");
    let uz = MemberId::parse("uz.mfa").expect("id");
    let _ = answers(
        &operator.client,
        natsauth::discovery_subject(&uz, "PING"),
        Duration::from_millis(300),
    )
    .await;
    let _ = answers(
        &operator.client,
        natsauth::discovery_subject(&gateway_id, "PING"),
        Duration::from_millis(300),
    )
    .await;
    kz.client.flush().await.expect("flush");
    assert!(
        overheard.next().now_or_never().flatten().is_none(),
        "kz.mfa overheard a discovery request for another identity"
    );
    // The gateway's user cannot ask a member's services either.
    let mut gw = connect_as(&local, "homeward.gateway").await;
    gw.denied_request(&natsauth::discovery_subject(&uz, "STATS"), "")
        .await;

    gateway.stop().await.expect("the gateway stops");
    // Once stopped, it soon answers no more: the console marks it down.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let after = answers(
            &operator.client,
            natsauth::discovery_subject(&gateway_id, "PING"),
            Duration::from_millis(300),
        )
        .await;
        if after.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still answering: {after:?}"
        );
    }
}
