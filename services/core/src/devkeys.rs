//! Development keys: one signing seed per member in a git-ignored folder,
//! and a keyring file with their public keys for the policy to include.
//!
//! This is for laptops, demos and tests only. In production each ministry
//! makes its own key where it runs, and only the public key travels, into
//! the policy.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::envelope::format_time;
use crate::{Error, MemberId, SigningKey};

/// The keyring file's name inside the keys folder.
pub const KEYRING_FILE: &str = "keyring.toml";

/// The seed file of `member` inside `dir`.
pub fn seed_path(dir: &Path, member: &MemberId) -> PathBuf {
    dir.join(format!("{member}.nk"))
}

/// Reads `member`'s seed from `dir`.
pub fn load(dir: &Path, member: &MemberId) -> Result<SigningKey, Error> {
    SigningKey::from_file(&seed_path(dir, member))
}

/// Makes a seed for each member that has none in `dir` (or for all, with
/// `replace`), and rewrites the keyring listing every seed in `dir` that
/// belongs to one of `members`. Returns the public keys.
pub fn generate(
    dir: &Path,
    members: &[MemberId],
    replace: bool,
) -> Result<BTreeMap<MemberId, SigningKey>, Error> {
    let io = |path: &Path, e: std::io::Error| Error::Io {
        path: path.to_owned(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let readme = dir.join("README");
    std::fs::write(
        &readme,
        "Development signing keys for Homeward. PRIVATE: never commit, never use in production.\n\
         Made by `homeward keys generate`; the public halves are in keyring.toml.\n",
    )
    .map_err(|e| io(&readme, e))?;
    let mut keys = BTreeMap::new();
    for member in members {
        let path = seed_path(dir, member);
        let key = if !replace && path.exists() {
            SigningKey::from_file(&path)?
        } else {
            let key = SigningKey::generate();
            write_secret(&path, &key.seed()).map_err(|e| io(&path, e))?;
            key
        };
        keys.insert(member.clone(), key);
    }
    let from = format_time(OffsetDateTime::now_utc() - time::Duration::days(1));
    let mut ring = String::from(
        "# Public halves of the development keys in this folder. Made by `homeward keys generate`.\n",
    );
    for (member, key) in &keys {
        let _ = write!(
            ring,
            "\n[[key]]\nmember = \"{member}\"\npublic = \"{}\"\nvalid_from = \"{from}\"\n",
            key.public()
        );
    }
    let ring_path = dir.join(KEYRING_FILE);
    std::fs::write(&ring_path, ring).map_err(|e| io(&ring_path, e))?;
    Ok(keys)
}

fn write_secret(path: &Path, text: &str) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")
    }
    #[cfg(not(unix))]
    std::fs::write(path, text)
}
