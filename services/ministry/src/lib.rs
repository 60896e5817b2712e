//! What every Homeward ministry service shares.
//!
//! A ministry service is what a ministry runs next to its own systems: it
//! holds the ministry's signing key, consumes its deliveries, keeps its
//! cases, applies its part of the lifecycle, refuses what breaks it, and
//! offers a local HTTP API for decisions. The role crates (camp registry,
//! foreign affairs, security, interior, rehabilitation) implement [`Role`];
//! everything else is here.
//!
//! # Layout
//! - [`noted`]: the steps of other roles several roles note the same way.
//! - [`case`]: the case record every role keeps.
//! - [`store`]: cases in the member's key-value bucket, optimistic concurrency.
//! - [`events`]: the member's event log, the projection of its cases'
//!   timelines, and the feed `GET /events` serves from it.
//! - [`runtime`]: the delivery loop, transitions, the outbox, refusals.
//! - [`parked`]: deliveries that fail to process: retried with backoff,
//!   then parked for a redrive.
//! - [`api`]: the HTTP JSON API, and who may call it.
//! - [`health`]: the state of the delivery and receipt loops, for `/health`.
//! - [`api_client`]: a client of that API, for a ministry's own systems.
//! - [`verify`]: what a service checks of every delivery itself: the
//!   sender's right, the route, the schema, the age.
//! - [`read`]: helpers for reading message data.
//! - [`service`]: settings and the run-until-signal entry point for `main`s.
//! - `test_support` (tests, and the `test-support` feature): inputs and
//!   checks for unit tests of a role.

pub mod api;
pub mod api_client;
pub mod case;
pub mod events;
pub mod health;
pub mod metrics;
pub mod noted;
pub mod parked;
pub mod read;
pub mod runtime;
pub mod service;
pub mod store;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
pub mod verify;

pub use case::{
    Case, Custody, Decision, DocumentKind, FollowUp, MessageKey, Person, ScreeningOutcome, Stage,
    Step, VerificationOutcome,
};
pub use runtime::{
    ActionError, Alarms, Ctx, IdKey, Ministry, Outgoing, Params, Refusal, Role, Transition,
    mark_persons, open_case, require_camp_authority, require_case, require_persons,
};

/// What can go wrong in a ministry service.
#[derive(Debug, thiserror::Error)]
pub enum MinistryError {
    #[error("nats: {0}")]
    Nats(String),
    #[error("stored data does not parse: {0}")]
    Corrupt(String),
    #[error("invalid: {0}")]
    Invalid(String),
    /// The API token file is missing, unreadable or holds no usable token;
    /// `problem` never quotes the token.
    #[error("api token file {}: {problem}", path.display())]
    ApiToken {
        path: std::path::PathBuf,
        problem: String,
    },
    #[error("case {0} is written too often at once; gave up")]
    Contention(String),
    /// The role panicked on a delivered message of this type: a bug in
    /// the role ([`crate::parked`]).
    #[error("the role panicked on a {0}")]
    RolePanicked(String),
    /// A delivery failed this service's own checks, with the rule: it was
    /// refused back to its sender, and is to be terminated.
    #[error("refused on delivery: {0}")]
    Refused(String),
    /// A delivery about a case this member does not hold yet, young enough
    /// that the message opening the case may still be on its way (another
    /// sender's, redelivered after a crash): it is delivered again, not
    /// refused ([`crate::runtime::Options::hold_unknown_case`]).
    #[error("case {0} is not here yet")]
    CaseNotYet(String),
    #[error(transparent)]
    Core(#[from] homeward_core::Error),
}

impl MinistryError {
    /// Whether the server could not be reached or did not answer in time:
    /// worth trying again, unlike a bucket never provisioned or data that
    /// does not parse.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            MinistryError::Nats(_)
                | MinistryError::Core(
                    homeward_core::Error::Nats(_) | homeward_core::Error::Timeout(_)
                )
        )
    }
}

impl MinistryError {
    pub fn nats(e: impl std::fmt::Display) -> Self {
        MinistryError::Nats(e.to_string())
    }
}
