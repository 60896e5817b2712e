//! What an operator reads, and how: the audit records, by sequence and
//! live, with no consumer of its own.
//!
//! The operator's account receives from the streams' account only look-ups
//! of stream and consumer state, direct gets of `HW_AUDIT` and the live
//! audit subjects ([`crate::natsauth::operator_access`]); it cannot make a
//! consumer. So records are read one by one by sequence (`DIRECT.GET`),
//! and a live record published on `hw.audit.>` only wakes the reader to
//! read on: nothing is read twice or skipped, whatever arrives live.

use std::time::Duration;

use async_nats::jetstream::{self, stream::DirectGetErrorKind};
use bytes::Bytes;
use futures::StreamExt;

use crate::{Error, client, subjects};

/// How long a reader waits for a live record before it looks again anyway
/// (a record stored between its last read and its subscription would
/// otherwise wait for the next one).
const LOOK_AGAIN: Duration = Duration::from_secs(1);

/// Where to start reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// The first record ever written.
    Start,
    /// The first record after the ones on the chain now.
    Now,
}

/// Reads `HW_AUDIT` in stream order, following it live.
#[derive(Debug)]
pub struct AuditTail {
    stream: jetstream::stream::Stream,
    live: async_nats::Subscriber,
    next: u64,
}

/// The audit stream, as an operator reaches it.
async fn audit_stream(client: &async_nats::Client) -> Result<jetstream::stream::Stream, Error> {
    client::homeward_jetstream(client.clone())
        .get_stream(subjects::AUDIT_STREAM)
        .await
        .map_err(|e| Error::Nats(format!("looking up {}: {e}", subjects::AUDIT_STREAM)))
}

impl AuditTail {
    /// Starts reading; `client` is connected as the operator (or any
    /// identity the audit records are exported to).
    pub async fn open(client: &async_nats::Client, from: ReadFrom) -> Result<Self, Error> {
        let live = client
            .subscribe(subjects::AUDIT_ALL)
            .await
            .map_err(Error::nats)?;
        let mut stream = audit_stream(client).await?;
        let state = stream.info().await.map_err(Error::nats)?.state.clone();
        let next = match from {
            ReadFrom::Start => state.first_sequence.max(1),
            ReadFrom::Now => state.last_sequence + 1,
        };
        Ok(Self { stream, live, next })
    }

    /// The record at `sequence`, or `None` when there is none (yet, or
    /// any more).
    async fn get(&self, sequence: u64) -> Result<Option<Bytes>, Error> {
        match self.stream.direct_get(sequence).await {
            Ok(message) => Ok(Some(message.payload)),
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Nats(format!("reading audit record {sequence}: {e}"))),
        }
    }

    /// The next record `(stream sequence, bytes)`, waiting for it until
    /// `deadline`; `None` when none came by then.
    pub async fn next_before(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> Result<Option<(u64, Bytes)>, Error> {
        loop {
            let last = self.last_sequence().await?;
            // Sequences below the stream's first were removed by limits
            // (HW_AUDIT keeps everything, so only on another deployment).
            while self.next <= last {
                let sequence = self.next;
                self.next += 1;
                if let Some(bytes) = self.get(sequence).await? {
                    return Ok(Some((sequence, bytes)));
                }
            }
            let wait = deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .min(LOOK_AGAIN);
            if wait.is_zero() {
                return Ok(None);
            }
            // A live record, or a while: either way, look again.
            let _ = tokio::time::timeout(wait, self.live.next()).await;
        }
    }

    async fn last_sequence(&mut self) -> Result<u64, Error> {
        Ok(self
            .stream
            .info()
            .await
            .map_err(Error::nats)?
            .state
            .last_sequence)
    }
}

/// Every message in `HW_AUDIT`, in stream order, as `(sequence, bytes)`:
/// what the chain verifier walks.
pub async fn read_audit(client: &async_nats::Client) -> Result<Vec<(u64, Vec<u8>)>, Error> {
    let mut stream = audit_stream(client).await?;
    let state = stream.info().await.map_err(Error::nats)?.state.clone();
    let mut out = Vec::with_capacity(state.messages as usize);
    if state.messages == 0 {
        return Ok(out);
    }
    // Reads a window of records at once: one round trip each, overlapped.
    let sequences: Vec<u64> = (state.first_sequence.max(1)..=state.last_sequence).collect();
    for window in sequences.chunks(256) {
        let reads = window.iter().map(|&sequence| {
            let stream = &stream;
            async move {
                match stream.direct_get(sequence).await {
                    Ok(message) => Ok(Some((sequence, message.payload.to_vec()))),
                    Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::Nats(format!("reading audit record {sequence}: {e}"))),
                }
            }
        });
        for read in futures::future::join_all(reads).await {
            out.extend(read?);
        }
    }
    Ok(out)
}
