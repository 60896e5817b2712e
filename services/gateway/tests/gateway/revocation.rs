//! A key revoked while everything runs: the policy authority publishes a
//! policy in which the key's validity ends now, and the running gateway
//! applies it within seconds, with no restart. Messages signed before the
//! revocation still pass; later ones are refused.

use std::time::Duration;

use homeward_core::receipt::Decision;
use homeward_core::{RejectionCode, SigningKey};
use tokio::time::Instant;

use crate::support::{WAIT, deployment, processed};

#[tokio::test]
async fn a_key_revoked_while_running_is_refused_within_two_seconds_and_nothing_signed_before_is_lost()
 {
    let (local, gateway) = deployment().await;
    let mfa = local.member("kz.mfa").await.expect("member");
    let mut receipts = mfa.receipts().await.expect("receipts");
    // Signed before the revocation, submitted after it.
    let before: Vec<_> = (0..5).map(|_| processed(&local)).collect();
    let first = processed(&local);
    // Envelope times are in milliseconds: the revocation is the next one.
    let revoked_at = first.time() + time::Duration::milliseconds(1);
    // The one submitted before any revocation goes through.
    mfa.submit(&first).await.expect("submitted");
    let (_, receipt) = receipts.wait_for(first.id(), WAIT).await.expect("receipt");
    assert_eq!(receipt.decision, Decision::Accepted, "{receipt:?}");

    let keyring = local
        .keyring_revoking("kz.mfa", revoked_at)
        .expect("keyring");
    let published = Instant::now();
    local.publish_policy(2, &keyring).await.expect("published");
    // Each probe is signed now, after the revocation: once the gateway has
    // the new policy, it refuses them.
    let refused_after = loop {
        let probe = processed(&local);
        mfa.submit(&probe).await.expect("submitted");
        let (_, receipt) = receipts.wait_for(probe.id(), WAIT).await.expect("receipt");
        if receipt.decision == Decision::Rejected {
            assert_eq!(receipt.codes(), [RejectionCode::ExpiredKey], "{receipt:?}");
            break published.elapsed();
        }
        assert!(
            published.elapsed() < Duration::from_secs(10),
            "the revocation never took effect"
        );
    };
    assert!(
        refused_after < Duration::from_secs(2),
        "the revocation took {refused_after:?}"
    );
    for envelope in &before {
        mfa.submit(envelope).await.expect("submitted");
        let (_, receipt) = receipts
            .wait_for(envelope.id(), WAIT)
            .await
            .expect("receipt");
        assert_eq!(
            receipt.decision,
            Decision::Accepted,
            "signed before the revocation: {receipt:?}"
        );
    }
    gateway.stop().await.expect("stops");
}

/// Submits probes signed now by `member` until one gets `decision`.
async fn until_decided(
    local: &homeward_testkit::Local,
    member: &str,
    decision: Decision,
) -> Duration {
    let client = local.member(member).await.expect("member");
    let mut receipts = client.receipts().await.expect("receipts");
    let started = Instant::now();
    loop {
        let probe = crate::support::resign_as(local, member);
        client.submit(&probe).await.expect("submitted");
        let (_, receipt) = receipts.wait_for(probe.id(), WAIT).await.expect("receipt");
        if receipt.decision == decision {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{member} never got {decision:?}"
        );
    }
}

#[tokio::test]
async fn a_policy_not_signed_by_the_authority_or_not_newer_changes_nothing() {
    let (local, gateway) = deployment().await;
    let now = time::OffsetDateTime::now_utc();
    let kz_revoked = local.keyring_revoking("kz.mfa", now).expect("keyring");
    // kz.mfa's key revoked by a policy the authority did not sign, and by
    // one it signed but that is not newer than the one in force.
    let forged = homeward_core::published::PublishedPolicy::sign(
        9,
        &std::fs::read_to_string(homeward_testkit::local::demo_policy_path()).expect("policy"),
        vec![homeward_core::published::Keyring {
            name: "keyring.toml".into(),
            text: kz_revoked.clone(),
        }],
        &SigningKey::generate(),
    )
    .expect("signs");
    let admin = local.client("admin").await.expect("admin");
    homeward_core::published::publish(&admin, &forged)
        .await
        .expect("published");
    local
        .publish_policy(1, &kz_revoked)
        .await
        .expect("published");
    // Then a real, newer one that revokes kz.security's key instead: once it
    // is in force, the two before it were seen, in order, and refused.
    local
        .publish_policy(
            2,
            &local.keyring_revoking("kz.security", now).expect("keyring"),
        )
        .await
        .expect("published");
    until_decided(&local, "kz.security", Decision::Rejected).await;
    until_decided(&local, "kz.mfa", Decision::Accepted).await;
    gateway.stop().await.expect("stops");
}
