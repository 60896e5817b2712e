//! A resent envelope is stored once and delivered once: within the
//! JetStream duplicate window by its `Nats-Msg-Id`, and under another
//! message id by the gateway's own record of accepted envelope ids.

use homeward_core::receipt::Decision;
use homeward_core::{RejectionCode, subjects};

use crate::support::{
    audit_chain, audit_record_for, delivered_to, deployment, example, header, jetstream, read_all,
    receipt_for, resign,
};

#[tokio::test]
async fn a_resent_envelope_is_stored_once_and_delivered_once() {
    let (local, gateway) = deployment().await;
    let js = jetstream(&local).await;
    let camps = local.member("aanes.camps").await.expect("member");
    let envelope = resign(
        &local,
        &example("camp.resident.located", "kazakh-family-al-hol.json"),
    );

    // Twice with the same Nats-Msg-Id (its envelope id): the stream keeps one.
    let first = camps.submit(&envelope).await.expect("submitted");
    assert!(!first.duplicate);
    let again = camps.submit(&envelope).await.expect("submitted again");
    assert!(again.duplicate, "the stream saw the resend as a duplicate");
    assert_eq!(again.sequence, first.sequence);

    let receipt = receipt_for(&local, &js, camps.member(), first.sequence).await;
    assert_eq!(receipt.decision, Decision::Accepted, "{receipt:?}");
    assert_eq!(receipt.recipients, vec!["kz.mfa", "kz.security"]);
    audit_record_for(&js, first.sequence).await;

    let submit = js
        .get_stream(subjects::SUBMIT_STREAM)
        .await
        .expect("stream")
        .get_info()
        .await
        .expect("info");
    assert_eq!(
        submit.state.last_sequence, first.sequence,
        "nothing stored after the first"
    );
    assert_eq!(
        delivered_to(&js, envelope.id()).await,
        vec!["kz.mfa", "kz.security"]
    );
    let receipts = read_all(
        &js,
        subjects::RECEIPTS_STREAM,
        &subjects::receipt(camps.member()),
    )
    .await;
    assert_eq!(receipts.len(), 1, "one receipt");

    // Once more under another message id: the stream takes it, the gateway
    // refuses it as a duplicate, and nothing more is delivered.
    let other = camps
        .submit_bytes("a-different-msg-id", envelope.to_bytes())
        .await
        .expect("submitted under another id");
    assert!(!other.duplicate);
    assert_eq!(other.sequence, first.sequence + 1);
    let receipt = receipt_for(&local, &js, camps.member(), other.sequence).await;
    assert_eq!(receipt.decision, Decision::Rejected, "{receipt:?}");
    assert_eq!(receipt.codes(), vec![RejectionCode::Duplicate]);
    assert_eq!(receipt.submission_id.as_deref(), Some(envelope.id()));
    let record = audit_record_for(&js, other.sequence).await;
    assert_eq!(record.decision, "rejected");
    assert_eq!(record.codes, vec!["duplicate"]);

    let rejected = read_all(
        &js,
        subjects::REJECTED_STREAM,
        &subjects::rejected(camps.member()),
    )
    .await;
    assert_eq!(rejected.len(), 1);
    assert_eq!(&rejected[0].payload[..], &envelope.to_bytes()[..]);
    assert_eq!(
        header(&rejected[0], subjects::headers::CODES),
        Some("duplicate")
    );

    // Still exactly one delivery per recipient, and one record per
    // submission the stream stored.
    let deliveries = read_all(&js, subjects::DELIVER_STREAM, subjects::DELIVER_ALL).await;
    assert_eq!(deliveries.len(), 2);
    assert_eq!(
        delivered_to(&js, envelope.id()).await,
        vec!["kz.mfa", "kz.security"]
    );
    let chain = audit_chain(&js).await;
    assert_eq!(
        homeward_core::audit::verify_chain(chain).map(|s| (s.records, s.foreign.len())),
        Ok((2, 0))
    );
    gateway.stop().await.expect("gateway stops");
}
