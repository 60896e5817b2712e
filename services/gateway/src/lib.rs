//! The Homeward gateway: the broker's core.
//!
//! Gateways pull submissions from the `HW_SUBMIT` work queue in batches and,
//! for each one, decide ([`check`]): accepted for the recipients its route
//! names, or rejected with stable codes. Then they write the outcome —
//! deliveries, a signed receipt to the sender, the original bytes to
//! `HW_REJECTED` for a rejection — wait until JetStream has stored all of
//! it, append one record per decision to the hash-chained audit log, and only
//! then ack the submission. A crash anywhere before the ack means the
//! submission comes again, and every write is keyed so that doing it again
//! changes nothing: deliveries by sender, envelope id and recipient;
//! receipts, rejections and audit records by the submission's sequence.
//! Several gateways can share the work queue.
//!
//! A gateway is two loops joined by a one-batch channel, so that deciding
//! the next batch (CPU: parsing, signatures, schemas, signing receipts)
//! overlaps writing the current one (waiting on JetStream):
//! - *decide*: fetch a batch, check it, record accepted ids in the seen-ids
//!   bucket, build every output (receipts signed), hand it over;
//! - *write*: publish the outputs, wait for every stream ack, append the
//!   audit records, ack the submissions — batch after batch, in order.
//!
//! The CPU work of a batch is spread over the machine's cores.
//!
//! # Layout
//! - [`settings`]: the [`GatewayConfig`] a gateway runs with, its defaults,
//!   and the process's settings; `error`: [`GatewayError`].
//! - `decide`: the decide loop: fetch, check across the cores, the replay
//!   check, and handing the batch over.
//! - `outputs`: building what a decision writes: deliveries, the rejection
//!   copy, the signed receipt, the audit record, and their headers.
//! - `write`: the write loop: publish, wait for every stream ack, append the
//!   audit records, ack.
//! - [`check`]: the pure decision over hostile bytes.
//! - `quota`: each member's submission rate, metered before any work is
//!   spent on a submission (`over_quota`).
//! - `backlog`: the watch on every member's untaken deliveries, and the
//!   refusal of new ones for a member about to lose some
//!   (`recipient_backlog`).
//! - [`audit_log`]: appending to the shared chain.
//! - [`stats`]: where the gateway's time goes, stage by stage.
//!
//! This file holds the [`Gateway`] itself: [`Gateway::start`] checks what
//! was provisioned, [`Gateway::run`] joins the two loops.

pub mod audit_log;
mod backlog;
pub mod check;
mod decide;
mod error;
pub mod metrics;
mod outputs;
mod quota;
pub mod settings;
pub mod stats;
mod write;

pub use error::GatewayError;
pub use settings::GatewayConfig;

use std::sync::Arc;

use async_nats::jetstream::{self, consumer::pull, kv};
use homeward_core::published::{self, PolicyHandle};
use homeward_core::receipt::RECEIPT_TYPE;
use homeward_core::schema::message_schema_id;
use homeward_core::{Policy, RejectionCode, SchemaRegistry, client, natsauth, streams, subjects};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::audit_log::AuditLog;
use crate::decide::{Decider, Shared};
use crate::stats::GatewayStats;
use crate::write::Writer;

/// One gateway instance.
#[derive(Debug)]
pub struct Gateway {
    shared: Arc<Shared>,
    js: jetstream::Context,
    seen: kv::Store,
    audit: AuditLog,
    stats: Arc<GatewayStats>,
    /// Stops the follower of the published policy, if any.
    following: Option<(CancellationToken, tokio::task::JoinHandle<()>)>,
    /// What discovery reports: decisions stored, rejections, batches
    /// that failed to store.
    counters: Arc<homeward_core::discovery::Counters>,
    /// Ends the gateway's discovery registration when the gateway ends.
    _discovery: tokio_util::sync::DropGuard,
    metrics: Arc<metrics::GatewayMetrics>,
}

impl Gateway {
    /// Checks that everything the gateway uses was provisioned (the
    /// streams, its consumer on the work queue, its seen-ids bucket) and
    /// returns a gateway ready to run. The gateway makes nothing itself:
    /// it may not, and says what is missing.
    pub async fn start(
        client: async_nats::Client,
        config: GatewayConfig,
        schemas: Arc<SchemaRegistry>,
        policy: Arc<Policy>,
    ) -> Result<Self, GatewayError> {
        // Every receipt version a receipt may be written in.
        for version in 1..=RejectionCode::ALL
            .iter()
            .map(|c| c.receipt_version())
            .max()
            .unwrap_or(1)
        {
            if schemas
                .document(&message_schema_id(RECEIPT_TYPE, version))
                .is_none()
            {
                return Err(GatewayError::NoReceiptSchema);
            }
        }
        let js = client::homeward_jetstream(client.clone());
        let own = jetstream::new(client.clone());
        let mut missing = Vec::new();
        for stream in natsauth::STREAMS {
            if !streams::exists(&js, stream).await? {
                missing.push(format!("stream {stream}"));
            }
        }
        if missing.is_empty() {
            match client::provisioned_consumer(
                &js,
                subjects::SUBMIT_STREAM,
                subjects::GATEWAY_CONSUMER,
            )
            .await
            {
                Ok(_) => {}
                Err(homeward_core::Error::NotProvisioned(what)) => missing.push(what),
                Err(e) => return Err(e.into()),
            }
        }
        let seen_stream = format!("KV_{}", subjects::SEEN_BUCKET);
        if !streams::exists(&own, &seen_stream).await? {
            missing.push(format!("bucket {}", subjects::SEEN_BUCKET));
        }
        if !missing.is_empty() {
            return Err(GatewayError::NotProvisioned(missing));
        }
        let seen = own
            .get_key_value(subjects::SEEN_BUCKET)
            .await
            .map_err(|e| GatewayError::Nats(format!("bucket {}: {e}", subjects::SEEN_BUCKET)))?;
        let audit = AuditLog::new(js.clone());
        let policy = PolicyHandle::new(policy);
        // With a policy authority, the policy it publishes is in force
        // before the first decision, and each newer one as it comes.
        let counters = Arc::new(homeward_core::discovery::Counters::default());
        let discovery = CancellationToken::new();
        homeward_core::discovery::register(
            &client,
            "homeward-gateway",
            env!("CARGO_PKG_VERSION"),
            &config.member,
            counters.clone(),
            discovery.clone(),
        )
        .await?;
        let following = match &config.policy_authority {
            Some(authority) => {
                let stop = CancellationToken::new();
                let task = published::follow(
                    client,
                    policy.clone(),
                    authority.clone(),
                    schemas.clone(),
                    stop.clone(),
                )
                .await?;
                Some((stop, task))
            }
            None => None,
        };
        Ok(Self {
            shared: Arc::new(Shared {
                config,
                schemas,
                policy,
            }),
            js,
            seen,
            audit,
            stats: Arc::default(),
            following,
            counters,
            _discovery: discovery.drop_guard(),
            metrics: Arc::default(),
        })
    }

    /// The gateway's Prometheus metrics ([`metrics::serve`] serves them).
    pub fn metrics(&self) -> Arc<metrics::GatewayMetrics> {
        self.metrics.clone()
    }

    /// What discovery reports for this gateway.
    pub fn counters(&self) -> Arc<homeward_core::discovery::Counters> {
        self.counters.clone()
    }

    /// Where this gateway's time goes; keeps counting while it runs.
    pub fn stats(&self) -> Arc<GatewayStats> {
        self.stats.clone()
    }

    async fn consumer(&self) -> Result<jetstream::consumer::Consumer<pull::Config>, GatewayError> {
        Ok(client::provisioned_consumer(
            &self.js,
            subjects::SUBMIT_STREAM,
            subjects::GATEWAY_CONSUMER,
        )
        .await?)
    }

    /// Runs until `shutdown`, finishing the batches in hand before returning.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), GatewayError> {
        let consumer = self.consumer().await?;
        let instance = self.shared.config.instance.clone();
        tracing::info!(%instance, "gateway running");
        let Gateway {
            shared,
            js,
            seen,
            audit,
            stats,
            following,
            counters,
            _discovery,
            metrics,
        } = self;
        // The backlog is looked at once before the first decision.
        let refused = Arc::new(backlog::Refused::default());
        let watching = CancellationToken::new();
        let (looked, first_look) = tokio::sync::oneshot::channel();
        let watch = tokio::spawn(backlog::watch(
            js.clone(),
            shared.policy.clone(),
            (
                shared.config.backlog_check_every,
                shared.config.backlog_refuse_after,
            ),
            refused.clone(),
            metrics.clone(),
            Some(looked),
            watching.clone(),
        ));
        tokio::select! {
            _ = first_look => {}
            _ = tokio::time::sleep(backlog::FIRST_LOOK_WITHIN) => {
                tracing::warn!("the members' backlogs were not read in time; deciding without them");
            }
            _ = shutdown.cancelled() => {}
        }
        // One batch waits while the next is decided: at most three batches
        // are fetched and not yet acked.
        let (decided_tx, decided_rx) = mpsc::channel(1);
        let decide = Decider {
            shared,
            seen,
            stats: stats.clone(),
            meter: quota::Meter::default(),
            refused,
        }
        .run(consumer, decided_tx, shutdown);
        let write = Writer {
            js,
            audit,
            stats,
            counters,
            metrics,
        }
        .run(decided_rx);
        tokio::join!(decide, write);
        watching.cancel();
        let _ = watch.await;
        if let Some((stop, task)) = following {
            stop.cancel();
            let _ = task.await;
        }
        tracing::info!(%instance, "gateway stopped");
        Ok(())
    }
}
