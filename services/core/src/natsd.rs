//! Finding, checking and running the pinned `nats-server`.
//!
//! The demo and every test run a real server: the binary from
//! `NATS_SERVER_BIN`, else `.tools/nats-server/bin/nats-server` in the
//! checkout (installed by `scripts/install-nats-server`), else `nats-server`
//! on `PATH`. It must be 2.10 or newer: older servers have no
//! `sync_interval` and answer key-value set-up in a form async-nats cannot
//! read. Each [`NatsServer`] listens on a free loopback port, keeps its store
//! in its own folder and is killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::Error;

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

/// How to start a server.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Store folder; a temporary one when `None`.
    pub store_dir: Option<PathBuf>,
    /// Port; a free one when `None`.
    pub port: Option<u16>,
    /// fsync before every ack (`sync_interval: always`).
    pub sync_always: bool,
    /// Extra configuration text appended to the generated file
    /// (authorization, accounts, encryption).
    pub extra_config: String,
}

/// A running nats-server, killed on drop.
#[derive(Debug)]
pub struct NatsServer {
    child: Child,
    port: u16,
    store: PathBuf,
    _temp: Option<tempfile::TempDir>,
    options: ServerOptions,
    bin: PathBuf,
}

impl NatsServer {
    /// Starts a server with JetStream on loopback and waits until it is
    /// ready to accept clients.
    pub fn start(options: ServerOptions) -> Result<Self, Error> {
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
        let (child, port) = spawn(&bin, &store, &options)?;
        Ok(Self {
            child,
            port,
            store,
            _temp: temp,
            options,
            bin,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The client URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The JetStream store folder.
    pub fn store_dir(&self) -> &Path {
        &self.store
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
        let (child, port) = spawn(&self.bin, &self.store, &options)?;
        self.child = child;
        self.port = port;
        Ok(())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(bin: &Path, store: &Path, options: &ServerOptions) -> Result<(Child, u16), Error> {
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
    let config = format!(
        "listen: \"127.0.0.1:{port}\"\nhttp: 0\nmax_payload: 1MB\njetstream {{\n  store_dir: {store:?}\n{sync}}}\n{}\n",
        options.extra_config,
        store = store.display().to_string(),
    );
    let config_path = store.join("homeward-nats.conf");
    std::fs::write(&config_path, config).map_err(|e| Error::Io {
        path: config_path.clone(),
        source: e,
    })?;
    let mut child = Command::new(bin)
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
    let (tx, rx) = mpsc::channel::<Result<u16, String>>();
    std::thread::spawn(move || {
        let mut port = None;
        let mut log = Vec::new();
        let mut reported = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if !reported {
                if let Some(rest) = line.split("Listening for client connections on ").nth(1) {
                    port = rest
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.trim().parse::<u16>().ok());
                }
                if line.contains("Server is ready") {
                    reported = true;
                    let _ = tx.send(port.ok_or_else(|| "no port in the server log".to_owned()));
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
        Ok(Ok(port)) => Ok((child, port)),
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
    fn versions_parse() {
        assert_eq!(parse_version("nats-server: v2.15.1\n"), Some((2, 15, 1)));
        assert_eq!(parse_version("nats-server: v2.9.10"), Some((2, 9, 10)));
        assert!((2, 9) < MIN_VERSION);
    }
}
