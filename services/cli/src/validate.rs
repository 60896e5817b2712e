//! `homeward validate FILE…`: what the gateway would say, offline.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use homeward_core::envelope::{Envelope, ParseError};
use homeward_core::policy::KeyStatus;
use homeward_core::schema::DataCheck;
use homeward_core::{Policy, SchemaRegistry};

use crate::paths;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Envelope files (JSON), or `-` for standard input. A labelled example
    /// (`{description, failsAt, envelope}`, as under `schemas/*/examples/*/invalid/`)
    /// passes when its envelope fails exactly where `failsAt` says.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Also check the key, the permission and the route against this policy.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Validate against the schemas in this folder instead of the built-in ones.
    #[arg(long)]
    schemas: Option<PathBuf>,
}

/// One thing wrong with an envelope, and where, when it has a place.
struct Problem {
    path: Option<String>,
    text: String,
}

impl Problem {
    fn at(path: &str, text: String) -> Self {
        Self {
            path: Some(path.to_owned()),
            text,
        }
    }

    fn whole(text: String) -> Self {
        Self { path: None, text }
    }
}

/// What a file says about itself: a plain envelope, or a labelled example
/// that must fail at one place.
fn labelled(bytes: &[u8]) -> Option<(String, serde_json::Value)> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let object = value.as_object()?;
    let fails_at = object.get("failsAt")?.as_str()?.to_owned();
    Some((fails_at, object.get("envelope")?.clone()))
}

/// What the published schemas say of an envelope as it stands, before any
/// parsing: where an integrator's own validator would point.
fn against_schemas(envelope: &serde_json::Value, registry: &SchemaRegistry) -> Vec<Problem> {
    let mut problems: Vec<Problem> = registry
        .validate_envelope(envelope)
        .into_iter()
        .map(|v| Problem::at(&v.instance_path, format!("bad_envelope {v}")))
        .collect();
    if let (Some(kind), Some(schema), Some(data)) = (
        envelope["type"].as_str(),
        envelope["dataschema"].as_str(),
        envelope.get("data"),
    ) && let Err(DataCheck::Violations(vs)) = registry.validate_data(kind, schema, data)
    {
        problems.extend(
            vs.iter()
                .map(|v| Problem::at(&v.instance_path, format!("schema_violation {v}"))),
        );
    }
    problems
}

/// Reads one argument: a file, or standard input for `-`.
fn read(file: &std::path::Path) -> std::io::Result<Vec<u8>> {
    if file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)?;
        Ok(bytes)
    } else {
        std::fs::read(file)
    }
}

/// The verdict on one file's bytes: the lines to print, empty when it
/// passes.
fn verdict(bytes: &[u8], registry: &SchemaRegistry, policy: Option<&Policy>) -> Vec<String> {
    let Some((fails_at, envelope)) = labelled(bytes) else {
        return check(bytes, registry, policy)
            .into_iter()
            .map(|p| p.text)
            .collect();
    };
    let bytes = serde_json::to_vec(&envelope).unwrap_or_default();
    let mut problems = check(&bytes, registry, policy);
    for p in against_schemas(&envelope, registry) {
        if !problems.iter().any(|q| q.text == p.text) {
            problems.push(p);
        }
    }
    if problems.is_empty() {
        return vec![format!(
            "labelled to fail at {fails_at}, but its envelope passes"
        )];
    }
    if problems
        .iter()
        .any(|p| p.path.as_deref() == Some(fails_at.as_str()))
    {
        return Vec::new();
    }
    let mut lines = vec![format!(
        "labelled to fail at {fails_at}, but its envelope fails elsewhere:"
    )];
    lines.extend(problems.into_iter().map(|p| p.text));
    lines
}

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let registry = match &args.schemas {
        Some(dir) => SchemaRegistry::load_dir(dir)?,
        None => SchemaRegistry::embedded()?,
    };
    let policy = match &args.policy {
        Some(p) => Some(Policy::load(&paths::resolve(p), &registry)?),
        None => None,
    };
    let mut failed = 0;
    for file in &args.files {
        let problems = match read(file) {
            Ok(bytes) => verdict(&bytes, &registry, policy.as_ref()),
            Err(e) => vec![format!("cannot read: {e}")],
        };
        let name = if file.as_os_str() == "-" {
            "(standard input)".to_owned()
        } else {
            file.display().to_string()
        };
        if problems.is_empty() {
            println!("ok    {name}");
        } else {
            failed += 1;
            println!("FAIL  {name}");
            for p in problems {
                println!("      {p}");
            }
        }
    }
    println!("{} passed, {} failed", args.files.len() - failed, failed);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn check(bytes: &[u8], registry: &SchemaRegistry, policy: Option<&Policy>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let envelope = match Envelope::parse(bytes) {
        Ok(e) => e,
        Err(ParseError::BadEnvelope(violations)) => {
            return violations
                .iter()
                .map(|v| Problem::at(&v.instance_path, format!("bad_envelope {v}")))
                .collect();
        }
        Err(e @ ParseError::TooLarge { .. }) => {
            return vec![Problem::whole(format!("too_large: {e}"))];
        }
        Err(e @ ParseError::MalformedJson(_)) => {
            return vec![Problem::whole(format!("malformed_json: {e}"))];
        }
    };
    for v in registry.validate_envelope(&envelope.to_value()) {
        problems.push(Problem::at(&v.instance_path, format!("bad_envelope {v}")));
    }
    if let Err(e) = envelope.verify_signature() {
        problems.push(Problem::at("/sig", format!("bad_signature: {e}")));
    }
    match registry.validate_data(
        envelope.message_type(),
        envelope.dataschema(),
        envelope.data(),
    ) {
        Ok(()) => {}
        Err(DataCheck::UnknownSchema(s)) => {
            problems.push(Problem::at("/dataschema", format!("unknown_schema: {s}")))
        }
        Err(DataCheck::Violations(vs)) => problems.extend(
            vs.iter()
                .map(|v| Problem::at(&v.instance_path, format!("schema_violation {v}"))),
        ),
    }
    if let Some(policy) = policy {
        let sender = envelope.sender();
        match policy.key_status(sender, envelope.sigkey(), envelope.time()) {
            KeyStatus::Valid => {}
            KeyStatus::Unknown => problems.push(Problem::at(
                "/sigkey",
                format!("unknown_key: sigkey is not a key the policy lists for {sender}"),
            )),
            KeyStatus::Expired | KeyStatus::Revoked => problems.push(Problem::at(
                "/sigkey",
                "expired_key: sigkey is not valid at the envelope's time".into(),
            )),
        }
        if !policy.may_send(sender, envelope.message_type()) {
            problems.push(Problem::at(
                "/type",
                format!(
                    "not_permitted: {sender} may not send {}",
                    envelope.message_type()
                ),
            ));
        } else if let Some(route) = policy.route(envelope.message_type()) {
            match policy.recipients(route, sender, envelope.data()) {
                Err(e) => problems.push(Problem::whole(format!("no_recipient: {e}"))),
                Ok(recipients) => {
                    let version =
                        homeward_core::schema::parse_message_schema_id(envelope.dataschema())
                            .map_or(0, |(_, v)| v);
                    if let Some((recipient, reads)) =
                        policy.first_not_reading(&recipients, envelope.message_type(), version)
                    {
                        problems.push(Problem::at(
                            "/dataschema",
                            format!(
                                "version_not_read: {recipient} reads {} in {}, not v{version}",
                                envelope.message_type(),
                                homeward_core::policy::versions_text(reads)
                            ),
                        ));
                    }
                }
            }
        }
    }
    problems
}
