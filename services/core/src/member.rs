//! Member and party identifiers, checked at the edge.
//!
//! A member is one organisation unit that sends and receives, written
//! `<party>.<unit>` in lower case (`kz.mfa`, `aanes.camps`). A party is a state
//! (ISO 3166-1 alpha-2, lower case) or a short organisation name. Once a
//! [`MemberId`] exists it is known to be well formed, so subjects, stream
//! filters and NATS permissions built from it cannot be widened by a stray
//! `*`, `>` or `.`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

const MAX_PART: usize = 32;

fn valid_part(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= MAX_PART
        && part
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !part.starts_with('-')
        && !part.ends_with('-')
}

/// A party: a state or an organisation (`kz`, `aanes`, `icrc`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartyId(String);

impl PartyId {
    /// Checks and wraps a party id.
    pub fn parse(value: &str) -> Result<Self, Error> {
        if valid_part(value) {
            Ok(Self(value.to_owned()))
        } else {
            Err(Error::InvalidId {
                kind: "party",
                value: value.to_owned(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PartyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// A member: `<party>.<unit>`, e.g. `kz.mfa`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId(String);

impl MemberId {
    /// Checks and wraps a member id.
    pub fn parse(value: &str) -> Result<Self, Error> {
        match value.split_once('.') {
            Some((party, unit)) if valid_part(party) && valid_part(unit) => {
                Ok(Self(value.to_owned()))
            }
            _ => Err(Error::InvalidId {
                kind: "member",
                value: value.chars().take(80).collect(),
            }),
        }
    }

    /// The member named by a CloudEvents `source` (`urn:homeward:<member>`).
    pub fn from_source(source: &str) -> Result<Self, Error> {
        match source.strip_prefix(SOURCE_PREFIX) {
            Some(rest) => Self::parse(rest),
            None => Err(Error::InvalidId {
                kind: "source",
                value: source.chars().take(80).collect(),
            }),
        }
    }

    /// The CloudEvents `source` for this member.
    pub fn source(&self) -> String {
        format!("{SOURCE_PREFIX}{}", self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The party part, before the dot.
    pub fn party(&self) -> &str {
        self.0.split_once('.').map_or("", |(p, _)| p)
    }

    /// The unit part, after the dot.
    pub fn unit(&self) -> &str {
        self.0.split_once('.').map_or("", |(_, u)| u)
    }

    /// The member id with its dot replaced, for names where a dot is a
    /// separator (consumer names, bucket names, inbox prefixes).
    pub fn token(&self) -> String {
        self.0.replace('.', "_")
    }
}

/// The prefix of every envelope `source`.
pub const SOURCE_PREFIX: &str = "urn:homeward:";

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl FromStr for MemberId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for MemberId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MemberId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_parse_and_split() {
        let m = MemberId::parse("kz.mfa").expect("valid");
        assert_eq!(m.party(), "kz");
        assert_eq!(m.unit(), "mfa");
        assert_eq!(m.source(), "urn:homeward:kz.mfa");
        assert_eq!(
            MemberId::from_source("urn:homeward:aanes.camps")
                .expect("valid")
                .as_str(),
            "aanes.camps"
        );
    }

    #[test]
    fn wildcards_and_odd_shapes_are_refused() {
        for bad in [
            "kz", "kz.*", "kz.>", "KZ.mfa", "kz.mfa.x", ".mfa", "kz.", "kz.-a", "k z.mfa", "",
        ] {
            assert!(MemberId::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(MemberId::from_source("kz.mfa").is_err());
    }
}
