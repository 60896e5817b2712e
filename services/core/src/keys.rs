//! Signing keys: nkeys encoding, Ed25519 signatures.
//!
//! Keys are written as NATS nkeys (`U…` public, `SU…` seed), so operators
//! handle one key format for signing and for server authentication. Signing
//! goes through `nkeys`; verification uses `ed25519-dalek`'s strict mode,
//! which refuses small-order keys and malleable signatures that the plain
//! check in `nkeys` would accept.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use nkeys::KeyPair;

use crate::Error;

/// A member's private signing key. Never printed.
pub struct SigningKey {
    pair: KeyPair,
    public: PublicKey,
    /// The public key decoded, so that what this key signs is checked
    /// without decoding it again for every envelope.
    decoded: DecodedKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.public.as_str())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh random user key.
    pub fn generate() -> Self {
        Self::from_pair(KeyPair::new_user())
    }

    /// A key derived from 32 bytes: for reproducible examples and tests only.
    pub fn from_raw_seed(bytes: [u8; 32]) -> Self {
        // Only fails for a wrong key type, and the type is fixed here.
        match KeyPair::new_from_raw(nkeys::KeyPairType::User, bytes) {
            Ok(pair) => Self::from_pair(pair),
            Err(_) => unreachable!("a user key pair from 32 raw bytes always builds"),
        }
    }

    /// Parses an nkeys user seed (`SU…`).
    pub fn from_seed(seed: &str) -> Result<Self, Error> {
        let seed = seed.trim();
        if !seed.starts_with("SU") {
            return Err(Error::Key(
                "a member signing seed must be an nkeys user seed starting with SU".into(),
            ));
        }
        let pair = KeyPair::from_seed(seed).map_err(|e| Error::Key(format!("bad seed: {e}")))?;
        Ok(Self::from_pair(pair))
    }

    /// Reads a seed file written by `homeward keys generate`.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_owned(),
            source: e,
        })?;
        Self::from_seed(&text).map_err(|e| Error::Key(format!("{}: {e}", path.display())))
    }

    fn from_pair(pair: KeyPair) -> Self {
        let public = PublicKey(pair.public_key());
        // The public half of a user key pair is always a valid user key.
        let decoded = match DecodedKey::parse(public.as_str()) {
            Ok(decoded) => decoded,
            Err(_) => unreachable!("a user key pair's public key decodes"),
        };
        Self {
            pair,
            public,
            decoded,
        }
    }

    /// The seed, for writing to a key file. Handle as a secret.
    pub fn seed(&self) -> String {
        self.pair.seed().unwrap_or_default()
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The public key, decoded.
    pub fn decoded_public(&self) -> &DecodedKey {
        &self.decoded
    }

    /// Signs `message`, giving the signature in base64url without padding.
    pub fn sign(&self, message: &[u8]) -> String {
        // `sign` fails only for a key pair without a seed; ours always has one.
        let sig = self.pair.sign(message).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(sig)
    }
}

/// A member's public key in nkeys encoding (`U…`, 56 characters).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct PublicKey(String);

impl PublicKey {
    pub fn parse(value: &str) -> Result<Self, Error> {
        verifying_key(value)?;
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Verifies a base64url signature over `message` with this key.
    pub fn verify(&self, message: &[u8], sig: &str) -> Result<(), Error> {
        verify(&self.0, message, sig)
    }
}

impl TryFrom<String> for PublicKey {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        Self::parse(&value)
    }
}

impl From<PublicKey> for String {
    fn from(key: PublicKey) -> String {
        key.0
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

fn verifying_key(public: &str) -> Result<VerifyingKey, Error> {
    if !public.starts_with('U') || public.len() != 56 {
        return Err(Error::Key(
            "a member public key must be an nkeys user key: 56 characters starting with U".into(),
        ));
    }
    let (_, raw) =
        nkeys::from_public_key(public).map_err(|e| Error::Key(format!("bad public key: {e}")))?;
    VerifyingKey::from_bytes(&raw).map_err(|e| Error::Key(format!("bad public key: {e}")))
}

/// Verifies a base64url (no padding) Ed25519 signature made by the nkeys
/// user key `public` over `message`, in strict mode.
pub fn verify(public: &str, message: &[u8], sig: &str) -> Result<(), Error> {
    DecodedKey::parse(public)?.verify(message, sig)
}

/// An nkeys user public key, decoded: its curve point decompressed and
/// checked once, so that it can verify any number of signatures without
/// doing that again (a few microseconds each time, in [`verify`]). An
/// envelope keeps the one its `sigkey` decodes to; a gateway keeps the
/// policy's keys decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodedKey(VerifyingKey);

impl DecodedKey {
    /// Decodes an nkeys user public key (`U…`, 56 characters).
    pub fn parse(public: &str) -> Result<Self, Error> {
        verifying_key(public).map(Self)
    }

    /// Verifies a base64url (no padding) Ed25519 signature over `message`,
    /// in strict mode.
    pub fn verify(&self, message: &[u8], sig: &str) -> Result<(), Error> {
        let raw = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| Error::Signature("signature is not base64url without padding".into()))?;
        let raw: [u8; 64] = raw
            .try_into()
            .map_err(|_| Error::Signature("signature is not 64 bytes".into()))?;
        self.0
            .verify_strict(message, &Signature::from_bytes(&raw))
            .map_err(|_| Error::Signature("signature does not verify".into()))
    }
}

// The layout of a keys folder, as every party keeps one: where a member's
// signing seed and an identity's NATS user seed are, and the files listing
// their public halves. `homeward keys generate` fills one for development;
// a ministry's own keys folder has the same shape.

/// The keyring file's name inside a keys folder: public signing keys.
pub const KEYRING_FILE: &str = "keyring.toml";

/// The file of NATS public keys inside a keys folder.
pub const NATS_KEYS_FILE: &str = "nats-users.toml";

/// The signing seed file of `member` inside `dir`.
pub fn seed_path(dir: &Path, member: &crate::MemberId) -> std::path::PathBuf {
    dir.join(format!("{member}.nk"))
}

/// The NATS user seed file of `identity` (a member id or `admin`) inside
/// `dir`.
pub fn nats_seed_path(dir: &Path, identity: &str) -> std::path::PathBuf {
    dir.join(format!("{identity}.nats.nk"))
}

/// Reads a NATS user seed file (`SU…`), checked: the one place a NATS seed
/// file is read. The error names the file, never the seed.
pub fn read_nats_seed(path: &Path) -> Result<String, Error> {
    let seed = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.to_owned(),
        source: e,
    })?;
    let seed = seed.trim().to_owned();
    nats_public_key(&seed).map_err(|e| Error::Key(format!("{}: {e}", path.display())))?;
    Ok(seed)
}

/// The public key (`U…`) of a NATS user seed, checking it is one.
pub fn nats_public_key(seed: &str) -> Result<String, Error> {
    if !seed.starts_with("SU") {
        return Err(Error::Key(
            "a NATS user seed must be an nkeys user seed starting with SU".into(),
        ));
    }
    KeyPair::from_seed(seed)
        .map(|pair| pair.public_key())
        .map_err(|e| Error::Key(format!("bad NATS seed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify() {
        let key = SigningKey::generate();
        let sig = key.sign(b"hello");
        assert_eq!(sig.len(), 86);
        key.public().verify(b"hello", &sig).expect("verifies");
        assert!(key.public().verify(b"hellO", &sig).is_err());
        let other = SigningKey::generate();
        assert!(other.public().verify(b"hello", &sig).is_err());
    }

    #[test]
    fn seeds_round_trip_and_are_not_printed() {
        let key = SigningKey::generate();
        let again = SigningKey::from_seed(&key.seed()).expect("seed parses");
        assert_eq!(key.public(), again.public());
        assert!(!format!("{key:?}").contains(&key.seed()));
    }

    #[test]
    fn wrong_key_kinds_are_refused() {
        let account = KeyPair::new_account();
        assert!(PublicKey::parse(&account.public_key()).is_err());
        assert!(SigningKey::from_seed(&account.seed().expect("seed")).is_err());
        assert!(PublicKey::parse("Unot-a-key").is_err());
    }
}
