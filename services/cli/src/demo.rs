//! `homeward demo`: all of Homeward on an embedded nats-server.
//!
//! Starts the pinned nats-server on a free port with its own store, under
//! the authorization generated from the demo policy; makes development keys
//! for every member; starts the gateway and a ministry service for every
//! member (camp administrations, the foreign, security, interior and
//! rehabilitation services of five states); shows a forged message being
//! rejected; then replays Kazakhstan's operation Zhusan (three rounds),
//! Uzbekistan's Mehr-1 and one Kazakh family carried on Tajikistan's flight
//! through the services' APIs (each with its own random token), with
//! progress; prints one family's timeline
//! and the report; and verifies the audit chain. Without `--once` it keeps
//! running so operators can follow with `homeward watch`.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use homeward_core::envelope::{Envelope, EnvelopeBuilder};
use homeward_core::schema::{embedded_examples, message_schema_id};
use homeward_core::{MemberId, client, shutdown};
use homeward_replay::replay::{self, Progress};
use homeward_replay::world::World;
use homeward_replay::{plan, replay::import_census};
use homeward_scenario::population::Population;
use homeward_testkit::local::{Local, LocalOptions};
use serde_json::Value;

use crate::progress::bar;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Exit after the report instead of running until Ctrl-C.
    #[arg(long)]
    once: bool,
    /// The seed of the synthetic population.
    #[arg(long, default_value_t = 2019)]
    seed: u64,
    /// Families moving through the lifecycle at once.
    #[arg(long, default_value_t = 12)]
    concurrency: usize,
    /// Where the services' logs go, so that the demo's own output reads as
    /// a report; a file in the temporary folder when omitted.
    #[arg(long, value_name = "FILE")]
    log: Option<std::path::PathBuf>,
}

/// Sends every service's log lines to a file instead of the terminal: the
/// demo's output is for a person. Returns the file's path.
pub fn log_to_file(args: &DemoArgs) -> anyhow::Result<std::path::PathBuf> {
    let path = args.log.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("homeward-demo-{}.log", std::process::id()))
    });
    let file =
        std::fs::File::create(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned());
    let subscriber = homeward_core::telemetry::subscriber(
        &directives,
        "info",
        false,
        std::sync::Mutex::new(file),
    );
    tracing::subscriber::set_global_default(subscriber)?;
    Ok(path)
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let log = log_to_file(&args)?;
    println!("Homeward demo: an embedded nats-server, the gateway and every ministry service");
    println!("  the services log to {}", log.display());
    let local = Local::start(LocalOptions::default()).await?;
    println!(
        "  nats-server {}  (store {})",
        local.url(),
        local.server.store_dir().display()
    );
    println!(
        "  accounts generated from the policy: each member, the gateway and the operator has its own NATS account and key; TLS on every connection"
    );
    let world = World::start(&local).await?;
    println!(
        "  {} ministry services running, each with its HTTP API:",
        world.apis.len()
    );
    for (member, addr) in &world.apis {
        if ["aanes", "iq", "kz", "tj"].contains(&member.party()) {
            println!("    {:<14} http://{addr}", member.as_str());
        }
    }
    println!("    … and the services of uz, kg, tm and icrc");
    println!(
        "  each API takes only its member's bearer token, a random one per service in {}/<member>.api-token",
        local.keys_dir().display()
    );
    let api = homeward_replay::api::of_world(&world)?;
    let console_stop = tokio_util::sync::CancellationToken::new();
    let mut console_tasks = tokio::task::JoinSet::new();
    let console = start_console(&local, console_stop.clone(), &mut console_tasks).await?;
    println!(
        "  the operator console (metadata only: flows, rejections, backlogs, services, case timelines, late cases, the audit chain):"
    );
    println!(
        "    console: http://{}/  token: {}",
        console.0,
        console.1.expose()
    );

    println!("\nA forged message (the data changed after signing) is rejected:");
    let camps = local.member("aanes.camps").await?;
    let (_, text) = embedded_examples("camp.resident.located")
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no example of camp.resident.located"))?;
    let example: Value = serde_json::from_str(&text)?;
    let genuine = camps.sign(
        EnvelopeBuilder::new(
            "camp.resident.located",
            &message_schema_id("camp.resident.located", 1),
            example["data"].clone(),
        )
        .subject(example["subject"].as_str().unwrap_or_default()),
    )?;
    let mut forged = genuine.to_value();
    forged["data"]["claimedNationality"] = Value::from("UZ");
    let forged = Envelope::from_value(forged)?;
    camps.submit(&forged).await?;
    // The camp registry's own service reads aanes.camps' receipts, so look
    // at the decision as an operator does: on the audit record.
    let operator = MemberId::parse("homeward.operator")?;
    let operator_nats = client::connect(
        &local.connection_as(operator.as_str())?,
        Some(&operator),
        "demo-operator",
    )
    .await?;
    let record = wait_for_audit(&operator_nats, forged.id()).await?;
    println!(
        "  aanes.camps  camp.resident.located  {} {}",
        record.decision.to_uppercase(),
        record.codes.join(",")
    );

    let population = Population::generate(args.seed);
    let plans = plan::plans(&population);
    let people: usize = plans.iter().map(|p| p.persons.len()).sum();
    println!(
        "\nThe scenario (seed {}): Zhusan rounds 1–3, Mehr-1 and a transit family: {} families, {people} people, all synthetic",
        args.seed,
        plans.len()
    );
    let progress = Arc::new(Progress::default());
    println!("  importing the camp census into aanes.camps");
    let ticker = bar(
        progress.clone(),
        |p| {
            (
                p.imported.load(Ordering::Relaxed),
                p.to_import.load(Ordering::Relaxed),
            )
        },
        "families sent",
    );
    let imported = import_census(
        &api,
        plan::CAMP_AUTHORITY,
        population.census_csv().as_bytes(),
        plan::REGISTERED_ON,
        &progress,
    )
    .await;
    ticker.finish().await;
    imported?;
    println!(
        "  every family through identity, release, operation, handover, arrival, rehabilitation, screening, custody, documents and reintegration"
    );
    let ticker = bar(
        progress.clone(),
        |p| {
            (
                p.done.load(Ordering::Relaxed),
                p.total.load(Ordering::Relaxed),
            )
        },
        "families done",
    );
    let started = std::time::Instant::now();
    let result = replay::run(
        &api,
        Vec::new(),
        plan::REGISTERED_ON,
        plans.clone(),
        args.concurrency,
        progress.clone(),
    )
    .await;
    ticker.finish().await;
    result?;
    println!("  done in {:.1} s", started.elapsed().as_secs_f64());

    if let Some(transit) = plans.iter().find(|p| p.carrier.is_some()) {
        println!(
            "\nThe transit family {} as kz.mfa recorded it (one line per step):",
            transit.case_ref
        );
        let case = api
            .wait_case("kz.mfa", &transit.case_ref, "the case", |_| true)
            .await?;
        for e in case["events"].as_array().into_iter().flatten() {
            let what = e["what"].as_str().unwrap_or("");
            let party = e["party"]
                .as_str()
                .map(|p| format!(" from {p}"))
                .unwrap_or_default();
            println!("  {}  {what}{party}", e["time"].as_str().unwrap_or(""));
        }
    }

    let report = world.report().await?;
    println!(
        "\nReport (each state's from its foreign ministry's service; handed a/c = adults/children):"
    );
    print!("{}", report.render());

    // Read the audit chain as the operator console does, under its
    // read-only NATS user.
    let records = homeward_core::console::read_audit(&operator_nats).await?;
    match homeward_core::audit::verify_chain(records) {
        Ok(summary) => println!("\n{summary} (one per gateway decision)"),
        Err(broken) => anyhow::bail!("{broken}"),
    }

    if !args.once {
        let operator_key = local.keys_dir().join("homeward.operator.nats.nk");
        println!(
            "\nHomeward is running at {}. In another terminal:",
            local.url()
        );
        let ca = local
            .tls_ca()
            .map(|ca| format!(" --tls-ca {}", ca.display()))
            .unwrap_or_default();
        println!(
            "  cargo run -q -p homeward-cli -- watch --nats {}{ca} --nkey {} --from-start",
            local.url(),
            operator_key.display()
        );
        let camps = world.api_token_file(plan::CAMP_AUTHORITY)?;
        println!(
            "  curl -H \"Authorization: Bearer $(cat {})\" {}/cases",
            camps.display(),
            world.api(plan::CAMP_AUTHORITY)?
        );
        println!("Ctrl-C to stop.");
        shutdown::on_signal().cancelled().await;
    }
    console_stop.cancel();
    while let Some(done) = console_tasks.join_next().await {
        done??;
    }
    world.stop().await?;
    println!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The operator console on a free loopback port, as the operator, with a
/// random token (also written to `<keys dir>/console.api-token`).
async fn start_console(
    local: &Local,
    stop: tokio_util::sync::CancellationToken,
    tasks: &mut tokio::task::JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<(std::net::SocketAddr, homeward_ministry::api::ApiToken)> {
    let operator = MemberId::parse(homeward_console::settings::DEFAULT_OPERATOR)?;
    let nats = client::connect(
        &local.connection_as(operator.as_str())?,
        Some(&operator),
        "homeward-console",
    )
    .await?;
    let token = homeward_testkit::service::token();
    let token_file = local.keys_dir().join("console.api-token");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(
        &mut options.open(&token_file)?,
        format!("{}\n", token.expose()).as_bytes(),
    )?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let serving = homeward_console::serve_on(
        nats,
        local.policy.clone(),
        homeward_console::ConsoleConfig::new(operator),
        listener,
        (&token, &[]),
        stop,
        tasks,
    )?;
    Ok((serving.addr, token))
}

/// Waits for the audit record of the envelope `id`.
async fn wait_for_audit(
    operator: &async_nats::Client,
    id: &str,
) -> anyhow::Result<homeward_core::audit::AuditRecord> {
    use homeward_core::console::{AuditTail, ReadFrom};
    let mut tail = AuditTail::open(operator, ReadFrom::Start).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let Some((_, bytes)) = tail.next_before(deadline).await? else {
            anyhow::bail!("no decision on {id} within 30 s")
        };
        if let Some(record) = homeward_core::audit::parse_record(&bytes)
            && record.envelope_id.as_deref() == Some(id)
        {
            return Ok(record);
        }
    }
}
