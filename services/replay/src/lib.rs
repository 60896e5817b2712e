//! A whole repatriation on one machine.
//!
//! [`world`] starts a service for every member of the policy on a local
//! deployment; [`replay`] drives the scenario through their APIs; each
//! state's report comes from its own foreign ministry's service
//! ([`world::World::report`]). `homeward demo` stands on this, and so do
//! the lifecycle tests.
//!
//! # Layout
//! - [`world`]: every ministry service as tasks, each with its HTTP API.
//! - [`api`]: the HTTP client the replay drives them with.
//! - [`replay`]: one family's lifecycle, and the whole scenario.
//! - [`figures`]: the public figures a replay's report must hold.
//! - [`plan`]: the scenario's population turned into census files and plans.

pub mod api;
pub mod figures;
pub mod plan;
pub mod replay;
pub mod world;
