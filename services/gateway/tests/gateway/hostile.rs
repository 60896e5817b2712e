//! The hostile corpus (`tests/hostile/` at the repository root) against one
//! gateway: every crafted submission is sent, then each is checked.
//!
//! Each case must be rejected with exactly its expected code, in the receipt
//! (itself a valid receipt signed by the gateway), in `HW_REJECTED` (which
//! holds the submitted bytes exactly) and in the audit record; nothing of
//! the corpus is delivered; no receipt, rejection or audit record repeats
//! the synthetic names the corpus carries; the gateway accepts and delivers
//! a valid message sent after all of it, stops cleanly, and the audit chain
//! verifies. One deployment for the whole corpus keeps this to seconds.

mod corpus;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use homeward_core::audit::{AuditRecord, sha256_hex};
use homeward_core::client::MemberClient;
use homeward_core::receipt::{Decision, Receipt};
use homeward_core::{MemberId, RejectionCode, SigningKey, subjects};
use homeward_gateway::check::MAX_REASONS;
use time::OffsetDateTime;

use self::corpus::{Built, Case, Corpus};
use crate::support::{
    audit_chain, checked_receipt, deployment, header, jetstream, processed, read_all, receipt_for,
    recipient_of, submit_seq, wait_for_records,
};

/// Where the corpus lives.
fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/hostile")
}

/// Synthetic names in the corpus's data carry this word; nothing the
/// gateway writes about a rejection may repeat it.
const CANARY: &str = "CANARY";

/// The categories the README lists.
const CATEGORIES: [&str; 16] = [
    "json",
    "encoding",
    "nesting",
    "size",
    "duplicate-keys",
    "types",
    "fields",
    "signature",
    "keys",
    "sender",
    "policy",
    "schema",
    "routing",
    "time",
    "ids",
    "replay",
];

fn load() -> Corpus {
    Corpus::load(&corpus_dir()).unwrap_or_else(|e| panic!("the hostile corpus: {e:#}"))
}

#[test]
fn the_corpus_is_well_formed_and_every_case_builds() {
    let corpus = load();
    assert!(
        corpus.cases.len() >= 60,
        "{} cases; the corpus promises at least 60",
        corpus.cases.len()
    );
    let used: BTreeSet<&str> = corpus.cases.iter().map(|c| c.category.as_str()).collect();
    let listed: BTreeSet<&str> = CATEGORIES.into_iter().collect();
    assert_eq!(used, listed, "categories used and listed differ");
    // Any keys will do to see that each recipe builds.
    let keys = |member: &str| {
        MemberId::parse(member).ok()?;
        let mut seed = [7u8; 32];
        for (i, b) in member.bytes().enumerate() {
            seed[i % 32] ^= b;
        }
        Some(SigningKey::from_raw_seed(seed))
    };
    let now = OffsetDateTime::now_utc();
    for case in &corpus.cases {
        let built = corpus
            .build(case, &keys, now)
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(
            built.original.is_some(),
            case.expect == RejectionCode::Duplicate,
            "{}: a replay, and only a replay, expects duplicate",
            case.name
        );
    }
}

/// What the gateway wrote about one submission.
#[derive(Default)]
struct Outputs {
    receipt: Option<(String, Receipt, Vec<u8>)>,
    rejected: Option<async_nats::jetstream::Message>,
    record: Option<(AuditRecord, Vec<u8>)>,
}

#[tokio::test]
async fn every_hostile_submission_is_refused_with_its_own_code() {
    let corpus = load();
    let (local, gateway) = deployment().await;
    let js = jetstream(&local).await;
    let now = OffsetDateTime::now_utc();
    let keys = |member: &str| local.key(member).ok();
    let built: Vec<Built> = corpus
        .cases
        .iter()
        .map(|c| {
            corpus
                .build(c, &keys, now)
                .unwrap_or_else(|e| panic!("{e:#}"))
        })
        .collect();

    let mut clients: BTreeMap<String, MemberClient> = BTreeMap::new();
    for by in corpus.cases.iter().map(|c| c.by.as_str()).chain(["kz.mfa"]) {
        if !clients.contains_key(by) {
            let client = local.member(by).await.expect("member client");
            clients.insert(by.to_owned(), client);
        }
    }

    // The originals of the replays, each accepted before the corpus starts.
    let mut controls: Vec<u64> = Vec::new();
    for (case, b) in corpus.cases.iter().zip(&built) {
        let Some(original) = &b.original else {
            continue;
        };
        let client = &clients[&case.by];
        let ack = client
            .submit_bytes(b.envelope_id.as_deref().unwrap_or(""), original.clone())
            .await
            .expect("submitted");
        let receipt = receipt_for(&local, &js, client.member(), ack.sequence).await;
        assert_eq!(
            receipt.decision,
            Decision::Accepted,
            "{}: the original is accepted: {receipt:?}",
            case.name
        );
        controls.push(ack.sequence);
    }

    // The whole corpus, then one valid message.
    let mut sequences = Vec::with_capacity(built.len());
    for (case, b) in corpus.cases.iter().zip(&built) {
        let ack = clients[&case.by]
            .submit_bytes(&format!("hostile-{}", case.name), b.bytes.clone())
            .await
            .unwrap_or_else(|e| panic!("{}: the stream refused it: {e}", case.name));
        assert!(!ack.duplicate, "{}: the stream took it", case.name);
        sequences.push(ack.sequence);
    }
    let probe = &clients["kz.mfa"];
    let last = probe.submit(&processed(&local)).await.expect("submitted");
    controls.push(last.sequence);

    let all: Vec<u64> = sequences.iter().chain(&controls).copied().collect();
    wait_for_records(&js, &all, Duration::from_secs(120)).await;

    // The audit record is written after everything else a decision stores,
    // so every receipt, rejection and delivery is in its stream by now.
    let mut outputs: BTreeMap<u64, Outputs> = BTreeMap::new();
    for m in read_all(&js, subjects::RECEIPTS_STREAM, subjects::RECEIPT_ALL).await {
        let (_, receipt) = checked_receipt(&local, &m.payload);
        let seq: u64 = receipt.submission_sequence.parse().expect("sequence");
        let slot = &mut outputs.entry(seq).or_default().receipt;
        assert!(slot.is_none(), "submission {seq} has two receipts");
        *slot = Some((m.subject.to_string(), receipt, m.payload.to_vec()));
    }
    for m in read_all(&js, subjects::REJECTED_STREAM, subjects::REJECTED_ALL).await {
        let seq = submit_seq(&m).expect("a rejection names its submission");
        let slot = &mut outputs.entry(seq).or_default().rejected;
        assert!(slot.is_none(), "submission {seq} was rejected twice");
        *slot = Some(m);
    }
    let chain = audit_chain(&js).await;
    assert_eq!(
        homeward_core::audit::verify_chain(chain.clone()).map(|s| (s.records, s.foreign.len())),
        Ok((all.len() as u64, 0)),
        "the audit chain verifies, one record per submission"
    );
    for (_, bytes) in chain {
        let record: AuditRecord = serde_json::from_slice(&bytes).expect("record");
        let seq: u64 = record.submission_sequence.parse().expect("sequence");
        outputs.entry(seq).or_default().record = Some((record, bytes));
    }

    // Only the controls were delivered, each once, to its one recipient;
    // a delivery of a case is reported with the case.
    let mut delivered: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for d in read_all(&js, subjects::DELIVER_STREAM, subjects::DELIVER_ALL).await {
        let seq = submit_seq(&d).expect("a delivery names its submission");
        delivered.entry(seq).or_default().push(recipient_of(&d));
    }
    for seq in &controls {
        assert_eq!(
            delivered.remove(seq),
            Some(vec!["aanes.camps".to_owned()]),
            "control submission {seq} is delivered once, to aanes.camps"
        );
    }
    let (_, last_receipt, _) = outputs[&last.sequence]
        .receipt
        .as_ref()
        .expect("the last control's receipt");
    assert_eq!(
        last_receipt.decision,
        Decision::Accepted,
        "the gateway still accepts after the corpus: {last_receipt:?}"
    );

    let mut failures = Vec::new();
    for ((case, b), seq) in corpus.cases.iter().zip(&built).zip(&sequences) {
        let outputs = outputs.remove(seq).unwrap_or_default();
        if let Some(to) = delivered.remove(seq) {
            failures.push(format!(
                "{} (submission {seq}): delivered to {to:?}",
                case.name
            ));
        }
        for problem in problems(case, b, &outputs) {
            failures.push(format!("{} (submission {seq}): {problem}", case.name));
        }
    }
    assert!(
        delivered.is_empty(),
        "deliveries of submissions nobody made: {delivered:?}"
    );
    assert!(
        failures.is_empty(),
        "{} problems over {} cases:\n{}",
        failures.len(),
        corpus.cases.len(),
        failures.join("\n")
    );
    gateway
        .stop()
        .await
        .expect("the gateway ran through the corpus and stops cleanly");
}

/// Everything wrong with what the gateway wrote about one case.
fn problems(case: &Case, built: &Built, outputs: &Outputs) -> Vec<String> {
    let mut out = Vec::new();
    let code = case.expect;
    let sha = sha256_hex(&built.bytes);
    let by = MemberId::parse(&case.by).expect("member");
    let only_code = |codes: &[RejectionCode]| !codes.is_empty() && codes.iter().all(|c| *c == code);

    match &outputs.receipt {
        None => out.push("no receipt".to_owned()),
        Some((subject, receipt, bytes)) => {
            if *subject != subjects::receipt(&by) {
                out.push(format!("receipt on {subject}"));
            }
            if receipt.decision != Decision::Rejected || !only_code(&receipt.codes()) {
                out.push(format!(
                    "receipt says {} {:?}, expected rejected [{code}]: {:?}",
                    receipt.decision.as_str(),
                    receipt.codes(),
                    receipt.reasons
                ));
            }
            if !receipt.recipients.is_empty() {
                out.push(format!("receipt names recipients {:?}", receipt.recipients));
            }
            if receipt.reasons.len() > MAX_REASONS {
                out.push(format!("{} reasons", receipt.reasons.len()));
            }
            if receipt.submission_sha256.as_deref() != Some(sha.as_str()) {
                out.push("receipt names other bytes".to_owned());
            }
            let named = receipt.submission_id.as_deref();
            if named.is_some() && named != built.envelope_id.as_deref() {
                out.push(format!("receipt names id {named:?}"));
            }
            if let Some(want) = case.names_id
                && want != named.is_some()
            {
                out.push(format!("receipt names id {named:?}; names_id is {want}"));
            }
            if contains(bytes, CANARY) {
                out.push("the receipt repeats data from the message".to_owned());
            }
        }
    }

    match &outputs.rejected {
        None => out.push("nothing in HW_REJECTED".to_owned()),
        Some(m) => {
            if m.subject.as_str() != subjects::rejected(&by) {
                out.push(format!("rejection on {}", m.subject));
            }
            if m.payload[..] != built.bytes[..] {
                out.push("HW_REJECTED holds other bytes than were sent".to_owned());
            }
            let codes = header(m, subjects::headers::CODES).unwrap_or("");
            if codes.is_empty() || !codes.split(',').all(|c| c == code.as_str()) {
                out.push(format!("Hw-Codes {codes:?}, expected {code}"));
            }
            let headers = m
                .headers
                .as_ref()
                .map(|h| format!("{h:?}"))
                .unwrap_or_default();
            if headers.contains(CANARY) {
                out.push("the rejection's headers repeat data from the message".to_owned());
            }
        }
    }

    match &outputs.record {
        None => out.push("no audit record".to_owned()),
        Some((record, bytes)) => {
            if record.decision != "rejected" || record.codes != [code.as_str()] {
                out.push(format!(
                    "audit record says {} {:?}, expected rejected [{code}]",
                    record.decision, record.codes
                ));
            }
            if record.sender != case.by {
                out.push(format!("audit record names sender {}", record.sender));
            }
            if record.envelope_sha256 != sha {
                out.push("audit record names other bytes".to_owned());
            }
            let receipt_id = outputs
                .receipt
                .as_ref()
                .and_then(|(_, r, _)| r.submission_id.clone());
            if record.envelope_id != receipt_id {
                out.push(format!(
                    "audit record names id {:?}, the receipt {receipt_id:?}",
                    record.envelope_id
                ));
            }
            if !record.recipients.is_empty() {
                out.push(format!(
                    "audit record names recipients {:?}",
                    record.recipients
                ));
            }
            if contains(bytes, CANARY) {
                out.push("the audit record repeats data from the message".to_owned());
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}
