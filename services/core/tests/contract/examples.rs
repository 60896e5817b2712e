//! Every schema is a valid 2020-12 schema with the documentation integrators
//! need; every valid example envelope passes the envelope schema, its data
//! schema, the typed parser and its signature; every invalid one fails at
//! the instance path it is labelled with.
//!
//! Example envelopes are signed with published example keys derived from the
//! member id (`schemas/examples/keys.json`), so anyone can check them. When
//! an example changes, `HOMEWARD_BLESS=1 cargo test -p homeward-core --test
//! contract -- --test-threads=1` signs it again; without it, an unsigned or stale example fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use homeward_core::envelope::{self, Envelope};
use homeward_core::schema::{DataCheck, SchemaRegistry};
use homeward_core::{MemberId, SigningKey};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::schemas_dir;

fn example_key(member: &str) -> SigningKey {
    let digest = Sha256::digest(format!("homeward example key for {member}").as_bytes());
    SigningKey::from_raw_seed(digest.into())
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let p = entry.path();
        if p.is_dir() {
            files_under(&p, out);
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
    out.sort();
}

struct Example {
    path: PathBuf,
    /// The whole file.
    file: Value,
    valid: bool,
}

impl Example {
    fn envelope(&self) -> &Value {
        if self.valid {
            &self.file
        } else {
            &self.file["envelope"]
        }
    }
    fn envelope_mut(&mut self) -> &mut Value {
        if self.valid {
            &mut self.file
        } else {
            &mut self.file["envelope"]
        }
    }
    fn fails_at(&self) -> &str {
        self.file["failsAt"].as_str().unwrap_or("<no failsAt>")
    }
    fn name(&self) -> String {
        self.path
            .strip_prefix(schemas_dir())
            .unwrap_or(&self.path)
            .display()
            .to_string()
    }
}

fn examples() -> Vec<Example> {
    let mut paths = Vec::new();
    files_under(&schemas_dir(), &mut paths);
    paths
        .into_iter()
        .filter(|p| p.components().any(|c| c.as_os_str() == "examples"))
        .filter_map(|path| {
            let parent = path.parent()?.file_name()?.to_str()?.to_owned();
            let valid = match parent.as_str() {
                "valid" => true,
                "invalid" => false,
                _ => return None,
            };
            let text = std::fs::read_to_string(&path).expect("example readable");
            let file: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Some(Example { path, file, valid })
        })
        .collect()
}

fn registry() -> SchemaRegistry {
    SchemaRegistry::load_dir(&schemas_dir()).expect("the schemas load")
}

#[test]
fn the_embedded_schemas_are_the_files_in_the_repository() {
    let embedded = SchemaRegistry::embedded().expect("embedded schemas load");
    let on_disk = registry();
    let a: Vec<_> = embedded.documents().map(|d| (&d.id, &d.value)).collect();
    let b: Vec<_> = on_disk.documents().map(|d| (&d.id, &d.value)).collect();
    assert_eq!(a, b, "rebuild: the binary embeds an older schemas/ folder");
}

#[test]
fn every_lifecycle_type_has_a_schema() {
    let types = registry().message_types();
    for kind in [
        "camp.resident.located",
        "identity.verification.requested",
        "identity.verification.completed",
        "repatriation.requested",
        "repatriation.decided",
        "operation.scheduled",
        "transit.requested",
        "transit.decided",
        "handover.completed",
        "handover.acknowledged",
        "arrival.recorded",
        "rehabilitation.admitted",
        "rehabilitation.discharged",
        "security.screening.completed",
        "custody.assigned",
        "documents.issued",
        "reintegration.registered",
        "gateway.receipt",
        "case.refused",
        "message.processed",
    ] {
        assert!(types.contains_key(kind), "no schema for {kind}");
    }
}

fn check_documented(path: &str, node: &Value, at: &str, problems: &mut Vec<String>) {
    match node {
        Value::Object(o) => {
            if let Some(Value::Object(props)) = o.get("properties") {
                for (name, prop) in props {
                    if prop
                        .get("description")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        problems.push(format!(
                            "{path}: property {at}/properties/{name} has no description"
                        ));
                    }
                }
            }
            for (k, v) in o {
                if k != "examples" && k != "enum" && k != "const" {
                    check_documented(path, v, &format!("{at}/{k}"), problems);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                check_documented(path, v, &format!("{at}/{i}"), problems);
            }
        }
        _ => {}
    }
}

#[test]
fn every_schema_is_documented_with_a_stable_id_title_and_examples() {
    let registry = registry();
    let mut problems = Vec::new();
    for doc in registry.documents() {
        let v = &doc.value;
        let expected_id = format!("{}{}", homeward_core::schema::BASE, doc.path);
        if doc.id != expected_id {
            problems.push(format!(
                "{}: $id {} does not match its path",
                doc.path, doc.id
            ));
        }
        if v["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
            problems.push(format!("{}: not draft 2020-12", doc.path));
        }
        if v["title"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{}: no title", doc.path));
        }
        if v["description"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{}: no description", doc.path));
        }
        let is_message = doc.id.starts_with(homeward_core::schema::MESSAGES_BASE)
            || doc.id == homeward_core::schema::ENVELOPE_ID;
        if is_message && v["examples"].as_array().is_none_or(Vec::is_empty) {
            problems.push(format!("{}: no examples", doc.path));
        }
        check_documented(&doc.path, v, "", &mut problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn each_message_type_has_two_valid_and_three_invalid_examples() {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for e in examples() {
        let kind = e.envelope()["type"].as_str().unwrap_or("").to_owned();
        if e.path.to_string_lossy().contains("/envelope/") {
            continue;
        }
        let c = counts.entry(kind).or_default();
        if e.valid { c.0 += 1 } else { c.1 += 1 }
    }
    for kind in registry().message_types().keys() {
        let (valid, invalid) = counts.get(kind).copied().unwrap_or_default();
        assert!(
            valid >= 2 && invalid >= 3,
            "{kind}: {valid} valid and {invalid} invalid examples"
        );
    }
}

fn should_be_signed(e: &Example) -> bool {
    e.valid || !e.fails_at().starts_with("/sig")
}

fn sign_copy(e: &Example) -> Option<Value> {
    let member = MemberId::from_source(e.envelope()["source"].as_str()?).ok()?;
    let mut object: Map<String, Value> = e.envelope().as_object()?.clone();
    envelope::sign_value(&mut object, &example_key(member.as_str())).ok()?;
    Some(Value::Object(object))
}

#[test]
fn examples_are_signed_with_the_published_example_keys() {
    let bless = std::env::var_os("HOMEWARD_BLESS").is_some();
    let mut stale = Vec::new();
    let mut keys = BTreeMap::new();
    for mut e in examples() {
        if let Some(member) = e.envelope()["source"]
            .as_str()
            .and_then(|s| MemberId::from_source(s).ok())
        {
            keys.insert(
                member.to_string(),
                example_key(member.as_str()).public().to_string(),
            );
        }
        if !should_be_signed(&e) {
            continue;
        }
        let Some(signed) = sign_copy(&e) else {
            // An envelope whose source is not a member cannot be signed by a
            // member key; it fails before signatures matter.
            continue;
        };
        if &signed != e.envelope() {
            if bless {
                *e.envelope_mut() = signed;
                let text = serde_json::to_string_pretty(&e.file).expect("json") + "\n";
                std::fs::write(&e.path, text).expect("write example");
            } else {
                stale.push(e.name());
            }
        }
    }
    let keys_path = schemas_dir().join("examples/keys.json");
    let keys_doc = serde_json::json!({
        "description": "Public keys of the example envelopes' signers. Example keys only: each seed is SHA-256 of \"homeward example key for <member>\", so they are public and must never be trusted for real traffic.",
        "keys": keys,
    });
    let keys_text = serde_json::to_string_pretty(&keys_doc).expect("json") + "\n";
    if std::fs::read_to_string(&keys_path).ok().as_deref() != Some(keys_text.as_str()) {
        if bless {
            std::fs::create_dir_all(keys_path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&keys_path, keys_text).expect("write keys");
        } else {
            stale.push("examples/keys.json".into());
        }
    }
    assert!(
        stale.is_empty(),
        "unsigned or stale examples (run HOMEWARD_BLESS=1 cargo test -p homeward-core --test contract -- --test-threads=1):\n{}",
        stale.join("\n")
    );
}

#[test]
fn valid_examples_pass_everything() {
    let registry = registry();
    let mut problems = Vec::new();
    for e in examples().into_iter().filter(|e| e.valid) {
        let v = e.envelope();
        let mut p: Vec<String> = registry
            .validate_envelope(v)
            .iter()
            .map(ToString::to_string)
            .collect();
        match Envelope::from_value(v.clone()) {
            Err(err) => p.push(format!("parser: {err}")),
            Ok(env) => {
                if let Err(err) = env.verify_signature() {
                    p.push(format!("signature: {err}"));
                }
                let member = env.sender().as_str();
                if env.sigkey() != example_key(member).public().as_str() {
                    p.push("not signed with the example key of its source".into());
                }
                match registry.validate_data(env.message_type(), env.dataschema(), env.data()) {
                    Ok(()) => {}
                    Err(DataCheck::UnknownSchema(s)) => p.push(s),
                    Err(DataCheck::Violations(vs)) => p.extend(vs.iter().map(ToString::to_string)),
                }
                let expected_dir = format!("messages/{}/", env.message_type());
                if !e.name().starts_with(&expected_dir) {
                    p.push(format!("type {} is not the folder's", env.message_type()));
                }
            }
        }
        if !p.is_empty() {
            problems.push(format!("{}:\n  {}", e.name(), p.join("\n  ")));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn invalid_examples_fail_at_their_labelled_path() {
    let registry = registry();
    let mut problems = Vec::new();
    let mut checked = 0;
    for e in examples().into_iter().filter(|e| !e.valid) {
        checked += 1;
        let v = e.envelope();
        let want = e.fails_at();
        let mut paths: Vec<String> = registry
            .validate_envelope(v)
            .into_iter()
            .map(|x| x.instance_path)
            .collect();
        if let (Some(kind), Some(schema), Some(data)) =
            (v["type"].as_str(), v["dataschema"].as_str(), v.get("data"))
            && let Err(DataCheck::Violations(vs)) = registry.validate_data(kind, schema, data)
        {
            paths.extend(vs.into_iter().map(|x| x.instance_path));
        }
        if paths.is_empty() {
            problems.push(format!("{}: passes, but should fail at {want}", e.name()));
        } else if !paths.iter().any(|p| p == want) {
            problems.push(format!("{}: fails at {paths:?}, not at {want}", e.name()));
        }
        if let Some(extra) = paths
            .iter()
            .find(|p| !p.starts_with(want) && !want.starts_with(p.as_str()))
        {
            problems.push(format!(
                "{}: also fails at {extra}, unrelated to {want}",
                e.name()
            ));
        }
    }
    assert!(checked >= 60, "only {checked} invalid examples");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
