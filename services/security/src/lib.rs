//! The state security service's part of the lifecycle.
//!
//! It learns of a family of its state's nationality when the camp locates
//! it, verifies identity when its foreign ministry asks (`verify`, a human
//! decision through the API), follows the handover and the arrival, and
//! screens each returnee who has arrived (`screen`: cleared, under
//! investigation, detained or charged; detained and charged need a
//! proceedings reference).
//!
//! Refusals (rule codes): `unknown_case`, `not_our_citizens`,
//! `person_not_in_case`.

use homeward_core::Envelope;
use homeward_ministry::read::{array_at, person_refs, str_at};
use homeward_ministry::{
    ActionError, Case, Ctx, Outgoing, Refusal, Role, Transition, require_case, require_persons,
};
use serde_json::{Value, json};

/// The security role.
#[derive(Debug, Clone, Copy)]
pub struct Security;

fn mark(case: &mut Case, m: &Envelope, list: &str) -> Result<Vec<String>, Refusal> {
    let refs = person_refs(m.data(), list);
    require_persons(case, &refs)?;
    Ok(refs)
}

impl Role for Security {
    fn on_message(
        &self,
        ctx: &Ctx<'_>,
        case: Option<Case>,
        m: &Envelope,
    ) -> Result<Option<Transition>, Refusal> {
        match m.message_type() {
            "camp.resident.located" => {
                if str_at(m.data(), "/claimedNationality") != Some(ctx.country().as_str()) {
                    return Err(Refusal::new(
                        "not_our_citizens",
                        "the family's claimed nationality is not this state's",
                    ));
                }
                let mut case = case
                    .unwrap_or_else(|| Case::new(str_at(m.data(), "/caseRef").unwrap_or_default()));
                case.record_located(m.data(), &ctx.today());
                case.camp_authority = Some(m.sender().to_string());
                if case.stage.is_empty() {
                    case.stage = "located".into();
                }
                Ok(Some(Transition::quiet(case)))
            }
            "identity.verification.requested" => {
                let mut case = require_case(case, m)?;
                for r in mark(&mut case, m, "/persons")? {
                    case.person(&r).requested = true;
                }
                case.stage = "verification-requested".into();
                Ok(Some(Transition::quiet(case)))
            }
            "handover.completed" => {
                let mut case = require_case(case, m)?;
                for r in mark(&mut case, m, "/persons")? {
                    case.person(&r).handed_over = true;
                }
                case.stage = "handed-over".into();
                Ok(Some(Transition::quiet(case)))
            }
            "arrival.recorded" | "rehabilitation.admitted" | "rehabilitation.discharged" => {
                let mut case = require_case(case, m)?;
                for r in mark(&mut case, m, "/persons")? {
                    let p = case.person(&r);
                    match m.message_type() {
                        "arrival.recorded" => p.arrived = true,
                        "rehabilitation.admitted" => p.admitted = true,
                        _ => p.discharged = true,
                    }
                }
                Ok(Some(Transition::quiet(case)))
            }
            "operation.scheduled" => {
                let mut case = require_case(case, m)?;
                for r in mark(&mut case, m, "/manifest/persons")? {
                    case.person(&r).on_manifest = true;
                }
                Ok(Some(Transition::quiet(case)))
            }
            _ => Ok(None),
        }
    }

    fn on_action(
        &self,
        ctx: &Ctx<'_>,
        case: Option<Case>,
        action: &str,
        body: &Value,
    ) -> Result<Transition, ActionError> {
        let mut case = case.ok_or_else(|| ActionError::NotFound("no such case".into()))?;
        match action {
            "verify" => {
                let requested: Vec<String> = case
                    .persons
                    .iter()
                    .filter(|(_, p)| p.requested)
                    .map(|(r, _)| r.clone())
                    .collect();
                if requested.is_empty() {
                    return Err(ActionError::refused(
                        "verification_not_requested",
                        "the foreign ministry has not asked to verify this case",
                    ));
                }
                let results: Vec<Value> = match body.get("results").and_then(Value::as_array) {
                    Some(r) => r.clone(),
                    None => {
                        let outcome = str_at(body, "/outcome").unwrap_or("confirmed");
                        requested
                            .iter()
                            .map(|r| json!({"personRef": r, "outcome": outcome, "methods": ["civil-registry", "dna-relative-match"]}))
                            .collect()
                    }
                };
                for r in &results {
                    let (Some(p), Some(o)) = (
                        r.get("personRef").and_then(Value::as_str),
                        r.get("outcome").and_then(Value::as_str),
                    ) else {
                        return Err(ActionError::Invalid(
                            "each result needs personRef and outcome".into(),
                        ));
                    };
                    if !requested.iter().any(|x| x == p) {
                        return Err(ActionError::refused(
                            "verification_not_requested",
                            format!("{p} was not to be verified"),
                        ));
                    }
                    case.person(p).verification = Some(o.to_owned());
                }
                case.stage = "verified".into();
                let data = json!({"caseRef": case.case_ref, "completedOn": ctx.today(), "results": results});
                Ok(Transition::sending(
                    case,
                    vec![Outgoing::new("identity.verification.completed", data)],
                ))
            }
            "screen" => {
                let results = array_at(body, "/results");
                if results.is_empty() {
                    return Err(ActionError::Invalid("results are required".into()));
                }
                let mut out = Vec::new();
                for r in results {
                    let (Some(p), Some(o)) = (
                        r.get("personRef").and_then(Value::as_str),
                        r.get("outcome").and_then(Value::as_str),
                    ) else {
                        return Err(ActionError::Invalid(
                            "each result needs personRef and outcome".into(),
                        ));
                    };
                    if !case.persons.get(p).is_some_and(|x| x.arrived) {
                        return Err(ActionError::refused(
                            "screening_before_arrival",
                            format!("{p} has not arrived"),
                        ));
                    }
                    let mut result =
                        json!({"personRef": p, "outcome": o, "decidedOn": ctx.today()});
                    if matches!(o, "detained" | "charged" | "under-investigation") {
                        result["proceedingsRef"] = r
                            .get("proceedingsRef")
                            .cloned()
                            .unwrap_or_else(|| json!(format!("{}-{}", ctx.country(), p)));
                    }
                    case.person(p).screening = Some(o.to_owned());
                    out.push(result);
                }
                case.stage = "screened".into();
                let data = json!({"caseRef": case.case_ref, "results": out});
                Ok(Transition::sending(
                    case,
                    vec![Outgoing::new("security.screening.completed", data)],
                ))
            }
            other => Err(ActionError::NotFound(format!(
                "no action {other:?} (verify, screen)"
            ))),
        }
    }
}
