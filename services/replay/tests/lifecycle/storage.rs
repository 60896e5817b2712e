//! A full store (issue 13, item 4).
//!
//! The streams' account gets a file storage limit, and the administrator
//! fills what is left of it with a stream of its own, as anything else on
//! the disk would. Then:
//! - the gateway takes a submission it cannot store the outputs of and
//!   acknowledges nothing: the submission stays in `HW_SUBMIT`, with no
//!   delivery, receipt or audit record of it;
//! - a census imported meanwhile is stored by the camp registry, which
//!   answers 202 with the code `server_storage_full`: its messages wait in
//!   the outbox;
//! - once room returns (the filler deleted), everything resumes by itself:
//!   every family goes through its whole lifecycle, each delivery held once,
//!   each submission recorded once on a chain that verifies.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use homeward_core::subjects;
use homeward_replay::replay;
use homeward_replay::world::World;
use homeward_testkit::local::{Local, LocalOptions};

use crate::support::{CENSUS, plan, uzbek_census, uzbek_plan};

/// Room for the provisioning, a few families and the filler's slack.
const STREAMS_MAX_FILE: u64 = 4 * 1024 * 1024;
const FILLER: &str = "FILLER";

/// Publishes into a stream of the streams' account until JetStream
/// refuses a message for want of room: 32 KiB chunks, then 1 KiB, then
/// 64 bytes, so that less room is left than any Homeward message needs.
/// Returns what JetStream said.
async fn fill(js: &jetstream::Context) -> String {
    js.create_stream(stream::Config {
        name: FILLER.into(),
        subjects: vec!["filler.>".into()],
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .expect("the filler stream");
    let mut said = String::new();
    for size in [32 * 1024, 1024, 64] {
        let chunk = vec![b'x'; size];
        let mut n = 0;
        loop {
            let refused = match js
                .publish(format!("filler.{size}.{n}"), chunk.clone().into())
                .await
            {
                Ok(ack) => ack.await.err(),
                Err(e) => Some(e),
            };
            if let Some(e) = refused {
                said = e.to_string();
                break;
            }
            n += 1;
            assert!(
                n < 10_000,
                "{n} chunks of {size} bytes went into a 4 MiB account"
            );
        }
    }
    said
}

async fn submissions_waiting(js: &jetstream::Context) -> u64 {
    js.get_stream(subjects::SUBMIT_STREAM)
        .await
        .expect("stream")
        .get_info()
        .await
        .expect("info")
        .state
        .messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_store_stores_nothing_half_and_resumes_by_itself_when_room_returns() {
    let local = Local::start(LocalOptions {
        streams_max_file: Some(STREAMS_MAX_FILE),
        ..Default::default()
    })
    .await
    .expect("local deployment");
    let mut world = World::start(&local).await.expect("services");
    let api = homeward_replay::api::of_world(&world).expect("api");
    let js = jetstream::new(local.client("admin").await.expect("admin"));

    // The camp registry's first submission waits for a gateway.
    world.stop_gateway().await.expect("the gateway stops");
    let imported = api
        .command(
            "aanes.camps",
            "census?registeredOn=2019-04-15",
            CENSUS.as_bytes().to_vec(),
        )
        .await
        .expect("census imported");
    assert_eq!(imported["cases"], 1, "{imported}");
    assert_eq!(submissions_waiting(&js).await, 1);

    let refusal = fill(&js).await;
    assert!(refusal.contains("resource limits exceeded"), "{refusal}");

    // The gateway takes it and cannot store what it decided: it says so
    // and acknowledges nothing.
    world
        .start_gateway(&local, "gw-2")
        .await
        .expect("a gateway");
    let gateway = world.gateway().expect("the gateway");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while gateway
        .counters
        .errors
        .load(std::sync::atomic::Ordering::Relaxed)
        == 0
    {
        if tokio::time::Instant::now() >= deadline {
            let mut consumer: jetstream::consumer::PullConsumer = js
                .get_consumer_from_stream(subjects::GATEWAY_CONSUMER, subjects::SUBMIT_STREAM)
                .await
                .expect("the gateways' consumer");
            let info = consumer.info().await.expect("info");
            let audit = js
                .get_stream(subjects::AUDIT_STREAM)
                .await
                .expect("a")
                .get_info()
                .await
                .expect("i")
                .state
                .messages;
            panic!(
                "the gateway never failed to store a batch: {info:?}; audit {audit}; submissions {}",
                submissions_waiting(&js).await
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(submissions_waiting(&js).await, 1, "the submission stays");
    for stream in [
        subjects::DELIVER_STREAM,
        subjects::RECEIPTS_STREAM,
        subjects::AUDIT_STREAM,
    ] {
        let info = js
            .get_stream(stream)
            .await
            .expect("stream")
            .get_info()
            .await
            .expect("info");
        assert_eq!(info.state.messages, 0, "{stream} holds half a decision");
    }

    // A census meanwhile: stored, its messages waiting, with the code.
    let waiting = api
        .command(
            "aanes.camps",
            "census?registeredOn=2019-04-15",
            uzbek_census().into_bytes(),
        )
        .await
        .expect("stored while the server is full");
    assert_eq!(
        (&waiting["cases"], &waiting["waiting"]),
        (&2.into(), &2.into()),
        "{waiting}"
    );
    assert_eq!(
        waiting["applied"][0]["waiting"]["code"], "server_storage_full",
        "{waiting}"
    );
    let camp = world.service("aanes.camps").expect("camp registry");
    assert_eq!(
        camp.outbox().2,
        2,
        "two cases wait to be submitted again: {:?}",
        camp.outbox()
    );

    // Room returns; nothing else is done, and everything goes through.
    js.delete_stream(FILLER).await.expect("filler deleted");
    replay::family(&api, &plan())
        .await
        .expect("the Kazakh family, decided once room returned");
    for family in ["HOL-P4-000412", "HOL-P4-000413"] {
        replay::family(&api, &uzbek_plan(family))
            .await
            .expect("an Uzbek family, imported while the store was full");
    }
    assert_eq!(camp.outbox(), (0, 0, 0), "the outbox drained");
    let report = world.report().await.expect("report");
    let all = report.total(|_| true);
    assert_eq!(
        (all.located, all.arrived, all.cases_closed),
        (8, 8, 3),
        "{report:?}"
    );
    crate::support::streams_intact(&js).await;
    world.stop().await.expect("stops");
}
