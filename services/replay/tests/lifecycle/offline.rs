//! A member offline for a whole operation (issue 13, item 2).
//!
//! Kazakhstan's rehabilitation service is stopped before the census. The
//! whole of Uzbekistan's Mehr-1 goes through meanwhile, and the Kazakh
//! families go as far as they can without it, their deliveries to it
//! waiting in its consumer. Then it comes back, catches up on its own, and
//! the report equals the public figures, with nothing delivered or
//! recorded twice.

use std::time::Duration;

use futures::StreamExt;
use homeward_core::{MemberId, subjects};
use homeward_replay::replay::{self, FamilyPlan};
use homeward_replay::{figures, plan};
use homeward_scenario::population::Population;

use crate::support::world_on;

/// Drives `plans`, eight families at a time; the first failure ends it.
async fn drive(api: &homeward_replay::api::Api, plans: Vec<FamilyPlan>) -> anyhow::Result<usize> {
    let n = plans.len();
    let mut results = futures::stream::iter(plans.iter().map(|p| async move {
        replay::family(api, p)
            .await
            .map_err(|e| e.context(format!("family {}", p.case_ref)))
    }))
    .buffer_unordered(8);
    while let Some(r) = results.next().await {
        r?;
    }
    Ok(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_offline_for_a_whole_operation_catches_up_and_the_report_is_the_same() {
    let (local, mut world, api) = world_on(1).await;
    // Requests to the stopped service are tried again until it is back.
    let api = api.riding_through_restarts(Duration::from_secs(300));
    let population = Population::generate(2019);
    world.stop_member("kz.rehab").expect("stopped");
    for (camp, csv) in plan::census(&population) {
        api.command(
            &camp,
            &format!("census?registeredOn={}", plan::REGISTERED_ON),
            csv,
        )
        .await
        .expect("census imported");
    }
    let (kazakh, others): (Vec<FamilyPlan>, Vec<FamilyPlan>) = plan::plans(&population)
        .into_iter()
        .partition(|p| p.nationality == "KZ");
    assert!(!kazakh.is_empty() && !others.is_empty());

    let js = async_nats::jetstream::new(local.client("check").await.expect("client"));
    let rehab = MemberId::parse("kz.rehab").expect("id");
    let kz = drive(&api, kazakh);
    let rest = async {
        let done = drive(&api, others)
            .await
            .expect("every other state's family, without kz.rehab");
        // What kz.rehab must act on waits in its consumer.
        let mut consumer: async_nats::jetstream::consumer::PullConsumer = js
            .get_consumer_from_stream(
                subjects::delivery_consumer(&rehab),
                subjects::DELIVER_STREAM,
            )
            .await
            .expect("kz.rehab's consumer");
        let info = consumer.info().await.expect("info");
        assert!(
            info.num_pending > 0,
            "deliveries wait for kz.rehab: {info:?}"
        );
        world
            .restart_member(&local, "kz.rehab")
            .await
            .expect("kz.rehab back");
        done
    };
    let (kz, rest) = tokio::join!(kz, rest);
    kz.expect("every Kazakh family, once kz.rehab caught up");
    assert!(rest > 0);

    let report = world.report().await.expect("report");
    let wrong = figures::check(&report, &population);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    crate::support::streams_intact(&js).await;
    world.stop().await.expect("stops");
}
