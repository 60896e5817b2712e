//! What the console knows, folded from the audit records as they arrive:
//! flows between members, the recent rejections, each case's decisions and
//! the stage it waits at, and the audit chain's state.
//!
//! Everything here is bounded, whatever the traffic: flows are keyed by
//! (sender, recipient, type), which the policy bounds; the rejections kept
//! are the last [`Limits::rejections`]; cases are capped at
//! [`Limits::cases`], the ones untouched longest dropped first, and each
//! keeps at most [`Limits::decisions_per_case`] audit sequences (the
//! timeline reads the records themselves back from `HW_AUDIT`). Nothing in
//! it is a message's content: an audit record holds references, codes and
//! hashes only.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use homeward_core::audit::{AuditRecord, GENESIS};
use homeward_core::receipt::Reason;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// How much the console keeps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Rejections kept for the Rejections view.
    pub rejections: usize,
    /// Cases indexed for timelines and the Late view.
    pub cases: usize,
    /// Audit sequences kept per case.
    pub decisions_per_case: usize,
    /// Delivery times kept per recipient, to tell the age of its oldest
    /// unacknowledged delivery.
    pub deliveries_per_recipient: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            rejections: 1000,
            cases: 200_000,
            decisions_per_case: 512,
            deliveries_per_recipient: 16_384,
        }
    }
}

/// Counts in buckets of `width` seconds over the last `len` buckets.
#[derive(Debug, Clone)]
struct Window {
    width: i64,
    /// (bucket number, count) per slot.
    slots: Vec<(i64, u64)>,
}

impl Window {
    fn new(width: i64, len: usize) -> Self {
        Self {
            width,
            slots: vec![(i64::MIN, 0); len],
        }
    }

    fn add(&mut self, at: i64) {
        let bucket = at.div_euclid(self.width);
        let len = self.slots.len() as i64;
        let slot = &mut self.slots[bucket.rem_euclid(len) as usize];
        if slot.0 != bucket {
            *slot = (bucket, 0);
        }
        slot.1 += 1;
    }

    /// The count over the window that ends at `now`.
    fn sum(&self, now: i64) -> u64 {
        let newest = now.div_euclid(self.width);
        let oldest = newest - self.slots.len() as i64 + 1;
        self.slots
            .iter()
            .filter(|(b, _)| *b >= oldest && *b <= newest)
            .map(|(_, c)| c)
            .sum()
    }
}

/// Counts of one flow: the last minute (by second), hour (by minute) and
/// day (by hour), and in all.
#[derive(Debug, Clone)]
struct Counter {
    total: u64,
    minute: Window,
    hour: Window,
    day: Window,
}

impl Counter {
    fn new() -> Self {
        Self {
            total: 0,
            minute: Window::new(1, 60),
            hour: Window::new(60, 60),
            day: Window::new(3600, 24),
        }
    }

    fn add(&mut self, at: i64) {
        self.total += 1;
        self.minute.add(at);
        self.hour.add(at);
        self.day.add(at);
    }

    fn counts(&self, now: i64) -> Counts {
        Counts {
            total: self.total,
            minute: self.minute.sum(now),
            hour: self.hour.sum(now),
            day: self.day.sum(now),
        }
    }
}

/// A flow's counts, and the ones a view shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Counts {
    pub total: u64,
    pub minute: u64,
    pub hour: u64,
    pub day: u64,
}

/// One flow: messages of one type from one member to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flow {
    pub sender: String,
    pub recipient: String,
    #[serde(rename = "type")]
    pub message_type: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// One rejection, as the Rejections view lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    /// Its audit record's sequence in `HW_AUDIT`.
    pub audit_sequence: u64,
    pub time: String,
    pub sender: String,
    #[serde(rename = "type")]
    pub message_type: Option<String>,
    pub case: Option<String>,
    pub envelope_id: Option<String>,
    pub codes: Vec<String>,
    /// Code, sentence and instance path of each reason.
    pub reasons: Vec<Reason>,
}

/// What the console keeps of one case.
#[derive(Debug, Clone)]
struct Case {
    /// The audit sequences of its decisions, in order.
    decisions: Vec<u64>,
    /// The type of the last accepted message, and when it was decided.
    stage: Option<(String, i64)>,
    /// Who was last addressed (recipients of the last accepted message).
    waiting_on: Vec<String>,
    /// When the console last changed this entry (its order of arrival).
    touched: u64,
}

/// A case waiting at a stage for longer than its threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Late {
    pub case: String,
    pub stage: String,
    pub since: String,
    pub waiting_seconds: i64,
    pub threshold_seconds: u64,
    pub waiting_on: Vec<String>,
}

/// How many cases wait at a stage for one member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiting {
    pub stage: String,
    pub member: String,
    pub cases: usize,
}

/// The audit chain as the console verified it, record by record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditState {
    /// Records verified.
    pub records: u64,
    /// The last record that verified: its sequence, time and hash.
    pub last_sequence: u64,
    pub last_time: Option<String>,
    pub last_hash: Option<String>,
    /// Messages in the audit stream that are not audit records.
    pub foreign: Vec<u64>,
    /// The first broken link, if any: the alarm.
    pub broken: Option<String>,
    /// The stream's own state disagrees with the chain (records removed).
    pub stream_alarm: Option<String>,
}

impl AuditState {
    /// Whether the chain is intact and nothing foreign is in the stream.
    pub fn intact(&self) -> bool {
        self.broken.is_none() && self.stream_alarm.is_none() && self.foreign.is_empty()
    }
}

/// The console's knowledge, fed with audit records in stream order.
#[derive(Debug)]
pub struct Model {
    limits: Limits,
    late_after: BTreeMap<String, Duration>,
    flows: HashMap<(String, String, String), Counter>,
    refused: HashMap<(String, String), Counter>,
    rejections: VecDeque<Rejection>,
    cases: HashMap<String, Case>,
    /// Per recipient: the times of its deliveries, oldest first, and how
    /// many it was sent in all.
    deliveries: HashMap<String, (VecDeque<i64>, u64)>,
    audit: AuditState,
    prev_hash: String,
    expected_sequence: u64,
    arrivals: u64,
    decisions: u64,
    /// The next stream sequence to read.
    next: u64,
}

/// Seconds since the epoch of an RFC 3339 time, if it is one.
pub fn epoch_seconds(time: &str) -> Option<i64> {
    OffsetDateTime::parse(time, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// Milliseconds from `from` to `to`, both RFC 3339, if both parse.
pub fn millis_between(from: &str, to: &str) -> Option<i64> {
    let a = OffsetDateTime::parse(from, &Rfc3339).ok()?;
    let b = OffsetDateTime::parse(to, &Rfc3339).ok()?;
    Some((b - a).whole_milliseconds() as i64)
}

impl Model {
    /// An empty model; `late_after` maps a stage (the type of a case's
    /// last accepted message) to how long a case may wait there.
    pub fn new(limits: Limits, late_after: BTreeMap<String, Duration>) -> Self {
        Self {
            limits,
            late_after,
            flows: HashMap::new(),
            refused: HashMap::new(),
            rejections: VecDeque::new(),
            cases: HashMap::new(),
            deliveries: HashMap::new(),
            audit: AuditState::default(),
            prev_hash: GENESIS.to_owned(),
            expected_sequence: 1,
            arrivals: 0,
            decisions: 0,
            next: 1,
        }
    }

    /// Decisions folded in so far.
    pub fn decisions(&self) -> u64 {
        self.decisions
    }

    /// The next sequence of `HW_AUDIT` to read.
    pub fn next_sequence(&self) -> u64 {
        self.next
    }

    /// Takes the message at `sequence` of `HW_AUDIT`: verifies it against
    /// the chain, then folds it in.
    pub fn add(&mut self, sequence: u64, bytes: &[u8]) {
        self.next = self.next.max(sequence + 1);
        let Some(record) = homeward_core::audit::parse_record(bytes) else {
            self.audit.foreign.push(sequence);
            // Bounded: one alarm names the first ones.
            self.audit.foreign.truncate(100);
            self.expected_sequence = sequence + 1;
            return;
        };
        self.verify(sequence, &record);
        self.fold(sequence, record);
    }

    fn verify(&mut self, sequence: u64, record: &AuditRecord) {
        if self.audit.broken.is_some() {
            return;
        }
        let broken = if sequence != self.expected_sequence {
            Some(format!(
                "audit chain broken at stream sequence {sequence}: records {}..{} are missing",
                self.expected_sequence,
                sequence.saturating_sub(1)
            ))
        } else if record.compute_hash().ok().as_deref() != Some(record.hash.as_str()) {
            Some(format!(
                "audit chain broken at stream sequence {sequence}: the record was altered: its hash does not match its content"
            ))
        } else if record.prev != self.prev_hash {
            Some(format!(
                "audit chain broken at stream sequence {sequence}: prev does not match the hash of the record before it (a record was removed or reordered)"
            ))
        } else {
            None
        };
        self.expected_sequence = sequence + 1;
        match broken {
            Some(reason) => self.audit.broken = Some(reason),
            None => {
                self.prev_hash = record.hash.clone();
                self.audit.records += 1;
                self.audit.last_sequence = sequence;
                self.audit.last_time = Some(record.time.clone());
                self.audit.last_hash = Some(record.hash.clone());
            }
        }
    }

    fn fold(&mut self, sequence: u64, record: AuditRecord) {
        self.decisions += 1;
        self.arrivals += 1;
        let at = epoch_seconds(&record.time).unwrap_or(0);
        let message_type = record.message_type.clone().unwrap_or_else(|| "?".into());
        let accepted = record.decision == "accepted";
        if accepted {
            for recipient in &record.recipients {
                self.flows
                    .entry((
                        record.sender.clone(),
                        recipient.clone(),
                        message_type.clone(),
                    ))
                    .or_insert_with(Counter::new)
                    .add(at);
                let (times, sent) = self.deliveries.entry(recipient.clone()).or_default();
                times.push_back(at);
                *sent += 1;
                if times.len() > self.limits.deliveries_per_recipient {
                    times.pop_front();
                }
            }
        } else {
            self.refused
                .entry((record.sender.clone(), message_type.clone()))
                .or_insert_with(Counter::new)
                .add(at);
            self.rejections.push_back(Rejection {
                audit_sequence: sequence,
                time: record.time.clone(),
                sender: record.sender.clone(),
                message_type: record.message_type.clone(),
                case: record.case.clone(),
                envelope_id: record.envelope_id.clone(),
                codes: record.codes.clone(),
                reasons: record.reasons.clone(),
            });
            if self.rejections.len() > self.limits.rejections {
                self.rejections.pop_front();
            }
        }
        if let Some(case_ref) = &record.case {
            let arrivals = self.arrivals;
            let case = self.cases.entry(case_ref.clone()).or_insert_with(|| Case {
                decisions: Vec::new(),
                stage: None,
                waiting_on: Vec::new(),
                touched: arrivals,
            });
            if case.decisions.len() < self.limits.decisions_per_case {
                case.decisions.push(sequence);
            }
            case.touched = arrivals;
            // A processing receipt says a step was taken, not a new stage.
            if accepted && record.message_type.as_deref() != Some("message.processed") {
                case.stage = Some((message_type, at));
                case.waiting_on = record.recipients.clone();
            }
            if self.cases.len() > self.limits.cases {
                self.evict();
            }
        }
    }

    /// Drops the tenth of the cases untouched longest.
    fn evict(&mut self) {
        let mut touched: Vec<u64> = self.cases.values().map(|c| c.touched).collect();
        let at = (self.limits.cases / 10).max(1).min(touched.len() - 1);
        touched.select_nth_unstable(at);
        let cut = touched[at];
        self.cases.retain(|_, c| c.touched > cut);
    }

    /// Every flow with its counts at `now` (seconds since the epoch).
    pub fn flows(&self, now: i64) -> Vec<Flow> {
        let mut out: Vec<Flow> = self
            .flows
            .iter()
            .map(|((sender, recipient, message_type), c)| Flow {
                sender: sender.clone(),
                recipient: recipient.clone(),
                message_type: message_type.clone(),
                counts: c.counts(now),
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.sender, &a.recipient, &a.message_type).cmp(&(
                &b.sender,
                &b.recipient,
                &b.message_type,
            ))
        });
        out
    }

    /// Rejections counted per (sender, type).
    pub fn refused(&self, now: i64) -> Vec<(String, String, Counts)> {
        let mut out: Vec<_> = self
            .refused
            .iter()
            .map(|((s, t), c)| (s.clone(), t.clone(), c.counts(now)))
            .collect();
        out.sort();
        out
    }

    /// The rejections kept, newest first, that pass the filters.
    pub fn rejections(
        &self,
        member: Option<&str>,
        message_type: Option<&str>,
        code: Option<&str>,
        limit: usize,
    ) -> Vec<Rejection> {
        self.rejections
            .iter()
            .rev()
            .filter(|r| member.is_none_or(|m| r.sender == m))
            .filter(|r| message_type.is_none_or(|t| r.message_type.as_deref() == Some(t)))
            .filter(|r| code.is_none_or(|c| r.codes.iter().any(|x| x == c)))
            .take(limit)
            .cloned()
            .collect()
    }

    /// The audit sequences of a case's decisions, in order.
    pub fn case_decisions(&self, case: &str) -> Option<Vec<u64>> {
        self.cases.get(case).map(|c| c.decisions.clone())
    }

    /// Cases indexed.
    pub fn cases(&self) -> usize {
        self.cases.len()
    }

    /// Cases waiting at a stage longer than its threshold at `now`, the
    /// longest waiting first: the first `limit`, and how many in all.
    pub fn late(&self, now: i64, limit: usize) -> (Vec<Late>, usize) {
        let mut out: Vec<Late> = self
            .cases
            .iter()
            .filter_map(|(case, c)| {
                let (stage, since) = c.stage.as_ref()?;
                let threshold = self.late_after.get(stage)?;
                let waiting = now - since;
                (waiting > threshold.as_secs() as i64).then(|| Late {
                    case: case.clone(),
                    stage: stage.clone(),
                    since: OffsetDateTime::from_unix_timestamp(*since)
                        .ok()
                        .and_then(|t| t.format(&Rfc3339).ok())
                        .unwrap_or_default(),
                    waiting_seconds: waiting,
                    threshold_seconds: threshold.as_secs(),
                    waiting_on: c.waiting_on.clone(),
                })
            })
            .collect();
        let total = out.len();
        out.sort_by(|a, b| {
            b.waiting_seconds
                .cmp(&a.waiting_seconds)
                .then(a.case.cmp(&b.case))
        });
        out.truncate(limit);
        (out, total)
    }

    /// How many cases wait at each stage, by the member the last message
    /// went to (who must act next): for example the cases a state's
    /// security service has been asked to verify and has not answered,
    /// whose candidates wait for an official's confirmation.
    pub fn waiting(&self) -> Vec<Waiting> {
        let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for case in self.cases.values() {
            if let Some((stage, _)) = &case.stage {
                for member in &case.waiting_on {
                    *counts.entry((stage.as_str(), member.as_str())).or_default() += 1;
                }
            }
        }
        counts
            .into_iter()
            .map(|((stage, member), cases)| Waiting {
                stage: stage.to_owned(),
                member: member.to_owned(),
                cases,
            })
            .collect()
    }

    /// The thresholds of the Late view.
    pub fn late_after(&self) -> &BTreeMap<String, Duration> {
        &self.late_after
    }

    /// When the oldest of `recipient`'s last `unacked` deliveries was
    /// decided (seconds since the epoch), and whether it is exact (it is
    /// not when more are unacknowledged than the console keeps times of).
    pub fn oldest_unacked(&self, recipient: &str, unacked: u64) -> Option<(i64, bool)> {
        if unacked == 0 {
            return None;
        }
        let (times, _) = self.deliveries.get(recipient)?;
        let kept = times.len() as u64;
        if unacked > kept {
            return times.front().map(|t| (*t, false));
        }
        times.get((kept - unacked) as usize).map(|t| (*t, true))
    }

    /// The audit chain's state.
    pub fn audit(&self) -> &AuditState {
        &self.audit
    }

    /// Records what the stream itself says: messages removed from the
    /// audit stream are an alarm even before the chain reaches the gap.
    pub fn check_stream(&mut self, first_sequence: u64, messages: u64, last_sequence: u64) {
        self.audit.stream_alarm = if messages > 0 && first_sequence != 1 {
            Some(format!(
                "the audit stream starts at sequence {first_sequence}: records before it were removed"
            ))
        } else if last_sequence >= first_sequence && messages != last_sequence - first_sequence + 1
        {
            Some(format!(
                "the audit stream holds {messages} messages between sequences {first_sequence} and {last_sequence}: {} were removed",
                last_sequence - first_sequence + 1 - messages
            ))
        } else {
            None
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use homeward_core::audit::sha256_hex;

    fn record(i: u64, case: &str, kind: &str, decision: &str, time: &str) -> AuditRecord {
        AuditRecord {
            time: time.into(),
            gateway: "gw".into(),
            submission_sequence: i.to_string(),
            envelope_id: None,
            sender: "aanes.camps".into(),
            message_type: Some(kind.into()),
            case: Some(case.into()),
            recipients: if decision == "accepted" {
                vec!["kz.mfa".into()]
            } else {
                vec![]
            },
            decision: decision.into(),
            codes: if decision == "accepted" {
                vec![]
            } else {
                vec!["schema_violation".into()]
            },
            envelope_sha256: sha256_hex(&i.to_be_bytes()),
            submitted_at: None,
            trace_id: None,
            reasons: vec![],
            prev: String::new(),
            hash: String::new(),
        }
    }

    fn chain(records: Vec<AuditRecord>) -> Vec<Vec<u8>> {
        let mut prev = GENESIS.to_owned();
        records
            .into_iter()
            .map(|mut r| {
                r.seal(&prev).expect("seals");
                prev = r.hash.clone();
                serde_json::to_vec(&r).expect("json")
            })
            .collect()
    }

    fn late_after() -> BTreeMap<String, Duration> {
        [("camp.resident.located".to_owned(), Duration::from_secs(60))].into()
    }

    #[test]
    fn flows_count_by_minute_hour_and_day_and_rejections_are_kept_newest_first() {
        let mut m = Model::new(Limits::default(), late_after());
        let records = chain(vec![
            record(
                1,
                "C-1",
                "camp.resident.located",
                "accepted",
                "2026-12-01T10:00:00Z",
            ),
            record(
                2,
                "C-2",
                "camp.resident.located",
                "accepted",
                "2026-12-01T10:59:30Z",
            ),
            record(
                3,
                "C-3",
                "camp.resident.located",
                "rejected",
                "2026-12-01T11:00:00Z",
            ),
        ]);
        for (i, bytes) in records.iter().enumerate() {
            m.add(i as u64 + 1, bytes);
        }
        let now = epoch_seconds("2026-12-01T11:00:10Z").expect("time");
        let flows = m.flows(now);
        assert_eq!(flows.len(), 1);
        assert_eq!(
            flows[0].counts,
            Counts {
                total: 2,
                minute: 1,
                hour: 1,
                day: 2
            }
        );
        let rejections = m.rejections(None, None, Some("schema_violation"), 10);
        assert_eq!(rejections.len(), 1);
        assert_eq!(rejections[0].audit_sequence, 3);
        assert!(m.rejections(Some("kz.mfa"), None, None, 10).is_empty());
        assert!(m.audit().intact(), "{:?}", m.audit());
        assert_eq!(m.audit().records, 3);
    }

    #[test]
    fn a_case_at_a_stage_past_its_threshold_is_late_and_one_that_moved_on_is_not() {
        let mut m = Model::new(Limits::default(), late_after());
        let records = chain(vec![
            record(
                1,
                "C-1",
                "camp.resident.located",
                "accepted",
                "2026-12-01T10:00:00Z",
            ),
            record(
                2,
                "C-2",
                "camp.resident.located",
                "accepted",
                "2026-12-01T10:00:00Z",
            ),
            record(
                3,
                "C-2",
                "identity.verification.requested",
                "accepted",
                "2026-12-01T10:00:30Z",
            ),
        ]);
        for (i, bytes) in records.iter().enumerate() {
            m.add(i as u64 + 1, bytes);
        }
        let (late, total) = m.late(epoch_seconds("2026-12-01T10:02:00Z").expect("time"), 10);
        assert_eq!(total, 1);
        assert_eq!(late[0].case, "C-1");
        assert_eq!(late[0].waiting_seconds, 120);
        let (none, _) = m.late(epoch_seconds("2026-12-01T10:00:30Z").expect("time"), 10);
        assert!(none.is_empty());
        assert_eq!(
            m.waiting(),
            vec![
                Waiting {
                    stage: "camp.resident.located".into(),
                    member: "kz.mfa".into(),
                    cases: 1
                },
                Waiting {
                    stage: "identity.verification.requested".into(),
                    member: "kz.mfa".into(),
                    cases: 1
                },
            ]
        );
    }

    #[test]
    fn an_altered_a_missing_and_a_foreign_record_each_raise_the_alarm() {
        let records = chain(
            (1..=4)
                .map(|i| {
                    record(
                        i,
                        "C-1",
                        "camp.resident.located",
                        "accepted",
                        "2026-12-01T10:00:00Z",
                    )
                })
                .collect(),
        );
        let mut altered = Model::new(Limits::default(), late_after());
        altered.add(1, &records[0]);
        let mut changed: AuditRecord = serde_json::from_slice(&records[1]).expect("record");
        changed.sender = "kz.mfa".into();
        altered.add(2, &serde_json::to_vec(&changed).expect("json"));
        assert!(
            altered
                .audit()
                .broken
                .as_deref()
                .is_some_and(|b| b.contains("altered"))
        );

        let mut missing = Model::new(Limits::default(), late_after());
        missing.add(1, &records[0]);
        missing.add(3, &records[2]);
        assert!(
            missing
                .audit()
                .broken
                .as_deref()
                .is_some_and(|b| b.contains("missing"))
        );

        let mut foreign = Model::new(Limits::default(), late_after());
        foreign.add(1, &records[0]);
        foreign.add(2, b"{\"not\":\"a record\"}");
        assert_eq!(foreign.audit().foreign, vec![2]);
        assert!(!foreign.audit().intact());
    }

    #[test]
    fn memory_stays_bounded_whatever_the_number_of_cases_and_rejections() {
        let limits = Limits {
            rejections: 10,
            cases: 100,
            decisions_per_case: 4,
            deliveries_per_recipient: 50,
        };
        let mut m = Model::new(limits, late_after());
        let records: Vec<AuditRecord> = (1..=1000)
            .map(|i| {
                record(
                    i,
                    &format!("C-{i}"),
                    "camp.resident.located",
                    if i % 2 == 0 { "accepted" } else { "rejected" },
                    "2026-12-01T10:00:00Z",
                )
            })
            .collect();
        for (i, bytes) in chain(records).iter().enumerate() {
            m.add(i as u64 + 1, bytes);
        }
        assert!(m.cases() <= 100, "{}", m.cases());
        assert_eq!(m.rejections(None, None, None, 1000).len(), 10);
        assert_eq!(
            m.oldest_unacked("kz.mfa", 60).map(|(_, exact)| exact),
            Some(false)
        );
        assert_eq!(
            m.oldest_unacked("kz.mfa", 10).map(|(_, exact)| exact),
            Some(true)
        );
        assert!(m.audit().intact());
    }
}
