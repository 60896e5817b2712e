//! The benchmark's options: flags, or `HW_BENCH_<NAME>` environment
//! variables.

use std::collections::HashMap;

use anyhow::{Context, anyhow, bail, ensure};

#[derive(Debug, Clone)]
pub struct Options {
    pub messages: usize,
    pub warmup: usize,
    pub window: usize,
    pub paced: usize,
    /// The offered rates of the paced phases, one after another; none
    /// skips them.
    pub rates: Vec<u32>,
    pub rounds: usize,
    pub example: String,
    /// How many gateways share the work queue, one path per count (each
    /// gateway on a runtime of its own, as its own process).
    pub gateways: Vec<usize>,
    /// nats-servers: 1, or a cluster of 3 with every stream replicated on
    /// all three.
    pub nodes: usize,
}

/// `--gateways`: counts, comma-separated.
fn counts(text: &str) -> anyhow::Result<Vec<usize>> {
    let mut out = Vec::new();
    for one in text.split(',') {
        let n: usize = one
            .trim()
            .parse()
            .with_context(|| format!("--gateways {one:?} is not a count"))?;
        ensure!((1..=8).contains(&n), "--gateways {n}: 1 to 8 gateways");
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

/// `--rate`: offered rates per second, comma-separated; `0` for none.
fn rates(text: &str) -> anyhow::Result<Vec<u32>> {
    let mut out = Vec::new();
    for one in text.split(',') {
        let rate: u32 = one
            .trim()
            .replace('_', "")
            .parse()
            .with_context(|| format!("--rate {one:?} is not a rate per second"))?;
        if rate > 0 {
            out.push(rate);
        }
    }
    Ok(out)
}

impl Options {
    const USAGE: &str = "options: --messages N --warmup N --window N --paced N --rate PER_SECOND[,PER_SECOND…] \
                         --rounds N --example FILE --gateways N[,N…] --nodes 1|3 (or HW_BENCH_<NAME> variables)";

    pub fn parse() -> anyhow::Result<Self> {
        let mut given: HashMap<String, String> = std::env::vars()
            .filter_map(|(k, v)| {
                k.strip_prefix("HW_BENCH_")
                    .map(|name| (name.to_ascii_lowercase(), v))
            })
            .collect();
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            // `cargo bench` passes `--bench` to every bench binary.
            if arg == "--bench" {
                continue;
            }
            if arg == "--help" || arg == "-h" {
                println!("{}", Self::USAGE);
                std::process::exit(0);
            }
            let Some(name) = arg.strip_prefix("--") else {
                bail!("unexpected argument {arg:?}; {}", Self::USAGE);
            };
            let (name, value) = match name.split_once('=') {
                Some((n, v)) => (n.to_owned(), v.to_owned()),
                None => (
                    name.to_owned(),
                    args.next()
                        .ok_or_else(|| anyhow!("--{name} needs a value"))?,
                ),
            };
            given.insert(name, value);
        }
        let rate_text = given.remove("rate");
        let gateways_text = given.remove("gateways");
        let mut take = |name: &str, default: usize| -> anyhow::Result<usize> {
            given.remove(name).map_or(Ok(default), |v| {
                v.replace('_', "")
                    .parse()
                    .with_context(|| format!("--{name} {v:?} is not a count"))
            })
        };
        let options = Self {
            messages: take("messages", 20_000)?,
            warmup: take("warmup", 2_000)?,
            window: take("window", 256)?,
            paced: take("paced", 1_000)?,
            rates: rates(rate_text.as_deref().unwrap_or("500,2000"))?,
            rounds: take("rounds", 1)?,
            nodes: take("nodes", 1)?,
            example: given
                .remove("example")
                .unwrap_or_else(|| "orphan-siblings-annex.json".to_owned()),
            gateways: counts(gateways_text.as_deref().unwrap_or("1"))?,
        };
        if let Some(name) = given.keys().next() {
            bail!("unknown option {name:?}; {}", Self::USAGE);
        }
        ensure!(options.messages > 0, "--messages must be at least 1");
        ensure!(
            (1..=4_000).contains(&options.window),
            "--window must be 1..=4000 (max_ack_inflight is 5000)"
        );
        ensure!(options.rounds > 0, "--rounds must be at least 1");
        ensure!(
            options.nodes == 1 || options.nodes == 3,
            "--nodes must be 1 or 3"
        );
        Ok(options)
    }
}
