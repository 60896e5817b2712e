//! A server lost (issue 12, item 4): on a three-node cluster, during a run
//! of `--messages` (10,000) submissions, the node leading `HW_SUBMIT` is
//! killed (SIGKILL), then the one leading `HW_DELIVER`, then the metadata
//! leader; each is started again after `--down` seconds (5), and the next
//! is killed once the cluster is whole again and another quarter of the
//! run is acknowledged.
//!
//! `kz.mfa` submits signed processing receipts to `aanes.camps` at
//! `--rate` a second (250), at most `--window` (64) waiting for their ack at
//! once, each published again with the same id while the cluster fails
//! over (`homeward_testkit::cluster::submit_until_stored`). `aanes.camps`
//! takes its deliveries from its own consumer as a member does.
//!
//! Printed per kill: how long no submission was acknowledged and no
//! delivery arrived (the longest gap after the kill, against the longest
//! gap of the quarter before it), how many publishes had to be sent again,
//! and how long the restarted node took to catch up. Then the account: 0
//! acknowledged submissions lost (every acked id reached `aanes.camps`), 0
//! deliveries held twice in `HW_DELIVER`, every submission recorded once
//! on an audit chain that verifies. A broken account fails the run.
//!
//! ```sh
//! cargo bench -p homeward-gateway --bench failover
//! cargo bench -p homeward-gateway --bench failover -- --messages 10000 --rounds 3
//! ```

#[path = "throughput/cpu.rs"]
#[allow(dead_code)]
mod cpu;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use futures::StreamExt;
use homeward_core::envelope::{Envelope, EnvelopeBuilder};
use homeward_core::{MemberId, subjects};
use homeward_testkit::cluster::{self, Led};
use homeward_testkit::invariants;
use homeward_testkit::local::{Local, LocalOptions};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const SENDER: &str = "kz.mfa";
const RECIPIENT: &str = "aanes.camps";

/// How long a submission may take to be stored through a failover.
const STORED_WITHIN: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
struct Options {
    messages: usize,
    rate: u32,
    window: usize,
    down: u64,
    rounds: u32,
}

impl Options {
    fn parse() -> anyhow::Result<Self> {
        let mut o = Self {
            messages: 10_000,
            rate: 250,
            window: 64,
            down: 5,
            rounds: 1,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            if arg == "--bench" {
                continue;
            }
            let value = args.next().ok_or_else(|| anyhow!("{arg} needs a value"))?;
            let n: u64 = value
                .replace('_', "")
                .parse()
                .with_context(|| format!("{arg} {value:?} is not a number"))?;
            match arg.as_str() {
                "--messages" => o.messages = usize::try_from(n)?,
                "--rate" => o.rate = u32::try_from(n)?,
                "--window" => o.window = usize::try_from(n)?,
                "--down" => o.down = n,
                "--rounds" => o.rounds = u32::try_from(n)?,
                _ => bail!(
                    "unknown option {arg}; options: --messages N --rate PER_SECOND --window N --down SECONDS --rounds N"
                ),
            }
        }
        ensure!(
            o.messages >= 100 && o.rate > 0 && o.window > 0 && o.rounds > 0,
            "--messages must be at least 100, and --rate, --window and --rounds above 0"
        );
        Ok(o)
    }
}

fn sign(local: &Local, n: usize) -> anyhow::Result<Vec<Envelope>> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../schemas/messages/message.processed/examples/v1/valid/processed.json"),
    )?;
    let example: Value = serde_json::from_str(&text)?;
    let mut data = example["data"].clone();
    data["originalSender"] = Value::from(RECIPIENT);
    let id = MemberId::parse(SENDER)?;
    let key = local.key(SENDER)?;
    let builder = EnvelopeBuilder::new(
        "message.processed",
        example["dataschema"].as_str().unwrap_or_default(),
        data,
    )
    .subject(example["subject"].as_str().unwrap_or_default());
    (0..n)
        .map(|_| Ok(builder.clone().sign(&id, &key)?))
        .collect()
}

/// What the run saw: when each submission was acked (and after how many
/// publishes), and when each delivery first arrived.
#[derive(Default)]
struct Seen {
    acked: Mutex<Vec<(Instant, String, u32)>>,
    delivered: Mutex<HashMap<String, Instant>>,
    redelivered: Mutex<usize>,
}

impl Seen {
    fn acked_count(&self) -> usize {
        self.acked.lock().map(|a| a.len()).unwrap_or(0)
    }
}

/// The longest time between two consecutive instants within `[from, to]`
/// (the edges count as instants).
fn longest_gap(mut instants: Vec<Instant>, from: Instant, to: Instant) -> Duration {
    instants.retain(|i| *i >= from && *i <= to);
    instants.push(from);
    instants.push(to);
    instants.sort();
    instants
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}

/// One kill: what was killed, when, when it came back, when whole again.
struct Kill {
    led: Led,
    node: usize,
    at: Instant,
    restarted: Instant,
    whole: Instant,
    /// The start of the quarter before it, for the gaps of a calm moment.
    calm_from: Instant,
}

async fn submit_all(
    mfa: homeward_core::client::MemberClient,
    envelopes: Vec<Envelope>,
    rate: u32,
    window: usize,
    seen: Arc<Seen>,
) -> anyhow::Result<()> {
    let gate = Arc::new(tokio::sync::Semaphore::new(window));
    let mut step = tokio::time::interval(Duration::from_millis(10));
    let per_step = f64::from(rate) / 100.0;
    let mut due = 0.0;
    let mut tasks = tokio::task::JoinSet::new();
    let mut it = envelopes.into_iter();
    'sending: loop {
        step.tick().await;
        due += per_step;
        while due >= 1.0 {
            due -= 1.0;
            let Some(envelope) = it.next() else {
                break 'sending;
            };
            let permit = gate.clone().acquire_owned().await?;
            let (mfa, seen) = (mfa.clone(), seen.clone());
            tasks.spawn(async move {
                let (_, tries) =
                    cluster::submit_until_stored(&mfa, &envelope, STORED_WITHIN).await?;
                seen.acked.lock().map_err(|_| anyhow!("poisoned"))?.push((
                    Instant::now(),
                    envelope.id().to_owned(),
                    tries,
                ));
                drop(permit);
                anyhow::Ok(())
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

async fn observe(
    member: homeward_core::client::MemberClient,
    seen: Arc<Seen>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let consumer = member.delivery_consumer().await?;
    let mut messages = consumer.messages().await?;
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            next = messages.next() => next,
        };
        let Some(message) = next else {
            // The pull ended (its node went away): pull again.
            messages = consumer.messages().await?;
            continue;
        };
        let Ok(message) = message else {
            continue;
        };
        if let Some(id) = message
            .headers
            .as_ref()
            .and_then(|h| h.get(subjects::headers::MSG_ID))
        {
            let mut delivered = seen.delivered.lock().map_err(|_| anyhow!("poisoned"))?;
            if delivered.contains_key(id.as_str()) {
                *seen.redelivered.lock().map_err(|_| anyhow!("poisoned"))? += 1;
            } else {
                delivered.insert(id.as_str().to_owned(), Instant::now());
            }
        }
        // An ack lost in a failover brings the delivery again, counted above.
        let _ = message.ack().await;
    }
}

/// Waits until `seen` has `count` acks, for at most `within`.
async fn until_acked(seen: &Seen, count: usize, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while seen.acked_count() < count {
        ensure!(
            Instant::now() < deadline,
            "{} of {count} submissions acknowledged after {within:?}",
            seen.acked_count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn round(options: &Options, number: u32) -> anyhow::Result<()> {
    let mut local = Local::start(LocalOptions {
        nodes: 3,
        ..Default::default()
    })
    .await?;
    let gateway = local
        .spawn_gateway(local.gateway_config("gw-failover")?)
        .await?;
    let js = async_nats::jetstream::new(local.client("failover-bench").await?);
    let envelopes = sign(&local, options.messages)?;
    let ids: Vec<String> = envelopes.iter().map(|e| e.id().to_owned()).collect();
    let seen = Arc::new(Seen::default());
    let stop = CancellationToken::new();
    let observer = tokio::spawn(observe(
        local.member(RECIPIENT).await?,
        seen.clone(),
        stop.clone(),
    ));
    let started = Instant::now();
    let submitting = tokio::spawn(submit_all(
        local.member(SENDER).await?,
        envelopes,
        options.rate,
        options.window,
        seen.clone(),
    ));
    let killing = async {
        let mut kills = Vec::new();
        let mut calm_from = started;
        for (i, led) in [
            Led::Stream(subjects::SUBMIT_STREAM),
            Led::Stream(subjects::DELIVER_STREAM),
            Led::Meta,
        ]
        .into_iter()
        .enumerate()
        {
            until_acked(&seen, options.messages * (i + 1) / 4, STORED_WITHIN).await?;
            let node = cluster::kill_leader(&mut local, &js, led)
                .await
                .with_context(|| format!("killing {led}"))?;
            let at = Instant::now();
            tokio::time::sleep(Duration::from_secs(options.down)).await;
            cluster::restart(&mut local, node)?;
            let restarted = Instant::now();
            cluster::until_whole(&local, &js, STORED_WITHIN).await?;
            kills.push(Kill {
                led,
                node,
                at,
                restarted,
                whole: Instant::now(),
                calm_from,
            });
            calm_from = Instant::now();
        }
        anyhow::Ok(kills)
    };
    let kills = killing.await?;
    submitting.await??;
    let elapsed = started.elapsed();
    // Every acknowledged submission reaches its recipient.
    let deadline = Instant::now() + STORED_WITHIN;
    loop {
        let missing = {
            let delivered = seen.delivered.lock().map_err(|_| anyhow!("poisoned"))?;
            ids.iter().filter(|id| !delivered.contains_key(*id)).count()
        };
        if missing == 0 {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "{missing} acknowledged submissions never reached {RECIPIENT}: lost"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    observer.await??;
    gateway.stop().await?;
    let held = invariants::deliveries_held_once(&js)
        .await
        .map_err(|e| anyhow!("deliveries: {e}"))?;
    let recorded = invariants::each_submission_recorded_once(&js)
        .await
        .map_err(|e| anyhow!("audit: {e}"))?;
    ensure!(
        held == options.messages,
        "{held} deliveries held for {} submissions",
        options.messages
    );
    ensure!(
        recorded as usize == options.messages,
        "{recorded} submissions stored for {} sent: a publish sent again was stored twice",
        options.messages
    );

    let acked = seen.acked.lock().map_err(|_| anyhow!("poisoned"))?;
    let delivered = seen.delivered.lock().map_err(|_| anyhow!("poisoned"))?;
    let ack_times: Vec<Instant> = acked.iter().map(|(t, _, _)| *t).collect();
    let delivery_times: Vec<Instant> = delivered.values().copied().collect();
    let ms = |d: Duration| format!("{:.0}", d.as_secs_f64() * 1e3);
    println!(
        "\nround {number}: {} submissions at {}/s in {:.1} s, load {}",
        options.messages,
        options.rate,
        elapsed.as_secs_f64(),
        cpu::load_average()
    );
    println!(
        "| killed | node | no ack for (ms) | no delivery for (ms) | calm: no ack / no delivery (ms) | publishes sent again | down (s) | restart to whole (ms) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let last_ack = ack_times.iter().max().copied().unwrap_or(started);
    let last_delivery = delivery_times.iter().max().copied().unwrap_or(started);
    for k in &kills {
        // Up to 5 s after the cluster is whole again, and no later than
        // the run's last ack or delivery: the run's end is no gap.
        let end = k.whole + Duration::from_secs(5);
        let retried: u32 = acked
            .iter()
            .filter(|(t, _, _)| *t >= k.at && *t <= end)
            .map(|(_, _, tries)| tries - 1)
            .sum();
        println!(
            "| {} | n{} | {} | {} | {} / {} | {retried} | {:.1} | {} |",
            k.led,
            k.node + 1,
            ms(longest_gap(ack_times.clone(), k.at, end.min(last_ack))),
            ms(longest_gap(
                delivery_times.clone(),
                k.at,
                end.min(last_delivery)
            )),
            ms(longest_gap(ack_times.clone(), k.calm_from, k.at)),
            ms(longest_gap(delivery_times.clone(), k.calm_from, k.at)),
            (k.restarted - k.at).as_secs_f64(),
            ms(k.whole - k.restarted),
        );
    }
    println!(
        "account: {} acknowledged, {} delivered to {RECIPIENT} (0 lost), {} deliveries held in HW_DELIVER (0 twice), {} taken again by the recipient after a lost ack, {recorded} submissions each recorded once, chain verifies",
        acked.len(),
        delivered.len(),
        held,
        seen.redelivered.lock().map(|r| *r).unwrap_or(0),
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        for n in 1..=options.rounds {
            round(&options, n).await?;
        }
        anyhow::Ok(())
    })
}
