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
//! - [`case`]: the case record every role keeps.
//! - [`store`]: cases in the member's key-value bucket, optimistic concurrency.
//! - [`runtime`]: the delivery loop, transitions, the outbox, refusals.
//! - [`api`]: the HTTP JSON API.
//! - [`api_client`]: a client of that API, for a ministry's own systems.
//! - [`read`]: helpers for reading message data.
//! - [`service`]: settings and the run-until-signal entry point for `main`s.
//! - `test_support` (tests, and the `test-support` feature): inputs and
//!   checks for unit tests of a role.

pub mod api;
pub mod api_client;
pub mod case;
pub mod read;
pub mod runtime;
pub mod service;
pub mod store;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;

pub use case::{
    Case, Custody, Decision, DocumentKind, FollowUp, Person, ScreeningOutcome, Stage,
    VerificationOutcome,
};
pub use runtime::{
    ActionError, Ctx, Ministry, Outgoing, Params, Refusal, Role, Transition, mark_persons,
    open_case, require_case, require_persons,
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
    #[error("case {0} is written too often at once; gave up")]
    Contention(String),
    #[error(transparent)]
    Core(#[from] homeward_core::Error),
}

impl MinistryError {
    pub fn nats(e: impl std::fmt::Display) -> Self {
        MinistryError::Nats(e.to_string())
    }
}
