//! The decision: is this submission accepted, and for whom?
//!
//! Pure checks, in the order ARCHITECTURE.md's bird's-eye view draws them,
//! over bytes that may be hostile: size and JSON, the envelope, the sender
//! against the subject, the key against the policy, the signature, the time
//! window, the schema, the permission, the route, and the version every
//! recipient reads. The replay check needs
//! the seen-ids bucket and is done by the caller. Nothing here panics on any
//! input, and no reason repeats a value from the message (it may be personal
//! data): reasons name attributes, instance paths and codes.

use std::time::Duration;

use homeward_core::envelope::{self, Envelope, ParseError};
use homeward_core::policy::{self, KeyStatus, Policy};
use homeward_core::receipt::Reason;
use homeward_core::schema::{self, DataCheck, SchemaRegistry};
use homeward_core::{MemberId, RejectionCode};
use serde_json::Value;
use time::OffsetDateTime;

/// At most this many schema violations are reported per submission.
pub const MAX_REASONS: usize = 20;

/// What the checks need.
#[derive(Debug)]
pub struct Rules<'a> {
    pub schemas: &'a SchemaRegistry,
    pub policy: &'a Policy,
    /// How far an envelope's time may be from when the server stored it.
    pub time_window: Duration,
}

/// An accepted submission.
#[derive(Debug)]
pub struct Accepted {
    pub envelope: Envelope,
    pub recipients: Vec<MemberId>,
}

/// What can be said about a rejected submission, taken only from
/// attributes that were themselves well formed.
#[derive(Debug, Default, Clone)]
pub struct Known {
    pub id: Option<String>,
    pub message_type: Option<String>,
    pub case: Option<String>,
    /// The trace id of its `traceparent`, if well formed.
    pub trace_id: Option<String>,
}

impl Known {
    /// What an envelope that parsed says about itself.
    pub fn of(envelope: &Envelope) -> Self {
        Self {
            id: Some(envelope.id().to_owned()),
            message_type: Some(envelope.message_type().to_owned()),
            case: envelope.subject().map(str::to_owned),
            trace_id: envelope
                .traceparent()
                .and_then(envelope::trace_id)
                .map(str::to_owned),
        }
    }
}

/// A rejected submission.
#[derive(Debug)]
pub struct Rejected {
    pub known: Known,
    pub reasons: Vec<Reason>,
}

impl Rejected {
    fn with_path(mut self, path: &str) -> Self {
        for r in &mut self.reasons {
            r.instance_path = Some(path.to_owned());
        }
        self
    }

    fn one(known: Known, code: RejectionCode, message: impl Into<String>) -> Self {
        Self {
            known,
            reasons: vec![Reason::new(code, message)],
        }
    }
}

/// Decides on one submission from `subject_member` (the member the submit
/// subject names, `None` if it names no valid member), stored by the server
/// at `stored_at`: the envelope's time must be within the window of that,
/// so a submission waits in the queue, however long, without going stale.
pub fn check(
    rules: &Rules<'_>,
    subject_member: Option<&MemberId>,
    bytes: &[u8],
    stored_at: OffsetDateTime,
) -> Result<Accepted, Rejected> {
    let (envelope, schema_violations) = match parse(rules, bytes) {
        Ok(parsed) => parsed,
        Err(ParseError::TooLarge { size, limit }) => {
            return Err(Rejected::one(
                Known::default(),
                RejectionCode::TooLarge,
                format!("the envelope is {size} bytes; the limit is {limit}"),
            ));
        }
        Err(ParseError::MalformedJson(detail)) => {
            return Err(Rejected::one(
                Known::default(),
                RejectionCode::MalformedJson,
                detail,
            ));
        }
        Err(ParseError::BadEnvelope(violations)) => {
            let known = known_from_bytes(bytes);
            let reasons = violations
                .into_iter()
                .take(MAX_REASONS)
                .map(|v| Reason::at(RejectionCode::BadEnvelope, v.instance_path, v.message))
                .collect();
            return Err(Rejected { known, reasons });
        }
    };
    let known = Known::of(&envelope);
    // The published envelope schema is the contract; the parser's checks
    // and the schema should agree, and the schema has the last word.
    if !schema_violations.is_empty() {
        let reasons = schema_violations
            .into_iter()
            .take(MAX_REASONS)
            .map(|v| Reason::at(RejectionCode::BadEnvelope, v.instance_path, v.message))
            .collect();
        return Err(Rejected { known, reasons });
    }

    // The case a message is about is named twice, in `subject` (which
    // operators and routing see) and in `data.caseRef`; they must agree.
    if let Some(case_ref) = envelope.data().get("caseRef").and_then(Value::as_str)
        && envelope.subject() != Some(case_ref)
    {
        return Err(Rejected::one(
            known,
            RejectionCode::BadEnvelope,
            "subject must equal data.caseRef",
        )
        .with_path("/subject"));
    }

    let sender = envelope.sender();
    if subject_member != Some(sender) {
        let submitted_by = subject_member.map_or("no valid member".to_owned(), ToString::to_string);
        return Err(Rejected::one(
            known,
            RejectionCode::SenderMismatch,
            format!("source names {sender} but the submission came from {submitted_by}"),
        ));
    }
    if rules.policy.member(sender).is_none() {
        return Err(Rejected::one(
            known,
            RejectionCode::UnknownKey,
            format!("{sender} is not a member of the policy"),
        ));
    }
    match rules
        .policy
        .key_status(sender, envelope.sigkey(), envelope.time())
    {
        KeyStatus::Valid => {}
        KeyStatus::Unknown => {
            return Err(Rejected::one(
                known,
                RejectionCode::UnknownKey,
                format!("sigkey is not a key the policy lists for {sender}"),
            ));
        }
        KeyStatus::Expired => {
            return Err(Rejected::one(
                known,
                RejectionCode::ExpiredKey,
                "sigkey is outside its validity window at the envelope's time",
            ));
        }
        KeyStatus::Revoked => {
            return Err(Rejected::one(
                known,
                RejectionCode::ExpiredKey,
                "sigkey has been revoked",
            ));
        }
    }
    if let Err(e) = envelope.verify_signature() {
        return Err(Rejected::one(
            known,
            RejectionCode::BadSignature,
            e.to_string(),
        ));
    }
    let skew = (stored_at - envelope.time()).unsigned_abs();
    if skew > rules.time_window {
        return Err(Rejected::one(
            known,
            RejectionCode::Stale,
            format!(
                "time is {}s from when the server stored the submission; the window is ±{}s",
                skew.as_secs(),
                rules.time_window.as_secs()
            ),
        ));
    }
    match rules.schemas.validate_data(
        envelope.message_type(),
        envelope.dataschema(),
        envelope.data(),
    ) {
        Ok(()) => {}
        Err(DataCheck::UnknownSchema(detail)) => {
            return Err(Rejected::one(known, RejectionCode::UnknownSchema, detail));
        }
        Err(DataCheck::Violations(violations)) => {
            let reasons = violations
                .into_iter()
                .take(MAX_REASONS)
                .map(|v| Reason::at(RejectionCode::SchemaViolation, v.instance_path, v.message))
                .collect();
            return Err(Rejected { known, reasons });
        }
    }
    if !rules.policy.may_send(sender, envelope.message_type()) {
        return Err(Rejected::one(
            known,
            RejectionCode::NotPermitted,
            format!(
                "the policy does not let {sender} send {}",
                envelope.message_type()
            ),
        ));
    }
    let Some(route) = rules.policy.route(envelope.message_type()) else {
        return Err(Rejected::one(
            known,
            RejectionCode::NotPermitted,
            "no route for this type",
        ));
    };
    match rules.policy.recipients(route, sender, envelope.data()) {
        Ok(recipients) if !recipients.is_empty() => {
            // Every recipient must read the version the sender wrote: a
            // message goes to all of them or to none.
            let version =
                schema::parse_message_schema_id(envelope.dataschema()).map_or(0, |(_, v)| v);
            if let Some((recipient, reads)) =
                rules
                    .policy
                    .first_not_reading(&recipients, envelope.message_type(), version)
            {
                return Err(Rejected::one(
                    known,
                    RejectionCode::VersionNotRead,
                    format!(
                        "{recipient} reads {} in {}, not v{version}: send a version every recipient reads",
                        envelope.message_type(),
                        policy::versions_text(reads)
                    ),
                )
                .with_path("/dataschema"));
            }
            Ok(Accepted {
                envelope,
                recipients,
            })
        }
        Ok(_) => Err(Rejected::one(
            known,
            RejectionCode::NoRecipient,
            "the route gives no recipient",
        )),
        Err(e) => Err(Rejected::one(
            known,
            RejectionCode::NoRecipient,
            e.to_string(),
        )),
    }
}

/// [`Envelope::parse`], validating the parsed JSON against the envelope
/// schema on the way: the same verdicts, without serialising the envelope
/// again just to validate it (a copy of every byte of the data), and
/// taking `sigkey` already decoded where the policy lists it.
fn parse(
    rules: &Rules<'_>,
    bytes: &[u8],
) -> Result<(Envelope, Vec<envelope::Violation>), ParseError> {
    if bytes.len() > envelope::MAX_ENVELOPE_BYTES {
        return Err(ParseError::TooLarge {
            size: bytes.len(),
            limit: envelope::MAX_ENVELOPE_BYTES,
        });
    }
    let value = homeward_core::json::parse_strict(bytes)
        .map_err(|e| ParseError::MalformedJson(e.to_string()))?;
    let violations = rules.schemas.validate_envelope(&value);
    let envelope = Envelope::from_value_with_keys(value, |key| rules.policy.decoded_key(key))?;
    Ok((envelope, violations))
}

/// Picks the id, type and case out of a bad envelope, each only if it is
/// itself well formed, so they can be echoed safely.
pub(crate) fn known_from_bytes(bytes: &[u8]) -> Known {
    let Ok(Value::Object(o)) = homeward_core::json::parse_strict(bytes) else {
        return Known::default();
    };
    let s = |k: &str| o.get(k).and_then(Value::as_str);
    Known {
        id: s("id").filter(|v| envelope::is_ulid(v)).map(str::to_owned),
        message_type: s("type")
            .filter(|v| envelope::is_message_type(v))
            .map(str::to_owned),
        case: s("subject")
            .filter(|v| envelope::is_case_ref(v))
            .map(str::to_owned),
        trace_id: s("traceparent")
            .and_then(envelope::trace_id)
            .map(str::to_owned),
    }
}
