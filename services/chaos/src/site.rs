//! One site as deployed, on loopback: nats-server with
//! `sync_interval: always` under the generated accounts, over TLS; the
//! gateway; and one process per ministry role for every member of the
//! demo policy with that role, each from its binary and a settings file
//! written here the way `deploy/services/` shows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use homeward_core::policy::Role as PolicyRole;
use homeward_ministry::api_client::{ApiClient, Endpoint};
use homeward_testkit::local::{Local, LocalOptions};
use homeward_testkit::natsd::{ServerOptions, free_port};
use toml::{Table, Value};

use crate::process::{Binaries, Process};

/// How long a process may take to be ready after a start.
pub const READY_WITHIN: Duration = Duration::from_secs(60);

/// How long the replay's requests ride through a service being down.
pub const RIDE_THROUGH: Duration = Duration::from_secs(180);

/// The binary that runs a policy role, if any does.
pub fn binary_for(role: PolicyRole) -> Option<&'static str> {
    match role {
        PolicyRole::CampAuthority | PolicyRole::Intermediary => Some("homeward-camp-registry"),
        PolicyRole::Mfa => Some("homeward-foreign-affairs"),
        PolicyRole::Security => Some("homeward-security"),
        PolicyRole::Interior => Some("homeward-interior"),
        PolicyRole::Rehab => Some("homeward-rehabilitation"),
        PolicyRole::Gateway | PolicyRole::Operator => None,
    }
}

/// The running site.
#[derive(Debug)]
pub struct Site {
    pub local: Local,
    /// The gateway first, then one process per role.
    pub processes: Vec<Process>,
    /// Every member's API, riding through restarts.
    pub api: ApiClient,
    pub foreign_ministries: Vec<String>,
    pub members: Vec<String>,
    pub http: reqwest::Client,
    _work: tempfile::TempDir,
}

fn text(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

fn path_text(p: &Path) -> Value {
    text(p.display().to_string())
}

fn write_toml(path: &Path, table: &Table) -> anyhow::Result<()> {
    let body = toml::to_string(table).context("settings to TOML")?;
    std::fs::write(path, body).with_context(|| path.display().to_string())
}

impl Site {
    /// Starts the server, writes every settings file, starts every process
    /// and waits until each service answers `/health`.
    pub async fn start(binaries: &Binaries) -> anyhow::Result<Self> {
        let local = Local::start(LocalOptions {
            server: ServerOptions {
                sync_always: true,
                ..Default::default()
            },
            ..Default::default()
        })
        .await?;
        let work = tempfile::Builder::new()
            .prefix("homeward-chaos-")
            .tempdir()?;
        let dir = work.path().to_owned();
        let keys = local.keys_dir().to_owned();

        // The demo policy, with the keyring of this site's keys.
        let policy = homeward_testkit::devkeys::demo_policy_with_keys(&keys, &dir)?;

        let mut nats = Table::new();
        nats.insert("url".into(), text(local.url()));
        if let Some(ca) = local.tls_ca() {
            nats.insert("tls_ca".into(), path_text(&ca));
        }
        let authority = local.policy_authority().as_str().to_owned();
        let common = |nats: Table| {
            let mut t = Table::new();
            t.insert("policy".into(), path_text(&policy));
            t.insert("policy_authority".into(), text(authority.clone()));
            t.insert("nats".into(), Value::Table(nats));
            t
        };

        // The gateway, as its own NATS user.
        let mut gateway = common({
            let mut n = nats.clone();
            n.insert(
                "nkey_seed".into(),
                text(local.nats_seed("homeward.gateway")?),
            );
            n
        });
        gateway.insert(
            "key_file".into(),
            path_text(&keys.join("homeward.gateway.nk")),
        );
        gateway.insert("instance".into(), text("gw-chaos"));
        let gateway_config = dir.join("gateway.toml");
        write_toml(&gateway_config, &gateway)?;
        let mut processes = vec![Process::new(
            "gateway",
            binaries.path("homeward-gateway"),
            gateway_config,
            dir.join("gateway.log"),
            Vec::new(),
        )];

        // One process per role, with a [[member]] table for each member.
        let mut by_binary: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        let mut health: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut endpoints = Vec::new();
        let mut foreign_ministries = Vec::new();
        let mut members = Vec::new();
        for member in local.policy.members() {
            let Some(binary) = binary_for(member.role) else {
                continue;
            };
            let id = member.id.as_str().to_owned();
            let port = free_port()?;
            let token_file = dir.join(format!("{id}.api-token"));
            let token = homeward_replay::world::write_random_token(&token_file)?;
            let mut m = Table::new();
            m.insert("id".into(), text(&id));
            m.insert("key_file".into(), path_text(&keys.join(format!("{id}.nk"))));
            m.insert("http".into(), text(format!("127.0.0.1:{port}")));
            m.insert("api_token_file".into(), path_text(&token_file));
            m.insert(
                "nats_nkey_file".into(),
                path_text(&keys.join(format!("{id}.nats.nk"))),
            );
            if member.role == PolicyRole::Security {
                let held: PathBuf = dir.join("held").join(&id);
                let mut role = Table::new();
                role.insert("held_dir".into(), path_text(&held));
                m.insert("role".into(), Value::Table(role));
            }
            if member.role == PolicyRole::Mfa {
                foreign_ministries.push(id.clone());
            }
            by_binary.entry(binary).or_default().push(Value::Table(m));
            health
                .entry(binary)
                .or_default()
                .push(format!("http://127.0.0.1:{port}/health"));
            endpoints.push((
                id.clone(),
                Endpoint::new(&format!("http://127.0.0.1:{port}"), token),
            ));
            members.push(id);
        }
        for (binary, tables) in by_binary {
            let mut settings = common(nats.clone());
            settings.insert("member".into(), Value::Array(tables));
            let name = binary.trim_start_matches("homeward-");
            let config = dir.join(format!("{name}.toml"));
            write_toml(&config, &settings)?;
            processes.push(Process::new(
                name,
                binaries.path(binary),
                config,
                dir.join(format!("{name}.log")),
                health.remove(binary).unwrap_or_default(),
            ));
        }

        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        for p in &mut processes {
            p.start()?;
        }
        for p in &mut processes {
            p.ready(&http, READY_WITHIN).await?;
        }
        let api = ApiClient::new(endpoints)?.riding_through_restarts(RIDE_THROUGH);
        Ok(Self {
            local,
            processes,
            api,
            foreign_ministries,
            members,
            http,
            _work: work,
        })
    }

    /// Stops every process (SIGKILL: they keep nothing that a kill loses).
    pub async fn stop(mut self) {
        for p in &mut self.processes {
            p.kill().await;
        }
    }
}
