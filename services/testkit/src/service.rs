//! Ministry services under test: a deployment with a gateway, and one
//! member's service run as `homeward_ministry::service::start_with` runs
//! it, on a free port of loopback, with an API token made for the test.
//! The ministry's, the roles' and the replay's integration tests stand on
//! this rather than each on its own copy.

use std::sync::Arc;
use std::time::Duration;

use homeward_core::envelope::new_id;
use homeward_ministry::api::{Access, ApiToken};
use homeward_ministry::api_client::{ApiClient, Endpoint};
use homeward_ministry::runtime::Options;
use homeward_ministry::service::{self, Setup};
use homeward_ministry::{Ministry, Role};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::local::{GatewayTask, Local, LocalOptions};

/// How long a service may take to stop.
pub const STOP_WITHIN: Duration = Duration::from_secs(60);

/// A local deployment with one gateway.
#[derive(Debug)]
pub struct Deployment {
    pub local: Local,
    gateway: Option<GatewayTask>,
}

impl Deployment {
    /// A deployment with a gateway named `instance`.
    pub async fn start(instance: &str) -> Self {
        Self::start_with(instance, LocalOptions::default()).await
    }

    /// A deployment laid out by `options`, with a gateway named `instance`.
    pub async fn start_with(instance: &str, options: LocalOptions) -> Self {
        let local = Local::start(options).await.expect("local deployment");
        let gateway = local
            .spawn_gateway(local.gateway_config(instance).expect("config"))
            .await
            .expect("gateway");
        Self {
            local,
            gateway: Some(gateway),
        }
    }

    pub async fn stop(mut self) {
        if let Some(g) = self.gateway.take() {
            g.stop().await.expect("the gateway stops");
        }
    }
}

/// A random API token.
pub fn token() -> ApiToken {
    ApiToken::new(format!("{}{}", new_id(), new_id())).expect("a token")
}

/// One member's service with `role`, on a free port.
pub struct ServiceUnderTest {
    pub member: &'static str,
    pub url: String,
    pub port: u16,
    pub token: ApiToken,
    pub ministry: Arc<Ministry>,
    stop: CancellationToken,
    tasks: JoinSet<anyhow::Result<()>>,
}

impl std::fmt::Debug for ServiceUnderTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceUnderTest")
            .field("member", &self.member)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl ServiceUnderTest {
    /// With a token made for it and the shipped options.
    pub async fn start(local: &Local, member: &'static str, role: Arc<dyn Role>) -> Self {
        Self::start_with(local, member, role, token(), Options::default()).await
    }

    pub async fn start_with(
        local: &Local,
        member: &'static str,
        role: Arc<dyn Role>,
        token: ApiToken,
        options: Options,
    ) -> Self {
        let client = local.member(member).await.expect("member client");
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let access = Access::new(&token, addr, &[]).expect("access");
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let setup = Setup {
            client,
            role,
            schemas: local.schemas.clone(),
            options,
        };
        let running = service::start_with(setup, listener, access, stop.clone(), &mut tasks)
            .await
            .expect("the service starts");
        assert!(running.health.failure().is_none(), "{member} failed");
        Self {
            member,
            url: format!("http://{addr}"),
            port: addr.port(),
            token,
            ministry: running.ministry,
            stop,
            tasks,
        }
    }

    pub fn endpoint(&self) -> Endpoint {
        Endpoint::new(&self.url, self.token.clone())
    }

    /// `GET {path}` with the member's token: the status and the JSON body.
    pub async fn get(&self, path: &str) -> (reqwest::StatusCode, serde_json::Value) {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .bearer_auth(self.token.expose())
            .send()
            .await
            .expect("GET");
        let status = response.status();
        (status, response.json().await.expect("a JSON answer"))
    }

    /// Stops every task of the service, its API among them, and waits for
    /// them: a client still connected (an event feed) must not keep it up.
    pub async fn stop(mut self) {
        self.stop.cancel();
        let drained = tokio::time::timeout(STOP_WITHIN, async {
            while let Some(r) = self.tasks.join_next().await {
                r.expect("a task of the service panicked")
                    .expect("a task of the service failed");
            }
        })
        .await;
        assert!(
            drained.is_ok(),
            "{} did not stop within {STOP_WITHIN:?}",
            self.member
        );
    }
}

/// A client of the services' APIs, each with its token.
pub fn api(services: &[&ServiceUnderTest]) -> ApiClient {
    ApiClient::new(services.iter().map(|s| (s.member.to_owned(), s.endpoint())))
        .expect("api client")
}
