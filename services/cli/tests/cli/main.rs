//! The `homeward` binary as a user runs it.

mod ministry;
mod offline;
mod online;

use std::path::PathBuf;
use std::process::{Command, Output};

pub fn homeward(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_homeward"))
        .args(args)
        .env_remove("HOMEWARD_POLICY")
        .env_remove("HOMEWARD_NATS_URL")
        .env_remove("HOMEWARD_NATS_TLS_CA")
        .output()
        .expect("homeward runs")
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
