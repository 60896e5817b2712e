//! Key rotation: kz.mfa's policy lists an old key that expired half a
//! minute ago and a new key valid for the last five minutes (the windows
//! overlap), plus a key that was revoked.
//!
//! Which key may sign is decided at the envelope's own time, so a message
//! signed with the old key before it expired is accepted even when the
//! gateway handles it after the expiry (it may have waited in the queue):
//! a rotation loses nothing in flight. Messages signed with either key,
//! interleaved, are all accepted and each delivered exactly once, and the
//! recipient verifies each one itself against the policy (and refuses an
//! altered delivery or one signed with another member's key). From the expiry
//! on, the old key's messages are refused as `expired_key`, and so is
//! anything signed with the revoked key, whatever its time. The window
//! edges (key not yet valid, expired long ago) are in
//! `rejections::expired_key`.

use std::path::PathBuf;

use homeward_core::envelope::{Envelope, format_time};
use homeward_core::receipt::Decision;
use homeward_core::{MemberId, RejectionCode, SigningKey, subjects};
use homeward_testkit::local::LocalOptions;
use time::{Duration, OffsetDateTime};

use crate::support::{
    assert_each_handled_once, audit_record_for, builder, deployment_with, example, jetstream,
    read_all, receipt_for, stream_count, submit_pipelined, submit_seq, wait_for_records,
};

/// One key of kz.mfa in the test policy.
struct KeyWindow<'a> {
    key: &'a SigningKey,
    valid_from: OffsetDateTime,
    valid_until: Option<OffsetDateTime>,
    revoked: bool,
}

/// The demo policy (its keyring line dropped: the deployment's own keyring
/// replaces it) with `keys` listed inline for kz.mfa.
fn policy_with_keys(dir: &std::path::Path, keys: &[KeyWindow<'_>]) -> PathBuf {
    let demo =
        std::fs::read_to_string(homeward_testkit::local::demo_policy_path()).expect("demo policy");
    let mut policy: toml::Table = toml::from_str(&demo).expect("demo policy is toml");
    policy.remove("keyrings");
    let inline: Vec<toml::Value> = keys
        .iter()
        .map(|k| {
            let mut t = toml::Table::new();
            t.insert("public".into(), k.key.public().as_str().into());
            t.insert("valid_from".into(), format_time(k.valid_from).into());
            if let Some(until) = k.valid_until {
                t.insert("valid_until".into(), format_time(until).into());
            }
            if k.revoked {
                t.insert("revoked".into(), true.into());
            }
            toml::Value::Table(t)
        })
        .collect();
    let kz_mfa = policy
        .get_mut("member")
        .and_then(toml::Value::as_array_mut)
        .expect("members")
        .iter_mut()
        .find(|m| m.get("id").and_then(toml::Value::as_str) == Some("kz.mfa"))
        .and_then(toml::Value::as_table_mut)
        .expect("kz.mfa");
    kz_mfa.insert("key".into(), toml::Value::Array(inline));
    let path = dir.join("policy.toml");
    std::fs::write(&path, toml::to_string(&policy).expect("toml")).expect("write policy");
    path
}

/// kz.mfa's processing receipt to aanes.camps, signed with `key` at `time`.
fn signed(key: &SigningKey, time: OffsetDateTime) -> Envelope {
    let kz_mfa = MemberId::parse("kz.mfa").expect("member");
    builder(&example("message.processed", "processed.json"))
        .time(time)
        .sign(&kz_mfa, key)
        .expect("signs")
}

#[tokio::test]
async fn a_key_rotation_loses_no_message_and_retires_the_old_key() {
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("whole second");
    let expiry = now - Duration::seconds(30);
    let (old, new, revoked) = (
        SigningKey::generate(),
        SigningKey::generate(),
        SigningKey::generate(),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = policy_with_keys(
        dir.path(),
        &[
            KeyWindow {
                key: &old,
                valid_from: now - Duration::days(365),
                valid_until: Some(expiry),
                revoked: false,
            },
            KeyWindow {
                key: &new,
                valid_from: now - Duration::minutes(5),
                valid_until: None,
                revoked: false,
            },
            KeyWindow {
                key: &revoked,
                valid_from: now - Duration::days(365),
                valid_until: None,
                revoked: true,
            },
        ],
    );
    let (local, gateway) = deployment_with(LocalOptions {
        policy: Some(policy),
        ..Default::default()
    })
    .await;
    let js = jetstream(&local).await;
    let mfa = local.member("kz.mfa").await.expect("member");
    let camps = local.member("aanes.camps").await.expect("member");

    // During the overlap: the old key signs up to the last millisecond
    // before its expiry, the new key signs now; interleaved, pipelined.
    let mut envelopes = Vec::new();
    for i in 0..20 {
        envelopes.push(signed(&old, expiry - Duration::seconds(60 - i)));
        envelopes.push(signed(&new, now - Duration::seconds(i)));
    }
    envelopes.push(signed(&old, expiry - Duration::milliseconds(1)));
    envelopes.push(signed(&new, now));
    let sequences = submit_pipelined(&mfa, &envelopes).await;
    wait_for_records(&js, &sequences, std::time::Duration::from_secs(30)).await;
    let sent: Vec<(Envelope, u64)> = envelopes.into_iter().zip(sequences).collect();
    assert_each_handled_once(&local, &js, mfa.member(), &sent, &["aanes.camps"]).await;

    // The recipient does not take the gateway's word for it: each delivery
    // verifies against the policy at its own time, old key or new.
    let deliveries = read_all(
        &js,
        subjects::DELIVER_STREAM,
        "hw.deliver.aanes.camps.message.processed",
    )
    .await;
    assert_eq!(deliveries.len(), sent.len());
    let old_public = old.public();
    let mut by_old_key = 0;
    for d in &deliveries {
        let envelope = camps
            .verify_delivery(&d.payload)
            .unwrap_or_else(|e| panic!("aanes.camps refuses a delivery: {e}"));
        if envelope.sigkey() == old_public.as_str() {
            by_old_key += 1;
        }
    }
    assert_eq!(by_old_key, 21, "the old key's messages all arrived");
    // Nor does it take a delivery the gateway (or whoever writes to
    // HW_DELIVER) altered, or one signed with a key the policy does not
    // list for its sender.
    let mut altered: serde_json::Value =
        serde_json::from_slice(&deliveries[0].payload).expect("json");
    altered["data"]["outcome"] = "refused".into();
    let altered = serde_json::to_vec(&altered).expect("json");
    assert!(
        camps.verify_delivery(&altered).is_err(),
        "an altered delivery"
    );
    let borrowed = signed(&local.key("kz.security").expect("key"), now);
    assert!(
        camps.verify_delivery(&borrowed.to_bytes()).is_err(),
        "kz.mfa's message signed with kz.security's key"
    );

    // From its expiry on, the old key is refused; the revoked key always.
    let refused = [
        (
            "the old key at its expiry",
            signed(&old, expiry),
            "validity",
        ),
        ("the old key after it", signed(&old, now), "validity"),
        (
            "the revoked key inside its window",
            signed(&revoked, now),
            "revoked",
        ),
    ];
    for (what, envelope, said) in &refused {
        let delivered_before = stream_count(&js, subjects::DELIVER_STREAM).await;
        let ack = mfa.submit(envelope).await.expect("submitted");
        let receipt = receipt_for(&local, &js, mfa.member(), ack.sequence).await;
        assert_eq!(receipt.decision, Decision::Rejected, "{what}: {receipt:?}");
        assert_eq!(
            receipt.codes(),
            [RejectionCode::ExpiredKey],
            "{what}: {receipt:?}"
        );
        assert!(
            receipt.reasons[0].message.contains(said),
            "{what}: {receipt:?}"
        );
        let record = audit_record_for(&js, ack.sequence).await;
        assert_eq!(record.codes, ["expired_key"], "{what}");
        assert_eq!(
            stream_count(&js, subjects::DELIVER_STREAM).await,
            delivered_before,
            "{what}: nothing delivered"
        );
        assert!(
            read_all(&js, subjects::DELIVER_STREAM, subjects::DELIVER_ALL)
                .await
                .iter()
                .all(|d| submit_seq(d) != Some(ack.sequence))
        );
        // Were such a message delivered anyway (a compromised gateway), the
        // recipient would refuse it on its own.
        let verdict = camps.verify_delivery(&envelope.to_bytes());
        assert!(verdict.is_err(), "{what}: aanes.camps would accept it");
    }
    gateway.stop().await.expect("gateway stops");
}
