//! The tasks that read the server for the console, each until the stop
//! token, each retrying after a failure rather than ending the console:
//!
//! - **audit**: reads `HW_AUDIT` in stream order by direct get, a window of
//!   requests at a time so that it keeps up with thousands of decisions a
//!   second, woken by the live audit subjects ([`read_audit`]);
//! - **backlog**: reads every consumer's state on the Homeward streams and
//!   marks the stuck ones, and checks the audit stream's own state
//!   ([`poll_backlog`]);
//! - **advisories**: the messages a consumer gave up on (max deliveries)
//!   or a service terminated (parked), with their reason ([`follow_parked`]);
//! - **discovery**: `$SRV.STATS` of the gateway and of every member's
//!   service, through the operator's imports ([`poll_services`]);
//! - **live**: a snapshot of all the views every `live_every`, for the
//!   live feed ([`publish_live`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::stream::DirectGetErrorKind;
use futures::{FutureExt, StreamExt};
use homeward_core::policy::Role;
use homeward_core::{MemberId, client, natsauth, subjects};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::Console;

/// Direct gets in flight at once while catching up.
const WINDOW: u64 = 256;
/// How long a record the stream says exists may be missing from a read
/// (a replica behind its leader) before the console treats it as a gap.
const MISSING_FOR: Duration = Duration::from_secs(5);
/// How long discovery waits for the instances of one identity.
const DISCOVERY_WAIT: Duration = Duration::from_millis(750);
/// How long a failed watcher waits before it tries again.
const RETRY: Duration = Duration::from_secs(1);
/// Parked and terminated messages kept.
const PARKED_KEPT: usize = 500;

/// One consumer's backlog, as the Backlog view shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerRow {
    pub stream: String,
    pub consumer: String,
    /// The member whose consumer it is (`gateway` for the gateways').
    pub member: String,
    /// Messages not yet delivered to it.
    pub pending: u64,
    /// Delivered, waiting for an ack.
    pub ack_pending: u64,
    pub redelivered: u64,
    /// Pull requests waiting: a service is there, asking.
    pub waiting: u64,
    /// Seconds the oldest unacknowledged message has waited, where known.
    pub oldest_unacked_seconds: Option<i64>,
    /// Whether that age is exact or a lower bound.
    pub oldest_exact: bool,
    /// Seconds since it last made progress, while it has work.
    pub idle_seconds: u64,
    pub stuck: bool,
}

/// A message a consumer gave up on or a service parked.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Parked {
    pub time: String,
    pub stream: String,
    pub consumer: String,
    pub member: String,
    pub stream_sequence: u64,
    pub deliveries: u64,
    /// `max_deliveries`, or `terminated`.
    pub kind: String,
    pub reason: Option<String>,
}

/// One running instance of a service, from its `$SRV.STATS`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    pub name: String,
    pub id: String,
    pub version: String,
    pub started: Option<String>,
    pub processed: u64,
    pub refused: u64,
    pub errors: u64,
}

/// One identity's services, as the Services view shows them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRow {
    pub member: String,
    pub role: String,
    pub up: bool,
    pub last_seen: Option<String>,
    pub seconds_since_seen: Option<u64>,
    pub instances: Vec<Instance>,
}

/// What the watchers observed last, besides the model.
#[derive(Debug, Default)]
pub struct Observed {
    pub backlog: Vec<ConsumerRow>,
    pub backlog_error: Option<String>,
    pub parked: VecDeque<Parked>,
    pub services: BTreeMap<String, ServiceRow>,
    /// Per consumer: its last (delivered, ack floor) and when it changed.
    progress: HashMap<String, ((u64, u64), Instant)>,
    /// Per identity: when it last answered, and its instances then.
    seen: HashMap<String, (Instant, OffsetDateTime, Vec<Instance>)>,
}

/// Starts every watcher.
pub fn spawn_all(
    console: &Arc<Console>,
    stop: CancellationToken,
    tasks: &mut JoinSet<anyhow::Result<()>>,
) {
    type Watcher = fn(
        Arc<Console>,
        CancellationToken,
    ) -> futures::future::BoxFuture<'static, anyhow::Result<()>>;
    let watchers: [(&str, Watcher); 5] = [
        ("audit", |c, s| read_audit(c, s).boxed()),
        ("backlog", |c, s| poll_backlog(c, s).boxed()),
        ("advisories", |c, s| follow_parked(c, s).boxed()),
        ("discovery", |c, s| poll_services(c, s).boxed()),
        ("live", |c, s| publish_live(c, s).boxed()),
    ];
    for (name, watcher) in watchers {
        let console = console.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            while !stop.is_cancelled() {
                match watcher(console.clone(), stop.clone()).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(watcher = name, error = %e, "console watcher failed; trying again");
                        tokio::select! {
                            _ = stop.cancelled() => break,
                            _ = tokio::time::sleep(RETRY) => {}
                        }
                    }
                }
            }
            Ok(())
        });
    }
}

/// Reads the audit stream from its first record, in order, forever.
async fn read_audit(console: Arc<Console>, stop: CancellationToken) -> anyhow::Result<()> {
    let nats = console.nats().clone();
    let mut live = nats.subscribe(subjects::AUDIT_ALL).await?;
    let mut stream = client::homeward_jetstream(nats)
        .get_stream(subjects::AUDIT_STREAM)
        .await
        .map_err(|e| anyhow::anyhow!("looking up {}: {e}", subjects::AUDIT_STREAM))?;
    let mut next = console.model().next_sequence();
    let mut missing_since: Option<(u64, Instant)> = None;
    loop {
        let state = stream.info().await?.state.clone();
        console
            .model()
            .check_stream(state.first_sequence, state.messages, state.last_sequence);
        'catch_up: while next <= state.last_sequence {
            let end = state.last_sequence.min(next + WINDOW - 1);
            let reads = (next..=end).map(|sequence| {
                let stream = &stream;
                async move { (sequence, stream.direct_get(sequence).await) }
            });
            let results = futures::future::join_all(reads).await;
            let mut model = console.model();
            for (sequence, result) in results {
                match result {
                    Ok(message) => {
                        model.add(sequence, &message.payload);
                        next = sequence + 1;
                        missing_since = None;
                    }
                    Err(e) if e.kind() == DirectGetErrorKind::NotFound => {
                        // Below the stream's first: removed, which
                        // check_stream reports. Otherwise a replica may be
                        // behind: wait for it a while, then pass over.
                        let since = match missing_since {
                            Some((s, at)) if s == sequence => at,
                            _ => {
                                missing_since = Some((sequence, Instant::now()));
                                Instant::now()
                            }
                        };
                        if sequence < state.first_sequence || since.elapsed() > MISSING_FOR {
                            next = sequence + 1;
                            continue;
                        }
                        break 'catch_up;
                    }
                    Err(e) => anyhow::bail!("reading audit record {sequence}: {e}"),
                }
            }
        }
        // Caught up: wait for a live record (or a while), then drain the
        // wake-ups that piled up; the stream, not the live copy, is read.
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = live.next() => {}
            _ = tokio::time::sleep(console.config().poll_every) => {}
        }
        while live.next().now_or_never().flatten().is_some() {}
    }
}

/// The member a consumer belongs to, by its name.
fn consumer_member(tokens: &HashMap<String, String>, consumer: &str) -> String {
    if consumer == subjects::GATEWAY_CONSUMER {
        return "gateway".to_owned();
    }
    consumer
        .split_once('_')
        .and_then(|(_, token)| tokens.get(token))
        .cloned()
        .unwrap_or_else(|| "?".to_owned())
}

fn tokens(console: &Console) -> HashMap<String, String> {
    console
        .policy()
        .members()
        .map(|m| (m.id.token(), m.id.to_string()))
        .collect()
}

/// Reads every consumer's state every `poll_every`.
async fn poll_backlog(console: Arc<Console>, stop: CancellationToken) -> anyhow::Result<()> {
    let js = client::homeward_jetstream(console.nats().clone());
    let tokens = tokens(&console);
    let streams = [
        subjects::SUBMIT_STREAM,
        subjects::DELIVER_STREAM,
        subjects::RECEIPTS_STREAM,
        subjects::REJECTED_STREAM,
    ];
    loop {
        let mut rows = Vec::new();
        let mut error = None;
        for name in streams {
            let stream = match js.get_stream(name).await {
                Ok(s) => s,
                Err(e) => {
                    error = Some(format!("looking up {name}: {e}"));
                    continue;
                }
            };
            let mut consumers = stream.consumers();
            while let Some(info) = consumers.next().await {
                let info = match info {
                    Ok(i) => i,
                    Err(e) => {
                        error = Some(format!("listing the consumers of {name}: {e}"));
                        break;
                    }
                };
                rows.push(row(&console, &tokens, name, &info));
            }
        }
        rows.sort_by(|a, b| (&a.member, &a.stream).cmp(&(&b.member, &b.stream)));
        {
            let mut observed = console.observed();
            observed.backlog = rows;
            observed.backlog_error = error;
        }
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = tokio::time::sleep(console.config().poll_every) => {}
        }
    }
}

/// One consumer's row: its counts, how long it has made no progress while
/// it had work, and whether that makes it stuck.
fn row(
    console: &Console,
    tokens: &HashMap<String, String>,
    stream: &str,
    info: &async_nats::jetstream::consumer::Info,
) -> ConsumerRow {
    let member = consumer_member(tokens, &info.name);
    let key = format!("{stream}/{}", info.name);
    let position = (
        info.delivered.stream_sequence,
        info.ack_floor.stream_sequence,
    );
    let unacked = info.num_pending + info.num_ack_pending as u64;
    let now = Instant::now();
    let idle = {
        let mut observed = console.observed();
        let entry = observed.progress.entry(key).or_insert((position, now));
        if entry.0 != position || unacked == 0 {
            *entry = (position, now);
        }
        now.duration_since(entry.1)
    };
    let (oldest, exact) = if stream == subjects::DELIVER_STREAM {
        match console.model().oldest_unacked(&member, unacked) {
            Some((at, exact)) => (Some(OffsetDateTime::now_utc().unix_timestamp() - at), exact),
            None => (None, true),
        }
    } else {
        (None, true)
    };
    ConsumerRow {
        stream: stream.to_owned(),
        consumer: info.name.clone(),
        member,
        pending: info.num_pending,
        ack_pending: info.num_ack_pending as u64,
        redelivered: info.num_redelivered as u64,
        waiting: info.num_waiting as u64,
        oldest_unacked_seconds: oldest,
        oldest_exact: exact,
        idle_seconds: idle.as_secs(),
        // A sender's copies of its rejected submissions are read when it
        // asks, not by a loop: waiting there is not being stuck.
        stuck: stream != subjects::REJECTED_STREAM
            && unacked > 0
            && idle > console.config().stuck_after,
    }
}

/// Follows the advisories of messages given up on and terminated.
async fn follow_parked(console: Arc<Console>, stop: CancellationToken) -> anyhow::Result<()> {
    let nats = console.nats();
    let tokens = tokens(&console);
    let mut max = nats
        .subscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>")
        .await?;
    let mut terminated = nats
        .subscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.>")
        .await?;
    loop {
        let (message, kind) = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            m = max.next() => (m, "max_deliveries"),
            m = terminated.next() => (m, "terminated"),
        };
        let Some(message) = message else {
            anyhow::bail!("the advisory subscription ended");
        };
        let Ok(advisory) = serde_json::from_slice::<Value>(&message.payload) else {
            tracing::warn!("an advisory that is not JSON, passed over");
            continue;
        };
        let text = |k: &str| advisory.get(k).and_then(Value::as_str).map(str::to_owned);
        let number = |k: &str| advisory.get(k).and_then(Value::as_u64).unwrap_or(0);
        let consumer = text("consumer").unwrap_or_default();
        let parked = Parked {
            time: text("timestamp").unwrap_or_default(),
            stream: text("stream").unwrap_or_default(),
            member: consumer_member(&tokens, &consumer),
            consumer,
            stream_sequence: number("stream_seq"),
            deliveries: number("deliveries"),
            kind: kind.to_owned(),
            reason: text("reason"),
        };
        let mut observed = console.observed();
        observed.parked.push_front(parked);
        observed.parked.truncate(PARKED_KEPT);
    }
}

/// The instances of one identity that answer `$SRV.STATS` within
/// [`DISCOVERY_WAIT`].
async fn stats_of(nats: &async_nats::Client, identity: &MemberId) -> anyhow::Result<Vec<Instance>> {
    let inbox = nats.new_inbox();
    let mut replies = nats.subscribe(inbox.clone()).await?;
    nats.publish_with_reply(
        natsauth::discovery_subject(identity, "STATS"),
        inbox,
        bytes::Bytes::new(),
    )
    .await?;
    nats.flush().await?;
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + DISCOVERY_WAIT;
    while let Ok(Some(reply)) = tokio::time::timeout_at(deadline, replies.next()).await {
        // A "no responders" status has no body.
        if reply
            .status
            .is_some_and(|s| s != async_nats::StatusCode::OK)
        {
            continue;
        }
        if let Ok(stats) = serde_json::from_slice::<Value>(&reply.payload) {
            out.push(instance(&stats));
        }
    }
    Ok(out)
}

/// An instance from its stats: the three counters summed over its
/// endpoints' `data`.
fn instance(stats: &Value) -> Instance {
    let text = |k: &str| {
        stats
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let sum = |k: &str| {
        stats
            .get("endpoints")
            .and_then(Value::as_array)
            .map(|endpoints| {
                endpoints
                    .iter()
                    .filter_map(|e| e.get("data")?.get(k)?.as_u64())
                    .sum()
            })
            .unwrap_or(0)
    };
    Instance {
        name: text("name"),
        id: text("id"),
        version: text("version"),
        started: stats
            .get("started")
            .and_then(Value::as_str)
            .map(str::to_owned),
        processed: sum("processed"),
        refused: sum("refused"),
        errors: sum("errors"),
    }
}

/// Asks every identity's services for their stats every `poll_every`.
async fn poll_services(console: Arc<Console>, stop: CancellationToken) -> anyhow::Result<()> {
    let identities: Vec<(MemberId, Role)> = console
        .policy()
        .members()
        .filter(|m| m.role != Role::Operator)
        .map(|m| (m.id.clone(), m.role))
        .collect();
    loop {
        let asks = identities
            .iter()
            .map(|(id, _)| stats_of(console.nats(), id));
        let answers = futures::future::join_all(asks).await;
        let now = Instant::now();
        let wall = OffsetDateTime::now_utc();
        let down_after = console.config().down_after;
        {
            let mut observed = console.observed();
            for ((id, _), answer) in identities.iter().zip(answers) {
                match answer {
                    Ok(instances) if !instances.is_empty() => {
                        observed.seen.insert(id.to_string(), (now, wall, instances));
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(member = %id, error = %e, "discovery failed"),
                }
            }
            let mut rows = BTreeMap::new();
            for (id, role) in &identities {
                let seen = observed.seen.get(id.as_str());
                let since = seen.map(|(at, _, _)| now.duration_since(*at));
                rows.insert(
                    id.to_string(),
                    ServiceRow {
                        member: id.to_string(),
                        role: format!("{role:?}"),
                        up: since.is_some_and(|s| s <= down_after),
                        last_seen: seen.and_then(|(_, wall, _)| wall.format(&Rfc3339).ok()),
                        seconds_since_seen: since.map(|s| s.as_secs()),
                        instances: seen.map(|(_, _, i)| i.clone()).unwrap_or_default(),
                    },
                );
            }
            observed.services = rows;
        }
        sleep_or_stop(&stop, console.config().poll_every).await;
        if stop.is_cancelled() {
            return Ok(());
        }
    }
}

async fn sleep_or_stop(stop: &CancellationToken, wait: Duration) {
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = tokio::time::sleep(wait) => {}
    }
}

/// Publishes a snapshot of every view for the live feed.
async fn publish_live(console: Arc<Console>, stop: CancellationToken) -> anyhow::Result<()> {
    loop {
        let snapshot = crate::web::snapshot(&console);
        let json = serde_json::to_string(&snapshot)?;
        console.live.send_replace(Arc::new(json));
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = tokio::time::sleep(console.config().live_every) => {}
        }
    }
}
