//! The console's pages and API.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/` | the console (one page; its script and style are compiled into the binary) |
//! | POST | `/api/login` | `{"token": "…"}`: the operator token; sets a session cookie |
//! | POST | `/api/logout` | ends the session |
//! | GET | `/api/snapshot` | every view at once: flows, rejections, backlog, parked, services, late cases, audit |
//! | GET | `/api/live` | the same snapshot, live (`text/event-stream`), every `live_every` |
//! | GET | `/api/rejections?member=&type=&code=&limit=` | the rejections kept, newest first, filtered |
//! | GET | `/api/cases/{caseRef}` | every decision about a case, in order, read back from `HW_AUDIT` |
//! | GET | `/metrics` | Prometheus text format |
//! | GET | `/health` | 200 while the console runs |
//!
//! # Who may see it
//! The same checks as a ministry API ([`homeward_ministry::api::same_site`]:
//! the `Host` must be the console's, no cross-site `Origin` or
//! `Sec-Fetch-Site`), then, except for `/`, its assets, `/metrics`,
//! `/health` and the login itself: a session cookie made by `/api/login`
//! (`HttpOnly`, `SameSite=Strict`), or `Authorization: Bearer <token>`.
//! The login needs `application/json`, which a page elsewhere cannot send
//! without a CORS preflight, and the console answers none. The page sends
//! a strict Content-Security-Policy, and its script writes every value as
//! text, never as markup.
//!
//! Nothing the console serves holds a name, a birth date or a data value:
//! it has none. It reads audit records, stream and consumer state,
//! advisories and discovery; `tests/privacy.rs` replays the scenario and
//! scans every page and response for the synthetic names.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::stream::DirectGetErrorKind;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use homeward_core::audit::AuditRecord;
use homeward_core::{client, envelope, subjects};
use homeward_ministry::api::{Access, same_site};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::Console;
use crate::model::{AuditState, Counts, Flow, Late, Rejection, Waiting, millis_between};
use crate::watch::{ConsumerRow, Parked, ServiceRow};

const INDEX: &str = include_str!("../assets/index.html");
const SCRIPT: &str = include_str!("../assets/app.js");
const STYLE: &str = include_str!("../assets/style.css");

/// The session cookie's name.
const COOKIE: &str = "hw_console";
/// How long a session lasts.
const SESSION_FOR: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; the oldest goes first.
const MAX_SESSIONS: usize = 1000;
/// Rejections a snapshot carries.
const SNAPSHOT_REJECTIONS: usize = 200;
/// Late cases a snapshot carries.
const SNAPSHOT_LATE: usize = 500;

/// The sessions opened by logging in, by the SHA-256 of their cookie.
#[derive(Debug, Default)]
struct Sessions(Mutex<HashMap<[u8; 32], Instant>>);

impl Sessions {
    fn open(&self) -> String {
        let secret: [u8; 32] = rand::random();
        let cookie = hex::encode(secret);
        let mut sessions = self.0.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|_, at| at.elapsed() < SESSION_FOR);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions.iter().min_by_key(|(_, at)| **at).map(|(k, _)| *k)
        {
            sessions.remove(&oldest);
        }
        sessions.insert(Sha256::digest(cookie.as_bytes()).into(), Instant::now());
        cookie
    }

    fn admits(&self, cookie: &str) -> bool {
        let key: [u8; 32] = Sha256::digest(cookie.as_bytes()).into();
        let sessions = self.0.lock().unwrap_or_else(|e| e.into_inner());
        sessions
            .get(&key)
            .is_some_and(|at| at.elapsed() < SESSION_FOR)
    }

    fn close(&self, cookie: &str) {
        let key: [u8; 32] = Sha256::digest(cookie.as_bytes()).into();
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }
}

#[derive(Debug, Clone)]
struct Shared {
    console: Arc<Console>,
    access: Access,
    sessions: Arc<Sessions>,
    shutdown: CancellationToken,
}

/// The console's router, open to `access` (the operator token and the
/// hosts it answers to), until `shutdown` ends the live feeds.
pub fn router(console: Arc<Console>, access: Access, shutdown: CancellationToken) -> Router {
    let shared = Shared {
        console,
        access: access.clone(),
        sessions: Arc::new(Sessions::default()),
        shutdown,
    };
    let guarded = Router::new()
        .route("/api/snapshot", get(snapshot_of))
        .route("/api/live", get(live))
        .route("/api/rejections", get(rejections))
        .route("/api/cases/{case_ref}", get(timeline))
        .route("/api/logout", post(logout))
        .route_layer(middleware::from_fn_with_state(shared.clone(), signed_in));
    Router::new()
        .route(
            "/",
            get(|| async { page(INDEX, "text/html; charset=utf-8") }),
        )
        .route(
            "/app.js",
            get(|| async { page(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/style.css",
            get(|| async { page(STYLE, "text/css; charset=utf-8") }),
        )
        .route("/api/login", post(login))
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .merge(guarded)
        .layer(middleware::from_fn(headers))
        .layer(middleware::from_fn_with_state(access, same_site))
        .with_state(shared)
}

/// Serves the router on `listener` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    console: Arc<Console>,
    access: Access,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let app = router(console, access, shutdown.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    Ok(())
}

/// A JSON answer that no cache keeps.
struct Json(Value);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        let mut r = axum::Json(self.0).into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

fn page(body: &'static str, kind: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// What every answer carries: no framing, no sniffing, no referrer, and a
/// policy that runs only the console's own script and style.
async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn cookie_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

fn bearer_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

/// Refuses a request with neither a live session nor the token (401).
async fn signed_in(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let admitted = cookie_of(headers).is_some_and(|c| shared.sessions.admits(c))
        || bearer_of(headers).is_some_and(|t| shared.access.admits(t));
    if admitted {
        return next.run(request).await;
    }
    error(
        StatusCode::UNAUTHORIZED,
        "the console needs the operator token: log in, or send Authorization: Bearer <token>",
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    token: String,
}

async fn login(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the login takes application/json: {\"token\": \"…\"}",
        );
    }
    let Ok(login) = serde_json::from_slice::<LoginBody>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the login takes a JSON object with one member, token",
        );
    };
    if !shared.access.admits(&login.token) {
        return error(StatusCode::UNAUTHORIZED, "that is not the operator token");
    }
    let cookie = shared.sessions.open();
    let mut response = Json(json!({"status": "signed in"})).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!(
        "{COOKIE}={cookie}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        SESSION_FOR.as_secs()
    )) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn logout(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(c) = cookie_of(&headers) {
        shared.sessions.close(c);
    }
    let mut response = Json(json!({"status": "signed out"})).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("hw_console=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    response
}

/// Rejections per (sender, type).
#[derive(Debug, Serialize)]
pub struct Refused {
    pub sender: String,
    #[serde(rename = "type")]
    pub message_type: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// Every view at once.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub generated_at: String,
    pub decisions: u64,
    pub cases_indexed: usize,
    /// Every member of the policy: the axes of the flow matrix.
    pub members: Vec<String>,
    pub flows: Vec<Flow>,
    pub refused: Vec<Refused>,
    pub rejections: Vec<Rejection>,
    pub backlog: Vec<ConsumerRow>,
    pub backlog_error: Option<String>,
    pub parked: Vec<Parked>,
    pub services: Vec<ServiceRow>,
    pub late: Vec<Late>,
    pub late_total: usize,
    /// Cases per stage and the member who must act next.
    pub waiting: Vec<Waiting>,
    /// Per stage, the seconds a case may wait there.
    pub late_after: HashMap<String, u64>,
    pub audit: AuditState,
    pub audit_intact: bool,
    pub stuck_after_seconds: u64,
    pub down_after_seconds: u64,
}

/// The snapshot of every view now.
pub fn snapshot(console: &Console) -> Snapshot {
    let now = OffsetDateTime::now_utc();
    let secs = now.unix_timestamp();
    let model = console.model();
    let (late, late_total) = model.late(secs, SNAPSHOT_LATE);
    let waiting = model.waiting();
    let flows = model.flows(secs);
    let refused = model
        .refused(secs)
        .into_iter()
        .map(|(sender, message_type, counts)| Refused {
            sender,
            message_type,
            counts,
        })
        .collect();
    let rejections = model.rejections(None, None, None, SNAPSHOT_REJECTIONS);
    let audit = model.audit().clone();
    let decisions = model.decisions();
    let cases_indexed = model.cases();
    let late_after = model
        .late_after()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_secs()))
        .collect();
    drop(model);
    let observed = console.observed();
    Snapshot {
        generated_at: envelope::format_time(now),
        decisions,
        cases_indexed,
        members: console
            .policy()
            .members()
            .map(|m| m.id.to_string())
            .collect(),
        flows,
        refused,
        rejections,
        backlog: observed.backlog.clone(),
        backlog_error: observed.backlog_error.clone(),
        parked: observed.parked.iter().cloned().collect(),
        services: observed.services.values().cloned().collect(),
        late,
        late_total,
        waiting,
        late_after,
        audit_intact: audit.intact(),
        audit,
        stuck_after_seconds: console.config().stuck_after.as_secs(),
        down_after_seconds: console.config().down_after.as_secs(),
    }
}

async fn snapshot_of(State(shared): State<Shared>) -> Response {
    match serde_json::to_value(snapshot(&shared.console)) {
        Ok(v) => Json(v).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// The snapshot, each time a new one is made, until the console stops.
async fn live(State(shared): State<Shared>) -> Response {
    let mut receiver = shared.console.live();
    receiver.mark_changed();
    let shutdown = shared.shutdown.clone();
    let feed = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.changed().await.ok()?;
        let json = receiver.borrow_and_update().clone();
        Some((
            Ok::<_, std::convert::Infallible>(
                sse::Event::default().event("snapshot").data(json.as_str()),
            ),
            receiver,
        ))
    })
    .take_until(async move { shutdown.cancelled().await });
    let mut response = Sse::new(feed)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Debug, Deserialize)]
struct RejectionQuery {
    member: Option<String>,
    #[serde(rename = "type")]
    message_type: Option<String>,
    code: Option<String>,
    limit: Option<usize>,
}

async fn rejections(State(shared): State<Shared>, Query(q): Query<RejectionQuery>) -> Response {
    let blank = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    let list = shared.console.model().rejections(
        blank(&q.member).as_deref(),
        blank(&q.message_type).as_deref(),
        blank(&q.code).as_deref(),
        q.limit.unwrap_or(200).min(1000),
    );
    Json(json!({ "rejections": list })).into_response()
}

/// One decision of a case's timeline.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub audit_sequence: u64,
    pub time: String,
    pub submitted_at: Option<String>,
    /// Milliseconds from the submission's storing to the decision.
    pub decided_in_ms: Option<i64>,
    pub sender: String,
    pub recipients: Vec<String>,
    #[serde(rename = "type")]
    pub message_type: Option<String>,
    pub decision: String,
    pub codes: Vec<String>,
    pub reasons: Vec<homeward_core::receipt::Reason>,
    pub envelope_id: Option<String>,
    pub trace_id: Option<String>,
    pub gateway: String,
}

impl Step {
    fn of(sequence: u64, r: AuditRecord) -> Self {
        Self {
            audit_sequence: sequence,
            decided_in_ms: r
                .submitted_at
                .as_deref()
                .and_then(|s| millis_between(s, &r.time)),
            time: r.time,
            submitted_at: r.submitted_at,
            sender: r.sender,
            recipients: r.recipients,
            message_type: r.message_type,
            decision: r.decision,
            codes: r.codes,
            reasons: r.reasons,
            envelope_id: r.envelope_id,
            trace_id: r.trace_id,
            gateway: r.gateway,
        }
    }
}

async fn timeline(State(shared): State<Shared>, Path(case_ref): Path<String>) -> Response {
    if !envelope::is_case_ref(&case_ref) {
        return error(
            StatusCode::BAD_REQUEST,
            "that is not a case reference (letters, digits and - . _ :, up to 128)",
        );
    }
    let Some(sequences) = shared.console.model().case_decisions(&case_ref) else {
        return error(
            StatusCode::NOT_FOUND,
            "no decision about that case is on record",
        );
    };
    let stream = match client::homeward_jetstream(shared.console.nats().clone())
        .get_stream(subjects::AUDIT_STREAM)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            return error(
                StatusCode::BAD_GATEWAY,
                &format!("reading the audit stream: {e}"),
            );
        }
    };
    let reads = sequences.iter().map(|&sequence| {
        let stream = &stream;
        async move { (sequence, stream.direct_get(sequence).await) }
    });
    let mut steps = Vec::with_capacity(sequences.len());
    for (sequence, read) in futures::future::join_all(reads).await {
        match read {
            Ok(m) => {
                if let Some(r) = homeward_core::audit::parse_record(&m.payload) {
                    steps.push(Step::of(sequence, r));
                }
            }
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => {}
            Err(e) => {
                return error(
                    StatusCode::BAD_GATEWAY,
                    &format!("reading audit record {sequence}: {e}"),
                );
            }
        }
    }
    Json(json!({ "case": case_ref, "steps": steps })).into_response()
}

/// One sample line of the text format.
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    use std::fmt::Write;
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            let _ = write!(out, "{k}=\"{v}\"");
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    use std::fmt::Write;
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The console's metrics: what it sees of the system, for alerts.
async fn metrics(State(shared): State<Shared>) -> Response {
    let s = snapshot(&shared.console);
    let mut out = String::new();
    family(
        &mut out,
        "homeward_console_decisions_read_total",
        "counter",
        "Audit records the console has read.",
    );
    sample(
        &mut out,
        "homeward_console_decisions_read_total",
        &[],
        s.decisions,
    );
    family(
        &mut out,
        "homeward_audit_chain_intact",
        "gauge",
        "1 while every audit record read verifies and nothing foreign is in the audit stream.",
    );
    sample(
        &mut out,
        "homeward_audit_chain_intact",
        &[],
        u8::from(s.audit_intact),
    );
    family(
        &mut out,
        "homeward_audit_records_verified",
        "gauge",
        "Audit records the console has verified.",
    );
    sample(
        &mut out,
        "homeward_audit_records_verified",
        &[],
        s.audit.records,
    );
    family(
        &mut out,
        "homeward_consumer_pending",
        "gauge",
        "Messages a consumer has not yet had acknowledged (pending and waiting for ack).",
    );
    for c in &s.backlog {
        sample(
            &mut out,
            "homeward_consumer_pending",
            &[
                ("stream", &c.stream),
                ("consumer", &c.consumer),
                ("member", &c.member),
            ],
            c.pending + c.ack_pending,
        );
    }
    family(
        &mut out,
        "homeward_consumer_stuck",
        "gauge",
        "1 when a consumer has messages waiting and made no progress for longer than stuck_after.",
    );
    for c in &s.backlog {
        sample(
            &mut out,
            "homeward_consumer_stuck",
            &[
                ("stream", &c.stream),
                ("consumer", &c.consumer),
                ("member", &c.member),
            ],
            u8::from(c.stuck),
        );
    }
    family(
        &mut out,
        "homeward_service_up",
        "gauge",
        "1 when the member's service answered discovery within down_after.",
    );
    for service in &s.services {
        let name = service
            .instances
            .first()
            .map_or("unknown", |i| i.name.as_str());
        sample(
            &mut out,
            "homeward_service_up",
            &[("member", &service.member), ("service", name)],
            u8::from(service.up),
        );
    }
    family(
        &mut out,
        "homeward_cases_late",
        "gauge",
        "Cases waiting at a stage longer than its threshold.",
    );
    sample(&mut out, "homeward_cases_late", &[], s.late_total);
    family(
        &mut out,
        "homeward_messages_parked",
        "gauge",
        "Messages given up on or parked, as the advisories the console kept tell.",
    );
    sample(&mut out, "homeward_messages_parked", &[], s.parked.len());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
