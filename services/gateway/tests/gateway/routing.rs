//! Accepted messages reach exactly the members their route names.

use std::collections::BTreeMap;

use futures::StreamExt;

use homeward_core::MemberId;
use homeward_core::client::{MemberClient, Receipts};
use homeward_core::envelope::Envelope;
use homeward_core::receipt::Decision;
use homeward_core::subjects;
use serde_json::json;

use crate::support::{
    Tail, WAIT, audit_record_for, checked_receipt, delivered_to, deployment, example, header,
    jetstream, named_examples, read_all, recipient_of, resign,
};

#[tokio::test]
async fn a_located_family_reaches_its_nationality_mfa_and_security_only() {
    let (local, gateway) = deployment().await;
    let camps = local.member("aanes.camps").await.expect("member");
    let mut receipts = camps.receipts().await.expect("receipts");
    let example = example("camp.resident.located", "kazakh-family-al-hol.json");
    assert_eq!(example["data"]["claimedNationality"], "KZ");
    let envelope = resign(&local, &example);
    camps.submit(&envelope).await.expect("submitted");
    let (_, receipt) = receipts
        .wait_for(envelope.id(), WAIT)
        .await
        .expect("receipt");
    assert_eq!(receipt.decision, Decision::Accepted, "{receipt:?}");
    assert_eq!(receipt.recipients, vec!["kz.mfa", "kz.security"]);
    let js = jetstream(&local).await;
    let seq: u64 = receipt.submission_sequence.parse().expect("sequence");
    audit_record_for(&js, seq).await;
    assert_eq!(
        delivered_to(&js, envelope.id()).await,
        vec!["kz.mfa", "kz.security"]
    );
    gateway.stop().await.expect("gateway stops");
}

/// Recipients written out by hand for some examples, in route order, so the
/// test does not only compare the gateway with the policy code it uses.
const BY_HAND: &[(&str, &str, &[&str])] = &[
    (
        "camp.resident.located",
        "kazakh-family-al-hol.json",
        &["kz.mfa", "kz.security"],
    ),
    (
        "camp.resident.located",
        "kyrgyz-family-roj.json",
        &["kg.mfa", "kg.security"],
    ),
    (
        "camp.resident.located",
        "orphan-siblings-annex.json",
        &["kz.mfa", "kz.security"],
    ),
    (
        "identity.verification.requested",
        "kazakh-family.json",
        &["kz.security"],
    ),
    (
        "repatriation.requested",
        "tajik-children-iraq.json",
        &["iq.justice"],
    ),
    (
        "repatriation.decided",
        "uzbek-children-without-mother.json",
        &["uz.mfa"],
    ),
    (
        "operation.scheduled",
        "zhusan-round-2.json",
        &["aanes.camps", "kz.security", "kz.interior", "kz.rehab"],
    ),
    (
        "operation.scheduled",
        "mehr-1-children-without-mother.json",
        &["aanes.camps", "uz.security", "uz.interior", "uz.rehab"],
    ),
    (
        "transit.requested",
        "kazakh-family-on-tajik-flight.json",
        &["tj.mfa"],
    ),
    ("transit.decided", "uzbek-flight-refused.json", &["kg.mfa"]),
    (
        "handover.completed",
        "mehr-1-two-children.json",
        &["uz.mfa", "uz.security"],
    ),
    (
        "arrival.recorded",
        "aqtau.json",
        &["kz.rehab", "kz.security", "kz.mfa"],
    ),
    (
        "security.screening.completed",
        "mother-charged.json",
        &["kz.rehab", "kz.interior", "kz.mfa"],
    ),
    (
        "case.refused",
        "manifest-person-not-accepted.json",
        &["uz.mfa"],
    ),
    ("message.processed", "processed.json", &["aanes.camps"]),
];

struct Sent {
    kind: String,
    file: String,
    envelope: Envelope,
    /// What the policy computes for this message.
    expected: Vec<String>,
    /// What the receipt says.
    receipted: Vec<String>,
}

#[tokio::test]
async fn every_lifecycle_message_reaches_exactly_the_members_its_route_names() {
    let (local, gateway) = deployment().await;
    let js = jetstream(&local).await;
    let mut senders: BTreeMap<MemberId, (MemberClient, Receipts)> = BTreeMap::new();
    let mut sent: Vec<Sent> = Vec::new();
    let kinds: Vec<String> = local
        .policy
        .routes()
        .map(|r| r.message_type.clone())
        .collect();
    assert!(kinds.len() >= 19, "the demo policy routes {kinds:?}");
    for kind in &kinds {
        let examples = named_examples(kind);
        assert!(!examples.is_empty(), "no valid example of {kind}");
        let route = local.policy.route(kind).expect("route");
        for (file, example) in examples {
            let envelope = resign(&local, &example);
            let sender = envelope.sender().clone();
            let expected = local
                .policy
                .recipients(route, &sender, envelope.data())
                .unwrap_or_else(|e| panic!("{kind} {file}: {e}"))
                .iter()
                .map(ToString::to_string)
                .collect();
            if !senders.contains_key(&sender) {
                let client = local.member(sender.as_str()).await.expect("member");
                let receipts = client.receipts().await.expect("receipts");
                senders.insert(sender.clone(), (client, receipts));
            }
            let (client, _) = &senders[&sender];
            let ack = client.submit(&envelope).await.expect("submitted");
            assert!(!ack.duplicate, "{kind} {file}");
            sent.push(Sent {
                kind: kind.clone(),
                file,
                envelope,
                expected,
                receipted: Vec::new(),
            });
        }
    }

    for s in &mut sent {
        let (_, receipts) = senders.get_mut(s.envelope.sender()).expect("sender");
        let (envelope, receipt) = receipts
            .wait_for(s.envelope.id(), WAIT)
            .await
            .unwrap_or_else(|e| panic!("{} {}: {e}", s.kind, s.file));
        checked_receipt(&local, &envelope.to_bytes());
        assert_eq!(
            receipt.decision,
            Decision::Accepted,
            "{} {}: {receipt:?}",
            s.kind,
            s.file
        );
        assert_eq!(receipt.submission_type.as_deref(), Some(s.kind.as_str()));
        s.receipted = receipt.recipients;
        assert_eq!(s.receipted, s.expected, "{} {}", s.kind, s.file);
    }

    // Audit records are written after every delivery is stored: once there
    // is one per submission, the deliveries are all there.
    Tail::new(&js, subjects::AUDIT_STREAM, subjects::AUDIT_ALL)
        .await
        .take(sent.len(), WAIT)
        .await;
    let deliveries = read_all(&js, subjects::DELIVER_STREAM, subjects::DELIVER_ALL).await;
    let mut by_id: BTreeMap<String, Vec<&async_nats::jetstream::Message>> = BTreeMap::new();
    for d in &deliveries {
        let id = header(d, subjects::headers::MSG_ID).expect("delivery names its envelope");
        by_id.entry(id.to_owned()).or_default().push(d);
    }
    for s in &sent {
        let got = by_id.get(s.envelope.id()).map_or(&[][..], |v| &v[..]);
        let mut members: Vec<String> = got.iter().map(|d| recipient_of(d)).collect();
        members.sort();
        let mut expected = s.expected.clone();
        expected.sort();
        assert_eq!(members, expected, "{} {}: delivered to", s.kind, s.file);
        for d in got {
            assert_eq!(
                d.subject.as_str(),
                subjects::deliver(&MemberId::parse(&recipient_of(d)).expect("member"), &s.kind)
            );
            assert_eq!(
                &d.payload[..],
                &s.envelope.to_bytes()[..],
                "delivered as submitted"
            );
        }
    }
    let total: usize = sent.iter().map(|s| s.expected.len()).sum();
    assert_eq!(deliveries.len(), total, "no delivery beyond the routes");

    for (kind, file, members) in BY_HAND {
        let s = sent
            .iter()
            .find(|s| s.kind == *kind && s.file == *file)
            .unwrap_or_else(|| panic!("{kind} {file} was not sent"));
        assert_eq!(&s.receipted, members, "{kind} {file}: receipt");
        let mut delivered: Vec<String> = by_id[s.envelope.id()]
            .iter()
            .map(|d| recipient_of(d))
            .collect();
        delivered.sort();
        let mut by_hand: Vec<String> = members.iter().map(ToString::to_string).collect();
        by_hand.sort();
        assert_eq!(delivered, by_hand, "{kind} {file}: deliveries");
    }
    gateway.stop().await.expect("gateway stops");
}

#[tokio::test]
async fn an_uzbek_family_reaches_uzbekistan_and_nothing_reaches_kazakhstan() {
    let (local, gateway) = deployment().await;
    let js = jetstream(&local).await;
    let mut family = example("camp.resident.located", "kazakh-family-al-hol.json");
    family["data"]["claimedNationality"] = json!("UZ");
    for person in family["data"]["familyUnit"]["members"]
        .as_array_mut()
        .expect("members")
    {
        person["claimedNationality"] = json!("UZ");
    }
    let camps = local.member("aanes.camps").await.expect("member");
    let mut receipts = camps.receipts().await.expect("receipts");
    let envelope = resign(&local, &family);
    let ack = camps.submit(&envelope).await.expect("submitted");
    let (_, receipt) = receipts
        .wait_for(envelope.id(), WAIT)
        .await
        .expect("receipt");
    assert_eq!(receipt.decision, Decision::Accepted, "{receipt:?}");
    assert_eq!(receipt.recipients, vec!["uz.mfa", "uz.security"]);
    audit_record_for(&js, ack.sequence).await;

    let mut stored: Vec<String> = read_all(&js, subjects::DELIVER_STREAM, subjects::DELIVER_ALL)
        .await
        .iter()
        .map(|m| m.subject.to_string())
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        vec![
            "hw.deliver.uz.mfa.camp.resident.located",
            "hw.deliver.uz.security.camp.resident.located",
        ]
    );
    assert!(
        read_all(&js, subjects::DELIVER_STREAM, "hw.deliver.kz.>")
            .await
            .is_empty()
    );

    // What each member's own durable consumer sees.
    for member in ["kz.mfa", "kz.security", "kz.interior", "kz.rehab"] {
        let client = local.member(member).await.expect("member");
        let consumer = client.delivery_consumer().await.expect("consumer");
        assert_eq!(
            consumer.cached_info().num_pending,
            0,
            "{member} got something"
        );
    }
    for member in ["uz.mfa", "uz.security"] {
        let client = local.member(member).await.expect("member");
        let consumer = client.delivery_consumer().await.expect("consumer");
        assert_eq!(consumer.cached_info().num_pending, 1, "{member}");
        let mut batch = consumer
            .fetch()
            .max_messages(1)
            .expires(WAIT)
            .messages()
            .await
            .expect("fetch");
        let message = batch.next().await.expect("a delivery").expect("a message");
        let delivered = client
            .verify_delivery(&message.payload)
            .expect("the delivery verifies");
        assert_eq!(delivered.id(), envelope.id());
        assert_eq!(delivered.data()["claimedNationality"], "UZ");
    }
    gateway.stop().await.expect("gateway stops");
}
