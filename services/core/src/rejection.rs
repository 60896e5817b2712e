//! Stable rejection codes: what a sender's software branches on.
//!
//! A code never changes meaning once published; new failure kinds get new
//! codes. Each has a sentence for people, and the receipt adds the specific
//! detail (which attribute, which instance path) without repeating values
//! from the message, which may be personal data.

use serde::{Deserialize, Serialize};

/// Why the gateway refused a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionCode {
    MalformedJson,
    TooLarge,
    BadEnvelope,
    SenderMismatch,
    UnknownKey,
    BadSignature,
    ExpiredKey,
    UnknownSchema,
    SchemaViolation,
    NotPermitted,
    NoRecipient,
    VersionNotRead,
    Stale,
    Duplicate,
    OverQuota,
    RecipientBacklog,
    InternalError,
}

impl RejectionCode {
    /// Every code, in the order the gateway checks.
    pub const ALL: [RejectionCode; 17] = [
        RejectionCode::OverQuota,
        RejectionCode::TooLarge,
        RejectionCode::MalformedJson,
        RejectionCode::BadEnvelope,
        RejectionCode::SenderMismatch,
        RejectionCode::UnknownKey,
        RejectionCode::ExpiredKey,
        RejectionCode::BadSignature,
        RejectionCode::Stale,
        RejectionCode::UnknownSchema,
        RejectionCode::SchemaViolation,
        RejectionCode::NotPermitted,
        RejectionCode::Duplicate,
        RejectionCode::NoRecipient,
        RejectionCode::VersionNotRead,
        RejectionCode::RecipientBacklog,
        RejectionCode::InternalError,
    ];

    /// The code as it travels.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectionCode::MalformedJson => "malformed_json",
            RejectionCode::TooLarge => "too_large",
            RejectionCode::BadEnvelope => "bad_envelope",
            RejectionCode::SenderMismatch => "sender_mismatch",
            RejectionCode::UnknownKey => "unknown_key",
            RejectionCode::BadSignature => "bad_signature",
            RejectionCode::ExpiredKey => "expired_key",
            RejectionCode::UnknownSchema => "unknown_schema",
            RejectionCode::SchemaViolation => "schema_violation",
            RejectionCode::NotPermitted => "not_permitted",
            RejectionCode::NoRecipient => "no_recipient",
            RejectionCode::VersionNotRead => "version_not_read",
            RejectionCode::Stale => "stale",
            RejectionCode::Duplicate => "duplicate",
            RejectionCode::OverQuota => "over_quota",
            RejectionCode::RecipientBacklog => "recipient_backlog",
            RejectionCode::InternalError => "internal_error",
        }
    }

    /// The first version of the `gateway.receipt` schema whose code enum
    /// has this code.
    pub fn receipt_version(self) -> u32 {
        match self {
            RejectionCode::VersionNotRead => 2,
            RejectionCode::OverQuota | RejectionCode::RecipientBacklog => 3,
            _ => 1,
        }
    }

    /// The sentence for people.
    pub fn sentence(self) -> &'static str {
        match self {
            RejectionCode::MalformedJson => "The submission is not well-formed UTF-8 JSON.",
            RejectionCode::TooLarge => "The submission is larger than the 64 KiB envelope limit.",
            RejectionCode::BadEnvelope => {
                "The submission is not a valid Homeward CloudEvents envelope."
            }
            RejectionCode::SenderMismatch => {
                "The envelope's source is not the member that submitted it."
            }
            RejectionCode::UnknownKey => {
                "The signing key is not one the policy lists for the sender."
            }
            RejectionCode::BadSignature => {
                "The signature does not verify over the envelope's canonical form."
            }
            RejectionCode::ExpiredKey => {
                "The signing key was expired, not yet valid or revoked at the envelope's time."
            }
            RejectionCode::UnknownSchema => {
                "The dataschema is not a published schema for this message type."
            }
            RejectionCode::SchemaViolation => "The data does not conform to its schema.",
            RejectionCode::NotPermitted => {
                "The policy does not let this sender send this message type."
            }
            RejectionCode::NoRecipient => "The route gives no valid recipient for this message.",
            RejectionCode::VersionNotRead => {
                "A recipient of this message does not read this version of its schema."
            }
            RejectionCode::Stale => "The envelope's time is outside the accepted window.",
            RejectionCode::Duplicate => {
                "An envelope with this id from this sender was already accepted."
            }
            RejectionCode::OverQuota => {
                "The sender is over its submission quota; the submission can be sent again later."
            }
            RejectionCode::RecipientBacklog => {
                "A recipient has not taken its deliveries for so long that more would be at risk of \
                 expiring undelivered; the submission can be sent again once it catches up."
            }
            RejectionCode::InternalError => {
                "The gateway failed unexpectedly; the submission can be sent again."
            }
        }
    }
}

impl std::fmt::Display for RejectionCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
