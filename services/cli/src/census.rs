//! `homeward census import FILE`: a camp census into a camp registry.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use homeward_replay::api::Api;
use homeward_replay::replay::{Progress, import_census};

use crate::progress::bar;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The census (CSV; see services/census/FORMAT.md).
    file: PathBuf,
    /// The camp registry's HTTP API, e.g. http://127.0.0.1:8081.
    #[arg(long)]
    camp_registry: String,
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
    let api = Api::single(&args.member, &args.camp_registry)?;
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let registered_on = args.registered_on.unwrap_or(today);
    let progress = Arc::new(Progress::default());
    let ticker = bar(
        progress.clone(),
        |p| {
            (
                p.imported.load(Ordering::Relaxed),
                p.to_import.load(Ordering::Relaxed),
            )
        },
        "families sent",
    );
    let result = import_census(&api, &args.member, &csv, &registered_on, &progress).await;
    ticker.finish().await;
    let opened = result?;
    println!("{opened} new cases opened; each family announced to its claimed nationality");
    Ok(ExitCode::SUCCESS)
}
