//! The contract every Homeward service shares.
//!
//! Homeward moves signed, schema-validated messages about people between the
//! members of a repatriation operation. This crate holds what every service
//! must agree on, so that none of them re-invents it:
//!
//! # Layout
//! - [`asyncapi`]: the AsyncAPI 3.0 document, generated from the policy and the schemas.
//! - [`member`]: member and party ids, checked at the edge.
//! - [`json`]: strict JSON parsing for hostile bytes (no duplicate keys).
//! - [`canonical`]: RFC 8785 canonical JSON, the bytes that are signed.
//! - [`keys`]: nkeys-encoded Ed25519 keys; strict verification.
//! - [`envelope`]: the CloudEvents envelope: builder, parser, signature.
//! - [`schema`]: the registry of published JSON Schemas.
//! - [`policy`]: members, keys with validity windows, routes.
//! - [`published`]: the policy as the authority signs and publishes it, applied while running.
//! - [`rejection`]: the stable rejection codes and their sentences.
//! - [`receipt`]: the gateway's receipt to a sender.
//! - [`subjects`]: NATS subject, stream and consumer names.
//! - [`streams`]: streams, consumers and buckets, provisioned by the administrator.
//! - [`audit`]: the hash-chained audit record and its verification.
//! - [`client`]: the member client: submit, await receipts, consume deliveries.
//! - [`console`]: what an operator reads: the audit records, by sequence and live.
//! - [`natsauth`]: the NATS server's accounts, users and permissions, from the policy.
//! - [`tls`]: the development CA and server certificate NATS runs TLS with.
//! - [`settings`], [`telemetry`], [`shutdown`]: config, tracing, stopping.

pub mod asyncapi;
pub mod audit;
pub mod canonical;
pub mod client;
pub mod compat;
pub mod console;
pub mod discovery;
pub mod envelope;
pub mod json;
pub mod keys;
pub mod member;
pub mod message_types;
pub mod metrics;
pub mod natsauth;
pub mod policy;
pub mod published;
pub mod quota;
pub mod receipt;
pub mod rejection;
pub mod schema;
pub mod settings;
pub mod shutdown;
pub mod streams;
pub mod subjects;
pub mod telemetry;
pub mod tls;

use std::path::PathBuf;

pub use envelope::{Envelope, EnvelopeBuilder, Violation};
pub use keys::{PublicKey, SigningKey};
pub use member::{MemberId, PartyId};
pub use policy::Policy;
pub use rejection::RejectionCode;
pub use schema::SchemaRegistry;

/// Everything that can go wrong in the shared library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid {kind} id {value:?}")]
    InvalidId { kind: &'static str, value: String },
    #[error("key: {0}")]
    Key(String),
    #[error("signature: {0}")]
    Signature(String),
    #[error("canonical form: {0}")]
    Canonical(String),
    #[error(transparent)]
    Envelope(#[from] envelope::ParseError),
    #[error("schemas: {0}")]
    Schema(String),
    #[error("policy {origin}: {}", problems.join("; "))]
    Policy {
        origin: String,
        problems: Vec<String>,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("nats-server: {0}")]
    Server(String),
    #[error("settings: {0}")]
    Settings(String),
    #[error("nats: {0}")]
    Nats(String),
    #[error("tls: {0}")]
    Tls(String),
    #[error("audit: {0}")]
    Audit(String),
    #[error("timed out: {0}")]
    Timeout(String),
    /// Spans could not be exported to the OpenTelemetry collector.
    #[error("otlp: {0}")]
    Otlp(String),
    /// Something only the administrator makes is missing on the server.
    #[error("{0} is not provisioned: run `homeward provision` as the administrator")]
    NotProvisioned(String),
}

impl Error {
    /// Wraps any NATS client error.
    pub fn nats(e: impl std::fmt::Display) -> Self {
        Error::Nats(e.to_string())
    }
}
