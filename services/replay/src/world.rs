//! Every ministry service of the policy, running as tasks on a local
//! deployment, each with its HTTP API on a free loopback port.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use homeward_core::MemberId;
use homeward_core::policy::Role as PolicyRole;
use homeward_foreign_affairs::report::Report;
use homeward_ministry::Role;
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
    /// The foreign ministries, whose services keep each state's report.
    foreign_ministries: Vec<MemberId>,
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
        let gateway = local.spawn_gateway(local.gateway_config("gw-1")?).await?;
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let mut apis = BTreeMap::new();
        let mut services = BTreeMap::new();
        let mut foreign_ministries = Vec::new();
        for member in local.policy.members() {
            let Some(role) = role_for(member.role) else {
                continue;
            };
            let client = local.member(member.id.as_str()).await?;
            let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
            let running = service::start(
                client,
                role,
                local.schemas.clone(),
                listener,
                stop.clone(),
                &mut tasks,
            )
            .await?;
            if member.role == PolicyRole::Mfa {
                foreign_ministries.push(member.id.clone());
            }
            apis.insert(member.id.clone(), running.http);
            services.insert(member.id.clone(), running.ministry);
        }
        Ok(Self {
            apis,
            services,
            foreign_ministries,
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

    /// Stops every service and the gateway, and waits for them.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.stop.cancel();
        while let Some(r) = self.tasks.join_next().await {
            r??;
        }
        if let Some(g) = self.gateway.take() {
            g.stop().await?;
        }
        Ok(())
    }
}
