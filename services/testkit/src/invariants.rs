//! What the streams must hold after any run, however it was disturbed:
//! every delivery held once per recipient, and every submission decided
//! once, on an audit chain that verifies. Read as the administrator,
//! without changing anything ([`crate::read`]).

use std::collections::{BTreeMap, BTreeSet};

use async_nats::jetstream;
use homeward_core::{audit, subjects};

use crate::read;

/// Each message in `HW_DELIVER` is the only one of its envelope for its
/// recipient. Returns how many there are, or the first doubled one.
pub async fn deliveries_held_once(js: &jetstream::Context) -> Result<usize, String> {
    let deliveries = read::read_all(js, subjects::DELIVER_STREAM, subjects::DELIVER_ALL)
        .await
        .map_err(|e| e.to_string())?;
    let mut held = BTreeSet::new();
    for d in &deliveries {
        let id = d
            .headers
            .as_ref()
            .and_then(|h| h.get(subjects::headers::MSG_ID))
            .map(|v| v.as_str().to_owned())
            .ok_or_else(|| format!("a delivery on {} names no envelope", d.subject))?;
        if !held.insert((d.subject.to_string(), id.clone())) {
            return Err(format!("{id} is held twice on {}", d.subject));
        }
    }
    Ok(deliveries.len())
}

/// Every submission `HW_SUBMIT` ever stored has exactly one audit record,
/// and the chain verifies from its first record, with nothing foreign in
/// it. Waits for the records of the last submissions, which a gateway may
/// still be writing. Returns how many submissions there were.
pub async fn each_submission_recorded_once(js: &jetstream::Context) -> Result<u64, String> {
    let submitted = js
        .get_stream(subjects::SUBMIT_STREAM)
        .await
        .map_err(|e| format!("{}: {e}", subjects::SUBMIT_STREAM))?
        .get_info()
        .await
        .map_err(|e| format!("{}: {e}", subjects::SUBMIT_STREAM))?
        .state
        .last_sequence;
    let records = read::read_first(
        js,
        subjects::AUDIT_STREAM,
        subjects::AUDIT_ALL,
        submitted as usize,
    )
    .await
    .map_err(|e| format!("the audit records of {submitted} submissions: {e}"))?;
    let mut chain = Vec::with_capacity(records.len());
    let mut recorded = BTreeMap::<u64, usize>::new();
    for m in &records {
        let sequence = m.info().map_err(|e| e.to_string())?.stream_sequence;
        let record = audit::parse_record(&m.payload)
            .ok_or_else(|| format!("audit message {sequence} is not a record"))?;
        let submission: u64 = record.submission_sequence.parse().map_err(|_| {
            format!(
                "audit record {sequence} names submission {:?}",
                record.submission_sequence
            )
        })?;
        *recorded.entry(submission).or_default() += 1;
        chain.push((sequence, m.payload.to_vec()));
    }
    if let Some((s, n)) = recorded.iter().find(|(_, n)| **n != 1) {
        return Err(format!("submission {s} has {n} audit records"));
    }
    if let Some(missing) = (1..=submitted).find(|s| !recorded.contains_key(s)) {
        return Err(format!(
            "submission {missing} of {submitted} has no audit record"
        ));
    }
    let summary = audit::verify_chain(chain)
        .map_err(|b| format!("the audit chain breaks at {}: {}", b.sequence, b.reason))?;
    if summary.records != submitted || !summary.foreign.is_empty() {
        return Err(format!(
            "{} records verified for {submitted} submissions, foreign messages at {:?}",
            summary.records, summary.foreign
        ));
    }
    Ok(submitted)
}
