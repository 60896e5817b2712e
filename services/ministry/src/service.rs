//! Running ministry services: settings, and the entry point every role's
//! thin `main` calls.
//!
//! One process can run one role for several members (`kz.mfa`, `uz.mfa`):
//! each member has its own key, its own NATS identity, its own cases and its
//! own HTTP address.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use homeward_core::client::{self, Connection, MemberClient};
use homeward_core::settings::NatsSettings;
use homeward_core::{MemberId, Policy, SchemaRegistry, SigningKey};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::runtime::{Ministry, Role};

/// A ministry service's settings: `HOMEWARD_`-prefixed environment variables
/// override the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    #[serde(default)]
    pub nats: NatsSettings,
    /// The policy, to check that deliveries are signed by keys it lists.
    #[serde(default)]
    pub policy: Option<PathBuf>,
    /// The members this process runs.
    #[serde(rename = "member")]
    pub members: Vec<MemberSettings>,
}

/// One member run by this process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSettings {
    pub id: String,
    /// The member's signing seed file.
    pub key_file: PathBuf,
    /// Where its HTTP API listens.
    #[serde(default = "default_http")]
    pub http: SocketAddr,
    /// The member's NATS user seed file, if the server asks for one.
    #[serde(default)]
    pub nats_nkey_file: Option<PathBuf>,
}

fn default_http() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A member's service running as tasks.
#[derive(Debug)]
pub struct Running {
    pub ministry: Arc<Ministry>,
    /// Where the HTTP API listens.
    pub http: SocketAddr,
}

/// Starts one member's service: deliveries and the HTTP API, until `shutdown`.
pub async fn start(
    client: MemberClient,
    role: Arc<dyn Role>,
    schemas: Arc<SchemaRegistry>,
    listener: TcpListener,
    shutdown: CancellationToken,
    tasks: &mut JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<Running> {
    let ministry = Ministry::start(client, role, schemas).await?;
    let http = listener.local_addr()?;
    let runner = ministry.clone();
    let stop = shutdown.clone();
    tasks.spawn(async move { Ok(runner.run(stop).await?) });
    let app = crate::api::router(ministry.clone());
    let stop = shutdown.clone();
    tasks.spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await?;
        Ok(())
    });
    tracing::info!(member = %ministry.member(), %http, "service running");
    Ok(Running { ministry, http })
}

/// Runs every member of `settings` with the role `role_for` gives it, until
/// `shutdown`; then waits for every task to finish.
pub async fn run(
    settings: ServiceSettings,
    role_for: impl Fn(&MemberId) -> anyhow::Result<Arc<dyn Role>>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let schemas = Arc::new(SchemaRegistry::embedded()?);
    let policy = match &settings.policy {
        Some(p) => Some(Arc::new(Policy::load(p, &schemas)?)),
        None => None,
    };
    let mut tasks = JoinSet::new();
    for m in &settings.members {
        let member = MemberId::parse(&m.id)?;
        let key = SigningKey::from_file(&m.key_file)?;
        let nkey_seed = match &m.nats_nkey_file {
            Some(path) => Some(homeward_core::keys::read_nats_seed(path)?),
            None => settings
                .nats
                .nkey_seed
                .as_ref()
                .map(|s| s.expose().to_owned()),
        };
        let connection = Connection {
            url: settings.nats.url.clone(),
            nkey_seed,
            tls_ca: settings.nats.tls_ca.clone(),
        };
        let nats = client::connect(&connection, Some(&member), member.as_str()).await?;
        let client = MemberClient::new(nats, member.clone(), key, policy.clone());
        let listener = TcpListener::bind(m.http).await?;
        let running = start(
            client,
            role_for(&member)?,
            schemas.clone(),
            listener,
            shutdown.clone(),
            &mut tasks,
        )
        .await?;
        println!("{member} listening on http://{}", running.http);
    }
    while let Some(result) = tasks.join_next().await {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "a service task failed"),
            Err(e) => tracing::error!(error = %e, "a service task panicked"),
        }
    }
    Ok(())
}

/// The whole `main` of a role's binary: `--config FILE`, tracing, run until
/// Ctrl-C or SIGTERM.
pub fn main_with(
    role_for: impl Fn(&MemberId) -> anyhow::Result<Arc<dyn Role>>,
) -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut config = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => config = args.next().map(PathBuf::from),
            "--help" | "-h" => {
                println!(
                    "usage: {} [--config FILE]\nsettings: see services/ministry/src/service.rs",
                    std::env::args().next().unwrap_or_default()
                );
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other:?}"),
        }
    }
    homeward_core::telemetry::init("info", false);
    let settings: ServiceSettings = homeward_core::settings::load(config.as_deref(), "HOMEWARD")?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let stop = homeward_core::shutdown::on_signal();
        run(settings, role_for, stop).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_settings_load_and_typos_are_refused() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../deploy/services/kz-mfa.toml");
        let settings: ServiceSettings =
            homeward_core::settings::load(Some(&path), "HOMEWARD_TEST_UNSET").expect("loads");
        assert_eq!(settings.members.len(), 1);
        assert_eq!(settings.members[0].id, "kz.mfa");
        assert_eq!(settings.members[0].http.port(), 8081);
        let dir = std::env::temp_dir().join(format!("hw-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let bad = dir.join("bad.toml");
        std::fs::write(
            &bad,
            "[[member]]\nid = \"kz.mfa\"\nkey_file = \"k\"\nhttp_port = 1\n",
        )
        .expect("write");
        let err =
            homeward_core::settings::load::<ServiceSettings>(Some(&bad), "HOMEWARD_TEST_UNSET")
                .expect_err("typo refused");
        assert!(err.to_string().contains("http_port"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
