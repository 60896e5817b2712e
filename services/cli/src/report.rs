//! `homeward report --api URL`: where a state's families stand, from what
//! its own foreign ministry recorded.
//!
//! It asks that ministry's service for the report of its own cases
//! (`GET /views/report`), with the service's API token: no NATS
//! credentials, and no other state's cases, which the service does not
//! hold.

use std::path::PathBuf;
use std::process::ExitCode;

use homeward_foreign_affairs::report::Report;
use homeward_ministry::api::ApiToken;
use homeward_ministry::api_client::{ApiClient, Endpoint};

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The foreign ministry service's HTTP API, e.g. http://127.0.0.1:8081.
    #[arg(long)]
    api: String,
    /// The file holding the service's API token (its `api_token_file`).
    #[arg(long, env = "HOMEWARD_API_TOKEN_FILE", value_name = "FILE")]
    api_token_file: PathBuf,
    /// text or json.
    #[arg(long, default_value = "text")]
    format: String,
}

pub async fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    if !matches!(args.format.as_str(), "text" | "json") {
        anyhow::bail!("--format is text or json, not {:?}", args.format);
    }
    // The service is named by its address in errors.
    let token = ApiToken::from_file(&args.api_token_file)?;
    let api = ApiClient::single(&args.api, Endpoint::new(&args.api, token))?;
    let report = Report::fetch(&api, &args.api).await?;
    if args.format == "json" {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(ExitCode::SUCCESS)
}
