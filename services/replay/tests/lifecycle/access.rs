//! The ministry HTTP API as a hostile web page on an official's machine,
//! or any other process that reaches its port, would call it.
//!
//! Each attack is a request that would verify a family's identity at
//! Kazakhstan's security service if it were let through; after each, the
//! case is read with the right token and must be exactly as it was. The
//! same request with the token, `application/json` and the right host then
//! succeeds, so the refusals are what kept the case unchanged.

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HOST, ORIGIN};
use serde_json::{Value, json};

use homeward_replay::api::stage_is;

use crate::support::{CENSUS, world};

const CASE: &str = "HOL-P5-000777";
const SECURITY: &str = "kz.security";

/// The case as the service holds it, read with the right token.
async fn read_case(http: &reqwest::Client, base: &str, token: &str) -> Value {
    let response = http
        .get(format!("{base}/cases/{CASE}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_refuses_no_token_a_wrong_token_a_simple_content_type_a_foreign_host_or_origin() {
    let (_local, world, api) = world().await;
    api.command(
        "aanes.camps",
        "census?registeredOn=2019-04-15",
        CENSUS.as_bytes().to_vec(),
    )
    .await
    .expect("census imported");
    api.wait_case(
        SECURITY,
        CASE,
        "the verification request",
        stage_is("verification-requested"),
    )
    .await
    .expect("kz.security holds the case");

    let http = reqwest::Client::new();
    let base = world.api(SECURITY).expect("api");
    let token = world.endpoint(SECURITY).expect("endpoint").token;
    let token = token.expose();
    let other_member = world.endpoint("kz.mfa").expect("endpoint").token;
    let port = world.apis[&homeward_core::MemberId::parse(SECURITY).expect("id")].port();
    let verify = format!("{base}/cases/{CASE}/verify");
    let body = json!({"outcome": "confirmed"}).to_string();
    let before = read_case(&http, &base, token).await;

    let attacks: Vec<(&str, reqwest::RequestBuilder, StatusCode)> = vec![
        (
            "no token",
            http.post(&verify)
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "a wrong token",
            http.post(&verify)
                .bearer_auth("0".repeat(64))
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "another member's token",
            http.post(&verify)
                .bearer_auth(other_member.expose())
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "the token under another scheme",
            http.post(&verify)
                .header(AUTHORIZATION, format!("Basic {token}"))
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "text/plain, as a page posts without a preflight",
            http.post(&verify)
                .bearer_auth(token)
                .header(CONTENT_TYPE, "text/plain;charset=UTF-8")
                .body(body.clone()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "a form",
            http.post(&verify)
                .bearer_auth(token)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body("outcome=confirmed"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "a multipart form",
            http.post(&verify)
                .bearer_auth(token)
                .header(CONTENT_TYPE, "multipart/form-data; boundary=x")
                .body(body.clone()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "no content type",
            http.post(&verify).bearer_auth(token).body(body.clone()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "a rebound name in Host",
            http.post(&verify)
                .bearer_auth(token)
                .header(HOST, format!("evil.example:{port}"))
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone()),
            StatusCode::MISDIRECTED_REQUEST,
        ),
        (
            "a cross-site Origin",
            http.post(&verify)
                .bearer_auth(token)
                .header(ORIGIN, "http://evil.example")
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone()),
            StatusCode::FORBIDDEN,
        ),
        (
            "Origin null (a sandboxed page)",
            http.post(&verify)
                .bearer_auth(token)
                .header(ORIGIN, "null")
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone()),
            StatusCode::FORBIDDEN,
        ),
        (
            "Sec-Fetch-Site: cross-site",
            http.post(&verify)
                .bearer_auth(token)
                .header("sec-fetch-site", "cross-site")
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone()),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (what, request, expected) in attacks {
        let response = request.send().await.expect("send");
        assert_eq!(response.status(), expected, "{what}");
        assert!(
            response
                .headers()
                .keys()
                .all(|h| !h.as_str().starts_with("access-control-")),
            "{what}: a CORS header was sent"
        );
        assert_eq!(
            read_case(&http, &base, token).await,
            before,
            "{what} changed the case"
        );
    }

    // Reads need the token too: a case holds its outbox.
    for path in [format!("/cases/{CASE}"), "/cases".to_owned()] {
        let response = http.get(format!("{base}{path}")).send().await.expect("get");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "GET {path}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer",
            "GET {path}"
        );
    }
    // A rebound page cannot read either, token or not.
    let response = http
        .get(format!("{base}/cases/{CASE}"))
        .bearer_auth(token)
        .header(HOST, format!("evil.example:{port}"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST);

    // The census command takes text/csv only: a page's text/plain post of
    // a census opens nothing at the camp registry.
    let camps = world.endpoint("aanes.camps").expect("endpoint");
    let cases_before = api.cases("aanes.camps").await.expect("cases");
    for content_type in ["text/plain", "application/json"] {
        let response = http
            .post(format!(
                "{}/commands/census?registeredOn=2019-04-15",
                camps.url
            ))
            .bearer_auth(camps.token.expose())
            .header(CONTENT_TYPE, content_type)
            .body(CENSUS.replace("000777", "000778"))
            .send()
            .await
            .expect("post");
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "census as {content_type}"
        );
    }
    assert_eq!(
        api.cases("aanes.camps").await.expect("cases"),
        cases_before,
        "a refused census opened a case"
    );

    // Same-origin names are the API's own: 127.0.0.1 and localhost.
    let response = http
        .get(format!("{base}/health"))
        .header(HOST, format!("localhost:{port}"))
        .header(ORIGIN, format!("http://localhost:{port}"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::OK, "/health needs no token");

    // The control: with the token, JSON and its own host, the same request
    // is taken and changes the case.
    let response = http
        .post(&verify)
        .bearer_auth(token)
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let after = read_case(&http, &base, token).await;
    assert!(
        after["revision"].as_u64() > before["revision"].as_u64(),
        "{after}"
    );
    assert_eq!(after["case"]["stage"], "verified", "{after}");
    world.stop().await.expect("stops");
}
