//! `homeward-console`: the operator console, until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use homeward_console::settings::Settings;
use homeward_core::{Policy, SchemaRegistry, client, settings, shutdown, telemetry};
use homeward_ministry::api::ApiToken;
use tokio::task::JoinSet;

/// The Homeward operator console.
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
    let config = settings.console_config()?;
    let schemas = SchemaRegistry::embedded()?;
    let policy = Arc::new(Policy::load(&settings.policy, &schemas)?);
    let token = ApiToken::from_file(&settings.token_file)?;
    let nkey_seed = match &settings.nats_nkey_file {
        Some(path) => Some(homeward_core::keys::read_nats_seed(path)?),
        None => settings
            .nats
            .nkey_seed
            .as_ref()
            .map(|s| s.expose().to_owned()),
    };
    let connection = client::Connection {
        url: settings.nats.url.clone(),
        nkey_seed,
        tls_ca: settings.nats.tls_ca.clone(),
    };
    let nats = client::connect(&connection, Some(&config.operator), "homeward-console").await?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let stop = shutdown::on_signal();
    let mut tasks = JoinSet::new();
    let serving = homeward_console::serve_on(
        nats,
        policy,
        config,
        listener,
        (&token, &settings.hosts),
        stop.clone(),
        &mut tasks,
    )?;
    tracing::info!(addr = %serving.addr, "console listening");
    // The first task to end (the server, at shutdown or on failure) stops
    // the others.
    let mut first = None;
    while let Some(done) = tasks.join_next().await {
        stop.cancel();
        let failed = match done {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e,
            Err(e) => e.into(),
        };
        first.get_or_insert(failed);
    }
    first.map_or(Ok(()), Err)
}
