//! Appending to the shared audit chain.
//!
//! Several gateways append to one chain. The first record of a batch is
//! published with `Nats-Expected-Last-Sequence` (the head we know), each
//! following one with `Nats-Expected-Last-Msg-Id` (the record before it in
//! the batch), so the server stores a record only if the record it chains
//! from is the last one in the stream. If another gateway got there first,
//! the server refuses, we read the new head and chain again. Records are
//! deduplicated by their message id, so a redelivered submission does not
//! add a second record for the same decision.

use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage};
use homeward_core::audit::{AuditRecord, GENESIS};
use homeward_core::subjects;

use crate::GatewayError;

/// A record waiting to be appended.
#[derive(Debug, Clone)]
pub struct PendingRecord {
    pub subject: String,
    pub msg_id: String,
    pub record: AuditRecord,
}

/// The head of the chain as this gateway last saw it.
#[derive(Debug)]
pub struct AuditLog {
    js: jetstream::Context,
    head: Option<(u64, String)>,
}

impl AuditLog {
    pub fn new(js: jetstream::Context) -> Self {
        Self { js, head: None }
    }

    async fn load_head(&self) -> Result<(u64, String), GatewayError> {
        let mut stream = self
            .js
            .get_stream(subjects::AUDIT_STREAM)
            .await
            .map_err(GatewayError::nats)?;
        let last = stream
            .info()
            .await
            .map_err(GatewayError::nats)?
            .state
            .last_sequence;
        if last == 0 {
            return Ok((0, GENESIS.to_owned()));
        }
        let message = stream
            .get_raw_message(last)
            .await
            .map_err(GatewayError::nats)?;
        let record: AuditRecord = serde_json::from_slice(&message.payload).map_err(|e| {
            GatewayError::Audit(format!(
                "the last audit record ({last}) does not parse: {e}"
            ))
        })?;
        Ok((last, record.hash))
    }

    /// Appends `records` in order, chaining each to the one before.
    pub async fn append(&mut self, mut records: Vec<PendingRecord>) -> Result<(), GatewayError> {
        let mut attempts = 0;
        while !records.is_empty() {
            attempts += 1;
            if attempts > 100 {
                return Err(GatewayError::Audit(
                    "could not append to the chain after 100 attempts".into(),
                ));
            }
            let (seq, hash) = match self.head.take() {
                Some(h) => h,
                None => self.load_head().await?,
            };
            let mut prev_hash = hash;
            let mut acks = Vec::with_capacity(records.len());
            let mut send_error = None;
            for i in 0..records.len() {
                records[i]
                    .record
                    .seal(&prev_hash)
                    .map_err(|e| GatewayError::Audit(e.to_string()))?;
                prev_hash = records[i].record.hash.clone();
                let payload = serde_json::to_vec(&records[i].record)
                    .map_err(|e| GatewayError::Audit(e.to_string()))?;
                let mut publish = PublishMessage::build()
                    .payload(payload.into())
                    .message_id(&records[i].msg_id);
                publish = if i == 0 {
                    publish.expected_last_sequence(seq)
                } else {
                    publish.expected_last_message_id(&records[i - 1].msg_id)
                };
                match self
                    .js
                    .send_publish(records[i].subject.clone(), publish)
                    .await
                {
                    Ok(ack) => acks.push(ack),
                    Err(e) => {
                        send_error = Some(e);
                        break;
                    }
                }
            }
            let mut stored = 0;
            let mut conflict = false;
            for ack in acks {
                match ack.await {
                    Ok(ack) if !conflict => {
                        stored += 1;
                        if ack.duplicate {
                            // Already on the chain from an earlier attempt;
                            // what follows was chained to a copy that was
                            // not stored, so it will be refused and redone.
                            conflict = true;
                        } else {
                            self.head =
                                Some((ack.sequence, records[stored - 1].record.hash.clone()));
                        }
                    }
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            PublishErrorKind::WrongLastSequence
                                | PublishErrorKind::WrongLastMessageId
                        ) =>
                    {
                        conflict = true;
                    }
                    Err(e) if conflict => {
                        tracing::debug!(error = %e, "audit append after a conflict");
                    }
                    Err(e) => return Err(GatewayError::nats(e)),
                }
            }
            if let Some(e) = send_error {
                return Err(GatewayError::nats(e));
            }
            records.drain(..stored);
            if conflict {
                self.head = None;
            }
        }
        Ok(())
    }
}
