//! A flooding member (issue 13, item 6): how much one member sending 50
//! times its normal rate slows every other member, with its quota and
//! without.
//!
//! Five members each send signed processing receipts to `aanes.camps` at
//! their normal rate (`--rate`, 20 a second) for `--seconds` (60); a
//! sixth, `kz.mfa`, sends `--factor` (50) times that rate, to `iq.justice`
//! so that its deliveries do not share the measured recipient's consumer.
//! The gateway and the flooder each run on a runtime of their own, as if
//! they were processes of their own. Each run is one fresh deployment and
//! one gateway: ten seconds of the five to warm up, unmeasured, then the
//! five alone (unloaded), then the five with the flood. It is done twice
//! in each round (`--rounds`, 1) of the same invocation: with the flooder's quota in the policy (`--quota`, 100 a
//! second, burst 200), and with a quota too large to bite. The report is
//! each phase's p50, p99 and max from submission to delivery of the five,
//! the ratio flood/unloaded of their p99, and the flood's account: every
//! flooded submission has a receipt, and as many were delivered as were
//! accepted. Nothing of the five is lost: the run waits for every one of
//! their deliveries.
//!
//! ```sh
//! cargo bench -p homeward-gateway --bench flood
//! cargo bench -p homeward-gateway --bench flood -- --rounds 3
//! ```

#[path = "throughput/cpu.rs"]
#[allow(dead_code)]
mod cpu;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use futures::StreamExt;
use homeward_core::envelope::EnvelopeBuilder;
use homeward_core::{MemberId, client, subjects};
use homeward_gateway::Gateway;
use homeward_testkit::local::{Local, LocalOptions};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const NORMAL: [&str; 5] = ["uz.mfa", "tj.mfa", "kg.mfa", "tm.mfa", "uz.security"];
const FLOODER: &str = "kz.mfa";
const MEASURED_RECIPIENT: &str = "aanes.camps";
const FLOOD_RECIPIENT: &str = "iq.justice";

#[derive(Debug, Clone)]
struct Options {
    seconds: u64,
    rate: u32,
    factor: u32,
    quota_rate: u32,
    quota_burst: u32,
    rounds: u32,
}

impl Options {
    fn parse() -> anyhow::Result<Self> {
        let mut o = Self {
            seconds: 60,
            rate: 20,
            factor: 50,
            quota_rate: 100,
            quota_burst: 200,
            rounds: 1,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            if arg == "--bench" {
                continue;
            }
            let value = args.next().ok_or_else(|| anyhow!("{arg} needs a value"))?;
            let n: u64 = value
                .parse()
                .with_context(|| format!("{arg} {value:?} is not a number"))?;
            match arg.as_str() {
                "--seconds" => o.seconds = n,
                "--rate" => o.rate = u32::try_from(n)?,
                "--factor" => o.factor = u32::try_from(n)?,
                "--quota" => o.quota_rate = u32::try_from(n)?,
                "--burst" => o.quota_burst = u32::try_from(n)?,
                "--rounds" => o.rounds = u32::try_from(n)?,
                _ => bail!(
                    "unknown option {arg}; options: --seconds N --rate PER_SECOND --factor N --quota PER_SECOND --burst N --rounds N"
                ),
            }
        }
        ensure!(
            o.seconds > 0 && o.rate > 0 && o.factor > 0,
            "every option must be above 0"
        );
        Ok(o)
    }
}

/// The demo policy with the flooder's quota set.
fn policy(dir: &std::path::Path, rate: u32, burst: u32) -> anyhow::Result<std::path::PathBuf> {
    let quota = format!("submissions_per_second = {rate}\nburst = {burst}");
    Ok(homeward_testkit::local::demo_policy_with_quotas(
        dir,
        &[(FLOODER, &quota)],
    )?)
}

struct Signed {
    id: String,
    bytes: Bytes,
}

fn sign(local: &Local, member: &str, to: &str, n: usize) -> anyhow::Result<Vec<Signed>> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../schemas/messages/message.processed/examples/v1/valid/processed.json"),
    )?;
    let example: Value = serde_json::from_str(&text)?;
    let mut data = example["data"].clone();
    data["originalSender"] = Value::from(to);
    let id = MemberId::parse(member)?;
    let key = local.key(member)?;
    let builder = EnvelopeBuilder::new(
        "message.processed",
        example["dataschema"].as_str().unwrap_or_default(),
        data,
    )
    .subject(example["subject"].as_str().unwrap_or_default());
    (0..n)
        .map(|_| {
            let e = builder.clone().sign(&id, &key)?;
            Ok(Signed {
                id: e.id().to_owned(),
                bytes: e.to_bytes().into(),
            })
        })
        .collect()
}

/// When each measured submission was sent, and how long its delivery took.
#[derive(Default)]
struct Clock {
    sent: Mutex<HashMap<String, Instant>>,
    took: Mutex<Vec<Duration>>,
}

/// Sends `signed` as `js`'s member at `rate` a second, in 10 ms steps;
/// stamps each in `clock` when given. Returns how many the server refused.
async fn send_paced(
    js: jetstream::Context,
    subject: String,
    signed: Vec<Signed>,
    rate: u32,
    clock: Option<Arc<Clock>>,
) -> anyhow::Result<usize> {
    let per_step = f64::from(rate) / 100.0;
    let mut step = tokio::time::interval(Duration::from_millis(10));
    let mut due = 0.0;
    // Acks are awaited by another task, so that neither a slow ack nor
    // the client's bound on acks in flight delays the next send.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<jetstream::context::PublishAckFuture>(1024);
    let acks = tokio::spawn(async move {
        let mut refused = 0;
        while let Some(ack) = rx.recv().await {
            if ack.await.is_err() {
                refused += 1;
            }
        }
        refused
    });
    let mut it = signed.into_iter();
    'sending: loop {
        step.tick().await;
        due += per_step;
        while due >= 1.0 {
            due -= 1.0;
            let Some(s) = it.next() else {
                break 'sending;
            };
            if let Some(c) = &clock {
                c.sent
                    .lock()
                    .map_err(|_| anyhow!("poisoned"))?
                    .insert(s.id.clone(), Instant::now());
            }
            let publish = PublishMessage::build().payload(s.bytes).message_id(&s.id);
            let ack = js.send_publish(subject.clone(), publish).await?;
            tx.send(ack)
                .await
                .map_err(|_| anyhow!("the ack task stopped"))?;
        }
    }
    drop(tx);
    Ok(acks.await?)
}

/// Takes the measured recipient's deliveries until `stop`, timing each.
async fn observe(local: &Local, clock: Arc<Clock>, stop: CancellationToken) -> anyhow::Result<()> {
    let member = local.member(MEASURED_RECIPIENT).await?;
    let consumer = member.delivery_consumer().await?;
    let mut messages = consumer.messages().await?;
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            n = messages.next() => n,
        };
        let Some(Ok(m)) = next else { continue };
        let id = m
            .headers
            .as_ref()
            .and_then(|h| h.get(subjects::headers::MSG_ID))
            .map(|v| v.as_str().to_owned());
        if let Some(id) = id
            && let Some(at) = clock
                .sent
                .lock()
                .map_err(|_| anyhow!("poisoned"))?
                .remove(&id)
        {
            clock
                .took
                .lock()
                .map_err(|_| anyhow!("poisoned"))?
                .push(at.elapsed());
        }
        m.ack().await.map_err(|e| anyhow!("ack: {e}"))?;
    }
}

#[derive(Debug)]
struct Phase {
    name: &'static str,
    /// Cores used over the phase: the gateway's threads, the nats-server,
    /// and everything else in this process (the members, the flooder).
    cores: (f64, f64, f64),
    p50: Duration,
    p99: Duration,
    max: Duration,
    count: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One phase: the five at their rate, and the flood if `flood` is given.
async fn phase(
    local: &Local,
    name: &'static str,
    options: &Options,
    flood: Option<(Vec<Signed>, &tokio::runtime::Runtime)>,
) -> anyhow::Result<(Phase, usize)> {
    let clock = Arc::new(Clock::default());
    let stop = CancellationToken::new();
    let observing = observe(local, clock.clone(), stop.clone());
    let server: Vec<u32> = cpu::server_pid(local.server.store_dir())
        .into_iter()
        .collect();
    let (cpu_before, wall) = (cpu::CpuTimes::now("gateway", &server), Instant::now());
    let n = usize::try_from(options.seconds * u64::from(options.rate))?;
    let mut senders = Vec::new();
    for member in NORMAL {
        let client = local.member(member).await?;
        let signed = sign(local, member, MEASURED_RECIPIENT, n)?;
        senders.push(tokio::spawn(send_paced(
            client.jetstream().clone(),
            subjects::submit(client.member()),
            signed,
            options.rate,
            Some(clock.clone()),
        )));
    }
    // The flooder is another system: it gets its own runtime, as if it
    // were its own process, so that its sending does not delay the
    // measured members' clocks in this one.
    let flooding = match flood {
        Some((signed, runtime)) => {
            let connection = local.connection_as(FLOODER)?;
            let id = MemberId::parse(FLOODER)?;
            let rate = options.rate * options.factor;
            Some(runtime.spawn(async move {
                let nats = client::connect(&connection, Some(&id), "flooder").await?;
                send_paced(
                    jetstream::new(nats),
                    subjects::submit(&id),
                    signed,
                    rate,
                    None,
                )
                .await
            }))
        }
        None => None,
    };
    let expected = n * NORMAL.len();
    let waiting = async {
        for s in senders {
            let refused = s.await??;
            ensure!(
                refused == 0,
                "the server refused {refused} of a normal member's submissions"
            );
        }
        let flood_refused = match flooding {
            Some(f) => f.await??,
            None => 0,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while clock.took.lock().map_err(|_| anyhow!("poisoned"))?.len() < expected {
            ensure!(
                Instant::now() < deadline,
                "only {} of {expected} deliveries of the normal members arrived",
                clock.took.lock().map_err(|_| anyhow!("poisoned"))?.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop.cancel();
        anyhow::Ok(flood_refused)
    };
    let (observed, refused) = tokio::join!(observing, waiting);
    observed?;
    let used = cpu::CpuTimes::now("gateway", &server).since(&cpu_before);
    let wall = wall.elapsed().as_secs_f64().max(1e-9);
    let cores = (
        used.broker.as_secs_f64() / wall,
        used.server.as_secs_f64() / wall,
        used.process.saturating_sub(used.broker).as_secs_f64() / wall,
    );
    let refused = refused?;
    let mut took = clock.took.lock().map_err(|_| anyhow!("poisoned"))?.clone();
    took.sort_unstable();
    Ok((
        Phase {
            name,
            cores,
            p50: percentile(&took, 50.0),
            p99: percentile(&took, 99.0),
            max: took.last().copied().unwrap_or_default(),
            count: took.len(),
        },
        refused,
    ))
}

/// How many messages a stream holds on `subject`.
async fn count(js: &jetstream::Context, stream: &str, subject: &str) -> anyhow::Result<u64> {
    let s = js.get_stream(stream).await?;
    let mut subjects = s.info_with_subjects(subject).await?;
    let mut total = 0;
    while let Some(entry) = subjects.next().await {
        total += entry?.1 as u64;
    }
    Ok(total)
}

async fn run(options: &Options, quota: (u32, u32), label: &str) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let local = Local::start(LocalOptions {
        policy: Some(policy(dir.path(), quota.0, quota.1)?),
        ..Default::default()
    })
    .await?;
    // The gateway gets its own runtime too, as in the throughput bench.
    let gateway_runtime = runtime("gateway", 2)?;
    let flood_runtime = runtime("flooder", 1)?;
    let config = local.gateway_config("gw-flood")?;
    let connection = local.connection_as(config.member.as_str())?;
    let (schemas, policy_in_force) = (local.schemas.clone(), local.policy.clone());
    let stop = CancellationToken::new();
    let (ready, started) = tokio::sync::oneshot::channel();
    let gateway_task = {
        let stop = stop.clone();
        gateway_runtime.spawn(async move {
            let nats = client::connect(&connection, Some(&config.member), &config.instance).await?;
            let gateway = Gateway::start(nats, config, schemas, policy_in_force).await?;
            let _ = ready.send(gateway.metrics());
            gateway.run(stop).await?;
            anyhow::Ok(())
        })
    };
    let metrics = started
        .await
        .map_err(|_| anyhow!("the gateway did not start"))?;
    let flood_n =
        usize::try_from(options.seconds * u64::from(options.rate) * u64::from(options.factor))?;
    let flood = sign(&local, FLOODER, FLOOD_RECIPIENT, flood_n)?;
    // Warm up (connections, caches, the first batches), unmeasured.
    let warm = Options {
        seconds: 10,
        ..options.clone()
    };
    phase(&local, "warm-up", &warm, None).await?;
    let (unloaded, _) = phase(&local, "unloaded", options, None).await?;
    let (flooded, server_refused) =
        phase(&local, "flood", options, Some((flood, &flood_runtime))).await?;

    // The flood's account: every submission the server took has one
    // receipt, and what was accepted was delivered.
    let admin = jetstream::new(local.client("bench-admin").await?);
    let flooder = MemberId::parse(FLOODER)?;
    let taken = flood_n - server_refused;
    let over = || metrics.over_quota(&flooder);
    let deadline = Instant::now() + Duration::from_secs(300);
    let receipts = loop {
        let r = count(
            &admin,
            subjects::RECEIPTS_STREAM,
            &subjects::receipt(&flooder),
        )
        .await?;
        if r as usize >= taken || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let delivered = count(
        &admin,
        subjects::DELIVER_STREAM,
        &format!("hw.deliver.{FLOOD_RECIPIENT}.>"),
    )
    .await?;
    let refused_quota = over();
    println!(
        "{label}: flooder quota {}/s burst {}; flood of {flood_n} at {}/s: server refused {server_refused}, \
         receipts {receipts} of {taken}, over_quota {refused_quota}, delivered {delivered}",
        quota.0,
        quota.1,
        options.rate * options.factor
    );
    ensure!(
        receipts as usize == taken,
        "a flooded submission has no receipt"
    );
    ensure!(
        delivered + refused_quota == taken as u64,
        "accepted and refused do not add up to what was taken"
    );
    for p in [&unloaded, &flooded] {
        println!(
            "{label}: {:>8}: {} deliveries of the other five, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
             cores: gateway {:.2}, nats-server {:.2}, members and flooder {:.2}",
            p.name,
            p.count,
            p.p50.as_secs_f64() * 1e3,
            p.p99.as_secs_f64() * 1e3,
            p.max.as_secs_f64() * 1e3,
            p.cores.0,
            p.cores.1,
            p.cores.2
        );
    }
    println!(
        "{label}: the others' p99 under the flood / unloaded: {:.2}",
        flooded.p99.as_secs_f64() / unloaded.p99.as_secs_f64().max(1e-9)
    );
    stop.cancel();
    gateway_task.await??;
    gateway_runtime.shutdown_background();
    flood_runtime.shutdown_background();
    Ok(())
}

fn runtime(name: &str, threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse()?;
    println!(
        "{} s per phase; five members at {}/s each; the flooder at {}x",
        options.seconds, options.rate, options.factor
    );
    for round in 1..=options.rounds {
        println!("round {round}");
        run(
            &options,
            (options.quota_rate, options.quota_burst),
            "with quota",
        )
        .await?;
        run(&options, (1_000_000, 10_000_000), "no quota").await?;
    }
    Ok(())
}
