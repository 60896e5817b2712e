//! The whole scenario replayed through every service with a console
//! watching as the operator: each view says what the audit record says,
//! live; a late case, a stopped service and its stuck consumer are marked;
//! and no page or response holds a person's name or birth date.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use homeward_core::audit::AuditRecord;
use homeward_replay::plan;
use homeward_replay::replay::{self, Progress};
use homeward_scenario::population::Population;
use serde_json::Value;

use crate::support::{
    ConsoleUnderTest, LATE_FAMILY, UNCONFIRMED_FAMILY, audit_records, world_with_console,
};

/// The names, aliases and exact birth dates of every person in the census
/// files: what no console page may hold.
fn personal_data(census: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut out = Vec::new();
    let files = census
        .iter()
        .map(|(_, csv)| csv.as_slice())
        .chain([LATE_FAMILY.as_bytes(), UNCONFIRMED_FAMILY.as_bytes()]);
    for csv in files {
        let mut reader = csv::Reader::from_reader(csv);
        let headers = reader.headers().expect("headers").clone();
        for row in reader.records() {
            let row = row.expect("row");
            for (name, value) in headers.iter().zip(row.iter()) {
                let value = value.trim();
                match name {
                    // Whole names only: a short given name could be a
                    // word of the page itself.
                    "name_latn" | "name_cyrl" | "name_arab" | "aliases"
                        if value.chars().count() >= 6 =>
                    {
                        out.push(value.to_owned())
                    }
                    "birth_date" if value.len() == 10 => out.push(value.to_owned()),
                    _ => {}
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn scan(what: &str, text: &str, personal: &[String]) {
    for p in personal {
        assert!(
            !text.contains(p.as_str()),
            "{what} holds personal data: {p:?}"
        );
    }
}

fn flows_of(snapshot: &Value) -> BTreeMap<(String, String, String), u64> {
    snapshot["flows"]
        .as_array()
        .expect("flows")
        .iter()
        .map(|f| {
            (
                (
                    f["sender"].as_str().unwrap_or("").to_owned(),
                    f["recipient"].as_str().unwrap_or("").to_owned(),
                    f["type"].as_str().unwrap_or("").to_owned(),
                ),
                f["total"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn consumer<'a>(snapshot: &'a Value, name: &str) -> Option<&'a Value> {
    snapshot["backlog"]
        .as_array()?
        .iter()
        .find(|c| c["consumer"] == name)
}

fn service<'a>(snapshot: &'a Value, member: &str) -> Option<&'a Value> {
    snapshot["services"]
        .as_array()?
        .iter()
        .find(|s| s["member"] == member)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_follows_the_replay_live_and_holds_no_personal_data() {
    let (local, world, api, console) = world_with_console().await;
    let population = Population::generate(2019);
    let census = plan::census(&population);
    let plans = plan::plans(&population);
    let case_ref = plans[0].case_ref.clone();
    replay::run(
        &api,
        census.clone(),
        plan::REGISTERED_ON,
        plans,
        12,
        Arc::new(Progress::default()),
    )
    .await
    .expect("the replay runs to the end");

    // Flows: exactly the audit record's deliveries, by sender, recipient
    // and type.
    let records = audit_records(&local).await;
    let mut expected: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for r in records.iter().filter(|r| r.decision == "accepted") {
        for to in &r.recipients {
            *expected
                .entry((
                    r.sender.clone(),
                    to.clone(),
                    r.message_type.clone().unwrap_or_default(),
                ))
                .or_default() += 1;
        }
    }
    let n = records.len() as u64;
    let snapshot = console
        .wait_for("every decision read", Duration::from_secs(30), |s| {
            s["decisions"].as_u64() == Some(n)
        })
        .await;
    assert_eq!(flows_of(&snapshot), expected);
    assert!(
        snapshot["auditIntact"].as_bool().expect("intact"),
        "{:#}",
        snapshot["audit"]
    );
    assert_eq!(snapshot["audit"]["records"].as_u64(), Some(n));
    assert_eq!(snapshot["audit"]["lastSequence"].as_u64(), Some(n));

    // Services: the gateway and every member's service answer discovery.
    let members: Vec<String> = local
        .policy
        .members()
        .filter(|m| m.role != homeward_core::policy::Role::Operator)
        .map(|m| m.id.to_string())
        .collect();
    let snapshot = console
        .wait_for("every service up", Duration::from_secs(10), |s| {
            members
                .iter()
                .all(|m| service(s, m).is_some_and(|x| x["up"] == true))
        })
        .await;
    let mfa = service(&snapshot, "kz.mfa").expect("kz.mfa");
    assert_eq!(mfa["instances"][0]["name"], "homeward-foreign-affairs");
    assert!(
        mfa["instances"][0]["processed"].as_u64().unwrap_or(0) > 0,
        "{mfa:#}"
    );

    // The case timeline: every decision about the case, in order, as the
    // audit record has them.
    let timeline = console.json(&format!("/api/cases/{case_ref}")).await;
    let steps: Vec<(String, String)> = timeline["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["type"].as_str().unwrap_or("").to_owned(),
                s["sender"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let on_record: Vec<(String, String)> = records
        .iter()
        .filter(|r| r.case.as_deref() == Some(case_ref.as_str()))
        .map(|r| (r.message_type.clone().unwrap_or_default(), r.sender.clone()))
        .collect();
    assert_eq!(steps, on_record);
    for stage in [
        "camp.resident.located",
        "identity.verification.completed",
        "repatriation.decided",
        "handover.completed",
        "arrival.recorded",
        "reintegration.registered",
    ] {
        assert!(
            steps.iter().any(|(t, _)| t == stage),
            "{case_ref} has no {stage}: {steps:?}"
        );
    }
    assert!(
        timeline["steps"][0]["decidedInMs"].as_i64().is_some(),
        "{:#}",
        timeline["steps"][0]
    );
    let unknown = console.get("/api/cases/HOL-NOT-A-CASE").await;
    assert_eq!(unknown.status(), 404);
    let bad = console.get("/api/cases/%3Cscript%3E").await;
    assert_eq!(bad.status(), 400);

    // A rejection is in the Rejections view within 2 s, with its code,
    // sentence and instance path.
    let kz = local.member("kz.mfa").await.expect("kz.mfa");
    let sent = tokio::time::Instant::now();
    kz.submit_bytes("", br#"{"specversion":"1.0","id":"x"}"#.to_vec())
        .await
        .expect("the submission is stored");
    let rejection = loop {
        let r = console.json("/api/rejections?member=kz.mfa").await;
        if let Some(first) = r["rejections"].as_array().and_then(|a| a.first()).cloned() {
            break first;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(2),
            "no rejection shown within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(rejection["sender"], "kz.mfa");
    assert_eq!(rejection["codes"][0], "bad_envelope", "{rejection:#}");
    assert!(
        rejection["reasons"][0]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{rejection:#}"
    );
    assert!(
        rejection["reasons"][0]["instancePath"].as_str().is_some(),
        "{rejection:#}"
    );
    let other = console.json("/api/rejections?member=uz.mfa").await;
    assert_eq!(other["rejections"], Value::Array(vec![]));

    // A family the security service is asked to verify: the console
    // counts it among the cases waiting for an official's confirmation.
    api.command(
        plan::CAMP_AUTHORITY,
        "census?registeredOn=2019-05-01",
        UNCONFIRMED_FAMILY.as_bytes().to_vec(),
    )
    .await
    .expect("the census is taken");
    console
        .wait_for(
            "a case waiting for kz.security's confirmation",
            Duration::from_secs(20),
            |s| {
                s["waiting"].as_array().is_some_and(|w| {
                    w.iter().any(|x| {
                        x["stage"] == "identity.verification.requested"
                            && x["member"] == "kz.security"
                            && x["cases"].as_u64() >= Some(1)
                    })
                })
            },
        )
        .await;

    // A family nobody moves on is late; with Kazakhstan's
    // foreign ministry stopped, its consumer is stuck and its service down.
    world.stop_member("kz.mfa").expect("stops");
    // A rejection while its service is away: a running service takes its
    // own rejected copies (to send again what was refused for now, and
    // acks a refusal for good at once), so this one waits.
    kz.submit_bytes("", br#"{"specversion":"1.0","id":"y"}"#.to_vec())
        .await
        .expect("the submission is stored");
    api.command(
        plan::CAMP_AUTHORITY,
        "census?registeredOn=2019-05-01",
        LATE_FAMILY.as_bytes().to_vec(),
    )
    .await
    .expect("the census is taken");
    let snapshot = console
        .wait_for(
            "kz.mfa's consumer stuck, its service down, its rejection waiting, the family late",
            Duration::from_secs(20),
            |s| {
                consumer(s, "deliver_kz_mfa").is_some_and(|c| c["stuck"] == true)
                    && service(s, "kz.mfa").is_some_and(|x| x["up"] == false)
                    && consumer(s, "rejected_kz_mfa").is_some_and(|c| {
                        c["pending"].as_u64().unwrap_or(0) + c["ackPending"].as_u64().unwrap_or(0)
                            > 0
                    })
                    && s["late"]
                        .as_array()
                        .is_some_and(|l| l.iter().any(|c| c["case"] == "HOL-P5-000991"))
            },
        )
        .await;
    let stuck = consumer(&snapshot, "deliver_kz_mfa").expect("consumer");
    assert_eq!(stuck["member"], "kz.mfa");
    assert!(stuck["pending"].as_u64().unwrap_or(0) + stuck["ackPending"].as_u64().unwrap_or(0) > 0);
    assert!(
        stuck["oldestUnackedSeconds"].as_i64().is_some(),
        "{stuck:#}"
    );
    // The others are not.
    assert!(service(&snapshot, "uz.mfa").is_some_and(|x| x["up"] == true));
    assert!(consumer(&snapshot, "deliver_uz_mfa").is_some_and(|c| c["stuck"] == false));
    // kz.mfa's rejected copy waits until its service is back: not stuck.
    let rejected = consumer(&snapshot, "rejected_kz_mfa").expect("its rejected consumer");
    assert!(
        rejected["pending"].as_u64().unwrap_or(0) + rejected["ackPending"].as_u64().unwrap_or(0)
            > 0,
        "{rejected:#}"
    );
    assert_eq!(rejected["stuck"], false, "{rejected:#}");

    // No page, no response, holds a name or a birth date.
    let personal = personal_data(&census);
    assert!(
        personal.len() > 1000,
        "{} values to look for",
        personal.len()
    );
    scan_everything(&console, &records, &personal).await;

    world.stop().await.expect("the services stop");
    console.stop().await;
}

/// Every page and API response of the console, and every case's timeline.
async fn scan_everything(console: &ConsoleUnderTest, records: &[AuditRecord], personal: &[String]) {
    for path in [
        "/",
        "/app.js",
        "/style.css",
        "/api/snapshot",
        "/api/rejections",
        "/api/rejections?code=bad_envelope",
        "/metrics",
        "/health",
    ] {
        let r = console.get(path).await;
        assert!(r.status().is_success(), "{path}: {}", r.status());
        scan(path, &r.text().await.expect("text"), personal);
    }
    let mut cases: Vec<&str> = records.iter().filter_map(|r| r.case.as_deref()).collect();
    cases.sort();
    cases.dedup();
    for case in cases {
        let path = format!("/api/cases/{case}");
        let r = console.get(&path).await;
        assert!(r.status().is_success(), "{path}: {}", r.status());
        scan(&path, &r.text().await.expect("text"), personal);
    }
    // The live feed's first event.
    let mut live = console.get("/api/live").await;
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = live
            .chunk()
            .await
            .expect("reads")
            .expect("the feed goes on");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("event: snapshot"), "{text}");
    scan("/api/live", &text, personal);
}
