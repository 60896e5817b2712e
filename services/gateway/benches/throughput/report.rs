//! What a run prints: the machine and the settings, each path's figures,
//! the ratio of each round and, over several rounds, a summary.

use std::time::Duration;

use homeward_gateway::stats::StatsSnapshot;

use crate::cpu::{CpuTimes, cpu_model};
use crate::options::Options;
use crate::tracker::Phase;
use crate::{MESSAGE_TYPE, Path, RECIPIENTS};

/// What one path measured.
#[derive(Debug)]
pub struct PathResult {
    pub path: Path,
    pub measured: Phase,
    pub submit_time: Duration,
    /// One phase per offered rate, in `--rate` order.
    pub paced: Vec<Phase>,
    pub stages: Option<StatsSnapshot>,
    pub cpu: CpuTimes,
    pub load_before: String,
}

/// One path's figures.
pub fn path(r: &PathResult) {
    let m = &r.measured;
    println!(
        "  {:<8} {:>8.0} msg/s  ({} in {:.2} s; submitted in {:.2} s)  submit→delivery p50 {} p99 {}  [load before: {}]",
        r.path.label(),
        m.rate(),
        m.messages,
        m.elapsed.as_secs_f64(),
        r.submit_time.as_secs_f64(),
        ms(m.percentile(50.0)),
        ms(m.percentile(99.0)),
        r.load_before,
    );
    let per = |d: Duration| d.as_secs_f64() * 1e6 / m.messages as f64;
    println!(
        "  {:<8} CPU per submission: {} {:.0} µs, nats-server {:.0} µs, submitter and recipients {:.0} µs",
        "",
        r.path.name(),
        per(r.cpu.broker),
        per(r.cpu.server),
        per(r.cpu.process.saturating_sub(r.cpu.broker)),
    );
    for p in &r.paced {
        println!(
            "  {:<8} paced {:.0}/s: submit→delivery p50 {} p99 {} max {}",
            "",
            p.rate(),
            ms(p.percentile(50.0)),
            ms(p.percentile(99.0)),
            ms(p.latencies.last().copied().unwrap_or_default()),
        );
    }
    if let Some(s) = &r.stages {
        let wall = s.wall.as_secs_f64().max(1e-9);
        let per = |d: Duration| d.as_secs_f64() * 1e6 / s.submissions.max(1) as f64;
        let describe = |in_write_loop: bool| {
            s.stages
                .iter()
                .filter(|(stage, _)| stage.in_write_loop() == in_write_loop)
                .map(|(stage, d)| {
                    format!(
                        "{} {:.1} µs ({:.0}%)",
                        stage.as_str(),
                        per(*d),
                        100.0 * d.as_secs_f64() / wall
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "  {:<8} gateway time per submission (share of the phase's wall time), {} batches:",
            "", s.batches
        );
        println!("  {:<10} decide loop: {}", "", describe(false));
        println!("  {:<10} write loop:  {}", "", describe(true));
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// The machine, the message and the settings, before the first round.
pub fn preamble(
    options: &Options,
    version: (u32, u32, u32),
    sample: usize,
    batch_size: usize,
    check_cost: Duration,
) {
    println!("Homeward gateway throughput benchmark");
    println!(
        "machine: {} cores, {}; nats-server v{}.{}.{} (file storage, {})",
        std::thread::available_parallelism().map_or(0, usize::from),
        cpu_model(),
        version.0,
        version.1,
        version.2,
        if options.nodes > 1 {
            format!("a cluster of {} nodes, 3 replicas", options.nodes)
        } else {
            "1 replica".to_owned()
        }
    );
    println!(
        "message: {MESSAGE_TYPE} ({}), {sample} bytes signed, from aanes.camps to {}",
        options.example,
        RECIPIENTS.join(" and ")
    );
    println!(
        "per path: fresh deployment; {} warm-up, {} measured (windows of {}), {}; batch size {batch_size}",
        options.warmup,
        options.messages,
        options.window,
        if options.rates.is_empty() || options.paced == 0 {
            "no paced phase".to_owned()
        } else {
            let rates: Vec<String> = options.rates.iter().map(|r| format!("{r}/s")).collect();
            format!("{} paced at each of {}", options.paced, rates.join(", "))
        }
    );
    println!(
        "check() alone, one core: {:.1} µs per submission (at most {:.0} msg/s per core)",
        check_cost.as_secs_f64() * 1e6,
        1.0 / check_cost.as_secs_f64()
    );
}

/// The gateways against the relay in one round; returns, per gateway
/// count, the gateways' and the relay's throughput and their ratio.
pub fn round(results: &[PathResult]) -> Vec<(usize, f64, f64, f64)> {
    let of = |p: Path| results.iter().find(|r| r.path == p);
    let rate = |p: Path| of(p).map_or(0.0, |r| r.measured.rate());
    let cpu = |p: Path| {
        of(p).map_or(0.0, |r| {
            r.cpu.broker.as_secs_f64() * 1e6 / r.measured.messages as f64
        })
    };
    let one = rate(Path::Gateway(1));
    let mut out = Vec::new();
    for r in results {
        let Path::Gateway(n) = r.path else { continue };
        let path = Path::Gateway(n);
        let ratio = rate(path) / rate(Path::Relay);
        let scaling = if n > 1 && one > 0.0 {
            format!("; {:.2}× one gateway's throughput", rate(path) / one)
        } else {
            String::new()
        };
        println!(
            "  ratio {}/relay: {ratio:.2} (throughput); {:.1}× the relay's CPU per submission{scaling}",
            path.label(),
            cpu(path) / cpu(Path::Relay).max(1e-9)
        );
        out.push((n, rate(path), rate(Path::Relay), ratio));
    }
    out
}

/// Every round's figures, when there was more than one.
pub fn summary(rounds: &[Vec<(usize, f64, f64, f64)>]) {
    if rounds.len() > 1 {
        println!("\nsummary");
        for (i, round) in rounds.iter().enumerate() {
            for (n, g, r, ratio) in round {
                println!(
                    "  round {}: {} {g:>8.0} msg/s, relay {r:>8.0} msg/s, ratio {ratio:.2}",
                    i + 1,
                    Path::Gateway(*n).label()
                );
            }
        }
    }
}
