//! The foreign ministry's part of the lifecycle.
//!
//! By rule: a located family of our nationality opens a case and asks our
//! security service to verify identity; a handover protocol is checked
//! against the manifest and acknowledged at once, with its discrepancies.
//! By decision, through the API: which verified persons to request and in
//! which operation round (`request-repatriation`), the operation itself
//! (`schedule`), asking another state to carry our citizens
//! (`request-transit`), and, as the carrying state, answering such a
//! request (`decide-transit`). Everything else the ministry receives is
//! recorded on the case, so it can follow each person to reintegration,
//! and the state's [`report`] is counted from those cases
//! (`GET /views/report`).
//!
//! A case is bound to who may speak about it: the camp authority that
//! located the family alone decides on its release, hands it over or
//! locates it again (`not_the_camp_authority`); a transit request speaks
//! only for the sender's own state and cannot take over a case of another
//! (`case_of_another_state`); and only the state asked to carry answers it
//! (`not_the_carrier_state`).
//!
//! Rule codes, of refused messages: `unknown_case`, `not_our_citizens`,
//! `not_the_camp_authority`, `verification_not_requested`,
//! `decision_without_request`, `handover_without_operation`,
//! `handover_without_acceptance`, `case_of_another_state`,
//! `transit_not_requested`, `not_the_carrier_state`,
//! `person_not_in_case`; of refused actions:
//! `no_verified_person`, `no_accepted_person`, `transit_not_agreed`,
//! `transit_not_requested`.

pub mod report;

use homeward_core::Envelope;
use homeward_core::message_types as types;
use homeward_ministry::read::{array_at, enum_at, person_refs, required_enum, str_at};
use homeward_ministry::{
    ActionError, Case, Ctx, Decision, FollowUp, Outgoing, Refusal, Role, Stage, Transition,
    VerificationOutcome, open_case, require_camp_authority, require_case, require_persons,
};
use serde_json::{Value, json};

use crate::report::Report;

#[cfg(test)]
mod tests;

/// The foreign-affairs role.
#[derive(Debug, Clone, Copy)]
pub struct ForeignAffairs;

impl ForeignAffairs {
    fn located(
        ctx: &Ctx<'_>,
        case: Option<Case>,
        m: &Envelope,
    ) -> Result<Option<Transition>, Refusal> {
        let data = m.data();
        if str_at(data, "/claimedNationality") != Some(ctx.country().as_str()) {
            return Err(Refusal::new(
                "not_our_citizens",
                "the family's claimed nationality is not this state's",
            ));
        }
        // Another camp authority cannot take over a case and start it again.
        if let Some(existing) = &case {
            require_camp_authority(existing, m)?;
        }
        let mut case = open_case(case, m, Stage::VerificationRequested);
        case.record_located(data, &ctx.today());
        case.camp_authority = Some(m.sender().to_string());
        case.stage = Stage::VerificationRequested;
        let persons: Vec<Value> = case
            .persons
            .keys()
            .map(|r| json!({"personRef": r, "methods": ["civil-registry", "dna-relative-match"]}))
            .collect();
        let request = json!({"caseRef": case.case_ref, "persons": persons});
        Ok(Some(Transition::sending(
            case,
            vec![Outgoing::new(
                types::IDENTITY_VERIFICATION_REQUESTED,
                request,
            )],
        )))
    }

    fn verified(case: Option<Case>, m: &Envelope) -> Result<Option<Transition>, Refusal> {
        let mut case = require_case(case, m)?;
        if !matches!(case.stage, Stage::VerificationRequested | Stage::Verified) {
            return Err(Refusal::new(
                "verification_not_requested",
                "no verification was requested for this case",
            ));
        }
        require_persons(&case, &person_refs(m.data(), "/results"))?;
        for r in array_at(m.data(), "/results") {
            if let (Some(p), Some(outcome)) = (
                r.get("personRef").and_then(Value::as_str),
                enum_at::<VerificationOutcome>(r, "/outcome"),
            ) {
                case.person(p).verification = Some(outcome);
            }
        }
        case.stage = Stage::Verified;
        Ok(Some(Transition::quiet(case)))
    }

    fn decided(case: Option<Case>, m: &Envelope) -> Result<Option<Transition>, Refusal> {
        let mut case = require_case(case, m)?;
        require_camp_authority(&case, m)?;
        let refs = person_refs(m.data(), "/decisions");
        require_persons(&case, &refs)?;
        let unrequested: Vec<String> = refs
            .iter()
            .filter(|r| !case.persons[*r].requested)
            .cloned()
            .collect();
        if !unrequested.is_empty() {
            return Err(Refusal::new(
                "decision_without_request",
                "a decision on persons this ministry did not request",
            )
            .persons(unrequested));
        }
        for d in array_at(m.data(), "/decisions") {
            let Some(r) = d.get("personRef").and_then(Value::as_str) else {
                continue;
            };
            let p = case.person(r);
            p.decision = enum_at(d, "/decision");
            p.refusal_reason = d
                .get("refusalReason")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        case.stage = Stage::Decided;
        Ok(Some(Transition::quiet(case)))
    }

    fn handed_over(
        ctx: &Ctx<'_>,
        case: Option<Case>,
        m: &Envelope,
    ) -> Result<Option<Transition>, Refusal> {
        let mut case = require_case(case, m)?;
        require_camp_authority(&case, m)?;
        let refs = person_refs(m.data(), "/persons");
        require_persons(&case, &refs)?;
        if case.operation.is_none() {
            return Err(Refusal::new(
                "handover_without_operation",
                "no operation was scheduled for this case",
            ));
        }
        let unaccepted: Vec<String> = refs
            .iter()
            .filter(|r| case.persons[*r].decision != Some(Decision::Accepted))
            .cloned()
            .collect();
        if !unaccepted.is_empty() {
            return Err(Refusal::new(
                "handover_without_acceptance",
                "the protocol hands over persons nobody accepted",
            )
            .persons(unaccepted));
        }
        let mut discrepancies = Vec::new();
        for (r, p) in &case.persons {
            if p.on_manifest && !refs.contains(r) {
                discrepancies.push(json!({"kind": "not-handed-over", "personRef": r}));
            }
        }
        for r in &refs {
            if !case.persons[r].on_manifest {
                discrepancies.push(json!({"kind": "not-on-manifest", "personRef": r}));
            }
            case.person(r).handed_over = true;
        }
        case.handover_message_id = Some(m.id().to_owned());
        case.protocol_ref = str_at(m.data(), "/protocolRef").map(str::to_owned);
        case.discrepancies = discrepancies.clone();
        case.stage = Stage::HandedOver;
        let ack = json!({
            "caseRef": case.case_ref,
            "campAuthority": m.sender().as_str(),
            "handoverMessageId": m.id(),
            "protocolRef": case.protocol_ref.clone().unwrap_or_default(),
            "acknowledgedAt": ctx.now_str(),
            "discrepancies": discrepancies,
        });
        Ok(Some(Transition::sending(
            case,
            vec![Outgoing::new(types::HANDOVER_ACKNOWLEDGED, ack)],
        )))
    }

    /// Another state asks this one to carry its citizens: a case of the
    /// requesting state's, which it may open and update, but never one of
    /// another state's (this state's own above all).
    fn transit_requested(case: Option<Case>, m: &Envelope) -> Result<Option<Transition>, Refusal> {
        let data = m.data();
        let requesting =
            str_at(data, "/requestingState").filter(|r| r.eq_ignore_ascii_case(m.sender().party()));
        let Some(requesting) = requesting else {
            return Err(Refusal::new(
                "case_of_another_state",
                "the requesting state is not the sender's",
            ));
        };
        if let Some(existing) = &case
            && existing.nationality.as_deref() != Some(requesting)
        {
            return Err(Refusal::new(
                "case_of_another_state",
                "this ministry holds the case for another state",
            ));
        }
        let mut case = open_case(case, m, Stage::TransitRequested);
        case.nationality = Some(requesting.to_owned());
        case.carrier_state = str_at(data, "/carrierState").map(str::to_owned);
        for r in person_refs(data, "/persons") {
            case.person(&r).on_manifest = true;
        }
        case.stage = Stage::TransitRequested;
        Ok(Some(Transition::quiet(case)))
    }

    fn transit_decided(case: Option<Case>, m: &Envelope) -> Result<Option<Transition>, Refusal> {
        let mut case = require_case(case, m)?;
        if case.carrier_state.as_deref() != str_at(m.data(), "/carrierState") {
            return Err(Refusal::new(
                "transit_not_requested",
                "this ministry did not ask that state to carry this case",
            ));
        }
        if !case
            .carrier_state
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(m.sender().party()))
        {
            return Err(Refusal::new(
                "not_the_carrier_state",
                "the answer comes from a state other than the one asked to carry this case",
            ));
        }
        case.transit_decision = enum_at(m.data(), "/decision");
        Ok(Some(Transition::quiet(case)))
    }

    /// A step our own interior, rehabilitation and security services
    /// report: recorded on each person it names.
    fn follow_up(
        case: Option<Case>,
        m: &Envelope,
        step: FollowUp,
    ) -> Result<Option<Transition>, Refusal> {
        let mut case = require_case(case, m)?;
        let data = m.data();
        let (list, key) = match step {
            FollowUp::ArrivalRecorded
            | FollowUp::RehabilitationAdmitted
            | FollowUp::RehabilitationDischarged
            | FollowUp::ReintegrationRegistered => ("/persons", "personRef"),
            FollowUp::ScreeningCompleted => ("/results", "personRef"),
            FollowUp::CustodyAssigned => ("/assignments", "childRef"),
            FollowUp::DocumentsIssued => ("/documents", "personRef"),
        };
        let refs: Vec<String> = array_at(data, list)
            .iter()
            .filter_map(|x| x.get(key).and_then(Value::as_str).map(str::to_owned))
            .collect();
        require_persons(&case, &refs)?;
        for item in array_at(data, list) {
            let Some(r) = item.get(key).and_then(Value::as_str) else {
                continue;
            };
            let p = case.person(r);
            match step {
                FollowUp::ArrivalRecorded => p.arrived = true,
                FollowUp::RehabilitationAdmitted => p.admitted = true,
                FollowUp::RehabilitationDischarged => p.discharged = true,
                FollowUp::ReintegrationRegistered => p.reintegrated = true,
                FollowUp::ScreeningCompleted => p.screening = enum_at(item, "/outcome"),
                FollowUp::CustodyAssigned => p.custody = enum_at(item, "/custody"),
                FollowUp::DocumentsIssued => {
                    if let Some(kind) = enum_at(item, "/kind") {
                        p.documents.push(kind);
                    }
                }
            }
        }
        if step == FollowUp::ReintegrationRegistered
            && data.get("caseClosed") == Some(&Value::Bool(true))
        {
            case.closed = true;
            case.stage = Stage::Closed;
        } else if !case.closed {
            // Reports come from three services, each in its own order, and
            // one may come again late (redelivered after a crash): it is
            // recorded, but a closed case stays closed.
            case.stage = Stage::Reported(step);
        }
        Ok(Some(Transition::quiet(case)))
    }

    fn request_repatriation(
        ctx: &Ctx<'_>,
        mut case: Case,
        body: &Value,
    ) -> Result<Transition, ActionError> {
        let operation_id = str_at(body, "/operationId")
            .ok_or_else(|| ActionError::Invalid("operationId is required".into()))?;
        let round = body.get("round").and_then(Value::as_u64).unwrap_or(1);
        let confirmed =
            case.persons_where(|p| p.verification == Some(VerificationOutcome::Confirmed));
        if confirmed.is_empty() {
            return Err(ActionError::refused(
                "no_verified_person",
                "nobody in this case has a confirmed identity",
            ));
        }
        for r in &confirmed {
            case.person(r).requested = true;
        }
        case.operation = Some(homeward_ministry::case::Operation {
            operation_id: operation_id.to_owned(),
            round: round as u32,
        });
        case.stage = Stage::Requested;
        let persons: Vec<Value> = confirmed.iter().map(|r| json!({"personRef": r})).collect();
        let data = json!({
            "caseRef": case.case_ref,
            "campAuthority": case.camp_authority.clone().unwrap_or_default(),
            "requestingState": ctx.country(),
            "persons": persons,
            "plannedOperation": {"operationId": operation_id, "round": round},
        });
        Ok(Transition::sending(
            case,
            vec![Outgoing::new(types::REPATRIATION_REQUESTED, data)],
        ))
    }

    /// The accepted persons as manifest entries; a child travels with its
    /// mother when she travels too.
    fn manifest_entries(case: &Case) -> Vec<Value> {
        case.manifest_entries(&case.persons_where(|p| p.decision == Some(Decision::Accepted)))
    }

    fn schedule(ctx: &Ctx<'_>, mut case: Case, body: &Value) -> Result<Transition, ActionError> {
        let entries = Self::manifest_entries(&case);
        if entries.is_empty() {
            return Err(ActionError::refused(
                "no_accepted_person",
                "the camp administration has accepted nobody in this case",
            ));
        }
        let carrier = str_at(body, "/transport/carrierState")
            .unwrap_or_default()
            .to_owned();
        if carrier != ctx.country() && case.transit_decision != Some(Decision::Accepted) {
            return Err(ActionError::refused(
                "transit_not_agreed",
                "another state's flight needs its accepted transit decision first",
            ));
        }
        let operation_id = str_at(body, "/operationId")
            .map(str::to_owned)
            .or_else(|| case.operation.as_ref().map(|o| o.operation_id.clone()))
            .ok_or_else(|| ActionError::Invalid("operationId is required".into()))?;
        let round = body
            .get("round")
            .and_then(Value::as_u64)
            .map(|r| r as u32)
            .or_else(|| case.operation.as_ref().map(|o| o.round))
            .unwrap_or(1);
        for e in &entries {
            if let Some(r) = e.get("personRef").and_then(Value::as_str) {
                case.person(r).on_manifest = true;
            }
        }
        case.operation = Some(homeward_ministry::case::Operation {
            operation_id: operation_id.clone(),
            round,
        });
        case.stage = Stage::Scheduled;
        let mut data = json!({
            "caseRef": case.case_ref,
            "campAuthority": case.camp_authority.clone().unwrap_or_default(),
            "manifest": {"operationId": operation_id, "round": round, "persons": entries},
            "handoverDate": body.get("handoverDate").cloned().unwrap_or_else(|| json!(ctx.today())),
            "handoverPoint": body.get("handoverPoint").cloned().unwrap_or_else(|| json!({"name": "Qamishli airport", "country": "SY", "iata": "KAC"})),
            "transport": body.get("transport").cloned().unwrap_or(Value::Null),
        });
        if let Some(name) = body.get("operationName") {
            data["operationName"] = name.clone();
        }
        Ok(Transition::sending(
            case,
            vec![Outgoing::new(types::OPERATION_SCHEDULED, data)],
        ))
    }

    fn request_transit(
        ctx: &Ctx<'_>,
        mut case: Case,
        body: &Value,
    ) -> Result<Transition, ActionError> {
        let entries = Self::manifest_entries(&case);
        if entries.is_empty() {
            return Err(ActionError::refused(
                "no_accepted_person",
                "the camp administration has accepted nobody in this case",
            ));
        }
        let carrier = str_at(body, "/carrierState")
            .ok_or_else(|| ActionError::Invalid("carrierState is required".into()))?;
        case.carrier_state = Some(carrier.to_owned());
        case.stage = Stage::TransitRequested;
        let mut data = json!({
            "caseRef": case.case_ref,
            "requestingState": ctx.country(),
            "carrierState": carrier,
            "persons": entries,
            "disembarkation": body.get("disembarkation").cloned().unwrap_or(Value::Null),
            "onwardTravel": "collected-by-requesting-state",
        });
        if let Some(op) = body.get("carrierOperation") {
            data["carrierOperation"] = op.clone();
        }
        Ok(Transition::sending(
            case,
            vec![Outgoing::new(types::TRANSIT_REQUESTED, data)],
        ))
    }

    fn decide_transit(
        ctx: &Ctx<'_>,
        mut case: Case,
        body: &Value,
    ) -> Result<Transition, ActionError> {
        if case.stage != Stage::TransitRequested
            || case.carrier_state.as_deref() != Some(ctx.country().as_str())
        {
            return Err(ActionError::refused(
                "transit_not_requested",
                "no transit request from another state is open for this case",
            ));
        }
        let decision: Decision = required_enum(body, "/decision")?;
        case.transit_decision = Some(decision);
        case.stage = match decision {
            Decision::Accepted => Stage::TransitAccepted,
            Decision::Refused => Stage::TransitRefused,
        };
        let mut data = json!({
            "caseRef": case.case_ref,
            "requestingState": case.nationality.clone().unwrap_or_default(),
            "carrierState": ctx.country(),
            "decision": decision,
        });
        for field in ["carrierOperation", "refusalReason"] {
            if let Some(v) = body.get(field) {
                data[field] = v.clone();
            }
        }
        Ok(Transition::sending(
            case,
            vec![Outgoing::new(types::TRANSIT_DECIDED, data)],
        ))
    }
}

impl Role for ForeignAffairs {
    fn on_message(
        &self,
        ctx: &Ctx<'_>,
        case: Option<Case>,
        m: &Envelope,
    ) -> Result<Option<Transition>, Refusal> {
        match m.message_type() {
            types::CAMP_RESIDENT_LOCATED => Self::located(ctx, case, m),
            types::IDENTITY_VERIFICATION_COMPLETED => Self::verified(case, m),
            types::REPATRIATION_DECIDED => Self::decided(case, m),
            types::HANDOVER_COMPLETED => Self::handed_over(ctx, case, m),
            types::TRANSIT_REQUESTED => Self::transit_requested(case, m),
            types::TRANSIT_DECIDED => Self::transit_decided(case, m),
            other => match FollowUp::of(other) {
                Some(step) => Self::follow_up(case, m, step),
                // Nothing to record, but a case it does not hold is
                // refused as for any other message.
                None => require_case(case, m).map(|_| None),
            },
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
            "request-repatriation" => Self::request_repatriation(ctx, case, body),
            "schedule" => Self::schedule(ctx, case, body),
            "request-transit" => Self::request_transit(ctx, case, body),
            "decide-transit" => Self::decide_transit(ctx, case, body),
            other => Err(ActionError::NotFound(format!(
                "no action {other:?} (request-repatriation, schedule, request-transit, decide-transit)"
            ))),
        }
    }

    fn view(&self, ctx: &Ctx<'_>, view: &str, cases: &[Case]) -> Result<Value, ActionError> {
        match view {
            "report" => serde_json::to_value(Report::of(&ctx.country(), cases))
                .map_err(|e| ActionError::Internal(format!("the report: {e}"))),
            other => Err(ActionError::NotFound(format!("no view {other:?} (report)"))),
        }
    }
}
