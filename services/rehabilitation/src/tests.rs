//! The rehabilitation centre's rules, one test per rule code, and the flow
//! they guard: the operation, the arrival, admission, screening, custody
//! and discharge.

use std::sync::LazyLock;

use homeward_core::message_types as types;
use homeward_ministry::test_support::{
    DAUGHTER, MOTHER, MemberRole, SON, acted, action_refused, applied, arrived, custody, message,
    refused, scheduled, screened,
};
use homeward_ministry::{Case, Custody, ScreeningOutcome, Stage};
use serde_json::json;

use crate::Rehabilitation;

const REHAB: &str = "kz.rehab";
const ALL: [&str; 3] = [MOTHER, SON, DAUGHTER];

static SERVICE: LazyLock<MemberRole<Rehabilitation>> =
    LazyLock::new(|| MemberRole::new(Rehabilitation, REHAB));

fn scheduled_case() -> Case {
    let m = message("kz.mfa", types::OPERATION_SCHEDULED, scheduled(&ALL, "KZ"));
    applied(SERVICE.on_message(None, &m)).case
}

/// Everyone on the manifest but `absent` arrived.
fn arrived_case(absent: &[&str]) -> Case {
    let here: Vec<&str> = ALL.into_iter().filter(|r| !absent.contains(r)).collect();
    let m = message("kz.interior", types::ARRIVAL_RECORDED, arrived(&here));
    applied(SERVICE.on_message(Some(scheduled_case()), &m)).case
}

#[test]
fn a_family_is_admitted_screened_placed_and_discharged() {
    let case = scheduled_case();
    assert_eq!(case.stage, Stage::Scheduled);
    assert!(case.persons.values().all(|p| p.on_manifest));
    let case = arrived_case(&[]);
    assert_eq!(case.stage, Stage::Arrived);

    let t = acted(SERVICE.on_action(
        Some(case),
        "admit",
        &json!({"medicalFitness": "fit-with-care"}),
    ));
    assert_eq!(t.case.stage, Stage::Admitted);
    assert_eq!(
        t.outgoing[0].data["persons"][0]["medicalFitness"],
        "fit-with-care"
    );
    let mut case = t.case;
    for (sender, kind, data) in [
        (
            "kz.security",
            types::SECURITY_SCREENING_COMPLETED,
            screened(&[(MOTHER, "cleared"), (SON, "cleared")]),
        ),
        ("kz.interior", types::CUSTODY_ASSIGNED, custody(&[SON])),
    ] {
        case = applied(SERVICE.on_message(Some(case), &message(sender, kind, data))).case;
    }
    assert_eq!(case.persons[SON].screening, Some(ScreeningOutcome::Cleared));
    assert_eq!(case.persons[SON].custody, Some(Custody::RelativeGuardian));

    let t = acted(SERVICE.on_action(
        Some(case),
        "discharge",
        &json!({"persons": [{"personRef": MOTHER, "dischargedTo": "home"},
                           {"personRef": SON, "dischargedTo": "relative-guardian"}]}),
    ));
    assert_eq!(t.case.stage, Stage::Discharged);
    assert!(t.case.persons[SON].discharged && !t.case.persons[DAUGHTER].discharged);
}

#[test]
fn unknown_case() {
    let m = message("kz.interior", types::ARRIVAL_RECORDED, arrived(&ALL));
    refused(SERVICE.on_message(None, &m), "unknown_case");
}

#[test]
fn person_not_in_case() {
    let m = message(
        "kz.interior",
        types::ARRIVAL_RECORDED,
        arrived(&[MOTHER, "HOL-P5-000777-09"]),
    );
    let refusal = refused(
        SERVICE.on_message(Some(scheduled_case()), &m),
        "person_not_in_case",
    );
    assert_eq!(refusal.persons, ["HOL-P5-000777-09"]);
}

#[test]
fn screening_before_arrival() {
    let m = message(
        "kz.security",
        types::SECURITY_SCREENING_COMPLETED,
        screened(&[(MOTHER, "cleared")]),
    );
    let refusal = refused(
        SERVICE.on_message(Some(scheduled_case()), &m),
        "screening_before_arrival",
    );
    assert_eq!(refusal.persons, [MOTHER]);
}

#[test]
fn admission_before_arrival() {
    // Nobody has arrived, so nobody is there to admit.
    action_refused(
        SERVICE.on_action(Some(scheduled_case()), "admit", &json!({})),
        "admission_before_arrival",
    );
    action_refused(
        SERVICE.on_action(
            Some(arrived_case(&[DAUGHTER])),
            "admit",
            &json!({"persons": [MOTHER, DAUGHTER]}),
        ),
        "admission_before_arrival",
    );
}

#[test]
fn discharge_before_admission() {
    action_refused(
        SERVICE.on_action(
            Some(arrived_case(&[])),
            "discharge",
            &json!({"persons": [{"personRef": MOTHER, "dischargedTo": "home"}]}),
        ),
        "discharge_before_admission",
    );
}

#[test]
fn every_rule_code_is_documented_and_tested() {
    homeward_ministry::test_support::rule_codes_are_documented_and_tested(
        include_str!("lib.rs"),
        include_str!("tests.rs"),
    );
}
