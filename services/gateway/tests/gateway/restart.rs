//! A gateway that dies mid-stream loses nothing and duplicates nothing:
//! what it had taken but not acked comes again to the next gateway, which
//! redoes it to no further effect.

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use homeward_core::audit::{AuditRecord, sha256_hex, verify_chain};
use homeward_core::envelope::Envelope;
use homeward_core::{MemberId, streams, subjects};
use homeward_gateway::audit_log::{AuditLog, PendingRecord};
use homeward_testkit::local::{Local, LocalOptions};

use crate::support::{
    Tail, WAIT, assert_each_handled_once, audit_chain, jetstream, processed, submit_pipelined,
    wait_for_records,
};

const MESSAGES: usize = 2_000;
/// Submitted after the stream, in one burst: about one batch.
const LAST_BATCH: usize = 128;

/// How long a submission taken by a dead gateway waits before it is offered
/// again. The gateway's own consumer waits 30 s; the test makes the shared
/// consumer first, with the gateway's settings but a shorter wait, so that
/// it runs in seconds. `get_or_create_consumer` then finds it as it is.
const ACK_WAIT: Duration = Duration::from_secs(3);

async fn gateway_consumer_with_short_ack_wait(js: &jetstream::Context) {
    streams::ensure(js, 1).await.expect("streams");
    js.get_stream(subjects::SUBMIT_STREAM)
        .await
        .expect("stream")
        .create_consumer(pull::Config {
            durable_name: Some(subjects::GATEWAY_CONSUMER.to_owned()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: ACK_WAIT,
            max_ack_pending: 20_000,
            ..Default::default()
        })
        .await
        .expect("consumer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_killed_mid_stream_lose_nothing_and_duplicate_nothing() {
    let local = Local::start(LocalOptions::default())
        .await
        .expect("local deployment starts");
    let js = jetstream(&local).await;
    gateway_consumer_with_short_ack_wait(&js).await;
    let mfa = local.member("kz.mfa").await.expect("member");
    let envelopes: Vec<Envelope> = (0..MESSAGES + LAST_BATCH)
        .map(|_| processed(&local))
        .collect();
    let (stream, last_batch) = envelopes.split_at(MESSAGES);
    // Each gateway is killed the moment a stream it writes reaches a count
    // in the middle of a batch (a batch is up to 128 submissions), having
    // written part or all of the batch's outputs and acked none of it.
    let mut deliveries = Tail::new(&js, subjects::DELIVER_STREAM, subjects::DELIVER_ALL).await;
    let mut audit = Tail::new(&js, subjects::AUDIT_STREAM, subjects::AUDIT_ALL).await;

    // The first, while it publishes deliveries and receipts, with
    // submissions still flowing in.
    let first = local
        .spawn_gateway(local.gateway_config("gw-first").expect("config"))
        .await
        .expect("gateway starts");
    let submitting = {
        let (mfa, stream) = (mfa.clone(), stream.to_vec());
        tokio::spawn(async move { submit_pipelined(&mfa, &stream).await })
    };
    deliveries.take(450, WAIT).await;
    first.abort();

    // The second, while it appends audit records.
    let second = local
        .spawn_gateway(local.gateway_config("gw-second").expect("config"))
        .await
        .expect("gateway starts");
    audit.take(900, WAIT).await;
    second.abort();

    // The third finishes the stream, and is killed in its last batch, with
    // nothing else to do: the next gateway's first batch is the one it
    // died in, chained straight onto the records it left.
    let mut sequences = submitting.await.expect("submitted");
    let third = local
        .spawn_gateway(local.gateway_config("gw-third").expect("config"))
        .await
        .expect("gateway starts");
    wait_for_records(&js, &sequences, Duration::from_secs(60)).await;
    let tail_sequences = submit_pipelined(&mfa, last_batch).await;
    let mut audit = Tail::new(&js, subjects::AUDIT_STREAM, subjects::AUDIT_ALL).await;
    audit.take(MESSAGES + 1, WAIT).await;
    third.abort();
    sequences.extend(tail_sequences);

    let last = local
        .spawn_gateway(local.gateway_config("gw-last").expect("config"))
        .await
        .expect("gateway starts");
    wait_for_records(&js, &sequences, Duration::from_secs(30)).await;
    last.stop().await.expect("gateway stops");

    let sent: Vec<(Envelope, u64)> = envelopes.into_iter().zip(sequences).collect();
    let records =
        assert_each_handled_once(&local, &js, mfa.member(), &sent, &["aanes.camps"]).await;
    let instances: BTreeSet<&str> = records.iter().map(|r| r.gateway.as_str()).collect();
    assert!(
        ["gw-first", "gw-second", "gw-third"]
            .iter()
            .all(|g| instances.contains(g)),
        "each killed gateway had recorded decisions: {instances:?}"
    );
}

/// A record of submission `seq`, as gateway `gateway` would make it at
/// `time`; copies made by two gateways differ but share the message id.
fn record(seq: u64, gateway: &str, time: &str) -> PendingRecord {
    let sender = MemberId::parse("kz.mfa").expect("member");
    let bytes_hash = sha256_hex(format!("submission {seq}").as_bytes());
    PendingRecord {
        subject: subjects::audit("accepted", Some(&sender)),
        msg_id: format!("audit:{seq}:{}", &bytes_hash[..16]),
        record: AuditRecord {
            time: time.to_owned(),
            gateway: gateway.to_owned(),
            submission_sequence: seq.to_string(),
            envelope_id: None,
            sender: sender.to_string(),
            message_type: Some("message.processed".into()),
            case: None,
            recipients: vec!["aanes.camps".into()],
            decision: "accepted".into(),
            codes: vec![],
            envelope_sha256: bytes_hash,
            submitted_at: None,
            trace_id: None,
            reasons: Vec::new(),
            prev: String::new(),
            hash: String::new(),
        },
    }
}

fn batch(seqs: impl IntoIterator<Item = u64>, gateway: &str, time: &str) -> Vec<PendingRecord> {
    seqs.into_iter().map(|s| record(s, gateway, time)).collect()
}

/// The crash windows a whole-gateway test hits only by chance, made on
/// purpose: a batch whose records were partly appended when its gateway
/// died comes again, whole, to another gateway.
#[tokio::test]
async fn a_batch_appended_again_after_a_crash_adds_no_record_and_keeps_the_chain() {
    let local = Local::start(LocalOptions::default())
        .await
        .expect("local deployment starts");
    let js = jetstream(&local).await;
    streams::ensure(&js, 1).await.expect("streams");
    let (a, b) = ("2026-11-26T10:00:00.000Z", "2026-11-26T10:00:31.000Z");

    let mut first = AuditLog::new(js.clone());
    first
        .append(batch(1..=5, "gw-a", a))
        .await
        .expect("appends");
    // The batch 6..=10: the gateway died after appending 6..=8.
    first
        .append(batch(6..=8, "gw-a", a))
        .await
        .expect("appends");
    // Another gateway gets the whole batch again, then goes on.
    let mut second = AuditLog::new(js.clone());
    second
        .append(batch(6..=10, "gw-b", b))
        .await
        .expect("appends the redone batch");
    second
        .append(batch(11..=12, "gw-b", b))
        .await
        .expect("appends");

    // A full batch whose every record is on the chain, with two new ones.
    let mut third = AuditLog::new(js.clone());
    third
        .append(batch(13..=142, "gw-c", a))
        .await
        .expect("appends");
    let mut fourth = AuditLog::new(js.clone());
    fourth
        .append(batch(13..=144, "gw-d", b))
        .await
        .expect("appends a batch of 130 records already on the chain");

    // Old and new records interleaved.
    let mut fifth = AuditLog::new(js.clone());
    let mixed = [145, 7, 146, 143, 147]
        .into_iter()
        .map(|s| record(s, "gw-e", b))
        .collect();
    fifth.append(mixed).await.expect("appends");

    let chain = audit_chain(&js).await;
    assert_eq!(
        verify_chain(chain.clone()).map(|s| (s.records, s.foreign.len())),
        Ok((147, 0)),
        "the chain verifies with one record per submission"
    );
    let records: Vec<AuditRecord> = chain
        .iter()
        .map(|(_, bytes)| serde_json::from_slice(bytes).expect("record"))
        .collect();
    let seqs: Vec<u64> = records
        .iter()
        .map(|r| r.submission_sequence.parse().expect("sequence"))
        .collect();
    assert_eq!(
        seqs.iter().copied().collect::<BTreeSet<_>>(),
        (1..=147).collect(),
        "every submission recorded"
    );
    let by = |seq: u64| {
        records
            .iter()
            .find(|r| r.submission_sequence == seq.to_string())
            .map(|r| r.gateway.as_str())
    };
    assert_eq!(
        (by(8), by(9), by(12)),
        (Some("gw-a"), Some("gw-b"), Some("gw-b"))
    );
    assert_eq!((by(142), by(143)), (Some("gw-c"), Some("gw-d")));
}

/// The time window is measured against when the server stored a
/// submission, not against the gateway's clock when it gets to it: a gateway
/// down for longer than the window does not turn valid queued submissions
/// into `stale`.
#[tokio::test]
async fn submissions_queued_while_no_gateway_runs_for_longer_than_the_window_are_not_stale() {
    let local = Local::start(LocalOptions::default())
        .await
        .expect("local deployment starts");
    let window = Duration::from_secs(1);
    let mfa = local.member("kz.mfa").await.expect("member");
    let mut receipts = mfa.receipts().await.expect("receipts");
    let envelope = crate::support::processed(&local);
    mfa.submit(&envelope).await.expect("queued");
    // No gateway runs for longer than the window: the premise of the test,
    // not a wait for something to happen.
    tokio::time::sleep(window * 2).await;
    let mut config = local.gateway_config("gw-late").expect("config");
    config.time_window = window;
    let gateway = local.spawn_gateway(config).await.expect("gateway");
    let (_, receipt) = receipts
        .wait_for(envelope.id(), crate::support::WAIT)
        .await
        .expect("decided");
    assert_eq!(
        receipt.decision,
        homeward_core::receipt::Decision::Accepted,
        "{receipt:?}"
    );
    gateway.stop().await.expect("stops");
}
