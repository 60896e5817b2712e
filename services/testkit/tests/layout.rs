//! The test kit stays out of production: no production crate depends on it
//! except as a dev-dependency, and the `homeward` binary only through its
//! optional `dev` feature.

use std::path::{Path, PathBuf};

fn services() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn manifest(krate: &str) -> toml::Table {
    let path = services().join(krate).join("Cargo.toml");
    let text = std::fs::read_to_string(&path).expect("manifest");
    text.parse().expect("toml")
}

/// Harnesses that stand on the test kit by design: the kit, the replay's
/// whole world, and the fault harness (`homeward-chaos`, run by its test
/// and `scripts/chaos`, never installed).
const HARNESSES: [&str; 3] = ["testkit", "replay", "chaos"];

#[test]
fn no_production_crate_depends_on_the_test_kit() {
    let mut checked = 0;
    for entry in std::fs::read_dir(services()).expect("services") {
        let dir = entry.expect("entry").path();
        let name = dir
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if HARNESSES.contains(&name.as_str()) || !dir.join("Cargo.toml").is_file() {
            continue;
        }
        let manifest = manifest(&name);
        let dependencies = manifest
            .get("dependencies")
            .and_then(toml::Value::as_table)
            .expect("[dependencies]");
        for harness in HARNESSES {
            let Some(dependency) = dependencies.get(&format!("homeward-{harness}")) else {
                continue;
            };
            // Only the command line, and only behind its `dev` feature.
            assert_eq!(name, "cli", "{name} depends on homeward-{harness}");
            assert_eq!(
                dependency.get("optional").and_then(toml::Value::as_bool),
                Some(true),
                "the command line depends on homeward-{harness} without the dev feature"
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} crates checked");
    let features = manifest("cli");
    let dev = features["features"]["dev"]
        .as_array()
        .expect("a dev feature");
    // The command's dev feature brings the kit (its `demo` stands on the
    // replay through it); the fault harness is a program of its own.
    for harness in HARNESSES.iter().filter(|h| **h == "testkit") {
        assert!(
            dev.iter()
                .any(|f| f.as_str() == Some(&format!("dep:homeward-{harness}"))),
            "the dev feature brings homeward-{harness}"
        );
    }
}
