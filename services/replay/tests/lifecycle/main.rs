//! Ministry services on a real nats-server: a family's whole lifecycle,
//! refusals of out-of-order messages, idempotent redelivery.

mod family;
mod order;
mod privacy;
mod refusals;
mod scenario;
mod support;
