//! A member's link to the server cut, then slowed (issue 13, item 5).
//!
//! Kazakhstan's foreign ministry reaches the server through a proxy the
//! test starts on loopback ([`homeward_testkit::proxy`]). The link is cut
//! while the census arrives and held cut until the service has tried to
//! reconnect past its backoff's cap; then it comes back at 200 ms round
//! trip. Meanwhile Uzbek families, whose services are connected directly,
//! go through their whole lifecycle: one while the link is down, one while
//! it is slow. Afterwards every family's figures are right, every delivery
//! is held once, every submission is stored and recorded once on a chain
//! that verifies, every case applied every message once, and the foreign
//! ministry's outbox is empty.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use homeward_core::subjects;
use homeward_replay::replay;
use homeward_replay::world::World;
use homeward_testkit::local::{Local, LocalOptions};
use homeward_testkit::proxy::Proxy;

use crate::support::{plan, uzbek_census, uzbek_plan};

/// async-nats waits 2^(n-1) ms before its n-th reconnect, at most 4 s: by
/// the 14th attempt the backoff has been at its cap.
const RECONNECTS_PAST_THE_CAP: usize = 14;

/// The address of the (single) server behind a `tls://host:port` URL.
fn server_addr(url: &str) -> SocketAddr {
    let (_, hostport) = url.rsplit_once("//").expect("a URL with a scheme");
    hostport.parse().expect("a loopback address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cut_off_then_on_a_slow_link_catches_up_and_applies_nothing_twice() {
    let local = Local::start(LocalOptions::default())
        .await
        .expect("local deployment");
    let proxy = Proxy::start(server_addr(&local.url()))
        .await
        .expect("proxy");
    let via = BTreeMap::from([("kz.mfa".to_owned(), proxy.url_for(&local.url()))]);
    let world = World::start_with(&local, &via).await.expect("services");
    let api = homeward_replay::api::of_world(&world).expect("api");
    assert!(
        proxy
            .wait_for(1, Proxy::accepted, Duration::from_secs(10))
            .await,
        "the foreign ministry connects through the proxy"
    );

    proxy.cut();
    let imported = api
        .command(
            "aanes.camps",
            "census?registeredOn=2019-04-15",
            uzbek_census().into_bytes(),
        )
        .await
        .expect("census imported");
    assert_eq!(imported["cases"], 3, "{imported}");

    let kazakh = async {
        replay::family(&api, &plan())
            .await
            .expect("the Kazakh family, once its ministry is back")
    };
    let rest = async {
        // Cut off, the Kazakh ministry holds nobody else up.
        replay::family(&api, &uzbek_plan("HOL-P4-000412"))
            .await
            .expect("an Uzbek family while the Kazakh ministry is cut off");
        assert!(
            proxy
                .wait_for(
                    RECONNECTS_PAST_THE_CAP,
                    Proxy::refused,
                    Duration::from_secs(50)
                )
                .await,
            "the foreign ministry tried to reconnect {} times",
            proxy.refused()
        );
        // What is meant for it waits in its consumer on the server.
        let js = async_nats::jetstream::new(local.client("look").await.expect("client"));
        let mut consumer: async_nats::jetstream::consumer::PullConsumer = js
            .get_consumer_from_stream(
                subjects::delivery_consumer(&"kz.mfa".parse().expect("id")),
                subjects::DELIVER_STREAM,
            )
            .await
            .expect("kz.mfa's delivery consumer");
        let waiting = consumer.info().await.expect("consumer info");
        assert!(
            waiting.num_pending + waiting.num_ack_pending as u64 >= 1,
            "the located family waits for kz.mfa: {waiting:?}"
        );
        // Back, at 200 ms round trip; a slow member slows nobody else.
        proxy.delay(Duration::from_millis(100));
        replay::family(&api, &uzbek_plan("HOL-P4-000413"))
            .await
            .expect("an Uzbek family while the Kazakh ministry's link is slow");
    };
    tokio::join!(kazakh, rest);
    assert!(proxy.accepted() >= 2, "the foreign ministry reconnected");
    proxy.restore();

    let report = world.report().await.expect("report");
    let kz = report.total(|r| r.country == "KZ");
    assert_eq!(
        (
            kz.located,
            kz.verified,
            kz.arrived,
            kz.reintegrated,
            kz.cases_closed
        ),
        (4, 4, 4, 4, 1),
        "{report:?}"
    );
    let uz = report.total(|r| r.country == "UZ");
    assert_eq!(
        (
            uz.located,
            uz.verified,
            uz.arrived,
            uz.reintegrated,
            uz.cases_closed
        ),
        (4, 4, 4, 4, 2),
        "{report:?}"
    );
    assert_eq!(
        world.service("kz.mfa").expect("kz.mfa").outbox(),
        (0, 0, 0),
        "the foreign ministry's outbox drained"
    );

    // Every case of every service applied each message once.
    for (member, _) in world.endpoints().expect("endpoints") {
        let service = world.service(&member).expect("service");
        for stored in service.cases().await.expect("cases") {
            let case = &stored.case;
            let mut applied = BTreeSet::new();
            let mut sent = BTreeSet::new();
            for event in &case.events {
                let Some(id) = &event.message_id else {
                    continue;
                };
                if event.what.starts_with("sent:") {
                    assert!(sent.insert(id.clone()), "{member} sent {id} twice");
                } else if !event.what.contains(':') {
                    assert!(
                        applied.insert((event.party.clone(), id.clone())),
                        "{member} applied {id} twice in {}",
                        case.case_ref
                    );
                }
            }
        }
    }

    // Each delivery held once; each submission recorded once, in a chain
    // that verifies.
    let js = async_nats::jetstream::new(local.client("check").await.expect("client"));
    crate::support::streams_intact(&js).await;

    world.stop().await.expect("stops");
}
