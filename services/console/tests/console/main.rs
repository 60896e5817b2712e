//! The console against a real nats-server, a real gateway and every
//! ministry service: what it shows, who may see it, and that it shows no
//! person's data.

mod access;
mod browser;
mod metrics;
mod parked;
mod support;
mod views;
