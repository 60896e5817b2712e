//! A recipient checks every delivery itself: what a gateway should have
//! rejected or routed elsewhere, placed straight on a member's delivery
//! subject, is refused with its rule back to its sender, terminated,
//! counted, and changes no case.

use std::sync::Arc;
use std::time::Duration;

use homeward_core::message_types as types;
use homeward_ministry::verify::AgeLimits;
use serde_json::{Value, json};
use time::OffsetDateTime;

use homeward_testkit::local::{Local, LocalOptions};

use crate::support::{
    EXAMPLE_CASE as CASE, Lone, deliver_directly, example_located, read_all_until, signed_as,
};

fn verification(outcome: &str) -> Value {
    json!({"caseRef": CASE, "completedOn": "2019-04-20",
           "results": [{"personRef": "HOL-P5-000123-01", "outcome": outcome, "methods": ["civil-registry"]}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_a_gateway_should_not_have_made_are_refused_back_and_change_nothing() {
    let local = Local::start(LocalOptions::default())
        .await
        .expect("local deployment");
    // A short window, so that a stale envelope is still signed within its
    // key's validity (development keys are valid from a day ago).
    let limits = AgeLimits {
        max_age: Duration::from_secs(3600),
        max_skew: Duration::from_secs(600),
    };
    let mfa = Lone::start(
        &local,
        "kz.mfa",
        Arc::new(homeward_foreign_affairs::ForeignAffairs),
        limits,
    )
    .await;
    let now = OffsetDateTime::now_utc();

    // A delivery the route names opens the case, and the service asks its
    // security service to verify the family.
    let opened = signed_as(
        &local,
        "aanes.camps",
        types::CAMP_RESIDENT_LOCATED,
        example_located(),
        now,
    );
    deliver_directly(&local, "kz.mfa", &opened).await;
    let before = wait_until_sent(&mfa.ministry, CASE).await;
    assert_eq!(
        serde_json::to_value(before.case.stage).expect("json"),
        "verification-requested"
    );

    // Each would move the case to `verified`, were it taken.
    let hostile = [
        // Another state's security service answers its own ministry only.
        (
            signed_as(
                &local,
                "uz.security",
                types::IDENTITY_VERIFICATION_COMPLETED,
                verification("confirmed"),
                now,
            ),
            "not_routed_here",
        ),
        // The right state, but a role that may not send it.
        (
            signed_as(
                &local,
                "kz.rehab",
                types::IDENTITY_VERIFICATION_COMPLETED,
                verification("confirmed"),
                now,
            ),
            "sender_not_permitted",
        ),
        (
            signed_as(
                &local,
                "kz.security",
                types::IDENTITY_VERIFICATION_COMPLETED,
                verification("confirmed"),
                now - time::Duration::hours(2),
            ),
            "envelope_stale",
        ),
        (
            signed_as(
                &local,
                "kz.security",
                types::IDENTITY_VERIFICATION_COMPLETED,
                verification("confirmed"),
                now + time::Duration::hours(1),
            ),
            "envelope_from_the_future",
        ),
        (
            signed_as(
                &local,
                "kz.security",
                types::IDENTITY_VERIFICATION_COMPLETED,
                verification("probably"),
                now,
            ),
            "schema_invalid",
        ),
    ];
    for (envelope, _) in &hostile {
        deliver_directly(&local, "kz.mfa", envelope).await;
    }

    // Each refusal goes back to the sender, through the gateway, signed.
    let js = async_nats::jetstream::new(local.client("test").await.expect("client"));
    let refusal_of = |all: &[(String, homeward_core::Envelope)], id: &str| {
        all.iter()
            .find(|(_, e)| {
                e.message_type() == types::CASE_REFUSED
                    && e.sender().as_str() == "kz.mfa"
                    && e.data()["refusedMessageId"] == id
            })
            .cloned()
    };
    let deliveries = read_all_until(&js, homeward_core::subjects::DELIVER_STREAM, |all| {
        hostile
            .iter()
            .all(|(e, _)| refusal_of(all, e.id()).is_some())
    })
    .await;
    for (envelope, rule) in &hostile {
        let (subject, refusal) = refusal_of(&deliveries, envelope.id())
            .unwrap_or_else(|| panic!("no refusal for {rule}"));
        assert_eq!(refusal.data()["rule"], *rule);
        assert_eq!(refusal.data()["refusedSender"], envelope.sender().as_str());
        assert_eq!(refusal.data()["caseRef"], CASE);
        assert_eq!(refusal.causationid(), Some(envelope.id()));
        assert_eq!(
            subject,
            format!("hw.deliver.{}.case.refused", envelope.sender())
        );
        refusal.verify_signature().expect("signed");
    }

    // Terminated, not redelivered: nothing is pending on the consumer, and
    // each was counted once.
    let consumer = js
        .get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>(
            "deliver_kz_mfa",
            homeward_core::subjects::DELIVER_STREAM,
        )
        .await
        .expect("the consumer");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut poll = tokio::time::interval(Duration::from_millis(100));
    loop {
        poll.tick().await;
        let info = consumer.clone().info().await.expect("info").clone();
        if info.num_ack_pending == 0 && info.num_pending == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{info:?}");
    }
    let alarms = mfa.ministry.alarms();
    for (_, rule) in &hostile {
        assert_eq!(alarms.refused_deliveries.get(*rule), Some(&1), "{alarms:?}");
    }

    // And the case is as it was.
    let after = mfa
        .ministry
        .store()
        .get(CASE)
        .await
        .expect("read")
        .expect("the case");
    assert_eq!(after.revision, before.revision);
    assert_eq!(after.case, before.case);
    mfa.stop().await;
}

/// The case once its outbox is empty: the last write the located message
/// causes.
pub async fn wait_until_sent(
    ministry: &homeward_ministry::Ministry,
    case: &str,
) -> homeward_ministry::store::Stored {
    let mut changes = ministry.store().changes();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(stored) = ministry.store().get(case).await.expect("read")
            && stored.case.outbox.is_empty()
        {
            return stored;
        }
        tokio::time::timeout_at(deadline, changes.changed())
            .await
            .expect("the case was opened and its messages sent in time")
            .expect("the store is open");
    }
}

/// A key revoked by a newly published policy while the service runs: a
/// delivery signed with it after the revocation is refused by the
/// recipient itself (whatever put it there), one signed before it still
/// counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_while_the_service_runs_is_refused_by_the_recipient() {
    let local = Local::start(LocalOptions::default())
        .await
        .expect("local deployment");
    let mfa = Lone::start(
        &local,
        "kz.mfa",
        Arc::new(homeward_foreign_affairs::ForeignAffairs),
        AgeLimits::default(),
    )
    .await;
    let signed_before = OffsetDateTime::now_utc();
    let before = signed_as(
        &local,
        "aanes.camps",
        types::CAMP_RESIDENT_LOCATED,
        example_located(),
        signed_before,
    );
    let revoked_at = signed_before + time::Duration::milliseconds(1);
    local
        .publish_policy(
            2,
            &local
                .keyring_revoking("aanes.camps", revoked_at)
                .expect("keyring"),
        )
        .await
        .expect("published");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    let mut poll = tokio::time::interval(Duration::from_millis(10));
    while local.policy_handle().version() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the service did not apply the new policy within 2 s"
        );
        poll.tick().await;
    }
    let after = signed_as(
        &local,
        "aanes.camps",
        types::CAMP_RESIDENT_LOCATED,
        example_located(),
        revoked_at + time::Duration::milliseconds(5),
    );
    // After, then before: deliveries are handled in order, so once the
    // one signed before the revocation is applied, the other was judged.
    deliver_directly(&local, "kz.mfa", &after).await;
    deliver_directly(&local, "kz.mfa", &before).await;
    let stored = wait_until_sent(&mfa.ministry, CASE).await;
    let applied: Vec<&str> = stored
        .case
        .processed
        .iter()
        .map(|k| k.id.as_str())
        .collect();
    assert!(applied.contains(&before.id()), "{applied:?}");
    assert!(
        !applied.contains(&after.id()),
        "a delivery signed after the revocation was applied: {applied:?}"
    );
    mfa.stop().await;
}
