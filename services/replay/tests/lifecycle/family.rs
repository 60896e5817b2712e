//! One family from the camp census to reintegration.

use futures::StreamExt;
use homeward_core::subjects;
use homeward_replay::replay;

use crate::support::{CENSUS, plan, world_on};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_goes_from_the_census_to_reintegration() {
    family_lifecycle(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_goes_from_the_census_to_reintegration_on_a_three_node_cluster() {
    family_lifecycle(3).await;
}

/// The lifecycle, on `nodes` servers: the same steps and the same figures
/// on one server and on a cluster.
async fn family_lifecycle(nodes: usize) {
    let (local, world, api) = world_on(nodes).await;
    let imported = api
        .command(
            "aanes.camps",
            "census?registeredOn=2019-04-15",
            CENSUS.as_bytes().to_vec(),
        )
        .await
        .expect("census imported");
    assert_eq!(imported["cases"], 1, "{imported}");
    replay::family(&api, &plan())
        .await
        .expect("the whole lifecycle");

    let js = async_nats::jetstream::new(local.client("report").await.expect("client"));
    let report = world.report().await.expect("report");
    let f = report.total(|r| r.country == "KZ");
    assert_eq!(report.rows.len(), 1, "{report:?}");
    assert_eq!(report.rows[0].operation, "KZ-ZHUSAN-2019");
    assert_eq!(report.rows[0].round, 2);
    assert_eq!(
        (
            f.located,
            f.located_children,
            f.verified,
            f.requested,
            f.accepted,
            f.refused
        ),
        (4, 3, 4, 4, 4, 0)
    );
    assert_eq!(
        (f.handed_over_adults, f.handed_over_children, f.arrived),
        (1, 3, 4)
    );
    assert_eq!(
        (
            f.cleared.female,
            f.cleared.male,
            f.detained.female + f.detained.male
        ),
        (2, 2, 0)
    );
    assert_eq!(
        (f.children_with_guardian, f.documents_issued, f.reintegrated),
        (3, 2, 4)
    );
    assert_eq!((f.open_discrepancies, f.cases_closed), (0, 1));

    // Every message about this Kazakh family went to Kazakh members or the
    // camp administration, never to another state.
    let deliveries = js
        .get_stream(subjects::DELIVER_STREAM)
        .await
        .expect("stream");
    let info = deliveries.get_info().await.expect("info");
    assert!(
        info.state.messages > 20,
        "{} deliveries",
        info.state.messages
    );
    if nodes > 1 {
        // On a cluster, every delivery is held by three servers.
        assert_eq!(info.config.num_replicas, 3);
        let cluster = info.cluster.as_ref().expect("cluster info");
        assert_eq!(
            cluster.replicas.iter().filter(|r| r.current).count(),
            2,
            "HW_DELIVER's leader {:?} and its replicas {:?}",
            cluster.leader,
            cluster.replicas
        );
    }
    for member in local.policy.members() {
        let party = member.id.party();
        if party == "kz" || party == "aanes" {
            continue;
        }
        let filter = subjects::deliver_filter(&member.id);
        let count = deliveries
            .info_with_subjects(&filter)
            .await
            .expect("subjects")
            .count()
            .await;
        assert_eq!(count, 0, "{} received something", member.id);
    }
    world.stop().await.expect("stops");
}
