//! Finding, checking and running the pinned `nats-server`.
//!
//! The demo and every test run a real server: the binary from
//! `NATS_SERVER_BIN`, else `.tools/nats-server/bin/nats-server` in the
//! checkout (installed by `scripts/install-nats-server`), else `nats-server`
//! on `PATH`. It must be 2.10 or newer: older servers have no
//! `sync_interval` and answer key-value set-up in a form async-nats cannot
//! read. Each [`NatsServer`] listens on a free loopback port, keeps its store
//! in its own folder and is killed when dropped.
//!
//! The store is encrypted at rest by default ([`StoreEncryption`]): what
//! JetStream keeps is personal data about people in danger, most of them
//! children, and a copied disk, a backup or a stolen laptop must not give it
//! away. Each server gets a fresh random key unless it is given one. The key
//! reaches the server only through its environment ([`STORE_KEY_ENV`]),
//! which the generated configuration names; it is never written to a file.
//!
//! Given [`ServerOptions::tls`], the server serves TLS only: a client that
//! does not upgrade is refused, and [`NatsServer::url`] says `tls://`.
//! [`homeward_core::tls`] makes a development certificate for it.

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use homeward_core::Error;
use homeward_core::settings::Secret;
use homeward_core::tls::TlsFiles;

/// The oldest server we accept.
pub const MIN_VERSION: (u32, u32) = (2, 10);

/// Locates the nats-server binary and checks its version.
pub fn find_binary() -> Result<PathBuf, Error> {
    let candidate = if let Some(path) = std::env::var_os("NATS_SERVER_BIN") {
        PathBuf::from(path)
    } else if let Some(path) = project_binary() {
        path
    } else {
        which("nats-server").ok_or_else(|| {
            Error::Server(
                "no nats-server found: run scripts/install-nats-server, or set NATS_SERVER_BIN"
                    .into(),
            )
        })?
    };
    check_version(&candidate)?;
    Ok(candidate)
}

fn project_binary() -> Option<PathBuf> {
    let mut starts = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR"))];
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    if let Ok(exe) = std::env::current_exe() {
        starts.push(exe);
    }
    for start in starts {
        for dir in start.ancestors() {
            let bin = dir.join(".tools/nats-server/bin/nats-server");
            if bin.is_file() {
                return Some(bin);
            }
        }
    }
    None
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// Runs `--version` and refuses servers older than [`MIN_VERSION`].
pub fn check_version(bin: &Path) -> Result<(u32, u32, u32), Error> {
    let out = Command::new(bin)
        .arg("--version")
        .output()
        .map_err(|e| Error::Server(format!("cannot run {}: {e}", bin.display())))?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let version = parse_version(&text)
        .ok_or_else(|| Error::Server(format!("{} printed no version: {text:?}", bin.display())))?;
    if (version.0, version.1) < MIN_VERSION {
        return Err(Error::Server(format!(
            "{} is v{}.{}.{}, but Homeward needs 2.10 or newer (2.15.1 is pinned): run scripts/install-nats-server",
            bin.display(),
            version.0,
            version.1,
            version.2
        )));
    }
    Ok(version)
}

fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let start = text
        .char_indices()
        .find(|(i, c)| *c == 'v' && text[i + 1..].starts_with(|d: char| d.is_ascii_digit()))?
        .0
        + 1;
    let digits: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut parts = digits.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// The AEAD cipher JetStream encrypts its store with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cipher {
    /// ChaCha20-Poly1305.
    #[default]
    ChaChaPoly,
    /// AES-GCM.
    Aes,
}

impl Cipher {
    /// The name `jetstream { cipher: … }` takes.
    pub fn as_config(self) -> &'static str {
        match self {
            Cipher::ChaChaPoly => "chachapoly",
            Cipher::Aes => "aes",
        }
    }
}

/// The environment variable the store key reaches the server through: the
/// generated configuration says `key: $HW_JS_KEY`. Not `HOMEWARD_`-prefixed,
/// so that it can never be mistaken for one of the services' settings.
pub const STORE_KEY_ENV: &str = "HW_JS_KEY";

/// The shortest store key accepted, in characters.
pub const MIN_STORE_KEY_LEN: usize = 32;

/// Whether and how JetStream encrypts its store (message blocks, stream and
/// consumer metadata, key-value buckets) at rest.
#[derive(Debug, Clone, Default)]
pub enum StoreEncryption {
    /// A fresh random key for this server, held in memory only: the store
    /// cannot be read once the server and this process are gone (so a
    /// `store_dir` given with it must be new). The default.
    #[default]
    RandomKey,
    /// A given key, e.g. to restart on an existing store. See
    /// [`check_store_key`] for what a key may look like.
    Key { cipher: Cipher, key: Secret },
    /// No encryption: only to compare against in tests, or where the file
    /// system is encrypted instead.
    Off,
}

/// A new random store key: `hw` and 64 hex digits (256 bits).
pub fn random_store_key() -> Secret {
    let bytes: [u8; 32] = rand::random();
    Secret::new(format!("hw{}", hex::encode(bytes)))
}

/// Checks that a store key can travel through [`STORE_KEY_ENV`] unchanged.
///
/// nats-server parses the value of a variable it is given as a
/// configuration value, not as literal text: digits alone become a number
/// (and the server refuses to start), and characters such as `#`, `,` or a
/// space are read as configuration syntax. So a key must start with a
/// letter and hold only ASCII letters and digits, at least
/// [`MIN_STORE_KEY_LEN`] of them. The error never repeats the key.
pub fn check_store_key(key: &str) -> Result<(), Error> {
    let well_formed = key.starts_with(|c: char| c.is_ascii_alphabetic())
        && key.bytes().all(|b| b.is_ascii_alphanumeric());
    if key.len() < MIN_STORE_KEY_LEN || !well_formed {
        return Err(Error::Key(format!(
            "a JetStream store key must be at least {MIN_STORE_KEY_LEN} ASCII letters and digits, starting with a letter (the given one is {} characters)",
            key.chars().count()
        )));
    }
    Ok(())
}

/// How to start a server.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Store folder; a temporary one when `None`.
    pub store_dir: Option<PathBuf>,
    /// Port; a free one when `None`.
    pub port: Option<u16>,
    /// fsync before every ack (`sync_interval: always`).
    pub sync_always: bool,
    /// Encryption at rest; a random key by default.
    pub encryption: StoreEncryption,
    /// Extra configuration text appended to the generated file
    /// (authorization, accounts).
    pub extra_config: String,
    /// The certificate and key to serve TLS with. When set, the server
    /// refuses every client that does not speak TLS, and [`NatsServer::url`]
    /// is a `tls://` one; its clients need the `ca` file.
    pub tls: Option<TlsFiles>,
    /// The server's place in a JetStream cluster; a lone server when
    /// `None`.
    pub cluster: Option<ClusterNode>,
}

/// One node of a JetStream cluster on loopback: its own name, the
/// cluster's, the port it takes routes on, and the route port of every
/// node (itself included; a server ignores a route to itself).
#[derive(Debug, Clone)]
pub struct ClusterNode {
    pub cluster: String,
    pub server_name: String,
    pub route_port: u16,
    pub routes: Vec<u16>,
}

impl ClusterNode {
    fn config(&self) -> String {
        let routes = self
            .routes
            .iter()
            .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
            .collect::<Vec<_>>()
            .join(", ");
        // Routes stay on loopback, in plain text: the test machine's own
        // traffic. A deployment's routes are TLS (deploy/README.md).
        format!(
            "server_name: {:?}\ncluster {{\n  name: {:?}\n  listen: \"127.0.0.1:{}\"\n  routes: [{routes}]\n}}\n",
            self.server_name, self.cluster, self.route_port
        )
    }
}

/// A port on loopback that nothing listens on now, for a cluster's routes,
/// which every node must know before any starts. Another process could
/// take it in between; the server then fails to start and says so.
pub fn free_port() -> Result<u16, Error> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::Server(format!("no free port on loopback: {e}")))
}

/// The file in a server's store folder that holds what it logged.
pub const SERVER_LOG: &str = "nats-server.log";

/// A running nats-server, killed on drop.
#[derive(Debug)]
pub struct NatsServer {
    child: Child,
    port: u16,
    /// The monitoring port, served by a cluster's nodes only.
    monitor: Option<u16>,
    store: PathBuf,
    _temp: Option<tempfile::TempDir>,
    options: ServerOptions,
    bin: PathBuf,
}

impl NatsServer {
    /// Starts a server with JetStream on loopback and waits until it is
    /// ready to accept clients. A random store key is made here and kept
    /// for [`NatsServer::restart`].
    pub fn start(mut options: ServerOptions) -> Result<Self, Error> {
        match &options.encryption {
            StoreEncryption::RandomKey => {
                options.encryption = StoreEncryption::Key {
                    cipher: Cipher::default(),
                    key: random_store_key(),
                };
            }
            StoreEncryption::Key { key, .. } => check_store_key(key.expose())?,
            StoreEncryption::Off => {}
        }
        let bin = find_binary()?;
        let (temp, store) = match &options.store_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("homeward-nats-")
                    .tempdir()
                    .map_err(|e| Error::Server(format!("cannot make a store folder: {e}")))?;
                let path = temp.path().to_owned();
                (Some(temp), path)
            }
        };
        let (child, port, monitor) = spawn(&bin, &store, &options)?;
        Ok(Self {
            child,
            port,
            monitor,
            store,
            _temp: temp,
            options,
            bin,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The client URL: `tls://` when the server serves TLS, else `nats://`.
    pub fn url(&self) -> String {
        let scheme = if self.options.tls.is_some() {
            "tls"
        } else {
            "nats"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The monitoring endpoint (`http://127.0.0.1:<port>`), which a
    /// cluster's nodes serve on loopback so that a test can ask which node
    /// leads the cluster's metadata (`/jsz`); `None` on a lone server.
    pub fn monitor_url(&self) -> Option<String> {
        self.monitor.map(|p| format!("http://127.0.0.1:{p}"))
    }

    /// The TLS files the server serves with, if it does.
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.options.tls.as_ref()
    }

    /// The JetStream store folder.
    pub fn store_dir(&self) -> &Path {
        &self.store
    }

    /// The cipher the store is encrypted with; `None` when it is not.
    pub fn store_cipher(&self) -> Option<Cipher> {
        match &self.options.encryption {
            StoreEncryption::Key { cipher, .. } => Some(*cipher),
            StoreEncryption::RandomKey | StoreEncryption::Off => None,
        }
    }

    /// Whether the server process is alive.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the server hard (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the server and starts it again on the same port and store.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.kill();
        let mut options = self.options.clone();
        options.port = Some(self.port);
        let (child, port, monitor) = spawn(&self.bin, &self.store, &options)?;
        self.child = child;
        self.port = port;
        self.monitor = monitor;
        Ok(())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(
    bin: &Path,
    store: &Path,
    options: &ServerOptions,
) -> Result<(Child, u16, Option<u16>), Error> {
    std::fs::create_dir_all(store).map_err(|e| Error::Io {
        path: store.to_owned(),
        source: e,
    })?;
    let port = options
        .port
        .map_or_else(|| "-1".to_owned(), |p| p.to_string());
    let sync = if options.sync_always {
        "  sync_interval: always\n"
    } else {
        ""
    };
    // The key itself goes into the server's environment, never into the
    // file, which lives in the store folder it protects.
    let (encryption, key) = match &options.encryption {
        StoreEncryption::Key { cipher, key } => (
            format!(
                "  cipher: {}\n  key: ${STORE_KEY_ENV}\n",
                cipher.as_config()
            ),
            Some(key.expose()),
        ),
        StoreEncryption::RandomKey | StoreEncryption::Off => (String::new(), None),
    };
    let tls = options
        .tls
        .as_ref()
        .map(|files| files.server_config() + "\n")
        .unwrap_or_default();
    let cluster = options
        .cluster
        .as_ref()
        .map(ClusterNode::config)
        .unwrap_or_default();
    // A cluster's nodes serve monitoring on loopback, on a port of their
    // choosing, for the tests that ask which node leads what.
    let http = if options.cluster.is_some() {
        "\"127.0.0.1:-1\""
    } else {
        "0"
    };
    let config = format!(
        "listen: \"127.0.0.1:{port}\"\nhttp: {http}\nmax_payload: 1MB\n{cluster}jetstream {{\n  store_dir: {store:?}\n{sync}{encryption}}}\n{tls}{}\n",
        options.extra_config,
        store = store.display().to_string(),
    );
    let config_path = store.join("homeward-nats.conf");
    std::fs::write(&config_path, config).map_err(|e| Error::Io {
        path: config_path.clone(),
        source: e,
    })?;
    let mut command = Command::new(bin);
    match key {
        Some(key) => command.env(STORE_KEY_ENV, key),
        None => command.env_remove(STORE_KEY_ENV),
    };
    let mut child = command
        .arg("-c")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Server(format!("cannot start {}: {e}", bin.display())))?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| Error::Server("no stderr from nats-server".into()))?;
    let (tx, rx) = mpsc::channel::<Result<(u16, Option<u16>), String>>();
    // Everything the server says is kept in its store folder, appended
    // across restarts, for a test that must find out what it did.
    let mut log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(store.join(SERVER_LOG))
        .ok();
    std::thread::spawn(move || {
        let mut port = None;
        let mut monitor = None;
        let mut log = Vec::new();
        let mut reported = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(f) = log_file.as_mut() {
                let _ = writeln!(f, "{line}");
            }
            if !reported {
                if let Some(rest) = line.split("Listening for client connections on ").nth(1) {
                    port = rest
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.trim().parse::<u16>().ok());
                }
                if let Some(rest) = line.split("Starting http monitor on ").nth(1) {
                    monitor = rest
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.trim().parse::<u16>().ok());
                }
                if line.contains("Server is ready") {
                    reported = true;
                    let _ = tx.send(
                        port.map(|p| (p, monitor))
                            .ok_or_else(|| "no port in the server log".to_owned()),
                    );
                    continue;
                }
                log.push(line);
            }
        }
        if !reported {
            let _ = tx.send(Err(log.join("\n")));
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok((port, monitor))) => Ok((child, port, monitor)),
        Ok(Err(log)) => {
            let _ = child.kill();
            Err(Error::Server(format!("did not start:\n{log}")))
        }
        Err(_) => {
            let _ = child.kill();
            Err(Error::Server("not ready within 30 s".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_keys_travel_unchanged_or_are_refused() {
        let key = random_store_key();
        assert!(check_store_key(key.expose()).is_ok());
        assert_ne!(key.expose(), random_store_key().expose());
        assert_eq!(format!("{key:?}"), "Secret(…)");
        let digits = "1".repeat(40);
        for bad in [
            "short",
            digits.as_str(),
            "0abcdefabcdefabcdefabcdefabcdefabcdef",
            "abcdefabcdefabcdef#abcdefabcdefabcdef",
            "abcdefabcdefabcdef abcdefabcdefabcdef",
        ] {
            let err = check_store_key(bad).expect_err(bad).to_string();
            assert!(!err.contains(bad), "the error repeats the key: {err}");
        }
    }

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("nats-server: v2.15.1\n"), Some((2, 15, 1)));
        assert_eq!(parse_version("nats-server: v2.9.10"), Some((2, 9, 10)));
        assert!((2, 9) < MIN_VERSION);
    }
}
