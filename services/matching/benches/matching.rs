//! The matching bench: quality and runtime on a synthetic civil registry
//! extract and a degraded camp census, both from the scenario population
//! and a seed (see `homeward_matching::synthetic`).
//!
//! ```sh
//! cargo bench -p homeward-matching --bench matching
//! cargo bench -p homeward-matching --bench matching -- --seed 7 --records 1000000 --census 60000 --states KZ,UZ
//! ```
//!
//! For each state it prints the time to generate, to index the extract and
//! to match the whole census, then recall@1, recall@5, precision@1 and the
//! score threshold that keeps 99 % recall, by degradation and overall, as
//! the Markdown rows of BENCHMARKS.md ("Matching").

use std::time::Instant;

use anyhow::{Context, bail};
use homeward_matching::Matcher;
use homeward_matching::synthetic::{self, Degradation, Figures, Plan};
use homeward_scenario::population::Population;

struct Options {
    seed: u64,
    records: usize,
    census: usize,
    states: Vec<&'static str>,
    threads: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        seed: 1,
        records: 1_000_000,
        census: 60_000,
        states: vec!["KZ", "UZ"],
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        // `cargo bench` passes `--bench` to every bench target.
        if arg == "--bench" {
            continue;
        }
        let value = args
            .next()
            .with_context(|| format!("{arg} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .with_context(|| format!("{arg} {value}: not a number"))
        };
        match arg.as_str() {
            "--seed" => options.seed = value.parse().with_context(|| format!("--seed {value}"))?,
            "--records" => options.records = number()?,
            "--census" => options.census = number()?,
            "--threads" => options.threads = number()?,
            "--states" => {
                options.states = value
                    .split(',')
                    .map(|s| match s {
                        "KZ" => Ok("KZ"),
                        "UZ" => Ok("UZ"),
                        _ => bail!("--states {value}: the scenario has KZ and UZ"),
                    })
                    .collect::<anyhow::Result<_>>()?
            }
            _ => bail!(
                "unknown option {arg}; expected --seed, --records, --census, --threads or --states"
            ),
        }
    }
    Ok(options)
}

fn row(label: &str, f: &Figures) -> String {
    let threshold = f.threshold_for_99_recall();
    format!(
        "| {label} | {} | {:.3} | {:.3} | {:.3} | {} | {} |",
        f.people,
        f.recall_at_1(),
        f.recall_at_5(),
        f.precision_at_1(),
        threshold.map_or("not reached".into(), |t| format!("{t:.1}")),
        threshold.map_or("–".into(), |t| format!(
            "{:.2}",
            f.wrong_per_person_above(t)
        )),
    )
}

fn main() -> anyhow::Result<()> {
    let options = options()?;
    let population = Population::generate(options.seed);
    println!(
        "seed {}, extract of {} records, census of {} people, {} threads",
        options.seed, options.records, options.census, options.threads
    );
    for state in &options.states {
        let started = Instant::now();
        let data = synthetic::generate(
            &population,
            &Plan {
                nationality: state,
                seed: options.seed,
                extract_records: options.records,
                camp_people: options.census,
            },
        );
        let generated = started.elapsed();
        let records = data.extract.len();
        let people = data.camp_people();
        let started = Instant::now();
        let matcher = Matcher::new(data.extract).context("the synthetic extract")?;
        let indexed = started.elapsed();
        let started = Instant::now();
        let quality = synthetic::measure(&matcher, &data.units, options.threads);
        let matched = started.elapsed();
        println!();
        println!(
            "## {state}: {records} records, {people} camp people in {} units",
            data.units.len()
        );
        println!(
            "generate {:.1} s; index {:.1} s; match {:.1} s ({:.0} people/s); index + match {:.1} s",
            generated.as_secs_f64(),
            indexed.as_secs_f64(),
            matched.as_secs_f64(),
            people as f64 / matched.as_secs_f64(),
            (indexed + matched).as_secs_f64(),
        );
        println!();
        println!(
            "| degradation | people | recall@1 | recall@5 | precision@1 | threshold for 99 % recall | wrong candidates per person above it |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for kind in Degradation::ALL {
            if let Some(figures) = quality.by_degradation.get(&kind) {
                println!("{}", row(kind.as_str(), figures));
            }
        }
        println!("{}", row("**overall**", &quality.overall));
        // The scenario's own people, apart.
        let scenario: Vec<_> = data
            .units
            .iter()
            .filter(|u| u.persons.iter().all(|p| p.scenario))
            .cloned()
            .collect();
        let scenario_quality = synthetic::measure(&matcher, &scenario, options.threads);
        println!("{}", row("scenario people only", &scenario_quality.overall));
    }
    Ok(())
}
