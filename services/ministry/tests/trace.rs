//! Trace ids end to end: one message with a known `traceparent`, sent by
//! a camp administration through a real gateway to a foreign ministry's
//! service on a real nats-server. Its trace id is in the gateway's
//! decision (its log line and its audit record) and in the recipient's
//! handling of the delivery (its log line), so an operator can follow one
//! message through every process's records.
//!
//! Everything runs on this test's one thread, under the binaries' own log
//! subscriber writing to a buffer (a single submission is decided inline,
//! not on the gateway's worker threads), with spans exported over OTLP/HTTP
//! to a collector the test runs: both processes' spans arrive there in the
//! envelope's trace.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use homeward_core::envelope::{EnvelopeBuilder, new_traceparent, trace_id};
use homeward_core::{MemberId, telemetry};
use homeward_testkit::service::{Deployment, ServiceUnderTest};
use serde_json::Value;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("buffer")).into_owned()
    }
}

#[tokio::test]
async fn one_messages_trace_id_is_in_the_gateways_and_the_recipients_records() {
    let collector = Collector::start();
    let otlp =
        Arc::new(telemetry::Otlp::new("homeward-test", &collector.url).expect("an OTLP exporter"));
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let _logs = tracing::subscriber::set_default(telemetry::subscriber_exporting(
        "info",
        "info",
        true,
        move || writer.clone(),
        Some(&otlp),
    ));
    let deployment = Deployment::start("gw-trace").await;
    let local = &deployment.local;
    let mfa = ServiceUnderTest::start(
        local,
        "kz.mfa",
        Arc::new(homeward_foreign_affairs::ForeignAffairs),
    )
    .await;

    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../../schemas/messages/camp.resident.located/examples/v1/valid/kazakh-family-al-hol.json",
    ))
    .expect("example");
    let example: Value = serde_json::from_str(&text).expect("json");
    let traceparent = new_traceparent();
    let trace = trace_id(&traceparent).expect("a trace id").to_owned();
    let envelope = EnvelopeBuilder::new(
        example["type"].as_str().expect("type"),
        example["dataschema"].as_str().expect("dataschema"),
        example["data"].clone(),
    )
    .subject(example["subject"].as_str().expect("subject"))
    .traceparent(traceparent.clone())
    .sign(
        &MemberId::parse("aanes.camps").expect("member"),
        &local.key("aanes.camps").expect("key"),
    )
    .expect("signs");
    let camps = local.member("aanes.camps").await.expect("camps");
    camps.submit(&envelope).await.expect("stored");

    // Until the recipient has applied it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while mfa
        .ministry
        .counters()
        .processed
        .load(std::sync::atomic::Ordering::Relaxed)
        == 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "kz.mfa never applied it"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let logs = buffer.text();
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let with_trace = |message: &str| {
        lines.iter().any(|l| {
            l["fields"]["message"] == message
                && l["spans"]
                    .as_array()
                    .is_some_and(|spans| spans.iter().any(|s| s["trace_id"] == trace.as_str()))
        })
    };
    assert!(
        with_trace("accepted"),
        "the gateway's decision does not carry trace id {trace}:\n{logs}"
    );
    let recipient = lines.iter().any(|l| {
        l["spans"].as_array().is_some_and(|spans| {
            spans
                .iter()
                .any(|s| s["name"] == "handle_delivery" && s["trace_id"] == trace.as_str())
        })
    });
    assert!(
        recipient,
        "kz.mfa's handling of the delivery does not carry trace id {trace}:\n{logs}"
    );
    // And the audit record of the decision names it too.
    let operator = homeward_core::client::connect(
        &local.connection_as("homeward.operator").expect("operator"),
        Some(&MemberId::parse("homeward.operator").expect("id")),
        "trace test",
    )
    .await
    .expect("connects");
    let records = homeward_core::console::read_audit(&operator)
        .await
        .expect("reads");
    let record = records
        .iter()
        .filter_map(|(_, b)| homeward_core::audit::parse_record(b))
        .find(|r| r.envelope_id.as_deref() == Some(envelope.id()))
        .expect("the decision's record");
    assert_eq!(record.trace_id.as_deref(), Some(trace.as_str()));

    // Exported: the gateway's decision and the recipient's handling, both
    // in the envelope's trace (OTLP carries the id as its 16 bytes).
    let flushing = otlp.clone();
    tokio::task::spawn_blocking(move || flushing.flush())
        .await
        .expect("joins")
        .expect("the spans are exported");
    let trace_bytes = hex::decode(&trace).expect("hex");
    let spans: Vec<(String, Vec<u8>, Vec<u8>)> = collector
        .bodies()
        .iter()
        .flat_map(|body| {
            use prost::Message;
            let request =
                opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(
                    body.as_slice(),
                )
                .expect("an OTLP traces request");
            request
                .resource_spans
                .into_iter()
                .flat_map(|r| r.scope_spans)
                .flat_map(|s| s.spans)
                .map(|s| (s.name, s.trace_id, s.parent_span_id))
                .collect::<Vec<_>>()
        })
        .collect();
    let in_trace = |name: &str| {
        spans
            .iter()
            .any(|(n, t, parent)| n == name && *t == trace_bytes && !parent.is_empty())
    };
    assert!(
        in_trace("decision"),
        "the gateway's decision is not in trace {trace} under the sender's span: {spans:?}"
    );
    assert!(
        in_trace("handle_delivery"),
        "kz.mfa's handling is not in trace {trace} under the sender's span: {spans:?}"
    );
    mfa.stop().await;
    deployment.stop().await;
    tokio::task::spawn_blocking(move || drop(otlp))
        .await
        .expect("the exporter shuts down");
}

/// An OpenTelemetry collector's OTLP/HTTP traces endpoint, on its own
/// thread and runtime (the exporter's blocking client must not wait on the
/// test's): it keeps every body it is sent.
struct Collector {
    url: String,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Collector {
    fn start() -> Self {
        let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let kept = bodies.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let url = format!("http://{}/v1/traces", listener.local_addr().expect("addr"));
        listener.set_nonblocking(true).expect("nonblocking");
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = axum::Router::new().route(
                    "/v1/traces",
                    axum::routing::post(move |body: axum::body::Bytes| {
                        kept.lock().expect("bodies").push(body.to_vec());
                        async { "" }
                    }),
                );
                let _ = axum::serve(listener, app).await;
            });
        });
        Self { url, bodies }
    }

    fn bodies(&self) -> Vec<Vec<u8>> {
        self.bodies.lock().expect("bodies").clone()
    }
}
