//! Appending to the shared audit chain.
//!
//! Several gateways append to one chain, and each pipelines a batch of
//! records. Record `i` of a batch is published with
//! `Nats-Expected-Last-Sequence` = the head we know + `i` and (after the
//! first) `Nats-Expected-Last-Msg-Id` = the record before it in the batch,
//! so the server stores it only if the last record in the stream is the one
//! it was chained to. If another gateway got there first, the server refuses
//! the rest of the batch; we read the new head and chain again.
//!
//! Records are deduplicated by their message id, one per submission (within
//! the stream's one-hour duplicate window), so a submission handled again —
//! its gateway died, or its batch failed, after some of its records were
//! appended but before it was acked — does not add a second record. A
//! duplicate is dropped as done; it is not stored, so every record
//! pipelined after it was chained to a record the stream does not hold:
//! both guards make the server refuse those, and they are chained again to
//! the real head in the next round.
//!
//! (With the message-id guard alone, a record following a duplicate of the
//! stream's last record passed — the last message id was the duplicate's —
//! and was stored chained to a copy that was never stored: the chain broke
//! whenever a gateway died mid-append and its batch was redone before
//! anything else was appended. And a redone batch resolved one duplicate
//! per round, so one of more than 100 records failed every time it came
//! back. `tests/gateway/restart.rs` makes both happen.)

use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage};
use homeward_core::audit::{AuditRecord, GENESIS, parse_record};
use homeward_core::subjects;

use crate::GatewayError;

/// Rounds in a row that store nothing before an append gives up (and the
/// batch is handled again later).
const MAX_IDLE_ROUNDS: u32 = 100;

/// How long to wait after losing the chain's head `round` times in a row:
/// up to 2 ms per lost round (at most 50 ms), spread by the clock's
/// nanoseconds so that two gateways do not come back together.
fn contention_pause(round: u32) -> std::time::Duration {
    let ceiling_us = u64::from(round.min(25)) * 2_000;
    let spread = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0),
    );
    std::time::Duration::from_micros(500 + spread % ceiling_us.max(1))
}

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

    /// The stream's last sequence and the hash of the last real record at
    /// or before it. A foreign message (one that is not an audit record) is
    /// an alarm, logged, and passed over: the next record chains to the
    /// last real one, as the verifier expects, and the gateway keeps going.
    async fn load_head(&self) -> Result<(u64, String), GatewayError> {
        let mut stream = self
            .js
            .get_stream(subjects::AUDIT_STREAM)
            .await
            .map_err(GatewayError::nats)?;
        let state = stream
            .info()
            .await
            .map_err(GatewayError::nats)?
            .state
            .clone();
        let last = state.last_sequence;
        let mut sequence = last;
        while sequence >= state.first_sequence.max(1) {
            let message = stream
                .get_raw_message(sequence)
                .await
                .map_err(GatewayError::nats)?;
            match parse_record(&message.payload) {
                Some(record) => return Ok((last, record.hash)),
                None => {
                    tracing::error!(
                        sequence,
                        subject = %message.subject,
                        "ALARM: a foreign message in the audit stream, not an audit record; passed over"
                    );
                    sequence -= 1;
                }
            }
        }
        Ok((last, GENESIS.to_owned()))
    }

    /// Appends `records` in order, chaining each to the one before; a
    /// record whose message id is already on the chain is dropped, as its
    /// submission's decision is recorded already.
    pub async fn append(&mut self, mut records: Vec<PendingRecord>) -> Result<(), GatewayError> {
        // Rounds in a row that stored nothing: lost races with other
        // gateways. Any progress starts the count again.
        let mut idle_rounds = 0;
        while !records.is_empty() {
            idle_rounds += 1;
            if idle_rounds > MAX_IDLE_ROUNDS {
                return Err(GatewayError::AuditContended {
                    attempts: MAX_IDLE_ROUNDS,
                });
            }
            let (head_seq, head_hash) = match self.head.take() {
                Some(h) => h,
                None => self.load_head().await?,
            };
            let mut prev_hash = head_hash;
            let mut acks = Vec::with_capacity(records.len());
            let mut send_error = None;
            for i in 0..records.len() {
                records[i].record.seal(&prev_hash)?;
                prev_hash = records[i].record.hash.clone();
                let payload = serde_json::to_vec(&records[i].record).map_err(|source| {
                    GatewayError::Serialise {
                        what: "an audit record",
                        source,
                    }
                })?;
                let mut publish = PublishMessage::build()
                    .payload(payload.into())
                    .message_id(&records[i].msg_id)
                    .expected_last_sequence(head_seq + i as u64);
                if i > 0 {
                    publish = publish.expected_last_message_id(&records[i - 1].msg_id);
                }
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
            let mut done = vec![false; records.len()];
            // Whether every record so far was stored by us, in order: only
            // then does the stream hold what the next one was chained to.
            let mut in_order = true;
            for (i, ack) in acks.into_iter().enumerate() {
                match ack.await {
                    Ok(ack) if ack.duplicate => {
                        tracing::debug!(
                            msg_id = %records[i].msg_id,
                            sequence = ack.sequence,
                            "audit record already on the chain"
                        );
                        done[i] = true;
                        in_order = false;
                    }
                    Ok(ack) => {
                        done[i] = true;
                        if in_order {
                            self.head = Some((ack.sequence, records[i].record.hash.clone()));
                        } else {
                            // Both guards held although the record before
                            // it was not ours: another gateway stored a copy
                            // of that record at that very place, in the
                            // moment between our publishes (two gateways on
                            // one submission, after its ack wait ran out).
                            // The link is broken and cannot be undone.
                            tracing::error!(
                                sequence = ack.sequence,
                                msg_id = %records[i].msg_id,
                                "audit record stored after a copy of its predecessor made by another gateway; the chain breaks here"
                            );
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            PublishErrorKind::WrongLastSequence
                                | PublishErrorKind::WrongLastMessageId
                        ) || homeward_core::streams::is_wrong_last_sequence(&e) =>
                    {
                        in_order = false;
                    }
                    Err(e) if !in_order => {
                        tracing::debug!(error = %e, "audit append after a conflict");
                    }
                    Err(e) => return Err(GatewayError::nats(e)),
                }
            }
            if let Some(e) = send_error {
                return Err(GatewayError::nats(e));
            }
            let before = records.len();
            let mut done = done.into_iter();
            records.retain(|_| !done.next().unwrap_or(false));
            let lost = records.len() == before;
            if !lost {
                idle_rounds = 0;
            }
            if !in_order {
                self.head = None;
            }
            if lost && !records.is_empty() {
                // Another gateway is appending its batch: let it finish
                // rather than race it again at once, which on a cluster
                // (each append a replicated round trip) can keep both
                // losing. A pause of up to a few milliseconds, longer the
                // more rounds were lost, different for each gateway.
                tokio::time::sleep(contention_pause(idle_rounds)).await;
            }
        }
        Ok(())
    }
}
