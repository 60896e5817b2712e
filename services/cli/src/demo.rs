//! `homeward demo`: Homeward on an embedded nats-server, with a sample flow.
//!
//! Starts the pinned nats-server on a free port with its own store, makes
//! development keys for every member of the demo policy, starts a gateway
//! and the recipients' consumers, and walks one synthetic Kazakh family from
//! the camp to its handover, printing each decision and each verified
//! delivery. A forged message shows a rejection. Without `--once` it keeps
//! running so operators can follow with `homeward watch`.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Duration;

use homeward_core::client::{Delivery, HandlerError};
use homeward_core::envelope::{Envelope, EnvelopeBuilder};
use homeward_core::receipt::Decision;
use homeward_core::schema::embedded_examples;
use homeward_core::{MemberId, shutdown};
use homeward_gateway::local::{Local, LocalOptions};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The sample family's case, present in the examples of every step.
const CASE: &str = "HOL-P5-000123";

/// The steps of the sample flow, in lifecycle order.
const STEPS: [&str; 8] = [
    "camp.resident.located",
    "identity.verification.requested",
    "identity.verification.completed",
    "repatriation.requested",
    "repatriation.decided",
    "operation.scheduled",
    "handover.completed",
    "handover.acknowledged",
];

const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Exit after the sample flow instead of running until Ctrl-C.
    #[arg(long)]
    once: bool,
}

/// The example of `kind` about the sample family.
fn step_example(kind: &str) -> anyhow::Result<Value> {
    embedded_examples(kind)
        .into_iter()
        .map(|(_, text)| serde_json::from_str::<Value>(&text))
        .filter_map(Result::ok)
        .find(|v| v["subject"] == CASE)
        .ok_or_else(|| anyhow::anyhow!("no example of {kind} for case {CASE}"))
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    println!(
        "Homeward demo: starting an embedded nats-server, keys for every member, and a gateway"
    );
    let local = Local::start(LocalOptions::default()).await?;
    println!(
        "  nats-server {}  (store {})",
        local.url(),
        local.server.store_dir().display()
    );
    println!(
        "  authorization generated from the policy: every member, the gateway and the operator connect with their own NATS key"
    );
    let gateway = local
        .spawn_gateway(local.gateway_config("gw-demo")?)
        .await?;

    // Every member the flow reaches runs a consumer that verifies and reports.
    let stop = CancellationToken::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, String, String)>();
    let mut consumers = Vec::new();
    for member in [
        "kz.mfa",
        "kz.security",
        "kz.interior",
        "kz.rehab",
        "aanes.camps",
    ] {
        let client = local.member(member).await?;
        let tx = tx.clone();
        let stop = stop.clone();
        consumers.push(tokio::spawn(async move {
            let me = client.member().to_string();
            client
                .run_deliveries(stop, move |d: Delivery| {
                    let _ = tx.send((
                        me.clone(),
                        d.envelope.message_type().to_owned(),
                        d.envelope.id().to_owned(),
                    ));
                    async { Ok::<(), HandlerError>(()) }
                })
                .await
        }));
    }

    println!("\nOne family ({CASE}, synthetic), from the camp to the handover:");
    let mut previous: Option<String> = None;
    let mut accepted = 0;
    for kind in STEPS {
        let example = step_example(kind)?;
        let sender = MemberId::from_source(example["source"].as_str().unwrap_or_default())?;
        let client = local.member(sender.as_str()).await?;
        let mut builder = EnvelopeBuilder::new(
            kind,
            example["dataschema"].as_str().unwrap_or_default(),
            example["data"].clone(),
        )
        .subject(CASE);
        if let Some(p) = &previous {
            builder = builder.causationid(p.clone());
        }
        let envelope = client.sign(builder)?;
        let mut receipts = client.receipts().await?;
        client.submit(&envelope).await?;
        let (_, receipt) = receipts.wait_for(envelope.id(), WAIT).await?;
        match receipt.decision {
            Decision::Accepted => {
                accepted += 1;
                println!(
                    "  {:<12} {kind:<32} accepted → {}",
                    sender.as_str(),
                    receipt.recipients.join(", ")
                );
                let mut waiting: BTreeSet<String> = receipt.recipients.iter().cloned().collect();
                let deadline = tokio::time::Instant::now() + WAIT;
                while !waiting.is_empty() {
                    let Ok(Some((member, _, id))) =
                        tokio::time::timeout_at(deadline, rx.recv()).await
                    else {
                        anyhow::bail!(
                            "deliveries of {kind} did not all arrive: {waiting:?} still waiting"
                        );
                    };
                    if id == envelope.id() && waiting.remove(&member) {
                        println!(
                            "  {:<12} {:<32}   ↳ {member} received it, signature verified",
                            "", ""
                        );
                    }
                }
            }
            Decision::Rejected => {
                println!(
                    "  {:<12} {kind:<32} REJECTED {:?}",
                    sender.as_str(),
                    receipt.codes()
                );
                anyhow::bail!("the sample flow was rejected at {kind}");
            }
        }
        previous = Some(envelope.id().to_owned());
    }

    println!("\nA forged message: the located family's data changed after signing:");
    let camps = local.member("aanes.camps").await?;
    let example = step_example("camp.resident.located")?;
    let genuine = camps.sign(
        EnvelopeBuilder::new(
            "camp.resident.located",
            example["dataschema"].as_str().unwrap_or_default(),
            example["data"].clone(),
        )
        .subject(CASE),
    )?;
    let mut forged = genuine.to_value();
    forged["data"]["claimedNationality"] = Value::from("UZ");
    let forged = Envelope::from_value(forged)?;
    let mut receipts = camps.receipts().await?;
    camps.submit(&forged).await?;
    let (_, receipt) = receipts.wait_for(forged.id(), WAIT).await?;
    for reason in &receipt.reasons {
        println!(
            "  aanes.camps  camp.resident.located             REJECTED {}: {}",
            reason.code, reason.message
        );
    }

    // Read as the operator console does, under its read-only NATS user.
    let operator = homeward_core::MemberId::parse("homeward.operator")?;
    let nats = homeward_core::client::connect(
        &local.connection_as(operator.as_str())?,
        Some(&operator),
        "demo-audit",
    )
    .await?;
    let js = async_nats::jetstream::new(nats);
    let records = crate::audit::read_records(&js).await?;
    match homeward_core::audit::verify_chain(records) {
        Ok(n) => println!(
            "\nAudit chain intact: {n} records, one per decision ({accepted} accepted, 1 rejected)"
        ),
        Err(broken) => anyhow::bail!("{broken}"),
    }

    if !args.once {
        println!(
            "\nHomeward is running at {}. In another terminal:",
            local.url()
        );
        println!(
            "  cargo run -q -p homeward-cli -- watch --nats {} --nkey {} --from-start",
            local.url(),
            homeward_core::devkeys::nats_seed_path(local.keys_dir(), "homeward.operator").display()
        );
        println!("Ctrl-C to stop.");
        shutdown::on_signal().cancelled().await;
    }
    stop.cancel();
    for c in consumers {
        let _ = c.await;
    }
    gateway.stop().await?;
    println!("stopped");
    Ok(ExitCode::SUCCESS)
}
