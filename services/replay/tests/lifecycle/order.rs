//! Messages that break the case flow are refused with the rule they break,
//! and a redelivered message changes nothing.

use homeward_core::envelope::EnvelopeBuilder;
use homeward_core::schema::message_schema_id;
use homeward_replay::api::stage_is;
use serde_json::{Value, json};

use crate::support::{CENSUS, world};

/// Waits until `member`'s case records a refusal with `rule`.
async fn refusal_recorded(
    api: &homeward_replay::api::Api,
    member: &str,
    case: &str,
    rule: &str,
) -> Value {
    let rule = rule.to_owned();
    api.wait_case(member, case, "the refusal", move |c| {
        c.get("refusalsReceived")
            .and_then(Value::as_array)
            .is_some_and(|r| r.iter().any(|x| x["rule"] == rule.as_str()))
    })
    .await
    .expect("refusal recorded")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_messages_are_refused_with_their_rule() {
    let (local, world, api) = world().await;
    api.command(
        "aanes.camps",
        "census?registeredOn=2019-04-15",
        CENSUS.as_bytes().to_vec(),
    )
    .await
    .expect("census");
    let case = "HOL-P5-000777";
    api.wait_case(
        "kz.mfa",
        case,
        "the case",
        stage_is("verification-requested"),
    )
    .await
    .expect("case open");

    // A handover of persons nobody accepted: the foreign ministry refuses it.
    let camps = local.member("aanes.camps").await.expect("member");
    let handover = json!({
        "caseRef": case, "requestingState": "KZ", "protocolRef": "QAM-TEST-1", "operationId": "KZ-ZHUSAN-2019", "round": 2,
        "handedOverAt": "2019-05-07T09:00:00Z", "place": {"name": "Qamishli airport", "country": "SY"},
        "handedOverBy": {"member": "aanes.camps", "name": "Duty officer"}, "receivedBy": {"member": "kz.mfa", "name": "Consul"},
        "persons": [{"personRef": "HOL-P5-000777-01"}],
    });
    let envelope = camps
        .sign(
            EnvelopeBuilder::new(
                "handover.completed",
                &message_schema_id("handover.completed", 1),
                handover,
            )
            .subject(case),
        )
        .expect("signs");
    camps.submit(&envelope).await.expect("submitted");
    let camp_case = refusal_recorded(&api, "aanes.camps", case, "handover_without_operation").await;
    let refusal = camp_case["refusalsReceived"]
        .as_array()
        .and_then(|r| r.iter().find(|x| x["refusedMessageId"] == envelope.id()))
        .expect("the refusal names the message");
    assert_eq!(refusal["refusedType"], "handover.completed");
    assert!(refusal["reason"].as_str().is_some_and(|r| !r.is_empty()));

    // A screening of someone who never arrived: interior and rehabilitation
    // refuse it. They hold the case only once an operation is scheduled.
    api.act(
        "kz.security",
        case,
        "verify",
        &json!({"outcome": "confirmed"}),
    )
    .await
    .expect("verified");
    api.wait_case("kz.mfa", case, "verification", stage_is("verified"))
        .await
        .expect("verified");
    api.act(
        "kz.mfa",
        case,
        "request-repatriation",
        &json!({"operationId": "KZ-ZHUSAN-2019", "round": 2}),
    )
    .await
    .expect("requested");
    api.wait_case("aanes.camps", case, "request", stage_is("requested"))
        .await
        .expect("requested");
    api.act("aanes.camps", case, "decide", &json!({"acceptAll": true}))
        .await
        .expect("decided");
    api.wait_case("kz.mfa", case, "decision", stage_is("decided"))
        .await
        .expect("decided");
    api.act(
        "kz.mfa",
        case,
        "schedule",
        &json!({"operationId": "KZ-ZHUSAN-2019", "round": 2, "transport": {"mode": "state-aircraft", "carrierState": "KZ", "arrival": {"name": "Aktau airport", "country": "KZ"}}}),
    )
    .await
    .expect("scheduled");
    api.wait_case("kz.interior", case, "operation", stage_is("scheduled"))
        .await
        .expect("scheduled");
    api.wait_case("kz.rehab", case, "operation", stage_is("scheduled"))
        .await
        .expect("scheduled");
    let security = local.member("kz.security").await.expect("member");
    let screening = json!({"caseRef": case, "results": [{"personRef": "HOL-P5-000777-01", "outcome": "cleared", "decidedOn": "2019-05-08"}]});
    let envelope = security
        .sign(
            EnvelopeBuilder::new(
                "security.screening.completed",
                &message_schema_id("security.screening.completed", 1),
                screening,
            )
            .subject(case),
        )
        .expect("signs");
    security.submit(&envelope).await.expect("submitted");
    let sec_case = refusal_recorded(&api, "kz.security", case, "screening_before_arrival").await;
    let from: Vec<&Value> = sec_case["refusalsReceived"]
        .as_array()
        .expect("refusals")
        .iter()
        .collect();
    assert!(
        from.iter()
            .all(|r| r["persons"] == json!(["HOL-P5-000777-01"])),
        "{from:?}"
    );

    // Through the API, the same rule stops the action before any message.
    let err = api
        .act(
            "kz.security",
            case,
            "screen",
            &json!({"results": [{"personRef": "HOL-P5-000777-01", "outcome": "cleared"}]}),
        )
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("409") && err.to_string().contains("screening_before_arrival"),
        "{err}"
    );
    world.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_message_changes_nothing() {
    let (local, world, api) = world().await;
    api.command(
        "aanes.camps",
        "census?registeredOn=2019-04-15",
        CENSUS.as_bytes().to_vec(),
    )
    .await
    .expect("census");
    let case = "HOL-P5-000777";
    // Until the verification request has left the outbox: sending it is the
    // last write the located message causes, and one that lands after the
    // case is read below would look like a second application.
    let before = api
        .wait_case("kz.mfa", case, "the case", |c| {
            stage_is("verification-requested")(c)
                && c["outbox"].as_array().is_some_and(Vec::is_empty)
        })
        .await
        .expect("case open");
    let mfa = world.service("kz.mfa").expect("service");
    let stored = mfa.store().get(case).await.expect("read").expect("case");
    let located = stored
        .case
        .processed
        .iter()
        .next()
        .cloned()
        .expect("the located message was processed");
    assert_eq!(located.sender, "aanes.camps");

    // Fetch the located message exactly as delivered and hand it over again.
    let js = async_nats::jetstream::new(local.client("test").await.expect("client"));
    let stream = js
        .get_stream(homeward_core::subjects::DELIVER_STREAM)
        .await
        .expect("stream");
    let raw = stream
        .get_last_raw_message_by_subject("hw.deliver.kz.mfa.camp.resident.located")
        .await
        .expect("the delivery");
    let delivered = homeward_core::client::Delivery {
        envelope: homeward_core::Envelope::parse(&raw.payload).expect("parses"),
        sequence: raw.sequence,
        attempt: 2,
        stored_at: raw.time,
    };
    assert_eq!(delivered.envelope.id(), located.id);
    let submitted_before = js
        .get_stream(homeward_core::subjects::SUBMIT_STREAM)
        .await
        .expect("s")
        .get_info()
        .await
        .expect("i")
        .state
        .last_sequence;
    mfa.handle_delivery(&delivered)
        .await
        .expect("handled again");
    mfa.handle_delivery(&delivered).await.expect("and again");
    let after = mfa.store().get(case).await.expect("read").expect("case");
    assert_eq!(
        after.revision, stored.revision,
        "the case was written again"
    );
    assert_eq!(after.case, stored.case);
    let submitted_after = js
        .get_stream(homeward_core::subjects::SUBMIT_STREAM)
        .await
        .expect("s")
        .get_info()
        .await
        .expect("i")
        .state
        .last_sequence;
    assert_eq!(
        submitted_after, submitted_before,
        "a second verification request was submitted"
    );
    assert_eq!(before["persons"], after_json(&after.case)["persons"]);
    world.stop().await.expect("stops");
}

fn after_json(case: &homeward_ministry::Case) -> Value {
    serde_json::to_value(case).expect("json")
}
