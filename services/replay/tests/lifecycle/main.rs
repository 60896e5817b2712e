//! Ministry services on a real nats-server: a family's whole lifecycle,
//! refusals of out-of-order messages, idempotent redelivery, who may call
//! a service's API, and what its `/health` says; each service's own checks
//! of what the gateway delivers, and ids nobody else can take first.

mod access;
mod family;
mod health;
mod links;
mod offline;
mod order;
mod privacy;
mod recipients;
mod refusals;
mod scenario;
mod storage;
mod support;
mod suppression;
