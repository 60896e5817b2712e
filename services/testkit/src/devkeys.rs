//! Development keys: one signing seed per member in a git-ignored folder,
//! and a keyring file with their public keys for the policy to include.
//!
//! Beside them, one NATS user nkey per member and one for the administrator
//! ([`natsauth::ADMIN`]), which the server authenticates connections by:
//! `<identity>.nats.nk` (seeds `SU…`), with their public halves in
//! [`NATS_KEYS_FILE`] for `homeward policy nats-config`. A NATS key is never
//! a signing key, so holding one does not give the other.
//!
//! This is for laptops, demos and tests only. In production each ministry
//! makes its own key where it runs, and only the public key travels, into
//! the policy.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use time::OffsetDateTime;

use homeward_core::envelope::format_time;
use homeward_core::keys::{self as layout, KEYRING_FILE, NATS_KEYS_FILE};
use homeward_core::natsauth::{self, NatsKeys};
use homeward_core::{Error, MemberId, SigningKey};

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
         Made by `homeward keys generate`: <member>.nk are signing seeds (public halves in\n\
         keyring.toml); <identity>.nats.nk are NATS user seeds the server authenticates\n\
         connections by (public halves in nats-users.toml).\n",
    )
    .map_err(|e| io(&readme, e))?;
    let mut keys = BTreeMap::new();
    for member in members {
        let path = layout::seed_path(dir, member);
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

/// Makes a NATS user seed for each member and the administrator that has
/// none in `dir` (or for all, with `replace`), and rewrites
/// [`NATS_KEYS_FILE`] with their public keys. Returns the seeds by identity.
pub fn generate_nats(
    dir: &Path,
    members: &[MemberId],
    replace: bool,
) -> Result<BTreeMap<String, String>, Error> {
    let io = |path: &Path, e: std::io::Error| Error::Io {
        path: path.to_owned(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut seeds = BTreeMap::new();
    let mut publics = NatsKeys::default();
    let identities = members
        .iter()
        .map(MemberId::as_str)
        .chain([natsauth::ADMIN]);
    for identity in identities {
        let path = layout::nats_seed_path(dir, identity);
        let seed = if !replace && path.exists() {
            layout::read_nats_seed(&path)?
        } else {
            let seed = nkeys::KeyPair::new_user()
                .seed()
                .map_err(|e| Error::Key(format!("making a NATS seed: {e}")))?;
            write_secret(&path, &seed).map_err(|e| io(&path, e))?;
            seed
        };
        publics.insert(identity, &layout::nats_public_key(&seed)?)?;
        seeds.insert(identity.to_owned(), seed);
    }
    let text = format!(
        "# Public halves of the development NATS user keys in this folder (<identity>.nats.nk).\n\
         # Made by `homeward keys generate`; read by `homeward policy nats-config`.\n{}",
        publics.to_toml()
    );
    let path = dir.join(NATS_KEYS_FILE);
    std::fs::write(&path, text).map_err(|e| io(&path, e))?;
    Ok(seeds)
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

/// The policy authority's development key in `dir`, made if missing: its
/// seed in `policy-authority.nk`, its public key in
/// [`homeward_core::published::AUTHORITY_FILE`].
pub fn policy_authority(dir: &Path) -> Result<SigningKey, Error> {
    let io = |path: &Path, e: std::io::Error| Error::Io {
        path: path.to_owned(),
        source: e,
    };
    let seed = dir.join("policy-authority.nk");
    let key = if seed.exists() {
        SigningKey::from_file(&seed)?
    } else {
        let key = SigningKey::generate();
        write_secret(&seed, &key.seed()).map_err(|e| io(&seed, e))?;
        key
    };
    let public = dir.join(homeward_core::published::AUTHORITY_FILE);
    std::fs::write(&public, format!("{}\n", key.public().as_str())).map_err(|e| io(&public, e))?;
    Ok(key)
}

/// Writes `out_dir/policy.toml`: the demo policy with its keyring replaced
/// by `keys_dir`'s, for a process that loads the policy from its file (a
/// service binary, say) with this deployment's keys. Returns its path.
pub fn demo_policy_with_keys(keys_dir: &Path, out_dir: &Path) -> Result<std::path::PathBuf, Error> {
    let io = |path: &Path, e: std::io::Error| Error::Io {
        path: path.to_owned(),
        source: e,
    };
    let source = crate::local::demo_policy_path();
    let text = std::fs::read_to_string(&source).map_err(|e| io(&source, e))?;
    let ring = keys_dir.join(homeward_core::keys::KEYRING_FILE);
    let mut replaced = false;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.trim_start().starts_with("keyrings") {
            replaced = true;
            out.push_str(&format!("keyrings = [{:?}]", ring.display().to_string()));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    if !replaced {
        return Err(Error::Key(format!(
            "{} names no keyrings",
            source.display()
        )));
    }
    let path = out_dir.join("policy.toml");
    std::fs::write(&path, out).map_err(|e| io(&path, e))?;
    Ok(path)
}
