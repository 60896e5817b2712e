//! An outgoing message whose submission fails (the server refuses it, as
//! while a cluster elects a new leader) stays with its case, and is sent
//! once the server takes submissions again, with nothing else happening to
//! the case: no delivery, no API call, no restart.

use std::sync::Arc;

use async_nats::jetstream;
use homeward_core::subjects;

use crate::support::{CAMPS, MFA, api, census, deployment, stage_is, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_the_server_refused_is_sent_once_it_takes_submissions_again() {
    let deployment = deployment().await;
    let local = &deployment.local;
    let camps = start(local, CAMPS, Arc::new(homeward_camp_registry::CampRegistry)).await;
    let mfa = start(
        local,
        MFA,
        Arc::new(homeward_foreign_affairs::ForeignAffairs),
    )
    .await;
    let api = api(&[&camps, &mfa]);

    // The work queue refuses every submission for a while: its messages may
    // be no bigger than 64 bytes.
    let admin = jetstream::new(local.client("unsent").await.expect("admin"));
    let mut submit = admin
        .get_stream(subjects::SUBMIT_STREAM)
        .await
        .expect("HW_SUBMIT");
    let config = submit.info().await.expect("info").config.clone();
    admin
        .update_stream(jetstream::stream::Config {
            max_message_size: 64,
            ..config.clone()
        })
        .await
        .expect("HW_SUBMIT refuses submissions");

    const CASE: &str = "HOL-P5-000911";
    let (csv, _) = census(&[CASE]);
    let waiting = api
        .command(
            CAMPS,
            "census?registeredOn=2019-04-15",
            csv.as_bytes().to_vec(),
        )
        .await
        .expect("the census is stored (202) though its announcement is refused");
    assert_eq!(waiting["waiting"], 1, "{waiting}");
    assert_eq!(
        waiting["applied"][0]["waiting"]["code"], "server_refused",
        "the camp registry says the server would not take it: {waiting}"
    );
    api.wait_case(CAMPS, CASE, "the announcement in the outbox", |c| {
        c["outbox"].as_array().map(Vec::len) == Some(1)
    })
    .await
    .expect("the camp registry holds the case, its announcement waiting");

    // The server takes submissions again; nothing else happens to the case.
    admin
        .update_stream(config)
        .await
        .expect("HW_SUBMIT takes submissions again");
    api.wait_case(
        MFA,
        CASE,
        "the located family",
        stage_is("verification-requested"),
    )
    .await
    .expect("the announcement reached kz.mfa without anything else happening");
    api.wait_case(CAMPS, CASE, "an empty outbox", |c| {
        c["outbox"].as_array().is_some_and(Vec::is_empty)
    })
    .await
    .expect("the outbox is empty once the announcement is stored");

    for service in [camps, mfa] {
        service.stop().await;
    }
    deployment.stop().await;
}
