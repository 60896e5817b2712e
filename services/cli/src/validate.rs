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
    /// Envelope files (JSON).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Also check the key, the permission and the route against this policy.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Validate against the schemas in this folder instead of the built-in ones.
    #[arg(long)]
    schemas: Option<PathBuf>,
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
        let problems = match std::fs::read(file) {
            Ok(bytes) => check(&bytes, &registry, policy.as_ref()),
            Err(e) => vec![format!("cannot read: {e}")],
        };
        if problems.is_empty() {
            println!("ok    {}", file.display());
        } else {
            failed += 1;
            println!("FAIL  {}", file.display());
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

fn check(bytes: &[u8], registry: &SchemaRegistry, policy: Option<&Policy>) -> Vec<String> {
    let mut problems = Vec::new();
    let envelope = match Envelope::parse(bytes) {
        Ok(e) => e,
        Err(ParseError::BadEnvelope(violations)) => {
            return violations
                .iter()
                .map(|v| format!("bad_envelope {v}"))
                .collect();
        }
        Err(e @ ParseError::TooLarge { .. }) => return vec![format!("too_large: {e}")],
        Err(e @ ParseError::MalformedJson(_)) => return vec![format!("malformed_json: {e}")],
    };
    for v in registry.validate_envelope(&envelope.to_value()) {
        problems.push(format!("bad_envelope {v}"));
    }
    if let Err(e) = envelope.verify_signature() {
        problems.push(format!("bad_signature: {e}"));
    }
    match registry.validate_data(
        envelope.message_type(),
        envelope.dataschema(),
        envelope.data(),
    ) {
        Ok(()) => {}
        Err(DataCheck::UnknownSchema(s)) => problems.push(format!("unknown_schema: {s}")),
        Err(DataCheck::Violations(vs)) => {
            problems.extend(vs.iter().map(|v| format!("schema_violation {v}")))
        }
    }
    if let Some(policy) = policy {
        let sender = envelope.sender();
        match policy.key_status(sender, envelope.sigkey(), envelope.time()) {
            KeyStatus::Valid => {}
            KeyStatus::Unknown => problems.push(format!(
                "unknown_key: sigkey is not a key the policy lists for {sender}"
            )),
            KeyStatus::Expired | KeyStatus::Revoked => {
                problems.push("expired_key: sigkey is not valid at the envelope's time".into())
            }
        }
        if !policy.may_send(sender, envelope.message_type()) {
            problems.push(format!(
                "not_permitted: {sender} may not send {}",
                envelope.message_type()
            ));
        } else if let Some(route) = policy.route(envelope.message_type())
            && let Err(e) = policy.recipients(route, sender, envelope.data())
        {
            problems.push(format!("no_recipient: {e}"));
        }
    }
    problems
}
