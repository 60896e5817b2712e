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
    /// How long a request rides through a service that is down or
    /// restarting ([`ApiClient::riding_through_restarts`]); `None`: a
    /// failed connection is an error at once.
    patience: Option<Duration>,
}

/// What a service answered, read whole.
struct Answer {
    status: StatusCode,
    text: String,
    /// Whether an earlier attempt may have reached the service and been
    /// applied (it failed after connecting, or answered 5xx).
    maybe_applied: bool,
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
            patience: None,
        })
    }

    /// The same client, sending again for up to `within` each request
    /// that could not connect, was cut, or got a 5xx answer, pausing
    /// 50 ms, then twice as long each time up to 1 s: for a driver that
    /// runs on while services are killed and restarted (the fault
    /// harness). An action that gets 409 after an attempt that may have
    /// been applied counts as done: the case moved on, most likely by that
    /// attempt; the step after it waits for what the action causes, and
    /// says so if it never shows.
    pub fn riding_through_restarts(mut self, within: Duration) -> Self {
        self.patience = Some(within);
        self
    }

    /// Sends what `make` builds (again, when riding through restarts) and
    /// reads the answer whole.
    async fn send(
        &self,
        make: impl Fn() -> anyhow::Result<reqwest::RequestBuilder>,
    ) -> anyhow::Result<Answer> {
        async fn once(request: reqwest::RequestBuilder) -> reqwest::Result<(StatusCode, String)> {
            let response = request.send().await?;
            let status = response.status();
            Ok((status, response.text().await?))
        }
        let Some(patience) = self.patience else {
            let (status, text) = once(make()?).await?;
            return Ok(Answer {
                status,
                text,
                maybe_applied: false,
            });
        };
        let deadline = tokio::time::Instant::now() + patience;
        let mut pause = Duration::from_millis(50);
        let mut maybe_applied = false;
        loop {
            let outcome = once(make()?).await;
            let (again, reached) = match &outcome {
                Ok((status, _)) => (status.is_server_error(), true),
                Err(e) => (true, !e.is_connect()),
            };
            if !again || tokio::time::Instant::now() + pause >= deadline {
                let (status, text) = outcome?;
                return Ok(Answer {
                    status,
                    text,
                    maybe_applied,
                });
            }
            maybe_applied |= reached;
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// A client of one member's service at `endpoint` (e.g. a camp registry
    /// a census is imported into).
    pub fn single(member: &str, endpoint: Endpoint) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        let services = [(member.to_owned(), endpoint)].into_iter().collect();
        Ok(Self {
            http,
            services,
            patience: None,
        })
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
        let path = format!("/cases/{case_ref}/{action}");
        let answer = self
            .send(|| {
                Ok(self
                    .request(reqwest::Method::POST, member, &path)?
                    .json(body))
            })
            .await?;
        if answer.maybe_applied && answer.status == StatusCode::CONFLICT {
            tracing::info!(member, case_ref, action, refusal = %answer.text, "refused after an attempt that may have been applied; taken as done");
            return Ok(serde_json::json!({ "afterRetry": answer.text }));
        }
        parsed(answer, || format!("{member} {action} on {case_ref}"))
    }

    /// `POST /commands/{command}` with a CSV body (`text/csv`).
    pub async fn command(
        &self,
        member: &str,
        command: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<Value> {
        let path = format!("/commands/{command}");
        let answer = self
            .send(|| {
                Ok(self
                    .request(reqwest::Method::POST, member, &path)?
                    .header(reqwest::header::CONTENT_TYPE, "text/csv")
                    .body(body.clone()))
            })
            .await?;
        parsed(answer, || format!("{member} {command}"))
    }

    /// `GET /views/{view}`: a view the member's role computes over all
    /// of its cases, e.g. a foreign ministry's `report`.
    pub async fn view(&self, member: &str, view: &str) -> anyhow::Result<Value> {
        let path = format!("/views/{view}");
        let answer = self
            .send(|| self.request(reqwest::Method::GET, member, &path))
            .await?;
        parsed(answer, || format!("{member} view {view}"))
    }

    /// `GET /cases`: every case of the member, in brief.
    pub async fn cases(&self, member: &str) -> anyhow::Result<Value> {
        let answer = self
            .send(|| self.request(reqwest::Method::GET, member, "/cases"))
            .await?;
        parsed(answer, || format!("{member} cases"))
    }

    /// `GET /cases/{case}`: one case whole, with its timeline, and its
    /// revision.
    pub async fn case(&self, member: &str, case_ref: &str) -> anyhow::Result<Value> {
        let path = format!("/cases/{case_ref}");
        let answer = self
            .send(|| self.request(reqwest::Method::GET, member, &path))
            .await?;
        parsed(answer, || format!("{member} case {case_ref}"))
    }

    /// `GET /parked`: the member's parked deliveries, references only.
    pub async fn parked(&self, member: &str) -> anyhow::Result<Value> {
        let answer = self
            .send(|| self.request(reqwest::Method::GET, member, "/parked"))
            .await?;
        parsed(answer, || format!("{member} parked"))
    }

    /// `POST /parked/{sequence}/redrive`: what became of each parked
    /// delivery of its case. A redrive that failed again is an error
    /// naming what the service answered.
    pub async fn redrive(&self, member: &str, sequence: u64) -> anyhow::Result<Value> {
        let path = format!("/parked/{sequence}/redrive");
        let answer = self
            .send(|| {
                Ok(self
                    .request(reqwest::Method::POST, member, &path)?
                    .header(reqwest::header::CONTENT_TYPE, "application/json"))
            })
            .await?;
        parsed(answer, || format!("{member} redrive of {sequence}"))
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
        // Riding through restarts, a step may also wait out the restarts.
        let deadline =
            tokio::time::Instant::now() + STEP_TIMEOUT.max(self.patience.unwrap_or_default());
        let mut after: Option<u64> = None;
        let mut last = Value::Null;
        loop {
            let path = format!("/cases/{case_ref}?after={}&wait=10", after.unwrap_or(0));
            let answer = self
                .send(|| self.request(reqwest::Method::GET, member, &path))
                .await?;
            let status = answer.status;
            // Only "not yet" is waited out; a refusal (a wrong token, say)
            // would be refused again.
            if status.is_client_error() && status != StatusCode::NOT_FOUND {
                anyhow::bail!("{member} case {case_ref}: {status}: {}", answer.text);
            }
            if status.is_success() {
                let body: Value = serde_json::from_str(&answer.text)?;
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
fn parsed(answer: Answer, what: impl FnOnce() -> String) -> anyhow::Result<Value> {
    let Answer { status, text, .. } = answer;
    anyhow::ensure!(status.is_success(), "{}: {status}: {text}", what());
    Ok(serde_json::from_str(&text)?)
}
