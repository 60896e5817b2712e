//! The submission rate quota, metered per member before any work is spent
//! on a submission ([`homeward_core::quota`]).
//!
//! Each member has a token bucket, on the server's clock: a submission
//! takes a token at the time the server stored it, so a backlog that built
//! up while the gateway was down is judged by the rate it was sent at, not
//! by the rate it is decided at. One over the quota is refused with
//! `over_quota`, decided on what the raw bytes say (no signature is
//! checked: that is the work a flood must not cost), with a receipt and
//! an audit record like every decision.
//!
//! A submission that comes again (a gateway stopped before acking it) is
//! never refused for the quota: it was metered when it first came, and
//! its first decision may already be stored.
//!
//! Each gateway meters what it decides: with several gateways sharing the
//! queue, a member may reach the quota on each.

use std::collections::HashMap;

use homeward_core::MemberId;
use homeward_core::policy::Policy;
use homeward_core::quota::Bucket;
use time::OffsetDateTime;

/// Every member's bucket.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    buckets: HashMap<MemberId, Bucket>,
}

impl Meter {
    /// Whether `member`'s submission stored at `at` is within its quota;
    /// a sender the policy does not know is not metered (the checks refuse
    /// it).
    pub(crate) fn admit(&mut self, policy: &Policy, member: &MemberId, at: OffsetDateTime) -> bool {
        let Some(quota) = policy.member(member).map(|m| m.quota) else {
            return true;
        };
        let now = at.unix_timestamp_nanos() as f64 / 1e9;
        self.buckets
            .entry(member.clone())
            .or_insert_with(|| Bucket::full(&quota, now))
            .take(&quota, now)
    }
}
