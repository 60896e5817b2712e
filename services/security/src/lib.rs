//! The state security service's part of the lifecycle.
//!
//! It learns of a family of its state's nationality when the camp locates
//! it, verifies identity when its foreign ministry asks (`verify`, a human
//! decision through the API), follows the operation, the handover, the
//! arrival and the rehabilitation, and screens each returnee who has
//! arrived (`screen`: cleared, under investigation, detained or charged;
//! detained, charged and under investigation carry a proceedings
//! reference).
//!
//! Only the camp authority that located a family hands it over or locates
//! it again; another's is refused (`not_the_camp_authority`).
//!
//! With the state's civil registry extract ([`SecurityService`], which
//! `main` runs), it ranks candidates from the registry for each person of
//! a case when the verification is requested, for the official to see
//! (`GET /cases/{caseRef}/candidates`); they never leave the site, and the
//! outcome is still the official's alone ([`candidates`]).
//!
//! Rule codes, of refused messages: `unknown_case`, `not_our_citizens`,
//! `not_the_camp_authority`, `person_not_in_case`; of refused actions:
//! `verification_not_requested`, `screening_before_arrival`; of the
//! candidates view: `no_registry_extract`, `located_unit_not_held` (and
//! `verification_not_requested`).

use homeward_core::Envelope;
use homeward_core::message_types as types;
use homeward_ministry::noted;
use homeward_ministry::read::{array_at, required_enum, str_at};
use homeward_ministry::{
    ActionError, Case, Ctx, Outgoing, Refusal, Role, ScreeningOutcome, Stage, Transition,
    VerificationOutcome, mark_persons, open_case, require_camp_authority, require_case,
};
use serde_json::{Value, json};

pub mod candidates;
pub mod sealed;
#[cfg(test)]
mod tests;

pub use candidates::{Registry, SecurityError, SecurityService, SecuritySettings};

/// The security role's rules, without a registry (no candidates).
#[derive(Debug, Clone, Copy)]
pub struct Security;

impl Security {
    fn located(
        ctx: &Ctx<'_>,
        case: Option<Case>,
        m: &Envelope,
    ) -> Result<Option<Transition>, Refusal> {
        if str_at(m.data(), "/claimedNationality") != Some(ctx.country().as_str()) {
            return Err(Refusal::new(
                "not_our_citizens",
                "the family's claimed nationality is not this state's",
            ));
        }
        if let Some(existing) = &case {
            require_camp_authority(existing, m)?;
        }
        let mut case = open_case(case, m, Stage::Located);
        case.record_located(m.data(), &ctx.today());
        case.camp_authority = Some(m.sender().to_string());
        Ok(Some(Transition::quiet(case)))
    }

    fn verification_requested(
        case: Option<Case>,
        m: &Envelope,
    ) -> Result<Option<Transition>, Refusal> {
        let mut case = mark_persons(case, m, "/persons", |p| p.requested = true)?;
        case.stage = Stage::VerificationRequested;
        Ok(Some(Transition::quiet(case)))
    }

    fn scheduled(case: Option<Case>, m: &Envelope) -> Result<Option<Transition>, Refusal> {
        let case = mark_persons(case, m, "/manifest/persons", |p| p.on_manifest = true)?;
        Ok(Some(Transition::quiet(case)))
    }

    fn handed_over(case: Option<Case>, m: &Envelope) -> Result<Option<Transition>, Refusal> {
        let case = require_case(case, m)?;
        require_camp_authority(&case, m)?;
        let mut case = mark_persons(Some(case), m, "/persons", |p| p.handed_over = true)?;
        case.stage = Stage::HandedOver;
        Ok(Some(Transition::quiet(case)))
    }

    fn verify(ctx: &Ctx<'_>, mut case: Case, body: &Value) -> Result<Transition, ActionError> {
        let requested = case.persons_where(|p| p.requested);
        if requested.is_empty() {
            return Err(ActionError::refused(
                "verification_not_requested",
                "the foreign ministry has not asked to verify this case",
            ));
        }
        let results: Vec<Value> = match body.get("results").and_then(Value::as_array) {
            Some(r) => r.clone(),
            None => {
                let outcome = match body.get("outcome") {
                    Some(_) => required_enum(body, "/outcome")?,
                    None => VerificationOutcome::Confirmed,
                };
                requested
                    .iter()
                    .map(|r| json!({"personRef": r, "outcome": outcome, "methods": ["civil-registry", "dna-relative-match"]}))
                    .collect()
            }
        };
        for r in &results {
            let (Some(p), Some(_)) = (r.get("personRef").and_then(Value::as_str), r.get("outcome"))
            else {
                return Err(ActionError::Invalid(
                    "each result needs personRef and outcome".into(),
                ));
            };
            let outcome: VerificationOutcome = required_enum(r, "/outcome")?;
            if !requested.iter().any(|x| x == p) {
                return Err(ActionError::refused(
                    "verification_not_requested",
                    format!("{p} was not to be verified"),
                ));
            }
            case.person(p).verification = Some(outcome);
        }
        case.stage = Stage::Verified;
        let data =
            json!({"caseRef": case.case_ref, "completedOn": ctx.today(), "results": results});
        Ok(Transition::sending(
            case,
            vec![Outgoing::new(types::IDENTITY_VERIFICATION_COMPLETED, data)],
        ))
    }

    fn screen(ctx: &Ctx<'_>, mut case: Case, body: &Value) -> Result<Transition, ActionError> {
        let results = array_at(body, "/results");
        if results.is_empty() {
            return Err(ActionError::Invalid("results are required".into()));
        }
        let mut out = Vec::new();
        for r in results {
            let (Some(p), Some(_)) = (r.get("personRef").and_then(Value::as_str), r.get("outcome"))
            else {
                return Err(ActionError::Invalid(
                    "each result needs personRef and outcome".into(),
                ));
            };
            let outcome: ScreeningOutcome = required_enum(r, "/outcome")?;
            if !case.persons.get(p).is_some_and(|x| x.arrived) {
                return Err(ActionError::refused(
                    "screening_before_arrival",
                    format!("{p} has not arrived"),
                ));
            }
            let mut result = json!({"personRef": p, "outcome": outcome, "decidedOn": ctx.today()});
            if matches!(
                outcome,
                ScreeningOutcome::Detained
                    | ScreeningOutcome::Charged
                    | ScreeningOutcome::UnderInvestigation
            ) {
                result["proceedingsRef"] = r
                    .get("proceedingsRef")
                    .cloned()
                    .unwrap_or_else(|| json!(format!("{}-{}", ctx.country(), p)));
            }
            case.person(p).screening = Some(outcome);
            out.push(result);
        }
        case.stage = Stage::Screened;
        let data = json!({"caseRef": case.case_ref, "results": out});
        Ok(Transition::sending(
            case,
            vec![Outgoing::new(types::SECURITY_SCREENING_COMPLETED, data)],
        ))
    }
}

impl Role for Security {
    fn on_message(
        &self,
        ctx: &Ctx<'_>,
        case: Option<Case>,
        m: &Envelope,
    ) -> Result<Option<Transition>, Refusal> {
        match m.message_type() {
            types::CAMP_RESIDENT_LOCATED => Self::located(ctx, case, m),
            types::IDENTITY_VERIFICATION_REQUESTED => Self::verification_requested(case, m),
            types::OPERATION_SCHEDULED => Self::scheduled(case, m),
            types::HANDOVER_COMPLETED => Self::handed_over(case, m),
            types::ARRIVAL_RECORDED => noted::arrival(case, m),
            types::REHABILITATION_ADMITTED => noted::admission(case, m),
            types::REHABILITATION_DISCHARGED => noted::discharge(case, m),
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
        let case = case.ok_or_else(|| ActionError::NotFound("no such case".into()))?;
        match action {
            "verify" => Self::verify(ctx, case, body),
            "screen" => Self::screen(ctx, case, body),
            other => Err(ActionError::NotFound(format!(
                "no action {other:?} (verify, screen)"
            ))),
        }
    }
}
