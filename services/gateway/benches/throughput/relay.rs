//! The relay: the floor under any gateway on this machine. It does the
//! gateway's JetStream writes for an accepted submission and nothing else.

use std::time::Duration;

use anyhow::anyhow;
use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use futures::StreamExt;
use homeward_core::audit::{AuditRecord, sha256_hex};
use homeward_core::envelope::format_time;
use homeward_core::subjects::{self, headers};
use homeward_core::{MemberId, client};
use homeward_gateway::audit_log::{AuditLog, PendingRecord};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::{MESSAGE_TYPE, RECIPIENTS};

/// What the relay sends as a receipt.
const RELAY_RECEIPT: &[u8] = br#"{"decision":"accepted"}"#;

/// The same JetStream writes as the gateway's for an accepted submission,
/// with nothing checked: deliveries to fixed recipients, a fixed receipt,
/// the chained audit record; then the acks.
pub async fn relay(
    js: jetstream::Context,
    batch_size: usize,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    // The same provisioned consumer as the gateway's, so both read alike.
    let consumer =
        client::provisioned_consumer(&js, subjects::SUBMIT_STREAM, subjects::GATEWAY_CONSUMER)
            .await?;
    let recipients = RECIPIENTS
        .iter()
        .map(|m| MemberId::parse(m))
        .collect::<Result<Vec<_>, _>>()?;
    let recipient_list: Vec<String> = recipients.iter().map(ToString::to_string).collect();
    let mut audit = AuditLog::new(js.clone());
    while !stop.is_cancelled() {
        let batch = tokio::select! {
            _ = stop.cancelled() => break,
            batch = consumer
                .fetch()
                .max_messages(batch_size)
                .expires(Duration::from_millis(500))
                .messages() => batch?,
        };
        let messages: Vec<jetstream::Message> =
            batch.filter_map(|m| async { m.ok() }).collect().await;
        if messages.is_empty() {
            continue;
        }
        let time = format_time(OffsetDateTime::now_utc());
        let mut acks = Vec::with_capacity(messages.len() * (recipients.len() + 1));
        let mut records = Vec::with_capacity(messages.len());
        for m in &messages {
            let sequence = m
                .info()
                .map_err(|e| anyhow!("no message info: {e}"))?
                .stream_sequence;
            let sender = subjects::member_of_submit(m.subject.as_str())
                .ok_or_else(|| anyhow!("no member in {}", m.subject))?;
            let id = m
                .headers
                .as_ref()
                .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            let mut h = HeaderMap::new();
            h.insert(headers::SENDER, sender.as_str());
            h.insert(headers::SUBMIT_SEQ, sequence.to_string().as_str());
            h.insert(headers::TYPE, MESSAGE_TYPE);
            h.insert(headers::MSG_ID, id.as_str());
            for recipient in &recipients {
                let publish = PublishMessage::build()
                    .payload(m.payload.clone())
                    .headers(h.clone())
                    .message_id(format!("{sender}:{id}:{recipient}"));
                acks.push(
                    js.send_publish(subjects::deliver(recipient, MESSAGE_TYPE), publish)
                        .await?,
                );
            }
            h.insert(headers::DECISION, "accepted");
            h.insert(headers::RECIPIENTS, recipient_list.join(",").as_str());
            let receipt = PublishMessage::build()
                .payload(Bytes::from_static(RELAY_RECEIPT))
                .headers(h)
                .message_id(format!("receipt:{sequence}"));
            acks.push(js.send_publish(subjects::receipt(&sender), receipt).await?);
            let bytes_hash = sha256_hex(&m.payload);
            records.push(PendingRecord {
                subject: subjects::audit("accepted", Some(&sender)),
                msg_id: format!("audit:{sequence}:{}", &bytes_hash[..16]),
                record: AuditRecord {
                    time: time.clone(),
                    gateway: "relay-bench".to_owned(),
                    submission_sequence: sequence.to_string(),
                    envelope_id: Some(id),
                    sender: sender.to_string(),
                    message_type: Some(MESSAGE_TYPE.to_owned()),
                    case: None,
                    recipients: recipient_list.clone(),
                    decision: "accepted".to_owned(),
                    codes: Vec::new(),
                    envelope_sha256: bytes_hash,
                    submitted_at: Some(time.clone()),
                    trace_id: None,
                    reasons: Vec::new(),
                    prev: String::new(),
                    hash: String::new(),
                },
            });
        }
        for ack in acks {
            ack.await?;
        }
        audit.append(records).await?;
        for m in &messages {
            m.ack().await.map_err(|e| anyhow!("ack: {e}"))?;
        }
    }
    Ok(())
}
