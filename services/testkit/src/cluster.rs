//! A cluster under faults: which node leads what, a submission stored
//! through a failover, and waiting until the cluster is whole again. Used
//! by the cluster tests and by the failover benchmark, so that both kill
//! the same nodes and wait the same way.

use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};
use homeward_core::client::MemberClient;
use homeward_core::envelope::Envelope;
use homeward_core::{Error, natsauth, subjects};

use crate::local::Local;
use crate::natsd::NatsServer;

/// What a node of a cluster can lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Led {
    /// A stream's Raft group: its writes and its consumers.
    Stream(&'static str),
    /// The metadata group: every stream's and consumer's creation,
    /// placement and removal.
    Meta,
}

impl std::fmt::Display for Led {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stream(name) => write!(f, "the leader of {name}"),
            Self::Meta => f.write_str("the metadata leader"),
        }
    }
}

/// A node's place among [`Local::servers_mut`] from its server name
/// (`n1` is the first).
fn node_index(name: &str) -> Result<usize, Error> {
    name.strip_prefix('n')
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(|n| n.checked_sub(1))
        .ok_or_else(|| Error::Server(format!("{name:?} is not a node of this cluster")))
}

/// The node that leads `what` now, as the servers that are up say: a
/// stream's leader from its info (asked through `js`), the metadata
/// leader from any node's `/jsz`.
pub async fn leader(local: &Local, js: &jetstream::Context, what: Led) -> Result<usize, Error> {
    let name = match what {
        Led::Stream(stream) => {
            let info = js
                .get_stream(stream)
                .await
                .map_err(|e| Error::Server(format!("{stream}: {e}")))?
                .get_info()
                .await
                .map_err(|e| Error::Server(format!("{stream}: {e}")))?;
            info.cluster
                .and_then(|c| c.leader)
                .ok_or_else(|| Error::Server(format!("{stream} has no leader")))?
        }
        Led::Meta => meta_leader(local).await?,
    };
    node_index(&name)
}

async fn meta_leader(local: &Local) -> Result<String, Error> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| Error::Server(format!("an HTTP client: {e}")))?;
    let mut seen = Vec::new();
    for server in std::iter::once(&local.server).chain(&local.peers) {
        let Some(url) = server.monitor_url() else {
            continue;
        };
        let jsz: serde_json::Value = match http.get(format!("{url}/jsz")).send().await {
            Ok(answer) => match answer.json().await {
                Ok(v) => v,
                Err(e) => {
                    seen.push(format!("{url}: {e}"));
                    continue;
                }
            },
            // A node that is down answers nothing; another will.
            Err(e) => {
                seen.push(format!("{url}: {e}"));
                continue;
            }
        };
        match jsz["meta_cluster"]["leader"].as_str() {
            Some(leader) if !leader.is_empty() => return Ok(leader.to_owned()),
            _ => seen.push(format!("{url}: no metadata leader")),
        }
    }
    Err(Error::Server(format!(
        "no node names a metadata leader ({})",
        seen.join("; ")
    )))
}

/// Kills (SIGKILL) the node that leads `what`; returns its index.
pub async fn kill_leader(
    local: &mut Local,
    js: &jetstream::Context,
    what: Led,
) -> Result<usize, Error> {
    let index = leader(local, js, what).await?;
    node(local, index)?.kill();
    Ok(index)
}

/// Starts node `index` again on its port and store.
pub fn restart(local: &mut Local, index: usize) -> Result<(), Error> {
    node(local, index)?.restart()
}

fn node(local: &mut Local, index: usize) -> Result<&mut NatsServer, Error> {
    local
        .servers_mut()
        .nth(index)
        .ok_or_else(|| Error::Server(format!("no node {}", index + 1)))
}

/// Waits until every Homeward stream has a leader and every other replica
/// is current again (a restarted node has caught up), for at most
/// `within`.
pub async fn until_whole(
    local: &Local,
    js: &jetstream::Context,
    within: Duration,
) -> Result<(), Error> {
    let others = local.replicas.saturating_sub(1);
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let mut lagging = Vec::new();
        for name in natsauth::STREAMS {
            let current = match js.get_stream(name).await {
                Ok(mut stream) => stream.info().await.ok().and_then(|info| {
                    let cluster = info.cluster.as_ref()?;
                    cluster.leader.as_ref()?;
                    Some(cluster.replicas.iter().filter(|r| r.current).count())
                }),
                Err(_) => None,
            };
            if current != Some(others) {
                lagging.push(name);
            }
        }
        if lagging.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Server(format!(
                "not whole again within {within:?}: {}",
                lagging.join(", ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Submits `envelope` and waits for the stream's ack, publishing it again
/// (same id, so JetStream's duplicate window keeps one copy) while the
/// cluster fails over, for at most `within`; a repeat that finds the first
/// copy stored is answered with that copy's sequence. Returns the
/// sequence and how many tries it took.
pub async fn submit_until_stored(
    client: &MemberClient,
    envelope: &Envelope,
    within: Duration,
) -> Result<(u64, u32), Error> {
    let subject = subjects::submit(client.member());
    let deadline = tokio::time::Instant::now() + within;
    let mut tries = 0;
    loop {
        tries += 1;
        let publish = PublishMessage::build()
            .payload(envelope.to_bytes().into())
            .message_id(envelope.id());
        let stored = match client
            .jetstream()
            .send_publish(subject.clone(), publish)
            .await
        {
            Ok(ack) => ack.await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match stored {
            Ok(ack) => return Ok((ack.sequence, tries)),
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(Error::Server(format!(
                    "submission {} not stored within {within:?}: {e}",
                    envelope.id()
                )));
            }
            Err(e) => tracing::debug!(id = envelope.id(), error = %e, "not stored yet"),
        }
        // The cluster is electing new leaders: ask again shortly.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
