//! `homeward-gateway`: runs one gateway instance until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use homeward_core::{
    MemberId, Policy, SchemaRegistry, SigningKey, client, settings, shutdown, telemetry,
};
use homeward_gateway::settings::Settings;
use homeward_gateway::{Gateway, GatewayConfig};

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
    telemetry::init("info", args.json_logs);
    let settings: Settings = settings::load(args.config.as_deref(), "HOMEWARD")?;
    let schemas = Arc::new(SchemaRegistry::embedded()?);
    let policy = Arc::new(Policy::load(&settings.policy, &schemas)?);
    let member = MemberId::parse(&settings.member)?;
    let key = SigningKey::from_file(&settings.key_file)?;
    let mut config = GatewayConfig::new(member.clone(), key);
    if let Some(instance) = settings.instance {
        config.instance = instance;
    }
    config.time_window = Duration::from_secs(settings.time_window_secs);
    config.batch_size = settings.batch_size;
    let connection = client::Connection {
        url: settings.nats.url.clone(),
        nkey_seed: settings.nats.nkey_seed.map(|s| s.expose().to_owned()),
        tls_ca: settings.nats.tls_ca.clone(),
    };
    let nats = client::connect(&connection, Some(&member), "homeward-gateway").await?;
    let stop = shutdown::on_signal();
    let gateway = Gateway::start(nats, config, schemas, policy)
        .await
        .context("starting the gateway")?;
    gateway.run(stop).await?;
    Ok(())
}
