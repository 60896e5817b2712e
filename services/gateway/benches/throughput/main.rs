//! Throughput and latency of the gateway, against a raw relay that does the
//! same JetStream writes without parsing, validating or signing anything.
//!
//! Each path runs on a fresh local deployment (an embedded nats-server on a
//! free port with a temporary file store), in the same process run, with the
//! same number of freshly signed `camp.resident.located` submissions from
//! `aanes.camps`, each routed to `kz.mfa` and `kz.security`:
//!
//! - **gateway**: the real [`Gateway`], with its checks, seen-ids bucket,
//!   signed receipts and audit chain;
//! - **relay**: pulls `HW_SUBMIT` with the gateway's batch size, takes the
//!   sender from the subject and the envelope id from `Nats-Msg-Id`, writes
//!   one delivery per fixed recipient, a receipt with a small fixed payload
//!   and an audit record chained by the same `AuditLog`, waits for every
//!   stream ack, then acks. The floor under any gateway on this machine.
//!
//! The path under test runs on its own Tokio runtime, as it would in its own
//! process; the submitter and the two recipients run on another. Each
//! recipient pulls its own durable delivery consumer, as a member does, and
//! stamps the moment a delivery reaches it; the submitter stamps the moment
//! it hands each submission to the client. Per path: a warm-up, then the
//! measured phase (submissions pipelined in windows of PublishAckFutures, as
//! fast as they are acked: a backlog, so this is throughput, and the latency
//! is mostly time spent queued), then a paced phase at a fixed offered rate
//! for the latency of an unloaded broker. It also prints the CPU time per
//! submission of the broker's threads, the nats-server and the harness (from
//! `/proc`, steadier than throughput on a shared machine), and the gateway's
//! time per stage from `homeward_gateway::stats`. `BENCHMARKS.md` at the
//! repository root has results and how to read them.
//!
//! ```text
//! cargo bench -p homeward-gateway --bench throughput -- --messages 20000 --rounds 2
//! ```
//!
//! Options (also as environment variables `HW_BENCH_<NAME>`, e.g.
//! `HW_BENCH_MESSAGES=50000`): `--messages` (20000), `--warmup` (2000),
//! `--window` (256), `--paced` (1000 per rate), `--rate` (500,2000: one
//! paced phase per rate, per second, in turn; 0 skips them), `--rounds` (1; rounds alternate which path goes first),
//! `--example` (a file name under
//! `schemas/messages/camp.resident.located/examples/v1/valid/`),
//! `--gateways` (1; a list such as `1,2,3` measures one gateway path per
//! count, the gateways sharing the work queue, each on a runtime of its
//! own), `--nodes` (1, or 3 for a three-node cluster with every stream
//! replicated three times).
//!
//! ```text
//! cargo bench -p homeward-gateway --bench throughput -- --nodes 3 --gateways 1,2,3 --rate 0
//! ```
//!
//! # Layout
//! - this file: the run, each path's measurement on a fresh deployment, and
//!   the signed submissions;
//! - `options`: the flags and `HW_BENCH_` variables;
//! - `relay`: the relay path;
//! - `traffic`: the submitter and the recipients;
//! - `tracker`: submit and delivery instants, and the phases measured from
//!   them;
//! - `cpu`: CPU time and machine readings from `/proc`;
//! - `report`: what is printed.

mod cpu;
mod options;
mod relay;
mod report;
mod tracker;
mod traffic;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use bytes::Bytes;
use homeward_core::envelope::{Envelope, EnvelopeBuilder};
use homeward_core::{MemberId, client, subjects};
use homeward_gateway::Gateway;
use homeward_gateway::check::{self, Rules};
use homeward_gateway::settings::{DEFAULT_BATCH_SIZE, DEFAULT_TIME_WINDOW};
use homeward_gateway::stats::GatewayStats;
use homeward_testkit::local::{Local, LocalOptions};
use homeward_testkit::natsd;
use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::cpu::{CpuTimes, load_average, server_pid};
use crate::options::Options;
use crate::report::PathResult;
use crate::tracker::Tracker;
use crate::traffic::{consume, submit_paced, submit_windowed};

/// The message type submitted, and who receives it (the route for a
/// Kazakh family, which the relay hard-codes).
const MESSAGE_TYPE: &str = "camp.resident.located";
const RECIPIENTS: [&str; 2] = ["kz.mfa", "kz.security"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// That many gateways sharing the work queue.
    Gateway(usize),
    Relay,
}

impl Path {
    /// The threads' name, by which their CPU time is read.
    fn name(self) -> &'static str {
        match self {
            Path::Gateway(_) => "gateway",
            Path::Relay => "relay",
        }
    }

    /// As printed.
    fn label(self) -> String {
        match self {
            Path::Gateway(1) => "gateway".to_owned(),
            Path::Gateway(n) => format!("{n} gateways"),
            Path::Relay => "relay".to_owned(),
        }
    }
}

/// One signed submission, ready to publish.
#[derive(Debug)]
struct Submission {
    id: String,
    bytes: Bytes,
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse()?;
    let harness = tokio::runtime::Builder::new_multi_thread()
        .thread_name("bench-harness")
        .enable_all()
        .build()?;
    harness.block_on(run(options))
}

async fn run(options: Options) -> anyhow::Result<()> {
    let template = load_example(&options.example)?;
    let bin = natsd::find_binary()?;
    let version = natsd::check_version(&bin)?;
    let batch_size = DEFAULT_BATCH_SIZE;

    let check_cost = check_alone(&template).await?;
    let sample = {
        let local = Local::start(LocalOptions::default()).await?;
        sign(&local, &template, 1)?.remove(0).bytes.len()
    };
    report::preamble(&options, version, sample, batch_size, check_cost);

    let mut rounds = Vec::new();
    for round in 0..options.rounds {
        let mut order: Vec<Path> = options.gateways.iter().map(|n| Path::Gateway(*n)).collect();
        order.push(Path::Relay);
        if round % 2 == 1 {
            order.reverse();
        }
        println!("\nround {}", round + 1);
        let mut results = Vec::new();
        for path in order {
            let result = measure(path, &options, &template, batch_size)
                .await
                .with_context(|| format!("measuring the {}", path.label()))?;
            report::path(&result);
            results.push(result);
        }
        rounds.push(report::round(&results));
    }
    report::summary(&rounds);
    Ok(())
}

/// One path on a fresh deployment: warm-up, measured phase, paced phase.
async fn measure(
    path: Path,
    options: &Options,
    template: &Value,
    batch_size: usize,
) -> anyhow::Result<PathResult> {
    let load_before = load_average();
    let local = Local::start(LocalOptions {
        nodes: options.nodes,
        ..Default::default()
    })
    .await?;
    let paced = options.paced * options.rates.len();
    let total = options.warmup + options.messages + paced;
    let submissions = sign(&local, template, total)?;
    let tracker = Arc::new(Tracker::new(&submissions));

    // Each broker under test gets its own runtime, as if it were its own
    // process.
    let brokers = match path {
        Path::Gateway(n) => n,
        Path::Relay => 1,
    };
    let stop = CancellationToken::new();
    let mut runtimes = Brokers(Vec::with_capacity(brokers));
    let mut tasks = Vec::with_capacity(brokers);
    let mut stats = None;
    for i in 0..brokers {
        let broker = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(path.name())
            .enable_all()
            .build()?;
        let (ready_tx, ready_rx) = oneshot::channel::<Option<Arc<GatewayStats>>>();
        let task = match path {
            Path::Gateway(_) => {
                let config = local.gateway_config(&format!("gw-bench-{}", i + 1))?;
                let connection = local.connection_as(config.member.as_str())?;
                ensure!(config.batch_size == batch_size, "batch sizes differ");
                let (schemas, policy) = (local.schemas.clone(), local.policy.clone());
                let stop = stop.clone();
                broker.spawn(async move {
                    let nats = client::connect(&connection, Some(&config.member), &config.instance)
                        .await?;
                    let gateway = Gateway::start(nats, config, schemas, policy).await?;
                    let _ = ready_tx.send(Some(gateway.stats()));
                    gateway.run(stop).await?;
                    anyhow::Ok(())
                })
            }
            Path::Relay => {
                // The relay does the gateway's writes, so it runs as the gateway.
                let gateway = local.gateway_config("relay-bench")?.member;
                let connection = local.connection_as(gateway.as_str())?;
                let stop = stop.clone();
                broker.spawn(async move {
                    let nats = client::connect(&connection, Some(&gateway), "relay-bench").await?;
                    let js = client::homeward_jetstream(nats);
                    let _ = ready_tx.send(None);
                    relay::relay(js, batch_size, stop).await
                })
            }
        };
        runtimes.0.push(broker);
        match ready_rx.await {
            // Stage times are printed for one gateway alone: with several,
            // one gateway's times over all submissions mean nothing.
            Ok(s) if brokers == 1 => stats = s,
            Ok(_) => {}
            Err(_) => {
                let outcome = task.await;
                stop.cancel();
                bail!("the {} did not start: {outcome:?}", path.label());
            }
        }
        tasks.push(task);
    }

    let mut consumers = Vec::new();
    for (i, member) in RECIPIENTS.iter().enumerate() {
        let member = local.member(member).await?;
        let consumer = member.delivery_consumer().await?;
        consumers.push(tokio::spawn(consume(
            consumer,
            i,
            tracker.clone(),
            stop.clone(),
        )));
    }
    let sender = local.member("aanes.camps").await?;
    let js = sender.jetstream().clone();
    let subject = subjects::submit(sender.member());
    let timeout = |n: usize| Duration::from_secs(60) + Duration::from_millis(n as u64);

    let mut delivered = 0;
    let warmup = 0..options.warmup;
    submit_windowed(
        &js,
        &subject,
        &submissions,
        warmup.clone(),
        options,
        &tracker,
    )
    .await?;
    delivered += warmup.len() * RECIPIENTS.len();
    tracker.wait_for(delivered, timeout(warmup.len())).await?;

    let before = stats.as_ref().map(|s| s.snapshot());
    let server: Vec<u32> = std::iter::once(&local.server)
        .chain(&local.peers)
        .filter_map(|s| server_pid(s.store_dir()))
        .collect();
    let cpu_before = CpuTimes::now(path.name(), &server);
    let measured = warmup.end..warmup.end + options.messages;
    let submit_time = submit_windowed(
        &js,
        &subject,
        &submissions,
        measured.clone(),
        options,
        &tracker,
    )
    .await?;
    delivered += measured.len() * RECIPIENTS.len();
    tracker.wait_for(delivered, timeout(measured.len())).await?;
    let cpu = CpuTimes::now(path.name(), &server).since(&cpu_before);
    let stages = stats
        .as_ref()
        .zip(before)
        .map(|(s, before)| s.snapshot().since(&before));

    // The paced phases, one rate after another, each waiting for its own
    // deliveries before the next starts.
    let mut paced_phases = Vec::with_capacity(options.rates.len());
    for (i, &rate) in options.rates.iter().enumerate() {
        let start = measured.end + i * options.paced;
        let paced_slots = start..start + options.paced;
        submit_paced(
            &js,
            &subject,
            &submissions,
            paced_slots.clone(),
            rate,
            options,
            &tracker,
        )
        .await?;
        delivered += paced_slots.len() * RECIPIENTS.len();
        tracker
            .wait_for(delivered, timeout(paced_slots.len()))
            .await?;
        paced_phases.push(tracker.phase(paced_slots));
    }

    stop.cancel();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await);
    }
    drop(runtimes);
    for outcome in outcomes {
        outcome
            .map_err(|e| anyhow!("{} task: {e}", path.label()))?
            .with_context(|| format!("the {} failed", path.label()))?;
    }
    for consumer in consumers {
        consumer.await??;
    }
    Ok(PathResult {
        path,
        measured: tracker.phase(measured),
        submit_time,
        paced: paced_phases,
        stages,
        cpu,
        load_before,
    })
}

/// The runtimes of the brokers under test, shut down when dropped (a
/// runtime cannot be dropped inside another, as on an early error).
struct Brokers(Vec<tokio::runtime::Runtime>);

impl Drop for Brokers {
    fn drop(&mut self) {
        for broker in self.0.drain(..) {
            broker.shutdown_background();
        }
    }
}

fn load_example(name: &str) -> anyhow::Result<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../schemas/messages")
        .join(MESSAGE_TYPE)
        .join("examples/v1/valid")
        .join(name);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let example: Value = serde_json::from_str(&text)?;
    ensure!(
        example["type"] == MESSAGE_TYPE && example["data"]["claimedNationality"] == "KZ",
        "{name} must be a {MESSAGE_TYPE} for a Kazakh family (the relay's recipients are fixed)"
    );
    Ok(example)
}

/// `n` submissions of the example, each with a fresh id, time and trace,
/// signed by the example's sender with the deployment's key.
fn sign(local: &Local, example: &Value, n: usize) -> anyhow::Result<Vec<Submission>> {
    let text = |k: &str| {
        example[k]
            .as_str()
            .ok_or_else(|| anyhow!("the example has no {k}"))
    };
    let sender = MemberId::from_source(text("source")?)?;
    let key = local.key(sender.as_str())?;
    let builder = EnvelopeBuilder::new(text("type")?, text("dataschema")?, example["data"].clone())
        .subject(text("subject")?);
    (0..n)
        .map(|_| {
            let envelope: Envelope = builder.clone().sign(&sender, &key)?;
            Ok(Submission {
                id: envelope.id().to_owned(),
                bytes: envelope.to_bytes().into(),
            })
        })
        .collect()
}

/// The CPU cost of the gateway's checks on one submission, on one core,
/// with nothing else running; also proves the example is accepted.
async fn check_alone(example: &Value) -> anyhow::Result<Duration> {
    const N: usize = 2_000;
    let local = Local::start(LocalOptions::default()).await?;
    let submissions = sign(&local, example, N)?;
    let rules = Rules {
        schemas: &local.schemas,
        policy: &local.policy,
        time_window: DEFAULT_TIME_WINDOW,
    };
    let sender = MemberId::parse("aanes.camps")?;
    let now = OffsetDateTime::now_utc();
    let started = Instant::now();
    for s in &submissions {
        match check::check(&rules, Some(&sender), &s.bytes, now) {
            Ok(accepted) => ensure!(
                accepted.recipients.len() == RECIPIENTS.len(),
                "the example routes to {:?}",
                accepted.recipients
            ),
            Err(rejected) => bail!("the example is rejected: {:?}", rejected.reasons),
        }
    }
    Ok(started.elapsed() / N as u32)
}
