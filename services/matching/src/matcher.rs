//! Candidates for every member of a located unit: blocking, the
//! comparison of each candidate field by field, then the family as
//! evidence.
//!
//! 1. **Blocking.** Each camp token is compared with the registry's
//!    distinct tokens (once per spelling, then cached; a bound on the
//!    letters two tokens share skips most Jaro-Winkler computations, see
//!    [`crate::name::compare`]); the records
//!    sharing a close given and family token are the candidates. A person
//!    with one usable name, or whose pair finds almost nobody, also gets the
//!    records sharing one token within the birth years the date allows.
//! 2. **Comparison.** Given and family name in either order (the camp's
//!    order is not trusted), a patronymic when the camp wrote one, sex,
//!    birth date with its accuracy; each a weight of [`crate::weights`].
//! 3. **Family.** The strongest candidates of the other members are
//!    anchors. A record whose registry relatives (mother, children,
//!    siblings, grandparents, spouse) are anchors of members related that
//!    way in the unit gains the family weight, and those relatives become
//!    candidates themselves: a mother recorded only as "Umm Yusuf" is found
//!    as the registry mother of her children's candidates. A kunya whose
//!    child's name is the name of one of the record's registry children
//!    weighs too.

use std::collections::HashMap;
use std::rc::Rc;

use serde_json::Value;

use crate::date::{self, DateKind, DateLevel};
use crate::located::{LocatedFamily, LocatedPerson, QueryToken, Relation, relation};
use crate::name::{self, Form, NameLevel};
use crate::registry::{Index, NONE, Role};
use crate::{Candidate, Field, MatchError, Matcher, PersonCandidates, Reason, weights};

/// How many candidates a person gets at most.
pub const CANDIDATES: usize = 10;
/// Candidates scoring at or below this many bits are left out.
pub const MIN_SCORE: f64 = 0.0;
/// A candidate of another member counts as an anchor from this score on.
const ANCHOR_SCORE: f64 = 4.0;
/// Anchors per member.
const ANCHORS: usize = 5;
/// Below this many candidates from the name pairs, a person is also
/// blocked on single tokens and birth years.
const FEW: usize = 3;

/// A matching session: the matcher and what it has learnt of camp
/// spellings so far. Use one per thread for many units.
#[derive(Debug)]
pub struct Session<'a> {
    matcher: &'a Matcher,
    similar: HashMap<String, Rc<Vec<(u32, NameLevel)>>>,
}

/// One name field's agreement, as found for a candidate.
#[derive(Debug, Clone, Copy)]
struct FieldAgreement {
    name: usize,
    token: usize,
    registry_token: u32,
    level: NameLevel,
    weight: f64,
}

/// The comparison of one camp person with one registry record.
#[derive(Debug, Clone, Copy)]
struct Comparison {
    record: u32,
    given: Option<FieldAgreement>,
    family: Option<FieldAgreement>,
    patronymic: Option<FieldAgreement>,
    sex: Option<(bool, f64)>,
    date: (DateKind, DateLevel, f64),
    individual: f64,
    family_links: usize,
    kunya: bool,
    total: f64,
}

/// A camp token's agreement with registry tokens, as a given name and as
/// a family name.
struct TokenLevels {
    given: HashMap<u32, NameLevel>,
    family: HashMap<u32, NameLevel>,
}

impl<'a> Session<'a> {
    pub fn new(matcher: &'a Matcher) -> Self {
        Self {
            matcher,
            similar: HashMap::new(),
        }
    }

    /// Ranked candidates for every member of the unit in the `data` of a
    /// `camp.resident.located` message.
    pub fn candidates(&mut self, data: &Value) -> Result<Vec<PersonCandidates>, MatchError> {
        let family = LocatedFamily::from_located_data(data)?;
        Ok(self.candidates_for(&family))
    }

    /// The registry tokens close to `form`, with how close.
    fn similar(&mut self, form: &Form) -> Rc<Vec<(u32, NameLevel)>> {
        if let Some(found) = self.similar.get(&form.form) {
            return found.clone();
        }
        let index = &self.matcher.index;
        let found: Vec<(u32, NameLevel)> = index
            .tokens
            .iter()
            .enumerate()
            .filter_map(|(t, registry)| {
                let level = name::compare(form, registry);
                (level != NameLevel::Disagree).then_some((t as u32, level))
            })
            .collect();
        let found = Rc::new(found);
        self.similar.insert(form.form.clone(), found.clone());
        found
    }

    fn levels(&mut self, token: &QueryToken) -> TokenLevels {
        let given: HashMap<u32, NameLevel> = self.similar(&token.given).iter().copied().collect();
        let mut family = given.clone();
        if token.family != token.given {
            for &(t, level) in self.similar(&token.family).iter() {
                let entry = family.entry(t).or_insert(level);
                *entry = (*entry).min(level);
            }
        }
        TokenLevels { given, family }
    }

    pub fn candidates_for(&mut self, unit: &LocatedFamily) -> Vec<PersonCandidates> {
        let index = &self.matcher.index;
        let levels: Vec<Vec<Vec<TokenLevels>>> = unit
            .members
            .iter()
            .map(|p| {
                p.names
                    .iter()
                    .map(|n| n.iter().map(|t| self.levels(t)).collect())
                    .collect()
            })
            .collect();

        // Blocking and the comparison of each member alone.
        let mut found: Vec<HashMap<u32, Comparison>> = unit
            .members
            .iter()
            .zip(&levels)
            .map(|(person, levels)| {
                block(index, person, levels)
                    .into_iter()
                    .map(|r| (r, compare(index, person, levels, r)))
                    .collect()
            })
            .collect();

        // The family: anchors, their relatives as candidates, the links.
        let anchors: Vec<Vec<u32>> = found.iter().map(anchors_of).collect();
        let members = &unit.members;
        for (p, person) in members.iter().enumerate() {
            for (q, other) in members.iter().enumerate() {
                let Some(rel) = (p != q)
                    .then(|| relation(&person.relationship, &other.relationship))
                    .flatten()
                else {
                    continue;
                };
                for &anchor in &anchors[q] {
                    for r in relatives(index, anchor, rel) {
                        found[p]
                            .entry(r)
                            .or_insert_with(|| compare(index, person, &levels[p], r));
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(members.len());
        for (p, person) in members.iter().enumerate() {
            let mut ranked: Vec<Comparison> = found[p].values().copied().collect();
            for c in &mut ranked {
                c.family_links = members
                    .iter()
                    .enumerate()
                    .filter(|&(q, other)| {
                        q != p
                            && relation(&person.relationship, &other.relationship).is_some_and(
                                |rel| {
                                    anchors[q]
                                        .iter()
                                        .any(|&a| a != c.record && related(index, c.record, a, rel))
                                },
                            )
                    })
                    .count();
                c.kunya = !person.kunya_children.is_empty()
                    && index.children(c.record).iter().any(|&child| {
                        index.persons[child as usize].given.iter().any(|&t| {
                            person.kunya_children.iter().any(|k| {
                                name::compare(k, &index.tokens[t as usize]) <= NameLevel::Close
                            })
                        })
                    });
                c.total = c.individual
                    + weights::family(c.family_links)
                    + if c.kunya { weights::kunya() } else { 0.0 };
            }
            ranked.sort_by(|a, b| {
                b.total
                    .total_cmp(&a.total)
                    .then_with(|| index.ids[a.record as usize].cmp(&index.ids[b.record as usize]))
            });
            let candidates = ranked
                .iter()
                .filter(|c| c.total > MIN_SCORE)
                .take(CANDIDATES)
                .map(|c| explain(index, person, c))
                .collect();
            out.push(PersonCandidates {
                person_ref: person.person_ref.clone(),
                candidates,
            });
        }
        out
    }
}

fn anchors_of(found: &HashMap<u32, Comparison>) -> Vec<u32> {
    let mut strong: Vec<&Comparison> = found
        .values()
        .filter(|c| c.individual >= ANCHOR_SCORE)
        .collect();
    strong.sort_by(|a, b| {
        b.individual
            .total_cmp(&a.individual)
            .then(a.record.cmp(&b.record))
    });
    strong.iter().take(ANCHORS).map(|c| c.record).collect()
}

/// The records a person is compared with.
fn block(index: &Index, person: &LocatedPerson, levels: &[Vec<TokenLevels>]) -> Vec<u32> {
    let close = |map: &HashMap<u32, NameLevel>| -> Vec<u32> {
        map.iter()
            .filter(|(_, l)| **l <= NameLevel::Close)
            .map(|(t, _)| *t)
            .collect()
    };
    let mut out: Vec<u32> = Vec::new();
    let mut single = false;
    for name in levels {
        single |= name.len() < 2;
        for (i, a) in name.iter().enumerate() {
            let given = close(&a.given);
            for (j, b) in name.iter().enumerate() {
                if i == j {
                    continue;
                }
                for f in close(&b.family) {
                    for &g in &given {
                        if let Some(records) = index.by_pair.get(&(g, f)) {
                            out.extend_from_slice(records);
                        }
                    }
                }
            }
        }
    }
    if single || out.len() < FEW {
        for name in levels {
            for token in name {
                for (role, map) in [(Role::Given, &token.given), (Role::Family, &token.family)] {
                    for t in close(map) {
                        for year in person.birth_date.years() {
                            if let Some(records) = index.by_year.get(&(role, t, year)) {
                                out.extend_from_slice(records);
                            }
                        }
                    }
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The best weight of one registry name field against one camp token.
fn field(
    index: &Index,
    role: Role,
    levels: &HashMap<u32, NameLevel>,
    alternatives: [u32; 2],
    name: usize,
    token: usize,
) -> FieldAgreement {
    let mut best: Option<FieldAgreement> = None;
    for t in alternatives {
        if t == NONE {
            continue;
        }
        let level = levels.get(&t).copied().unwrap_or(NameLevel::Disagree);
        let frequency = match level {
            NameLevel::Phonetic => index.key_frequency(role, t),
            _ => index.frequency(role, t),
        };
        let weight = weights::name(level, frequency);
        if best.is_none_or(|b| weight > b.weight) {
            best = Some(FieldAgreement {
                name,
                token,
                registry_token: t,
                level,
                weight,
            });
        }
    }
    best.unwrap_or(FieldAgreement {
        name,
        token,
        registry_token: NONE,
        level: NameLevel::Disagree,
        weight: weights::name(NameLevel::Disagree, 0.0),
    })
}

fn compare(
    index: &Index,
    person: &LocatedPerson,
    levels: &[Vec<TokenLevels>],
    r: u32,
) -> Comparison {
    let record = &index.persons[r as usize];
    type Names = (
        f64,
        Option<FieldAgreement>,
        Option<FieldAgreement>,
        Option<FieldAgreement>,
    );
    let mut best: Names = (f64::NEG_INFINITY, None, None, None);
    for (n, name) in levels.iter().enumerate() {
        let given: Vec<FieldAgreement> = name
            .iter()
            .enumerate()
            .map(|(i, t)| field(index, Role::Given, &t.given, record.given, n, i))
            .collect();
        let family: Vec<FieldAgreement> = name
            .iter()
            .enumerate()
            .map(|(i, t)| field(index, Role::Family, &t.family, record.family, n, i))
            .collect();
        if name.len() == 1 {
            let choice = if given[0].weight >= family[0].weight {
                (given[0].weight, Some(given[0]), None, None)
            } else {
                (family[0].weight, None, Some(family[0]), None)
            };
            if choice.0 > best.0 {
                best = choice;
            }
            continue;
        }
        for (i, g) in given.iter().enumerate() {
            for (j, f) in family.iter().enumerate() {
                if i == j {
                    continue;
                }
                let mut total = g.weight + f.weight;
                let mut patronymic = None;
                if record.patronymic != NONE {
                    for (k, t) in name.iter().enumerate() {
                        if k == i || k == j {
                            continue;
                        }
                        let level = t
                            .family
                            .get(&record.patronymic)
                            .copied()
                            .unwrap_or(NameLevel::Disagree);
                        let weight = weights::patronymic(level);
                        if weight > 0.0
                            && patronymic.is_none_or(|p: FieldAgreement| weight > p.weight)
                        {
                            patronymic = Some(FieldAgreement {
                                name: n,
                                token: k,
                                registry_token: record.patronymic,
                                level,
                                weight,
                            });
                        }
                    }
                }
                total += patronymic.map_or(0.0, |p| p.weight);
                if total > best.0 {
                    best = (total, Some(*g), Some(*f), patronymic);
                }
            }
        }
    }
    let names = if best.0.is_finite() { best.0 } else { 0.0 };
    let sex = person.female.map(|female| {
        let agrees = female == record.female;
        (agrees, weights::sex(agrees))
    });
    let kind = person.birth_date.kind();
    let level = date::compare(&person.birth_date, record.day, record.year);
    let date_weight = weights::date(kind, level);
    let individual = names + sex.map_or(0.0, |s| s.1) + date_weight;
    Comparison {
        record: r,
        given: best.1,
        family: best.2,
        patronymic: best.3,
        sex,
        date: (kind, level, date_weight),
        individual,
        family_links: 0,
        kunya: false,
        total: individual,
    }
}

/// Whether registry record `r` is related to `other` as `rel` says
/// (`r` is the `rel` of `other`).
fn related(index: &Index, r: u32, other: u32, rel: Relation) -> bool {
    let parents = |x: u32| index.parents(x);
    match rel {
        Relation::Parent => parents(other).any(|p| p == r),
        Relation::Child => parents(r).any(|p| p == other),
        Relation::Sibling => r != other && parents(r).any(|p| parents(other).any(|q| q == p)),
        Relation::Grandparent => parents(other).any(|p| parents(p).any(|g| g == r)),
        Relation::Grandchild => parents(r).any(|p| parents(p).any(|g| g == other)),
        Relation::Spouse => index
            .children(r)
            .iter()
            .any(|&c| parents(c).any(|p| p == other)),
    }
}

/// The registry records that are the `rel` of `anchor`.
fn relatives(index: &Index, anchor: u32, rel: Relation) -> Vec<u32> {
    let mut out: Vec<u32> = match rel {
        Relation::Parent => index.parents(anchor).collect(),
        Relation::Child => index.children(anchor).to_vec(),
        Relation::Sibling => index
            .parents(anchor)
            .flat_map(|p| index.children(p).iter().copied())
            .filter(|&c| c != anchor)
            .collect(),
        Relation::Grandparent => index
            .parents(anchor)
            .flat_map(|p| index.parents(p).collect::<Vec<_>>())
            .collect(),
        Relation::Grandchild => index
            .children(anchor)
            .iter()
            .flat_map(|&c| index.children(c).iter().copied())
            .collect(),
        Relation::Spouse => index
            .children(anchor)
            .iter()
            .flat_map(|&c| index.parents(c).collect::<Vec<_>>())
            .filter(|&p| p != anchor)
            .collect(),
    };
    out.sort_unstable();
    out.dedup();
    out
}

fn name_level_text(level: NameLevel) -> &'static str {
    match level {
        NameLevel::Exact => "exact",
        NameLevel::Phonetic => "phonetic",
        NameLevel::Close => "close",
        NameLevel::Fuzzy => "fuzzy",
        NameLevel::Disagree => "disagree",
    }
}

fn explain(index: &Index, person: &LocatedPerson, c: &Comparison) -> Candidate {
    let mut reasons = Vec::new();
    let record = &index.persons[c.record as usize];
    let camp_token = |a: &FieldAgreement, family: bool| {
        let t = &person.names[a.name][a.token];
        let form = if family { &t.family } else { &t.given };
        (form.form.clone(), t.arabic)
    };
    for (field, agreement, family) in [
        (Field::GivenName, c.given, false),
        (Field::FamilyName, c.family, true),
        (Field::Patronymic, c.patronymic, true),
    ] {
        let Some(a) = agreement else {
            if field != Field::Patronymic {
                reasons.push(Reason {
                    field,
                    level: "not-compared".into(),
                    weight: 0.0,
                    detail: "the camp record has no name to compare it with".into(),
                });
            }
            continue;
        };
        let (camp, arabic) = camp_token(&a, family);
        let registry = if a.registry_token == NONE {
            String::new()
        } else {
            index.tokens[a.registry_token as usize].form.clone()
        };
        let script = if arabic { " (from Arabic script)" } else { "" };
        let detail = match a.level {
            NameLevel::Exact => format!(
                "camp `{camp}`{script} equals registry `{registry}`; {} in the registry",
                share(index.frequency(role_of(field), a.registry_token))
            ),
            NameLevel::Phonetic => format!(
                "camp `{camp}`{script} and registry `{registry}` share the phonetic key `{}`; {} in the registry",
                index.tokens[a.registry_token as usize].key,
                share(index.key_frequency(role_of(field), a.registry_token))
            ),
            NameLevel::Close | NameLevel::Fuzzy => {
                format!("camp `{camp}`{script} is like registry `{registry}`")
            }
            NameLevel::Disagree => {
                format!("camp `{camp}`{script} does not agree with registry `{registry}`")
            }
        };
        reasons.push(Reason {
            field,
            level: name_level_text(a.level).into(),
            weight: a.weight,
            detail,
        });
    }
    if let (Some(g), Some(f)) = (c.given, c.family)
        && f.token < g.token
    {
        reasons.push(Reason {
            field: Field::NameOrder,
            level: "family-name-first".into(),
            weight: 0.0,
            detail: "the camp wrote the family name before the given name; order is not weighed"
                .into(),
        });
    }
    reasons.push(match c.sex {
        Some((agrees, weight)) => Reason {
            field: Field::Sex,
            level: if agrees { "agree" } else { "disagree" }.into(),
            weight,
            detail: format!(
                "registry: {}",
                if record.female { "female" } else { "male" }
            ),
        },
        None => Reason {
            field: Field::Sex,
            level: "not-compared".into(),
            weight: 0.0,
            detail: "the camp recorded the sex as unknown".into(),
        },
    });
    let (kind, level, weight) = c.date;
    reasons.push(Reason {
        field: Field::BirthDate,
        level: serde_json::to_value(level)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        weight,
        detail: format!(
            "camp date {} ({}), registry year {}",
            serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            match person.birth_date.accuracy {
                date::Accuracy::Exact => "exact",
                date::Accuracy::Approximate => "approximate",
                date::Accuracy::Estimated => "estimated",
            },
            record.year
        ),
    });
    if c.family_links > 0 {
        reasons.push(Reason {
            field: Field::Family,
            level: if c.family_links == 1 { "one-relative" } else { "several-relatives" }.into(),
            weight: weights::family(c.family_links),
            detail: format!(
                "{} other member(s) of the unit are candidates for this record's relatives in the registry, related as the camp records them",
                c.family_links
            ),
        });
    }
    if c.kunya {
        reasons.push(Reason {
            field: Field::Kunya,
            level: "child-named".into(),
            weight: weights::kunya(),
            detail: "the kunya names a child this record has in the registry".into(),
        });
    }
    Candidate {
        record_id: index.ids[c.record as usize].clone(),
        score: (c.total * 100.0).round() / 100.0,
        reasons,
    }
}

fn role_of(field: Field) -> Role {
    if field == Field::GivenName {
        Role::Given
    } else {
        Role::Family
    }
}

fn share(frequency: f64) -> String {
    if frequency <= 0.0 {
        return "rare".into();
    }
    format!("1 in {:.0}", 1.0 / frequency)
}
