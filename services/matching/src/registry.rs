//! A state's civil registry extract, and the index the matcher blocks on.
//!
//! The extract is what a state's civil registry exports for its security
//! service: one record per person with the official names in fields
//! (given, family, patronymic) in each script the registry keeps, sex, the
//! birth date and the parents' records. It stays on the state's site.
//!
//! The index interns every name token once (a registry of a million holds
//! a few thousand distinct tokens), counts how often each occurs (the
//! term frequencies of [`crate::weights`]) and keeps two blocking indexes:
//! records by (given token, family token), and by (one token, birth year)
//! for camp records with only one usable name. A query then reaches only
//! the records that share a name with it, whatever the registry's size.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::MatchError;
use crate::date;
use crate::name::Form;
use crate::script;

/// One person of a civil registry extract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryRecord {
    /// The registry's own identifier of the person.
    pub record_id: String,
    /// The official name in each script the registry keeps (at least one).
    pub names: Vec<OfficialName>,
    pub sex: RegistrySex,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// The mother's and father's `recordId`, where the registry knows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mother: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub father: Option<String>,
}

/// An official name, in fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OfficialName {
    pub given: String,
    pub family: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patronymic: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrySex {
    Female,
    Male,
}

/// The records of an extract in JSON lines, with the line number (1-based)
/// of each. A parse error says where and of what kind, never the line's
/// content: serde's own messages quote the value they stumble on, and an
/// extract's values are names and birth dates.
pub(crate) fn read_json_lines(
    reader: impl std::io::BufRead,
) -> Result<(Vec<RegistryRecord>, Vec<usize>), MatchError> {
    let mut extract = Vec::new();
    let mut lines = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line_no = i + 1;
        let text = line.map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => MatchError::Line {
                line: line_no,
                problem: "is not UTF-8".into(),
            },
            _ => MatchError::Read(e),
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let record: RegistryRecord = serde_json::from_str(&text).map_err(|e| {
            let problem = match e.classify() {
                serde_json::error::Category::Data => format!(
                    "column {}: not a registry record (a field missing, unknown, repeated or of the wrong type; expected recordId, names [{{given, family, patronymic?}}], sex female|male, birthDate, mother?, father?)",
                    e.column()
                ),
                serde_json::error::Category::Eof => "the JSON object is cut off".into(),
                _ => format!("column {}: not JSON", e.column()),
            };
            MatchError::Line {
                line: line_no,
                problem,
            }
        })?;
        extract.push(record);
        lines.push(line_no);
    }
    Ok((extract, lines))
}

pub(crate) const NONE: u32 = u32::MAX;

/// The role a token has in a registry name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    Given,
    Family,
}

/// A registry record as the matcher holds it.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    /// Up to two spellings (one per script), the same token twice when the
    /// scripts agree.
    pub given: [u32; 2],
    pub family: [u32; 2],
    pub patronymic: u32,
    pub female: bool,
    pub day: i32,
    pub year: i32,
    pub mother: u32,
    pub father: u32,
}

/// The interned tokens and the blocking indexes.
#[derive(Debug)]
pub(crate) struct Index {
    pub ids: Vec<String>,
    pub persons: Vec<Person>,
    /// Distinct tokens: their forms, and how many records have each as a
    /// given or a family name, and each phonetic key.
    pub tokens: Vec<Form>,
    pub token_ids: HashMap<String, u32>,
    pub given_count: Vec<u32>,
    pub family_count: Vec<u32>,
    key_count: HashMap<(Role, String), u32>,
    /// Per token: how many records have its phonetic key, as given and as
    /// family name.
    given_key_count: Vec<u32>,
    family_key_count: Vec<u32>,
    /// Children of each record: `children[child_start[r]..child_start[r + 1]]`.
    child_start: Vec<u32>,
    children: Vec<u32>,
    pub by_pair: HashMap<(u32, u32), Vec<u32>>,
    pub by_year: HashMap<(Role, u32, i32), Vec<u32>>,
}

impl Index {
    pub fn build(extract: Vec<RegistryRecord>) -> Result<Self, MatchError> {
        let mut index = Index {
            ids: Vec::with_capacity(extract.len()),
            persons: Vec::with_capacity(extract.len()),
            tokens: Vec::new(),
            token_ids: HashMap::new(),
            given_count: Vec::new(),
            family_count: Vec::new(),
            key_count: HashMap::new(),
            given_key_count: Vec::new(),
            family_key_count: Vec::new(),
            child_start: Vec::new(),
            children: Vec::new(),
            by_pair: HashMap::new(),
            by_year: HashMap::new(),
        };
        let mut position: HashMap<String, u32> = HashMap::with_capacity(extract.len());
        for (i, record) in extract.iter().enumerate() {
            if position
                .insert(record.record_id.clone(), i as u32)
                .is_some()
            {
                return Err(MatchError::Registry {
                    record: i,
                    problem: "the record id repeats an earlier record's".into(),
                });
            }
        }
        for (i, record) in extract.into_iter().enumerate() {
            let problem = |problem: &str| MatchError::Registry {
                record: i,
                problem: problem.into(),
            };
            let (day, year) = date::parse_registry(&record.birth_date)
                .ok_or_else(|| problem("the birth date is not a calendar date YYYY-MM-DD"))?;
            if record.names.is_empty() || record.names.len() > 4 {
                return Err(problem("a record holds one to four official names"));
            }
            let mut given = Vec::new();
            let mut family = Vec::new();
            let mut patronymic = NONE;
            for name in &record.names {
                let g = index.intern_name(&name.given, false);
                let f = index.intern_name(&name.family, true);
                let (Some(g), Some(f)) = (g, f) else {
                    return Err(problem(
                        "an official name has an empty given or family name",
                    ));
                };
                given.push(g);
                family.push(f);
                if patronymic == NONE
                    && let Some(p) = &name.patronymic
                {
                    patronymic = index.intern_name(p, true).unwrap_or(NONE);
                }
            }
            let parent = |id: &Option<String>| -> Result<u32, MatchError> {
                match id {
                    None => Ok(NONE),
                    Some(id) => position
                        .get(id)
                        .copied()
                        .ok_or_else(|| problem("a parent's record id is not in the extract")),
                }
            };
            let person = Person {
                given: [given[0], *given.get(1).unwrap_or(&given[0])],
                family: [family[0], *family.get(1).unwrap_or(&family[0])],
                patronymic,
                female: record.sex == RegistrySex::Female,
                day,
                year,
                mother: parent(&record.mother)?,
                father: parent(&record.father)?,
            };
            index.ids.push(record.record_id);
            index.persons.push(person);
        }
        index.count_and_block();
        Ok(index)
    }

    /// The token of a registry name field: its first word for a given
    /// name (a second given name is rare in these registries), the stem of
    /// the last word for a family name.
    fn intern_name(&mut self, value: &str, family: bool) -> Option<u32> {
        let tokens = script::tokens(value);
        let token = if family {
            tokens.last()?
        } else {
            tokens.first()?
        };
        let latin = if family {
            script::family_stem(token).unwrap_or_else(|| token.latin.clone())
        } else {
            token.latin.clone()
        };
        Some(self.intern(&latin))
    }

    fn intern(&mut self, latin: &str) -> u32 {
        let form = Form::of(latin);
        if let Some(&id) = self.token_ids.get(&form.form) {
            return id;
        }
        let id = self.tokens.len() as u32;
        self.token_ids.insert(form.form.clone(), id);
        self.tokens.push(form);
        id
    }

    fn count_and_block(&mut self) {
        let n = self.tokens.len();
        self.given_count = vec![0; n];
        self.family_count = vec![0; n];
        let mut child_count = vec![0u32; self.persons.len() + 1];
        for (r, person) in self.persons.iter().enumerate() {
            let r = r as u32;
            for (role, alternatives) in [(Role::Given, person.given), (Role::Family, person.family)]
            {
                let distinct: &[u32] = if alternatives[0] == alternatives[1] {
                    &alternatives[..1]
                } else {
                    &alternatives
                };
                for &t in distinct {
                    match role {
                        Role::Given => self.given_count[t as usize] += 1,
                        Role::Family => self.family_count[t as usize] += 1,
                    }
                    *self
                        .key_count
                        .entry((role, self.tokens[t as usize].key.clone()))
                        .or_default() += 1;
                    self.by_year
                        .entry((role, t, person.year))
                        .or_default()
                        .push(r);
                }
            }
            for &g in &person.given {
                for &f in &person.family {
                    let block = self.by_pair.entry((g, f)).or_default();
                    if block.last() != Some(&r) {
                        block.push(r);
                    }
                }
            }
            for parent in [person.mother, person.father] {
                if parent != NONE {
                    child_count[parent as usize] += 1;
                }
            }
        }
        let key_count = |role: Role, t: &Form| {
            self.key_count
                .get(&(role, t.key.clone()))
                .copied()
                .unwrap_or(0)
        };
        self.given_key_count = self
            .tokens
            .iter()
            .map(|t| key_count(Role::Given, t))
            .collect();
        self.family_key_count = self
            .tokens
            .iter()
            .map(|t| key_count(Role::Family, t))
            .collect();
        let mut start = Vec::with_capacity(self.persons.len() + 1);
        let mut total = 0;
        for count in &child_count[..self.persons.len()] {
            start.push(total);
            total += count;
        }
        start.push(total);
        let mut fill = start.clone();
        let mut children = vec![0; total as usize];
        for (r, person) in self.persons.iter().enumerate() {
            for parent in [person.mother, person.father] {
                if parent != NONE {
                    children[fill[parent as usize] as usize] = r as u32;
                    fill[parent as usize] += 1;
                }
            }
        }
        self.child_start = start;
        self.children = children;
    }

    pub fn children(&self, r: u32) -> &[u32] {
        let r = r as usize;
        &self.children[self.child_start[r] as usize..self.child_start[r + 1] as usize]
    }

    pub fn parents(&self, r: u32) -> impl Iterator<Item = u32> {
        let p = &self.persons[r as usize];
        [p.mother, p.father].into_iter().filter(|&x| x != NONE)
    }

    /// The share of records with token `t` in `role`.
    pub fn frequency(&self, role: Role, t: u32) -> f64 {
        let count = match role {
            Role::Given => self.given_count[t as usize],
            Role::Family => self.family_count[t as usize],
        };
        f64::from(count.max(1)) / self.persons.len().max(1) as f64
    }

    /// The share of records whose token in `role` has the phonetic key of `t`.
    pub fn key_frequency(&self, role: Role, t: u32) -> f64 {
        let count = match role {
            Role::Given => self.given_key_count[t as usize],
            Role::Family => self.family_key_count[t as usize],
        };
        f64::from(count.max(1)) / self.persons.len().max(1) as f64
    }
}
