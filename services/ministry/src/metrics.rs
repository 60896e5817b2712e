//! A ministry service's Prometheus metrics (`GET /metrics` on its API,
//! without the token: they hold no personal data, and a Prometheus server
//! must not hold a token that can act): deliveries applied, refused by
//! rule and failed; parked deliveries; foreign duplicates; submissions
//! stored; receipts by decision; what waits in the outboxes; the delivery
//! consumer's backlog; whether each loop runs.
//!
//! Labels are the member, a result, a rule, a decision, a message type of
//! the contract, or a loop: never a case, a person or an envelope id.
//! Counts the service already keeps for `/health` and discovery (its
//! [`homeward_core::discovery::Counters`] and alarms) are mirrored at each
//! scrape, not counted twice.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use homeward_core::message_types;
use homeward_core::metrics::{Counter, Gauge, Registry};

use crate::Ministry;
use crate::health::{Health, LoopState};

/// What a ministry service counts for Prometheus, beyond what `/health`
/// and discovery already keep.
#[derive(Debug)]
pub struct ServiceMetrics {
    registry: Registry,
    deliveries: Arc<Counter>,
    refused: Arc<Counter>,
    parked: Arc<Counter>,
    foreign_duplicates: Arc<Counter>,
    submissions: Arc<Counter>,
    receipts: Arc<Counter>,
    outbox: Arc<Gauge>,
    refused_cases: Arc<Gauge>,
    pending: Arc<Gauge>,
    loops: Arc<Gauge>,
    policy: Arc<Gauge>,
}

impl Default for ServiceMetrics {
    fn default() -> Self {
        let r = Registry::default();
        Self {
            deliveries: r.counter(
                "homeward_ministry_deliveries_total",
                "Deliveries handled: applied, refused by this service's own checks, or failed (retried, then parked).",
                &["member", "result"],
            ),
            refused: r.counter(
                "homeward_ministry_refused_deliveries_total",
                "Deliveries refused by this service's own checks, by rule.",
                &["member", "rule"],
            ),
            parked: r.counter(
                "homeward_ministry_parked_deliveries_total",
                "Deliveries parked after failing every attempt (GET /parked lists those still parked).",
                &["member"],
            ),
            foreign_duplicates: r.counter(
                "homeward_ministry_foreign_duplicates_total",
                "Outgoing messages JetStream took for a duplicate of a submission this service never made.",
                &["member"],
            ),
            submissions: r.counter(
                "homeward_ministry_submissions_total",
                "Messages this service submitted and JetStream stored, by message type.",
                &["member", "type"],
            ),
            receipts: r.counter(
                "homeward_ministry_receipts_total",
                "Receipts read for what this service sent, by decision.",
                &["member", "decision"],
            ),
            outbox: r.gauge(
                "homeward_ministry_outbox_messages",
                "Messages waiting in the outboxes: not yet stored by JetStream, or held as someone else's duplicate.",
                &["member", "state"],
            ),
            refused_cases: r.gauge(
                "homeward_ministry_outbox_refused_cases",
                "Cases whose outbox the server refused, submitted again every 2 s.",
                &["member"],
            ),
            pending: r.gauge(
                "homeward_ministry_delivery_pending_messages",
                "Deliveries waiting behind the last one this service received, as the server counted them then (its consumer's lag).",
                &["member"],
            ),
            loops: r.gauge(
                "homeward_ministry_loop_up",
                "1 while the loop runs.",
                &["member", "loop"],
            ),
            policy: r.gauge(
                "homeward_ministry_policy_version",
                "The policy version in force.",
                &["member"],
            ),
            registry: r,
        }
    }
}

/// A message type as a label: one of the contract's, or `other`.
fn type_label(message_type: &str) -> &'static str {
    message_types::ALL
        .iter()
        .find(|known| **known == message_type)
        .copied()
        .unwrap_or("other")
}

impl ServiceMetrics {
    /// Counts a submission JetStream stored (not a duplicate).
    pub(crate) fn submitted(&self, member: &str, message_type: &str) {
        self.submissions.inc(&[member, type_label(message_type)]);
    }

    /// Counts a receipt read, by its decision.
    pub(crate) fn receipt(&self, member: &str, decision: homeward_core::receipt::Decision) {
        self.receipts.inc(&[member, decision.as_str()]);
    }

    /// Keeps the delivery consumer's backlog the server reported with the
    /// last delivery (`pending` in its metadata): known for free, and
    /// exact when the consumer is idle or behind.
    pub(crate) fn pending(&self, member: &str, pending: u64) {
        self.pending.set(&[member], pending as f64);
    }

    /// The scrape of `ministry`'s service.
    pub fn render(&self, ministry: &Ministry, health: &Health) -> String {
        let member = ministry.member().as_str();
        let counters = ministry.counters();
        let alarms = ministry.alarms();
        for (result, n) in [
            ("applied", &counters.processed),
            ("refused", &counters.refused),
            ("failed", &counters.errors),
        ] {
            self.deliveries
                .mirror(&[member, result], n.load(Ordering::Relaxed) as f64);
        }
        for (rule, n) in &alarms.refused_deliveries {
            self.refused.mirror(&[member, rule], *n as f64);
        }
        self.parked
            .mirror(&[member], alarms.parked_deliveries as f64);
        self.foreign_duplicates
            .mirror(&[member], alarms.foreign_duplicates as f64);
        let (fresh, held, unsent) = ministry.outbox();
        self.outbox.set(&[member, "unsent"], fresh as f64);
        self.outbox.set(&[member, "held"], held as f64);
        self.refused_cases.set(&[member], unsent as f64);
        if self.pending.get(&[member]).is_none() {
            // Nothing delivered yet: nothing known behind it either.
            self.pending.set(&[member], 0.0);
        }
        let up = |s: LoopState| f64::from(u8::from(matches!(s, LoopState::Running)));
        self.loops
            .set(&[member, "delivery"], up(health.delivery.get()));
        self.loops
            .set(&[member, "receipts"], up(health.receipts.get()));
        self.policy.set(&[member], ministry.policy_version() as f64);
        self.registry.render()
    }
}

/// The scrape of `ministry`'s service.
pub fn render(ministry: &Ministry, health: &Health) -> String {
    ministry.metrics().render(ministry, health)
}
