//! `homeward census import FILE`: a camp census into a camp registry,
//! through its HTTP API with its token (`--api-token-file`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use homeward_camp_registry::census_import;
use homeward_ministry::api::ApiToken;
use homeward_ministry::api_client::{ApiClient, Endpoint};

use crate::progress::bar;

/// Families sent, of how many.
#[derive(Debug, Default)]
struct Sent {
    done: AtomicUsize,
    total: AtomicUsize,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The census (CSV; see services/census/FORMAT.md).
    file: PathBuf,
    /// The camp registry's HTTP API, e.g. http://127.0.0.1:8081.
    #[arg(long)]
    camp_registry: String,
    /// The file holding the camp registry's API token (its
    /// `api_token_file`); needed to send, not to check the rows.
    #[arg(long, env = "HOMEWARD_API_TOKEN_FILE", value_name = "FILE")]
    api_token_file: Option<PathBuf>,
    /// The camp administration's member id.
    #[arg(long, default_value = "aanes.camps")]
    member: String,
    /// The date the census is as of (YYYY-MM-DD); today when omitted.
    #[arg(long)]
    registered_on: Option<String>,
}

pub async fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let csv =
        std::fs::read(&args.file).map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    // Check every row before anything is sent.
    if let Err(e) = homeward_census::parse(&csv[..]) {
        eprintln!(
            "{}: not imported, nothing was sent:\n{e}",
            args.file.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    let Some(token_file) = &args.api_token_file else {
        anyhow::bail!(
            "the census is valid; to send it, name the camp registry's API token file with --api-token-file or HOMEWARD_API_TOKEN_FILE"
        );
    };
    let token = ApiToken::from_file(token_file)?;
    let api = ApiClient::single(&args.member, Endpoint::new(&args.camp_registry, token))?;
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let registered_on = args.registered_on.unwrap_or(today);
    let sent = Arc::new(Sent::default());
    let ticker = bar(
        sent.clone(),
        |s| {
            (
                s.done.load(Ordering::Relaxed),
                s.total.load(Ordering::Relaxed),
            )
        },
        "families sent",
    );
    let result = census_import::import(&api, &args.member, &csv, &registered_on, |done, total| {
        sent.total.store(total, Ordering::Relaxed);
        sent.done.store(done, Ordering::Relaxed);
    })
    .await;
    ticker.finish().await;
    let opened = result?;
    println!("{opened} new cases opened; each family announced to its claimed nationality");
    Ok(ExitCode::SUCCESS)
}
