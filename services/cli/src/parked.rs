//! `homeward parked list|redrive --api URL`: the deliveries a ministry
//! service parked after failing to process them, and their redrive once
//! the cause is fixed.
//!
//! It talks to the member's service (`GET /parked`, `POST
//! /parked/{seq}/redrive`) with the service's API token, as the member or
//! an operator it gives the token to: operators see that a delivery was
//! parked, and why, in the `MSG_TERMINATED` advisories, but only the
//! member's service holds the delivery, so only it can apply it.

use std::path::PathBuf;
use std::process::ExitCode;

use homeward_ministry::api::ApiToken;
use homeward_ministry::api_client::{ApiClient, Endpoint};
use serde_json::Value;

#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// The ministry service's HTTP API, e.g. http://127.0.0.1:8081.
    #[arg(long)]
    api: String,
    /// The file holding the service's API token (its `api_token_file`).
    #[arg(long, env = "HOMEWARD_API_TOKEN_FILE", value_name = "FILE")]
    api_token_file: PathBuf,
    /// text or json.
    #[arg(long, default_value = "text")]
    format: String,
}

#[derive(Debug, clap::Args)]
pub struct RedriveArgs {
    /// The parked delivery's sequence, as `homeward parked list` shows it.
    sequence: u64,
    #[command(flatten)]
    service: ServiceArgs,
}

impl ServiceArgs {
    fn client(&self) -> anyhow::Result<ApiClient> {
        if !matches!(self.format.as_str(), "text" | "json") {
            anyhow::bail!("--format is text or json, not {:?}", self.format);
        }
        let token = ApiToken::from_file(&self.api_token_file)?;
        // The service is named by its address in errors.
        ApiClient::single(&self.api, Endpoint::new(&self.api, token))
    }

    fn json(&self) -> bool {
        self.format == "json"
    }
}

fn field<'a>(v: &'a Value, name: &str) -> &'a str {
    v.get(name).and_then(Value::as_str).unwrap_or("-")
}

/// Prints the parked deliveries, one line each.
pub async fn list(args: ServiceArgs) -> anyhow::Result<ExitCode> {
    let api = args.client()?;
    let parked = api.parked(&args.api).await?;
    if args.json() {
        println!("{}", serde_json::to_string_pretty(&parked)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows = parked.as_array().map(Vec::as_slice).unwrap_or_default();
    if rows.is_empty() {
        println!("no parked deliveries");
    }
    for p in rows {
        println!(
            "{} {} {} from {} case {} failure {} after {} attempts, parked {}",
            p["sequence"],
            field(p, "messageType"),
            field(p, "messageId"),
            field(p, "sender"),
            field(p, "caseRef"),
            field(p, "failure"),
            p["attempts"],
            field(p, "parkedAt"),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Redrives one parked delivery (with its case's others, in order) and
/// prints what became of each; fails when one failed again.
pub async fn redrive(args: RedriveArgs) -> anyhow::Result<ExitCode> {
    let service = &args.service;
    let api = service.client()?;
    let answer = api.redrive(&service.api, args.sequence).await?;
    if service.json() {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows = answer["redriven"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for r in rows {
        let rule = match r.get("rule").and_then(Value::as_str) {
            Some(rule) => format!(" ({rule})"),
            None => String::new(),
        };
        println!(
            "{} {} {}{rule}",
            r["sequence"],
            field(r, "messageId"),
            field(r, "outcome"),
        );
    }
    Ok(ExitCode::SUCCESS)
}
