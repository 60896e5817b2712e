//! The rehabilitation centre's part of the lifecycle.
//!
//! It learns of a case from the operation's manifest and of each arrival
//! from the border; it admits those who arrived (`admit`) and discharges
//! them (`discharge`), with medical fitness as a flag — never a diagnosis.
//! It refuses a screening of someone who never arrived.
//!
//! Rule codes, of refused messages: `unknown_case`, `person_not_in_case`,
//! `screening_before_arrival`; of refused actions:
//! `admission_before_arrival`, `discharge_before_admission`.

use homeward_core::Envelope;
use homeward_core::message_types as types;
use homeward_ministry::noted;
use homeward_ministry::read::{array_at, enum_at, person_refs, str_at};
use homeward_ministry::{
    ActionError, Case, Ctx, Custody, Outgoing, Refusal, Role, Stage, Transition, mark_persons,
    open_case, require_case,
};
use serde_json::{Value, json};

#[cfg(test)]
mod tests;

/// The rehabilitation role.
#[derive(Debug, Clone, Copy)]
pub struct Rehabilitation;

fn centre(ctx: &Ctx<'_>, body: &Value) -> Value {
    body.get("centre").cloned().unwrap_or_else(
        || json!({"name": "Rehabilitation and adaptation centre", "country": ctx.country()}),
    )
}

/// The medical fitness an action gives everyone it names, unless it says
/// otherwise per person.
fn fitness(body: &Value) -> String {
    str_at(body, "/medicalFitness").unwrap_or("fit").to_owned()
}

impl Rehabilitation {
    /// The operation opens the case: who is on the manifest.
    fn scheduled(case: Option<Case>, m: &Envelope) -> Result<Option<Transition>, Refusal> {
        let data = m.data();
        let mut case = open_case(case, m, Stage::Scheduled);
        for r in person_refs(data, "/manifest/persons") {
            case.person(&r).on_manifest = true;
        }
        case.stage = Stage::Scheduled;
        Ok(Some(Transition::quiet(case)))
    }

    fn arrived(case: Option<Case>, m: &Envelope) -> Result<Option<Transition>, Refusal> {
        let mut case = mark_persons(case, m, "/persons", |p| p.arrived = true)?;
        case.stage = Stage::Arrived;
        Ok(Some(Transition::quiet(case)))
    }

    /// Custody of the children it holds; others are not its concern.
    fn custody_assigned(case: Option<Case>, m: &Envelope) -> Result<Option<Transition>, Refusal> {
        let mut case = require_case(case, m)?;
        for a in array_at(m.data(), "/assignments") {
            if let (Some(r), Some(c)) = (
                a.get("childRef").and_then(Value::as_str),
                enum_at::<Custody>(a, "/custody"),
            ) && case.persons.contains_key(r)
            {
                case.person(r).custody = Some(c);
            }
        }
        Ok(Some(Transition::quiet(case)))
    }

    fn admit(ctx: &Ctx<'_>, mut case: Case, body: &Value) -> Result<Transition, ActionError> {
        let refs: Vec<String> = match body.get("persons").and_then(Value::as_array) {
            Some(list) => list
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            None => case.persons_where(|p| p.arrived && !p.admitted),
        };
        if refs.is_empty() {
            return Err(ActionError::refused(
                "admission_before_arrival",
                "nobody in this case has arrived",
            ));
        }
        if let Some(r) = refs
            .iter()
            .find(|r| !case.persons.get(*r).is_some_and(|p| p.arrived))
        {
            return Err(ActionError::refused(
                "admission_before_arrival",
                format!("{r} has not arrived"),
            ));
        }
        for r in &refs {
            case.person(r).admitted = true;
        }
        case.stage = Stage::Admitted;
        let fitness = fitness(body);
        let persons: Vec<Value> = refs
            .iter()
            .map(|r| json!({"personRef": r, "medicalFitness": fitness}))
            .collect();
        let data = json!({"caseRef": case.case_ref, "centre": centre(ctx, body), "admittedOn": ctx.today(), "persons": persons});
        Ok(Transition::sending(
            case,
            vec![Outgoing::new(types::REHABILITATION_ADMITTED, data)],
        ))
    }

    fn discharge(ctx: &Ctx<'_>, mut case: Case, body: &Value) -> Result<Transition, ActionError> {
        let list = array_at(body, "/persons");
        if list.is_empty() {
            return Err(ActionError::Invalid(
                "persons are required: [{personRef, dischargedTo}]".into(),
            ));
        }
        let fitness = fitness(body);
        let mut out = Vec::new();
        for p in list {
            let r = p
                .get("personRef")
                .and_then(Value::as_str)
                .ok_or_else(|| ActionError::Invalid("each person needs personRef".into()))?;
            if !case.persons.get(r).is_some_and(|x| x.admitted) {
                return Err(ActionError::refused(
                    "discharge_before_admission",
                    format!("{r} was not admitted"),
                ));
            }
            case.person(r).discharged = true;
            out.push(json!({
                "personRef": r,
                "medicalFitness": p.get("medicalFitness").cloned().unwrap_or_else(|| json!(fitness)),
                "dischargedTo": p.get("dischargedTo").cloned().unwrap_or_else(|| json!("home")),
            }));
        }
        case.stage = Stage::Discharged;
        let data = json!({"caseRef": case.case_ref, "centre": centre(ctx, body), "dischargedOn": ctx.today(), "persons": out});
        Ok(Transition::sending(
            case,
            vec![Outgoing::new(types::REHABILITATION_DISCHARGED, data)],
        ))
    }
}

impl Role for Rehabilitation {
    fn on_message(
        &self,
        _ctx: &Ctx<'_>,
        case: Option<Case>,
        m: &Envelope,
    ) -> Result<Option<Transition>, Refusal> {
        match m.message_type() {
            types::OPERATION_SCHEDULED => Self::scheduled(case, m),
            types::ARRIVAL_RECORDED => Self::arrived(case, m),
            types::SECURITY_SCREENING_COMPLETED => noted::screening(case, m),
            types::CUSTODY_ASSIGNED => Self::custody_assigned(case, m),
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
            "admit" => Self::admit(ctx, case, body),
            "discharge" => Self::discharge(ctx, case, body),
            other => Err(ActionError::NotFound(format!(
                "no action {other:?} (admit, discharge)"
            ))),
        }
    }
}
