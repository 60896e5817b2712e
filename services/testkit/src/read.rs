//! Reading what a stream holds, as the administrator, without changing it:
//! an ephemeral consumer with no acks, read to exactly the count it found,
//! so a read never ends on a timeout.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use futures::StreamExt;
use homeward_core::Error;

/// An ephemeral consumer reading a stream from its first message, without
/// acks: a view that leaves the stream as it is.
pub async fn viewer(
    js: &jetstream::Context,
    stream: &str,
    filter: &str,
) -> Result<jetstream::consumer::Consumer<pull::Config>, Error> {
    js.get_stream(stream)
        .await
        .map_err(|e| Error::Nats(format!("stream {stream}: {e}")))?
        .create_consumer(pull::Config {
            filter_subject: filter.to_owned(),
            ack_policy: jetstream::consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(60),
            ..Default::default()
        })
        .await
        .map_err(|e| Error::Nats(format!("a viewer on {stream}: {e}")))
}

/// Everything in `stream` under `filter` now.
pub async fn read_all(
    js: &jetstream::Context,
    stream: &str,
    filter: &str,
) -> Result<Vec<jetstream::Message>, Error> {
    let consumer = viewer(js, stream, filter).await?;
    let pending = consumer.cached_info().num_pending as usize;
    read_n(&consumer, stream, filter, pending).await
}

/// The first `count` messages in `stream` under `filter`, waiting for them
/// to arrive (a few seconds per batch at most).
pub async fn read_first(
    js: &jetstream::Context,
    stream: &str,
    filter: &str,
    count: usize,
) -> Result<Vec<jetstream::Message>, Error> {
    let consumer = viewer(js, stream, filter).await?;
    read_n(&consumer, stream, filter, count).await
}

async fn read_n(
    consumer: &jetstream::consumer::Consumer<pull::Config>,
    stream: &str,
    filter: &str,
    count: usize,
) -> Result<Vec<jetstream::Message>, Error> {
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let mut batch = consumer
            .fetch()
            .max_messages((count - out.len()).min(1000))
            .expires(Duration::from_secs(5))
            .messages()
            .await
            .map_err(Error::nats)?;
        let before = out.len();
        while let Some(m) = batch.next().await {
            out.push(m.map_err(Error::nats)?);
        }
        if out.len() == before {
            return Err(Error::Timeout(format!(
                "{stream} {filter}: read {before} of {count} messages, then nothing"
            )));
        }
    }
    Ok(out)
}
