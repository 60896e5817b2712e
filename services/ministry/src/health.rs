//! What `GET /health` says: the state of each loop a member's service runs.
//!
//! A service does its work in two loops, the delivery loop (its deliveries,
//! applied to its cases) and the receipt loop (the gateway's receipts of
//! what it sent). The HTTP API can keep answering after either has ended,
//! so "the process answers" says nothing about whether messages are
//! handled. Each loop reports its state here as it changes, and `/health`
//! answers 200 only while both run; a loop that failed makes it answer 503
//! with the loop's reason, at once rather than at shutdown.
//!
//! The states are watched (a `tokio::sync::watch`), so a caller can wait for
//! a change instead of polling.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;

/// Where one loop stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum LoopState {
    /// Spawned, not yet reading.
    Starting,
    /// Reading its consumer.
    Running,
    /// Ended at shutdown.
    Stopped,
    /// Ended before shutdown, or never started: it handles nothing until the
    /// service is restarted. The reason names what failed, never a message's
    /// content.
    Failed { reason: String },
}

/// One loop's state, shared by the loop (which sets it) and the API (which
/// reads it).
#[derive(Debug, Clone)]
pub struct LoopHealth {
    state: Arc<watch::Sender<LoopState>>,
}

impl Default for LoopHealth {
    fn default() -> Self {
        Self {
            state: Arc::new(watch::Sender::new(LoopState::Starting)),
        }
    }
}

impl LoopHealth {
    pub fn get(&self) -> LoopState {
        self.state.borrow().clone()
    }

    pub fn set(&self, state: LoopState) {
        self.state.send_replace(state);
    }

    /// Marks the loop failed with `reason`.
    pub fn fail(&self, reason: impl Into<String>) {
        self.set(LoopState::Failed {
            reason: reason.into(),
        });
    }

    /// Waits until the state satisfies `ready`, and returns it.
    pub async fn wait_for(&self, ready: impl Fn(&LoopState) -> bool) -> LoopState {
        let mut changes = self.state.subscribe();
        // The sender lives as long as `self`, so the wait cannot fail.
        match changes.wait_for(|s| ready(s)).await {
            Ok(state) => state.clone(),
            Err(_) => self.get(),
        }
    }
}

/// The loops of one member's service.
#[derive(Debug, Clone, Default)]
pub struct Health {
    pub delivery: LoopHealth,
    pub receipts: LoopHealth,
}

impl Health {
    /// Whether both loops are running: the only state `/health` answers
    /// 200 to.
    pub fn is_healthy(&self) -> bool {
        self.delivery.get() == LoopState::Running && self.receipts.get() == LoopState::Running
    }

    /// One word for the whole service: `ok`, `failed` if a loop failed,
    /// else `stopped` or `starting`.
    pub fn status(&self) -> &'static str {
        let states = [self.delivery.get(), self.receipts.get()];
        if states.iter().all(|s| *s == LoopState::Running) {
            "ok"
        } else if states.iter().any(|s| matches!(s, LoopState::Failed { .. })) {
            "failed"
        } else if states.contains(&LoopState::Stopped) {
            "stopped"
        } else {
            "starting"
        }
    }

    /// Waits until neither loop is starting any more.
    pub async fn started(&self) {
        let started = |s: &LoopState| *s != LoopState::Starting;
        self.delivery.wait_for(started).await;
        self.receipts.wait_for(started).await;
    }

    /// The reason of the first loop that failed, named.
    pub fn failure(&self) -> Option<String> {
        [("delivery", &self.delivery), ("receipt", &self.receipts)]
            .into_iter()
            .find_map(|(name, l)| match l.get() {
                LoopState::Failed { reason } => Some(format!("the {name} loop failed: {reason}")),
                _ => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_two_running_loops_are_healthy_and_a_failure_wins() {
        let health = Health::default();
        assert_eq!(health.status(), "starting");
        health.delivery.set(LoopState::Running);
        assert!(!health.is_healthy());
        health.receipts.set(LoopState::Running);
        assert!(health.is_healthy());
        assert_eq!(health.status(), "ok");
        health.receipts.set(LoopState::Stopped);
        assert_eq!(health.status(), "stopped");
        health.delivery.fail("consumer gone");
        assert_eq!(health.status(), "failed");
        assert_eq!(
            health.failure().as_deref(),
            Some("the delivery loop failed: consumer gone")
        );
        assert_eq!(
            serde_json::to_value(health.delivery.get()).expect("json"),
            serde_json::json!({"state": "failed", "reason": "consumer gone"})
        );
    }
}
