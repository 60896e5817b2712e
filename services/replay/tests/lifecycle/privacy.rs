//! No personal data where it does not belong.
//!
//! A synthetic family, with names made for this run in Latin, Cyrillic and
//! Arabic script, aliases and exact birth dates, goes through the whole
//! lifecycle on every service, and on the way the camp administration also
//! sends what a careless or hostile integrator would: a census row the
//! registry refuses, submissions the gateway rejects with the family's
//! names in the refused bytes (a schema violation in a name and a birth
//! date, a name used as a property key, once or twice in one object, a
//! resend, a broken signature, JSON cut off inside a name, a name that is
//! not UTF-8, a control character in a name), and a message the foreign
//! ministry refuses.
//!
//! Then none of the names, aliases, their random parts or the birth dates
//! may appear in: any receipt (`HW_RECEIPTS`), any audit record
//! (`HW_AUDIT`), the headers of rejected copies (`HW_REJECTED`: the codes
//! and `Hw-Reasons`; their payloads are the refused submissions themselves,
//! kept on purpose) or of deliveries (`HW_DELIVER`, whose payloads are the
//! messages), any member's cases (everything but the outbox, which holds
//! signed messages until JetStream has stored them), the census error sent
//! back, or anything logged by any crate in this process under the
//! binaries' own subscriber (`homeward_core::telemetry`) set to TRACE.
//!
//! Everything runs on one thread, and the log subscriber installed here
//! keeps what that thread logs: every task of the deployment, nothing of
//! the other tests.
//!
//! Metrics: every service's `/metrics` is scanned too; the gateway's stage
//! timings are counts and durations only.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use futures::StreamExt;
use homeward_core::envelope::{EnvelopeBuilder, new_id};
use homeward_core::schema::message_schema_id;
use homeward_core::{MemberId, natsauth, streams, subjects, telemetry};
use homeward_replay::api::stage_is;
use homeward_replay::replay::{self, FamilyPlan, PersonPlan};
use homeward_replay::world::World;
use homeward_testkit::local::{Local, LocalOptions};
use serde_json::{Value, json};
use tracing_subscriber::filter::dynamic_filter_fn;
use tracing_subscriber::layer::SubscriberExt;

const CASE: &str = "HOL-P5-000888";
const REGISTERED_ON: &str = "2019-04-15";

/// `n` letters of `alphabet` from the random part of a fresh ULID.
fn random_letters(alphabet: &[char], n: usize) -> String {
    const CROCKFORD: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    new_id()[10..]
        .chars()
        .take(n)
        .map(|c| alphabet[CROCKFORD.find(c).unwrap_or(0) % alphabet.len()])
        .collect()
}

/// One synthetic person.
struct Person {
    latn: String,
    cyrl: String,
    arab: String,
    aliases: Vec<String>,
    birth_date: &'static str,
}

/// A mother and three children, the last two born in Syria; their family
/// names are random, so nothing but this run can have written them.
fn family() -> (Vec<Person>, Vec<String>) {
    let latin: Vec<char> = ('a'..='z').collect();
    let cyrillic: Vec<char> = ('а'..='я').collect();
    let arabic: Vec<char> = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي".chars().collect();
    let capital = |s: String| {
        let mut c = s.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect())
            .unwrap_or_default()
    };
    let latn = capital(random_letters(&latin, 10));
    let cyrl = capital(random_letters(&cyrillic, 10));
    let arab = random_letters(&arabic, 8);
    let alias_token = capital(random_letters(&latin, 9));
    let person = |given: [&str; 3], suffix: [&str; 2], aliases: Vec<String>, birth_date| Person {
        latn: format!("{} {latn}{}", given[0], suffix[0]),
        cyrl: format!("{} {cyrl}{}", given[1], suffix[1]),
        arab: format!("{} {arab}", given[2]),
        aliases,
        birth_date,
    };
    let persons = vec![
        person(
            ["Aigerim", "Айгерим", "أيغيريم"],
            ["ova", "ова"],
            vec![format!("Umm {alias_token}"), format!("Aigul {alias_token}")],
            "1987-11-23",
        ),
        person(
            ["Alisher", "Алишер", "أليشر"],
            ["ov", "ов"],
            Vec::new(),
            "2009-06-14",
        ),
        person(
            ["Zarina", "Зарина", "زارينا"],
            ["ova", "ова"],
            Vec::new(),
            "2013-01-30",
        ),
        person(
            ["Yusufjon", "Юсуфжон", "يوسفجون"],
            ["ov", "ов"],
            Vec::new(),
            "2016-09-05",
        ),
    ];
    (persons, vec![latn, cyrl, arab, alias_token])
}

fn census(persons: &[Person]) -> String {
    let mut csv = String::from(
        "family_ref,person_ref,camp,section,block,tent,claimed_nationality,relationship_to_head,name_latn,name_cyrl,name_arab,aliases,sex,birth_date,birth_date_accuracy,birthplace_country,vulnerability\n",
    );
    for (i, p) in persons.iter().enumerate() {
        let (relationship, sex, birthplace) = match i {
            0 => ("head", "female", "KZ"),
            1 => ("child", "male", "KZ"),
            2 => ("child", "female", "SY"),
            _ => ("child", "male", "SY"),
        };
        csv.push_str(&format!(
            "{CASE},{CASE}-{:02},al-Hol,phase 5,9,31,KZ,{relationship},{},{},{},{},{sex},{},exact,{birthplace},\n",
            i + 1,
            p.latn,
            p.cyrl,
            p.arab,
            p.aliases.join(";"),
            p.birth_date,
        ));
    }
    csv
}

fn plan(persons: &[Person]) -> FamilyPlan {
    FamilyPlan {
        case_ref: CASE.into(),
        nationality: "KZ".into(),
        camp_authority: "aanes.camps".into(),
        operation_id: "KZ-ZHUSAN-2019".into(),
        round: 2,
        carrier: None,
        persons: (0..persons.len())
            .map(|i| PersonPlan {
                person_ref: format!("{CASE}-{:02}", i + 1),
                child: i > 0,
                female: i == 0 || i == 2,
                detained: false,
                needs_passport: i >= 2,
            })
            .collect(),
    }
}

/// What must not appear, with a label for the report: every name in every
/// script, every alias, the random parts alone, the birth dates in full
/// and without the day, and the Cyrillic part as escaped bytes (how a
/// `Debug` of raw bytes prints it).
fn needles(persons: &[Person], tokens: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in persons {
        for name in [&p.latn, &p.cyrl, &p.arab].into_iter().chain(&p.aliases) {
            out.push((format!("name {name:?}"), name.clone()));
        }
        out.push((format!("birth date {}", p.birth_date), p.birth_date.into()));
        out.push((
            format!("birth month {}", &p.birth_date[..7]),
            p.birth_date[..7].into(),
        ));
    }
    for t in tokens {
        out.push((format!("name part {t:?}"), t.clone()));
    }
    let escaped: String = tokens[1].bytes().map(|b| format!("\\x{b:02x}")).collect();
    out.push(("Cyrillic name part as escaped bytes".into(), escaped));
    out
}

/// The labels of the needles found in `text`.
fn found_in(text: &str, needles: &[(String, String)]) -> Vec<String> {
    needles
        .iter()
        .filter(|(_, n)| text.contains(n.as_str()))
        .map(|(label, _)| label.clone())
        .collect()
}

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

/// Every message a stream holds now.
async fn everything(js: &jetstream::Context, name: &str) -> Vec<jetstream::Message> {
    homeward_testkit::read::read_all(js, name, ">")
        .await
        .expect("the stream reads to its end")
}

fn headers_text(m: &jetstream::Message) -> String {
    let mut text = String::new();
    for (name, values) in m.headers.iter().flat_map(|h| h.iter()) {
        for v in values {
            text.push_str(&format!("{name}: {v}\n"));
        }
    }
    text
}

/// Waits until `HW_AUDIT` holds a record of each submission in `sequences`.
async fn wait_for_records(js: &jetstream::Context, sequences: &[u64]) {
    let mut missing: Vec<String> = sequences.iter().map(u64::to_string).collect();
    let consumer = js
        .get_stream(subjects::AUDIT_STREAM)
        .await
        .expect("stream")
        .create_consumer(pull::OrderedConfig::default())
        .await
        .expect("consumer");
    let mut records = consumer.messages().await.expect("messages");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !missing.is_empty() {
        let m = tokio::time::timeout_at(deadline, records.next())
            .await
            .unwrap_or_else(|_| panic!("no audit record of submissions {missing:?}"))
            .expect("open")
            .expect("record");
        let record: Value = serde_json::from_slice(&m.payload).expect("record");
        missing.retain(|s| record["submissionSequence"] != s.as_str());
    }
}

/// The family's `camp.resident.located` as delivered to kz.mfa.
async fn located_delivery(js: &jetstream::Context) -> Value {
    let delivered = everything(js, subjects::DELIVER_STREAM).await;
    let m = delivered
        .iter()
        .find(|m| m.subject.as_str() == "hw.deliver.kz.mfa.camp.resident.located")
        .expect("the located family was delivered");
    serde_json::from_slice(&m.payload).expect("json")
}

/// Submits to the gateway as aanes.camps what it should refuse, each with
/// the family's names or birth dates in the bytes; returns the sequences.
async fn hostile_submissions(local: &Local, located: &Value, persons: &[Person]) -> Vec<u64> {
    let camps = local.member("aanes.camps").await.expect("member");
    let member = MemberId::parse("aanes.camps").expect("member");
    let key = local.key("aanes.camps").expect("key");
    let data = &located["data"];
    let resigned = |data: Value| {
        EnvelopeBuilder::new(
            "camp.resident.located",
            &message_schema_id("camp.resident.located", 1),
            data,
        )
        .subject(CASE)
        .sign(&member, &key)
        .map(|e| e.to_bytes())
    };
    let head = &persons[0];
    let mut submissions: Vec<Vec<u8>> = Vec::new();

    // A name too long, a birth date that is not one, a person with the
    // head's name as a property, a name that is a number.
    let mut bad = data.clone();
    let member0 = &mut bad["familyUnit"]["members"][0];
    member0["names"][0]["value"] = json!(format!("{} {}", head.latn, "x".repeat(200)));
    member0["birthDate"]["value"] = json!(format!("{}T00:00", head.birth_date));
    member0[head.latn.as_str()] = json!(head.cyrl);
    bad["familyUnit"]["members"][1]["names"][0]["value"] = json!(12);
    submissions.push(resigned(bad).expect("signs"));
    // The head's name as a key where the schema allows no other.
    let mut keyed = data.clone();
    keyed["campLocation"][head.arab.as_str()] = json!(persons[1].birth_date);
    submissions.push(resigned(keyed).expect("signs"));
    // The very message again: a duplicate.
    let original = serde_json::to_vec(located).expect("json");
    submissions.push(original.clone());
    // Changed after signing: a bad signature.
    let mut forged = located.clone();
    forged["data"]["familyUnit"]["members"][0]["names"][0]["value"] = json!(persons[2].latn);
    submissions.push(serde_json::to_vec(&forged).expect("json"));
    // Cut off inside the head's Latin name.
    let text = String::from_utf8(original.clone()).expect("utf-8");
    let at = text.find(&head.latn).expect("the name is in the message") + head.latn.len() / 2;
    submissions.push(original[..at].to_vec());
    // The head's name as a key, twice in one object.
    let twice = text.replacen(
        "\"sex\":",
        &format!("\"{0}\":1,\"{0}\":2,\"sex\":", head.latn),
        1,
    );
    assert_ne!(twice, text);
    submissions.push(twice.into_bytes());
    // A byte that is not UTF-8 inside the Cyrillic name.
    let at = text.find(&head.cyrl).expect("the name is in the message") + 2;
    let mut latin1 = original.clone();
    latin1[at] = 0xff;
    submissions.push(latin1);
    // A control character inside a name (signed: only the parser objects).
    let mut control = data.clone();
    control["familyUnit"]["members"][3]["names"][0]["value"] =
        json!(format!("{}\u{1b}[2J", persons[3].latn));
    let control = serde_json::to_vec(&json!({
        "specversion": "1.0", "id": new_id(), "source": "urn:homeward:aanes.camps",
        "type": "camp.resident.located",
        "dataschema": message_schema_id("camp.resident.located", 1),
        "time": located["time"], "subject": CASE, "datacontenttype": "application/json",
        "data": control, "sigkey": key.public().as_str(),
    }))
    .expect("json");
    submissions.push(control);

    let mut sequences = Vec::new();
    for (i, bytes) in submissions.into_iter().enumerate() {
        let ack = camps
            .submit_bytes(&format!("privacy-{i}-{}", new_id()), bytes)
            .await
            .expect("stored");
        sequences.push(ack.sequence);
    }
    sequences
}

#[tokio::test(flavor = "current_thread")]
async fn names_and_birth_dates_stay_out_of_receipts_audit_reasons_cases_and_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    // The subscriber every binary installs, turned all the way up, as the
    // process-wide one but keeping only what this test's thread logs. (A
    // thread-local `set_default` would miss events whose call sites another
    // test's thread reached first: tracing caches their interest as "never"
    // while just one dispatcher exists.)
    let this_thread = std::thread::current().id();
    let subscriber = telemetry::subscriber("trace", "trace", false, move || writer.clone()).with(
        dynamic_filter_fn(move |_, _| std::thread::current().id() == this_thread),
    );
    tracing::subscriber::set_global_default(subscriber)
        .expect("no other test in this binary installs a subscriber");

    let (persons, tokens) = family();
    let needles = needles(&persons, &tokens);
    let local = Local::start(LocalOptions::default())
        .await
        .expect("local deployment");
    let world = World::start(&local).await.expect("services start");
    let api = homeward_replay::api::of_world(&world).expect("api");
    let js = jetstream::new(local.client("privacy").await.expect("client"));
    let mut leaks: Vec<(String, String)> = Vec::new();
    let mut check = |place: &str, text: &str| {
        for label in found_in(text, &needles) {
            leaks.push((place.to_owned(), label));
        }
    };

    // A census row the registry refuses: a digit in the head's name. The
    // error goes back to the camp's own system, and names no name.
    let good = census(&persons);
    let bad = good.replacen(&persons[0].latn, &format!("{}7", persons[0].latn), 1);
    let census_error = api
        .command(
            "aanes.camps",
            &format!("census?registeredOn={REGISTERED_ON}"),
            bad.into_bytes(),
        )
        .await
        .expect_err("a name with a digit is refused");
    check("the census error", &format!("{census_error:#}"));

    let imported = api
        .command(
            "aanes.camps",
            &format!("census?registeredOn={REGISTERED_ON}"),
            good.into_bytes(),
        )
        .await
        .expect("census imported");
    assert_eq!(imported["cases"], 1, "{imported}");
    api.wait_case(
        "kz.mfa",
        CASE,
        "the case",
        stage_is("verification-requested"),
    )
    .await
    .expect("case open");

    // A decision nobody asked for: kz.mfa refuses it back to the camp.
    let camps = local.member("aanes.camps").await.expect("member");
    let decision = json!({
        "caseRef": CASE, "requestingState": "KZ", "decidedAt": "2019-05-01T10:00:00Z",
        "decisions": [{"personRef": format!("{CASE}-01"), "decision": "accepted"}],
    });
    let decision = camps
        .sign(
            EnvelopeBuilder::new(
                "repatriation.decided",
                &message_schema_id("repatriation.decided", 1),
                decision,
            )
            .subject(CASE),
        )
        .expect("signs");
    camps.submit(&decision).await.expect("submitted");
    api.wait_case("aanes.camps", CASE, "the refusal", |c| {
        c["refusalsReceived"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    })
    .await
    .expect("refusal recorded");

    // What the gateway must refuse, with the names in the bytes.
    let located = located_delivery(&js).await;
    let rejected = hostile_submissions(&local, &located, &persons).await;
    wait_for_records(&js, &rejected).await;

    // The whole lifecycle.
    replay::family(&api, &plan(&persons))
        .await
        .expect("the whole lifecycle");

    // The names did travel, in the messages themselves: what is scanned
    // below is the rest.
    let deliveries = everything(&js, subjects::DELIVER_STREAM).await;
    let payloads: String = deliveries
        .iter()
        .map(|d| String::from_utf8_lossy(&d.payload).into_owned())
        .collect();
    for p in &persons {
        assert!(payloads.contains(&p.latn) && payloads.contains(p.birth_date));
    }
    for d in &deliveries {
        check(&format!("delivery headers {}", d.subject), &headers_text(d));
    }
    let receipts = everything(&js, subjects::RECEIPTS_STREAM).await;
    assert!(receipts.len() > 20, "{} receipts", receipts.len());
    for m in &receipts {
        let place = format!("receipt on {}", m.subject);
        check(&place, &String::from_utf8_lossy(&m.payload));
        check(&place, &headers_text(m));
    }
    let records = everything(&js, subjects::AUDIT_STREAM).await;
    for m in &records {
        check("audit record", &String::from_utf8_lossy(&m.payload));
        check("audit record headers", &headers_text(m));
    }
    let refused = everything(&js, subjects::REJECTED_STREAM).await;
    assert!(
        refused.len() >= rejected.len(),
        "{} rejected copies",
        refused.len()
    );
    let mut reasons = 0;
    for m in &refused {
        let headers = headers_text(m);
        reasons += usize::from(headers.contains("Hw-Reasons"));
        check("rejection headers and reasons", &headers);
    }
    assert!(
        reasons >= rejected.len(),
        "every rejection gives its reasons"
    );

    // Every member's cases, but for signed messages waiting in the outbox.
    let mut cases = 0;
    // Each read by its own member, in its own account: nobody else can.
    for member in local.policy.members() {
        if natsauth::Kind::of(member.role) != natsauth::Kind::Member {
            continue;
        }
        let client = local.member(member.id.as_str()).await.expect("member");
        let bucket = client
            .jetstream()
            .get_key_value(subjects::case_bucket(&member.id))
            .await
            .expect("its bucket");
        for key in streams::bucket_keys(&bucket).await.expect("keys") {
            let Some(bytes) = bucket.get(&key).await.expect("case") else {
                continue;
            };
            let mut case: Value = serde_json::from_slice(&bytes).expect("case json");
            if let Some(case) = case.as_object_mut() {
                case.remove("outbox");
            }
            check(&format!("case {key} of {}", member.id), &case.to_string());
            cases += 1;
        }
    }
    assert!(cases >= 5, "{cases} cases read");

    // Every service's Prometheus metrics: counts only.
    for (member, addr) in &world.apis {
        let text = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .expect("scrapes")
            .text()
            .await
            .expect("text");
        assert!(
            text.contains("homeward_ministry_deliveries_total"),
            "{member}: {text}"
        );
        check(&format!("the metrics of {member}"), &text);
    }

    world.stop().await.expect("services stop");
    let logged = logs.text();
    assert!(
        logged.contains(CASE) && logged.contains("rejected") && logged.len() > 100_000,
        "the logs were captured ({} bytes)",
        logged.len()
    );
    check("the logs", &logged);

    leaks.sort();
    leaks.dedup();
    assert!(
        leaks.is_empty(),
        "personal data where it does not belong:\n{}",
        leaks
            .iter()
            .map(|(place, what)| format!("  {what} in {place}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
