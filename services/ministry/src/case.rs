//! A case: what one member knows about one family unit.
//!
//! Every role keeps the same shape and fills in the part of the lifecycle it
//! sees, so the report can read any member's cases the same way. A case
//! holds references and facts needed to apply the flow — sex, whether a
//! person is a child, outcomes — not names: the names stay in the messages
//! and in the ministry's own systems.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// confirmed / not-confirmed / inconclusive.
    pub verification: Option<String>,
    pub requested: bool,
    /// accepted / refused.
    pub decision: Option<String>,
    pub refusal_reason: Option<String>,
    pub on_manifest: bool,
    pub handed_over: bool,
    pub arrived: bool,
    pub admitted: bool,
    pub discharged: bool,
    /// cleared / under-investigation / detained / charged.
    pub screening: Option<String>,
    /// mother / relative-guardian / state-care.
    pub custody: Option<String>,
    pub documents: Vec<String>,
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub time: String,
    /// The message type, `action:<name>` or `refused:<rule>`.
    pub what: String,
    pub message_id: Option<String>,
    /// The other member, where there is one.
    pub party: Option<String>,
}

/// A signed envelope waiting to be submitted (the outbox).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    pub id: String,
    pub message_type: String,
    /// The envelope, exactly as signed.
    pub envelope: Value,
}

/// One member's view of one family unit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Case {
    pub case_ref: String,
    /// The claimed nationality or requesting state (ISO alpha-2).
    pub nationality: Option<String>,
    /// The camp administration holding the family.
    pub camp_authority: Option<String>,
    pub operation: Option<Operation>,
    /// The state whose flight carries them, when it is not their own.
    pub carrier_state: Option<String>,
    /// accepted / refused, for a transit request.
    pub transit_decision: Option<String>,
    /// The role's own label of where the case stands.
    pub stage: String,
    pub persons: BTreeMap<String, Person>,
    /// The handover protocol, once there is one.
    pub handover_message_id: Option<String>,
    pub protocol_ref: Option<String>,
    /// Discrepancies against the manifest (kind, personRef).
    pub discrepancies: Vec<Value>,
    /// Refusals received for messages this member sent.
    pub refusals_received: Vec<Value>,
    pub closed: bool,
    /// Ids of messages already applied: a redelivery changes nothing.
    pub processed: BTreeSet<String>,
    pub events: Vec<Event>,
    /// Signed messages not yet confirmed as stored by JetStream.
    pub outbox: Vec<Pending>,
}

impl Case {
    pub fn new(case_ref: &str) -> Self {
        Self {
            case_ref: case_ref.to_owned(),
            ..Self::default()
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
        use crate::read::{array_at, person_refs};
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
                r.get("outcome").and_then(Value::as_str),
            ) {
                self.person(p).screening = Some(o.to_owned());
            }
        }
        Ok(())
    }

    pub fn children(&self) -> impl Iterator<Item = (&String, &Person)> {
        self.persons.iter().filter(|(_, p)| p.child == Some(true))
    }
}
