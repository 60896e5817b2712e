//! Accepted messages reach exactly the members their route names.

use homeward_core::receipt::Decision;

use crate::support::{WAIT, delivered_to, deployment, examples, resign};

#[tokio::test]
async fn a_located_family_reaches_its_nationality_mfa_and_security_only() {
    let (local, gateway) = deployment().await;
    let camps = local.member("aanes.camps").await.expect("member");
    let mut receipts = camps.receipts().await.expect("receipts");
    let example = examples("camp.resident.located")
        .into_iter()
        .find(|e| e["data"]["claimedNationality"] == "KZ")
        .expect("a Kazakh example");
    let envelope = resign(&local, &example);
    camps.submit(&envelope).await.expect("submitted");
    let (_, receipt) = receipts
        .wait_for(envelope.id(), WAIT)
        .await
        .expect("receipt");
    assert_eq!(receipt.decision, Decision::Accepted, "{receipt:?}");
    assert_eq!(receipt.recipients, vec!["kz.mfa", "kz.security"]);
    let js = async_nats::jetstream::new(local.client("test").await.expect("client"));
    assert_eq!(
        delivered_to(&js, envelope.id()).await,
        vec!["kz.mfa", "kz.security"]
    );
    gateway.stop().await.expect("gateway stops");
}
