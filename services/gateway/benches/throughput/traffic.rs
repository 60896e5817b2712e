//! The members' side of a run: the submitter, paced or windowed, and the
//! recipients pulling their own durable consumers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, ensure};
use async_nats::jetstream::{self, consumer::pull, message::PublishMessage};
use futures::StreamExt;
use homeward_core::subjects::headers;
use tokio_util::sync::CancellationToken;

use crate::Submission;
use crate::options::Options;
use crate::tracker::Tracker;

/// Submits `slots` as fast as the stream acks them, `window` at a time.
pub async fn submit_windowed(
    js: &jetstream::Context,
    subject: &str,
    submissions: &[Submission],
    slots: std::ops::Range<usize>,
    options: &Options,
    tracker: &Tracker,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut window = Vec::with_capacity(options.window);
    for slot in slots.clone() {
        tracker.submitting(slot);
        window.push(publish(js, subject, &submissions[slot]).await?);
        if window.len() == options.window || slot + 1 == slots.end {
            for ack in window.drain(..) {
                let ack = ack.await.context("submission not stored")?;
                ensure!(!ack.duplicate, "a submission was taken for a duplicate");
            }
        }
    }
    Ok(started.elapsed())
}

/// Submits `slots` at `rate` per second, open loop: acks are
/// awaited by another task so a slow ack does not delay the next send.
pub async fn submit_paced(
    js: &jetstream::Context,
    subject: &str,
    submissions: &[Submission],
    slots: std::ops::Range<usize>,
    rate: u32,
    options: &Options,
    tracker: &Tracker,
) -> anyhow::Result<()> {
    let (tx, mut rx) =
        tokio::sync::mpsc::channel::<jetstream::context::PublishAckFuture>(options.window);
    let acks = tokio::spawn(async move {
        while let Some(ack) = rx.recv().await {
            let ack = ack.await.context("submission not stored")?;
            ensure!(!ack.duplicate, "a submission was taken for a duplicate");
        }
        anyhow::Ok(())
    });
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    for slot in slots {
        tick.tick().await;
        tracker.submitting(slot);
        let ack = publish(js, subject, &submissions[slot]).await?;
        tx.send(ack)
            .await
            .map_err(|_| anyhow!("the ack task stopped"))?;
    }
    drop(tx);
    acks.await?
}

async fn publish(
    js: &jetstream::Context,
    subject: &str,
    submission: &Submission,
) -> anyhow::Result<jetstream::context::PublishAckFuture> {
    js.send_publish(
        subject.to_owned(),
        PublishMessage::build()
            .payload(submission.bytes.clone())
            .message_id(&submission.id),
    )
    .await
    .context("submitting")
}

/// A recipient pulling its own durable consumer: stamps each delivery on
/// arrival and acks it.
pub async fn consume(
    consumer: jetstream::consumer::Consumer<pull::Config>,
    recipient: usize,
    tracker: Arc<Tracker>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut messages = consumer.messages().await?;
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            next = messages.next() => next,
        };
        let Some(message) = next else {
            return Ok(());
        };
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                eprintln!("delivery stream error (continuing): {e}");
                continue;
            }
        };
        if let Some(id) = message
            .headers
            .as_ref()
            .and_then(|h| h.get(headers::MSG_ID))
        {
            tracker.received(id.as_str(), recipient);
        }
        message.ack().await.map_err(|e| anyhow!("ack: {e}"))?;
    }
}
