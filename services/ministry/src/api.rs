//! The local HTTP JSON API of a ministry service.
//!
//! It is how people decide (verification outcome, release and consent,
//! screening outcome, a child's guardian) and how the ministry's own
//! systems act and read their cases. It listens where the ministry puts it,
//! normally on loopback behind the ministry's own access control.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/metrics` | Prometheus text format, without the token: deliveries applied, refused by rule, failed, parked; outboxes; loops ([`crate::metrics`]) |
//! | GET | `/health` | the member, the state of its delivery and receipt loops, the policy version in force and its alarms (deliveries refused by its own checks, by rule; foreign duplicates); 503 unless both loops run |
//! | GET | `/cases` | every case: reference, stage, persons |
//! | GET | `/cases/{caseRef}?after=REV&wait=SECS` | one case with its revision; with `after`, waits up to `wait` seconds (max 30) for a newer revision |
//! | POST | `/cases/{caseRef}/{action}` | a decision on one case (JSON body); 409 with `rule` when the flow does not allow it |
//! | GET | `/cases/{caseRef}/{view}` | a view the role computes of one case, e.g. the security service's `candidates` |
//! | POST | `/commands/{command}?…` | a command opening cases, e.g. `census` (CSV body; `registeredOn=YYYY-MM-DD` dates the registration, default today) |
//! | GET | `/views/{view}` | a view the role computes over all of the member's cases, e.g. the foreign ministry's `report` |
//! | GET | `/parked` | the deliveries parked after failing to process, in the order they were delivered: sequence, sender, type, id, case, failure, attempts, when stored and parked; never their content ([`crate::parked`]) |
//! | POST | `/parked/{seq}/redrive` | redrives a parked delivery, with the parked deliveries of its case before and after it, in order; what became of each; 409 when one fails again (it stays parked) |
//! | GET | `/events` | the event feed (`text/event-stream`): every change to the member's cases and every message it received or sent, references only, from the position `Last-Event-ID` (or `?after=N`) names ([`crate::events`]) |
//!
//! # Who may call it
//!
//! Loopback is not a boundary: every process on the official's machine
//! reaches it, and so does every web page the official opens, through the
//! browser. The API therefore checks, in this order, on every request:
//!
//! 1. `Host` (and an absolute request target) is one the API answers to
//!    ([`Access`]), else 421. A page on `evil.example` whose name is
//!    rebound to 127.0.0.1 sends `Host: evil.example`.
//! 2. No cross-site `Origin` or `Sec-Fetch-Site`, else 403. The API sends
//!    no CORS headers, ever, so a browser lets no other origin read an
//!    answer.
//! 3. Except for `/health` and `/metrics`: `Authorization: Bearer <token>`, the member's
//!    token ([`ApiToken`]), else 401. A browser never attaches it by itself,
//!    so a hostile page cannot act as the official.
//! 4. A POST's `Content-Type`: `application/json` for an action,
//!    `text/csv` for a command, else 415. Both make a browser ask first (a
//!    CORS preflight, which this API refuses); `text/plain`,
//!    `application/x-www-form-urlencoded` and `multipart/form-data`, and no
//!    type at all, are what a page can send without asking, so they are
//!    refused.
//!
//! Shown by the replay's `lifecycle/access.rs` tests, on a real service.

use std::net::{IpAddr, SocketAddr};
use std::path::Path as FilePath;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRef, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::MinistryError;
use crate::events::{Bounds, KEEP_ALIVE};
use crate::health::Health;
use crate::runtime::{ActionError, Ministry};

/// The fewest characters a token may have.
pub const MIN_TOKEN_CHARS: usize = 32;

/// A member's API token: what a caller puts after `Bearer`. It never
/// prints.
#[derive(Clone)]
pub struct ApiToken(String);

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(…)")
    }
}

impl ApiToken {
    /// A token, if it is long enough and fits in a header: at least
    /// [`MIN_TOKEN_CHARS`] visible ASCII characters. The error says what is
    /// wrong, never the token.
    pub fn new(token: impl Into<String>) -> Result<Self, &'static str> {
        let token = token.into();
        if token.is_empty() {
            return Err("is empty");
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("holds a character that is not visible ASCII");
        }
        if token.len() < MIN_TOKEN_CHARS {
            return Err("holds fewer than 32 characters");
        }
        Ok(Self(token))
    }

    /// Reads the token a file holds: one line, surrounding whitespace
    /// ignored.
    pub fn from_file(path: &FilePath) -> Result<Self, MinistryError> {
        let problem = |problem: String| MinistryError::ApiToken {
            path: path.to_owned(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| problem(e.to_string()))?;
        Self::new(text.trim()).map_err(|p| problem(p.to_owned()))
    }

    /// The token itself, for the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Who may call the API: the holder of the member's token, at a `Host` the
/// API answers to.
#[derive(Clone)]
pub struct Access {
    /// The token's SHA-256: comparing digests of equal length takes the
    /// same time whatever the token offered, and the server keeps no token.
    token: [u8; 32],
    /// `Host` values, lowercase: `host:port` as a client writes them.
    hosts: Arc<[String]>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

impl Access {
    /// Access for the API listening at `listening`. It answers to `hosts`
    /// (`name:port`, e.g. the name a reverse proxy uses), and to the
    /// address it listens on: `127.0.0.1:PORT` and `localhost:PORT` on
    /// loopback. An API listening on every address (`0.0.0.0`) must be
    /// given `hosts`.
    pub fn new(
        token: &ApiToken,
        listening: SocketAddr,
        hosts: &[String],
    ) -> Result<Self, MinistryError> {
        let port = listening.port();
        let mut allowed: Vec<String> = hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
        match listening.ip() {
            ip if ip.is_unspecified() => {
                if hosts.is_empty() {
                    return Err(MinistryError::Invalid(format!(
                        "the API listens on every address ({listening}): name in api_hosts the host:port its clients use"
                    )));
                }
            }
            ip if ip.is_loopback() => {
                allowed.push(format!("localhost:{port}"));
                allowed.push(SocketAddr::new(ip, port).to_string());
                let other: IpAddr = if ip.is_ipv4() {
                    [0u16, 0, 0, 0, 0, 0, 0, 1].into()
                } else {
                    [127u8, 0, 0, 1].into()
                };
                allowed.push(SocketAddr::new(other, port).to_string());
            }
            _ => allowed.push(listening.to_string()),
        }
        if port == 80 {
            let bare: Vec<String> = allowed
                .iter()
                .filter_map(|h| h.strip_suffix(":80").map(str::to_owned))
                .collect();
            allowed.extend(bare);
        }
        allowed.sort();
        allowed.dedup();
        Ok(Self {
            token: Sha256::digest(token.expose().as_bytes()).into(),
            hosts: allowed.into(),
        })
    }

    /// The `Host` values the API answers to.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    fn allows_host(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.hosts.contains(&host)
    }

    /// Same origin only: `http(s)://` and a host the API answers to.
    fn allows_origin(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        ["http://", "https://"].iter().any(|scheme| {
            origin
                .strip_prefix(scheme)
                .is_some_and(|host| self.hosts.iter().any(|h| h == host))
        })
    }

    /// Whether `offered` is the token, in time independent of where they
    /// differ.
    pub fn admits(&self, offered: &str) -> bool {
        let offered: [u8; 32] = Sha256::digest(offered.as_bytes()).into();
        offered
            .iter()
            .zip(self.token.iter())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
    }
}

/// What the handlers share.
#[derive(Debug, Clone)]
struct Shared {
    ministry: Arc<Ministry>,
    health: Health,
    /// The service's shutdown: it ends every event feed, which would
    /// otherwise keep the API from stopping.
    shutdown: CancellationToken,
}

impl FromRef<Shared> for Arc<Ministry> {
    fn from_ref(shared: &Shared) -> Self {
        shared.ministry.clone()
    }
}

impl FromRef<Shared> for Health {
    fn from_ref(shared: &Shared) -> Self {
        shared.health.clone()
    }
}

impl FromRef<Shared> for CancellationToken {
    fn from_ref(shared: &Shared) -> Self {
        shared.shutdown.clone()
    }
}

/// The API of one member's service, open to `access`, until `shutdown`
/// (which ends the event feeds clients follow).
pub fn router(
    ministry: Arc<Ministry>,
    health: Health,
    access: Access,
    shutdown: CancellationToken,
) -> Router {
    let with_token = Router::new()
        .route("/events", get(events))
        .route("/cases", get(list))
        .route("/cases/{case_ref}", get(one))
        .route("/cases/{case_ref}/{action}", post(act).get(case_view))
        .route("/commands/{command}", post(command))
        .route("/views/{view}", get(view))
        .route("/parked", get(parked))
        .route("/parked/{sequence}/redrive", post(redrive))
        .route_layer(middleware::from_fn_with_state(access.clone(), bearer));
    Router::new()
        .route("/health", get(health_of))
        .route("/metrics", get(metrics_of))
        .merge(with_token)
        .layer(middleware::from_fn_with_state(access, same_site))
        .with_state(Shared {
            ministry,
            health,
            shutdown,
        })
}

/// A header's value; one that is not visible ASCII reads as a value no
/// check admits.
fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"))
}

/// Refuses a request addressed to another host (421), or made by another
/// site (403). The operator console guards its pages with it too.
pub async fn same_site(State(access): State<Access>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let named = [
        header_str(headers, header::HOST),
        request.uri().authority().map(|a| a.as_str()),
    ];
    if named.iter().all(Option::is_none)
        || named.iter().flatten().any(|host| !access.allows_host(host))
    {
        return error(
            StatusCode::MISDIRECTED_REQUEST,
            json!({"error": "this API answers only to the host it is configured for"}),
        );
    }
    if header_str(headers, header::ORIGIN).is_some_and(|o| !access.allows_origin(o))
        || header_str(headers, "sec-fetch-site")
            .is_some_and(|s| !matches!(s, "same-origin" | "none"))
    {
        return error(
            StatusCode::FORBIDDEN,
            json!({"error": "cross-site requests are refused"}),
        );
    }
    next.run(request).await
}

/// Refuses a request without the member's token (401).
async fn bearer(State(access): State<Access>, request: Request, next: Next) -> Response {
    let offered = header_str(request.headers(), header::AUTHORIZATION)
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    if offered.is_some_and(|t| access.admits(t)) {
        return next.run(request).await;
    }
    let mut refused = error(
        StatusCode::UNAUTHORIZED,
        json!({"error": "this API needs the member's token: Authorization: Bearer <token>"}),
    );
    refused
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    refused
}

/// The refusal (415) of a body of another media type than `expected`: see
/// the module documentation for why a missing or a simple type is refused.
fn wrong_media_type(headers: &HeaderMap, expected: &str) -> Option<Response> {
    let given = header_str(headers, header::CONTENT_TYPE)
        .and_then(|v| v.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    (given.as_deref() != Some(expected)).then(|| {
        error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!({"error": format!("this POST takes Content-Type: {expected}")}),
        )
    })
}

fn error(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ActionError {
    fn into_response(self) -> Response {
        match self {
            ActionError::NotFound(m) => error(StatusCode::NOT_FOUND, json!({"error": m})),
            ActionError::Invalid(m) => error(StatusCode::BAD_REQUEST, json!({"error": m})),
            ActionError::Refused { rule, reason } => error(
                StatusCode::CONFLICT,
                json!({"rule": rule, "reason": reason}),
            ),
            ActionError::Internal(m) => {
                error(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": m}))
            }
        }
    }
}

/// 200 while both loops run; 503, with each loop's state and a failed
/// loop's reason, otherwise.
async fn health_of(State(m): State<Arc<Ministry>>, State(health): State<Health>) -> Response {
    let status = if health.is_healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "member": m.member().as_str(),
        "status": health.status(),
        "loops": {"delivery": health.delivery.get(), "receipts": health.receipts.get()},
        "policyVersion": m.policy_version(),
        // What operators should look into: references and counts only.
        "alarms": m.alarms(),
    });
    (status, axum::Json(body)).into_response()
}

/// Prometheus metrics, without the token (counts only; see
/// [`crate::metrics`]).
async fn metrics_of(State(m): State<Arc<Ministry>>, State(health): State<Health>) -> Response {
    (
        [(header::CONTENT_TYPE, homeward_core::metrics::CONTENT_TYPE)],
        crate::metrics::render(&m, &health),
    )
        .into_response()
}

async fn list(State(m): State<Arc<Ministry>>) -> Result<Response, ActionError> {
    let out = m
        .cases()
        .await?
        .into_iter()
        .map(|s| {
            json!({
                "caseRef": s.case.case_ref,
                "stage": s.case.stage,
                "persons": s.case.persons.len(),
                "revision": s.revision,
            })
        })
        .collect();
    Ok(axum::Json(Value::Array(out)).into_response())
}

#[derive(Debug, Deserialize)]
struct WaitQuery {
    after: Option<u64>,
    wait: Option<u64>,
}

async fn one(
    State(m): State<Arc<Ministry>>,
    Path(case_ref): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Result<Response, ActionError> {
    let mut changes = m.store().changes();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(q.wait.unwrap_or(0).min(30));
    loop {
        let stored = m.store().get(&case_ref).await?;
        let revision = stored.as_ref().map_or(0, |s| s.revision);
        let fresh = q.after.is_none_or(|after| revision > after);
        if fresh || tokio::time::Instant::now() >= deadline {
            return match stored {
                Some(s) => {
                    Ok(axum::Json(json!({"revision": s.revision, "case": s.case})).into_response())
                }
                None if fresh || q.after.is_none() => {
                    Err(ActionError::NotFound(format!("no case {case_ref}")))
                }
                None => Ok(error(StatusCode::NOT_MODIFIED, json!({}))),
            };
        }
        // Woken by any write this process makes; a write by another
        // process shows at the deadline at the latest.
        let _ = tokio::time::timeout_at(deadline, changes.changed()).await;
    }
}

async fn act(
    State(m): State<Arc<Ministry>>,
    Path((case_ref, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ActionError> {
    if let Some(refused) = wrong_media_type(&headers, "application/json") {
        return Ok(refused);
    }
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ActionError::Invalid(format!("body is not JSON: {e}")))?
    };
    let applied = m.act(&case_ref, &action, &body).await?;
    // Stored, its messages still in the outbox: accepted, not done.
    let status = if applied.waiting.is_some() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(applied)).into_response())
}

async fn command(
    State(m): State<Arc<Ministry>>,
    Path(command): Path<String>,
    Query(params): Query<crate::runtime::Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ActionError> {
    if let Some(refused) = wrong_media_type(&headers, "text/csv") {
        return Ok(refused);
    }
    let applied = m.command(&command, &params, &body).await?;
    let waiting = applied.iter().filter(|a| a.waiting.is_some()).count();
    let status = if waiting > 0 {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(json!({"cases": applied.len(), "waiting": waiting, "applied": applied})),
    )
        .into_response())
}

async fn view(
    State(m): State<Arc<Ministry>>,
    Path(view): Path<String>,
) -> Result<Response, ActionError> {
    Ok(axum::Json(m.view(&view).await?).into_response())
}

async fn parked(State(m): State<Arc<Ministry>>) -> Result<Response, ActionError> {
    Ok(axum::Json(m.parked().await?).into_response())
}

/// Redrives one parked delivery and its case's others. Takes no body, so
/// it asks for none, but a POST must still name JSON (see the module
/// documentation).
async fn redrive(
    State(m): State<Arc<Ministry>>,
    Path(sequence): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ActionError> {
    if let Some(refused) = wrong_media_type(&headers, "application/json") {
        return Ok(refused);
    }
    let sequence: u64 = sequence.parse().map_err(|_| {
        ActionError::Invalid(format!(
            "{sequence:?} is not a parked delivery's sequence (a whole number)"
        ))
    })?;
    let redriven = m.redrive(sequence).await?;
    let failed = redriven
        .iter()
        .any(|r| matches!(r, crate::parked::Redriven::Failed { .. }));
    let status = if failed {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(json!({ "redriven": redriven }))).into_response())
}

async fn case_view(
    State(m): State<Arc<Ministry>>,
    Path((case_ref, view)): Path<(String, String)>,
) -> Result<Response, ActionError> {
    Ok(axum::Json(m.case_view(&case_ref, &view).await?).into_response())
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    after: Option<String>,
}

/// Where a client resumes the feed: after the id its `Last-Event-ID`
/// names (what an `EventSource` sends when it reconnects), else after
/// `?after=N`, else from the start. A position that is not an id, or names
/// an id this log never gave, is refused naming which and why; one before
/// the oldest event kept is gone (410).
fn resume_after(
    headers: &HeaderMap,
    query: &EventsQuery,
    bounds: Bounds,
) -> Result<u64, Box<Response>> {
    let (name, given) = match (header_str(headers, "last-event-id"), &query.after) {
        (Some(id), _) => ("Last-Event-ID", id),
        (None, Some(after)) => ("after", after.as_str()),
        (None, None) => return Ok(0),
    };
    let refuse =
        |status: StatusCode, message: String| Box::new(error(status, json!({ "error": message })));
    let shown: String = given.chars().take(40).collect();
    let after: u64 = given.trim().parse().map_err(|_| {
        refuse(
            StatusCode::BAD_REQUEST,
            format!("{name} {shown:?} is not an event id: give the id of the last event received, a whole number"),
        )
    })?;
    if after > bounds.last {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            format!(
                "{name} {after} is after the last event of this feed, {}: an id from another feed?",
                bounds.last
            ),
        ));
    }
    if after.saturating_add(1) < bounds.first {
        return Err(refuse(
            StatusCode::GONE,
            format!(
                "{name} {after}: the events up to {} are no longer kept; read the cases (GET /cases) and resume after {}",
                bounds.first - 1,
                bounds.first - 1
            ),
        ));
    }
    Ok(after)
}

/// The event feed: server-sent events, each `id:` its sequence in the
/// member's event log, `event:` its kind and `data:` the event as JSON,
/// with a keep-alive comment every [`KEEP_ALIVE`]. Each event is read from
/// the log as the client takes the one before ([`crate::events`]).
async fn events(
    State(m): State<Arc<Ministry>>,
    State(shutdown): State<CancellationToken>,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Result<Response, ActionError> {
    let bounds = m.events().bounds().await?;
    let after = match resume_after(&headers, &query, bounds) {
        Ok(after) => after,
        Err(refused) => return Ok(*refused),
    };
    let feed = m.events().follow(after, shutdown).map(|logged| {
        let event = sse::Event::default()
            .id(logged.id.to_string())
            .event(logged.event.kind.as_str());
        Ok::<_, std::convert::Infallible>(match serde_json::to_string(&logged) {
            Ok(data) => event.data(data),
            // Never: the event parsed from JSON a moment ago.
            Err(_) => event.comment("an event that does not serialize"),
        })
    });
    let mut response = Sse::new(feed)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response();
    // A reverse proxy in front must pass each event on at once.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> ApiToken {
        ApiToken::new("t".repeat(MIN_TOKEN_CHARS)).expect("token")
    }

    #[test]
    fn a_token_file_that_is_missing_empty_short_or_not_ascii_is_refused_without_quoting_it() {
        let dir = std::env::temp_dir().join(format!("hw-api-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let missing = dir.join("missing");
        let err = ApiToken::from_file(&missing).expect_err("missing");
        assert!(matches!(err, MinistryError::ApiToken { ref path, .. } if *path == missing));
        for (text, problem) in [
            ("", "is empty"),
            ("\n", "is empty"),
            ("short-but-secret", "holds fewer than 32 characters"),
            (
                "a token with spaces in it, long enough to pass",
                "holds a character that is not visible ASCII",
            ),
        ] {
            let file = dir.join("token");
            std::fs::write(&file, text).expect("write");
            match ApiToken::from_file(&file) {
                Err(MinistryError::ApiToken { problem: p, .. }) => {
                    assert_eq!(p, problem, "{text:?}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        let file = dir.join("good");
        std::fs::write(&file, format!("{}\n", "k".repeat(64))).expect("write");
        let good = ApiToken::from_file(&file).expect("a 64-character token");
        assert_eq!(good.expose(), "k".repeat(64));
        assert_eq!(format!("{good:?}"), "ApiToken(…)");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn loopback_answers_to_its_own_names_and_every_address_needs_them_named() {
        let access =
            Access::new(&token(), "127.0.0.1:8081".parse().expect("addr"), &[]).expect("access");
        assert_eq!(
            access.hosts(),
            ["127.0.0.1:8081", "[::1]:8081", "localhost:8081"]
        );
        assert!(access.allows_host("LOCALHOST:8081"));
        assert!(!access.allows_host("localhost:8082"));
        assert!(!access.allows_host("evil.example:8081"));
        assert!(access.allows_origin("http://127.0.0.1:8081"));
        assert!(!access.allows_origin("http://evil.example"));
        assert!(!access.allows_origin("null"));
        let proxy = vec!["homeward.mfa.kz:443".to_owned()];
        let everywhere: SocketAddr = "0.0.0.0:8081".parse().expect("addr");
        assert!(Access::new(&token(), everywhere, &[]).is_err());
        let access = Access::new(&token(), everywhere, &proxy).expect("access");
        assert_eq!(access.hosts(), ["homeward.mfa.kz:443"]);
        let access =
            Access::new(&token(), "10.1.2.3:80".parse().expect("addr"), &[]).expect("access");
        assert_eq!(access.hosts(), ["10.1.2.3", "10.1.2.3:80"]);
    }

    #[test]
    fn only_the_token_is_admitted() {
        let access =
            Access::new(&token(), "127.0.0.1:1".parse().expect("addr"), &[]).expect("access");
        assert!(access.admits(&"t".repeat(MIN_TOKEN_CHARS)));
        assert!(!access.admits(&"t".repeat(MIN_TOKEN_CHARS - 1)));
        assert!(!access.admits(&"t".repeat(MIN_TOKEN_CHARS + 1)));
        assert!(!access.admits(""));
    }
}
