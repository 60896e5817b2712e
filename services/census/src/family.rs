//! Persons and family units, and the `camp.resident.located` data of a unit.

use std::collections::{BTreeSet, HashSet};

use serde_json::{Map, Value, json};

use crate::CensusError;
use crate::value::{
    BirthDate, CampLocation, CaseRef, CountryCode, Name, PersonNames, PersonRef, Relationship, Sex,
    Vulnerability,
};

/// One person, as the census records them. Every field is a checked value,
/// so any person that can be built is a valid one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub person_ref: PersonRef,
    pub relationship: Relationship,
    pub names: PersonNames,
    pub sex: Sex,
    pub birth_date: BirthDate,
    pub birthplace_country: Option<CountryCode>,
    pub vulnerability: BTreeSet<Vulnerability>,
}

impl Person {
    /// The person as the schema's `person` definition writes it, claiming
    /// the unit's nationality.
    fn to_json(&self, claimed_nationality: CountryCode) -> Value {
        let mut person = Map::new();
        person.insert("personRef".into(), json!(self.person_ref.as_str()));
        person.insert("names".into(), Value::Array(names_json(&self.names)));
        person.insert("sex".into(), json!(self.sex.as_str()));
        person.insert(
            "birthDate".into(),
            json!({
                "value": self.birth_date.date.to_string(),
                "accuracy": self.birth_date.accuracy.as_str(),
            }),
        );
        if let Some(country) = self.birthplace_country {
            person.insert("birthplaceCountry".into(), json!(country.as_str()));
        }
        person.insert(
            "claimedNationality".into(),
            json!(claimed_nationality.as_str()),
        );
        person.insert(
            "relationshipToHead".into(),
            json!(self.relationship.as_str()),
        );
        if !self.vulnerability.is_empty() {
            person.insert(
                "vulnerability".into(),
                self.vulnerability.iter().map(|v| v.as_str()).collect(),
            );
        }
        Value::Object(person)
    }
}

/// The census records names as the camp wrote them, not matched to any
/// state's civil records: every full name is `as-recorded`, every alias an
/// `alias`.
fn names_json(names: &PersonNames) -> Vec<Value> {
    let name = |name: &Name, kind: &str| json!({"value": name.as_str(), "script": name.script().code(), "kind": kind});
    [names.latin(), names.cyrillic(), names.arabic()]
        .into_iter()
        .flatten()
        .map(|n| name(n, "as-recorded"))
        .chain(names.aliases().iter().map(|n| name(n, "alias")))
        .collect()
}

/// A family unit as the camp registers it: one case, one claimed
/// nationality, one place in the camp, one head, 1 to 30 members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyUnit {
    family_ref: CaseRef,
    claimed_nationality: CountryCode,
    camp_location: CampLocation,
    members: Vec<Person>,
}

impl FamilyUnit {
    /// The most members a unit may have (the schema's `maxItems`): larger
    /// groups are registered as several units.
    pub const MAX_MEMBERS: usize = 30;

    /// Checks the unit as a whole: 1 to 30 members, exactly one of them the
    /// head, no person reference twice.
    pub fn new(
        family_ref: CaseRef,
        claimed_nationality: CountryCode,
        camp_location: CampLocation,
        members: Vec<Person>,
    ) -> Result<Self, CensusError> {
        let fail = |message: String| CensusError::InvalidFamily {
            family_ref: family_ref.to_string(),
            message,
        };
        if members.is_empty() {
            return Err(fail("the unit has no members".into()));
        }
        if members.len() > Self::MAX_MEMBERS {
            return Err(fail(format!(
                "the unit has {} members; at most {} are allowed",
                members.len(),
                Self::MAX_MEMBERS
            )));
        }
        let heads = members
            .iter()
            .filter(|p| p.relationship == Relationship::Head)
            .count();
        if heads != 1 {
            return Err(fail(format!(
                "the unit has {heads} members whose relationship_to_head is head; exactly one is needed"
            )));
        }
        let mut seen = HashSet::new();
        for person in &members {
            if !seen.insert(&person.person_ref) {
                return Err(fail(format!("person {} appears twice", person.person_ref)));
            }
        }
        Ok(Self {
            family_ref,
            claimed_nationality,
            camp_location,
            members,
        })
    }

    pub fn family_ref(&self) -> &CaseRef {
        &self.family_ref
    }

    pub fn claimed_nationality(&self) -> CountryCode {
        self.claimed_nationality
    }

    pub fn camp_location(&self) -> &CampLocation {
        &self.camp_location
    }

    pub fn members(&self) -> &[Person] {
        &self.members
    }

    /// The head of the unit: usually the mother; for siblings without an
    /// adult, the eldest child.
    pub fn head(&self) -> &Person {
        // `new` checked there is exactly one head.
        self.members
            .iter()
            .find(|p| p.relationship == Relationship::Head)
            .unwrap_or(&self.members[0])
    }

    /// The `data` of the `camp.resident.located` (v1) message about this
    /// unit; its `caseRef` is the unit's reference and the envelope
    /// `subject`.
    pub fn located_data(&self) -> Value {
        let mut location = Map::new();
        location.insert("camp".into(), json!(self.camp_location.camp()));
        for (key, value) in [
            ("section", self.camp_location.section()),
            ("block", self.camp_location.block()),
            ("tent", self.camp_location.tent()),
        ] {
            if let Some(value) = value {
                location.insert(key.into(), json!(value));
            }
        }
        json!({
            "caseRef": self.family_ref.as_str(),
            "claimedNationality": self.claimed_nationality.as_str(),
            "campLocation": location,
            "familyUnit": {
                "familyRef": self.family_ref.as_str(),
                "head": self.head().person_ref.as_str(),
                "members": self
                    .members
                    .iter()
                    .map(|p| p.to_json(self.claimed_nationality))
                    .collect::<Vec<_>>(),
            },
        })
    }
}

/// A whole camp census: its family units in the order the file first names
/// them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Census {
    pub families: Vec<FamilyUnit>,
}

impl Census {
    /// How many persons the census holds.
    pub fn persons(&self) -> usize {
        self.families.iter().map(|f| f.members.len()).sum()
    }
}
