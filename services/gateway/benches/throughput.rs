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
//!   and an audit record chained by the same [`AuditLog`], waits for every
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
//! `--window` (256), `--paced` (1000), `--rate` (500 per second; 0 skips the
//! paced phase), `--rounds` (1; rounds alternate which path goes first),
//! `--example` (a file name under
//! `schemas/messages/camp.resident.located/examples/v1/valid/`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer::pull, message::PublishMessage};
use bytes::Bytes;
use futures::StreamExt;
use homeward_core::audit::{AuditRecord, sha256_hex};
use homeward_core::envelope::{Envelope, EnvelopeBuilder, format_time};
use homeward_core::subjects::{self, headers};
use homeward_core::{MemberId, client, natsd};
use homeward_gateway::audit_log::{AuditLog, PendingRecord};
use homeward_gateway::check::{self, Rules};
use homeward_gateway::local::{Local, LocalOptions};
use homeward_gateway::stats::{GatewayStats, StatsSnapshot};
use homeward_gateway::{Gateway, GatewayConfig};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;

/// The message type submitted, and who receives it (the route for a
/// Kazakh family, which the relay hard-codes).
const MESSAGE_TYPE: &str = "camp.resident.located";
const RECIPIENTS: [&str; 2] = ["kz.mfa", "kz.security"];
/// What the relay sends as a receipt.
const RELAY_RECEIPT: &[u8] = br#"{"decision":"accepted"}"#;

#[derive(Debug, Clone)]
struct Options {
    messages: usize,
    warmup: usize,
    window: usize,
    paced: usize,
    rate: u32,
    rounds: usize,
    example: String,
}

impl Options {
    const USAGE: &str = "options: --messages N --warmup N --window N --paced N --rate PER_SECOND \
                         --rounds N --example FILE (or HW_BENCH_<NAME> variables)";

    fn parse() -> anyhow::Result<Self> {
        let mut given: HashMap<String, String> = std::env::vars()
            .filter_map(|(k, v)| {
                k.strip_prefix("HW_BENCH_")
                    .map(|name| (name.to_ascii_lowercase(), v))
            })
            .collect();
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            // `cargo bench` passes `--bench` to every bench binary.
            if arg == "--bench" {
                continue;
            }
            if arg == "--help" || arg == "-h" {
                println!("{}", Self::USAGE);
                std::process::exit(0);
            }
            let Some(name) = arg.strip_prefix("--") else {
                bail!("unexpected argument {arg:?}; {}", Self::USAGE);
            };
            let (name, value) = match name.split_once('=') {
                Some((n, v)) => (n.to_owned(), v.to_owned()),
                None => (
                    name.to_owned(),
                    args.next()
                        .ok_or_else(|| anyhow!("--{name} needs a value"))?,
                ),
            };
            given.insert(name, value);
        }
        let mut take = |name: &str, default: usize| -> anyhow::Result<usize> {
            given.remove(name).map_or(Ok(default), |v| {
                v.replace('_', "")
                    .parse()
                    .with_context(|| format!("--{name} {v:?} is not a count"))
            })
        };
        let options = Self {
            messages: take("messages", 20_000)?,
            warmup: take("warmup", 2_000)?,
            window: take("window", 256)?,
            paced: take("paced", 1_000)?,
            rate: u32::try_from(take("rate", 500)?).context("--rate is too large")?,
            rounds: take("rounds", 1)?,
            example: given
                .remove("example")
                .unwrap_or_else(|| "orphan-siblings-annex.json".to_owned()),
        };
        if let Some(name) = given.keys().next() {
            bail!("unknown option {name:?}; {}", Self::USAGE);
        }
        ensure!(options.messages > 0, "--messages must be at least 1");
        ensure!(
            (1..=4_000).contains(&options.window),
            "--window must be 1..=4000 (max_ack_inflight is 5000)"
        );
        ensure!(options.rounds > 0, "--rounds must be at least 1");
        Ok(options)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Gateway,
    Relay,
}

impl Path {
    fn name(self) -> &'static str {
        match self {
            Path::Gateway => "gateway",
            Path::Relay => "relay",
        }
    }
}

/// One signed submission, ready to publish.
#[derive(Debug)]
struct Submission {
    id: String,
    bytes: Bytes,
}

/// Submit and delivery instants of every submission of one path, in
/// nanoseconds since `t0` (0: not yet).
#[derive(Debug)]
struct Tracker {
    t0: Instant,
    slots: HashMap<String, usize>,
    submitted: Vec<AtomicU64>,
    /// `slot * RECIPIENTS.len() + recipient`.
    received: Vec<AtomicU64>,
    count: AtomicUsize,
    target: AtomicUsize,
    reached: Notify,
}

impl Tracker {
    fn new(submissions: &[Submission]) -> Self {
        let n = submissions.len();
        Self {
            t0: Instant::now(),
            slots: submissions
                .iter()
                .enumerate()
                .map(|(i, s)| (s.id.clone(), i))
                .collect(),
            submitted: (0..n).map(|_| AtomicU64::new(0)).collect(),
            received: (0..n * RECIPIENTS.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            count: AtomicUsize::new(0),
            target: AtomicUsize::new(usize::MAX),
            reached: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.t0.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn submitting(&self, slot: usize) {
        self.submitted[slot].store(self.now(), Ordering::Relaxed);
    }

    /// A delivery of envelope `id` reached `recipient`. Redeliveries count once.
    fn received(&self, id: &str, recipient: usize) {
        let Some(&slot) = self.slots.get(id) else {
            return;
        };
        let cell = &self.received[slot * RECIPIENTS.len() + recipient];
        if cell
            .compare_exchange(0, self.now(), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            let count = self.count.fetch_add(1, Ordering::SeqCst) + 1;
            if count == self.target.load(Ordering::SeqCst) {
                self.reached.notify_one();
            }
        }
    }

    /// Waits until `total` deliveries have arrived since the start.
    async fn wait_for(&self, total: usize, timeout: Duration) -> anyhow::Result<()> {
        self.target.store(total, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + timeout;
        while self.count.load(Ordering::SeqCst) < total {
            if tokio::time::timeout_at(deadline, self.reached.notified())
                .await
                .is_err()
            {
                bail!(
                    "only {} of {total} deliveries arrived within {timeout:?}",
                    self.count.load(Ordering::SeqCst)
                );
            }
        }
        Ok(())
    }

    /// The phase over `slots`: from its first submission to its last
    /// delivery, and every delivery's latency, sorted.
    fn phase(&self, slots: std::ops::Range<usize>) -> Phase {
        let first = slots
            .clone()
            .map(|i| self.submitted[i].load(Ordering::Relaxed));
        let first = first.min().unwrap_or(0);
        let mut last = 0;
        let mut latencies = Vec::with_capacity(slots.len() * RECIPIENTS.len());
        for i in slots.clone() {
            let sent = self.submitted[i].load(Ordering::Relaxed);
            for r in 0..RECIPIENTS.len() {
                let got = self.received[i * RECIPIENTS.len() + r].load(Ordering::Relaxed);
                last = last.max(got);
                latencies.push(Duration::from_nanos(got.saturating_sub(sent)));
            }
        }
        latencies.sort_unstable();
        Phase {
            messages: slots.len(),
            elapsed: Duration::from_nanos(last.saturating_sub(first)),
            latencies,
        }
    }
}

#[derive(Debug)]
struct Phase {
    messages: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }
}

#[derive(Debug)]
struct PathResult {
    path: Path,
    measured: Phase,
    submit_time: Duration,
    paced: Option<Phase>,
    stages: Option<StatsSnapshot>,
    cpu: CpuTimes,
    load_before: String,
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
    let batch_size = GatewayConfig::new(
        MemberId::parse("homeward.gateway")?,
        homeward_core::SigningKey::generate(),
    )
    .batch_size;

    let check_cost = check_alone(&template).await?;
    let sample = {
        let local = Local::start(LocalOptions::default()).await?;
        sign(&local, &template, 1)?.remove(0).bytes.len()
    };
    println!("Homeward gateway throughput benchmark");
    println!(
        "machine: {} cores, {}; nats-server v{}.{}.{} (file storage, 1 replica)",
        std::thread::available_parallelism().map_or(0, usize::from),
        cpu_model(),
        version.0,
        version.1,
        version.2
    );
    println!(
        "message: {MESSAGE_TYPE} ({}), {sample} bytes signed, from aanes.camps to {}",
        options.example,
        RECIPIENTS.join(" and ")
    );
    println!(
        "per path: fresh deployment; {} warm-up, {} measured (windows of {}), {}; batch size {batch_size}",
        options.warmup,
        options.messages,
        options.window,
        if options.rate == 0 || options.paced == 0 {
            "no paced phase".to_owned()
        } else {
            format!("{} paced at {}/s", options.paced, options.rate)
        }
    );
    println!(
        "check() alone, one core: {:.1} µs per submission (at most {:.0} msg/s per core)",
        check_cost.as_secs_f64() * 1e6,
        1.0 / check_cost.as_secs_f64()
    );

    let mut rounds = Vec::new();
    for round in 0..options.rounds {
        let order = if round % 2 == 0 {
            [Path::Gateway, Path::Relay]
        } else {
            [Path::Relay, Path::Gateway]
        };
        println!("\nround {}", round + 1);
        let mut results = Vec::new();
        for path in order {
            let result = measure(path, &options, &template, batch_size)
                .await
                .with_context(|| format!("measuring the {}", path.name()))?;
            report(&result);
            results.push(result);
        }
        let of = |p: Path| results.iter().find(|r| r.path == p);
        let rate = |p: Path| of(p).map_or(0.0, |r| r.measured.rate());
        let cpu = |p: Path| {
            of(p).map_or(0.0, |r| {
                r.cpu.broker.as_secs_f64() * 1e6 / r.measured.messages as f64
            })
        };
        let ratio = rate(Path::Gateway) / rate(Path::Relay);
        println!(
            "  ratio gateway/relay: {ratio:.2} (throughput); {:.1}× the relay's CPU per submission",
            cpu(Path::Gateway) / cpu(Path::Relay).max(1e-9)
        );
        rounds.push((rate(Path::Gateway), rate(Path::Relay), ratio));
    }
    if rounds.len() > 1 {
        println!("\nsummary");
        for (i, (g, r, ratio)) in rounds.iter().enumerate() {
            println!(
                "  round {}: gateway {g:>8.0} msg/s, relay {r:>8.0} msg/s, ratio {ratio:.2}",
                i + 1
            );
        }
    }
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
    let local = Local::start(LocalOptions::default()).await?;
    let paced = if options.rate == 0 { 0 } else { options.paced };
    let total = options.warmup + options.messages + paced;
    let submissions = sign(&local, template, total)?;
    let tracker = Arc::new(Tracker::new(&submissions));

    // The path under test gets its own runtime, as if it were its own process.
    let broker = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(path.name())
        .enable_all()
        .build()?;
    let stop = CancellationToken::new();
    let (ready_tx, ready_rx) = oneshot::channel::<Option<Arc<GatewayStats>>>();
    let task = match path {
        Path::Gateway => {
            let config = local.gateway_config("gw-bench")?;
            let connection = local.connection_as(config.member.as_str())?;
            ensure!(config.batch_size == batch_size, "batch sizes differ");
            let (schemas, policy) = (local.schemas.clone(), local.policy.clone());
            let stop = stop.clone();
            broker.spawn(async move {
                let nats =
                    client::connect(&connection, Some(&config.member), &config.instance).await?;
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
                relay(js, batch_size, stop).await
            })
        }
    };
    let stats = match ready_rx.await {
        Ok(stats) => stats,
        Err(_) => {
            let outcome = task.await;
            broker.shutdown_background();
            bail!("the {} did not start: {outcome:?}", path.name());
        }
    };

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
    let server = server_pid(local.server.store_dir());
    let cpu_before = CpuTimes::now(path.name(), server);
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
    let cpu = CpuTimes::now(path.name(), server).since(&cpu_before);
    let stages = stats
        .as_ref()
        .zip(before)
        .map(|(s, before)| s.snapshot().since(&before));

    let paced_slots = measured.end..measured.end + paced;
    let paced_phase = if paced > 0 {
        submit_paced(
            &js,
            &subject,
            &submissions,
            paced_slots.clone(),
            options,
            &tracker,
        )
        .await?;
        delivered += paced_slots.len() * RECIPIENTS.len();
        tracker
            .wait_for(delivered, timeout(paced_slots.len()))
            .await?;
        Some(tracker.phase(paced_slots))
    } else {
        None
    };

    stop.cancel();
    let outcome = task.await;
    broker.shutdown_background();
    outcome
        .map_err(|e| anyhow!("{} task: {e}", path.name()))?
        .with_context(|| format!("the {} failed", path.name()))?;
    for consumer in consumers {
        consumer.await??;
    }
    Ok(PathResult {
        path,
        measured: tracker.phase(measured),
        submit_time,
        paced: paced_phase,
        stages,
        cpu,
        load_before,
    })
}

fn report(r: &PathResult) {
    let m = &r.measured;
    println!(
        "  {:<8} {:>8.0} msg/s  ({} in {:.2} s; submitted in {:.2} s)  submit→delivery p50 {} p99 {}  [load before: {}]",
        r.path.name(),
        m.rate(),
        m.messages,
        m.elapsed.as_secs_f64(),
        r.submit_time.as_secs_f64(),
        ms(m.percentile(50.0)),
        ms(m.percentile(99.0)),
        r.load_before,
    );
    let per = |d: Duration| d.as_secs_f64() * 1e6 / m.messages as f64;
    println!(
        "  {:<8} CPU per submission: {} {:.0} µs, nats-server {:.0} µs, submitter and recipients {:.0} µs",
        "",
        r.path.name(),
        per(r.cpu.broker),
        per(r.cpu.server),
        per(r.cpu.process.saturating_sub(r.cpu.broker)),
    );
    if let Some(p) = &r.paced {
        println!(
            "  {:<8} paced {:.0}/s: submit→delivery p50 {} p99 {} max {}",
            "",
            p.rate(),
            ms(p.percentile(50.0)),
            ms(p.percentile(99.0)),
            ms(p.latencies.last().copied().unwrap_or_default()),
        );
    }
    if let Some(s) = &r.stages {
        let wall = s.wall.as_secs_f64().max(1e-9);
        let per = |d: Duration| d.as_secs_f64() * 1e6 / s.submissions.max(1) as f64;
        let describe = |in_write_loop: bool| {
            s.stages
                .iter()
                .filter(|(stage, _)| stage.in_write_loop() == in_write_loop)
                .map(|(stage, d)| {
                    format!(
                        "{} {:.1} µs ({:.0}%)",
                        stage.as_str(),
                        per(*d),
                        100.0 * d.as_secs_f64() / wall
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "  {:<8} gateway time per submission (share of the phase's wall time), {} batches:",
            "", s.batches
        );
        println!("  {:<10} decide loop: {}", "", describe(false));
        println!("  {:<10} write loop:  {}", "", describe(true));
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Submits `slots` as fast as the stream acks them, `window` at a time.
async fn submit_windowed(
    js: &jetstream::Context,
    subject: &str,
    submissions: &[Submission],
    slots: std::ops::Range<usize>,
    options: &Options,
    tracker: &Tracker,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut window = Vec::with_capacity(options.window);
    for slot in slots.clone() {
        tracker.submitting(slot);
        window.push(publish(js, subject, &submissions[slot]).await?);
        if window.len() == options.window || slot + 1 == slots.end {
            for ack in window.drain(..) {
                let ack = ack.await.context("submission not stored")?;
                ensure!(!ack.duplicate, "a submission was taken for a duplicate");
            }
        }
    }
    Ok(started.elapsed())
}

/// Submits `slots` at `options.rate` per second, open loop: acks are
/// awaited by another task so a slow ack does not delay the next send.
async fn submit_paced(
    js: &jetstream::Context,
    subject: &str,
    submissions: &[Submission],
    slots: std::ops::Range<usize>,
    options: &Options,
    tracker: &Tracker,
) -> anyhow::Result<()> {
    let (tx, mut rx) =
        tokio::sync::mpsc::channel::<jetstream::context::PublishAckFuture>(options.window);
    let acks = tokio::spawn(async move {
        while let Some(ack) = rx.recv().await {
            let ack = ack.await.context("submission not stored")?;
            ensure!(!ack.duplicate, "a submission was taken for a duplicate");
        }
        anyhow::Ok(())
    });
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(options.rate)));
    for slot in slots {
        tick.tick().await;
        tracker.submitting(slot);
        let ack = publish(js, subject, &submissions[slot]).await?;
        tx.send(ack)
            .await
            .map_err(|_| anyhow!("the ack task stopped"))?;
    }
    drop(tx);
    acks.await?
}

async fn publish(
    js: &jetstream::Context,
    subject: &str,
    submission: &Submission,
) -> anyhow::Result<jetstream::context::PublishAckFuture> {
    js.send_publish(
        subject.to_owned(),
        PublishMessage::build()
            .payload(submission.bytes.clone())
            .message_id(&submission.id),
    )
    .await
    .context("submitting")
}

/// A recipient pulling its own durable consumer: stamps each delivery on
/// arrival and acks it.
async fn consume(
    consumer: jetstream::consumer::Consumer<pull::Config>,
    recipient: usize,
    tracker: Arc<Tracker>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut messages = consumer.messages().await?;
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            next = messages.next() => next,
        };
        let Some(message) = next else {
            return Ok(());
        };
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                eprintln!("delivery stream error (continuing): {e}");
                continue;
            }
        };
        if let Some(id) = message
            .headers
            .as_ref()
            .and_then(|h| h.get(headers::MSG_ID))
        {
            tracker.received(id.as_str(), recipient);
        }
        message.ack().await.map_err(|e| anyhow!("ack: {e}"))?;
    }
}

/// The same JetStream writes as the gateway's for an accepted submission,
/// with nothing checked: deliveries to fixed recipients, a fixed receipt,
/// the chained audit record; then the acks.
async fn relay(
    js: jetstream::Context,
    batch_size: usize,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    // The same provisioned consumer as the gateway's, so both read alike.
    let consumer =
        client::provisioned_consumer(&js, subjects::SUBMIT_STREAM, subjects::GATEWAY_CONSUMER)
            .await?;
    let recipients = RECIPIENTS
        .iter()
        .map(|m| MemberId::parse(m))
        .collect::<Result<Vec<_>, _>>()?;
    let recipient_list: Vec<String> = recipients.iter().map(ToString::to_string).collect();
    let mut audit = AuditLog::new(js.clone());
    while !stop.is_cancelled() {
        let batch = tokio::select! {
            _ = stop.cancelled() => break,
            batch = consumer
                .fetch()
                .max_messages(batch_size)
                .expires(Duration::from_millis(500))
                .messages() => batch?,
        };
        let messages: Vec<jetstream::Message> =
            batch.filter_map(|m| async { m.ok() }).collect().await;
        if messages.is_empty() {
            continue;
        }
        let time = format_time(OffsetDateTime::now_utc());
        let mut acks = Vec::with_capacity(messages.len() * (recipients.len() + 1));
        let mut records = Vec::with_capacity(messages.len());
        for m in &messages {
            let sequence = m
                .info()
                .map_err(|e| anyhow!("no message info: {e}"))?
                .stream_sequence;
            let sender = subjects::member_of_submit(m.subject.as_str())
                .ok_or_else(|| anyhow!("no member in {}", m.subject))?;
            let id = m
                .headers
                .as_ref()
                .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            let mut h = HeaderMap::new();
            h.insert(headers::SENDER, sender.as_str());
            h.insert(headers::SUBMIT_SEQ, sequence.to_string().as_str());
            h.insert(headers::TYPE, MESSAGE_TYPE);
            h.insert(headers::MSG_ID, id.as_str());
            for recipient in &recipients {
                let publish = PublishMessage::build()
                    .payload(m.payload.clone())
                    .headers(h.clone())
                    .message_id(format!("{sender}:{id}:{recipient}"));
                acks.push(
                    js.send_publish(subjects::deliver(recipient, MESSAGE_TYPE), publish)
                        .await?,
                );
            }
            h.insert(headers::DECISION, "accepted");
            h.insert(headers::RECIPIENTS, recipient_list.join(",").as_str());
            let receipt = PublishMessage::build()
                .payload(Bytes::from_static(RELAY_RECEIPT))
                .headers(h)
                .message_id(format!("receipt:{sequence}"));
            acks.push(js.send_publish(subjects::receipt(&sender), receipt).await?);
            let bytes_hash = sha256_hex(&m.payload);
            records.push(PendingRecord {
                subject: subjects::audit("accepted", Some(&sender)),
                msg_id: format!("audit:{sequence}:{}", &bytes_hash[..16]),
                record: AuditRecord {
                    time: time.clone(),
                    gateway: "relay-bench".to_owned(),
                    submission_sequence: sequence.to_string(),
                    envelope_id: Some(id),
                    sender: sender.to_string(),
                    message_type: Some(MESSAGE_TYPE.to_owned()),
                    case: None,
                    recipients: recipient_list.clone(),
                    decision: "accepted".to_owned(),
                    codes: Vec::new(),
                    envelope_sha256: bytes_hash,
                    prev: String::new(),
                    hash: String::new(),
                },
            });
        }
        for ack in acks {
            ack.await?;
        }
        audit.append(records).await?;
        for m in &messages {
            m.ack().await.map_err(|e| anyhow!("ack: {e}"))?;
        }
    }
    Ok(())
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
        time_window: Duration::from_secs(600),
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

/// CPU time (user and system) spent so far by the broker's threads (named
/// after the path), by this whole process, and by the nats-server.
#[derive(Debug, Clone, Copy, Default)]
struct CpuTimes {
    broker: Duration,
    process: Duration,
    server: Duration,
}

impl CpuTimes {
    fn now(broker_threads: &str, server_pid: Option<u32>) -> Self {
        let mut broker = Duration::ZERO;
        if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
            for task in tasks.flatten() {
                let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
                if comm.trim_end() == broker_threads {
                    broker += stat_cpu(&task.path().join("stat"));
                }
            }
        }
        Self {
            broker,
            process: stat_cpu(std::path::Path::new("/proc/self/stat")),
            server: server_pid.map_or(Duration::ZERO, |pid| {
                stat_cpu(&PathBuf::from(format!("/proc/{pid}/stat")))
            }),
        }
    }

    fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes {
            broker: self.broker.saturating_sub(earlier.broker),
            process: self.process.saturating_sub(earlier.process),
            server: self.server.saturating_sub(earlier.server),
        }
    }
}

/// utime + stime from a `/proc/.../stat` file, in clock ticks of 10 ms
/// (USER_HZ is 100 on Linux).
fn stat_cpu(path: &std::path::Path) -> Duration {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let Some((_, rest)) = text.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the command: state is field 0, utime 11, stime 12.
    Duration::from_millis(10 * (ticks(11) + ticks(12)))
}

/// The pid of the nats-server whose store is `store`.
fn server_pid(store: &std::path::Path) -> Option<u32> {
    let store = store.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline);
            (cmdline.contains("nats-server") && cmdline.contains(&store)).then_some(pid)
        })
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".to_owned())
}
