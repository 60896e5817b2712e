//! `homeward schemas list`, `schemas show` and `schemas diff`.

use std::path::Path;
use std::process::ExitCode;

use homeward_core::SchemaRegistry;
use homeward_core::compat::Compatibility;
use homeward_core::schema::{self, message_schema_id};
use serde_json::Value;

pub fn list() -> anyhow::Result<ExitCode> {
    let registry = SchemaRegistry::embedded()?;
    for (kind, versions) in registry.message_types() {
        let latest = versions.last().copied().unwrap_or(1);
        let title = registry
            .document(&message_schema_id(&kind, latest))
            .and_then(|d| d.value["title"].as_str())
            .unwrap_or("")
            .to_owned();
        let versions: Vec<String> = versions.iter().map(|v| format!("v{v}")).collect();
        println!("{kind:<34} {:<6} {title}", versions.join(","));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn show(kind: &str, version: Option<u32>) -> anyhow::Result<ExitCode> {
    let registry = SchemaRegistry::embedded()?;
    let id = match version {
        Some(v) => message_schema_id(kind, v),
        None => registry.latest_schema_id(kind).ok_or_else(|| {
            anyhow::anyhow!(
                "no schema is published for type {kind:?} (see `homeward schemas list`)"
            )
        })?,
    };
    let doc = registry
        .document(&id)
        .ok_or_else(|| anyhow::anyhow!("no schema has $id {id}"))?;
    println!("{}", serde_json::to_string_pretty(&doc.value)?);
    Ok(ExitCode::SUCCESS)
}

/// `homeward schemas diff A B`: can a reader of A read what a writer of B
/// sends? Exit 0 when it can, 1 when it cannot (each reason printed).
pub fn diff(a: &str, b: &str, dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let registry = match dir {
        Some(d) => SchemaRegistry::load_dir(d)?,
        None => SchemaRegistry::embedded()?,
    };
    let (a_name, reader) = schema_named(&registry, a)?;
    let (b_name, writer) = schema_named(&registry, b)?;
    let found = Compatibility::new(&registry)?.readable_by(&reader, &writer);
    if found.is_empty() {
        println!("a reader of {a_name} reads every message written in {b_name}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "a reader of {a_name} cannot read every message written in {b_name} ({} reason{}; paths are in {b_name}):",
        found.len(),
        if found.len() == 1 { "" } else { "s" }
    );
    for reason in &found {
        println!("  {reason}");
    }
    Ok(ExitCode::from(1))
}

/// A schema given as `TYPE@N`, an `$id`, or a file, with the name to print.
fn schema_named(registry: &SchemaRegistry, arg: &str) -> anyhow::Result<(String, Value)> {
    if let Some((kind, version)) = arg.rsplit_once('@')
        && !arg.contains('/')
    {
        let version: u32 = version.trim_start_matches('v').parse().map_err(|_| {
            anyhow::anyhow!("{arg:?}: the version after @ must be a number, as in {kind}@2")
        })?;
        let id = message_schema_id(kind, version);
        let doc = registry.document(&id).ok_or_else(|| {
            anyhow::anyhow!("{arg:?}: no schema is published as {id} (see `homeward schemas list`)")
        })?;
        return Ok((format!("{kind} v{version}"), doc.value.clone()));
    }
    if arg.starts_with(schema::BASE) {
        let doc = registry
            .document(arg)
            .ok_or_else(|| anyhow::anyhow!("no schema has $id {arg}"))?;
        let name = schema::parse_message_schema_id(arg)
            .map_or_else(|| doc.path.clone(), |(k, v)| format!("{k} v{v}"));
        return Ok((name, doc.value.clone()));
    }
    let path = Path::new(arg);
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!("{arg}: cannot read it ({e}); give TYPE@N, a schema $id or a schema file")
    })?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{arg}: not JSON: {e}"))?;
    schema::meta_check(&value).map_err(|e| anyhow::anyhow!("{arg}: {e}"))?;
    Ok((arg.to_owned(), value))
}
