//! The whole scenario — Zhusan's three rounds, Mehr-1 and the transit
//! family — replayed through every service, and the report computed from
//! what the services recorded equals the public figures exactly.

use std::sync::Arc;

use homeward_foreign_affairs::report::{Figures, Report};
use homeward_replay::plan;
use homeward_replay::replay::{self, Progress};
use homeward_scenario::population::Population;

use crate::support::world_on;

fn row(report: &Report, operation: &str, round: u32) -> Figures {
    report.total(|r| r.operation == operation && r.round == round)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_reports_the_public_figures_exactly() {
    replay_reports_the_public_figures(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_reports_the_public_figures_exactly_on_a_three_node_cluster() {
    replay_reports_the_public_figures(3).await;
}

/// The replay, on `nodes` servers: the report is the same on one server
/// and on a cluster.
async fn replay_reports_the_public_figures(nodes: usize) {
    let (local, world, api) = world_on(nodes).await;
    let population = Population::generate(2019);
    replay::run(
        &api,
        plan::census(&population),
        plan::REGISTERED_ON,
        plan::plans(&population),
        12,
        Arc::new(Progress::default()),
    )
    .await
    .expect("the replay runs to the end");
    let js = async_nats::jetstream::new(local.client("report").await.expect("client"));
    let report = world.report().await.expect("report");
    println!("{}", report.render());

    let zhusan = |round| row(&report, "KZ-ZHUSAN-2019", round);
    let (r1, r2, r3) = (zhusan(1), zhusan(2), zhusan(3));
    assert_eq!((r1.located, r1.located_children), (47, 30));
    assert_eq!((r2.located, r2.located_children), (231, 156));
    assert_eq!((r3.located, r3.located_children), (238, 171));
    for r in [&r1, &r2, &r3] {
        assert_eq!(r.handed_over_adults + r.handed_over_children, r.located);
        assert_eq!(r.handed_over_children, r.located_children);
        assert_eq!(r.arrived, r.located);
        assert_eq!(
            r.children_with_guardian, r.located_children,
            "every child placed with a guardian"
        );
        assert_eq!(r.open_discrepancies, 0);
        assert_eq!(r.cases_closed, r.families);
    }
    let kz = report.total(|r| r.country == "KZ" && r.operation == "KZ-ZHUSAN-2019");
    assert_eq!((kz.located, kz.located_children), (516, 357));
    // The report's own total of each operation says the same.
    let operation = |country, id| {
        report
            .operation(country, id)
            .unwrap_or_else(|| panic!("no total of {id}"))
    };
    let zhusan_total = operation("KZ", "KZ-ZHUSAN-2019");
    assert_eq!(zhusan_total.rounds, 3);
    assert_eq!(
        (
            zhusan_total.figures.located,
            zhusan_total.figures.located_children
        ),
        (516, 357)
    );
    assert_eq!(zhusan_total.figures, kz);
    let mehr_total = operation("UZ", homeward_scenario::population::MEHR);
    assert_eq!(mehr_total.rounds, 1);
    assert_eq!(
        (
            mehr_total.figures.located,
            mehr_total.figures.located_children
        ),
        (156, 106)
    );
    assert_eq!(
        (kz.verified, kz.requested, kz.accepted, kz.refused),
        (516, 516, 516, 0)
    );
    assert_eq!(kz.detained.female + kz.detained.male, 27);
    assert_eq!(kz.detained.female, 5);
    assert_eq!(kz.cleared.female + kz.cleared.male, 516 - 27);
    assert_eq!(kz.reintegrated, 516 - 27);
    let born_in_syria = population
        .returnees()
        .filter(|(f, r)| f.operation_id == "KZ-ZHUSAN-2019" && r.child && r.born_in_syria())
        .count() as u32;
    assert!(born_in_syria > 0);
    assert_eq!(
        kz.documents_issued, born_in_syria,
        "every child born in Syria issued a passport"
    );

    let mehr = report.total(|r| r.country == "UZ");
    assert_eq!((mehr.located, mehr.located_children), (156, 106));
    assert_eq!(mehr.handed_over_adults, 50);
    let uz_adults_by_sex = (
        mehr.cleared.female + mehr.detained.female,
        mehr.cleared.male + mehr.detained.male,
    );
    let uz_children_by_sex = population
        .returnees()
        .filter(|(f, r)| f.operation_id.starts_with("UZ") && r.child)
        .fold((0u32, 0u32), |(f, m), (_, r)| {
            if r.record.sex.as_str() == "female" {
                (f + 1, m)
            } else {
                (f, m + 1)
            }
        });
    assert_eq!(uz_adults_by_sex.0 - uz_children_by_sex.0, 48, "48 women");
    assert_eq!(uz_adults_by_sex.1 - uz_children_by_sex.1, 2, "2 men");

    // The transit family: five Kazakh citizens on Tajikistan's flight.
    let transit = report.total(|r| r.country == "KZ" && r.operation != "KZ-ZHUSAN-2019");
    assert_eq!(
        (transit.located, transit.located_children, transit.arrived),
        (5, 4, 5)
    );
    let tj = world.service("tj.mfa").expect("tj.mfa");
    let transit_ref = population
        .families
        .iter()
        .find(|f| f.transit_carrier.is_some())
        .map(|f| f.family_ref.as_str().to_owned())
        .expect("a transit family");
    let carried = tj
        .store()
        .get(&transit_ref)
        .await
        .expect("read")
        .expect("tj.mfa holds the transit case");
    assert_eq!(
        carried.case.transit_decision,
        Some(homeward_ministry::Decision::Accepted)
    );
    assert_eq!(carried.case.persons.len(), 5);

    // No member of a state ever received a message about another state's
    // citizens, except the transit messages between the two states.
    let nationality: std::collections::BTreeMap<String, String> = population
        .families
        .iter()
        .map(|f| {
            (
                f.family_ref.as_str().to_owned(),
                f.nationality.as_str().to_ascii_lowercase(),
            )
        })
        .collect();
    let deliveries = crate::support::read_all(&js, homeward_core::subjects::DELIVER_STREAM).await;
    assert!(deliveries.len() > 3000, "{} deliveries", deliveries.len());
    for (subject, envelope) in deliveries {
        let recipient: Vec<&str> = subject.splitn(5, '.').collect();
        let party = recipient[2];
        if !["kz", "uz", "tj", "kg", "tm"].contains(&party) {
            continue;
        }
        let case = envelope.data()["caseRef"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let theirs = nationality.get(&case).map(String::as_str);
        let transit = matches!(
            envelope.message_type(),
            "transit.requested" | "transit.decided"
        );
        assert!(
            theirs == Some(party) || (transit && party == "tj"),
            "{subject} carried {} about {case} ({theirs:?})",
            envelope.message_type()
        );
    }
    world.stop().await.expect("stops");
}
