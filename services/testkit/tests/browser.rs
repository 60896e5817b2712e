//! The browser harness ([`homeward_testkit::webdriver`]) tested on its own,
//! against a page small enough that a failure here is the harness's and not
//! the console's: an input, a button, and a line that JavaScript fills from
//! a server-sent-events stream.
//!
//! It needs Debian's `chromium` and `chromium-driver` (`scripts/test`
//! installs them through `scripts/install-chromium`) and fails when they
//! are missing: a browser test that skips itself would pass on a machine
//! where the console was never looked at.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use futures::{Stream, StreamExt};
use homeward_testkit::webdriver::{Browser, BrowserError};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

const WITHIN: Duration = Duration::from_secs(20);

const PAGE: &str = r#"<!doctype html>
<html>
<head><meta charset="utf-8"><title>harness</title></head>
<body data-live="0">
  <input id="name" aria-label="name">
  <button id="greet" type="button">Greet</button>
  <p id="greeting"></p>
  <p id="news">no news yet</p>
  <script>
    window.loadedOnce = Math.random();
    document.getElementById("greet").addEventListener("click", () => {
      document.getElementById("greeting").textContent =
        "Hello, " + document.getElementById("name").value + "!";
    });
    const events = new EventSource("/events");
    events.onopen = () => { document.body.dataset.live = "1"; };
    events.onmessage = (e) => { document.getElementById("news").textContent = e.data; };
  </script>
</body>
</html>"#;

/// What the page's server shares with the test.
#[derive(Clone)]
struct Site {
    news: broadcast::Sender<String>,
    page_loads: Arc<AtomicUsize>,
    stop: CancellationToken,
}

async fn page(State(site): State<Site>) -> Html<&'static str> {
    site.page_loads.fetch_add(1, Ordering::SeqCst);
    Html(PAGE)
}

/// The stream subscribes before its headers go out, so anything sent after
/// the page says it is connected (`onopen`) reaches it.
async fn events(State(site): State<Site>) -> impl IntoResponse {
    let stream: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> =
        futures::stream::unfold(site.news.subscribe(), |mut news| async move {
            let line = news.recv().await.ok()?;
            Some((Ok(Event::default().data(line)), news))
        })
        .take_until(site.stop.cancelled_owned())
        .boxed();
    Sse::new(stream)
}

/// Serves the page on a free loopback port until `site.stop` is cancelled.
async fn serve(site: Site) -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("a loopback port");
    let url = format!(
        "http://{}/",
        listener.local_addr().expect("the listener's address")
    );
    let stop = site.stop.clone();
    let app = Router::new()
        .route("/", get(page))
        .route("/events", get(events))
        .with_state(site);
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_clicking_and_a_server_event_change_the_page() {
    let (news, _) = broadcast::channel(16);
    let site = Site {
        news: news.clone(),
        page_loads: Arc::new(AtomicUsize::new(0)),
        stop: CancellationToken::new(),
    };
    let (url, server) = serve(site.clone()).await;

    let browser = Browser::start()
        .await
        .expect("chromium and chromedriver start (scripts/install-chromium installs them)");
    browser.goto(&url).await.expect("the page opens");
    browser
        .wait_for_text("#news", "no news yet", WITHIN)
        .await
        .expect("the page is shown");

    // Typing and clicking.
    let field = browser.find("#name").await.expect("the input");
    browser
        .type_into(&field, "Aigerim")
        .await
        .expect("types into the input");
    browser
        .click(&browser.find("#greet").await.expect("the button"))
        .await
        .expect("clicks the button");
    browser
        .wait_for_text("#greeting", "Hello, Aigerim!", WITHIN)
        .await
        .expect("the click changes the page");
    let greeting = browser
        .text(&browser.find("#greeting").await.expect("the greeting"))
        .await
        .expect("the greeting's text");
    assert_eq!(greeting, "Hello, Aigerim!");

    // A server-side event reaches the page, which is not reloaded.
    browser
        .wait_until(
            "the event stream connected",
            WITHIN,
            "return document.body.dataset.live === '1';",
        )
        .await
        .expect("the page connects to the event stream");
    let loaded = browser
        .execute("return window.loadedOnce;", vec![])
        .await
        .expect("reads the page's marker");
    news.send("the flight landed at 14:05".to_owned())
        .expect("the page is subscribed");
    browser
        .wait_for_text("#news", "the flight landed at 14:05", WITHIN)
        .await
        .expect("the server's event shows up in the page");
    assert_eq!(
        browser
            .execute("return window.loadedOnce;", vec![])
            .await
            .expect("reads the page's marker"),
        loaded,
        "the page was not reloaded"
    );
    assert_eq!(site.page_loads.load(Ordering::SeqCst), 1, "one page load");
    assert!(
        browser
            .body_text()
            .await
            .expect("the page's text")
            .contains("Hello, Aigerim!"),
        "what was typed is still shown after the event"
    );
    assert!(
        browser
            .page_source()
            .await
            .expect("the page's markup")
            .contains(r#"id="greet""#)
    );

    // On timeout the harness says what it waited for and what the page showed.
    let missed = browser
        .wait_for_text("#news", "never sent", Duration::from_millis(300))
        .await
        .expect_err("nothing sends that");
    let BrowserError::Timeout(message) = &missed else {
        panic!("a timeout, not {missed:?}");
    };
    assert!(message.contains("never sent"), "{message}");
    assert!(message.contains("the flight landed at 14:05"), "{message}");

    let shot = tempfile::tempdir().expect("a temporary folder");
    let png = shot.path().join("page.png");
    browser.screenshot(&png).await.expect("a screenshot");
    let bytes = std::fs::read(&png).expect("the screenshot's file");
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "a PNG, not {} bytes of something else",
        bytes.len()
    );

    browser.close().await.expect("the session ends");
    site.stop.cancel();
    server
        .await
        .expect("the server's task")
        .expect("the server stops");
}
