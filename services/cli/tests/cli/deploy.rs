//! `homeward deploy render`: the rendered files, run as an operator would
//! run them. The NATS configurations start on real servers and form what
//! they say (a cluster serving JetStream in its domain, leaf sites joined
//! to the hub), every systemd unit passes `systemd-analyze verify`, every
//! compose file parses and names the site's services, and a bad sites file
//! is named, with nothing written.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use homeward_testkit::natsd::{self, free_port};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::{homeward, homeward_async, repo, text};

/// How long a server or a link may take to come up.
const WITHIN: Duration = Duration::from_secs(60);

/// The demo policy with a gateway member for each state's site (every
/// site runs its own), and its development keys.
fn policy_and_keys(dir: &Path) -> (PathBuf, PathBuf) {
    let mut body = std::fs::read_to_string(repo().join("deploy/policy/demo.toml"))
        .expect("demo policy")
        .replace("../../dev-keys/keyring.toml", "keys/keyring.toml");
    for (id, state) in [("kz.gateway", "Kazakhstan"), ("uz.gateway", "Uzbekistan")] {
        body.push_str(&format!(
            "\n[[member]]\nid = \"{id}\"\nname = \"{state}: Homeward gateway\"\nrole = \"gateway\"\n"
        ));
    }
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, body).expect("write the policy");
    let keys = dir.join("keys");
    let out = homeward(&[
        "keys",
        "generate",
        "--policy",
        policy.to_str().expect("path"),
        "--out",
        keys.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    (policy, keys)
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// The operation's PKI as the sites need it: one CA; a node certificate
/// for loopback valid for server and client authentication (cluster
/// routes are always mutual TLS); and each leaf site's certificate naming
/// its leaf identity (`<site>.leaf`), which the hub maps to its user.
fn pki(dir: &Path, leaf_sites: &[&str]) {
    std::fs::create_dir_all(dir).expect("tls folder");
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "Homeward deploy test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).expect("ca.pem");
    let issuer = Issuer::new(ca, ca_key);
    let issue = |names: Vec<SanType>, purposes: Vec<ExtendedKeyUsagePurpose>, stem: &str| {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, stem.to_owned());
        params.subject_alt_names = names;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = purposes;
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &issuer).expect("certificate");
        std::fs::write(dir.join(format!("{stem}.pem")), cert.pem()).expect("certificate file");
        std::fs::write(dir.join(format!("{stem}-key.pem")), key.serialize_pem()).expect("key file");
    };
    issue(
        vec![
            SanType::DnsName("localhost".try_into().expect("name")),
            SanType::IpAddress([127, 0, 0, 1].into()),
        ],
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
        "server",
    );
    for site in leaf_sites {
        issue(
            vec![SanType::DnsName(
                format!("{site}.leaf").try_into().expect("name"),
            )],
            vec![ExtendedKeyUsagePurpose::ClientAuth],
            &format!("leaf-{site}"),
        );
    }
}

/// One node of the test's sites file, on loopback.
#[derive(Debug, Clone)]
struct TestNode {
    name: String,
    client: u16,
    http: u16,
    route: Option<u16>,
    leaf: Option<u16>,
}

fn node(name: &str, cluster: bool, hub: bool) -> TestNode {
    let port = || free_port().expect("a free port");
    TestNode {
        name: name.to_owned(),
        client: port(),
        http: port(),
        route: cluster.then(port),
        leaf: hub.then(port),
    }
}

/// The hub `aanes` on three nodes, `kz` and `uz` on one each, every port a
/// free one on loopback.
fn loopback_sites() -> (String, Vec<TestNode>, TestNode, TestNode) {
    let hub: Vec<TestNode> = (1..=3)
        .map(|i| node(&format!("aanes-{i}"), true, true))
        .collect();
    let kz = node("kz-1", false, false);
    let uz = node("uz-1", false, false);
    let mut text = String::from(
        "hub = \"aanes\"\n\n[site.aanes]\nmembers = [\"aanes.camps\", \"iq.justice\", \"icrc.tracing\", \"homeward.gateway\", \"homeward.operator\"]\n",
    );
    let write = |text: &mut String, site: &str, n: &TestNode| {
        text.push_str(&format!(
            "[[site.{site}.node]]\nname = \"{}\"\nhost = \"127.0.0.1\"\nlisten = \"127.0.0.1\"\nclient_port = {}\nhttp_port = {}\n",
            n.name, n.client, n.http
        ));
        if let Some(p) = n.route {
            text.push_str(&format!("route_port = {p}\n"));
        }
        if let Some(p) = n.leaf {
            text.push_str(&format!("leaf_port = {p}\n"));
        }
    };
    for n in &hub {
        write(&mut text, "aanes", n);
    }
    text.push_str("\n[site.kz]\nmembers = [\"kz.mfa\", \"kz.security\", \"kz.interior\", \"kz.rehab\", \"kz.gateway\"]\n");
    write(&mut text, "kz", &kz);
    text.push_str("\n[site.uz]\nmembers = [\"uz.mfa\", \"uz.security\", \"uz.interior\", \"uz.rehab\", \"uz.gateway\", \"tj.mfa\", \"tj.security\", \"tj.interior\", \"tj.rehab\", \"kg.mfa\", \"kg.security\", \"kg.interior\", \"kg.rehab\", \"tm.mfa\", \"tm.security\", \"tm.interior\", \"tm.rehab\"]\n");
    write(&mut text, "uz", &uz);
    (text, hub, kz, uz)
}

/// A nats-server started from a rendered configuration, killed on drop.
#[derive(Debug)]
struct Node {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Node {
    fn start(bin: &Path, config: &Path, key: &str, log: PathBuf) -> Self {
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(bin)
            .arg("-c")
            .arg(config)
            .env(natsd::STORE_KEY_ENV, key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("nats-server starts");
        Self {
            name: config
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            child,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` on a node's monitoring port: the body, if it answered 200.
fn monitor(port: u16, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.")
        .then_some(())
        .filter(|()| head.contains(" 200 "))?;
    Some(body.to_owned())
}

/// Polls `probe` until it gives a value or `WITHIN` passes; the failure
/// names what was awaited and shows the nodes' logs.
fn wait_for<T>(what: &str, nodes: &[Node], mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WITHIN;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = nodes
                .iter()
                .map(|n| format!("--- {}\n{}", n.name, n.log()))
                .collect();
            panic!("{what}: not within {WITHIN:?}\n{}", logs.join("\n"));
        }
        // The next look at the server, not a wait for the event itself.
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The steps of deploy/README.md, "Standing up a site from nothing", in
/// order, for three sites on loopback: the hub `aanes` on a three-node
/// cluster, `kz` and `uz` on one node each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_sites_form_a_cluster_serve_their_domains_and_join_the_hub() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    // 1. Keys, 2. the policy: every site's gateway is a member.
    let (policy, keys) = policy_and_keys(dir);
    // 3. The sites file.
    let (sites_text, hub, kz, uz) = loopback_sites();
    let sites = dir.join("sites.toml");
    std::fs::write(&sites, &sites_text).expect("sites file");
    // 4. TLS files from the operation's PKI.
    let tls = dir.join("tls");
    pki(&tls, &["kz", "uz"]);
    // 5. Render.
    let out = dir.join("rendered");
    let state = dir.join("state");
    let rendered = homeward(&[
        "deploy",
        "render",
        "--sites",
        arg(&sites),
        "--policy",
        arg(&policy),
        "--keys",
        arg(&keys),
        "--out",
        arg(&out),
        "--tls-dir",
        arg(&tls),
        "--state-dir",
        arg(&state),
    ]);
    assert!(rendered.status.success(), "{}", text(&rendered));
    // 6. nats-server, 7. the nodes, each with its own store key.
    let bin = natsd::find_binary().expect("nats-server (scripts/install-nats-server)");
    let mut nodes = Vec::new();
    for (site, name) in [
        ("aanes", "aanes-1"),
        ("aanes", "aanes-2"),
        ("aanes", "aanes-3"),
        ("kz", "kz-1"),
        ("uz", "uz-1"),
    ] {
        let config = out.join(site).join("nats").join(format!("{name}.conf"));
        let key = natsd::random_store_key();
        nodes.push(Node::start(
            &bin,
            &config,
            key.expose(),
            dir.join(format!("{name}.log")),
        ));
    }
    for n in hub.iter().chain([&kz, &uz]) {
        // Healthy only once JetStream is up: on the hub, once the cluster
        // has elected its metadata leader.
        wait_for(&format!("{} healthy", n.name), &nodes, || {
            monitor(n.http, "/healthz").filter(|b| b.contains("\"ok\""))
        });
    }
    // 8. Provision each site as its administrator: three replicas on the
    // hub's cluster, one on a single node.
    let ca = tls.join("ca.pem");
    let admin_seed = keys.join("admin.nats.nk");
    let hub_url = hub
        .iter()
        .map(|n| format!("tls://127.0.0.1:{}", n.client))
        .collect::<Vec<_>>()
        .join(",");
    for (url, replicas) in [
        (hub_url.clone(), "3"),
        (format!("tls://127.0.0.1:{}", kz.client), "1"),
    ] {
        let provisioned = homeward_async(&[
            "provision",
            "--nats",
            &url,
            "--tls-ca",
            arg(&ca),
            "--nkey",
            arg(&admin_seed),
            "--policy",
            arg(&policy),
            "--replicas",
            replicas,
        ])
        .await;
        assert!(
            provisioned.status.success(),
            "provisioning {url}: {}",
            text(&provisioned)
        );
    }
    // The streams' JetStream answers the administrator in each site's own
    // domain, and the hub's streams have three copies.
    let connection = |url: String| homeward_core::client::Connection {
        url,
        nkey_seed: Some(homeward_core::keys::read_nats_seed(&admin_seed).expect("admin seed")),
        tls_ca: Some(ca.clone()),
    };
    for (url, domain) in [
        (hub_url.clone(), "aanes"),
        (format!("tls://127.0.0.1:{}", kz.client), "kz"),
    ] {
        let admin = homeward_core::client::connect(&connection(url), None, "deploy test")
            .await
            .expect("the administrator connects");
        let info = admin
            .request("$JS.API.INFO", "".into())
            .await
            .expect("JetStream account info");
        let info: serde_json::Value = serde_json::from_slice(&info.payload).expect("JSON");
        assert_eq!(info["domain"], domain, "{info}");
        assert!(info["streams"].as_u64().unwrap_or(0) >= 5, "{info}");
        if domain == "aanes" {
            let js = async_nats::jetstream::new(admin.clone());
            let mut stream = js.get_stream("HW_SUBMIT").await.expect("HW_SUBMIT");
            let stream_info = stream.info().await.expect("stream info");
            assert_eq!(stream_info.config.num_replicas, 3);
            let cluster = stream_info.cluster.as_ref().expect("cluster info");
            assert_eq!(cluster.name.as_deref(), Some("aanes"));
            assert_eq!(cluster.replicas.len(), 2, "{cluster:?}");
        }
    }
    // 9. (The gateway and the services are other crates' binaries, started
    // from settings like these by the chaos harness; not here.)
    // 10. Check health: both leaf sites' links to the hub are up, each bound
    // to the streams' account, whichever hub node it reached.
    let joined = wait_for("kz-1 and uz-1 joined to the hub", &nodes, || {
        let mut names = Vec::new();
        for n in &hub {
            let body = monitor(n.http, "/leafz")?;
            let leafz: serde_json::Value = serde_json::from_str(&body).ok()?;
            for leaf in leafz["leafs"].as_array().into_iter().flatten() {
                if leaf["account"] == "HW" {
                    names.push(leaf["name"].as_str().unwrap_or_default().to_owned());
                }
            }
        }
        names.sort();
        (names == ["kz-1", "uz-1"]).then_some(names)
    });
    assert_eq!(joined, ["kz-1", "uz-1"]);
}

/// Renders deploy/sites.example.toml with the test's policy; `extra` adds
/// arguments.
fn render_example(dir: &Path, extra: &[&str]) -> PathBuf {
    let (policy, keys) = policy_and_keys(dir);
    let out = dir.join("rendered");
    let example = repo().join("deploy/sites.example.toml");
    let mut args = vec![
        "deploy",
        "render",
        "--sites",
        arg(&example),
        "--policy",
        arg(&policy),
        "--keys",
        arg(&keys),
        "--out",
        arg(&out),
    ];
    args.extend_from_slice(extra);
    let rendered = homeward(&args);
    assert!(rendered.status.success(), "{}", text(&rendered));
    out
}

fn sites_of(out: &Path) -> Vec<PathBuf> {
    let mut sites: Vec<PathBuf> = std::fs::read_dir(out)
        .expect("rendered sites")
        .map(|e| e.expect("entry").path())
        .collect();
    sites.sort();
    sites
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("folder")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}

/// Every unit of every site of the example passes `systemd-analyze verify`,
/// which also checks that each ExecStart binary exists: they point at a
/// folder of stand-ins for the binaries a site installs.
#[test]
fn every_rendered_systemd_unit_passes_systemd_analyze_verify() {
    let analyze = Command::new("systemd-analyze").arg("--version").output();
    assert!(
        analyze.is_ok_and(|o| o.status.success()),
        "systemd-analyze is missing: install Debian's systemd package (.ci/run does)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    for name in [
        "nats-server",
        "homeward-gateway",
        "homeward-camp-registry",
        "homeward-foreign-affairs",
        "homeward-security",
        "homeward-interior",
        "homeward-rehabilitation",
        "homeward-console",
    ] {
        let stub = bin.join(name);
        std::fs::write(&stub, "#!/bin/sh\nexit 0\n").expect("stub");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).expect("mode");
    }
    let out = render_example(dir.path(), &["--bin-dir", arg(&bin)]);
    let mut verified = 0;
    for site in sites_of(&out) {
        let units = files_in(&site.join("systemd"));
        assert!(!units.is_empty(), "no units in {}", site.display());
        let output = Command::new("systemd-analyze")
            .arg("verify")
            .args(&units)
            .output()
            .expect("systemd-analyze runs");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "{}: {said}", site.display());
        // Any complaint about a unit of ours fails it, not only errors.
        for unit in &units {
            let name = unit.file_name().expect("name").to_string_lossy();
            assert!(!said.contains(name.as_ref()), "{name}: {said}");
            let body = std::fs::read_to_string(unit).expect("unit");
            for line in [
                "NoNewPrivileges=yes",
                "ProtectSystem=strict",
                "PrivateTmp=yes",
                "Restart=on-failure",
                "ReadWritePaths=",
                "EnvironmentFile=",
                "User=",
            ] {
                let wanted = line != "EnvironmentFile="
                    || name.starts_with("nats-server-")
                    || name == "homeward-gateway.service";
                if wanted {
                    assert!(body.contains(line), "{name} lacks {line}:\n{body}");
                }
            }
            verified += 1;
        }
    }
    // aanes: 3 nodes, gateway, camp registry, console; kz and uz: a node,
    // the gateway and four ministry roles each.
    assert_eq!(verified, 6 + 6 + 6, "units verified");
}

/// Every site's compose file parses as YAML and has one service per node
/// and per unit of the site, each with its image and command.
#[test]
fn every_rendered_compose_file_parses_and_names_each_service_of_its_site() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = render_example(dir.path(), &[]);
    for site in sites_of(&out) {
        let text = std::fs::read_to_string(site.join("compose.yaml")).expect("compose.yaml");
        let docs = yaml_rust2::YamlLoader::load_from_str(&text)
            .unwrap_or_else(|e| panic!("{}: {e}\n{text}", site.display()));
        assert_eq!(docs.len(), 1);
        let services = docs[0]["services"].as_hash().expect("services");
        let mut named: Vec<String> = services
            .keys()
            .map(|k| k.as_str().expect("a name").to_owned())
            .collect();
        named.sort();
        // What the units say the site runs.
        let mut expected: Vec<String> = files_in(&site.join("systemd"))
            .iter()
            .map(|u| {
                let stem = u.file_stem().expect("stem").to_string_lossy().into_owned();
                match stem.strip_prefix("nats-server-") {
                    Some(node) => format!("nats-{node}"),
                    None => stem,
                }
            })
            .collect();
        expected.sort();
        assert_eq!(named, expected, "{}", site.display());
        for (name, service) in services {
            let name = name.as_str().expect("name");
            assert!(service["image"].as_str().is_some(), "{name} has no image");
            let command = service["command"].as_vec().expect("a command");
            let config = command.last().and_then(|c| c.as_str()).expect("a config");
            assert!(config.starts_with("/etc/homeward/"), "{name}: {config}");
            assert_eq!(service["network_mode"].as_str(), Some("host"), "{name}");
            assert_eq!(service["read_only"].as_bool(), Some(true), "{name}");
            // Each service's own state volume is declared.
            let volumes = service["volumes"].as_vec().expect("volumes");
            let state = volumes
                .iter()
                .filter_map(|v| v.as_str())
                .find(|v| v.starts_with("state-"))
                .expect("a state volume");
            let volume = state.split(':').next().expect("volume name");
            assert!(
                !docs[0]["volumes"][volume].is_badvalue(),
                "{name}: volume {volume} is not declared"
            );
        }
    }
}

/// The rendered settings load as each process reads them.
#[test]
fn rendered_ministry_settings_load_as_the_services_read_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = render_example(dir.path(), &[]);
    let mut loaded = 0;
    for site in sites_of(&out) {
        for file in files_in(&site) {
            let stem = file.file_stem().expect("stem").to_string_lossy();
            let ministry = [
                "camp-registry",
                "foreign-affairs",
                "security",
                "interior",
                "rehabilitation",
            ];
            if !ministry.contains(&stem.as_ref()) {
                continue;
            }
            let settings: homeward_ministry::service::ServiceSettings =
                homeward_core::settings::load(Some(&file), "HOMEWARD_DEPLOY_TEST_UNSET")
                    .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert!(!settings.members.is_empty());
            assert_eq!(
                settings.nats.tls_ca.as_deref(),
                Some(Path::new("/etc/homeward/tls/ca.pem"))
            );
            loaded += 1;
        }
    }
    assert_eq!(loaded, 1 + 4 + 4);
}

/// A bad sites file is refused naming the file, the line where there is
/// one, the site and the field; the out folder keeps what it held.
#[test]
fn a_bad_sites_file_is_named_and_the_out_folder_is_left_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (policy, keys) = policy_and_keys(dir.path());
    let good = std::fs::read_to_string(repo().join("deploy/sites.example.toml")).expect("example");
    let out = dir.path().join("rendered");
    std::fs::create_dir_all(&out).expect("out");
    std::fs::write(out.join("kept.txt"), "from before").expect("kept");
    let line_of = |text: &str, needle: &str| {
        text.lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .expect("needle")
    };
    let cases: Vec<(&str, String, Vec<String>)> = vec![
        (
            "a misspelt field",
            good.replacen("client_port = 4222     # clients", "clinet_port = 4222 #", 1),
            vec![
                format!("sites.toml:{}", line_of(&good, "client_port = 4222     # clients")),
                "unknown field `clinet_port`".into(),
            ],
        ),
        (
            "two nodes",
            good.replacen(
                "[[site.kz.node]]",
                "[[site.kz.node]]\nname = \"kz-2\"\nhost = \"nats-2.kz.example\"\nclient_port = 4222\nhttp_port = 8222\n\n[[site.kz.node]]",
                1,
            ),
            vec!["site kz: node: 2 nodes: a site has 1 node, or 3 in a cluster".into()],
        ),
        (
            "a member on two sites",
            good.replacen("\"kz.rehab\", \"kz.gateway\"", "\"kz.rehab\", \"kz.gateway\", \"uz.mfa\"", 1),
            vec![format!(
                "sites.toml:{}: site uz: members: uz.mfa is already on site kz: a member is on exactly one site",
                line_of(&good, "\"uz.mfa\", \"uz.security\"")
            )],
        ),
        (
            "a member on no site",
            good.replacen("\"kz.rehab\", ", "", 1),
            vec!["members: policy member kz.rehab is on no site".into()],
        ),
        (
            "a member not in the policy",
            good.replacen("\"kz.rehab\", ", "\"kz.rehab\", \"kz.nobody\", ", 1),
            vec![format!(
                "sites.toml:{}: site kz: members: kz.nobody is not a member of the policy",
                line_of(&good, "\"kz.rehab\", ")
            )],
        ),
        (
            "a hub that is not a site",
            good.replacen("hub = \"aanes\"", "hub = \"raqqa\"", 1),
            vec![format!(
                "sites.toml:{}: hub: \"raqqa\" is not one of the sites (aanes, kz, uz)",
                line_of(&good, "hub = \"aanes\"")
            )],
        ),
        (
            "two listeners on one host and port",
            good.replacen("http_port = 8222       # monitoring", "http_port = 4222 #", 1),
            vec!["site aanes: node aanes-1: http_port: nats-1.aanes.homeward.example:4222 is already the node aanes-1: client_port of site aanes".into()],
        ),
        (
            "a hub node without its leaf port",
            good.replacen("leaf_port = 7422       # the other", "# leaf_port = 7422", 1),
            vec!["site aanes: node aanes-1: leaf_port: missing: the hub's nodes listen for the other sites' leaf nodes".into()],
        ),
        (
            "a cluster node without its route port",
            good.replacen("route_port = 6222      # the", "# route_port", 1),
            vec!["site aanes: node aanes-1: route_port: missing".into()],
        ),
        (
            "a site without a gateway",
            good.replacen(", \"kz.gateway\"]", "]", 1),
            vec![
                "site kz: members: a site runs exactly one gateway: list one member of role gateway here (found none)".into(),
                "policy member kz.gateway is on no site".into(),
            ],
        ),
    ];
    for (case, text_of_file, expected) in cases {
        assert_ne!(text_of_file, good, "{case}: the case changes nothing");
        let sites = dir.path().join("sites.toml");
        std::fs::write(&sites, &text_of_file).expect("sites file");
        let refused = homeward(&[
            "deploy",
            "render",
            "--sites",
            arg(&sites),
            "--policy",
            arg(&policy),
            "--keys",
            arg(&keys),
            "--out",
            arg(&out),
            "--replace",
        ]);
        let said = text(&refused);
        assert!(!refused.status.success(), "{case}: {said}");
        for wanted in expected {
            assert!(
                said.contains(&wanted),
                "{case}: wanted {wanted:?} in:\n{said}"
            );
        }
        assert_eq!(files_in(&out), [out.join("kept.txt")], "{case}: {said}");
        assert_eq!(
            std::fs::read_to_string(out.join("kept.txt")).expect("kept"),
            "from before"
        );
        // Nothing left beside it either.
        let beside: Vec<PathBuf> = files_in(dir.path())
            .into_iter()
            .filter(|p| p.to_string_lossy().contains(".rendered."))
            .collect();
        assert!(beside.is_empty(), "{case}: {beside:?}");
    }
    // Without --replace a folder that holds something is refused too, and
    // with it the good file replaces what it held.
    let sites = dir.path().join("sites.toml");
    std::fs::write(&sites, &good).expect("sites file");
    let base = [
        "deploy",
        "render",
        "--sites",
        arg(&sites),
        "--policy",
        arg(&policy),
        "--keys",
        arg(&keys),
        "--out",
        arg(&out),
    ];
    let refused = homeward(&base);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("is not empty: give --replace"),
        "{}",
        text(&refused)
    );
    let mut replacing = base.to_vec();
    replacing.push("--replace");
    let replaced = homeward(&replacing);
    assert!(replaced.status.success(), "{}", text(&replaced));
    assert_eq!(
        files_in(&out),
        [out.join("aanes"), out.join("kz"), out.join("uz")]
    );
}
