//! The security service's rules, one test per rule code, and the flow they
//! guard: a located family, its verification, its return and its
//! screening.

use std::sync::LazyLock;

use homeward_core::Envelope;
use homeward_core::message_types as types;
use homeward_ministry::test_support::{
    CAMPS, CASE, DAUGHTER, MOTHER, MemberRole, SON, acted, action_refused, admitted, applied,
    arrived, discharged, handed_over, invalid_request, located, message, refused, scheduled,
};
use homeward_ministry::{Case, ScreeningOutcome, Stage, VerificationOutcome};
use serde_json::{Value, json};

use crate::Security;

const SECURITY: &str = "kz.security";
const ALL: [&str; 3] = [MOTHER, SON, DAUGHTER];

static SERVICE: LazyLock<MemberRole<Security>> =
    LazyLock::new(|| MemberRole::new(Security, SECURITY));

fn located_case() -> Case {
    let m = message(CAMPS, types::CAMP_RESIDENT_LOCATED, located("KZ"));
    applied(SERVICE.on_message(None, &m)).case
}

fn verification_request(persons: &[&str]) -> Envelope {
    let persons: Vec<Value> = persons
        .iter()
        .map(|r| json!({"personRef": r, "methods": ["civil-registry"]}))
        .collect();
    message(
        "kz.mfa",
        types::IDENTITY_VERIFICATION_REQUESTED,
        json!({"caseRef": CASE, "persons": persons}),
    )
}

fn requested_case() -> Case {
    applied(SERVICE.on_message(Some(located_case()), &verification_request(&ALL))).case
}

/// Verified, scheduled, handed over and arrived, but for `absent`.
fn arrived_case(absent: &[&str]) -> Case {
    let here: Vec<&str> = ALL.into_iter().filter(|r| !absent.contains(r)).collect();
    let mut case = acted(SERVICE.on_action(Some(requested_case()), "verify", &json!({}))).case;
    for (sender, kind, data) in [
        ("kz.mfa", types::OPERATION_SCHEDULED, scheduled(&ALL, "KZ")),
        (CAMPS, types::HANDOVER_COMPLETED, handed_over(&here)),
        ("kz.interior", types::ARRIVAL_RECORDED, arrived(&here)),
    ] {
        case = applied(SERVICE.on_message(Some(case), &message(sender, kind, data))).case;
    }
    case
}

#[test]
fn a_family_is_verified_followed_home_and_screened() {
    let case = located_case();
    assert_eq!(case.stage, Stage::Located);
    assert_eq!(case.camp_authority.as_deref(), Some(CAMPS));
    let case = requested_case();
    assert_eq!(case.stage, Stage::VerificationRequested);

    let t = acted(SERVICE.on_action(Some(case), "verify", &json!({"outcome": "confirmed"})));
    assert_eq!(t.case.stage, Stage::Verified);
    assert_eq!(
        t.outgoing[0].message_type,
        types::IDENTITY_VERIFICATION_COMPLETED
    );
    assert!(
        t.case
            .persons
            .values()
            .all(|p| p.verification == Some(VerificationOutcome::Confirmed))
    );

    let mut case = arrived_case(&[]);
    assert_eq!(case.stage, Stage::HandedOver);
    for (kind, data) in [
        (types::REHABILITATION_ADMITTED, admitted(&ALL)),
        (types::REHABILITATION_DISCHARGED, discharged(&ALL)),
    ] {
        case = applied(SERVICE.on_message(Some(case), &message("kz.rehab", kind, data))).case;
    }
    assert!(case.persons.values().all(|p| p.on_manifest
        && p.handed_over
        && p.arrived
        && p.admitted
        && p.discharged));

    let t = acted(SERVICE.on_action(Some(case), "screen", &json!({"results": [{"personRef": MOTHER, "outcome": "detained"}, {"personRef": SON, "outcome": "cleared"}]})));
    assert_eq!(t.case.stage, Stage::Screened);
    assert_eq!(
        t.case.persons[MOTHER].screening,
        Some(ScreeningOutcome::Detained)
    );
    let results = &t.outgoing[0].data["results"];
    assert_eq!(results[0]["proceedingsRef"], format!("KZ-{MOTHER}"));
    assert!(results[1].get("proceedingsRef").is_none());
}

#[test]
fn unknown_case() {
    refused(
        SERVICE.on_message(None, &verification_request(&ALL)),
        "unknown_case",
    );
}

#[test]
fn not_our_citizens() {
    let m = message(CAMPS, types::CAMP_RESIDENT_LOCATED, located("UZ"));
    refused(SERVICE.on_message(None, &m), "not_our_citizens");
}

#[test]
fn not_the_camp_authority() {
    // Iraq's justice ministry, another camp authority, hands over a family
    // al-Hol holds, or locates it again to take the case over.
    let case = requested_case();
    refused(
        SERVICE.on_message(
            Some(case.clone()),
            &message("iq.justice", types::HANDOVER_COMPLETED, handed_over(&ALL)),
        ),
        "not_the_camp_authority",
    );
    refused(
        SERVICE.on_message(
            Some(case.clone()),
            &message("iq.justice", types::CAMP_RESIDENT_LOCATED, located("KZ")),
        ),
        "not_the_camp_authority",
    );
    assert_eq!(case.camp_authority.as_deref(), Some(CAMPS));
    let handed = applied(SERVICE.on_message(
        Some(case),
        &message(CAMPS, types::HANDOVER_COMPLETED, handed_over(&ALL)),
    ));
    assert_eq!(handed.case.stage, Stage::HandedOver);
}

#[test]
fn person_not_in_case() {
    let refusal = refused(
        SERVICE.on_message(
            Some(located_case()),
            &verification_request(&[MOTHER, "HOL-P5-000777-09"]),
        ),
        "person_not_in_case",
    );
    assert_eq!(refusal.persons, ["HOL-P5-000777-09"]);
}

#[test]
fn verification_not_requested() {
    action_refused(
        SERVICE.on_action(Some(located_case()), "verify", &json!({})),
        "verification_not_requested",
    );
    let only_mother =
        applied(SERVICE.on_message(Some(located_case()), &verification_request(&[MOTHER]))).case;
    action_refused(
        SERVICE.on_action(Some(only_mother), "verify", &json!({"results": [{"personRef": SON, "outcome": "confirmed", "methods": ["civil-registry"]}]})),
        "verification_not_requested",
    );
}

#[test]
fn screening_before_arrival() {
    action_refused(
        SERVICE.on_action(
            Some(arrived_case(&[DAUGHTER])),
            "screen",
            &json!({"results": [{"personRef": DAUGHTER, "outcome": "cleared"}]}),
        ),
        "screening_before_arrival",
    );
}

#[test]
fn an_unknown_outcome_is_an_invalid_request() {
    let result = SERVICE.on_action(
        Some(arrived_case(&[])),
        "screen",
        &json!({"results": [{"personRef": MOTHER, "outcome": "released"}]}),
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
