//! `homeward asyncapi`: writes the AsyncAPI 3.0 document of the policy.
//!
//! The document holds no keys, so the policy is loaded without its
//! keyrings: it can be generated on a checkout where no development keys
//! were ever made. Its payload schemas are JSON Schema draft 2020-12, which
//! AsyncAPI tooling may not fully support; `schemas/` stays normative (see
//! `homeward_core::asyncapi`).

use std::path::PathBuf;
use std::process::ExitCode;

use homeward_core::{Policy, SchemaRegistry, asyncapi};

use crate::{PolicyArgs, paths};

#[derive(Debug, clap::Args)]
pub struct AsyncApiArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Where to write the document; standard output when omitted.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: AsyncApiArgs) -> anyhow::Result<ExitCode> {
    let schemas = SchemaRegistry::embedded()?;
    let policy =
        Policy::load_replacing_keyrings(&paths::resolve(&args.policy.policy), &[], &schemas)?;
    let text = asyncapi::to_text(&asyncapi::document(&policy, &schemas))?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            eprintln!("wrote the AsyncAPI document to {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
