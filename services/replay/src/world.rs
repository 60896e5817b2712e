//! Every ministry service of the policy, running as tasks on a local
//! deployment, each with its HTTP API on a free loopback port and its own
//! random API token, written to `<keys dir>/<member>.api-token` as an
//! official's own systems would read it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use homeward_core::MemberId;
use homeward_core::policy::Role as PolicyRole;
use homeward_foreign_affairs::report::Report;
use homeward_ministry::Role;
use homeward_ministry::api::{Access, ApiToken};
use homeward_ministry::api_client::Endpoint;
use homeward_ministry::health::Health;
use homeward_ministry::service;
use homeward_testkit::local::{GatewayTask, Local};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The running services of a deployment.
#[derive(Debug)]
pub struct World {
    /// Each member's HTTP API.
    pub apis: BTreeMap<MemberId, SocketAddr>,
    services: BTreeMap<MemberId, Arc<homeward_ministry::Ministry>>,
    /// Each member's API token and the file it was written to.
    tokens: BTreeMap<MemberId, (ApiToken, PathBuf)>,
    health: BTreeMap<MemberId, Health>,
    /// The foreign ministries, whose services keep each state's report.
    foreign_ministries: Vec<MemberId>,
    /// Each member's own stop, a child of `stop`.
    stops: BTreeMap<MemberId, CancellationToken>,
    stop: CancellationToken,
    tasks: JoinSet<anyhow::Result<()>>,
    gateway: Option<GatewayTask>,
}

/// The role a member of the policy runs, if it runs a ministry service.
pub fn role_for(role: PolicyRole) -> Option<Arc<dyn Role>> {
    match role {
        PolicyRole::CampAuthority | PolicyRole::Intermediary => {
            Some(Arc::new(homeward_camp_registry::CampRegistry))
        }
        PolicyRole::Mfa => Some(Arc::new(homeward_foreign_affairs::ForeignAffairs)),
        PolicyRole::Security => Some(Arc::new(homeward_security::Security)),
        PolicyRole::Interior => Some(Arc::new(homeward_interior::Interior)),
        PolicyRole::Rehab => Some(Arc::new(homeward_rehabilitation::Rehabilitation)),
        PolicyRole::Gateway | PolicyRole::Operator => None,
    }
}

impl World {
    /// Starts a gateway and a service for every member of the policy.
    pub async fn start(local: &Local) -> anyhow::Result<Self> {
        Self::start_with(local, &BTreeMap::new()).await
    }

    /// As [`World::start`], with the members `via` names connected to the
    /// URL it gives them (a proxy in front of the server, for the fault
    /// tests) instead of the server's own.
    pub async fn start_with(local: &Local, via: &BTreeMap<String, String>) -> anyhow::Result<Self> {
        let gateway = local.spawn_gateway(local.gateway_config("gw-1")?).await?;
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let mut apis = BTreeMap::new();
        let mut services = BTreeMap::new();
        let mut tokens = BTreeMap::new();
        let mut health = BTreeMap::new();
        let mut foreign_ministries = Vec::new();
        let mut stops = BTreeMap::new();
        for member in local.policy.members() {
            let Some(role) = role_for(member.role) else {
                continue;
            };
            let client = match via.get(member.id.as_str()) {
                Some(url) => local.member_at(member.id.as_str(), url).await?,
                None => local.member(member.id.as_str()).await?,
            };
            let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
            let token_file = local.keys_dir().join(format!("{}.api-token", member.id));
            let token = write_random_token(&token_file)?;
            let access = Access::new(&token, listener.local_addr()?, &[])?;
            let own_stop = stop.child_token();
            let running = service::start(
                client,
                role,
                local.schemas.clone(),
                listener,
                access,
                own_stop.clone(),
                &mut tasks,
            )
            .await?;
            stops.insert(member.id.clone(), own_stop);
            if let Some(failure) = running.health.failure() {
                stop.cancel();
                anyhow::bail!("{}: {failure}", member.id);
            }
            if member.role == PolicyRole::Mfa {
                foreign_ministries.push(member.id.clone());
            }
            apis.insert(member.id.clone(), running.http);
            services.insert(member.id.clone(), running.ministry);
            tokens.insert(member.id.clone(), (token, token_file));
            health.insert(member.id.clone(), running.health);
        }
        Ok(Self {
            apis,
            services,
            tokens,
            health,
            foreign_ministries,
            stops,
            stop,
            tasks,
            gateway: Some(gateway),
        })
    }

    /// The base URL of a member's API.
    pub fn api(&self, member: &str) -> anyhow::Result<String> {
        let id = MemberId::parse(member)?;
        let addr = self
            .apis
            .get(&id)
            .ok_or_else(|| anyhow::anyhow!("{member} runs no service"))?;
        Ok(format!("http://{addr}"))
    }

    /// A member's API endpoint: its base URL and its token.
    pub fn endpoint(&self, member: &str) -> anyhow::Result<Endpoint> {
        let id = MemberId::parse(member)?;
        let (token, _) = self
            .tokens
            .get(&id)
            .ok_or_else(|| anyhow::anyhow!("{member} runs no service"))?;
        Ok(Endpoint::new(&self.api(member)?, token.clone()))
    }

    /// Every member's API endpoint.
    pub fn endpoints(&self) -> anyhow::Result<Vec<(String, Endpoint)>> {
        self.apis
            .keys()
            .map(|m| Ok((m.to_string(), self.endpoint(m.as_str())?)))
            .collect()
    }

    /// The file holding a member's API token (for `--api-token-file`).
    pub fn api_token_file(&self, member: &str) -> anyhow::Result<&Path> {
        let id = MemberId::parse(member)?;
        self.tokens
            .get(&id)
            .map(|(_, file)| file.as_path())
            .ok_or_else(|| anyhow::anyhow!("{member} runs no service"))
    }

    /// The state of a member's delivery and receipt loops.
    pub fn health(&self, member: &str) -> anyhow::Result<Health> {
        let id = MemberId::parse(member)?;
        self.health
            .get(&id)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("{member} runs no service"))
    }

    /// A member's running service.
    pub fn service(&self, member: &str) -> anyhow::Result<Arc<homeward_ministry::Ministry>> {
        let id = MemberId::parse(member)?;
        self.services
            .get(&id)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("{member} runs no service"))
    }

    /// Every state's report, each from its own foreign ministry's service
    /// (`GET /views/report`), merged: nobody reads another state's cases.
    pub async fn report(&self) -> anyhow::Result<Report> {
        let api = crate::api::of_world(self)?;
        let mut reports = Vec::with_capacity(self.foreign_ministries.len());
        for member in &self.foreign_ministries {
            reports.push(Report::fetch(&api, member.as_str()).await?);
        }
        Ok(Report::merge(reports))
    }

    /// The gateway, while it runs.
    pub fn gateway(&self) -> Option<&GatewayTask> {
        self.gateway.as_ref()
    }

    /// Stops the gateway (gracefully: what it took and did not finish
    /// comes again to the next one).
    pub async fn stop_gateway(&mut self) -> anyhow::Result<()> {
        if let Some(g) = self.gateway.take() {
            g.stop().await?;
        }
        Ok(())
    }

    /// Starts a gateway again after [`World::stop_gateway`].
    pub async fn start_gateway(&mut self, local: &Local, instance: &str) -> anyhow::Result<()> {
        anyhow::ensure!(self.gateway.is_none(), "a gateway runs already");
        self.gateway = Some(local.spawn_gateway(local.gateway_config(instance)?).await?);
        Ok(())
    }

    /// Stops one member's service, as if its machine went away: its loops
    /// and its API end, its consumers keep what is sent to it. The
    /// service's tasks end on their own; [`World::stop`] collects them.
    pub fn stop_member(&self, member: &str) -> anyhow::Result<()> {
        let id = MemberId::parse(member)?;
        self.stops
            .get(&id)
            .ok_or_else(|| anyhow::anyhow!("{member} runs no service"))?
            .cancel();
        Ok(())
    }

    /// Starts a member's service again after [`World::stop_member`], as its
    /// machine coming back: a new service on the same address with the
    /// same token, reading from its consumers what waited for it.
    pub async fn restart_member(&mut self, local: &Local, member: &str) -> anyhow::Result<()> {
        let id = MemberId::parse(member)?;
        let role = local
            .policy
            .member(&id)
            .and_then(|m| role_for(m.role))
            .ok_or_else(|| anyhow::anyhow!("{member} runs no service"))?;
        let addr = *self
            .apis
            .get(&id)
            .ok_or_else(|| anyhow::anyhow!("{member} runs no service"))?;
        let old = self
            .stops
            .get(&id)
            .ok_or_else(|| anyhow::anyhow!("{member} runs no service"))?;
        anyhow::ensure!(old.is_cancelled(), "{member} runs already");
        let (token, _) = self.tokens[&id].clone();
        // The old API lets go of its port as its task ends.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(addr).await {
                Ok(l) => break l,
                Err(e)
                    if e.kind() == std::io::ErrorKind::AddrInUse
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(e) => return Err(anyhow::anyhow!("{member} rebinding {addr}: {e}")),
            }
        };
        let access = Access::new(&token, addr, &[])?;
        let own_stop = self.stop.child_token();
        let running = service::start(
            local.member(member).await?,
            role,
            local.schemas.clone(),
            listener,
            access,
            own_stop.clone(),
            &mut self.tasks,
        )
        .await?;
        if let Some(failure) = running.health.failure() {
            anyhow::bail!("{member}: {failure}");
        }
        self.stops.insert(id.clone(), own_stop);
        self.services.insert(id.clone(), running.ministry);
        self.health.insert(id, running.health);
        Ok(())
    }

    /// Stops every service and the gateway, and waits for all of them;
    /// then reports the first task that failed (a loop that failed before,
    /// say).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.stop.cancel();
        let mut first_failure = None;
        while let Some(r) = self.tasks.join_next().await {
            let failure = match r {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e,
                Err(e) => e.into(),
            };
            first_failure.get_or_insert(failure);
        }
        if let Some(g) = self.gateway.take() {
            g.stop().await?;
        }
        first_failure.map_or(Ok(()), Err)
    }
}

/// A random token of 64 hex characters (256 bits from the OS), written to
/// `path` readable by its owner only.
pub fn write_random_token(path: &Path) -> anyhow::Result<ApiToken> {
    use rand::RngCore;
    use std::fmt::Write as _;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let mut text = String::with_capacity(64);
    for b in bytes {
        let _ = write!(text, "{b:02x}");
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, format!("{text}\n").as_bytes())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    ApiToken::new(text).map_err(|p| anyhow::anyhow!("a generated token {p}"))
}
