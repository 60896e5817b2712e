//! The gateway's Prometheus metrics (`/metrics`, when `metrics_listen`
//! is set): decisions by decision, code and type, the time from a
//! submission's storing to its decision, batches, stage times and
//! failures.
//!
//! Labels come from closed sets: a decision, a rejection code, a message
//! type the contract publishes (any other type, which a hostile sender
//! could vary without end, is `other`). Never an id.

use std::sync::Arc;

use homeward_core::discovery::Counters;
use homeward_core::message_types;
use homeward_core::metrics::{CONTENT_TYPE, Counter, Histogram, LATENCY_BUCKETS, Text};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_util::sync::CancellationToken;

use crate::audit_log::PendingRecord;
use crate::stats::{GatewayStats, Stage};

/// What the gateway counts for Prometheus.
#[derive(Debug)]
pub struct GatewayMetrics {
    decisions: Counter,
    decision_seconds: Histogram,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self {
            decisions: Counter::new(&["decision", "code", "type"]),
            decision_seconds: Histogram::new(&LATENCY_BUCKETS),
        }
    }
}

/// A batch's decisions, counted once it is stored.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    series: Vec<(String, String, &'static str)>,
    latencies: Vec<f64>,
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
            if r.codes.is_empty() {
                tally.series.push((r.decision.clone(), String::new(), kind));
            }
            for code in &r.codes {
                tally.series.push((r.decision.clone(), code.clone(), kind));
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
        for (decision, code, kind) in tally.series {
            self.decisions.inc(&[&decision, &code, kind]);
        }
        for l in tally.latencies {
            self.decision_seconds.observe(l);
        }
    }

    /// The decisions counted of one series (for tests).
    pub fn decisions(&self, decision: &str, code: &str, message_type: &str) -> u64 {
        self.decisions.get(&[decision, code, message_type])
    }

    /// The scrape.
    pub fn render(&self, stats: &GatewayStats, counters: &Counters) -> String {
        use std::sync::atomic::Ordering;
        let mut t = Text::default();
        t.counter(
            "homeward_gateway_decisions_total",
            "Decisions stored, by decision, rejection code (empty when accepted) and message type.",
            &self.decisions,
        );
        t.histogram(
            "homeward_gateway_decision_seconds",
            "Time from the server storing a submission to the gateway deciding it.",
            &self.decision_seconds,
        );
        let snapshot = stats.snapshot();
        t.counter_value(
            "homeward_gateway_batches_total",
            "Batches stored and acknowledged.",
            snapshot.batches,
        );
        t.counter_value(
            "homeward_gateway_submissions_total",
            "Submissions stored and acknowledged.",
            snapshot.submissions,
        );
        t.counter_value(
            "homeward_gateway_batch_failures_total",
            "Batches whose outputs could not be stored (their submissions come again).",
            counters.errors.load(Ordering::Relaxed),
        );
        t.gauge(
            "homeward_gateway_stage_seconds",
            "Time spent in each stage of handling batches since the gateway started.",
            Stage::ALL.iter().map(|s| {
                (
                    vec![("stage", s.as_str())],
                    snapshot.stage(*s).as_secs_f64(),
                )
            }),
        );
        t.finish()
    }
}

/// Serves `/metrics` on `listener` until `stop`.
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
