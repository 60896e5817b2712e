//! The audit record: one per gateway decision, chained by hashes.
//!
//! Each record holds the SHA-256 of the previous record, and its own hash
//! over its RFC 8785 canonical form without `hash`. Records are appended to
//! `HW_AUDIT` with an expected-last-sequence guard, so several gateways
//! share one chain and stream order is chain order. [`verify_chain`] walks
//! the records in stream order and names the first broken link: an altered
//! record (its hash no longer matches), a removed one (the next record's
//! `prev` points at nothing we saw, or a gap in sequence numbers) or a
//! reordered one (`prev` does not match the record before it). Records carry
//! references and codes, never message content.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

/// The `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One decision on the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditRecord {
    /// When the gateway decided (RFC 3339, UTC).
    pub time: String,
    /// Which gateway instance decided.
    pub gateway: String,
    /// The submission's sequence in HW_SUBMIT, as a string.
    pub submission_sequence: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope_id: Option<String>,
    /// The submitting member, from the submit subject.
    pub sender: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    #[serde(default)]
    pub recipients: Vec<String>,
    /// `accepted` or `rejected`.
    pub decision: String,
    #[serde(default)]
    pub codes: Vec<String>,
    /// SHA-256 of the submitted bytes, hex.
    pub envelope_sha256: String,
    /// When the server stored the submission (RFC 3339, UTC): `time` minus
    /// this is how long the decision took. Absent on records written before
    /// it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<String>,
    /// The trace id of the envelope's `traceparent` (32 hex digits), which
    /// the gateway's and the recipients' logs carry too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// A rejection's reasons as the sender's receipt gives them: code,
    /// sentence and instance path, never a value from the message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<crate::receipt::Reason>,
    /// The hash of the previous record, hex.
    pub prev: String,
    /// This record's hash, hex, over its canonical form without this field.
    #[serde(default)]
    pub hash: String,
}

impl AuditRecord {
    /// The hash this record should carry.
    pub fn compute_hash(&self) -> Result<String, Error> {
        // The record as a value, without `hash`: no copy of the record.
        let mut value = serde_json::to_value(self).map_err(|e| Error::Audit(e.to_string()))?;
        if let Some(o) = value.as_object_mut() {
            o.remove("hash");
        }
        Ok(hex::encode(Sha256::digest(crate::canonical::value_to_vec(
            &value,
        ))))
    }

    /// Sets `prev` and `hash`.
    pub fn seal(&mut self, prev: &str) -> Result<(), Error> {
        self.prev = prev.to_owned();
        self.hash = self.compute_hash()?;
        Ok(())
    }
}

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The first broken link of a chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at stream sequence {sequence}: {reason}")]
pub struct BrokenLink {
    pub sequence: u64,
    pub reason: String,
}

/// What a walk of the chain found, when no link is broken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainSummary {
    /// Records that verified.
    pub records: u64,
    /// Messages in the audit stream that are not audit records, by stream
    /// sequence: an alarm (something other than a gateway wrote there, or a
    /// gateway misbehaved), reported and passed over. The chain runs on
    /// past them: the next record chains to the last real one.
    pub foreign: Vec<u64>,
}

impl std::fmt::Display for ChainSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "audit chain intact: {} records", self.records)?;
        if !self.foreign.is_empty() {
            let list: Vec<String> = self.foreign.iter().map(u64::to_string).collect();
            write!(
                f,
                "; ALARM: {} foreign message(s) in the audit stream, not audit records, at stream sequence {}",
                self.foreign.len(),
                list.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Whether a message in the audit stream is an audit record at all: one
/// that does not parse as one is foreign.
pub fn parse_record(bytes: &[u8]) -> Option<AuditRecord> {
    serde_json::from_slice(bytes).ok()
}

/// Walks messages `(stream sequence, bytes)` in order from the first ever
/// written; returns how many records verified and which messages were
/// foreign, or the first broken link.
pub fn verify_chain<I>(records: I) -> Result<ChainSummary, BrokenLink>
where
    I: IntoIterator<Item = (u64, Vec<u8>)>,
{
    let mut prev_hash = GENESIS.to_owned();
    let mut expected_seq = 1u64;
    let mut summary = ChainSummary::default();
    for (sequence, bytes) in records {
        let broken = |reason: String| BrokenLink { sequence, reason };
        if sequence != expected_seq {
            return Err(broken(format!(
                "expected sequence {expected_seq} next: records {expected_seq}..{} are missing",
                sequence.saturating_sub(1)
            )));
        }
        expected_seq = sequence + 1;
        let Some(record) = parse_record(&bytes) else {
            summary.foreign.push(sequence);
            continue;
        };
        let computed = record
            .compute_hash()
            .map_err(|e| broken(format!("cannot hash: {e}")))?;
        if computed != record.hash {
            return Err(broken(
                "the record was altered: its hash does not match its content".into(),
            ));
        }
        if record.prev != prev_hash {
            return Err(broken(
                "prev does not match the hash of the record before it (a record was removed or reordered)".into(),
            ));
        }
        prev_hash = record.hash;
        summary.records += 1;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Vec<(u64, Vec<u8>)> {
        let mut prev = GENESIS.to_owned();
        (0..n)
            .map(|i| {
                let mut r = AuditRecord {
                    time: "2026-11-26T00:00:00.000Z".into(),
                    gateway: "gw".into(),
                    submission_sequence: (i + 1).to_string(),
                    envelope_id: None,
                    sender: "kz.mfa".into(),
                    message_type: None,
                    case: None,
                    recipients: vec![],
                    decision: "accepted".into(),
                    codes: vec![],
                    envelope_sha256: sha256_hex(&[i as u8]),
                    submitted_at: None,
                    trace_id: None,
                    reasons: Vec::new(),
                    prev: String::new(),
                    hash: String::new(),
                };
                r.seal(&prev).expect("seals");
                prev = r.hash.clone();
                ((i + 1) as u64, serde_json::to_vec(&r).expect("json"))
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify_chain(chain(5)).map(|s| s.records), Ok(5));
    }

    #[test]
    fn a_foreign_message_is_an_alarm_and_the_chain_runs_on_past_it() {
        let mut records = chain(4);
        // A publish ack planted at sequence 3; the records after it move on.
        records.insert(2, (3, br#"{"stream":"HW_SUBMIT","seq":2717}"#.to_vec()));
        for (i, r) in records.iter_mut().enumerate() {
            r.0 = i as u64 + 1;
        }
        let summary = verify_chain(records).expect("intact");
        assert_eq!(summary.records, 4);
        assert_eq!(summary.foreign, [3]);
        assert!(summary.to_string().contains("ALARM"), "{summary}");
    }

    #[test]
    fn alteration_removal_and_reordering_are_named() {
        let mut altered = chain(5);
        let mut r: AuditRecord = serde_json::from_slice(&altered[2].1).expect("record");
        r.decision = "rejected".into();
        altered[2].1 = serde_json::to_vec(&r).expect("json");
        assert_eq!(verify_chain(altered).expect_err("altered").sequence, 3);

        let mut removed = chain(5);
        removed.remove(1);
        assert_eq!(verify_chain(removed).expect_err("removed").sequence, 3);

        let mut reordered = chain(5);
        let (a, b) = (reordered[1].1.clone(), reordered[2].1.clone());
        reordered[1].1 = b;
        reordered[2].1 = a;
        assert_eq!(verify_chain(reordered).expect_err("reordered").sequence, 2);
    }
}
