//! Fuzz targets for Homeward's network edge: the envelope parser and the
//! gateway's checks.
//!
//! Each target is a plain function over bytes, so libFuzzer (`cargo fuzz`,
//! through `fuzz_targets/`) and the built-in mutator (`src/bin/mutate.rs`,
//! on the stable toolchain) run exactly the same code. A target panics only
//! when an invariant breaks, and every panic is a finding: the gateway must
//! decide on any input without panicking, and what it decides must hold
//! together.
//!
//! # Layout
//! - [`envelope`]: `Envelope::parse`, and round trips of what it accepts.
//! - [`validator`]: `check::check` with the demo policy, on the raw bytes
//!   and, where they are a JSON object, re-signed by the member they name,
//!   so mutations reach the checks behind the signature.
//! - [`corpus`]: the hostile corpus reader, shared with the gateway's test;
//!   [`seeds`] builds it with this crate's keys.
//! - [`mutator`]: the built-in mutator.

#[path = "../../services/gateway/tests/gateway/hostile/corpus.rs"]
pub mod corpus;
pub mod mutator;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use homeward_core::envelope::{
    EnvelopeBuilder, MAX_ENVELOPE_BYTES, ParseError, format_time, sign_value,
};
use homeward_core::policy::Role;
use homeward_core::receipt::{Decision, RECEIPT_TYPE, Reason, Receipt};
use homeward_core::{Envelope, MemberId, Policy, RejectionCode, SchemaRegistry, SigningKey};
use homeward_gateway::check::{self, MAX_REASONS, Rejected, Rules};
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::datetime;

/// The gateway's clock in every target run: fixed, so a finding replays.
pub const NOW: OffsetDateTime = datetime!(2026-06-01 00:00:00 UTC);

/// The gateway's time window, as deployed.
const TIME_WINDOW: Duration = Duration::from_secs(600);

/// The demo policy with a key per member made here, the schemas, and the
/// gateway's own identity: built once per process.
#[derive(Debug)]
pub struct Fixture {
    pub schemas: SchemaRegistry,
    pub policy: Policy,
    /// Signing keys by member id.
    pub keys: BTreeMap<String, SigningKey>,
    /// Every member, in policy order; the first byte of a validator input
    /// picks the submitter among them.
    pub members: Vec<MemberId>,
    gateway: MemberId,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| match build_fixture() {
    Ok(f) => f,
    Err(e) => panic!("the fuzz fixture does not build: {e:#}"),
});

/// The shared fixture.
pub fn fixture() -> &'static Fixture {
    &FIXTURE
}

fn build_fixture() -> anyhow::Result<Fixture> {
    let schemas = SchemaRegistry::embedded()?;
    let mut policy: toml::Table = toml::from_str(include_str!("../../deploy/policy/demo.toml"))?;
    // The demo's keyring is made by `homeward keys generate`; ours replaces it.
    policy.remove("keyrings");
    let members: Vec<MemberId> = policy
        .get("member")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("id").and_then(toml::Value::as_str))
        .map(MemberId::parse)
        .collect::<Result<_, _>>()?;
    // Deterministic keys, valid from a day before NOW as development keys are.
    let valid_from = format_time(NOW - time::Duration::days(1));
    let mut keys = BTreeMap::new();
    let mut ring = String::new();
    for (i, member) in members.iter().enumerate() {
        let key = SigningKey::from_raw_seed([u8::try_from(i + 1)?; 32]);
        ring.push_str(&format!(
            "[[key]]\nmember = \"{member}\"\npublic = \"{}\"\nvalid_from = \"{valid_from}\"\n\n",
            key.public()
        ));
        keys.insert(member.to_string(), key);
    }
    let policy = Policy::from_toml(
        "deploy/policy/demo.toml (fuzz keys)",
        &toml::to_string(&policy)?,
        &[("fuzz keyring".to_owned(), ring)],
        &schemas,
    )?;
    Ok(Fixture {
        schemas,
        policy,
        keys,
        members,
        gateway: MemberId::parse("homeward.gateway")?,
    })
}

/// Where the hostile corpus lives.
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/hostile")
}

/// The hostile corpus built with the fixture's keys at [`NOW`]: each case
/// with its bytes. Replays' originals (valid envelopes) are built too.
pub fn seeds() -> anyhow::Result<Vec<(corpus::Case, corpus::Built)>> {
    let corpus = corpus::Corpus::load(&corpus_dir())?;
    let f = fixture();
    let keys = |member: &str| {
        f.keys
            .get(member)
            .map(|k| SigningKey::from_seed(&k.seed()).expect("a seed we made parses"))
    };
    corpus
        .cases
        .iter()
        .map(|case| Ok((case.clone(), corpus.build(case, &keys, NOW)?)))
        .collect()
}

/// Encodes a validator input: the submitter's index, then the bytes.
pub fn validator_input(submitter: &MemberId, bytes: &[u8]) -> Vec<u8> {
    let index = fixture()
        .members
        .iter()
        .position(|m| m == submitter)
        .map_or(u8::MAX, |i| i as u8);
    let mut out = vec![index];
    out.extend_from_slice(bytes);
    out
}

/// `Envelope::parse` on arbitrary bytes. Whatever parses must survive a
/// round trip: through its JSON value always, and through its bytes unless
/// the compact form outgrew the size limit (`1E2` comes back as `100.0`,
/// so a full-size envelope of short numbers can grow); the signing bytes
/// are deterministic.
pub fn envelope(data: &[u8]) {
    let Ok(envelope) = Envelope::parse(data) else {
        return;
    };
    let again = Envelope::from_value(envelope.to_value())
        .unwrap_or_else(|e| panic!("a parsed envelope's value does not parse again: {e}"));
    assert_eq!(again, envelope, "round trip through the JSON value");
    let bytes = envelope.to_bytes();
    match Envelope::parse(&bytes) {
        Ok(back) => assert_eq!(back, envelope, "round trip through the bytes"),
        Err(ParseError::TooLarge { .. }) => assert!(
            bytes.len() > MAX_ENVELOPE_BYTES,
            "too large, but only {} bytes",
            bytes.len()
        ),
        Err(e) => panic!("a parsed envelope's bytes do not parse again: {e}"),
    }
    assert_eq!(
        envelope.signing_bytes().ok(),
        again.signing_bytes().ok(),
        "signing bytes of equal envelopes"
    );
    let verdict = envelope.verify_signature().is_ok();
    assert_eq!(
        verdict,
        again.verify_signature().is_ok(),
        "signature verdicts of equal envelopes"
    );
}

/// `check::check` on arbitrary bytes: the first byte picks the submitting
/// member (or none), the rest is the submission. Then, if the submission is
/// a JSON object, it is signed by the key of the member its `source` names
/// (or the submitter's) and checked again at its own `time`, so mutations
/// of data and routing are not all stopped by the signature.
pub fn validator(data: &[u8]) {
    let f = fixture();
    let (selector, bytes) = data.split_first().unwrap_or((&0, &[]));
    let submitter = f
        .members
        .get(usize::from(*selector) % (f.members.len() + 1));
    decide(f, submitter, bytes, NOW);

    let Ok(Value::Object(mut object)) = homeward_core::json::parse_strict(bytes) else {
        return;
    };
    let named = object
        .get("source")
        .and_then(Value::as_str)
        .and_then(|s| MemberId::from_source(s).ok());
    let Some(key) = named
        .as_ref()
        .or(submitter)
        .and_then(|m| f.keys.get(m.as_str()))
    else {
        return;
    };
    if sign_value(&mut object, key).is_err() {
        return;
    }
    let Ok(signed) = serde_json::to_vec(&object) else {
        return;
    };
    let at = object
        .get("time")
        .and_then(Value::as_str)
        .and_then(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
        .unwrap_or(NOW);
    decide(f, submitter, &signed, at);
}

/// How many validator decisions ended in each outcome: accepted, then each
/// rejection code in `RejectionCode::ALL` order. Shows how deep the inputs
/// reach.
static OUTCOMES: [AtomicU64; 1 + RejectionCode::ALL.len()] =
    [const { AtomicU64::new(0) }; 1 + RejectionCode::ALL.len()];

/// The validator's decisions so far, by outcome (`accepted` or a code).
pub fn outcomes() -> Vec<(&'static str, u64)> {
    std::iter::once("accepted")
        .chain(RejectionCode::ALL.iter().map(|c| c.as_str()))
        .zip(OUTCOMES.iter().map(|n| n.load(Ordering::Relaxed)))
        .collect()
}

fn count(outcome: Option<RejectionCode>) {
    let slot = outcome.map_or(0, |code| {
        1 + RejectionCode::ALL
            .iter()
            .position(|c| *c == code)
            .unwrap_or(0)
    });
    OUTCOMES[slot].fetch_add(1, Ordering::Relaxed);
}

/// One decision, and everything that must hold of it.
fn decide(f: &Fixture, submitter: Option<&MemberId>, bytes: &[u8], now: OffsetDateTime) {
    let rules = Rules {
        schemas: &f.schemas,
        policy: &f.policy,
        time_window: TIME_WINDOW,
    };
    let decision = check::check(&rules, submitter, bytes, now);
    count(
        decision
            .as_ref()
            .err()
            .and_then(|r| r.reasons.first())
            .map(|r| r.code),
    );
    match decision {
        Ok(accepted) => {
            let envelope = &accepted.envelope;
            assert_eq!(
                Some(envelope.sender()),
                submitter,
                "accepted from its sender"
            );
            envelope
                .verify_signature()
                .unwrap_or_else(|e| panic!("accepted, but the signature fails: {e}"));
            assert!(!accepted.recipients.is_empty(), "accepted for nobody");
            for r in &accepted.recipients {
                let member = f
                    .policy
                    .member(r)
                    .unwrap_or_else(|| panic!("accepted for {r}, not a member"));
                assert!(
                    !matches!(member.role, Role::Gateway | Role::Operator),
                    "accepted for {r}, which receives no deliveries"
                );
            }
            assert!(
                f.schemas.validate_envelope(&envelope.to_value()).is_empty(),
                "accepted, but breaks the envelope schema"
            );
            receipt_builds(
                f,
                Some(envelope.id()),
                Some(envelope.message_type()),
                envelope.subject(),
                Decision::Accepted,
                accepted
                    .recipients
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                Vec::new(),
            );
        }
        Err(Rejected { known, reasons }) => {
            assert!(
                !reasons.is_empty() && reasons.len() <= MAX_REASONS,
                "{} reasons",
                reasons.len()
            );
            assert!(
                reasons.iter().all(|r| r.code == reasons[0].code),
                "one rejection, several codes: {reasons:?}"
            );
            receipt_builds(
                f,
                known.id.as_deref(),
                known.message_type.as_deref(),
                known.case.as_deref(),
                Decision::Rejected,
                Vec::new(),
                reasons,
            );
        }
    }
}

/// The receipt the gateway builds from what it knows of a submission must
/// build, and be valid against the envelope and receipt schemas: if it
/// could not be built, the gateway would fail the batch and be handed the
/// same submission again, forever.
fn receipt_builds(
    f: &Fixture,
    id: Option<&str>,
    kind: Option<&str>,
    case: Option<&str>,
    decision: Decision,
    recipients: Vec<String>,
    reasons: Vec<Reason>,
) {
    let receipt = Receipt {
        submission_id: id.map(str::to_owned),
        submission_sequence: "1".to_owned(),
        submission_sha256: Some("0".repeat(64)),
        submission_type: kind.map(str::to_owned),
        decision,
        recipients,
        reasons,
        received_at: format_time(NOW),
        decided_at: Some(format_time(NOW)),
    };
    let schema = f
        .schemas
        .latest_schema_id(RECEIPT_TYPE)
        .expect("a receipt schema");
    let data = serde_json::to_value(&receipt).expect("a receipt serialises");
    let mut builder = EnvelopeBuilder::new(RECEIPT_TYPE, &schema, data);
    if let Some(id) = id {
        builder = builder.causationid(id);
    }
    if let Some(case) = case {
        builder = builder.subject(case);
    }
    let envelope = builder
        .sign(&f.gateway, &f.keys[f.gateway.as_str()])
        .unwrap_or_else(|e| panic!("the {} receipt does not build: {e}", decision.as_str()));
    let violations = f.schemas.validate_envelope(&envelope.to_value());
    assert!(violations.is_empty(), "receipt envelope: {violations:?}");
    if let Err(e) = f
        .schemas
        .validate_data(RECEIPT_TYPE, envelope.dataschema(), envelope.data())
    {
        panic!("the receipt breaks its schema: {e:?}");
    }
}
