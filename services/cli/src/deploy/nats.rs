//! Each node's nats-server configuration.
//!
//! One site is one JetStream domain (`domain: <site>`) on one server or a
//! three-node cluster; the hub's nodes listen for leaf nodes and every
//! other site's nodes connect to them (ARCHITECTURE.md, "Sites across
//! countries"). Every connection is TLS: clients, routes (which nats-server
//! always runs as mutual TLS, so the node certificate must be valid for
//! both server and client authentication) and leaf connections (mutual
//! too: the hub maps the DNS name in a site's leaf certificate to that
//! site's leaf user, bound to the streams' account). The store is
//! encrypted with the key from the server's environment (`$HW_JS_KEY`),
//! never written here, and a single-node site fsyncs before every ack.
//! The accounts come from the policy through [`homeward_core::natsauth`],
//! included beside the node's file.

use std::fmt::Write as _;

use homeward_core::natsauth::STREAMS_ACCOUNT;

use super::Install;
use super::sites::{Node, Site, Sites};

/// The file every node's configuration includes, beside it.
pub const ACCOUNTS_FILE: &str = "homeward-accounts.conf";

/// What a site's streams' account keeps to itself over the leaf link: its
/// own JetStream API, the API every other account reaches it by, the
/// administrator's way into the members' own JetStream, Homeward's
/// subjects, key-value and discovery.
const LOCAL_ONLY: [&str; 7] = [
    "$JS.API.>",
    "$JS.ACK.>",
    "$HW.API.>",
    "$HWJS.>",
    "$KV.>",
    "$SRV.>",
    "hw.>",
];

/// The TLS handshake timeout, in seconds.
const TLS_TIMEOUT: u32 = 5;

/// `text` as a configuration string (nats-server reads JSON's quoting).
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

fn tls_block(cert: &str, key: &str, ca: &str, extra: &str) -> String {
    format!(
        "tls {{ cert_file: {}, key_file: {}, ca_file: {}, timeout: {TLS_TIMEOUT}{extra} }}",
        quoted(cert),
        quoted(key),
        quoted(ca)
    )
}

/// The configuration of `node` of `site`.
pub fn node_config(sites: &Sites, site: &Site, node: &Node, install: &Install) -> String {
    let tls = install.tls();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# nats-server configuration of node {} of Homeward site {}.\n\
         # Written by `homeward deploy render` from the sites file and the policy:\n\
         # change those and render again rather than editing this file.\n\
         # The store key comes from the environment (HW_JS_KEY, the unit's\n\
         # EnvironmentFile), never from this file.",
        node.name, site.name
    );
    let _ = writeln!(out, "server_name: {}", quoted(&node.name));
    let _ = writeln!(
        out,
        "listen: {}",
        quoted(&format!("{}:{}", node.listen, node.client_port))
    );
    // Monitoring (/healthz, /varz, /jsz, /leafz): firewall it to the
    // operators' hosts.
    let _ = writeln!(
        out,
        "http: {}",
        quoted(&format!("{}:{}", node.listen, node.http_port))
    );
    // An oversized envelope must still reach the gateway, to be refused on
    // the record as too_large (deploy/README.md).
    out.push_str("max_payload: 1MB\n");
    out.push_str("jetstream {\n");
    let store = install.state_dir.join("nats").join(&node.name);
    let _ = writeln!(out, "  store_dir: {}", quoted(&store.display().to_string()));
    let _ = writeln!(out, "  domain: {}", quoted(&site.name));
    out.push_str("  cipher: chachapoly\n  key: $HW_JS_KEY\n");
    if !site.clustered() {
        // One copy only: on disk before the ack, or an acked write can be
        // lost on power failure (NATS-NOTES.md, "Durability").
        out.push_str("  sync_interval: always\n");
    }
    out.push_str("}\n");
    let _ = writeln!(out, "{}", tls_block(&tls.cert, &tls.key, &tls.ca, ""));
    if site.clustered() {
        out.push_str("cluster {\n");
        let _ = writeln!(out, "  name: {}", quoted(&site.name));
        let _ = writeln!(
            out,
            "  listen: {}",
            quoted(&format!(
                "{}:{}",
                node.listen,
                node.route_port.unwrap_or_default()
            ))
        );
        let _ = writeln!(out, "  {}", tls_block(&tls.cert, &tls.key, &tls.ca, ""));
        let routes: Vec<String> = site
            .nodes
            .iter()
            .filter(|n| n.name != node.name)
            .map(|n| {
                quoted(&format!(
                    "nats-route://{}:{}",
                    n.host,
                    n.route_port.unwrap_or_default()
                ))
            })
            .collect();
        let _ = writeln!(out, "  routes: [{}]", routes.join(", "));
        out.push_str("}\n");
    }
    out.push_str(&leafnodes(sites, site, node, install));
    let _ = writeln!(out, "include {}", quoted(ACCOUNTS_FILE));
    out
}

fn leafnodes(sites: &Sites, site: &Site, node: &Node, install: &Install) -> String {
    let tls = install.tls();
    let alone = sites.sites.len() == 1;
    if alone {
        // No other site to connect, so no listener to guard.
        return String::new();
    }
    let mut out = String::from("leafnodes {\n");
    if site.name == sites.hub {
        let _ = writeln!(
            out,
            "  listen: {}",
            quoted(&format!(
                "{}:{}",
                node.listen,
                node.leaf_port.unwrap_or_default()
            ))
        );
        // Mutual TLS: a site proves itself with its leaf certificate, whose
        // DNS name picks its user here.
        let _ = writeln!(
            out,
            "  {}",
            tls_block(&tls.cert, &tls.key, &tls.ca, ", verify_and_map: true")
        );
        out.push_str("  authorization {\n    users: [\n");
        for other in sites.sites.iter().filter(|s| s.name != sites.hub) {
            let _ = writeln!(
                out,
                "      {{ user: {}, account: {} }}   # site {}",
                quoted(&other.leaf_identity),
                quoted(STREAMS_ACCOUNT),
                other.name
            );
        }
        out.push_str("    ]\n  }\n");
    } else {
        let hub = sites.hub();
        let urls: Vec<String> = hub
            .nodes
            .iter()
            .map(|n| {
                quoted(&format!(
                    "tls://{}:{}",
                    n.host,
                    n.leaf_port.unwrap_or_default()
                ))
            })
            .collect();
        let (cert, key) = install.leaf_tls(&site.name);
        out.push_str("  remotes: [\n    {\n");
        let _ = writeln!(out, "      urls: [{}]", urls.join(", "));
        let _ = writeln!(out, "      account: {}", quoted(STREAMS_ACCOUNT));
        // Each site's streams' account has the same imports from its own
        // members' accounts, so without these a request made on one site
        // would also reach the other's servers (and its JetStream answer
        // first). Only what stream sourcing needs crosses: `$JS.<domain>.API`
        // and its flow.
        let local: Vec<String> = LOCAL_ONLY.iter().map(|s| quoted(s)).collect();
        let _ = writeln!(out, "      deny_imports: [{}]", local.join(", "));
        let _ = writeln!(out, "      deny_exports: [{}]", local.join(", "));
        let _ = writeln!(out, "      {}", tls_block(&cert, &key, &tls.ca, ""));
        out.push_str("    }\n  ]\n");
    }
    out.push_str("}\n");
    out
}
