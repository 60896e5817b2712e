//! Homeward's processes, each run from its binary and settings file as
//! deployed, killed with SIGKILL and started again.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};

/// The folder holding the binaries of the gateway and the ministry
/// services, built by cargo.
#[derive(Debug, Clone)]
pub struct Binaries {
    dir: PathBuf,
}

/// Every binary the harness runs.
pub const BINARIES: [&str; 6] = [
    "homeward-gateway",
    "homeward-camp-registry",
    "homeward-foreign-affairs",
    "homeward-security",
    "homeward-interior",
    "homeward-rehabilitation",
];

impl Binaries {
    /// `HOMEWARD_BIN_DIR` if set, else the cargo target folder this
    /// program runs from (`target/<profile>`, whether it is a test in
    /// `deps/` or the `homeward-chaos` binary itself). Every binary must be
    /// there.
    pub fn find() -> anyhow::Result<Self> {
        let candidates: Vec<PathBuf> = match std::env::var_os("HOMEWARD_BIN_DIR") {
            Some(dir) => vec![PathBuf::from(dir)],
            None => {
                let exe = std::env::current_exe().context("the running program's path")?;
                exe.ancestors()
                    .skip(1)
                    .take(2)
                    .map(Path::to_owned)
                    .collect()
            }
        };
        for dir in &candidates {
            if BINARIES.iter().all(|b| dir.join(b).is_file()) {
                return Ok(Self { dir: dir.clone() });
            }
        }
        anyhow::bail!(
            "the binaries {} are not all in {}: build them first (`cargo build --workspace --bins`, \
             with --release for a release run) or set HOMEWARD_BIN_DIR",
            BINARIES.join(", "),
            candidates
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(" or ")
        )
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// One process: its binary, its settings file, the log its output goes
/// to, and the `/health` URLs that say it is ready.
#[derive(Debug)]
pub struct Process {
    pub name: String,
    bin: PathBuf,
    config: PathBuf,
    log: PathBuf,
    health: Vec<String>,
    child: Option<Child>,
    /// How often it was started.
    pub starts: usize,
    /// The largest resident set any of its runs reached (`VmHWM`), in KiB,
    /// as last sampled: before each kill and at the end of a run.
    pub peak_rss_kib: u64,
}

impl Process {
    pub fn new(
        name: &str,
        bin: PathBuf,
        config: PathBuf,
        log: PathBuf,
        health: Vec<String>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            bin,
            config,
            log,
            health,
            child: None,
            starts: 0,
            peak_rss_kib: 0,
        }
    }

    /// Starts it, its output appended to its log.
    pub fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("log {}", self.log.display()))?;
        let mut command = Command::new(&self.bin);
        // Only its settings file configures it: HOMEWARD_* variables of
        // whoever runs the harness would override it.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("HOMEWARD_") {
                command.env_remove(name);
            }
        }
        let child = command
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        self.child = Some(child);
        self.starts += 1;
        Ok(())
    }

    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Reads the running process's peak resident set so far into
    /// [`Process::peak_rss_kib`].
    pub fn sample_rss(&mut self) {
        let Some(pid) = self.pid() else {
            return;
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let hwm = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0);
        self.peak_rss_kib = self.peak_rss_kib.max(hwm);
    }

    /// SIGKILL, and waits until it is gone.
    pub async fn kill(&mut self) {
        self.sample_rss();
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Whether it runs (it was started and has not ended).
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// How it ended, if it ended without being killed.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }

    /// Waits until every one of its `/health` URLs answers 200; fails if
    /// it exits meanwhile or `within` passes.
    pub async fn ready(&mut self, http: &reqwest::Client, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        for url in self.health.clone() {
            loop {
                if let Some(status) = self.exited() {
                    anyhow::bail!(
                        "{} exited ({status}) before it was ready:\n{}",
                        self.name,
                        self.log_tail(20)
                    );
                }
                let ok = http
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    anyhow::bail!(
                        "{} not ready at {url} within {within:?}:\n{}",
                        self.name,
                        self.log_tail(20)
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}
