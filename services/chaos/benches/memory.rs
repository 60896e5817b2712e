//! Memory under load (issue 14, item 4): the site the fault harness runs
//! (nats-server at `sync_interval: always`, `homeward-gateway` and one
//! process per ministry role, each from its release binary and settings
//! file), given `--families` (5,000) Kazakh families' locations at once,
//! signed as `aanes.camps` and submitted as fast as the server acks them.
//! Each is decided by the gateway, opens a case at the Kazakh foreign
//! ministry, which asks the security service for verification: the
//! gateway at the rate the site takes, and the services with a backlog.
//! Every process's resident set is read every 200 ms until nothing waits
//! anywhere; printed: each one's peak (`VmHWM`), and the rate.
//!
//! ```sh
//! cargo build --release -p homeward-gateway -p homeward-camp-registry -p homeward-foreign-affairs \
//!   -p homeward-security -p homeward-interior -p homeward-rehabilitation --bins
//! cargo bench -p homeward-chaos --bench memory -- --families 5000
//! ```

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use async_nats::jetstream::{self, message::PublishMessage};
use homeward_chaos::process::Binaries;
use homeward_chaos::site::Site;
use homeward_core::envelope::EnvelopeBuilder;
use homeward_core::{MemberId, subjects};
use serde_json::Value;

const SENDER: &str = "aanes.camps";
const WATCHED: [&str; 2] = ["kz.mfa", "kz.security"];

fn families() -> anyhow::Result<usize> {
    let mut families = 5_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => {}
            "--families" => {
                let v = args.next().context("--families needs a count")?;
                families = v
                    .replace('_', "")
                    .parse()
                    .with_context(|| format!("--families {v:?} is not a count"))?;
            }
            other => bail!("unknown option {other}; options: --families N"),
        }
    }
    ensure!(families > 0, "--families must be at least 1");
    Ok(families)
}

/// The located example, made the family `n`'s: its case, family and
/// person references renumbered.
fn located(example: &Value, n: usize) -> Value {
    let case = format!("HOL-MEM-{n:06}");
    let mut data = example["data"].clone();
    data["caseRef"] = Value::from(case.clone());
    data["familyUnit"]["familyRef"] = Value::from(case.clone());
    data["familyUnit"]["head"] = Value::from(format!("{case}-01"));
    if let Some(members) = data["familyUnit"]["members"].as_array_mut() {
        for (i, m) in members.iter_mut().enumerate() {
            m["personRef"] = Value::from(format!("{case}-{:02}", i + 1));
        }
    }
    data
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Whether nothing waits: no submission undecided, no delivery of the
/// watched members untaken or unacked.
async fn settled(js: &jetstream::Context) -> anyhow::Result<bool> {
    let submit = js
        .get_stream(subjects::SUBMIT_STREAM)
        .await?
        .get_info()
        .await?;
    if submit.state.messages > 0 {
        return Ok(false);
    }
    let deliver = js.get_stream(subjects::DELIVER_STREAM).await?;
    for member in WATCHED {
        let name = subjects::delivery_consumer(&MemberId::parse(member)?);
        let mut consumer: jetstream::consumer::PullConsumer = deliver
            .get_consumer(&name)
            .await
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let info = consumer.info().await?;
        if info.num_pending > 0 || info.num_ack_pending > 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let families = families()?;
    let binaries = Binaries::find()?;
    let site = Site::start(&binaries).await?;
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../../schemas/messages/camp.resident.located/examples/v1/valid/orphan-siblings-annex.json",
    ))?;
    let example: Value = serde_json::from_str(&text)?;
    let sender = MemberId::parse(SENDER)?;
    let key = site.local.key(SENDER)?;
    let signed = (0..families)
        .map(|n| {
            let envelope = EnvelopeBuilder::new(
                "camp.resident.located",
                example["dataschema"].as_str().unwrap_or_default(),
                located(&example, n),
            )
            .subject(format!("HOL-MEM-{n:06}"))
            .sign(&sender, &key)?;
            Ok((envelope.id().to_owned(), envelope.to_bytes()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = site.local.member(SENDER).await?;
    let admin = jetstream::new(site.local.client("memory-bench").await?);
    let pids: Vec<(String, u32)> = site
        .processes
        .iter()
        .filter_map(|p| p.pid().map(|pid| (p.name.clone(), pid)))
        .collect();
    let before: Vec<u64> = pids.iter().map(|(_, pid)| rss_kib(*pid)).collect();
    let mut peak = before.clone();

    let started = Instant::now();
    let mut submitting = Some({
        let js = client.jetstream().clone();
        let subject = subjects::submit(&sender);
        tokio::spawn(async move {
            let mut acks = Vec::with_capacity(256);
            for (id, bytes) in signed {
                let publish = PublishMessage::build()
                    .payload(bytes.into())
                    .message_id(&id);
                acks.push(js.send_publish(subject.clone(), publish).await?);
                if acks.len() == 256 {
                    for ack in acks.drain(..) {
                        ack.await?;
                    }
                }
            }
            for ack in acks {
                ack.await?;
            }
            anyhow::Ok(Instant::now())
        })
    });
    let mut submitted = None;
    let deadline = Instant::now() + Duration::from_secs(1_800);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        for (i, (_, pid)) in pids.iter().enumerate() {
            peak[i] = peak[i].max(rss_kib(*pid));
        }
        if let Some(task) = submitting.take_if(|t| t.is_finished()) {
            submitted = Some(task.await??);
            continue;
        }
        if submitted.is_some() && settled(&admin).await? {
            break;
        }
        ensure!(Instant::now() < deadline, "not settled within 30 minutes");
    }
    let elapsed = started.elapsed();
    let submit_time = submitted.map(|t| t - started).unwrap_or_default();
    println!(
        "{families} families: submitted in {:.1} s ({:.0}/s), all decided and taken in {:.1} s ({:.0} families/s)",
        submit_time.as_secs_f64(),
        families as f64 / submit_time.as_secs_f64().max(1e-9),
        elapsed.as_secs_f64(),
        families as f64 / elapsed.as_secs_f64()
    );
    println!("| process | RSS before, MiB | peak RSS under the load, MiB |");
    println!("|---|---:|---:|");
    for (i, (name, _)) in pids.iter().enumerate() {
        println!(
            "| {name} | {:.1} | {:.1} |",
            before[i] as f64 / 1024.0,
            peak[i] as f64 / 1024.0
        );
    }
    site.stop().await;
    Ok(())
}
