//! The local HTTP JSON API of a ministry service.
//!
//! It is how people decide (verification outcome, release and consent,
//! screening outcome, a child's guardian) and how the ministry's own
//! systems act and read their cases. It listens where the ministry puts it,
//! normally on loopback behind the ministry's own access control.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/health` | the member and whether the service runs |
//! | GET | `/cases` | every case: reference, stage, persons |
//! | GET | `/cases/{caseRef}?after=REV&wait=SECS` | one case with its revision; with `after`, waits up to `wait` seconds (max 30) for a newer revision |
//! | POST | `/cases/{caseRef}/{action}` | a decision on one case (JSON body); 409 with `rule` when the flow does not allow it |
//! | POST | `/commands/{command}?…` | a command opening cases, e.g. `census` (CSV body; `registeredOn=YYYY-MM-DD` dates the registration, default today) |
//! | GET | `/views/{view}` | a view the role computes over all of the member's cases, e.g. the foreign ministry's `report` |

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::runtime::{ActionError, Ministry};

/// The API of one member's service.
pub fn router(ministry: Arc<Ministry>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/cases", get(list))
        .route("/cases/{case_ref}", get(one))
        .route("/cases/{case_ref}/{action}", post(act))
        .route("/commands/{command}", post(command))
        .route("/views/{view}", get(view))
        .with_state(ministry)
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

async fn health(State(m): State<Arc<Ministry>>) -> Response {
    axum::Json(json!({"member": m.member().as_str(), "status": "ok"})).into_response()
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
    body: Bytes,
) -> Result<Response, ActionError> {
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ActionError::Invalid(format!("body is not JSON: {e}")))?
    };
    let applied = m.act(&case_ref, &action, &body).await?;
    Ok(axum::Json(applied).into_response())
}

async fn command(
    State(m): State<Arc<Ministry>>,
    Path(command): Path<String>,
    Query(params): Query<crate::runtime::Params>,
    body: Bytes,
) -> Result<Response, ActionError> {
    let applied = m.command(&command, &params, &body).await?;
    Ok(axum::Json(json!({"cases": applied.len(), "applied": applied})).into_response())
}

async fn view(
    State(m): State<Arc<Ministry>>,
    Path(view): Path<String>,
) -> Result<Response, ActionError> {
    Ok(axum::Json(m.view(&view).await?).into_response())
}
