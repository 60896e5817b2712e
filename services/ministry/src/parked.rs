//! Poison messages: deliveries this service fails to process.
//!
//! A delivery whose handling fails for a reason other than a rule (the
//! store fails, the role panics, a message the role makes breaks its
//! schema) is tried again with a growing delay ([`Retry`]): the delivery
//! loop naks it with that delay, and the member's other deliveries go on
//! meanwhile. After [`Retry::attempts`] deliveries it is **parked**: its
//! bytes, when the server stored it, and the kind of failure ([`Failure`])
//! are kept under a key of the member's own case bucket (`parked.<seq>`,
//! the delivery's sequence in `HW_DELIVER`), and only then is it
//! terminated, with `+TERM parked <failure> type=… id=… …` as the reason.
//! The server publishes that reason in its `MSG_TERMINATED` advisory,
//! which the operator's account receives: the operator sees the member
//! (the consumer), the message's type, id and sender, its case reference,
//! the failure and the attempts, never a byte of the message.
//!
//! Order within a case holds: a later delivery of a case whose earlier
//! delivery is being retried is naked behind it, and one of a case with a
//! parked delivery is parked behind it ([`Failure::BehindEarlier`]). A
//! redrive (`POST /parked/{seq}/redrive`, `homeward parked redrive`)
//! takes its case's parked deliveries in the order they were delivered,
//! each through the same path as a delivery: a message the case has
//! applied already changes nothing. Each one applied, or refused by a
//! rule, leaves the parked keys; the first that fails again stays, with
//! the new failure, and so do those behind it.
//!
//! The bound on attempts is below the consumer's `max_deliver`
//! ([`homeward_core::streams::delivery_consumer_config`]), so the server
//! delivers a message again when parking it failed (the store down).
//!
//! `ministry/tests/poison/` shows it on a real server.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::MinistryError;

/// How often, and how far apart, a failing delivery is tried before it is
/// parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Deliveries before parking, the first one included.
    pub attempts: u32,
    /// The delay after the first failure; it doubles after each one.
    pub first: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for Retry {
    /// Eight deliveries over about two minutes: 1 s, 2 s, … 64 s apart.
    fn default() -> Self {
        Self {
            attempts: 8,
            first: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl Retry {
    /// The most attempts a service may make: two fewer than the server
    /// delivers a message, so that a delivery whose parking failed comes
    /// again, twice.
    pub fn max_attempts() -> u32 {
        // Every member's delivery consumer has the same limit.
        let member = homeward_core::MemberId::parse("kz.mfa").expect("a member id");
        let deliveries = homeward_core::streams::delivery_consumer_config(&member).max_deliver;
        u32::try_from(deliveries - 2).unwrap_or(1)
    }

    /// A retry of `attempts` deliveries, `first` then doubling up to `max`
    /// apart; refused when the server would stop delivering first.
    pub fn new(attempts: u32, first: Duration, max: Duration) -> Result<Self, MinistryError> {
        let most = Self::max_attempts();
        if !(1..=most).contains(&attempts) {
            return Err(MinistryError::Invalid(format!(
                "deliveries.attempts is {attempts}: it must be between 1 and {most}, below the delivery consumer's max_deliver"
            )));
        }
        if first.is_zero() || max < first {
            return Err(MinistryError::Invalid(format!(
                "deliveries.first_retry_ms ({} ms) must be above 0 and at most deliveries.max_retry_ms ({} ms)",
                first.as_millis(),
                max.as_millis()
            )));
        }
        Ok(Self {
            attempts,
            first,
            max,
        })
    }

    /// The delay before the delivery after failed delivery `attempt` (1
    /// the first time).
    pub fn delay(&self, attempt: i64) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.first
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// Whether delivery `attempt` failing parks it.
    pub fn exhausted(&self, attempt: i64) -> bool {
        attempt >= i64::from(self.attempts)
    }
}

/// The `[deliveries]` section of a service's settings: [`Retry`] in
/// milliseconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    #[serde(default = "default_first_ms")]
    pub first_retry_ms: u64,
    #[serde(default = "default_max_ms")]
    pub max_retry_ms: u64,
    /// How long a delivery about a case this member does not hold yet is
    /// delivered again before it is refused with `unknown_case`: the
    /// message that opens the case may come later than one that follows
    /// it, when a crash made the server deliver it again. 0 refuses at
    /// once.
    #[serde(default = "default_hold_ms")]
    pub hold_unknown_case_ms: u64,
}

/// Two minutes: four times the delivery consumers' ack wait.
pub const DEFAULT_HOLD_UNKNOWN_CASE: Duration = Duration::from_secs(120);

fn default_hold_ms() -> u64 {
    DEFAULT_HOLD_UNKNOWN_CASE.as_millis() as u64
}

fn default_attempts() -> u32 {
    Retry::default().attempts
}
fn default_first_ms() -> u64 {
    Retry::default().first.as_millis() as u64
}
fn default_max_ms() -> u64 {
    Retry::default().max.as_millis() as u64
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            attempts: default_attempts(),
            first_retry_ms: default_first_ms(),
            max_retry_ms: default_max_ms(),
            hold_unknown_case_ms: default_hold_ms(),
        }
    }
}

impl RetrySettings {
    pub fn retry(&self) -> Result<Retry, MinistryError> {
        Retry::new(
            self.attempts,
            Duration::from_millis(self.first_retry_ms),
            Duration::from_millis(self.max_retry_ms),
        )
    }
}

/// Why a delivery failed: a kind, never a value from the message or the
/// error's text, since it reaches operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// The member's store or the streams could not be reached or written.
    Nats,
    /// The stored case does not parse.
    CorruptCase,
    /// A message the transition sends does not match its schema, or could
    /// not be signed: a bug in the role.
    InvalidOutput,
    /// The case was written by others at every attempt.
    Contention,
    /// The role panicked on the message: a bug in the role.
    RolePanicked,
    /// Behind an earlier delivery of the same case that failed.
    BehindEarlier,
    /// Anything else.
    Internal,
}

impl Failure {
    /// The kind of a handler's failure.
    pub fn of(e: &MinistryError) -> Self {
        match e {
            MinistryError::Nats(_) => Failure::Nats,
            MinistryError::Corrupt(_) => Failure::CorruptCase,
            MinistryError::Invalid(_) => Failure::InvalidOutput,
            MinistryError::Contention(_) => Failure::Contention,
            MinistryError::RolePanicked(_) => Failure::RolePanicked,
            MinistryError::Refused(_)
            | MinistryError::CaseNotYet(_)
            | MinistryError::ApiToken { .. }
            | MinistryError::Core(_) => Failure::Internal,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Nats => "nats",
            Failure::CorruptCase => "corrupt_case",
            Failure::InvalidOutput => "invalid_output",
            Failure::Contention => "contention",
            Failure::RolePanicked => "role_panicked",
            Failure::BehindEarlier => "behind_earlier",
            Failure::Internal => "internal",
        }
    }
}

/// What a parked delivery is, as the API lists it: references only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParkedMessage {
    /// Its sequence in `HW_DELIVER`: the id the API and the advisory use.
    pub sequence: u64,
    pub sender: String,
    pub message_type: String,
    pub message_id: String,
    pub case_ref: Option<String>,
    pub failure: Failure,
    /// Deliveries and redrives that failed.
    pub attempts: i64,
    /// When the server stored the delivery (RFC 3339, to the nanosecond):
    /// a redrive checks its age against it, as the delivery was.
    pub stored_at: String,
    pub parked_at: String,
}

impl ParkedMessage {
    /// The reason the delivery is terminated with, which the server's
    /// `MSG_TERMINATED` advisory carries to operators.
    pub fn term_reason(&self) -> String {
        format!(
            "parked {} type={} id={} sender={} case={} attempts={}",
            self.failure.as_str(),
            token(&self.message_type),
            token(&self.message_id),
            token(&self.sender),
            token(self.case_ref.as_deref().unwrap_or("-")),
            self.attempts
        )
    }

    /// When the server stored the delivery.
    pub fn stored_at(&self) -> Result<OffsetDateTime, MinistryError> {
        OffsetDateTime::parse(&self.stored_at, &Rfc3339).map_err(|e| {
            MinistryError::Corrupt(format!("parked delivery {}: storedAt: {e}", self.sequence))
        })
    }
}

/// The time as a parked record keeps it, to the nanosecond.
pub fn exact_time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| homeward_core::envelope::format_time(t))
}

/// A reference as the termination reason shows it: the characters ids,
/// types, members and case references are made of, anything else `?`, at
/// most 80 of them.
fn token(s: &str) -> String {
    s.chars()
        .take(80)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._:-".contains(c) {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// A parked delivery as the case bucket keeps it: what it is, and the
/// delivered bytes for a redrive, which the API never shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Parked {
    #[serde(flatten)]
    pub message: ParkedMessage,
    /// The delivered envelope, as the server delivered it.
    pub envelope: String,
}

/// What a redrive did with one parked delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "outcome",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Redriven {
    /// Applied to its case (or found applied already): no longer parked.
    Applied { sequence: u64, message_id: String },
    /// Refused by a rule or by this service's checks, and answered: no
    /// longer parked.
    Refused {
        sequence: u64,
        message_id: String,
        rule: String,
    },
    /// Failed again: still parked, with this failure.
    Failed {
        sequence: u64,
        message_id: String,
        failure: Failure,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_up_to_its_bound_and_attempts_stay_below_the_servers() {
        let retry =
            Retry::new(4, Duration::from_millis(100), Duration::from_millis(350)).expect("a retry");
        let delays: Vec<u128> = (1..=5).map(|a| retry.delay(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 350, 350, 350]);
        assert!(!retry.exhausted(3) && retry.exhausted(4));
        assert_eq!(Retry::default().delay(i64::MAX), Retry::default().max);
        assert!(Retry::new(Retry::max_attempts() + 1, retry.first, retry.max).is_err());
        assert!(Retry::new(0, retry.first, retry.max).is_err());
        assert!(Retry::new(2, Duration::ZERO, retry.max).is_err());
        assert!(Retry::default().attempts <= Retry::max_attempts());
        RetrySettings::default().retry().expect("the defaults hold");
    }

    #[test]
    fn the_termination_reason_holds_references_only() {
        let parked = ParkedMessage {
            sequence: 7,
            sender: "aanes.camps".to_owned(),
            message_type: "camp.resident.located".to_owned(),
            message_id: "01J0000000000000000000000 x".to_owned(),
            case_ref: Some("HOL-P5-000901".to_owned()),
            failure: Failure::RolePanicked,
            attempts: 3,
            stored_at: exact_time(OffsetDateTime::UNIX_EPOCH),
            parked_at: exact_time(OffsetDateTime::UNIX_EPOCH),
        };
        assert_eq!(
            parked.term_reason(),
            "parked role_panicked type=camp.resident.located id=01J0000000000000000000000?x sender=aanes.camps case=HOL-P5-000901 attempts=3"
        );
        assert_eq!(
            parked.stored_at().expect("parses"),
            OffsetDateTime::UNIX_EPOCH
        );
    }
}
