//! The write loop: store each decided batch, chain its audit records, ack.
//!
//! Batches are written one after another, in the order they were decided.
//! A submission is acked only once JetStream has acknowledged every
//! delivery, the receipt, the rejection copy and the audit record it made
//! (ARCHITECTURE.md, "Nothing is acked before its outputs are stored"); a
//! batch that fails anywhere before that is nak'ed whole, to be decided
//! again, and its keyed writes make the second time change nothing.

use std::sync::Arc;
use std::time::Instant;

use async_nats::jetstream;
use tokio::sync::mpsc;

use crate::GatewayError;
use crate::audit_log::{AuditLog, PendingRecord};
use crate::decide::{Decided, nak_all};
use crate::outputs::Write;
use crate::stats::{GatewayStats, Stage};

/// Publish acks awaited at once, well under the client's limit of
/// un-awaited acks (`max_ack_inflight`, 5,000), which blocks when exceeded.
const PUBLISH_WINDOW: usize = 1_000;

/// The write loop.
pub(crate) struct Writer {
    pub(crate) js: jetstream::Context,
    pub(crate) audit: AuditLog,
    pub(crate) stats: Arc<GatewayStats>,
    pub(crate) counters: Arc<homeward_core::discovery::Counters>,
    pub(crate) metrics: Arc<crate::metrics::GatewayMetrics>,
}

impl Writer {
    pub(crate) async fn run(mut self, mut decided: mpsc::Receiver<Decided>) {
        while let Some(batch) = decided.recv().await {
            let decisions = batch.records.len() as u64;
            let rejected = batch
                .records
                .iter()
                .filter(|r| r.record.decision == "rejected")
                .count() as u64;
            let tally = crate::metrics::GatewayMetrics::tally(&batch.records);
            match self.write(batch.writes, batch.records).await {
                Ok(()) => {
                    self.metrics.count(tally);
                    self.counters.processed(decisions);
                    self.counters.refused(rejected);
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
                    self.counters.errors(1);
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
