//! Where a gateway's time goes.
//!
//! A gateway handles submissions a batch at a time, in stages. The decide
//! loop waits for a batch, checks it (CPU), records the accepted ids in the
//! seen-ids bucket, builds the outputs (CPU: signing receipts) and hands the
//! batch to the write loop; the write loop publishes and waits for the stream
//! acks, appends the audit records and acks the submissions. The two loops
//! run at the same time, each on its own batch. Each stage adds its
//! wall-clock time to a counter here, so a benchmark or an operator can see
//! which stage dominates without a profiler: a few clock reads per batch,
//! cheap enough to keep on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Running totals, shared with whoever wants to read them.
#[derive(Debug)]
pub struct GatewayStats {
    started: Instant,
    batches: AtomicU64,
    submissions: AtomicU64,
    fetch: AtomicU64,
    check: AtomicU64,
    replay: AtomicU64,
    build: AtomicU64,
    handoff: AtomicU64,
    publish: AtomicU64,
    audit: AtomicU64,
    ack: AtomicU64,
}

/// One stage of handling a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Decide loop: waiting for a batch from the work queue.
    Fetch,
    /// Decide loop: parsing, signature, schemas, policy, route (CPU).
    Check,
    /// Decide loop: creating the seen-ids keys (one key-value write per
    /// accepted submission).
    Replay,
    /// Decide loop: building the outputs, signing the receipts (CPU).
    Build,
    /// Decide loop: waiting for the write loop to take the batch.
    Handoff,
    /// Write loop: publishing deliveries, receipts and rejections, and
    /// waiting for the stream acks.
    Publish,
    /// Write loop: appending to the audit chain and waiting for the acks.
    Audit,
    /// Write loop: acking the submissions.
    Ack,
}

impl Stage {
    pub const ALL: [Stage; 8] = [
        Stage::Fetch,
        Stage::Check,
        Stage::Replay,
        Stage::Build,
        Stage::Handoff,
        Stage::Publish,
        Stage::Audit,
        Stage::Ack,
    ];

    /// Whether the stage belongs to the write loop (else the decide loop).
    pub fn in_write_loop(self) -> bool {
        matches!(self, Stage::Publish | Stage::Audit | Stage::Ack)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Fetch => "fetch",
            Stage::Check => "check",
            Stage::Replay => "replay",
            Stage::Build => "build",
            Stage::Handoff => "handoff",
            Stage::Publish => "publish",
            Stage::Audit => "audit",
            Stage::Ack => "ack",
        }
    }
}

impl Default for GatewayStats {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            batches: AtomicU64::default(),
            submissions: AtomicU64::default(),
            fetch: AtomicU64::default(),
            check: AtomicU64::default(),
            replay: AtomicU64::default(),
            build: AtomicU64::default(),
            handoff: AtomicU64::default(),
            publish: AtomicU64::default(),
            audit: AtomicU64::default(),
            ack: AtomicU64::default(),
        }
    }
}

impl GatewayStats {
    fn counter(&self, stage: Stage) -> &AtomicU64 {
        match stage {
            Stage::Fetch => &self.fetch,
            Stage::Check => &self.check,
            Stage::Replay => &self.replay,
            Stage::Build => &self.build,
            Stage::Handoff => &self.handoff,
            Stage::Publish => &self.publish,
            Stage::Audit => &self.audit,
            Stage::Ack => &self.ack,
        }
    }

    /// Adds `elapsed` to `stage`.
    pub fn add(&self, stage: Stage, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.counter(stage).fetch_add(nanos, Ordering::Relaxed);
    }

    /// Adds the time since `*since` to `stage` and restarts the clock.
    pub fn lap(&self, stage: Stage, since: &mut Instant) {
        let now = Instant::now();
        self.add(stage, now - *since);
        *since = now;
    }

    pub(crate) fn batch_done(&self, submissions: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.submissions
            .fetch_add(submissions as u64, Ordering::Relaxed);
    }

    /// The totals so far.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            wall: self.started.elapsed(),
            batches: self.batches.load(Ordering::Relaxed),
            submissions: self.submissions.load(Ordering::Relaxed),
            stages: Stage::ALL.map(|s| {
                (
                    s,
                    Duration::from_nanos(self.counter(s).load(Ordering::Relaxed)),
                )
            }),
        }
    }
}

/// The totals at one moment; subtract two to get an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Wall-clock time counted over (since the gateway started, or between
    /// two snapshots).
    pub wall: Duration,
    /// Batches and submissions written and acked.
    pub batches: u64,
    pub submissions: u64,
    pub stages: [(Stage, Duration); 8],
}

impl StatsSnapshot {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &StatsSnapshot) -> StatsSnapshot {
        let mut stages = self.stages;
        for (i, (_, d)) in stages.iter_mut().enumerate() {
            *d = d.saturating_sub(earlier.stages[i].1);
        }
        StatsSnapshot {
            wall: self.wall.saturating_sub(earlier.wall),
            batches: self.batches - earlier.batches.min(self.batches),
            submissions: self.submissions - earlier.submissions.min(self.submissions),
            stages,
        }
    }

    /// The time counted in all stages together. The two loops overlap, so
    /// this can exceed the wall-clock time.
    pub fn total(&self) -> Duration {
        self.stages.iter().map(|(_, d)| *d).sum()
    }

    /// The time counted in `stage`.
    pub fn stage(&self, stage: Stage) -> Duration {
        self.stages
            .iter()
            .find(|(s, _)| *s == stage)
            .map_or(Duration::ZERO, |(_, d)| *d)
    }
}
