//! The camp registry's rules, one test per rule code, and the flow they
//! guard: a request, the release decision, the operation, the handover and
//! its acknowledgement.

use std::sync::LazyLock;

use homeward_core::message_types as types;
use homeward_ministry::test_support::{
    CAMPS, CASE, DAUGHTER, MOTHER, MemberRole, PROTOCOL, SON, acted, action_refused, applied,
    invalid_request, located_case, message, refused, requested, scheduled,
};
use homeward_ministry::{Case, Decision, Stage};
use serde_json::{Value, json};

use crate::CampRegistry;

static SERVICE: LazyLock<MemberRole<CampRegistry>> =
    LazyLock::new(|| MemberRole::new(CampRegistry, CAMPS));

/// The located family, with `persons` requested by Kazakhstan.
fn requested_case(persons: &[&str]) -> Case {
    let m = message("kz.mfa", types::REPATRIATION_REQUESTED, requested(persons));
    applied(SERVICE.on_message(Some(located_case(Stage::Located)), &m)).case
}

/// The requested family after `decision` (an API body) and, when the
/// decision accepted anyone, the operation with every accepted person.
fn decided_case(body: &Value) -> Case {
    acted(SERVICE.on_action(
        Some(requested_case(&[MOTHER, SON, DAUGHTER])),
        "decide",
        body,
    ))
    .case
}

fn scheduled_case() -> Case {
    let m = message(
        "kz.mfa",
        types::OPERATION_SCHEDULED,
        scheduled(&[MOTHER, SON, DAUGHTER], "KZ"),
    );
    let case = decided_case(&json!({"acceptAll": true}));
    applied(SERVICE.on_message(Some(case), &m)).case
}

fn acknowledgement(protocol: &str) -> homeward_core::Envelope {
    message(
        "kz.mfa",
        types::HANDOVER_ACKNOWLEDGED,
        json!({"caseRef": CASE, "campAuthority": CAMPS, "handoverMessageId": "01D7XVY7C0DAG021ETAMTCPPAR",
               "protocolRef": protocol, "acknowledgedAt": "2019-05-07T12:00:00Z", "discrepancies": []}),
    )
}

#[test]
fn a_family_is_requested_released_scheduled_handed_over_and_acknowledged() {
    let case = requested_case(&[MOTHER, SON, DAUGHTER]);
    assert_eq!(case.stage, Stage::Requested);
    assert!(case.persons.values().all(|p| p.requested));

    let decided = acted(SERVICE.on_action(Some(case), "decide", &json!({"acceptAll": true})));
    assert_eq!(decided.case.stage, Stage::Decided);
    assert_eq!(
        decided.outgoing[0].message_type,
        types::REPATRIATION_DECIDED
    );
    assert!(
        decided
            .case
            .persons
            .values()
            .all(|p| p.decision == Some(Decision::Accepted))
    );

    let case = scheduled_case();
    assert_eq!(case.stage, Stage::Scheduled);
    assert!(case.persons.values().all(|p| p.on_manifest));
    let handover =
        acted(SERVICE.on_action(Some(case), "handover", &json!({"protocolRef": PROTOCOL})));
    assert_eq!(handover.case.stage, Stage::HandedOver);
    assert_eq!(handover.outgoing[0].message_type, types::HANDOVER_COMPLETED);
    assert_eq!(
        handover.outgoing[0].data["persons"][1],
        json!({"personRef": SON, "accompaniedBy": MOTHER})
    );

    let acknowledged = applied(SERVICE.on_message(Some(handover.case), &acknowledgement(PROTOCOL)));
    assert_eq!(acknowledged.case.stage, Stage::Acknowledged);
    assert!(acknowledged.case.closed);
}

#[test]
fn unknown_case() {
    let m = message(
        "kz.mfa",
        types::REPATRIATION_REQUESTED,
        requested(&[MOTHER]),
    );
    refused(SERVICE.on_message(None, &m), "unknown_case");
}

#[test]
fn not_their_citizens() {
    let mut data = requested(&[MOTHER]);
    data["requestingState"] = json!("UZ");
    let from_uzbekistan = message("uz.mfa", types::REPATRIATION_REQUESTED, data.clone());
    refused(
        SERVICE.on_message(Some(located_case(Stage::Located)), &from_uzbekistan),
        "not_their_citizens",
    );
    // Kazakhstan's own ministry cannot ask in another state's name either.
    let in_uzbekistans_name = message("kz.mfa", types::REPATRIATION_REQUESTED, data);
    refused(
        SERVICE.on_message(Some(located_case(Stage::Located)), &in_uzbekistans_name),
        "not_their_citizens",
    );
}

#[test]
fn another_state_cannot_schedule_or_acknowledge_a_case() {
    // Uzbekistan's ministry, naming this camp, schedules the Kazakh family
    // on its operation: refused, and the case stays as it was.
    let case = scheduled_case();
    let from_uzbekistan = message(
        "uz.mfa",
        types::OPERATION_SCHEDULED,
        scheduled(&[MOTHER], "UZ"),
    );
    refused(
        SERVICE.on_message(Some(case.clone()), &from_uzbekistan),
        "not_their_citizens",
    );
    // Nor can it acknowledge the handover, closing the case, even knowing
    // the protocol.
    let handover =
        acted(SERVICE.on_action(Some(case), "handover", &json!({"protocolRef": PROTOCOL})));
    let ack = message(
        "uz.mfa",
        types::HANDOVER_ACKNOWLEDGED,
        acknowledgement(PROTOCOL).data().clone(),
    );
    refused(
        SERVICE.on_message(Some(handover.case.clone()), &ack),
        "not_their_citizens",
    );
    // Kazakhstan's own acknowledgement closes it.
    let closed = applied(SERVICE.on_message(Some(handover.case), &acknowledgement(PROTOCOL)));
    assert!(closed.case.closed);
}

#[test]
fn person_not_in_case() {
    let m = message(
        "kz.mfa",
        types::REPATRIATION_REQUESTED,
        requested(&[MOTHER, "HOL-P5-000777-09"]),
    );
    let refusal = refused(
        SERVICE.on_message(Some(located_case(Stage::Located)), &m),
        "person_not_in_case",
    );
    assert_eq!(refusal.persons, ["HOL-P5-000777-09"]);
}

#[test]
fn operation_without_acceptance() {
    let case = decided_case(&json!({"decisions": [
        {"personRef": MOTHER, "decision": "accepted"},
        {"personRef": SON, "decision": "accepted"},
        {"personRef": DAUGHTER, "decision": "refused", "refusalReason": "identity-disputed"},
    ]}));
    let m = message(
        "kz.mfa",
        types::OPERATION_SCHEDULED,
        scheduled(&[MOTHER, SON, DAUGHTER], "KZ"),
    );
    let refusal = refused(
        SERVICE.on_message(Some(case), &m),
        "operation_without_acceptance",
    );
    assert_eq!(refusal.persons, [DAUGHTER]);
}

#[test]
fn acknowledgement_without_handover() {
    refused(
        SERVICE.on_message(Some(scheduled_case()), &acknowledgement(PROTOCOL)),
        "acknowledgement_without_handover",
    );
}

#[test]
fn decision_without_request() {
    action_refused(
        SERVICE.on_action(
            Some(located_case(Stage::Located)),
            "decide",
            &json!({"acceptAll": true}),
        ),
        "decision_without_request",
    );
    // A decision on someone who was not requested, in a requested case.
    action_refused(
        SERVICE.on_action(
            Some(requested_case(&[MOTHER])),
            "decide",
            &json!({"decisions": [{"personRef": SON, "decision": "accepted"}]}),
        ),
        "decision_without_request",
    );
}

#[test]
fn mother_consent_missing() {
    let without_mother = json!({"decisions": [
        {"personRef": MOTHER, "decision": "refused", "refusalReason": "local-proceedings"},
        {"personRef": SON, "decision": "accepted"},
    ]});
    action_refused(
        SERVICE.on_action(
            Some(requested_case(&[MOTHER, SON])),
            "decide",
            &without_mother,
        ),
        "mother_consent_missing",
    );
    // With her written consent, the son goes, separated from her.
    let mut with_consent = without_mother;
    with_consent["consents"] = json!([{"childRef": SON, "givenOn": "2019-05-01",
        "document": {"uri": "https://records.camps.aanes.example/consents/1",
                     "sha256": "bb7dbbf1344b57e86feb7540f32efc8f7d5f03d1a2b17ce930ef90ddec75e408"}}]);
    let t = acted(SERVICE.on_action(
        Some(requested_case(&[MOTHER, SON])),
        "decide",
        &with_consent,
    ));
    let son = &t.outgoing[0].data["decisions"][1];
    assert_eq!(son["separatedFromMother"], true);
    assert_eq!(son["motherConsent"]["motherRef"], MOTHER);
    assert_eq!(t.case.persons[SON].decision, Some(Decision::Accepted));
    assert_eq!(t.case.persons[MOTHER].decision, Some(Decision::Refused));
}

#[test]
fn handover_without_operation() {
    action_refused(
        SERVICE.on_action(
            Some(decided_case(&json!({"acceptAll": true}))),
            "handover",
            &json!({}),
        ),
        "handover_without_operation",
    );
}

#[test]
fn handover_without_acceptance() {
    let mut case = scheduled_case();
    case.person(DAUGHTER).decision = Some(Decision::Refused);
    action_refused(
        SERVICE.on_action(
            Some(case),
            "handover",
            &json!({"persons": [MOTHER, DAUGHTER]}),
        ),
        "handover_without_acceptance",
    );
}

#[test]
fn an_unknown_decision_is_an_invalid_request() {
    let result = SERVICE.on_action(
        Some(requested_case(&[MOTHER])),
        "decide",
        &json!({"decisions": [{"personRef": MOTHER, "decision": "postponed"}]}),
    );
    invalid_request(result);
}

#[test]
fn every_rule_code_is_documented_and_tested() {
    homeward_ministry::test_support::rule_codes_are_documented_and_tested(
        include_str!("lib.rs"),
        include_str!("tests.rs"),
    );
}
