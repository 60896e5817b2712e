//! The gateway's Prometheus metrics (`/metrics`, when `metrics_listen`
//! is set): decisions by decision, code and type, the reasons of
//! rejections, the time from a submission's storing to its decision,
//! batches, stage times and failures.
//!
//! A decision is counted once, when its outputs are stored (a batch that
//! failed to store is decided again and would otherwise count twice), in
//! `homeward_gateway_decisions_total` with its first reason's code (empty
//! when accepted), so that the family sums to the number of decisions and
//! a rejection rate is a ratio of its series. Every reason of a rejection
//! is counted in `homeward_gateway_rejection_reasons_total`.
//!
//! Labels come from closed sets: a decision, a rejection code, a message
//! type the contract publishes (any other type, which a hostile sender
//! could vary without end, is `other`; none readable is `unknown`), and a
//! member of the policy where a limit is per member (the quota, the
//! backlog watch). Never an envelope's or a person's id.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use homeward_core::MemberId;
use homeward_core::discovery::Counters;
use homeward_core::message_types;
use homeward_core::metrics::{CONTENT_TYPE, Counter, Gauge, Histogram, LATENCY_BUCKETS, Registry};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_util::sync::CancellationToken;

use crate::audit_log::PendingRecord;
use crate::stats::{GatewayStats, Stage};

/// What the gateway counts for Prometheus.
#[derive(Debug)]
pub struct GatewayMetrics {
    registry: Registry,
    decisions: Arc<Counter>,
    reasons: Arc<Counter>,
    decision_seconds: Arc<Histogram>,
    batches: Arc<Counter>,
    submissions: Arc<Counter>,
    batch_failures: Arc<Counter>,
    stage_seconds: Arc<Counter>,
    over_quota: Arc<Counter>,
    oldest_untaken: Arc<Gauge>,
    recipient_refused: Arc<Gauge>,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        let registry = Registry::default();
        Self {
            decisions: registry.counter(
                "homeward_gateway_decisions_total",
                "Decisions stored, by decision, first rejection code (empty when accepted) and message type.",
                &["decision", "code", "type"],
            ),
            reasons: registry.counter(
                "homeward_gateway_rejection_reasons_total",
                "Reasons of the rejections stored, one per reason, by code and message type.",
                &["code", "type"],
            ),
            decision_seconds: registry.histogram(
                "homeward_gateway_decision_seconds",
                "Time from the server storing a submission to the gateway deciding it.",
                &[],
                &LATENCY_BUCKETS,
            ),
            batches: registry.counter(
                "homeward_gateway_batches_total",
                "Batches stored and acknowledged (submissions_total over batches_total is the mean batch size).",
                &[],
            ),
            submissions: registry.counter(
                "homeward_gateway_submissions_total",
                "Submissions stored and acknowledged.",
                &[],
            ),
            batch_failures: registry.counter(
                "homeward_gateway_batch_failures_total",
                "Batches whose outputs could not be stored (their submissions come again).",
                &[],
            ),
            stage_seconds: registry.counter(
                "homeward_gateway_stage_seconds_total",
                "Time spent in each stage of handling batches since the gateway started.",
                &["stage"],
            ),
            over_quota: registry.counter(
                "homeward_gateway_over_quota_total",
                "Submissions refused because their sender was over its rate quota, by sender.",
                &["member"],
            ),
            oldest_untaken: registry.gauge(
                "homeward_gateway_recipient_oldest_untaken_seconds",
                "Age of the oldest delivery each member has not acknowledged (0 when it has taken everything), as of the last backlog look.",
                &["member"],
            ),
            recipient_refused: registry.gauge(
                "homeward_gateway_recipient_refused",
                "1 while submissions to the member are refused because its deliveries have waited past the backlog limit (recipient_backlog).",
                &["member"],
            ),
            registry,
        }
    }
}

/// A batch's decisions, counted once it is stored.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    decisions: Vec<(String, String, &'static str)>,
    reasons: Vec<(String, &'static str)>,
    latencies: Vec<f64>,
    over_quota: Vec<String>,
}

/// A message type as a label: one of the contract's, or `other`.
fn type_label(message_type: Option<&str>) -> &'static str {
    match message_type {
        Some(t) => message_types::ALL
            .iter()
            .find(|known| **known == t)
            .copied()
            .unwrap_or("other"),
        None => "unknown",
    }
}

impl GatewayMetrics {
    /// What a batch's records will count once stored: labels and
    /// latencies, taken before the records are written away.
    pub(crate) fn tally(records: &[PendingRecord]) -> Tally {
        let mut tally = Tally::default();
        for PendingRecord { record: r, .. } in records {
            let kind = type_label(r.message_type.as_deref());
            let first = r.codes.first().cloned().unwrap_or_default();
            tally.decisions.push((r.decision.clone(), first, kind));
            for code in &r.codes {
                tally.reasons.push((code.clone(), kind));
            }
            if r.codes
                .iter()
                .any(|c| c == homeward_core::RejectionCode::OverQuota.as_str())
            {
                tally.over_quota.push(r.sender.clone());
            }
            let decided = OffsetDateTime::parse(&r.time, &Rfc3339);
            let submitted = r
                .submitted_at
                .as_deref()
                .map(|s| OffsetDateTime::parse(s, &Rfc3339));
            if let (Ok(decided), Some(Ok(submitted))) = (decided, submitted) {
                tally
                    .latencies
                    .push((decided - submitted).as_seconds_f64().max(0.0));
            }
        }
        tally
    }

    /// Counts a stored batch's decisions.
    pub(crate) fn count(&self, tally: Tally) {
        for (decision, code, kind) in tally.decisions {
            self.decisions.inc(&[&decision, &code, kind]);
        }
        for (code, kind) in tally.reasons {
            self.reasons.inc(&[&code, kind]);
        }
        for l in tally.latencies {
            self.decision_seconds.observe(&[], l);
        }
        for member in tally.over_quota {
            self.over_quota.inc(&[&member]);
        }
    }

    /// What the backlog watch saw of a member.
    pub(crate) fn set_backlog(
        &self,
        member: &MemberId,
        oldest: std::time::Duration,
        refused: bool,
    ) {
        self.oldest_untaken
            .set(&[member.as_str()], oldest.as_secs_f64());
        self.recipient_refused
            .set(&[member.as_str()], if refused { 1.0 } else { 0.0 });
    }

    /// Whether submissions to `member` are refused for its backlog, as of
    /// the last look (for tests).
    pub fn recipient_refused(&self, member: &MemberId) -> bool {
        self.recipient_refused.get(&[member.as_str()]) == Some(1.0)
    }

    /// Submissions of `member` refused for its quota (for tests).
    pub fn over_quota(&self, member: &MemberId) -> u64 {
        self.over_quota.get(&[member.as_str()]) as u64
    }

    /// The decisions counted of one series (for tests).
    pub fn decisions(&self, decision: &str, code: &str, message_type: &str) -> u64 {
        self.decisions.get(&[decision, code, message_type]) as u64
    }

    /// The scrape: the counted families, and the stage times and failures
    /// `stats` and `counters` keep for their own readers.
    pub fn render(&self, stats: &GatewayStats, counters: &Counters) -> String {
        let snapshot = stats.snapshot();
        self.batches.mirror(&[], snapshot.batches as f64);
        self.submissions.mirror(&[], snapshot.submissions as f64);
        self.batch_failures
            .mirror(&[], counters.errors.load(Ordering::Relaxed) as f64);
        for s in Stage::ALL {
            self.stage_seconds
                .mirror(&[s.as_str()], snapshot.stage(s).as_secs_f64());
        }
        self.registry.render()
    }
}

/// Serves `/metrics` on `listener` until `stop`. The listener is bound by
/// the caller (the binary, from `metrics_listen`; a test, on port 0).
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<GatewayMetrics>,
    stats: Arc<GatewayStats>,
    counters: Arc<Counters>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let text = metrics.render(&stats, &counters);
            async move { ([(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)], text) }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
}
