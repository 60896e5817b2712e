//! Isolation is the server's, by accounts: each vector a hostile member,
//! operator or gateway would try, on the real server, refused, with
//! nothing landing in any stream.
//!
//! In one shared account these worked (issue 8): a member's submission
//! with a reply subject in `HW_AUDIT` stored the publish ack there; a
//! direct get of its own bucket with a reply among another member's
//! deliveries stored its own bytes there, past the gateway; the operator's
//! short-form consumer create redirected a member's durable consumer.
//! Under the generated accounts every reply crosses into the requester's
//! own account, where no stream of anyone else's listens. Each vector here
//! comes with a control that makes the same server reply land where it
//! can (in the attacker's own bucket), so the test proves the server did
//! answer, and that the answer reached nothing else.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use bytes::Bytes;
use homeward_core::audit::verify_chain;
use homeward_core::receipt::Decision;
use homeward_core::{MemberId, client, console, natsauth, subjects};
use homeward_gateway::GatewayError;
use homeward_testkit::local::Local;
use tokio::time::Instant;

use crate::permissions::{WAIT, admin, connect_as, decision_for_uzbekistan, deployment};
use crate::support::header;

/// Where a hostile reply subject would do harm: every Homeward stream, a
/// member's bucket and the gateway's.
const TARGETS: [&str; 7] = [
    "hw.audit.accepted.kz.mfa",
    "hw.deliver.uz.mfa.custody.assigned",
    "hw.receipt.uz.mfa",
    "hw.rejected.uz.mfa",
    "hw.submit.uz.mfa",
    "$KV.hw_cases_uz_mfa.HOL-ANX-000311",
    "$KV.hw_seen.kz_mfa.01JFORGED",
];

/// Messages and last sequence of every stream a hostile reply could reach.
async fn stores(local: &Local) -> BTreeMap<String, (u64, u64)> {
    let mut out = BTreeMap::new();
    let admin = admin(local).await;
    let uz = local.member("uz.mfa").await.expect("uz.mfa");
    let gateway = connect_as(local, "homeward.gateway").await;
    let mut views: Vec<(&jetstream::Context, String)> = natsauth::STREAMS
        .iter()
        .map(|s| (&admin, (*s).to_owned()))
        .collect();
    views.push((uz.jetstream(), "KV_hw_cases_uz_mfa".to_owned()));
    views.push((&gateway.js, "KV_hw_seen".to_owned()));
    for (js, name) in views {
        let mut stream = js.get_stream(&name).await.expect("stream");
        let state = stream.info().await.expect("info").state.clone();
        out.insert(name, (state.messages, state.last_sequence));
    }
    out
}

/// Waits until kz.mfa's own bucket holds `key`: the control reply landed.
async fn landed_in_own_bucket(kv: &jetstream::kv::Store, key: &str) {
    let deadline = Instant::now() + WAIT;
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    loop {
        poll.tick().await;
        if kv.entry(key).await.expect("entry").is_some() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the control reply {key} never landed: the server did not answer"
        );
    }
}

#[tokio::test]
async fn hostile_reply_subjects_land_in_no_stream() {
    let local = deployment().await;
    let admin_js = admin(&local).await;
    // Deliveries waiting for kz.mfa, so that every pull has a message to
    // give.
    for _ in 0..=TARGETS.len() {
        admin_js
            .publish(
                "hw.deliver.kz.mfa.camp.resident.located",
                Bytes::from_static(b"{}"),
            )
            .await
            .expect("publishes")
            .await
            .expect("stored");
    }
    let mut kz = connect_as(&local, "kz.mfa").await;
    let own = kz
        .js
        .get_key_value("hw_cases_kz_mfa")
        .await
        .expect("its own bucket");
    // Bytes of its choice under a key of its own bucket: a validly signed
    // envelope it once received, as the attack in issue 8 used.
    let planted = decision_for_uzbekistan(&local).to_bytes();
    own.put("HOL-PLANTED", planted.clone().into())
        .await
        .expect("planted");
    // The same bytes in its own event log, the one stream of its own that
    // answers direct gets with the raw bytes (its bucket is read from the
    // leader, through STREAM.MSG.GET, which answers in JSON).
    kz.js
        .publish("hw.events.kz.mfa.planted", planted.clone().into())
        .await
        .expect("sent")
        .await
        .expect("planted in its event log");
    let before = stores(&local).await;

    let pull = r#"{"batch":1,"no_wait":true}"#;
    let channels: [(&str, &str, &[u8]); 5] = [
        ("submit", "hw.submit.kz.mfa", b"{\"not\":\"an envelope\"}"),
        (
            "direct-get",
            "$JS.API.DIRECT.GET.HW_EVENTS_kz_mfa.hw.events.kz.mfa.planted",
            b"",
        ),
        (
            "msg-get",
            "$JS.API.STREAM.MSG.GET.KV_hw_cases_kz_mfa",
            br#"{"last_by_subj":"$KV.hw_cases_kz_mfa.HOL-PLANTED"}"#,
        ),
        (
            "pull",
            "$HW.API.CONSUMER.MSG.NEXT.HW_DELIVER.deliver_kz_mfa",
            pull.as_bytes(),
        ),
        (
            "consumer-info",
            "$HW.API.CONSUMER.INFO.HW_DELIVER.deliver_kz_mfa",
            b"",
        ),
    ];
    let mut submits = 0;
    for (channel, subject, body) in channels {
        for target in TARGETS {
            kz.client
                .publish_with_reply(subject, target, Bytes::copy_from_slice(body))
                .await
                .expect("sent");
            submits += usize::from(channel == "submit");
        }
        // The control: the same request, its reply into the sender's own
        // bucket, where a stream does listen. A pull is answered only where
        // someone listens for the answer, so its control listens on the
        // sender's own inbox.
        if channel == "pull" {
            let kz_id = MemberId::parse("kz.mfa").expect("member id");
            let inbox = format!("{}.control-pull", subjects::inbox_prefix(&kz_id));
            let mut answers = kz
                .client
                .subscribe(inbox.clone())
                .await
                .expect("subscribes");
            kz.client
                .publish_with_reply(subject, inbox, Bytes::copy_from_slice(body))
                .await
                .expect("sent");
            let answer = tokio::time::timeout(WAIT, futures::StreamExt::next(&mut answers))
                .await
                .expect("the control pull is answered")
                .expect("a message");
            assert_eq!(&answer.payload[..], b"{}", "a delivery");
            continue;
        }
        let control = format!("$KV.hw_cases_kz_mfa.control-{channel}");
        kz.client
            .publish_with_reply(subject, control, Bytes::copy_from_slice(body))
            .await
            .expect("sent");
        submits += usize::from(channel == "submit");
        landed_in_own_bucket(&own, &format!("control-{channel}")).await;
    }
    // The direct get's control holds the planted bytes: that is what the
    // reply would have put among uz.mfa's deliveries.
    assert_eq!(
        own.get("control-direct-get").await.expect("get").as_deref(),
        Some(&planted[..])
    );
    kz.no_violations().await;

    let after = stores(&local).await;
    for (name, (messages, last)) in &before {
        let (now_messages, now_last) = after[name];
        if name == subjects::SUBMIT_STREAM {
            // The submissions themselves, and nothing else.
            assert_eq!(now_last, last + submits as u64, "{name}");
            let mut stream = admin_js.get_stream(name).await.expect("stream");
            for sequence in last + 1..=now_last {
                let m = stream.get_raw_message(sequence).await.expect("message");
                assert_eq!(m.subject.as_str(), "hw.submit.kz.mfa");
                assert_eq!(&m.payload[..], b"{\"not\":\"an envelope\"}");
            }
            let _ = stream.info().await.expect("info");
        } else {
            assert_eq!(
                (now_messages, now_last),
                (*messages, *last),
                "a hostile reply landed in {name}"
            );
        }
    }
}

#[tokio::test]
async fn nobody_but_the_administrator_creates_or_redefines_a_consumer() {
    let local = deployment().await;
    // The short form takes the consumer's name from the body: redefining
    // kz.mfa's durable consumer to deliver everyone's deliveries.
    let redefine = r#"{"stream_name":"HW_DELIVER","config":{"name":"deliver_kz_mfa","durable_name":"deliver_kz_mfa","filter_subject":"hw.deliver.>","ack_policy":"explicit"}}"#;
    // A push consumer delivering the audit records into another member's
    // deliveries.
    let push = r#"{"stream_name":"HW_AUDIT","config":{"durable_name":"snoop","deliver_subject":"hw.deliver.uz.mfa.custody.assigned","ack_policy":"none"}}"#;
    for identity in ["kz.mfa", "homeward.operator", "homeward.gateway"] {
        let mut conn = connect_as(&local, identity).await;
        for prefix in [natsauth::HW_API, "$JS.API"] {
            conn.denied_request(&format!("{prefix}.CONSUMER.CREATE.HW_DELIVER"), redefine)
                .await;
            conn.denied_request(
                &format!("{prefix}.CONSUMER.CREATE.HW_DELIVER.deliver_kz_mfa.hw.deliver.>"),
                redefine,
            )
            .await;
            conn.denied_request(&format!("{prefix}.CONSUMER.CREATE.HW_AUDIT.snoop"), push)
                .await;
            conn.denied_request(&format!("{prefix}.CONSUMER.CREATE.HW_AUDIT"), push)
                .await;
            conn.denied_request(
                &format!("{prefix}.CONSUMER.DURABLE.CREATE.HW_AUDIT.snoop"),
                push,
            )
            .await;
        }
    }
    let admin = admin(&local).await;
    let deliver = admin
        .get_stream(subjects::DELIVER_STREAM)
        .await
        .expect("stream");
    let info = deliver
        .get_consumer::<pull::Config>("deliver_kz_mfa")
        .await
        .expect("kz.mfa's consumer")
        .cached_info()
        .clone();
    assert_eq!(info.config.filter_subject, "hw.deliver.kz.mfa.>");
    let audit = admin
        .get_stream(subjects::AUDIT_STREAM)
        .await
        .expect("stream");
    assert!(
        audit.get_consumer::<pull::Config>("snoop").await.is_err(),
        "no push consumer on the audit stream"
    );
    assert_eq!(
        audit.cached_info().state.consumer_count,
        0,
        "no consumer of any kind on the audit stream"
    );
}

#[tokio::test]
async fn the_gateway_cannot_change_delete_purge_or_seal_a_stream() {
    let local = deployment().await;
    let admin = admin(&local).await;
    let mut audit = admin
        .get_stream(subjects::AUDIT_STREAM)
        .await
        .expect("stream");
    let config_before = audit.info().await.expect("info").config.clone();
    let shorter = r#"{"name":"HW_AUDIT","subjects":["hw.audit.>"],"max_age":1000000000,"storage":"file","num_replicas":1}"#;
    let sealed = r#"{"name":"HW_AUDIT","subjects":["hw.audit.>"],"sealed":true,"storage":"file","num_replicas":1}"#;
    let mut gw = connect_as(&local, "homeward.gateway").await;
    for prefix in [natsauth::HW_API, "$JS.API"] {
        gw.denied_request(&format!("{prefix}.STREAM.UPDATE.HW_AUDIT"), shorter)
            .await;
        gw.denied_request(&format!("{prefix}.STREAM.UPDATE.HW_AUDIT"), sealed)
            .await;
        gw.denied_request(&format!("{prefix}.STREAM.DELETE.HW_AUDIT"), "")
            .await;
        gw.denied_request(&format!("{prefix}.STREAM.PURGE.HW_SUBMIT"), "{}")
            .await;
        gw.denied_request(
            &format!("{prefix}.STREAM.MSG.DELETE.HW_DELIVER"),
            r#"{"seq":1}"#,
        )
        .await;
        gw.denied_request(&format!("{prefix}.CONSUMER.DELETE.HW_SUBMIT.gateway"), "")
            .await;
        gw.denied_request(
            &format!("{prefix}.STREAM.CREATE.HW_SHADOW"),
            r#"{"name":"HW_SHADOW","subjects":["hw.deliver.>"]}"#,
        )
        .await;
    }
    // Its own bucket is the administrator's to change, too.
    gw.denied_request("$JS.API.STREAM.DELETE.KV_hw_seen", "")
        .await;
    gw.denied_request("$JS.API.STREAM.PURGE.KV_hw_seen", "{}")
        .await;
    gw.denied_request(
        "$JS.API.STREAM.UPDATE.KV_hw_seen",
        r#"{"name":"KV_hw_seen","subjects":["$KV.hw_seen.>"],"max_age":1000000000}"#,
    )
    .await;

    assert_eq!(
        audit.info().await.expect("info").config,
        config_before,
        "HW_AUDIT is unchanged"
    );
    let gateway_consumer = admin
        .get_stream(subjects::SUBMIT_STREAM)
        .await
        .expect("stream")
        .get_consumer::<pull::Config>(subjects::GATEWAY_CONSUMER)
        .await;
    assert!(gateway_consumer.is_ok(), "the gateway's consumer is there");
    assert!(
        admin.get_stream("HW_SHADOW").await.is_err(),
        "no new stream"
    );
    let mut seen = gw.js.get_stream("KV_hw_seen").await.expect("bucket");
    assert_eq!(
        seen.info().await.expect("info").config.max_age,
        Duration::from_secs(30 * 24 * 3600)
    );
}

#[tokio::test]
async fn a_foreign_message_in_the_audit_stream_is_an_alarm_not_a_halt() {
    let local = deployment().await;
    // Something other than a gateway's record at the head of the chain, as
    // the reply-subject hole once planted (a publish ack).
    admin(&local)
        .await
        .publish(
            "hw.audit.accepted.kz.mfa",
            Bytes::from_static(br#"{"stream":"HW_SUBMIT","seq":2717}"#),
        )
        .await
        .expect("publishes")
        .await
        .expect("stored");
    let gateway = local
        .spawn_gateway(local.gateway_config("gw-alarm").expect("config"))
        .await
        .expect("the gateway starts with a foreign message at the head");
    let camps = local.member("aanes.camps").await.expect("member");
    let mut receipts = camps.receipts().await.expect("receipts");
    for _ in 0..2 {
        let envelope = decision_for_uzbekistan(&local);
        camps.submit(&envelope).await.expect("submits");
        let (_, receipt) = receipts
            .wait_for(envelope.id(), WAIT)
            .await
            .expect("decided");
        assert_eq!(receipt.decision, Decision::Accepted);
    }
    let operator = connect_as(&local, "homeward.operator").await;
    let chain = console::read_audit(&operator.client).await.expect("reads");
    let summary = verify_chain(chain).expect("the chain holds across it");
    assert_eq!((summary.records, summary.foreign.clone()), (2, vec![1]));
    assert!(summary.to_string().contains("ALARM"), "{summary}");
    gateway.stop().await.expect("stops");
}

#[tokio::test]
async fn the_gateway_names_what_was_not_provisioned() {
    let local = deployment().await;
    admin(&local)
        .await
        .get_stream(subjects::SUBMIT_STREAM)
        .await
        .expect("stream")
        .delete_consumer(subjects::GATEWAY_CONSUMER)
        .await
        .expect("deleted");
    let err = local
        .spawn_gateway(local.gateway_config("gw-missing").expect("config"))
        .await
        .expect_err("refuses to start");
    let GatewayError::NotProvisioned(missing) = &err else {
        panic!("not a provisioning error: {err}");
    };
    assert_eq!(missing, &["consumer gateway on HW_SUBMIT"]);
    assert!(err.to_string().contains("homeward provision"), "{err}");
}

#[tokio::test]
async fn a_sender_reads_its_own_rejected_submissions_and_no_one_elses() {
    let local = deployment().await;
    let gateway = local
        .spawn_gateway(local.gateway_config("gw-rejected").expect("config"))
        .await
        .expect("gateway");
    let kz = local.member("kz.mfa").await.expect("member");
    let mut receipts = kz.receipts().await.expect("receipts");
    let bytes = b"{\"specversion\": \"1.0\", oops".to_vec();
    let ack = kz.submit_bytes("", bytes.clone()).await.expect("submitted");
    let (_, receipt) = receipts.next(WAIT).await.expect("a receipt");
    assert_eq!(receipt.decision, Decision::Rejected);
    assert_eq!(receipt.submission_sequence, ack.sequence.to_string());

    let mut rejected = kz
        .rejections()
        .await
        .expect("its rejections")
        .fetch()
        .max_messages(1)
        .expires(WAIT)
        .messages()
        .await
        .expect("fetch");
    let message = futures::StreamExt::next(&mut rejected)
        .await
        .expect("one")
        .expect("message");
    assert_eq!(&message.payload[..], &bytes[..], "its own original bytes");
    assert_eq!(header(&message, "Hw-Codes"), Some("malformed_json"));
    message.double_ack().await.expect("acked");

    let uz = local.member("uz.mfa").await.expect("member");
    let mut theirs = uz.rejections().await.expect("uz.mfa's rejections");
    assert_eq!(theirs.info().await.expect("info").num_pending, 0);
    let mut kz_conn = connect_as(&local, "kz.mfa").await;
    kz_conn
        .denied_request(
            "$HW.API.CONSUMER.MSG.NEXT.HW_REJECTED.rejected_uz_mfa",
            r#"{"batch":1,"expires":1000000000}"#,
        )
        .await;
    let hw = client::homeward_jetstream(kz_conn.client.clone());
    assert!(
        client::provisioned_consumer(&hw, subjects::REJECTED_STREAM, "rejected_uz_mfa")
            .await
            .is_err()
    );
    gateway.stop().await.expect("stops");
}

#[tokio::test]
async fn a_receipt_no_gateway_made_is_not_taken() {
    use homeward_core::envelope::{EnvelopeBuilder, format_time};
    use homeward_core::receipt::{RECEIPT_TYPE, Receipt};
    let local = deployment().await;
    let kz = local.member("kz.mfa").await.expect("member");
    let mut receipts = kz.receipts().await.expect("receipts");
    let schema = local
        .schemas
        .latest_schema_id(RECEIPT_TYPE)
        .expect("receipt schema");
    let forged = Receipt {
        submission_id: Some("01JFORGEDFORGEDFORGEDFORGE".into()),
        submission_sequence: "1".into(),
        submission_sha256: None,
        submission_type: Some("repatriation.requested".into()),
        decision: Decision::Accepted,
        recipients: vec!["aanes.camps".into()],
        reasons: Vec::new(),
        received_at: format_time(time::OffsetDateTime::now_utc()),
        decided_at: None,
    };
    let data = serde_json::to_value(&forged).expect("json");
    // Signed by a member, and by a key the policy does not list for the
    // gateway: both well-formed receipts, neither the gateway's.
    let by_member = EnvelopeBuilder::new(RECEIPT_TYPE, &schema, data.clone())
        .sign(kz.member(), kz.key())
        .expect("signs");
    let by_stranger = EnvelopeBuilder::new(RECEIPT_TYPE, &schema, data)
        .sign(
            &MemberId::parse("homeward.gateway").expect("id"),
            &homeward_core::SigningKey::generate(),
        )
        .expect("signs");
    let admin = admin(&local).await;
    for forged in [&by_member, &by_stranger] {
        admin
            .publish("hw.receipt.kz.mfa", forged.to_bytes().into())
            .await
            .expect("publishes")
            .await
            .expect("stored");
    }
    let gateway = local
        .spawn_gateway(local.gateway_config("gw-receipts").expect("config"))
        .await
        .expect("gateway");
    let envelope = kz
        .sign(crate::support::builder(&crate::support::example(
            "identity.verification.requested",
            "kazakh-family.json",
        )))
        .expect("signs");
    kz.submit(&envelope).await.expect("submitted");
    let (receipt_envelope, receipt) = receipts.next(WAIT).await.expect("a receipt");
    assert_eq!(receipt_envelope.sender().as_str(), "homeward.gateway");
    assert_eq!(receipt.submission_id.as_deref(), Some(envelope.id()));
    gateway.stop().await.expect("stops");
}
