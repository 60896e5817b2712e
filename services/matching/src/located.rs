//! The family unit of a `camp.resident.located` message, as the matcher
//! reads it: each member's names, sex, birth date and place in the unit.
//!
//! The message was checked against its schema before it got here; this
//! reads only what matching needs and names the path of anything it cannot
//! read, never the value.

use serde_json::Value;

use crate::MatchError;
use crate::date::CampDate;
use crate::name::Form;
use crate::script::{self, Token};

/// What a name is, as the camp says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Official,
    AsRecorded,
    Alias,
}

/// One located person.
#[derive(Debug, Clone)]
pub struct LocatedPerson {
    pub person_ref: String,
    /// Each full name that is not an alias, as tokens.
    pub(crate) names: Vec<Vec<QueryToken>>,
    /// The children's names the person's kunyas point to.
    pub(crate) kunya_children: Vec<Form>,
    /// `None` when the camp recorded `unknown`.
    pub female: Option<bool>,
    pub birth_date: CampDate,
    pub relationship: String,
}

/// A camp token with both forms it is compared in.
#[derive(Debug, Clone)]
pub(crate) struct QueryToken {
    /// The token as a given name.
    pub given: Form,
    /// The token as a family name: its stem when it has a gendered ending.
    pub family: Form,
    pub arabic: bool,
}

impl QueryToken {
    fn of(token: &Token) -> Self {
        let given = Form::of(&token.latin);
        let family = script::family_stem(token).map_or_else(|| given.clone(), |s| Form::of(&s));
        Self {
            given,
            family,
            arabic: token.written == script::Written::Arabic,
        }
    }
}

/// A located family unit.
#[derive(Debug, Clone)]
pub struct LocatedFamily {
    pub case_ref: String,
    pub members: Vec<LocatedPerson>,
}

impl LocatedFamily {
    /// Reads the `data` of a `camp.resident.located` message.
    pub fn from_located_data(data: &Value) -> Result<Self, MatchError> {
        let unreadable = |path: String, problem: &str| MatchError::Located {
            path,
            problem: problem.into(),
        };
        let case_ref = data
            .get("caseRef")
            .and_then(Value::as_str)
            .ok_or_else(|| unreadable("/caseRef".into(), "missing or not a string"))?
            .to_owned();
        let members = data
            .pointer("/familyUnit/members")
            .and_then(Value::as_array)
            .ok_or_else(|| unreadable("/familyUnit/members".into(), "missing or not an array"))?;
        let mut out = Vec::with_capacity(members.len());
        for (i, member) in members.iter().enumerate() {
            let at = |field: &str| format!("/familyUnit/members/{i}/{field}");
            let text = |field: &str| {
                member
                    .pointer(&format!("/{field}"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| unreadable(at(field), "missing or not a string"))
            };
            let person_ref = text("personRef")?.to_owned();
            let female = match text("sex")? {
                "female" => Some(true),
                "male" => Some(false),
                _ => None,
            };
            let birth_date = CampDate::parse(text("birthDate/value")?, text("birthDate/accuracy")?)
                .ok_or_else(|| {
                    unreadable(at("birthDate"), "not a partial date with an accuracy")
                })?;
            let relationship = member
                .get("relationshipToHead")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned();
            let names = member
                .get("names")
                .and_then(Value::as_array)
                .ok_or_else(|| unreadable(at("names"), "missing or not an array"))?;
            let mut full_names = Vec::new();
            let mut kunya_children = Vec::new();
            for (j, name) in names.iter().enumerate() {
                let value = name.get("value").and_then(Value::as_str).ok_or_else(|| {
                    unreadable(at(&format!("names/{j}/value")), "missing or not a string")
                })?;
                let kind = match name.get("kind").and_then(Value::as_str) {
                    Some("official") => NameKind::Official,
                    Some("alias") => NameKind::Alias,
                    _ => NameKind::AsRecorded,
                };
                if let Some(child) = script::kunya(value) {
                    if let Some(first) = child.first() {
                        kunya_children.push(Form::of(&first.latin));
                    }
                    continue;
                }
                // Other aliases (a name used in the camp) are no evidence
                // of the registry name.
                if kind == NameKind::Alias {
                    continue;
                }
                let tokens: Vec<QueryToken> =
                    script::tokens(value).iter().map(QueryToken::of).collect();
                if !tokens.is_empty() {
                    full_names.push(tokens);
                }
            }
            out.push(LocatedPerson {
                person_ref,
                names: full_names,
                kunya_children,
                female,
                birth_date,
                relationship,
            });
        }
        Ok(Self {
            case_ref,
            members: out,
        })
    }
}

/// How one member of a unit is related to another, from their
/// relationships to the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relation {
    Parent,
    Child,
    Sibling,
    Grandparent,
    Grandchild,
    Spouse,
}

pub(crate) fn relation(a: &str, b: &str) -> Option<Relation> {
    use Relation::*;
    let child = |r: &str| matches!(r, "child" | "stepchild");
    let parent = |r: &str| matches!(r, "head" | "spouse");
    Some(match (a, b) {
        (a, b) if parent(a) && child(b) => Parent,
        (a, b) if child(a) && parent(b) => Child,
        (a, b) if child(a) && child(b) => Sibling,
        ("sibling", "sibling") | ("head", "sibling") | ("sibling", "head") => Sibling,
        ("grandchild", "grandchild") => Sibling,
        ("head", "grandchild") => Grandparent,
        ("grandchild", "head") => Grandchild,
        // In a grandmother's unit the adult child is the grandchildren's
        // parent (or their aunt or uncle, in which case nothing links).
        (a, "grandchild") if child(a) => Parent,
        ("grandchild", b) if child(b) => Child,
        ("head", "spouse") | ("spouse", "head") => Spouse,
        _ => return None,
    })
}
