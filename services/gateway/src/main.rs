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
        nkey_seed: settings
            .nats
            .nkey_seed
            .as_ref()
            .map(|s| s.expose().to_owned()),
        tls_ca: settings.nats.tls_ca.clone(),
    };
    let nats = client::connect(&connection, Some(&config.member), "homeward-gateway").await?;
    let stop = shutdown::on_signal();
    let gateway = start_patiently(&settings, config, nats, schemas, policy).await?;
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

/// How long a starting gateway waits for the server to show what the
/// administrator provisioned. A server that has just restarted was seen
/// here (by the fault harness, `homeward-chaos`) to answer "stream not
/// found" for `HW_SUBMIT` for a few seconds; a gateway started then waits
/// rather than ending. After this long, what is missing is missing, and
/// the gateway ends saying so.
const PROVISIONED_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

/// [`Gateway::start`], tried again while the server is out of reach or
/// does not show the streams yet, up to [`PROVISIONED_WITHIN`].
async fn start_patiently(
    settings: &Settings,
    config: homeward_gateway::GatewayConfig,
    nats: async_nats::Client,
    schemas: Arc<SchemaRegistry>,
    policy: Arc<Policy>,
) -> anyhow::Result<Gateway> {
    use homeward_gateway::GatewayError;
    let deadline = tokio::time::Instant::now() + PROVISIONED_WITHIN;
    let mut config = Some(config);
    let mut pause = std::time::Duration::from_millis(100);
    loop {
        let this = match config.take() {
            Some(c) => c,
            None => settings.gateway_config()?,
        };
        match Gateway::start(nats.clone(), this, schemas.clone(), policy.clone()).await {
            Ok(gateway) => return Ok(gateway),
            Err(
                e @ (GatewayError::NotProvisioned(_)
                | GatewayError::Nats(_)
                | GatewayError::Core(
                    homeward_core::Error::Nats(_) | homeward_core::Error::Timeout(_),
                )),
            ) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "the server does not show what the gateway needs yet; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(5));
            }
            Err(e) => return Err(anyhow::Error::new(e).context("starting the gateway")),
        }
    }
}
