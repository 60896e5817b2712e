//! One site as a compose file (`compose.yaml`): the same configuration and
//! settings files as the systemd units, for a site that runs containers.
//!
//! The site's folder of rendered files is mounted read-only where the
//! settings expect their install folder (`--etc-dir`), with the keys and
//! environment files the parties add to it; every node and service keeps
//! its state in a named volume. Containers share the host's network, so
//! the hosts and ports of the sites file stay what the configurations say.
//! Every scalar is written as a JSON string, which YAML reads unchanged.

use std::fmt::Write as _;

use super::Install;
use super::services::{Kind, Service};
use super::sites::Site;

fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| quoted(i)).collect();
    format!("[{}]", quoted.join(", "))
}

/// The compose service name of a node.
pub fn node_service(node: &str) -> String {
    format!("nats-{node}")
}

/// `site`'s compose file.
pub fn compose(site: &Site, services: &[Service], install: &Install) -> String {
    let etc = install.etc_dir.display().to_string();
    let mut mounts = vec![format!("./:{etc}:ro")];
    let tls_dir = install.tls_dir();
    if !tls_dir.starts_with(&install.etc_dir) {
        let tls = tls_dir.display().to_string();
        mounts.push(format!("{tls}:{tls}:ro"));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Homeward site {} as containers on one host, written by `homeward deploy render`.\n\
         # Run it from this folder, with keys/, env/ and each node's nats/<node>.env added:\n\
         #   docker compose up -d",
        site.name
    );
    let _ = writeln!(out, "name: {}", quoted(&format!("homeward-{}", site.name)));
    out.push_str("services:\n");
    let mut volumes = Vec::new();
    let nodes: Vec<String> = site.nodes.iter().map(|n| node_service(&n.name)).collect();
    for node in &site.nodes {
        let name = node_service(&node.name);
        let store = install.state_dir.join("nats").join(&node.name);
        let volume = format!("state-{}", node.name);
        let mut node_mounts = mounts.clone();
        node_mounts.push(format!("{volume}:{}", store.display()));
        volumes.push(volume);
        let _ = writeln!(out, "  {}:", quoted(&name));
        let _ = writeln!(out, "    image: {}", quoted(&install.nats_image));
        let _ = writeln!(
            out,
            "    command: {}",
            list(&[
                "-c".into(),
                install
                    .etc_dir
                    .join("nats")
                    .join(format!("{}.conf", node.name))
                    .display()
                    .to_string(),
            ])
        );
        common(
            &mut out,
            &format!("./nats/{}.env", node.name),
            &node_mounts,
            &[],
        );
    }
    for service in services {
        let name = service.unit_name();
        let volume = format!("state-{}", service.stem);
        let mut service_mounts = mounts.clone();
        service_mounts.push(format!(
            "{volume}:{}",
            install.state_dir.join(&service.stem).display()
        ));
        volumes.push(volume);
        let _ = writeln!(out, "  {}:", quoted(&name));
        let _ = writeln!(out, "    image: {}", quoted(&install.homeward_image));
        let _ = writeln!(
            out,
            "    entrypoint: {}",
            list(&[install.bin_dir.join(service.binary).display().to_string()])
        );
        let _ = writeln!(
            out,
            "    command: {}",
            list(&[
                "--config".into(),
                install
                    .etc_dir
                    .join(service.settings_file())
                    .display()
                    .to_string(),
            ])
        );
        let _ = writeln!(out, "    user: {}", quoted(&install.user));
        let env = if service.kind == Kind::Gateway {
            "./env/gateway.env"
        } else {
            ""
        };
        common(&mut out, env, &service_mounts, &nodes);
    }
    out.push_str("volumes:\n");
    for volume in volumes {
        let _ = writeln!(out, "  {}: {{}}", quoted(&volume));
    }
    out
}

/// What every container shares: the host's network, a read-only root, no
/// new privileges, a restart on failure.
fn common(out: &mut String, env_file: &str, mounts: &[String], depends_on: &[String]) {
    out.push_str("    network_mode: \"host\"\n    restart: \"on-failure\"\n    read_only: true\n");
    out.push_str("    security_opt: [\"no-new-privileges:true\"]\n");
    if !env_file.is_empty() {
        let _ = writeln!(out, "    env_file: {}", list(&[env_file.to_owned()]));
    }
    let _ = writeln!(out, "    volumes: {}", list(mounts));
    if !depends_on.is_empty() {
        let _ = writeln!(out, "    depends_on: {}", list(depends_on));
    }
}
