//! Family units as a camp would register them.

use std::collections::HashSet;

use homeward_census::{Relationship, Sex, Vulnerability};
use homeward_scenario::population::{
    ADULT_AGE, AGE_REFERENCE, Population, SMALL_CHILD_AGE, ZHUSAN, age_range,
};

use crate::SEEDS;

#[test]
fn units_have_one_head_first_and_unique_references() {
    for seed in SEEDS {
        let population = Population::generate(seed);
        let mut family_refs = HashSet::new();
        let mut person_refs = HashSet::new();
        for family in &population.families {
            assert!(
                family_refs.insert(family.family_ref.clone()),
                "{}",
                family.family_ref
            );
            assert!((1..=30).contains(&family.persons.len()));
            let heads = family
                .persons
                .iter()
                .filter(|p| p.record.relationship == Relationship::Head)
                .count();
            assert_eq!(heads, 1, "{}", family.family_ref);
            assert_eq!(family.head().record.relationship, Relationship::Head);
            let mut in_family = HashSet::new();
            for (i, person) in family.persons.iter().enumerate() {
                assert!(in_family.insert(person.person_ref().clone()));
                assert!(person_refs.insert(person.person_ref().clone()));
                assert_eq!(
                    person.person_ref().as_str(),
                    format!("{}-{:02}", family.family_ref, i + 1)
                );
            }
            let prefix = match (family.camp_location.camp(), family.camp_location.section()) {
                ("al-Hol", Some("annex")) => "HOL-ANX-".to_owned(),
                ("al-Hol", Some("phase 5")) => "HOL-P5-".to_owned(),
                ("Roj", Some(section)) => format!("ROJ-{section}-"),
                other => panic!("unexpected place {other:?}"),
            };
            assert!(family.family_ref.as_str().starts_with(&prefix));
        }
    }
}

#[test]
fn orphans_live_in_units_of_siblings_headed_by_the_eldest() {
    for seed in SEEDS {
        let population = Population::generate(seed);
        let mut orphans = 0;
        for family in &population.families {
            let adults = family.persons.iter().filter(|p| !p.child).count();
            let orphan_unit = family.persons.iter().any(|p| p.orphan);
            if !orphan_unit {
                assert!(adults > 0, "{} has no adult", family.family_ref);
                continue;
            }
            assert_eq!(adults, 0, "{}", family.family_ref);
            assert_eq!((family.operation_id.as_str(), family.round), (ZHUSAN, 2));
            // As recorded, to the year or the month, a younger sibling may
            // seem older; never one who could not be younger.
            let births: Vec<_> = family
                .persons
                .iter()
                .map(|p| p.record.birth_date.date)
                .collect();
            assert!(
                births.windows(2).all(|w| w[0].earliest() <= w[1].latest()),
                "eldest first"
            );
            for (i, person) in family.persons.iter().enumerate() {
                orphans += 1;
                assert!(person.orphan && person.child);
                let expected = if i == 0 {
                    Relationship::Head
                } else {
                    Relationship::Sibling
                };
                assert_eq!(person.record.relationship, expected);
                assert!(person.record.vulnerability.contains(&Vulnerability::Orphan));
                assert!(
                    person
                        .record
                        .vulnerability
                        .contains(&Vulnerability::Unaccompanied)
                );
            }
            assert!(
                !family.head().is_under_six(),
                "a child of six or more heads"
            );
        }
        assert_eq!(orphans, 18);
    }
}

#[test]
fn mothers_with_their_children_and_a_few_fathers() {
    for seed in SEEDS {
        let population = Population::generate(seed);
        let mut fathers = 0;
        let mut grandmothers = 0;
        for family in &population.families {
            let head = family.head();
            if head.orphan {
                continue;
            }
            assert!(!head.child);
            if head.is_man() {
                fathers += 1;
                assert!(
                    family
                        .persons
                        .iter()
                        .any(|p| p.record.relationship == Relationship::Spouse && p.is_woman())
                );
            }
            grandmothers += usize::from(
                family
                    .persons
                    .iter()
                    .any(|p| p.record.relationship == Relationship::Grandchild),
            );
            // Parents are at least 15 years older than their children.
            let head_born = head.record.birth_date.date.latest();
            for child in family.persons.iter().filter(|p| p.child) {
                let born = child.record.birth_date.date.earliest();
                assert!(born.0 >= head_born.0 + 15, "{}", child.person_ref());
            }
        }
        assert!(
            fathers > 0 && fathers < population.families.len() / 5,
            "{fathers}"
        );
        assert!(grandmothers > 0);
    }
}

#[test]
fn whether_a_child_or_under_six_never_depends_on_how_a_date_is_read() {
    for seed in SEEDS {
        for (_, person) in Population::generate(seed).returnees() {
            let (youngest, oldest) = age_range(&person.record.birth_date.date, AGE_REFERENCE);
            assert_eq!(person.child, oldest < ADULT_AGE, "{}", person.person_ref());
            assert_eq!(
                person.child,
                youngest < ADULT_AGE,
                "{}",
                person.person_ref()
            );
            assert_eq!(youngest < SMALL_CHILD_AGE, oldest < SMALL_CHILD_AGE);
        }
    }
}

#[test]
fn everyone_is_named_in_three_scripts_and_many_adults_have_a_kunya() {
    for seed in SEEDS {
        let population = Population::generate(seed);
        let mut kunyas = 0;
        let mut adults = 0;
        for (_, person) in population.returnees() {
            let names = &person.record.names;
            assert!(
                names.latin().is_some() && names.cyrillic().is_some() && names.arabic().is_some()
            );
            if !person.child {
                adults += 1;
            }
            for alias in names.aliases() {
                assert!(!person.child, "only adults have aliases");
                if alias.as_str().starts_with("Umm ") {
                    assert_eq!(person.record.sex, Sex::Female);
                    kunyas += 1;
                } else if alias.as_str().starts_with("Abu ") {
                    assert_eq!(person.record.sex, Sex::Male);
                    kunyas += 1;
                }
            }
        }
        assert!(
            kunyas * 4 > adults && kunyas < adults,
            "{kunyas} of {adults}"
        );
    }
}
