//! The generator: from a seed and the round plans to family units of
//! people, with names, birth dates as a camp records them, places in the
//! camps, vulnerability flags and who is detained.

use std::collections::BTreeSet;

use homeward_census::{
    BirthDate, CampLocation, CaseRef, CountryCode, DateAccuracy, Name, PartialDate, Person,
    PersonNames, PersonRef, Relationship, Script, Sex, Vulnerability,
};

use super::names::{ARABIC, Forms, KAZAKH, NameBook, Stem, UZBEK};
use super::plans::RoundPlan;
use super::{
    ADULT_AGE, AGE_REFERENCE, Day, Family, Returnee, SMALL_CHILD_AGE, Screening, SplitMix64,
};

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

/// The state of a generation: the random stream, the last case serial
/// used, and the units so far.
pub(super) struct Generator {
    rng: SplitMix64,
    serial: u32,
    pub(super) families: Vec<Family>,
}

fn country(code: &str) -> CountryCode {
    CountryCode::parse(code).unwrap_or_else(|e| unreachable!("a listed country code: {e}"))
}

fn days(from: Day, to: Day) -> (i32, i32) {
    (from.number(), to.number())
}

impl Generator {
    pub(super) fn new(seed: u64) -> Self {
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

    /// Generates every unit of one round.
    pub(super) fn round(&mut self, plan: &RoundPlan) {
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
    use crate::population::age_range;

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
