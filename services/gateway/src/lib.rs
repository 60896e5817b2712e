//! The Homeward gateway: the broker's core.
//!
//! Gateways pull submissions from the `HW_SUBMIT` work queue in batches and,
//! for each one, decide ([`check`]): accepted for the recipients its route
//! names, or rejected with stable codes. Then they write the outcome —
//! deliveries, a signed receipt to the sender, the original bytes to
//! `HW_REJECTED` for a rejection — wait until JetStream has stored all of
//! it, append one record per decision to the hash-chained audit log, and only
//! then ack the submission. A crash anywhere before the ack means the
//! submission comes again, and every write is keyed so that doing it again
//! changes nothing: deliveries by sender, envelope id and recipient;
//! receipts, rejections and audit records by the submission's sequence.
//! Several gateways can share the work queue.
//!
//! A gateway is two loops joined by a one-batch channel, so that deciding
//! the next batch (CPU: parsing, signatures, schemas, signing receipts)
//! overlaps writing the current one (waiting on JetStream):
//! - *decide*: fetch a batch, check it, record accepted ids in the seen-ids
//!   bucket, build every output (receipts signed), hand it over;
//! - *write*: publish the outputs, wait for every stream ack, append the
//!   audit records, ack the submissions — batch after batch, in order.
//!
//! The CPU work of a batch is spread over the machine's cores.
//!
//! # Layout
//! - [`check`]: the pure decision over hostile bytes.
//! - [`audit_log`]: appending to the shared chain.
//! - [`settings`]: the gateway's configuration.
//! - [`local`]: a whole Homeward on one machine, for the demo, tests and benchmarks.
//! - [`stats`]: where the gateway's time goes, stage by stage.

pub mod audit_log;
pub mod check;
pub mod local;
pub mod settings;
pub mod stats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer::pull, kv, message::PublishMessage};
use futures::StreamExt;
use homeward_core::audit::{AuditRecord, sha256_hex};
use homeward_core::envelope::{EnvelopeBuilder, format_time};
use homeward_core::receipt::{Decision, RECEIPT_TYPE, Reason, Receipt};
use homeward_core::subjects::{self, headers};
use homeward_core::{
    MemberId, Policy, RejectionCode, SchemaRegistry, SigningKey, client, natsauth, streams,
};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::audit_log::{AuditLog, PendingRecord};
use crate::check::{Accepted, Known, Rejected, Rules};
use crate::stats::{GatewayStats, Stage};

/// What can stop the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Core(#[from] homeward_core::Error),
    #[error("nats: {0}")]
    Nats(String),
    #[error("audit: {0}")]
    Audit(String),
    /// What the gateway needs on the server is missing; only the
    /// administrator makes it.
    #[error("not provisioned: {}; run `homeward provision` as the administrator", .0.join(", "))]
    NotProvisioned(Vec<String>),
}

impl GatewayError {
    pub fn nats(e: impl std::fmt::Display) -> Self {
        GatewayError::Nats(e.to_string())
    }
}

/// How a gateway runs.
#[derive(Debug)]
pub struct GatewayConfig {
    /// The gateway's own member id (it signs receipts as this member).
    pub member: MemberId,
    pub key: SigningKey,
    /// This instance's name, on its audit records.
    pub instance: String,
    /// How far an envelope's time may be from the clock (default ±10 min).
    pub time_window: Duration,
    /// Submissions handled per batch.
    pub batch_size: usize,
}

impl GatewayConfig {
    pub fn new(member: MemberId, key: SigningKey) -> Self {
        Self {
            member,
            key,
            instance: format!("gw-{}", std::process::id()),
            time_window: Duration::from_secs(600),
            batch_size: 128,
        }
    }
}

/// One gateway instance.
#[derive(Debug)]
pub struct Gateway {
    shared: Arc<Shared>,
    js: jetstream::Context,
    seen: kv::Store,
    audit: AuditLog,
    stats: Arc<GatewayStats>,
}

/// What the CPU work needs, shared with the threads that do it.
#[derive(Debug)]
struct Shared {
    config: GatewayConfig,
    schemas: Arc<SchemaRegistry>,
    policy: Arc<Policy>,
    /// The `dataschema` of receipts.
    receipt_schema: String,
}

/// One submission's outcome, before it is written.
struct Outcome {
    sequence: u64,
    sender: Option<MemberId>,
    bytes: bytes::Bytes,
    result: Result<Accepted, Rejected>,
}

/// A publish to one stream.
type Write = (String, PublishMessage);

/// A batch whose outcomes are decided and whose outputs are built: all that
/// is left is to store them and ack.
struct Decided {
    messages: Vec<jetstream::Message>,
    writes: Vec<Write>,
    records: Vec<PendingRecord>,
}

impl Gateway {
    /// Checks that everything the gateway uses was provisioned (the
    /// streams, its consumer on the work queue, its seen-ids bucket) and
    /// returns a gateway ready to run. The gateway makes nothing itself:
    /// it may not, and says what is missing.
    pub async fn start(
        client: async_nats::Client,
        config: GatewayConfig,
        schemas: Arc<SchemaRegistry>,
        policy: Arc<Policy>,
    ) -> Result<Self, GatewayError> {
        let receipt_schema = schemas.latest_schema_id(RECEIPT_TYPE).ok_or_else(|| {
            GatewayError::Core(homeward_core::Error::Schema(
                "no gateway.receipt schema".into(),
            ))
        })?;
        let js = client::homeward_jetstream(client.clone());
        let own = jetstream::new(client);
        let mut missing = Vec::new();
        for stream in natsauth::STREAMS {
            if !streams::exists(&js, stream).await? {
                missing.push(format!("stream {stream}"));
            }
        }
        if missing.is_empty() {
            match client::provisioned_consumer(
                &js,
                subjects::SUBMIT_STREAM,
                subjects::GATEWAY_CONSUMER,
            )
            .await
            {
                Ok(_) => {}
                Err(homeward_core::Error::NotProvisioned(what)) => missing.push(what),
                Err(e) => return Err(e.into()),
            }
        }
        let seen_stream = format!("KV_{}", subjects::SEEN_BUCKET);
        if !streams::exists(&own, &seen_stream).await? {
            missing.push(format!("bucket {}", subjects::SEEN_BUCKET));
        }
        if !missing.is_empty() {
            return Err(GatewayError::NotProvisioned(missing));
        }
        let seen = own
            .get_key_value(subjects::SEEN_BUCKET)
            .await
            .map_err(|e| GatewayError::Nats(format!("bucket {}: {e}", subjects::SEEN_BUCKET)))?;
        let audit = AuditLog::new(js.clone());
        Ok(Self {
            shared: Arc::new(Shared {
                config,
                schemas,
                policy,
                receipt_schema,
            }),
            js,
            seen,
            audit,
            stats: Arc::default(),
        })
    }

    /// Where this gateway's time goes; keeps counting while it runs.
    pub fn stats(&self) -> Arc<GatewayStats> {
        self.stats.clone()
    }

    async fn consumer(&self) -> Result<jetstream::consumer::Consumer<pull::Config>, GatewayError> {
        Ok(client::provisioned_consumer(
            &self.js,
            subjects::SUBMIT_STREAM,
            subjects::GATEWAY_CONSUMER,
        )
        .await?)
    }

    /// Runs until `shutdown`, finishing the batches in hand before returning.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), GatewayError> {
        let consumer = self.consumer().await?;
        let instance = self.shared.config.instance.clone();
        tracing::info!(%instance, "gateway running");
        let Gateway {
            shared,
            js,
            seen,
            audit,
            stats,
        } = self;
        // One batch waits while the next is decided: at most three batches
        // are fetched and not yet acked.
        let (decided_tx, decided_rx) = mpsc::channel(1);
        let decide = Decider {
            shared,
            seen,
            stats: stats.clone(),
        }
        .run(consumer, decided_tx, shutdown);
        let write = Writer { js, audit, stats }.run(decided_rx);
        tokio::join!(decide, write);
        tracing::info!(%instance, "gateway stopped");
        Ok(())
    }
}

/// Tells the server to send these submissions again in a second.
async fn nak_all(messages: &[jetstream::Message]) {
    for m in messages {
        let _ = m.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
    }
}

/// The decide loop: fetch, check, replay check, build the outputs.
struct Decider {
    shared: Arc<Shared>,
    seen: kv::Store,
    stats: Arc<GatewayStats>,
}

impl Decider {
    async fn run(
        self,
        consumer: jetstream::consumer::Consumer<pull::Config>,
        decided: mpsc::Sender<Decided>,
        shutdown: CancellationToken,
    ) {
        let batch_size = self.shared.config.batch_size;
        while !shutdown.is_cancelled() {
            let mut clock = Instant::now();
            let batch = tokio::select! {
                _ = shutdown.cancelled() => break,
                batch = consumer
                    .fetch()
                    .max_messages(batch_size)
                    .expires(Duration::from_millis(500))
                    .messages() => batch,
            };
            let mut batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "fetch failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                    }
                }
            };
            let mut messages = Vec::new();
            while let Some(message) = batch.next().await {
                match message {
                    Ok(m) => messages.push(m),
                    Err(e) => tracing::debug!(error = %e, "fetch ended"),
                }
            }
            self.stats.lap(Stage::Fetch, &mut clock);
            if messages.is_empty() {
                continue;
            }
            match self.decide(&messages).await {
                Ok((writes, records)) => {
                    let mut clock = Instant::now();
                    let batch = Decided {
                        messages,
                        writes,
                        records,
                    };
                    if let Err(unsent) = decided.send(batch).await {
                        // The writer is gone; nothing of this batch was written.
                        nak_all(&unsent.0.messages).await;
                        break;
                    }
                    self.stats.lap(Stage::Handoff, &mut clock);
                }
                Err(e) => {
                    tracing::error!(error = %e, "batch not decided; submissions will be redelivered");
                    nak_all(&messages).await;
                }
            }
        }
    }

    /// Decides every submission of a batch and builds what is to be written.
    async fn decide(
        &self,
        messages: &[jetstream::Message],
    ) -> Result<(Vec<Write>, Vec<PendingRecord>), GatewayError> {
        let mut clock = Instant::now();
        let now = OffsetDateTime::now_utc();
        let submissions: Vec<_> = messages
            .iter()
            .map(|m| {
                (
                    m.info().map(|i| i.stream_sequence).unwrap_or(0),
                    subjects::member_of_submit(m.subject.as_str()),
                    m.payload.clone(),
                )
            })
            .collect();
        let shared = self.shared.clone();
        let mut outcomes = on_all_cores(submissions, move |(sequence, sender, bytes)| {
            let result = shared.check(sender.as_ref(), &bytes, now);
            Outcome {
                sequence,
                sender,
                bytes,
                result,
            }
        })
        .await?;
        self.stats.lap(Stage::Check, &mut clock);

        self.replay_checks(&mut outcomes).await?;
        self.stats.lap(Stage::Replay, &mut clock);

        let shared = self.shared.clone();
        let received_at = format_time(now);
        let built = on_all_cores(outcomes, move |outcome| {
            shared.outputs(&outcome, &received_at)
        })
        .await?;
        let mut writes = Vec::with_capacity(built.len() * 3);
        let mut records = Vec::with_capacity(built.len());
        for b in built {
            let (w, record) = b?;
            writes.extend(w);
            records.push(record);
        }
        self.stats.lap(Stage::Build, &mut clock);
        Ok((writes, records))
    }

    /// Refuses an envelope id the gateway already accepted from a different
    /// submission; a redelivery of the same submission passes.
    async fn replay_checks(&self, outcomes: &mut [Outcome]) -> Result<(), GatewayError> {
        let checks = outcomes.iter().map(|o| async move {
            let Ok(accepted) = &o.result else {
                return Ok(None);
            };
            let key = format!(
                "{}.{}",
                accepted.envelope.sender().token(),
                accepted.envelope.id()
            );
            let value = bytes::Bytes::from(o.sequence.to_string());
            match self.seen.create(&key, value.clone()).await {
                Ok(_) => Ok(None),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                    let entry = self.seen.get(&key).await.map_err(GatewayError::nats)?;
                    Ok((entry.as_deref() != Some(&value[..])).then_some(()))
                }
                Err(e) => Err(GatewayError::nats(e)),
            }
        });
        let results = futures::future::join_all(checks).await;
        for (outcome, result) in outcomes.iter_mut().zip(results) {
            if result?.is_some()
                && let Ok(accepted) = &outcome.result
            {
                outcome.result = Err(Rejected {
                    known: known_of(accepted),
                    reasons: vec![Reason::new(
                        RejectionCode::Duplicate,
                        "this envelope id was already accepted from this sender",
                    )],
                });
            }
        }
        Ok(())
    }
}

/// Runs `f` over `items` on blocking threads, one chunk per core, and
/// returns the results in order. A lone item (the usual batch when traffic
/// is light) is done in place: a few hundred microseconds of work, less
/// than handing it to another thread and back would add to its latency.
async fn on_all_cores<T, R, F>(items: Vec<T>, f: F) -> Result<Vec<R>, GatewayError>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> R + Send + Sync + 'static,
{
    if items.len() <= 1 {
        return Ok(items.into_iter().map(f).collect());
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let per_chunk = items.len().div_ceil(cores).max(1);
    let f = Arc::new(f);
    let mut items = items.into_iter();
    let mut tasks = Vec::with_capacity(cores);
    loop {
        let chunk: Vec<T> = items.by_ref().take(per_chunk).collect();
        if chunk.is_empty() {
            break;
        }
        let f = f.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            chunk.into_iter().map(|item| f(item)).collect::<Vec<R>>()
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.extend(
            task.await
                .map_err(|e| GatewayError::Audit(format!("a worker thread failed: {e}")))?,
        );
    }
    Ok(out)
}

impl Shared {
    /// [`check::check`], with a panic turned into a rejection.
    fn check(
        &self,
        sender: Option<&MemberId>,
        bytes: &[u8],
        now: OffsetDateTime,
    ) -> Result<Accepted, Rejected> {
        let rules = Rules {
            schemas: &self.schemas,
            policy: &self.policy,
            time_window: self.config.time_window,
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check::check(&rules, sender, bytes, now)
        }))
        .unwrap_or_else(|_| {
            Err(Rejected {
                known: Known::default(),
                reasons: vec![Reason::new(
                    RejectionCode::InternalError,
                    "the checks failed unexpectedly",
                )],
            })
        })
    }

    /// Everything one outcome writes: the deliveries or the rejection copy,
    /// the signed receipt, and the audit record (not yet chained).
    fn outputs(
        &self,
        outcome: &Outcome,
        received_at: &str,
    ) -> Result<(Vec<Write>, PendingRecord), GatewayError> {
        let mut writes = Vec::new();
        let (decision, known, recipients, reasons) = match &outcome.result {
            Ok(accepted) => {
                let known = known_of(accepted);
                for recipient in &accepted.recipients {
                    writes.push(delivery(outcome, accepted, &known, recipient));
                }
                (
                    Decision::Accepted,
                    known,
                    accepted
                        .recipients
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                    Vec::new(),
                )
            }
            Err(rejected) => {
                writes.push(rejection(outcome, rejected));
                (
                    Decision::Rejected,
                    rejected.known.clone(),
                    Vec::new(),
                    rejected.reasons.clone(),
                )
            }
        };
        let bytes_hash = sha256_hex(&outcome.bytes);
        let codes: Vec<String> = reasons
            .iter()
            .map(|r| r.code.as_str().to_owned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if let Some(sender) = &outcome.sender {
            let receipt = Receipt {
                submission_id: known.id.clone(),
                submission_sequence: outcome.sequence.to_string(),
                submission_sha256: Some(bytes_hash.clone()),
                submission_type: known.message_type.clone(),
                decision,
                recipients: recipients.clone(),
                reasons,
                received_at: received_at.to_owned(),
                decided_at: Some(format_time(OffsetDateTime::now_utc())),
            };
            writes.push((
                subjects::receipt(sender),
                self.receipt(outcome, &known, &receipt)?,
            ));
        }
        let record = PendingRecord {
            subject: subjects::audit(decision.as_str(), outcome.sender.as_ref()),
            msg_id: format!("audit:{}:{}", outcome.sequence, &bytes_hash[..16]),
            record: AuditRecord {
                time: received_at.to_owned(),
                gateway: self.config.instance.clone(),
                submission_sequence: outcome.sequence.to_string(),
                envelope_id: known.id.clone(),
                sender: outcome
                    .sender
                    .as_ref()
                    .map_or_else(|| "unknown".to_owned(), ToString::to_string),
                message_type: known.message_type.clone(),
                case: known.case.clone(),
                recipients,
                decision: decision.as_str().to_owned(),
                codes,
                envelope_sha256: bytes_hash,
                prev: String::new(),
                hash: String::new(),
            },
        };
        match &outcome.result {
            Ok(a) => tracing::info!(
                msg_id = a.envelope.id(), r#type = a.envelope.message_type(), member = %a.envelope.sender(),
                case = a.envelope.subject().unwrap_or(""), recipients = a.recipients.len(), "accepted"),
            Err(r) => tracing::info!(
                seq = outcome.sequence, member = outcome.sender.as_ref().map_or("unknown", |m| m.as_str()),
                codes = ?r.reasons.iter().map(|x| x.code.as_str()).collect::<Vec<_>>(), "rejected"),
        }
        Ok((writes, record))
    }

    /// The signed receipt envelope, ready to publish to the sender.
    fn receipt(
        &self,
        outcome: &Outcome,
        known: &Known,
        receipt: &Receipt,
    ) -> Result<PublishMessage, GatewayError> {
        let data = serde_json::to_value(receipt).map_err(|e| GatewayError::Audit(e.to_string()))?;
        let mut builder = EnvelopeBuilder::new(RECEIPT_TYPE, &self.receipt_schema, data);
        if let Some(id) = &known.id {
            builder = builder.causationid(id.clone());
        }
        if let Some(case) = &known.case {
            builder = builder.subject(case.clone());
        }
        let envelope = builder.sign(&self.config.member, &self.config.key)?;
        let mut h = base_headers(outcome, known);
        h.insert(headers::DECISION, receipt.decision.as_str());
        if !receipt.reasons.is_empty() {
            let codes: Vec<&str> = receipt.reasons.iter().map(|r| r.code.as_str()).collect();
            h.insert(headers::CODES, codes.join(",").as_str());
        }
        if !receipt.recipients.is_empty() {
            h.insert(headers::RECIPIENTS, receipt.recipients.join(",").as_str());
        }
        Ok(PublishMessage::build()
            .payload(envelope.to_bytes().into())
            .headers(h)
            .message_id(format!("receipt:{}", outcome.sequence)))
    }
}

fn known_of(accepted: &Accepted) -> Known {
    Known {
        id: Some(accepted.envelope.id().to_owned()),
        message_type: Some(accepted.envelope.message_type().to_owned()),
        case: accepted.envelope.subject().map(str::to_owned),
    }
}

fn base_headers(outcome: &Outcome, known: &Known) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(sender) = &outcome.sender {
        h.insert(headers::SENDER, sender.as_str());
    }
    h.insert(headers::SUBMIT_SEQ, outcome.sequence.to_string().as_str());
    if let Some(t) = &known.message_type {
        h.insert(headers::TYPE, t.as_str());
    }
    if let Some(c) = &known.case {
        h.insert(headers::CASE, c.as_str());
    }
    if let Some(id) = &known.id {
        h.insert(headers::MSG_ID, id.as_str());
    }
    h
}

fn delivery(outcome: &Outcome, accepted: &Accepted, known: &Known, recipient: &MemberId) -> Write {
    let envelope = &accepted.envelope;
    let publish = PublishMessage::build()
        .payload(outcome.bytes.clone())
        .headers(base_headers(outcome, known))
        .message_id(format!(
            "{}:{}:{}",
            envelope.sender(),
            envelope.id(),
            recipient
        ));
    (
        subjects::deliver(recipient, envelope.message_type()),
        publish,
    )
}

fn rejection(outcome: &Outcome, rejected: &Rejected) -> Write {
    let mut h = base_headers(outcome, &rejected.known);
    let codes: Vec<&str> = rejected.reasons.iter().map(|r| r.code.as_str()).collect();
    h.insert(headers::DECISION, "rejected");
    h.insert(headers::CODES, codes.join(",").as_str());
    let reasons = serde_json::to_string(&rejected.reasons).unwrap_or_default();
    h.insert("Hw-Reasons", reasons.as_str());
    let subject = match &outcome.sender {
        Some(m) => subjects::rejected(m),
        None => subjects::REJECTED_UNKNOWN.to_owned(),
    };
    let publish = PublishMessage::build()
        .payload(outcome.bytes.clone())
        .headers(h)
        .message_id(format!("rejected:{}", outcome.sequence));
    (subject, publish)
}

/// Publish acks awaited at once, well under the client's limit of
/// un-awaited acks (`max_ack_inflight`, 5,000), which blocks when exceeded.
const PUBLISH_WINDOW: usize = 1_000;

/// The write loop: store each decided batch, chain its audit records, ack.
struct Writer {
    js: jetstream::Context,
    audit: AuditLog,
    stats: Arc<GatewayStats>,
}

impl Writer {
    async fn run(mut self, mut decided: mpsc::Receiver<Decided>) {
        while let Some(batch) = decided.recv().await {
            match self.write(batch.writes, batch.records).await {
                Ok(()) => {
                    let mut clock = Instant::now();
                    for m in &batch.messages {
                        if let Err(e) = m.ack().await {
                            tracing::warn!(error = %e, "ack failed; the submission will be handled again, to no effect");
                        }
                    }
                    self.stats.lap(Stage::Ack, &mut clock);
                    self.stats.batch_done(batch.messages.len());
                }
                Err(e) => {
                    tracing::error!(error = %e, "batch not stored; submissions will be redelivered");
                    nak_all(&batch.messages).await;
                }
            }
        }
    }

    /// Publishes every output, waits until the streams have stored all of
    /// them, then appends the audit records.
    async fn write(
        &mut self,
        writes: Vec<Write>,
        records: Vec<PendingRecord>,
    ) -> Result<(), GatewayError> {
        let mut clock = Instant::now();
        let mut acks = Vec::with_capacity(writes.len().min(PUBLISH_WINDOW));
        let mut writes = writes.into_iter().peekable();
        while let Some((subject, publish)) = writes.next() {
            acks.push(
                self.js
                    .send_publish(subject, publish)
                    .await
                    .map_err(GatewayError::nats)?,
            );
            if acks.len() == PUBLISH_WINDOW || writes.peek().is_none() {
                for ack in acks.drain(..) {
                    ack.await.map_err(GatewayError::nats)?;
                }
            }
        }
        self.stats.lap(Stage::Publish, &mut clock);
        self.audit.append(records).await?;
        self.stats.lap(Stage::Audit, &mut clock);
        Ok(())
    }
}
