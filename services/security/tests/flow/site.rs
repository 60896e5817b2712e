//! Candidates and registry data never leave the site, tried as an
//! attacker would look for them: on the wire, everything the security
//! service submits (a subscription of the administrator to its submit
//! subject, before the gateway sees it); at rest, every message every
//! stream holds; and what the service shows that is not the candidates
//! view (its cases, `/health`) and everything it logs under the binaries'
//! own subscriber at TRACE.
//!
//! The needles are the registry's record ids, the official patronymics
//! only the registry holds, the decoys' names; and, in what the security
//! service itself submits, cases or logs, the camp's spellings and birth
//! dates too, and every needle with its non-ASCII letters escaped as JSON
//! `\u` sequences. The candidates view shows the registry needles: a
//! control, so that a scan that finds nothing means something.
//!
//! Everything runs on one thread, and the log subscriber keeps only what
//! that thread logs.

use std::io;
use std::sync::{Arc, Mutex};

use async_nats::jetstream;
use futures::StreamExt;
use homeward_core::message_types as types;
use homeward_core::{MemberId, subjects, telemetry};
use homeward_testkit::read::{read_all, read_first};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tracing_subscriber::filter::dynamic_filter_fn;
use tracing_subscriber::layer::SubscriberExt;

use crate::support::{
    MFA, SECURITY, WAIT, api, deployment, family, found_in, locate_and_request, three,
};

/// Log lines, gathered in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

/// Each needle, and each with a non-ASCII letter as well written as JSON
/// writes it escaped (`\u0416`).
fn with_escapes(needles: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut out = needles.clone();
    for (label, text) in needles {
        if !text.is_ascii() {
            let escaped: String = text
                .chars()
                .map(|c| {
                    if c.is_ascii() {
                        c.to_string()
                    } else {
                        let mut units = [0u16; 2];
                        c.encode_utf16(&mut units)
                            .iter()
                            .map(|u| format!("\\u{u:04x}"))
                            .collect()
                    }
                })
                .collect();
            out.push((format!("{label}, JSON-escaped"), escaped));
        }
    }
    out
}

fn message_text(m: &async_nats::Message) -> String {
    let mut text = String::from_utf8_lossy(&m.payload).into_owned();
    for (name, values) in m.headers.iter().flat_map(|h| h.iter()) {
        for v in values {
            text.push_str(&format!("\n{name}: {v}"));
        }
    }
    text
}

fn stored_text(m: &jetstream::Message) -> String {
    message_text(m)
}

#[tokio::test(flavor = "current_thread")]
async fn candidates_and_registry_data_never_leave_the_site() {
    let logs = Captured::default();
    let writer = logs.clone();
    // The subscriber every binary installs, all the way up, keeping only
    // what this test's thread logs (as `lifecycle/privacy.rs` does).
    let this_thread = std::thread::current().id();
    let subscriber = telemetry::subscriber("trace", "trace", false, move || writer.clone()).with(
        dynamic_filter_fn(move |_, _| std::thread::current().id() == this_thread),
    );
    tracing::subscriber::set_global_default(subscriber)
        .expect("no other test in this binary installs a subscriber");

    let deployment = deployment().await;
    let local = &deployment.local;
    let family = family("HOL-P5-000933");
    let case_ref = family.case_ref.as_str();
    let registry_needles = with_escapes(family.registry_needles.clone());
    let all_needles = with_escapes(family.all_needles());

    // Everything kz.security submits, as the server receives it.
    let admin = local.client("site-watch").await.expect("admin client");
    let security_id = MemberId::parse(SECURITY).expect("member");
    let mut submitted = admin
        .subscribe(subjects::submit(&security_id))
        .await
        .expect("subscribe");
    admin.flush().await.expect("flush");

    let services = three(local, Some(family.registry())).await;
    let api = api(&services);
    let security = &services[2];
    locate_and_request(&api, &family).await;

    // The control: on the site, the candidates show the registry.
    let (status, view) = security.get(&format!("/cases/{case_ref}/candidates")).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let shown = found_in(&view.to_string(), &family.registry_needles);
    assert!(
        family
            .truth
            .iter()
            .all(|(_, id)| shown.contains(&format!("record id {id}"))),
        "the candidates view does not show the records: {shown:?}"
    );

    // A caller with the token tries to send a record along with an
    // outcome: the service signs nothing that breaks its schema, so the
    // action fails and nothing leaves (the scan of the wire below would
    // find it).
    let (first, record_id) = &family.truth[0];
    let smuggled = json!({"results": [{
        "personRef": first, "outcome": "confirmed", "methods": ["civil-registry"],
        "recordId": record_id,
    }]});
    api.act(SECURITY, case_ref, "verify", &smuggled)
        .await
        .expect_err("an outcome carrying a registry record is not sent");

    // The official confirms each person, naming the methods.
    let results: Vec<Value> = family
        .truth
        .iter()
        .map(
            |(p, _)| json!({"personRef": p, "outcome": "confirmed", "methods": ["civil-registry"]}),
        )
        .collect();
    api.act(SECURITY, case_ref, "verify", &json!({"results": results}))
        .await
        .expect("verified");
    let js = jetstream::new(admin.clone());
    let mfa = MemberId::parse(MFA).expect("member");
    read_first(
        &js,
        subjects::DELIVER_STREAM,
        &subjects::deliver(&mfa, types::IDENTITY_VERIFICATION_COMPLETED),
        1,
    )
    .await
    .expect("the outcome reaches the foreign ministry");

    let mut leaks: Vec<(String, String)> = Vec::new();
    let mut check = |place: &str, text: &str, needles: &[(String, String)]| {
        for label in found_in(text, needles) {
            leaks.push((place.to_owned(), label));
        }
    };

    // On the wire: every submission up to and including the outcome.
    let mut seen = 0;
    loop {
        let m = tokio::time::timeout(WAIT, submitted.next())
            .await
            .expect("the outcome was submitted")
            .expect("the subscription is open");
        seen += 1;
        let text = message_text(&m);
        check(
            &format!("submission {seen} of kz.security"),
            &text,
            &all_needles,
        );
        let envelope: Value = serde_json::from_slice(&m.payload).unwrap_or(Value::Null);
        if envelope["type"] == types::IDENTITY_VERIFICATION_COMPLETED {
            break;
        }
    }

    // At rest: every stream. Deliveries and rejected copies from the camp
    // carry the camp's names by design, so there only the registry's
    // needles are looked for.
    // (HW_SUBMIT is a work queue: what it held is on the wire above.)
    for stream in [
        subjects::DELIVER_STREAM,
        subjects::REJECTED_STREAM,
        subjects::RECEIPTS_STREAM,
        subjects::AUDIT_STREAM,
    ] {
        for m in read_all(&js, stream, ">").await.expect("the stream reads") {
            check(stream, &stored_text(&m), &registry_needles);
        }
    }

    // What the service shows besides the candidates, and its log.
    for path in ["/health", "/cases", &format!("/cases/{case_ref}")] {
        let (_, body) = security.get(path).await;
        check(path, &body.to_string(), &all_needles);
    }
    check("the log", &logs.text(), &all_needles);

    assert!(seen >= 1);
    assert!(
        leaks.is_empty(),
        "found outside the candidates view: {leaks:#?}"
    );

    for s in services {
        s.stop().await;
    }
    deployment.stop().await;
}
