//! The JetStream streams and buckets, created or updated idempotently.
//!
//! Every stream is file-backed. Limits are chosen for a repatriation
//! operation, not a firehose: thousands of envelopes a day, each under
//! 64 KiB, kept long enough for operators to look back.
//!
//! | stream | retention | kept | duplicate window |
//! |---|---|---|---|
//! | `HW_SUBMIT` | work queue: removed when the gateway acks | 7 days | 20 min |
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

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};

use crate::Error;
use crate::subjects::*;

const DAY: Duration = Duration::from_secs(24 * 3600);
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
            max_age: 7 * DAY,
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
            ..base(
                AUDIT_STREAM,
                AUDIT_ALL,
                "Hash-chained audit records, one per gateway decision",
            )
        },
    ]
}

/// Creates every stream and the seen-ids bucket, or updates them to the
/// configuration above. Safe to run from several processes at once.
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
    seen_bucket(js, replicas).await?;
    Ok(())
}

/// The bucket where the gateway remembers accepted envelope ids, longer than
/// any stream's duplicate window.
pub async fn seen_bucket(js: &jetstream::Context, replicas: usize) -> Result<kv::Store, Error> {
    if let Ok(store) = js.get_key_value(SEEN_BUCKET).await {
        return Ok(store);
    }
    let config = kv::Config {
        bucket: SEEN_BUCKET.to_owned(),
        description: "Envelope ids the gateway accepted, for replay checks".to_owned(),
        history: 1,
        max_age: 30 * DAY,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    };
    match js.create_key_value(config).await {
        Ok(store) => Ok(store),
        Err(e) => js
            .get_key_value(SEEN_BUCKET)
            .await
            .map_err(|_| Error::Nats(format!("creating bucket {SEEN_BUCKET}: {e}"))),
    }
}
