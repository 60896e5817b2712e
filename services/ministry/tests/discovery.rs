//! What operators see of a ministry service, on a real nats-server with
//! the generated accounts: its NATS micro discovery (`$SRV.PING`, `INFO`,
//! `STATS`, reached by the operator alone, with counters that move with
//! the traffic) and its `/metrics` (parsed by an independent Prometheus
//! text-format parser, named by the conventions, holding no case, id or
//! name). And what an attacker holding another member's credentials gets
//! when it asks for that service's discovery: nothing.

use std::time::Duration;

use futures::{FutureExt, StreamExt};
use homeward_core::envelope::{Envelope, EnvelopeBuilder};
use homeward_core::{MemberId, natsauth, subjects};
use homeward_testkit::local::Local;
use homeward_testkit::service::{Deployment, ServiceUnderTest};
use serde_json::Value;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);

/// A connection as `identity`, with the server's error events kept, the
/// way an attacker holding that identity's key would connect.
struct Watched {
    client: async_nats::Client,
    events: mpsc::UnboundedReceiver<async_nats::Event>,
}

async fn connect_as(local: &Local, identity: &str) -> Watched {
    let (tx, events) = mpsc::unbounded_channel();
    let mut options =
        async_nats::ConnectOptions::with_nkey(local.nats_seed(identity).expect("a NATS key"))
            .event_callback(move |event| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(event);
                }
            });
    if let Ok(member) = MemberId::parse(identity) {
        options = options.custom_inbox_prefix(subjects::inbox_prefix(&member));
    }
    if let Some(ca) = local.tls_ca() {
        options = options.require_tls(true).add_root_certificates(ca);
    }
    let client = options.connect(local.url()).await.expect("connects");
    Watched { client, events }
}

impl Watched {
    /// Waits for the server to refuse a publish to `subject`.
    async fn refused(&mut self, subject: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) => {
                    let text = event.to_string();
                    if text.contains("Permissions Violation") && text.contains(subject) {
                        return;
                    }
                    seen.push(text);
                }
                _ => panic!("no permissions violation for {subject}: {seen:?}"),
            }
        }
    }
}

/// Every answer to one request within `wait` (discovery answers once per
/// service instance, so a plain request would see only the first).
async fn answers(client: &async_nats::Client, subject: String, wait: Duration) -> Vec<Value> {
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.expect("subscribes");
    client
        .publish_with_reply(subject, inbox, bytes::Bytes::new())
        .await
        .expect("sends");
    client.flush().await.expect("flush");
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, replies.next()).await {
        if m.status.is_none_or(|s| s == async_nats::StatusCode::OK)
            && let Ok(v) = serde_json::from_slice(&m.payload)
        {
            out.push(v);
        }
    }
    out
}

/// The example family a camp administration reports to Kazakhstan.
fn located(local: &Local) -> (Envelope, Value) {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../../schemas/messages/camp.resident.located/examples/v1/valid/kazakh-family-al-hol.json",
    ))
    .expect("example");
    let example: Value = serde_json::from_str(&text).expect("json");
    let envelope = EnvelopeBuilder::new(
        example["type"].as_str().expect("type"),
        example["dataschema"].as_str().expect("dataschema"),
        example["data"].clone(),
    )
    .subject(example["subject"].as_str().expect("subject"))
    .sign(
        &MemberId::parse("aanes.camps").expect("member"),
        &local.key("aanes.camps").expect("key"),
    )
    .expect("signs");
    (envelope, example)
}

/// Every string in `value` (names, dates, places of the synthetic family).
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) if s.chars().count() >= 4 => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(o) => o.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// A scrape parsed by `prometheus-parse`, with every `# TYPE` checked
/// against the naming conventions first (the parser does not check them).
fn parse(text: &str) -> prometheus_parse::Scrape {
    let mut typed = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed += 1;
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(name.starts_with("homeward_"), "{name}");
            match kind {
                "counter" => assert!(name.ends_with("_total"), "counter {name}"),
                "histogram" => assert!(name.ends_with("_seconds"), "histogram {name}"),
                "gauge" => assert!(!name.ends_with("_total"), "gauge {name}"),
                other => panic!("{name} has type {other}"),
            }
        }
    }
    assert!(typed >= 5, "{text}");
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses")
}

fn value(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .and_then(|s| match &s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => Some(*v),
            _ => None,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_discover_a_service_and_scrape_its_metrics_and_no_member_reaches_its_discovery() {
    let deployment = Deployment::start("min-discovery").await;
    let local = &deployment.local;
    let mfa = ServiceUnderTest::start(
        local,
        "kz.mfa",
        std::sync::Arc::new(homeward_foreign_affairs::ForeignAffairs),
    )
    .await;
    let kz = MemberId::parse("kz.mfa").expect("id");
    let mut operator = connect_as(local, "homeward.operator").await;

    // PING and INFO: its name by role, this crate's version, its member.
    let ping = answers(
        &operator.client,
        natsauth::discovery_subject(&kz, "PING"),
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(ping.len(), 1, "{ping:?}");
    assert_eq!(ping[0]["name"], "homeward-foreign-affairs", "{ping:?}");
    assert_eq!(ping[0]["version"], env!("CARGO_PKG_VERSION"));
    assert!(ping[0]["id"].as_str().is_some_and(|id| !id.is_empty()));
    let info = answers(
        &operator.client,
        natsauth::discovery_subject(&kz, "INFO"),
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(info.len(), 1, "{info:?}");
    assert_eq!(info[0]["metadata"]["member"], "kz.mfa", "{info:?}");
    assert_eq!(info[0]["endpoints"][0]["name"], "status", "{info:?}");

    // STATS: the three counters, moving once a delivery is applied.
    let (envelope, example) = located(local);
    let camps = local.member("aanes.camps").await.expect("camps");
    camps.submit(&envelope).await.expect("stored");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let stats = answers(
            &operator.client,
            natsauth::discovery_subject(&kz, "STATS"),
            Duration::from_millis(500),
        )
        .await;
        let data = stats
            .first()
            .map(|s| s["endpoints"][0]["data"].clone())
            .unwrap_or_default();
        if data["processed"].as_u64() >= Some(1) {
            assert_eq!(data["refused"], 0, "{data}");
            assert_eq!(data["errors"], 0, "{data}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no delivery counted: {stats:?}"
        );
    }

    // /metrics: without the token, counts that moved, and no label that
    // names the family, its case or the envelope.
    let http = reqwest::Client::new();
    let response = http
        .get(format!("{}/metrics", mfa.url))
        .send()
        .await
        .expect("scrapes");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert!(
        response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        response.headers()
    );
    let text = response.text().await.expect("text");
    let scrape = parse(&text);
    let applied = value(
        &scrape,
        "homeward_ministry_deliveries_total",
        &[("member", "kz.mfa"), ("result", "applied")],
    );
    assert!(applied >= Some(1.0), "{text}");
    assert_eq!(
        value(
            &scrape,
            "homeward_ministry_loop_up",
            &[("member", "kz.mfa"), ("loop", "delivery")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &scrape,
            "homeward_ministry_delivery_pending_messages",
            &[("member", "kz.mfa")]
        ),
        Some(0.0),
        "one delivery, nothing behind it: {text}"
    );
    for family in [
        "homeward_ministry_submissions_total",
        "homeward_ministry_receipts_total",
        "homeward_ministry_outbox_messages",
        "homeward_ministry_refused_deliveries_total",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family}: {text}"
        );
    }
    let mut forbidden = vec![
        envelope.id().to_owned(),
        example["subject"].as_str().expect("subject").to_owned(),
    ];
    strings(&example["data"], &mut forbidden);
    forbidden.retain(|f| !homeward_core::message_types::ALL.contains(&f.as_str()));
    for sample in &scrape.samples {
        for (k, v) in sample.labels.iter() {
            for f in &forbidden {
                assert!(
                    !v.contains(f.as_str()),
                    "{}{{{k}={v:?}}} holds {f:?}",
                    sample.metric
                );
            }
        }
    }
    // Like /health: a page on another site gets nothing.
    let cross = http
        .get(format!("{}/metrics", mfa.url))
        .header(reqwest::header::ORIGIN, "https://attacker.example")
        .send()
        .await
        .expect("answers");
    assert_eq!(cross.status(), reqwest::StatusCode::FORBIDDEN);

    // Another member, as an attacker: its own account's $SRV has no
    // service of kz.mfa in it, and the operator's names are not its own.
    let mut uz = connect_as(local, "uz.mfa").await;
    for subject in [
        "$SRV.PING",
        "$SRV.PING.homeward-foreign-affairs",
        "$SRV.STATS.homeward-foreign-affairs",
        "$SRV.STATS.homeward-gateway",
    ] {
        let got = answers(&uz.client, subject.to_owned(), Duration::from_millis(500)).await;
        assert!(got.is_empty(), "uz.mfa reached {subject}: {got:?}");
    }
    for target in [&kz, &MemberId::parse("homeward.gateway").expect("id")] {
        let subject = natsauth::discovery_subject(target, "STATS");
        let got = answers(&uz.client, subject.clone(), Duration::from_millis(300)).await;
        assert!(got.is_empty(), "uz.mfa reached {subject}: {got:?}");
        uz.refused(&subject).await;
    }
    // Nor does it overhear the operator asking kz.mfa.
    let mut overheard = uz.client.subscribe("$SRV.>").await.expect("its own $SRV");
    uz.client.flush().await.expect("flush");
    let _ = answers(
        &operator.client,
        natsauth::discovery_subject(&kz, "PING"),
        Duration::from_millis(300),
    )
    .await;
    uz.client.flush().await.expect("flush");
    assert!(
        overheard.next().now_or_never().flatten().is_none(),
        "uz.mfa overheard a discovery request for kz.mfa"
    );
    // The operator's requests broke no permission of its own.
    while let Ok(event) = operator.events.try_recv() {
        assert!(
            !event.to_string().contains("Permissions Violation"),
            "{event}"
        );
    }

    // Stopped, it soon answers no more: the console marks it down.
    mfa.stop().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let after = answers(
            &operator.client,
            natsauth::discovery_subject(&kz, "PING"),
            Duration::from_millis(300),
        )
        .await;
        if after.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still answering: {after:?}"
        );
    }
    deployment.stop().await;
}
