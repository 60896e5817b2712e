//! How a gateway runs: the [`GatewayConfig`] the library takes, and the
//! process's [`Settings`] it is made from (defaults, then a TOML file, then
//! `HOMEWARD_` environment variables).
//!
//! The defaults are written once, here, as constants: both the settings'
//! serde defaults and [`GatewayConfig::new`] use them.

use std::path::PathBuf;
use std::time::Duration;

use homeward_core::settings::NatsSettings;
use homeward_core::{MemberId, PublicKey, SigningKey};
use serde::Deserialize;

/// The member id the gateway signs receipts as, unless the settings name
/// another.
pub const DEFAULT_MEMBER: &str = "homeward.gateway";
/// How far an envelope's time may be from when the server stored the
/// submission: ±10 min.
pub const DEFAULT_TIME_WINDOW: Duration = Duration::from_secs(600);
/// Submissions fetched and decided per batch.
pub const DEFAULT_BATCH_SIZE: usize = 128;
/// How long a member may leave a delivery untaken before submissions to
/// it are refused (`recipient_backlog`): a week before `HW_DELIVER`'s 90
/// days would discard it.
pub const DEFAULT_BACKLOG_REFUSE_AFTER: Duration = Duration::from_secs(83 * 24 * 3600);
/// How often the gateway looks at every member's backlog.
pub const DEFAULT_BACKLOG_CHECK_EVERY: Duration = Duration::from_secs(60);

/// How a gateway runs.
#[derive(Debug)]
pub struct GatewayConfig {
    /// The gateway's own member id (it signs receipts as this member).
    pub member: MemberId,
    pub key: SigningKey,
    /// This instance's name, on its audit records.
    pub instance: String,
    /// How far an envelope's time may be from the clock
    /// ([`DEFAULT_TIME_WINDOW`] unless set).
    pub time_window: Duration,
    /// Submissions handled per batch ([`DEFAULT_BATCH_SIZE`] unless set).
    pub batch_size: usize,
    /// The policy authority whose published policy versions the gateway
    /// applies while running ([`homeward_core::published`]); the policy
    /// file only when `None`.
    pub policy_authority: Option<PublicKey>,
    /// How long a member may leave a delivery untaken before submissions
    /// to it are refused ([`DEFAULT_BACKLOG_REFUSE_AFTER`] unless set;
    /// [`crate::backlog`]).
    pub backlog_refuse_after: Duration,
    /// How often every member's backlog is looked at
    /// ([`DEFAULT_BACKLOG_CHECK_EVERY`] unless set).
    pub backlog_check_every: Duration,
}

impl GatewayConfig {
    /// The defaults, with the process id as the instance name.
    pub fn new(member: MemberId, key: SigningKey) -> Self {
        Self {
            member,
            key,
            instance: format!("gw-{}", std::process::id()),
            time_window: DEFAULT_TIME_WINDOW,
            batch_size: DEFAULT_BATCH_SIZE,
            policy_authority: None,
            backlog_refuse_after: DEFAULT_BACKLOG_REFUSE_AFTER,
            backlog_check_every: DEFAULT_BACKLOG_CHECK_EVERY,
        }
    }
}

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
    /// The policy authority's public key (`U…`): the gateway then applies
    /// every newer policy it signs and publishes, while running, on top of
    /// the policy file.
    #[serde(default)]
    pub policy_authority: Option<String>,
    /// Where `/metrics` (Prometheus text format) listens, e.g.
    /// `127.0.0.1:9464`; no listener when unset.
    #[serde(default)]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// An OpenTelemetry collector's traces URL (OTLP/HTTP, e.g.
    /// `http://127.0.0.1:4318/v1/traces`): every decision's span is
    /// exported there, a child of the envelope's `traceparent`.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// How long, in seconds, a member may leave a delivery untaken before
    /// submissions to it are refused (`recipient_backlog`).
    #[serde(default = "default_refuse_after")]
    pub backlog_refuse_after_secs: u64,
    /// How often, in seconds, every member's backlog is looked at.
    #[serde(default = "default_check_every")]
    pub backlog_check_secs: u64,
}

impl Settings {
    /// The gateway's configuration: its member id checked and its signing
    /// key read from [`Settings::key_file`].
    pub fn gateway_config(&self) -> Result<GatewayConfig, homeward_core::Error> {
        let member = MemberId::parse(&self.member)?;
        let key = SigningKey::from_file(&self.key_file)?;
        let mut config = GatewayConfig::new(member, key);
        if let Some(instance) = &self.instance {
            config.instance.clone_from(instance);
        }
        config.time_window = Duration::from_secs(self.time_window_secs);
        config.batch_size = self.batch_size;
        config.backlog_refuse_after = Duration::from_secs(self.backlog_refuse_after_secs);
        config.backlog_check_every = Duration::from_secs(self.backlog_check_secs.max(1));
        config.policy_authority = self
            .policy_authority
            .as_deref()
            .map(PublicKey::parse)
            .transpose()?;
        Ok(config)
    }
}

fn default_member() -> String {
    DEFAULT_MEMBER.to_owned()
}
fn default_window() -> u64 {
    DEFAULT_TIME_WINDOW.as_secs()
}
fn default_batch() -> usize {
    DEFAULT_BATCH_SIZE
}
fn default_refuse_after() -> u64 {
    DEFAULT_BACKLOG_REFUSE_AFTER.as_secs()
}
fn default_check_every() -> u64 {
    DEFAULT_BACKLOG_CHECK_EVERY.as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_settings_take_the_configs_defaults() {
        let settings: Settings =
            toml::from_str("policy = \"policy.toml\"\nkey_file = \"gateway.seed\"\n")
                .expect("the two required settings are enough");
        assert_eq!(settings.member, DEFAULT_MEMBER);
        assert_eq!(
            Duration::from_secs(settings.time_window_secs),
            DEFAULT_TIME_WINDOW
        );
        assert_eq!(settings.batch_size, DEFAULT_BATCH_SIZE);
        assert_eq!(settings.instance, None);
    }
}
