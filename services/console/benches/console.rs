//! How fast the console folds decisions, whether its memory stays bounded,
//! and whether it keeps up with a live audit stream at a given rate.
//!
//! `cargo bench -p homeward-console --bench console -- [--records N] [--rate R] [--seconds S]`
//!
//! 1. **Fold**: `N` (default 2,000,000) chained audit records, as the
//!    gateway writes them (one case per family of about eight decisions,
//!    a rejection in fifty), folded into the model with the default
//!    limits; the rate, and the process's RSS at each checkpoint. Records
//!    are made in chunks outside the timing.
//! 2. **Live**: a real nats-server, a console on it as the operator, and
//!    records appended to `HW_AUDIT` at `R` per second (default 2,000)
//!    for `S` seconds (default 20); every 100 ms, how far the console's
//!    read count is behind what the stream holds; then the time it takes
//!    to catch up once the writing stops.

use std::time::{Duration, Instant};

use homeward_console::model::{Limits, Model};
use homeward_console::settings::default_late_after;
use homeward_core::audit::{AuditRecord, GENESIS, sha256_hex};

const TYPES: [&str; 8] = [
    "camp.resident.located",
    "identity.verification.requested",
    "identity.verification.completed",
    "repatriation.requested",
    "repatriation.decided",
    "operation.scheduled",
    "handover.completed",
    "arrival.recorded",
];
const MEMBERS: [&str; 6] = [
    "aanes.camps",
    "kz.mfa",
    "kz.security",
    "uz.mfa",
    "uz.security",
    "tj.mfa",
];

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Records `from..from+n` of the synthetic chain, sealed after `prev`.
fn chunk(from: u64, n: u64, prev: &mut String) -> Vec<(u64, Vec<u8>)> {
    (from..from + n)
        .map(|i| {
            let family = i / 8;
            let sender = MEMBERS[(i % 6) as usize];
            let mut r = AuditRecord {
                time: homeward_core::envelope::format_time(time::OffsetDateTime::now_utc()),
                gateway: "bench".into(),
                submission_sequence: i.to_string(),
                envelope_id: Some(homeward_core::envelope::new_id()),
                sender: sender.into(),
                message_type: Some(TYPES[(i % 8) as usize].into()),
                case: Some(format!("HOL-B{:02}-{:06}", family % 97, family)),
                recipients: vec![MEMBERS[((i + 1) % 6) as usize].into()],
                decision: if i % 50 == 0 { "rejected" } else { "accepted" }.into(),
                codes: if i % 50 == 0 {
                    vec!["schema_violation".into()]
                } else {
                    vec![]
                },
                envelope_sha256: sha256_hex(&i.to_be_bytes()),
                submitted_at: None,
                trace_id: None,
                reasons: vec![],
                prev: String::new(),
                hash: String::new(),
            };
            r.seal(prev).expect("seals");
            prev.clone_from(&r.hash);
            (i, serde_json::to_vec(&r).expect("json"))
        })
        .collect()
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fold(records: u64) {
    println!(
        "fold: {records} records into the model, default limits {:?}",
        Limits::default()
    );
    let mut model = Model::new(Limits::default(), default_late_after());
    let mut prev = GENESIS.to_owned();
    let mut folded = 0;
    let mut spent = Duration::ZERO;
    let start_rss = rss_mib();
    let mut next_report = 250_000;
    while folded < records {
        let n = 10_000.min(records - folded);
        let c = chunk(folded + 1, n, &mut prev);
        let t = Instant::now();
        for (seq, bytes) in &c {
            model.add(*seq, bytes);
        }
        spent += t.elapsed();
        folded += n;
        if folded >= next_report || folded == records {
            println!(
                "  {folded:>9} records: {:>8.0} records/s folded, {} cases indexed, RSS {:.1} MiB (started at {start_rss:.1})",
                folded as f64 / spent.as_secs_f64(),
                model.cases(),
                rss_mib()
            );
            next_report *= 2;
        }
    }
    assert!(model.audit().intact(), "{:?}", model.audit());
}

async fn live(rate: u64, seconds: u64) -> anyhow::Result<()> {
    use homeward_core::{MemberId, client, subjects};
    use homeward_testkit::local::{Local, LocalOptions};
    println!("live: {rate} decisions/s appended to HW_AUDIT for {seconds} s, a console reading");
    let local = Local::start(LocalOptions::default()).await?;
    let mut config = homeward_console::ConsoleConfig::new(MemberId::parse("homeward.operator")?);
    config.poll_every = Duration::from_millis(250);
    let nats = client::connect(
        &local.connection_as("homeward.operator")?,
        Some(&config.operator),
        "console bench",
    )
    .await?;
    let stop = tokio_util::sync::CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    let console = homeward_console::Console::start(
        nats,
        local.policy.clone(),
        config,
        stop.clone(),
        &mut tasks,
    );
    let js = async_nats::jetstream::new(local.client("bench writer").await?);
    let total = rate * seconds;
    let mut prev = GENESIS.to_owned();
    let records = chunk(1, total, &mut prev);
    let rss_before = rss_mib();
    let started = Instant::now();
    let sender = MemberId::parse("aanes.camps")?;
    let subject = subjects::audit("accepted", Some(&sender));
    let mut max_behind = 0u64;
    let mut behind_samples = Vec::new();
    let mut next_sample = Instant::now();
    let mut acks = Vec::new();
    for (seq, bytes) in records {
        // Paced: record `seq` is due at seq / rate seconds.
        let due = started + Duration::from_secs_f64(seq as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        acks.push(js.publish(subject.clone(), bytes.into()).await?);
        if acks.len() >= 64 {
            for a in acks.drain(..) {
                a.await?;
            }
        }
        if Instant::now() >= next_sample {
            let read = console.model().decisions();
            let behind = seq.saturating_sub(read);
            max_behind = max_behind.max(behind);
            behind_samples.push(behind);
            next_sample += Duration::from_millis(100);
        }
    }
    for a in acks.drain(..) {
        a.await?;
    }
    let wrote_in = started.elapsed();
    let stopped = Instant::now();
    while console.model().decisions() < total {
        tokio::time::sleep(Duration::from_millis(5)).await;
        anyhow::ensure!(
            stopped.elapsed() < Duration::from_secs(120),
            "the console did not catch up"
        );
    }
    let caught_up = stopped.elapsed();
    behind_samples.sort_unstable();
    let p99 = behind_samples
        .get(behind_samples.len() * 99 / 100)
        .copied()
        .unwrap_or(0);
    println!(
        "  wrote {total} records in {:.1} s ({:.0}/s); the console was behind by at most {max_behind} records ({:.0} ms at this rate), p99 {p99}; caught up {:.0} ms after the last write; audit intact: {}; bench process RSS {rss_before:.1} → {:.1} MiB",
        wrote_in.as_secs_f64(),
        total as f64 / wrote_in.as_secs_f64(),
        max_behind as f64 * 1000.0 / rate as f64,
        caught_up.as_secs_f64() * 1000.0,
        console.model().audit().intact(),
        rss_mib(),
    );
    stop.cancel();
    while let Some(t) = tasks.join_next().await {
        t??;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    fold(arg("--records", 2_000_000));
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(live(arg("--rate", 2000), arg("--seconds", 20)))
}
