//! A delivery that overtakes the message opening its case (a crash made
//! the server deliver the opener again later) is delivered again while the
//! opener may still come, then applied after it; not refused with
//! `unknown_case` (`Options::hold_unknown_case`). The chaos harness met
//! this: a family stopped at the security service for good.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use homeward_core::envelope::EnvelopeBuilder;
use homeward_core::{MemberId, subjects};
use homeward_ministry::runtime::Options;
use homeward_testkit::service::{self, ServiceUnderTest};
use serde_json::json;

use crate::support::{CAMPS, MFA, WAIT, api, census, deployment, locate, retry, stage_is, start};

const SECURITY: &str = "kz.security";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_overtakes_the_message_opening_its_case_is_applied_after_it() {
    let deployment = deployment().await;
    let local = &deployment.local;
    let camps = start(local, CAMPS, Arc::new(homeward_camp_registry::CampRegistry)).await;
    let options = Options {
        retry: retry(),
        hold_unknown_case: Duration::from_secs(60),
        ..Options::default()
    };
    let security = ServiceUnderTest::start_with(
        local,
        SECURITY,
        Arc::new(homeward_security::Security),
        service::token(),
        options,
    )
    .await;
    let api = api(&[&camps, &security]);

    // The foreign ministry's request reaches the security service first.
    const CASE: &str = "HOL-P5-000912";
    let persons: Vec<_> = (1..=2)
        .map(|n| json!({"personRef": format!("{CASE}-{n:02}"), "methods": ["documents", "interview"]}))
        .collect();
    let request = EnvelopeBuilder::new(
        "identity.verification.requested",
        "https://schemas.homeward.example/messages/identity.verification.requested/v1.json",
        json!({"caseRef": CASE, "persons": persons}),
    )
    .subject(CASE)
    .sign(
        &MemberId::parse(MFA).expect("id"),
        &local.key(MFA).expect("key"),
    )
    .expect("signed");
    local
        .member(MFA)
        .await
        .expect("kz.mfa")
        .submit(&request)
        .await
        .expect("stored");
    let admin = jetstream::new(local.client("held").await.expect("admin"));
    let mut consumer: jetstream::consumer::PullConsumer = admin
        .get_consumer_from_stream(
            subjects::delivery_consumer(&MemberId::parse(SECURITY).expect("id")),
            subjects::DELIVER_STREAM,
        )
        .await
        .expect("kz.security's consumer");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let info = consumer.info().await.expect("info");
        if info.num_redelivered > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the request was never delivered again: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        security.get(&format!("/cases/{CASE}")).await.0,
        reqwest::StatusCode::NOT_FOUND,
        "held, the request opened nothing"
    );

    // Then the camp administration's census opens the case, and the
    // request is applied to it.
    let (csv, _) = census(&[CASE]);
    locate(&api, &csv).await;
    let case = api
        .wait_case(
            SECURITY,
            CASE,
            "the request applied",
            stage_is("verification-requested"),
        )
        .await
        .expect("the held request applied once the case was opened");
    assert_eq!(case["refusalsReceived"], json!([]), "{case}");
    let refused = homeward_testkit::read::read_all(
        &admin,
        subjects::DELIVER_STREAM,
        &subjects::deliver_filter(&MemberId::parse(MFA).expect("id")),
    )
    .await
    .expect("kz.mfa's deliveries")
    .into_iter()
    .filter(|m| {
        homeward_core::Envelope::parse(&m.payload).is_ok_and(|e| e.message_type() == "case.refused")
    })
    .count();
    assert_eq!(refused, 0, "the request was never refused back to kz.mfa");
}
