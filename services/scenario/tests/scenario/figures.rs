//! The figures public reporting gave, asserted exactly for every seed.

use homeward_scenario::population::{Figures, MEHR, Population, Screening, TAJIK_FLIGHT, ZHUSAN};

use crate::SEEDS;

fn each_seed(check: impl Fn(&Population, &dyn Fn(&str, Option<u8>) -> Figures)) {
    for seed in SEEDS {
        let population = Population::generate(seed);
        check(&population, &|operation, round| {
            population.figures(operation, round)
        });
    }
}

#[test]
fn zhusan_rounds_carry_the_reported_people_and_children() {
    each_seed(|_, figures| {
        let r1 = figures(ZHUSAN, Some(1));
        assert_eq!((r1.people, r1.children, r1.orphans), (47, 30, 0));
        let r2 = figures(ZHUSAN, Some(2));
        assert_eq!((r2.people, r2.children, r2.orphans), (231, 156, 18));
        let r3 = figures(ZHUSAN, Some(3));
        assert_eq!((r3.people, r3.children, r3.orphans), (238, 171, 0));
        assert_eq!(r3.men, 0, "round 3 carried women and children only");
        assert_eq!(r3.women, 67);
        let all = figures(ZHUSAN, None);
        assert_eq!((all.people, all.children), (516, 357));
        assert_eq!(figures(ZHUSAN, Some(4)), Figures::default());
    });
}

#[test]
fn zhusan_detains_27_returnees_5_of_them_women() {
    each_seed(|population, figures| {
        let all = figures(ZHUSAN, None);
        assert_eq!(all.detained, 27);
        assert_eq!(all.detained_women, 5);
        assert_eq!(all.detained_men, 22);
        assert!(all.men >= 22);
        // Everyone else is cleared: no child, nobody of another operation.
        for (family, person) in population.returnees() {
            if person.screening == Screening::Detained {
                assert_eq!(family.operation_id, ZHUSAN);
                assert!(!person.child);
            }
        }
        let detained_elsewhere = population
            .returnees()
            .filter(|(f, p)| f.operation_id != ZHUSAN && p.screening != Screening::Cleared)
            .count();
        assert_eq!(detained_elsewhere, 0);
    });
}

#[test]
fn about_seventy_percent_of_zhusan_children_are_under_six() {
    each_seed(|_, figures| {
        let all = figures(ZHUSAN, None);
        let share = all.children_under_six as f64 / all.children as f64;
        assert!((0.65..=0.75).contains(&share), "{share}");
        assert_eq!(all.children_under_six, 250);
    });
}

#[test]
fn mehr_carries_156_people_106_children_48_women_2_men() {
    each_seed(|_, figures| {
        let mehr = figures(MEHR, Some(1));
        assert_eq!(
            (mehr.people, mehr.children, mehr.women, mehr.men),
            (156, 106, 48, 2)
        );
        assert_eq!(figures(MEHR, None), mehr, "Mehr-1 is one round");
    });
}

#[test]
fn one_kazakh_mother_and_four_children_fly_with_tajikistan() {
    each_seed(|population, figures| {
        let transit = figures(TAJIK_FLIGHT, Some(1));
        assert_eq!(
            (
                transit.families,
                transit.people,
                transit.women,
                transit.children,
                transit.men
            ),
            (1, 5, 1, 4, 0)
        );
        let carried: Vec<_> = population
            .families
            .iter()
            .filter(|f| f.transit_carrier.is_some())
            .collect();
        assert_eq!(carried.len(), 1);
        let family = carried[0];
        assert_eq!(family.operation_id, TAJIK_FLIGHT);
        assert_eq!(family.round, 1);
        assert_eq!(family.nationality.as_str(), "KZ");
        assert_eq!(
            family.transit_carrier.map(|c| c.to_string()).as_deref(),
            Some("TJ")
        );
        assert!(family.head().is_woman());
        // Separate from Zhusan's 516.
        assert_eq!(figures(ZHUSAN, None).people, 516);
        assert_eq!(population.returnees().count(), 516 + 156 + 5);
    });
}

#[test]
fn children_born_in_syria_and_only_they_need_passports() {
    each_seed(|population, figures| {
        let mut under_six = (0, 0);
        let mut older = (0, 0);
        for (_, person) in population.returnees() {
            assert_eq!(
                person.needs_passport,
                person.child && person.born_in_syria(),
                "{}",
                person.person_ref()
            );
            if person.child {
                let bucket = if person.is_under_six() {
                    &mut under_six
                } else {
                    &mut older
                };
                bucket.0 += usize::from(person.born_in_syria());
                bucket.1 += 1;
            }
        }
        // Most under-sixes were born in Syria, and a few older children.
        assert!(under_six.0 * 2 > under_six.1, "{under_six:?}");
        assert!(older.0 > 0 && older.0 * 5 < older.1, "{older:?}");
        let all = figures(ZHUSAN, None);
        assert_eq!(all.passports_needed, all.children_born_in_syria);
        assert!(all.passports_needed > 0);
    });
}
