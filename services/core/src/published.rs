//! The policy as published: signed by the policy authority, held in a
//! bucket only the administrator writes, applied by every process while it
//! runs.
//!
//! A revoked key must stop working at once, not when every gateway and
//! every ministry service has been restarted with a new file. So the policy
//! travels as a [`PublishedPolicy`]: the policy's text and the keyrings it
//! uses, a version that only grows, and an Ed25519 signature over its RFC
//! 8785 canonical form by the *policy authority*, a key every process is
//! configured to trust ([`AUTHORITY_FILE`] beside the development keys; in
//! production, the operation's policy board). The administrator publishes
//! it into `hw_policy` in the streams' account (`homeward policy publish`);
//! every other account receives the bucket's current entry by direct get
//! and its updates live ([`crate::natsauth`]), and can change nothing.
//!
//! A process holds a [`PolicyHandle`]: the policy it started with, and
//! [`follow`] swaps in each newer version the authority signed. A document
//! that does not verify, or is not newer than the one held, is refused and
//! reported; the process keeps what it has. Revoking a key is publishing a
//! version in which the key's `valid_until` is the revocation time: messages
//! signed before it still pass, later ones are refused as `expired_key`.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::stream::DirectGetErrorKind;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::{Error, Policy, PublicKey, SchemaRegistry, SigningKey, client, subjects};

/// The policy authority's public key file inside a keys folder.
pub const AUTHORITY_FILE: &str = "policy-authority.pub";

/// The key under which the current policy is kept in its bucket.
pub const CURRENT: &str = "current";

/// The subject the current policy is published on.
pub fn current_subject() -> String {
    format!("$KV.{}.{CURRENT}", subjects::POLICY_BUCKET)
}

/// One keyring the policy uses, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keyring {
    pub name: String,
    pub text: String,
}

/// A policy as the authority signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublishedPolicy {
    /// Only grows: a process refuses a version not above the one it holds.
    pub version: u64,
    /// The policy file's text, with no keyrings named by path.
    pub policy: String,
    pub keyrings: Vec<Keyring>,
    /// The authority's public key.
    pub sigkey: String,
    /// Over the canonical form of everything above.
    #[serde(default)]
    pub sig: String,
}

impl PublishedPolicy {
    /// Signs a policy's text and keyrings as `version`. Keyrings the text
    /// names by path are dropped from it: `keyrings` stands in for them.
    pub fn sign(
        version: u64,
        policy: &str,
        keyrings: Vec<Keyring>,
        authority: &SigningKey,
    ) -> Result<Self, Error> {
        let mut table: toml::Table = toml::from_str(policy).map_err(|e| Error::Policy {
            origin: format!("policy version {version}"),
            problems: vec![e.to_string()],
        })?;
        table.remove("keyrings");
        let policy = toml::to_string(&table).map_err(|e| Error::Policy {
            origin: format!("policy version {version}"),
            problems: vec![e.to_string()],
        })?;
        let mut published = Self {
            version,
            policy,
            keyrings,
            sigkey: authority.public().as_str().to_owned(),
            sig: String::new(),
        };
        published.sig = authority.sign(&published.signing_bytes()?);
        Ok(published)
    }

    fn signing_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut unsigned = self.clone();
        unsigned.sig = String::new();
        let mut value =
            serde_json::to_value(&unsigned).map_err(|e| Error::Canonical(e.to_string()))?;
        if let Some(o) = value.as_object_mut() {
            o.remove("sig");
        }
        crate::canonical::to_vec(&value)
    }

    /// Checks the signature against `authority` and builds the policy.
    pub fn open(&self, authority: &PublicKey, schemas: &SchemaRegistry) -> Result<Policy, Error> {
        if self.sigkey != authority.as_str() {
            return Err(Error::Signature(format!(
                "policy version {} is signed by {}, not by the policy authority",
                self.version, self.sigkey
            )));
        }
        authority
            .verify(&self.signing_bytes()?, &self.sig)
            .map_err(|e| Error::Signature(format!("policy version {}: {e}", self.version)))?;
        let keyrings: Vec<(String, String)> = self
            .keyrings
            .iter()
            .map(|k| (k.name.clone(), k.text.clone()))
            .collect();
        Policy::from_toml(
            &format!("policy version {}", self.version),
            &self.policy,
            &keyrings,
            schemas,
        )
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(self).map_err(|e| Error::Canonical(e.to_string()))
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::Signature(format!("not a published policy: {e}")))
    }
}

/// The policy a process applies now, with its version (0: the one it
/// started with, from its file).
#[derive(Debug, Clone)]
pub struct PolicyHandle {
    current: Arc<RwLock<(u64, Arc<Policy>)>>,
}

impl From<Arc<Policy>> for PolicyHandle {
    fn from(policy: Arc<Policy>) -> Self {
        Self::new(policy)
    }
}

impl PolicyHandle {
    pub fn new(policy: Arc<Policy>) -> Self {
        Self {
            current: Arc::new(RwLock::new((0, policy))),
        }
    }

    /// The policy in force now.
    pub fn get(&self) -> Arc<Policy> {
        self.current
            .read()
            .map(|c| c.1.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().1.clone())
    }

    /// The version in force now.
    pub fn version(&self) -> u64 {
        self.current
            .read()
            .map(|c| c.0)
            .unwrap_or_else(|poisoned| poisoned.into_inner().0)
    }

    /// Applies a published policy if it verifies and is newer than the one
    /// in force; says why not otherwise.
    pub fn apply(
        &self,
        published: &PublishedPolicy,
        authority: &PublicKey,
        schemas: &SchemaRegistry,
    ) -> Result<(), Error> {
        let held = self.version();
        if published.version <= held {
            return Err(Error::Policy {
                origin: format!("policy version {}", published.version),
                problems: vec![format!("not newer than version {held}, which is in force")],
            });
        }
        let policy = Arc::new(published.open(authority, schemas)?);
        let mut current = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Another update may have come in meanwhile.
        if published.version > current.0 {
            *current = (published.version, policy);
        }
        Ok(())
    }
}

/// Applies the current published policy, then every newer one as it is
/// published, until `shutdown`. `client` is connected as any identity: the
/// bucket lives in the streams' account and reaches it through imports.
/// Returns once the policy in force at the call is applied (or none is
/// published), with the follower task's handle.
pub async fn follow(
    nats: async_nats::Client,
    handle: PolicyHandle,
    authority: PublicKey,
    schemas: Arc<SchemaRegistry>,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, Error> {
    let mut updates = nats
        .subscribe(current_subject())
        .await
        .map_err(Error::nats)?;
    let apply = move |bytes: &[u8]| match PublishedPolicy::parse(bytes)
        .and_then(|p| handle.apply(&p, &authority, &schemas).map(|()| p.version))
    {
        Ok(version) => tracing::info!(version, "policy applied"),
        Err(e) => {
            tracing::warn!(error = %e, "a published policy was refused; the one in force stays")
        }
    };
    let bucket = client::homeward_jetstream(nats.clone())
        .get_stream_no_info(format!("KV_{}", subjects::POLICY_BUCKET))
        .await
        .map_err(Error::nats)?;
    match tokio::time::timeout(
        Duration::from_secs(10),
        bucket.direct_get_last_for_subject(current_subject()),
    )
    .await
    {
        Ok(Ok(message)) => apply(&message.payload),
        Ok(Err(e)) if e.kind() == DirectGetErrorKind::NotFound => {
            tracing::info!("no policy published yet; the policy file is in force");
        }
        Ok(Err(e)) => return Err(Error::Nats(format!("reading the published policy: {e}"))),
        Err(_) => return Err(Error::Timeout("reading the published policy".into())),
    }
    Ok(tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return,
                next = updates.next() => next,
            };
            let Some(message) = next else { return };
            apply(&message.payload);
        }
    }))
}

/// Publishes a signed policy into its bucket, as the administrator.
pub async fn publish(admin: &async_nats::Client, published: &PublishedPolicy) -> Result<(), Error> {
    let js = async_nats::jetstream::new(admin.clone());
    let bucket = js
        .get_key_value(subjects::POLICY_BUCKET)
        .await
        .map_err(|e| Error::NotProvisioned(format!("bucket {}: {e}", subjects::POLICY_BUCKET)))?;
    bucket
        .put(CURRENT, published.to_bytes()?.into())
        .await
        .map_err(|e| Error::Nats(format!("publishing the policy: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
[[member]]
id = "kz.mfa"
name = "Ministry of Foreign Affairs of Kazakhstan"
role = "mfa"
"#;

    #[test]
    fn a_policy_signed_by_the_authority_opens_and_nothing_else_does() {
        let schemas = SchemaRegistry::embedded().expect("schemas");
        let authority = SigningKey::generate();
        let published = PublishedPolicy::sign(3, POLICY, Vec::new(), &authority).expect("signs");
        let policy = published.open(authority.public(), &schemas).expect("opens");
        assert_eq!(policy.members().count(), 1);

        let stranger = SigningKey::generate();
        assert!(published.open(stranger.public(), &schemas).is_err());
        let mut altered = published.clone();
        altered.policy = altered.policy.replace("kz.mfa", "uz.mfa");
        assert!(altered.open(authority.public(), &schemas).is_err());
        let mut renumbered = published.clone();
        renumbered.version = 4;
        assert!(renumbered.open(authority.public(), &schemas).is_err());
    }

    #[test]
    fn only_a_newer_version_is_applied() {
        let schemas = SchemaRegistry::embedded().expect("schemas");
        let authority = SigningKey::generate();
        let start = PublishedPolicy::sign(1, POLICY, Vec::new(), &authority)
            .and_then(|p| p.open(authority.public(), &schemas))
            .expect("policy");
        let handle = PolicyHandle::new(Arc::new(start));
        let v2 = PublishedPolicy::sign(2, POLICY, Vec::new(), &authority).expect("signs");
        handle
            .apply(&v2, authority.public(), &schemas)
            .expect("applied");
        assert_eq!(handle.version(), 2);
        assert!(handle.apply(&v2, authority.public(), &schemas).is_err());
        let v1 = PublishedPolicy::sign(1, POLICY, Vec::new(), &authority).expect("signs");
        assert!(handle.apply(&v1, authority.public(), &schemas).is_err());
        assert_eq!(handle.version(), 2);
    }
}
