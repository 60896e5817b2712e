//! The gateway's receipt: what a sender learns about its submission.
//!
//! A receipt is itself a signed envelope of type `gateway.receipt`, sent by
//! the gateway member to `hw.receipt.<sender>`. It names the submission by
//! its envelope id (where the submission had one) and by its sequence in
//! `HW_SUBMIT` (always), and carries either the recipients or the reasons.

use serde::{Deserialize, Serialize};

use crate::envelope::Envelope;
use crate::policy::{KeyStatus, Policy, Role};
use crate::rejection::RejectionCode;

/// The type of a receipt envelope.
pub const RECEIPT_TYPE: &str = "gateway.receipt";

/// Accepted or rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Accepted,
    Rejected,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Accepted => "accepted",
            Decision::Rejected => "rejected",
        }
    }
}

/// One reason for a rejection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub code: RejectionCode,
    pub message: String,
    #[serde(
        rename = "instancePath",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub instance_path: Option<String>,
}

/// Longest reason message and instance path the receipt schema allows.
const MAX_MESSAGE: usize = 1000;
const MAX_PATH: usize = 500;

fn clip(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

impl Reason {
    pub fn new(code: RejectionCode, message: impl Into<String>) -> Self {
        let message = clip(message.into(), MAX_MESSAGE);
        Self {
            code,
            message: if message.is_empty() {
                code.sentence().to_owned()
            } else {
                message
            },
            instance_path: None,
        }
    }
    pub fn at(code: RejectionCode, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            instance_path: Some(clip(path.into(), MAX_PATH)),
            ..Self::new(code, message)
        }
    }
}

/// The data of a `gateway.receipt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission_id: Option<String>,
    /// The submission's sequence in HW_SUBMIT, as a string (JCS-safe).
    pub submission_sequence: String,
    /// SHA-256 of the submitted bytes, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission_type: Option<String>,
    pub decision: Decision,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
    pub received_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
}

impl Receipt {
    /// Reads the receipt out of a receipt envelope.
    pub fn from_envelope(envelope: &Envelope) -> Option<Self> {
        if envelope.message_type() != RECEIPT_TYPE {
            return None;
        }
        serde_json::from_value(envelope.data().clone()).ok()
    }

    /// Reads a receipt only if a gateway made it: the envelope is a receipt,
    /// its sender is a member the policy gives the gateway role, and it is
    /// signed with a key the policy lists for that member, valid at the
    /// receipt's time. Anything else on a receipt subject is not a receipt:
    /// the reason says which check failed, never what the receipt said.
    pub fn from_gateway(envelope: &Envelope, policy: &Policy) -> Result<Self, String> {
        if envelope.message_type() != RECEIPT_TYPE {
            return Err(format!("not a receipt but {:?}", envelope.message_type()));
        }
        let sender = envelope.sender();
        match policy.member(sender) {
            Some(member) if member.role == Role::Gateway => {}
            Some(_) => return Err(format!("{sender} is not a gateway in the policy")),
            None => return Err(format!("{sender} is not a member of the policy")),
        }
        envelope
            .verify_signature()
            .map_err(|e| format!("the signature does not verify: {e}"))?;
        match policy.key_status(sender, envelope.sigkey(), envelope.time()) {
            KeyStatus::Valid => {}
            other => return Err(format!("the signing key is {other:?} for {sender}")),
        }
        Self::from_envelope(envelope).ok_or_else(|| "its data is not a receipt".to_owned())
    }

    /// The rejection codes, in order.
    pub fn codes(&self) -> Vec<RejectionCode> {
        self.reasons.iter().map(|r| r.code).collect()
    }

    /// The receipt schema version this receipt is written in: the oldest
    /// that knows every one of its codes. A published version never
    /// changes, so a new code needs a new version; writing the old one
    /// whenever it suffices keeps every receipt a reader of version 1 could
    /// read before readable to it.
    pub fn schema_version(&self) -> u32 {
        self.reasons
            .iter()
            .map(|r| r.code.receipt_version())
            .max()
            .unwrap_or(1)
    }

    /// The `dataschema` of this receipt: see [`Receipt::schema_version`].
    pub fn schema_id(&self) -> String {
        crate::schema::message_schema_id(RECEIPT_TYPE, self.schema_version())
    }
}
