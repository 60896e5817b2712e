//! The member client: what a ministry service uses to talk to Homeward.
//!
//! A member signs and submits envelopes to its own submit subject, reads its
//! own receipts, and consumes its own deliveries through its own durable
//! consumer — nothing shared with other members, so the server can enforce
//! per-member permissions: the connection uses a private inbox prefix, and
//! every name comes from the member id.
//!
//! Deliveries are verified here, by the recipient, rather than trusted
//! because the gateway passed them: the envelope must parse, its signature
//! must verify, and (when the client holds the policy) its key must be one
//! the policy lists for its sender at its time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull, message::PublishMessage as Publish};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::envelope::Envelope;
use crate::policy::{KeyStatus, Policy};
use crate::receipt::Receipt;
use crate::{Error, MemberId, SigningKey, streams, subjects};

/// How to reach NATS as a member.
#[derive(Debug, Clone)]
pub struct Connection {
    pub url: String,
    /// The nkey seed the server authenticates this member by, if any.
    pub nkey_seed: Option<String>,
}

/// Connects with a private inbox prefix and, if given, nkey authentication.
pub async fn connect(
    conn: &Connection,
    member: Option<&MemberId>,
    name: &str,
) -> Result<async_nats::Client, Error> {
    let mut options = async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .event_callback(|event| async move {
            match event {
                async_nats::Event::ServerError(e) => {
                    tracing::warn!(error = %e, "nats server error")
                }
                async_nats::Event::ClientError(e) => {
                    tracing::warn!(error = %e, "nats client error")
                }
                other => tracing::debug!(event = %other, "nats event"),
            }
        });
    if let Some(member) = member {
        options = options.custom_inbox_prefix(subjects::inbox_prefix(member));
    }
    if let Some(seed) = &conn.nkey_seed {
        options = options.nkey(seed.clone());
    }
    tokio::time::timeout(Duration::from_secs(10), options.connect(&conn.url))
        .await
        .map_err(|_| Error::Timeout(format!("connecting to {}", conn.url)))?
        .map_err(|e| Error::Nats(format!("connecting to {}: {e}", conn.url)))
}

/// One member's view of Homeward.
#[derive(Debug, Clone)]
pub struct MemberClient {
    member: MemberId,
    key: Arc<SigningKey>,
    client: async_nats::Client,
    js: jetstream::Context,
    policy: Option<Arc<Policy>>,
}

/// A delivery that parsed and verified.
#[derive(Debug)]
pub struct Delivery {
    pub envelope: Envelope,
    /// Sequence in HW_DELIVER.
    pub sequence: u64,
    /// How many times the server has delivered it (1 the first time).
    pub attempt: i64,
}

/// How a handler's failure should be treated.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Try again later (a dependency is down): nak with backoff.
    #[error("transient: {0}")]
    Transient(String),
    /// Will never succeed: term, and report.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl MemberClient {
    /// A client for `member` over an existing connection (which should have
    /// been made with [`connect`] and the member's inbox prefix).
    pub fn new(
        client: async_nats::Client,
        member: MemberId,
        key: SigningKey,
        policy: Option<Arc<Policy>>,
    ) -> Self {
        let js = jetstream::new(client.clone());
        Self {
            member,
            key: Arc::new(key),
            client,
            js,
            policy,
        }
    }

    pub fn member(&self) -> &MemberId {
        &self.member
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    pub fn nats(&self) -> &async_nats::Client {
        &self.client
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// Signs a message as this member.
    pub fn sign(&self, builder: crate::EnvelopeBuilder) -> Result<Envelope, Error> {
        builder.sign(&self.member, &self.key)
    }

    /// Publishes an envelope to this member's submit subject and waits for
    /// the stream to store it. The envelope id is the `Nats-Msg-Id`, so a
    /// resend within the duplicate window is dropped: the result says so.
    pub async fn submit(
        &self,
        envelope: &Envelope,
    ) -> Result<jetstream::publish::PublishAck, Error> {
        self.submit_bytes(envelope.id(), envelope.to_bytes()).await
    }

    /// Publishes raw bytes as a submission (tests send hostile bytes this way).
    pub async fn submit_bytes(
        &self,
        msg_id: &str,
        bytes: Vec<u8>,
    ) -> Result<jetstream::publish::PublishAck, Error> {
        let mut publish = Publish::build().payload(bytes.into());
        if !msg_id.is_empty() {
            publish = publish.message_id(msg_id);
        }
        self.js
            .send_publish(subjects::submit(&self.member), publish)
            .await
            .map_err(Error::nats)?
            .await
            .map_err(Error::nats)
    }

    /// This member's durable receipt consumer. Under the generated server
    /// configuration it was provisioned ahead of time and is only looked up
    /// (`CONSUMER.INFO`); on an open development server it is created with
    /// the same configuration if missing.
    pub async fn receipts(&self) -> Result<Receipts, Error> {
        let stream = self
            .js
            .get_stream_no_info(subjects::RECEIPTS_STREAM)
            .await
            .map_err(Error::nats)?;
        let consumer = stream
            .get_or_create_consumer(
                &subjects::receipt_consumer(&self.member),
                streams::receipt_consumer_config(&self.member),
            )
            .await
            .map_err(Error::nats)?;
        Ok(Receipts {
            consumer,
            early: HashMap::new(),
        })
    }

    /// This member's durable delivery consumer, looked up (or, on an open
    /// development server, created) as [`MemberClient::receipts`] does.
    pub async fn delivery_consumer(
        &self,
    ) -> Result<jetstream::consumer::Consumer<pull::Config>, Error> {
        let stream = self
            .js
            .get_stream_no_info(subjects::DELIVER_STREAM)
            .await
            .map_err(Error::nats)?;
        stream
            .get_or_create_consumer(
                &subjects::delivery_consumer(&self.member),
                streams::delivery_consumer_config(&self.member),
            )
            .await
            .map_err(Error::nats)
    }

    /// Parses and verifies a delivered envelope.
    pub fn verify_delivery(&self, bytes: &[u8]) -> Result<Envelope, String> {
        let envelope = Envelope::parse(bytes).map_err(|e| e.to_string())?;
        envelope.verify_signature().map_err(|e| e.to_string())?;
        if let Some(policy) = &self.policy {
            match policy.key_status(envelope.sender(), envelope.sigkey(), envelope.time()) {
                KeyStatus::Valid => {}
                other => {
                    return Err(format!(
                        "signing key is {other:?} for {} in the policy",
                        envelope.sender()
                    ));
                }
            }
        }
        Ok(envelope)
    }

    /// Consumes deliveries until `shutdown`, calling `handle` for each one
    /// that verifies. Success acks; a transient failure naks with backoff;
    /// a permanent one, or a delivery that does not verify, is terminated and
    /// logged for operators.
    pub async fn run_deliveries<F, Fut>(
        &self,
        shutdown: CancellationToken,
        mut handle: F,
    ) -> Result<(), Error>
    where
        F: FnMut(Delivery) -> Fut,
        Fut: std::future::Future<Output = Result<(), HandlerError>>,
    {
        let consumer = self.delivery_consumer().await?;
        let mut messages = consumer.messages().await.map_err(Error::nats)?;
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                next = messages.next() => next,
            };
            let Some(message) = next else { return Ok(()) };
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, member = %self.member, "delivery stream error");
                    continue;
                }
            };
            let (sequence, attempt) = message
                .info()
                .map(|i| (i.stream_sequence, i.delivered))
                .unwrap_or((0, 1));
            match self.verify_delivery(&message.payload) {
                Err(reason) => {
                    tracing::error!(member = %self.member, sequence, %reason, "delivery failed verification; terminated");
                    let _ = message.ack_with(AckKind::Term).await;
                }
                Ok(envelope) => {
                    let outcome = handle(Delivery {
                        envelope,
                        sequence,
                        attempt,
                    })
                    .await;
                    match outcome {
                        Ok(()) => {
                            if let Err(e) = message.double_ack().await {
                                tracing::warn!(error = %e, sequence, "ack failed; the delivery will come again");
                            }
                        }
                        Err(HandlerError::Transient(reason)) => {
                            let delay =
                                Duration::from_millis(200 * 2u64.pow(attempt.clamp(1, 8) as u32));
                            tracing::warn!(member = %self.member, sequence, %reason, ?delay, "transient failure; will retry");
                            let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
                        }
                        Err(HandlerError::Permanent(reason)) => {
                            tracing::error!(member = %self.member, sequence, %reason, "permanent failure; terminated");
                            let _ = message.ack_with(AckKind::Term).await;
                        }
                    }
                }
            }
        }
    }
}

/// A member's receipts, read in order through its durable consumer.
#[derive(Debug)]
pub struct Receipts {
    consumer: jetstream::consumer::Consumer<pull::Config>,
    early: HashMap<String, (Envelope, Receipt)>,
}

impl Receipts {
    /// The next receipt, waiting up to `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Result<(Envelope, Receipt), Error> {
        if let Some(key) = self.early.keys().next().cloned()
            && let Some(found) = self.early.remove(&key)
        {
            return Ok(found);
        }
        self.fetch_one(timeout).await
    }

    async fn fetch_one(&mut self, timeout: Duration) -> Result<(Envelope, Receipt), Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout("no receipt arrived".into()));
            }
            let mut batch = self
                .consumer
                .fetch()
                .max_messages(1)
                .expires(left.max(Duration::from_millis(100)))
                .messages()
                .await
                .map_err(Error::nats)?;
            let next = tokio::time::timeout(left + Duration::from_secs(1), batch.next()).await;
            let Ok(Some(message)) = next else { continue };
            let message = message.map_err(Error::nats)?;
            let _ = message.double_ack().await;
            let Ok(envelope) = Envelope::parse(&message.payload) else {
                tracing::warn!("a receipt that does not parse was skipped");
                continue;
            };
            if envelope.verify_signature().is_err() {
                tracing::warn!("a receipt whose signature does not verify was skipped");
                continue;
            }
            let Some(receipt) = Receipt::from_envelope(&envelope) else {
                continue;
            };
            return Ok((envelope, receipt));
        }
    }

    /// Waits for the receipt of the submission with envelope id `id`,
    /// keeping other receipts for later calls.
    pub async fn wait_for(
        &mut self,
        id: &str,
        timeout: Duration,
    ) -> Result<(Envelope, Receipt), Error> {
        if let Some(found) = self.early.remove(id) {
            return Ok(found);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let (envelope, receipt) = self
                .fetch_one(left)
                .await
                .map_err(|_| Error::Timeout(format!("no receipt for {id}")))?;
            if receipt.submission_id.as_deref() == Some(id) {
                return Ok((envelope, receipt));
            }
            let key = receipt
                .submission_id
                .clone()
                .unwrap_or_else(|| format!("seq:{}", receipt.submission_sequence));
            self.early.insert(key, (envelope, receipt));
        }
    }
}
