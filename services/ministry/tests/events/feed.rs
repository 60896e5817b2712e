//! The feed as a ministry's own system follows it: the foreign ministry's
//! events while a family is located, verified and its repatriation
//! requested, read from the camp administration's census on.

use homeward_core::MemberId;
use homeward_ministry::case::{Case, Event, Stage};
use homeward_ministry::events::EventLog;
use homeward_ministry::store::{CaseStore, Write};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{
    CAMPS, Feed, Frame, MFA, SECURITY, api, assert_exactly, deployment, family, get_events, locate,
    request, sent, start, token, verify,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reconnects_with_last_event_id_receives_exactly_the_events_it_missed() {
    let deployment = deployment().await;
    let local = &deployment.local;
    let camps = start(local, CAMPS, token()).await;
    let mfa = start(local, MFA, token()).await;
    let security = start(local, SECURITY, token()).await;
    let api = api(&[&camps, &mfa, &security]);
    let family = family("HOL-P5-000901");
    let case = family.case_ref.as_str();

    // Followed from the start, before anything happened.
    let mut feed = Feed::open(&mfa, None, "").await;
    locate(&api, &family).await;
    let before = feed
        .until(
            "the verification request",
            sent("identity.verification.requested"),
        )
        .await;
    let kinds: Vec<(&str, &Value)> = before
        .iter()
        .map(|e| (e.kind.as_str(), &e.data["messageType"]))
        .collect();
    assert_eq!(
        kinds,
        [
            ("message.received", &Value::from("camp.resident.located")),
            (
                "message.sent",
                &Value::from("identity.verification.requested")
            ),
        ],
        "{before:#?}"
    );
    let located = &before[0].data;
    assert_eq!(located["caseRef"], case);
    assert_eq!(located["sender"], CAMPS);
    assert_eq!(located["recipients"], serde_json::json!([MFA]));
    assert_eq!(located["stage"], "verification-requested");
    assert_eq!(located["index"], 0);
    assert_eq!(located["id"], before[0].id);
    assert_eq!(before[1].data["recipients"], serde_json::json!([SECURITY]));
    let last_seen = before.last().expect("events").id;
    // The client goes away in the middle of the case.
    drop(feed);

    verify(&api, case).await;
    request(&api, case).await;

    let mut resumed = Feed::open(&mfa, Some(last_seen), "").await;
    let missed = resumed
        .until("the repatriation request", sent("repatriation.requested"))
        .await;
    let kinds: Vec<&str> = missed.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["message.received", "case.action", "message.sent"],
        "{missed:#?}"
    );
    assert_eq!(
        missed[0].data["messageType"],
        "identity.verification.completed"
    );
    assert_eq!(missed[0].data["sender"], SECURITY);
    assert_eq!(missed[0].data["stage"], "verified");
    assert_eq!(missed[1].data["action"], "request-repatriation");
    assert_eq!(missed[2].data["recipients"], serde_json::json!([CAMPS]));
    assert_eq!(missed[2].data["stage"], "requested");

    // Everything, read again from the start, is the two parts exactly.
    let mut again = Feed::open(&mfa, None, "?after=0").await;
    let whole = again
        .until("the repatriation request", sent("repatriation.requested"))
        .await;
    assert_exactly(&[&before, &missed], &whole);

    for s in [camps, mfa, security] {
        s.stop().await;
    }
    deployment.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_resumes_across_a_restart_of_the_service_missing_nothing_and_repeating_nothing() {
    let deployment = deployment().await;
    let local = &deployment.local;
    let camps = start(local, CAMPS, token()).await;
    let mfa_token = token();
    let mfa = start(local, MFA, mfa_token.clone()).await;
    let security = start(local, SECURITY, token()).await;
    let api_before = api(&[&camps, &mfa, &security]);
    let family = family("HOL-P5-000902");
    let case = family.case_ref.as_str();

    // An EventSource's first connection: a position in the query.
    let mut feed = Feed::open(&mfa, None, "?after=0").await;
    locate(&api_before, &family).await;
    let before = feed
        .until(
            "the verification request",
            sent("identity.verification.requested"),
        )
        .await;
    let last_seen = before.last().expect("events").id;

    // The service stops while the client still follows it: the feed ends,
    // and does not keep the service from stopping.
    mfa.stop().await;
    loop {
        match feed.next().await {
            None => break,
            Some(Frame::Comment) => {}
            Some(Frame::Event(e)) => panic!("an event after the last one: {e:#?}"),
        }
    }

    // While it is down, the verification is delivered to it; it applies it
    // when it starts again.
    verify(&api_before, case).await;
    let mfa = start(local, MFA, mfa_token).await;
    let api_after = api(&[&camps, &mfa, &security]);
    request(&api_after, case).await;

    // An EventSource reconnecting sends Last-Event-ID, and the query of its
    // first connection: the header wins.
    let mut resumed = Feed::open(&mfa, Some(last_seen), "?after=0").await;
    let missed = resumed
        .until("the repatriation request", sent("repatriation.requested"))
        .await;
    assert!(missed[0].id > last_seen, "{missed:#?}");
    assert_eq!(
        missed[0].data["messageType"], "identity.verification.completed",
        "{missed:#?}"
    );
    let mut again = Feed::open(&mfa, None, "").await;
    let whole = again
        .until("the repatriation request", sent("repatriation.requested"))
        .await;
    assert_exactly(&[&before, &missed], &whole);

    for s in [camps, mfa, security] {
        s.stop().await;
    }
    deployment.stop().await;
}

/// A stored change whose event was never appended: what a crash between
/// the case's write and the append leaves. Written here as the member,
/// while its service is down.
async fn store_without_event(store: &CaseStore, case: &mut Case, what: &str, revision: u64) -> u64 {
    case.events.push(Event::new(
        "2019-05-07T10:00:00Z".to_owned(),
        what.to_owned(),
        case.stage,
    ));
    match store.put(case, revision).await.expect("stored") {
        Write::Stored(revision) => revision,
        Write::Conflict => panic!("nobody else writes this case"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_stored_without_its_event_gets_it_when_the_service_starts_and_only_once() {
    let deployment = deployment().await;
    let local = &deployment.local;
    let member = local.member(MFA).await.expect("member");
    let store = CaseStore::open(
        member.jetstream(),
        &MemberId::parse(MFA).expect("member id"),
    )
    .await
    .expect("the case bucket");
    let mut case = Case::new("HOL-P5-000903", Stage::Verified);
    let revision = store_without_event(&store, &mut case, "action:verify", 0).await;

    let mfa_token = token();
    let mfa = start(local, MFA, mfa_token.clone()).await;
    let mut feed = Feed::open(&mfa, None, "").await;
    let first = feed.until("the stored change", |_| true).await;
    assert_eq!(first[0].kind, "case.action", "{first:#?}");
    assert_eq!(first[0].data["caseRef"], "HOL-P5-000903");
    assert_eq!(first[0].data["index"], 0);
    mfa.stop().await;

    // Two more changes, stored while no service ran.
    let revision =
        store_without_event(&store, &mut case, "action:request-repatriation", revision).await;
    store_without_event(&store, &mut case, "action:schedule", revision).await;
    let mfa = start(local, MFA, mfa_token.clone()).await;
    let mut resumed = Feed::open(&mfa, Some(first[0].id), "").await;
    let repaired = resumed
        .until("the second stored change", |e| e.data["index"] == 2)
        .await;
    let actions: Vec<&Value> = repaired.iter().map(|e| &e.data["action"]).collect();
    assert_eq!(
        actions,
        ["request-repatriation", "schedule"],
        "{repaired:#?}"
    );
    let last = repaired.last().expect("events").id;

    // Another start adds nothing.
    mfa.stop().await;
    let mfa = start(local, MFA, mfa_token).await;
    let log = mfa.ministry.events();
    assert_eq!(log.bounds().await.expect("bounds").last, last);

    // Two writers appending the same new steps at once (the service and
    // another process of the same member, say) append each once, in order.
    let revision = store
        .get("HOL-P5-000903")
        .await
        .expect("read")
        .expect("the case")
        .revision;
    let revision = store_without_event(&store, &mut case, "action:handover", revision).await;
    store_without_event(&store, &mut case, "action:arrival", revision).await;
    let other = EventLog::open(
        member.jetstream(),
        &MemberId::parse(MFA).expect("member id"),
    )
    .await
    .expect("the event log");
    let (a, b) = tokio::join!(other.append_case(&case), log.append_case(&case));
    a.expect("appended");
    b.expect("appended");
    let mut appended = Vec::new();
    let mut after = last;
    while let Some(logged) = log.next_after(after).await.expect("reads") {
        after = logged.id;
        appended.push((logged.event.index, logged.event.action));
    }
    assert_eq!(
        appended,
        [
            (3, Some("handover".to_owned())),
            (4, Some("arrival".to_owned()))
        ]
    );
    mfa.stop().await;
    deployment.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_hold_no_name_or_birth_date_of_the_family() {
    let deployment = deployment().await;
    let local = &deployment.local;
    let camps = start(local, CAMPS, token()).await;
    let mfa = start(local, MFA, token()).await;
    let security = start(local, SECURITY, token()).await;
    let api = api(&[&camps, &mfa, &security]);
    let family = family("HOL-P5-000904");
    let case = family.case_ref.as_str();
    locate(&api, &family).await;
    verify(&api, case).await;
    request(&api, case).await;

    let feeds = [
        (
            &camps,
            "the located family sent",
            sent("camp.resident.located"),
        ),
        (
            &mfa,
            "the repatriation request",
            sent("repatriation.requested"),
        ),
        (
            &security,
            "the verification sent",
            sent("identity.verification.completed"),
        ),
    ];
    let mut received_located = false;
    for (service, what, last) in feeds {
        let mut feed = Feed::open(service, None, "").await;
        let events = feed.until(what, last).await;
        received_located |= events.iter().any(|e| {
            e.kind == "message.received" && e.data["messageType"] == "camp.resident.located"
        });
        let text = String::from_utf8_lossy(&feed.raw);
        let found: Vec<&str> = family
            .needles
            .iter()
            .filter(|(_, needle)| text.contains(needle.as_str()))
            .map(|(label, _)| label.as_str())
            .collect();
        assert!(
            found.is_empty(),
            "{}'s feed holds {found:?}:\n{text}",
            service.member
        );
    }
    // The control: the feeds do report the message that carried the names,
    // and the census did carry them.
    assert!(received_located, "no feed reported the located family");
    assert!(
        family
            .needles
            .iter()
            .all(|(_, n)| family.census.contains(n.as_str())),
        "a needle is not in the census"
    );

    for s in [camps, mfa, security] {
        s.stop().await;
    }
    deployment.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_position_is_refused_naming_it_and_the_feed_needs_the_token() {
    let deployment = deployment().await;
    let mfa = start(&deployment.local, MFA, token()).await;
    let token = mfa.token.expose().to_owned();

    let error_of = |response: reqwest::Response| async move {
        let status = response.status();
        let body: Value = response.json().await.expect("a JSON error");
        (
            status,
            body["error"].as_str().unwrap_or_default().to_owned(),
        )
    };
    // Nothing was written yet: the last id is 0.
    for (query, header, names) in [
        (
            "",
            Some("abc"),
            ["Last-Event-ID", "\"abc\"", "not an event id"],
        ),
        (
            "",
            Some("-1"),
            ["Last-Event-ID", "\"-1\"", "not an event id"],
        ),
        (
            "",
            Some("1.5"),
            ["Last-Event-ID", "\"1.5\"", "not an event id"],
        ),
        (
            "",
            Some("18446744073709551616"),
            ["Last-Event-ID", "18446744073709551616", "not an event id"],
        ),
        (
            "",
            Some("7"),
            ["Last-Event-ID 7", "after the last event", "0"],
        ),
        ("?after=x", None, ["after", "\"x\"", "not an event id"]),
        ("?after=", None, ["after", "\"\"", "not an event id"]),
        ("?after=3", None, ["after 3", "after the last event", "0"]),
    ] {
        let headers: Vec<(&str, &str)> = header.map(|h| ("last-event-id", h)).into_iter().collect();
        let (status, error) = error_of(get_events(&mfa, query, &headers, Some(&token)).await).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{query} {header:?}: {error}"
        );
        for name in names {
            assert!(
                error.contains(name),
                "{query} {header:?}: {error:?} lacks {name:?}"
            );
        }
    }

    // Without the member's token, nothing: not even whether there are
    // events.
    let response = get_events(&mfa, "", &[], None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let wrong = "0".repeat(64);
    let response = get_events(&mfa, "?after=0", &[], Some(&wrong)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // The same Host and Origin checks as every route.
    let evil_host = format!("evil.example:{}", mfa.port);
    let response = get_events(&mfa, "", &[("host", &evil_host)], Some(&token)).await;
    assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST);
    let response = get_events(&mfa, "", &[("origin", "http://evil.example")], Some(&token)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // The control: with the token, a good position is followed.
    let response = get_events(&mfa, "?after=0", &[("last-event-id", "0")], Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    drop(response);

    mfa.stop().await;
    deployment.stop().await;
}

/// The data of the published example of a completed verification, about
/// a case kz.mfa does not hold.
fn example_verification() -> Value {
    let (_, text) = homeward_core::schema::embedded_examples(
        homeward_core::message_types::IDENTITY_VERIFICATION_COMPLETED,
    )
    .into_iter()
    .find(|(name, _)| name.contains("kazakh-family-confirmed"))
    .expect("the example");
    let example: Value = serde_json::from_str(&text).expect("json");
    example["data"].clone()
}

/// Signs `data` as `sender` now and places it among kz.mfa's deliveries
/// as the administrator would: past every check of the gateway's.
async fn deliver_to_mfa(
    local: &homeward_testkit::local::Local,
    sender: &str,
    data: Value,
) -> homeward_core::Envelope {
    let message_type = homeward_core::message_types::IDENTITY_VERIFICATION_COMPLETED;
    let envelope = homeward_core::EnvelopeBuilder::new(
        message_type,
        &homeward_core::schema::message_schema_id(message_type, 1),
        data,
    )
    .time(time::OffsetDateTime::now_utc())
    .sign(
        &MemberId::parse(sender).expect("member"),
        &local.key(sender).expect("key"),
    )
    .expect("signs");
    let js = async_nats::jetstream::new(local.client("admin").await.expect("admin"));
    let subject =
        homeward_core::subjects::deliver(&MemberId::parse(MFA).expect("member"), message_type);
    js.publish(subject, envelope.to_bytes().into())
        .await
        .expect("published")
        .await
        .expect("stored");
    envelope
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_changes_no_case_is_in_the_feed_with_the_refusal_sent_back() {
    let deployment = deployment().await;
    let local = &deployment.local;
    let mfa = start(local, MFA, token()).await;
    let mut feed = Feed::open(&mfa, None, "").await;

    // About a case kz.mfa does not hold.
    let unknown = deliver_to_mfa(local, SECURITY, example_verification()).await;
    let events = feed.until("the refusal sent", sent("case.refused")).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["message.refused", "message.sent"], "{events:#?}");
    let refused = &events[0].data;
    assert_eq!(refused["rule"], "unknown_case");
    assert_eq!(refused["caseRef"], "HOL-P5-000123");
    assert_eq!(refused["messageId"], unknown.id());
    assert_eq!(refused["sender"], SECURITY);
    assert!(refused.get("stage").is_none(), "no case, no stage");
    assert_eq!(events[1].data["recipients"], serde_json::json!([SECURITY]));

    // From a member the policy does not let send it: refused by the
    // service's own checks.
    let forged = deliver_to_mfa(local, "kz.interior", example_verification()).await;
    let events = feed
        .until("the second refusal sent", sent("case.refused"))
        .await;
    assert_eq!(events[0].kind, "message.refused", "{events:#?}");
    assert_eq!(events[0].data["rule"], "sender_not_permitted");
    assert_eq!(events[0].data["messageId"], forged.id());
    assert_eq!(events[0].data["sender"], "kz.interior");
    assert_eq!(events.len(), 2, "{events:#?}");

    mfa.stop().await;
    deployment.stop().await;
}
