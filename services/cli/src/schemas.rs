//! `homeward schemas list` and `homeward schemas show`.

use std::process::ExitCode;

use homeward_core::SchemaRegistry;
use homeward_core::schema::message_schema_id;

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
