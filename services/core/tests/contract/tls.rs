//! TLS on NATS, tried as an attacker would: a server given a development
//! certificate talks to a client that trusts its CA, and to nobody else:
//! not to a client that trusts another CA (so a server posing with its own
//! certificate is not believed either), and not to one that speaks plain
//! text.

use std::time::Duration;

use anyhow::Context;
use async_nats::rustls;
use homeward_core::client::{self, Connection};
use homeward_core::tls::{self, TlsFiles};
use homeward_testkit::natsd::{NatsServer, ServerOptions};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const WAIT: Duration = Duration::from_secs(10);

fn tls_server(dir: &std::path::Path) -> anyhow::Result<(NatsServer, TlsFiles)> {
    let files = tls::make_dev_pki(&dir.join("server"), &tls::default_hosts())?;
    let server = NatsServer::start(ServerOptions {
        tls: Some(files.clone()),
        ..Default::default()
    })?;
    Ok((server, files))
}

fn connection(url: String, ca: &TlsFiles) -> Connection {
    Connection {
        url,
        nkey_seed: None,
        tls_ca: Some(ca.ca.clone()),
    }
}

/// One request and its reply through `client`, answered by `client` too.
async fn round_trip(client: &async_nats::Client) -> anyhow::Result<()> {
    let mut requests = client.subscribe("hw.tls.echo").await?;
    client.flush().await?;
    let responder = client.clone();
    tokio::spawn(async move {
        use futures::StreamExt;
        if let Some(request) = requests.next().await
            && let Some(reply) = request.reply
        {
            let _ = responder.publish(reply, request.payload).await;
        }
    });
    let reply = tokio::time::timeout(WAIT, client.request("hw.tls.echo", "over tls".into()))
        .await
        .context("no reply in time")??;
    anyhow::ensure!(reply.payload.as_ref() == b"over tls", "{:?}", reply.payload);
    Ok(())
}

#[tokio::test]
async fn a_client_trusting_the_dev_ca_talks_over_tls() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut server, files) = tls_server(dir.path())?;
    assert!(
        server.url().starts_with("tls://127.0.0.1:"),
        "{}",
        server.url()
    );
    let localhost = format!("tls://localhost:{}", server.port());
    for url in [server.url(), localhost] {
        let nats = client::connect(&connection(url.clone(), &files), None, "tls-test").await?;
        tokio::time::timeout(WAIT, nats.flush())
            .await
            .with_context(|| format!("{url}: not connected in time"))??;
        assert!(
            nats.server_info().tls_required,
            "{url}: the server does not require TLS"
        );
        round_trip(&nats).await.with_context(|| url.clone())?;
    }

    // A restarted server serves the same certificate, and a client
    // reconnects to it over TLS.
    let nats = client::connect(&connection(server.url(), &files), None, "tls-test").await?;
    round_trip(&nats).await?;
    server.restart()?;
    round_trip(&nats).await.context("after a restart")?;
    Ok(())
}

/// The rustls error somewhere in `err`'s chain, if any: I/O errors hide
/// what they wrap from `source()`, so each is opened by hand.
fn rustls_cause<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(found) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(found);
        }
        next = e.source();
    }
    None
}

#[tokio::test]
async fn a_client_trusting_another_ca_does_not_connect() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, _) = tls_server(dir.path())?;
    let other = tls::make_dev_pki(&dir.path().join("other"), &tls::default_hosts())?;

    // A single attempt shows why: the certificate is not the other CA's.
    let err = tokio::time::timeout(
        WAIT,
        async_nats::ConnectOptions::new()
            .require_tls(true)
            .add_root_certificates(other.ca.clone())
            .connect(server.url()),
    )
    .await
    .context("no answer in time")?
    .expect_err("a server with a certificate from another CA was trusted");
    assert!(
        matches!(
            rustls_cause(&err),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ),
        "refused for another reason: {err:?}"
    );

    // A service's connection keeps retrying in the background, and never
    // gets through.
    let nats = client::connect(&connection(server.url(), &other), None, "tls-test").await?;
    assert!(
        tokio::time::timeout(Duration::from_secs(2), nats.flush())
            .await
            .is_err(),
        "a connection trusting another CA got through"
    );
    assert_ne!(
        nats.connection_state(),
        async_nats::connection::State::Connected
    );
    Ok(())
}

#[tokio::test]
async fn a_plain_text_client_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, _) = tls_server(dir.path())?;
    // A raw protocol client, since async-nats upgrades to TLS whenever the
    // server asks: the greeting says TLS is required, and a plain-text
    // CONNECT and PING get no PONG, only the connection closed.
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port())).await?;
    let mut stream = BufReader::new(stream);
    let mut info = String::new();
    tokio::time::timeout(WAIT, stream.read_line(&mut info))
        .await
        .context("no INFO in time")??;
    assert!(info.starts_with("INFO "), "{info:?}");
    assert!(info.contains(r#""tls_required":true"#), "{info:?}");
    stream
        .get_mut()
        .write_all(
            b"CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":false}\r\nPING\r\n",
        )
        .await?;
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(WAIT, stream.read_to_end(&mut rest))
        .await
        .context("the server kept a plain-text connection open")?;
    // Closed, or reset: either way, nothing more is said.
    if let Err(e) = closed {
        anyhow::ensure!(
            e.kind() == std::io::ErrorKind::ConnectionReset,
            "reading after a plain-text CONNECT: {e}"
        );
    }
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        !rest.contains("PONG"),
        "a plain-text client was answered: {rest:?}"
    );

    // And a `nats://` URL with no CA gets no connection either.
    let plain = tokio::time::timeout(
        WAIT,
        async_nats::ConnectOptions::new().connect(format!("nats://127.0.0.1:{}", server.port())),
    )
    .await
    .context("no answer in time")?;
    assert!(plain.is_err(), "a client without the CA connected");
    Ok(())
}
