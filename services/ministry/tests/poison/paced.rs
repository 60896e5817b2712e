//! A service keeps to its member's quota: a census larger than the burst
//! its policy allows goes out at the allowed rate, every family accepted,
//! none refused as `over_quota` (the gateway meters every member's rate,
//! `gateway/tests/gateway/limits.rs`).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use homeward_core::{MemberId, subjects};
use homeward_testkit::local::LocalOptions;
use homeward_testkit::service::Deployment;

use crate::support::{CAMPS, WAIT, api, census, locate, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_census_over_the_burst_goes_out_at_the_quota_and_is_all_accepted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = homeward_testkit::local::demo_policy_with_quotas(
        dir.path(),
        &[(CAMPS, "submissions_per_second = 5\nburst = 2")],
    )
    .expect("policy written");
    let deployment = Deployment::start_with(
        "gw-paced",
        LocalOptions {
            policy: Some(path),
            ..Default::default()
        },
    )
    .await;
    let local = &deployment.local;
    let camps = start(local, CAMPS, Arc::new(homeward_camp_registry::CampRegistry)).await;
    let api = api(&[&camps]);

    // Eight families: four times the burst of two.
    let refs: Vec<String> = (1..=8).map(|n| format!("HOL-P5-0007{n:02}")).collect();
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    let (csv, _) = census(&refs);
    locate(&api, &csv).await;

    let admin = jetstream::new(local.client("paced").await.expect("admin"));
    let subject = subjects::receipt(&MemberId::parse(CAMPS).expect("id"));
    let deadline = tokio::time::Instant::now() + WAIT;
    let receipts = loop {
        let receipts =
            homeward_testkit::read::read_all(&admin, subjects::RECEIPTS_STREAM, &subject)
                .await
                .expect("receipts read");
        if receipts.len() >= refs.len() {
            break receipts;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} receipts of {}",
            receipts.len(),
            refs.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let decisions: Vec<_> = receipts
        .iter()
        .map(|r| {
            r.headers
                .as_ref()
                .and_then(|h| h.get(subjects::headers::DECISION))
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(receipts.len(), refs.len(), "one receipt each");
    assert!(
        decisions.iter().all(|d| d == "accepted"),
        "every family accepted, none over the quota: {decisions:?} {:?}",
        receipts
            .iter()
            .filter_map(|r| r
                .headers
                .as_ref()?
                .get(subjects::headers::CODES)
                .map(|v| v.as_str().to_owned()))
            .collect::<Vec<_>>()
    );
    camps.stop().await;
    deployment.stop().await;
}
