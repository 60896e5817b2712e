//! What one member may take of what all members share.
//!
//! A member that floods the system must not slow the others. Its quota,
//! from the policy, is enforced where it can be by the NATS server itself,
//! on the member's own account ([`crate::natsauth`] writes the limits):
//! connections, subscriptions and the largest message it may publish.
//! What the server cannot bound per member is the rate of submissions the
//! gateways decide: that the gateway meters with a token bucket per member,
//! on the server's clock (the time each submission was stored), and
//! refuses what is over with `over_quota` before spending any work on it.
//! And however fast a member submits, the shared work queue holds at most
//! [`crate::streams::SUBMIT_PENDING_PER_MEMBER`] of its submissions: past
//! that the server refuses its publishes, so no member can fill the queue
//! for the others.
//!
//! ```toml
//! # Every member's quota, unless its own entry says otherwise.
//! [quota]
//! submissions_per_second = 500
//! burst = 10000
//!
//! [[member]]
//! id = "aanes.camps"
//! # A census is imported at once.
//! quota = { submissions_per_second = 5000, burst = 50000 }
//! ```

use serde::Deserialize;

/// A member's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Submissions a second the gateway decides for the member, sustained.
    pub submissions_per_second: u32,
    /// How many submissions may come at once, above the sustained rate.
    pub burst: u32,
    /// Connections the member's account may hold at once (the server).
    pub connections: u32,
    /// Subscriptions the member's account may hold at once (the server).
    pub subscriptions: u32,
    /// The largest message, in bytes, the member may publish (the server).
    pub payload: u32,
}

impl Default for Quota {
    /// Generous for a ministry: a repatriation operation is thousands of
    /// messages a day, and a service holds one or two connections.
    fn default() -> Self {
        Self {
            submissions_per_second: 500,
            burst: 10_000,
            connections: 64,
            subscriptions: 1_000,
            payload: LARGEST_PAYLOAD,
        }
    }
}

/// The largest payload a quota may allow: what `HW_SUBMIT` stores, so that
/// an envelope over the gateway's 64 KiB limit still reaches it and is
/// refused on the record.
pub const LARGEST_PAYLOAD: u32 = crate::streams::MAX_SUBMISSION_BYTES as u32;

/// The smallest payload a quota may allow: room for one envelope at the
/// gateway's limit and its headers.
pub const SMALLEST_PAYLOAD: u32 = 64 * 1024 + 4 * 1024;

/// A `quota` table as written: every field optional, taken from the
/// default quota where absent.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QuotaEntry {
    submissions_per_second: Option<u32>,
    burst: Option<u32>,
    connections: Option<u32>,
    subscriptions: Option<u32>,
    payload: Option<u32>,
}

impl QuotaEntry {
    /// This entry over `base`, checked: every problem is named with `at`.
    pub(crate) fn over(&self, base: Quota, at: &str, problems: &mut Vec<String>) -> Quota {
        let quota = Quota {
            submissions_per_second: self
                .submissions_per_second
                .unwrap_or(base.submissions_per_second),
            burst: self.burst.unwrap_or(base.burst),
            connections: self.connections.unwrap_or(base.connections),
            subscriptions: self.subscriptions.unwrap_or(base.subscriptions),
            payload: self.payload.unwrap_or(base.payload),
        };
        let mut at_least = |field: &str, value: u32, least: u32| {
            if value < least {
                problems.push(format!(
                    "{at}: quota {field} is {value}; it must be at least {least}"
                ));
            }
        };
        at_least("submissions_per_second", quota.submissions_per_second, 1);
        at_least("burst", quota.burst, 1);
        // A service holds a connection and reconnects while the old one
        // is being closed.
        at_least("connections", quota.connections, 2);
        at_least("subscriptions", quota.subscriptions, 16);
        at_least("payload", quota.payload, SMALLEST_PAYLOAD);
        if quota.payload > LARGEST_PAYLOAD {
            problems.push(format!(
                "{at}: quota payload is {}; it may be at most {LARGEST_PAYLOAD}, what the submit stream stores",
                quota.payload
            ));
        }
        quota
    }
}

/// A token bucket: how much of a member's quota is left at a time.
/// Time is in seconds on any clock that does not run backwards by much; a
/// time earlier than the last one counts as the last one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    tokens: f64,
    at: f64,
}

impl Bucket {
    /// A full bucket at `now`.
    pub fn full(quota: &Quota, now: f64) -> Self {
        Self {
            tokens: f64::from(quota.burst),
            at: now,
        }
    }

    /// Takes one token at `now`, if there is one: whether the submission
    /// is within the quota.
    pub fn take(&mut self, quota: &Quota, now: f64) -> bool {
        if now > self.at {
            let refill = (now - self.at) * f64::from(quota.submissions_per_second);
            self.tokens = (self.tokens + refill).min(f64::from(quota.burst));
            self.at = now;
        }
        // A quota lowered below what is left takes effect at once.
        self.tokens = self.tokens.min(f64::from(quota.burst));
        // Within a nanosecond's worth of a token is a token: the clock's
        // seconds are floating point.
        if self.tokens >= 1.0 - 1e-6 {
            self.tokens = (self.tokens - 1.0).max(0.0);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(rate: u32, burst: u32) -> Quota {
        Quota {
            submissions_per_second: rate,
            burst,
            ..Quota::default()
        }
    }

    #[test]
    fn a_burst_then_the_rate() {
        let q = quota(10, 5);
        let mut b = Bucket::full(&q, 100.0);
        assert_eq!((0..8).filter(|_| b.take(&q, 100.0)).count(), 5);
        // A tenth of a second gives one more, a whole second ten more but
        // never more than the burst.
        assert!(b.take(&q, 100.1));
        assert!(!b.take(&q, 100.1));
        assert_eq!((0..20).filter(|_| b.take(&q, 110.0)).count(), 5);
    }

    #[test]
    fn a_clock_running_backwards_gives_nothing() {
        let q = quota(10, 1);
        let mut b = Bucket::full(&q, 100.0);
        assert!(b.take(&q, 100.0));
        assert!(!b.take(&q, 50.0));
        assert!(!b.take(&q, 100.05));
        assert!(b.take(&q, 100.1));
    }

    #[test]
    fn a_lowered_burst_applies_at_once() {
        let mut b = Bucket::full(&quota(10, 100), 0.0);
        let q = quota(10, 2);
        assert_eq!((0..10).filter(|_| b.take(&q, 0.0)).count(), 2);
    }

    #[test]
    fn entries_are_checked_field_by_field() {
        let mut problems = Vec::new();
        let entry = QuotaEntry {
            burst: Some(0),
            payload: Some(2 * 1024 * 1024),
            ..QuotaEntry::default()
        };
        let q = entry.over(Quota::default(), "member 3 (\"kz.mfa\")", &mut problems);
        assert_eq!(
            q.submissions_per_second,
            Quota::default().submissions_per_second
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("member 3") && problems[0].contains("burst"));
        assert!(problems[1].contains("payload") && problems[1].contains("at most"));
    }
}
