//! `homeward-chaos`: the fault harness, one run or runs for N minutes.
//!
//! ```sh
//! scripts/chaos --minutes 30      # release binaries, new seeds each run
//! scripts/chaos --seed 1234       # replays one run exactly
//! ```

use std::time::{Duration, Instant};

use clap::Parser;

/// Kills Homeward's processes at random moments through the replay, and
/// checks that nothing was lost or done twice.
#[derive(Debug, Parser)]
struct Args {
    /// The first run's seed; each later run takes the next one. A random
    /// one when not given; it is printed either way.
    #[arg(long)]
    seed: Option<u64>,
    /// Keep starting runs until this many minutes have passed (one run
    /// when 0).
    #[arg(long, default_value_t = 0.0)]
    minutes: f64,
    /// Kills a run must reach for it to count (across every kind of
    /// process).
    #[arg(long, default_value_t = 20)]
    min_kills: usize,
    /// Families the replay drives at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Milliseconds between a restart and the next kill, drawn from this
    /// range (`from..to`).
    #[arg(long, value_parser = range, default_value = "1500..4000")]
    between_ms: std::ops::Range<u64>,
    /// Milliseconds a killed process stays down, drawn from this range.
    #[arg(long, value_parser = range, default_value = "0..1000")]
    down_ms: std::ops::Range<u64>,
}

fn range(text: &str) -> Result<std::ops::Range<u64>, String> {
    let (a, b) = text
        .split_once("..")
        .ok_or_else(|| format!("{text:?} is not a range like 200..1200"))?;
    let parse = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|e| format!("{t:?} in {text:?}: {e}"))
    };
    let (a, b) = (parse(a)?, parse(b)?);
    if a >= b {
        return Err(format!(
            "{text:?} is empty: its start must be below its end"
        ));
    }
    Ok(a..b)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let first = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let budget = Duration::from_secs_f64(args.minutes.max(0.0) * 60.0);
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for seed in first.. {
        println!("chaos seed {seed}");
        let mut options = homeward_chaos::Options::with_seed(seed);
        options.concurrency = args.concurrency;
        options.between_ms = args.between_ms.clone();
        options.down_ms = args.down_ms.clone();
        options.min_kills = args.min_kills;
        let outcome = homeward_chaos::run(&options).await?;
        println!("{}", outcome.summary());
        anyhow::ensure!(
            outcome.kills.len() >= args.min_kills,
            "seed {seed}: the replay ended after {} kills, fewer than {}",
            outcome.kills.len(),
            args.min_kills
        );
        let never = outcome.kinds_never_killed();
        anyhow::ensure!(never.is_empty(), "seed {seed}: never killed: {never:?}");
        outcomes.push(outcome);
        if started.elapsed() >= budget {
            break;
        }
    }
    let kills: usize = outcomes.iter().map(|o| o.kills.len()).sum();
    let mut by = std::collections::BTreeMap::<String, usize>::new();
    for o in &outcomes {
        for (p, n) in o.kills_by_process() {
            *by.entry(p.to_owned()).or_default() += n;
        }
    }
    println!(
        "{} runs (seeds {first}..={}), {kills} kills ({}) in {:.1} min: every check held",
        outcomes.len(),
        first + outcomes.len() as u64 - 1,
        by.iter()
            .map(|(p, n)| format!("{p} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        started.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}
