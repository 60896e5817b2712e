//! The interior ministry's part of the lifecycle: the border, the civil
//! registry, custody of children, documents and reintegration.
//!
//! It learns of a case from its foreign ministry's operation (the
//! manifest), records arrival at the border (`arrival`: only persons on the
//! manifest), assigns each child's custody (`custody`: a relative as
//! guardian, the mother, or state care), issues documents (`documents`)
//! and registers reintegration (`reintegration`) once the rehabilitation
//! centre has discharged the person. It refuses a screening of someone who
//! never arrived.
//!
//! Rule codes, of refused messages: `unknown_case`, `person_not_in_case`,
//! `screening_before_arrival`; of refused actions:
//! `arrival_without_operation`, `arrival_not_on_manifest`,
//! `custody_before_arrival`, `documents_before_arrival`,
//! `reintegration_before_discharge`.

use homeward_core::Envelope;
use homeward_core::message_types as types;
use homeward_ministry::noted;
use homeward_ministry::read::{array_at, required_enum, str_at};
use homeward_ministry::{
    ActionError, Case, Ctx, Custody, DocumentKind, Outgoing, Person, Refusal, Role, Stage,
    Transition, open_case,
};
use serde_json::{Value, json};

#[cfg(test)]
mod tests;

/// The interior role.
#[derive(Debug, Clone, Copy)]
pub struct Interior;

/// The persons an action names (strings, or objects with `key`), all of
/// whom must satisfy `ok`.
fn named(
    case: &Case,
    list: &[Value],
    key: &str,
    ok: impl Fn(&Person) -> bool,
    rule: &str,
    why: &str,
) -> Result<Vec<String>, ActionError> {
    let mut out = Vec::new();
    for v in list {
        let r = v
            .as_str()
            .or_else(|| v.get(key).and_then(Value::as_str))
            .ok_or_else(|| ActionError::Invalid(format!("each entry needs {key}")))?;
        if !case.persons.get(r).is_some_and(&ok) {
            return Err(ActionError::refused(rule, format!("{r} {why}")));
        }
        out.push(r.to_owned());
    }
    Ok(out)
}

impl Interior {
    /// The operation opens the case: who is on the manifest, and with whom.
    fn scheduled(case: Option<Case>, m: &Envelope) -> Result<Option<Transition>, Refusal> {
        let data = m.data();
        let mut case = open_case(case, m, Stage::Scheduled);
        for e in array_at(data, "/manifest/persons") {
            if let Some(r) = e.get("personRef").and_then(Value::as_str) {
                let p = case.person(r);
                p.on_manifest = true;
                p.accompanied_by = e
                    .get("accompaniedBy")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
        }
        case.operation = Some(homeward_ministry::case::Operation {
            operation_id: str_at(data, "/manifest/operationId")
                .unwrap_or_default()
                .to_owned(),
            round: data
                .pointer("/manifest/round")
                .and_then(Value::as_u64)
                .unwrap_or(1) as u32,
        });
        case.camp_authority = str_at(data, "/campAuthority").map(str::to_owned);
        case.stage = Stage::Scheduled;
        Ok(Some(Transition::quiet(case)))
    }

    fn arrival(ctx: &Ctx<'_>, mut case: Case, body: &Value) -> Result<Transition, ActionError> {
        let Some(op) = case.operation.clone() else {
            return Err(ActionError::refused(
                "arrival_without_operation",
                "no operation brings this case",
            ));
        };
        let refs = match body.get("persons").and_then(Value::as_array) {
            Some(list) => named(
                &case,
                list,
                "personRef",
                |p| p.on_manifest,
                "arrival_not_on_manifest",
                "is not on the manifest",
            )?,
            None => case.persons_where(|p| p.on_manifest),
        };
        let entries = case.manifest_entries(&refs);
        for r in &refs {
            case.person(r).arrived = true;
        }
        case.stage = Stage::Arrived;
        let data = json!({
            "caseRef": case.case_ref,
            "operationId": op.operation_id,
            "round": op.round,
            "arrivedAt": ctx.now_str(),
            "borderPoint": body.get("borderPoint").cloned().unwrap_or_else(|| json!({"name": "Aktau airport", "country": ctx.country()})),
            "persons": entries,
        });
        Ok(Transition::sending(
            case,
            vec![Outgoing::new(types::ARRIVAL_RECORDED, data)],
        ))
    }

    fn custody(ctx: &Ctx<'_>, mut case: Case, body: &Value) -> Result<Transition, ActionError> {
        let list = array_at(body, "/assignments");
        if list.is_empty() {
            return Err(ActionError::Invalid("assignments are required".into()));
        }
        named(
            &case,
            list,
            "childRef",
            |p| p.arrived,
            "custody_before_arrival",
            "has not arrived",
        )?;
        let mut out = Vec::new();
        for a in list {
            let mut a = a.clone();
            if a.get("assignedOn").is_none() {
                a["assignedOn"] = json!(ctx.today());
            }
            let custody: Custody = required_enum(&a, "/custody")?;
            if let Some(r) = a.get("childRef").and_then(Value::as_str) {
                case.person(r).custody = Some(custody);
            }
            out.push(a);
        }
        case.stage = Stage::CustodyAssigned;
        let data = json!({"caseRef": case.case_ref, "assignments": out});
        Ok(Transition::sending(
            case,
            vec![Outgoing::new(types::CUSTODY_ASSIGNED, data)],
        ))
    }

    fn documents(ctx: &Ctx<'_>, mut case: Case, body: &Value) -> Result<Transition, ActionError> {
        let list = array_at(body, "/documents");
        if list.is_empty() {
            return Err(ActionError::Invalid("documents are required".into()));
        }
        named(
            &case,
            list,
            "personRef",
            |p| p.arrived,
            "documents_before_arrival",
            "has not arrived",
        )?;
        let mut out = Vec::new();
        for d in list {
            let mut d = d.clone();
            if d.get("issuingCountry").is_none() {
                d["issuingCountry"] = json!(ctx.country());
            }
            if d.get("issuedOn").is_none() {
                d["issuedOn"] = json!(ctx.today());
            }
            let kind: DocumentKind = required_enum(&d, "/kind")?;
            if let Some(r) = d.get("personRef").and_then(Value::as_str) {
                case.person(r).documents.push(kind);
            }
            out.push(d);
        }
        let data = json!({"caseRef": case.case_ref, "documents": out});
        Ok(Transition::sending(
            case,
            vec![Outgoing::new(types::DOCUMENTS_ISSUED, data)],
        ))
    }

    fn reintegration(
        ctx: &Ctx<'_>,
        mut case: Case,
        body: &Value,
    ) -> Result<Transition, ActionError> {
        let list = array_at(body, "/persons");
        if list.is_empty() {
            return Err(ActionError::Invalid("persons are required".into()));
        }
        named(
            &case,
            list,
            "personRef",
            |p| p.discharged,
            "reintegration_before_discharge",
            "has not been discharged from rehabilitation",
        )?;
        for p in list {
            if let Some(r) = p.get("personRef").and_then(Value::as_str) {
                case.person(r).reintegrated = true;
            }
        }
        let closed = body
            .get("caseClosed")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        case.closed = closed;
        case.stage = if closed {
            Stage::Closed
        } else {
            Stage::Reintegrating
        };
        let data = json!({"caseRef": case.case_ref, "registeredOn": ctx.today(), "persons": list, "caseClosed": closed});
        Ok(Transition::sending(
            case,
            vec![Outgoing::new(types::REINTEGRATION_REGISTERED, data)],
        ))
    }
}

impl Role for Interior {
    fn on_message(
        &self,
        _ctx: &Ctx<'_>,
        case: Option<Case>,
        m: &Envelope,
    ) -> Result<Option<Transition>, Refusal> {
        match m.message_type() {
            types::OPERATION_SCHEDULED => Self::scheduled(case, m),
            types::SECURITY_SCREENING_COMPLETED => noted::screening(case, m),
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
            "arrival" => Self::arrival(ctx, case, body),
            "custody" => Self::custody(ctx, case, body),
            "documents" => Self::documents(ctx, case, body),
            "reintegration" => Self::reintegration(ctx, case, body),
            other => Err(ActionError::NotFound(format!(
                "no action {other:?} (arrival, custody, documents, reintegration)"
            ))),
        }
    }
}
