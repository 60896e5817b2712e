//! `homeward-gateway`: runs one gateway instance until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use homeward_core::{Policy, SchemaRegistry, client, settings, shutdown, telemetry};
use homeward_gateway::Gateway;
use homeward_gateway::settings::Settings;

/// The Homeward gateway.
#[derive(Debug, Parser)]
struct Args {
    /// Settings file (TOML); HOMEWARD_* environment variables override it.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Log as JSON lines.
    #[arg(long)]
    json_logs: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let settings: Settings = settings::load(args.config.as_deref(), "HOMEWARD")?;
    let _otlp = telemetry::init_exporting(
        "info",
        args.json_logs,
        "homeward-gateway",
        settings.otlp_endpoint.as_deref(),
    )?;
    let schemas = Arc::new(SchemaRegistry::embedded()?);
    let policy = Arc::new(Policy::load(&settings.policy, &schemas)?);
    let config = settings.gateway_config()?;
    let connection = client::Connection {
        url: settings.nats.url.clone(),
        nkey_seed: settings.nats.nkey_seed.map(|s| s.expose().to_owned()),
        tls_ca: settings.nats.tls_ca.clone(),
    };
    let nats = client::connect(&connection, Some(&config.member), "homeward-gateway").await?;
    let stop = shutdown::on_signal();
    let gateway = Gateway::start(nats, config, schemas, policy)
        .await
        .context("starting the gateway")?;
    let metrics = match settings.metrics_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("metrics_listen {addr}"))?;
            tracing::info!(%addr, "metrics at /metrics");
            Some(tokio::spawn(homeward_gateway::metrics::serve(
                listener,
                gateway.metrics(),
                gateway.stats(),
                gateway.counters(),
                stop.clone(),
            )))
        }
        None => None,
    };
    gateway.run(stop.clone()).await?;
    stop.cancel();
    if let Some(server) = metrics {
        server.await??;
    }
    Ok(())
}
