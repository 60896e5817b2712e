//! NATS names: subjects, streams, consumers, buckets.
//!
//! A member id is always two tokens (`kz.mfa`), so `hw.deliver.kz.mfa.>`
//! selects exactly one member's deliveries whatever the message type's own
//! dots. Every name here is built from a checked [`MemberId`], never from
//! raw input.

use crate::member::MemberId;

pub const SUBMIT_STREAM: &str = "HW_SUBMIT";
pub const DELIVER_STREAM: &str = "HW_DELIVER";
pub const RECEIPTS_STREAM: &str = "HW_RECEIPTS";
pub const REJECTED_STREAM: &str = "HW_REJECTED";
pub const AUDIT_STREAM: &str = "HW_AUDIT";

/// The gateways' shared durable consumer on the submit work queue.
pub const GATEWAY_CONSUMER: &str = "gateway";
/// The bucket of envelope ids the gateway has accepted, for replay checks.
pub const SEEN_BUCKET: &str = "hw_seen";
/// The bucket of the published policy, in the streams' account
/// ([`crate::published`]).
pub const POLICY_BUCKET: &str = "hw_policy";

/// Headers the gateway sets on what it writes.
pub mod headers {
    /// The submitting member, on deliveries, receipts and rejections.
    pub const SENDER: &str = "Hw-Sender";
    /// The message type, where known.
    pub const TYPE: &str = "Hw-Type";
    /// The case reference, where known.
    pub const CASE: &str = "Hw-Case";
    /// The envelope id, where known.
    pub const MSG_ID: &str = "Hw-Msg-Id";
    /// The decision: accepted or rejected.
    pub const DECISION: &str = "Hw-Decision";
    /// Comma-separated rejection codes.
    pub const CODES: &str = "Hw-Codes";
    /// A rejection's reasons, as the JSON array of the receipt.
    pub const REASONS: &str = "Hw-Reasons";
    /// Comma-separated recipients.
    pub const RECIPIENTS: &str = "Hw-Recipients";
    /// The submission's sequence in HW_SUBMIT.
    pub const SUBMIT_SEQ: &str = "Hw-Submit-Seq";
}

pub fn submit(member: &MemberId) -> String {
    format!("hw.submit.{member}")
}
pub const SUBMIT_ALL: &str = "hw.submit.>";

pub fn deliver(member: &MemberId, message_type: &str) -> String {
    format!("hw.deliver.{member}.{message_type}")
}
pub fn deliver_filter(member: &MemberId) -> String {
    format!("hw.deliver.{member}.>")
}
pub const DELIVER_ALL: &str = "hw.deliver.>";

pub fn receipt(member: &MemberId) -> String {
    format!("hw.receipt.{member}")
}
pub const RECEIPT_ALL: &str = "hw.receipt.>";

pub fn rejected(member: &MemberId) -> String {
    format!("hw.rejected.{member}")
}
/// Rejections of submissions whose subject named no valid member.
pub const REJECTED_UNKNOWN: &str = "hw.rejected.unknown.sender";
pub const REJECTED_ALL: &str = "hw.rejected.>";

/// Audit records are filed under the decision and the submitting member.
pub fn audit(decision: &str, member: Option<&MemberId>) -> String {
    match member {
        Some(m) => format!("hw.audit.{decision}.{m}"),
        None => format!("hw.audit.{decision}.unknown.sender"),
    }
}
pub const AUDIT_ALL: &str = "hw.audit.>";

/// The member a submit subject names, if it is a valid one.
pub fn member_of_submit(subject: &str) -> Option<MemberId> {
    subject
        .strip_prefix("hw.submit.")
        .and_then(|m| MemberId::parse(m).ok())
}

/// A member's durable consumer of its deliveries.
pub fn delivery_consumer(member: &MemberId) -> String {
    format!("deliver_{}", member.token())
}

/// A member's durable consumer of its receipts.
pub fn receipt_consumer(member: &MemberId) -> String {
    format!("receipt_{}", member.token())
}

/// A member's durable consumer of its own rejected submissions.
pub fn rejected_consumer(member: &MemberId) -> String {
    format!("rejected_{}", member.token())
}

/// A member's private inbox prefix: nobody else may subscribe under it.
pub fn inbox_prefix(member: &MemberId) -> String {
    format!("_INBOX_{}", member.token())
}

/// A member's case bucket.
pub fn case_bucket(member: &MemberId) -> String {
    format!("hw_cases_{}", member.token())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let m = MemberId::parse("kz.mfa").expect("member");
        assert_eq!(submit(&m), "hw.submit.kz.mfa");
        assert_eq!(
            deliver(&m, "repatriation.decided"),
            "hw.deliver.kz.mfa.repatriation.decided"
        );
        assert_eq!(member_of_submit("hw.submit.kz.mfa"), Some(m.clone()));
        assert_eq!(member_of_submit("hw.submit.kz.mfa.x"), None);
        assert_eq!(delivery_consumer(&m), "deliver_kz_mfa");
        assert_eq!(inbox_prefix(&m), "_INBOX_kz_mfa");
    }
}
