//! The JetStream streams and buckets, created or updated idempotently.
//!
//! Every stream is file-backed. Limits are chosen for a repatriation
//! operation, not a firehose: thousands of envelopes a day, each under
//! 64 KiB, kept long enough for operators to look back.
//!
//! | stream | retention | kept | duplicate window |
//! |---|---|---|---|
//! | `HW_SUBMIT` | work queue: removed when the gateway acks; at most [`SUBMIT_PENDING_PER_MEMBER`] waiting per member | 7 days | 20 min |
//! | `HW_DELIVER` | limits: kept after members ack, for replay and audit | 90 days | 1 h |
//! | `HW_RECEIPTS` | limits | 30 days | 1 h |
//! | `HW_REJECTED` | limits | 90 days | 1 h |
//! | `HW_AUDIT` | limits, never expires, no delete, no purge | forever | 1 h |
//!
//! Deliveries use limits retention rather than interest retention: with
//! interest retention a message routed to a member whose consumer does not
//! exist yet would be dropped at once, and no message may be lost.
//! Submissions may be up to 1 MiB in the stream so that an oversized
//! envelope still reaches the gateway and is rejected on the record as
//! `too_large`, rather than failing silently at the sender.
//!
//! Everything is made ahead of time by the administrator with
//! [`provision`]: the streams, the gateways' consumer, each member's
//! durable consumers (`deliver_<member>` on `HW_DELIVER`, `receipt_<member>`
//! on `HW_RECEIPTS`, `rejected_<member>` on `HW_REJECTED`), its case
//! bucket (`hw_cases_<member>`) and its event log (`HW_EVENTS_<member>`,
//! [`event_log_config`]), both in the member's own account, and the
//! gateway's seen-ids bucket (`hw_seen`, in the gateway's account). Under
//! the server configuration that [`crate::natsauth`] generates, nobody else
//! may create, update or delete a stream or consumer: the gateway and the
//! members only look up what they use, and say what is missing.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, kv, stream};
use futures::StreamExt;

use crate::member::MemberId;
use crate::policy::Policy;
use crate::subjects::*;
use crate::{Error, natsauth};

const DAY: Duration = Duration::from_secs(24 * 3600);
/// How long a submission may wait in `HW_SUBMIT` for a gateway: so also
/// the longest an accepted envelope can have waited before its deliveries
/// were written, which bounds the age a recipient accepts
/// (`homeward_ministry::verify`).
pub const SUBMIT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// How many of one member's submissions may wait in `HW_SUBMIT` at once:
/// room for a whole camp census imported in one go, and a bound on what
/// one member can put before every other member's submissions. Past it the
/// server refuses the member's publishes ("maximum messages per subject
/// exceeded"), which its service holds in its outbox and sends again.
pub const SUBMIT_PENDING_PER_MEMBER: i64 = 50_000;
/// The largest submission the stream takes; the gateway enforces 64 KiB.
pub const MAX_SUBMISSION_BYTES: i32 = 1024 * 1024;

/// The configuration of every Homeward stream, with `replicas` copies.
pub fn configs(replicas: usize) -> Vec<stream::Config> {
    let base = |name: &str, subject: &str, description: &str| stream::Config {
        name: name.to_owned(),
        subjects: vec![subject.to_owned()],
        description: Some(description.to_owned()),
        storage: stream::StorageType::File,
        num_replicas: replicas,
        max_message_size: MAX_SUBMISSION_BYTES + 64 * 1024,
        duplicate_window: Duration::from_secs(3600),
        ..Default::default()
    };
    vec![
        stream::Config {
            retention: stream::RetentionPolicy::WorkQueue,
            max_age: SUBMIT_MAX_AGE,
            // Each member submits on its own subject: at most this many of
            // its submissions wait at once, and past that the server
            // refuses its publishes rather than let it fill the queue.
            max_messages_per_subject: SUBMIT_PENDING_PER_MEMBER,
            discard: stream::DiscardPolicy::New,
            discard_new_per_subject: true,
            max_message_size: MAX_SUBMISSION_BYTES,
            duplicate_window: Duration::from_secs(20 * 60),
            ..base(
                SUBMIT_STREAM,
                SUBMIT_ALL,
                "Submissions from members, consumed by the gateways",
            )
        },
        stream::Config {
            max_age: 90 * DAY,
            ..base(
                DELIVER_STREAM,
                DELIVER_ALL,
                "Accepted messages, one per recipient",
            )
        },
        stream::Config {
            max_age: 30 * DAY,
            ..base(
                RECEIPTS_STREAM,
                RECEIPT_ALL,
                "Receipts to senders: gateway decisions and processing receipts",
            )
        },
        stream::Config {
            max_age: 90 * DAY,
            ..base(
                REJECTED_STREAM,
                REJECTED_ALL,
                "Rejected submissions: original bytes and reasons",
            )
        },
        stream::Config {
            deny_delete: true,
            deny_purge: true,
            // The operator reads records by sequence, without a consumer.
            allow_direct: true,
            ..base(
                AUDIT_STREAM,
                AUDIT_ALL,
                "Hash-chained audit records, one per gateway decision",
            )
        },
    ]
}

/// Creates every stream, or updates it to the configuration above. Safe to
/// run from several processes at once. Run it as the administrator, in the
/// streams' account: no other identity may.
pub async fn ensure(js: &jetstream::Context, replicas: usize) -> Result<(), Error> {
    for config in configs(replicas) {
        let name = config.name.clone();
        match js.get_stream(&name).await {
            Ok(_) => {
                js.update_stream(config)
                    .await
                    .map_err(|e| Error::Nats(format!("updating stream {name}: {e}")))?;
            }
            Err(_) => {
                if let Err(e) = js.create_stream(config.clone()).await {
                    // Another process may have created it meanwhile.
                    if js.get_stream(&name).await.is_err() {
                        return Err(Error::Nats(format!("creating stream {name}: {e}")));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Whether a stream exists; any failure but "not found" is an error.
pub async fn exists(js: &jetstream::Context, name: &str) -> Result<bool, Error> {
    match js.get_stream(name).await {
        Ok(_) => Ok(true),
        Err(e) => match e.kind() {
            jetstream::context::GetStreamErrorKind::JetStream(j)
                if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
            {
                Ok(false)
            }
            _ => Err(Error::Nats(format!("looking up stream {name}: {e}"))),
        },
    }
}

/// The gateways' shared durable consumer on the submit work queue.
pub fn gateway_consumer_config() -> pull::Config {
    pull::Config {
        durable_name: Some(GATEWAY_CONSUMER.to_owned()),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(30),
        max_ack_pending: 20_000,
        ..Default::default()
    }
}

/// The bucket where the gateway remembers accepted envelope ids, longer than
/// any stream's duplicate window.
pub fn seen_bucket_config(replicas: usize) -> kv::Config {
    kv::Config {
        bucket: SEEN_BUCKET.to_owned(),
        description: "Envelope ids the gateway accepted, for replay checks".to_owned(),
        history: 1,
        max_age: 30 * DAY,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    }
}

/// The bucket of the published policy, a few versions kept for the record.
pub fn policy_bucket_config(replicas: usize) -> kv::Config {
    kv::Config {
        bucket: POLICY_BUCKET.to_owned(),
        description: "The policy as the policy authority signed it".to_owned(),
        history: 16,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    }
}

/// A member's durable consumer of its deliveries: explicit acks, redelivered
/// after 30 s, at most 10 times.
pub fn delivery_consumer_config(member: &MemberId) -> pull::Config {
    let name = delivery_consumer(member);
    pull::Config {
        durable_name: Some(name),
        filter_subject: deliver_filter(member),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(30),
        // The server's last resort against a message that crashes its
        // service every time: a service parks what fails to process long
        // before (`deliveries.attempts`, 8 by default) and does not count
        // the times the server was out of reach, but a process that dies
        // on a message never gets to. Kills and restarts also use up
        // deliveries (each one in flight comes again), so the bound is
        // far above what any outage makes: with the 30 s ack wait, about
        // eight hours of crash-looping before the server gives up and says
        // so (the MAX_DELIVERIES advisory the console shows).
        max_deliver: 1000,
        max_ack_pending: 1000,
        ..Default::default()
    }
}

/// A member's durable consumer of its receipts.
pub fn receipt_consumer_config(member: &MemberId) -> pull::Config {
    pull::Config {
        durable_name: Some(receipt_consumer(member)),
        filter_subject: receipt(member),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ..Default::default()
    }
}

/// A member's durable consumer of its own rejected submissions (original
/// bytes and reasons), so that it can see what it sent wrong.
pub fn rejected_consumer_config(member: &MemberId) -> pull::Config {
    pull::Config {
        durable_name: Some(rejected_consumer(member)),
        filter_subject: rejected(member),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ..Default::default()
    }
}

/// A member's case bucket: a few revisions per case, for optimistic
/// concurrency and a short look back.
pub fn case_bucket_config(member: &MemberId, replicas: usize) -> kv::Config {
    kv::Config {
        bucket: case_bucket(member),
        description: format!("Cases of {member}"),
        history: 5,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    }
}

/// A member's event log: the stream, in its own account, that holds the
/// event feed of its service (`GET /events`, `homeward_ministry::events`).
pub fn event_log(member: &MemberId) -> String {
    format!("HW_EVENTS_{}", member.token())
}

/// The subjects of a member's event log: `hw.events.<member>.>`.
pub fn event_log_subjects(member: &MemberId) -> String {
    format!("hw.events.{member}.>")
}

/// A member's event log: references only, a few hundred bytes an event,
/// kept without an age limit (it is the projection of the cases'
/// timelines, which are kept as long as the cases), read by direct get
/// from a position, and never changed by deleting a message.
pub fn event_log_config(member: &MemberId, replicas: usize) -> stream::Config {
    stream::Config {
        name: event_log(member),
        subjects: vec![event_log_subjects(member)],
        description: Some(format!(
            "Events of {member}'s service: references only, for its own systems"
        )),
        storage: stream::StorageType::File,
        num_replicas: replicas,
        allow_direct: true,
        deny_delete: true,
        deny_purge: true,
        max_message_size: 16 * 1024,
        duplicate_window: Duration::from_secs(3600),
        ..Default::default()
    }
}

/// Makes a stream in an identity's own account, through the
/// administrator's import of that account's provisioning subjects; an
/// existing stream is left as it is.
async fn ensure_own_stream(
    admin: &async_nats::Client,
    owner: &MemberId,
    config: stream::Config,
) -> Result<(), Error> {
    let js = jetstream::with_prefix(admin.clone(), &natsauth::admin_api_prefix(owner));
    let name = config.name.clone();
    if js.get_stream(&name).await.is_ok() {
        return Ok(());
    }
    match js.create_stream(config).await {
        Ok(_) => Ok(()),
        // Another administrator may have made it meanwhile.
        Err(_) if js.get_stream(&name).await.is_ok() => Ok(()),
        Err(e) => Err(Error::Nats(format!(
            "provisioning stream {name} of {owner}: {e}"
        ))),
    }
}

/// Makes a bucket in an identity's own account, through the
/// administrator's import of that account's provisioning subjects; an
/// existing bucket is left as it is, but for [`read_from_the_leader`].
async fn ensure_bucket(
    admin: &async_nats::Client,
    owner: &MemberId,
    config: kv::Config,
) -> Result<(), Error> {
    let js = jetstream::with_prefix(admin.clone(), &natsauth::admin_api_prefix(owner));
    let bucket = config.bucket.clone();
    if js.get_key_value(&bucket).await.is_err() {
        match js.create_key_value(config).await {
            Ok(_) => {}
            // Another administrator may have made it meanwhile.
            Err(_) if js.get_key_value(&bucket).await.is_ok() => {}
            Err(e) => {
                return Err(Error::Nats(format!(
                    "provisioning bucket {bucket} of {owner}: {e}"
                )));
            }
        }
    }
    read_from_the_leader(&js, &format!("KV_{bucket}"))
        .await
        .map_err(|e| Error::Nats(format!("provisioning bucket {bucket} of {owner}: {e}")))
}

/// Turns off direct gets on a bucket's stream, so that every read goes to
/// the stream's leader and sees every write that was acknowledged.
///
/// async-nats makes every bucket with `allow_direct`, and on a replicated
/// stream that lets any replica answer a read, a follower included, which
/// may not have applied the newest writes yet. A case store that writes a
/// case with its outbox and then reads it back to submit the outbox would
/// then read the case before the write, find no outbox, and submit
/// nothing: a message lost until the next restart. Seen on a three-node
/// cluster (`replay/tests/lifecycle/scenario.rs`). The key-value client
/// reads through `STREAM.MSG.GET`, from the leader, once the stream does
/// not allow direct gets.
async fn read_from_the_leader(js: &jetstream::Context, stream: &str) -> Result<(), String> {
    let mut handle = js.get_stream(stream).await.map_err(|e| e.to_string())?;
    let info = handle.info().await.map_err(|e| e.to_string())?;
    if !info.config.allow_direct {
        return Ok(());
    }
    let mut config = info.config.clone();
    config.allow_direct = false;
    js.update_stream(config).await.map_err(|e| e.to_string())?;
    Ok(())
}

/// Everything Homeward needs on the server, made or brought up to date:
/// the streams, the gateways' consumer, every member's durable consumers,
/// case bucket and event log, and every gateway's seen-ids bucket. This is the
/// administrator's act (`homeward provision`): `admin` must be connected as
/// the administrator, in the streams' account, under the authorization
/// [`natsauth`] generates. No other identity may create, update or delete a
/// stream or consumer. Idempotent, and safe to run again after a policy
/// change (new members get theirs; existing consumers take the
/// configurations above).
pub async fn provision(
    admin: &async_nats::Client,
    policy: &Policy,
    replicas: usize,
) -> Result<(), Error> {
    let js = jetstream::new(admin.clone());
    ensure(&js, replicas).await?;
    let policy_stream = format!("KV_{POLICY_BUCKET}");
    if !exists(&js, &policy_stream).await?
        && let Err(e) = js.create_key_value(policy_bucket_config(replicas)).await
        // Another administrator may have made it meanwhile.
        && !exists(&js, &policy_stream).await?
    {
        return Err(Error::Nats(format!(
            "provisioning bucket {POLICY_BUCKET}: {e}"
        )));
    }
    let stream = |name: &'static str| {
        let js = js.clone();
        async move {
            js.get_stream_no_info(name)
                .await
                .map_err(|e| Error::Nats(format!("stream {name}: {e}")))
        }
    };
    let submit = stream(SUBMIT_STREAM).await?;
    let deliver = stream(DELIVER_STREAM).await?;
    let receipts = stream(RECEIPTS_STREAM).await?;
    let rejected = stream(REJECTED_STREAM).await?;
    submit
        .create_consumer(gateway_consumer_config())
        .await
        .map_err(|e| Error::Nats(format!("provisioning consumer {GATEWAY_CONSUMER}: {e}")))?;
    for member in policy.members() {
        let id = &member.id;
        match natsauth::Kind::of(member.role) {
            natsauth::Kind::Member => {}
            natsauth::Kind::Gateway => {
                ensure_bucket(admin, id, seen_bucket_config(replicas)).await?;
                continue;
            }
            natsauth::Kind::Operator | natsauth::Kind::Admin => continue,
        }
        for (stream, config) in [
            (&deliver, delivery_consumer_config(id)),
            (&receipts, receipt_consumer_config(id)),
            (&rejected, rejected_consumer_config(id)),
        ] {
            let name = config.durable_name.clone().unwrap_or_default();
            stream
                .create_consumer(config)
                .await
                .map_err(|e| Error::Nats(format!("provisioning consumer {name} of {id}: {e}")))?;
        }
        ensure_bucket(admin, id, case_bucket_config(id, replicas)).await?;
        ensure_own_stream(admin, id, event_log_config(id, replicas)).await?;
    }
    Ok(())
}

/// The keys of a key-value bucket that hold a value, sorted.
///
/// `kv::Store::keys` makes a consumer on the bucket's stream, which no
/// member may do under the generated server permissions; this reads the
/// stream's subjects instead (`STREAM.INFO` with a subject filter) and
/// drops keys whose last entry is a delete or purge marker (`DIRECT.GET`
/// per key), so a member can list its own case bucket.
pub async fn bucket_keys(store: &kv::Store) -> Result<Vec<String>, Error> {
    let mut subjects = store
        .stream
        .info_with_subjects(format!("{}>", store.prefix))
        .await
        .map_err(|e| Error::Nats(format!("listing bucket {}: {e}", store.name)))?;
    let mut keys = Vec::new();
    while let Some(subject) = subjects.next().await {
        let (subject, _) =
            subject.map_err(|e| Error::Nats(format!("listing bucket {}: {e}", store.name)))?;
        if let Some(key) = subject.strip_prefix(store.prefix.as_str()) {
            keys.push(key.to_owned());
        }
    }
    let mut live = Vec::with_capacity(keys.len());
    for key in keys {
        let entry = store
            .entry(key.as_str())
            .await
            .map_err(|e| Error::Nats(format!("reading {key} in bucket {}: {e}", store.name)))?;
        if entry.is_some_and(|e| e.operation == kv::Operation::Put) {
            live.push(key);
        }
    }
    live.sort();
    Ok(live)
}

/// Whether a JetStream write was refused because the stream (or the
/// subject, or the key) is no longer at the sequence the writer expected:
/// someone else wrote first, the conflict that optimistic concurrency
/// expects. A lone server answers it with error code 10071
/// (`STREAM_WRONG_LAST_SEQUENCE`), which async-nats 0.51 turns into
/// `PublishErrorKind::WrongLastSequence` and
/// `kv::UpdateErrorKind::WrongLastRevision`; a clustered stream answers
/// with 10164 (`STREAM_WRONG_LAST_SEQUENCE_CONSTANT`), which it files
/// under `Other`. Looks through `error` and its sources for either code.
pub fn is_wrong_last_sequence(error: &(dyn std::error::Error + 'static)) -> bool {
    use async_nats::jetstream::ErrorCode;
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(js) = e.downcast_ref::<async_nats::jetstream::Error>()
            && matches!(
                js.error_code(),
                ErrorCode::STREAM_WRONG_LAST_SEQUENCE
                    | ErrorCode::STREAM_WRONG_LAST_SEQUENCE_CONSTANT
            )
        {
            return true;
        }
        next = e.source();
    }
    false
}
