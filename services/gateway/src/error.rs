//! What can stop the gateway, or make it hand a batch back.
//!
//! A failure while a batch is in hand never loses it: the decide loop or the
//! write loop logs the error and naks the batch's submissions, which come
//! again. Only [`GatewayError::NotProvisioned`] and the errors of connecting
//! and looking things up at start stop a gateway.

/// What can stop the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Core(#[from] homeward_core::Error),
    #[error("nats: {0}")]
    Nats(String),
    /// What the gateway needs on the server is missing; only the
    /// administrator makes it.
    #[error("not provisioned: {}; run `homeward provision` as the administrator", .0.join(", "))]
    NotProvisioned(Vec<String>),
    /// The schema registry has no schema for the receipts the gateway signs.
    #[error("schemas: no {} schema", homeward_core::receipt::RECEIPT_TYPE)]
    NoReceiptSchema,
    /// Other gateways appended first this many rounds in a row; the batch
    /// is handed back and handled again later.
    #[error("audit: could not append to the chain in {attempts} attempts in a row")]
    AuditContended { attempts: u32 },
    /// A thread or task doing the gateway's work panicked or was cancelled.
    #[error("a worker thread failed: {0}")]
    Worker(#[source] tokio::task::JoinError),
    /// An output could not be written as JSON.
    #[error("serialising {what}: {source}")]
    Serialise {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl GatewayError {
    pub fn nats(e: impl std::fmt::Display) -> Self {
        GatewayError::Nats(e.to_string())
    }
}
