//! The camp administration's part of the lifecycle.
//!
//! A census import (`POST /commands/census`, CSV) opens one case per family
//! unit and publishes one `camp.resident.located` each; every row is checked
//! first, so a bad row stops the import before anything is sent. Requests
//! for release come in from foreign ministries; the release decision, with a
//! mother's written consent for a child who travels without her, is taken
//! through the API (`decide`), and so is the handover (`handover`), which
//! may hand over only persons that were accepted and are on the operation's
//! manifest.
//!
//! A case is bound to the state whose citizens it concerns (its claimed
//! nationality): only that state's foreign ministry may request their
//! release, schedule their operation or acknowledge their handover; any
//! other state's is refused as `not_their_citizens`.
//!
//! Rule codes, of refused messages: `unknown_case`, `not_their_citizens`,
//! `person_not_in_case`, `operation_without_acceptance`,
//! `acknowledgement_without_handover`; of refused actions:
//! `decision_without_request`, `mother_consent_missing`,
//! `handover_without_operation`, `handover_without_acceptance`.

pub mod census_import;

use std::collections::BTreeSet;

use homeward_core::Envelope;
use homeward_core::message_types as types;
use homeward_ministry::read::{array_at, enum_at, person_refs, required_enum, str_at};
use homeward_ministry::{
    ActionError, Case, Ctx, Decision, Outgoing, Params, Refusal, Role, Stage, Transition,
    require_case, require_persons,
};
use serde_json::{Value, json};

#[cfg(test)]
mod tests;

/// The camp-registry role.
#[derive(Debug, Clone, Copy)]
pub struct CampRegistry;

/// Whether `d` is `YYYY-MM-DD` with a plausible month and day.
fn is_date(d: &str) -> bool {
    let parts: Vec<&str> = d.split('-').collect();
    let num = |s: &str, len: usize, max: u32| {
        s.len() == len && s.parse::<u32>().is_ok_and(|n| (1..=max).contains(&n))
    };
    parts.len() == 3 && num(parts[0], 4, 9999) && num(parts[1], 2, 12) && num(parts[2], 2, 31)
}

/// Refuses a message about `case` from a state other than the one whose
/// citizens it concerns.
fn require_their_state(case: &Case, m: &Envelope) -> Result<(), Refusal> {
    let theirs = case
        .nationality
        .as_deref()
        .is_some_and(|n| n.eq_ignore_ascii_case(m.sender().party()));
    if theirs {
        Ok(())
    } else {
        Err(Refusal::new(
            "not_their_citizens",
            format!(
                "{} comes from a state other than the family's claimed nationality",
                m.message_type()
            ),
        ))
    }
}

impl CampRegistry {
    fn census(ctx: &Ctx<'_>, params: &Params, body: &[u8]) -> Result<Vec<Transition>, ActionError> {
        let registered_on = match params.get("registeredOn") {
            Some(d) if is_date(d) => d.clone(),
            Some(d) => {
                return Err(ActionError::Invalid(format!(
                    "registeredOn {d:?} is not a YYYY-MM-DD date"
                )));
            }
            None => ctx.today(),
        };
        let census =
            homeward_census::parse(body).map_err(|e| ActionError::Invalid(e.to_string()))?;
        let mut out = Vec::with_capacity(census.families.len());
        for family in &census.families {
            let mut data = family.located_data();
            data["registeredOn"] = json!(registered_on);
            let case_ref = family.family_ref().as_str();
            let mut case = Case::new(case_ref, Stage::Located);
            case.record_located(&data, &registered_on);
            case.camp_authority = Some(ctx.member.to_string());
            out.push(Transition::sending(
                case,
                vec![Outgoing::new(types::CAMP_RESIDENT_LOCATED, data)],
            ));
        }
        Ok(out)
    }

    fn requested(case: Option<Case>, m: &Envelope) -> Result<Option<Transition>, Refusal> {
        let mut case = require_case(case, m)?;
        require_their_state(&case, m)?;
        if case.nationality.as_deref() != str_at(m.data(), "/requestingState") {
            return Err(Refusal::new(
                "not_their_citizens",
                "the requesting state is not the family's claimed nationality",
            ));
        }
        let refs = person_refs(m.data(), "/persons");
        require_persons(&case, &refs)?;
        for r in &refs {
            case.person(r).requested = true;
        }
        if let (Some(op), round) = (
            str_at(m.data(), "/plannedOperation/operationId"),
            m.data()
                .pointer("/plannedOperation/round")
                .and_then(Value::as_u64),
        ) {
            case.operation = Some(homeward_ministry::case::Operation {
                operation_id: op.to_owned(),
                round: round.unwrap_or(1) as u32,
            });
        }
        case.stage = Stage::Requested;
        Ok(Some(Transition::quiet(case)))
    }

    fn scheduled(case: Option<Case>, m: &Envelope) -> Result<Option<Transition>, Refusal> {
        let mut case = require_case(case, m)?;
        require_their_state(&case, m)?;
        let refs = person_refs(m.data(), "/manifest/persons");
        require_persons(&case, &refs)?;
        let unaccepted: Vec<String> = refs
            .iter()
            .filter(|r| case.persons[*r].decision != Some(Decision::Accepted))
            .cloned()
            .collect();
        if !unaccepted.is_empty() {
            return Err(Refusal::new(
                "operation_without_acceptance",
                "the manifest lists persons this camp administration did not accept",
            )
            .persons(unaccepted));
        }
        for r in &refs {
            case.person(r).on_manifest = true;
        }
        case.operation = Some(homeward_ministry::case::Operation {
            operation_id: str_at(m.data(), "/manifest/operationId")
                .unwrap_or_default()
                .to_owned(),
            round: m
                .data()
                .pointer("/manifest/round")
                .and_then(Value::as_u64)
                .unwrap_or(1) as u32,
        });
        case.carrier_state = str_at(m.data(), "/transport/carrierState").map(str::to_owned);
        case.stage = Stage::Scheduled;
        Ok(Some(Transition::quiet(case)))
    }

    fn acknowledged(case: Option<Case>, m: &Envelope) -> Result<Option<Transition>, Refusal> {
        let mut case = require_case(case, m)?;
        require_their_state(&case, m)?;
        if case.protocol_ref.is_none()
            || case.protocol_ref.as_deref() != str_at(m.data(), "/protocolRef")
        {
            return Err(Refusal::new(
                "acknowledgement_without_handover",
                "no handover with that protocol was made for this case",
            ));
        }
        case.handover_message_id = str_at(m.data(), "/handoverMessageId").map(str::to_owned);
        case.discrepancies = array_at(m.data(), "/discrepancies").to_vec();
        case.stage = Stage::Acknowledged;
        case.closed = true;
        Ok(Some(Transition::quiet(case)))
    }

    fn decide(ctx: &Ctx<'_>, mut case: Case, body: &Value) -> Result<Transition, ActionError> {
        let requested = case.persons_where(|p| p.requested);
        if requested.is_empty() {
            return Err(ActionError::refused(
                "decision_without_request",
                "no state has requested anyone in this case",
            ));
        }
        // Either explicit decisions, or accept everyone requested.
        let mut decisions: Vec<Value> = match body.get("decisions").and_then(Value::as_array) {
            Some(d) => d.clone(),
            None if body.get("acceptAll") == Some(&Value::Bool(true)) => requested
                .iter()
                .map(|r| json!({"personRef": r, "decision": Decision::Accepted}))
                .collect(),
            None => {
                return Err(ActionError::Invalid(
                    "give decisions, or acceptAll: true".into(),
                ));
            }
        };
        let accepted: BTreeSet<String> = decisions
            .iter()
            .filter(|d| enum_at(d, "/decision") == Some(Decision::Accepted))
            .filter_map(|d| {
                d.get("personRef")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect();
        let consents = array_at(body, "/consents");
        for d in &mut decisions {
            let Some(r) = d
                .get("personRef")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                return Err(ActionError::Invalid(
                    "each decision needs a personRef".into(),
                ));
            };
            let decision: Decision = required_enum(d, "/decision")?;
            let Some(p) = case.persons.get(&r) else {
                return Err(ActionError::Invalid(format!("{r} is not in this case")));
            };
            if !p.requested {
                return Err(ActionError::refused(
                    "decision_without_request",
                    format!("{r} was not requested"),
                ));
            }
            // A child who travels without the mother needs her written consent.
            if decision == Decision::Accepted
                && p.child == Some(true)
                && let Some(mother) = &p.accompanied_by
                && !accepted.contains(mother)
            {
                let consent = consents
                    .iter()
                    .find(|c| c.get("childRef").and_then(Value::as_str) == Some(r.as_str()))
                    .ok_or_else(|| ActionError::refused("mother_consent_missing", format!("{r} would travel without the mother, who has not given written consent")))?;
                d["separatedFromMother"] = json!(true);
                d["motherConsent"] = json!({
                    "motherRef": mother,
                    "givenOn": consent.get("givenOn").cloned().unwrap_or_else(|| json!(ctx.today())),
                    "document": consent.get("document").cloned().unwrap_or(Value::Null),
                });
            }
        }
        for d in &decisions {
            if let Some(r) = d.get("personRef").and_then(Value::as_str) {
                let p = case.person(r);
                p.decision = Some(required_enum(d, "/decision")?);
                p.refusal_reason = d
                    .get("refusalReason")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
        }
        case.stage = Stage::Decided;
        let data = json!({
            "caseRef": case.case_ref,
            "requestingState": case.nationality.clone().unwrap_or_default(),
            "decidedAt": ctx.now_str(),
            "decisions": decisions,
        });
        Ok(Transition::sending(
            case,
            vec![Outgoing::new(types::REPATRIATION_DECIDED, data)],
        ))
    }

    fn handover(ctx: &Ctx<'_>, mut case: Case, body: &Value) -> Result<Transition, ActionError> {
        let Some(op) = case
            .operation
            .clone()
            .filter(|_| case.stage == Stage::Scheduled)
        else {
            return Err(ActionError::refused(
                "handover_without_operation",
                "no operation is scheduled for this case",
            ));
        };
        let refs: Vec<String> = match body.get("persons").and_then(Value::as_array) {
            Some(list) => list
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            None => case.persons_where(|p| p.on_manifest),
        };
        let bad: Vec<&String> = refs
            .iter()
            .filter(|r| {
                case.persons
                    .get(*r)
                    .is_none_or(|p| p.decision != Some(Decision::Accepted) || !p.on_manifest)
            })
            .collect();
        if !bad.is_empty() {
            return Err(ActionError::refused(
                "handover_without_acceptance",
                format!("not accepted or not on the manifest: {bad:?}"),
            ));
        }
        let entries = case.manifest_entries(&refs);
        for r in &refs {
            case.person(r).handed_over = true;
        }
        let protocol_ref = str_at(body, "/protocolRef").map_or_else(
            || format!("QAM-{}-{}", ctx.today(), case.case_ref),
            str::to_owned,
        );
        case.protocol_ref = Some(protocol_ref.clone());
        case.stage = Stage::HandedOver;
        let requesting = case.nationality.clone().unwrap_or_default();
        let data = json!({
            "caseRef": case.case_ref,
            "requestingState": requesting,
            "protocolRef": protocol_ref,
            "operationId": op.operation_id,
            "round": op.round,
            "handedOverAt": ctx.now_str(),
            "place": body.get("place").cloned().unwrap_or_else(|| json!({"name": "Qamishli airport", "country": "SY", "iata": "KAC"})),
            "handedOverBy": body.get("handedOverBy").cloned().unwrap_or_else(|| json!({"member": ctx.member.as_str(), "name": "Duty officer"})),
            "receivedBy": body.get("receivedBy").cloned().unwrap_or_else(|| json!({"member": format!("{}.mfa", requesting.to_ascii_lowercase()), "name": "Head of delegation"})),
            "persons": entries,
        });
        Ok(Transition::sending(
            case,
            vec![Outgoing::new(types::HANDOVER_COMPLETED, data)],
        ))
    }
}

impl Role for CampRegistry {
    fn on_message(
        &self,
        _ctx: &Ctx<'_>,
        case: Option<Case>,
        m: &Envelope,
    ) -> Result<Option<Transition>, Refusal> {
        match m.message_type() {
            types::REPATRIATION_REQUESTED => Self::requested(case, m),
            types::OPERATION_SCHEDULED => Self::scheduled(case, m),
            types::HANDOVER_ACKNOWLEDGED => Self::acknowledged(case, m),
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
            "decide" => Self::decide(ctx, case, body),
            "handover" => Self::handover(ctx, case, body),
            other => Err(ActionError::NotFound(format!(
                "no action {other:?} (decide, handover)"
            ))),
        }
    }

    fn on_command(
        &self,
        ctx: &Ctx<'_>,
        command: &str,
        params: &Params,
        body: &[u8],
    ) -> Result<Vec<Transition>, ActionError> {
        match command {
            "census" => Self::census(ctx, params, body),
            other => Err(ActionError::NotFound(format!(
                "no command {other:?} (census)"
            ))),
        }
    }
}
