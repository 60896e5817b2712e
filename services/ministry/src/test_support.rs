//! Inputs and checks for unit tests of a [`Role`](crate::Role):
//! `on_message` and `on_action` are pure, so a test gives them a [`Ctx`], a
//! case and a signed message, and looks at what comes back.
//!
//! - [`MemberRole`]: a role run by one member at a fixed time ([`NOW`]),
//!   whose `on_message` and `on_action` a test calls; [`ctx`] is what it
//!   sees.
//! - [`message`]: a signed envelope whose data is checked against its
//!   schema first, so a test cannot feed a role what the gateway would
//!   reject.
//! - [`located`], [`located_case`]: a located family, a mother and two
//!   children, as message data and as a case; [`requested`], [`scheduled`],
//!   [`handed_over`], [`arrived`], [`screened`], [`admitted`],
//!   [`discharged`], [`custody`]: the data of the messages several roles
//!   receive about it.
//! - [`applied`], [`acted`]: the transition, with every message it sends
//!   checked against its schema, as the runtime does before signing.
//! - [`refused`], [`action_refused`]: the refusal, asserting its rule;
//!   [`invalid_request`]: an action refused as malformed.
//! - [`rule_codes_are_documented_and_tested`]: a role crate's rule codes
//!   against its documentation and its tests.
//!
//! Compiled for this crate's tests and, with the `test-support` feature,
//! for the role crates' tests; no production build includes it.

use std::fmt::Debug;
use std::sync::OnceLock;

use homeward_core::envelope::EnvelopeBuilder;
use homeward_core::{Envelope, MemberId, SchemaRegistry, SigningKey};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

use crate::case::{Case, Stage};
use crate::runtime::{ActionError, Ctx, Outgoing, Refusal, Role, Transition, checked_schema};

/// The time every test context runs at.
pub const NOW: OffsetDateTime = datetime!(2019-05-07 10:00 UTC);
/// The family of [`located`].
pub const CASE: &str = "HOL-P5-000777";
/// The head of the family, an adult.
pub const MOTHER: &str = "HOL-P5-000777-01";
/// Her son, a child.
pub const SON: &str = "HOL-P5-000777-02";
/// Her daughter, a child born in Syria.
pub const DAUGHTER: &str = "HOL-P5-000777-03";
/// The camp administration holding the family.
pub const CAMPS: &str = "aanes.camps";
/// The operation that brings them home, in round [`ROUND`].
pub const OPERATION: &str = "KZ-ZHUSAN-2019";
pub const ROUND: u32 = 2;
/// The handover protocol of [`handed_over`].
pub const PROTOCOL: &str = "QAM-2019-05-07-HOL-P5-000777";

fn schemas() -> &'static SchemaRegistry {
    static SCHEMAS: OnceLock<SchemaRegistry> = OnceLock::new();
    SCHEMAS.get_or_init(|| SchemaRegistry::embedded().expect("the embedded schemas load"))
}

/// A member id.
pub fn member(id: &str) -> MemberId {
    MemberId::parse(id).unwrap_or_else(|e| panic!("{id}: {e}"))
}

/// What a role sees when it decides, as `member` at [`NOW`].
pub fn ctx(member: &MemberId) -> Ctx<'_> {
    Ctx { member, now: NOW }
}

/// A role run by one member, deciding at [`NOW`].
#[derive(Debug)]
pub struct MemberRole<R> {
    pub role: R,
    pub member: MemberId,
}

impl<R: Role> MemberRole<R> {
    pub fn new(role: R, member: &str) -> Self {
        Self {
            role,
            member: self::member(member),
        }
    }

    /// What the role sees.
    pub fn ctx(&self) -> Ctx<'_> {
        ctx(&self.member)
    }

    /// [`Role::on_message`].
    pub fn on_message(
        &self,
        case: Option<Case>,
        message: &Envelope,
    ) -> Result<Option<Transition>, Refusal> {
        self.role.on_message(&self.ctx(), case, message)
    }

    /// [`Role::on_action`].
    pub fn on_action(
        &self,
        case: Option<Case>,
        action: &str,
        body: &Value,
    ) -> Result<Transition, ActionError> {
        self.role.on_action(&self.ctx(), case, action, body)
    }
}

/// A message of `message_type` from `sender` about the case its data
/// names, signed with a fresh key. Panics unless the data is valid against
/// the type's newest schema.
pub fn message(sender: &str, message_type: &str, data: Value) -> Envelope {
    let outgoing = Outgoing::new(message_type, data);
    let case_ref = outgoing.data["caseRef"].as_str().unwrap_or_default();
    let schema = checked_schema(schemas(), &outgoing, case_ref).unwrap_or_else(|e| panic!("{e}"));
    let mut builder = EnvelopeBuilder::new(message_type, &schema, outgoing.data.clone()).time(NOW);
    if let Some(case_ref) = outgoing.data.get("caseRef").and_then(Value::as_str) {
        builder = builder.subject(case_ref);
    }
    builder
        .sign(&member(sender), &SigningKey::generate())
        .unwrap_or_else(|e| panic!("{message_type} does not sign: {e}"))
}

/// The data of a `camp.resident.located` for [`CASE`], a family of
/// `nationality` registered on 2019-04-15: [`MOTHER`], born 1991, with
/// [`SON`], born 2012, and [`DAUGHTER`], born 2016 in Syria.
pub fn located(nationality: &str) -> Value {
    let person = |person_ref: &str, sex: &str, born: &str, birthplace: &str, relationship: &str| {
        json!({
            "personRef": person_ref,
            "names": [{"value": "Synthetic", "script": "Latn", "kind": "as-recorded"}],
            "sex": sex,
            "birthDate": {"value": born, "accuracy": "approximate"},
            "birthplaceCountry": birthplace,
            "claimedNationality": nationality,
            "relationshipToHead": relationship,
        })
    };
    json!({
        "caseRef": CASE,
        "claimedNationality": nationality,
        "campLocation": {"camp": "al-Hol", "section": "phase 5"},
        "familyUnit": {
            "familyRef": CASE,
            "head": MOTHER,
            "members": [
                person(MOTHER, "female", "1991", nationality, "head"),
                person(SON, "male", "2012", nationality, "child"),
                person(DAUGHTER, "female", "2016", "SY", "child"),
            ],
        },
        "registeredOn": "2019-04-15",
    })
}

/// The case [`located`] opens, as `stage`: a Kazakh family held by
/// [`CAMPS`], the children travelling with their mother.
pub fn located_case(stage: Stage) -> Case {
    let mut case = Case::new(CASE, stage);
    case.record_located(&located("KZ"), "2019-04-15");
    case.camp_authority = Some(CAMPS.to_owned());
    case
}

fn person_list(persons: &[&str]) -> Vec<Value> {
    persons.iter().map(|r| json!({"personRef": r})).collect()
}

/// The data of Kazakhstan's `repatriation.requested` of `persons` for
/// [`OPERATION`].
pub fn requested(persons: &[&str]) -> Value {
    json!({
        "caseRef": CASE,
        "campAuthority": CAMPS,
        "requestingState": "KZ",
        "persons": person_list(persons),
        "plannedOperation": {"operationId": OPERATION, "round": ROUND},
    })
}

/// The data of Kazakhstan's `operation.scheduled` with `persons` on the
/// manifest (the children with their mother, when she is on it too), on
/// `carrier`'s flight.
pub fn scheduled(persons: &[&str], carrier: &str) -> Value {
    let entries: Vec<Value> = persons
        .iter()
        .map(|r| match *r {
            SON | DAUGHTER if persons.contains(&MOTHER) => {
                json!({"personRef": r, "accompaniedBy": MOTHER})
            }
            _ => json!({"personRef": r}),
        })
        .collect();
    json!({
        "caseRef": CASE,
        "campAuthority": CAMPS,
        "manifest": {"operationId": OPERATION, "round": ROUND, "persons": entries},
        "handoverDate": "2019-05-07",
        "handoverPoint": {"name": "Qamishli airport", "country": "SY"},
        "transport": {"mode": "state-aircraft", "carrierState": carrier,
                      "arrival": {"name": "Aktau airport", "country": "KZ"}},
    })
}

/// The data of the camp's `handover.completed` of `persons`, protocol
/// [`PROTOCOL`].
pub fn handed_over(persons: &[&str]) -> Value {
    json!({
        "caseRef": CASE,
        "requestingState": "KZ",
        "protocolRef": PROTOCOL,
        "operationId": OPERATION,
        "round": ROUND,
        "handedOverAt": "2019-05-07T09:00:00Z",
        "place": {"name": "Qamishli airport", "country": "SY"},
        "handedOverBy": {"member": CAMPS, "name": "Duty officer"},
        "receivedBy": {"member": "kz.mfa", "name": "Consul"},
        "persons": person_list(persons),
    })
}

/// The data of the border's `arrival.recorded` of `persons`.
pub fn arrived(persons: &[&str]) -> Value {
    json!({
        "caseRef": CASE,
        "operationId": OPERATION,
        "round": ROUND,
        "arrivedAt": "2019-05-07T15:00:00Z",
        "borderPoint": {"name": "Aktau airport", "country": "KZ"},
        "persons": person_list(persons),
    })
}

/// The data of a `security.screening.completed` of `(person, outcome)`s.
pub fn screened(results: &[(&str, &str)]) -> Value {
    let results: Vec<Value> = results
        .iter()
        .map(|(r, outcome)| {
            let mut result = json!({"personRef": r, "outcome": outcome, "decidedOn": "2019-05-08"});
            if matches!(*outcome, "detained" | "charged") {
                result["proceedingsRef"] = json!("KZ-2019-0001");
            }
            result
        })
        .collect();
    json!({"caseRef": CASE, "results": results})
}

fn centre() -> Value {
    json!({"name": "Rehabilitation and adaptation centre", "country": "KZ"})
}

/// The data of the centre's `rehabilitation.admitted` of `persons`.
pub fn admitted(persons: &[&str]) -> Value {
    let persons: Vec<Value> = persons
        .iter()
        .map(|r| json!({"personRef": r, "medicalFitness": "fit"}))
        .collect();
    json!({"caseRef": CASE, "centre": centre(), "admittedOn": "2019-05-08", "persons": persons})
}

/// The data of the centre's `rehabilitation.discharged` of `persons`.
pub fn discharged(persons: &[&str]) -> Value {
    let persons: Vec<Value> = persons
        .iter()
        .map(|r| json!({"personRef": r, "medicalFitness": "fit", "dischargedTo": "home"}))
        .collect();
    json!({"caseRef": CASE, "centre": centre(), "dischargedOn": "2019-06-07", "persons": persons})
}

/// The data of the interior's `custody.assigned`: each of `children` with
/// a relative as guardian.
pub fn custody(children: &[&str]) -> Value {
    let assignments: Vec<Value> = children
        .iter()
        .map(|r| {
            json!({"childRef": r, "custody": "relative-guardian", "assignedOn": "2019-06-07",
                   "guardian": {"fullName": "Synthetic Guardian", "relationship": "grandmother"}})
        })
        .collect();
    json!({"caseRef": CASE, "assignments": assignments})
}

/// Checks every message a transition sends against its schema.
fn check_outgoing(t: &Transition) {
    for o in &t.outgoing {
        if let Err(e) = checked_schema(schemas(), o, &t.case.case_ref) {
            panic!("{e}");
        }
    }
}

/// The transition a delivered message makes, with what it sends checked
/// against the schemas.
pub fn applied(result: Result<Option<Transition>, Refusal>) -> Transition {
    let t = result
        .unwrap_or_else(|r| panic!("refused: {r:?}"))
        .expect("the message changes the case");
    check_outgoing(&t);
    t
}

/// The transition an action makes, with what it sends checked against the
/// schemas.
pub fn acted(result: Result<Transition, ActionError>) -> Transition {
    let t = result.unwrap_or_else(|e| panic!("{e}"));
    check_outgoing(&t);
    t
}

/// The refusal of a delivered message, asserting that it names `rule`.
pub fn refused<T: Debug>(result: Result<T, Refusal>, rule: &str) -> Refusal {
    match result {
        Err(r) => {
            assert_eq!(r.rule, rule, "{r:?}");
            r
        }
        Ok(t) => panic!("not refused ({rule} expected): {t:?}"),
    }
}

/// Asserts that an action was refused as a malformed request.
pub fn invalid_request<T: Debug>(result: Result<T, ActionError>) {
    assert!(
        matches!(result, Err(ActionError::Invalid(_))),
        "not an invalid request: {result:?}"
    );
}

/// Asserts that an action was refused with `rule`.
pub fn action_refused<T: Debug>(result: Result<T, ActionError>, rule: &str) {
    match result {
        Err(ActionError::Refused { rule: r, reason }) => assert_eq!(r, rule, "{reason}"),
        other => panic!("not refused with {rule}: {other:?}"),
    }
}

fn is_rule_code(s: &str) -> bool {
    s.contains('_')
        && !s.starts_with('_')
        && !s.ends_with('_')
        && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
}

/// Checks a role crate against its own documentation: every rule code its
/// `lib.rs` names (a snake_case string literal) is listed in the crate
/// docs' "Rule codes" paragraph, and every code listed there has a test of
/// its own in `tests.rs` (`fn <code>()`), which asserts it is produced.
pub fn rule_codes_are_documented_and_tested(lib_rs: &str, tests_rs: &str) {
    let doc: Vec<&str> = lib_rs
        .lines()
        .map_while(|l| l.strip_prefix("//!"))
        .skip_while(|l| !l.contains("Rule codes"))
        .take_while(|l| !l.trim().is_empty())
        .collect();
    let documented: Vec<&str> = doc
        .iter()
        .flat_map(|l| l.split('`').skip(1).step_by(2))
        .filter(|c| is_rule_code(c))
        .collect();
    assert!(!documented.is_empty(), "the crate docs list no rule codes");
    let named: std::collections::BTreeSet<&str> = lib_rs
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|c| is_rule_code(c))
        .collect();
    let undocumented: Vec<&&str> = named.iter().filter(|c| !documented.contains(c)).collect();
    assert!(
        undocumented.is_empty(),
        "rule codes missing from the crate docs: {undocumented:?}"
    );
    let untested: Vec<&&str> = documented
        .iter()
        .filter(|c| !tests_rs.contains(&format!("fn {c}()")))
        .collect();
    assert!(untested.is_empty(), "rule codes with no test: {untested:?}");
}
