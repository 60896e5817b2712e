//! Ids that cannot be used to suppress a message. JetStream drops a
//! submission whose id it has stored in the last 20 minutes, from any
//! member; so a co-recipient that knew the id a service will give its
//! answer could submit first and have the answer dropped. The service
//! derives its ids with a secret of its own, and takes a duplicate answer
//! for a message it never submitted as a failure, not as sent.

use std::sync::Arc;
use std::time::Duration;

use homeward_core::message_types as types;
use homeward_core::{Envelope, EnvelopeBuilder};
use homeward_ministry::IdKey;
use homeward_ministry::verify::AgeLimits;
use homeward_testkit::local::{Local, LocalOptions};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::support::{EXAMPLE_CASE as CASE, Lone, example_located, read_all_until, signed_as};

/// The ids anyone could compute for the `index`th message `cause` makes
/// `member` send, from what the message shows: the unkeyed derivation this
/// service used before, with and without the cause's sender.
fn public_guesses(cause: &Envelope, member: &str) -> Vec<String> {
    let time_ms = ulid::Ulid::from_string(cause.id())
        .expect("a ULID")
        .timestamp_ms();
    [
        format!("{}/{member}/0", cause.id()),
        format!("{}/{}/0", cause.sender(), cause.id()),
        format!("{member}/{}/{}/0", cause.sender(), cause.id()),
    ]
    .iter()
    .map(|input| {
        let digest = Sha256::digest(input.as_bytes());
        let mut random = [0u8; 16];
        random[6..].copy_from_slice(&digest[..10]);
        ulid::Ulid::from_parts(time_ms, u128::from_be_bytes(random)).to_string()
    })
    .collect()
}

/// The security service, a co-recipient of `cause`, submits a processing
/// receipt of it under `id` before anyone answers it.
async fn take_first(local: &Local, cause: &Envelope, id: &str) {
    let attacker = local.member("kz.security").await.expect("member");
    let receipt = attacker
        .sign(
            EnvelopeBuilder::new(
                types::MESSAGE_PROCESSED,
                &homeward_core::schema::message_schema_id(types::MESSAGE_PROCESSED, 1),
                json!({"originalSender": cause.sender().as_str(), "processedMessageId": cause.id(),
                       "processedType": cause.message_type(), "outcome": "processed",
                       "processedAt": homeward_core::envelope::format_time(OffsetDateTime::now_utc()),
                       "caseRef": CASE}),
            )
            .id(id)
            .subject(CASE),
        )
        .expect("signs");
    let ack = attacker.submit(&receipt).await.expect("submitted");
    assert!(!ack.duplicate, "the attacker's submission was stored");
}

/// A deployment with Kazakhstan's foreign ministry running alone, and a
/// located family that nobody has submitted yet.
async fn foreign_ministry_and_a_family() -> (Local, Lone, Envelope) {
    let local = Local::start(LocalOptions::default())
        .await
        .expect("local deployment");
    let mfa = Lone::start(
        &local,
        "kz.mfa",
        Arc::new(homeward_foreign_affairs::ForeignAffairs),
        AgeLimits::default(),
    )
    .await;
    let located = signed_as(
        &local,
        "aanes.camps",
        types::CAMP_RESIDENT_LOCATED,
        example_located(),
        OffsetDateTime::now_utc(),
    );
    (local, mfa, located)
}

/// Submits the located family as the camp administration.
async fn locate(local: &Local, located: &Envelope) {
    let camps = local.member("aanes.camps").await.expect("member");
    assert!(!camps.submit(located).await.expect("submitted").duplicate);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_co_recipient_cannot_take_the_id_of_a_services_answer_first() {
    let (local, mfa, located) = foreign_ministry_and_a_family().await;
    // kz.security receives the located family too, and knows everything
    // the message shows; it takes every id it can compute first.
    let guesses = public_guesses(&located, "kz.mfa");
    for guess in &guesses {
        take_first(&local, &located, guess).await;
    }
    locate(&local, &located).await;

    // The foreign ministry's verification request still reaches kz.security.
    let js = async_nats::jetstream::new(local.client("test").await.expect("client"));
    let request_of = |all: &[(String, Envelope)]| {
        all.iter()
            .find(|(subject, e)| {
                subject == "hw.deliver.kz.security.identity.verification.requested"
                    && e.sender().as_str() == "kz.mfa"
                    && e.causationid() == Some(located.id())
            })
            .map(|(_, e)| e.clone())
    };
    let deliveries = read_all_until(&js, homeward_core::subjects::DELIVER_STREAM, |all| {
        request_of(all).is_some()
    })
    .await;
    let request = request_of(&deliveries).expect("the verification request was delivered");
    assert!(!guesses.contains(&request.id().to_owned()));
    assert_eq!(
        request.id(),
        IdKey::of(&local.key("kz.mfa").expect("key")).derive(&located, 0)
    );
    assert_eq!(mfa.ministry.alarms().foreign_duplicates, 0);
    mfa.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_of_someone_elses_submission_keeps_the_message_in_the_outbox() {
    let (local, mfa, located) = foreign_ministry_and_a_family().await;
    // As if the member's secret had leaked: the attacker has the very id.
    let id = IdKey::of(&local.key("kz.mfa").expect("key")).derive(&located, 0);
    take_first(&local, &located, &id).await;
    let mut changes = mfa.ministry.store().changes();
    locate(&local, &located).await;

    // JetStream answers the service's submission as a duplicate; the
    // service does not take it as sent.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let held = loop {
        if let Some(stored) = mfa.ministry.store().get(CASE).await.expect("read")
            && stored.case.outbox.iter().any(|p| p.held)
        {
            break stored;
        }
        tokio::time::timeout_at(deadline, changes.changed())
            .await
            .expect("the message was held in time")
            .expect("the store is open");
    };
    assert_eq!(held.case.outbox.len(), 1);
    assert_eq!(held.case.outbox[0].id, id);
    assert_eq!(
        held.case.outbox[0].message_type,
        types::IDENTITY_VERIFICATION_REQUESTED
    );
    assert!(
        !held.case.events.iter().any(|e| e.what.starts_with("sent:")),
        "{:?}",
        held.case.events
    );
    assert_eq!(mfa.ministry.alarms().foreign_duplicates, 1);
    mfa.stop().await;
}
