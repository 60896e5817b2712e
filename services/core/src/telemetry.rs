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
    let filter = EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new(default));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(filter_fn(may_record));
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
