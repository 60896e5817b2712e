//! The audit chain: one record per submission, verifiable from `HW_AUDIT`
//! alone, tamper-evident, and free of personal data.

use std::collections::BTreeMap;

use homeward_core::audit::{AuditRecord, verify_chain};
use homeward_core::client::MemberClient;
use homeward_core::envelope::Envelope;
use homeward_core::{MemberId, subjects};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::support::{
    Tail, WAIT, audit_chain, builder, deployment, example, invalid_example, jetstream, processed,
    resign,
};

/// Every person name and birth date in a message.
fn personal_data(value: &Value, names: &mut Vec<String>, birth_dates: &mut Vec<String>) {
    match value {
        Value::Object(o) => {
            for (key, v) in o {
                match (key.as_str(), v) {
                    ("names", Value::Array(list)) => names.extend(
                        list.iter()
                            .filter_map(|n| n["value"].as_str())
                            .map(str::to_owned),
                    ),
                    ("birthDate", Value::Object(d)) => birth_dates
                        .extend(d.get("value").and_then(Value::as_str).map(str::to_owned)),
                    _ => {}
                }
                personal_data(v, names, birth_dates);
            }
        }
        Value::Array(list) => list
            .iter()
            .for_each(|v| personal_data(v, names, birth_dates)),
        _ => {}
    }
}

/// What a run expects the record of each submission to say.
struct Expected {
    decision: &'static str,
    codes: Vec<&'static str>,
}

async fn submit(
    client: &MemberClient,
    msg_id: &str,
    bytes: Vec<u8>,
    expected: Expected,
    run: &mut BTreeMap<u64, Expected>,
) {
    let ack = client.submit_bytes(msg_id, bytes).await.expect("submitted");
    assert!(!ack.duplicate);
    run.insert(ack.sequence, expected);
}

fn accepted() -> Expected {
    Expected {
        decision: "accepted",
        codes: vec![],
    }
}

fn rejected(code: &'static str) -> Expected {
    Expected {
        decision: "rejected",
        codes: vec![code],
    }
}

#[tokio::test]
async fn the_chain_verifies_names_tampering_and_holds_no_personal_data() {
    let (local, gateway) = deployment().await;
    let js = jetstream(&local).await;
    let camps = local.member("aanes.camps").await.expect("member");
    let mfa = local.member("kz.mfa").await.expect("member");
    let rehab = local.member("kz.rehab").await.expect("member");
    let mut run: BTreeMap<u64, Expected> = BTreeMap::new();
    let mut sent: Vec<Value> = Vec::new();

    // Accepted: three families and a processing receipt.
    let families: Vec<Envelope> = [
        "kazakh-family-al-hol.json",
        "kyrgyz-family-roj.json",
        "orphan-siblings-annex.json",
    ]
    .iter()
    .map(|f| resign(&local, &example("camp.resident.located", f)))
    .collect();
    for family in &families {
        submit(&camps, family.id(), family.to_bytes(), accepted(), &mut run).await;
        sent.push(family.to_value());
    }
    let receipt = processed(&local);
    submit(&mfa, receipt.id(), receipt.to_bytes(), accepted(), &mut run).await;

    // Rejected, each carrying names and birth dates in its bytes.
    let invalid = invalid_example("camp.resident.located", "bad-partial-birth-date.json");
    let violation = resign(&local, &invalid["envelope"]);
    submit(
        &camps,
        violation.id(),
        violation.to_bytes(),
        rejected("schema_violation"),
        &mut run,
    )
    .await;
    sent.push(violation.to_value());
    let old = builder(&example("camp.resident.located", "kyrgyz-family-roj.json"))
        .time(OffsetDateTime::now_utc() - time::Duration::hours(1))
        .sign(
            &MemberId::parse("aanes.camps").expect("member"),
            &local.key("aanes.camps").expect("key"),
        )
        .expect("signs");
    submit(
        &camps,
        old.id(),
        old.to_bytes(),
        rejected("stale"),
        &mut run,
    )
    .await;
    let request = builder(&example("repatriation.requested", "kazakh-family.json"))
        .sign(
            &MemberId::parse("kz.rehab").expect("member"),
            &local.key("kz.rehab").expect("key"),
        )
        .expect("signs");
    submit(
        &rehab,
        request.id(),
        request.to_bytes(),
        rejected("not_permitted"),
        &mut run,
    )
    .await;
    let whole = families[0].to_bytes();
    submit(
        &camps,
        "",
        whole[..whole.len() - 10].to_vec(),
        rejected("malformed_json"),
        &mut run,
    )
    .await;
    let mut foreign = example("camp.resident.located", "orphan-siblings-annex.json");
    foreign["data"]["claimedNationality"] = json!("FR");
    let foreign = resign(&local, &foreign);
    submit(
        &camps,
        foreign.id(),
        foreign.to_bytes(),
        rejected("no_recipient"),
        &mut run,
    )
    .await;
    sent.push(foreign.to_value());

    let mut audit = Tail::new(&js, subjects::AUDIT_STREAM, subjects::AUDIT_ALL).await;
    audit.take(run.len(), WAIT).await;
    // A resend of the first family under another message id, once the
    // first is on the record (in one batch, either could be the one
    // accepted).
    submit(
        &camps,
        "resent",
        families[0].to_bytes(),
        rejected("duplicate"),
        &mut run,
    )
    .await;
    audit.take(1, WAIT).await;
    gateway.stop().await.expect("gateway stops");

    let chain = audit_chain(&js).await;
    assert_eq!(
        verify_chain(chain.clone()).map(|s| (s.records, s.foreign.len())),
        Ok((run.len() as u64, 0))
    );
    assert_eq!(chain.len(), run.len(), "one record per submission");
    let records: Vec<AuditRecord> = chain
        .iter()
        .map(|(_, bytes)| serde_json::from_slice(bytes).expect("record"))
        .collect();
    let mut seen = BTreeMap::new();
    for r in &records {
        let seq: u64 = r.submission_sequence.parse().expect("sequence");
        assert!(
            seen.insert(seq, ()).is_none(),
            "two records for submission {seq}"
        );
        let expected = run.get(&seq).expect("a record of a submission we made");
        assert_eq!(r.decision, expected.decision, "submission {seq}: {r:?}");
        assert_eq!(r.codes, expected.codes, "submission {seq}: {r:?}");
        assert_eq!(r.gateway, "gw-test");
    }

    // No record carries a name or a birth date of anyone in the messages.
    let (mut names, mut birth_dates) = (Vec::new(), Vec::new());
    for message in &sent {
        personal_data(message, &mut names, &mut birth_dates);
    }
    assert!(names.len() >= 10 && birth_dates.len() >= 5);
    for (seq, bytes) in &chain {
        let text = std::str::from_utf8(bytes).expect("utf-8");
        for name in &names {
            assert!(!text.contains(name.as_str()), "record {seq} names {name:?}");
        }
        for date in &birth_dates {
            assert!(
                !text.contains(&format!("\"{date}\"")),
                "record {seq} holds birth date {date:?}"
            );
        }
        // No part of a message is copied in: no data field anywhere in
        // the record. A rejection's reasons name schema paths
        // (`/data/persons/0/birthDate`), as the sender's receipt does, and
        // only those strings may spell a field's name.
        let record: serde_json::Value = serde_json::from_slice(bytes).expect("json");
        assert_no_data_field(*seq, &record, false);
    }

    // Tampered copies of the real chain: each break is named where it is.
    let (first, n) = (chain[0].0, chain.len());
    assert_eq!(first, 1);
    assert!(n >= 8);
    let record_at =
        |i: usize| -> AuditRecord { serde_json::from_slice(&chain[i].1).expect("record") };

    // An accepted record turned into a rejection.
    let mut altered = chain.clone();
    let mut r = record_at(2);
    r.decision = "rejected".into();
    r.recipients.clear();
    altered[2].1 = serde_json::to_vec(&r).expect("json");
    let broken = verify_chain(altered).expect_err("an altered record");
    assert_eq!(broken.sequence, chain[2].0);
    assert!(broken.reason.contains("altered"), "{broken}");

    // The same, with its own hash recomputed: the next record gives it away.
    let mut resealed = chain.clone();
    let mut r = record_at(2);
    r.recipients = vec!["uz.mfa".into()];
    let prev = r.prev.clone();
    r.seal(&prev).expect("seals");
    resealed[2].1 = serde_json::to_vec(&r).expect("json");
    let broken = verify_chain(resealed).expect_err("a resealed record");
    assert_eq!(broken.sequence, chain[3].0);

    // A record removed: named at the first record after the gap.
    let mut removed = chain.clone();
    let gone = removed.remove(4).0;
    let broken = verify_chain(removed).expect_err("a removed record");
    assert_eq!(broken.sequence, chain[5].0);
    assert!(broken.reason.contains(&format!("{gone}")), "{broken}");

    // A record removed and the sequence numbers closed up behind it.
    let mut renumbered = chain.clone();
    renumbered.remove(4);
    for (i, entry) in renumbered.iter_mut().enumerate() {
        entry.0 = i as u64 + 1;
    }
    let broken = verify_chain(renumbered).expect_err("a removed record, renumbered");
    assert_eq!(broken.sequence, chain[4].0);

    // Two records swapped in place.
    let mut swapped = chain.clone();
    let (a, b) = (swapped[5].1.clone(), swapped[6].1.clone());
    swapped[5].1 = b;
    swapped[6].1 = a;
    let broken = verify_chain(swapped).expect_err("swapped records");
    assert_eq!(broken.sequence, chain[5].0);

    // The real chain, untouched, still verifies.
    assert_eq!(
        verify_chain(chain).map(|s| (s.records, s.foreign.len())),
        Ok((n as u64, 0))
    );
}

/// Fails if a record holds a data field (a key, or outside its reasons a
/// string, naming `birthDate` or `names`).
fn assert_no_data_field(seq: u64, value: &serde_json::Value, in_reasons: bool) {
    use serde_json::Value;
    match value {
        Value::Object(o) => {
            for (k, v) in o {
                assert!(
                    k != "birthDate" && k != "names" && k != "data",
                    "record {seq} holds the field {k:?}"
                );
                assert_no_data_field(seq, v, in_reasons || k == "reasons");
            }
        }
        Value::Array(a) => a
            .iter()
            .for_each(|v| assert_no_data_field(seq, v, in_reasons)),
        Value::String(s) if !in_reasons => assert!(
            !s.contains("birthDate") && !s.contains("names"),
            "record {seq} holds {s:?}"
        ),
        _ => {}
    }
}
