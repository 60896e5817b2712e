//! Running ministry services: settings, and the entry point every role's
//! thin `main` calls.
//!
//! One process can run one role for several members (`kz.mfa`, `uz.mfa`):
//! each member has its own key, its own NATS identity, its own cases and its
//! own HTTP address and API token.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use homeward_core::client::{self, Connection, MemberClient};
use homeward_core::published::{self, PolicyHandle};
use homeward_core::receipt::Decision;
use homeward_core::settings::NatsSettings;
use homeward_core::{MemberId, Policy, SchemaRegistry, SigningKey};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::{Access, ApiToken};
use crate::health::{Health, LoopHealth, LoopState};
use crate::parked::RetrySettings;
use crate::runtime::{Ministry, Options, Role};

/// A ministry service's settings: `HOMEWARD_`-prefixed environment variables
/// override the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    #[serde(default)]
    pub nats: NatsSettings,
    /// The policy, to check that deliveries are signed by keys it lists.
    pub policy: PathBuf,
    /// The policy authority's public key (`U…`): the service then applies
    /// every newer policy it signs and publishes, while running
    /// ([`homeward_core::published`]), on top of the policy file.
    #[serde(default)]
    pub policy_authority: Option<String>,
    /// How a delivery that fails to process is retried before it is
    /// parked ([`crate::parked`]).
    #[serde(default)]
    pub deliveries: RetrySettings,
    /// An OpenTelemetry collector's traces URL (OTLP/HTTP, e.g.
    /// `http://127.0.0.1:4318/v1/traces`): each delivery's handling is
    /// exported there, a child of the envelope's `traceparent`.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// The members this process runs.
    #[serde(rename = "member")]
    pub members: Vec<MemberSettings>,
}

/// One member run by this process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSettings {
    pub id: String,
    /// The member's signing seed file.
    pub key_file: PathBuf,
    /// Where its HTTP API listens.
    #[serde(default = "default_http")]
    pub http: SocketAddr,
    /// The file holding the API's bearer token (one line, at least 32
    /// characters), readable only by this service and the member's own
    /// systems. Required: the service does not start without it.
    pub api_token_file: PathBuf,
    /// Further `Host` values the API answers to, as `name:port` (e.g. the
    /// name a reverse proxy uses). On loopback it answers to
    /// `127.0.0.1:PORT` and `localhost:PORT` without them; listening on
    /// every address (`0.0.0.0`) needs them.
    #[serde(default)]
    pub api_hosts: Vec<String>,
    /// The member's NATS user seed file, if the server asks for one.
    #[serde(default)]
    pub nats_nkey_file: Option<PathBuf>,
    /// Settings of the member's role, which the role's crate reads and
    /// checks itself (`[member.role]`), e.g. the security service's
    /// `registry_extract` (`homeward_security::SecuritySettings`).
    #[serde(default)]
    pub role: serde_json::Map<String, serde_json::Value>,
}

fn default_http() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A member's service running as tasks.
#[derive(Debug)]
pub struct Running {
    pub ministry: Arc<Ministry>,
    /// Where the HTTP API listens.
    pub http: SocketAddr,
    /// The state of its delivery and receipt loops, as `/health` reports it.
    pub health: Health,
}

/// Starts one member's service: the delivery loop, the receipt loop, the
/// retry of held messages ([`Ministry::retry_held`]) and of event log
/// appends ([`Ministry::retry_events`]), and the HTTP API open to
/// `access`, until `shutdown` (which also ends every event feed a client
/// follows, so that the API can stop). Returns once both loops
/// have started or failed (see [`Running::health`]).
pub async fn start(
    client: MemberClient,
    role: Arc<dyn Role>,
    schemas: Arc<SchemaRegistry>,
    listener: TcpListener,
    access: Access,
    shutdown: CancellationToken,
    tasks: &mut JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<Running> {
    let setup = Setup {
        client,
        role,
        schemas,
        options: Options::default(),
    };
    start_with(setup, listener, access, shutdown, tasks).await
}

/// What one member's service is made of.
pub struct Setup {
    pub client: MemberClient,
    pub role: Arc<dyn Role>,
    pub schemas: Arc<SchemaRegistry>,
    pub options: Options,
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("member", self.client.member())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// As [`start`], with the options `setup` names.
pub async fn start_with(
    setup: Setup,
    listener: TcpListener,
    access: Access,
    shutdown: CancellationToken,
    tasks: &mut JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<Running> {
    let Setup {
        client,
        role,
        schemas,
        options,
    } = setup;
    let ministry = Ministry::start_with_options(client.clone(), role, schemas, options).await?;
    let http = listener.local_addr()?;
    let health = Health::default();
    tasks.spawn(delivery_loop(
        client.clone(),
        ministry.clone(),
        health.delivery.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(receipt_loop(
        client.clone(),
        ministry.metrics(),
        health.receipts.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(resend_loop(
        client.clone(),
        ministry.clone(),
        shutdown.clone(),
    ));
    let held = ministry.clone();
    let stop = shutdown.clone();
    tasks.spawn(async move {
        held.retry_held(stop).await;
        Ok(())
    });
    let behind = ministry.clone();
    let stop = shutdown.clone();
    tasks.spawn(async move {
        behind.retry_events(stop).await;
        Ok(())
    });
    let unsent = ministry.clone();
    let stop = shutdown.clone();
    tasks.spawn(async move {
        unsent.retry_unsent(stop).await;
        Ok(())
    });
    // Discovery: the operator sees the service up, its version and its
    // counters, until it stops.
    let name = client
        .policy()
        .member(client.member())
        .map_or("homeward-ministry", |m| {
            homeward_core::discovery::service_name(m.role)
        });
    patiently(client.member(), "discovery", || {
        homeward_core::discovery::register(
            client.nats(),
            name,
            env!("CARGO_PKG_VERSION"),
            client.member(),
            ministry.counters(),
            shutdown.clone(),
        )
    })
    .await?;
    health.started().await;
    let app = crate::api::router(ministry.clone(), health.clone(), access, shutdown.clone());
    let stop = shutdown.clone();
    tasks.spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await?;
        Ok(())
    });
    tracing::info!(member = %ministry.member(), %http, "service running");
    Ok(Running {
        ministry,
        http,
        health,
    })
}

/// The delivery loop ([`Ministry::run_deliveries`]) until `shutdown`,
/// reporting its state to `state`.
///
/// It runs as its own task, apart from the receipt loop, so that its end is
/// seen when it happens: the consumer's stream ends when the consumer is
/// deleted, and that is a failure, not a shutdown. It ends with an error
/// then, which the process logs at once.
async fn delivery_loop(
    client: MemberClient,
    ministry: Arc<Ministry>,
    state: LoopHealth,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let member = client.member().clone();
    if let Err(e) = patiently(&member, "the delivery consumer", || {
        client.delivery_consumer()
    })
    .await
    {
        return failed(&state, &member, "delivery", e.to_string());
    }
    state.set(LoopState::Running);
    let result = ministry.run_deliveries(shutdown.clone()).await;
    match result {
        Err(e) => failed(&state, &member, "delivery", e.to_string()),
        Ok(()) if shutdown.is_cancelled() => {
            state.set(LoopState::Stopped);
            Ok(())
        }
        Ok(()) => {
            // Say why, if the server can: most often the consumer is gone.
            let why = match client.delivery_consumer().await {
                Err(e) => format!("its stream ended before shutdown: {e}"),
                Ok(_) => "its stream ended before shutdown".to_owned(),
            };
            failed(&state, &member, "delivery", why)
        }
    }
}

/// The receipt loop: logs the gateway's rejections of what this member
/// sent, until `shutdown`, reporting its state to `state`. An error reading
/// (the connection down a moment) is retried; a consumer that is gone is a
/// failure.
async fn receipt_loop(
    client: MemberClient,
    metrics: Arc<crate::metrics::ServiceMetrics>,
    state: LoopHealth,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let member = client.member().clone();
    let mut receipts = match patiently(&member, "the receipt consumer", || client.receipts()).await
    {
        Ok(r) => r,
        Err(e) => return failed(&state, &member, "receipt", e.to_string()),
    };
    state.set(LoopState::Running);
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => {
                state.set(LoopState::Stopped);
                return Ok(());
            }
            r = receipts.next(Duration::from_secs(5)) => r,
        };
        match next {
            Ok((_, receipt)) => {
                metrics.receipt(member.as_str(), receipt.decision);
                if receipt.decision == Decision::Rejected {
                    tracing::warn!(
                        %member,
                        msg_id = receipt.submission_id.as_deref().unwrap_or("?"),
                        r#type = receipt.submission_type.as_deref().unwrap_or("?"),
                        codes = ?receipt.codes(),
                        "the gateway rejected a message this member sent"
                    );
                }
            }
            Err(homeward_core::Error::Timeout(_)) => {}
            Err(e) => {
                if let Err(gone @ homeward_core::Error::NotProvisioned(_)) = client.receipts().await
                {
                    return failed(&state, &member, "receipt", gone.to_string());
                }
                tracing::warn!(%member, error = %e, "reading receipts failed; trying again");
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

/// Sends again what the gateway refused for now ([`Ministry::resend`]),
/// until `shutdown`. It reads this member's own rejected copies
/// (`rejected_<member>` on `HW_REJECTED`: the original bytes, with the
/// codes): a copy refused for good is acked at once (the receipt loop has
/// logged it); one refused for now ([`crate::runtime::ResendAfter`]) is
/// given back to the server until the pause its codes call for has passed
/// since the refusal, then sent again and acked once the resend is stored
/// with its case. A copy that cannot be resent now (the server out of
/// reach) comes again in 5 s.
async fn resend_loop(
    client: MemberClient,
    ministry: Arc<Ministry>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use async_nats::jetstream::AckKind;
    use futures::StreamExt;
    use homeward_core::envelope::Envelope;
    use homeward_core::subjects::headers;

    let member = client.member().clone();
    let consumer = match patiently(&member, "the rejection consumer", || client.rejections()).await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(%member, error = %e, "refusals for now will not be sent again");
            return Ok(());
        }
    };
    let after = ministry.resend_after();
    let again = |pause: Duration| AckKind::Nak(Some(pause));
    loop {
        let mut copies = match consumer.messages().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(%member, error = %e, "reading refusals failed; trying again");
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                next = copies.next() => next,
            };
            // The pull ended (the connection went away): pull again.
            let Some(next) = next else { break };
            let copy = match next {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(%member, error = %e, "reading refusals");
                    continue;
                }
            };
            let codes = copy
                .headers
                .as_ref()
                .and_then(|h| h.get(headers::CODES))
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            let outcome = match after.pause(codes.split(',')) {
                None => AckKind::Ack,
                Some(pause) => {
                    let waited = copy
                        .info()
                        .map(|i| time::OffsetDateTime::now_utc() - i.published)
                        .unwrap_or(time::Duration::ZERO);
                    let waited = Duration::try_from(waited).unwrap_or_default();
                    if waited < pause {
                        again(pause - waited)
                    } else {
                        match Envelope::parse(&copy.payload) {
                            Err(e) => {
                                tracing::warn!(%member, error = %e, "a refused copy that does not parse is not sent again");
                                AckKind::Ack
                            }
                            Ok(refused) => match ministry.resend(&refused, pause).await {
                                Ok(crate::runtime::Resent::Sent(_)) => AckKind::Ack,
                                Ok(crate::runtime::Resent::Declined(why)) => {
                                    tracing::error!(%member, codes, %why, "a copy refused for now is not sent again");
                                    AckKind::Ack
                                }
                                Err(e) => {
                                    tracing::warn!(%member, error = %e, "a message refused for now is not sent again yet");
                                    again(Duration::from_secs(5))
                                }
                            },
                        }
                    }
                }
            };
            if let Err(e) = copy.ack_with(outcome).await {
                tracing::debug!(%member, error = %e, "answering a refused copy failed; it comes again");
            }
        }
    }
}

/// How long a starting service waits for the server to show a consumer or
/// bucket the administrator provisioned: the fault harness
/// (`homeward-chaos`) saw a server just restarted answer "not found" for a
/// few seconds. After this long, what is missing is missing.
pub const PROVISIONED_WITHIN: Duration = Duration::from_secs(60);

/// Runs `attempt` again while the server is out of reach (it answers a
/// NATS error or not in time: it is restarting, or the link is down),
/// pausing 100 ms, then twice as long each time up to 5 s; any other error
/// is returned at once, but for something not provisioned, which is
/// waited for up to [`PROVISIONED_WITHIN`]. A service that starts while its
/// server restarts then waits for it, rather than ending into a restart
/// loop.
async fn patiently<T, F, Fut>(
    member: &MemberId,
    what: &str,
    mut attempt: F,
) -> Result<T, homeward_core::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, homeward_core::Error>>,
{
    let mut pause = Duration::from_millis(100);
    let mut tries = 1u32;
    let deadline = tokio::time::Instant::now() + PROVISIONED_WITHIN;
    loop {
        match attempt().await {
            Err(e @ (homeward_core::Error::Nats(_) | homeward_core::Error::Timeout(_))) => {
                tracing::warn!(%member, error = %e, tries, "{what}: the server is out of reach; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
                tries += 1;
            }
            Err(e @ homeward_core::Error::NotProvisioned(_))
                if tokio::time::Instant::now() < deadline =>
            {
                tracing::warn!(%member, error = %e, tries, "{what}: not shown by the server yet; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
                tries += 1;
            }
            other => return other,
        }
    }
}

/// Records that a loop failed, logs it, and ends its task with the reason.
fn failed(state: &LoopHealth, member: &MemberId, name: &str, reason: String) -> anyhow::Result<()> {
    tracing::error!(%member, %reason, "the {name} loop failed; /health answers 503");
    state.fail(reason.clone());
    anyhow::bail!("{member}: the {name} loop failed: {reason}")
}

/// Runs every member of `settings` with the role `role_for` gives it, until
/// `shutdown`; then waits for every task to finish. A member whose API
/// token file is missing or unusable, or whose loops fail at start, stops
/// it from starting.
pub async fn run(
    settings: ServiceSettings,
    role_for: impl Fn(&MemberSettings) -> anyhow::Result<Arc<dyn Role>>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let schemas = Arc::new(SchemaRegistry::embedded()?);
    let policy = PolicyHandle::new(Arc::new(Policy::load(&settings.policy, &schemas)?));
    let authority = settings
        .policy_authority
        .as_deref()
        .map(homeward_core::PublicKey::parse)
        .transpose()?;
    let options = Options {
        retry: settings.deliveries.retry()?,
        hold_unknown_case: Duration::from_millis(settings.deliveries.hold_unknown_case_ms),
        ..Options::default()
    };
    // Everything each member needs is read, and its port bound, before any
    // connects: a bad file anywhere stops the process before it has done
    // anything, rather than after some members started.
    let mut prepared = Vec::with_capacity(settings.members.len());
    for m in &settings.members {
        let ready = async {
            let member = MemberId::parse(&m.id)?;
            let key = SigningKey::from_file(&m.key_file)?;
            let token = ApiToken::from_file(&m.api_token_file)?;
            let nkey_seed = match &m.nats_nkey_file {
                Some(path) => Some(homeward_core::keys::read_nats_seed(path)?),
                None => settings
                    .nats
                    .nkey_seed
                    .as_ref()
                    .map(|s| s.expose().to_owned()),
            };
            let role = role_for(m)?;
            let listener = TcpListener::bind(m.http)
                .await
                .map_err(|e| anyhow::anyhow!("http = \"{}\": {e}", m.http))?;
            let access = Access::new(&token, listener.local_addr()?, &m.api_hosts)?;
            anyhow::Ok((member, key, nkey_seed, role, listener, access))
        }
        .await
        .map_err(|e| e.context(format!("member {:?} in the settings", m.id)))?;
        prepared.push(ready);
    }
    let mut following = false;
    let mut tasks = JoinSet::new();
    for (member, key, nkey_seed, role, listener, access) in prepared {
        let connection = Connection {
            url: settings.nats.url.clone(),
            nkey_seed,
            tls_ca: settings.nats.tls_ca.clone(),
        };
        let nats = client::connect(&connection, Some(&member), member.as_str()).await?;
        // One follower of the published policy for every member of this
        // process: they share the policy in force.
        if let Some(authority) = &authority
            && !following
        {
            let follower = patiently(&member, "the policy follower", || {
                published::follow(
                    nats.clone(),
                    policy.clone(),
                    authority.clone(),
                    schemas.clone(),
                    shutdown.clone(),
                )
            })
            .await?;
            tasks.spawn(async move {
                follower
                    .await
                    .map_err(|e| anyhow::anyhow!("the policy follower: {e}"))
            });
            following = true;
        }
        let client = MemberClient::new(nats, member.clone(), key, policy.clone());
        let setup = Setup {
            client,
            role,
            schemas: schemas.clone(),
            options,
        };
        let running = start_with(setup, listener, access, shutdown.clone(), &mut tasks).await?;
        if let Some(failure) = running.health.failure() {
            shutdown.cancel();
            anyhow::bail!("{member}: {failure}");
        }
        println!("{member} listening on http://{}", running.http);
    }
    while let Some(result) = tasks.join_next().await {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "a service task failed"),
            Err(e) => tracing::error!(error = %e, "a service task panicked"),
        }
    }
    Ok(())
}

/// The whole `main` of a role's binary: `--config FILE`, tracing, run until
/// Ctrl-C or SIGTERM.
pub fn main_with(
    role_for: impl Fn(&MemberSettings) -> anyhow::Result<Arc<dyn Role>>,
) -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut config = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => config = args.next().map(PathBuf::from),
            "--help" | "-h" => {
                println!(
                    "usage: {} [--config FILE]\nsettings: see services/ministry/src/service.rs",
                    std::env::args().next().unwrap_or_default()
                );
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other:?}"),
        }
    }
    let settings: ServiceSettings = homeward_core::settings::load(config.as_deref(), "HOMEWARD")?;
    let service = std::env::args()
        .next()
        .as_deref()
        .and_then(|p| {
            std::path::Path::new(p)
                .file_name()?
                .to_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "homeward-ministry".to_owned());
    let _otlp = homeward_core::telemetry::init_exporting(
        "info",
        false,
        &service,
        settings.otlp_endpoint.as_deref(),
    )?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let stop = homeward_core::shutdown::on_signal();
        run(settings, role_for, stop).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_settings_load_and_typos_are_refused() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../deploy/services/kz-mfa.toml");
        let settings: ServiceSettings =
            homeward_core::settings::load(Some(&path), "HOMEWARD_TEST_UNSET").expect("loads");
        assert_eq!(settings.members.len(), 1);
        assert_eq!(settings.members[0].id, "kz.mfa");
        assert_eq!(
            settings.deliveries.retry().expect("a retry"),
            crate::parked::Retry::default()
        );
        assert_eq!(settings.members[0].http.port(), 8081);
        assert_eq!(
            settings.members[0].api_token_file,
            std::path::Path::new("/etc/homeward/keys/kz.mfa.api-token")
        );
        let dir = std::env::temp_dir().join(format!("hw-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let bad = dir.join("bad.toml");
        std::fs::write(
            &bad,
            "policy = \"p\"\n[[member]]\nid = \"kz.mfa\"\nkey_file = \"k\"\napi_token_file = \"t\"\nhttp_port = 1\n",
        )
        .expect("write");
        let err =
            homeward_core::settings::load::<ServiceSettings>(Some(&bad), "HOMEWARD_TEST_UNSET")
                .expect_err("typo refused");
        assert!(err.to_string().contains("http_port"), "{err}");
        // A member without a token file does not start.
        std::fs::write(
            &bad,
            "policy = \"p\"\n[[member]]\nid = \"kz.mfa\"\nkey_file = \"k\"\n",
        )
        .expect("write");
        let err =
            homeward_core::settings::load::<ServiceSettings>(Some(&bad), "HOMEWARD_TEST_UNSET")
                .expect_err("no token file refused");
        assert!(err.to_string().contains("api_token_file"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
