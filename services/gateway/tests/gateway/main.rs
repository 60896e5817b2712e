//! The gateway against a real nats-server: one server per test, on a free
//! port with its own store, killed when the test ends.
//!
//! # Layout
//! - `support`: set-up, reading streams, the checks every receipt passes.
//! - `routing`: accepted messages reach exactly the members their route names.
//! - `rejections`: every rejection code, and what each rejection leaves behind.
//! - `duplicates`: a resent envelope is stored once and delivered once.
//! - `audit`: the chain verifies, names tampering, and holds no personal data.
//! - `scale`: two gateways on one work queue, 5,000 submissions.
//! - `restart`: gateways killed mid-stream lose and duplicate nothing.
//! - `permissions`: each identity's forbidden actions fail on the server.
//! - `isolation`: the accounts hold against hostile reply subjects, consumer
//!   redefinitions and a gateway changing streams; foreign audit messages are
//!   alarms; a sender reads its own rejections.
//! - `limits`: a member's rate quota, the server's bounds on its account
//!   and its share of the work queue, and the refusal of messages for a
//!   member whose deliveries wait too long.
//! - `hostile`: the hostile corpus (`tests/hostile/`), each case refused
//!   with its own code, nothing of it delivered.
//! - `encryption`: names written through the gateway cannot be read in the store.
//! - `revocation`: a key revoked by a published policy while everything runs.
//! - `rotation`: a signing-key rotation loses no message; the old key then fails.

mod support;

mod audit;
mod cluster;
mod discovery;
mod duplicates;
mod encryption;
mod hostile;
mod isolation;
mod limits;
mod metrics;
mod permissions;
mod rejections;
mod restart;
mod revocation;
mod rotation;
mod routing;
mod scale;
