//! A whole Homeward on one machine: an embedded nats-server, development
//! keys for every member of a policy, and gateways as tasks.
//!
//! The server runs under the accounts generated from the policy
//! ([`homeward_core::natsauth`]): every member, the gateway and the operator
//! connect with their own NATS nkey into their own account and receive only
//! their own subjects, and the administrator provisions the streams,
//! consumers and buckets ([`homeward_core::streams::provision`]) before
//! anyone else connects. So the isolation is exercised by everything that
//! runs on a `Local`.
//!
//! Every client reaches it over TLS, checking the server's certificate
//! against a development CA made for this `Local` ([`Transport`]).
//!
//! Its JetStream store is encrypted at rest, by default with a random key
//! made for this `Local` and held only in memory
//! ([`crate::natsd::StoreEncryption`]; set
//! `LocalOptions::server.encryption` to choose otherwise).
//!
//! `homeward demo`, the integration tests and the benchmarks all stand on
//! this, so what the demo shows is what the tests check.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use homeward_core::client::{self, Connection, MemberClient};
use homeward_core::{
    Error, MemberId, Policy, SchemaRegistry, SigningKey, keys, natsauth, streams, tls,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use homeward_gateway::{Gateway, GatewayConfig, GatewayError};

use homeward_core::published::{self, PolicyHandle};

use crate::devkeys;
use crate::natsd::{ClusterNode, NatsServer, ServerOptions};

/// How long a new cluster may take to serve JetStream.
pub const CLUSTER_READY: std::time::Duration = std::time::Duration::from_secs(60);

/// Starts one server, or a cluster of `nodes` on loopback: the first with
/// `options`, the others with the same settings on stores of their own.
fn start_servers(
    options: ServerOptions,
    nodes: usize,
) -> Result<(NatsServer, Vec<NatsServer>), Error> {
    if nodes <= 1 {
        return Ok((NatsServer::start(options)?, Vec::new()));
    }
    let routes = (0..nodes)
        .map(|_| crate::natsd::free_port())
        .collect::<Result<Vec<_>, _>>()?;
    let mut servers = Vec::with_capacity(nodes);
    for (i, route_port) in routes.iter().enumerate() {
        let mut node = options.clone();
        node.port = None;
        node.store_dir = options
            .store_dir
            .as_ref()
            .map(|dir| dir.join(format!("n{}", i + 1)));
        node.cluster = Some(ClusterNode {
            cluster: "homeward".into(),
            server_name: format!("n{}", i + 1),
            route_port: *route_port,
            routes: routes.clone(),
        });
        servers.push(NatsServer::start(node)?);
    }
    let first = servers.remove(0);
    Ok((first, servers))
}

/// The demo policy in this repository.
pub fn demo_policy_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/policy/demo.toml")
}

/// The demo policy, written to `dir/policy.toml` with its keyring line
/// dropped (a deployment's own keyring replaces it) and a `quota` table set
/// on each member named: `quotas` pairs a member id with the table's TOML
/// text, e.g. `("kz.mfa", "submissions_per_second = 1\nburst = 3")`.
pub fn demo_policy_with_quotas(dir: &Path, quotas: &[(&str, &str)]) -> Result<PathBuf, Error> {
    let path = demo_policy_path();
    let demo = std::fs::read_to_string(&path).map_err(|e| Error::Io {
        path: path.clone(),
        source: e,
    })?;
    let problem = |what: String| Error::Policy {
        origin: path.display().to_string(),
        problems: vec![what],
    };
    let mut policy: toml::Table = toml::from_str(&demo).map_err(|e| problem(e.to_string()))?;
    policy.remove("keyrings");
    let members = policy
        .get_mut("member")
        .and_then(toml::Value::as_array_mut)
        .ok_or_else(|| problem("no members".into()))?;
    for (member, quota) in quotas {
        let entry = members
            .iter_mut()
            .find(|m| m.get("id").and_then(toml::Value::as_str) == Some(member))
            .and_then(toml::Value::as_table_mut)
            .ok_or_else(|| problem(format!("no member {member}")))?;
        let quota: toml::Table =
            toml::from_str(quota).map_err(|e| problem(format!("quota of {member}: {e}")))?;
        entry.insert("quota".into(), toml::Value::Table(quota));
    }
    let out = dir.join("policy.toml");
    let text = toml::to_string(&policy).map_err(|e| problem(e.to_string()))?;
    std::fs::write(&out, text).map_err(|e| Error::Io {
        path: out.clone(),
        source: e,
    })?;
    Ok(out)
}

/// How to lay out a local deployment.
#[derive(Debug, Clone, Default)]
pub struct LocalOptions {
    /// The policy file; the demo policy when `None`.
    pub policy: Option<PathBuf>,
    /// Where development keys live; a temporary folder when `None`.
    pub keys_dir: Option<PathBuf>,
    pub server: ServerOptions,
    /// Whether clients reach the server over TLS; TLS by default, as in a
    /// real deployment.
    pub transport: Transport,
    /// How many nats-servers: 0 or 1 for one; 3 (or any number above 1)
    /// for a JetStream cluster of that many nodes on loopback, with every
    /// stream, consumer and bucket replicated on three of them (on all,
    /// when fewer).
    pub nodes: usize,
    /// A file storage limit on the streams' account, in bytes
    /// ([`natsauth::Authorization::streams_max_file`]), for the tests of a
    /// full store; none by default.
    pub streams_max_file: Option<u64>,
}

/// How clients reach the embedded server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Transport {
    /// TLS, with a development CA made for this deployment: the server
    /// accepts nothing else, and every client checks its certificate.
    #[default]
    Tls,
    /// Plain text: only to compare against.
    Plain,
}

/// A running gateway task.
#[derive(Debug)]
pub struct GatewayTask {
    stop: CancellationToken,
    task: JoinHandle<Result<(), GatewayError>>,
    /// Its Prometheus metrics, stage times and discovery counters.
    pub metrics: std::sync::Arc<homeward_gateway::metrics::GatewayMetrics>,
    pub stats: std::sync::Arc<homeward_gateway::stats::GatewayStats>,
    pub counters: std::sync::Arc<homeward_core::discovery::Counters>,
}

impl GatewayTask {
    /// Asks the gateway to finish its batch and stop, and waits.
    pub async fn stop(self) -> Result<(), GatewayError> {
        self.stop.cancel();
        self.task.await.map_err(GatewayError::Worker)?
    }

    /// Stops the task at once, mid-batch, as a crash would.
    pub fn abort(self) {
        self.task.abort();
    }
}

/// An embedded deployment.
#[derive(Debug)]
pub struct Local {
    /// The server, or a cluster's first node.
    pub server: NatsServer,
    /// A cluster's other nodes; none for one server.
    pub peers: Vec<NatsServer>,
    /// How many copies JetStream keeps of every stream.
    pub replicas: usize,
    pub schemas: Arc<SchemaRegistry>,
    pub policy: Arc<Policy>,
    keys: BTreeMap<MemberId, String>,
    /// NATS user seeds by identity (member id or `admin`).
    nats_seeds: BTreeMap<String, String>,
    keys_dir: PathBuf,
    /// The policy file's text, published with the development keyring.
    policy_text: String,
    /// The policy authority: it signs every published policy version.
    authority: SigningKey,
    /// The policy every member client of this deployment applies: the
    /// newest the authority published, kept up to date while it runs.
    following: PolicyHandle,
    _follower: Option<tokio_util::sync::DropGuard>,
    _temp: Option<tempfile::TempDir>,
}

impl Local {
    /// Makes (or reuses) signing and NATS keys, loads the policy, starts the
    /// server under the authorization generated from it, and, as the
    /// administrator, creates the streams and provisions every member.
    pub async fn start(options: LocalOptions) -> Result<Self, Error> {
        let schemas = Arc::new(SchemaRegistry::embedded()?);
        let policy_path = options.policy.clone().unwrap_or_else(demo_policy_path);
        let (temp, keys_dir) = match &options.keys_dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("homeward-keys-")
                    .tempdir()
                    .map_err(|e| Error::Io {
                        path: std::env::temp_dir(),
                        source: e,
                    })?;
                let p = t.path().to_owned();
                (Some(t), p)
            }
        };
        let members = Policy::member_ids(&policy_path)?;
        let made = devkeys::generate(&keys_dir, &members, false)?;
        let keys = made.into_iter().map(|(m, k)| (m, k.seed())).collect();
        let nats_seeds = devkeys::generate_nats(&keys_dir, &members, false)?;
        let policy = Arc::new(Policy::load_replacing_keyrings(
            &policy_path,
            &[keys_dir.join(keys::KEYRING_FILE)],
            &schemas,
        )?);
        let nats_keys = natsauth::NatsKeys::load(&keys_dir.join(keys::NATS_KEYS_FILE))?;
        let mut server_options = options.server.clone();
        if options.transport == Transport::Tls && server_options.tls.is_none() {
            server_options.tls = Some(tls::make_dev_pki(
                &keys_dir.join("tls"),
                &tls::default_hosts(),
            )?);
        }
        server_options.extra_config = format!("{}\n{}", server_options.extra_config, {
            let mut auth = natsauth::authorization(&policy, &nats_keys)?;
            auth.streams_max_file = options.streams_max_file;
            natsauth::render(&policy.origin, &auth)
        });
        let (server, peers) = start_servers(server_options, options.nodes)?;
        let replicas = (peers.len() + 1).min(3);
        let policy_for_members = policy.clone();
        let policy_text = std::fs::read_to_string(&policy_path).map_err(|e| Error::Io {
            path: policy_path.clone(),
            source: e,
        })?;
        let authority = devkeys::policy_authority(&keys_dir)?;
        let mut local = Self {
            server,
            peers,
            replicas,
            schemas,
            policy,
            keys,
            nats_seeds,
            keys_dir,
            policy_text,
            authority,
            following: PolicyHandle::new(policy_for_members),
            _follower: None,
            _temp: temp,
        };
        let admin = local.client("homeward-provisioning").await?;
        local.provision(&admin).await?;
        local.publish_policy(1, &local.keyring_text()?).await?;
        // One follower for every member client: it reads as the operator,
        // whose account receives the published policy like any other.
        let operator = MemberId::parse("homeward.operator")?;
        let nats = client::connect(
            &local.connection_as(operator.as_str())?,
            Some(&operator),
            "policy-follower",
        )
        .await?;
        let stop = tokio_util::sync::CancellationToken::new();
        published::follow(
            nats,
            local.following.clone(),
            local.authority.public().clone(),
            local.schemas.clone(),
            stop.clone(),
        )
        .await?;
        local._follower = Some(stop.drop_guard());
        Ok(local)
    }

    /// The client URL: the server's, or every node's, separated by commas.
    pub fn url(&self) -> String {
        std::iter::once(&self.server)
            .chain(&self.peers)
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Every server: the first, then a cluster's other nodes.
    pub fn servers_mut(&mut self) -> impl Iterator<Item = &mut NatsServer> {
        std::iter::once(&mut self.server).chain(&mut self.peers)
    }

    /// Provisions everything, as the administrator. A cluster that has
    /// just started serves JetStream only once its nodes have elected a
    /// metadata leader and see each other; until then its requests fail,
    /// and are made again, for at most [`CLUSTER_READY`].
    async fn provision(&self, admin: &async_nats::Client) -> Result<(), Error> {
        let started = std::time::Instant::now();
        loop {
            match streams::provision(admin, &self.policy, self.replicas).await {
                Ok(()) => return Ok(()),
                Err(e) if self.peers.is_empty() || started.elapsed() > CLUSTER_READY => {
                    return Err(e);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "the cluster does not serve JetStream yet");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// The development keyring the deployment's policy uses.
    pub fn keyring_text(&self) -> Result<String, Error> {
        let path = self.keys_dir.join(keys::KEYRING_FILE);
        std::fs::read_to_string(&path).map_err(|e| Error::Io { path, source: e })
    }

    /// The deployment's keyring with every key of `member` valid only until
    /// `until`: what the authority publishes to revoke them.
    pub fn keyring_revoking(
        &self,
        member: &str,
        until: time::OffsetDateTime,
    ) -> Result<String, Error> {
        let bad = |e: String| Error::Key(format!("the development keyring: {e}"));
        let mut ring: toml::Table =
            toml::from_str(&self.keyring_text()?).map_err(|e| bad(e.to_string()))?;
        let keys = ring
            .get_mut("key")
            .and_then(toml::Value::as_array_mut)
            .ok_or_else(|| bad("no keys".into()))?;
        let mut found = false;
        for key in keys.iter_mut().filter_map(toml::Value::as_table_mut) {
            if key.get("member").and_then(toml::Value::as_str) == Some(member) {
                let until = homeward_core::envelope::format_time(until);
                key.insert("valid_until".into(), until.into());
                found = true;
            }
        }
        if !found {
            return Err(bad(format!("{member} has no key")));
        }
        toml::to_string(&ring).map_err(|e| bad(e.to_string()))
    }

    /// The policy the deployment's member clients apply now, with its
    /// version: the newest the authority published.
    pub fn policy_handle(&self) -> &PolicyHandle {
        &self.following
    }

    /// The policy authority's public key: what every process trusts to sign
    /// the published policy.
    pub fn policy_authority(&self) -> &homeward_core::PublicKey {
        self.authority.public()
    }

    /// Publishes the deployment's policy with `keyring` as `version`,
    /// signed by its policy authority, as the administrator would.
    pub async fn publish_policy(&self, version: u64, keyring: &str) -> Result<(), Error> {
        let signed = homeward_core::published::PublishedPolicy::sign(
            version,
            &self.policy_text,
            vec![homeward_core::published::Keyring {
                name: keys::KEYRING_FILE.to_owned(),
                text: keyring.to_owned(),
            }],
            &self.authority,
        )?;
        let admin = self.client("homeward-policy").await?;
        homeward_core::published::publish(&admin, &signed).await
    }

    /// The development CA the server's certificate is checked against;
    /// `None` on a plain-text deployment.
    pub fn tls_ca(&self) -> Option<PathBuf> {
        self.server.tls().map(|t| t.ca.clone())
    }

    pub fn keys_dir(&self) -> &Path {
        &self.keys_dir
    }

    /// A member's development key.
    pub fn key(&self, member: &str) -> Result<SigningKey, Error> {
        let id = MemberId::parse(member)?;
        let seed = self
            .keys
            .get(&id)
            .ok_or_else(|| Error::Key(format!("{member} is not a member of the policy")))?;
        SigningKey::from_seed(seed)
    }

    /// The NATS user seed of `identity`: a member id, or
    /// [`natsauth::ADMIN`].
    pub fn nats_seed(&self, identity: &str) -> Result<String, Error> {
        self.nats_seeds
            .get(identity)
            .cloned()
            .ok_or_else(|| Error::Key(format!("{identity} has no NATS key in this deployment")))
    }

    /// The connection settings of one identity: a member id, or
    /// [`natsauth::ADMIN`].
    pub fn connection_as(&self, identity: &str) -> Result<Connection, Error> {
        Ok(Connection {
            url: self.url(),
            nkey_seed: Some(self.nats_seed(identity)?),
            tls_ca: self.tls_ca(),
        })
    }

    /// The administrator's connection settings: the streams' account, for
    /// tests, tools and benchmarks that look at every stream.
    pub fn connection(&self) -> Connection {
        Connection {
            url: self.url(),
            nkey_seed: self.nats_seeds.get(natsauth::ADMIN).cloned(),
            tls_ca: self.tls_ca(),
        }
    }

    /// A client connected as the administrator (tests read streams with it).
    pub async fn client(&self, name: &str) -> Result<async_nats::Client, Error> {
        client::connect(&self.connection(), None, name).await
    }

    /// A member's client, connected with its own NATS key, holding its
    /// signing key and the policy.
    pub async fn member(&self, member: &str) -> Result<MemberClient, Error> {
        let id = MemberId::parse(member)?;
        let key = self.key(member)?;
        let nats = client::connect(&self.connection_as(member)?, Some(&id), member).await?;
        Ok(MemberClient::new(nats, id, key, self.following.clone()))
    }

    /// A member's client as [`Local::member`] makes it, connected to `url`
    /// instead of the server's (a [`crate::proxy::Proxy`] in front of it,
    /// say).
    pub async fn member_at(&self, member: &str, url: &str) -> Result<MemberClient, Error> {
        let id = MemberId::parse(member)?;
        let key = self.key(member)?;
        let connection = Connection {
            url: url.to_owned(),
            ..self.connection_as(member)?
        };
        let nats = client::connect(&connection, Some(&id), member).await?;
        Ok(MemberClient::new(nats, id, key, self.following.clone()))
    }

    /// The configuration a gateway of this deployment runs with.
    pub fn gateway_config(&self, instance: &str) -> Result<GatewayConfig, Error> {
        let member = MemberId::parse("homeward.gateway")?;
        let key = self.key(member.as_str())?;
        let mut config = GatewayConfig::new(member, key);
        config.instance = instance.to_owned();
        config.policy_authority = Some(self.policy_authority().clone());
        Ok(config)
    }

    /// Starts a gateway on its own connection, as the gateway's NATS user.
    pub async fn spawn_gateway(&self, config: GatewayConfig) -> Result<GatewayTask, GatewayError> {
        let connection = self.connection_as(config.member.as_str())?;
        let nats = client::connect(&connection, Some(&config.member), &config.instance).await?;
        let gateway =
            Gateway::start(nats, config, self.schemas.clone(), self.policy.clone()).await?;
        let stop = CancellationToken::new();
        let (metrics, stats, counters) = (gateway.metrics(), gateway.stats(), gateway.counters());
        let task = tokio::spawn(gateway.run(stop.clone()));
        Ok(GatewayTask {
            stop,
            task,
            metrics,
            stats,
            counters,
        })
    }
}
