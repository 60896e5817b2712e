//! Each out-of-order message is refused with the rule it breaks, back to its
//! sender, which records the refusal on its own case.

use homeward_core::envelope::EnvelopeBuilder;
use homeward_core::schema::message_schema_id;
use homeward_replay::api::stage_is;
use serde_json::{Value, json};

use crate::support::{CENSUS, world};

const CASE: &str = "HOL-P5-000777";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_out_of_order_message_is_refused_with_its_rule() {
    let (local, world, api) = world().await;
    api.command(
        "aanes.camps",
        "census?registeredOn=2019-04-15",
        CENSUS.as_bytes().to_vec(),
    )
    .await
    .expect("census");
    api.wait_case(
        "kz.mfa",
        CASE,
        "the case",
        stage_is("verification-requested"),
    )
    .await
    .expect("open");
    api.wait_case(
        "kz.security",
        CASE,
        "the case",
        stage_is("verification-requested"),
    )
    .await
    .expect("open");

    // (sender, type, data, who refuses, rule)
    let cases: Vec<(&str, &str, Value, &str, &str)> = vec![
        (
            "aanes.camps",
            "repatriation.decided",
            json!({"caseRef": CASE, "requestingState": "KZ", "decidedAt": "2019-05-01T10:00:00Z",
                   "decisions": [{"personRef": "HOL-P5-000777-01", "decision": "accepted"}]}),
            "kz.mfa",
            "decision_without_request",
        ),
        (
            "kz.mfa",
            "operation.scheduled",
            json!({"caseRef": CASE, "campAuthority": "aanes.camps",
                   "manifest": {"operationId": "KZ-ZHUSAN-2019", "round": 2, "persons": [{"personRef": "HOL-P5-000777-01"}]},
                   "handoverDate": "2019-05-07", "handoverPoint": {"name": "Qamishli airport", "country": "SY"},
                   "transport": {"mode": "state-aircraft", "carrierState": "KZ", "arrival": {"name": "Aktau airport", "country": "KZ"}}}),
            "aanes.camps",
            "operation_without_acceptance",
        ),
        (
            "kz.mfa",
            "handover.acknowledged",
            json!({"caseRef": CASE, "campAuthority": "aanes.camps", "handoverMessageId": "01D7XVY7C0DAG021ETAMTCPPAR",
                   "protocolRef": "QAM-NONE", "acknowledgedAt": "2019-05-07T12:00:00Z", "discrepancies": []}),
            "aanes.camps",
            "acknowledgement_without_handover",
        ),
        (
            "aanes.camps",
            "handover.completed",
            json!({"caseRef": CASE, "requestingState": "KZ", "protocolRef": "QAM-X", "operationId": "KZ-ZHUSAN-2019", "round": 2,
                   "handedOverAt": "2019-05-07T09:00:00Z", "place": {"name": "Qamishli airport", "country": "SY"},
                   "handedOverBy": {"member": "aanes.camps", "name": "Duty officer"}, "receivedBy": {"member": "kz.mfa", "name": "Consul"},
                   "persons": [{"personRef": "HOL-P5-000777-09"}]}),
            "kz.mfa",
            "person_not_in_case",
        ),
        (
            "kz.mfa",
            "repatriation.requested",
            json!({"caseRef": "HOL-P5-999999", "campAuthority": "aanes.camps", "requestingState": "KZ",
                   "persons": [{"personRef": "HOL-P5-999999-01"}]}),
            "aanes.camps",
            "unknown_case",
        ),
        (
            "uz.mfa",
            "repatriation.requested",
            json!({"caseRef": CASE, "campAuthority": "aanes.camps", "requestingState": "UZ",
                   "persons": [{"personRef": "HOL-P5-000777-01"}]}),
            "aanes.camps",
            "not_their_citizens",
        ),
        (
            "kz.interior",
            "arrival.recorded",
            // Another case: the rogue operation above has already opened
            // this one at the rehabilitation centre.
            json!({"caseRef": "HOL-P5-888888", "operationId": "KZ-ZHUSAN-2019", "round": 2, "arrivedAt": "2019-05-07T15:00:00Z",
                   "borderPoint": {"name": "Aktau airport", "country": "KZ"}, "persons": [{"personRef": "HOL-P5-888888-01"}]}),
            "kz.rehab",
            "unknown_case",
        ),
    ];
    let mut sent = Vec::new();
    for (sender, kind, data, refuser, rule) in &cases {
        let client = local.member(sender).await.expect("member");
        let subject = data["caseRef"].as_str().expect("caseRef").to_owned();
        let envelope = client
            .sign(
                EnvelopeBuilder::new(kind, &message_schema_id(kind, 1), data.clone())
                    .subject(subject),
            )
            .expect("signs");
        client.submit(&envelope).await.expect("submitted");
        sent.push((envelope.id().to_owned(), *sender, *kind, *refuser, *rule));
    }
    // The refusal goes back to the sender; where the sender holds the case,
    // its service records it. Otherwise read it from the sender's deliveries.
    let js = async_nats::jetstream::new(local.client("test").await.expect("client"));
    let refusal_of = |all: &[(String, homeward_core::Envelope)],
                      id: &str,
                      refuser: &str|
     -> Option<(String, homeward_core::Envelope)> {
        all.iter()
            .find(|(_, e)| {
                e.message_type() == "case.refused"
                    && e.data()["refusedMessageId"] == id
                    && e.sender().as_str() == refuser
            })
            .cloned()
    };
    let deliveries =
        crate::support::read_all_until(&js, homeward_core::subjects::DELIVER_STREAM, |all| {
            sent.iter()
                .all(|(id, _, _, refuser, _)| refusal_of(all, id, refuser).is_some())
        })
        .await;
    for (id, sender, kind, refuser, rule) in &sent {
        let (subject, refusal) = refusal_of(&deliveries, id, refuser)
            .unwrap_or_else(|| panic!("no refusal by {refuser} of {kind} from {sender}"));
        assert_eq!(refusal.data()["rule"], *rule, "{kind}");
        assert_eq!(refusal.data()["refusedSender"], *sender);
        assert_eq!(refusal.data()["refusedType"], *kind);
        assert!(
            subject.starts_with(&format!("hw.deliver.{sender}.case.refused")),
            "{subject}"
        );
        assert_eq!(refusal.causationid(), Some(id.as_str()));
        refusal.verify_signature().expect("refusals are signed");
    }
    world.stop().await.expect("stops");
}
