//! The synthetic population of the scenario: deterministic from a seed.
//!
//! Each round of each operation is generated from a fixed plan — how many
//! fathers, mothers, grandmothers, adult sons, children, orphans and
//! under-sixes it carries, and how many of its adults security detains —
//! taken from public reporting (`plans` holds them, with the figures each
//! round was reported with). The seed decides
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
//!
//! # Layout
//! - this file: the population as the rest of Homeward sees it: returnees,
//!   family units, figures;
//! - `plans`: the operations and each round's plan;
//! - `generator`: the generator, from a seed and the plans to people;
//! - `calendar`, `names`, `rng`: days, the name lists and the PRNG.

mod calendar;
mod generator;
mod names;
mod plans;
mod rng;

use homeward_census::{
    CampLocation, CaseRef, CountryCode, FamilyUnit, PartialDate, Person, PersonRef, Sex,
};

pub use calendar::Day;
pub use plans::{MEHR, TAJIK_FLIGHT, ZHUSAN};
pub use rng::SplitMix64;

use generator::Generator;
use plans::PLANS;

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
