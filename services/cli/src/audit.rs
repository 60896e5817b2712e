//! `homeward audit verify`.

use std::process::ExitCode;

use homeward_core::audit::verify_chain;
use homeward_core::{client, subjects};

use crate::{NatsArgs, OperatorArgs};

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    nats: NatsArgs,
    #[command(flatten)]
    operator: OperatorArgs,
}

/// Reads every audit record in stream order.
pub async fn read_records(
    js: &async_nats::jetstream::Context,
) -> anyhow::Result<Vec<(u64, Vec<u8>)>> {
    let mut stream = js.get_stream(subjects::AUDIT_STREAM).await?;
    let info = stream.info().await?.clone();
    let mut out = Vec::new();
    let mut seq = info.state.first_sequence.max(1);
    while info.state.messages > 0 && seq <= info.state.last_sequence {
        match stream.get_raw_message(seq).await {
            Ok(m) => out.push((m.sequence, m.payload.to_vec())),
            Err(e) if e.to_string().contains("no message found") => {}
            Err(e) => return Err(e.into()),
        }
        seq += 1;
    }
    Ok(out)
}

pub async fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let operator = args.operator.member()?;
    let nats = client::connect(
        &args.nats.connection()?,
        Some(&operator),
        "homeward audit verify",
    )
    .await?;
    let js = async_nats::jetstream::new(nats);
    let records = read_records(&js).await?;
    match verify_chain(records) {
        Ok(n) => {
            println!("audit chain intact: {n} records");
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            println!("{broken}");
            Ok(ExitCode::FAILURE)
        }
    }
}
