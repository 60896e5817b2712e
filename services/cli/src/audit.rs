//! `homeward audit verify`.

use std::process::ExitCode;

use homeward_core::audit::verify_chain;
use homeward_core::{client, console};

use crate::{NatsArgs, OperatorArgs};

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    nats: NatsArgs,
    #[command(flatten)]
    operator: OperatorArgs,
}

/// Walks the whole chain as the operator. A broken link fails; a foreign
/// message in the audit stream is an alarm, printed, and the walk goes on.
pub async fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let operator = args.operator.member()?;
    let nats = client::connect(
        &args.nats.connection()?,
        Some(&operator),
        "homeward audit verify",
    )
    .await?;
    let records = console::read_audit(&nats).await?;
    match verify_chain(records) {
        Ok(summary) => {
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            println!("{broken}");
            Ok(ExitCode::FAILURE)
        }
    }
}
