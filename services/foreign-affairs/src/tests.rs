//! The foreign ministry's rules, one test per rule code, and the flow they
//! guard: verification, request, decision, operation, handover, the steps
//! its own services report, and a transit on another state's flight.

use std::sync::LazyLock;

use homeward_core::Envelope;
use homeward_core::message_types as types;
use homeward_ministry::test_support::{
    CAMPS, CASE, DAUGHTER, MOTHER, MemberRole, OPERATION, PROTOCOL, ROUND, SON, acted,
    action_refused, admitted, applied, arrived, custody, discharged, handed_over, located,
    located_case, message, refused, screened,
};
use homeward_ministry::{
    Case, Custody, Decision, DocumentKind, FollowUp, Role, ScreeningOutcome, Stage,
    VerificationOutcome,
};
use serde_json::{Value, json};

use crate::ForeignAffairs;

const MFA: &str = "kz.mfa";
const ALL: [&str; 3] = [MOTHER, SON, DAUGHTER];

static SERVICE: LazyLock<MemberRole<ForeignAffairs>> =
    LazyLock::new(|| MemberRole::new(ForeignAffairs, MFA));

fn verification(outcome: &str) -> Envelope {
    let results: Vec<Value> = ALL
        .iter()
        .map(|r| json!({"personRef": r, "outcome": outcome, "methods": ["civil-registry"]}))
        .collect();
    message(
        "kz.security",
        types::IDENTITY_VERIFICATION_COMPLETED,
        json!({"caseRef": CASE, "completedOn": "2019-04-20", "results": results}),
    )
}

fn decision(decisions: &[(&str, &str)]) -> Envelope {
    let decisions: Vec<Value> = decisions
        .iter()
        .map(|(r, d)| match *d {
            "refused" => {
                json!({"personRef": r, "decision": d, "refusalReason": "local-proceedings"})
            }
            _ => json!({"personRef": r, "decision": d}),
        })
        .collect();
    message(
        CAMPS,
        types::REPATRIATION_DECIDED,
        json!({"caseRef": CASE, "requestingState": "KZ", "decidedAt": "2019-05-01T10:00:00Z", "decisions": decisions}),
    )
}

fn transport(carrier: &str) -> Value {
    json!({"operationId": OPERATION, "round": ROUND,
           "transport": {"mode": "state-aircraft", "carrierState": carrier,
                         "arrival": {"name": "Aktau airport", "country": "KZ"}}})
}

fn verified_case() -> Case {
    applied(SERVICE.on_message(
        Some(located_case(Stage::VerificationRequested)),
        &verification("confirmed"),
    ))
    .case
}

fn requested_case() -> Case {
    acted(SERVICE.on_action(
        Some(verified_case()),
        "request-repatriation",
        &json!({"operationId": OPERATION, "round": ROUND}),
    ))
    .case
}

fn decided_case(decisions: &[(&str, &str)]) -> Case {
    applied(SERVICE.on_message(Some(requested_case()), &decision(decisions))).case
}

fn accepted_case() -> Case {
    decided_case(&[
        (MOTHER, "accepted"),
        (SON, "accepted"),
        (DAUGHTER, "accepted"),
    ])
}

fn scheduled_case() -> Case {
    acted(SERVICE.on_action(Some(accepted_case()), "schedule", &transport("KZ"))).case
}

#[test]
fn a_located_family_is_verified_requested_scheduled_and_acknowledged_at_handover() {
    let t = applied(SERVICE.on_message(
        None,
        &message(CAMPS, types::CAMP_RESIDENT_LOCATED, located("KZ")),
    ));
    assert_eq!(t.case.stage, Stage::VerificationRequested);
    assert_eq!(
        t.outgoing[0].message_type,
        types::IDENTITY_VERIFICATION_REQUESTED
    );
    assert_eq!(t.case.camp_authority.as_deref(), Some(CAMPS));

    let case = verified_case();
    assert_eq!(case.stage, Stage::Verified);
    assert!(
        case.persons
            .values()
            .all(|p| p.verification == Some(VerificationOutcome::Confirmed))
    );
    let case = requested_case();
    assert_eq!(case.stage, Stage::Requested);
    let case = accepted_case();
    assert_eq!(case.stage, Stage::Decided);

    let t = acted(SERVICE.on_action(Some(case), "schedule", &transport("KZ")));
    assert_eq!(t.case.stage, Stage::Scheduled);
    let manifest = &t.outgoing[0].data["manifest"]["persons"];
    assert_eq!(
        manifest[1],
        json!({"personRef": SON, "accompaniedBy": MOTHER})
    );

    // The daughter is not handed over: a discrepancy, acknowledged at once.
    let m = message(
        CAMPS,
        types::HANDOVER_COMPLETED,
        handed_over(&[MOTHER, SON]),
    );
    let t = applied(SERVICE.on_message(Some(t.case), &m));
    assert_eq!(t.case.stage, Stage::HandedOver);
    assert_eq!(t.outgoing[0].message_type, types::HANDOVER_ACKNOWLEDGED);
    assert_eq!(t.outgoing[0].data["protocolRef"], PROTOCOL);
    assert_eq!(
        t.outgoing[0].data["discrepancies"],
        json!([{"kind": "not-handed-over", "personRef": DAUGHTER}])
    );
}

#[test]
fn every_step_its_own_services_report_is_recorded_until_the_case_closes() {
    let mut case = scheduled_case();
    let steps = [
        (types::ARRIVAL_RECORDED, "kz.interior", arrived(&ALL)),
        (types::REHABILITATION_ADMITTED, "kz.rehab", admitted(&ALL)),
        (
            types::SECURITY_SCREENING_COMPLETED,
            "kz.security",
            screened(&[(MOTHER, "cleared"), (SON, "cleared"), (DAUGHTER, "cleared")]),
        ),
        (
            types::REHABILITATION_DISCHARGED,
            "kz.rehab",
            discharged(&ALL),
        ),
        (
            types::CUSTODY_ASSIGNED,
            "kz.interior",
            custody(&[SON, DAUGHTER]),
        ),
        (
            types::DOCUMENTS_ISSUED,
            "kz.interior",
            json!({"caseRef": CASE, "documents": [{"personRef": DAUGHTER, "kind": "passport", "number": "N00000001",
                                                  "issuingCountry": "KZ", "issuedOn": "2019-06-10"}]}),
        ),
    ];
    for (kind, sender, data) in steps {
        case = applied(SERVICE.on_message(Some(case), &message(sender, kind, data))).case;
        assert_eq!(
            case.stage,
            Stage::Reported(FollowUp::of(kind).expect("a follow-up"))
        );
    }
    let p = &case.persons[DAUGHTER];
    assert!(p.arrived && p.admitted && p.discharged);
    assert_eq!(p.screening, Some(ScreeningOutcome::Cleared));
    assert_eq!(p.custody, Some(Custody::RelativeGuardian));
    assert_eq!(p.documents, [DocumentKind::Passport]);

    let persons: Vec<Value> = ALL
        .iter()
        .map(|r| json!({"personRef": r, "homeRegion": {"country": "KZ", "name": "Mangystau"}}))
        .collect();
    let reintegration = |closed: bool| {
        message(
            "kz.interior",
            types::REINTEGRATION_REGISTERED,
            json!({"caseRef": CASE, "registeredOn": "2019-06-15", "persons": persons, "caseClosed": closed}),
        )
    };
    let open = applied(SERVICE.on_message(Some(case.clone()), &reintegration(false))).case;
    assert_eq!(
        open.stage,
        Stage::Reported(FollowUp::ReintegrationRegistered)
    );
    assert!(!open.closed);
    let closed = applied(SERVICE.on_message(Some(case), &reintegration(true))).case;
    assert_eq!(closed.stage, Stage::Closed);
    assert!(closed.closed && closed.persons.values().all(|p| p.reintegrated));

    // A report that comes after the close (its first delivery was lost to
    // a crash, and it came again once its ack wait ran out; the fault
    // harness met one) is recorded, and the case stays closed.
    let late = applied(SERVICE.on_message(
        Some(closed),
        &message(
            "kz.security",
            types::SECURITY_SCREENING_COMPLETED,
            screened(&[(MOTHER, "under-investigation")]),
        ),
    ))
    .case;
    assert_eq!(late.stage, Stage::Closed);
    assert!(late.closed);
    assert_eq!(
        late.persons[MOTHER].screening,
        Some(ScreeningOutcome::UnderInvestigation)
    );
}

#[test]
fn a_transit_on_another_states_flight_needs_its_acceptance() {
    let carrier = MemberRole::new(ForeignAffairs, "tj.mfa");
    let asked = acted(SERVICE.on_action(
        Some(accepted_case()),
        "request-transit",
        &json!({"carrierState": "TJ", "disembarkation": {"name": "Dushanbe airport", "country": "TJ"}}),
    ));
    assert_eq!(asked.case.stage, Stage::TransitRequested);
    let request = message(
        MFA,
        types::TRANSIT_REQUESTED,
        asked.outgoing[0].data.clone(),
    );

    // The carrying state opens a case of its own, and accepts.
    let carried = applied(carrier.on_message(None, &request)).case;
    assert_eq!(carried.stage, Stage::TransitRequested);
    let answer = acted(carrier.on_action(
        Some(carried),
        "decide-transit",
        &json!({"decision": "accepted", "carrierOperation": {"operationId": "TJ-2019", "round": 1}}),
    ));
    assert_eq!(answer.case.stage, Stage::TransitAccepted);
    assert_eq!(answer.case.transit_decision, Some(Decision::Accepted));

    let decided = message(
        "tj.mfa",
        types::TRANSIT_DECIDED,
        answer.outgoing[0].data.clone(),
    );
    let case = applied(SERVICE.on_message(Some(asked.case), &decided)).case;
    assert_eq!(case.transit_decision, Some(Decision::Accepted));
    let scheduled = acted(SERVICE.on_action(Some(case), "schedule", &transport("TJ")));
    assert_eq!(scheduled.case.stage, Stage::Scheduled);
}

#[test]
fn unknown_case() {
    refused(
        SERVICE.on_message(None, &verification("confirmed")),
        "unknown_case",
    );
    // Also for a message it has nothing to record from.
    let processed = message(
        "kz.security",
        types::MESSAGE_PROCESSED,
        homeward_core::schema::embedded_examples(types::MESSAGE_PROCESSED)
            .first()
            .map(|(_, text)| serde_json::from_str::<Value>(text).expect("json")["data"].clone())
            .expect("an example"),
    );
    refused(SERVICE.on_message(None, &processed), "unknown_case");
}

#[test]
fn not_our_citizens() {
    refused(
        SERVICE.on_message(
            None,
            &message(CAMPS, types::CAMP_RESIDENT_LOCATED, located("UZ")),
        ),
        "not_our_citizens",
    );
}

#[test]
fn not_the_camp_authority() {
    // Iraq's justice ministry, another camp authority, decides on a family
    // that al-Hol holds, hands it over, or locates it again: each refused,
    // so the case keeps its stage and its camp.
    let from_iraq = |message_type: &str, data: Value| message("iq.justice", message_type, data);
    refused(
        SERVICE.on_message(
            Some(requested_case()),
            &from_iraq(
                types::REPATRIATION_DECIDED,
                decision(&[(MOTHER, "accepted")]).data().clone(),
            ),
        ),
        "not_the_camp_authority",
    );
    refused(
        SERVICE.on_message(
            Some(scheduled_case()),
            &from_iraq(types::HANDOVER_COMPLETED, handed_over(&ALL)),
        ),
        "not_the_camp_authority",
    );
    refused(
        SERVICE.on_message(
            Some(requested_case()),
            &from_iraq(types::CAMP_RESIDENT_LOCATED, located("KZ")),
        ),
        "not_the_camp_authority",
    );
    // The camp that holds the family decides.
    let case =
        applied(SERVICE.on_message(Some(requested_case()), &decision(&[(MOTHER, "accepted")])))
            .case;
    assert_eq!(case.stage, Stage::Decided);
    assert_eq!(case.camp_authority.as_deref(), Some(CAMPS));
}

/// The data of Kazakhstan's request to Tajikistan to carry the accepted
/// family.
fn transit_request() -> Value {
    let asked = acted(SERVICE.on_action(
        Some(accepted_case()),
        "request-transit",
        &json!({"carrierState": "TJ", "disembarkation": {"name": "Dushanbe airport", "country": "TJ"}}),
    ));
    asked.outgoing[0].data.clone()
}

#[test]
fn case_of_another_state() {
    // Uzbekistan asks Kazakhstan to carry a family whose case Kazakhstan
    // holds as its own: refused, rather than taking the case over.
    let mut data = transit_request();
    data["requestingState"] = json!("UZ");
    data["carrierState"] = json!("KZ");
    let from_uzbekistan = message("uz.mfa", types::TRANSIT_REQUESTED, data.clone());
    refused(
        SERVICE.on_message(Some(accepted_case()), &from_uzbekistan),
        "case_of_another_state",
    );
    // Nor may it ask in Tajikistan's name, even for a case nobody holds.
    data["requestingState"] = json!("TJ");
    let in_tajikistans_name = message("uz.mfa", types::TRANSIT_REQUESTED, data);
    refused(
        SERVICE.on_message(None, &in_tajikistans_name),
        "case_of_another_state",
    );
    // The carrying state holds the case for the state that asked, and
    // takes that state's request again.
    let carrier = MemberRole::new(ForeignAffairs, "tj.mfa");
    let request = message(MFA, types::TRANSIT_REQUESTED, transit_request());
    let carried = applied(carrier.on_message(None, &request)).case;
    assert_eq!(carried.nationality.as_deref(), Some("KZ"));
    applied(carrier.on_message(Some(carried), &request));
}

#[test]
fn not_the_carrier_state() {
    // Kazakhstan asked Tajikistan; Uzbekistan answers in Tajikistan's name.
    let asked = acted(SERVICE.on_action(
        Some(accepted_case()),
        "request-transit",
        &json!({"carrierState": "TJ", "disembarkation": {"name": "Dushanbe airport", "country": "TJ"}}),
    ))
    .case;
    let answer = json!({"caseRef": CASE, "requestingState": "KZ", "carrierState": "TJ", "decision": "accepted",
                        "carrierOperation": {"operationId": "TJ-2019", "round": 1}});
    let from_uzbekistan = message("uz.mfa", types::TRANSIT_DECIDED, answer.clone());
    refused(
        SERVICE.on_message(Some(asked.clone()), &from_uzbekistan),
        "not_the_carrier_state",
    );
    let from_tajikistan = message("tj.mfa", types::TRANSIT_DECIDED, answer);
    let case = applied(SERVICE.on_message(Some(asked), &from_tajikistan)).case;
    assert_eq!(case.transit_decision, Some(Decision::Accepted));
}

#[test]
fn verification_not_requested() {
    refused(
        SERVICE.on_message(Some(requested_case()), &verification("confirmed")),
        "verification_not_requested",
    );
}

#[test]
fn decision_without_request() {
    let refusal = refused(
        SERVICE.on_message(Some(verified_case()), &decision(&[(MOTHER, "accepted")])),
        "decision_without_request",
    );
    assert_eq!(refusal.persons, [MOTHER]);
}

#[test]
fn handover_without_operation() {
    let m = message(CAMPS, types::HANDOVER_COMPLETED, handed_over(&ALL));
    refused(
        SERVICE.on_message(Some(located_case(Stage::VerificationRequested)), &m),
        "handover_without_operation",
    );
}

#[test]
fn handover_without_acceptance() {
    let mut case = scheduled_case();
    case.person(DAUGHTER).decision = Some(Decision::Refused);
    let m = message(CAMPS, types::HANDOVER_COMPLETED, handed_over(&ALL));
    let refusal = refused(
        SERVICE.on_message(Some(case), &m),
        "handover_without_acceptance",
    );
    assert_eq!(refusal.persons, [DAUGHTER]);
}

#[test]
fn transit_not_requested() {
    // A transit answer from a state this ministry did not ask.
    let m = message(
        "tj.mfa",
        types::TRANSIT_DECIDED,
        json!({"caseRef": CASE, "requestingState": "KZ", "carrierState": "TJ", "decision": "accepted",
               "carrierOperation": {"operationId": "TJ-2019", "round": 1}}),
    );
    refused(
        SERVICE.on_message(Some(accepted_case()), &m),
        "transit_not_requested",
    );
    // And an answer given where nobody asked this state to carry anyone.
    action_refused(
        SERVICE.on_action(
            Some(accepted_case()),
            "decide-transit",
            &json!({"decision": "accepted"}),
        ),
        "transit_not_requested",
    );
}

#[test]
fn person_not_in_case() {
    let m = message(
        CAMPS,
        types::HANDOVER_COMPLETED,
        handed_over(&[MOTHER, "HOL-P5-000777-09"]),
    );
    let refusal = refused(
        SERVICE.on_message(Some(scheduled_case()), &m),
        "person_not_in_case",
    );
    assert_eq!(refusal.persons, ["HOL-P5-000777-09"]);
}

#[test]
fn no_verified_person() {
    let unconfirmed = applied(SERVICE.on_message(
        Some(located_case(Stage::VerificationRequested)),
        &verification("inconclusive"),
    ))
    .case;
    action_refused(
        SERVICE.on_action(
            Some(unconfirmed),
            "request-repatriation",
            &json!({"operationId": OPERATION}),
        ),
        "no_verified_person",
    );
}

#[test]
fn no_accepted_person() {
    let refused_all = decided_case(&[(MOTHER, "refused"), (SON, "refused"), (DAUGHTER, "refused")]);
    action_refused(
        SERVICE.on_action(Some(refused_all.clone()), "schedule", &transport("KZ")),
        "no_accepted_person",
    );
    action_refused(
        SERVICE.on_action(Some(refused_all), "request-transit", &json!({"carrierState": "TJ", "disembarkation": {"name": "Dushanbe airport", "country": "TJ"}})),
        "no_accepted_person",
    );
}

#[test]
fn transit_not_agreed() {
    action_refused(
        SERVICE.on_action(Some(accepted_case()), "schedule", &transport("TJ")),
        "transit_not_agreed",
    );
}

#[test]
fn the_report_counts_only_this_states_cases() {
    let mut carried = located_case(Stage::TransitAccepted);
    carried.case_ref = "HOL-P5-000778".into();
    carried.nationality = Some("UZ".into());
    let view = SERVICE
        .role
        .view(&SERVICE.ctx(), "report", &[scheduled_case(), carried])
        .expect("the report");
    assert_eq!(view["rows"].as_array().map(Vec::len), Some(1));
    assert_eq!(view["rows"][0]["country"], "KZ");
    assert_eq!(view["operations"][0]["operation"], OPERATION);
    assert_eq!(view["operations"][0]["located"], 3);
    assert_eq!(view["operations"][0]["locatedChildren"], 2);
    assert!(matches!(
        SERVICE.role.view(&SERVICE.ctx(), "everything", &[]),
        Err(homeward_ministry::ActionError::NotFound(_))
    ));
}

#[test]
fn every_rule_code_is_documented_and_tested() {
    homeward_ministry::test_support::rule_codes_are_documented_and_tested(
        include_str!("lib.rs"),
        include_str!("tests.rs"),
    );
}
