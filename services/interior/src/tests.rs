//! The interior ministry's rules, one test per rule code, and the flow they
//! guard: the operation, the arrival, custody, documents and
//! reintegration.

use std::sync::LazyLock;

use homeward_core::message_types as types;
use homeward_ministry::test_support::{
    CASE, DAUGHTER, MOTHER, MemberRole, OPERATION, ROUND, SON, acted, action_refused, admitted,
    applied, discharged, invalid_request, message, refused, scheduled, screened,
};
use homeward_ministry::{Case, Custody, DocumentKind, ScreeningOutcome, Stage};
use serde_json::{Value, json};

use crate::Interior;

const INTERIOR: &str = "kz.interior";
const ALL: [&str; 3] = [MOTHER, SON, DAUGHTER];

static SERVICE: LazyLock<MemberRole<Interior>> =
    LazyLock::new(|| MemberRole::new(Interior, INTERIOR));

/// The case the operation opens, with `persons` on the manifest.
fn scheduled_case(persons: &[&str]) -> Case {
    let m = message(
        "kz.mfa",
        types::OPERATION_SCHEDULED,
        scheduled(persons, "KZ"),
    );
    applied(SERVICE.on_message(None, &m)).case
}

/// Everyone on the manifest but `absent` arrived.
fn arrived_case(absent: &[&str]) -> Case {
    let here: Vec<&str> = ALL.into_iter().filter(|r| !absent.contains(r)).collect();
    acted(SERVICE.on_action(
        Some(scheduled_case(&ALL)),
        "arrival",
        &json!({"persons": here}),
    ))
    .case
}

fn reintegration(persons: &[&str]) -> Value {
    let persons: Vec<Value> = persons
        .iter()
        .map(|r| json!({"personRef": r, "homeRegion": {"country": "KZ", "name": "Mangystau"}}))
        .collect();
    json!({"persons": persons, "caseClosed": true})
}

#[test]
fn a_family_arrives_is_placed_documented_and_reintegrated() {
    let case = scheduled_case(&ALL);
    assert_eq!(case.stage, Stage::Scheduled);
    assert_eq!(case.persons[SON].accompanied_by.as_deref(), Some(MOTHER));
    assert_eq!(
        case.operation
            .as_ref()
            .map(|o| (o.operation_id.as_str(), o.round)),
        Some((OPERATION, ROUND))
    );

    let t = acted(SERVICE.on_action(Some(case), "arrival", &json!({})));
    assert_eq!(t.case.stage, Stage::Arrived);
    assert_eq!(t.outgoing[0].message_type, types::ARRIVAL_RECORDED);
    assert_eq!(
        t.outgoing[0].data["persons"][1],
        json!({"personRef": SON, "accompaniedBy": MOTHER})
    );
    let mut case = t.case;
    for (sender, kind, data) in [
        (
            "kz.security",
            types::SECURITY_SCREENING_COMPLETED,
            screened(&[(MOTHER, "cleared"), (SON, "cleared"), (DAUGHTER, "cleared")]),
        ),
        ("kz.rehab", types::REHABILITATION_ADMITTED, admitted(&ALL)),
        (
            "kz.rehab",
            types::REHABILITATION_DISCHARGED,
            discharged(&ALL),
        ),
    ] {
        case = applied(SERVICE.on_message(Some(case), &message(sender, kind, data))).case;
    }
    assert_eq!(
        case.persons[MOTHER].screening,
        Some(ScreeningOutcome::Cleared)
    );

    let t = acted(SERVICE.on_action(Some(case), "custody", &json!({"assignments": [{"childRef": SON, "custody": "relative-guardian",
                                "guardian": {"fullName": "Synthetic Guardian", "relationship": "grandmother"}}]})));
    assert_eq!(t.case.stage, Stage::CustodyAssigned);
    assert_eq!(t.case.persons[SON].custody, Some(Custody::RelativeGuardian));
    let t = acted(SERVICE.on_action(
        Some(t.case),
        "documents",
        &json!({"documents": [{"personRef": DAUGHTER, "kind": "passport", "number": "N00000001"}]}),
    ));
    assert_eq!(t.case.persons[DAUGHTER].documents, [DocumentKind::Passport]);
    assert_eq!(t.outgoing[0].data["documents"][0]["issuingCountry"], "KZ");

    let t = acted(SERVICE.on_action(Some(t.case), "reintegration", &reintegration(&ALL)));
    assert_eq!(t.case.stage, Stage::Closed);
    assert!(t.case.closed);
    assert_eq!(t.outgoing[0].message_type, types::REINTEGRATION_REGISTERED);
}

#[test]
fn unknown_case() {
    let m = message(
        "kz.security",
        types::SECURITY_SCREENING_COMPLETED,
        screened(&[(MOTHER, "cleared")]),
    );
    refused(SERVICE.on_message(None, &m), "unknown_case");
}

#[test]
fn person_not_in_case() {
    let m = message(
        "kz.rehab",
        types::REHABILITATION_ADMITTED,
        admitted(&[MOTHER, "HOL-P5-000777-09"]),
    );
    let refusal = refused(
        SERVICE.on_message(Some(arrived_case(&[])), &m),
        "person_not_in_case",
    );
    assert_eq!(refusal.persons, ["HOL-P5-000777-09"]);
}

#[test]
fn screening_before_arrival() {
    let m = message(
        "kz.security",
        types::SECURITY_SCREENING_COMPLETED,
        screened(&[(MOTHER, "cleared"), (DAUGHTER, "cleared")]),
    );
    let refusal = refused(
        SERVICE.on_message(Some(arrived_case(&[DAUGHTER])), &m),
        "screening_before_arrival",
    );
    assert_eq!(refusal.persons, [DAUGHTER]);
}

#[test]
fn arrival_without_operation() {
    let mut case = Case::new(CASE, Stage::Located);
    case.person(MOTHER).on_manifest = true;
    action_refused(
        SERVICE.on_action(Some(case), "arrival", &json!({})),
        "arrival_without_operation",
    );
}

#[test]
fn arrival_not_on_manifest() {
    action_refused(
        SERVICE.on_action(
            Some(scheduled_case(&[MOTHER, SON])),
            "arrival",
            &json!({"persons": [MOTHER, DAUGHTER]}),
        ),
        "arrival_not_on_manifest",
    );
}

#[test]
fn custody_before_arrival() {
    action_refused(
        SERVICE.on_action(Some(arrived_case(&[DAUGHTER])), "custody", &json!({"assignments": [{"childRef": DAUGHTER, "custody": "mother", "motherRef": MOTHER}]})),
        "custody_before_arrival",
    );
}

#[test]
fn documents_before_arrival() {
    action_refused(
        SERVICE.on_action(Some(arrived_case(&[DAUGHTER])), "documents", &json!({"documents": [{"personRef": DAUGHTER, "kind": "passport", "number": "N00000001"}]})),
        "documents_before_arrival",
    );
}

#[test]
fn reintegration_before_discharge() {
    action_refused(
        SERVICE.on_action(
            Some(arrived_case(&[])),
            "reintegration",
            &reintegration(&[MOTHER]),
        ),
        "reintegration_before_discharge",
    );
}

#[test]
fn an_unknown_custody_or_document_is_an_invalid_request() {
    for (action, body) in [
        (
            "custody",
            json!({"assignments": [{"childRef": SON, "custody": "neighbour"}]}),
        ),
        (
            "documents",
            json!({"documents": [{"personRef": SON, "kind": "visa", "number": "1"}]}),
        ),
    ] {
        let result = SERVICE.on_action(Some(arrived_case(&[])), action, &body);
        invalid_request(result);
    }
}

#[test]
fn every_rule_code_is_documented_and_tested() {
    homeward_ministry::test_support::rule_codes_are_documented_and_tested(
        include_str!("lib.rs"),
        include_str!("tests.rs"),
    );
}
