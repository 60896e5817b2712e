//! `homeward-console`: the operator's web console.
//!
//! Operators must see at once what is stuck, rejected or late, across every
//! country, and never a person's data. The console connects as the
//! operator identity, whose NATS account receives metadata only
//! ([`homeward_core::natsauth::operator_access`]): the audit records, stream
//! and consumer state, JetStream's stream and consumer advisories, and the
//! services' NATS micro discovery. It holds no signing key and changes
//! nothing.
//!
//! # Layout
//! - [`model`]: what the audit records tell, folded as they arrive (flows,
//!   rejections, case index, late cases, the chain verified record by
//!   record); bounded whatever the traffic.
//! - [`watch`]: the tasks that read the server: the audit stream, consumer
//!   state, advisories of parked and terminated messages, and discovery.
//! - [`web`]: the pages and the JSON and live (server-sent events) API,
//!   behind the operator token; static assets compiled in.
//! - [`settings`]: the process's settings and the library's config.

pub mod model;
pub mod settings;
pub mod watch;
pub mod web;

use std::sync::{Arc, Mutex, MutexGuard};

use homeward_core::Policy;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use settings::ConsoleConfig;
use watch::Observed;

/// A running console: its model and what its watchers observed.
#[derive(Debug)]
pub struct Console {
    config: ConsoleConfig,
    policy: Arc<Policy>,
    nats: async_nats::Client,
    model: Mutex<model::Model>,
    observed: Mutex<Observed>,
    /// The latest snapshot as JSON, for the live feed.
    live: tokio::sync::watch::Sender<Arc<String>>,
}

impl Console {
    /// Starts the watchers on `nats` (connected as the operator) until
    /// `stop`; their tasks join `tasks`.
    pub fn start(
        nats: async_nats::Client,
        policy: Arc<Policy>,
        config: ConsoleConfig,
        stop: CancellationToken,
        tasks: &mut JoinSet<anyhow::Result<()>>,
    ) -> Arc<Self> {
        let model = model::Model::new(config.limits, config.late_after.clone());
        let (live, _) = tokio::sync::watch::channel(Arc::new(String::from("{}")));
        let console = Arc::new(Self {
            config,
            policy,
            nats,
            model: Mutex::new(model),
            observed: Mutex::new(Observed::default()),
            live,
        });
        watch::spawn_all(&console, stop, tasks);
        console
    }

    pub fn config(&self) -> &ConsoleConfig {
        &self.config
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn nats(&self) -> &async_nats::Client {
        &self.nats
    }

    /// The model, locked. A poisoned lock (a panic while holding it) is
    /// taken over: the model is a cache of the audit stream, never the
    /// record.
    pub fn model(&self) -> MutexGuard<'_, model::Model> {
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn observed(&self) -> MutexGuard<'_, Observed> {
        self.observed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The live feed's latest snapshot.
    pub fn live(&self) -> tokio::sync::watch::Receiver<Arc<String>> {
        self.live.subscribe()
    }
}

/// A console serving on `listener`: what [`serve_on`] started.
#[derive(Debug)]
pub struct Serving {
    pub console: Arc<Console>,
    /// Where it answers.
    pub addr: std::net::SocketAddr,
}

/// Starts the watchers and serves the console on `listener` to the holder
/// of `token`, at `listener`'s address and `hosts`, until `stop`; every
/// task joins `tasks`. What the binary, the demo and the tests run.
pub fn serve_on(
    nats: async_nats::Client,
    policy: Arc<Policy>,
    config: ConsoleConfig,
    listener: tokio::net::TcpListener,
    (token, hosts): (&homeward_ministry::api::ApiToken, &[String]),
    stop: CancellationToken,
    tasks: &mut JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<Serving> {
    let addr = listener.local_addr()?;
    let access = homeward_ministry::api::Access::new(token, addr, hosts)?;
    let console = Console::start(nats, policy, config, stop.clone(), tasks);
    tasks.spawn(web::serve(listener, console.clone(), access, stop));
    Ok(Serving { console, addr })
}
