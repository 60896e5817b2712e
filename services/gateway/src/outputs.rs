//! The building of what a decision writes: the deliveries or the rejection
//! copy, the signed receipt, the audit record (not yet chained), and the
//! headers they carry.
//!
//! Each write carries a `Nats-Msg-Id` that depends only on the submission
//! (ARCHITECTURE.md, "Redelivery changes nothing"): a delivery
//! `<sender>:<envelope id>:<recipient>`; a receipt `receipt:<sequence>`, a
//! rejection copy `rejected:<sequence>` and an audit record
//! `audit:<sequence>:<hash prefix>`, by the submission's stream sequence.

use std::collections::BTreeSet;

use async_nats::HeaderMap;
use async_nats::jetstream::message::PublishMessage;
use homeward_core::MemberId;
use homeward_core::audit::{AuditRecord, sha256_hex};
use homeward_core::envelope::{EnvelopeBuilder, format_time};
use homeward_core::receipt::{Decision, RECEIPT_TYPE, Receipt};
use homeward_core::subjects::{self, headers};
use time::OffsetDateTime;

use crate::GatewayError;
use crate::audit_log::PendingRecord;
use crate::check::{Accepted, Known, Rejected};
use crate::decide::{Outcome, Shared};

/// A publish to one stream.
pub(crate) type Write = (String, PublishMessage);

impl Shared {
    /// Everything one outcome writes: the deliveries or the rejection copy,
    /// the signed receipt, and the audit record (not yet chained).
    pub(crate) fn outputs(
        &self,
        outcome: &Outcome,
        received_at: &str,
    ) -> Result<(Vec<Write>, PendingRecord), GatewayError> {
        let mut writes = Vec::new();
        let (decision, known, recipients, reasons) = match &outcome.result {
            Ok(accepted) => {
                let known = Known::of(&accepted.envelope);
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
            .collect::<BTreeSet<_>>()
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
                reasons: reasons.clone(),
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
                submitted_at: Some(format_time(outcome.stored_at)),
                trace_id: known.trace_id.clone(),
                reasons,
                prev: String::new(),
                hash: String::new(),
            },
        };
        // The decision's span carries the envelope's trace id, as each
        // recipient's handling of the delivery does.
        let decision = tracing::info_span!(
            "decision",
            seq = outcome.sequence,
            trace_id = known.trace_id.as_deref().unwrap_or("")
        );
        if let Ok(accepted) = &outcome.result
            && let Some(traceparent) = accepted.envelope.traceparent()
        {
            homeward_core::telemetry::follow_trace(&decision, traceparent);
        }
        let _decision = decision.entered();
        match &outcome.result {
            Ok(a) => tracing::info!(
                msg_id = a.envelope.id(), r#type = a.envelope.message_type(), member = %a.envelope.sender(),
                case = a.envelope.subject().unwrap_or(""), recipients = a.recipients.len(), "accepted"),
            Err(r) => tracing::info!(
                member = outcome.sender.as_ref().map_or("unknown", |m| m.as_str()),
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
        let data = serde_json::to_value(receipt).map_err(|source| GatewayError::Serialise {
            what: "a receipt",
            source,
        })?;
        let mut builder = EnvelopeBuilder::new(RECEIPT_TYPE, &receipt.schema_id(), data);
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

/// The headers every output carries: who sent what, about which case.
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

/// The submission's original bytes, for one recipient.
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

/// The submission's original bytes, with the reasons it was rejected.
fn rejection(outcome: &Outcome, rejected: &Rejected) -> Write {
    let mut h = base_headers(outcome, &rejected.known);
    let codes: Vec<&str> = rejected.reasons.iter().map(|r| r.code.as_str()).collect();
    h.insert(headers::DECISION, "rejected");
    h.insert(headers::CODES, codes.join(",").as_str());
    let reasons = serde_json::to_string(&rejected.reasons).unwrap_or_default();
    h.insert(headers::REASONS, reasons.as_str());
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
