//! The rehabilitation centre's part of the lifecycle.
//!
//! It learns of a case from the operation's manifest and of each arrival
//! from the border; it admits those who arrived (`admit`) and discharges
//! them (`discharge`), with medical fitness as a flag — never a diagnosis.
//! It refuses a screening of someone who never arrived.
//!
//! Refusals (rule codes): `unknown_case`, `person_not_in_case`,
//! `screening_before_arrival`.

use homeward_core::Envelope;
use homeward_ministry::read::{array_at, person_refs, str_at};
use homeward_ministry::{
    ActionError, Case, Ctx, Outgoing, Refusal, Role, Transition, require_case, require_persons,
};
use serde_json::{Value, json};

/// The rehabilitation role.
#[derive(Debug, Clone, Copy)]
pub struct Rehabilitation;

fn centre(ctx: &Ctx<'_>, body: &Value) -> Value {
    body.get("centre").cloned().unwrap_or_else(
        || json!({"name": "Rehabilitation and adaptation centre", "country": ctx.country()}),
    )
}

impl Role for Rehabilitation {
    fn on_message(
        &self,
        _ctx: &Ctx<'_>,
        case: Option<Case>,
        m: &Envelope,
    ) -> Result<Option<Transition>, Refusal> {
        let data = m.data();
        match m.message_type() {
            "operation.scheduled" => {
                let mut case =
                    case.unwrap_or_else(|| Case::new(str_at(data, "/caseRef").unwrap_or_default()));
                for r in person_refs(data, "/manifest/persons") {
                    case.person(&r).on_manifest = true;
                }
                case.stage = "scheduled".into();
                Ok(Some(Transition::quiet(case)))
            }
            "arrival.recorded" => {
                let mut case = require_case(case, m)?;
                let refs = person_refs(data, "/persons");
                require_persons(&case, &refs)?;
                for r in refs {
                    case.person(&r).arrived = true;
                }
                case.stage = "arrived".into();
                Ok(Some(Transition::quiet(case)))
            }
            "security.screening.completed" => {
                let mut case = require_case(case, m)?;
                case.record_screening(data)?;
                Ok(Some(Transition::quiet(case)))
            }
            "custody.assigned" => {
                let mut case = require_case(case, m)?;
                for a in array_at(data, "/assignments") {
                    if let (Some(r), Some(c)) = (
                        a.get("childRef").and_then(Value::as_str),
                        a.get("custody").and_then(Value::as_str),
                    ) && case.persons.contains_key(r)
                    {
                        case.person(r).custody = Some(c.to_owned());
                    }
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
        let fitness = str_at(body, "/medicalFitness").unwrap_or("fit").to_owned();
        match action {
            "admit" => {
                let refs: Vec<String> = match body.get("persons").and_then(Value::as_array) {
                    Some(list) => list
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                    None => case
                        .persons
                        .iter()
                        .filter(|(_, p)| p.arrived && !p.admitted)
                        .map(|(r, _)| r.clone())
                        .collect(),
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
                case.stage = "admitted".into();
                let persons: Vec<Value> = refs
                    .iter()
                    .map(|r| json!({"personRef": r, "medicalFitness": fitness}))
                    .collect();
                let data = json!({"caseRef": case.case_ref, "centre": centre(ctx, body), "admittedOn": ctx.today(), "persons": persons});
                Ok(Transition::sending(
                    case,
                    vec![Outgoing::new("rehabilitation.admitted", data)],
                ))
            }
            "discharge" => {
                let list = array_at(body, "/persons");
                if list.is_empty() {
                    return Err(ActionError::Invalid(
                        "persons are required: [{personRef, dischargedTo}]".into(),
                    ));
                }
                let mut out = Vec::new();
                for p in list {
                    let r = p.get("personRef").and_then(Value::as_str).ok_or_else(|| {
                        ActionError::Invalid("each person needs personRef".into())
                    })?;
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
                case.stage = "discharged".into();
                let data = json!({"caseRef": case.case_ref, "centre": centre(ctx, body), "dischargedOn": ctx.today(), "persons": out});
                Ok(Transition::sending(
                    case,
                    vec![Outgoing::new("rehabilitation.discharged", data)],
                ))
            }
            other => Err(ActionError::NotFound(format!(
                "no action {other:?} (admit, discharge)"
            ))),
        }
    }
}
