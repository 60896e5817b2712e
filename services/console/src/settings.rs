//! How the console runs: [`ConsoleConfig`], which the library takes, and
//! the process's [`Settings`] it is made from (defaults, then a TOML file,
//! then `HOMEWARD_` environment variables).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use homeward_core::MemberId;
use homeward_core::message_types as t;
use homeward_core::settings::NatsSettings;
use serde::Deserialize;

use crate::model::Limits;

/// The operator identity the console connects as, unless set.
pub const DEFAULT_OPERATOR: &str = "homeward.operator";

/// How the console watches.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// The operator member it connects as.
    pub operator: MemberId,
    /// How often consumer and stream state are read.
    pub poll_every: Duration,
    /// A consumer with messages waiting and no progress for this long is
    /// stuck.
    pub stuck_after: Duration,
    /// A service that has not answered discovery for this long is down.
    pub down_after: Duration,
    /// How often the live feed sends a new snapshot.
    pub live_every: Duration,
    /// How long a case may wait at a stage (the type of its last accepted
    /// message) before it is late.
    pub late_after: BTreeMap<String, Duration>,
    pub limits: Limits,
}

const DAY: u64 = 24 * 3600;

/// The stages an operation forgets most, with the waits the settings
/// start from: located but not verified after 14 days, verified but not
/// requested after 14, accepted but not scheduled after 30, and so on.
pub fn default_late_after() -> BTreeMap<String, Duration> {
    [
        (t::CAMP_RESIDENT_LOCATED, 14 * DAY),
        (t::IDENTITY_VERIFICATION_REQUESTED, 14 * DAY),
        (t::IDENTITY_VERIFICATION_COMPLETED, 14 * DAY),
        (t::REPATRIATION_REQUESTED, 14 * DAY),
        (t::REPATRIATION_DECIDED, 30 * DAY),
        (t::OPERATION_SCHEDULED, 30 * DAY),
        (t::TRANSIT_REQUESTED, 7 * DAY),
        (t::HANDOVER_COMPLETED, 2 * DAY),
        (t::ARRIVAL_RECORDED, 7 * DAY),
    ]
    .into_iter()
    .map(|(k, d)| (k.to_owned(), Duration::from_secs(d)))
    .collect()
}

impl ConsoleConfig {
    /// The defaults, for `operator`.
    pub fn new(operator: MemberId) -> Self {
        Self {
            operator,
            poll_every: Duration::from_secs(1),
            stuck_after: Duration::from_secs(60),
            down_after: Duration::from_secs(10),
            live_every: Duration::from_millis(500),
            late_after: default_late_after(),
            limits: Limits::default(),
        }
    }
}

/// A duration as the settings write it: a number and a unit, `ms`, `s`,
/// `m`, `h` or `d` (`90s`, `14d`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration {text:?} has no unit (ms, s, m, h or d)"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("duration {text:?} does not start with a whole number"))?;
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => {
            return Err(format!(
                "duration {text:?} has unit {other:?}: use ms, s, m, h or d"
            ));
        }
    };
    n.checked_mul(unit_ms)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("duration {text:?} is too long"))
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// Everything a console process needs to know.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub nats: NatsSettings,
    /// The operator member of the policy.
    #[serde(default = "default_operator")]
    pub operator: String,
    /// The policy file: who the members are.
    pub policy: PathBuf,
    /// Where the console listens.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The operator's NATS user seed file (instead of `nats.nkey_seed`).
    #[serde(default)]
    pub nats_nkey_file: Option<PathBuf>,
    /// The operator token's file: one line of at least 32 characters.
    pub token_file: PathBuf,
    /// The `host:port` names the console answers to besides its address.
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default = "default_poll", deserialize_with = "duration")]
    pub poll_every: Duration,
    #[serde(default = "default_stuck", deserialize_with = "duration")]
    pub stuck_after: Duration,
    #[serde(default = "default_down", deserialize_with = "duration")]
    pub down_after: Duration,
    /// Per stage (message type), how long a case may wait there; replaces
    /// the defaults for the stages it names.
    #[serde(default)]
    pub late_after: BTreeMap<String, String>,
    /// Cases indexed at most.
    #[serde(default)]
    pub max_cases: Option<usize>,
}

fn default_operator() -> String {
    DEFAULT_OPERATOR.to_owned()
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8090))
}
fn default_poll() -> Duration {
    Duration::from_secs(1)
}
fn default_stuck() -> Duration {
    Duration::from_secs(60)
}
fn default_down() -> Duration {
    Duration::from_secs(10)
}

impl Settings {
    /// The library's config.
    pub fn console_config(&self) -> anyhow::Result<ConsoleConfig> {
        let operator = MemberId::parse(&self.operator)
            .map_err(|e| anyhow::anyhow!("operator {:?}: {e}", self.operator))?;
        let mut config = ConsoleConfig::new(operator);
        config.poll_every = self.poll_every;
        config.stuck_after = self.stuck_after;
        config.down_after = self.down_after;
        for (stage, wait) in &self.late_after {
            if !t::ALL.contains(&stage.as_str()) {
                anyhow::bail!("late_after names {stage:?}, which is not a message type");
            }
            let wait =
                parse_duration(wait).map_err(|e| anyhow::anyhow!("late_after.{stage}: {e}"))?;
            config.late_after.insert(stage.clone(), wait);
        }
        if let Some(cases) = self.max_cases {
            config.limits.cases = cases.max(10);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_settings_load_and_a_bad_stage_is_refused() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../deploy/services/console.toml");
        let settings: Settings =
            homeward_core::settings::load(Some(&path), "HOMEWARD_TEST_UNSET").expect("loads");
        let config = settings.console_config().expect("a config");
        assert_eq!(config.operator.as_str(), DEFAULT_OPERATOR);
        assert_eq!(config.stuck_after, Duration::from_secs(120));
        assert_eq!(
            config.late_after.get(t::CAMP_RESIDENT_LOCATED),
            Some(&Duration::from_secs(14 * DAY))
        );
        let mut wrong = settings.clone();
        wrong.late_after.insert("resident.lost".into(), "1d".into());
        let e = wrong.console_config().expect_err("not a message type");
        assert!(e.to_string().contains("resident.lost"), "{e}");
    }

    #[test]
    fn durations_read_with_their_unit_and_a_bad_one_is_named() {
        assert_eq!(parse_duration("14d"), Ok(Duration::from_secs(14 * DAY)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert!(
            parse_duration("14")
                .expect_err("no unit")
                .contains("no unit")
        );
        assert!(
            parse_duration("2w")
                .expect_err("bad unit")
                .contains("\"w\"")
        );
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
