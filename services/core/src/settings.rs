//! Layered settings: defaults, then a file, then `HOMEWARD_`-prefixed
//! environment variables (`HOMEWARD_NATS__URL` sets `nats.url`).
//!
//! Each service defines its own typed settings with
//! `#[serde(deny_unknown_fields)]` and loads them with [`load`], so a typo in
//! a file is an error rather than a silently ignored key.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::Error;

/// Loads `T` from its serde defaults, the optional TOML file, and the
/// environment with `prefix` (e.g. `HOMEWARD`).
pub fn load<T: DeserializeOwned>(file: Option<&Path>, prefix: &str) -> Result<T, Error> {
    let mut builder = config::Config::builder();
    if let Some(file) = file {
        builder = builder.add_source(
            config::File::from(file)
                .format(config::FileFormat::Toml)
                .required(true),
        );
    }
    builder = builder.add_source(
        config::Environment::with_prefix(prefix)
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true),
    );
    builder
        .build()
        .and_then(|c| c.try_deserialize())
        .map_err(|e| Error::Settings(e.to_string()))
}

/// A secret setting (a key seed, a credential) that never prints.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// How a service reaches NATS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSettings {
    #[serde(default = "default_url")]
    pub url: String,
    /// An nkey seed for server authentication, if the server asks for one.
    #[serde(default)]
    pub nkey_seed: Option<Secret>,
    /// The CA certificate file (PEM) to check the server's certificate
    /// with. When set, only TLS connections are made, and only this CA is
    /// trusted.
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
}

fn default_url() -> String {
    "nats://127.0.0.1:4222".into()
}

impl Default for NatsSettings {
    fn default() -> Self {
        Self {
            url: default_url(),
            nkey_seed: None,
            tls_ca: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret::new("SUABC")), "Secret(…)");
    }
}
