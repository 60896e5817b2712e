//! Every rejection code, each produced by a crafted submission.
//!
//! For each one: the sender's receipt says rejected with that code (and is
//! itself a valid receipt signed by the gateway), `HW_REJECTED` holds the
//! submitted bytes exactly under `hw.rejected.<submitter>` with the codes in
//! a header, `HW_AUDIT` has a rejected record with the code, nothing was
//! delivered, and the gateway goes on to accept the next valid message.

use std::path::PathBuf;

use async_nats::jetstream;
use homeward_core::audit::sha256_hex;
use homeward_core::client::MemberClient;
use homeward_core::envelope::{self, Envelope, EnvelopeBuilder, MAX_ENVELOPE_BYTES};
use homeward_core::receipt::{Decision, Receipt};
use homeward_core::schema::message_schema_id;
use homeward_core::{MemberId, RejectionCode, SigningKey, subjects};
use homeward_testkit::local::{GatewayTask, Local, LocalOptions};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::support::{
    Tail, audit_record_for, builder, deployment_with, example, example_in, header, invalid_example,
    jetstream, processed, read_all, receipt_for, resign, stream_count, submit_seq,
};

/// A deployment with one gateway, and the checks every rejection must pass.
struct Bench {
    local: Local,
    gateway: GatewayTask,
    js: jetstream::Context,
    /// Sends the valid message that shows the gateway keeps going.
    probe: MemberClient,
    _policy_dir: Option<tempfile::TempDir>,
}

impl Bench {
    async fn new() -> Self {
        Self::with(LocalOptions::default(), None).await
    }

    async fn with(options: LocalOptions, policy_dir: Option<tempfile::TempDir>) -> Self {
        let (local, gateway) = deployment_with(options).await;
        let js = jetstream(&local).await;
        let probe = local.member("kz.mfa").await.expect("member");
        Self {
            local,
            gateway,
            js,
            probe,
            _policy_dir: policy_dir,
        }
    }

    async fn member(&self, member: &str) -> MemberClient {
        self.local.member(member).await.expect("member")
    }

    fn key(&self, member: &str) -> SigningKey {
        self.local.key(member).expect("key")
    }

    /// Submits `bytes` as `by` (with `msg_id` as Nats-Msg-Id, none if
    /// empty), and checks that the gateway rejected them with `code` and
    /// only `code`, everywhere it should say so. `id` is the envelope id the
    /// receipt and audit record should name (`None` when the bytes are not
    /// an envelope whose id could be read).
    async fn rejects(
        &self,
        by: &MemberClient,
        msg_id: &str,
        bytes: Vec<u8>,
        code: RejectionCode,
        id: Option<&str>,
    ) -> Receipt {
        let member = by.member().clone();
        let delivered_before = stream_count(&self.js, subjects::DELIVER_STREAM).await;
        let ack = by
            .submit_bytes(msg_id, bytes.clone())
            .await
            .expect("submitted");
        assert!(!ack.duplicate, "the stream took the submission");
        let seq = ack.sequence;
        let sha = sha256_hex(&bytes);

        let receipt = receipt_for(&self.local, &self.js, &member, seq).await;
        assert_eq!(receipt.decision, Decision::Rejected, "{receipt:?}");
        assert!(!receipt.reasons.is_empty());
        assert!(
            receipt.codes().iter().all(|c| *c == code),
            "expected only {code}: {receipt:?}"
        );
        assert!(receipt.recipients.is_empty());
        assert_eq!(receipt.submission_id.as_deref(), id);
        assert_eq!(receipt.submission_sha256.as_deref(), Some(sha.as_str()));

        let mut rejected = Tail::new(
            &self.js,
            subjects::REJECTED_STREAM,
            &subjects::rejected(&member),
        )
        .await;
        let stored = rejected
            .until(&format!("rejection of submission {seq}"), |m| {
                submit_seq(m) == Some(seq)
            })
            .await;
        assert_eq!(stored.subject.as_str(), subjects::rejected(&member));
        assert!(
            stored.payload[..] == bytes[..],
            "HW_REJECTED holds the submitted bytes exactly"
        );
        let codes = header(&stored, subjects::headers::CODES).expect("Hw-Codes");
        assert!(
            !codes.is_empty() && codes.split(',').all(|c| c == code.as_str()),
            "Hw-Codes {codes:?}, expected {code}"
        );

        let record = audit_record_for(&self.js, seq).await;
        assert_eq!(record.decision, "rejected");
        assert_eq!(record.codes, vec![code.as_str()]);
        assert_eq!(record.sender, member.as_str());
        assert_eq!(record.envelope_sha256, sha);
        assert_eq!(record.envelope_id.as_deref(), id);
        assert!(record.recipients.is_empty());

        // The audit record is written after everything else the decision
        // stores, so any delivery would be there by now.
        assert_eq!(
            stream_count(&self.js, subjects::DELIVER_STREAM).await,
            delivered_before,
            "nothing was delivered"
        );
        assert!(
            read_all(&self.js, subjects::DELIVER_STREAM, subjects::DELIVER_ALL)
                .await
                .iter()
                .all(|d| submit_seq(d) != Some(seq))
        );

        self.keeps_going().await;
        receipt
    }

    /// A valid message sent now is accepted and delivered.
    async fn keeps_going(&self) {
        let envelope = processed(&self.local);
        let ack = self.probe.submit(&envelope).await.expect("submitted");
        let receipt = receipt_for(&self.local, &self.js, self.probe.member(), ack.sequence).await;
        assert_eq!(receipt.decision, Decision::Accepted, "{receipt:?}");
        assert_eq!(receipt.recipients, vec!["aanes.camps"]);
        let record = audit_record_for(&self.js, ack.sequence).await;
        assert_eq!(record.decision, "accepted");
        let delivered = read_all(
            &self.js,
            subjects::DELIVER_STREAM,
            "hw.deliver.aanes.camps.message.processed",
        )
        .await;
        assert_eq!(
            delivered
                .iter()
                .filter(|d| submit_seq(d) == Some(ack.sequence))
                .count(),
            1
        );
    }

    async fn stop(self) {
        self.gateway.stop().await.expect("gateway stops");
    }
}

/// An envelope as JSON, to be changed after signing.
fn value_of(envelope: &Envelope) -> Value {
    envelope.to_value()
}

fn bytes_of(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("json")
}

fn member(id: &str) -> MemberId {
    MemberId::parse(id).expect("member")
}

#[tokio::test]
async fn malformed_json() {
    let bench = Bench::new().await;
    let mfa = bench.member("kz.mfa").await;
    let whole = processed(&bench.local).to_bytes();
    // Cut short, without a message id: the receipt is found by sequence.
    bench
        .rejects(
            &mfa,
            "",
            whole[..whole.len() / 2].to_vec(),
            RejectionCode::MalformedJson,
            None,
        )
        .await;
    // Not UTF-8.
    let mut latin1 = whole.clone();
    latin1.splice(1..1, [0xff, 0xfe]);
    bench
        .rejects(&mfa, "latin1", latin1, RejectionCode::MalformedJson, None)
        .await;
    // A key twice: a signer and a reader could see different documents.
    let text = String::from_utf8(whole).expect("utf-8");
    let twice = text.replacen('{', "{\"type\":\"case.refused\",", 1);
    bench
        .rejects(
            &mfa,
            "twice",
            twice.into_bytes(),
            RejectionCode::MalformedJson,
            None,
        )
        .await;
    bench.stop().await;
}

#[tokio::test]
async fn too_large() {
    let bench = Bench::new().await;
    let mfa = bench.member("kz.mfa").await;
    let envelope = processed(&bench.local);
    let mut bytes = envelope.to_bytes();
    // Exactly at the limit is still an envelope (JSON allows trailing
    // white space, and the signature covers the canonical form).
    bytes.resize(MAX_ENVELOPE_BYTES, b' ');
    let ack = mfa
        .submit_bytes(envelope.id(), bytes.clone())
        .await
        .expect("submitted");
    let receipt = receipt_for(&bench.local, &bench.js, mfa.member(), ack.sequence).await;
    assert_eq!(receipt.decision, Decision::Accepted, "{receipt:?}");
    audit_record_for(&bench.js, ack.sequence).await;
    // One byte over.
    bytes.push(b' ');
    let over = envelope::new_id();
    bench
        .rejects(&mfa, &over, bytes, RejectionCode::TooLarge, None)
        .await;
    // A signed envelope with 900 KiB of data: the stream takes it (up to
    // 1 MiB), the gateway refuses it.
    let big = EnvelopeBuilder::new(
        "message.processed",
        &message_schema_id("message.processed", 1),
        json!({ "originalSender": "aanes.camps", "padding": "x".repeat(900 * 1024) }),
    )
    .sign(&member("kz.mfa"), &bench.key("kz.mfa"))
    .expect("signs");
    let big_bytes = big.to_bytes();
    assert!(big_bytes.len() > 900 * 1024 && big_bytes.len() < 1024 * 1024);
    bench
        .rejects(&mfa, big.id(), big_bytes, RejectionCode::TooLarge, None)
        .await;
    bench.stop().await;
}

#[tokio::test]
async fn bad_envelope() {
    let bench = Bench::new().await;
    let mfa = bench.member("kz.mfa").await;
    // No id, an unknown attribute, the wrong CloudEvents version.
    let mut v = value_of(&processed(&bench.local));
    v.as_object_mut().expect("object").remove("id");
    v["extra"] = json!("x");
    v["specversion"] = json!("0.3");
    let receipt = bench
        .rejects(
            &mfa,
            &envelope::new_id(),
            bytes_of(&v),
            RejectionCode::BadEnvelope,
            None,
        )
        .await;
    let said = |text: &str| receipt.reasons.iter().any(|r| r.message.contains(text));
    assert!(said("\"id\" is missing"), "{receipt:?}");
    assert!(said("1 unknown attribute "), "{receipt:?}");
    assert!(
        !said("extra"),
        "the attribute's name is not repeated: {receipt:?}"
    );
    // A readable id, but a source that names no member: the receipt names
    // the id, and the reason points at /source.
    let mut v = value_of(&processed(&bench.local));
    v["source"] = json!("urn:homeward:KZ MFA");
    let id = v["id"].as_str().expect("id").to_owned();
    let receipt = bench
        .rejects(
            &mfa,
            &id,
            bytes_of(&v),
            RejectionCode::BadEnvelope,
            Some(&id),
        )
        .await;
    assert!(
        receipt
            .reasons
            .iter()
            .any(|r| r.instance_path.as_deref() == Some("/source")),
        "{receipt:?}"
    );
    // Not an object at all.
    bench
        .rejects(
            &mfa,
            "",
            b"[1,2,3]".to_vec(),
            RejectionCode::BadEnvelope,
            None,
        )
        .await;
    bench.stop().await;
}

#[tokio::test]
async fn sender_mismatch() {
    let bench = Bench::new().await;
    let kz_mfa = bench.member("kz.mfa").await;
    // kz.mfa submits, on its own subject, an envelope that claims to be
    // from uz.mfa, signed with kz.mfa's own key.
    let envelope = builder(&example("message.processed", "processed.json"))
        .sign(&member("uz.mfa"), &bench.key("kz.mfa"))
        .expect("signs");
    assert_eq!(envelope.source(), "urn:homeward:uz.mfa");
    let receipt = bench
        .rejects(
            &kz_mfa,
            envelope.id(),
            envelope.to_bytes(),
            RejectionCode::SenderMismatch,
            Some(envelope.id()),
        )
        .await;
    assert!(receipt.reasons[0].message.contains("kz.mfa"));
    bench.stop().await;
}

#[tokio::test]
async fn unknown_key() {
    let bench = Bench::new().await;
    let mfa = bench.member("kz.mfa").await;
    let example = example("message.processed", "processed.json");
    // A valid signature, by a key the policy does not list at all.
    let stranger = builder(&example)
        .sign(&member("kz.mfa"), &SigningKey::generate())
        .expect("signs");
    stranger
        .verify_signature()
        .expect("the signature itself is good");
    bench
        .rejects(
            &mfa,
            stranger.id(),
            stranger.to_bytes(),
            RejectionCode::UnknownKey,
            Some(stranger.id()),
        )
        .await;
    // A valid signature by another member's key (kz.security's, listed
    // for kz.security, not for kz.mfa).
    let borrowed = builder(&example)
        .sign(&member("kz.mfa"), &bench.key("kz.security"))
        .expect("signs");
    borrowed
        .verify_signature()
        .expect("the signature itself is good");
    bench
        .rejects(
            &mfa,
            borrowed.id(),
            borrowed.to_bytes(),
            RejectionCode::UnknownKey,
            Some(borrowed.id()),
        )
        .await;
    bench.stop().await;
}

#[tokio::test]
async fn bad_signature() {
    let bench = Bench::new().await;
    let mfa = bench.member("kz.mfa").await;
    // Data changed after signing.
    let mut v = value_of(&processed(&bench.local));
    v["data"]["outcome"] = json!("refused");
    let id = v["id"].as_str().expect("id").to_owned();
    bench
        .rejects(
            &mfa,
            &id,
            bytes_of(&v),
            RejectionCode::BadSignature,
            Some(&id),
        )
        .await;
    // The signature of another message, by the right key.
    let other = processed(&bench.local);
    let envelope = processed(&bench.local).with_sig(other.sig().expect("sig"));
    bench
        .rejects(
            &mfa,
            envelope.id(),
            envelope.to_bytes(),
            RejectionCode::BadSignature,
            Some(envelope.id()),
        )
        .await;
    bench.stop().await;
}

/// The demo policy, keyring line dropped (the deployment's own keyring
/// replaces it anyway), with three more keys for kz.mfa inline: one that
/// expired, one revoked, one not valid yet.
fn policy_with_old_keys(dir: &std::path::Path) -> (PathBuf, [SigningKey; 3]) {
    let demo =
        std::fs::read_to_string(homeward_testkit::local::demo_policy_path()).expect("demo policy");
    let mut policy: toml::Table = toml::from_str(&demo).expect("demo policy is toml");
    policy.remove("keyrings");
    let keys = [
        SigningKey::generate(),
        SigningKey::generate(),
        SigningKey::generate(),
    ];
    let entry = |key: &SigningKey, from: &str, until: Option<&str>, revoked: bool| {
        let mut t = toml::Table::new();
        t.insert("public".into(), key.public().as_str().into());
        t.insert("valid_from".into(), from.into());
        if let Some(until) = until {
            t.insert("valid_until".into(), until.into());
        }
        if revoked {
            t.insert("revoked".into(), true.into());
        }
        toml::Value::Table(t)
    };
    let next_year = (OffsetDateTime::now_utc().year() + 1).to_string();
    let inline = vec![
        entry(
            &keys[0],
            "2019-01-01T00:00:00Z",
            Some("2020-01-01T00:00:00Z"),
            false,
        ),
        entry(&keys[1], "2019-01-01T00:00:00Z", None, true),
        entry(
            &keys[2],
            &format!("{next_year}-06-01T00:00:00Z"),
            None,
            false,
        ),
    ];
    let members = policy
        .get_mut("member")
        .and_then(toml::Value::as_array_mut)
        .expect("members");
    let kz_mfa = members
        .iter_mut()
        .find(|m| m.get("id").and_then(toml::Value::as_str) == Some("kz.mfa"))
        .and_then(toml::Value::as_table_mut)
        .expect("kz.mfa");
    kz_mfa.insert("key".into(), toml::Value::Array(inline));
    let path = dir.join("policy.toml");
    std::fs::write(&path, toml::to_string(&policy).expect("toml")).expect("write policy");
    (path, keys)
}

#[tokio::test]
async fn expired_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, [expired, revoked, not_yet]) = policy_with_old_keys(dir.path());
    let bench = Bench::with(
        LocalOptions {
            policy: Some(path),
            ..Default::default()
        },
        Some(dir),
    )
    .await;
    let mfa = bench.member("kz.mfa").await;
    let example = example("message.processed", "processed.json");
    for (what, key) in [
        ("expired", expired),
        ("revoked", revoked),
        ("not yet valid", not_yet),
    ] {
        let envelope = builder(&example)
            .sign(&member("kz.mfa"), &key)
            .expect("signs");
        let receipt = bench
            .rejects(
                &mfa,
                envelope.id(),
                envelope.to_bytes(),
                RejectionCode::ExpiredKey,
                Some(envelope.id()),
            )
            .await;
        if what == "revoked" {
            assert!(
                receipt.reasons[0].message.contains("revoked"),
                "{receipt:?}"
            );
        }
    }
    bench.stop().await;
}

#[tokio::test]
async fn unknown_schema() {
    let bench = Bench::new().await;
    let mfa = bench.member("kz.mfa").await;
    let example = example("message.processed", "processed.json");
    let sign = |dataschema: &str| {
        EnvelopeBuilder::new("message.processed", dataschema, example["data"].clone())
            .subject("HOL-P5-000123")
            .sign(&member("kz.mfa"), &bench.key("kz.mfa"))
            .expect("signs")
    };
    // A version nobody published.
    let v9 = sign(&message_schema_id("message.processed", 9));
    bench
        .rejects(
            &mfa,
            v9.id(),
            v9.to_bytes(),
            RejectionCode::UnknownSchema,
            Some(v9.id()),
        )
        .await;
    // A published schema, but of another type.
    let other = sign(&message_schema_id("case.refused", 1));
    bench
        .rejects(
            &mfa,
            other.id(),
            other.to_bytes(),
            RejectionCode::UnknownSchema,
            Some(other.id()),
        )
        .await;
    bench.stop().await;
}

#[tokio::test]
async fn schema_violation() {
    let bench = Bench::new().await;
    let camps = bench.member("aanes.camps").await;
    for file in ["bad-partial-birth-date.json", "diagnosis-on-person.json"] {
        let invalid = invalid_example("camp.resident.located", file);
        let fails_at = invalid["failsAt"].as_str().expect("failsAt");
        let envelope = resign(&bench.local, &invalid["envelope"]);
        let receipt = bench
            .rejects(
                &camps,
                envelope.id(),
                envelope.to_bytes(),
                RejectionCode::SchemaViolation,
                Some(envelope.id()),
            )
            .await;
        assert!(
            receipt
                .reasons
                .iter()
                .any(|r| r.instance_path.as_deref() == Some(fails_at)),
            "{file}: expected a reason at {fails_at}: {receipt:?}"
        );
    }
    bench.stop().await;
}

#[tokio::test]
async fn not_permitted() {
    let bench = Bench::new().await;
    let rehab = bench.member("kz.rehab").await;
    // A rehabilitation centre asking a camp to release people.
    let envelope = builder(&example("repatriation.requested", "kazakh-family.json"))
        .sign(&member("kz.rehab"), &bench.key("kz.rehab"))
        .expect("signs");
    bench
        .rejects(
            &rehab,
            envelope.id(),
            envelope.to_bytes(),
            RejectionCode::NotPermitted,
            Some(envelope.id()),
        )
        .await;
    bench.stop().await;
}

#[tokio::test]
async fn no_recipient() {
    let bench = Bench::new().await;
    // A family claiming a nationality with no member in the policy.
    let camps = bench.member("aanes.camps").await;
    let mut family = example("camp.resident.located", "kazakh-family-al-hol.json");
    family["data"]["claimedNationality"] = json!("FR");
    let envelope = resign(&bench.local, &family);
    bench
        .rejects(
            &camps,
            envelope.id(),
            envelope.to_bytes(),
            RejectionCode::NoRecipient,
            Some(envelope.id()),
        )
        .await;
    // A request addressed to a member that is not a camp authority.
    let mfa = bench.member("kz.mfa").await;
    let mut request = example("repatriation.requested", "kazakh-family.json");
    request["data"]["campAuthority"] = json!("kz.security");
    let envelope = resign(&bench.local, &request);
    let receipt = bench
        .rejects(
            &mfa,
            envelope.id(),
            envelope.to_bytes(),
            RejectionCode::NoRecipient,
            Some(envelope.id()),
        )
        .await;
    assert!(
        receipt.reasons[0].message.contains("camp-authority"),
        "{receipt:?}"
    );
    bench.stop().await;
}

#[tokio::test]
async fn version_not_read() {
    let bench = Bench::new().await;
    let camps = bench.member("aanes.camps").await;
    // kz.mfa and kz.security read camp.resident.located v2 (the demo
    // policy lists it for them): a v2 message about a Kazakh family goes.
    let kazakh = example_in("camp.resident.located", 2, "kazakh-family-al-hol.json");
    let envelope = resign(&bench.local, &kazakh);
    assert!(envelope.dataschema().ends_with("/v2.json"));
    let ack = camps.submit(&envelope).await.expect("submitted");
    let receipt = receipt_for(&bench.local, &bench.js, camps.member(), ack.sequence).await;
    assert_eq!(receipt.decision, Decision::Accepted, "{receipt:?}");
    assert_eq!(receipt.recipients, vec!["kz.mfa", "kz.security"]);
    assert_eq!(receipt.schema_version(), 1, "an acceptance is a v1 receipt");

    // Uzbekistan's members read only v1: the same message about an Uzbek
    // family is refused as a whole, before anything is delivered, with the
    // recipient, what it reads and a receipt in v2 (v1 has no such code).
    let mut uzbek = kazakh.clone();
    uzbek["data"]["claimedNationality"] = json!("UZ");
    let envelope = resign(&bench.local, &uzbek);
    let receipt = bench
        .rejects(
            &camps,
            envelope.id(),
            envelope.to_bytes(),
            RejectionCode::VersionNotRead,
            Some(envelope.id()),
        )
        .await;
    assert_eq!(receipt.schema_version(), 2);
    assert_eq!(
        receipt.reasons[0].instance_path.as_deref(),
        Some("/dataschema")
    );
    assert!(
        receipt.reasons[0]
            .message
            .contains("uz.mfa reads camp.resident.located in v1, not v2"),
        "{receipt:?}"
    );

    // Written in v1, it goes.
    let mut v1 = uzbek.clone();
    v1["dataschema"] = json!(message_schema_id("camp.resident.located", 1));
    v1["data"]
        .as_object_mut()
        .expect("data")
        .remove("interviewLanguages");
    let envelope = resign(&bench.local, &v1);
    let ack = camps.submit(&envelope).await.expect("submitted");
    let receipt = receipt_for(&bench.local, &bench.js, camps.member(), ack.sequence).await;
    assert_eq!(receipt.decision, Decision::Accepted, "{receipt:?}");
    assert_eq!(receipt.recipients, vec!["uz.mfa", "uz.security"]);
    bench.stop().await;
}

#[tokio::test]
async fn stale() {
    let bench = Bench::new().await;
    let mfa = bench.member("kz.mfa").await;
    let hour = time::Duration::hours(1);
    for time in [
        OffsetDateTime::now_utc() - hour,
        OffsetDateTime::now_utc() + hour,
    ] {
        let envelope = builder(&example("message.processed", "processed.json"))
            .time(time)
            .sign(&member("kz.mfa"), &bench.key("kz.mfa"))
            .expect("signs");
        bench
            .rejects(
                &mfa,
                envelope.id(),
                envelope.to_bytes(),
                RejectionCode::Stale,
                Some(envelope.id()),
            )
            .await;
    }
    bench.stop().await;
}

#[tokio::test]
async fn duplicate() {
    let bench = Bench::new().await;
    let mfa = bench.member("kz.mfa").await;
    let envelope = processed(&bench.local);
    let ack = mfa.submit(&envelope).await.expect("submitted");
    let first = receipt_for(&bench.local, &bench.js, mfa.member(), ack.sequence).await;
    assert_eq!(first.decision, Decision::Accepted, "{first:?}");
    audit_record_for(&bench.js, ack.sequence).await;
    // The same envelope under another Nats-Msg-Id gets past the stream's
    // duplicate window and is refused by the gateway.
    bench
        .rejects(
            &mfa,
            "another-msg-id",
            envelope.to_bytes(),
            RejectionCode::Duplicate,
            Some(envelope.id()),
        )
        .await;
    let deliveries = read_all(&bench.js, subjects::DELIVER_STREAM, subjects::DELIVER_ALL).await;
    assert_eq!(
        deliveries
            .iter()
            .filter(|d| header(d, subjects::headers::MSG_ID) == Some(envelope.id()))
            .count(),
        1,
        "delivered once"
    );
    bench.stop().await;
}
