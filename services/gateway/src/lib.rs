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
//! # Layout
//! - [`check`]: the pure decision over hostile bytes.
//! - [`audit_log`]: appending to the shared chain.
//! - [`settings`]: the gateway's configuration.
//! - [`local`]: a whole Homeward on one machine, for the demo, tests and benchmarks.

pub mod audit_log;
pub mod check;
pub mod local;
pub mod settings;

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer::pull, kv, message::PublishMessage};
use futures::StreamExt;
use homeward_core::audit::{AuditRecord, sha256_hex};
use homeward_core::envelope::{EnvelopeBuilder, format_time};
use homeward_core::receipt::{Decision, RECEIPT_TYPE, Reason, Receipt};
use homeward_core::subjects::{self, headers};
use homeward_core::{MemberId, Policy, RejectionCode, SchemaRegistry, SigningKey, streams};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::audit_log::{AuditLog, PendingRecord};
use crate::check::{Accepted, Known, Rejected, Rules};

/// What can stop the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Core(#[from] homeward_core::Error),
    #[error("nats: {0}")]
    Nats(String),
    #[error("audit: {0}")]
    Audit(String),
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
    /// Stream replicas (1 on one server, 3 on a cluster).
    pub replicas: usize,
}

impl GatewayConfig {
    pub fn new(member: MemberId, key: SigningKey) -> Self {
        Self {
            member,
            key,
            instance: format!("gw-{}", std::process::id()),
            time_window: Duration::from_secs(600),
            batch_size: 128,
            replicas: 1,
        }
    }
}

/// One gateway instance.
#[derive(Debug)]
pub struct Gateway {
    config: GatewayConfig,
    schemas: Arc<SchemaRegistry>,
    policy: Arc<Policy>,
    js: jetstream::Context,
    seen: kv::Store,
    audit: AuditLog,
}

/// One submission's outcome, before it is written.
struct Outcome {
    sequence: u64,
    sender: Option<MemberId>,
    bytes: bytes::Bytes,
    result: Result<Accepted, Rejected>,
}

impl Gateway {
    /// Sets up streams and the seen-ids bucket (idempotently) and returns a
    /// gateway ready to run.
    pub async fn start(
        client: async_nats::Client,
        config: GatewayConfig,
        schemas: Arc<SchemaRegistry>,
        policy: Arc<Policy>,
    ) -> Result<Self, GatewayError> {
        let js = jetstream::new(client);
        streams::ensure(&js, config.replicas).await?;
        let seen = streams::seen_bucket(&js, config.replicas).await?;
        let audit = AuditLog::new(js.clone());
        Ok(Self {
            config,
            schemas,
            policy,
            js,
            seen,
            audit,
        })
    }

    async fn consumer(&self) -> Result<jetstream::consumer::Consumer<pull::Config>, GatewayError> {
        let stream = self
            .js
            .get_stream_no_info(subjects::SUBMIT_STREAM)
            .await
            .map_err(GatewayError::nats)?;
        stream
            .get_or_create_consumer(
                subjects::GATEWAY_CONSUMER,
                pull::Config {
                    durable_name: Some(subjects::GATEWAY_CONSUMER.to_owned()),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(30),
                    max_ack_pending: 20_000,
                    ..Default::default()
                },
            )
            .await
            .map_err(GatewayError::nats)
    }

    /// Runs until `shutdown`, finishing the batch in hand before returning.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), GatewayError> {
        let consumer = self.consumer().await?;
        tracing::info!(instance = %self.config.instance, "gateway running");
        while !shutdown.is_cancelled() {
            let batch = tokio::select! {
                _ = shutdown.cancelled() => break,
                batch = consumer
                    .fetch()
                    .max_messages(self.config.batch_size)
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
            if messages.is_empty() {
                continue;
            }
            match self.handle_batch(&messages).await {
                Ok(()) => {
                    for m in &messages {
                        if let Err(e) = m.ack().await {
                            tracing::warn!(error = %e, "ack failed; the submission will be handled again, to no effect");
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "batch not stored; submissions will be redelivered");
                    for m in &messages {
                        let _ = m.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
                    }
                }
            }
        }
        tracing::info!(instance = %self.config.instance, "gateway stopped");
        Ok(())
    }

    async fn handle_batch(&mut self, messages: &[jetstream::Message]) -> Result<(), GatewayError> {
        let now = OffsetDateTime::now_utc();
        let rules = Rules {
            schemas: &self.schemas,
            policy: &self.policy,
            time_window: self.config.time_window,
        };
        let mut outcomes = Vec::with_capacity(messages.len());
        for m in messages {
            let sequence = m.info().map(|i| i.stream_sequence).unwrap_or(0);
            let sender = subjects::member_of_submit(m.subject.as_str());
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                check::check(&rules, sender.as_ref(), &m.payload, now)
            }))
            .unwrap_or_else(|_| {
                Err(Rejected {
                    known: Known::default(),
                    reasons: vec![Reason::new(
                        RejectionCode::InternalError,
                        "the checks failed unexpectedly",
                    )],
                })
            });
            outcomes.push(Outcome {
                sequence,
                sender,
                bytes: m.payload.clone(),
                result,
            });
        }
        self.replay_checks(&mut outcomes).await?;

        let mut acks = Vec::new();
        let mut records = Vec::with_capacity(outcomes.len());
        let received_at = format_time(now);
        for outcome in &outcomes {
            let (decision, known, recipients, reasons) = match &outcome.result {
                Ok(accepted) => {
                    for recipient in &accepted.recipients {
                        acks.push(self.publish_delivery(outcome, accepted, recipient).await?);
                    }
                    let known = Known {
                        id: Some(accepted.envelope.id().to_owned()),
                        message_type: Some(accepted.envelope.message_type().to_owned()),
                        case: accepted.envelope.subject().map(str::to_owned),
                    };
                    (
                        Decision::Accepted,
                        known,
                        accepted.recipients.clone(),
                        Vec::new(),
                    )
                }
                Err(rejected) => {
                    acks.push(self.publish_rejected(outcome, rejected).await?);
                    (
                        Decision::Rejected,
                        rejected.known.clone(),
                        Vec::new(),
                        rejected.reasons.clone(),
                    )
                }
            };
            if let Some(sender) = &outcome.sender {
                let receipt = Receipt {
                    submission_id: known.id.clone(),
                    submission_sequence: outcome.sequence.to_string(),
                    submission_sha256: Some(sha256_hex(&outcome.bytes)),
                    submission_type: known.message_type.clone(),
                    decision,
                    recipients: recipients.iter().map(ToString::to_string).collect(),
                    reasons: reasons.clone(),
                    received_at: received_at.clone(),
                    decided_at: Some(format_time(OffsetDateTime::now_utc())),
                };
                acks.push(
                    self.publish_receipt(outcome, sender, &known, &receipt)
                        .await?,
                );
            }
            let codes: Vec<String> = reasons
                .iter()
                .map(|r| r.code.as_str().to_owned())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let bytes_hash = sha256_hex(&outcome.bytes);
            records.push(PendingRecord {
                subject: subjects::audit(decision.as_str(), outcome.sender.as_ref()),
                msg_id: format!("audit:{}:{}", outcome.sequence, &bytes_hash[..16]),
                record: AuditRecord {
                    time: received_at.clone(),
                    gateway: self.config.instance.clone(),
                    submission_sequence: outcome.sequence.to_string(),
                    envelope_id: known.id.clone(),
                    sender: outcome
                        .sender
                        .as_ref()
                        .map_or_else(|| "unknown".to_owned(), ToString::to_string),
                    message_type: known.message_type.clone(),
                    case: known.case.clone(),
                    recipients: recipients.iter().map(ToString::to_string).collect(),
                    decision: decision.as_str().to_owned(),
                    codes,
                    envelope_sha256: bytes_hash,
                    prev: String::new(),
                    hash: String::new(),
                },
            });
            match &outcome.result {
                Ok(a) => tracing::info!(
                    msg_id = a.envelope.id(), r#type = a.envelope.message_type(), member = %a.envelope.sender(),
                    case = a.envelope.subject().unwrap_or(""), recipients = a.recipients.len(), "accepted"),
                Err(r) => tracing::info!(
                    seq = outcome.sequence, member = outcome.sender.as_ref().map_or("unknown", |m| m.as_str()),
                    codes = ?r.reasons.iter().map(|x| x.code.as_str()).collect::<Vec<_>>(), "rejected"),
            }
        }
        for ack in acks {
            ack.await.map_err(GatewayError::nats)?;
        }
        self.audit.append(records).await?;
        Ok(())
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
                let known = Known {
                    id: Some(accepted.envelope.id().to_owned()),
                    message_type: Some(accepted.envelope.message_type().to_owned()),
                    case: accepted.envelope.subject().map(str::to_owned),
                };
                outcome.result = Err(Rejected {
                    known,
                    reasons: vec![Reason::new(
                        RejectionCode::Duplicate,
                        "this envelope id was already accepted from this sender",
                    )],
                });
            }
        }
        Ok(())
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

    async fn publish_delivery(
        &self,
        outcome: &Outcome,
        accepted: &Accepted,
        recipient: &MemberId,
    ) -> Result<jetstream::context::PublishAckFuture, GatewayError> {
        let envelope = &accepted.envelope;
        let known = Known {
            id: Some(envelope.id().to_owned()),
            message_type: Some(envelope.message_type().to_owned()),
            case: envelope.subject().map(str::to_owned),
        };
        let publish = PublishMessage::build()
            .payload(outcome.bytes.clone())
            .headers(Self::base_headers(outcome, &known))
            .message_id(format!(
                "{}:{}:{}",
                envelope.sender(),
                envelope.id(),
                recipient
            ));
        self.js
            .send_publish(
                subjects::deliver(recipient, envelope.message_type()),
                publish,
            )
            .await
            .map_err(GatewayError::nats)
    }

    async fn publish_rejected(
        &self,
        outcome: &Outcome,
        rejected: &Rejected,
    ) -> Result<jetstream::context::PublishAckFuture, GatewayError> {
        let mut h = Self::base_headers(outcome, &rejected.known);
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
        self.js
            .send_publish(subject, publish)
            .await
            .map_err(GatewayError::nats)
    }

    async fn publish_receipt(
        &self,
        outcome: &Outcome,
        sender: &MemberId,
        known: &Known,
        receipt: &Receipt,
    ) -> Result<jetstream::context::PublishAckFuture, GatewayError> {
        let data = serde_json::to_value(receipt).map_err(|e| GatewayError::Audit(e.to_string()))?;
        let schema = self
            .schemas
            .latest_schema_id(RECEIPT_TYPE)
            .ok_or_else(|| GatewayError::Audit("no gateway.receipt schema".into()))?;
        let mut builder = EnvelopeBuilder::new(RECEIPT_TYPE, &schema, data);
        if let Some(id) = &known.id {
            builder = builder.causationid(id.clone());
        }
        if let Some(case) = &known.case {
            builder = builder.subject(case.clone());
        }
        let envelope = builder.sign(&self.config.member, &self.config.key)?;
        let mut h = Self::base_headers(outcome, known);
        h.insert(headers::DECISION, receipt.decision.as_str());
        if !receipt.reasons.is_empty() {
            let codes: Vec<&str> = receipt.reasons.iter().map(|r| r.code.as_str()).collect();
            h.insert(headers::CODES, codes.join(",").as_str());
        }
        if !receipt.recipients.is_empty() {
            h.insert(headers::RECIPIENTS, receipt.recipients.join(",").as_str());
        }
        let publish = PublishMessage::build()
            .payload(envelope.to_bytes().into())
            .headers(h)
            .message_id(format!("receipt:{}", outcome.sequence));
        self.js
            .send_publish(subjects::receipt(sender), publish)
            .await
            .map_err(GatewayError::nats)
    }
}
