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
//!
//! Before a delivery reaches the role, the service checks it itself
//! ([`crate::verify`]): a delivery that fails is refused back to its sender,
//! terminated, counted ([`Ministry::alarms`]), and changes no case.
//!
//! A delivery is recorded in the case by its sender and id
//! ([`crate::case::MessageKey`]), so a redelivered message changes nothing
//! twice, and another member's message with the same id is not taken for
//! it. Messages a delivery causes get ids derived from it, so a retry after
//! a crash produces the same ids; they are derived with a secret of the
//! member ([`IdKey`]), so nobody else can compute them.
//!
//! JetStream drops a submission whose id it has stored within the
//! duplicate window, from any member: so a duplicate answer is taken as
//! "stored" only when this service may have submitted the message before
//! (a resend after a crash, a retry after a conflict). For a message it had
//! never submitted, a duplicate means someone else used its id first: the
//! message is not taken as sent. It is logged (references only), counted,
//! marked `held` in the outbox, and submitted again every
//! [`HELD_RETRY`] until JetStream stores it, once the window has passed.
//!
//! Every write of a case is followed by appending its new timeline entries
//! to the member's event log ([`crate::events`]), and a delivery that
//! changes no case is recorded there before it is acknowledged; the
//! service appends what is missing for every case when it starts.
//!
//! A delivery that fails to process for any reason but a rule is tried
//! again with backoff, and parked after a bounded number of attempts, so
//! that it never blocks the member's other deliveries; a redrive applies
//! it once fixed ([`crate::parked`]). A role that panics on a message
//! fails that delivery, not the loop.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use homeward_core::client::{Delivery, MemberClient};
use homeward_core::envelope::{Envelope, EnvelopeBuilder, format_time, is_case_ref};
use homeward_core::message_types as types;
use homeward_core::{MemberId, SchemaRegistry, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::MinistryError;
use crate::case::{Case, Event, MessageKey, Pending, Person};
use crate::events::{EVENTS_RETRY, EventLog, FeedEvent};
use crate::parked::{Failure, Parked, ParkedMessage, Redriven, Retry, exact_time};
use crate::store::{CaseStore, Write};
use crate::verify::{AgeLimits, check_delivery};

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

/// Refuses a message about `case` from anyone but the camp authority that
/// opened it: only the camp that holds a family decides on its release and
/// hands it over, or locates it again.
pub fn require_camp_authority(case: &Case, message: &Envelope) -> Result<(), Refusal> {
    if case.camp_authority.as_deref() == Some(message.sender().as_str()) {
        Ok(())
    } else {
        Err(Refusal::new(
            "not_the_camp_authority",
            format!(
                "{} about this case comes from a member other than the camp authority that holds it",
                message.message_type()
            ),
        ))
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

    /// A read-only view of one case, through the API
    /// (`GET /cases/{caseRef}/{view}`), e.g. the security service's
    /// `candidates`; `case` is `None` when the member holds no such case.
    fn case_view(
        &self,
        _ctx: &Ctx<'_>,
        view: &str,
        _case: Option<&Case>,
    ) -> Result<Value, ActionError> {
        Err(ActionError::NotFound(format!("no view {view:?} of a case")))
    }
}

/// One member's running service.
pub struct Ministry {
    client: MemberClient,
    store: CaseStore,
    events: EventLog,
    /// Cases whose timeline the event log may lack, each with the number
    /// of the failure that marked it last: the retry takes a case out only
    /// if no newer failure marked it meanwhile.
    events_behind: Mutex<(u64, BTreeMap<String, u64>)>,
    role: Arc<dyn Role>,
    schemas: Arc<SchemaRegistry>,
    limits: AgeLimits,
    ids: IdKey,
    /// What discovery reports to operators: deliveries applied, refused by
    /// this service's own checks, and failed ([`homeward_core::discovery`]).
    counters: Arc<homeward_core::discovery::Counters>,
    /// What `/metrics` serves beyond the counters above ([`crate::metrics`]).
    metrics: Arc<crate::metrics::ServiceMetrics>,
    submissions: Mutex<Submissions>,
    alarms: Mutex<Alarms>,
    /// This member's submission rate quota, kept on its own side: a
    /// service never submits faster than the gateway would take
    /// ([`homeward_core::quota`]), so its messages wait in its outbox
    /// rather than be refused as `over_quota`.
    pacer: tokio::sync::Mutex<Option<homeward_core::quota::Bucket>>,
    retry: Retry,
    /// See [`Options::hold_unknown_case`].
    hold_unknown_case: Duration,
    /// See [`Options::resend_after`].
    resend_after: ResendAfter,
    /// Cases with a delivery being retried, each with the earliest such
    /// delivery's sequence: a later delivery of the case waits behind it.
    retrying: Mutex<BTreeMap<String, u64>>,
    /// Cases with parked deliveries, by sequence: a later delivery of the
    /// case is parked behind them. Held while a delivery is checked
    /// against it and parked, and for a whole redrive, so that the two
    /// never cross.
    parking: tokio::sync::Mutex<BTreeMap<String, BTreeSet<u64>>>,
}

/// How a service starts: the ages of envelopes it takes, and how it
/// retries a delivery that fails before parking it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub limits: AgeLimits,
    pub retry: Retry,
    /// How long after the server stored it a delivery about a case this
    /// member does not hold is delivered again rather than refused with
    /// `unknown_case`. Zero here (a test's refusal comes at once); a
    /// service binary takes `[deliveries] hold_unknown_case_ms`, two
    /// minutes by default ([`crate::parked::DEFAULT_HOLD_UNKNOWN_CASE`]).
    pub hold_unknown_case: Duration,
    /// How long after a refusal "for now" a message is sent again.
    pub resend_after: ResendAfter,
}

/// The rejection codes that mean "not now" rather than "never", and how
/// long after the refusal the message is sent again ([`Ministry::resend`]).
/// Nothing of a rejected submission was delivered to anyone, so sending
/// it again, under a new id, cannot make a recipient apply it twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResendAfter {
    /// `over_quota`: this member submitted past its rate (its own pacing
    /// keeps it under, but several gateways each meter it).
    pub over_quota: Duration,
    /// `recipient_backlog`: a recipient has left deliveries untaken past
    /// the gateway's limit; the gateway looks again every 60 s by default.
    pub recipient_backlog: Duration,
}

impl Default for ResendAfter {
    fn default() -> Self {
        Self {
            over_quota: Duration::from_secs(1),
            recipient_backlog: Duration::from_secs(60),
        }
    }
}

impl ResendAfter {
    /// How long after its refusal a submission rejected with `codes` is
    /// sent again: the longest pause of its codes, when every one of them
    /// means "not now"; `None` when any refusal is final.
    pub fn pause<'a>(&self, codes: impl IntoIterator<Item = &'a str>) -> Option<Duration> {
        let mut pause = None;
        for code in codes {
            let code = code.trim();
            let known = homeward_core::RejectionCode::ALL
                .iter()
                .find(|c| c.as_str() == code)?;
            let this = match known {
                homeward_core::RejectionCode::OverQuota => self.over_quota,
                homeward_core::RejectionCode::RecipientBacklog => self.recipient_backlog,
                _ => return None,
            };
            pause = Some(pause.map_or(this, |p: Duration| p.max(this)));
        }
        pause
    }
}

/// What [`Ministry::resend`] did with a refused copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resent {
    /// Stored in its case's outbox under this new id (now, or by an
    /// earlier call for the same refusal).
    Sent(String),
    /// Not sent again, and why: it is not this member's own recent
    /// message, or names no case this service holds.
    Declined(String),
}

/// How old a refused message may be and still be sent again, beyond the
/// pause its refusal calls for: a copy that only the gateway vouches for
/// (a hostile gateway could plant an old accepted message of this
/// member's as refused, to have it sent again under a new id) is resent
/// only while it is this recent (docs/threat-model.md).
pub const RESEND_WITHIN: Duration = Duration::from_secs(10 * 60);

/// The index a resend's id derives with ([`IdKey::derive`]); the messages
/// a delivery or an action causes use small indices.
const RESEND_INDEX: usize = 1 << 20;

/// What the delivery loop does with a delivery once handled.
enum Taken {
    /// Applied, or changed nothing: ack.
    Done,
    /// Refused by this service's own checks, and answered: term.
    Refused(String),
    /// Failed, or waits behind an earlier failing delivery of its case:
    /// nak, to come again after the delay.
    Again(Duration),
    /// Parked: term, with the reason operators see.
    Parked(String),
}

/// What this process knows of its own outgoing messages' submissions.
#[derive(Debug, Default)]
struct Submissions {
    /// Ids written to an outbox by this process and never submitted yet: a
    /// duplicate answer to their first submission is someone else's.
    fresh: HashSet<String>,
    /// Ids held because JetStream took them for someone else's.
    held: HashSet<String>,
    /// Ids being submitted right now, by one flush or another.
    in_flight: HashSet<String>,
    /// The cases whose outbox holds a held message, retried every
    /// [`HELD_RETRY`].
    held_cases: BTreeSet<String>,
    /// The cases whose outbox could not be submitted (the server or the
    /// stream unavailable, as while a cluster elects a new leader),
    /// retried every [`UNSENT_RETRY`] until it is.
    unsent_cases: BTreeSet<String>,
}

/// What operators should look into, counted since the service started.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alarms {
    /// Deliveries that failed this service's own checks, by rule
    /// ([`crate::verify`]): each was refused back to its sender and
    /// terminated.
    pub refused_deliveries: BTreeMap<String, u64>,
    /// Outgoing messages JetStream took for a duplicate of a submission this
    /// service never made; each stays in its outbox until it is stored.
    pub foreign_duplicates: u64,
    /// Deliveries parked after failing to process ([`crate::parked`]);
    /// `GET /parked` lists those still parked.
    pub parked_deliveries: u64,
}

/// How often messages held as duplicates of someone else's submission are
/// submitted again. `HW_SUBMIT` forgets an id after its duplicate window
/// (20 min); the first submission after that is stored.
pub const HELD_RETRY: Duration = Duration::from_secs(30);

/// How often an outbox whose submission failed is submitted again, without
/// waiting for anything else to happen to its case.
pub const UNSENT_RETRY: Duration = Duration::from_secs(2);

/// Whether JetStream took a submission.
enum Submitted {
    /// Stored now, or by an earlier submission of this service.
    Stored,
    /// Taken for a duplicate of a submission this service never made.
    Held,
    /// Being submitted by another flush of the same case, which takes it
    /// out or holds it.
    Busy,
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
    /// Set when the case was stored with its messages but the server did
    /// not take them yet: they wait in the outbox and are submitted again
    /// until it does ([`Ministry::retry_unsent`]). The API answers 202.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
}

/// Why an applied action's messages wait in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Waiting {
    /// `over_quota` when the server refused it because this member already
    /// has as many submissions waiting as the work queue holds for one
    /// member, `server_storage_full` when JetStream said it has no room (an
    /// account or disk limit), `server_unreachable` when it did not answer
    /// in time or the connection was down, else `server_refused` (it
    /// answered no: a stream limit, say).
    pub code: &'static str,
    pub reason: String,
}

impl Waiting {
    fn of(error: &MinistryError) -> Self {
        let text = error.to_string();
        // How a full account or store answers a publish: "resource limits
        // exceeded for account" (10002), "insufficient resources" (10023),
        // "insufficient storage resources" (10047).
        let full = [
            "resource limits exceeded",
            "insufficient",
            "10002",
            "10023",
            "10047",
        ]
        .iter()
        .any(|t| text.contains(t));
        // The member's own share of the work queue is full: it submits
        // faster than the gateways decide (10077).
        let over = ["maximum messages per subject", "10077"]
            .iter()
            .any(|t| text.contains(t));
        let away = [
            "timed out",
            "no responders",
            "IO error",
            "disconnected",
            "connection",
        ]
        .iter()
        .any(|t| text.contains(t));
        Self {
            code: if over {
                "over_quota"
            } else if full {
                "server_storage_full"
            } else if away {
                "server_unreachable"
            } else {
                "server_refused"
            },
            reason: format!(
                "stored; its messages wait in the outbox and are submitted again: {text}"
            ),
        }
    }
}

const MAX_ATTEMPTS: usize = 50;

impl Ministry {
    /// A service for the client's member, opening its case bucket, taking
    /// envelopes within the default [`AgeLimits`].
    pub async fn start(
        client: MemberClient,
        role: Arc<dyn Role>,
        schemas: Arc<SchemaRegistry>,
    ) -> Result<Arc<Self>, MinistryError> {
        Self::start_with(client, role, schemas, AgeLimits::default()).await
    }

    /// As [`Ministry::start`], taking envelopes within `limits`.
    pub async fn start_with(
        client: MemberClient,
        role: Arc<dyn Role>,
        schemas: Arc<SchemaRegistry>,
        limits: AgeLimits,
    ) -> Result<Arc<Self>, MinistryError> {
        let options = Options {
            limits,
            ..Options::default()
        };
        Self::start_with_options(client, role, schemas, options).await
    }

    /// As [`Ministry::start`], with `options`.
    pub async fn start_with_options(
        client: MemberClient,
        role: Arc<dyn Role>,
        schemas: Arc<SchemaRegistry>,
        options: Options,
    ) -> Result<Arc<Self>, MinistryError> {
        // The server may be out of reach while the service starts (it is
        // restarting, or the link is down): opening the store and
        // recovering what the last run left is tried again until it is
        // reached, rather than ending the process into a restart loop.
        // A server just restarted may not show a bucket for a few seconds:
        // that is waited out for `PROVISIONED_WITHIN`. What is wrong for
        // good (data that does not parse, a bucket still missing then)
        // ends the start.
        let mut pause = Duration::from_millis(100);
        let mut attempt = 1u32;
        let deadline = tokio::time::Instant::now() + crate::service::PROVISIONED_WITHIN;
        loop {
            match Self::open(client.clone(), role.clone(), schemas.clone(), options).await {
                Err(e)
                    if e.is_unreachable()
                        || (matches!(
                            e,
                            MinistryError::Core(homeward_core::Error::NotProvisioned(_))
                        ) && tokio::time::Instant::now() < deadline) =>
                {
                    tracing::warn!(member = %client.member(), error = %e, attempt, "the server is out of reach while the service starts; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn open(
        client: MemberClient,
        role: Arc<dyn Role>,
        schemas: Arc<SchemaRegistry>,
        options: Options,
    ) -> Result<Arc<Self>, MinistryError> {
        let Options {
            limits,
            retry,
            hold_unknown_case,
            resend_after,
        } = options;
        let store = CaseStore::open(client.jetstream(), client.member()).await?;
        let events = EventLog::open(client.jetstream(), client.member()).await?;
        let ids = IdKey::of(client.key());
        let mut parking: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
        for parked in store.all_parked().await? {
            if let Some(case_ref) = parked.message.case_ref {
                parking
                    .entry(case_ref)
                    .or_default()
                    .insert(parked.message.sequence);
            }
        }
        let ministry = Arc::new(Self {
            client,
            store,
            events,
            events_behind: Mutex::default(),
            role,
            schemas,
            limits,
            ids,
            counters: Arc::default(),
            metrics: Arc::default(),
            submissions: Mutex::default(),
            alarms: Mutex::default(),
            pacer: tokio::sync::Mutex::new(None),
            retry,
            hold_unknown_case,
            resend_after,
            retrying: Mutex::default(),
            parking: tokio::sync::Mutex::new(parking),
        });
        ministry.recover().await?;
        Ok(ministry)
    }

    /// What waits in the outboxes: messages written and not yet stored by
    /// JetStream, messages held as someone else's duplicate, and cases
    /// whose outbox the server refused and which are submitted again.
    pub fn outbox(&self) -> (usize, usize, usize) {
        let s = self.submissions();
        (s.fresh.len(), s.held.len(), s.unsent_cases.len())
    }

    /// The counters discovery reports ([`homeward_core::discovery`]).
    pub fn counters(&self) -> Arc<homeward_core::discovery::Counters> {
        self.counters.clone()
    }

    /// Its Prometheus metrics ([`crate::metrics`]).
    pub fn metrics(&self) -> Arc<crate::metrics::ServiceMetrics> {
        self.metrics.clone()
    }

    /// What operators should look into since the service started.
    pub fn alarms(&self) -> Alarms {
        self.alarms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn submissions(&self) -> std::sync::MutexGuard<'_, Submissions> {
        self.submissions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The version of the published policy in force (0: the policy file).
    pub fn policy_version(&self) -> u64 {
        self.client.policy_handle().version()
    }

    pub fn member(&self) -> &MemberId {
        self.client.member()
    }

    pub fn store(&self) -> &CaseStore {
        &self.store
    }

    /// The member's event log, which `GET /events` serves.
    pub fn events(&self) -> &EventLog {
        &self.events
    }

    fn events_behind(&self) -> std::sync::MutexGuard<'_, (u64, BTreeMap<String, u64>)> {
        self.events_behind
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends to the event log what `case`'s timeline holds and the log
    /// lacks, once `case` is stored. A failure does not undo the change,
    /// which is stored: it marks the case for [`Ministry::retry_events`]
    /// (and the next start).
    async fn log_case(&self, case: &Case) {
        if let Err(e) = self.events.append_case(case).await {
            tracing::warn!(member = %self.member(), case = %case.case_ref, error = %e, "the event log lacks a stored change; will append it again");
            let mut behind = self.events_behind();
            behind.0 += 1;
            let mark = behind.0;
            behind.1.insert(case.case_ref.clone(), mark);
        }
    }

    /// Records a delivery that changes no case in the event log: it
    /// must be stored there before the delivery is acknowledged, so a
    /// failure is an error (the delivery comes again).
    async fn log_delivery(
        &self,
        message: &Envelope,
        steps: &[FeedEvent],
    ) -> Result<(), MinistryError> {
        self.events.append_delivery(message, steps).await
    }

    /// Appends, every [`EVENTS_RETRY`] until `shutdown`, the timelines the
    /// event log lacks because an append failed: a task of its own, beside
    /// the delivery loop (`service::start` spawns it).
    pub async fn retry_events(&self, shutdown: CancellationToken) {
        let mut every = tokio::time::interval(EVENTS_RETRY);
        every.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = every.tick() => {}
            }
            let behind: Vec<(String, u64)> = self
                .events_behind()
                .1
                .iter()
                .map(|(c, m)| (c.clone(), *m))
                .collect();
            for (case_ref, mark) in behind {
                match self.append_stored_case(&case_ref).await {
                    Ok(()) => {
                        let mut behind = self.events_behind();
                        if behind.1.get(&case_ref) == Some(&mark) {
                            behind.1.remove(&case_ref);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(member = %self.member(), case = %case_ref, error = %e, "the event log still lacks a stored change; will retry");
                    }
                }
            }
        }
    }

    /// Appends to the event log what the stored case's timeline holds and
    /// the log lacks.
    async fn append_stored_case(&self, case_ref: &str) -> Result<(), MinistryError> {
        match self.store.get(case_ref).await? {
            Some(stored) => self.events.append_case(&stored.case).await,
            None => Ok(()),
        }
    }

    /// Submits the messages held as someone else's duplicates again, every
    /// [`HELD_RETRY`], until `shutdown`: a task of its own, beside the
    /// delivery loop (`service::start` spawns it).
    pub async fn retry_held(&self, shutdown: CancellationToken) {
        self.flush_every(HELD_RETRY, |s| &s.held_cases, shutdown)
            .await;
    }

    /// Submits again, every [`UNSENT_RETRY`] until `shutdown`, the outboxes
    /// whose submission failed: a message written with its case is sent
    /// once the server takes submissions again, whether or not anything
    /// else happens to the case. A task of its own, beside the delivery
    /// loop (`service::start` spawns it).
    pub async fn retry_unsent(&self, shutdown: CancellationToken) {
        self.flush_every(UNSENT_RETRY, |s| &s.unsent_cases, shutdown)
            .await;
    }

    /// Flushes the outbox of every case in the set `cases` picks, every
    /// `period`, until `shutdown`; [`Ministry::flush_outbox`] takes a case
    /// out of the set once its outbox is stored.
    async fn flush_every(
        &self,
        period: Duration,
        cases: impl Fn(&Submissions) -> &BTreeSet<String>,
        shutdown: CancellationToken,
    ) {
        let mut every = tokio::time::interval(period);
        every.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = every.tick() => {}
            }
            let due: Vec<String> = cases(&self.submissions()).iter().cloned().collect();
            for case_ref in due {
                if let Err(e) = self.flush_outbox(&case_ref).await {
                    tracing::warn!(member = %self.member(), case = %case_ref, error = %e, "outgoing messages not submitted yet; will retry");
                }
            }
        }
    }

    /// Consumes this member's deliveries until `shutdown`, each through
    /// [`Ministry::handle_delivery`]. Success acks; a delivery refused by
    /// this service's own checks, or that does not verify, is terminated;
    /// a failure is naked with backoff and, after
    /// [`Retry::attempts`], parked and terminated ([`crate::parked`]).
    pub async fn run_deliveries(
        self: &Arc<Self>,
        shutdown: CancellationToken,
    ) -> Result<(), homeward_core::Error> {
        let consumer = self.client.delivery_consumer().await?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(homeward_core::Error::nats)?;
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                next = messages.next() => next,
            };
            let Some(message) = next else { return Ok(()) };
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, member = %self.member(), "delivery stream error");
                    continue;
                }
            };
            // A delivery without readable metadata cannot be told apart
            // from another: it is sent again, never handled as sequence 0.
            let (sequence, attempt, stored_at) = match message.info() {
                Ok(i) => {
                    self.metrics.pending(self.member().as_str(), i.pending);
                    (i.stream_sequence, i.delivered, i.published)
                }
                Err(e) => {
                    tracing::warn!(error = %e, member = %self.member(), "a delivery without readable metadata; it will come again");
                    let _ = message
                        .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                        .await;
                    continue;
                }
            };
            let envelope = match self.client.verify_delivery(&message.payload) {
                Ok(envelope) => envelope,
                Err(reason) => {
                    tracing::error!(member = %self.member(), sequence, %reason, "delivery failed verification; terminated");
                    self.terminate(&message, "unverified").await;
                    continue;
                }
            };
            let delivery = Delivery {
                envelope,
                sequence,
                attempt,
                stored_at,
            };
            match self.take(&delivery, &message.payload).await {
                Taken::Done => {
                    if let Err(e) = message.double_ack().await {
                        tracing::warn!(error = %e, sequence, "ack failed; the delivery will come again");
                    }
                }
                Taken::Refused(rule) => self.terminate(&message, &format!("refused {rule}")).await,
                Taken::Again(delay) => {
                    let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
                }
                Taken::Parked(reason) => self.terminate(&message, &reason).await,
            }
        }
    }

    /// Terminates a delivery with `reason`, which the server's
    /// `MSG_TERMINATED` advisory carries to operators (async-nats's
    /// `AckKind::Term` carries none). Waits for the server, like an ack;
    /// a termination lost comes back as a redelivery, found parked.
    async fn terminate(&self, message: &jetstream::Message, reason: &str) {
        let Some(reply) = message.reply.clone() else {
            return;
        };
        let term = bytes::Bytes::from(format!("+TERM {reason}"));
        if let Err(e) = self.client.nats().request(reply, term).await {
            tracing::warn!(error = %e, member = %self.member(), "a termination was not confirmed; the delivery may come again");
        }
    }

    fn retrying(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        self.retrying.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The delivery of `sequence` of `case_ref` no longer fails.
    fn done_retrying(&self, case_ref: Option<&str>, sequence: u64) {
        if let Some(case_ref) = case_ref {
            let mut retrying = self.retrying();
            if retrying.get(case_ref) == Some(&sequence) {
                retrying.remove(case_ref);
            }
        }
    }

    /// Handles one verified delivery, keeping its case's order: behind a
    /// parked delivery of its case it is parked too, behind one being
    /// retried it waits; a failure is retried until it is parked.
    async fn take(&self, delivery: &Delivery, bytes: &[u8]) -> Taken {
        let message = &delivery.envelope;
        let sequence = delivery.sequence;
        let case_ref = case_ref_of(message).ok().flatten().map(str::to_owned);
        let case = case_ref.as_deref();
        let again = self.retry.delay(delivery.attempt);
        // Parked already, and delivered again: the termination was lost.
        // A first delivery cannot have been parked.
        let parked = if delivery.attempt > 1 {
            self.store.parked(sequence).await
        } else {
            Ok(None)
        };
        match parked {
            Ok(Some(parked)) => return Taken::Parked(parked.message.term_reason()),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(member = %self.member(), sequence, error = %e, "cannot tell whether a delivery is parked; will retry");
                return Taken::Again(again);
            }
        }
        if let Some(case) = case {
            let parking = self.parking.lock().await;
            let behind_parked = parking
                .get(case)
                .and_then(|s| s.first())
                .is_some_and(|first| *first < sequence);
            if behind_parked {
                return self
                    .park(
                        delivery,
                        bytes,
                        case_ref.clone(),
                        Failure::BehindEarlier,
                        parking,
                    )
                    .await;
            }
            drop(parking);
            // Behind an earlier delivery of its case being retried, it waits
            // as long as that one is retried, however often it comes: the
            // earlier one is applied or parked in the end, and this one
            // follows it. (Parking it on its own count would park it behind
            // a server outage that only delayed the earlier one.)
            let behind_retried = self.retrying().get(case).is_some_and(|s| *s < sequence);
            if behind_retried {
                tracing::debug!(
                    sequence,
                    case,
                    "waits behind an earlier delivery of its case that failed"
                );
                return Taken::Again(again);
            }
        }
        match self.handle_delivery(delivery).await {
            Ok(()) => {
                self.done_retrying(case, sequence);
                Taken::Done
            }
            Err(MinistryError::Refused(rule)) => {
                self.done_retrying(case, sequence);
                Taken::Refused(rule)
            }
            // Not a failure, and nothing waits behind it: the message that
            // opens the case comes later in the stream.
            Err(MinistryError::CaseNotYet(_)) => {
                tracing::info!(member = %self.member(), msg_id = message.id(), r#type = message.message_type(), case = case.unwrap_or(""), sequence, attempt = delivery.attempt, ?again, "about a case not here yet; delivered again");
                Taken::Again(again)
            }
            Err(e) => {
                let failure = Failure::of(&e);
                // The server out of reach or not answering in time is no
                // fault of the message: it is tried again however often
                // (the fault harness saw kills and restarts use up the
                // attempts of messages that were fine). Only a failure to
                // process counts towards parking.
                if e.is_unreachable() || !self.retry.exhausted(delivery.attempt) {
                    tracing::warn!(member = %self.member(), msg_id = message.id(), r#type = message.message_type(), case = case.unwrap_or(""), sequence, attempt = delivery.attempt, failure = failure.as_str(), error = %e, ?again, "a delivery failed to process; will retry");
                    if let Some(case) = case {
                        let mut retrying = self.retrying();
                        let earliest = retrying.entry(case.to_owned()).or_insert(sequence);
                        *earliest = (*earliest).min(sequence);
                    }
                    return Taken::Again(again);
                }
                let parking = self.parking.lock().await;
                let taken = self
                    .park(delivery, bytes, case_ref.clone(), failure, parking)
                    .await;
                if matches!(taken, Taken::Parked(_)) {
                    self.done_retrying(case, sequence);
                }
                taken
            }
        }
    }

    /// Keeps a delivery that failed `failure` in the member's bucket, for
    /// a redrive; it is to be terminated once kept, and tried again if it
    /// could not be.
    async fn park(
        &self,
        delivery: &Delivery,
        bytes: &[u8],
        case_ref: Option<String>,
        failure: Failure,
        mut parking: tokio::sync::MutexGuard<'_, BTreeMap<String, BTreeSet<u64>>>,
    ) -> Taken {
        let message = &delivery.envelope;
        let parked = Parked {
            message: ParkedMessage {
                sequence: delivery.sequence,
                sender: message.sender().to_string(),
                message_type: message.message_type().to_owned(),
                message_id: message.id().to_owned(),
                case_ref: case_ref.clone(),
                failure,
                attempts: delivery.attempt,
                stored_at: exact_time(delivery.stored_at),
                parked_at: exact_time(OffsetDateTime::now_utc()),
            },
            // It verified, so it is JSON, so UTF-8.
            envelope: String::from_utf8_lossy(bytes).into_owned(),
        };
        if let Err(e) = self.store.park(&parked).await {
            tracing::warn!(member = %self.member(), sequence = delivery.sequence, error = %e, "a delivery to park could not be kept; it will come again");
            return Taken::Again(self.retry.delay(delivery.attempt));
        }
        if let Some(case_ref) = case_ref {
            parking
                .entry(case_ref)
                .or_default()
                .insert(delivery.sequence);
        }
        self.alarms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .parked_deliveries += 1;
        tracing::error!(
            member = %self.member(),
            msg_id = message.id(),
            r#type = message.message_type(),
            case = parked.message.case_ref.as_deref().unwrap_or(""),
            sequence = delivery.sequence,
            attempts = delivery.attempt,
            failure = failure.as_str(),
            "a delivery is parked; redrive it once fixed (POST /parked/{{seq}}/redrive)"
        );
        Taken::Parked(parked.message.term_reason())
    }

    /// The member's parked deliveries, in the order they were delivered:
    /// references only.
    pub async fn parked(&self) -> Result<Vec<ParkedMessage>, MinistryError> {
        Ok(self
            .store
            .all_parked()
            .await?
            .into_iter()
            .map(|p| p.message)
            .collect())
    }

    /// Redrives the parked delivery of `sequence`: with every parked
    /// delivery of its case, in the order they were delivered, each
    /// through [`Ministry::handle_delivery`] as a delivery is. Stops at the
    /// first that fails again, which stays parked with its new failure,
    /// and so do those behind it.
    pub async fn redrive(&self, sequence: u64) -> Result<Vec<Redriven>, ActionError> {
        let mut parking = self.parking.lock().await;
        let Some(first) = self.store.parked(sequence).await? else {
            return Err(ActionError::NotFound(format!(
                "no parked delivery {sequence}"
            )));
        };
        let case_ref = first.message.case_ref.clone();
        let mut sequences: BTreeSet<u64> = case_ref
            .as_ref()
            .and_then(|c| parking.get(c).cloned())
            .unwrap_or_default();
        sequences.insert(sequence);
        let mut out = Vec::new();
        for seq in sequences {
            let Some(mut parked) = self.store.parked(seq).await? else {
                forget_parked(&mut parking, case_ref.as_deref(), seq);
                continue;
            };
            let message_id = parked.message.message_id.clone();
            match self.redrive_one(&parked).await {
                Ok(refused) => {
                    self.store.unpark(seq).await?;
                    forget_parked(&mut parking, case_ref.as_deref(), seq);
                    tracing::info!(member = %self.member(), msg_id = %message_id, sequence = seq, "a parked delivery was redriven");
                    out.push(match refused {
                        None => Redriven::Applied {
                            sequence: seq,
                            message_id,
                        },
                        Some(rule) => Redriven::Refused {
                            sequence: seq,
                            message_id,
                            rule,
                        },
                    });
                }
                Err(e) => {
                    let failure = Failure::of(&e);
                    tracing::warn!(member = %self.member(), msg_id = %message_id, sequence = seq, failure = failure.as_str(), error = %e, "a redriven delivery failed again; it stays parked");
                    parked.message.failure = failure;
                    parked.message.attempts += 1;
                    self.store.park(&parked).await?;
                    out.push(Redriven::Failed {
                        sequence: seq,
                        message_id,
                        failure,
                    });
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Handles one parked delivery again: `None` once applied, the rule
    /// once refused.
    async fn redrive_one(&self, parked: &Parked) -> Result<Option<String>, MinistryError> {
        let envelope = match self.client.verify_delivery(parked.envelope.as_bytes()) {
            Ok(envelope) => envelope,
            Err(_) => {
                tracing::warn!(member = %self.member(), sequence = parked.message.sequence, "a parked delivery no longer verifies (its key revoked?); dropped");
                return Ok(Some("unverified".to_owned()));
            }
        };
        let delivery = Delivery {
            envelope,
            sequence: parked.message.sequence,
            attempt: parked.message.attempts + 1,
            stored_at: parked.message.stored_at()?,
        };
        match self.handle_delivery(&delivery).await {
            Ok(()) => Ok(None),
            Err(MinistryError::Refused(rule)) => Ok(Some(rule)),
            Err(e) => Err(e),
        }
    }

    /// Checks one delivery ([`crate::verify`]) and applies it to its case.
    /// A delivery that fails a check is refused back to its sender and
    /// counted, changes no case, and comes back as
    /// [`MinistryError::Refused`], for the delivery to be terminated.
    ///
    /// Its span carries the envelope's trace id (of its `traceparent`), as
    /// the gateway's decision of it does, so one message can be followed
    /// through every log.
    pub async fn handle_delivery(&self, delivery: &Delivery) -> Result<(), MinistryError> {
        use tracing::Instrument;
        let message = &delivery.envelope;
        let span = tracing::info_span!(
            "handle_delivery",
            member = %self.member(),
            msg_id = message.id(),
            r#type = message.message_type(),
            trace_id = message
                .traceparent()
                .and_then(homeward_core::envelope::trace_id)
                .unwrap_or(""),
            case = tracing::field::Empty,
        );
        // Before the span is entered: exported, it joins the sender's trace.
        if let Some(traceparent) = message.traceparent() {
            homeward_core::telemetry::follow_trace(&span, traceparent);
        }
        self.handle_in_span(delivery).instrument(span).await
    }

    async fn handle_in_span(&self, delivery: &Delivery) -> Result<(), MinistryError> {
        let message = &delivery.envelope;
        let result = match check_delivery(
            &self.client.policy(),
            &self.schemas,
            self.member(),
            message,
            delivery.stored_at,
            self.limits,
        ) {
            Err(refusal) => self.refuse_delivery(message, refusal).await,
            Ok(()) => self.apply(message, delivery.stored_at).await,
        };
        match &result {
            Ok(()) => {
                self.counters.processed(1);
                tracing::info!("delivery handled");
            }
            Err(MinistryError::Refused(_)) => self.counters.refused(1),
            Err(_) => self.counters.errors(1),
        }
        result
    }

    /// Answers a delivery that failed this service's own checks. A refusal
    /// or a processing receipt is not answered, so that two services never
    /// refuse each other's refusals.
    async fn refuse_delivery(
        &self,
        message: &Envelope,
        refusal: Refusal,
    ) -> Result<(), MinistryError> {
        let rule = refusal.rule.clone();
        tracing::warn!(%rule, sender = %message.sender(), "a delivery failed this service's own checks; refused, no case changed");
        if matches!(
            message.message_type(),
            types::CASE_REFUSED | types::MESSAGE_PROCESSED
        ) {
            let case_ref = case_ref_of(message).ok().flatten();
            let steps = [FeedEvent::of_delivery(
                self.member(),
                message,
                case_ref,
                Some(&rule),
                format_time(OffsetDateTime::now_utc()),
            )];
            self.log_delivery(message, &steps).await?;
        } else {
            self.send_refusal(message, refusal).await?;
        }
        *self
            .alarms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .refused_deliveries
            .entry(rule.clone())
            .or_default() += 1;
        Err(MinistryError::Refused(rule))
    }

    /// Applies one delivered message, which passed the checks, to its case.
    async fn apply(
        &self,
        message: &Envelope,
        stored_at: OffsetDateTime,
    ) -> Result<(), MinistryError> {
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
                return self.ignore_delivery(message, None).await;
            }
            Err(refusal) => return self.send_refusal(message, refusal).await,
        };
        for _ in 0..MAX_ATTEMPTS {
            let stored = self.store.get(case_ref).await?;
            let revision = stored.as_ref().map_or(0, |s| s.revision);
            if let Some(s) = &stored
                && s.case.processed.contains(&MessageKey::of(message))
            {
                // Already applied; finish sending whatever it caused.
                return self.flush_outbox(case_ref).await;
            }
            let ctx = Ctx {
                member: self.member(),
                now: OffsetDateTime::now_utc(),
            };
            let existing = stored.map(|s| s.case);
            // The timeline is the runtime's: a role's case carries the
            // stored one on, so that it only grows.
            let timeline = existing
                .as_ref()
                .map(|c| c.events.clone())
                .unwrap_or_default();
            let outcome = if message.message_type() == types::CASE_REFUSED {
                Ok(existing.clone().map(|mut c| {
                    c.refusals_received.push(message.data().clone());
                    Transition::quiet(c)
                }))
            } else {
                // A panic is a bug in the role: it fails this delivery,
                // which is retried and parked, not the delivery loop.
                let role = &self.role;
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    role.on_message(&ctx, existing.clone(), message)
                }))
                .map_err(|_| MinistryError::RolePanicked(message.message_type().to_owned()))?
            };
            let (mut next, outgoing, what, refused) = match outcome {
                Ok(Some(t)) => (t.case, t.outgoing, message.message_type().to_owned(), false),
                Ok(None) => match existing {
                    Some(c) => (c, Vec::new(), message.message_type().to_owned(), false),
                    None => {
                        tracing::debug!("no case and nothing to do");
                        return self.ignore_delivery(message, Some(case_ref)).await;
                    }
                },
                Err(refusal) => match existing {
                    Some(c) => {
                        let data = refusal_data(message, &refusal, Some(case_ref));
                        (
                            c,
                            vec![Outgoing::new(types::CASE_REFUSED, data)],
                            format!("refused:{}", refusal.rule),
                            true,
                        )
                    }
                    None => {
                        let age = OffsetDateTime::now_utc() - stored_at;
                        if refusal.rule == "unknown_case" && age < self.hold_unknown_case {
                            return Err(MinistryError::CaseNotYet(case_ref.to_owned()));
                        }
                        return self.send_refusal(message, refusal).await;
                    }
                },
            };
            next.processed.insert(MessageKey::of(message));
            next.events = timeline;
            let mut entry = Event::new(ctx.now_str(), what, next.stage);
            entry.message_id = Some(message.id().to_owned());
            entry.party = Some(message.sender().to_string());
            if refused {
                entry.message_type = Some(message.message_type().to_owned());
            }
            next.events.push(entry);
            let pending = self.sign_all(&ctx, case_ref, &outgoing, Some(message))?;
            match self.store_with_outbox(&mut next, pending, revision).await? {
                Write::Stored(_) => return self.flush_outbox(case_ref).await,
                Write::Conflict => continue,
            }
        }
        Err(MinistryError::Contention(case_ref.to_owned()))
    }

    /// Refuses a delivery that changes no case (about a case this member
    /// does not hold, or failing its own checks), and records the refusal
    /// and the answer in the event log.
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
        let mut steps = vec![FeedEvent::of_delivery(
            self.member(),
            message,
            case_ref,
            Some(&refusal.rule),
            ctx.now_str(),
        )];
        for p in &pending {
            // Sent again when the delivery comes again: a duplicate is the
            // first one.
            if self.submit_envelope(p).await?.duplicate {
                tracing::info!(msg_id = %p.id, "a refusal was already submitted");
            }
            steps.push(FeedEvent::sent(
                self.member(),
                &p.message_type,
                &p.id,
                self.recipients_of(p),
                case_ref,
                ctx.now_str(),
                steps.len(),
            ));
        }
        self.log_delivery(message, &steps).await
    }

    /// Records a delivery that changes nothing (it names no case this
    /// member holds, and asks for nothing) in the event log.
    async fn ignore_delivery(
        &self,
        message: &Envelope,
        case_ref: Option<&str>,
    ) -> Result<(), MinistryError> {
        let steps = [FeedEvent::of_delivery(
            self.member(),
            message,
            case_ref,
            None,
            format_time(OffsetDateTime::now_utc()),
        )];
        self.log_delivery(message, &steps).await
    }

    /// The members the policy in force routes an outgoing message to.
    fn recipients_of(&self, pending: &Pending) -> Vec<String> {
        let policy = self.client.policy();
        let data = pending.envelope.get("data").unwrap_or(&Value::Null);
        policy
            .route(&pending.message_type)
            .and_then(|route| policy.recipients(route, self.member(), data).ok())
            .map(|members| members.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
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
            let existing = stored.map(|s| s.case);
            let timeline = existing
                .as_ref()
                .map(|c| c.events.clone())
                .unwrap_or_default();
            let t = self.role.on_action(&ctx, existing, action, body)?;
            let mut next = t.case;
            next.events = timeline;
            next.events.push(Event::new(
                ctx.now_str(),
                format!("action:{action}"),
                next.stage,
            ));
            let pending = self.sign_all(&ctx, case_ref, &t.outgoing, None)?;
            let sent: Vec<Value> = pending
                .iter()
                .map(|p| json!({"id": p.id, "type": p.message_type}))
                .collect();
            match self.store_with_outbox(&mut next, pending, revision).await? {
                Write::Stored(rev) => {
                    let waiting = self.flush_or_wait(case_ref).await?;
                    return Ok(Applied {
                        case_ref: case_ref.to_owned(),
                        revision: rev,
                        sent,
                        waiting,
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
            // A new case: its timeline starts here.
            case.events = vec![Event::new(
                ctx.now_str(),
                format!("command:{command}"),
                case.stage,
            )];
            match self.store_with_outbox(&mut case, pending, 0).await? {
                Write::Stored(rev) => {
                    let waiting = self.flush_or_wait(&case_ref).await?;
                    applied.push(Applied {
                        case_ref,
                        revision: rev,
                        sent,
                        waiting,
                    });
                }
                Write::Conflict => {
                    tracing::info!(case = %case_ref, "case exists already; left as it is");
                }
            }
        }
        Ok(applied)
    }

    /// Submits a stored case's outbox; when the server cannot take it now
    /// (out of reach, or full), says why instead of failing: the case is
    /// stored, and [`Ministry::retry_unsent`] submits it again.
    async fn flush_or_wait(&self, case_ref: &str) -> Result<Option<Waiting>, MinistryError> {
        match self.flush_outbox(case_ref).await {
            Ok(()) => Ok(None),
            Err(e) if e.is_unreachable() => {
                let waiting = Waiting::of(&e);
                tracing::warn!(case = %case_ref, code = waiting.code, error = %e, "stored; its messages wait in the outbox");
                Ok(Some(waiting))
            }
            Err(e) => Err(e),
        }
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

    /// A view the role computes of one case ([`Role::case_view`]).
    pub async fn case_view(&self, case_ref: &str, view: &str) -> Result<Value, ActionError> {
        if !is_case_ref(case_ref) {
            return Err(ActionError::Invalid(format!(
                "{case_ref:?} is not a case reference"
            )));
        }
        let case = self.store.get(case_ref).await?.map(|s| s.case);
        let ctx = Ctx {
            member: self.member(),
            now: OffsetDateTime::now_utc(),
        };
        self.role.case_view(&ctx, view, case.as_ref())
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
                b = b.causationid(cause.id()).id(self.ids.derive(cause, i));
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
                held: false,
            });
        }
        Ok(out)
    }

    /// Writes `case` with `pending` added to its outbox, if nobody wrote it
    /// since `revision`. The new messages count as never submitted
    /// (`fresh`) from before the write, so that no flush running meanwhile
    /// can take a duplicate answer to them for its own.
    async fn store_with_outbox(
        &self,
        case: &mut Case,
        pending: Vec<Pending>,
        revision: u64,
    ) -> Result<Write, MinistryError> {
        let ids: Vec<String> = pending.iter().map(|p| p.id.clone()).collect();
        case.outbox.extend(pending);
        self.submissions().fresh.extend(ids.iter().cloned());
        let written = self.store.put(case, revision).await;
        if matches!(written, Ok(Write::Stored(_))) {
            self.log_case(case).await;
        } else {
            let mut submissions = self.submissions();
            for id in &ids {
                submissions.fresh.remove(id);
            }
        }
        written
    }

    async fn submit_envelope(
        &self,
        pending: &Pending,
    ) -> Result<async_nats::jetstream::publish::PublishAck, MinistryError> {
        let bytes = serde_json::to_vec(&pending.envelope)
            .map_err(|e| MinistryError::Corrupt(e.to_string()))?;
        self.within_quota().await;
        self.client
            .submit_bytes(&pending.id, bytes)
            .await
            .map_err(MinistryError::nats)
    }

    /// Waits until this member's quota in the policy in force has room for
    /// one more submission. Submissions queue here in turn.
    async fn within_quota(&self) {
        let seconds = || OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9;
        let mut pacer = self.pacer.lock().await;
        loop {
            let policy = self.client.policy();
            let Some(quota) = policy.member(self.member()).map(|m| m.quota) else {
                return;
            };
            let now = seconds();
            let bucket =
                pacer.get_or_insert_with(|| homeward_core::quota::Bucket::full(&quota, now));
            if bucket.take(&quota, now) {
                return;
            }
            // Room for one comes in a token's time.
            let wait = 1.0 / f64::from(quota.submissions_per_second.max(1));
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }

    /// Submits one outbox message, telling a duplicate of this service's
    /// own earlier submission from a duplicate of someone else's.
    async fn submit(&self, case_ref: &str, pending: &Pending) -> Result<Submitted, MinistryError> {
        // Never submitted before this call: a duplicate answer can only be
        // someone else's. Once tried, it may have been stored even if the
        // answer was lost.
        let first = {
            let mut submissions = self.submissions();
            if !submissions.in_flight.insert(pending.id.clone()) {
                return Ok(Submitted::Busy);
            }
            submissions.fresh.remove(&pending.id)
        };
        let sent = self.submit_envelope(pending).await;
        // Judged under the same lock that ends the flight, so that no other
        // flush takes a duplicate answer for this service's own meanwhile.
        let mut submissions = self.submissions();
        submissions.in_flight.remove(&pending.id);
        let ack = sent?;
        if !ack.duplicate {
            submissions.held.remove(&pending.id);
            self.metrics
                .submitted(self.member().as_str(), &pending.message_type);
            tracing::info!(msg_id = %pending.id, r#type = %pending.message_type, "submitted");
            return Ok(Submitted::Stored);
        }
        let known = pending.held || submissions.held.contains(&pending.id);
        if !first && !known {
            tracing::debug!(msg_id = %pending.id, "a resend was a duplicate of this service's own submission");
            return Ok(Submitted::Stored);
        }
        if !known {
            submissions.held.insert(pending.id.clone());
            drop(submissions);
            self.alarms
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .foreign_duplicates += 1;
            tracing::error!(
                member = %self.member(),
                case = %case_ref,
                msg_id = %pending.id,
                r#type = %pending.message_type,
                sequence = ack.sequence,
                "JetStream took an outgoing message for a duplicate of a submission this service never made; it stays in the outbox"
            );
        }
        Ok(Submitted::Held)
    }

    /// Submits a case's outbox and takes out what JetStream stored; a
    /// message held as someone else's duplicate stays, marked `held`, and
    /// one another flush is submitting stays for that flush.
    async fn flush_outbox(&self, case_ref: &str) -> Result<(), MinistryError> {
        for _ in 0..MAX_ATTEMPTS {
            let Some(stored) = self.store.get(case_ref).await? else {
                return Ok(());
            };
            if stored.case.outbox.is_empty() {
                let mut submissions = self.submissions();
                submissions.held_cases.remove(case_ref);
                submissions.unsent_cases.remove(case_ref);
                return Ok(());
            }
            let mut held = BTreeSet::new();
            let mut busy = BTreeSet::new();
            for p in &stored.case.outbox {
                let submitted = match self.submit(case_ref, p).await {
                    Ok(submitted) => submitted,
                    Err(e) => {
                        // The case is stored with its outbox; a task
                        // submits it again ([`Ministry::retry_unsent`]).
                        self.submissions().unsent_cases.insert(case_ref.to_owned());
                        return Err(e);
                    }
                };
                match submitted {
                    Submitted::Stored => {}
                    Submitted::Held => {
                        held.insert(p.id.clone());
                    }
                    Submitted::Busy => {
                        busy.insert(p.id.clone());
                    }
                }
            }
            let mut next = stored.case.clone();
            let now = format_time(OffsetDateTime::now_utc());
            for mut p in std::mem::take(&mut next.outbox) {
                if held.contains(&p.id) {
                    if !p.held {
                        let mut entry =
                            Event::new(now.clone(), format!("held:{}", p.message_type), next.stage);
                        entry.message_id = Some(p.id.clone());
                        next.events.push(entry);
                    }
                    p.held = true;
                    next.outbox.push(p);
                } else if busy.contains(&p.id) {
                    next.outbox.push(p);
                } else {
                    let mut entry =
                        Event::new(now.clone(), format!("sent:{}", p.message_type), next.stage);
                    entry.recipients = self.recipients_of(&p);
                    entry.message_id = Some(p.id);
                    next.events.push(entry);
                }
            }
            let written = if next == stored.case {
                Write::Stored(stored.revision)
            } else {
                let written = self.store.put(&next, stored.revision).await?;
                if matches!(written, Write::Stored(_)) {
                    self.log_case(&next).await;
                }
                written
            };
            match written {
                Write::Stored(_) => {
                    let mut submissions = self.submissions();
                    submissions.unsent_cases.remove(case_ref);
                    if held.is_empty() {
                        submissions.held_cases.remove(case_ref);
                    } else {
                        submissions.held_cases.insert(case_ref.to_owned());
                    }
                    return Ok(());
                }
                Write::Conflict => continue,
            }
        }
        Err(MinistryError::Contention(case_ref.to_owned()))
    }

    /// When messages refused "for now" are sent again.
    pub fn resend_after(&self) -> ResendAfter {
        self.resend_after
    }

    /// Sends again `refused`, a message of this member's that the gateway
    /// refused for now ([`ResendAfter`]): signed anew at the present time,
    /// under an id derived from the refused one, written into its case's
    /// outbox on the condition that nobody wrote the case in between, then
    /// submitted like any outgoing message. A second call for the same
    /// refusal (a crash before its copy was acked) finds the resend in the
    /// outbox or sent, and changes nothing: each message is sent again at
    /// most once, and a resend refused in turn is a message of its own.
    ///
    /// Only this member's own message is sent again: signed by its key,
    /// about a case it holds, and no older than `pause` (what its refusal
    /// called for) plus [`RESEND_WITHIN`]; anything else is
    /// [`Resent::Declined`].
    pub async fn resend(
        &self,
        refused: &Envelope,
        pause: Duration,
    ) -> Result<Resent, MinistryError> {
        let mine = refused.sender() == self.member()
            && refused.sigkey() == self.client.key().public().as_str()
            && refused.verify_signature().is_ok();
        if !mine {
            return Ok(Resent::Declined(format!(
                "{} is not signed by this member's key",
                refused.id()
            )));
        }
        let age = OffsetDateTime::now_utc() - refused.time();
        if age > pause + RESEND_WITHIN {
            return Ok(Resent::Declined(format!(
                "{} is {} s old, older than a refusal for now can be",
                refused.id(),
                age.whole_seconds()
            )));
        }
        let Some(case_ref) = refused.subject().filter(|s| is_case_ref(s)) else {
            return Ok(Resent::Declined(format!("{} names no case", refused.id())));
        };
        let id = self.ids.derive(refused, RESEND_INDEX);
        let mut b = EnvelopeBuilder::new(
            refused.message_type(),
            refused.dataschema(),
            refused.data().clone(),
        )
        .time(OffsetDateTime::now_utc())
        .subject(case_ref)
        .id(id.clone());
        if let Some(cause) = refused.causationid() {
            b = b.causationid(cause);
        }
        if let Some(tp) = refused.traceparent() {
            b = b.traceparent(tp);
        }
        let envelope = self
            .client
            .sign(b)
            .map_err(|e| MinistryError::Invalid(e.to_string()))?;
        let pending = Pending {
            id: id.clone(),
            message_type: refused.message_type().to_owned(),
            envelope: envelope.to_value(),
            held: false,
        };
        for _ in 0..MAX_ATTEMPTS {
            let Some(stored) = self.store.get(case_ref).await? else {
                return Ok(Resent::Declined(format!(
                    "{} is about {case_ref}, which this service does not hold",
                    refused.id()
                )));
            };
            let known = stored.case.outbox.iter().any(|p| p.id == id)
                || stored
                    .case
                    .events
                    .iter()
                    .any(|e| e.message_id.as_deref() == Some(id.as_str()));
            let written = if known {
                Write::Stored(stored.revision)
            } else {
                let mut next = stored.case.clone();
                self.store_with_outbox(&mut next, vec![pending.clone()], stored.revision)
                    .await?
            };
            match written {
                Write::Stored(_) => {
                    tracing::info!(
                        member = %self.member(),
                        case = %case_ref,
                        refused = refused.id(),
                        msg_id = %id,
                        r#type = refused.message_type(),
                        "a message the gateway refused for now is sent again"
                    );
                    // Stored with its case: what is not submitted now is
                    // submitted again by `retry_unsent`.
                    if let Err(e) = self.flush_outbox(case_ref).await {
                        tracing::warn!(case = %case_ref, error = %e, "the resend waits in the outbox");
                    }
                    return Ok(Resent::Sent(id));
                }
                Write::Conflict => continue,
            }
        }
        Err(MinistryError::Contention(case_ref.to_owned()))
    }

    /// What a start finishes of what the last run left: every outbox is
    /// submitted, and every timeline step the event log lacks (a crash
    /// between a case's write and the append) is appended, before the
    /// service serves anything. A case whose steps cannot be appended now
    /// is left to [`Ministry::retry_events`], rather than keeping the
    /// service from starting.
    async fn recover(&self) -> Result<(), MinistryError> {
        for key in self.store.keys().await? {
            self.flush_outbox(&key).await?;
            if let Some(stored) = self.store.get(&key).await? {
                self.log_case(&stored.case).await;
            }
        }
        Ok(())
    }
}

/// Takes a sequence out of its case's parked ones.
fn forget_parked(
    parking: &mut BTreeMap<String, BTreeSet<u64>>,
    case_ref: Option<&str>,
    sequence: u64,
) {
    if let Some(case_ref) = case_ref
        && let Some(parked) = parking.get_mut(case_ref)
    {
        parked.remove(&sequence);
        if parked.is_empty() {
            parking.remove(case_ref);
        }
    }
}

/// The schema version Homeward's services write: the one their code was
/// written for. Not "the newest": publishing a version 2 of a type must not
/// switch every sender to it, since a recipient reads only the versions the
/// policy lists for it, and the gateway refuses the rest (`version_not_read`).
pub(crate) const WRITTEN_VERSION: u32 = 1;

/// The `$id` of the schema an outgoing message is written in
/// ([`WRITTEN_VERSION`]), once its data is valid against it; else what is
/// wrong.
pub(crate) fn checked_schema(
    schemas: &SchemaRegistry,
    o: &Outgoing,
    case_ref: &str,
) -> Result<String, String> {
    let schema = homeward_core::schema::message_schema_id(&o.message_type, WRITTEN_VERSION);
    if schemas.document(&schema).is_none() {
        return Err(format!("no schema for {}", o.message_type));
    }
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

/// The secret a member derives the ids of caused messages with.
///
/// It is the HMAC-SHA256 key `SHA-256("homeward derived ids" || seed)`, the
/// seed being the member's signing seed (its nkeys text): so no key
/// material needs distributing, only the member can compute its ids, and
/// the domain string keeps this use of the seed apart from signing. A new
/// signing key gives new ids; a transition already written keeps the ids
/// its outbox holds.
#[derive(Clone)]
pub struct IdKey(Hmac<Sha256>);

impl std::fmt::Debug for IdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdKey(…)")
    }
}

impl IdKey {
    /// The id key of the member whose signing key `key` is.
    pub fn of(key: &SigningKey) -> Self {
        let secret = Sha256::new()
            .chain_update(b"homeward derived ids")
            .chain_update(key.seed().as_bytes())
            .finalize();
        Self(Hmac::new_from_slice(&secret).expect("HMAC takes a key of any length"))
    }

    /// The id of the `index`th message `cause` makes this member send: a
    /// ULID with the cause's time and 80 bits of HMAC over the cause's
    /// sender and id and the index. The same inputs give the same id, so a
    /// retried transition is deduplicated; without the key nobody can
    /// compute it, so nobody can take it first.
    pub fn derive(&self, cause: &Envelope, index: usize) -> String {
        let time_ms = ulid::Ulid::from_string(cause.id()).map_or(0, |u| u.timestamp_ms());
        let mut mac = self.0.clone();
        mac.update(format!("{}/{}/{index}", cause.sender(), cause.id()).as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut random = [0u8; 16];
        random[6..].copy_from_slice(&tag[..10]);
        ulid::Ulid::from_parts(time_ms, u128::from_be_bytes(random)).to_string()
    }
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
    fn derived_ids_take_the_members_secret_and_the_causes_sender() {
        let cause = message(
            "aanes.camps",
            types::CAMP_RESIDENT_LOCATED,
            crate::test_support::located("KZ"),
        );
        let key = SigningKey::generate();
        let ids = IdKey::of(&key);
        let id = ids.derive(&cause, 0);
        // A retry derives the same id, a valid ULID at the cause's time.
        let again = SigningKey::from_seed(&key.seed()).expect("the same key");
        assert_eq!(IdKey::of(&again).derive(&cause, 0), id);
        let ulid = ulid::Ulid::from_string(&id).expect("a ULID");
        let cause_ulid = ulid::Ulid::from_string(cause.id()).expect("a ULID");
        assert_eq!(ulid.timestamp_ms(), cause_ulid.timestamp_ms());
        assert_ne!(ids.derive(&cause, 1), id);
        // Another member, or whoever lacks the secret, gets another id.
        assert_ne!(IdKey::of(&SigningKey::generate()).derive(&cause, 0), id);
        // Another sender's message with the same id is another cause.
        let same_id = EnvelopeBuilder::new(
            types::CAMP_RESIDENT_LOCATED,
            cause.dataschema(),
            cause.data().clone(),
        )
        .id(cause.id())
        .time(NOW)
        .subject(CASE)
        .sign(&member("iq.justice"), &SigningKey::generate())
        .expect("signs");
        assert_ne!(ids.derive(&same_id, 0), id);
        assert!(!format!("{ids:?}").contains(&key.seed()[2..10]));
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
