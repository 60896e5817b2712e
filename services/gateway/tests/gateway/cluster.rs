//! A server lost: on a three-node cluster, while submissions flow, the
//! node leading `HW_SUBMIT` is killed (SIGKILL) and started again, then the
//! one leading `HW_DELIVER`, then the metadata leader. Every submission is
//! still delivered exactly once, receipted once and recorded once, on an
//! audit chain that verifies.

use std::time::Duration;

use homeward_core::client::MemberClient;
use homeward_core::envelope::Envelope;
use homeward_core::subjects;
use homeward_testkit::cluster::{self, Led};
use homeward_testkit::local::{Local, LocalOptions};

use crate::support::{assert_each_handled_once, jetstream, processed, wait_for_records};

const MESSAGES: usize = 1_000;

/// How long the cluster may take to serve a stream again after losing the
/// node that led it (about 5 s here).
const FAILOVER_WITHIN: Duration = Duration::from_secs(60);

/// Submits each envelope, one after another, through any failover.
async fn submit(client: &MemberClient, envelopes: &[Envelope]) -> Vec<u64> {
    let mut sequences = Vec::with_capacity(envelopes.len());
    for envelope in envelopes {
        let (sequence, _) = cluster::submit_until_stored(client, envelope, FAILOVER_WITHIN)
            .await
            .expect("stored through the failover");
        sequences.push(sequence);
    }
    sequences
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leaders_killed_in_turn_while_submissions_flow_lose_nothing_and_double_nothing() {
    let mut local = Local::start(LocalOptions {
        nodes: 3,
        ..Default::default()
    })
    .await
    .expect("a three-node cluster");
    let gateway = local
        .spawn_gateway(local.gateway_config("gw-cluster").expect("config"))
        .await
        .expect("gateway starts");
    let mfa = local.member("kz.mfa").await.expect("member");
    let envelopes: Vec<Envelope> = (0..MESSAGES).map(|_| processed(&local)).collect();
    let js = jetstream(&local).await;

    // A share goes in with the cluster whole; then, for each leader, it
    // dies as a crash would, with what came before still being decided, a
    // share goes in without it, it comes back, and the cluster is whole
    // again before the next.
    let leaders = [
        Led::Stream(subjects::SUBMIT_STREAM),
        Led::Stream(subjects::DELIVER_STREAM),
        Led::Meta,
    ];
    let mut shares = envelopes.chunks(MESSAGES / (leaders.len() + 1));
    let mut sequences = submit(&mfa, shares.next().expect("a first share")).await;
    for led in leaders {
        let index = cluster::kill_leader(&mut local, &js, led)
            .await
            .unwrap_or_else(|e| panic!("{led}: {e}"));
        sequences.extend(submit(&mfa, shares.next().expect("a share")).await);
        cluster::restart(&mut local, index).expect("the node starts again");
        cluster::until_whole(&local, &js, FAILOVER_WITHIN)
            .await
            .unwrap_or_else(|e| panic!("after {led} (node {}): {e}", index + 1));
    }
    for rest in shares {
        sequences.extend(submit(&mfa, rest).await);
    }

    wait_for_records(&js, &sequences, Duration::from_secs(120)).await;
    gateway.stop().await.expect("the gateway stops");
    let sent: Vec<(Envelope, u64)> = envelopes.into_iter().zip(sequences).collect();
    assert_each_handled_once(&local, &js, mfa.member(), &sent, &["aanes.camps"]).await;
}
