//! A published schema version never changes: a change is a new version.
//!
//! `schemas/published.lock` holds the SHA-256 of every schema file (each
//! `v<N>.json` under `schemas/`). A file whose bytes differ from its
//! locked hash fails this test, which says to publish a new version
//! instead. A new file fails too until it is added to the lock, with
//! `HOMEWARD_BLESS=1 cargo test -p homeward-core --test contract published_schema_versions_never_change`,
//! which adds new files and never rewrites a locked hash.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

fn schemas() -> PathBuf {
    crate::schemas_dir()
}

/// Every published schema file, by its path under `schemas/`.
fn published() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![schemas()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("schemas") {
            let path = entry.expect("entry").path();
            let name = path.file_name().expect("name").to_string_lossy();
            if path.is_dir() {
                if name != "examples" {
                    dirs.push(path);
                }
            } else if name.starts_with('v') && name.ends_with(".json") {
                let bytes = std::fs::read(&path).expect("schema");
                let relative = path
                    .strip_prefix(schemas())
                    .expect("under schemas")
                    .to_string_lossy()
                    .into_owned();
                out.insert(relative, hex::encode(Sha256::digest(bytes)));
            }
        }
    }
    out
}

fn lock_path() -> PathBuf {
    schemas().join("published.lock")
}

fn locked() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(lock_path()).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (hash, path) = l.split_once("  ").expect("`<sha256>  <path>` per line");
            (path.to_owned(), hash.to_owned())
        })
        .collect()
}

#[test]
fn published_schema_versions_never_change() {
    let now = published();
    let mut lock = locked();
    assert!(now.len() >= 30, "only {} schema files found", now.len());
    let mut changed = Vec::new();
    let mut new = Vec::new();
    for (path, hash) in &now {
        match lock.get(path) {
            Some(h) if h == hash => {}
            Some(_) => changed.push(path.clone()),
            None => new.push(path.clone()),
        }
    }
    let removed: Vec<&String> = lock.keys().filter(|p| !now.contains_key(*p)).collect();
    assert!(
        changed.is_empty(),
        "published schema versions changed: {changed:?}. A published version never changes: \
         restore it, and publish the change as a new version (v2.json beside v1.json)"
    );
    assert!(
        removed.is_empty(),
        "published schema versions removed: {removed:?}. Integrators may still send them"
    );
    if !new.is_empty() {
        if std::env::var_os("HOMEWARD_BLESS").is_some() {
            for path in &new {
                lock.insert(path.clone(), now[path].clone());
            }
            let mut text = String::from(
                "# SHA-256 of every published schema version. A locked file never changes;\n\
                 # a change is a new version. New files are added with HOMEWARD_BLESS=1\n\
                 # (services/core/tests/contract/published.rs).\n",
            );
            for (path, hash) in &lock {
                text.push_str(&format!("{hash}  {path}\n"));
            }
            std::fs::write(lock_path(), text).expect("lock written");
        } else {
            panic!(
                "schema files not in schemas/published.lock: {new:?}. Publish them with \
                 HOMEWARD_BLESS=1 cargo test -p homeward-core --test contract published_schema_versions_never_change"
            );
        }
    }
}
