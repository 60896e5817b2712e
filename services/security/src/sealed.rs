//! The located units a security service holds, kept between restarts on
//! the service's own disk, sealed.
//!
//! A located unit is the names and birth dates the camp recorded for a
//! family: what the matcher ranks registry records against. Memory alone
//! loses them at every restart, and the official then verifies without
//! candidates. The NATS server is no place for them (it is run by the
//! server's administrator, may serve other members, and replicates; see
//! [`crate::candidates`]). So they go to a folder of the service's own
//! site, one file per case, each sealed with XChaCha20-Poly1305 under a key
//! derived from the member's signing seed: a copy of the folder without
//! the seed reads as noise, and a file altered or moved to another case's
//! name fails to open.
//!
//! - **Key**: HMAC-SHA256 of [`KEY_LABEL`] under the member's signing seed,
//!   so it changes when the key is rotated (units sealed under the old
//!   seed are then passed over, as after a restart without this store).
//! - **File**: `<hex HMAC-SHA256 of the case reference>.sealed`, so that a
//!   listing of the folder names no case; it holds a random 24-byte nonce
//!   and the ciphertext of `{"caseRef", "located"}`, with the file name as
//!   associated data. Written to a temporary file, synced and renamed:
//!   a crash leaves the old unit or the new one, never half of one.
//! - **Mode**: the folder 0700, the files 0600.

use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// What the sealing key is derived for.
pub const KEY_LABEL: &[u8] = b"homeward-security/located-units/v1";
const SUFFIX: &str = ".sealed";
const NONCE_LEN: usize = 24;

/// The sealing key of a member: derived from its signing seed.
pub fn key_from_seed(seed: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(seed.trim().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(KEY_LABEL);
    mac.finalize().into_bytes().into()
}

/// A folder of sealed located units.
pub struct SealedStore {
    dir: PathBuf,
    key: [u8; 32],
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SealedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// What [`SealedStore::load`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// `(caseRef, located data)` of every unit that opened.
    pub units: Vec<(String, Value)>,
    /// Files that did not open: another key, altered, or not ours.
    pub unreadable: Vec<PathBuf>,
}

impl SealedStore {
    /// Opens (and makes) the folder `dir` for units sealed under `key`.
    pub fn open(dir: &Path, key: [u8; 32]) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self {
            dir: dir.to_owned(),
            cipher: XChaCha20Poly1305::new(&key.into()),
            key,
        })
    }

    fn file_name(&self, case_ref: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC takes a key of any length");
        mac.update(b"file name of case ");
        mac.update(case_ref.as_bytes());
        format!("{}{SUFFIX}", hex::encode(mac.finalize().into_bytes()))
    }

    /// Seals and stores the located unit of `case_ref`, replacing the one
    /// held before.
    pub fn put(&self, case_ref: &str, located: &Value) -> std::io::Result<()> {
        let name = self.file_name(case_ref);
        let plain = serde_json::to_vec(&json!({"caseRef": case_ref, "located": located}))
            .map_err(std::io::Error::other)?;
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| std::io::Error::other("sealing a located unit failed"))?;
        let path = self.dir.join(&name);
        let temporary = self.dir.join(format!(".{name}.{}", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary)?;
        file.write_all(&nonce)?;
        file.write_all(&sealed)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, &path)?;
        // The rename is durable once the folder is.
        std::fs::File::open(&self.dir)?.sync_all()
    }

    /// Every unit that opens under this key; the rest are named, not read.
    pub fn load(&self) -> std::io::Result<Loaded> {
        let mut loaded = Loaded::default();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !name.ends_with(SUFFIX) || name.starts_with('.') {
                continue;
            }
            match self.open_file(&path, name) {
                Some(unit) => loaded.units.push(unit),
                None => loaded.unreadable.push(path),
            }
        }
        loaded.units.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(loaded)
    }

    fn open_file(&self, path: &Path, name: &str) -> Option<(String, Value)> {
        let bytes = std::fs::read(path).ok()?;
        if bytes.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: name.as_bytes(),
                },
            )
            .ok()?;
        let value: Value = serde_json::from_slice(&plain).ok()?;
        let case_ref = value.get("caseRef")?.as_str()?.to_owned();
        // A file copied over another case's name opens (same key, its own
        // name as associated data) only under its own name.
        (self.file_name(&case_ref) == name).then(|| (case_ref, value["located"].clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(label: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "hw-sealed-{label}-{}-{}",
            std::process::id(),
            homeward_core::envelope::new_id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_unit_opens_again_under_its_key_and_reads_as_noise_without_it() {
        let d = dir("roundtrip");
        let key = key_from_seed("SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU");
        let store = SealedStore::open(&d, key).expect("opens");
        let located =
            json!({"caseRef": "HOL-1", "persons": [{"names": {"latn": "Qzxwvut Unique"}}]});
        store.put("HOL-1", &located).expect("puts");
        store
            .put("HOL-2", &json!({"caseRef": "HOL-2"}))
            .expect("puts");
        let loaded = SealedStore::open(&d, key)
            .expect("opens")
            .load()
            .expect("loads");
        assert_eq!(loaded.units.len(), 2);
        assert_eq!(loaded.units[0], ("HOL-1".to_owned(), located));
        assert!(loaded.unreadable.is_empty());
        for entry in std::fs::read_dir(&d).expect("dir") {
            let path = entry.expect("entry").path();
            let bytes = std::fs::read(&path).expect("reads");
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains("Qzxwvut") && !text.contains("HOL-"),
                "{path:?}"
            );
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            assert!(!name.contains("HOL"), "{name}");
        }
        // Another seed opens nothing.
        let other = SealedStore::open(&d, key_from_seed("SUOTHER")).expect("opens");
        let loaded = other.load().expect("loads");
        assert!(loaded.units.is_empty());
        assert_eq!(loaded.unreadable.len(), 2);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn an_altered_or_renamed_unit_does_not_open() {
        let d = dir("tamper");
        let key = key_from_seed("SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU");
        let store = SealedStore::open(&d, key).expect("opens");
        store.put("HOL-1", &json!({"n": 1})).expect("puts");
        store.put("HOL-2", &json!({"n": 2})).expect("puts");
        let one = d.join(store.file_name("HOL-1"));
        let two = d.join(store.file_name("HOL-2"));
        // HOL-1's unit copied over HOL-2's name.
        std::fs::copy(&one, &two).expect("copies");
        // One bit of HOL-1's flipped.
        let mut bytes = std::fs::read(&one).expect("reads");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&one, bytes).expect("writes");
        let loaded = store.load().expect("loads");
        assert!(loaded.units.is_empty(), "{:?}", loaded.units);
        assert_eq!(loaded.unreadable.len(), 2);
        let _ = std::fs::remove_dir_all(&d);
    }
}
