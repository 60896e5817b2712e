//! The gateway's settings: defaults, then a TOML file, then `HOMEWARD_`
//! environment variables.

use std::path::PathBuf;

use homeward_core::settings::NatsSettings;
use serde::Deserialize;

/// Everything a gateway process needs to know.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub nats: NatsSettings,
    /// The policy file.
    pub policy: PathBuf,
    /// The gateway's signing seed file.
    pub key_file: PathBuf,
    /// The gateway's member id in the policy.
    #[serde(default = "default_member")]
    pub member: String,
    /// This instance's name on audit records; the process id if unset.
    #[serde(default)]
    pub instance: Option<String>,
    /// Accepted distance of an envelope's time from the clock, in seconds.
    #[serde(default = "default_window")]
    pub time_window_secs: u64,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
}

fn default_member() -> String {
    "homeward.gateway".into()
}
fn default_window() -> u64 {
    600
}
fn default_batch() -> usize {
    128
}
