//! A TCP proxy on loopback that a test puts between a client and its
//! server, to cut the link or slow it down as a failing network would.
//!
//! The proxy forwards bytes and nothing else, so TLS and the NATS protocol
//! pass through untouched. Its faults:
//! - [`Proxy::cut`]: every live connection is closed and every new one is
//!   closed as soon as it is accepted, until [`Proxy::restore`]. The
//!   connections it refuses are counted ([`Proxy::refused`]), so a test can
//!   hold the cut until the client has tried to reconnect a given number of
//!   times, rather than for a guessed time.
//! - [`Proxy::delay`]: every byte reaches the other side `one_way` later, in
//!   both directions, so the round trip grows by twice that. Order is kept;
//!   throughput is not limited.
//! - [`Proxy::stall`]: connections stay open and nothing is forwarded
//!   either way (a link that black-holes), until [`Proxy::restore`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What the link does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Bytes pass, each `one_way` late.
    Open { one_way: Duration },
    /// Connections stay, bytes wait.
    Stalled,
    /// No connection lives.
    Cut,
}

#[derive(Debug)]
struct Counts {
    accepted: AtomicUsize,
    refused: AtomicUsize,
    changed: Notify,
}

/// A proxy from a loopback port to `upstream`; it stops when dropped.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    link: watch::Sender<Link>,
    counts: Arc<Counts>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (link, _) = watch::channel(Link::Open {
            one_way: Duration::ZERO,
        });
        let counts = Arc::new(Counts {
            accepted: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            changed: Notify::new(),
        });
        let task = tokio::spawn(accept(listener, upstream, link.subscribe(), counts.clone()));
        Ok(Self {
            addr,
            link,
            counts,
            task,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `url` (one server's `nats://` or `tls://` URL) with its port
    /// replaced by the proxy's.
    pub fn url_for(&self, url: &str) -> String {
        match url.rsplit_once(':') {
            Some((head, _port)) => format!("{head}:{}", self.addr.port()),
            None => url.to_owned(),
        }
    }

    /// Closes every connection, and every new one at once.
    pub fn cut(&self) {
        self.link.send_replace(Link::Cut);
    }

    /// Keeps connections open and forwards nothing.
    pub fn stall(&self) {
        self.link.send_replace(Link::Stalled);
    }

    /// Delays every byte by `one_way` in each direction.
    pub fn delay(&self, one_way: Duration) {
        self.link.send_replace(Link::Open { one_way });
    }

    /// A link without fault.
    pub fn restore(&self) {
        self.delay(Duration::ZERO);
    }

    /// What the link does now.
    pub fn link(&self) -> Link {
        *self.link.borrow()
    }

    /// Connections forwarded since the start.
    pub fn accepted(&self) -> usize {
        self.counts.accepted.load(Ordering::SeqCst)
    }

    /// Connections closed on arrival because the link was cut.
    pub fn refused(&self) -> usize {
        self.counts.refused.load(Ordering::SeqCst)
    }

    /// Waits until `count` (of [`Proxy::accepted`] or [`Proxy::refused`],
    /// say) reaches `n`, or `within` passes; says which.
    pub async fn wait_for(
        &self,
        n: usize,
        count: impl Fn(&Self) -> usize,
        within: Duration,
    ) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let changed = self.counts.changed.notified();
            if count(self) >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return count(self) >= n;
            }
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.link.send_replace(Link::Cut);
        self.task.abort();
    }
}

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    link: watch::Receiver<Link>,
    counts: Arc<Counts>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        if *link.borrow() == Link::Cut {
            counts.refused.fetch_add(1, Ordering::SeqCst);
            counts.changed.notify_waiters();
            drop(client);
            continue;
        }
        let Ok(server) = TcpStream::connect(upstream).await else {
            drop(client);
            continue;
        };
        counts.accepted.fetch_add(1, Ordering::SeqCst);
        counts.changed.notify_waiters();
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        tokio::spawn(connection(client, server, link.clone()));
    }
}

/// Forwards both ways until either side closes or the link is cut; then
/// both sockets are dropped, closing them.
async fn connection(client: TcpStream, server: TcpStream, mut link: watch::Receiver<Link>) {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let mut pumps = tokio::task::JoinSet::new();
    pumps.spawn(pump(client_read, server_write, link.clone()));
    pumps.spawn(pump(server_read, client_write, link.clone()));
    tokio::select! {
        _ = pumps.join_next() => {}
        _ = link.wait_for(|l| *l == Link::Cut) => {}
    }
    pumps.abort_all();
}

/// One direction: a reader stamps each chunk with when it may leave, a
/// writer sends it then, so a delay adds latency without reordering.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, link: watch::Receiver<Link>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let mut writer_link = link.clone();
    let writer = async move {
        while let Some((due, bytes)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            // A stalled link holds what it has until it opens or is cut.
            if writer_link.wait_for(|l| *l != Link::Stalled).await.is_err() {
                return;
            }
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let one_way = match *link.borrow() {
                        Link::Open { one_way } => one_way,
                        Link::Stalled | Link::Cut => Duration::ZERO,
                    };
                    if tx
                        .send((Instant::now() + one_way, buf[..n].to_vec()))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    };
    // The writer finishes what the reader queued before a close.
    tokio::join!(reader, writer);
}
