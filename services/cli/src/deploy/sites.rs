//! The sites file: which sites a deployment has, the NATS nodes of each,
//! and the policy members each hosts.
//!
//! Read once, checked whole against the policy before anything is
//! rendered, so that a mistake is named (file, line where TOML gives one,
//! site, field) and nothing is written. Past [`Sites::load`] every value is
//! one a configuration can be rendered from: a site has 1 or 3 nodes, the
//! hub's nodes listen for leaf nodes, no two listeners share a host and
//! port, every policy member is on exactly one site and every site runs
//! exactly one gateway.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use homeward_core::policy::Role;
use homeward_core::{MemberId, Policy};
use serde::Deserialize;
use toml::Spanned;

/// The address a node listens on when the sites file names none.
const DEFAULT_LISTEN: &str = "0.0.0.0";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SitesFile {
    hub: Spanned<String>,
    #[serde(rename = "site")]
    sites: BTreeMap<String, Spanned<SiteEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteEntry {
    members: Spanned<Vec<Spanned<String>>>,
    #[serde(rename = "node")]
    nodes: Spanned<Vec<NodeEntry>>,
    #[serde(default)]
    leaf_identity: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeEntry {
    name: Spanned<String>,
    host: Spanned<String>,
    #[serde(default)]
    listen: Option<Spanned<String>>,
    client_port: Spanned<u16>,
    http_port: Spanned<u16>,
    #[serde(default)]
    route_port: Option<Spanned<u16>>,
    #[serde(default)]
    leaf_port: Option<Spanned<u16>>,
}

/// A checked sites file.
#[derive(Debug, Clone)]
pub struct Sites {
    /// The site every other site's leaf nodes connect to.
    pub hub: String,
    /// In name order.
    pub sites: Vec<Site>,
}

/// One site: its own JetStream domain on its own server or cluster.
#[derive(Debug, Clone)]
pub struct Site {
    pub name: String,
    /// The policy members it hosts, in the policy's order.
    pub members: Vec<MemberId>,
    /// The one gateway-role member among them, whose gateway runs here.
    pub gateway: MemberId,
    /// The name the hub expects in this site's leaf certificate (a DNS
    /// subject alternative name): `<site>.leaf` unless given.
    pub leaf_identity: String,
    /// 1 or 3.
    pub nodes: Vec<Node>,
}

impl Site {
    pub fn clustered(&self) -> bool {
        self.nodes.len() > 1
    }
}

/// One nats-server.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its `server_name`, unique in the file.
    pub name: String,
    /// How other nodes, sites and clients reach it.
    pub host: String,
    /// The address it binds.
    pub listen: String,
    pub client_port: u16,
    /// Monitoring (`/healthz`, `/varz`, `/leafz`).
    pub http_port: u16,
    /// Set on the nodes of a three-node site.
    pub route_port: Option<u16>,
    /// Set on the hub's nodes.
    pub leaf_port: Option<u16>,
}

/// What is wrong with a sites file: everything found, each naming where.
#[derive(Debug)]
pub struct SitesError {
    pub file: String,
    pub problems: Vec<Problem>,
}

/// One thing wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub site: Option<String>,
    pub field: String,
    pub message: String,
}

impl fmt::Display for SitesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sites file {} has {} problem(s):",
            self.file,
            self.problems.len()
        )?;
        for p in &self.problems {
            write!(f, "\n  - {}", self.file)?;
            if let Some(line) = p.line {
                write!(f, ":{line}")?;
            }
            f.write_str(": ")?;
            if let Some(site) = &p.site {
                write!(f, "site {site}: ")?;
            }
            write!(f, "{}: {}", p.field, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for SitesError {}

/// Collects problems with the line each span starts on.
struct Checker<'a> {
    text: &'a str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn line_of<T>(&self, spanned: &Spanned<T>) -> usize {
        let start = spanned.span().start.min(self.text.len());
        self.text[..start].matches('\n').count() + 1
    }

    fn at<T>(&mut self, spanned: &Spanned<T>, site: Option<&str>, field: &str, message: String) {
        let line = Some(self.line_of(spanned));
        self.problems.push(Problem {
            line,
            site: site.map(str::to_owned),
            field: field.to_owned(),
            message,
        });
    }

    fn nowhere(&mut self, site: Option<&str>, field: &str, message: String) {
        self.problems.push(Problem {
            line: None,
            site: site.map(str::to_owned),
            field: field.to_owned(),
            message,
        });
    }
}

/// A name that can be a JetStream domain, a `server_name`, a cluster name
/// and a file name: lower-case letters, digits and `-`, starting with a
/// letter.
fn is_plain_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.len() <= 32
}

/// A host name or address with nothing a configuration could read as
/// syntax.
fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
}

impl Sites {
    /// Reads the sites file at `path` and checks it against `policy`.
    pub fn load(path: &Path, policy: &Policy) -> Result<Self, SitesError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SitesError {
            file: file.clone(),
            problems: vec![Problem {
                line: None,
                site: None,
                field: "file".into(),
                message: format!("cannot read it: {e}"),
            }],
        })?;
        Self::parse(&file, &text, policy)
    }

    /// Parses and checks a sites file's text; `file` names it in errors.
    pub fn parse(file: &str, text: &str, policy: &Policy) -> Result<Self, SitesError> {
        let raw: SitesFile = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            SitesError {
                file: file.to_owned(),
                problems: vec![Problem {
                    line,
                    site: None,
                    field: "toml".into(),
                    message: e.message().trim_end().to_owned(),
                }],
            }
        })?;
        let mut check = Checker {
            text,
            problems: Vec::new(),
        };
        let sites = check_sites(&mut check, &raw, policy);
        if check.problems.is_empty() {
            Ok(Sites {
                hub: raw.hub.into_inner(),
                sites,
            })
        } else {
            Err(SitesError {
                file: file.to_owned(),
                problems: check.problems,
            })
        }
    }

    /// The hub site.
    pub fn hub(&self) -> &Site {
        self.sites
            .iter()
            .find(|s| s.name == self.hub)
            .unwrap_or(&self.sites[0])
    }
}

fn check_sites(check: &mut Checker<'_>, raw: &SitesFile, policy: &Policy) -> Vec<Site> {
    if raw.sites.is_empty() {
        check.nowhere(None, "site", "no site is named ([site.<name>])".into());
    }
    if !raw.sites.contains_key(raw.hub.get_ref()) {
        let names: Vec<&str> = raw.sites.keys().map(String::as_str).collect();
        check.at(
            &raw.hub,
            None,
            "hub",
            format!(
                "{:?} is not one of the sites ({})",
                raw.hub.get_ref(),
                names.join(", ")
            ),
        );
    }
    let roles: BTreeMap<&MemberId, Role> = policy.members().map(|m| (&m.id, m.role)).collect();
    // Where each member, node name and listener was first seen.
    let mut member_site: BTreeMap<MemberId, String> = BTreeMap::new();
    let mut node_names: BTreeMap<String, String> = BTreeMap::new();
    let mut listeners: BTreeMap<(String, u16), String> = BTreeMap::new();
    let mut sites = Vec::new();
    for (name, entry) in &raw.sites {
        let site = Some(name.as_str());
        let is_hub = name == raw.hub.get_ref();
        if !is_plain_name(name) {
            check.at(
                entry,
                site,
                "name",
                format!(
                    "{name:?} must be lower-case letters, digits and '-', starting with a letter (it is the JetStream domain)"
                ),
            );
        }
        let entry = entry.get_ref();
        let count = entry.nodes.get_ref().len();
        if count != 1 && count != 3 {
            check.at(
                &entry.nodes,
                site,
                "node",
                format!("{count} nodes: a site has 1 node, or 3 in a cluster"),
            );
        }
        let mut nodes = Vec::new();
        for node in entry.nodes.get_ref() {
            let node_name = node.name.get_ref().as_str();
            let label = format!("node {node_name}");
            if !is_plain_name(node_name) {
                check.at(
                    &node.name,
                    site,
                    "node.name",
                    format!(
                        "{node_name:?} must be lower-case letters, digits and '-', starting with a letter"
                    ),
                );
            } else if let Some(other) = node_names.insert(node_name.to_owned(), name.clone()) {
                check.at(
                    &node.name,
                    site,
                    "node.name",
                    format!("{node_name:?} is already a node of site {other}"),
                );
            }
            let host = node.host.get_ref();
            if !is_host(host) {
                check.at(
                    &node.host,
                    site,
                    &format!("{label}: host"),
                    format!("{host:?} is not a host name or address"),
                );
            }
            let listen = node
                .listen
                .as_ref()
                .map_or(DEFAULT_LISTEN.to_owned(), |l| l.get_ref().clone());
            if let Some(l) = &node.listen
                && !is_host(l.get_ref())
            {
                check.at(
                    l,
                    site,
                    &format!("{label}: listen"),
                    format!("{:?} is not an address", l.get_ref()),
                );
            }
            if count == 3 && node.route_port.is_none() {
                check.at(
                    &node.name,
                    site,
                    &format!("{label}: route_port"),
                    "missing: the nodes of a three-node site route to each other".into(),
                );
            }
            if count == 1
                && let Some(p) = &node.route_port
            {
                check.at(
                    p,
                    site,
                    &format!("{label}: route_port"),
                    "a single-node site has no cluster routes: remove it".into(),
                );
            }
            if is_hub && node.leaf_port.is_none() {
                check.at(
                    &node.name,
                    site,
                    &format!("{label}: leaf_port"),
                    "missing: the hub's nodes listen for the other sites' leaf nodes".into(),
                );
            }
            if !is_hub && let Some(p) = &node.leaf_port {
                check.at(
                    p,
                    site,
                    &format!("{label}: leaf_port"),
                    format!(
                        "only the hub ({}) listens for leaf nodes: remove it",
                        raw.hub.get_ref()
                    ),
                );
            }
            let ports = [
                ("client_port", Some(&node.client_port)),
                ("http_port", Some(&node.http_port)),
                ("route_port", node.route_port.as_ref()),
                ("leaf_port", node.leaf_port.as_ref()),
            ];
            for (field, port) in ports {
                let Some(port) = port else { continue };
                let field = format!("{label}: {field}");
                let number = *port.get_ref();
                if number == 0 {
                    check.at(port, site, &field, "0 is not a port".into());
                    continue;
                }
                let place = format!("{field} of site {name}");
                if let Some(other) = listeners.insert((host.clone(), number), place) {
                    check.at(
                        port,
                        site,
                        &field,
                        format!("{host}:{number} is already the {other}"),
                    );
                }
            }
            nodes.push(Node {
                name: node_name.to_owned(),
                host: host.clone(),
                listen,
                client_port: *node.client_port.get_ref(),
                http_port: *node.http_port.get_ref(),
                route_port: node.route_port.as_ref().map(|p| *p.get_ref()),
                leaf_port: node.leaf_port.as_ref().map(|p| *p.get_ref()),
            });
        }
        let mut members = BTreeSet::new();
        let mut gateways = Vec::new();
        for member in entry.members.get_ref() {
            let id = match MemberId::parse(member.get_ref()) {
                Ok(id) => id,
                Err(e) => {
                    check.at(member, site, "members", e.to_string());
                    continue;
                }
            };
            let Some(role) = roles.get(&id) else {
                check.at(
                    member,
                    site,
                    "members",
                    format!("{id} is not a member of the policy {}", policy.origin),
                );
                continue;
            };
            if let Some(other) = member_site.insert(id.clone(), name.clone()) {
                check.at(
                    member,
                    site,
                    "members",
                    if other == *name {
                        format!("{id} is listed twice")
                    } else {
                        format!("{id} is already on site {other}: a member is on exactly one site")
                    },
                );
                continue;
            }
            if *role == Role::Gateway {
                gateways.push(id.clone());
            }
            members.insert(id);
        }
        if gateways.len() != 1 {
            let listed: Vec<String> = gateways.iter().map(ToString::to_string).collect();
            check.at(
                &entry.members,
                site,
                "members",
                format!(
                    "a site runs exactly one gateway: list one member of role gateway here (found {})",
                    if listed.is_empty() {
                        "none".to_owned()
                    } else {
                        listed.join(", ")
                    }
                ),
            );
        }
        let leaf_identity = entry
            .leaf_identity
            .as_ref()
            .map_or(format!("{name}.leaf"), |l| l.get_ref().clone());
        if let Some(l) = &entry.leaf_identity {
            if is_hub {
                check.at(
                    l,
                    site,
                    "leaf_identity",
                    "the hub connects to no one: remove it".into(),
                );
            } else if !is_host(l.get_ref()) || l.get_ref().contains(':') {
                check.at(
                    l,
                    site,
                    "leaf_identity",
                    format!("{:?} is not a DNS name", l.get_ref()),
                );
            }
        }
        let Some(gateway) = gateways.first().cloned() else {
            continue;
        };
        sites.push(Site {
            name: name.clone(),
            // In the policy's order, as every other list of members is.
            members: policy
                .members()
                .map(|m| m.id.clone())
                .filter(|id| members.contains(id))
                .collect(),
            gateway,
            leaf_identity,
            nodes,
        });
    }
    for member in policy.members() {
        if !member_site.contains_key(&member.id) {
            check.nowhere(
                None,
                "members",
                format!(
                    "policy member {} is on no site: list it in one site's members",
                    member.id
                ),
            );
        }
    }
    sites
}
