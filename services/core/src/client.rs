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
//! must verify, and its key must be one the policy lists for its sender at
//! its time. The policy is required: without it any key claiming any
//! sender would be taken. What the route, the schema and the age of a
//! delivery must be is checked by the ministry runtime
//! (`homeward_ministry::verify`), which can answer the sender.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull, message::PublishMessage as Publish};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::envelope::Envelope;
use crate::policy::{KeyStatus, Policy};
use crate::published::PolicyHandle;
use crate::receipt::Receipt;
use crate::{Error, MemberId, SigningKey, natsauth, subjects};

/// How to reach NATS as a member.
#[derive(Debug, Clone)]
pub struct Connection {
    pub url: String,
    /// The nkey seed the server authenticates this member by, if any.
    pub nkey_seed: Option<String>,
    /// The CA certificate file (PEM) the server's certificate must chain
    /// to. When set, the connection is TLS or nothing, and only this CA is
    /// trusted, not the system's roots.
    pub tls_ca: Option<std::path::PathBuf>,
}

/// Connects with a private inbox prefix and, if given, nkey authentication
/// and TLS.
///
/// The first connection is retried in the background until it succeeds, so
/// a service may start before its server; a CA file that cannot be read or
/// holds no certificate is refused here instead, as no retry would mend it.
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
    if let Some(ca) = &conn.tls_ca {
        check_ca_file(ca)?;
        options = options.require_tls(true).add_root_certificates(ca.clone());
    }
    let servers = server_addrs(&conn.url)?;
    tokio::time::timeout(Duration::from_secs(10), options.connect(servers))
        .await
        .map_err(|_| Error::Timeout(format!("connecting to {}", conn.url)))?
        .map_err(|e| Error::Nats(format!("connecting to {}: {e}", conn.url)))
}

/// The servers of a connection URL: one URL, or several separated by
/// commas (the nodes of a cluster; the client also learns the others from
/// the server it reaches), each of which must parse.
fn server_addrs(url: &str) -> Result<Vec<async_nats::ServerAddr>, Error> {
    url.split(',')
        .map(str::trim)
        .map(|one| {
            one.parse::<async_nats::ServerAddr>()
                .map_err(|e| Error::Nats(format!("server URL {one:?} in {url:?}: {e}")))
        })
        .collect()
}

/// Checks that `path` holds at least one PEM certificate, and nothing that
/// fails to parse.
fn check_ca_file(path: &std::path::Path) -> Result<(), Error> {
    use async_nats::rustls::pki_types::CertificateDer;
    use async_nats::rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path).map_err(|e| Error::Io {
        path: path.to_owned(),
        source: e,
    })?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls(format!("CA file {}: {e}", path.display())))?;
    if certificates.is_empty() {
        return Err(Error::Tls(format!(
            "CA file {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(())
}

/// One member's view of Homeward.
#[derive(Debug, Clone)]
pub struct MemberClient {
    member: MemberId,
    key: Arc<SigningKey>,
    client: async_nats::Client,
    /// The member's own account's JetStream: its case bucket.
    js: jetstream::Context,
    /// The streams' account, reached through the member's imports.
    hw: jetstream::Context,
    /// The policy in force: the one given, or a newer one the authority
    /// published ([`crate::published::follow`]).
    policy: PolicyHandle,
}

/// The streams' JetStream, as an identity other than the administrator
/// reaches it: through its account's imports, under [`natsauth::HW_API`].
pub fn homeward_jetstream(client: async_nats::Client) -> jetstream::Context {
    jetstream::with_prefix(client, natsauth::HW_API)
}

/// Looks up a provisioned durable consumer, saying what to do when it is
/// missing: nobody but the administrator may create one.
pub async fn provisioned_consumer(
    hw: &jetstream::Context,
    stream: &str,
    consumer: &str,
) -> Result<jetstream::consumer::Consumer<pull::Config>, Error> {
    use jetstream::ErrorCode;
    use jetstream::stream::ConsumerErrorKind;
    hw.get_consumer_from_stream(consumer, stream)
        .await
        .map_err(|e| match e.kind() {
            ConsumerErrorKind::JetStream(js)
                if matches!(
                    js.error_code(),
                    ErrorCode::CONSUMER_NOT_FOUND | ErrorCode::STREAM_NOT_FOUND
                ) =>
            {
                Error::NotProvisioned(format!("consumer {consumer} on {stream}"))
            }
            _ => Error::Nats(format!("looking up consumer {consumer} on {stream}: {e}")),
        })
}

/// A delivery that parsed and verified.
#[derive(Debug)]
pub struct Delivery {
    pub envelope: Envelope,
    /// Sequence in HW_DELIVER.
    pub sequence: u64,
    /// How many times the server has delivered it (1 the first time).
    pub attempt: i64,
    /// When the server stored it in HW_DELIVER: the server's clock, which a
    /// gateway cannot set, and which a redelivery does not change.
    pub stored_at: time::OffsetDateTime,
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
        policy: impl Into<PolicyHandle>,
    ) -> Self {
        let policy = policy.into();
        let js = jetstream::new(client.clone());
        let hw = homeward_jetstream(client.clone());
        Self {
            member,
            key: Arc::new(key),
            client,
            js,
            hw,
            policy,
        }
    }

    pub fn member(&self) -> &MemberId {
        &self.member
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The policy deliveries are checked against, as it is in force now.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.get()
    }

    /// The policy this client applies, for a follower of the published
    /// policy to update.
    pub fn policy_handle(&self) -> &PolicyHandle {
        &self.policy
    }

    pub fn nats(&self) -> &async_nats::Client {
        &self.client
    }

    /// The member's own account's JetStream, where its case bucket lives.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// The streams' JetStream, through the member's imports.
    pub fn homeward(&self) -> &jetstream::Context {
        &self.hw
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
        self.hw
            .send_publish(subjects::submit(&self.member), publish)
            .await
            .map_err(Error::nats)?
            .await
            .map_err(Error::nats)
    }

    /// This member's receipts, through its durable receipt consumer, which
    /// the administrator provisioned ([`streams::provision`]).
    pub async fn receipts(&self) -> Result<Receipts, Error> {
        let consumer = provisioned_consumer(
            &self.hw,
            subjects::RECEIPTS_STREAM,
            &subjects::receipt_consumer(&self.member),
        )
        .await?;
        Ok(Receipts {
            consumer,
            early: EarlyReceipts::new(MAX_EARLY_RECEIPTS),
            policy: self.policy.clone(),
        })
    }

    /// This member's durable delivery consumer.
    pub async fn delivery_consumer(
        &self,
    ) -> Result<jetstream::consumer::Consumer<pull::Config>, Error> {
        provisioned_consumer(
            &self.hw,
            subjects::DELIVER_STREAM,
            &subjects::delivery_consumer(&self.member),
        )
        .await
    }

    /// This member's durable consumer of its own rejected submissions: the
    /// original bytes, with the reasons in the `Hw-Reasons` header.
    pub async fn rejections(&self) -> Result<jetstream::consumer::Consumer<pull::Config>, Error> {
        provisioned_consumer(
            &self.hw,
            subjects::REJECTED_STREAM,
            &subjects::rejected_consumer(&self.member),
        )
        .await
    }

    /// Parses and verifies a delivered envelope.
    pub fn verify_delivery(&self, bytes: &[u8]) -> Result<Envelope, String> {
        let envelope = Envelope::parse(bytes).map_err(|e| e.to_string())?;
        envelope.verify_signature().map_err(|e| e.to_string())?;
        match self
            .policy
            .get()
            .key_status(envelope.sender(), envelope.sigkey(), envelope.time())
        {
            KeyStatus::Valid => Ok(envelope),
            other => Err(format!(
                "signing key is {other:?} for {} in the policy",
                envelope.sender()
            )),
        }
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
            // A delivery without readable metadata cannot be told apart
            // from another: it is sent again, never handled as sequence 0.
            let (sequence, attempt, stored_at) = match message.info() {
                Ok(i) => (i.stream_sequence, i.delivered, i.published),
                Err(e) => {
                    tracing::warn!(error = %e, member = %self.member, "a delivery without readable metadata; it will come again");
                    let _ = message
                        .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                        .await;
                    continue;
                }
            };
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
                        stored_at,
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

/// How many receipts [`Receipts::wait_for`] keeps for later while it waits
/// for another one.
///
/// Past this, the oldest kept receipt is dropped, with a warning. Each
/// receipt was acked when it was read, so it does not come again through the
/// consumer; but it stays in `HW_RECEIPTS` for the stream's retention, where
/// an operator can still read it. Failing instead would refuse the receipt
/// the caller is waiting for because of thousands it never asked about, and
/// a caller that lets so many pile up is not reading them anyway.
pub const MAX_EARLY_RECEIPTS: usize = 10_000;

/// A member's receipts, read in order through its durable consumer.
#[derive(Debug)]
pub struct Receipts {
    consumer: jetstream::consumer::Consumer<pull::Config>,
    early: EarlyReceipts<(Envelope, Receipt)>,
    /// Whose receipts are taken: only a gateway's, signed with its key.
    policy: PolicyHandle,
}

impl Receipts {
    /// The next receipt, waiting up to `timeout`: the oldest kept by
    /// [`Receipts::wait_for`] first.
    pub async fn next(&mut self, timeout: Duration) -> Result<(Envelope, Receipt), Error> {
        if let Some(found) = self.early.take_oldest() {
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
            match Receipt::from_gateway(&envelope, &self.policy.get()) {
                Ok(receipt) => return Ok((envelope, receipt)),
                Err(reason) => {
                    tracing::warn!(sender = %envelope.sender(), %reason, "a message on the receipt subject that no gateway made was skipped");
                }
            }
        }
    }

    /// Waits for the receipt of the submission with envelope id `id`,
    /// keeping other receipts for later calls.
    pub async fn wait_for(
        &mut self,
        id: &str,
        timeout: Duration,
    ) -> Result<(Envelope, Receipt), Error> {
        if let Some(found) = self.early.take(id) {
            return Ok(found);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let (envelope, receipt) = self.fetch_one(left).await.map_err(|e| match e {
                Error::Timeout(_) => Error::Timeout(format!("no receipt for {id}")),
                other => other,
            })?;
            if receipt.submission_id.as_deref() == Some(id) {
                return Ok((envelope, receipt));
            }
            let key = receipt
                .submission_id
                .clone()
                .unwrap_or_else(|| format!("seq:{}", receipt.submission_sequence));
            if let Some(dropped) = self.early.insert(key, (envelope, receipt)) {
                tracing::warn!(
                    msg_id = %dropped,
                    kept = MAX_EARLY_RECEIPTS,
                    "too many receipts kept while waiting for another; the oldest was dropped (it stays in HW_RECEIPTS)"
                );
            }
        }
    }
}

/// Receipts read while waiting for another, by submission id, in the order
/// they came, at most `limit` of them.
#[derive(Debug)]
struct EarlyReceipts<T> {
    limit: usize,
    by_id: HashMap<String, T>,
    /// The ids of `by_id`, oldest first.
    order: VecDeque<String>,
}

impl<T> EarlyReceipts<T> {
    fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            by_id: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Keeps `value` under `id` (replacing one kept under the same id, in
    /// its place); returns the id of the oldest one, dropped to stay within
    /// the limit.
    fn insert(&mut self, id: String, value: T) -> Option<String> {
        if let Some(kept) = self.by_id.get_mut(&id) {
            *kept = value;
            return None;
        }
        let dropped = if self.by_id.len() >= self.limit {
            self.order.pop_front().inspect(|oldest| {
                self.by_id.remove(oldest);
            })
        } else {
            None
        };
        self.order.push_back(id.clone());
        self.by_id.insert(id, value);
        dropped
    }

    fn take(&mut self, id: &str) -> Option<T> {
        let value = self.by_id.remove(id)?;
        if let Some(at) = self.order.iter().position(|kept| kept == id) {
            self.order.remove(at);
        }
        Some(value)
    }

    fn take_oldest(&mut self) -> Option<T> {
        let id = self.order.pop_front()?;
        self.by_id.remove(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::{EarlyReceipts, server_addrs};

    #[test]
    fn a_connection_url_names_one_server_or_a_cluster_and_a_bad_one_is_named() {
        assert_eq!(server_addrs("tls://127.0.0.1:4222").expect("one").len(), 1);
        let nodes = server_addrs("tls://127.0.0.1:4222, tls://127.0.0.1:4223,tls://127.0.0.1:4224")
            .expect("three");
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes[1].port(), 4223);
        let err = server_addrs("tls://127.0.0.1:4222,tls://[::1:bad")
            .expect_err("a bad one")
            .to_string();
        assert!(err.contains("tls://[::1:bad"), "{err}");
    }

    #[test]
    fn early_receipts_keep_their_order_and_drop_the_oldest_past_the_limit() {
        let mut early = EarlyReceipts::new(3);
        for (id, n) in [("a", 1), ("b", 2), ("c", 3)] {
            assert_eq!(early.insert(id.to_owned(), n), None);
        }
        // The same id again replaces its value and keeps its place.
        assert_eq!(early.insert("a".to_owned(), 10), None);
        assert_eq!(early.insert("d".to_owned(), 4), Some("a".to_owned()));
        assert_eq!(early.take("a"), None, "dropped");
        assert_eq!(early.take("c"), Some(3));
        assert_eq!(early.insert("e".to_owned(), 5), None, "room was made");
        assert_eq!(early.take_oldest(), Some(2));
        assert_eq!(early.take_oldest(), Some(4));
        assert_eq!(early.take_oldest(), Some(5));
        assert_eq!(early.take_oldest(), None);
        assert_eq!(early.by_id.len() + early.order.len(), 0);
    }
}
