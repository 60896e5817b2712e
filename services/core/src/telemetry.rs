//! Tracing set-up, called once from each binary's `main`.
//!
//! Logs carry references (message id, type, member, case), never names or
//! birth dates: handlers log fields, not message bodies. That holds at
//! every level, including `RUST_LOG=trace`: async-nats logs each message it
//! reads, payload and all, at TRACE, and the payloads are envelopes and
//! cases full of personal data, so its TRACE output is never recorded
//! ([`may_record`]). The lifecycle test `privacy` runs a family through
//! every service under [`subscriber`] at TRACE and finds no name in the
//! log.

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// Whether events and spans with this metadata may be recorded, whatever
/// level was asked for. Not async-nats at TRACE: it prints the payload of
/// every message it reads.
pub fn may_record(metadata: &tracing::Metadata<'_>) -> bool {
    !(*metadata.level() == tracing::Level::TRACE && metadata.target().starts_with("async_nats"))
}

/// The subscriber every binary uses: `directives` in `RUST_LOG` syntax (or
/// `default` if they do not parse), [`may_record`] on top, one line per
/// event (JSON objects with `json`) to `writer`.
pub fn subscriber<W>(
    directives: &str,
    default: &str,
    json: bool,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    subscriber_exporting(directives, default, json, writer, None)
}

/// Spans exported to an OpenTelemetry collector over OTLP/HTTP
/// (protobuf), as the services do when `otlp_endpoint` is set. Spans and
/// their events carry what the logs carry (references, codes, counts),
/// never a message's content. Dropping it sends what is still buffered.
#[derive(Debug)]
pub struct Otlp {
    provider: opentelemetry_sdk::trace::SdkTracerProvider,
}

impl Otlp {
    /// An exporter to `endpoint`, the collector's traces URL (for example
    /// `http://127.0.0.1:4318/v1/traces`), naming the spans' service
    /// `service`.
    pub fn new(service: &str, endpoint: &str) -> Result<Self, crate::Error> {
        use opentelemetry_otlp::WithExportConfig;
        let endpoint = endpoint.to_owned();
        // The blocking HTTP client is made, used and dropped outside any
        // async runtime: here on a thread of its own, then on the batch
        // processor's.
        let exporter = std::thread::spawn(move || {
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(endpoint)
                .build()
        })
        .join()
        .map_err(|_| crate::Error::Otlp("the exporter could not be made".into()))?
        .map_err(|e| crate::Error::Otlp(format!("otlp_endpoint: {e}")))?;
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(service.to_owned())
                    .build(),
            )
            .build();
        Ok(Self { provider })
    }

    /// Sends every finished span now.
    pub fn flush(&self) -> Result<(), crate::Error> {
        self.provider
            .force_flush()
            .map_err(|e| crate::Error::Otlp(format!("exporting spans: {e}")))
    }

    fn tracer(&self) -> opentelemetry_sdk::trace::Tracer {
        use opentelemetry::trace::TracerProvider as _;
        self.provider.tracer("homeward")
    }
}

impl Drop for Otlp {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// Makes `span`, not yet entered, a child of the W3C `traceparent` a
/// message carries: exported, it joins the sender's trace. Without an
/// exporter (or with a malformed traceparent) it changes nothing; the
/// span's `trace_id` field carries the id into the logs either way.
pub fn follow_trace(span: &tracing::Span, traceparent: &str) {
    use opentelemetry::propagation::TextMapPropagator;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let carrier =
        std::collections::HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(context);
}

/// As [`subscriber`], and with `otlp`, every span also exported.
pub fn subscriber_exporting<W>(
    directives: &str,
    default: &str,
    json: bool,
    writer: W,
    otlp: Option<&Otlp>,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new(default));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(filter_fn(may_record))
        .with(otlp.map(|o| tracing_opentelemetry::layer().with_tracer(o.tracer())));
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_target(false);
    if json {
        Box::new(registry.with(lines.json()))
    } else {
        Box::new(registry.with(lines))
    }
}

/// Installs a subscriber writing to stderr; `RUST_LOG` overrides `default`.
/// `json` switches to one JSON object per line, for log shippers.
pub fn init(default: &str, json: bool) {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| default.to_owned());
    let _ = subscriber(&directives, default, json, std::io::stderr).try_init();
}

/// As [`init`], and with an `endpoint`, spans exported to that
/// OpenTelemetry collector as `service`; keep the returned exporter until
/// the process ends.
pub fn init_exporting(
    default: &str,
    json: bool,
    service: &str,
    endpoint: Option<&str>,
) -> Result<Option<Otlp>, crate::Error> {
    let otlp = endpoint.map(|e| Otlp::new(service, e)).transpose()?;
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| default.to_owned());
    let _ =
        subscriber_exporting(&directives, default, json, std::io::stderr, otlp.as_ref()).try_init();
    Ok(otlp)
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

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

    #[test]
    fn async_nats_trace_is_never_recorded_whatever_the_directives() {
        for directives in [
            "trace",
            "info,async_nats=trace",
            "warn,async_nats=trace,homeward_gateway=info",
        ] {
            let buffer = Buffer::default();
            let writer = buffer.clone();
            let subscriber = subscriber(directives, "info", false, move || writer.clone());
            tracing::subscriber::with_default(subscriber, || {
                tracing::trace!(target: "async_nats::connection", "payload Aigerim");
                tracing::debug!(target: "async_nats::connection", "a debug line");
                tracing::info!(target: "homeward_gateway", "accepted");
            });
            let text = String::from_utf8(buffer.0.lock().expect("buffer").clone()).expect("utf-8");
            assert!(!text.contains("Aigerim"), "{directives}: {text}");
            assert!(text.contains("a debug line"), "{directives}: {text}");
            assert!(text.contains("accepted"), "{directives}: {text}");
        }
    }
}
