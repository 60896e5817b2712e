//! `homeward report --api URL`: where a state's families stand, from what
//! its own foreign ministry recorded.
//!
//! It asks that ministry's service for the report of its own cases
//! (`GET /views/report`): no NATS credentials, and no other state's cases,
//! which the service does not hold.

use std::process::ExitCode;

use homeward_foreign_affairs::report::Report;
use homeward_ministry::api_client::ApiClient;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The foreign ministry service's HTTP API, e.g. http://127.0.0.1:8081.
    #[arg(long)]
    api: String,
    /// text or json.
    #[arg(long, default_value = "text")]
    format: String,
}

pub async fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    if !matches!(args.format.as_str(), "text" | "json") {
        anyhow::bail!("--format is text or json, not {:?}", args.format);
    }
    // The service is named by its address in errors.
    let api = ApiClient::single(&args.api, &args.api)?;
    let report = Report::fetch(&api, &args.api).await?;
    if args.format == "json" {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(ExitCode::SUCCESS)
}
