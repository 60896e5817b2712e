//! The public figures the replay of the scenario must report exactly:
//! Zhusan's three rounds, Mehr-1 and the transit family. The lifecycle
//! test of the scenario and the fault harness hold a report to them.

use homeward_foreign_affairs::report::{Figures, Report};
use homeward_scenario::population::{MEHR, Population};

const ZHUSAN: &str = "KZ-ZHUSAN-2019";

/// Every way `report` differs from the public figures of `population`'s
/// operations; empty when it holds them all.
pub fn check(report: &Report, population: &Population) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut expect = |what: &str, got: String, want: String| {
        if got != want {
            wrong.push(format!("{what}: {got}, expected {want}"));
        }
    };
    let row = |round| report.total(|r| r.operation == ZHUSAN && r.round == round);
    for (round, located, children) in [(1, 47, 30), (2, 231, 156), (3, 238, 171)] {
        let r = row(round);
        let what = |w: &str| format!("Zhusan round {round}: {w}");
        expect(
            &what("located (children)"),
            format!("{:?}", (r.located, r.located_children)),
            format!("{:?}", (located, children)),
        );
        expect(
            &what("handed over"),
            (r.handed_over_adults + r.handed_over_children).to_string(),
            r.located.to_string(),
        );
        expect(
            &what("children handed over"),
            r.handed_over_children.to_string(),
            r.located_children.to_string(),
        );
        expect(
            &what("arrived"),
            r.arrived.to_string(),
            r.located.to_string(),
        );
        expect(
            &what("children placed with a guardian"),
            r.children_with_guardian.to_string(),
            r.located_children.to_string(),
        );
        expect(
            &what("open discrepancies"),
            r.open_discrepancies.to_string(),
            "0".into(),
        );
        expect(
            &what("cases closed"),
            r.cases_closed.to_string(),
            r.families.to_string(),
        );
    }

    let kz = report.total(|r| r.country == "KZ" && r.operation == ZHUSAN);
    expect(
        "Zhusan located (children)",
        format!("{:?}", (kz.located, kz.located_children)),
        "(516, 357)".into(),
    );
    operation_total(report, "KZ", ZHUSAN, 3, &kz, &mut expect);
    expect(
        "Zhusan verified, requested, accepted, refused",
        format!("{:?}", (kz.verified, kz.requested, kz.accepted, kz.refused)),
        "(516, 516, 516, 0)".into(),
    );
    expect(
        "Zhusan detained (women)",
        format!(
            "{:?}",
            (kz.detained.female + kz.detained.male, kz.detained.female)
        ),
        "(27, 5)".into(),
    );
    expect(
        "Zhusan cleared",
        (kz.cleared.female + kz.cleared.male).to_string(),
        (516 - 27).to_string(),
    );
    expect(
        "Zhusan reintegrated",
        kz.reintegrated.to_string(),
        (516 - 27).to_string(),
    );
    let born_in_syria = population
        .returnees()
        .filter(|(f, r)| f.operation_id == ZHUSAN && r.child && r.born_in_syria())
        .count();
    expect(
        "Zhusan passports for the children born in Syria",
        kz.documents_issued.to_string(),
        born_in_syria.to_string(),
    );

    let mehr = report.total(|r| r.country == "UZ");
    expect(
        "Mehr-1 located (children)",
        format!("{:?}", (mehr.located, mehr.located_children)),
        "(156, 106)".into(),
    );
    operation_total(report, "UZ", MEHR, 1, &mehr, &mut expect);
    expect(
        "Mehr-1 adults handed over",
        mehr.handed_over_adults.to_string(),
        "50".into(),
    );
    let (girls, boys) = population
        .returnees()
        .filter(|(f, r)| f.operation_id.starts_with("UZ") && r.child)
        .fold((0u32, 0u32), |(f, m), (_, r)| {
            if r.record.sex.as_str() == "female" {
                (f + 1, m)
            } else {
                (f, m + 1)
            }
        });
    let women = (mehr.cleared.female + mehr.detained.female).checked_sub(girls);
    let men = (mehr.cleared.male + mehr.detained.male).checked_sub(boys);
    expect(
        "Mehr-1 women and men screened",
        format!("{:?}", (women, men)),
        format!("{:?}", (Some(48), Some(2))),
    );

    let transit = report.total(|r| r.country == "KZ" && r.operation != ZHUSAN);
    expect(
        "the transit family: located, children, arrived",
        format!(
            "{:?}",
            (transit.located, transit.located_children, transit.arrived)
        ),
        "(5, 4, 5)".into(),
    );
    wrong
}

/// The report's own total of an operation agrees with its rows.
fn operation_total(
    report: &Report,
    country: &str,
    operation: &str,
    rounds: u32,
    rows: &Figures,
    expect: &mut impl FnMut(&str, String, String),
) {
    match report.operation(country, operation) {
        Some(total) => {
            expect(
                &format!("{operation} rounds"),
                total.rounds.to_string(),
                rounds.to_string(),
            );
            expect(
                &format!("{operation} total against its rows"),
                format!("{:?}", total.figures),
                format!("{rows:?}"),
            );
        }
        None => expect(
            &format!("{operation} total"),
            "none".into(),
            "a total".into(),
        ),
    }
}
