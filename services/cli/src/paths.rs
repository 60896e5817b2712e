//! Default locations, relative to the repository when run from inside it.

use std::path::{Path, PathBuf};

/// The default folder of development keys.
pub const DEV_KEYS: &str = "dev-keys";

/// Resolves a relative default path against the current folder, or, if it
/// is not there, against the repository this binary was built from (so the
/// demo works from anywhere in the checkout).
pub fn resolve(path: &Path) -> PathBuf {
    if path.is_absolute() || path.exists() {
        return path.to_owned();
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidate = repo.join(path);
    if candidate.exists() {
        candidate
    } else {
        path.to_owned()
    }
}
