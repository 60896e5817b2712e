//! What runs on a site besides its NATS nodes: the gateway, one process
//! per ministry role its members have (one process runs that role for all
//! of the site's members with it), and the operator console where the
//! site hosts the operator. For each: its settings file, laid out as
//! `deploy/services/` shows, and a hardened systemd unit.
//!
//! Secrets are never rendered. Signing seeds, NATS seeds and API tokens are
//! files under `<etc>/keys/` that each party makes where it runs; the
//! gateway's NATS seed and every node's store key come from an
//! `EnvironmentFile` readable by root only.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use homeward_core::policy::Role;
use homeward_core::{MemberId, Policy, discovery};
use toml::{Table, Value};

use super::Install;
use super::sites::{Node, Site};

/// What a service is, for its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Gateway,
    /// A ministry role's binary, for these members.
    Ministry,
    /// The operator console, as this operator member.
    Console,
}

/// One process of a site.
#[derive(Debug, Clone)]
pub struct Service {
    /// The stem of its settings file and, with `homeward-`, of its unit.
    pub stem: String,
    /// Its binary's name.
    pub binary: &'static str,
    pub kind: Kind,
    /// The members it speaks for.
    pub members: Vec<MemberId>,
}

impl Service {
    /// The systemd unit's (and the compose service's) name.
    pub fn unit_name(&self) -> String {
        format!("homeward-{}", self.stem)
    }

    pub fn settings_file(&self) -> String {
        format!("{}.toml", self.stem)
    }
}

/// The services `site` runs, the gateway first, then the ministry roles in
/// binary order, then the console.
pub fn of_site(site: &Site, policy: &Policy) -> Vec<Service> {
    let mut services = vec![Service {
        stem: "gateway".into(),
        binary: discovery::service_name(Role::Gateway),
        kind: Kind::Gateway,
        members: vec![site.gateway.clone()],
    }];
    let mut ministries: Vec<Service> = Vec::new();
    let mut operators = Vec::new();
    for id in &site.members {
        let Some(member) = policy.member(id) else {
            continue;
        };
        match member.role {
            Role::Gateway => {}
            Role::Operator => operators.push(id.clone()),
            role => {
                let binary = discovery::service_name(role);
                match ministries.iter_mut().find(|s| s.binary == binary) {
                    Some(service) => service.members.push(id.clone()),
                    None => ministries.push(Service {
                        stem: binary.trim_start_matches("homeward-").to_owned(),
                        binary,
                        kind: Kind::Ministry,
                        members: vec![id.clone()],
                    }),
                }
            }
        }
    }
    ministries.sort_by_key(|s| s.binary);
    services.extend(ministries);
    let several = operators.len() > 1;
    for operator in operators {
        services.push(Service {
            stem: if several {
                format!("console-{}", operator.token())
            } else {
                "console".into()
            },
            binary: discovery::service_name(Role::Operator),
            kind: Kind::Console,
            members: vec![operator],
        });
    }
    services
}

fn text(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

fn path(p: &Path) -> Value {
    text(p.display().to_string())
}

/// The client URL of a site's nodes: every node, so a client reaches the
/// cluster through any.
pub fn nats_url(nodes: &[Node]) -> String {
    nodes
        .iter()
        .map(|n| format!("tls://{}:{}", n.host, n.client_port))
        .collect::<Vec<_>>()
        .join(",")
}

/// The local HTTP APIs of a site's ministry members, in order, from
/// `install.api_port`.
pub fn api_ports(services: &[Service], install: &Install) -> Vec<(MemberId, u16)> {
    services
        .iter()
        .filter(|s| s.kind == Kind::Ministry)
        .flat_map(|s| s.members.iter().cloned())
        .zip(install.api_port..)
        .collect()
}

/// The settings file of `service` on `site`.
pub fn settings(
    site: &Site,
    service: &Service,
    policy: &Policy,
    install: &Install,
    ports: &[(MemberId, u16)],
) -> anyhow::Result<String> {
    let keys = install.etc_dir.join("keys");
    let mut table = Table::new();
    table.insert("policy".into(), path(&install.policy_path()));
    if let Some(authority) = &install.policy_authority
        && service.kind != Kind::Console
    {
        table.insert("policy_authority".into(), text(authority.clone()));
    }
    let mut nats = Table::new();
    nats.insert("url".into(), text(nats_url(&site.nodes)));
    nats.insert("tls_ca".into(), text(install.tls().ca));
    let header = match service.kind {
        Kind::Gateway => {
            let id = &service.members[0];
            table.insert("key_file".into(), path(&keys.join(format!("{id}.nk"))));
            table.insert("member".into(), text(id.as_str()));
            table.insert("instance".into(), text(format!("{}-gw-1", site.name)));
            table.insert(
                "metrics_listen".into(),
                text(format!("127.0.0.1:{}", install.metrics_port)),
            );
            "The gateway's NATS seed is HOMEWARD_NATS__NKEY_SEED in its EnvironmentFile."
        }
        Kind::Ministry => {
            let mut members = Vec::new();
            for id in &service.members {
                let mut m = Table::new();
                m.insert("id".into(), text(id.as_str()));
                m.insert("key_file".into(), path(&keys.join(format!("{id}.nk"))));
                let port = ports
                    .iter()
                    .find(|(m, _)| m == id)
                    .map_or(install.api_port, |(_, p)| *p);
                m.insert("http".into(), text(format!("127.0.0.1:{port}")));
                m.insert(
                    "api_token_file".into(),
                    path(&keys.join(format!("{id}.api-token"))),
                );
                m.insert(
                    "nats_nkey_file".into(),
                    path(&keys.join(format!("{id}.nats.nk"))),
                );
                if policy.member(id).map(|m| m.role) == Some(Role::Security) {
                    // Located units kept across restarts, sealed.
                    let mut role = Table::new();
                    role.insert(
                        "held_dir".into(),
                        path(&service_state(install, service).join(id.as_str())),
                    );
                    m.insert("role".into(), Value::Table(role));
                }
                members.push(Value::Table(m));
            }
            table.insert("member".into(), Value::Array(members));
            "Each member's signing seed, NATS seed and API token are files in keys/, readable by this service only."
        }
        Kind::Console => {
            let id = &service.members[0];
            table.insert("operator".into(), text(id.as_str()));
            table.insert(
                "nats_nkey_file".into(),
                path(&keys.join(format!("{id}.nats.nk"))),
            );
            table.insert(
                "listen".into(),
                text(format!("127.0.0.1:{}", install.console_port)),
            );
            table.insert(
                "token_file".into(),
                path(&keys.join(format!("{}.api-token", service.stem))),
            );
            "The operator's token file and NATS seed are in keys/, readable by the console only."
        }
    };
    table.insert("nats".into(), Value::Table(nats));
    let body = toml::to_string(&table)?;
    Ok(format!(
        "# Settings of {} on Homeward site {}, written by `homeward deploy render`.\n\
         # HOMEWARD_-prefixed environment variables override any value.\n# {header}\n\n{body}",
        service.binary, site.name
    ))
}

/// Where `service` may write.
fn service_state(install: &Install, service: &Service) -> PathBuf {
    install.state_dir.join(&service.stem)
}

/// The hardening every unit shares: nothing but its own folders writable,
/// no new privileges, no devices, kernel or control groups to touch.
const HARDENING: &str = "\
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
CapabilityBoundingSet=
UMask=0077
";

struct Unit<'a> {
    description: String,
    user: &'a str,
    exec_start: String,
    exec_reload: Option<String>,
    /// Required (no `-`): the process cannot start without its secrets.
    environment_file: Option<PathBuf>,
    read_write: Vec<PathBuf>,
}

fn render_unit(unit: &Unit<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by `homeward deploy render`: render again rather than edit.\n\
         [Unit]\nDescription={}\n\
         Wants=network-online.target\nAfter=network-online.target\n\n[Service]\nType=simple\nUser={user}\nGroup={user}",
        unit.description,
        user = unit.user
    );
    if let Some(file) = &unit.environment_file {
        let _ = writeln!(out, "EnvironmentFile={}", file.display());
    }
    let _ = writeln!(out, "ExecStart={}", unit.exec_start);
    if let Some(reload) = &unit.exec_reload {
        let _ = writeln!(out, "ExecReload={reload}");
    }
    out.push_str("Restart=on-failure\nRestartSec=2s\nTimeoutStopSec=60s\nLimitNOFILE=65536\n");
    out.push_str(HARDENING);
    if !unit.read_write.is_empty() {
        let paths: Vec<String> = unit
            .read_write
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let _ = writeln!(out, "ReadWritePaths={}", paths.join(" "));
    }
    out.push_str("\n[Install]\nWantedBy=multi-user.target\n");
    out
}

/// The unit file name of `node`'s server.
pub fn node_unit_name(node: &Node) -> String {
    format!("nats-server-{}.service", node.name)
}

/// The unit of `node`'s server.
pub fn node_unit(site: &Site, node: &Node, install: &Install) -> String {
    let nats_dir = install.etc_dir.join("nats");
    render_unit(&Unit {
        description: format!("NATS server {} of Homeward site {}", node.name, site.name),
        user: &install.nats_user,
        exec_start: format!(
            "{} -c {}",
            install.nats_server().display(),
            nats_dir.join(format!("{}.conf", node.name)).display()
        ),
        // nats-server reloads its configuration (accounts after a policy
        // change) on SIGHUP.
        exec_reload: Some("/bin/kill -HUP $MAINPID".into()),
        environment_file: Some(nats_dir.join(format!("{}.env", node.name))),
        read_write: vec![install.state_dir.join("nats").join(&node.name)],
    })
}

/// The unit of a Homeward service.
pub fn service_unit(site: &Site, service: &Service, install: &Install) -> String {
    let members: Vec<&str> = service.members.iter().map(MemberId::as_str).collect();
    render_unit(&Unit {
        description: format!(
            "{} of Homeward site {} ({})",
            service.binary,
            site.name,
            members.join(", ")
        ),
        user: &install.user,
        exec_start: format!(
            "{} --config {}",
            install.bin_dir.join(service.binary).display(),
            install.etc_dir.join(service.settings_file()).display()
        ),
        exec_reload: None,
        environment_file: (service.kind == Kind::Gateway)
            .then(|| install.etc_dir.join("env").join("gateway.env")),
        read_write: vec![service_state(install, service)],
    })
}
