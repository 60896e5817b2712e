//! `homeward report`: where every family stands, from what the services
//! recorded.

use std::process::ExitCode;

use homeward_core::{Policy, SchemaRegistry, client};
use homeward_replay::report::Report;

use crate::{NatsArgs, PolicyArgs, paths};

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    nats: NatsArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    /// text or json.
    #[arg(long, default_value = "text")]
    format: String,
}

pub async fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let schemas = SchemaRegistry::embedded()?;
    let policy = Policy::load(&paths::resolve(&args.policy.policy), &schemas)?;
    let nats = client::connect(&args.nats.connection()?, None, "homeward report").await?;
    let js = async_nats::jetstream::new(nats);
    let report = Report::compute(&js, &policy).await?;
    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string_pretty(&report)?),
        "text" => print!("{}", report.render()),
        other => anyhow::bail!("--format is text or json, not {other:?}"),
    }
    Ok(ExitCode::SUCCESS)
}
