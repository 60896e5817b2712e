//! Tracing set-up, called once from each binary's `main`.
//!
//! Logs carry references (message id, type, member, case), never names or
//! birth dates: handlers log fields, not message bodies.

use tracing_subscriber::EnvFilter;

/// Installs a subscriber writing to stderr; `RUST_LOG` overrides `default`.
/// `json` switches to one JSON object per line, for log shippers.
pub fn init(default: &str, json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
