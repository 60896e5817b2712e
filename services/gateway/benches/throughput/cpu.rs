//! CPU time and machine readings from `/proc`: steadier than throughput on
//! a shared machine.

use std::path::PathBuf;
use std::time::Duration;

/// CPU time (user and system) spent so far by the broker's threads (named
/// after the path), by this whole process, and by the nats-server.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTimes {
    pub broker: Duration,
    pub process: Duration,
    pub server: Duration,
}

impl CpuTimes {
    /// `servers`: the pids of the nats-servers (a cluster's every node),
    /// whose CPU times are summed.
    pub fn now(broker_threads: &str, servers: &[u32]) -> Self {
        let mut broker = Duration::ZERO;
        if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
            for task in tasks.flatten() {
                let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
                if comm.trim_end() == broker_threads {
                    broker += stat_cpu(&task.path().join("stat"));
                }
            }
        }
        Self {
            broker,
            process: stat_cpu(std::path::Path::new("/proc/self/stat")),
            server: servers
                .iter()
                .map(|pid| stat_cpu(&PathBuf::from(format!("/proc/{pid}/stat"))))
                .sum(),
        }
    }

    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes {
            broker: self.broker.saturating_sub(earlier.broker),
            process: self.process.saturating_sub(earlier.process),
            server: self.server.saturating_sub(earlier.server),
        }
    }
}

/// utime + stime from a `/proc/.../stat` file, in clock ticks of 10 ms
/// (USER_HZ is 100 on Linux).
fn stat_cpu(path: &std::path::Path) -> Duration {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let Some((_, rest)) = text.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the command: state is field 0, utime 11, stime 12.
    Duration::from_millis(10 * (ticks(11) + ticks(12)))
}

/// The pid of the nats-server whose store is `store`.
pub fn server_pid(store: &std::path::Path) -> Option<u32> {
    let store = store.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline);
            (cmdline.contains("nats-server") && cmdline.contains(&store)).then_some(pid)
        })
}

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".to_owned())
}
