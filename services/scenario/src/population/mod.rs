//! The synthetic population of the scenario: deterministic from a seed.
//!
//! Each round of each operation is generated from a fixed plan — how many
//! fathers, mothers, grandmothers, adult sons, children, orphans and
//! under-sixes it carries, and how many of its adults security detains —
//! taken from public reporting (DESIGN.md, "Facts"). The seed decides
//! everything else: who is grouped with whom, names, ages, camps, births in
//! Syria, vulnerability flags and which adults are detained. So any seed gives
//! the reported figures exactly, and the same seed gives the same people
//! byte for byte, on any machine and with any dependency version (the
//! generator is [`SplitMix64`], written out here).
//!
//! Ages are taken on [`AGE_REFERENCE`] (1 May 2019, between the rounds).
//! Birth dates are recorded as a camp would (to the year, the month or the
//! day, exact, approximate or estimated), but never so vaguely that whether
//! a person is a child, or under six, depends on how the date is read: a
//! service computing ages from the census gets the same counts as the
//! generator.

mod calendar;
mod names;
mod rng;

use std::collections::BTreeSet;

use homeward_census::{
    BirthDate, CampLocation, CaseRef, CountryCode, DateAccuracy, FamilyUnit, Name, PartialDate,
    Person, PersonNames, PersonRef, Relationship, Script, Sex, Vulnerability,
};

pub use calendar::Day;
pub use rng::SplitMix64;

use names::{ARABIC, Forms, KAZAKH, NameBook, Stem, UZBEK};

/// Kazakhstan's operation Zhusan, three rounds.
pub const ZHUSAN: &str = "KZ-ZHUSAN-2019";
/// Uzbekistan's operation Mehr-1, one round.
pub const MEHR: &str = "UZ-MEHR-2019";
/// Tajikistan's flight, which carried one Kazakh family home in transit.
pub const TAJIK_FLIGHT: &str = "TJ-2019";

/// The day ages are taken on: who is a child, who is under six.
pub const AGE_REFERENCE: Day = Day::from_ymd(2019, 5, 1);
/// A person under this age on [`AGE_REFERENCE`] is a child.
pub const ADULT_AGE: i32 = 18;
/// The age the "under six" figure counts below.
pub const SMALL_CHILD_AGE: i32 = 6;

/// What security screening will decide for a returnee in the replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Screening {
    Cleared,
    Detained,
}

impl Screening {
    /// The outcome code of `security.screening.completed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Screening::Cleared => "cleared",
            Screening::Detained => "detained",
        }
    }
}

/// The youngest and oldest full age on `on` that a recorded birth date
/// allows.
pub fn age_range(date: &PartialDate, on: Day) -> (i32, i32) {
    let day = |(y, m, d): (u16, u8, u8)| Day::from_ymd(i32::from(y), u32::from(m), u32::from(d));
    (
        day(date.latest()).age_on(on),
        day(date.earliest()).age_on(on),
    )
}

/// One person of the population: the census record, and what the replay
/// will do with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Returnee {
    /// The person as the camp's census records them.
    pub record: Person,
    /// Under 18 on [`AGE_REFERENCE`].
    pub child: bool,
    /// A child whose parents are both dead; orphans live in units of
    /// siblings with no adult.
    pub orphan: bool,
    /// The screening outcome the replay records.
    pub screening: Screening,
    /// A child born in Syria, who has no papers of the home state and is
    /// issued a passport.
    pub needs_passport: bool,
}

impl Returnee {
    pub fn person_ref(&self) -> &PersonRef {
        &self.record.person_ref
    }

    /// An adult woman.
    pub fn is_woman(&self) -> bool {
        !self.child && self.record.sex == Sex::Female
    }

    /// An adult man.
    pub fn is_man(&self) -> bool {
        !self.child && self.record.sex == Sex::Male
    }

    /// A child under six on [`AGE_REFERENCE`], from the recorded birth date.
    pub fn is_under_six(&self) -> bool {
        age_range(&self.record.birth_date.date, AGE_REFERENCE).1 < SMALL_CHILD_AGE
    }

    pub fn born_in_syria(&self) -> bool {
        self.record
            .birthplace_country
            .is_some_and(|c| c.as_str() == "SY")
    }
}

/// One family unit of the population, with the operation that brings it
/// home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// The operation, e.g. `KZ-ZHUSAN-2019`; for a transit, the carrier's.
    pub operation_id: String,
    /// The round (flight) of the operation, from 1.
    pub round: u8,
    /// The nationality the unit claims (and is verified to hold).
    pub nationality: CountryCode,
    /// The state whose flight carries the unit, when it is not the unit's
    /// own: the unit travels in transit.
    pub transit_carrier: Option<CountryCode>,
    pub family_ref: CaseRef,
    pub camp_location: CampLocation,
    /// The head first.
    pub persons: Vec<Returnee>,
}

impl Family {
    pub fn head(&self) -> &Returnee {
        &self.persons[0]
    }

    /// The unit as the camp's census holds it.
    pub fn census_unit(&self) -> FamilyUnit {
        FamilyUnit::new(
            self.family_ref.clone(),
            self.nationality,
            self.camp_location.clone(),
            self.persons.iter().map(|p| p.record.clone()).collect(),
        )
        .unwrap_or_else(|e| unreachable!("the generator builds only valid units: {e}"))
    }
}

/// Counts over part of the population.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    pub families: usize,
    pub people: usize,
    pub children: usize,
    pub children_under_six: usize,
    pub orphans: usize,
    pub women: usize,
    pub men: usize,
    pub detained: usize,
    pub detained_women: usize,
    pub detained_men: usize,
    pub children_born_in_syria: usize,
    pub passports_needed: usize,
}

/// Everyone in the scenario, by family unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Population {
    pub seed: u64,
    pub families: Vec<Family>,
}

impl Population {
    /// The population of this seed: the same seed, the same people.
    pub fn generate(seed: u64) -> Self {
        let mut generator = Generator::new(seed);
        for plan in &PLANS {
            generator.round(plan);
        }
        Self {
            seed,
            families: generator.families,
        }
    }

    /// Every family unit as the camp's census holds it, for the camp
    /// registry to import.
    pub fn census(&self) -> Vec<FamilyUnit> {
        self.families.iter().map(Family::census_unit).collect()
    }

    /// The census as a CSV file (see `homeward_census`'s FORMAT.md).
    pub fn census_csv(&self) -> String {
        homeward_census::write(&self.census())
    }

    /// Every person with their family.
    pub fn returnees(&self) -> impl Iterator<Item = (&Family, &Returnee)> {
        self.families
            .iter()
            .flat_map(|f| f.persons.iter().map(move |p| (f, p)))
    }

    /// The figures of an operation, or of one of its rounds.
    pub fn figures(&self, operation_id: &str, round: Option<u8>) -> Figures {
        let mut figures = Figures::default();
        for family in self
            .families
            .iter()
            .filter(|f| f.operation_id == operation_id && round.is_none_or(|r| r == f.round))
        {
            figures.families += 1;
            for person in &family.persons {
                figures.people += 1;
                let detained = person.screening == Screening::Detained;
                figures.detained += usize::from(detained);
                if person.child {
                    figures.children += 1;
                    figures.children_under_six += usize::from(person.is_under_six());
                    figures.orphans += usize::from(person.orphan);
                    figures.children_born_in_syria += usize::from(person.born_in_syria());
                    figures.passports_needed += usize::from(person.needs_passport);
                } else if person.record.sex == Sex::Female {
                    figures.women += 1;
                    figures.detained_women += usize::from(detained);
                } else {
                    figures.men += 1;
                    figures.detained_men += usize::from(detained);
                }
            }
        }
        figures
    }
}

/// What one round carries, from public reporting. Women are the wives of
/// the fathers, two per grandmother unit (she and her adult daughter) and
/// the mothers heading their own units.
#[derive(Debug)]
struct RoundPlan {
    operation_id: &'static str,
    round: u8,
    nationality: &'static str,
    carrier: Option<&'static str>,
    /// Men heading a unit with their wife and children.
    fathers: usize,
    /// Men of 18 to 20 living in their mother's unit.
    adult_sons: usize,
    /// Units of a grandmother, her adult daughter and the daughter's
    /// children.
    grandmothers: usize,
    /// Women heading a unit with their children.
    mothers: usize,
    children: usize,
    orphans: usize,
    under_six: usize,
    orphans_under_six: usize,
    detained_men: usize,
    detained_women: usize,
}

#[cfg(test)]
impl RoundPlan {
    fn men(&self) -> usize {
        self.fathers + self.adult_sons
    }

    fn women(&self) -> usize {
        self.fathers + 2 * self.grandmothers + self.mothers
    }

    fn people(&self) -> usize {
        self.men() + self.women() + self.children
    }
}

const PLANS: [RoundPlan; 5] = [
    // Zhusan 1, January: 47 people, 30 children.
    RoundPlan {
        operation_id: ZHUSAN,
        round: 1,
        nationality: "KZ",
        carrier: None,
        fathers: 5,
        adult_sons: 2,
        grandmothers: 0,
        mothers: 5,
        children: 30,
        orphans: 0,
        under_six: 21,
        orphans_under_six: 0,
        detained_men: 6,
        detained_women: 1,
    },
    // Zhusan 2, early May: 231 people, 156 children, 18 of them orphans.
    RoundPlan {
        operation_id: ZHUSAN,
        round: 2,
        nationality: "KZ",
        carrier: None,
        fathers: 12,
        adult_sons: 5,
        grandmothers: 2,
        mothers: 42,
        children: 156,
        orphans: 18,
        under_six: 109,
        orphans_under_six: 9,
        detained_men: 16,
        detained_women: 2,
    },
    // Zhusan 3, end of May: 238 women and children, 171 children.
    RoundPlan {
        operation_id: ZHUSAN,
        round: 3,
        nationality: "KZ",
        carrier: None,
        fathers: 0,
        adult_sons: 0,
        grandmothers: 4,
        mothers: 59,
        children: 171,
        orphans: 0,
        under_six: 120,
        orphans_under_six: 0,
        detained_men: 0,
        detained_women: 2,
    },
    // Mehr-1, May: 156 people, 106 children, 48 women, 2 men.
    RoundPlan {
        operation_id: MEHR,
        round: 1,
        nationality: "UZ",
        carrier: None,
        fathers: 1,
        adult_sons: 1,
        grandmothers: 1,
        mothers: 45,
        children: 106,
        orphans: 0,
        under_six: 74,
        orphans_under_six: 0,
        detained_men: 0,
        detained_women: 0,
    },
    // A Kazakh mother and her four children on Tajikistan's flight.
    RoundPlan {
        operation_id: TAJIK_FLIGHT,
        round: 1,
        nationality: "KZ",
        carrier: Some("TJ"),
        fathers: 0,
        adult_sons: 0,
        grandmothers: 0,
        mothers: 1,
        children: 4,
        orphans: 0,
        under_six: 3,
        orphans_under_six: 0,
        detained_men: 0,
        detained_women: 0,
    },
];

/// The most children one mother has in a unit.
const MAX_CHILDREN_PER_MOTHER: usize = 9;

/// Where in the camps units live, with the case reference prefix of each.
const PLACES: [(&str, Option<&str>, &str); 5] = [
    ("al-Hol", Some("annex"), "HOL-ANX"),
    ("al-Hol", Some("phase 5"), "HOL-P5"),
    ("Roj", Some("B1"), "ROJ-B1"),
    ("Roj", Some("B2"), "ROJ-B2"),
    ("Roj", Some("C3"), "ROJ-C3"),
];

/// The shape of a unit before it has people in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Father,
    Mother { adult_son: bool },
    Grandmother,
    Orphans,
}

/// A person being generated.
#[derive(Debug)]
struct Draft {
    relationship: Relationship,
    sex: Sex,
    born: Day,
    birthplace: Option<CountryCode>,
    given: Forms,
    stem: Stem,
    aliases: Vec<String>,
    vulnerability: BTreeSet<Vulnerability>,
    orphan: bool,
    screening: Screening,
}

impl Draft {
    fn child(&self) -> bool {
        self.born.age_on(AGE_REFERENCE) < ADULT_AGE
    }
}

struct Generator {
    rng: SplitMix64,
    serial: u32,
    families: Vec<Family>,
}

fn country(code: &str) -> CountryCode {
    CountryCode::parse(code).unwrap_or_else(|e| unreachable!("a listed country code: {e}"))
}

fn days(from: Day, to: Day) -> (i32, i32) {
    (from.number(), to.number())
}

impl Generator {
    fn new(seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let serial = 100 + rng.below(400) as u32;
        Self {
            rng,
            serial,
            families: Vec::new(),
        }
    }

    fn day_between(&mut self, (from, to): (i32, i32)) -> Day {
        Day::from_number(self.rng.between(from, to))
    }

    /// The birth days of `count` children, `under_six` of them under six on
    /// the reference day, in random order.
    fn child_births(&mut self, count: usize, under_six: usize) -> Vec<Day> {
        let six = AGE_REFERENCE.years_before(SMALL_CHILD_AGE);
        let eighteen = AGE_REFERENCE.years_before(ADULT_AGE);
        let young = days(
            Day::from_number(six.number() + 1),
            Day::from_number(AGE_REFERENCE.number() - 14),
        );
        let middle = days(AGE_REFERENCE.years_before(11), six);
        let older = days(Day::from_number(eighteen.number() + 1), six);
        let mut births: Vec<Day> = (0..count)
            .map(|i| {
                if i < under_six {
                    self.day_between(young)
                } else if self.rng.percent(60) {
                    self.day_between(middle)
                } else {
                    self.day_between(older)
                }
            })
            .collect();
        self.rng.shuffle(&mut births);
        births
    }

    /// The birth day of a mother whose eldest child was born on `eldest`:
    /// 17 to 32 years before, and an adult on the reference day.
    fn mother_birth(&mut self, eldest: Day) -> Day {
        let gap = self.rng.between(17, 32);
        let born = Day::from_number(eldest.years_before(gap).number() - self.rng.between(0, 364));
        let latest = Day::from_ymd(2000, 12, 31).number() - self.rng.between(0, 700);
        Day::from_number(born.number().min(latest))
    }

    /// When the unit came to Syria: children born since were born there.
    fn arrival(&mut self) -> Day {
        self.day_between(days(Day::from_ymd(2011, 9, 1), Day::from_ymd(2015, 6, 30)))
    }

    fn round(&mut self, plan: &RoundPlan) {
        let nationality = country(plan.nationality);
        let book = if plan.nationality == "UZ" {
            &UZBEK
        } else {
            &KAZAKH
        };

        let mut shapes: Vec<Shape> = Vec::new();
        shapes.extend((0..plan.fathers).map(|_| Shape::Father));
        shapes.extend((0..plan.grandmothers).map(|_| Shape::Grandmother));
        shapes.extend((0..plan.mothers).map(|i| Shape::Mother {
            adult_son: i < plan.adult_sons,
        }));
        self.rng.shuffle(&mut shapes);

        // Every mother has at least one child with her; the rest are spread
        // at random.
        let mut births = self.child_births(
            plan.children - plan.orphans,
            plan.under_six - plan.orphans_under_six,
        );
        let mut counts = vec![1usize; shapes.len()];
        for _ in shapes.len()..births.len() {
            loop {
                let i = self.rng.below(counts.len());
                if counts[i] < MAX_CHILDREN_PER_MOTHER {
                    counts[i] += 1;
                    break;
                }
            }
        }

        let mut units: Vec<(Shape, Vec<Draft>)> = Vec::new();
        for (shape, count) in shapes.into_iter().zip(counts) {
            let mut children: Vec<Day> = births.split_off(births.len() - count);
            children.sort_unstable();
            let members = self.unit(shape, &children, nationality, book);
            units.push((shape, members));
        }
        for group in self.orphan_groups(plan.orphans, plan.orphans_under_six) {
            let members = self.unit(Shape::Orphans, &group, nationality, book);
            units.push((Shape::Orphans, members));
        }
        self.rng.shuffle(&mut units);
        self.detain(&mut units, Sex::Male, plan.detained_men);
        self.detain(&mut units, Sex::Female, plan.detained_women);

        for (shape, members) in units {
            self.push_family(plan, nationality, shape, members);
        }
    }

    /// Orphans in groups of siblings, each group with at least one child of
    /// six or more to head it.
    fn orphan_groups(&mut self, orphans: usize, under_six: usize) -> Vec<Vec<Day>> {
        if orphans == 0 {
            return Vec::new();
        }
        let older = orphans - under_six;
        let groups = self.rng.between(4, 6).min(older as i32).max(1) as usize;
        let mut births = self.child_births(orphans, under_six);
        // Put the eldest first so that each group takes one of them.
        births.sort_unstable();
        let mut out: Vec<Vec<Day>> = births.drain(..groups).map(|b| vec![b]).collect();
        for birth in births {
            let i = self.rng.below(groups);
            out[i].push(birth);
        }
        for group in &mut out {
            group.sort_unstable();
        }
        out
    }

    /// The people of one unit, head first; `children` eldest first.
    fn unit(
        &mut self,
        shape: Shape,
        children: &[Day],
        nationality: CountryCode,
        book: &'static NameBook,
    ) -> Vec<Draft> {
        let arrival = self.arrival();
        let syria = country("SY");
        let mut people = Vec::new();
        let mut taken: Vec<&'static str> = Vec::new();
        let children_stem = *self.rng.pick(book.stems);
        let home = |rng: &mut SplitMix64, percent_known: usize| {
            rng.percent(percent_known).then_some(nationality)
        };

        match shape {
            Shape::Father | Shape::Mother { .. } | Shape::Grandmother => {
                let mut eldest = children[0];
                let mut adult_son = None;
                if shape == (Shape::Mother { adult_son: true }) {
                    let born = self.day_between(days(
                        Day::from_ymd(1998, 5, 2),
                        Day::from_number(AGE_REFERENCE.years_before(ADULT_AGE).number() - 1),
                    ));
                    eldest = born;
                    adult_son = Some(born);
                }
                let mother_born = self.mother_birth(eldest);
                let mother_stem = if self.rng.percent(50) {
                    children_stem
                } else {
                    *self.rng.pick(book.stems)
                };
                let given = self.given(book, Sex::Female, false, false, &mut taken);
                let mother = Draft {
                    relationship: Relationship::Head,
                    sex: Sex::Female,
                    born: mother_born,
                    birthplace: home(&mut self.rng, 90),
                    given,
                    stem: mother_stem,
                    aliases: Vec::new(),
                    vulnerability: BTreeSet::new(),
                    orphan: false,
                    screening: Screening::Cleared,
                };
                match shape {
                    Shape::Father => {
                        let gap = self.rng.between(0, 12 * 365);
                        let given = self.given(book, Sex::Male, false, false, &mut taken);
                        people.push(Draft {
                            relationship: Relationship::Head,
                            sex: Sex::Male,
                            born: Day::from_number(mother_born.number() - gap),
                            birthplace: home(&mut self.rng, 90),
                            given,
                            stem: children_stem,
                            aliases: Vec::new(),
                            vulnerability: BTreeSet::new(),
                            orphan: false,
                            screening: Screening::Cleared,
                        });
                        people.push(Draft {
                            relationship: Relationship::Spouse,
                            ..mother
                        });
                    }
                    Shape::Grandmother => {
                        // The mother of the children is the adult daughter
                        // of the head, who took her father's family name.
                        let gap = self.rng.between(18, 28);
                        let born = Day::from_number(
                            mother_born.years_before(gap).number() - self.rng.between(0, 364),
                        );
                        let given = self.given(book, Sex::Female, false, false, &mut taken);
                        let own_stem = *self.rng.pick(book.stems);
                        people.push(Draft {
                            relationship: Relationship::Head,
                            born,
                            given,
                            stem: own_stem,
                            birthplace: home(&mut self.rng, 90),
                            aliases: Vec::new(),
                            vulnerability: BTreeSet::new(),
                            ..mother
                        });
                        let father_stem = *self.rng.pick(book.stems);
                        people.push(Draft {
                            relationship: Relationship::Child,
                            stem: father_stem,
                            ..mother
                        });
                    }
                    _ => people.push(mother),
                }
                if let Some(born) = adult_son {
                    let given = self.given(book, Sex::Male, false, false, &mut taken);
                    people.push(Draft {
                        relationship: Relationship::Child,
                        sex: Sex::Male,
                        born,
                        birthplace: home(&mut self.rng, 90),
                        given,
                        stem: children_stem,
                        aliases: Vec::new(),
                        vulnerability: BTreeSet::new(),
                        orphan: false,
                        screening: Screening::Cleared,
                    });
                }
                let relationship = if shape == Shape::Grandmother {
                    Relationship::Grandchild
                } else {
                    Relationship::Child
                };
                for &born in children {
                    let sex = if self.rng.percent(50) {
                        Sex::Female
                    } else {
                        Sex::Male
                    };
                    let in_syria = born >= arrival;
                    let given = self.given(book, sex, true, in_syria, &mut taken);
                    people.push(Draft {
                        relationship,
                        sex,
                        born,
                        birthplace: Some(if in_syria { syria } else { nationality }),
                        given,
                        stem: children_stem,
                        aliases: Vec::new(),
                        vulnerability: BTreeSet::new(),
                        orphan: false,
                        screening: Screening::Cleared,
                    });
                }
            }
            Shape::Orphans => {
                for (i, &born) in children.iter().enumerate() {
                    let sex = if self.rng.percent(50) {
                        Sex::Female
                    } else {
                        Sex::Male
                    };
                    let in_syria = born >= arrival;
                    let given = self.given(book, sex, true, in_syria, &mut taken);
                    let birthplace = if in_syria {
                        Some(syria)
                    } else {
                        home(&mut self.rng, 60)
                    };
                    people.push(Draft {
                        relationship: if i == 0 {
                            Relationship::Head
                        } else {
                            Relationship::Sibling
                        },
                        sex,
                        born,
                        birthplace,
                        given,
                        stem: children_stem,
                        aliases: Vec::new(),
                        vulnerability: [Vulnerability::Unaccompanied, Vulnerability::Orphan]
                            .into_iter()
                            .collect(),
                        orphan: true,
                        screening: Screening::Cleared,
                    });
                }
            }
        }
        self.flag_and_alias(&mut people);
        people
    }

    /// A given name not yet used in the unit. Children, above all those
    /// born in Syria, often carry Arabic names.
    fn given(
        &mut self,
        book: &'static NameBook,
        sex: Sex,
        child: bool,
        born_in_syria: bool,
        taken: &mut Vec<&'static str>,
    ) -> Forms {
        let arabic_percent = match (child, born_in_syria) {
            (true, true) => 75,
            (true, false) => 35,
            (false, _) => 0,
        };
        let mut forms = ("", "", "");
        for _ in 0..20 {
            let pool = if self.rng.percent(arabic_percent) {
                &ARABIC
            } else {
                book
            };
            let list = if sex == Sex::Female {
                pool.female
            } else {
                pool.male
            };
            forms = *self.rng.pick(list);
            if !taken.contains(&forms.0) {
                break;
            }
        }
        taken.push(forms.0);
        forms
    }

    /// Vulnerability flags beyond the orphans', and aliases: a kunya for
    /// many adults ("Umm Yusuf", after the eldest son where there is one),
    /// and for some women the name they used in the camp.
    fn flag_and_alias(&mut self, people: &mut [Draft]) {
        let eldest_male = |relationship: Relationship| {
            people
                .iter()
                .find(|p| p.relationship == relationship && p.sex == Sex::Male)
                .map(|p| p.given.0)
        };
        // People are in order, eldest children first.
        let eldest_son = eldest_male(Relationship::Child);
        let eldest_grandson = eldest_male(Relationship::Grandchild);
        for person in people.iter_mut() {
            let age = person.born.age_on(AGE_REFERENCE);
            let roll = self.rng.below(100);
            if person.child() {
                match roll {
                    0..8 => person.vulnerability.insert(Vulnerability::Medical),
                    8..11 => person.vulnerability.insert(Vulnerability::Disability),
                    _ => false,
                };
                continue;
            }
            let woman = person.sex == Sex::Female;
            match roll {
                0..5 if woman && age < 42 => person.vulnerability.insert(Vulnerability::Pregnant),
                5..13 => person.vulnerability.insert(Vulnerability::Medical),
                13..16 => person.vulnerability.insert(Vulnerability::Disability),
                _ => false,
            };
            if self.rng.percent(if woman { 45 } else { 60 }) {
                let son = match person.relationship {
                    Relationship::Head | Relationship::Spouse => eldest_son,
                    // The adult daughter of a grandmother's unit.
                    Relationship::Child if woman => eldest_grandson,
                    _ => None,
                };
                let son = son.unwrap_or_else(|| self.rng.pick(ARABIC.male).0);
                person
                    .aliases
                    .push(format!("{} {son}", if woman { "Umm" } else { "Abu" }));
            }
            if woman && self.rng.percent(15) {
                let camp_name = self.rng.pick(ARABIC.female).0;
                if camp_name != person.given.0 {
                    person.aliases.push(camp_name.to_owned());
                }
            }
        }
    }

    /// Marks `count` adults of `sex` across the round's units as detained.
    fn detain(&mut self, units: &mut [(Shape, Vec<Draft>)], sex: Sex, count: usize) {
        let mut candidates: Vec<(usize, usize)> = units
            .iter()
            .enumerate()
            .flat_map(|(u, (_, people))| {
                people
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| !p.child() && p.sex == sex)
                    .map(move |(p, _)| (u, p))
            })
            .collect();
        assert!(
            candidates.len() >= count,
            "a plan detains more adults than it carries"
        );
        self.rng.shuffle(&mut candidates);
        for (u, p) in candidates.into_iter().take(count) {
            units[u].1[p].screening = Screening::Detained;
        }
    }

    fn push_family(
        &mut self,
        plan: &RoundPlan,
        nationality: CountryCode,
        shape: Shape,
        members: Vec<Draft>,
    ) {
        let (camp, section, prefix) = if shape == Shape::Orphans {
            PLACES[0]
        } else {
            match self.rng.below(100) {
                0..55 => PLACES[0],
                55..70 => PLACES[1],
                _ => PLACES[2 + self.rng.below(3)],
            }
        };
        let blocks = if camp == "Roj" { 6 } else { 12 };
        let block = (1 + self.rng.below(blocks)).to_string();
        let tent = (1 + self.rng.below(480)).to_string();
        let camp_location = CampLocation::new(camp, section, Some(&block), Some(&tent))
            .unwrap_or_else(|e| unreachable!("a listed place: {e}"));
        self.serial += 1 + self.rng.below(7) as u32;
        let family_ref = CaseRef::parse(&format!("{prefix}-{:06}", self.serial))
            .unwrap_or_else(|e| unreachable!("a well-formed reference: {e}"));

        let persons = members
            .into_iter()
            .enumerate()
            .map(|(i, draft)| self.returnee(&family_ref, i, draft))
            .collect();
        self.families.push(Family {
            operation_id: plan.operation_id.to_owned(),
            round: plan.round,
            nationality,
            transit_carrier: plan.carrier.map(country),
            family_ref,
            camp_location,
            persons,
        });
    }

    fn returnee(&mut self, family_ref: &CaseRef, index: usize, draft: Draft) -> Returnee {
        let child = draft.child();
        let (latin, cyrillic, arabic) = draft.stem.family_name(draft.sex == Sex::Male);
        let full = |given: &str, family: &str| format!("{given} {family}");
        let name = |script, value: &str| {
            Name::new(script, value).unwrap_or_else(|e| unreachable!("a listed name: {e}"))
        };
        let names = PersonNames::new(
            Some(name(Script::Latin, &full(draft.given.0, &latin))),
            Some(name(Script::Cyrillic, &full(draft.given.1, &cyrillic))),
            Some(name(Script::Arabic, &full(draft.given.2, &arabic))),
            draft
                .aliases
                .iter()
                .map(|a| name(Script::Latin, a))
                .collect(),
        )
        .unwrap_or_else(|e| unreachable!("names from the lists: {e}"));
        let needs_passport = child && draft.birthplace.is_some_and(|c| c.as_str() == "SY");
        Returnee {
            record: Person {
                person_ref: PersonRef::member_of(family_ref, index as u8 + 1)
                    .unwrap_or_else(|e| unreachable!("a unit has at most 30 members: {e}")),
                relationship: draft.relationship,
                names,
                sex: draft.sex,
                birth_date: self.recorded(draft.born, child),
                birthplace_country: draft.birthplace,
                vulnerability: draft.vulnerability,
            },
            child,
            orphan: draft.orphan,
            screening: draft.screening,
            needs_passport,
        }
    }

    /// A birth date as a camp records it: to the day, the month or the
    /// year; but always precise enough that whether the person is a child,
    /// and whether under six, on the reference day does not depend on how
    /// it is read.
    fn recorded(&mut self, born: Day, child: bool) -> BirthDate {
        #[derive(PartialEq)]
        enum Precision {
            Day,
            Month,
            Year,
        }
        let roll = self.rng.below(100);
        let exact_coin = self.rng.percent(50);
        let (mut precision, accuracy) = match (child, roll) {
            (true, 0..35) => (
                Precision::Day,
                if exact_coin {
                    DateAccuracy::Exact
                } else {
                    DateAccuracy::Approximate
                },
            ),
            (true, 35..60) => (Precision::Month, DateAccuracy::Approximate),
            (true, _) => (Precision::Year, DateAccuracy::Estimated),
            (false, 0..45) => (Precision::Day, DateAccuracy::Exact),
            (false, 45..65) => (Precision::Month, DateAccuracy::Approximate),
            (false, _) => (
                Precision::Year,
                if exact_coin {
                    DateAccuracy::Approximate
                } else {
                    DateAccuracy::Estimated
                },
            ),
        };
        let (year, month, day) = born.ymd();
        let (ref_year, ref_month, _) = AGE_REFERENCE.ymd();
        let straddles = [ADULT_AGE, SMALL_CHILD_AGE]
            .iter()
            .any(|age| year == ref_year - age);
        if straddles
            && (precision == Precision::Year
                || (precision == Precision::Month && month == ref_month))
        {
            precision = Precision::Day;
        }
        let (year, month, day) = (year as u16, month as u8, day as u8);
        let date = match precision {
            Precision::Day => PartialDate::full(year, month, day),
            Precision::Month => PartialDate::year_month(year, month),
            Precision::Year => PartialDate::year(year),
        }
        .unwrap_or_else(|e| unreachable!("a calendar day: {e}"));
        BirthDate { date, accuracy }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_add_up_to_the_reported_figures() {
        let people: Vec<usize> = PLANS.iter().map(RoundPlan::people).collect();
        assert_eq!(people, [47, 231, 238, 156, 5]);
        let zhusan: Vec<&RoundPlan> = PLANS.iter().filter(|p| p.operation_id == ZHUSAN).collect();
        assert_eq!(zhusan.iter().map(|p| p.people()).sum::<usize>(), 516);
        assert_eq!(zhusan.iter().map(|p| p.children).sum::<usize>(), 357);
        assert_eq!(
            zhusan
                .iter()
                .map(|p| p.detained_men + p.detained_women)
                .sum::<usize>(),
            27
        );
        assert_eq!(zhusan[2].men(), 0);
        assert_eq!((PLANS[3].women(), PLANS[3].men()), (48, 2));
        for plan in &PLANS {
            assert!(
                plan.children - plan.orphans >= plan.fathers + plan.grandmothers + plan.mothers
            );
            assert!(plan.adult_sons <= plan.mothers);
            assert!(plan.detained_men <= plan.men() && plan.detained_women <= plan.women());
        }
    }

    #[test]
    fn recorded_dates_never_straddle_a_threshold() {
        let mut generator = Generator::new(3);
        let mut day = Day::from_ymd(1995, 1, 1);
        while day < AGE_REFERENCE {
            let child = day.age_on(AGE_REFERENCE) < ADULT_AGE;
            for _ in 0..3 {
                let recorded = generator.recorded(day, child);
                let (youngest, oldest) = age_range(&recorded.date, AGE_REFERENCE);
                for threshold in [ADULT_AGE, SMALL_CHILD_AGE] {
                    assert_eq!(
                        youngest < threshold,
                        oldest < threshold,
                        "{day} recorded as {}",
                        recorded.date
                    );
                }
            }
            day = Day::from_number(day.number() + 1);
        }
    }
}
