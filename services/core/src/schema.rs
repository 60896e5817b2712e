//! The schema registry: every published JSON Schema, compiled once.
//!
//! `schemas/` is the integration contract. Its files are compiled into the
//! binary (so a deployed gateway validates exactly what it was built with)
//! and can also be loaded from a folder (so `homeward validate` can check a
//! draft schema). References between files resolve by `$id` from this set
//! alone: nothing is fetched. Formats (`date-time`, `date`, `uri`) are
//! asserted, which draft 2020-12 leaves off by default.
//!
//! A message's `dataschema` is the `$id` of its data schema,
//! `https://schemas.homeward.example/messages/<type>/v<N>.json`; the envelope
//! schema checks the CloudEvents attributes around it.

use std::collections::BTreeMap;
use std::path::Path;

use include_dir::{Dir, include_dir};
use jsonschema::{Draft, Registry, Resource, Validator};
use serde_json::Value;

use crate::Error;
use crate::envelope::Violation;

static EMBEDDED: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../schemas");

/// Every schema `$id` starts here.
pub const BASE: &str = "https://schemas.homeward.example/";
/// Every message data schema `$id` starts here.
pub const MESSAGES_BASE: &str = "https://schemas.homeward.example/messages/";
/// The envelope schema.
pub const ENVELOPE_ID: &str = "https://schemas.homeward.example/envelope/v1.json";

/// The `$id` of version `version` of the data schema of `kind`.
pub fn message_schema_id(kind: &str, version: u32) -> String {
    format!("{MESSAGES_BASE}{kind}/v{version}.json")
}

/// Splits a message schema `$id` into its type and version.
pub fn parse_message_schema_id(id: &str) -> Option<(&str, u32)> {
    let rest = id.strip_prefix(MESSAGES_BASE)?.strip_suffix(".json")?;
    let (kind, version) = rest.rsplit_once("/v")?;
    if kind.is_empty() || kind.contains('/') {
        return None;
    }
    Some((kind, version.parse().ok()?))
}

/// Whether `value` is a valid JSON Schema (draft 2020-12 meta-schema).
pub fn meta_check(value: &Value) -> Result<(), String> {
    jsonschema::meta::validate(value).map_err(|e| {
        format!(
            "not a valid JSON Schema at {}: {}",
            e.instance_path(),
            e.masked()
        )
    })
}

/// Why a message's data could not be checked or did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataCheck {
    /// `dataschema` names no schema we publish, or one of another type.
    UnknownSchema(String),
    /// The data breaks its schema; paths are pointers into the envelope.
    Violations(Vec<Violation>),
}

/// One schema file.
#[derive(Debug, Clone)]
pub struct SchemaDoc {
    /// Path relative to `schemas/`.
    pub path: String,
    pub id: String,
    pub value: Value,
}

struct MessageSchema {
    kind: String,
    version: u32,
    validator: Validator,
}

/// All published schemas, compiled.
pub struct SchemaRegistry {
    docs: BTreeMap<String, SchemaDoc>,
    envelope: Validator,
    messages: BTreeMap<String, MessageSchema>,
}

impl std::fmt::Debug for SchemaRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaRegistry")
            .field("schemas", &self.docs.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn is_schema_path(path: &str) -> bool {
    path.ends_with(".json") && !path.split('/').any(|part| part == "examples")
}

impl SchemaRegistry {
    /// The schemas this binary was built with.
    pub fn embedded() -> Result<Self, Error> {
        let mut files = Vec::new();
        collect_embedded(&EMBEDDED, &mut files);
        Self::from_files(files)
    }

    /// The schemas in a folder laid out like `schemas/`.
    pub fn load_dir(root: &Path) -> Result<Self, Error> {
        let mut files = Vec::new();
        collect_dir(root, root, &mut files)?;
        Self::from_files(files)
    }

    fn from_files(files: Vec<(String, String)>) -> Result<Self, Error> {
        let mut docs = BTreeMap::new();
        for (path, text) in files {
            let value: Value = serde_json::from_str(&text)
                .map_err(|e| Error::Schema(format!("{path}: not valid JSON: {e}")))?;
            let id = value
                .get("$id")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::Schema(format!("{path}: has no \"$id\"")))?
                .to_owned();
            if !id.starts_with(BASE) {
                return Err(Error::Schema(format!(
                    "{path}: $id {id:?} is not under {BASE}"
                )));
            }
            if let Err(e) = jsonschema::meta::validate(&value) {
                return Err(Error::Schema(format!(
                    "{path}: not a valid JSON Schema at {}: {}",
                    e.instance_path(),
                    e.masked()
                )));
            }
            if let Some(previous) = docs.insert(
                id.clone(),
                SchemaDoc {
                    path: path.clone(),
                    id: id.clone(),
                    value,
                },
            ) {
                return Err(Error::Schema(format!(
                    "{path}: $id {id:?} is already used by {}",
                    previous.path
                )));
            }
        }
        let registry = Registry::new()
            .draft(Draft::Draft202012)
            .extend(
                docs.values()
                    .map(|d| (d.id.clone(), Resource::from_contents(d.value.clone()))),
            )
            .and_then(|b| b.prepare())
            .map_err(|e| Error::Schema(format!("schemas do not resolve: {e}")))?;
        let compile = |doc: &SchemaDoc| -> Result<Validator, Error> {
            jsonschema::options()
                .with_draft(Draft::Draft202012)
                .should_validate_formats(true)
                .offline()
                .with_registry(&registry)
                .build(&doc.value)
                .map_err(|e| Error::Schema(format!("{}: does not compile: {e}", doc.path)))
        };
        let envelope = docs
            .get(ENVELOPE_ID)
            .ok_or_else(|| Error::Schema(format!("the envelope schema {ENVELOPE_ID} is missing")))
            .and_then(compile)?;
        let mut messages = BTreeMap::new();
        for doc in docs.values() {
            if !doc.id.starts_with(MESSAGES_BASE) {
                continue;
            }
            let (kind, version) = parse_message_schema_id(&doc.id).ok_or_else(|| {
                Error::Schema(format!(
                    "{}: $id {:?} is not of the form {MESSAGES_BASE}<type>/v<N>.json",
                    doc.path, doc.id
                ))
            })?;
            messages.insert(
                doc.id.clone(),
                MessageSchema {
                    kind: kind.to_owned(),
                    version,
                    validator: compile(doc)?,
                },
            );
        }
        Ok(Self {
            docs,
            envelope,
            messages,
        })
    }

    /// Every schema document, by `$id`.
    pub fn documents(&self) -> impl Iterator<Item = &SchemaDoc> {
        self.docs.values()
    }

    /// The document with this `$id`.
    pub fn document(&self, id: &str) -> Option<&SchemaDoc> {
        self.docs.get(id)
    }

    /// Every message type with its published versions, in order.
    pub fn message_types(&self) -> BTreeMap<String, Vec<u32>> {
        let mut out: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for m in self.messages.values() {
            out.entry(m.kind.clone()).or_default().push(m.version);
        }
        for versions in out.values_mut() {
            versions.sort_unstable();
        }
        out
    }

    /// The newest data schema `$id` of a type.
    pub fn latest_schema_id(&self, kind: &str) -> Option<String> {
        self.message_types()
            .get(kind)
            .and_then(|v| v.last())
            .map(|v| message_schema_id(kind, *v))
    }

    /// Checks a whole envelope against the envelope schema. Messages never
    /// repeat the rejected value: it may be personal data.
    pub fn validate_envelope(&self, envelope: &Value) -> Vec<Violation> {
        self.envelope
            .iter_errors(envelope)
            .map(|e| Violation::new(e.instance_path().to_string(), masked_message(&e)))
            .collect()
    }

    /// Checks `data` of a message of `kind` against the schema `dataschema`.
    pub fn validate_data(
        &self,
        kind: &str,
        dataschema: &str,
        data: &Value,
    ) -> Result<(), DataCheck> {
        let schema = self.messages.get(dataschema).ok_or_else(|| {
            DataCheck::UnknownSchema(format!("no published schema has $id {dataschema:?}"))
        })?;
        if schema.kind != kind {
            return Err(DataCheck::UnknownSchema(format!(
                "dataschema is for {:?} but the type is {kind:?}",
                schema.kind
            )));
        }
        let violations: Vec<Violation> = schema
            .validator
            .iter_errors(data)
            .map(|e| Violation::new(format!("/data{}", e.instance_path()), masked_message(&e)))
            .collect();
        if violations.is_empty() {
            Ok(())
        } else {
            Err(DataCheck::Violations(violations))
        }
    }

    /// Whether every published version of `kind` declares the data field at
    /// `path` (dot separated, e.g. `claimedNationality`).
    pub fn declares_field(&self, kind: &str, path: &str) -> bool {
        let Some(versions) = self.message_types().get(kind).cloned() else {
            return false;
        };
        versions.iter().all(|v| {
            let Some(doc) = self.docs.get(&message_schema_id(kind, *v)) else {
                return false;
            };
            let mut node = self.follow(&doc.value, 0);
            for part in path.split('.') {
                match node
                    .and_then(|n| n.get("properties"))
                    .and_then(|p| p.get(part))
                {
                    Some(next) => node = self.follow(next, 0),
                    None => return false,
                }
            }
            node.is_some()
        })
    }

    /// Follows a `$ref` (absolute, optionally with a JSON pointer fragment).
    fn follow<'a>(&'a self, node: &'a Value, depth: usize) -> Option<&'a Value> {
        match node.get("$ref").and_then(Value::as_str) {
            Some(reference) if depth < 16 => {
                let (id, fragment) = reference.split_once('#').unwrap_or((reference, ""));
                let doc = self.docs.get(id)?;
                let target = if fragment.is_empty() {
                    &doc.value
                } else {
                    doc.value.pointer(fragment)?
                };
                self.follow(target, depth + 1)
            }
            Some(_) => None,
            None => Some(node),
        }
    }
}

/// A violation's message without anything taken from the instance.
///
/// jsonschema's masked messages replace the rejected value with "value", but
/// still quote the names of unexpected properties (`additionalProperties`,
/// `unevaluatedProperties`) and give a `propertyNames` failure unmasked. A
/// property name is the sender's text like any value: an integrator who
/// keys a map by person (`{"Aigerim Serikovna": {…}}`) would have the name
/// copied into the receipt, `HW_REJECTED`'s reasons header and the logs.
/// So those are counted, not quoted; the instance path says where, and the
/// schema says which properties are allowed there.
fn masked_message(error: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::ValidationErrorKind as Kind;
    let undeclared = |n: usize| {
        format!(
            "{n} propert{} not declared by the schema {} not allowed here (names not repeated: they may be personal data)",
            if n == 1 { "y" } else { "ies" },
            if n == 1 { "is" } else { "are" },
        )
    };
    match error.kind() {
        Kind::AdditionalProperties { unexpected } | Kind::UnevaluatedProperties { unexpected } => {
            undeclared(unexpected.len())
        }
        Kind::PropertyNames { .. } => {
            "a property name does not match the schema's propertyNames (not repeated: it may be personal data)".to_owned()
        }
        _ => error.masked().to_string(),
    }
}

fn collect_embedded(dir: &Dir<'_>, out: &mut Vec<(String, String)>) {
    for file in dir.files() {
        let path = file.path().to_string_lossy().replace('\\', "/");
        if is_schema_path(&path)
            && let Some(text) = file.contents_utf8()
        {
            out.push((path, text.to_owned()));
        }
    }
    for sub in dir.dirs() {
        collect_embedded(sub, out);
    }
}

fn collect_dir(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Io {
        path: dir.to_owned(),
        source: e,
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::Io {
            path: dir.to_owned(),
            source: e,
        })?;
        let path = entry.path();
        if path.is_dir() {
            collect_dir(root, &path, out)?;
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        if is_schema_path(&rel) {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::Io {
                path: path.clone(),
                source: e,
            })?;
            out.push((rel, text));
        }
    }
    Ok(())
}

/// The valid example envelopes of a message type compiled into the binary,
/// as (file name, JSON text), sorted by name.
pub fn embedded_examples(kind: &str) -> Vec<(String, String)> {
    let dir = format!("messages/{kind}/examples/v1/valid");
    let mut out: Vec<(String, String)> = EMBEDDED
        .get_dir(&dir)
        .map(|d| {
            d.files()
                .filter_map(|f| {
                    let name = f.path().file_name()?.to_string_lossy().into_owned();
                    Some((name, f.contents_utf8()?.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_are_embedded() {
        assert!(embedded_examples("camp.resident.located").len() >= 2);
        assert!(embedded_examples("no.such.type").is_empty());
    }

    #[test]
    fn violations_never_quote_the_instance_not_even_property_names() {
        let registry = SchemaRegistry::embedded().expect("schemas");
        let example = &embedded_examples("camp.resident.located")[0].1;
        let mut envelope: Value = serde_json::from_str(example).expect("json");
        let name = "Aigerim Testmarkerova";
        envelope["data"]["familyUnit"]["members"][0][name] = Value::from("x");
        envelope["data"]["campLocation"]["camp"] = Value::from(name.repeat(20));
        let Err(DataCheck::Violations(violations)) = registry.validate_data(
            "camp.resident.located",
            &message_schema_id("camp.resident.located", 1),
            &envelope["data"],
        ) else {
            panic!("the data should break its schema");
        };
        assert!(violations.len() >= 2, "{violations:?}");
        for v in &violations {
            assert!(!v.message.contains("Aigerim"), "{v:?}");
        }
        assert!(
            violations
                .iter()
                .any(|v| v.instance_path == "/data/familyUnit/members/0"
                    && v.message.starts_with("1 property not declared")),
            "{violations:?}"
        );
        envelope[name] = Value::from("x");
        let violations = registry.validate_envelope(&envelope);
        assert!(!violations.is_empty());
        assert!(
            violations.iter().all(|v| !v.message.contains("Aigerim")),
            "{violations:?}"
        );
    }

    #[test]
    fn message_schema_ids_round_trip() {
        let id = message_schema_id("repatriation.requested", 1);
        assert_eq!(
            parse_message_schema_id(&id),
            Some(("repatriation.requested", 1))
        );
        assert_eq!(
            parse_message_schema_id("https://schemas.homeward.example/defs/person/v1.json"),
            None
        );
    }
}
