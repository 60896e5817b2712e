//! The decide loop: fetch a batch from the work queue, check each
//! submission across the cores ([`check`]), refuse replays against the
//! seen-ids bucket, build every output ([`crate::outputs`]) and hand the
//! batch to the write loop.
//!
//! A submission is identified by its stream sequence in `HW_SUBMIT`: its
//! receipt, rejection copy and audit record are keyed by it, and the
//! seen-ids bucket holds it. A message whose metadata cannot be read has no
//! sequence, so it is nak'ed and left to come again rather than decided
//! under a made-up one, which would key its outputs like another
//! submission's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind, consumer::pull, kv};
use futures::StreamExt;
use homeward_core::envelope::format_time;
use homeward_core::published::PolicyHandle;
use homeward_core::receipt::Reason;
use homeward_core::{MemberId, RejectionCode, SchemaRegistry, subjects};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::audit_log::PendingRecord;
use crate::backlog::Refused;
use crate::check::{self, Accepted, Known, Rejected, Rules};
use crate::outputs::Write;
use crate::quota::Meter;
use crate::stats::{GatewayStats, Stage};
use crate::{GatewayConfig, GatewayError};

/// What the CPU work needs, shared with the threads that do it.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: GatewayConfig,
    pub(crate) schemas: Arc<SchemaRegistry>,
    /// The policy in force, which a newer published version replaces.
    pub(crate) policy: PolicyHandle,
}

/// One submission's outcome, before it is written.
pub(crate) struct Outcome {
    pub(crate) sequence: u64,
    /// When the server stored the submission.
    pub(crate) stored_at: OffsetDateTime,
    pub(crate) sender: Option<MemberId>,
    pub(crate) bytes: bytes::Bytes,
    pub(crate) result: Result<Accepted, Rejected>,
    /// Whether the server had handed this submission out before.
    pub(crate) redelivered: bool,
}

/// A batch whose outcomes are decided and whose outputs are built: all that
/// is left is to store them and ack.
pub(crate) struct Decided {
    pub(crate) messages: Vec<jetstream::Message>,
    pub(crate) writes: Vec<Write>,
    pub(crate) records: Vec<PendingRecord>,
}

/// Tells the server to send these submissions again in a second.
pub(crate) async fn nak_all(messages: &[jetstream::Message]) {
    for m in messages {
        let _ = m.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
    }
}

/// The decide loop.
pub(crate) struct Decider {
    pub(crate) shared: Arc<Shared>,
    pub(crate) seen: kv::Store,
    pub(crate) stats: Arc<GatewayStats>,
    /// Every member's rate quota ([`crate::quota`]).
    pub(crate) meter: Meter,
    /// The members no submission is accepted for ([`crate::backlog`]).
    pub(crate) refused: Arc<Refused>,
}

impl Decider {
    pub(crate) async fn run(
        mut self,
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
            let (messages, sequences) = sequenced(messages).await;
            self.stats.lap(Stage::Fetch, &mut clock);
            if messages.is_empty() {
                continue;
            }
            match self.decide(&messages, sequences).await {
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

    /// Decides every submission of a batch (`stored[i]` is where
    /// `messages[i]` stands in the stream) and builds what is to be written.
    async fn decide(
        &mut self,
        messages: &[jetstream::Message],
        stored: Vec<Stored>,
    ) -> Result<(Vec<Write>, Vec<PendingRecord>), GatewayError> {
        let mut clock = Instant::now();
        let now = OffsetDateTime::now_utc();
        let submissions: Vec<_> = messages
            .iter()
            .zip(stored)
            .map(|(m, stored)| {
                (
                    stored,
                    subjects::member_of_submit(m.subject.as_str()),
                    m.payload.clone(),
                )
            })
            .collect();
        // The quota first, in stream order: what is over it costs no more.
        let policy = self.shared.policy.get();
        let metered: Vec<_> = submissions
            .into_iter()
            .map(|(stored, sender, bytes)| {
                let over = !stored.redelivered
                    && sender
                        .as_ref()
                        .is_some_and(|s| !self.meter.admit(&policy, s, stored.at));
                (stored, sender, bytes, over)
            })
            .collect();
        let shared = self.shared.clone();
        let mut outcomes = on_all_cores(metered, move |(stored, sender, bytes, over)| {
            let sequence = stored.sequence;
            let result = if over {
                Err(over_quota(&shared.policy.get(), sender.as_ref(), &bytes))
            } else {
                shared.check(sender.as_ref(), &bytes, stored.at)
            };
            Outcome {
                sequence,
                stored_at: stored.at,
                sender,
                bytes,
                result,
                redelivered: stored.redelivered,
            }
        })
        .await?;
        self.stats.lap(Stage::Check, &mut clock);
        self.backlog_checks(&mut outcomes);

        self.replay_checks(&mut outcomes).await?;
        self.stats.lap(Stage::Replay, &mut clock);

        let shared = self.shared.clone();
        let received_at = format_time(now);
        let built = on_all_cores(outcomes, move |outcome| {
            shared.outputs(&outcome, &received_at)
        })
        .await?;
        // What members within their quota get is written first: a flood's
        // refusals (which deliver nothing, so no recipient's order
        // changes) do not stand before them in the batch. The audit
        // records keep the stream's order.
        let mut writes = Vec::with_capacity(built.len() * 3);
        let mut refusals = Vec::new();
        let mut records = Vec::with_capacity(built.len());
        for b in built {
            let (w, record) = b?;
            if record
                .record
                .codes
                .iter()
                .any(|c| c == RejectionCode::OverQuota.as_str())
            {
                refusals.extend(w);
            } else {
                writes.extend(w);
            }
            records.push(record);
        }
        writes.extend(refusals);
        self.stats.lap(Stage::Build, &mut clock);
        Ok((writes, records))
    }

    /// Refuses what would be accepted for a member the backlog watch
    /// refuses. A submission that comes again keeps its first decision.
    fn backlog_checks(&self, outcomes: &mut [Outcome]) {
        for outcome in outcomes.iter_mut().filter(|o| !o.redelivered) {
            let Ok(accepted) = &outcome.result else {
                continue;
            };
            if let Some((member, age)) = self.refused.first_of(&accepted.recipients) {
                let days = age.as_secs() / 86_400;
                let waited = if days > 0 {
                    format!("{days} days")
                } else {
                    format!("{} s", age.as_secs())
                };
                outcome.result = Err(Rejected {
                    known: Known::of(&accepted.envelope),
                    reasons: vec![Reason::new(
                        RejectionCode::RecipientBacklog,
                        format!(
                            "recipient {member} has left a delivery untaken for {waited}; \
                             no more are accepted for it until it catches up"
                        ),
                    )],
                });
            }
        }
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
                    known: Known::of(&accepted.envelope),
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

/// Where a submission stands in `HW_SUBMIT`: its sequence, and when the
/// server stored it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stored {
    pub sequence: u64,
    /// Whether the server had handed it out before (to a gateway that
    /// stopped, or whose batch failed, before acking it).
    pub redelivered: bool,
    /// The stream's timestamp: the time window is measured against it, not
    /// against the gateway's clock, so that a gateway that was down for
    /// longer than the window does not turn queued submissions stale.
    pub at: OffsetDateTime,
}

/// The messages whose stream metadata can be read, with where they stand;
/// any other is nak'ed, to come again.
async fn sequenced(messages: Vec<jetstream::Message>) -> (Vec<jetstream::Message>, Vec<Stored>) {
    let mut kept = Vec::with_capacity(messages.len());
    let mut sequences = Vec::with_capacity(messages.len());
    for m in messages {
        match m.info().map(|i| Stored {
            sequence: i.stream_sequence,
            redelivered: i.delivered > 1,
            at: i.published,
        }) {
            Ok(stored) => {
                sequences.push(stored);
                kept.push(m);
            }
            Err(e) => {
                tracing::warn!(error = %e, subject = %m.subject, "a submission's metadata cannot be read; nak'ed");
                nak_all(std::slice::from_ref(&m)).await;
            }
        }
    }
    (kept, sequences)
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
        out.extend(task.await.map_err(GatewayError::Worker)?);
    }
    Ok(out)
}

impl Shared {
    /// [`check::check`], with a panic turned into a rejection.
    fn check(
        &self,
        sender: Option<&MemberId>,
        bytes: &[u8],
        stored_at: OffsetDateTime,
    ) -> Result<Accepted, Rejected> {
        let policy = self.policy.get();
        let rules = Rules {
            schemas: &self.schemas,
            policy: &policy,
            time_window: self.config.time_window,
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check::check(&rules, sender, bytes, stored_at)
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
}

/// The rejection of a submission over its sender's quota, with what its
/// bytes say about it: no more work is spent on it.
fn over_quota(policy: &homeward_core::Policy, sender: Option<&MemberId>, bytes: &[u8]) -> Rejected {
    let quota = sender
        .and_then(|s| policy.member(s))
        .map(|m| m.quota)
        .unwrap_or_default();
    Rejected {
        known: check::known_from_bytes(bytes),
        reasons: vec![Reason::new(
            RejectionCode::OverQuota,
            format!(
                "the sender is over its quota of {} submissions a second (burst {}); send it again later",
                quota.submissions_per_second, quota.burst
            ),
        )],
    }
}
