//! `homeward report`: where a state's families stand, from what its own
//! foreign ministry recorded.
//!
//! It connects as that ministry (its own NATS key) and reads only that
//! ministry's case bucket, in the ministry's own account: no
//! administrator credentials, and no other state's cases, which the server
//! would not let it name anyway.

use std::process::ExitCode;

use homeward_core::{MemberId, client};
use homeward_replay::report::Report;

use crate::NatsArgs;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    nats: NatsArgs,
    /// The foreign ministry whose cases are counted, e.g. kz.mfa; `--nkey`
    /// is its NATS key.
    #[arg(long = "as", env = "HOMEWARD_MEMBER")]
    member: String,
    /// text or json.
    #[arg(long, default_value = "text")]
    format: String,
}

pub async fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let member = MemberId::parse(&args.member)?;
    let nats = client::connect(&args.nats.connection()?, Some(&member), "homeward report").await?;
    let report = Report::compute(&[(member, async_nats::jetstream::new(nats))]).await?;
    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string_pretty(&report)?),
        "text" => print!("{}", report.render()),
        other => anyhow::bail!("--format is text or json, not {other:?}"),
    }
    Ok(ExitCode::SUCCESS)
}
