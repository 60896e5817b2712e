//! A case: what one member knows about one family unit.
//!
//! Every role keeps the same record and fills in the part of the lifecycle
//! it sees: one runtime, store and API serve every role, and the foreign
//! ministry's report reads the same record that every other role keeps. A
//! case holds references and facts needed to apply the flow — sex, whether
//! a person is a child, outcomes — not names: the names stay in the
//! messages and in the ministry's own systems.
//!
//! Every state and outcome is an enum, serialized with the strings the
//! schemas and the HTTP API use. A stored case with a string none of them
//! knows does not load: [`crate::store::CaseStore::get`] reports it as
//! corrupt rather than guessing.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use homeward_core::message_types as types;

/// Where a case stands, as the role that keeps it labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Camp registry (the census), security: the family was located.
    Located,
    /// Foreign affairs, security: the foreign ministry asked to verify.
    VerificationRequested,
    /// Foreign affairs, security: identity verified.
    Verified,
    /// Camp registry, foreign affairs: repatriation requested.
    Requested,
    /// Camp registry, foreign affairs: the release was decided.
    Decided,
    /// Foreign affairs: a transit was asked for (by the requesting state,
    /// or of the carrying state).
    TransitRequested,
    /// Foreign affairs, as the carrying state: transit accepted.
    TransitAccepted,
    /// Foreign affairs, as the carrying state: transit refused.
    TransitRefused,
    /// Camp registry, foreign affairs, interior, rehabilitation: an
    /// operation is scheduled.
    Scheduled,
    /// Camp registry, foreign affairs, security: the handover happened.
    HandedOver,
    /// Camp registry: the foreign ministry acknowledged the handover.
    Acknowledged,
    /// Interior, rehabilitation: arrived at the border.
    Arrived,
    /// Rehabilitation: admitted to the centre.
    Admitted,
    /// Security: screened.
    Screened,
    /// Rehabilitation: discharged from the centre.
    Discharged,
    /// Interior: children's custody assigned.
    CustodyAssigned,
    /// Interior: reintegration registered, the case still open.
    Reintegrating,
    /// Foreign affairs, interior: the case is closed.
    Closed,
    /// Foreign affairs: the last step its own services reported.
    #[serde(untagged)]
    Reported(FollowUp),
}

/// A step of the lifecycle that the foreign ministry follows without
/// taking part, named (and serialized) by the message that reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FollowUp {
    #[serde(rename = "arrival.recorded")]
    ArrivalRecorded,
    #[serde(rename = "rehabilitation.admitted")]
    RehabilitationAdmitted,
    #[serde(rename = "rehabilitation.discharged")]
    RehabilitationDischarged,
    #[serde(rename = "security.screening.completed")]
    ScreeningCompleted,
    #[serde(rename = "custody.assigned")]
    CustodyAssigned,
    #[serde(rename = "documents.issued")]
    DocumentsIssued,
    #[serde(rename = "reintegration.registered")]
    ReintegrationRegistered,
}

impl FollowUp {
    pub const ALL: [FollowUp; 7] = [
        FollowUp::ArrivalRecorded,
        FollowUp::RehabilitationAdmitted,
        FollowUp::RehabilitationDischarged,
        FollowUp::ScreeningCompleted,
        FollowUp::CustodyAssigned,
        FollowUp::DocumentsIssued,
        FollowUp::ReintegrationRegistered,
    ];

    /// The message that reports this step.
    pub fn message_type(self) -> &'static str {
        match self {
            FollowUp::ArrivalRecorded => types::ARRIVAL_RECORDED,
            FollowUp::RehabilitationAdmitted => types::REHABILITATION_ADMITTED,
            FollowUp::RehabilitationDischarged => types::REHABILITATION_DISCHARGED,
            FollowUp::ScreeningCompleted => types::SECURITY_SCREENING_COMPLETED,
            FollowUp::CustodyAssigned => types::CUSTODY_ASSIGNED,
            FollowUp::DocumentsIssued => types::DOCUMENTS_ISSUED,
            FollowUp::ReintegrationRegistered => types::REINTEGRATION_REGISTERED,
        }
    }

    /// The step a message type reports, if it reports one.
    pub fn of(message_type: &str) -> Option<FollowUp> {
        FollowUp::ALL
            .into_iter()
            .find(|f| f.message_type() == message_type)
    }
}

/// The outcome of an identity verification
/// (`identity.verification.completed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerificationOutcome {
    Confirmed,
    NotConfirmed,
    Inconclusive,
}

/// An answer to a request: the release of a person
/// (`repatriation.decided`) or a transit (`transit.decided`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Accepted,
    Refused,
}

/// The outcome of a security screening (`security.screening.completed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScreeningOutcome {
    Cleared,
    UnderInvestigation,
    Detained,
    Charged,
}

/// Who a child lives with (`custody.assigned`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Custody {
    Mother,
    RelativeGuardian,
    StateCare,
}

/// A document issued to a returnee (`documents.issued`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocumentKind {
    Passport,
    NationalId,
    BirthCertificate,
}

/// One person in a case.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Person {
    pub sex: Option<String>,
    pub child: Option<bool>,
    pub birthplace_country: Option<String>,
    pub orphan: bool,
    /// The person this one travels with (a child's mother).
    pub accompanied_by: Option<String>,
    pub verification: Option<VerificationOutcome>,
    pub requested: bool,
    /// The camp administration's release decision.
    pub decision: Option<Decision>,
    pub refusal_reason: Option<String>,
    pub on_manifest: bool,
    pub handed_over: bool,
    pub arrived: bool,
    pub admitted: bool,
    pub discharged: bool,
    pub screening: Option<ScreeningOutcome>,
    pub custody: Option<Custody>,
    pub documents: Vec<DocumentKind>,
    pub reintegrated: bool,
}

/// An operation round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub operation_id: String,
    pub round: u32,
}

/// Something that happened to the case, for its timeline.
///
/// The timeline only grows: the runtime, never a role, appends to it, in
/// the same conditional write as the change it records. The service's
/// event feed ([`crate::events`]) is its projection, so an entry holds
/// references only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub time: String,
    /// What happened ([`Event::step`]): the type of a message applied,
    /// `refused:<rule>`, `sent:<type>`, `held:<type>`, `action:<name>` or
    /// `command:<name>`.
    pub what: String,
    pub message_id: Option<String>,
    /// The other member, where there is one.
    pub party: Option<String>,
    /// The case's stage once the step was taken (missing in entries
    /// written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// The type of the message a `refused:<rule>` step refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
    /// Whom a `sent:<type>` message goes to, by the policy in force when it
    /// was stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
}

/// What a timeline entry records, read from [`Event::what`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// A delivered message of this type was applied.
    Received(&'a str),
    /// A delivered message was refused by this rule of the flow; the
    /// refusal is sent through the outbox.
    Refused(&'a str),
    /// A message of this type, signed by this member, was stored by
    /// JetStream.
    Sent(&'a str),
    /// A message of this type was taken by JetStream for a duplicate of a
    /// submission this member never made; it stays in the outbox.
    Held(&'a str),
    /// An API action.
    Action(&'a str),
    /// An API command (it opened the case).
    Command(&'a str),
}

impl Event {
    /// An entry of `what` at `time`, the case then at `stage`.
    pub fn new(time: String, what: String, stage: Stage) -> Self {
        Self {
            time,
            what,
            message_id: None,
            party: None,
            stage: Some(stage),
            message_type: None,
            recipients: Vec::new(),
        }
    }

    /// What this entry records.
    pub fn step(&self) -> Step<'_> {
        let what = self.what.as_str();
        let Some((prefix, rest)) = what.split_once(':') else {
            return Step::Received(what);
        };
        match prefix {
            "refused" => Step::Refused(rest),
            "sent" => Step::Sent(rest),
            "held" => Step::Held(rest),
            "action" => Step::Action(rest),
            "command" => Step::Command(rest),
            _ => Step::Received(what),
        }
    }
}

/// A signed envelope waiting to be submitted (the outbox).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    pub id: String,
    pub message_type: String,
    /// The envelope, exactly as signed.
    pub envelope: Value,
    /// JetStream answered a submission of it as a duplicate of one this
    /// service never made: someone else used its id first. It is not taken
    /// as sent until JetStream stores it (see [`crate::runtime`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
}

/// A message applied to a case, by its sender and id: ids are unique per
/// sender only, so another member's message with the same id is another
/// message, and cannot pass for this one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageKey {
    pub sender: String,
    pub id: String,
}

impl MessageKey {
    /// The key of a delivered message.
    pub fn of(message: &homeward_core::Envelope) -> Self {
        Self {
            sender: message.sender().to_string(),
            id: message.id().to_owned(),
        }
    }
}

/// One member's view of one family unit.
///
/// Every field but the reference and the stage may be missing from a
/// stored case, and then takes its empty value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Case {
    pub case_ref: String,
    /// The claimed nationality or requesting state (ISO alpha-2).
    #[serde(default)]
    pub nationality: Option<String>,
    /// The camp administration holding the family.
    #[serde(default)]
    pub camp_authority: Option<String>,
    #[serde(default)]
    pub operation: Option<Operation>,
    /// The state whose flight carries them, when it is not their own.
    #[serde(default)]
    pub carrier_state: Option<String>,
    /// The carrying state's answer to a transit request.
    #[serde(default)]
    pub transit_decision: Option<Decision>,
    /// The role's own label of where the case stands.
    pub stage: Stage,
    #[serde(default)]
    pub persons: BTreeMap<String, Person>,
    /// The handover protocol, once there is one.
    #[serde(default)]
    pub handover_message_id: Option<String>,
    #[serde(default)]
    pub protocol_ref: Option<String>,
    /// Discrepancies against the manifest (kind, personRef).
    #[serde(default)]
    pub discrepancies: Vec<Value>,
    /// Refusals received for messages this member sent.
    #[serde(default)]
    pub refusals_received: Vec<Value>,
    #[serde(default)]
    pub closed: bool,
    /// Messages already applied, by sender and id: a redelivery changes
    /// nothing.
    #[serde(default)]
    pub processed: BTreeSet<MessageKey>,
    #[serde(default)]
    pub events: Vec<Event>,
    /// Signed messages not yet confirmed as stored by JetStream.
    #[serde(default)]
    pub outbox: Vec<Pending>,
}

impl Case {
    /// A new case, at `stage`.
    pub fn new(case_ref: &str, stage: Stage) -> Self {
        Self {
            case_ref: case_ref.to_owned(),
            nationality: None,
            camp_authority: None,
            operation: None,
            carrier_state: None,
            transit_decision: None,
            stage,
            persons: BTreeMap::new(),
            handover_message_id: None,
            protocol_ref: None,
            discrepancies: Vec::new(),
            refusals_received: Vec::new(),
            closed: false,
            processed: BTreeSet::new(),
            events: Vec::new(),
            outbox: Vec::new(),
        }
    }

    /// The person, created if new.
    pub fn person(&mut self, person_ref: &str) -> &mut Person {
        self.persons.entry(person_ref.to_owned()).or_default()
    }

    /// Takes in the family of a `camp.resident.located` message: each
    /// person's sex, whether a child (on the registration date, else
    /// `today`), birthplace, orphanhood, and who a child travels with (the
    /// head of the family when the head is an adult: in the camps, almost
    /// always the mother).
    pub fn record_located(&mut self, data: &Value, today: &str) {
        use crate::read::{array_at, is_child, str_at};
        self.nationality = str_at(data, "/claimedNationality").map(str::to_owned);
        let on = str_at(data, "/registeredOn")
            .map_or_else(|| today.to_owned(), |d| d.chars().take(10).collect());
        let members = array_at(data, "/familyUnit/members");
        for member in members {
            let Some(person_ref) = member.get("personRef").and_then(Value::as_str) else {
                continue;
            };
            let p = self.person(person_ref);
            p.sex = member.get("sex").and_then(Value::as_str).map(str::to_owned);
            p.child = str_at(member, "/birthDate/value").map(|b| is_child(b, &on));
            p.birthplace_country = member
                .get("birthplaceCountry")
                .and_then(Value::as_str)
                .map(str::to_owned);
            p.orphan = array_at(member, "/vulnerability")
                .iter()
                .any(|f| f == "orphan");
        }
        let head = str_at(data, "/familyUnit/head").map(str::to_owned);
        let head_is_adult = head
            .as_ref()
            .and_then(|h| self.persons.get(h))
            .is_some_and(|p| p.child == Some(false));
        for member in members {
            let (Some(r), Some(rel)) = (
                member.get("personRef").and_then(Value::as_str),
                member.get("relationshipToHead").and_then(Value::as_str),
            ) else {
                continue;
            };
            if head_is_adult
                && matches!(rel, "child" | "stepchild" | "grandchild")
                && self.persons.get(r).is_some_and(|p| p.child == Some(true))
            {
                self.person(r).accompanied_by = head.clone();
            }
        }
    }

    /// Manifest entries for `refs`: each person, with the person they travel
    /// with when that person is among `refs` too.
    pub fn manifest_entries(&self, refs: &[String]) -> Vec<Value> {
        refs.iter()
            .map(|r| {
                match self
                    .persons
                    .get(r)
                    .and_then(|p| p.accompanied_by.as_ref())
                    .filter(|a| refs.contains(a))
                {
                    Some(a) => serde_json::json!({"personRef": r, "accompaniedBy": a}),
                    None => serde_json::json!({"personRef": r}),
                }
            })
            .collect()
    }

    /// Records a `security.screening.completed`: every person it names must
    /// be in the case and must have arrived.
    pub fn record_screening(&mut self, data: &Value) -> Result<(), crate::Refusal> {
        use crate::read::{array_at, enum_at, person_refs};
        let refs = person_refs(data, "/results");
        crate::require_persons(self, &refs)?;
        let absent: Vec<String> = refs
            .iter()
            .filter(|r| !self.persons[*r].arrived)
            .cloned()
            .collect();
        if !absent.is_empty() {
            return Err(crate::Refusal::new(
                "screening_before_arrival",
                "a screening of persons who never arrived",
            )
            .persons(absent));
        }
        for r in array_at(data, "/results") {
            if let (Some(p), Some(o)) = (
                r.get("personRef").and_then(Value::as_str),
                enum_at(r, "/outcome"),
            ) {
                self.person(p).screening = Some(o);
            }
        }
        Ok(())
    }

    /// The references of the persons for whom `f` holds, in order.
    pub fn persons_where(&self, f: impl Fn(&Person) -> bool) -> Vec<String> {
        self.persons
            .iter()
            .filter(|(_, p)| f(p))
            .map(|(r, _)| r.clone())
            .collect()
    }

    pub fn children(&self) -> impl Iterator<Item = (&String, &Person)> {
        self.persons.iter().filter(|(_, p)| p.child == Some(true))
    }
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;
    use serde_json::json;

    use super::*;

    /// The values a schema's enum at `pointer` allows.
    fn schema_enum(message_type: &str, pointer: &str) -> Vec<String> {
        let registry = homeward_core::SchemaRegistry::embedded().expect("schemas");
        let id = homeward_core::schema::message_schema_id(message_type, 1);
        let doc = registry.document(&id).expect("the schema");
        doc.value
            .pointer(pointer)
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("no enum at {pointer} in {id}"))
            .iter()
            .map(|v| v.as_str().expect("a string").to_owned())
            .collect()
    }

    /// Every value the schema allows is a variant, and back to the same
    /// string: so no valid message carries a value the case cannot hold.
    fn matches_schema<T>(message_type: &str, pointer: &str)
    where
        T: DeserializeOwned + Serialize + std::fmt::Debug,
    {
        for value in schema_enum(message_type, pointer) {
            let variant: T = serde_json::from_value(json!(value))
                .unwrap_or_else(|e| panic!("{message_type} {value:?}: {e}"));
            assert_eq!(serde_json::to_value(&variant).expect("json"), json!(value));
        }
    }

    #[test]
    fn the_outcomes_are_the_schemas_values() {
        matches_schema::<VerificationOutcome>(
            types::IDENTITY_VERIFICATION_COMPLETED,
            "/properties/results/items/properties/outcome/enum",
        );
        matches_schema::<Decision>(
            types::REPATRIATION_DECIDED,
            "/properties/decisions/items/properties/decision/enum",
        );
        matches_schema::<Decision>(types::TRANSIT_DECIDED, "/properties/decision/enum");
        matches_schema::<ScreeningOutcome>(
            types::SECURITY_SCREENING_COMPLETED,
            "/properties/results/items/properties/outcome/enum",
        );
        matches_schema::<Custody>(
            types::CUSTODY_ASSIGNED,
            "/properties/assignments/items/properties/custody/enum",
        );
        matches_schema::<DocumentKind>(
            types::DOCUMENTS_ISSUED,
            "/properties/documents/items/properties/kind/enum",
        );
    }

    #[test]
    fn stages_keep_their_strings() {
        for (stage, text) in [
            (Stage::Located, "located"),
            (Stage::VerificationRequested, "verification-requested"),
            (Stage::HandedOver, "handed-over"),
            (Stage::TransitAccepted, "transit-accepted"),
            (Stage::CustodyAssigned, "custody-assigned"),
            (
                Stage::Reported(FollowUp::CustodyAssigned),
                "custody.assigned",
            ),
            (
                Stage::Reported(FollowUp::ScreeningCompleted),
                "security.screening.completed",
            ),
        ] {
            assert_eq!(serde_json::to_value(stage).expect("json"), json!(text));
            assert_eq!(
                serde_json::from_value::<Stage>(json!(text)).expect("parses"),
                stage
            );
        }
        for f in FollowUp::ALL {
            assert_eq!(FollowUp::of(f.message_type()), Some(f));
            assert_eq!(
                serde_json::to_value(Stage::Reported(f)).expect("json"),
                json!(f.message_type())
            );
            assert!(types::ALL.contains(&f.message_type()));
        }
    }

    #[test]
    fn a_stored_case_with_an_unknown_state_does_not_load() {
        let mut case = Case::new("HOL-P5-000777", Stage::Verified);
        case.person("HOL-P5-000777-01").screening = Some(ScreeningOutcome::Cleared);
        let stored = serde_json::to_value(&case).expect("json");
        assert_eq!(stored["stage"], "verified");
        assert_eq!(
            stored["persons"]["HOL-P5-000777-01"]["screening"],
            "cleared"
        );
        assert_eq!(
            serde_json::from_value::<Case>(stored.clone()).expect("loads"),
            case
        );
        for (pointer, unknown) in [
            ("/stage", json!("verifyed")),
            ("/stage", json!("")),
            ("/persons/HOL-P5-000777-01/screening", json!("released")),
            ("/persons/HOL-P5-000777-01/documents", json!(["visa"])),
            ("/transitDecision", json!("maybe")),
        ] {
            let mut bad = stored.clone();
            *bad.pointer_mut(pointer).expect("the field") = unknown.clone();
            assert!(
                serde_json::from_value::<Case>(bad).is_err(),
                "{pointer} = {unknown} loaded"
            );
        }
        let mut no_stage = stored;
        no_stage.as_object_mut().expect("object").remove("stage");
        assert!(serde_json::from_value::<Case>(no_stage).is_err());
    }
}
