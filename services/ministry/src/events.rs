//! The event feed of a member's service (`GET /events`, server-sent
//! events): every change to its cases and every message it received or
//! sent, as references only, in one order that survives a restart.
//!
//! # Where the events live, and why
//!
//! In the member's own event log: a stream in its own NATS account
//! (`HW_EVENTS_<member>`, [`homeward_core::streams::event_log_config`]),
//! beside its case bucket, provisioned by the administrator. An event's id
//! is its sequence in that stream: the server assigns it, it only grows,
//! and it outlives every process. The feed reads the stream by direct get
//! from a position (`next_by_subj`), one event at a time as the client
//! takes them: no consumer (members may make none), nothing queued in the
//! service's memory, and a slow client falls behind on the stream, not in
//! RAM.
//!
//! The source of truth is each case's own timeline ([`Case::events`]),
//! written in the same conditional write as the change it records, so a
//! change and its entry are stored together or not at all. The log is the
//! timelines' projection, appended after the write, never before: so no
//! event names a change that was not stored (an event written first could
//! describe a change that then lost its write to another). Entry `i` of
//! case `C` goes to the subject `hw.events.<member>.case.C` with
//! `Nats-Expected-Last-Subject-Sequence` set to the sequence of entry
//! `i - 1` there: the server stores it only after exactly that entry, so
//! whoever appends it (two writers of one case, a retry, a restart), it is
//! stored once and in order. The timeline only grows, and only the runtime
//! writes it, so the last event of a case in the log says which entries
//! follow.
//!
//! A crash (or a failed append) between the write and the append leaves a
//! stored change without its event. It is repaired: every writer of a case
//! appends whatever its timeline holds that the log lacks, not only its
//! own entry; a failed append marks the case, and a task appends again
//! every [`EVENTS_RETRY`]; and a service appends what is missing for every
//! case when it starts, before it serves anything
//! ([`crate::runtime::Ministry::start`]). So no stored change stays
//! without its event past a restart, unless the log cannot be written at
//! all; then the case is marked, retried, and warned about, and the
//! service runs on. Shown by `tests/events/feed.rs`
//! `a_change_stored_without_its_event_gets_it_when_the_service_starts_and_only_once`.
//!
//! Why not derive the feed from the case bucket's history instead: the
//! bucket keeps a few revisions per case, each a whole copy of the case
//! with its outbox, signed messages with names in them. A feed read from
//! it would lose the revisions a slow client had not read yet, and keeping
//! more of them would keep more personal data.
//!
//! A delivery that changes no case (refused by this service's own checks,
//! about a case this member does not hold, or asking for nothing) is a
//! timeline of its own, `hw.events.<member>.delivery.<key>` (the key a
//! digest of its sender and id), appended the same way before the delivery
//! is acknowledged: a crash before that redelivers it, and the subject
//! sequence check stores nothing twice.
//!
//! # Retention
//!
//! The log has no age limit: it is the projection of the timelines, which
//! are kept as long as the cases. It shares the account's storage limit
//! with the case bucket. Should the administrator purge it, the next start
//! appends every case's timeline again, after the last id there was.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind, stream::DirectGetErrorKind};
use futures::Stream;
use homeward_core::envelope::{Envelope, is_case_ref};
use homeward_core::{MemberId, streams};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::MinistryError;
use crate::case::{Case, Stage, Step};

/// How often a case whose events could not be appended is tried again.
pub const EVENTS_RETRY: Duration = Duration::from_secs(5);

/// How often a follower with nothing to send looks at the log, besides
/// being woken by every append this process makes: for what another
/// process appended.
const FOLLOW_POLL: Duration = Duration::from_secs(2);

/// How often a client caught up on the feed gets a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How many times an append is tried again after another writer of the
/// same timeline appended first.
const MAX_ATTEMPTS: usize = 50;

/// What an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// A delivered message was applied to a case.
    #[serde(rename = "message.received")]
    MessageReceived,
    /// A delivered message was refused: by a rule of the case flow (the
    /// case records it), or by this service's own checks, or because it is
    /// about a case this member does not hold (no case changed).
    #[serde(rename = "message.refused")]
    MessageRefused,
    /// A delivered message changed nothing: it named no case this member
    /// holds and asked for nothing.
    #[serde(rename = "message.ignored")]
    MessageIgnored,
    /// A message this member signed was stored by JetStream: submitted.
    #[serde(rename = "message.sent")]
    MessageSent,
    /// A message this member signed was taken for a duplicate of someone
    /// else's submission; it stays in the outbox until it is stored.
    #[serde(rename = "message.held")]
    MessageHeld,
    /// An API action changed a case.
    #[serde(rename = "case.action")]
    CaseAction,
    /// An API command opened a case.
    #[serde(rename = "case.command")]
    CaseCommand,
}

impl Kind {
    /// The name of the kind, as the SSE `event:` line and `kind` give it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::MessageReceived => "message.received",
            Kind::MessageRefused => "message.refused",
            Kind::MessageIgnored => "message.ignored",
            Kind::MessageSent => "message.sent",
            Kind::MessageHeld => "message.held",
            Kind::CaseAction => "case.action",
            Kind::CaseCommand => "case.command",
        }
    }
}

/// One event as the log stores it: references only, never a name, a
/// birth date or any value from a message's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedEvent {
    pub kind: Kind,
    /// When the step was taken, RFC 3339 UTC.
    pub time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_ref: Option<String>,
    /// The position of the step in its timeline: the case's, or the
    /// delivery's for one that changed no case.
    pub index: usize,
    /// The case's stage once the step was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    /// The rule a refusal names (a stable code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

impl FeedEvent {
    fn new(kind: Kind, time: String, index: usize) -> Self {
        Self {
            kind,
            time,
            case_ref: None,
            index,
            stage: None,
            message_type: None,
            message_id: None,
            sender: None,
            recipients: Vec::new(),
            rule: None,
            action: None,
            command: None,
        }
    }

    /// The event of entry `index` of `case`'s timeline, kept by `member`.
    pub fn of_entry(member: &MemberId, case: &Case, index: usize) -> Option<Self> {
        let entry = case.events.get(index)?;
        let me = member.to_string();
        let (kind, message_type) = match entry.step() {
            Step::Received(t) => (Kind::MessageReceived, Some(t)),
            Step::Refused(_) => (Kind::MessageRefused, entry.message_type.as_deref()),
            Step::Sent(t) => (Kind::MessageSent, Some(t)),
            Step::Held(t) => (Kind::MessageHeld, Some(t)),
            Step::Action(_) => (Kind::CaseAction, None),
            Step::Command(_) => (Kind::CaseCommand, None),
        };
        let mut event = Self::new(kind, entry.time.clone(), index);
        event.case_ref = Some(case.case_ref.clone());
        event.stage = entry.stage;
        event.message_type = message_type.map(str::to_owned);
        event.message_id.clone_from(&entry.message_id);
        match entry.step() {
            Step::Received(_) | Step::Refused(_) => {
                event.sender.clone_from(&entry.party);
                event.recipients = vec![me];
            }
            Step::Sent(_) | Step::Held(_) => {
                event.sender = Some(me);
                event.recipients.clone_from(&entry.recipients);
            }
            Step::Action(_) | Step::Command(_) => {}
        }
        match entry.step() {
            Step::Refused(rule) => event.rule = Some(rule.to_owned()),
            Step::Action(action) => event.action = Some(action.to_owned()),
            Step::Command(command) => event.command = Some(command.to_owned()),
            _ => {}
        }
        Some(event)
    }

    /// The event of a delivered message that changed no case: refused (by
    /// `rule`) or, without a rule, ignored.
    pub fn of_delivery(
        member: &MemberId,
        message: &Envelope,
        case_ref: Option<&str>,
        rule: Option<&str>,
        time: String,
    ) -> Self {
        let kind = if rule.is_some() {
            Kind::MessageRefused
        } else {
            Kind::MessageIgnored
        };
        let mut event = Self::new(kind, time, 0);
        event.case_ref = case_ref.filter(|c| is_case_ref(c)).map(str::to_owned);
        event.message_type = Some(message.message_type().to_owned());
        event.message_id = Some(message.id().to_owned());
        event.sender = Some(message.sender().to_string());
        event.recipients = vec![member.to_string()];
        event.rule = rule.map(str::to_owned);
        event
    }

    /// The event of a message this member sent without a case's outbox
    /// (the refusal of a delivery that changed no case), as step `index`.
    pub fn sent(
        member: &MemberId,
        message_type: &str,
        message_id: &str,
        recipients: Vec<String>,
        case_ref: Option<&str>,
        time: String,
        index: usize,
    ) -> Self {
        let mut event = Self::new(Kind::MessageSent, time, index);
        event.case_ref = case_ref.filter(|c| is_case_ref(c)).map(str::to_owned);
        event.message_type = Some(message_type.to_owned());
        event.message_id = Some(message_id.to_owned());
        event.sender = Some(member.to_string());
        event.recipients = recipients;
        event
    }
}

/// An event read from the log, with its id: what a client receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Logged {
    /// The event's sequence in the log: the SSE `id:`.
    pub id: u64,
    #[serde(flatten)]
    pub event: FeedEvent,
}

/// The ids the log holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The oldest event kept (0 when the log was never written).
    pub first: u64,
    /// The newest id ever given (0 when none was).
    pub last: u64,
}

/// A member's event log.
#[derive(Debug, Clone)]
pub struct EventLog {
    member: MemberId,
    js: jetstream::Context,
    stream: jetstream::stream::Stream<()>,
    /// The last sequence this process appended, for followers to wake on.
    appended: Arc<watch::Sender<u64>>,
    /// Per timeline subject, the sequence and index of its last event, as
    /// this process last appended or read them: saves a read per append.
    /// Only a hint: the subject sequence check decides.
    tails: Arc<Mutex<HashMap<String, Tail>>>,
}

#[derive(Debug, Clone, Copy)]
struct Tail {
    sequence: u64,
    /// How many steps of the timeline the log holds.
    steps: usize,
}

impl EventLog {
    /// Opens the member's event log, in its own account, which the
    /// administrator provisioned; a missing log is told apart from any
    /// other failure.
    pub async fn open(js: &jetstream::Context, member: &MemberId) -> Result<Self, MinistryError> {
        let name = streams::event_log(member);
        if !streams::exists(js, &name).await? {
            return Err(homeward_core::Error::NotProvisioned(format!(
                "event log {name} of {member}"
            ))
            .into());
        }
        let stream = js
            .get_stream_no_info(&name)
            .await
            .map_err(|e| MinistryError::Nats(format!("event log {name}: {e}")))?;
        let (appended, _) = watch::channel(0);
        Ok(Self {
            member: member.clone(),
            js: js.clone(),
            stream,
            appended: Arc::new(appended),
            tails: Arc::default(),
        })
    }

    fn prefix(&self) -> String {
        format!("hw.events.{}", self.member)
    }

    fn case_subject(&self, case_ref: &str) -> String {
        if is_case_ref(case_ref) {
            format!("{}.case.{case_ref}", self.prefix())
        } else {
            // Not a subject token the log can name a case by: its digest.
            format!("{}.case.{}", self.prefix(), digest(case_ref))
        }
    }

    /// Appends the steps of `case`'s timeline that the log does not hold
    /// yet, in order, each once.
    pub async fn append_case(&self, case: &Case) -> Result<(), MinistryError> {
        let subject = self.case_subject(&case.case_ref);
        self.append(&subject, case.events.len(), |i| {
            FeedEvent::of_entry(&self.member, case, i)
        })
        .await
    }

    /// Appends the timeline of a delivery that changed no case: `steps`,
    /// indexed from 0, each once, whoever appended some before.
    pub async fn append_delivery(
        &self,
        message: &Envelope,
        steps: &[FeedEvent],
    ) -> Result<(), MinistryError> {
        let key = digest(&format!("{}/{}", message.sender(), message.id()));
        let subject = format!("{}.delivery.{key}", self.prefix());
        self.append(&subject, steps.len(), |i| steps.get(i).cloned())
            .await
    }

    /// Appends steps `n..len` of the timeline on `subject`, where `n` is
    /// how many the log holds; `step(i)` is step `i`.
    async fn append(
        &self,
        subject: &str,
        len: usize,
        step: impl Fn(usize) -> Option<FeedEvent>,
    ) -> Result<(), MinistryError> {
        'attempt: for _ in 0..MAX_ATTEMPTS {
            let mut tail = match self.cached_tail(subject) {
                Some(t) => t,
                None => self.read_tail(subject).await?,
            };
            while tail.steps < len {
                let Some(mut event) = step(tail.steps) else {
                    break;
                };
                event.index = tail.steps;
                let payload = serde_json::to_vec(&event)
                    .map_err(|e| MinistryError::Corrupt(e.to_string()))?;
                let publish = jetstream::message::PublishMessage::build()
                    .payload(payload.into())
                    .expected_last_subject_sequence(tail.sequence);
                let stored = match self.js.send_publish(subject.to_owned(), publish).await {
                    Ok(ack) => ack.await,
                    Err(e) => Err(e),
                };
                match stored {
                    Ok(ack) => {
                        tail = Tail {
                            sequence: ack.sequence,
                            steps: tail.steps + 1,
                        };
                        self.remember(subject, tail);
                        self.appended.send_replace(ack.sequence);
                    }
                    Err(e)
                        if e.kind() == PublishErrorKind::WrongLastSequence
                            || streams::is_wrong_last_sequence(&e) =>
                    {
                        // Someone appended to this timeline first: read
                        // where it stands now.
                        self.forget(subject);
                        continue 'attempt;
                    }
                    Err(e) => {
                        self.forget(subject);
                        return Err(MinistryError::Nats(format!(
                            "appending to the event log of {}: {e}",
                            self.member
                        )));
                    }
                }
            }
            return Ok(());
        }
        Err(MinistryError::Contention(subject.to_owned()))
    }

    fn tails(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tail>> {
        self.tails.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cached_tail(&self, subject: &str) -> Option<Tail> {
        self.tails().get(subject).copied()
    }

    fn remember(&self, subject: &str, tail: Tail) {
        self.tails().insert(subject.to_owned(), tail);
    }

    fn forget(&self, subject: &str) {
        self.tails().remove(subject);
    }

    /// Where the timeline on `subject` stands in the log.
    async fn read_tail(&self, subject: &str) -> Result<Tail, MinistryError> {
        match self.stream.direct_get_last_for_subject(subject).await {
            Ok(last) => {
                let event: FeedEvent = serde_json::from_slice(&last.payload).map_err(|e| {
                    MinistryError::Corrupt(format!(
                        "event {} in the event log of {}: {e}",
                        last.sequence, self.member
                    ))
                })?;
                Ok(Tail {
                    sequence: last.sequence,
                    steps: event.index + 1,
                })
            }
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(Tail {
                sequence: 0,
                steps: 0,
            }),
            Err(e) => Err(MinistryError::Nats(format!(
                "reading the event log of {}: {e}",
                self.member
            ))),
        }
    }

    /// The ids the log holds now.
    pub async fn bounds(&self) -> Result<Bounds, MinistryError> {
        let info =
            self.stream.get_info().await.map_err(|e| {
                MinistryError::Nats(format!("the event log of {}: {e}", self.member))
            })?;
        Ok(Bounds {
            first: info.state.first_sequence,
            last: info.state.last_sequence,
        })
    }

    /// The first event after id `after`, if there is one yet. A message in
    /// the log that is not an event (nobody but this member can write
    /// there) is skipped, with a warning.
    pub async fn next_after(&self, mut after: u64) -> Result<Option<Logged>, MinistryError> {
        let all = format!("{}.>", self.prefix());
        loop {
            let found = self
                .stream
                .direct_get_next_for_subject(all.clone(), Some(after.saturating_add(1)))
                .await;
            let message = match found {
                Ok(m) => m,
                Err(e) if e.kind() == DirectGetErrorKind::NotFound => return Ok(None),
                Err(e) => {
                    return Err(MinistryError::Nats(format!(
                        "reading the event log of {}: {e}",
                        self.member
                    )));
                }
            };
            match serde_json::from_slice::<FeedEvent>(&message.payload) {
                Ok(event) => {
                    return Ok(Some(Logged {
                        id: message.sequence,
                        event,
                    }));
                }
                Err(e) => {
                    tracing::warn!(member = %self.member, sequence = message.sequence, error = %e, "a message in the event log is not an event; skipped");
                    after = message.sequence;
                }
            }
        }
    }

    /// The events after id `after`, as a client takes them: each is read
    /// from the log only when the one before has been taken, so a slow
    /// client holds one event in memory, never a queue. Caught up, it waits
    /// for the next append. It ends at `stop`, or on a failure to read (the
    /// client resumes with the last id it received).
    pub fn follow(
        &self,
        after: u64,
        stop: CancellationToken,
    ) -> impl Stream<Item = Logged> + Send + 'static {
        struct Follower {
            log: EventLog,
            after: u64,
            appended: watch::Receiver<u64>,
            stop: CancellationToken,
        }
        let follower = Follower {
            log: self.clone(),
            after,
            appended: self.appended.subscribe(),
            stop,
        };
        futures::stream::unfold(follower, |mut f| async move {
            loop {
                if f.stop.is_cancelled() {
                    return None;
                }
                // Marked seen before reading, so an append after the read
                // wakes the wait below.
                f.appended.borrow_and_update();
                match f.log.next_after(f.after).await {
                    Ok(Some(logged)) => {
                        f.after = logged.id;
                        return Some((logged, f));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(member = %f.log.member, after = f.after, error = %e, "the event feed ends; the client resumes from its last id");
                        return None;
                    }
                }
                tokio::select! {
                    _ = f.stop.cancelled() => return None,
                    _ = f.appended.changed() => {}
                    _ = tokio::time::sleep(FOLLOW_POLL) => {}
                }
            }
        })
    }
}

/// A subject token for what is not one: 32 hex digits of its SHA-256.
fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::case::Event;
    use crate::test_support::{CASE, member};

    fn entry(what: &str, stage: Stage) -> Event {
        Event::new("2019-05-07T10:00:00Z".into(), what.into(), stage)
    }

    #[test]
    fn every_step_of_a_timeline_is_an_event_of_its_kind_with_references_only() {
        let mfa = member("kz.mfa");
        let mut case = Case::new(CASE, Stage::VerificationRequested);
        let mut received = entry("camp.resident.located", Stage::VerificationRequested);
        received.message_id = Some("01J00000000000000000000001".into());
        received.party = Some("aanes.camps".into());
        let mut sent = entry("sent:identity.verification.requested", Stage::Verified);
        sent.message_id = Some("01J00000000000000000000002".into());
        sent.recipients = vec!["kz.security".into()];
        let mut refused = entry("refused:not_the_camp_authority", Stage::Verified);
        refused.message_type = Some("repatriation.decided".into());
        refused.party = Some("iq.justice".into());
        let held = entry("held:repatriation.requested", Stage::Requested);
        let action = entry("action:request-repatriation", Stage::Requested);
        let command = entry("command:census", Stage::Located);
        case.events = vec![received, sent, refused, held, action, command];

        let events: Vec<serde_json::Value> = (0..case.events.len())
            .map(|i| {
                serde_json::to_value(FeedEvent::of_entry(&mfa, &case, i).expect("an entry"))
                    .expect("json")
            })
            .collect();
        assert_eq!(
            events,
            [
                json!({"kind": "message.received", "time": "2019-05-07T10:00:00Z", "caseRef": CASE,
                       "index": 0, "stage": "verification-requested", "messageType": "camp.resident.located",
                       "messageId": "01J00000000000000000000001", "sender": "aanes.camps", "recipients": ["kz.mfa"]}),
                json!({"kind": "message.sent", "time": "2019-05-07T10:00:00Z", "caseRef": CASE,
                       "index": 1, "stage": "verified", "messageType": "identity.verification.requested",
                       "messageId": "01J00000000000000000000002", "sender": "kz.mfa", "recipients": ["kz.security"]}),
                json!({"kind": "message.refused", "time": "2019-05-07T10:00:00Z", "caseRef": CASE,
                       "index": 2, "stage": "verified", "messageType": "repatriation.decided",
                       "sender": "iq.justice", "recipients": ["kz.mfa"], "rule": "not_the_camp_authority"}),
                json!({"kind": "message.held", "time": "2019-05-07T10:00:00Z", "caseRef": CASE,
                       "index": 3, "stage": "requested", "messageType": "repatriation.requested", "sender": "kz.mfa"}),
                json!({"kind": "case.action", "time": "2019-05-07T10:00:00Z", "caseRef": CASE,
                       "index": 4, "stage": "requested", "action": "request-repatriation"}),
                json!({"kind": "case.command", "time": "2019-05-07T10:00:00Z", "caseRef": CASE,
                       "index": 5, "stage": "located", "command": "census"}),
            ]
        );
        assert!(FeedEvent::of_entry(&mfa, &case, 6).is_none());
        for (event, kind) in events.iter().zip([
            Kind::MessageReceived,
            Kind::MessageSent,
            Kind::MessageRefused,
            Kind::MessageHeld,
            Kind::CaseAction,
            Kind::CaseCommand,
        ]) {
            assert_eq!(event["kind"], kind.as_str());
            let back: FeedEvent = serde_json::from_value(event.clone()).expect("parses back");
            assert_eq!(back.kind, kind);
        }
    }

    #[test]
    fn an_entry_written_before_stages_were_recorded_has_no_stage() {
        let stored = json!({"time": "2019-05-07T10:00:00Z", "what": "action:verify",
                            "messageId": null, "party": null});
        let old: Event = serde_json::from_value(stored).expect("an old entry loads");
        let mut case = Case::new(CASE, Stage::Verified);
        case.events.push(old);
        let event = FeedEvent::of_entry(&member("kz.security"), &case, 0).expect("an entry");
        assert_eq!(event.stage, None);
        assert_eq!(event.action.as_deref(), Some("verify"));
    }

    #[test]
    fn a_delivery_key_is_a_subject_token() {
        let key = digest("kz.security/01J0000000 not a.token>*");
        assert_eq!(key.len(), 32);
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
