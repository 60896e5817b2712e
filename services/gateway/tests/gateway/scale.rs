//! Two gateways on one work queue handle thousands of submissions, each
//! exactly once, on one audit chain.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use homeward_core::envelope::Envelope;

use crate::support::{
    assert_each_handled_once, jetstream, processed, submit_pipelined, wait_for_records,
};
use homeward_testkit::local::{Local, LocalOptions};

const MESSAGES: usize = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_deliver_each_of_5000_messages_exactly_once() {
    let started = Instant::now();
    let local = Local::start(LocalOptions::default())
        .await
        .expect("local deployment starts");
    let js = jetstream(&local).await;
    let first = local
        .spawn_gateway(local.gateway_config("gw-1").expect("config"))
        .await
        .expect("gateway starts");
    let second = local
        .spawn_gateway(local.gateway_config("gw-2").expect("config"))
        .await
        .expect("gateway starts");
    let mfa = local.member("kz.mfa").await.expect("member");

    // A cheap message: a processing receipt, about 900 bytes, one recipient.
    let envelopes: Vec<Envelope> = (0..MESSAGES).map(|_| processed(&local)).collect();
    let sequences = submit_pipelined(&mfa, &envelopes).await;
    wait_for_records(&js, &sequences, Duration::from_secs(90)).await;
    let elapsed = started.elapsed();
    first.stop().await.expect("first gateway stops");
    second.stop().await.expect("second gateway stops");

    let sent: Vec<(Envelope, u64)> = envelopes.into_iter().zip(sequences).collect();
    let records =
        assert_each_handled_once(&local, &js, mfa.member(), &sent, &["aanes.camps"]).await;
    // Which gateway takes which batch is the work queue's choice: both
    // usually get some, but one may take them all.
    let mut by_instance: BTreeMap<&str, usize> = BTreeMap::new();
    for record in &records {
        *by_instance.entry(record.gateway.as_str()).or_default() += 1;
    }
    assert!(
        by_instance.keys().all(|i| ["gw-1", "gw-2"].contains(i)),
        "every record is one of the two gateways': {by_instance:?}"
    );
    eprintln!("{MESSAGES} submissions handled by two gateways in {elapsed:?}: {by_instance:?}");
}
