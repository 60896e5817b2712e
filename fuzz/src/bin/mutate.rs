//! Runs the fuzz targets without libFuzzer, on the stable toolchain.
//!
//! First it checks the hostile corpus against the validator: each case gets
//! its expected code from `check::check` (replays excepted: the seen-ids
//! bucket is the gateway's, not the check's), so this crate's fixture agrees
//! with the gateway test. Then, for each target, it runs every seed and then
//! mutations of them, bounded by a count and a time, and stops at the first
//! panic, writing the input to `artifacts/<target>/` so it can be replayed
//! (`cargo fuzz run <target> <file>`, or `mutate --replay <target> <file>`).
//!
//! ```text
//! mutate [--target envelope|validator|all] [--seconds N] [--runs N]
//!        [--seed N] [--artifacts DIR] [--write-seeds DIR]
//! mutate --replay <target> <file>
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use homeward_core::MemberId;
use homeward_core::audit::sha256_hex;
use homeward_fuzz::mutator::{Rng, mutate};
use homeward_gateway::check::{self, Rules};

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 2] = [
    ("envelope", homeward_fuzz::envelope),
    ("validator", homeward_fuzz::validator),
];

struct Options {
    targets: Vec<(&'static str, Target)>,
    seconds: u64,
    runs: u64,
    seed: u64,
    artifacts: PathBuf,
    write_seeds: Option<PathBuf>,
    replay: Option<(String, PathBuf)>,
}

fn usage() -> String {
    "usage: mutate [--target envelope|validator|all] [--seconds N] [--runs N] [--seed N] \
     [--artifacts DIR] [--write-seeds DIR] | mutate --replay <target> <file>"
        .to_owned()
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        targets: TARGETS.to_vec(),
        seconds: 60,
        runs: u64::MAX,
        seed: 1,
        artifacts: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts"),
        write_seeds: None,
        replay: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n{}", usage()))
        };
        let number = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{v:?} is not a number"))
        };
        match arg.as_str() {
            "--target" => {
                let name = value()?;
                o.targets = TARGETS
                    .iter()
                    .copied()
                    .filter(|(t, _)| name == "all" || *t == name)
                    .collect();
                if o.targets.is_empty() {
                    return Err(format!("no target {name:?}\n{}", usage()));
                }
            }
            "--seconds" => o.seconds = number(value()?)?,
            "--runs" => o.runs = number(value()?)?,
            "--seed" => o.seed = number(value()?)?,
            "--artifacts" => o.artifacts = PathBuf::from(value()?),
            "--write-seeds" => o.write_seeds = Some(PathBuf::from(value()?)),
            "--replay" => {
                let target = value()?;
                let file = PathBuf::from(value()?);
                o.replay = Some((target, file));
            }
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("mutate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(o: &Options) -> anyhow::Result<bool> {
    if let Some((name, file)) = &o.replay {
        let (_, target) = TARGETS
            .iter()
            .find(|(t, _)| t == name)
            .ok_or_else(|| anyhow::anyhow!("no target {name:?}"))?;
        let input = std::fs::read(file)?;
        target(&input);
        println!("{name}: {} ran without a finding", file.display());
        return Ok(true);
    }
    let seeds = seeds()?;
    if let Some(dir) = &o.write_seeds {
        for (name, inputs) in &seeds {
            let dir = dir.join(name);
            std::fs::create_dir_all(&dir)?;
            for input in inputs {
                std::fs::write(
                    dir.join(format!("seed-{}", &sha256_hex(input)[..16])),
                    input,
                )?;
            }
        }
        println!("seeds written under {}", dir.display());
        return Ok(true);
    }
    if !corpus_agrees()? {
        return Ok(false);
    }
    for (name, target) in &o.targets {
        let inputs = &seeds
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, i)| i.clone())
            .unwrap_or_default();
        if !fuzz(name, *target, inputs, o)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The seeds of each target: the built corpus (with replays' originals,
/// which are valid envelopes); the validator's prefixed by the submitter.
fn seeds() -> anyhow::Result<Vec<(String, Vec<Vec<u8>>)>> {
    let mut envelope = Vec::new();
    let mut validator = Vec::new();
    for (case, built) in homeward_fuzz::seeds()? {
        let by = MemberId::parse(&case.by)?;
        for bytes in built.original.iter().chain([&built.bytes]) {
            validator.push(homeward_fuzz::validator_input(&by, bytes));
            envelope.push(bytes.clone());
        }
    }
    Ok(vec![
        ("envelope".to_owned(), envelope),
        ("validator".to_owned(), validator),
    ])
}

/// Whether `check::check` gives every corpus case its expected code.
fn corpus_agrees() -> anyhow::Result<bool> {
    let f = homeward_fuzz::fixture();
    let rules = Rules {
        schemas: &f.schemas,
        policy: &f.policy,
        time_window: Duration::from_secs(600),
    };
    let mut wrong = Vec::new();
    let seeds = homeward_fuzz::seeds()?;
    for (case, built) in &seeds {
        if case.replay {
            continue;
        }
        let by = MemberId::parse(&case.by)?;
        let codes = match check::check(&rules, Some(&by), &built.bytes, homeward_fuzz::NOW) {
            Ok(_) => vec!["accepted".to_owned()],
            Err(r) => r.reasons.iter().map(|r| r.code.to_string()).collect(),
        };
        if codes.iter().any(|c| c != case.expect.as_str()) {
            wrong.push(format!(
                "{}: {codes:?}, expected {}",
                case.name, case.expect
            ));
        }
    }
    if wrong.is_empty() {
        println!(
            "corpus: {} cases, each refused with its expected code",
            seeds.len()
        );
        Ok(true)
    } else {
        eprintln!(
            "corpus: {} cases decided otherwise:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
        Ok(false)
    }
}

/// Runs the seeds, then mutations until the count or the time is used up.
fn fuzz(name: &str, target: Target, seeds: &[Vec<u8>], o: &Options) -> anyhow::Result<bool> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(o.seconds);
    let mut rng = Rng::new(o.seed);
    let mut runs = 0u64;
    let mut try_one = |input: &[u8]| -> anyhow::Result<bool> {
        runs += 1;
        if std::panic::catch_unwind(|| target(input)).is_ok() {
            return Ok(true);
        }
        let path = save(&o.artifacts.join(name), input)?;
        eprintln!(
            "{name}: FINDING after {runs} runs; input saved to {}\n  replay: cargo run --manifest-path fuzz/Cargo.toml --no-default-features --bin mutate -- --replay {name} {}",
            path.display(),
            path.display()
        );
        Ok(false)
    };
    for seed in seeds {
        if !try_one(seed)? {
            return Ok(false);
        }
    }
    let fallback = vec![b"{}".to_vec()];
    let pool = if seeds.is_empty() { &fallback } else { seeds };
    let mut mutated = 0u64;
    while mutated < o.runs && Instant::now() < deadline {
        let pick = rng.below(pool.len());
        let input = mutate(&mut rng, &pool[pick], pool);
        if !try_one(&input)? {
            return Ok(false);
        }
        mutated += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{name}: {} seeds and {mutated} mutations in {secs:.1}s ({:.0} runs/s), no finding",
        seeds.len(),
        (seeds.len() as u64 + mutated) as f64 / secs.max(0.001)
    );
    if name == "validator" {
        let reached: Vec<String> = homeward_fuzz::outcomes()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(outcome, n)| format!("{outcome} {n}"))
            .collect();
        println!("validator decisions: {}", reached.join(", "));
    }
    Ok(true)
}

fn save(dir: &Path, input: &[u8]) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("crash-{}", &sha256_hex(input)[..16]));
    std::fs::write(&path, input)?;
    Ok(path)
}
