//! A message refused for now is not lost: the gateway refuses a family's
//! location because its recipients have left deliveries untaken past the
//! backlog limit (`recipient_backlog`, shortened to a second here); once
//! they have taken them, the camp administration's service sends the
//! location again by itself, under a new id, and each recipient holds it
//! exactly once. Without the resend the family is never delivered, and the
//! test fails.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use homeward_core::{MemberId, subjects};
use homeward_ministry::runtime::{Options, ResendAfter};
use homeward_testkit::local::{Local, LocalOptions};
use homeward_testkit::service::{self, ServiceUnderTest};

use crate::support::{CAMPS, MFA, WAIT, api, census, locate, retry};

const SECURITY: &str = "kz.security";

fn header(m: &jetstream::Message, name: &str) -> String {
    m.headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}

/// Everything `subject` holds in `stream` now.
async fn read(js: &jetstream::Context, stream: &str, subject: &str) -> Vec<jetstream::Message> {
    homeward_testkit::read::read_all(js, stream, subject)
        .await
        .expect("the stream reads")
}

/// Waits until `subject` in `stream` holds a message about `case` that
/// `check` accepts; returns what it holds about `case` then.
async fn until_about(
    js: &jetstream::Context,
    stream: &str,
    subject: &str,
    case: &str,
    check: impl Fn(&[jetstream::Message]) -> bool,
) -> Vec<jetstream::Message> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let about: Vec<_> = read(js, stream, subject)
            .await
            .into_iter()
            .filter(|m| header(m, subjects::headers::CASE) == case)
            .collect();
        if check(&about) {
            return about;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{subject}: {} messages about {case}, codes {:?}",
            about.len(),
            about
                .iter()
                .map(|m| header(m, subjects::headers::CODES))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Takes and acks every delivery waiting for `member`, as its service
/// would on its return.
async fn take_all(local: &Local, member: &str) {
    let client = local.member(member).await.expect("member");
    let consumer = client.delivery_consumer().await.expect("consumer");
    let mut batch = consumer
        .fetch()
        .max_messages(100)
        .expires(Duration::from_secs(1))
        .messages()
        .await
        .expect("fetch");
    let mut taken = 0;
    while let Some(m) = batch.next().await {
        // Acked and confirmed before this client goes away.
        m.expect("a delivery").double_ack().await.expect("ack");
        taken += 1;
    }
    assert!(taken > 0, "{member} had deliveries waiting");
}

/// The camp administration's service, sending again what was refused for
/// now `pause` after the refusal, whatever its code.
async fn camps_resending_after(local: &Local, pause: Duration) -> ServiceUnderTest {
    let options = Options {
        retry: retry(),
        resend_after: ResendAfter {
            over_quota: pause,
            recipient_backlog: pause,
        },
        ..Options::default()
    };
    ServiceUnderTest::start_with(
        local,
        CAMPS,
        Arc::new(homeward_camp_registry::CampRegistry),
        service::token(),
        options,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_location_refused_for_a_recipients_backlog_is_sent_again_once_it_has_caught_up() {
    let local = Local::start(LocalOptions::default())
        .await
        .expect("local deployment");
    let mut config = local.gateway_config("gw-resent").expect("config");
    config.backlog_refuse_after = Duration::from_secs(1);
    config.backlog_check_every = Duration::from_millis(200);
    let gateway = local.spawn_gateway(config).await.expect("gateway");
    let camps = camps_resending_after(&local, Duration::from_millis(500)).await;
    let api = api(&[&camps]);
    let admin = jetstream::new(local.client("resent").await.expect("admin"));
    let mfa = MemberId::parse(MFA).expect("id");
    let receipts = subjects::receipt(&MemberId::parse(CAMPS).expect("id"));

    // A first family reaches the Kazakh ministries, whose services are
    // away: its deliveries wait, untaken, past the limit.
    let (first, _) = census(&["HOL-P5-000801"]);
    locate(&api, &first).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !gateway.metrics.recipient_refused(&mfa) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "kz.mfa's backlog never refused"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The second family is refused for the backlog.
    let (second, _) = census(&["HOL-P5-000802"]);
    locate(&api, &second).await;
    until_about(
        &admin,
        subjects::RECEIPTS_STREAM,
        &receipts,
        "HOL-P5-000802",
        |r| {
            r.iter()
                .any(|m| header(m, subjects::headers::CODES).contains("recipient_backlog"))
        },
    )
    .await;

    // The ministries come back and take what waited; the refusal lifts
    // and the camp administration's service sends the location again.
    take_all(&local, MFA).await;
    take_all(&local, SECURITY).await;
    let accepted = |r: &[jetstream::Message]| {
        r.iter()
            .any(|m| header(m, subjects::headers::DECISION) == "accepted")
    };
    let decided = until_about(
        &admin,
        subjects::RECEIPTS_STREAM,
        &receipts,
        "HOL-P5-000802",
        accepted,
    )
    .await;
    let accepted_ids: Vec<String> = decided
        .iter()
        .filter(|m| header(m, subjects::headers::DECISION) == "accepted")
        .map(|m| header(m, subjects::headers::MSG_ID))
        .collect();
    assert_eq!(accepted_ids.len(), 1, "accepted once: {accepted_ids:?}");
    let refused_ids: Vec<String> = decided
        .iter()
        .filter(|m| header(m, subjects::headers::DECISION) == "rejected")
        .map(|m| header(m, subjects::headers::MSG_ID))
        .collect();
    assert!(
        !refused_ids.is_empty() && !refused_ids.contains(&accepted_ids[0]),
        "the resend has an id of its own: {refused_ids:?} then {accepted_ids:?}"
    );

    // Each recipient holds the second family's location exactly once.
    gateway.stop().await.expect("the gateway stops");
    for member in [MFA, SECURITY] {
        let subject = subjects::deliver_filter(&MemberId::parse(member).expect("id"));
        let held: Vec<_> = read(&admin, subjects::DELIVER_STREAM, &subject)
            .await
            .into_iter()
            .filter(|m| header(m, subjects::headers::CASE) == "HOL-P5-000802")
            .collect();
        assert_eq!(held.len(), 1, "{member} holds the second family once");
        assert_eq!(header(&held[0], subjects::headers::MSG_ID), accepted_ids[0]);
    }

    // The camp's timeline shows the refused send and the resend.
    let case = camps
        .ministry
        .store()
        .get("HOL-P5-000802")
        .await
        .expect("read")
        .expect("the case");
    let sent: Vec<_> = case
        .case
        .events
        .iter()
        .filter(|e| e.what == "sent:camp.resident.located")
        .filter_map(|e| e.message_id.clone())
        .collect();
    assert!(sent.len() >= 2, "sent, then sent again: {sent:?}");
    assert!(sent.contains(&accepted_ids[0]));
    camps.stop().await;
}

/// A located message about `case`, signed by `signer` at `time`, as the
/// gateway's copy of a refusal for now would hold it.
fn refused_copy(
    local: &Local,
    signer: &str,
    case: &str,
    time: time::OffsetDateTime,
) -> homeward_core::envelope::Envelope {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../../schemas/messages/camp.resident.located/examples/v1/valid/orphan-siblings-annex.json",
    );
    let example: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("example")).expect("json");
    homeward_core::envelope::EnvelopeBuilder::new(
        "camp.resident.located",
        example["dataschema"].as_str().expect("dataschema"),
        example["data"].clone(),
    )
    .subject(case)
    .time(time)
    .sign(
        &MemberId::parse(signer).expect("id"),
        &local.key(signer).expect("key"),
    )
    .expect("signed")
}

/// A hostile gateway (or anyone who can write `HW_REJECTED`) plants
/// copies "refused for now" in the camp administration's rejections: one
/// signed by another member, one of its own but an hour old. Neither is
/// sent again (the service would sign another's words, or repeat an old
/// message under a new id); a fresh copy of its own, planted after them
/// as the control, is, which shows the service read all three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_planted_as_refused_are_sent_again_only_when_the_service_signed_them_lately() {
    let local = Local::start(LocalOptions::default())
        .await
        .expect("local deployment");
    let gateway = local
        .spawn_gateway(local.gateway_config("gw-planted").expect("config"))
        .await
        .expect("gateway");
    let camps = camps_resending_after(&local, Duration::ZERO).await;
    let api = api(&[&camps]);
    const CASE: &str = "HOL-P5-000811";
    let (csv, _) = census(&[CASE]);
    locate(&api, &csv).await;
    let sent = || async {
        camps
            .ministry
            .store()
            .get(CASE)
            .await
            .expect("read")
            .expect("the case")
            .case
            .events
            .iter()
            .filter(|e| e.what.starts_with("sent:"))
            .count()
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while sent().await < 1 {
        assert!(tokio::time::Instant::now() < deadline, "the census sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = sent().await;

    let admin = jetstream::new(local.client("planter").await.expect("admin"));
    let camps_id = MemberId::parse(CAMPS).expect("id");
    let now = time::OffsetDateTime::now_utc();
    let mut last = 0;
    for copy in [
        refused_copy(&local, MFA, CASE, now),
        refused_copy(&local, CAMPS, CASE, now - time::Duration::hours(1)),
        refused_copy(&local, CAMPS, CASE, now),
    ] {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(subjects::headers::CODES, "over_quota");
        headers.insert(subjects::headers::CASE, CASE);
        headers.insert(subjects::headers::MSG_ID, copy.id());
        let publish = async_nats::jetstream::message::PublishMessage::build()
            .payload(copy.to_bytes().into())
            .headers(headers);
        last = admin
            .send_publish(subjects::rejected(&camps_id), publish)
            .await
            .expect("planted")
            .await
            .expect("stored")
            .sequence;
    }

    // The service has answered all three once its consumer's ack floor
    // has passed the last.
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = admin
        .get_stream(subjects::REJECTED_STREAM)
        .await
        .expect("stream")
        .get_consumer(&subjects::rejected_consumer(&camps_id))
        .await
        .expect("consumer");
    let deadline = tokio::time::Instant::now() + WAIT;
    while consumer
        .info()
        .await
        .expect("info")
        .ack_floor
        .stream_sequence
        < last
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the planted copies were never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while sent().await < before + 1 {
        assert!(tokio::time::Instant::now() < deadline, "the control resent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sent().await, before + 1, "only the control was sent again");
    gateway.stop().await.expect("the gateway stops");
    camps.stop().await;
}
