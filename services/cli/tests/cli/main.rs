//! The `homeward` binary as a user runs it.

mod deploy;
mod ministry;
mod offline;
mod online;
mod parked;

use std::path::PathBuf;
use std::process::{Command, Output};

/// The settings a user's environment could hold: every test clears them, so
/// that only its own arguments count.
const ENV: [&str; 7] = [
    "HOMEWARD_POLICY",
    "HOMEWARD_NATS_URL",
    "HOMEWARD_NATS_NKEY",
    "HOMEWARD_NATS_TLS_CA",
    "HOMEWARD_OPERATOR",
    "HOMEWARD_MEMBER",
    "HOMEWARD_API_TOKEN_FILE",
];

pub fn homeward(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_homeward"));
    for var in ENV {
        command.env_remove(var);
    }
    command.args(args).output().expect("homeward runs")
}

/// [`homeward`], for tests that run a deployment on the same runtime.
pub async fn homeward_async(args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_homeward"));
    for var in ENV {
        command.env_remove(var);
    }
    command.args(args).output().await.expect("homeward runs")
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}
