//! A whole repatriation on one machine.
//!
//! [`world`] starts a service for every member of the policy on a local
//! deployment; [`replay`] drives the scenario through their APIs;
//! [`report`] computes where every family stands from what the services
//! recorded. `homeward demo` and `homeward report` stand on this, and so
//! do the lifecycle tests.
//!
//! # Layout
//! - [`world`]: every ministry service as tasks, each with its HTTP API.
//! - [`api`]: the HTTP client the replay drives them with.
//! - [`replay`]: one family's lifecycle, and the whole scenario.
//! - [`plan`]: the scenario's population turned into census files and plans.
//! - [`report`]: the report.

pub mod api;
pub mod plan;
pub mod replay;
pub mod report;
pub mod world;
