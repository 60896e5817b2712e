//! What only Homeward's tests, its demo and its benchmarks use.
//!
//! No production crate depends on this one: the gateway, the ministry
//! services and the contract library run without it. The `homeward` binary
//! reaches it only through its development commands (`demo`, `keys
//! generate`), behind the `dev` cargo feature, on by default.
//!
//! # Layout
//! - [`natsd`]: finding, checking and starting the pinned `nats-server`.
//! - [`cluster`]: which node of a cluster leads what, killing it, and
//!   waiting until the cluster is whole again.
//! - [`devkeys`]: development keys for every member of a policy.
//! - [`local`]: a whole Homeward on one machine: the server under the
//!   generated accounts, over TLS, provisioned, with gateways as tasks.
//! - [`service`]: a ministry service under test, and a deployment with a
//!   gateway.
//! - [`read`]: reading what a stream holds, without changing it.
//! - [`invariants`]: what the streams must hold after any run: each
//!   delivery once, each submission recorded once on a chain that verifies.
//! - [`proxy`]: a TCP proxy on loopback that cuts, stalls or slows a
//!   link, for the fault tests.
//! - [`webdriver`]: headless Chromium through ChromeDriver, for the
//!   console's test in a real browser.

pub mod cluster;
pub mod devkeys;
pub mod invariants;
pub mod local;
pub mod natsd;
pub mod proxy;
pub mod read;
pub mod service;
pub mod webdriver;

pub use local::{GatewayTask, Local, LocalOptions, Transport};
