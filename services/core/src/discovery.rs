//! NATS micro discovery: the gateway and every ministry service register
//! with `async_nats::service`, so that `$SRV.PING`, `$SRV.INFO` and
//! `$SRV.STATS` answer for them, with their name, version, member id and
//! counters.
//!
//! Each identity's services answer in its own account; the operator alone
//! reaches them, at [`crate::natsauth::discovery_subject`], through an
//! export the generated accounts make to its account only. The console's
//! Services view is built on the answers: a service that stops answering
//! is down.
//!
//! One endpoint, [`STATUS_ENDPOINT`], carries the service's counters in
//! its stats `data` (`processed`, `refused`, `errors`) and answers them
//! when asked. Counters only: never a reference to a person or a case.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::natsauth::STATUS_ENDPOINT;
use crate::policy::Role;
use crate::{Error, MemberId};

/// What a service counts for operators.
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages handled: decisions for a gateway, deliveries applied for a
    /// ministry service.
    pub processed: AtomicU64,
    /// Refused: rejections for a gateway, deliveries refused by the
    /// service's own checks for a ministry service.
    pub refused: AtomicU64,
    /// Failures: a delivery whose handling failed (retried, then parked),
    /// a batch a gateway could not store.
    pub errors: AtomicU64,
}

impl Counters {
    pub fn processed(&self, n: u64) {
        self.processed.fetch_add(n, Ordering::Relaxed);
    }
    pub fn refused(&self, n: u64) {
        self.refused.fetch_add(n, Ordering::Relaxed);
    }
    pub fn errors(&self, n: u64) {
        self.errors.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters as the stats' `data` carry them.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "processed": self.processed.load(Ordering::Relaxed),
            "refused": self.refused.load(Ordering::Relaxed),
            "errors": self.errors.load(Ordering::Relaxed),
        })
    }
}

/// The name a member's service registers under, by its role: its binary's.
pub fn service_name(role: Role) -> &'static str {
    match role {
        Role::CampAuthority | Role::Intermediary => "homeward-camp-registry",
        Role::Mfa => "homeward-foreign-affairs",
        Role::Security => "homeward-security",
        Role::Interior => "homeward-interior",
        Role::Rehab => "homeward-rehabilitation",
        Role::Gateway => "homeward-gateway",
        Role::Operator => "homeward-console",
    }
}

/// Registers `name` (version `version`) for `member` on `client`, with
/// `counters`, until `stop`; then the service stops answering. Returns
/// once it answers.
pub async fn register(
    client: &async_nats::Client,
    name: &str,
    version: &str,
    member: &MemberId,
    counters: Arc<Counters>,
    stop: CancellationToken,
) -> Result<(), Error> {
    use async_nats::service::ServiceExt;
    let stats = counters.clone();
    let service = client
        .service_builder()
        .description(format!("Homeward {name} of {member}"))
        .metadata(HashMap::from([("member".to_owned(), member.to_string())]))
        .stats_handler(move |_endpoint, _stats| stats.to_json())
        .start(name, version)
        .await
        .map_err(|e| Error::Nats(format!("registering {name} for discovery: {e}")))?;
    let mut endpoint = service
        .endpoint_builder()
        .name("status")
        .add(STATUS_ENDPOINT)
        .await
        .map_err(|e| Error::Nats(format!("adding the status endpoint of {name}: {e}")))?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                request = endpoint.next() => {
                    let Some(request) = request else { break };
                    let body = serde_json::to_vec(&counters.to_json()).unwrap_or_default();
                    if let Err(e) = request.respond(Ok(body.into())).await {
                        tracing::debug!(error = %e, "a status request could not be answered");
                    }
                }
            }
        }
        drop(endpoint);
        if let Err(e) = service.stop().await {
            tracing::debug!(error = %e, "the discovery service did not stop cleanly");
        }
    });
    Ok(())
}
