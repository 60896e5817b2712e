//! Who may see the console: attacks on the real console, each refused.
//!
//! The attacker is a process on the operator's machine without the token,
//! or a web page the operator opens (another origin, a rebound DNS name),
//! or one that holds a forged or stale session cookie.

use reqwest::StatusCode;
use reqwest::header;

use crate::support::{ConsoleUnderTest, test_config};
use homeward_testkit::local::{Local, LocalOptions};

const GUARDED: [&str; 4] = [
    "/api/snapshot",
    "/api/live",
    "/api/rejections",
    "/api/cases/HOL-P5-000777",
];

fn cookie_from(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(header::SET_COOKIE)?
        .to_str()
        .ok()
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_holder_of_the_operator_token_sees_the_console() {
    let local = Local::start(LocalOptions::default()).await.expect("local");
    let console = ConsoleUnderTest::start(&local, test_config()).await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", console.url);

    // No token, a wrong token, a forged cookie: 401 on every guarded route.
    for path in GUARDED {
        let none = http.get(url(path)).send().await.expect("answers");
        assert_eq!(none.status(), StatusCode::UNAUTHORIZED, "{path}");
        let wrong = http
            .get(url(path))
            .bearer_auth("not-the-token-not-the-token-not-the-token")
            .send()
            .await
            .expect("answers");
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{path}");
        let forged = http
            .get(url(path))
            .header(header::COOKIE, format!("hw_console={}", "ab".repeat(32)))
            .send()
            .await
            .expect("answers");
        assert_eq!(forged.status(), StatusCode::UNAUTHORIZED, "{path}");
        // The token itself is not a cookie.
        let token_cookie = http
            .get(url(path))
            .header(
                header::COOKIE,
                format!("hw_console={}", console.token.expose()),
            )
            .send()
            .await
            .expect("answers");
        assert_eq!(token_cookie.status(), StatusCode::UNAUTHORIZED, "{path}");
    }

    // A page elsewhere: another Host (a rebound name) is 421, another
    // Origin or a cross-site fetch 403, even with the token.
    let rebound = http
        .get(url("/api/snapshot"))
        .header(header::HOST, "evil.example")
        .bearer_auth(console.token.expose())
        .send()
        .await
        .expect("answers");
    assert_eq!(rebound.status(), StatusCode::MISDIRECTED_REQUEST);
    let page = http
        .get(url("/"))
        .header(header::HOST, "evil.example")
        .send()
        .await
        .expect("answers");
    assert_eq!(page.status(), StatusCode::MISDIRECTED_REQUEST);
    for (name, value) in [
        ("origin", "http://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let cross = http
            .post(url("/api/login"))
            .header(name, value)
            .header(header::CONTENT_TYPE, "application/json")
            .body(format!("{{\"token\":\"{}\"}}", console.token.expose()))
            .send()
            .await
            .expect("answers");
        assert_eq!(cross.status(), StatusCode::FORBIDDEN, "{name}: {value}");
        assert!(cookie_from(&cross).is_none());
    }

    // A form a page can post without asking is not a login.
    for kind in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        let simple = http
            .post(url("/api/login"))
            .header(header::CONTENT_TYPE, kind)
            .body(format!("{{\"token\":\"{}\"}}", console.token.expose()))
            .send()
            .await
            .expect("answers");
        assert_eq!(
            simple.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{kind}"
        );
        assert!(cookie_from(&simple).is_none());
    }
    let wrong = http
        .post(url("/api/login"))
        .json(&serde_json::json!({"token": "guess-guess-guess-guess-guess-guess"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(cookie_from(&wrong).is_none());

    // The token signs in: an HttpOnly, SameSite=Strict session, which the
    // guarded routes take and logging out ends.
    let login = http
        .post(url("/api/login"))
        .json(&serde_json::json!({"token": console.token.expose()}))
        .send()
        .await
        .expect("answers");
    assert_eq!(login.status(), StatusCode::OK);
    let set = cookie_from(&login).expect("a session cookie");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(
        !set.contains(console.token.expose()),
        "the cookie is not the token"
    );
    let session = set.split(';').next().expect("name=value").to_owned();
    let with_session = http
        .get(url("/api/snapshot"))
        .header(header::COOKIE, &session)
        .send()
        .await
        .expect("answers");
    assert_eq!(with_session.status(), StatusCode::OK);
    // No answer lets another origin read it, and the page runs only its
    // own script.
    assert!(
        with_session
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let index = http.get(url("/")).send().await.expect("answers");
    let csp = index
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let out = http
        .post(url("/api/logout"))
        .header(header::COOKIE, &session)
        .send()
        .await
        .expect("answers");
    assert_eq!(out.status(), StatusCode::OK);
    let after = http
        .get(url("/api/snapshot"))
        .header(header::COOKIE, &session)
        .send()
        .await
        .expect("answers");
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);

    console.stop().await;
}
