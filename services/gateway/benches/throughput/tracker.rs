//! When each submission was handed to the client and when each of its
//! deliveries reached its recipient, and the phases measured from them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use tokio::sync::Notify;

use crate::{RECIPIENTS, Submission};

/// Submit and delivery instants of every submission of one path, in
/// nanoseconds since `t0` (0: not yet).
#[derive(Debug)]
pub struct Tracker {
    t0: Instant,
    slots: HashMap<String, usize>,
    submitted: Vec<AtomicU64>,
    /// `slot * RECIPIENTS.len() + recipient`.
    received: Vec<AtomicU64>,
    count: AtomicUsize,
    target: AtomicUsize,
    reached: Notify,
}

impl Tracker {
    pub fn new(submissions: &[Submission]) -> Self {
        let n = submissions.len();
        Self {
            t0: Instant::now(),
            slots: submissions
                .iter()
                .enumerate()
                .map(|(i, s)| (s.id.clone(), i))
                .collect(),
            submitted: (0..n).map(|_| AtomicU64::new(0)).collect(),
            received: (0..n * RECIPIENTS.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            count: AtomicUsize::new(0),
            target: AtomicUsize::new(usize::MAX),
            reached: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.t0.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    pub fn submitting(&self, slot: usize) {
        self.submitted[slot].store(self.now(), Ordering::Relaxed);
    }

    /// A delivery of envelope `id` reached `recipient`. Redeliveries count once.
    pub fn received(&self, id: &str, recipient: usize) {
        let Some(&slot) = self.slots.get(id) else {
            return;
        };
        let cell = &self.received[slot * RECIPIENTS.len() + recipient];
        if cell
            .compare_exchange(0, self.now(), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            let count = self.count.fetch_add(1, Ordering::SeqCst) + 1;
            if count == self.target.load(Ordering::SeqCst) {
                self.reached.notify_one();
            }
        }
    }

    /// Waits until `total` deliveries have arrived since the start.
    pub async fn wait_for(&self, total: usize, timeout: Duration) -> anyhow::Result<()> {
        self.target.store(total, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + timeout;
        while self.count.load(Ordering::SeqCst) < total {
            if tokio::time::timeout_at(deadline, self.reached.notified())
                .await
                .is_err()
            {
                bail!(
                    "only {} of {total} deliveries arrived within {timeout:?}",
                    self.count.load(Ordering::SeqCst)
                );
            }
        }
        Ok(())
    }

    /// The phase over `slots`: from its first submission to its last
    /// delivery, and every delivery's latency, sorted.
    pub fn phase(&self, slots: std::ops::Range<usize>) -> Phase {
        let first = slots
            .clone()
            .map(|i| self.submitted[i].load(Ordering::Relaxed));
        let first = first.min().unwrap_or(0);
        let mut last = 0;
        let mut latencies = Vec::with_capacity(slots.len() * RECIPIENTS.len());
        for i in slots.clone() {
            let sent = self.submitted[i].load(Ordering::Relaxed);
            for r in 0..RECIPIENTS.len() {
                let got = self.received[i * RECIPIENTS.len() + r].load(Ordering::Relaxed);
                last = last.max(got);
                latencies.push(Duration::from_nanos(got.saturating_sub(sent)));
            }
        }
        latencies.sort_unstable();
        Phase {
            messages: slots.len(),
            elapsed: Duration::from_nanos(last.saturating_sub(first)),
            latencies,
        }
    }
}

/// A phase of a run: its submissions, from the first submit to the last
/// delivery, and every delivery's latency, sorted.
#[derive(Debug)]
pub struct Phase {
    pub messages: usize,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
}

impl Phase {
    pub fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }
}
