//! A ministry service's Prometheus metrics (`GET /metrics` on its API,
//! without the token: they hold no personal data, and a Prometheus server
//! must not hold a token that can act): deliveries applied, refused by
//! rule and failed; parked deliveries; foreign duplicates; what waits in
//! the outboxes; whether each loop runs. Labels are the member, a result
//! or a rule, or a loop: never a case or a person.

use std::sync::atomic::Ordering;

use homeward_core::metrics::Text;

use crate::Ministry;
use crate::health::Health;

/// The scrape of `ministry`'s service.
pub fn render(ministry: &Ministry, health: &Health) -> String {
    let member = ministry.member().as_str();
    let counters = ministry.counters();
    let alarms = ministry.alarms();
    let mut t = Text::default();
    let mut deliveries = homeward_core::metrics::Counter::new(&["member", "result"]);
    for (result, n) in [
        ("applied", counters.processed.load(Ordering::Relaxed)),
        ("refused", counters.refused.load(Ordering::Relaxed)),
        ("failed", counters.errors.load(Ordering::Relaxed)),
    ] {
        deliveries.add(&[member, result], n);
    }
    t.counter(
        "homeward_ministry_deliveries_total",
        "Deliveries handled: applied, refused by this service's own checks, or failed (retried, then parked).",
        &deliveries,
    );
    deliveries = homeward_core::metrics::Counter::new(&["member", "rule"]);
    for (rule, n) in &alarms.refused_deliveries {
        deliveries.add(&[member, rule], *n);
    }
    t.counter(
        "homeward_ministry_refused_deliveries_total",
        "Deliveries refused by this service's own checks, by rule.",
        &deliveries,
    );
    let single = |name: &str, help: &str, n: u64, t: &mut Text| {
        let c = homeward_core::metrics::Counter::new(&["member"]);
        c.add(&[member], n);
        t.counter(name, help, &c);
    };
    single(
        "homeward_ministry_parked_deliveries_total",
        "Deliveries parked after failing every attempt (GET /parked lists those still parked).",
        alarms.parked_deliveries,
        &mut t,
    );
    single(
        "homeward_ministry_foreign_duplicates_total",
        "Outgoing messages JetStream took for a duplicate of a submission this service never made.",
        alarms.foreign_duplicates,
        &mut t,
    );
    let (fresh, held, unsent) = ministry.outbox();
    t.gauge(
        "homeward_ministry_outbox_messages",
        "Messages waiting in the outboxes: not yet stored by JetStream, or held as someone else's duplicate.",
        [
            (vec![("member", member), ("state", "unsent")], fresh as f64),
            (vec![("member", member), ("state", "held")], held as f64),
        ],
    );
    t.gauge(
        "homeward_ministry_outbox_refused_cases",
        "Cases whose outbox the server refused, submitted again every 2 s.",
        [(vec![("member", member)], unsent as f64)],
    );
    t.gauge(
        "homeward_ministry_loop_up",
        "1 while the loop runs.",
        [
            (
                vec![("member", member), ("loop", "delivery")],
                f64::from(u8::from(matches!(
                    health.delivery.get(),
                    crate::health::LoopState::Running
                ))),
            ),
            (
                vec![("member", member), ("loop", "receipts")],
                f64::from(u8::from(matches!(
                    health.receipts.get(),
                    crate::health::LoopState::Running
                ))),
            ),
        ],
    );
    t.gauge(
        "homeward_ministry_policy_version",
        "The policy version in force.",
        [(vec![("member", member)], ministry.policy_version() as f64)],
    );
    t.finish()
}
