//! The service runtime: deliveries in, case transitions, messages out.
//!
//! Every change to a case goes through one loop: read the case and its
//! revision, let the role compute the next state and the messages it sends,
//! sign those messages, and write the new state together with the signed
//! messages (the outbox) on the condition that nobody wrote in between.
//! Only then are the messages submitted, and once JetStream has stored them
//! they leave the outbox. A crash between the write and the submission
//! leaves them in the outbox, and they are sent when the service starts
//! again (a resend carries the same id, so it is dropped as a duplicate).
//! A delivery's id is recorded in the case, so a redelivered message changes
//! nothing twice; messages a delivery causes get ids derived from it, so a
//! retry after a crash produces the same ids.

use std::sync::Arc;

use homeward_core::client::{Delivery, HandlerError, MemberClient};
use homeward_core::envelope::{Envelope, EnvelopeBuilder, format_time, is_case_ref};
use homeward_core::message_types as types;
use homeward_core::receipt::Decision;
use homeward_core::{MemberId, SchemaRegistry};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::MinistryError;
use crate::case::{Case, Event, Pending, Person};
use crate::store::{CaseStore, Write};

/// What a role sees when it decides.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub member: &'a MemberId,
    pub now: OffsetDateTime,
}

impl Ctx<'_> {
    /// The member's state as an upper-case country code (`kz.mfa` → `KZ`).
    pub fn country(&self) -> String {
        self.member.party().to_ascii_uppercase()
    }
    /// Now, RFC 3339 UTC.
    pub fn now_str(&self) -> String {
        format_time(self.now)
    }
    /// Today, `YYYY-MM-DD`.
    pub fn today(&self) -> String {
        self.now_str()[..10].to_owned()
    }
}

/// A message a transition sends.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub message_type: String,
    pub data: Value,
}

impl Outgoing {
    pub fn new(message_type: &str, data: Value) -> Self {
        Self {
            message_type: message_type.to_owned(),
            data,
        }
    }
}

/// A case's next state and what it sends.
#[derive(Debug, Clone)]
pub struct Transition {
    pub case: Case,
    pub outgoing: Vec<Outgoing>,
}

impl Transition {
    pub fn quiet(case: Case) -> Self {
        Self {
            case,
            outgoing: Vec::new(),
        }
    }
    pub fn sending(case: Case, outgoing: Vec<Outgoing>) -> Self {
        Self { case, outgoing }
    }
}

/// A delivered message that breaks the case flow, with the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// A stable snake_case code, e.g. `handover_without_acceptance`.
    pub rule: String,
    pub reason: String,
    pub persons: Vec<String>,
}

impl Refusal {
    pub fn new(rule: &str, reason: impl Into<String>) -> Self {
        Self {
            rule: rule.to_owned(),
            reason: reason.into(),
            persons: Vec::new(),
        }
    }
    pub fn persons(mut self, persons: Vec<String>) -> Self {
        self.persons = persons;
        self
    }
}

/// The case a message is about, or the refusal for a case this member
/// does not hold.
pub fn require_case(case: Option<Case>, message: &Envelope) -> Result<Case, Refusal> {
    case.ok_or_else(|| {
        Refusal::new(
            "unknown_case",
            format!(
                "{} is about a case this member does not hold",
                message.message_type()
            ),
        )
    })
}

/// The case a delivered message is about. A refusal or processing receipt
/// may name none (`None`: nothing to apply, nothing to answer); any other
/// message that names none is refused.
pub fn case_ref_of(message: &Envelope) -> Result<Option<&str>, Refusal> {
    let case_ref = message
        .data()
        .get("caseRef")
        .and_then(Value::as_str)
        .filter(|c| is_case_ref(c));
    match case_ref {
        Some(c) => Ok(Some(c)),
        None if matches!(
            message.message_type(),
            types::CASE_REFUSED | types::MESSAGE_PROCESSED
        ) =>
        {
            Ok(None)
        }
        None => Err(Refusal::new(
            "no_case_reference",
            "the message names no case",
        )),
    }
}

/// The case a message is about, opened at `stage` (under the message's
/// `caseRef`) when this member does not hold it yet.
pub fn open_case(case: Option<Case>, message: &Envelope, stage: crate::case::Stage) -> Case {
    case.unwrap_or_else(|| {
        let case_ref = message
            .data()
            .get("caseRef")
            .and_then(Value::as_str)
            .unwrap_or_default();
        Case::new(case_ref, stage)
    })
}

/// Refuses a message naming persons who are not in the case.
pub fn require_persons(case: &Case, refs: &[String]) -> Result<(), Refusal> {
    let unknown: Vec<String> = refs
        .iter()
        .filter(|r| !case.persons.contains_key(*r))
        .cloned()
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(Refusal::new(
            "person_not_in_case",
            "the message names persons who are not in this case",
        )
        .persons(unknown))
    }
}

/// The case a message is about, with `set` applied to every person the
/// objects at `pointer` in its data name (`personRef`); refused when this
/// member does not hold the case or a person is not in it.
pub fn mark_persons(
    case: Option<Case>,
    message: &Envelope,
    pointer: &str,
    set: impl Fn(&mut Person),
) -> Result<Case, Refusal> {
    let mut case = require_case(case, message)?;
    let refs = crate::read::person_refs(message.data(), pointer);
    require_persons(&case, &refs)?;
    for r in &refs {
        set(case.person(r));
    }
    Ok(case)
}

/// Why an API action was not carried out.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ActionError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("{rule}: {reason}")]
    Refused { rule: String, reason: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ActionError {
    pub fn refused(rule: &str, reason: impl Into<String>) -> Self {
        ActionError::Refused {
            rule: rule.to_owned(),
            reason: reason.into(),
        }
    }
}

impl From<MinistryError> for ActionError {
    fn from(e: MinistryError) -> Self {
        ActionError::Internal(e.to_string())
    }
}

/// A command's query parameters.
pub type Params = std::collections::BTreeMap<String, String>;

/// A ministry role's part of the lifecycle.
pub trait Role: Send + Sync + 'static {
    /// A delivered message. `Ok(None)`: nothing to change.
    fn on_message(
        &self,
        ctx: &Ctx<'_>,
        case: Option<Case>,
        message: &Envelope,
    ) -> Result<Option<Transition>, Refusal>;

    /// A decision or request through the API, on one case.
    fn on_action(
        &self,
        ctx: &Ctx<'_>,
        case: Option<Case>,
        action: &str,
        body: &Value,
    ) -> Result<Transition, ActionError>;

    /// A command through the API that may open several cases (e.g. a census
    /// import). Each transition must be for a new case.
    fn on_command(
        &self,
        _ctx: &Ctx<'_>,
        command: &str,
        _params: &Params,
        _body: &[u8],
    ) -> Result<Vec<Transition>, ActionError> {
        Err(ActionError::NotFound(format!("no command {command:?}")))
    }

    /// A read-only view over every case the member holds, through the API
    /// (`GET /views/{view}`), e.g. the foreign ministry's `report`.
    fn view(&self, _ctx: &Ctx<'_>, view: &str, _cases: &[Case]) -> Result<Value, ActionError> {
        Err(ActionError::NotFound(format!("no view {view:?}")))
    }
}

/// One member's running service.
pub struct Ministry {
    client: MemberClient,
    store: CaseStore,
    role: Arc<dyn Role>,
    schemas: Arc<SchemaRegistry>,
}

impl std::fmt::Debug for Ministry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ministry")
            .field("member", self.client.member())
            .finish_non_exhaustive()
    }
}

/// The result of an action: the stored revision and the messages sent.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub case_ref: String,
    pub revision: u64,
    pub sent: Vec<Value>,
}

const MAX_ATTEMPTS: usize = 50;

impl Ministry {
    /// A service for the client's member, opening its case bucket.
    pub async fn start(
        client: MemberClient,
        role: Arc<dyn Role>,
        schemas: Arc<SchemaRegistry>,
    ) -> Result<Arc<Self>, MinistryError> {
        let store = CaseStore::open(client.jetstream(), client.member()).await?;
        let ministry = Arc::new(Self {
            client,
            store,
            role,
            schemas,
        });
        ministry.flush_all_outboxes().await?;
        Ok(ministry)
    }

    pub fn member(&self) -> &MemberId {
        self.client.member()
    }

    pub fn store(&self) -> &CaseStore {
        &self.store
    }

    /// Consumes deliveries and receipts until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), MinistryError> {
        let receipts = {
            let me = self.clone();
            let stop = shutdown.clone();
            tokio::spawn(async move { me.watch_receipts(stop).await })
        };
        let me = self.clone();
        let result = self
            .client
            .run_deliveries(shutdown, move |delivery: Delivery| {
                let me = me.clone();
                async move {
                    me.handle_delivery(&delivery.envelope)
                        .await
                        .map_err(|e| match e {
                            MinistryError::Corrupt(_) | MinistryError::Invalid(_) => {
                                HandlerError::Permanent(e.to_string())
                            }
                            _ => HandlerError::Transient(e.to_string()),
                        })
                }
            })
            .await
            .map_err(|e| MinistryError::Nats(e.to_string()));
        let _ = receipts.await;
        result
    }

    /// Logs the gateway's rejections of what this member sent.
    async fn watch_receipts(&self, shutdown: CancellationToken) {
        let Ok(mut receipts) = self.client.receipts().await else {
            tracing::warn!(member = %self.member(), "cannot read receipts");
            return;
        };
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = receipts.next(std::time::Duration::from_secs(5)) => r,
            };
            if let Ok((_, receipt)) = next
                && receipt.decision == Decision::Rejected
            {
                tracing::warn!(
                    member = %self.member(),
                    msg_id = receipt.submission_id.as_deref().unwrap_or("?"),
                    r#type = receipt.submission_type.as_deref().unwrap_or("?"),
                    codes = ?receipt.codes(),
                    "the gateway rejected a message this member sent"
                );
            }
        }
    }

    /// Applies one delivered message to its case.
    #[tracing::instrument(skip_all, fields(member = %self.member(), msg_id = message.id(), r#type = message.message_type(), case))]
    pub async fn handle_delivery(&self, message: &Envelope) -> Result<(), MinistryError> {
        let case_ref = case_ref_of(message);
        tracing::Span::current().record(
            "case",
            case_ref.as_ref().ok().copied().flatten().unwrap_or(""),
        );
        let case_ref = match case_ref {
            Ok(Some(case_ref)) => case_ref,
            Ok(None) => {
                let rule = message
                    .data()
                    .get("rule")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                tracing::warn!(%rule, "a refusal without a case");
                return Ok(());
            }
            Err(refusal) => return self.send_refusal(message, refusal).await,
        };
        for _ in 0..MAX_ATTEMPTS {
            let stored = self.store.get(case_ref).await?;
            let revision = stored.as_ref().map_or(0, |s| s.revision);
            if let Some(s) = &stored
                && s.case.processed.contains(message.id())
            {
                // Already applied; finish sending whatever it caused.
                return self.flush_outbox(case_ref).await;
            }
            let ctx = Ctx {
                member: self.member(),
                now: OffsetDateTime::now_utc(),
            };
            let existing = stored.map(|s| s.case);
            let outcome = if message.message_type() == types::CASE_REFUSED {
                Ok(existing.clone().map(|mut c| {
                    c.refusals_received.push(message.data().clone());
                    Transition::quiet(c)
                }))
            } else {
                self.role.on_message(&ctx, existing.clone(), message)
            };
            let (mut next, outgoing, what) = match outcome {
                Ok(Some(t)) => (t.case, t.outgoing, message.message_type().to_owned()),
                Ok(None) => match existing {
                    Some(c) => (c, Vec::new(), message.message_type().to_owned()),
                    None => {
                        tracing::debug!("no case and nothing to do");
                        return Ok(());
                    }
                },
                Err(refusal) => match existing {
                    Some(c) => {
                        let data = refusal_data(message, &refusal, Some(case_ref));
                        (
                            c,
                            vec![Outgoing::new(types::CASE_REFUSED, data)],
                            format!("refused:{}", refusal.rule),
                        )
                    }
                    None => return self.send_refusal(message, refusal).await,
                },
            };
            next.processed.insert(message.id().to_owned());
            next.events.push(Event {
                time: ctx.now_str(),
                what,
                message_id: Some(message.id().to_owned()),
                party: Some(message.sender().to_string()),
            });
            let pending = self.sign_all(&ctx, case_ref, &outgoing, Some(message))?;
            next.outbox.extend(pending);
            match self.store.put(&next, revision).await? {
                Write::Stored(_) => return self.flush_outbox(case_ref).await,
                Write::Conflict => continue,
            }
        }
        Err(MinistryError::Contention(case_ref.to_owned()))
    }

    /// Refuses a message about a case this member does not have.
    async fn send_refusal(
        &self,
        message: &Envelope,
        refusal: Refusal,
    ) -> Result<(), MinistryError> {
        tracing::info!(rule = %refusal.rule, "refused");
        let ctx = Ctx {
            member: self.member(),
            now: OffsetDateTime::now_utc(),
        };
        let case_ref = case_ref_of(message).ok().flatten();
        let data = refusal_data(message, &refusal, case_ref);
        let pending = self.sign_all(
            &ctx,
            case_ref.unwrap_or(""),
            &[Outgoing::new(types::CASE_REFUSED, data)],
            Some(message),
        )?;
        for p in &pending {
            self.submit(p).await?;
        }
        Ok(())
    }

    /// Carries out an API action on one case.
    pub async fn act(
        &self,
        case_ref: &str,
        action: &str,
        body: &Value,
    ) -> Result<Applied, ActionError> {
        if !is_case_ref(case_ref) {
            return Err(ActionError::Invalid(format!(
                "{case_ref:?} is not a case reference"
            )));
        }
        for _ in 0..MAX_ATTEMPTS {
            let stored = self.store.get(case_ref).await?;
            let revision = stored.as_ref().map_or(0, |s| s.revision);
            let ctx = Ctx {
                member: self.member(),
                now: OffsetDateTime::now_utc(),
            };
            let t = self
                .role
                .on_action(&ctx, stored.map(|s| s.case), action, body)?;
            let mut next = t.case;
            next.events.push(Event {
                time: ctx.now_str(),
                what: format!("action:{action}"),
                message_id: None,
                party: None,
            });
            let pending = self.sign_all(&ctx, case_ref, &t.outgoing, None)?;
            let sent: Vec<Value> = pending
                .iter()
                .map(|p| json!({"id": p.id, "type": p.message_type}))
                .collect();
            next.outbox.extend(pending);
            match self.store.put(&next, revision).await? {
                Write::Stored(rev) => {
                    self.flush_outbox(case_ref).await?;
                    return Ok(Applied {
                        case_ref: case_ref.to_owned(),
                        revision: rev,
                        sent,
                    });
                }
                Write::Conflict => continue,
            }
        }
        Err(ActionError::Internal(format!(
            "case {case_ref} is too busy; try again"
        )))
    }

    /// Carries out an API command that opens new cases. Nothing is stored
    /// or sent unless every case is valid; a case that already exists is
    /// left as it is (so a command can be repeated after a failure).
    pub async fn command(
        &self,
        command: &str,
        params: &Params,
        body: &[u8],
    ) -> Result<Vec<Applied>, ActionError> {
        let ctx = Ctx {
            member: self.member(),
            now: OffsetDateTime::now_utc(),
        };
        let transitions = self.role.on_command(&ctx, command, params, body)?;
        let mut signed = Vec::with_capacity(transitions.len());
        for t in transitions {
            let pending = self.sign_all(&ctx, &t.case.case_ref, &t.outgoing, None)?;
            signed.push((t.case, pending));
        }
        let mut applied = Vec::new();
        for (mut case, pending) in signed {
            let case_ref = case.case_ref.clone();
            let sent: Vec<Value> = pending
                .iter()
                .map(|p| json!({"id": p.id, "type": p.message_type}))
                .collect();
            case.events.push(Event {
                time: ctx.now_str(),
                what: format!("command:{command}"),
                message_id: None,
                party: None,
            });
            case.outbox.extend(pending);
            match self.store.put(&case, 0).await? {
                Write::Stored(rev) => {
                    self.flush_outbox(&case_ref).await?;
                    applied.push(Applied {
                        case_ref,
                        revision: rev,
                        sent,
                    });
                }
                Write::Conflict => {
                    tracing::info!(case = %case_ref, "case exists already; left as it is");
                }
            }
        }
        Ok(applied)
    }

    /// Every case the member holds, with its revision.
    pub async fn cases(&self) -> Result<Vec<crate::store::Stored>, MinistryError> {
        let mut out = Vec::new();
        for key in self.store.keys().await? {
            if let Some(stored) = self.store.get(&key).await? {
                out.push(stored);
            }
        }
        Ok(out)
    }

    /// The role's view `view` over every case the member holds.
    pub async fn view(&self, view: &str) -> Result<Value, ActionError> {
        let cases: Vec<Case> = self.cases().await?.into_iter().map(|s| s.case).collect();
        let ctx = Ctx {
            member: self.member(),
            now: OffsetDateTime::now_utc(),
        };
        self.role.view(&ctx, view, &cases)
    }

    /// Signs outgoing messages. Ids derive from the causing message when
    /// there is one, so a retry produces the same ids.
    fn sign_all(
        &self,
        ctx: &Ctx<'_>,
        case_ref: &str,
        outgoing: &[Outgoing],
        cause: Option<&Envelope>,
    ) -> Result<Vec<Pending>, MinistryError> {
        let mut out = Vec::with_capacity(outgoing.len());
        for (i, o) in outgoing.iter().enumerate() {
            let schema =
                checked_schema(&self.schemas, o, case_ref).map_err(MinistryError::Invalid)?;
            let mut b =
                EnvelopeBuilder::new(&o.message_type, &schema, o.data.clone()).time(ctx.now);
            if is_case_ref(case_ref) {
                b = b.subject(case_ref);
            }
            if let Some(cause) = cause {
                b = b
                    .causationid(cause.id())
                    .id(derived_id(cause.id(), self.member(), i));
                if let Some(tp) = cause.traceparent() {
                    b = b.traceparent(tp);
                }
            }
            let envelope = self
                .client
                .sign(b)
                .map_err(|e| MinistryError::Invalid(e.to_string()))?;
            out.push(Pending {
                id: envelope.id().to_owned(),
                message_type: o.message_type.clone(),
                envelope: envelope.to_value(),
            });
        }
        Ok(out)
    }

    async fn submit(&self, pending: &Pending) -> Result<(), MinistryError> {
        let bytes = serde_json::to_vec(&pending.envelope)
            .map_err(|e| MinistryError::Corrupt(e.to_string()))?;
        self.client
            .submit_bytes(&pending.id, bytes)
            .await
            .map_err(MinistryError::nats)?;
        tracing::info!(msg_id = %pending.id, r#type = %pending.message_type, "submitted");
        Ok(())
    }

    /// Submits a case's outbox and empties it.
    async fn flush_outbox(&self, case_ref: &str) -> Result<(), MinistryError> {
        for _ in 0..MAX_ATTEMPTS {
            let Some(stored) = self.store.get(case_ref).await? else {
                return Ok(());
            };
            if stored.case.outbox.is_empty() {
                return Ok(());
            }
            for p in &stored.case.outbox {
                self.submit(p).await?;
            }
            let mut next = stored.case;
            let now = format_time(OffsetDateTime::now_utc());
            for p in std::mem::take(&mut next.outbox) {
                next.events.push(Event {
                    time: now.clone(),
                    what: format!("sent:{}", p.message_type),
                    message_id: Some(p.id),
                    party: None,
                });
            }
            match self.store.put(&next, stored.revision).await? {
                Write::Stored(_) => return Ok(()),
                Write::Conflict => continue,
            }
        }
        Err(MinistryError::Contention(case_ref.to_owned()))
    }

    async fn flush_all_outboxes(&self) -> Result<(), MinistryError> {
        for key in self.store.keys().await? {
            self.flush_outbox(&key).await?;
        }
        Ok(())
    }
}

/// The `$id` of the newest schema of an outgoing message's type, once its
/// data is valid against it; else what is wrong.
pub(crate) fn checked_schema(
    schemas: &SchemaRegistry,
    o: &Outgoing,
    case_ref: &str,
) -> Result<String, String> {
    let schema = schemas
        .latest_schema_id(&o.message_type)
        .ok_or_else(|| format!("no schema for {}", o.message_type))?;
    schemas
        .validate_data(&o.message_type, &schema, &o.data)
        .map_err(|e| {
            format!(
                "{} for case {case_ref} does not match its schema: {e:?}",
                o.message_type
            )
        })?;
    Ok(schema)
}

/// The data of a `case.refused` answering `message`.
fn refusal_data(message: &Envelope, refusal: &Refusal, case_ref: Option<&str>) -> Value {
    let mut data = json!({
        "refusedSender": message.sender().as_str(),
        "refusedMessageId": message.id(),
        "refusedType": message.message_type(),
        "rule": refusal.rule,
        "reason": refusal.reason,
    });
    if let Some(c) = case_ref {
        data["caseRef"] = json!(c);
    }
    if !refusal.persons.is_empty() {
        data["persons"] = json!(refusal.persons);
    }
    data
}

/// A ULID derived from the causing message's id, this member and an index:
/// the same inputs give the same id, so a retried transition is deduplicated.
pub fn derived_id(cause: &str, member: &MemberId, index: usize) -> String {
    let time_ms = ulid::Ulid::from_string(cause).map_or(0, |u| u.timestamp_ms());
    let digest = Sha256::digest(format!("{cause}/{member}/{index}").as_bytes());
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    let random = u128::from_be_bytes(random);
    ulid::Ulid::from_parts(time_ms, random).to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::{CASE, NOW, member, message, refused};

    const REFUSAL: &str = "01D7XVY7C0DAG021ETAMTCPPAR";

    #[test]
    fn a_message_without_a_case_reference_is_refused() {
        // The schemas require a caseRef here, so only a gateway that let
        // this through would deliver it: signed without the schema check.
        let no_case = EnvelopeBuilder::new(
            types::ARRIVAL_RECORDED,
            &homeward_core::schema::message_schema_id(types::ARRIVAL_RECORDED, 1),
            json!({"persons": []}),
        )
        .time(NOW)
        .sign(
            &member("kz.interior"),
            &homeward_core::SigningKey::generate(),
        )
        .expect("signs");
        refused(case_ref_of(&no_case), "no_case_reference");

        let about = message(
            "kz.mfa",
            types::CASE_REFUSED,
            json!({"caseRef": CASE, "refusedSender": "aanes.camps", "refusedMessageId": REFUSAL,
                   "refusedType": types::HANDOVER_COMPLETED, "rule": "unknown_case", "reason": "no such case"}),
        );
        assert_eq!(case_ref_of(&about), Ok(Some(CASE)));
        // A refusal of a message that named no case is not answered.
        let about_nothing = message(
            "kz.mfa",
            types::CASE_REFUSED,
            json!({"refusedSender": "aanes.camps", "refusedMessageId": REFUSAL,
                   "refusedType": types::HANDOVER_COMPLETED, "rule": "no_case_reference", "reason": "the message names no case"}),
        );
        assert_eq!(case_ref_of(&about_nothing), Ok(None));
    }

    #[test]
    fn a_message_that_breaks_its_schema_is_not_signed() {
        let schemas = SchemaRegistry::embedded().expect("schemas");
        let valid = Outgoing::new(
            types::CAMP_RESIDENT_LOCATED,
            crate::test_support::located("KZ"),
        );
        let schema = checked_schema(&schemas, &valid, CASE).expect("a valid message passes");
        assert!(schema.contains("camp.resident.located"), "{schema}");

        let mut data = crate::test_support::located("KZ");
        data["familyUnit"]["members"][0]["birthDate"]["value"] = json!("1991-13");
        let broken = Outgoing::new(types::CAMP_RESIDENT_LOCATED, data);
        let err = checked_schema(&schemas, &broken, CASE).expect_err("refused before signing");
        assert!(err.contains("does not match its schema"), "{err}");
        // The reason names the case and the path, never the value.
        assert!(err.contains(CASE) && !err.contains("1991-13"), "{err}");

        let unknown = Outgoing::new("camp.resident.vanished", json!({}));
        assert!(checked_schema(&schemas, &unknown, CASE).is_err());
    }
}
