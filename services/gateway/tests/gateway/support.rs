//! Shared set-up: a local deployment, example messages re-signed by the
//! deployment's keys, reading streams as they grow, and the checks every
//! receipt must pass. Every wait here is on an event (a message arriving in
//! a stream) with a timeout, never a sleep.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, message::PublishMessage};
use futures::StreamExt;
use homeward_core::audit::AuditRecord;
use homeward_core::client::MemberClient;
use homeward_core::envelope::{Envelope, EnvelopeBuilder};
use homeward_core::receipt::{Decision, RECEIPT_TYPE, Receipt};
use homeward_core::{MemberId, subjects};
use homeward_testkit::local::{GatewayTask, Local, LocalOptions};
use serde_json::Value;
use tokio::time::Instant;

/// How long a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(20);

/// A deployment with one gateway running.
pub async fn deployment() -> (Local, GatewayTask) {
    deployment_with(LocalOptions::default()).await
}

/// A deployment laid out by `options`, with one gateway running.
pub async fn deployment_with(options: LocalOptions) -> (Local, GatewayTask) {
    let local = Local::start(options)
        .await
        .expect("local deployment starts");
    let gateway = local
        .spawn_gateway(local.gateway_config("gw-test").expect("config"))
        .await
        .expect("gateway starts");
    (local, gateway)
}

/// A JetStream context on a plain (operator's) connection.
pub async fn jetstream(local: &Local) -> jetstream::Context {
    jetstream::new(local.client("test").await.expect("client"))
}

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

fn read_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The version 1 example files of a type in `valid` or `invalid`, by file name.
fn example_files(kind: &str, validity: &str) -> Vec<(String, Value)> {
    example_files_of(kind, 1, validity)
}

/// The example files of a type's `version` in `valid` or `invalid`.
fn example_files_of(kind: &str, version: u32, validity: &str) -> Vec<(String, Value)> {
    let dir = schemas_dir()
        .join("messages")
        .join(kind)
        .join(format!("examples/v{version}"))
        .join(validity);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let name = p
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            (name, read_json(p))
        })
        .collect()
}

/// The valid example envelopes of a type with their file names.
pub fn named_examples(kind: &str) -> Vec<(String, Value)> {
    example_files(kind, "valid")
}

/// One valid example envelope, by type and file name.
pub fn example(kind: &str, file: &str) -> Value {
    named_examples(kind)
        .into_iter()
        .find(|(name, _)| name == file)
        .unwrap_or_else(|| panic!("no valid example {kind}/{file}"))
        .1
}

/// One valid example envelope of a type's `version`, by file name.
pub fn example_in(kind: &str, version: u32, file: &str) -> Value {
    example_files_of(kind, version, "valid")
        .into_iter()
        .find(|(name, _)| name == file)
        .unwrap_or_else(|| panic!("no valid example {kind}/v{version}/{file}"))
        .1
}

/// One invalid example, `{description, failsAt, envelope}`, by type and file name.
pub fn invalid_example(kind: &str, file: &str) -> Value {
    example_files(kind, "invalid")
        .into_iter()
        .find(|(name, _)| name == file)
        .unwrap_or_else(|| panic!("no invalid example {kind}/{file}"))
        .1
}

/// An example's builder: its type, schema, data and case, with a fresh id,
/// time and trace.
pub fn builder(example: &Value) -> EnvelopeBuilder {
    let mut b = EnvelopeBuilder::new(
        example["type"].as_str().expect("type"),
        example["dataschema"].as_str().expect("dataschema"),
        example["data"].clone(),
    );
    if let Some(s) = example["subject"].as_str() {
        b = b.subject(s);
    }
    b
}

/// The member an example says it is from.
pub fn sender_of(example: &Value) -> MemberId {
    MemberId::from_source(example["source"].as_str().expect("source")).expect("member")
}

/// Re-signs an example as its own sender with the deployment's key, with a
/// fresh id and the current time.
pub fn resign(local: &Local, example: &Value) -> Envelope {
    let member = sender_of(example);
    builder(example)
        .sign(&member, &local.key(member.as_str()).expect("key"))
        .expect("signs")
}

/// A cheap, valid message from `member`: a processing receipt to
/// aanes.camps, signed now.
pub fn resign_as(local: &Local, member: &str) -> Envelope {
    let id = MemberId::parse(member).expect("member");
    builder(&example("message.processed", "processed.json"))
        .sign(&id, &local.key(member).expect("key"))
        .expect("signs")
}

/// A cheap, valid message: kz.mfa's processing receipt to aanes.camps.
pub fn processed(local: &Local) -> Envelope {
    resign(local, &example("message.processed", "processed.json"))
}

/// A header's value, if the message has it.
pub fn header<'a>(message: &'a jetstream::Message, name: &str) -> Option<&'a str> {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str())
}

/// The submission sequence a gateway output names.
pub fn submit_seq(message: &jetstream::Message) -> Option<u64> {
    header(message, subjects::headers::SUBMIT_SEQ).and_then(|s| s.parse().ok())
}

/// The member a delivery is addressed to, from its subject.
pub fn recipient_of(delivery: &jetstream::Message) -> String {
    let rest = delivery
        .subject
        .as_str()
        .strip_prefix("hw.deliver.")
        .expect("deliver subject");
    rest.splitn(3, '.').take(2).collect::<Vec<_>>().join(".")
}

/// Reads everything currently in a stream under `filter`, with a bounded wait.
pub async fn read_all(
    js: &jetstream::Context,
    stream: &str,
    filter: &str,
) -> Vec<jetstream::Message> {
    homeward_testkit::read::read_all(js, stream, filter)
        .await
        .expect("the stream reads to its end")
}

/// The members a message with envelope id `id` was delivered to, sorted.
pub async fn delivered_to(js: &jetstream::Context, id: &str) -> Vec<String> {
    let mut members: Vec<String> = read_all(js, subjects::DELIVER_STREAM, subjects::DELIVER_ALL)
        .await
        .iter()
        .filter(|m| header(m, subjects::headers::MSG_ID) == Some(id))
        .map(recipient_of)
        .collect();
    members.sort();
    members
}

/// How many messages a stream holds now.
pub async fn stream_count(js: &jetstream::Context, stream: &str) -> u64 {
    js.get_stream(stream)
        .await
        .expect("stream")
        .get_info()
        .await
        .expect("stream info")
        .state
        .messages
}

/// A stream read from its start as it grows: each wait ends when the
/// awaited message arrives, or fails the test after a timeout.
pub struct Tail {
    messages: pull::Stream,
    what: String,
}

impl Tail {
    pub async fn new(js: &jetstream::Context, stream: &str, filter: &str) -> Self {
        let messages = homeward_testkit::read::viewer(js, stream, filter)
            .await
            .expect("a viewer")
            .messages()
            .await
            .expect("messages");
        Self {
            messages,
            what: format!("{stream} {filter}"),
        }
    }

    /// The next message, or `None` once `deadline` has passed.
    pub async fn next_before(&mut self, deadline: Instant) -> Option<jetstream::Message> {
        match tokio::time::timeout_at(deadline, self.messages.next()).await {
            Ok(Some(m)) => Some(m.expect("message")),
            Ok(None) => panic!("{}: the stream of messages ended", self.what),
            Err(_) => None,
        }
    }

    /// Waits for the first message (from where the tail stands) that
    /// `wanted` accepts.
    pub async fn until(
        &mut self,
        what: &str,
        mut wanted: impl FnMut(&jetstream::Message) -> bool,
    ) -> jetstream::Message {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.next_before(deadline).await {
                Some(m) if wanted(&m) => return m,
                Some(_) => {}
                None => panic!("{}: no {what} within {WAIT:?}", self.what),
            }
        }
    }

    /// Waits for `n` messages.
    pub async fn take(&mut self, n: usize, timeout: Duration) -> Vec<jetstream::Message> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match self.next_before(deadline).await {
                Some(m) => out.push(m),
                None => panic!(
                    "{}: {} of {n} messages within {timeout:?}",
                    self.what,
                    out.len()
                ),
            }
        }
        out
    }
}

/// Checks what every receipt must be — a `gateway.receipt` envelope valid
/// against the envelope and receipt schemas, signed by the gateway with the
/// key the policy lists for it — and returns it.
pub fn checked_receipt(local: &Local, bytes: &[u8]) -> (Envelope, Receipt) {
    let envelope = Envelope::parse(bytes).expect("a receipt is an envelope");
    assert_eq!(envelope.message_type(), RECEIPT_TYPE);
    assert_eq!(envelope.sender().as_str(), "homeward.gateway");
    // What every receipt reader checks: a gateway's, with its key.
    let receipt = Receipt::from_gateway(&envelope, &local.policy)
        .unwrap_or_else(|e| panic!("not the gateway's receipt: {e}"));
    assert_eq!(
        envelope.sigkey(),
        local
            .key("homeward.gateway")
            .expect("gateway key")
            .public()
            .as_str()
    );
    let violations = local.schemas.validate_envelope(&envelope.to_value());
    assert!(violations.is_empty(), "receipt envelope: {violations:?}");
    local
        .schemas
        .validate_data(RECEIPT_TYPE, envelope.dataschema(), envelope.data())
        .unwrap_or_else(|e| panic!("the receipt breaks its schema: {e:?}"));
    // Written in the oldest receipt version that has its codes, so a reader
    // of version 1 reads every receipt it could before version 2.
    assert_eq!(envelope.dataschema(), receipt.schema_id(), "{receipt:?}");
    (envelope, receipt)
}

/// Waits for the receipt of submission `seq` of `member`, checked.
pub async fn receipt_for(
    local: &Local,
    js: &jetstream::Context,
    member: &MemberId,
    seq: u64,
) -> Receipt {
    let mut tail = Tail::new(js, subjects::RECEIPTS_STREAM, &subjects::receipt(member)).await;
    let message = tail
        .until(&format!("receipt of submission {seq}"), |m| {
            submit_seq(m) == Some(seq)
        })
        .await;
    let (_, receipt) = checked_receipt(local, &message.payload);
    assert_eq!(receipt.submission_sequence, seq.to_string());
    receipt
}

/// Waits for the audit record of submission `seq`.
pub async fn audit_record_for(js: &jetstream::Context, seq: u64) -> AuditRecord {
    let mut tail = Tail::new(js, subjects::AUDIT_STREAM, subjects::AUDIT_ALL).await;
    let wanted = seq.to_string();
    let message = tail
        .until(&format!("audit record of submission {seq}"), |m| {
            serde_json::from_slice::<AuditRecord>(&m.payload)
                .is_ok_and(|r| r.submission_sequence == wanted)
        })
        .await;
    serde_json::from_slice(&message.payload).expect("audit record")
}

/// Every audit record in stream order, with its stream sequence, as
/// `verify_chain` takes them.
pub async fn audit_chain(js: &jetstream::Context) -> Vec<(u64, Vec<u8>)> {
    let mut chain: Vec<(u64, Vec<u8>)> = read_all(js, subjects::AUDIT_STREAM, subjects::AUDIT_ALL)
        .await
        .into_iter()
        .map(|m| {
            let seq = m.info().expect("message info").stream_sequence;
            (seq, m.payload.to_vec())
        })
        .collect();
    chain.sort_by_key(|(seq, _)| *seq);
    chain
}

/// Submits envelopes as `client`, pipelined: publishes in windows of at
/// most 500 and then awaits each window's stream acks. Returns the
/// submission sequences, in order.
pub async fn submit_pipelined(client: &MemberClient, envelopes: &[Envelope]) -> Vec<u64> {
    let subject = subjects::submit(client.member());
    let mut sequences = Vec::with_capacity(envelopes.len());
    for window in envelopes.chunks(500) {
        let mut acks = Vec::with_capacity(window.len());
        for envelope in window {
            let publish = PublishMessage::build()
                .payload(envelope.to_bytes().into())
                .message_id(envelope.id());
            acks.push(
                client
                    .jetstream()
                    .send_publish(subject.clone(), publish)
                    .await
                    .expect("published"),
            );
        }
        for ack in acks {
            let ack = ack.await.expect("stored");
            assert!(!ack.duplicate, "each envelope is new");
            sequences.push(ack.sequence);
        }
    }
    sequences
}

/// Waits until `HW_AUDIT` holds a record of every submission in `sequences`.
/// Records are appended after everything else a decision writes, so then
/// every delivery and receipt of those submissions is stored too.
pub async fn wait_for_records(js: &jetstream::Context, sequences: &[u64], timeout: Duration) {
    let mut missing: BTreeSet<u64> = sequences.iter().copied().collect();
    let mut tail = Tail::new(js, subjects::AUDIT_STREAM, subjects::AUDIT_ALL).await;
    let deadline = Instant::now() + timeout;
    while !missing.is_empty() {
        let Some(m) = tail.next_before(deadline).await else {
            panic!(
                "{} of {} submissions have no audit record after {timeout:?}",
                missing.len(),
                sequences.len()
            );
        };
        let record: AuditRecord = serde_json::from_slice(&m.payload).expect("record");
        missing.remove(&record.submission_sequence.parse().expect("sequence"));
    }
}

/// Checks, once no gateway runs any more, that each of `sent` (envelope,
/// submission sequence) from `sender` was delivered exactly once to each
/// of `recipients`, got exactly one receipt (accepted, for exactly those
/// recipients), and has exactly one record on an audit chain that
/// verifies. Returns the records.
pub async fn assert_each_handled_once(
    local: &Local,
    js: &jetstream::Context,
    sender: &MemberId,
    sent: &[(Envelope, u64)],
    recipients: &[&str],
) -> Vec<AuditRecord> {
    let ids: BTreeMap<&str, u64> = sent.iter().map(|(e, s)| (e.id(), *s)).collect();
    assert_eq!(ids.len(), sent.len(), "distinct envelopes");

    let deliveries = read_all(js, subjects::DELIVER_STREAM, subjects::DELIVER_ALL).await;
    let mut copies: BTreeMap<(String, String), usize> = BTreeMap::new();
    for d in &deliveries {
        let id = header(d, subjects::headers::MSG_ID).expect("delivery names its envelope");
        assert!(
            ids.contains_key(id),
            "a delivery of an envelope nobody sent"
        );
        *copies.entry((id.to_owned(), recipient_of(d))).or_default() += 1;
    }
    for (envelope, _) in sent {
        for r in recipients {
            let n = copies
                .get(&(envelope.id().to_owned(), (*r).to_owned()))
                .copied()
                .unwrap_or(0);
            assert_eq!(n, 1, "{} delivered to {r} {n} times", envelope.id());
        }
    }
    assert_eq!(deliveries.len(), sent.len() * recipients.len());

    let receipts = read_all(js, subjects::RECEIPTS_STREAM, &subjects::receipt(sender)).await;
    let mut receipted: BTreeMap<u64, usize> = BTreeMap::new();
    for m in &receipts {
        let (_, receipt) = checked_receipt(local, &m.payload);
        let seq: u64 = receipt.submission_sequence.parse().expect("sequence");
        assert_eq!(
            receipt.decision,
            Decision::Accepted,
            "submission {seq}: {receipt:?}"
        );
        assert_eq!(receipt.recipients, recipients, "submission {seq}");
        assert_eq!(
            receipt
                .submission_id
                .as_ref()
                .and_then(|id| ids.get(id.as_str())),
            Some(&seq),
            "the receipt names the envelope of submission {seq}"
        );
        *receipted.entry(seq).or_default() += 1;
    }
    for (envelope, seq) in sent {
        assert_eq!(
            receipted.get(seq),
            Some(&1),
            "receipts of submission {seq} ({})",
            envelope.id()
        );
    }
    assert_eq!(receipts.len(), sent.len());

    let chain = audit_chain(js).await;
    assert_eq!(
        homeward_core::audit::verify_chain(chain.clone()).map(|s| (s.records, s.foreign.len())),
        Ok((sent.len() as u64, 0)),
        "the chain verifies, one record per submission"
    );
    let records: Vec<AuditRecord> = chain
        .iter()
        .map(|(_, bytes)| serde_json::from_slice(bytes).expect("record"))
        .collect();
    let mut recorded: BTreeMap<u64, usize> = BTreeMap::new();
    for r in &records {
        assert_eq!(r.decision, "accepted", "{r:?}");
        *recorded
            .entry(r.submission_sequence.parse().expect("sequence"))
            .or_default() += 1;
    }
    let expected: BTreeMap<u64, usize> = sent.iter().map(|(_, s)| (*s, 1)).collect();
    assert_eq!(recorded, expected, "exactly one record per submission");
    records
}
