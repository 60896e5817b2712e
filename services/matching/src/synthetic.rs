//! Synthetic data to measure the matcher with (feature `synthetic`): one
//! state's civil registry extract built around the scenario population, and
//! the camp-side records of the same people, degraded as camps degrade
//! them.
//!
//! # The extract
//! Every scenario person of the state's nationality is in it under an
//! official spelling: the Cyrillic and the Latin name, and the true birth
//! day (a day inside the range the census recorded). The registry links
//! each child to a mother and a father; parents who are not in the camps
//! are added (an orphan's dead parents, a mother's husband at home). Around
//! each unit are the decoys a real registry holds:
//! - **siblings** of the mother and the father, with their parents (same
//!   surname, birth years a few apart);
//! - **cousins**: the family of the father's brother, whose children carry
//!   the camp children's surname and, often, their given names;
//! - **namesakes**: another person with the same given and family name,
//!   born up to six years apart;
//! - a **family with the same surname** and no relation.
//!
//! The rest of the extract, up to the size asked for, is families of
//! synthetic names: compounds of common Kazakh or Uzbek name parts (Nur-,
//! Zhan-, -bek, -gul, ...) written in the three scripts, and the scenario's
//! own names, more common than any compound. No name is a real person's:
//! the parts are common words and the scenario lists already leave out
//! public figures.
//!
//! # The camp side
//! Each scenario unit becomes a `camp.resident.located` unit (through
//! `homeward_census`, so it is valid); for a large census, more units are
//! made of synthetic families (the mother, or the father and the mother,
//! and the children), with the same decoys. Every person is degraded in one
//! [`Degradation`], drawn at random: only the Arabic script, only a kunya,
//! a year for the birth date, a transliteration variant, or the family name
//! first. Apart from that, dates are as the census recorded them (to the
//! day, the month or the year).
//!
//! Everything follows from the seed: the same seed, the same extract.

use std::collections::{BTreeMap, HashSet};

use homeward_census::{
    BirthDate, CampLocation, CaseRef, CountryCode, DateAccuracy, FamilyUnit, Name, PartialDate,
    Person, PersonNames, PersonRef, Relationship, Script, Sex,
};
use homeward_scenario::population::{AGE_REFERENCE, Day, Family, Population, SplitMix64};
use serde_json::Value;

use crate::{OfficialName, RegistryRecord, RegistrySex};

/// How a camp record differs from the registry's, beyond the census's own
/// imprecision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Degradation {
    /// The full name in Arabic script only.
    ArabicOnly,
    /// Only a kunya ("Umm Yusuf"); adults only.
    AliasOnly,
    /// The birth date a year, estimated, and one year off in a quarter of
    /// the cases.
    YearOnly,
    /// A Latin spelling other than the registry's (Zh/J, Kh/H/X, -ov/-off,
    /// -ova/-kyzy, Ye/E, U/Ou, ...).
    Transliteration,
    /// The family name written first.
    SwappedOrder,
}

impl Degradation {
    pub const ALL: [Degradation; 5] = [
        Degradation::ArabicOnly,
        Degradation::AliasOnly,
        Degradation::YearOnly,
        Degradation::Transliteration,
        Degradation::SwappedOrder,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Degradation::ArabicOnly => "arabic-script-only",
            Degradation::AliasOnly => "alias-only",
            Degradation::YearOnly => "year-only",
            Degradation::Transliteration => "transliteration-variant",
            Degradation::SwappedOrder => "swapped-order",
        }
    }
}

/// A child has no kunya: every degradation but that one.
const CHILD_DEGRADATIONS: [Degradation; 4] = [
    Degradation::ArabicOnly,
    Degradation::YearOnly,
    Degradation::Transliteration,
    Degradation::SwappedOrder,
];

/// What to generate.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The state whose registry it is, e.g. `KZ`: its nationals in the
    /// scenario are the camp side.
    pub nationality: &'static str,
    pub seed: u64,
    /// Records in the extract, at least (the scenario's people and their
    /// decoys come first).
    pub extract_records: usize,
    /// People on the camp side, at least: the scenario's, then units of
    /// synthetic families.
    pub camp_people: usize,
}

/// One camp person and the truth about them.
#[derive(Debug, Clone)]
pub struct CampPerson {
    pub person_ref: String,
    /// The registry record that is this person.
    pub record_id: String,
    pub degradation: Degradation,
    /// A person of the scenario population, not of a synthetic family.
    pub scenario: bool,
}

/// One located unit: the `data` of its `camp.resident.located` message.
#[derive(Debug, Clone)]
pub struct CampUnit {
    pub located: Value,
    pub persons: Vec<CampPerson>,
}

/// A state's extract and the camp side.
#[derive(Debug, Clone)]
pub struct SyntheticState {
    pub extract: Vec<RegistryRecord>,
    pub units: Vec<CampUnit>,
}

impl SyntheticState {
    pub fn camp_people(&self) -> usize {
        self.units.iter().map(|u| u.persons.len()).sum()
    }
}

/// The extract and camp side of `plan.nationality` around `population`.
pub fn generate(population: &Population, plan: &Plan) -> SyntheticState {
    let mut world = World::new(population, plan);
    let families: Vec<&Family> = population
        .families
        .iter()
        .filter(|f| f.nationality.as_str() == plan.nationality)
        .collect();
    let mut camp = Vec::new();
    for family in &families {
        camp.push(world.scenario_family(family));
    }
    // Units of synthetic families, each with its decoys like a scenario
    // unit, until the camp side is large enough; then families no one in
    // the camps belongs to.
    let mut camp_people: usize = camp.iter().map(|u: &Unit| u.members.len()).sum();
    let mut serial = 0;
    while camp_people < plan.camp_people {
        let stem = world.stem();
        let household = world.family(stem.clone(), None);
        if household.children.is_empty() {
            continue;
        }
        serial += 1;
        let unit = world.synthetic_unit(&household, serial);
        camp_people += unit.members.len();
        // Her parents carry her maiden name: her own, or another when she
        // took her husband's.
        let own = world.people[household.mother].stem.clone();
        let maiden = if own == stem { world.stem() } else { own };
        world.parents_and_siblings(household.mother, maiden);
        world.parents_and_siblings(household.father, stem);
        let in_camp: Vec<usize> = unit.members.iter().map(|m| m.draft).collect();
        world.decoys(household.father, &household.children, &in_camp);
        camp.push(unit);
    }
    while world.people.len() < plan.extract_records {
        let stem = world.stem();
        world.family(stem, None);
    }
    let ids = world.record_ids();
    let extract = world
        .people
        .iter()
        .enumerate()
        .map(|(i, p)| world.record(i, p, &ids))
        .collect();
    let units = camp.into_iter().map(|u| world.camp_unit(u, &ids)).collect();
    SyntheticState { extract, units }
}

/// One name in the three scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Forms {
    latin: String,
    cyrillic: String,
    arabic: String,
}

impl Forms {
    fn of((latin, cyrillic, arabic): (&str, &str, &str)) -> Self {
        Self {
            latin: latin.into(),
            cyrillic: cyrillic.into(),
            arabic: arabic.into(),
        }
    }

    /// A compound: `Nur` + `bek`.
    fn join(&self, suffix: &Forms) -> Self {
        Self {
            latin: format!("{}{}", self.latin, suffix.latin),
            cyrillic: format!("{}{}", self.cyrillic, suffix.cyrillic),
            arabic: format!("{}{}", self.arabic, suffix.arabic),
        }
    }
}

/// A family-name stem and whether it takes -ev/-eva rather than -ov/-ova.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stem {
    forms: Forms,
    ev: bool,
}

impl Stem {
    fn family_name(&self, male: bool) -> Forms {
        let (latin, cyrillic, arabic) = match (self.ev, male) {
            (false, true) => ("ov", "ов", "وف"),
            (false, false) => ("ova", "ова", "وفا"),
            (true, true) => ("ev", "ев", "يف"),
            (true, false) => ("eva", "ева", "يفا"),
        };
        self.forms.join(&Forms::of((latin, cyrillic, arabic)))
    }
}

/// A person of the registry as generated.
#[derive(Debug, Clone)]
struct Draft {
    given: Forms,
    stem: Stem,
    male: bool,
    born: Day,
    mother: Option<usize>,
    father: Option<usize>,
}

/// A generated family: the parents and their children, by draft index.
#[derive(Debug, Clone)]
struct Household {
    mother: usize,
    father: usize,
    children: Vec<usize>,
}

/// A camp unit before it is written: each member's draft, relationship,
/// recorded date and kunya alias.
#[derive(Debug)]
struct Unit {
    case_ref: CaseRef,
    members: Vec<Member>,
    scenario: bool,
}

#[derive(Debug)]
struct Member {
    draft: usize,
    relationship: Relationship,
    adult: bool,
    date: BirthDate,
    kunya: Option<String>,
}

/// The names the generator draws from.
#[derive(Debug)]
struct Book {
    /// The scenario's names, each drawn as often as all compounds together.
    common_female: Vec<Forms>,
    common_male: Vec<Forms>,
    common_stems: Vec<Stem>,
    female: Vec<Forms>,
    male: Vec<Forms>,
    stems: Vec<Stem>,
    arabic_male: Vec<Forms>,
}

struct World {
    rng: SplitMix64,
    book: Book,
    people: Vec<Draft>,
    nationality: CountryCode,
    prefix: &'static str,
}

fn ymd(day: Day) -> (u16, u8, u8) {
    let (y, m, d) = day.ymd();
    (y as u16, m as u8, d as u8)
}

fn day_of((y, m, d): (u16, u8, u8)) -> Day {
    Day::from_ymd(i32::from(y), u32::from(m), u32::from(d))
}

/// A name from the lists and the scenario, valid by construction.
fn name(script: Script, value: &str) -> Name {
    Name::new(script, value).unwrap_or_else(|e| unreachable!("a generated name: {e}"))
}

impl World {
    fn new(population: &Population, plan: &Plan) -> Self {
        let nationality = CountryCode::parse(plan.nationality)
            .unwrap_or_else(|e| panic!("plan nationality {}: {e}", plan.nationality));
        let book = Book::new(population, plan.nationality);
        Self {
            rng: SplitMix64::new(plan.seed ^ 0x5EED_0F4E_6153_5354),
            book,
            people: Vec::new(),
            nationality,
            prefix: if plan.nationality == "UZ" { "UZ" } else { "KZ" },
        }
    }

    fn push(&mut self, draft: Draft) -> usize {
        self.people.push(draft);
        self.people.len() - 1
    }

    fn given(&mut self, male: bool) -> Forms {
        let common = self.rng.percent(45);
        let list = match (male, common) {
            (true, true) => &self.book.common_male,
            (true, false) => &self.book.male,
            (false, true) => &self.book.common_female,
            (false, false) => &self.book.female,
        };
        self.rng.pick(list).clone()
    }

    fn stem(&mut self) -> Stem {
        let list = if self.rng.percent(20) {
            &self.book.common_stems
        } else {
            &self.book.stems
        };
        self.rng.pick(list).clone()
    }

    fn day_between(&mut self, from: Day, to: Day) -> Day {
        Day::from_number(
            self.rng
                .between(from.number(), to.number().max(from.number())),
        )
    }

    /// A person with a random given name, born `years` (a range) from `day`.
    fn relative(&mut self, stem: Stem, male: bool, around: Day, years: (i32, i32)) -> usize {
        let offset = self.rng.between(years.0 * 365, years.1 * 365);
        let born = Day::from_number(around.number() + offset).min(AGE_REFERENCE);
        let given = self.given(male);
        self.push(Draft {
            given,
            stem,
            male,
            born,
            mother: None,
            father: None,
        })
    }

    /// A couple and their children; `stem` is the father's and the
    /// children's surname. With `children_born`, the children are born on
    /// those days.
    fn family(&mut self, stem: Stem, children_born: Option<&[Day]>) -> Household {
        let mother_born = match children_born.and_then(|c| c.iter().min()) {
            Some(eldest) => {
                Day::from_number(eldest.number() - self.rng.between(18 * 365, 34 * 365))
            }
            None => self.day_between(Day::from_ymd(1945, 1, 1), Day::from_ymd(2001, 12, 31)),
        };
        let mother_stem = if self.rng.percent(50) {
            stem.clone()
        } else {
            self.stem()
        };
        let mother = self.relative(mother_stem, false, mother_born, (0, 0));
        let father = self.relative(stem.clone(), true, mother_born, (-10, 1));
        let births: Vec<Day> = match children_born {
            Some(days) => days.to_vec(),
            None => {
                let count = *self.rng.pick(&[0, 1, 1, 2, 2, 2, 3, 3, 4, 5, 6]);
                let first = Day::from_number(mother_born.number() + 18 * 365);
                let last =
                    Day::from_number((mother_born.number() + 42 * 365).min(AGE_REFERENCE.number()));
                (0..count)
                    .filter(|_| first < last)
                    .map(|_| self.day_between(first, last))
                    .collect()
            }
        };
        let mut children = Vec::new();
        let mut taken: HashSet<String> = HashSet::new();
        for born in births {
            let male = self.rng.percent(50);
            let mut given = self.given(male);
            for _ in 0..5 {
                if taken.insert(given.latin.clone()) {
                    break;
                }
                given = self.given(male);
            }
            children.push(self.push(Draft {
                given,
                stem: stem.clone(),
                male,
                born,
                mother: Some(mother),
                father: Some(father),
            }));
        }
        Household {
            mother,
            father,
            children,
        }
    }

    /// Gives `person` parents in the registry and one to three siblings.
    fn parents_and_siblings(&mut self, person: usize, stem: Stem) {
        let born = self.people[person].born;
        let household = self.family(stem, Some(&[born]));
        // The household's only child stands in for `person`.
        let stand_in = household.children[0];
        self.people[person].mother = Some(household.mother);
        self.people[person].father = Some(household.father);
        self.people.truncate(stand_in);
        for _ in 0..1 + self.rng.below(3) {
            let male = self.rng.percent(50);
            let stem = self.people[household.father].stem.clone();
            let sibling = self.relative(stem, male, born, (-8, 8));
            self.people[sibling].mother = Some(household.mother);
            self.people[sibling].father = Some(household.father);
        }
    }

    /// The scenario unit's people in the registry, with their decoys, and
    /// the unit as the camp records it.
    fn scenario_family(&mut self, family: &Family) -> Unit {
        let mut members = Vec::new();
        let mut drafts = Vec::new();
        for returnee in &family.persons {
            let record = &returnee.record;
            let (earliest, latest) = (
                record.birth_date.date.earliest(),
                record.birth_date.date.latest(),
            );
            let born = self.day_between(day_of(earliest), day_of(latest));
            let (given, stem) = split(&record.names, record.sex == Sex::Male);
            let draft = self.push(Draft {
                given,
                stem,
                male: record.sex == Sex::Male,
                born,
                mother: None,
                father: None,
            });
            drafts.push(draft);
            let kunya = record
                .names
                .aliases()
                .iter()
                .map(|a| a.as_str())
                .find(|a| a.starts_with("Umm ") || a.starts_with("Abu "))
                .map(str::to_owned);
            members.push(Member {
                draft,
                relationship: record.relationship,
                adult: !returnee.child,
                date: record.birth_date,
                kunya,
            });
        }
        let at = |pred: &dyn Fn(&Member, &Draft) -> bool, people: &[Draft]| {
            members
                .iter()
                .find(|m| pred(m, &people[m.draft]))
                .map(|m| m.draft)
        };
        let grand = members
            .iter()
            .any(|m| m.relationship == Relationship::Grandchild);
        let mother = if grand {
            at(
                &|m, d| m.relationship == Relationship::Child && m.adult && !d.male,
                &self.people,
            )
        } else {
            at(
                &|m, d| {
                    matches!(m.relationship, Relationship::Head | Relationship::Spouse)
                        && m.adult
                        && !d.male
                },
                &self.people,
            )
        };
        let father = at(
            &|m, d| m.relationship == Relationship::Head && m.adult && d.male,
            &self.people,
        );
        let children: Vec<usize> = members
            .iter()
            .filter(|m| match (grand, mother) {
                (true, _) => m.relationship == Relationship::Grandchild,
                (false, Some(_)) => m.relationship == Relationship::Child,
                (false, None) => true,
            })
            .map(|m| m.draft)
            .collect();
        let children_stem = match children.first() {
            Some(&c) => self.people[c].stem.clone(),
            None => self.stem(),
        };
        let eldest = children
            .iter()
            .map(|&c| self.people[c].born)
            .min()
            .unwrap_or(AGE_REFERENCE);
        let mother = match mother {
            Some(m) => m,
            None => self.relative(children_stem.clone(), false, eldest, (-34, -18)),
        };
        let father = match father {
            Some(f) => f,
            None => {
                let born = self.people[mother].born;
                self.relative(children_stem.clone(), true, born, (-10, 1))
            }
        };
        for &c in &children {
            self.people[c].mother = Some(mother);
            self.people[c].father = Some(father);
        }
        if grand
            && let Some(grandmother) =
                at(&|m, _| m.relationship == Relationship::Head, &self.people)
        {
            // The adult daughter's parents: the head and a grandfather
            // whose surname she carries.
            let stem = self.people[mother].stem.clone();
            let born = self.people[grandmother].born;
            let grandfather = self.relative(stem, true, born, (-8, 1));
            self.people[mother].mother = Some(grandmother);
            self.people[mother].father = Some(grandfather);
        } else {
            let stem = if self.rng.percent(50) {
                self.people[mother].stem.clone()
            } else {
                self.stem()
            };
            self.parents_and_siblings(mother, stem);
        }
        self.parents_and_siblings(father, children_stem.clone());
        self.decoys(father, &children, &drafts);
        Unit {
            case_ref: family.family_ref.clone(),
            members,
            scenario: true,
        }
    }

    /// Cousins, namesakes and a family with the same surname.
    fn decoys(&mut self, father: usize, children: &[usize], camp: &[usize]) {
        let stem = self.people[father].stem.clone();
        // The father's brother's family: the same grandparents, the same
        // surname, and often the same given names as the camp children.
        let births: Vec<Day> = children.iter().map(|&c| self.people[c].born).collect();
        let cousins = self.family(stem.clone(), Some(&births));
        let uncle = cousins.father;
        self.people[uncle].mother = self.people[father].mother;
        self.people[uncle].father = self.people[father].father;
        for (&cousin, &child) in cousins.children.iter().zip(children) {
            let shift = self.rng.between(-3 * 365, 3 * 365);
            self.people[cousin].born =
                Day::from_number(self.people[child].born.number() + shift).min(AGE_REFERENCE);
            if self.rng.percent(40) {
                self.people[cousin].given = self.people[child].given.clone();
                self.people[cousin].male = self.people[child].male;
            }
        }
        for &person in camp {
            if self.rng.percent(60) {
                let p = self.people[person].clone();
                let namesake = self.relative(p.stem, p.male, p.born, (-6, 6));
                self.people[namesake].given = p.given;
            }
        }
        self.family(stem, None);
    }

    /// A camp unit from a synthetic family: the mother at its head (or the
    /// father, with the mother as his spouse) and the children.
    fn synthetic_unit(&mut self, household: &Household, serial: u32) -> Unit {
        let case_ref = CaseRef::parse(&format!("SYN-{:06}", serial))
            .unwrap_or_else(|e| unreachable!("a well-formed reference: {e}"));
        let with_father = self.rng.percent(20);
        let eldest_son = household
            .children
            .iter()
            .copied()
            .filter(|&c| self.people[c].male)
            .min_by_key(|&c| self.people[c].born);
        let mut members = Vec::new();
        let mut parents = vec![(household.mother, false)];
        if with_father {
            parents.insert(0, (household.father, true));
        }
        for (i, (draft, male)) in parents.into_iter().enumerate() {
            let relationship = if i == 0 {
                Relationship::Head
            } else {
                Relationship::Spouse
            };
            let kunya = self.rng.percent(if male { 60 } else { 45 }).then(|| {
                let son = match eldest_son {
                    Some(s) => self.people[s].given.latin.clone(),
                    None => self.rng.pick(&self.book.arabic_male).latin.clone(),
                };
                format!("{} {son}", if male { "Abu" } else { "Umm" })
            });
            let date = self.recorded(self.people[draft].born, false);
            members.push(Member {
                draft,
                relationship,
                adult: true,
                date,
                kunya,
            });
        }
        for &child in household.children.iter().take(FamilyUnit::MAX_MEMBERS - 2) {
            let born = self.people[child].born;
            let adult = born.age_on(AGE_REFERENCE) >= 18;
            let date = self.recorded(born, !adult);
            members.push(Member {
                draft: child,
                relationship: Relationship::Child,
                adult,
                date,
                kunya: None,
            });
        }
        Unit {
            case_ref,
            members,
            scenario: false,
        }
    }

    /// A birth date as a camp records it, in the scenario's proportions:
    /// to the day, the month or the year.
    fn recorded(&mut self, born: Day, child: bool) -> BirthDate {
        let (y, m, d) = ymd(born);
        let roll = self.rng.below(100);
        let day = if child { 35 } else { 45 };
        let month = day + if child { 25 } else { 20 };
        let (date, accuracy) = if roll < day {
            let accuracy = if self.rng.percent(60) {
                DateAccuracy::Exact
            } else {
                DateAccuracy::Approximate
            };
            (PartialDate::full(y, m, d), accuracy)
        } else if roll < month {
            (PartialDate::year_month(y, m), DateAccuracy::Approximate)
        } else {
            (PartialDate::year(y), DateAccuracy::Estimated)
        };
        BirthDate {
            date: date.unwrap_or_else(|e| unreachable!("a calendar day: {e}")),
            accuracy,
        }
    }

    /// Registry ids in random order, so that an id says nothing of who is
    /// in the camps.
    fn record_ids(&mut self) -> Vec<String> {
        let mut numbers: Vec<usize> = (1..=self.people.len()).collect();
        self.rng.shuffle(&mut numbers);
        numbers
            .into_iter()
            .map(|n| format!("{}-{n:08}", self.prefix))
            .collect()
    }

    fn record(&self, i: usize, draft: &Draft, ids: &[String]) -> RegistryRecord {
        let family = draft.stem.family_name(draft.male);
        let (y, m, d) = draft.born.ymd();
        RegistryRecord {
            record_id: ids[i].clone(),
            names: vec![
                OfficialName {
                    given: draft.given.cyrillic.clone(),
                    family: family.cyrillic,
                    patronymic: None,
                },
                OfficialName {
                    given: draft.given.latin.clone(),
                    family: family.latin,
                    patronymic: None,
                },
            ],
            sex: if draft.male {
                RegistrySex::Male
            } else {
                RegistrySex::Female
            },
            birth_date: format!("{y:04}-{m:02}-{d:02}"),
            mother: draft.mother.map(|p| ids[p].clone()),
            father: draft.father.map(|p| ids[p].clone()),
        }
    }

    /// The unit as the camp writes it, each person degraded one way.
    fn camp_unit(&mut self, unit: Unit, ids: &[String]) -> CampUnit {
        let eldest = |people: &[Draft], male: bool| {
            unit.members
                .iter()
                .filter(|m| {
                    matches!(
                        m.relationship,
                        Relationship::Child | Relationship::Grandchild
                    ) && (people[m.draft].male || !male)
                })
                .min_by_key(|m| people[m.draft].born)
                .map(|m| people[m.draft].given.latin.clone())
        };
        let son = eldest(&self.people, true).or_else(|| eldest(&self.people, false));
        let mut persons = Vec::new();
        let mut census = Vec::new();
        for (i, member) in unit.members.iter().enumerate() {
            let kinds: &[Degradation] = if member.adult {
                &Degradation::ALL
            } else {
                &CHILD_DEGRADATIONS
            };
            let mut degradation = *self.rng.pick(kinds);
            // Only a parent is known by a kunya alone.
            if degradation == Degradation::AliasOnly
                && member.kunya.is_none()
                && !matches!(
                    member.relationship,
                    Relationship::Head | Relationship::Spouse
                )
            {
                degradation = Degradation::ArabicOnly;
            }
            let person_ref = PersonRef::member_of(&unit.case_ref, i as u8 + 1)
                .unwrap_or_else(|e| unreachable!("a unit has at most 30 members: {e}"));
            let draft = self.people[member.draft].clone();
            let kunya = member.kunya.clone().or_else(|| {
                let prefix = if draft.male { "Abu" } else { "Umm" };
                son.as_ref().map(|s| format!("{prefix} {s}"))
            });
            let names = self.degraded_names(
                &draft,
                degradation,
                member.kunya.as_deref(),
                kunya.as_deref(),
            );
            let birth_date = if degradation == Degradation::YearOnly {
                let (y, _, _) = ymd(draft.born);
                let off = if self.rng.percent(25) {
                    *self.rng.pick(&[-1i32, 1])
                } else {
                    0
                };
                BirthDate {
                    date: PartialDate::year((i32::from(y) + off) as u16)
                        .unwrap_or_else(|e| unreachable!("a year in range: {e}")),
                    accuracy: DateAccuracy::Estimated,
                }
            } else {
                member.date
            };
            census.push(Person {
                person_ref: person_ref.clone(),
                relationship: member.relationship,
                names,
                sex: if draft.male { Sex::Male } else { Sex::Female },
                birth_date,
                birthplace_country: None,
                vulnerability: Default::default(),
            });
            persons.push(CampPerson {
                person_ref: person_ref.as_str().to_owned(),
                record_id: ids[member.draft].clone(),
                degradation,
                scenario: unit.scenario,
            });
        }
        let location = CampLocation::new("al-Hol", Some("annex"), None, None)
            .unwrap_or_else(|e| unreachable!("a listed place: {e}"));
        let located = FamilyUnit::new(unit.case_ref, self.nationality, location, census)
            .unwrap_or_else(|e| unreachable!("a unit of the generator: {e}"))
            .located_data();
        CampUnit { located, persons }
    }

    fn degraded_names(
        &mut self,
        draft: &Draft,
        degradation: Degradation,
        alias: Option<&str>,
        kunya: Option<&str>,
    ) -> PersonNames {
        let family = draft.stem.family_name(draft.male);
        let latin = format!("{} {}", draft.given.latin, family.latin);
        let aliases = |a: Option<&str>| {
            a.map(|a| name(Script::Latin, a))
                .into_iter()
                .collect::<Vec<_>>()
        };
        let (latin, cyrillic, arabic, extra) = match degradation {
            Degradation::ArabicOnly => (
                None,
                None,
                Some(name(
                    Script::Arabic,
                    &format!("{} {}", draft.given.arabic, family.arabic),
                )),
                aliases(alias),
            ),
            Degradation::AliasOnly => (
                Some(name(Script::Latin, kunya.unwrap_or("Umm Abdullah"))),
                None,
                None,
                Vec::new(),
            ),
            Degradation::YearOnly => (
                Some(name(Script::Latin, &latin)),
                None,
                None,
                aliases(alias),
            ),
            Degradation::Transliteration => {
                let variant = transliteration_variant(&latin, &mut self.rng);
                (
                    Some(name(Script::Latin, &variant)),
                    None,
                    None,
                    aliases(alias),
                )
            }
            Degradation::SwappedOrder => {
                if self.rng.percent(30) {
                    let swapped = format!("{} {}", family.cyrillic, draft.given.cyrillic);
                    (
                        None,
                        Some(name(Script::Cyrillic, &swapped)),
                        None,
                        aliases(alias),
                    )
                } else {
                    let swapped = format!("{} {}", family.latin, draft.given.latin);
                    (
                        Some(name(Script::Latin, &swapped)),
                        None,
                        None,
                        aliases(alias),
                    )
                }
            }
        };
        PersonNames::new(latin, cyrillic, arabic, extra)
            .unwrap_or_else(|e| unreachable!("generated names: {e}"))
    }
}

/// A Latin spelling of `latin` other than it, as other transliteration
/// conventions (Russian passports, French, Uzbek and Turkmen Latin,
/// Kazakh -uly/-kyzy) write it.
pub fn transliteration_variant(latin: &str, rng: &mut SplitMix64) -> String {
    const RULES: [(&str, &str); 18] = [
        ("zh", "j"),
        ("kh", "h"),
        ("kh", "x"),
        ("x", "kh"),
        ("ya", "ia"),
        ("yu", "iu"),
        ("u", "ou"),
        ("q", "k"),
        ("gh", "g"),
        ("oʻ", "o"),
        ("gʻ", "g"),
        ("y", "i"),
        ("ai", "ay"),
        ("dzh", "j"),
        ("j", "dj"),
        ("e", "ye"),
        ("k", "q"),
        ("i", "y"),
    ];
    let words: Vec<String> = latin.split(' ').map(str::to_lowercase).collect();
    for _ in 0..20 {
        let mut out = words.clone();
        let changes = 1 + rng.below(2);
        for _ in 0..changes {
            let w = rng.below(out.len());
            let last = w + 1 == out.len();
            let word = &mut out[w];
            match rng.below(4) {
                // Family-name endings.
                0 if last => {
                    let endings: [(&str, &str); 6] = [
                        ("ova", "owa"),
                        ("eva", "ewa"),
                        ("ov", "off"),
                        ("ev", "eff"),
                        ("ova", "kyzy"),
                        ("ov", "uly"),
                    ];
                    let (from, to) = *rng.pick(&endings);
                    if let Some(stem) = word.strip_suffix(from) {
                        *word = format!("{stem}{to}");
                    }
                }
                // The first letter: Ye/E.
                1 if word.starts_with("ye") => *word = word[1..].to_owned(),
                _ => {
                    let (from, to) = *rng.pick(&RULES);
                    let hits: Vec<usize> = word.match_indices(from).map(|(i, _)| i).collect();
                    if !hits.is_empty() {
                        let at = *rng.pick(&hits);
                        word.replace_range(at..at + from.len(), to);
                    }
                }
            }
        }
        if out != words {
            return out
                .iter()
                .map(|w| capitalised(w))
                .collect::<Vec<_>>()
                .join(" ");
        }
    }
    // No rule found a letter to change: a final h, as in Aishah for Aisha.
    let mut out = words;
    out[0] = format!("{}h", out[0]);
    out.iter()
        .map(|w| capitalised(w))
        .collect::<Vec<_>>()
        .join(" ")
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The given name and the family stem of a census person, from their
/// recorded names (`Given Family` in each script; an Arabic given name may
/// be two words, "عبد الله").
fn split(names: &PersonNames, male: bool) -> (Forms, Stem) {
    let parts = |n: Option<&Name>| {
        let value = n.map_or("", |n| n.as_str());
        match value.rsplit_once(' ') {
            Some((given, family)) => (given.to_owned(), family.to_owned()),
            None => (value.to_owned(), String::new()),
        }
    };
    let (gl, fl) = parts(names.latin());
    let (gc, fc) = parts(names.cyrillic());
    let (ga, fa) = parts(names.arabic());
    let given = Forms {
        latin: gl,
        cyrillic: gc,
        arabic: ga,
    };
    let strip = |value: &str, endings: [&str; 2]| -> (String, bool) {
        for (i, ending) in endings.iter().enumerate() {
            if let Some(stem) = value.strip_suffix(ending) {
                return (stem.to_owned(), i == 1);
            }
        }
        (value.to_owned(), false)
    };
    let (l, c, a) = if male {
        (["ov", "ev"], ["ов", "ев"], ["وف", "يف"])
    } else {
        (["ova", "eva"], ["ова", "ева"], ["وفا", "يفا"])
    };
    let (latin, ev) = strip(&fl, l);
    let stem = Stem {
        forms: Forms {
            latin,
            cyrillic: strip(&fc, c).0,
            arabic: strip(&fa, a).0,
        },
        ev,
    };
    (given, stem)
}

impl Book {
    fn new(population: &Population, nationality: &str) -> Self {
        let mut common_female = Vec::new();
        let mut common_male = Vec::new();
        let mut common_stems = Vec::new();
        // The names kunyas are made of: the scenario's Arabic given names
        // and its eldest sons'.
        let mut kunya_names = HashSet::new();
        let mut male_names = Vec::new();
        for (family, returnee) in population.returnees() {
            let record = &returnee.record;
            for alias in record.names.aliases() {
                if let Some(son) = alias
                    .as_str()
                    .strip_prefix("Umm ")
                    .or_else(|| alias.as_str().strip_prefix("Abu "))
                {
                    kunya_names.insert(son.to_owned());
                }
            }
            let male = record.sex == Sex::Male;
            let (given, stem) = split(&record.names, male);
            if male && !male_names.contains(&given) {
                male_names.push(given.clone());
            }
            if family.nationality.as_str() != nationality {
                continue;
            }
            if !common_stems.contains(&stem) {
                common_stems.push(stem);
            }
            let list = if male {
                &mut common_male
            } else {
                &mut common_female
            };
            if !list.contains(&given) {
                list.push(given);
            }
        }
        let mut arabic_male: Vec<Forms> = male_names
            .into_iter()
            .filter(|g| kunya_names.contains(&g.latin))
            .collect();
        let parts = if nationality == "UZ" { &UZBEK } else { &KAZAKH };
        let forms =
            |list: &[(&str, &str, &str)]| list.iter().map(|&f| Forms::of(f)).collect::<Vec<_>>();
        let prefixes = forms(parts.prefixes);
        let compound = |suffixes: &[(&str, &str, &str)]| {
            let suffixes = forms(suffixes);
            prefixes
                .iter()
                .flat_map(|p| suffixes.iter().map(move |s| p.join(s)))
                .collect::<Vec<_>>()
        };
        let stems = compound(parts.stem_suffixes)
            .into_iter()
            .map(|forms| {
                let ev = forms.latin.ends_with(['a', 'e', 'i', 'o', 'u', 'y']);
                Stem { forms, ev }
            })
            .collect();
        if arabic_male.is_empty() {
            arabic_male.push(Forms::of(("Yusuf", "Юсуф", "يوسف")));
        }
        Self {
            common_female,
            common_male,
            common_stems,
            female: compound(parts.female_suffixes),
            male: compound(parts.male_suffixes),
            stems,
            arabic_male,
        }
    }
}

/// Name parts of one language, each in Latin, Cyrillic and Arabic script.
struct Parts {
    prefixes: &'static [(&'static str, &'static str, &'static str)],
    stem_suffixes: &'static [(&'static str, &'static str, &'static str)],
    male_suffixes: &'static [(&'static str, &'static str, &'static str)],
    female_suffixes: &'static [(&'static str, &'static str, &'static str)],
}

const KAZAKH: Parts = Parts {
    prefixes: &[
        ("Nur", "Нұр", "نور"),
        ("Zhan", "Жан", "جان"),
        ("Ak", "Ақ", "اق"),
        ("Kara", "Қара", "قارا"),
        ("Sary", "Сары", "ساري"),
        ("Bay", "Бай", "باي"),
        ("Yes", "Ес", "يس"),
        ("Tas", "Тас", "تاس"),
        ("Kul", "Құл", "قول"),
        ("Yer", "Ер", "ير"),
        ("Alma", "Алма", "الما"),
        ("Aman", "Аман", "امان"),
        ("Mukhtar", "Мұхтар", "مختار"),
        ("Sultan", "Сұлтан", "سلطان"),
        ("Kaisar", "Қайсар", "قيصر"),
        ("Temir", "Темір", "تيمير"),
        ("Altyn", "Алтын", "التين"),
        ("Kozha", "Қожа", "قوجا"),
        ("Tole", "Төле", "توله"),
        ("Zhaksy", "Жақсы", "جاقسي"),
        ("Kydyr", "Қыдыр", "قيدير"),
        ("Dos", "Дос", "دوس"),
        ("Ospan", "Оспан", "وسپان"),
        ("Zhuma", "Жұма", "جما"),
        ("Seit", "Сейіт", "سيت"),
        ("Oraz", "Ораз", "وراز"),
        ("Bol", "Бол", "بول"),
        ("Tur", "Тұр", "تور"),
        ("Ayt", "Айт", "ايت"),
        ("Myrza", "Мырза", "ميرزا"),
        ("Kos", "Қос", "قوس"),
        ("Shal", "Шал", "شال"),
        ("Yel", "Ел", "يل"),
        ("Ual", "Уәл", "ۋال"),
        ("Islam", "Ислам", "اسلام"),
        ("Sagyn", "Сағын", "ساعين"),
    ],
    stem_suffixes: &[
        ("bek", "бек", "بيك"),
        ("bay", "бай", "باي"),
        ("gali", "ғали", "غالي"),
        ("khan", "хан", "خان"),
        ("tay", "тай", "تاي"),
        ("bolat", "болат", "بولات"),
        ("murat", "мұрат", "مرات"),
        ("gazy", "ғазы", "غازي"),
        ("kul", "құл", "قول"),
        ("bergen", "берген", "بيرگين"),
        ("niyaz", "нияз", "نياز"),
        ("tay", "тай", "تاي"),
        ("zhar", "жар", "جار"),
        ("baty", "баты", "باتي"),
        ("sart", "сарт", "سارت"),
    ],
    male_suffixes: &[
        ("lan", "лан", "لان"),
        ("bek", "бек", "بيك"),
        ("zhan", "жан", "جان"),
        ("bol", "бол", "بول"),
        ("murat", "мұрат", "مرات"),
        ("tay", "тай", "تاي"),
        ("gali", "ғали", "غالي"),
        ("bolat", "болат", "بولات"),
    ],
    female_suffixes: &[
        ("gul", "гүл", "گل"),
        ("ay", "ай", "اي"),
        ("zhan", "жан", "جان"),
        ("sulu", "сұлу", "سولو"),
        ("nur", "нұр", "نور"),
        ("kumis", "күміс", "كوميس"),
        ("shash", "шаш", "شاش"),
    ],
};

const UZBEK: Parts = Parts {
    prefixes: &[
        ("Abdu", "Абду", "عبدو"),
        ("Nur", "Нур", "نور"),
        ("Sher", "Шер", "شير"),
        ("Dil", "Дил", "دل"),
        ("Gul", "Гул", "گل"),
        ("Bek", "Бек", "بيك"),
        ("Xol", "Хол", "خول"),
        ("Qod", "Қод", "قاد"),
        ("Ras", "Рас", "راس"),
        ("Sayf", "Сайф", "سيف"),
        ("Mir", "Мир", "مير"),
        ("Gʻafur", "Ғафур", "غفور"),
        ("Oʻtkir", "Ўткир", "اوتكير"),
        ("Shukur", "Шукур", "شكور"),
        ("Karim", "Карим", "كريم"),
        ("Yoʻldosh", "Йўлдош", "يولداش"),
        ("Tosh", "Тош", "تاش"),
        ("Eshon", "Эшон", "ايشان"),
        ("Jum", "Жум", "جم"),
        ("Olim", "Олим", "عالم"),
        ("Hamro", "Ҳамро", "همرا"),
        ("Nor", "Нор", "نار"),
        ("Suyun", "Суюн", "سويون"),
        ("Toʻra", "Тўра", "تورا"),
        ("Xudoy", "Худой", "خداي"),
        ("Shoh", "Шоҳ", "شاه"),
        ("Ergash", "Эргаш", "ارگاش"),
        ("Sodiq", "Содиқ", "صادق"),
        ("Zokir", "Зокир", "ذاكر"),
        ("Boy", "Бой", "باي"),
        ("Oy", "Ой", "اي"),
        ("Mavlon", "Мавлон", "مولان"),
    ],
    stem_suffixes: &[
        ("jon", "жон", "جان"),
        ("boy", "бой", "باي"),
        ("qul", "қул", "قول"),
        ("mat", "мат", "مت"),
        ("berdi", "берди", "بردي"),
        ("murod", "мурод", "مراد"),
        ("nazar", "назар", "نظر"),
        ("xon", "хон", "خان"),
        ("bek", "бек", "بيك"),
        ("mirza", "мирза", "ميرزا"),
        ("quli", "қули", "قلي"),
        ("yor", "ёр", "يار"),
        ("sharif", "шариф", "شريف"),
        ("toy", "той", "تاي"),
    ],
    male_suffixes: &[
        ("bek", "бек", "بيك"),
        ("jon", "жон", "جان"),
        ("murod", "мурод", "مراد"),
        ("mat", "мат", "مت"),
        ("ali", "али", "علي"),
        ("boy", "бой", "باي"),
        ("qul", "қул", "قول"),
    ],
    female_suffixes: &[
        ("oy", "ой", "اي"),
        ("gul", "гул", "گل"),
        ("xon", "хон", "خان"),
        ("niso", "нисо", "نسا"),
        ("bonu", "бону", "بانو"),
        ("noza", "ноза", "نازا"),
    ],
};

/// Recall and precision over some camp people.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub people: usize,
    /// The right record is the first candidate.
    pub right_first: usize,
    /// The right record is among the first five.
    pub right_in_five: usize,
    /// People with at least one candidate.
    pub with_candidates: usize,
    /// The right record's score for each person; `None` when it is not a
    /// candidate.
    pub right_scores: Vec<Option<f64>>,
    /// The scores of the wrong candidates, of every person.
    pub wrong_scores: Vec<f64>,
}

impl Figures {
    fn add(
        &mut self,
        right: Option<(usize, f64)>,
        candidates: &[crate::Candidate],
        record_id: &str,
    ) {
        self.people += 1;
        self.right_first += usize::from(right.is_some_and(|(rank, _)| rank == 0));
        self.right_in_five += usize::from(right.is_some_and(|(rank, _)| rank < 5));
        self.with_candidates += usize::from(!candidates.is_empty());
        self.right_scores.push(right.map(|(_, score)| score));
        self.wrong_scores.extend(
            candidates
                .iter()
                .filter(|c| c.record_id != record_id)
                .map(|c| c.score),
        );
    }

    fn merge(&mut self, other: &Figures) {
        self.people += other.people;
        self.right_first += other.right_first;
        self.right_in_five += other.right_in_five;
        self.with_candidates += other.with_candidates;
        self.right_scores.extend_from_slice(&other.right_scores);
        self.wrong_scores.extend_from_slice(&other.wrong_scores);
    }

    fn share(count: usize, of: usize) -> f64 {
        if of == 0 {
            0.0
        } else {
            count as f64 / of as f64
        }
    }

    pub fn recall_at_1(&self) -> f64 {
        Self::share(self.right_first, self.people)
    }

    pub fn recall_at_5(&self) -> f64 {
        Self::share(self.right_in_five, self.people)
    }

    /// Of the people with a first candidate, the share whose first
    /// candidate is right.
    pub fn precision_at_1(&self) -> f64 {
        Self::share(self.right_first, self.with_candidates)
    }

    /// The highest score such that 99 % of the people have their right
    /// record among the candidates scoring at least that; `None` when
    /// more than 1 % have it nowhere among the candidates.
    pub fn threshold_for_99_recall(&self) -> Option<f64> {
        let mut scores: Vec<f64> = self
            .right_scores
            .iter()
            .map(|s| s.unwrap_or(f64::NEG_INFINITY))
            .collect();
        if scores.is_empty() {
            return None;
        }
        scores.sort_by(|a, b| b.total_cmp(a));
        let needed = (self.people * 99).div_ceil(100).max(1);
        let threshold = scores[needed - 1];
        threshold.is_finite().then_some(threshold)
    }

    /// Wrong candidates per person at or above a score.
    pub fn wrong_per_person_above(&self, threshold: f64) -> f64 {
        let wrong = self
            .wrong_scores
            .iter()
            .filter(|&&s| s >= threshold)
            .count();
        Self::share(wrong, self.people)
    }
}

/// The figures overall and by degradation.
#[derive(Debug, Clone, Default)]
pub struct Quality {
    pub overall: Figures,
    pub by_degradation: BTreeMap<Degradation, Figures>,
}

/// Matches every unit, on `threads` threads, and measures where the right
/// record ranks.
pub fn measure(matcher: &crate::Matcher, units: &[CampUnit], threads: usize) -> Quality {
    let threads = threads.max(1);
    let chunk = units.len().div_ceil(threads).max(1);
    let parts: Vec<Quality> = std::thread::scope(|scope| {
        let handles: Vec<_> = units
            .chunks(chunk)
            .map(|units| {
                scope.spawn(move || {
                    let mut session = matcher.session();
                    let mut quality = Quality::default();
                    for unit in units {
                        let found = session
                            .candidates(&unit.located)
                            .unwrap_or_else(|e| panic!("a generated unit is readable: {e}"));
                        for (person, candidates) in unit.persons.iter().zip(&found) {
                            let right = candidates
                                .candidates
                                .iter()
                                .position(|c| c.record_id == person.record_id)
                                .map(|rank| (rank, candidates.candidates[rank].score));
                            for figures in [
                                &mut quality.overall,
                                quality
                                    .by_degradation
                                    .entry(person.degradation)
                                    .or_default(),
                            ] {
                                figures.add(right, &candidates.candidates, &person.record_id);
                            }
                        }
                    }
                    quality
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| panic!("a matching thread panicked"))
            })
            .collect()
    });
    let mut out = Quality::default();
    for part in &parts {
        out.overall.merge(&part.overall);
        for (kind, figures) in &part.by_degradation {
            out.by_degradation.entry(*kind).or_default().merge(figures);
        }
    }
    out
}
