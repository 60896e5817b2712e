//! Importing a camp census into a camp registry through its HTTP API, as
//! `homeward census import` and a camp administration's own systems do.
//!
//! The whole file is checked first, and a bad row anywhere stops the import
//! before anything is sent, with every problem's line number; then families
//! go in chunks (each chunk is checked again by the service, and a family
//! already imported is left as it is, so an interrupted import can simply be
//! run again).

use homeward_ministry::api_client::ApiClient;
use serde_json::Value;

/// Families per census request: small enough for a progress bar to move.
pub const CHUNK: usize = 10;

/// Imports `csv` into `camp`'s registry; `sent(done, total)` is told after
/// each chunk. Returns how many new cases were opened.
pub async fn import(
    api: &ApiClient,
    camp: &str,
    csv: &[u8],
    registered_on: &str,
    mut sent: impl FnMut(usize, usize),
) -> anyhow::Result<usize> {
    let census = homeward_census::parse(csv)?;
    let total = census.families.len();
    let mut opened = 0;
    let mut done = 0;
    for chunk in census.families.chunks(CHUNK) {
        let body = homeward_census::write(chunk).into_bytes();
        let answer = api
            .command(camp, &format!("census?registeredOn={registered_on}"), body)
            .await?;
        opened += answer.get("cases").and_then(Value::as_u64).unwrap_or(0) as usize;
        done += chunk.len();
        sent(done, total);
    }
    Ok(opened)
}
