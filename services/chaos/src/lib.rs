//! The fault harness (issue 13, item 1).
//!
//! It runs a site as deployed ([`site`]): nats-server with
//! `sync_interval: always`, the gateway (`homeward-gateway`) and one
//! process per ministry role (`homeward-camp-registry`,
//! `homeward-foreign-affairs`, …), each from its binary and a settings
//! file. It drives the Zhusan/Mehr replay through the services' APIs, with
//! a client that rides through a service being down
//! ([`homeward_ministry::api_client::ApiClient::riding_through_restarts`]).
//! Meanwhile, on a schedule drawn from a seed, it sends SIGKILL to one
//! process at a random moment, waits a random time, and starts it again;
//! over and over, every kind of process in turn (in an order shuffled each
//! round), the server included, until the replay ends.
//!
//! Then it checks what must hold whatever was killed when:
//! - the report equals the public figures ([`homeward_replay::figures`]);
//! - no case of any service applied a message twice, nor recorded sending
//!   one twice;
//! - no recipient holds a delivery twice, and every submission has exactly
//!   one audit record on a chain that verifies
//!   ([`homeward_testkit::invariants`]);
//! - no process ended by itself.
//!
//! The seed is printed first, so a failure can be replayed:
//! `homeward-chaos --seed N` (or `scripts/chaos`).

pub mod process;
pub mod site;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use homeward_foreign_affairs::report::Report;
use homeward_ministry::api_client::ApiClient;
use homeward_replay::replay::{self, Progress};
use homeward_replay::{figures, plan};
use homeward_scenario::population::Population;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::process::Binaries;
use crate::site::{READY_WITHIN, Site};

/// The process name the server goes by in the schedule.
pub const SERVER: &str = "nats-server";

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    /// Time between a restart and the next kill, drawn uniformly (ms).
    pub between_ms: Range<u64>,
    /// Time a killed process stays down, drawn uniformly (ms).
    pub down_ms: Range<u64>,
    /// Families the replay drives at once.
    pub concurrency: usize,
    /// Kills the run must reach: while short of them, the time to the next
    /// kill is shortened (to 300 ms at least) so that they fit in what the
    /// replay's pace so far says is left of it.
    pub min_kills: usize,
}

impl Options {
    pub fn with_seed(seed: u64) -> Self {
        Self {
            seed,
            between_ms: 1500..4000,
            down_ms: 0..1000,
            concurrency: 8,
            min_kills: 20,
        }
    }
}

/// One kill.
#[derive(Debug, Clone)]
pub struct Kill {
    /// Since the replay started.
    pub at: Duration,
    pub process: String,
    pub down: Duration,
}

/// What a run did and found.
#[derive(Debug)]
pub struct Outcome {
    pub seed: u64,
    pub kills: Vec<Kill>,
    /// The replay's duration, kills included.
    pub replay: Duration,
    pub deliveries: usize,
    pub submissions: u64,
    /// The report, rendered.
    pub report: String,
    /// Each process's largest resident set over all its runs, in KiB.
    pub peak_rss_kib: BTreeMap<String, u64>,
}

impl Outcome {
    /// Kills by process.
    pub fn kills_by_process(&self) -> BTreeMap<&str, usize> {
        let mut by = BTreeMap::new();
        for k in &self.kills {
            *by.entry(k.process.as_str()).or_default() += 1;
        }
        by
    }

    /// One line for the record.
    pub fn summary(&self) -> String {
        let by: Vec<String> = self
            .kills_by_process()
            .iter()
            .map(|(p, n)| format!("{p} {n}"))
            .collect();
        let rss: Vec<String> = self
            .peak_rss_kib
            .iter()
            .map(|(p, kib)| format!("{p} {:.1}", *kib as f64 / 1024.0))
            .collect();
        format!(
            "seed {}: {} kills ({}) in a {:.1} s replay; {} deliveries each held once, {} submissions each recorded once, chain verified, report equal to the public figures; peak RSS in MiB: {}",
            self.seed,
            self.kills.len(),
            by.join(", "),
            self.replay.as_secs_f64(),
            self.deliveries,
            self.submissions,
            rss.join(", ")
        )
    }
}

/// Which process a kill takes.
#[derive(Debug, Clone, Copy)]
enum Victim {
    Server,
    Process(usize),
}

/// One whole run: a fresh site, the replay under the kill schedule, the
/// checks. An error names the seed.
pub async fn run(options: &Options) -> anyhow::Result<Outcome> {
    let binaries = Binaries::find()?;
    let mut site = Site::start(&binaries).await?;
    let result = run_on(&mut site, options).await;
    let result = match result {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            // The schedule may have stopped between a kill and its start.
            if !site.local.server.running() {
                let _ = tokio::task::block_in_place(|| site.local.server.restart());
            }
            for p in &mut site.processes {
                if !p.alive() {
                    let _ = p.start();
                }
            }
            let state = state_of(&site, &e).await;
            let mut logs: Vec<String> = site
                .processes
                .iter()
                .map(|p| format!("--- {} (last lines) ---\n{}", p.name, p.log_tail(15)))
                .collect();
            logs.push(format!(
                "--- {SERVER} (warnings and errors) ---\n{}",
                server_complaints(&site, 30)
            ));
            Err(e.context(format!(
                "chaos run with seed {} failed\n{}\n--- state ---\n{state}",
                options.seed,
                logs.join("\n")
            )))
        }
    };
    site.stop().await;
    result
}

/// What a failed run left, for its report: every member's parked
/// deliveries and busy consumers, and how each service sees the case the
/// error names.
async fn state_of(site: &Site, error: &anyhow::Error) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let text = format!("{error:#}");
    let case = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|w| w.matches('-').count() == 2 && w.len() > 10 && w.starts_with(char::is_uppercase));
    let Ok(admin) = site.local.client("chaos-state").await else {
        return "the server cannot be reached".into();
    };
    let js = async_nats::jetstream::new(admin);
    for member in &site.members {
        if let Ok(parked) = site.api.parked(member).await
            && parked.as_array().is_some_and(|a| !a.is_empty())
        {
            let _ = writeln!(out, "{member} parked: {parked}");
        }
        if let Ok(id) = homeward_core::MemberId::parse(member) {
            let consumer: Result<async_nats::jetstream::consumer::PullConsumer, _> = js
                .get_consumer_from_stream(
                    homeward_core::subjects::delivery_consumer(&id),
                    homeward_core::subjects::DELIVER_STREAM,
                )
                .await;
            if let Ok(mut c) = consumer
                && let Ok(info) = c.info().await
                && (info.num_pending > 0 || info.num_ack_pending > 0 || info.num_redelivered > 0)
            {
                let _ = writeln!(
                    out,
                    "{member} deliveries: pending {}, unacked {}, redelivered {}",
                    info.num_pending, info.num_ack_pending, info.num_redelivered
                );
            }
        }
        if let Some(case) = case
            && let Ok(body) = site.api.case(member, case).await
        {
            let events: Vec<String> = body["case"]["events"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    format!(
                        "{} {}",
                        e["what"].as_str().unwrap_or("?"),
                        e["party"].as_str().unwrap_or("")
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "{member} {case}: stage {}, outbox {}, events {events:?}",
                body["case"]["stage"], body["case"]["outbox"]
            );
        }
    }
    if let Ok(mut c) = js
        .get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>(
            homeward_core::subjects::GATEWAY_CONSUMER,
            homeward_core::subjects::SUBMIT_STREAM,
        )
        .await
        && let Ok(info) = c.info().await
    {
        let _ = writeln!(
            out,
            "gateway consumer: pending {}, unacked {}, redelivered {}",
            info.num_pending, info.num_ack_pending, info.num_redelivered
        );
    }
    out
}

/// The last `lines` warnings and errors the server logged.
fn server_complaints(site: &Site, lines: usize) -> String {
    let path = site
        .local
        .server
        .store_dir()
        .join(homeward_testkit::natsd::SERVER_LOG);
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let bad: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("[ERR]") || l.contains("[WRN]"))
        .collect();
    bad[bad.len().saturating_sub(lines)..].join("\n")
}

async fn run_on(site: &mut Site, options: &Options) -> anyhow::Result<Outcome> {
    let population = Population::generate(2019);
    let api = site.api.clone();
    let concurrency = options.concurrency;
    let census = plan::census(&population);
    let plans = plan::plans(&population);
    let started = Instant::now();
    let (done, mut finished) = tokio::sync::watch::channel(false);
    let progress = Arc::new(Progress::default());
    let replay = async {
        let r = replay::run(
            &api,
            census,
            plan::REGISTERED_ON,
            plans,
            concurrency,
            progress.clone(),
        )
        .await;
        done.send_replace(true);
        r.map(|()| started.elapsed())
    };
    let chaos = async {
        let mut rng = StdRng::seed_from_u64(options.seed);
        let victims: Vec<Victim> = std::iter::once(Victim::Server)
            .chain((0..site.processes.len()).map(Victim::Process))
            .collect();
        let mut order: Vec<Victim> = Vec::new();
        let mut kills = Vec::new();
        loop {
            let mut between = Duration::from_millis(rng.gen_range(options.between_ms.clone()));
            let short = options.min_kills.saturating_sub(kills.len());
            let through = progress.done.load(std::sync::atomic::Ordering::Relaxed);
            let total = progress.total.load(std::sync::atomic::Ordering::Relaxed);
            if short > 0 && through > 0 && total > through {
                let left = started
                    .elapsed()
                    .mul_f64((total - through) as f64 / through as f64);
                let fit = left / (short as u32 + 1);
                between = between.min(fit).max(Duration::from_millis(300));
            }
            tokio::select! {
                _ = finished.wait_for(|d| *d) => return anyhow::Ok(kills),
                () = tokio::time::sleep(between) => {}
            }
            for p in &mut site.processes {
                if let Some(status) = p.exited() {
                    anyhow::bail!(
                        "{} ended by itself ({status}) {:.1} s into the replay",
                        p.name,
                        started.elapsed().as_secs_f64()
                    );
                }
            }
            if order.is_empty() {
                order = victims.clone();
                order.shuffle(&mut rng);
            }
            let victim = order.pop().expect("a victim");
            let down = Duration::from_millis(rng.gen_range(options.down_ms.clone()));
            let at = started.elapsed();
            // A kill always ends with a start: the replay goes on meanwhile.
            let name = match victim {
                Victim::Server => {
                    tokio::task::block_in_place(|| site.local.server.kill());
                    tokio::time::sleep(down).await;
                    tokio::task::block_in_place(|| site.local.server.restart())?;
                    SERVER.to_owned()
                }
                Victim::Process(i) => {
                    let p = &mut site.processes[i];
                    p.kill().await;
                    tokio::time::sleep(down).await;
                    p.start()?;
                    p.name.clone()
                }
            };
            println!(
                "kill {:>3}: {name:<16} at {:>6.1} s, down {:>3} ms; families through {}/{}",
                kills.len() + 1,
                at.as_secs_f64(),
                down.as_millis(),
                progress.done.load(std::sync::atomic::Ordering::Relaxed),
                progress.total.load(std::sync::atomic::Ordering::Relaxed),
            );
            kills.push(Kill {
                at,
                process: name,
                down,
            });
        }
    };
    let (replay_time, kills) = tokio::try_join!(replay, chaos)?;

    // Everything up again before anything is read.
    for p in &mut site.processes {
        if let Some(status) = p.exited() {
            anyhow::bail!("{} ended by itself ({status}) at the end", p.name);
        }
        p.ready(&site.http, READY_WITHIN).await?;
        p.sample_rss();
    }
    let peak_rss_kib = site
        .processes
        .iter()
        .map(|p| (p.name.clone(), p.peak_rss_kib))
        .collect();

    let mut reports = Vec::new();
    for m in &site.foreign_ministries {
        reports.push(Report::fetch(&site.api, m).await?);
    }
    let report = Report::merge(reports);
    let wrong = figures::check(&report, &population);
    anyhow::ensure!(
        wrong.is_empty(),
        "the report differs from the public figures:\n{}\n{}",
        wrong.join("\n"),
        report.render()
    );
    for member in &site.members {
        applied_once(&site.api, member).await?;
    }
    let js = async_nats::jetstream::new(site.local.client("chaos-check").await?);
    let deliveries = homeward_testkit::invariants::deliveries_held_once(&js)
        .await
        .map_err(anyhow::Error::msg)?;
    let submissions = homeward_testkit::invariants::each_submission_recorded_once(&js)
        .await
        .map_err(anyhow::Error::msg)?;
    Ok(Outcome {
        seed: options.seed,
        kills,
        replay: replay_time,
        deliveries,
        submissions,
        report: report.render(),
        peak_rss_kib,
    })
}

/// Every case of `member`, read through its API: each message applied
/// once (by sender and id), each sent once.
async fn applied_once(api: &ApiClient, member: &str) -> anyhow::Result<()> {
    let cases = api.cases(member).await?;
    for brief in cases.as_array().into_iter().flatten() {
        let case_ref = brief["caseRef"].as_str().unwrap_or_default();
        let body = api.case(member, case_ref).await?;
        let mut applied = BTreeSet::new();
        let mut sent = BTreeSet::new();
        for event in body["case"]["events"].as_array().into_iter().flatten() {
            let Some(id) = event["messageId"].as_str() else {
                continue;
            };
            let what = event["what"].as_str().unwrap_or_default();
            if what.starts_with("sent:") {
                anyhow::ensure!(
                    sent.insert(id.to_owned()),
                    "{member} sent {id} twice in {case_ref}"
                );
            } else if !what.contains(':') {
                let party = event["party"].as_str().unwrap_or_default().to_owned();
                anyhow::ensure!(
                    applied.insert((party, id.to_owned())),
                    "{member} applied {id} ({what}) twice in {case_ref}"
                );
            }
        }
    }
    Ok(())
}

impl Outcome {
    /// The kinds of process no kill took: the server, the gateway and
    /// each role's process must all have been killed.
    pub fn kinds_never_killed(&self) -> Vec<&'static str> {
        let by = self.kills_by_process();
        std::iter::once(SERVER)
            .chain(
                process::BINARIES
                    .iter()
                    .map(|b| b.trim_start_matches("homeward-")),
            )
            .filter(|p| !by.contains_key(p))
            .collect()
    }
}
