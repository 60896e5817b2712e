//! A client of the ministry services' HTTP API (`api`), as a ministry's own
//! systems use it: actions on a case, commands, and waiting for a case to
//! reach a state with the API's long poll. Errors name the member, the
//! action and what the service answered.

use std::time::Duration;

use serde_json::Value;

/// Talks to the HTTP APIs of one or more ministry services, by member.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    bases: std::collections::BTreeMap<String, String>,
}

/// How long the replay waits for one step to show at a service.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

impl ApiClient {
    /// A client of the services at `bases`: member id → base URL, e.g.
    /// `http://127.0.0.1:8081`.
    pub fn new(bases: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Self> {
        let bases = bases
            .into_iter()
            .map(|(m, url)| (m, url.trim_end_matches('/').to_owned()))
            .collect();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self { http, bases })
    }

    /// A client of one member's service at `url` (e.g. a camp registry a
    /// census is imported into).
    pub fn single(member: &str, url: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        let bases = [(member.to_owned(), url.trim_end_matches('/').to_owned())]
            .into_iter()
            .collect();
        Ok(Self { http, bases })
    }

    fn base(&self, member: &str) -> anyhow::Result<&str> {
        self.bases
            .get(member)
            .map(String::as_str)
            .ok_or_else(|| anyhow::anyhow!("{member} runs no service"))
    }

    /// `POST /cases/{case}/{action}`; an error names the member, the action
    /// and what the service answered.
    pub async fn act(
        &self,
        member: &str,
        case_ref: &str,
        action: &str,
        body: &Value,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/cases/{case_ref}/{action}", self.base(member)?);
        let response = self.http.post(&url).json(body).send().await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(
            status.is_success(),
            "{member} {action} on {case_ref}: {status}: {text}"
        );
        Ok(serde_json::from_str(&text)?)
    }

    /// `POST /commands/{command}` with a raw body.
    pub async fn command(
        &self,
        member: &str,
        command: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/commands/{command}", self.base(member)?);
        let response = self.http.post(&url).body(body).send().await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(status.is_success(), "{member} {command}: {status}: {text}");
        Ok(serde_json::from_str(&text)?)
    }

    /// `GET /views/{view}`: a view the member's role computes over all
    /// of its cases, e.g. a foreign ministry's `report`.
    pub async fn view(&self, member: &str, view: &str) -> anyhow::Result<Value> {
        let url = format!("{}/views/{view}", self.base(member)?);
        let response = self.http.get(&url).send().await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(
            status.is_success(),
            "{member} view {view}: {status}: {text}"
        );
        Ok(serde_json::from_str(&text)?)
    }

    /// Waits until the member's case satisfies `ready`, using the API's
    /// long poll: each call returns when the case changes or after 10 s.
    pub async fn wait_case(
        &self,
        member: &str,
        case_ref: &str,
        what: &str,
        ready: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        let mut after: Option<u64> = None;
        let mut last = Value::Null;
        loop {
            let mut url = format!("{}/cases/{case_ref}", self.base(member)?);
            if let Some(rev) = after {
                url.push_str(&format!("?after={rev}&wait=10"));
            } else {
                url.push_str("?after=0&wait=10");
            }
            let response = self.http.get(&url).send().await?;
            if response.status().is_success() {
                let body: Value = response.json().await?;
                let case = body.get("case").cloned().unwrap_or(Value::Null);
                if ready(&case) {
                    return Ok(case);
                }
                last = case;
                after = body.get("revision").and_then(Value::as_u64);
            }
            if tokio::time::Instant::now() >= deadline {
                let events: Vec<&Value> = last["events"]
                    .as_array()
                    .map(|e| e.iter().rev().take(4).collect())
                    .unwrap_or_default();
                anyhow::bail!(
                    "{member} never showed {what} for {case_ref}: stage {}, refusals {}, last events {events:?}",
                    last["stage"],
                    last["refusalsReceived"]
                );
            }
        }
    }
}
