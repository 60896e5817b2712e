//! The whole scenario — Zhusan's three rounds, Mehr-1 and the transit
//! family — replayed through every service, and the report computed from
//! what the services recorded equals the public figures exactly.

use std::sync::Arc;

use homeward_replay::replay::{self, Progress};
use homeward_replay::{figures, plan};
use homeward_scenario::population::Population;

use crate::support::world_on;

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

    let wrong = figures::check(&report, &population);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
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
