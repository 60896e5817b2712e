//! Checks of the contract itself: schemas, examples, canonical form,
//! signatures, policy loading, TLS to the server. One binary, one module per
//! area.

mod asyncapi;
mod conflicts;
mod examples;
mod jcs;
mod jcs_writer;
mod policy;
mod published;
mod signing;
mod tls;

use std::path::PathBuf;

/// The repository's `schemas/` folder.
pub fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

/// The repository's root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}
