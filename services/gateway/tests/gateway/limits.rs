//! What one member may take of what all share (issue 13, items 2 and 6):
//! the rate quota the gateway meters (`over_quota`), the limits the server
//! enforces on a member's account (connections, payload) and on its share
//! of the work queue, and the refusal of new messages for a member whose
//! untaken deliveries are about to expire (`recipient_backlog`). Each is
//! tried the way a flooding or absent member would, on the real server.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use homeward_core::receipt::Decision;
use homeward_core::{MemberId, RejectionCode, streams, subjects};
use homeward_testkit::local::{Local, LocalOptions};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::*;

fn policy_with_quotas(dir: &std::path::Path, quotas: &[(&str, &str)]) -> PathBuf {
    homeward_testkit::local::demo_policy_with_quotas(dir, quotas).expect("policy written")
}

async fn local_with_policy(path: PathBuf) -> Local {
    Local::start(LocalOptions {
        policy: Some(path),
        ..Default::default()
    })
    .await
    .expect("local deployment starts")
}

fn parse_time(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).expect("RFC 3339 time")
}

#[tokio::test]
async fn a_member_over_its_rate_is_refused_and_the_others_are_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = policy_with_quotas(
        dir.path(),
        &[("kz.mfa", "submissions_per_second = 1\nburst = 3")],
    );
    let local = local_with_policy(path).await;
    let js = jetstream(&local).await;
    let flooder = local.member("kz.mfa").await.expect("member");
    let other = local.member("uz.mfa").await.expect("member");
    // The flood is queued before any gateway runs: the quota is on the
    // rate it was sent at, which a gateway coming late does not change.
    let flood: Vec<_> = (0..12).map(|_| resign_as(&local, "kz.mfa")).collect();
    let flood_seqs = submit_pipelined(&flooder, &flood).await;
    let others: Vec<_> = (0..12).map(|_| resign_as(&local, "uz.mfa")).collect();
    let other_seqs = submit_pipelined(&other, &others).await;
    let gateway = local
        .spawn_gateway(local.gateway_config("gw-quota").expect("config"))
        .await
        .expect("gateway starts");

    let mut accepted = 0;
    let mut refused = Vec::new();
    let mut stored = Vec::new();
    for (seq, envelope) in flood_seqs.iter().zip(&flood) {
        let receipt = receipt_for(&local, &js, flooder.member(), *seq).await;
        let record = audit_record_for(&js, *seq).await;
        stored.push(parse_time(
            record.submitted_at.as_deref().expect("stored at"),
        ));
        assert_eq!(receipt.submission_id.as_deref(), Some(envelope.id()));
        match receipt.decision {
            Decision::Accepted => accepted += 1,
            Decision::Rejected => {
                assert_eq!(
                    receipt.codes(),
                    vec![RejectionCode::OverQuota],
                    "{receipt:?}"
                );
                assert_eq!(receipt.schema_version(), 3, "over_quota is a v3 code");
                assert!(
                    receipt.reasons[0]
                        .message
                        .contains("1 submissions a second (burst 3)"),
                    "the reason names the quota: {receipt:?}"
                );
                assert_eq!(record.codes, vec!["over_quota"]);
                assert_eq!(record.envelope_id.as_deref(), Some(envelope.id()));
                refused.push(*seq);
            }
        }
    }
    // The burst, and one more for each second the flood took to store.
    let span = (*stored.last().expect("stored") - stored[0]).as_seconds_f64();
    assert!(accepted >= 3, "the burst is accepted: {accepted}");
    assert!(
        f64::from(accepted) <= 3.0 + span.ceil(),
        "{accepted} accepted of a flood stored over {span} s at 1/s with a burst of 3"
    );
    assert!(
        !refused.is_empty(),
        "a flood of 12 in {span} s is over a burst of 3"
    );
    // Nothing refused was delivered, and each refusal's bytes are kept
    // for the sender like any rejection's; the other member lost nothing.
    let delivered = read_all(&js, subjects::DELIVER_STREAM, subjects::DELIVER_ALL).await;
    let copies = read_all(&js, subjects::REJECTED_STREAM, subjects::REJECTED_ALL).await;
    for seq in &refused {
        assert!(delivered.iter().all(|d| submit_seq(d) != Some(*seq)));
        assert_eq!(
            copies
                .iter()
                .filter(|c| submit_seq(c) == Some(*seq))
                .count(),
            1
        );
    }
    for seq in &other_seqs {
        let receipt = receipt_for(&local, &js, other.member(), *seq).await;
        assert_eq!(receipt.decision, Decision::Accepted, "{receipt:?}");
    }
    let kz = MemberId::parse("kz.mfa").expect("id");
    assert_eq!(
        gateway.metrics.over_quota(&kz),
        refused.len() as u64,
        "operators see every refusal, by member"
    );
    assert_eq!(
        gateway
            .metrics
            .over_quota(&MemberId::parse("uz.mfa").expect("id")),
        0
    );
    gateway.stop().await.expect("gateway stops");
}

#[tokio::test]
async fn the_server_bounds_a_members_connections_and_payload() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = policy_with_quotas(
        dir.path(),
        &[("tj.mfa", "connections = 2\npayload = 69632")],
    );
    let local = local_with_policy(path).await;
    // Four connections at once: the server takes two and refuses the
    // others at their handshake ("maximum account active connections
    // exceeded"); nothing a refused one sends gets through.
    let mut clients = Vec::new();
    for _ in 0..4 {
        if let Ok(c) = local.member("tj.mfa").await {
            clients.push(c);
        }
    }
    let mut through = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let sent = tokio::time::timeout(
            Duration::from_secs(3),
            c.submit(&resign_as(&local, "tj.mfa")),
        )
        .await;
        if matches!(sent, Ok(Ok(_))) {
            through.push(i);
        }
    }
    assert!(
        !through.is_empty() && through.len() <= 2,
        "of 4 connections at once under a limit of 2, {} got through",
        through.len()
    );
    let first = &clients[through[0]];
    // Another member is not limited by tj.mfa's quota.
    for _ in 0..3 {
        local.member("uz.mfa").await.expect("uz.mfa connects");
    }

    // A message over the account's payload limit is not taken: the server
    // refuses it, and nothing of it reaches the work queue.
    let js = jetstream(&local).await;
    let before = stream_count(&js, subjects::SUBMIT_STREAM).await;
    let big = vec![b'x'; 100 * 1024];
    let sent = tokio::time::timeout(
        Duration::from_secs(10),
        first.submit_bytes("too-big-for-tj", big),
    )
    .await;
    assert!(
        !matches!(sent, Ok(Ok(_))),
        "a 100 KiB publish over a 68 KiB account limit is not stored"
    );
    assert_eq!(stream_count(&js, subjects::SUBMIT_STREAM).await, before);
}

#[tokio::test]
async fn no_member_fills_the_work_queue_for_the_others() {
    let local = Local::start(LocalOptions::default())
        .await
        .expect("local deployment starts");
    let admin = jetstream::new(local.client("admin").await.expect("admin"));
    let mut stream = admin
        .get_stream(subjects::SUBMIT_STREAM)
        .await
        .expect("submit stream");
    let config = stream.info().await.expect("info").config.clone();
    assert_eq!(
        config.max_messages_per_subject,
        streams::SUBMIT_PENDING_PER_MEMBER
    );
    assert_eq!(config.discard, jetstream::stream::DiscardPolicy::New);
    assert!(config.discard_new_per_subject);
    // The shipped bound is a whole census; three shows the same rule.
    admin
        .update_stream(jetstream::stream::Config {
            max_messages_per_subject: 3,
            ..config
        })
        .await
        .expect("the administrator lowers the bound");

    // No gateway runs: everything submitted waits.
    let flooder = local.member("kz.mfa").await.expect("member");
    for _ in 0..3 {
        flooder
            .submit(&resign_as(&local, "kz.mfa"))
            .await
            .expect("within the bound");
    }
    let over = flooder
        .submit(&resign_as(&local, "kz.mfa"))
        .await
        .expect_err("a fourth waiting submission is refused by the server");
    assert!(
        over.to_string()
            .contains("maximum messages per subject exceeded"),
        "{over}"
    );
    // The others still submit; nothing of the flooder's was dropped.
    let other = local.member("uz.mfa").await.expect("member");
    for _ in 0..3 {
        other
            .submit(&resign_as(&local, "uz.mfa"))
            .await
            .expect("another member is not behind the flood");
    }
    let mut subjects_info = stream
        .info_with_subjects(subjects::SUBMIT_ALL)
        .await
        .expect("subjects");
    let mut counts = std::collections::BTreeMap::new();
    while let Some(entry) = subjects_info.next().await {
        let (subject, count) = entry.expect("a subject");
        counts.insert(subject, count);
    }
    let of = |m: &str| {
        counts
            .get(&subjects::submit(&MemberId::parse(m).expect("id")))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!((of("kz.mfa"), of("uz.mfa")), (3, 3));
}

#[tokio::test]
async fn a_member_that_leaves_its_deliveries_is_protected_from_losing_more() {
    let local = Local::start(LocalOptions::default())
        .await
        .expect("local deployment starts");
    let js = jetstream(&local).await;
    // The shipped limit is 83 days of 90; a second shows the same rule.
    let mut config = local.gateway_config("gw-backlog").expect("config");
    config.backlog_refuse_after = Duration::from_secs(1);
    config.backlog_check_every = Duration::from_millis(200);
    let gateway = local.spawn_gateway(config).await.expect("gateway starts");
    let camps = MemberId::parse("aanes.camps").expect("id");
    let mfa = local.member("kz.mfa").await.expect("member");

    // A processing receipt to aanes.camps, which takes nothing.
    let first = mfa.submit(&processed(&local)).await.expect("submitted");
    let receipt = receipt_for(&local, &js, mfa.member(), first.sequence).await;
    assert_eq!(receipt.decision, Decision::Accepted, "{receipt:?}");
    wait_until("aanes.camps is refused", || {
        gateway.metrics.recipient_refused(&camps)
    })
    .await;

    // Now what is for aanes.camps is refused, with the member named ...
    let envelope = processed(&local);
    let ack = mfa.submit(&envelope).await.expect("submitted");
    let receipt = receipt_for(&local, &js, mfa.member(), ack.sequence).await;
    assert_eq!(
        receipt.codes(),
        vec![RejectionCode::RecipientBacklog],
        "{receipt:?}"
    );
    assert_eq!(receipt.schema_version(), 3);
    assert!(
        receipt.reasons[0].message.contains("aanes.camps"),
        "{receipt:?}"
    );
    assert_eq!(receipt.submission_id.as_deref(), Some(envelope.id()));
    let record = audit_record_for(&js, ack.sequence).await;
    assert_eq!(record.codes, vec!["recipient_backlog"]);
    let delivered = read_all(&js, subjects::DELIVER_STREAM, subjects::DELIVER_ALL).await;
    assert!(
        delivered
            .iter()
            .all(|d| submit_seq(d) != Some(ack.sequence))
    );
    // ... and what is for others goes on.
    let camps_client = local.member("aanes.camps").await.expect("member");
    let located = resign(
        &local,
        &example("camp.resident.located", "kazakh-family-al-hol.json"),
    );
    let ack = camps_client.submit(&located).await.expect("submitted");
    let receipt = receipt_for(&local, &js, camps_client.member(), ack.sequence).await;
    assert_eq!(receipt.decision, Decision::Accepted, "{receipt:?}");

    // aanes.camps comes back and takes everything: the refusal ends.
    let consumer = camps_client
        .delivery_consumer()
        .await
        .expect("its consumer");
    let mut taken = 0;
    let mut messages = consumer
        .fetch()
        .max_messages(100)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .expect("fetch");
    while let Some(m) = messages.next().await {
        m.expect("delivery")
            .ack_with(AckKind::Ack)
            .await
            .expect("acked");
        taken += 1;
    }
    assert!(taken >= 1, "the delivery left untaken is there");
    wait_until("aanes.camps is accepted again", || {
        !gateway.metrics.recipient_refused(&camps)
    })
    .await;
    let ack = mfa.submit(&processed(&local)).await.expect("submitted");
    let receipt = receipt_for(&local, &js, mfa.member(), ack.sequence).await;
    assert_eq!(receipt.decision, Decision::Accepted, "{receipt:?}");
    gateway.stop().await.expect("gateway stops");
}

/// Waits for `condition`, looking every 50 ms, for at most [`WAIT`].
async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
