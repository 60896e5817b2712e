//! A client of the ministry services' HTTP API (`api`), as a ministry's own
//! systems use it: actions on a case, commands, and waiting for a case to
//! reach a state with the API's long poll, parked deliveries and their
//! redrive. Every request carries the
//! member's bearer token, and a POST its content type. Errors name the
//! member, the action and what the service answered.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::api::ApiToken;

/// One member's service: where its API is and the token it takes.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The base URL, e.g. `http://127.0.0.1:8081`.
    pub url: String,
    pub token: ApiToken,
}

impl Endpoint {
    pub fn new(url: &str, token: ApiToken) -> Self {
        Self {
            url: url.trim_end_matches('/').to_owned(),
            token,
        }
    }
}

/// Talks to the HTTP APIs of one or more ministry services, by member, each
/// with its own token.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    services: BTreeMap<String, Endpoint>,
}

/// How long the replay waits for one step to show at a service.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

impl ApiClient {
    /// A client of the services at `services`: member id → its endpoint.
    pub fn new(services: impl IntoIterator<Item = (String, Endpoint)>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            http,
            services: services.into_iter().collect(),
        })
    }

    /// A client of one member's service at `endpoint` (e.g. a camp registry
    /// a census is imported into).
    pub fn single(member: &str, endpoint: Endpoint) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        let services = [(member.to_owned(), endpoint)].into_iter().collect();
        Ok(Self { http, services })
    }

    fn endpoint(&self, member: &str) -> anyhow::Result<&Endpoint> {
        self.services
            .get(member)
            .ok_or_else(|| anyhow::anyhow!("{member} runs no service"))
    }

    /// A request to `path` at the member's service, with its token.
    fn request(
        &self,
        method: reqwest::Method,
        member: &str,
        path: &str,
    ) -> anyhow::Result<reqwest::RequestBuilder> {
        let endpoint = self.endpoint(member)?;
        Ok(self
            .http
            .request(method, format!("{}{path}", endpoint.url))
            .bearer_auth(endpoint.token.expose()))
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
        let response = self
            .request(
                reqwest::Method::POST,
                member,
                &format!("/cases/{case_ref}/{action}"),
            )?
            .json(body)
            .send()
            .await?;
        answer(response, || format!("{member} {action} on {case_ref}")).await
    }

    /// `POST /commands/{command}` with a CSV body (`text/csv`).
    pub async fn command(
        &self,
        member: &str,
        command: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<Value> {
        let response = self
            .request(
                reqwest::Method::POST,
                member,
                &format!("/commands/{command}"),
            )?
            .header(reqwest::header::CONTENT_TYPE, "text/csv")
            .body(body)
            .send()
            .await?;
        answer(response, || format!("{member} {command}")).await
    }

    /// `GET /views/{view}`: a view the member's role computes over all
    /// of its cases, e.g. a foreign ministry's `report`.
    pub async fn view(&self, member: &str, view: &str) -> anyhow::Result<Value> {
        let response = self
            .request(reqwest::Method::GET, member, &format!("/views/{view}"))?
            .send()
            .await?;
        answer(response, || format!("{member} view {view}")).await
    }

    /// `GET /cases`: every case of the member, in brief.
    pub async fn cases(&self, member: &str) -> anyhow::Result<Value> {
        let response = self
            .request(reqwest::Method::GET, member, "/cases")?
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(status.is_success(), "{member} cases: {status}: {text}");
        Ok(serde_json::from_str(&text)?)
    }

    /// `GET /parked`: the member's parked deliveries, references only.
    pub async fn parked(&self, member: &str) -> anyhow::Result<Value> {
        let response = self
            .request(reqwest::Method::GET, member, "/parked")?
            .send()
            .await?;
        answer(response, || format!("{member} parked")).await
    }

    /// `POST /parked/{sequence}/redrive`: what became of each parked
    /// delivery of its case. A redrive that failed again is an error
    /// naming what the service answered.
    pub async fn redrive(&self, member: &str, sequence: u64) -> anyhow::Result<Value> {
        let response = self
            .request(
                reqwest::Method::POST,
                member,
                &format!("/parked/{sequence}/redrive"),
            )?
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .send()
            .await?;
        answer(response, || format!("{member} redrive of {sequence}")).await
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
            let path = format!("/cases/{case_ref}?after={}&wait=10", after.unwrap_or(0));
            let response = self
                .request(reqwest::Method::GET, member, &path)?
                .send()
                .await?;
            let status = response.status();
            // Only "not yet" is waited out; a refusal (a wrong token, say)
            // would be refused again.
            if status.is_client_error() && status != StatusCode::NOT_FOUND {
                let text = response.text().await?;
                anyhow::bail!("{member} case {case_ref}: {status}: {text}");
            }
            if status.is_success() {
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

/// A service's JSON answer; an error names what was asked (`what`), the
/// status and what the service said.
async fn answer(
    response: reqwest::Response,
    what: impl FnOnce() -> String,
) -> anyhow::Result<Value> {
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "{}: {status}: {text}", what());
    Ok(serde_json::from_str(&text)?)
}
