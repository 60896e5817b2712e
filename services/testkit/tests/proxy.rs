//! The fault proxy against an echo server on loopback: it forwards, a cut
//! closes what lives and refuses what comes, a delay adds its latency both
//! ways, a stall forwards nothing until the link is restored.

use std::time::Duration;

use homeward_testkit::proxy::{Link, Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(10);

async fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 || socket.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

async fn round_trip(socket: &mut TcpStream, text: &[u8]) -> Vec<u8> {
    socket.write_all(text).await.expect("write");
    let mut got = vec![0u8; text.len()];
    tokio::time::timeout(WAIT, socket.read_exact(&mut got))
        .await
        .expect("an answer in time")
        .expect("read");
    got
}

#[tokio::test]
async fn the_proxy_forwards_cuts_refuses_delays_and_stalls() {
    let proxy = Proxy::start(echo_server().await).await.expect("proxy");
    assert_eq!(
        proxy.url_for("tls://127.0.0.1:4222"),
        format!("tls://127.0.0.1:{}", proxy.addr().port())
    );
    let mut socket = TcpStream::connect(proxy.addr()).await.expect("connect");
    assert_eq!(round_trip(&mut socket, b"ping").await, b"ping");
    assert!(proxy.wait_for(1, Proxy::accepted, WAIT).await);

    // A cut closes the live connection: the client reads its end.
    proxy.cut();
    assert_eq!(proxy.link(), Link::Cut);
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(WAIT, socket.read(&mut buf))
        .await
        .expect("the cut closes the connection")
        .unwrap_or(0);
    assert_eq!(n, 0, "nothing but the end arrives after a cut");
    // A new connection is closed on arrival, and counted.
    let mut refused = TcpStream::connect(proxy.addr()).await.expect("accepted");
    let n = tokio::time::timeout(WAIT, refused.read(&mut buf))
        .await
        .expect("closed at once")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(proxy.wait_for(1, Proxy::refused, WAIT).await);
    assert_eq!(proxy.accepted(), 1);

    // Restored, a 60 ms one-way delay makes a round trip at least 120 ms.
    proxy.restore();
    let mut socket = TcpStream::connect(proxy.addr()).await.expect("connect");
    assert_eq!(round_trip(&mut socket, b"warm").await, b"warm");
    proxy.delay(Duration::from_millis(60));
    let started = std::time::Instant::now();
    assert_eq!(round_trip(&mut socket, b"slow").await, b"slow");
    assert!(
        started.elapsed() >= Duration::from_millis(120),
        "{:?}",
        started.elapsed()
    );

    // Stalled, nothing comes back; restored, what was held arrives.
    proxy.stall();
    socket.write_all(b"held").await.expect("write");
    let mut got = [0u8; 4];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), socket.read_exact(&mut got))
            .await
            .is_err(),
        "a stalled link forwarded {got:?}"
    );
    proxy.restore();
    tokio::time::timeout(WAIT, socket.read_exact(&mut got))
        .await
        .expect("the held bytes arrive")
        .expect("read");
    assert_eq!(&got, b"held");
}
