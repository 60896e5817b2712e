//! `homeward deploy render`: every site's deployment files, from the
//! policy and a sites file.
//!
//! A deployment across countries is one site per state (and one for the
//! camp administrations), each its own JetStream domain on its own server
//! or three-node cluster, joined to the hub by leaf nodes
//! (ARCHITECTURE.md, "Sites across countries"). Writing those files by
//! hand is where a port, a domain or a route goes wrong in one of them, so
//! they are rendered from two files: the policy (who the members are) and
//! the sites file (where each runs).
//!
//! # Layout
//! - [`sites`]: reading and checking the sites file against the policy.
//! - [`nats`]: each node's nats-server configuration.
//! - [`services`]: the gateway, the ministry services and the console of a
//!   site: settings files and systemd units.
//! - [`compose`]: a site as a compose file.
//!
//! Everything is checked and rendered in memory first, then written to a
//! folder beside `--out` and moved into place, so a bad sites file or
//! policy leaves `--out` as it was. `services/cli/tests/cli/deploy.rs`
//! starts the rendered configurations on real servers.

mod compose;
mod nats;
mod services;
mod sites;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use homeward_core::natsauth::{self, NatsKeys};
use homeward_core::{Policy, SchemaRegistry, keys as layout, tls};

use crate::{PolicyArgs, paths};

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The sites file: the sites, each one's nodes and the policy members
    /// it hosts (`deploy/sites.example.toml`).
    #[arg(long, value_name = "FILE")]
    sites: PathBuf,
    #[command(flatten)]
    policy: PolicyArgs,
    /// The keys folder whose `nats-users.toml` lists each identity's NATS
    /// public key, for the accounts.
    #[arg(long, default_value = paths::DEV_KEYS)]
    keys: PathBuf,
    /// The folder to write one folder per site into. Must be missing or
    /// empty unless `--replace` is given.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Replace what `--out` holds, at once, once everything is rendered.
    #[arg(long)]
    replace: bool,
    #[command(flatten)]
    install: Install,
}

/// Where things are on a site's hosts, and as whom they run.
#[derive(Debug, Clone, clap::Args)]
pub struct Install {
    /// Where the Homeward binaries are installed.
    #[arg(long, value_name = "DIR", default_value = "/usr/local/bin")]
    pub bin_dir: PathBuf,
    /// The nats-server binary; `nats-server` in `--bin-dir` when omitted.
    #[arg(long, value_name = "FILE")]
    pub nats_server: Option<PathBuf>,
    /// Where a site's rendered folder is installed (its settings, `nats/`,
    /// and the `keys/` and `env/` each party adds).
    #[arg(long, value_name = "DIR", default_value = "/etc/homeward")]
    pub etc_dir: PathBuf,
    /// Where the stores and the services' state live.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/homeward")]
    pub state_dir: PathBuf,
    /// The folder of the TLS files: `ca.pem`, `server.pem`,
    /// `server-key.pem` and, on a leaf site, `leaf-<site>.pem` and
    /// `leaf-<site>-key.pem`; `<etc-dir>/tls` when omitted.
    #[arg(long, value_name = "DIR")]
    pub tls_dir: Option<PathBuf>,
    /// The installed policy; `<etc-dir>/policy.toml` when omitted.
    #[arg(long, value_name = "FILE")]
    pub installed_policy: Option<PathBuf>,
    /// The user the Homeward services run as.
    #[arg(long, default_value = "homeward")]
    pub user: String,
    /// The user nats-server runs as.
    #[arg(long, default_value = "nats")]
    pub nats_user: String,
    /// The policy authority's public key (`U…`): every service then applies
    /// each newer policy it signs.
    #[arg(long, value_name = "KEY")]
    pub policy_authority: Option<String>,
    /// The first port of the ministry members' local APIs, one per member.
    #[arg(long, default_value_t = 8081)]
    pub api_port: u16,
    /// The port of the console.
    #[arg(long, default_value_t = 8090)]
    pub console_port: u16,
    /// The port of the gateway's metrics.
    #[arg(long, default_value_t = 9464)]
    pub metrics_port: u16,
    /// The most file storage the streams' account may use on each site, in
    /// bytes (as `policy nats-config --streams-max-file`).
    #[arg(long)]
    pub streams_max_file: Option<u64>,
    /// The nats-server image of the compose files.
    #[arg(long, default_value = "nats:2.15.1")]
    pub nats_image: String,
    /// The image holding the Homeward binaries at `--bin-dir`, for the
    /// compose files.
    #[arg(long, default_value = concat!("homeward:", env!("CARGO_PKG_VERSION")))]
    pub homeward_image: String,
}

/// The TLS files a node is configured with.
#[derive(Debug, Clone)]
pub struct TlsPaths {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

impl Install {
    pub fn nats_server(&self) -> PathBuf {
        self.nats_server
            .clone()
            .unwrap_or_else(|| self.bin_dir.join("nats-server"))
    }

    pub fn tls_dir(&self) -> PathBuf {
        self.tls_dir
            .clone()
            .unwrap_or_else(|| self.etc_dir.join("tls"))
    }

    pub fn policy_path(&self) -> PathBuf {
        self.installed_policy
            .clone()
            .unwrap_or_else(|| self.etc_dir.join("policy.toml"))
    }

    pub fn tls(&self) -> TlsPaths {
        let dir = self.tls_dir();
        let file = |name: &str| dir.join(name).display().to_string();
        TlsPaths {
            ca: file(tls::CA_FILE),
            cert: file(tls::CERT_FILE),
            key: file(tls::KEY_FILE),
        }
    }

    /// The certificate and key a leaf site's nodes present to the hub.
    pub fn leaf_tls(&self, site: &str) -> (String, String) {
        let dir = self.tls_dir();
        (
            dir.join(format!("leaf-{site}.pem")).display().to_string(),
            dir.join(format!("leaf-{site}-key.pem"))
                .display()
                .to_string(),
        )
    }
}

/// One file to write, relative to the out folder.
struct Rendered {
    path: PathBuf,
    text: String,
}

pub fn render(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let schemas = SchemaRegistry::embedded()?;
    let policy = Policy::load(&paths::resolve(&args.policy.policy), &schemas)?;
    let keys = NatsKeys::load(&paths::resolve(&args.keys).join(layout::NATS_KEYS_FILE))?;
    let sites = sites::Sites::load(&args.sites, &policy)?;
    let mut auth = natsauth::authorization(&policy, &keys)?;
    auth.streams_max_file = args.install.streams_max_file;
    let accounts = natsauth::render(&policy.origin, &auth);
    let install = &args.install;

    let mut files = Vec::new();
    let mut summary = Vec::new();
    for site in &sites.sites {
        let dir = PathBuf::from(&site.name);
        for node in &site.nodes {
            files.push(Rendered {
                path: dir.join("nats").join(format!("{}.conf", node.name)),
                text: nats::node_config(&sites, site, node, install),
            });
            files.push(Rendered {
                path: dir.join("systemd").join(services::node_unit_name(node)),
                text: services::node_unit(site, node, install),
            });
        }
        files.push(Rendered {
            path: dir.join("nats").join(nats::ACCOUNTS_FILE),
            text: accounts.clone(),
        });
        let site_services = services::of_site(site, &policy);
        let ports = services::api_ports(&site_services, install);
        for service in &site_services {
            files.push(Rendered {
                path: dir.join(service.settings_file()),
                text: services::settings(site, service, &policy, install, &ports)?,
            });
            files.push(Rendered {
                path: dir
                    .join("systemd")
                    .join(format!("{}.service", service.unit_name())),
                text: services::service_unit(site, service, install),
            });
        }
        files.push(Rendered {
            path: dir.join("compose.yaml"),
            text: compose::compose(site, &site_services, install),
        });
        let role = if site.name == sites.hub {
            "hub"
        } else {
            "leaf"
        };
        summary.push(format!(
            "site {} ({role}, {} node(s), {} member(s)): {}",
            site.name,
            site.nodes.len(),
            site.members.len(),
            site_services
                .iter()
                .map(services::Service::unit_name)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    write_all(&args.out, &files, args.replace)?;
    for line in summary {
        println!("{line}");
    }
    println!(
        "wrote {} files to {} (deploy/README.md, \"Standing up a site from nothing\", says where each goes)",
        files.len(),
        args.out.display()
    );
    if auth.admin.is_some() {
        eprintln!(
            "warning: the accounts include the administrator user (`admin`): for provisioning only; leave it out of nats-users.toml and render again once provisioning is done"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `files` into a new folder beside `out`, then moves it into place:
/// `out` is never left half-written.
fn write_all(out: &Path, files: &[Rendered], replace: bool) -> anyhow::Result<()> {
    let occupied = match std::fs::read_dir(out) {
        Ok(mut entries) => entries.next().is_some(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e).with_context(|| format!("out folder {}", out.display())),
    };
    if occupied && !replace {
        anyhow::bail!(
            "out folder {} is not empty: give --replace to replace what it holds",
            out.display()
        );
    }
    let name = out
        .file_name()
        .with_context(|| format!("out folder {} has no name", out.display()))?
        .to_string_lossy()
        .into_owned();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| parent.display().to_string())?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.rendering-"))
        .tempdir_in(&parent)
        .with_context(|| format!("a folder beside {}", out.display()))?;
    for file in files {
        let path = staging.path().join(&file.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
        }
        std::fs::write(&path, &file.text).with_context(|| path.display().to_string())?;
    }
    let staged = staging.keep();
    let old = parent.join(format!(".{name}.replaced-{}", std::process::id()));
    if out.exists() {
        std::fs::rename(out, &old).with_context(|| format!("moving {} aside", out.display()))?;
    }
    if let Err(e) = std::fs::rename(&staged, out) {
        // Put the old folder back rather than leave none.
        if old.exists() {
            let _ = std::fs::rename(&old, out);
        }
        let _ = std::fs::remove_dir_all(&staged);
        return Err(e).with_context(|| format!("moving the rendered files to {}", out.display()));
    }
    if old.exists() {
        std::fs::remove_dir_all(&old).with_context(|| old.display().to_string())?;
    }
    Ok(())
}
