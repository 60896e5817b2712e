//! The server enforces each identity's permissions, under the authorization
//! generated from the policy (`homeward_core::natsauth`), which every
//! `Local` runs with.
//!
//! Each forbidden action is tried on a real server by a connection that
//! records the server's events, and the test waits for the server's
//! permissions violation naming the exact subject. Where the action expects
//! an answer, none comes: a raw request's reply inbox is still empty after
//! the violation and a round trip, and a JetStream call times out.
//! Afterwards the administrator checks that nothing changed. kz.mfa plays the curious member; uz.mfa is the member
//! whose data it is after.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use async_nats::{ConnectErrorKind, Event, ServerError};
use futures::{FutureExt, StreamExt};
use homeward_core::console::{AuditTail, ReadFrom};
use homeward_core::envelope::{Envelope, EnvelopeBuilder};
use homeward_core::receipt::Decision;
use homeward_core::{MemberId, SigningKey, client, natsauth, streams, subjects};
use homeward_testkit::local::{Local, LocalOptions};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(20);
/// How long a JetStream call waits for an answer that a denied request
/// never gets.
const DENIED_WAIT: Duration = Duration::from_secs(2);

/// A connection as one identity that records every event the server sends.
pub struct Watched {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    events: mpsc::UnboundedReceiver<Event>,
    name: String,
}

/// Connects as `identity` with its own NATS key and, for a member, its
/// private inbox prefix.
pub async fn connect_as(local: &Local, identity: &str) -> Watched {
    let (tx, events) = mpsc::unbounded_channel();
    let mut options =
        async_nats::ConnectOptions::with_nkey(local.nats_seed(identity).expect("a NATS key"))
            .request_timeout(Some(DENIED_WAIT))
            .event_callback(move |event| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(event);
                }
            });
    if let Ok(member) = MemberId::parse(identity) {
        options = options.custom_inbox_prefix(subjects::inbox_prefix(&member));
    }
    let client = with_tls(local, options)
        .connect(local.url())
        .await
        .expect("connects");
    Watched {
        js: jetstream::new(client.clone()),
        client,
        events,
        name: identity.to_owned(),
    }
}

/// Trusts the deployment's development CA, so that only the credentials
/// decide whether a connection is accepted.
fn with_tls(local: &Local, options: async_nats::ConnectOptions) -> async_nats::ConnectOptions {
    match local.tls_ca() {
        Some(ca) => options.require_tls(true).add_root_certificates(ca),
        None => options,
    }
}

impl Watched {
    /// A JetStream call the server must refuse: the violation names its
    /// subject, and after a round trip the call still has no answer (it
    /// would time out, but nothing waits for that).
    pub async fn denied_call<T, E>(
        &mut self,
        what: &str,
        subject: &str,
        call: impl std::future::IntoFuture<Output = Result<T, E>>,
    ) where
        E: std::fmt::Display,
    {
        let mut call = std::pin::pin!(call.into_future());
        tokio::select! {
            outcome = &mut call => match outcome {
                Ok(_) => panic!("{what}: the server carried it out"),
                Err(e) => panic!("{what}: failed before the server refused it: {e}"),
            },
            _ = self.violation("Publish", subject) => {}
        }
        self.client.flush().await.expect("flush");
        assert!(
            futures::FutureExt::now_or_never(call).is_none(),
            "{what}: the refused request was answered"
        );
    }

    /// Waits for the server's permissions violation for `action`
    /// (`Publish` or `Subscription`) to exactly `subject`; returns the
    /// events that came before it.
    pub async fn violation(&mut self, action: &str, subject: &str) -> Vec<String> {
        let expected = violation_text(action, subject);
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(Event::ServerError(ServerError::Other(text)))) if text == expected => {
                    return seen;
                }
                Ok(Some(other)) => seen.push(other.to_string()),
                Ok(None) | Err(_) => panic!(
                    "{}: no violation {expected:?} within {WAIT:?}; events: {seen:?}",
                    self.name
                ),
            }
        }
    }

    /// Fails if the server reported any error to this connection so far.
    pub async fn no_violations(&mut self) {
        // A round trip: every error the server sent before it has arrived.
        self.client.flush().await.expect("flush");
        while let Ok(event) = self.events.try_recv() {
            assert!(
                !matches!(event, Event::ServerError(_)),
                "{}: unexpected server error {event}",
                self.name
            );
        }
    }

    /// A core publish the server must refuse.
    pub async fn denied_publish(&mut self, subject: &str) {
        self.client
            .publish(subject.to_owned(), "forged".into())
            .await
            .expect("the client sends it");
        self.violation("Publish", subject).await;
    }

    /// A request the server must refuse: the server names the violation,
    /// and no answer comes to the reply subject, a fresh one under the
    /// connection's own inbox. Once the violation has arrived, a round trip
    /// ensures anything the server sent before it has arrived too, so an
    /// empty inbox then means no answer, without waiting out a timeout.
    pub async fn denied_request(&mut self, subject: &str, payload: &str) {
        let reply = self.client.new_inbox();
        let mut answers = self
            .client
            .subscribe(reply.clone())
            .await
            .expect("subscribes to its own inbox");
        self.client
            .publish_with_reply(subject.to_owned(), reply.clone(), payload.to_owned().into())
            .await
            .expect("the client sends it");
        let before = self.violation("Publish", subject).await;
        let refused_inbox = violation_text("Subscription", &reply);
        assert!(
            !before.iter().any(|e| e.contains(&refused_inbox)),
            "{}: its own inbox was refused: {before:?}",
            self.name
        );
        self.client.flush().await.expect("flush");
        assert!(
            answers.next().now_or_never().flatten().is_none(),
            "{}: a refused request to {subject} got an answer",
            self.name
        );
    }

    /// A subscription the server must refuse.
    pub async fn denied_subscription(&mut self, subject: &str) -> async_nats::Subscriber {
        let sub = self
            .client
            .subscribe(subject.to_owned())
            .await
            .expect("the client sends it");
        self.violation("Subscription", subject).await;
        sub
    }
}

/// What the server sends a connection it refuses `action` to `subject`.
fn violation_text(action: &str, subject: &str) -> String {
    format!("Permissions Violation for {action} to \"{subject}\"")
}

/// The administrator's JetStream context.
pub async fn admin(local: &Local) -> jetstream::Context {
    jetstream::new(local.client("admin").await.expect("admin connects"))
}

pub async fn deployment() -> Local {
    Local::start(LocalOptions::default())
        .await
        .expect("local deployment starts")
}

/// aanes.camps' decision for an Uzbek family: routed to uz.mfa only.
pub fn decision_for_uzbekistan(local: &Local) -> Envelope {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "../../schemas/messages/repatriation.decided/examples/v1/valid/uzbek-children-without-mother.json",
        ),
    )
    .expect("example");
    let example: Value = serde_json::from_str(&text).expect("json");
    EnvelopeBuilder::new(
        example["type"].as_str().expect("type"),
        example["dataschema"].as_str().expect("dataschema"),
        example["data"].clone(),
    )
    .subject(example["subject"].as_str().expect("subject"))
    .sign(
        &MemberId::parse("aanes.camps").expect("member"),
        &local.key("aanes.camps").expect("key"),
    )
    .expect("signs")
}

#[tokio::test]
async fn a_member_cannot_subscribe_to_another_members_deliveries_receipts_or_inbox() {
    let local = deployment().await;
    let gateway = local
        .spawn_gateway(local.gateway_config("gw-perm").expect("config"))
        .await
        .expect("gateway");
    let mut kz = connect_as(&local, "kz.mfa").await;
    let mut refused = Vec::new();
    for subject in [
        "hw.deliver.uz.mfa.>",
        "hw.deliver.uz.mfa.repatriation.decided",
        "hw.receipt.uz.mfa",
        "_INBOX_uz_mfa.>",
        "hw.deliver.>",
        "hw.submit.>",
        "_INBOX.>",
        ">",
    ] {
        refused.push(kz.denied_subscription(subject).await);
    }

    // A message for uz.mfa goes through; uz.mfa gets it, kz.mfa does not.
    let camps = local.member("aanes.camps").await.expect("member");
    let envelope = decision_for_uzbekistan(&local);
    let mut receipts = camps.receipts().await.expect("receipts");
    camps.submit(&envelope).await.expect("submits");
    let (_, receipt) = receipts
        .wait_for(envelope.id(), WAIT)
        .await
        .expect("receipt");
    assert_eq!(receipt.decision, Decision::Accepted, "{receipt:?}");
    assert_eq!(receipt.recipients, ["uz.mfa"]);
    let uz = local.member("uz.mfa").await.expect("member");
    let mut batch = uz
        .delivery_consumer()
        .await
        .expect("uz.mfa's consumer")
        .fetch()
        .max_messages(1)
        .expires(WAIT)
        .messages()
        .await
        .expect("fetch");
    let delivery = batch.next().await.expect("a delivery").expect("message");
    assert_eq!(
        uz.verify_delivery(&delivery.payload)
            .expect("verifies")
            .id(),
        envelope.id()
    );
    // Whatever the server sent kz.mfa before this round trip has arrived;
    // none of its refused subscriptions got anything.
    kz.client.flush().await.expect("flush");
    for mut sub in refused {
        assert!(
            futures::FutureExt::now_or_never(sub.next())
                .flatten()
                .is_none(),
            "a refused subscription received a message"
        );
    }
    gateway.stop().await.expect("stops");
}

#[tokio::test]
async fn a_member_cannot_pull_from_look_up_or_ack_another_members_consumers() {
    let local = deployment().await;
    let mut kz = connect_as(&local, "kz.mfa").await;
    for subject in [
        "$JS.API.CONSUMER.MSG.NEXT.HW_DELIVER.deliver_uz_mfa",
        "$JS.API.CONSUMER.MSG.NEXT.HW_RECEIPTS.receipt_uz_mfa",
        "$JS.API.CONSUMER.MSG.NEXT.HW_SUBMIT.gateway",
    ] {
        kz.denied_request(subject, r#"{"batch":1,"expires":1000000000}"#)
            .await;
    }
    // The client's own way in: looking the consumer up is refused too.
    let stream = kz
        .js
        .get_stream_no_info(subjects::DELIVER_STREAM)
        .await
        .expect("no request");
    kz.denied_call(
        "looking up deliver_uz_mfa",
        "$JS.API.CONSUMER.INFO.HW_DELIVER.deliver_uz_mfa",
        stream.get_consumer::<pull::Config>("deliver_uz_mfa"),
    )
    .await;
    // Acking (or naking) another member's delivery.
    kz.denied_publish("$JS.ACK.HW_DELIVER.deliver_uz_mfa.1.1.1.1700000000000000000.0")
        .await;
}

#[tokio::test]
async fn a_member_cannot_create_or_change_a_consumer_not_even_its_own() {
    let local = deployment().await;
    let mut kz = connect_as(&local, "kz.mfa").await;
    let deliver = kz
        .js
        .get_stream_no_info(subjects::DELIVER_STREAM)
        .await
        .expect("no request");

    // A durable consumer of uz.mfa's deliveries.
    kz.denied_call(
        "creating a durable consumer",
        "$JS.API.CONSUMER.CREATE.HW_DELIVER.sneaky.hw.deliver.uz.mfa.>",
        deliver.create_consumer(pull::Config {
            durable_name: Some("sneaky".into()),
            filter_subject: "hw.deliver.uz.mfa.>".into(),
            ..Default::default()
        }),
    )
    .await;

    // An ephemeral one.
    kz.denied_call(
        "creating an ephemeral consumer",
        "$JS.API.CONSUMER.CREATE.HW_DELIVER",
        deliver.create_consumer(pull::OrderedConfig {
            filter_subject: "hw.deliver.uz.mfa.>".into(),
            ..Default::default()
        }),
    )
    .await;

    // Its own durable consumer, widened to every member's deliveries.
    kz.denied_call(
        "updating its own consumer",
        "$JS.API.CONSUMER.CREATE.HW_DELIVER.deliver_kz_mfa.hw.deliver.>",
        deliver.create_consumer(pull::Config {
            durable_name: Some("deliver_kz_mfa".into()),
            filter_subject: "hw.deliver.>".into(),
            ..Default::default()
        }),
    )
    .await;

    // The legacy durable API, and a consumer on another member's bucket.
    kz.denied_request(
        "$JS.API.CONSUMER.DURABLE.CREATE.HW_DELIVER.sneaky",
        r#"{"stream_name":"HW_DELIVER","config":{"durable_name":"sneaky","filter_subject":"hw.deliver.uz.mfa.>","ack_policy":"explicit"}}"#,
    )
    .await;
    kz.denied_request(
        "$JS.API.CONSUMER.CREATE.KV_hw_cases_uz_mfa",
        r#"{"stream_name":"KV_hw_cases_uz_mfa","config":{"ack_policy":"none"}}"#,
    )
    .await;

    // Nothing was made or changed.
    let admin = admin(&local).await;
    let stream = admin
        .get_stream(subjects::DELIVER_STREAM)
        .await
        .expect("stream");
    let names: Vec<String> = stream
        .consumer_names()
        .map(|n| n.expect("name"))
        .collect()
        .await;
    let members = local
        .policy
        .members()
        .filter(|m| natsauth::Kind::of(m.role) == natsauth::Kind::Member)
        .count();
    assert_eq!(names.len(), members, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("deliver_")), "{names:?}");
    let mut own = stream
        .get_consumer::<pull::Config>("deliver_kz_mfa")
        .await
        .expect("kz.mfa's consumer");
    assert_eq!(
        own.info().await.expect("info").config.filter_subject,
        "hw.deliver.kz.mfa.>"
    );
}

#[tokio::test]
async fn a_member_cannot_publish_as_another_member_or_as_the_gateway() {
    let local = deployment().await;
    let mut kz = connect_as(&local, "kz.mfa").await;
    for subject in [
        "hw.submit.uz.mfa",
        "hw.deliver.uz.mfa.repatriation.decided",
        "hw.deliver.kz.mfa.repatriation.decided",
        "hw.receipt.uz.mfa",
        "hw.rejected.uz.mfa",
        "hw.audit.accepted.kz.mfa",
    ] {
        kz.denied_publish(subject).await;
    }
    // Through JetStream, the publish is refused and its ack never comes.
    let ack = kz
        .js
        .publish("hw.deliver.uz.mfa.repatriation.decided", "forged".into())
        .await
        .expect("the client sends it");
    kz.denied_call(
        "a JetStream publish to hw.deliver",
        "hw.deliver.uz.mfa.repatriation.decided",
        ack.into_future(),
    )
    .await;

    let admin = admin(&local).await;
    for stream in [
        subjects::SUBMIT_STREAM,
        subjects::DELIVER_STREAM,
        subjects::RECEIPTS_STREAM,
        subjects::REJECTED_STREAM,
        subjects::AUDIT_STREAM,
    ] {
        let mut s = admin.get_stream(stream).await.expect("stream");
        assert_eq!(
            s.info().await.expect("info").state.messages,
            0,
            "{stream} holds nothing"
        );
    }
}

#[tokio::test]
async fn a_member_cannot_read_or_write_another_members_bucket_but_uses_its_own() {
    let local = deployment().await;
    // uz.mfa's bucket lives in uz.mfa's own account: only uz.mfa reaches it.
    let uz = local.member("uz.mfa").await.expect("uz.mfa connects");
    let theirs = uz
        .jetstream()
        .get_key_value("hw_cases_uz_mfa")
        .await
        .expect("provisioned");
    let revision = theirs
        .put("HOL-ANX-000311", "uz.mfa's case".into())
        .await
        .expect("put");

    let mut kz = connect_as(&local, "kz.mfa").await;
    let js = kz.js.clone();
    kz.denied_call(
        "opening uz.mfa's bucket",
        "$JS.API.STREAM.INFO.KV_hw_cases_uz_mfa",
        js.get_key_value("hw_cases_uz_mfa"),
    )
    .await;
    kz.denied_request(
        "$JS.API.DIRECT.GET.KV_hw_cases_uz_mfa.$KV.hw_cases_uz_mfa.HOL-ANX-000311",
        "",
    )
    .await;
    kz.denied_request(
        "$JS.API.STREAM.MSG.GET.KV_hw_cases_uz_mfa",
        r#"{"last_by_subj":"$KV.hw_cases_uz_mfa.HOL-ANX-000311"}"#,
    )
    .await;
    kz.denied_publish("$KV.hw_cases_uz_mfa.HOL-ANX-000311")
        .await;
    let entry = theirs
        .entry("HOL-ANX-000311")
        .await
        .expect("entry")
        .expect("still there");
    assert_eq!(
        (entry.revision, &entry.value[..]),
        (revision, &b"uz.mfa's case"[..])
    );

    // Its own bucket, with every operation that makes no consumer.
    let mine = kz
        .js
        .get_key_value("hw_cases_kz_mfa")
        .await
        .expect("its own bucket");
    let first = mine
        .create("HOL-P5-000123", "located".into())
        .await
        .expect("create");
    mine.create("HOL-P5-000123", "again".into())
        .await
        .expect_err("create refuses an existing key");
    let entry = mine
        .entry("HOL-P5-000123")
        .await
        .expect("entry")
        .expect("some");
    assert_eq!(entry.revision, first);
    let second = mine
        .update("HOL-P5-000123", "verified".into(), first)
        .await
        .expect("update");
    mine.update("HOL-P5-000123", "stale".into(), first)
        .await
        .expect_err("a stale revision is refused");
    assert_eq!(
        mine.get("HOL-P5-000123").await.expect("get").as_deref(),
        Some(&b"verified"[..])
    );
    assert!(mine.put("HOL-P5-000124", "x".into()).await.expect("put") > second);
    mine.delete("HOL-P5-000124").await.expect("delete");
    assert_eq!(mine.get("HOL-P5-000124").await.expect("get"), None);
    kz.no_violations().await;

    // Listing keys through a consumer is refused; through the stream's
    // subjects it works.
    kz.denied_call(
        "listing keys",
        "$JS.API.CONSUMER.CREATE.KV_hw_cases_kz_mfa",
        mine.keys(),
    )
    .await;
    assert_eq!(
        streams::bucket_keys(&mine).await.expect("keys"),
        ["HOL-P5-000123"]
    );
    kz.no_violations().await;
}

#[tokio::test]
async fn a_member_cannot_delete_purge_or_make_streams() {
    let local = deployment().await;
    let mut kz = connect_as(&local, "kz.mfa").await;
    let js = kz.js.clone();
    kz.denied_call(
        "deleting HW_DELIVER",
        "$JS.API.STREAM.DELETE.HW_DELIVER",
        js.delete_stream(subjects::DELIVER_STREAM),
    )
    .await;
    let deliver = kz
        .js
        .get_stream_no_info(subjects::DELIVER_STREAM)
        .await
        .expect("no request");
    kz.denied_call(
        "purging HW_DELIVER",
        "$JS.API.STREAM.PURGE.HW_DELIVER",
        deliver.purge().into_future(),
    )
    .await;
    kz.denied_call(
        "deleting uz.mfa's consumer",
        "$JS.API.CONSUMER.DELETE.HW_DELIVER.deliver_uz_mfa",
        deliver.delete_consumer("deliver_uz_mfa"),
    )
    .await;
    // Its own bucket's stream is no more its to delete or purge.
    kz.denied_call(
        "deleting its own bucket",
        "$JS.API.STREAM.DELETE.KV_hw_cases_kz_mfa",
        js.delete_key_value("hw_cases_kz_mfa"),
    )
    .await;
    kz.denied_request("$JS.API.STREAM.PURGE.KV_hw_cases_kz_mfa", "{}")
        .await;
    kz.denied_request("$JS.API.STREAM.PURGE.HW_AUDIT", "{}")
        .await;
    // Nor its own event log, which its systems resume from: no deleting,
    // purging, reconfiguring or removing one event.
    for subject in [
        "$JS.API.STREAM.DELETE.HW_EVENTS_kz_mfa",
        "$JS.API.STREAM.PURGE.HW_EVENTS_kz_mfa",
        "$JS.API.STREAM.UPDATE.HW_EVENTS_kz_mfa",
    ] {
        kz.denied_request(subject, "{}").await;
    }
    kz.denied_request("$JS.API.STREAM.MSG.DELETE.HW_EVENTS_kz_mfa", r#"{"seq":1}"#)
        .await;
    // And it writes events under its own name only.
    kz.denied_publish("hw.events.uz.mfa.forged").await;
    kz.denied_request("$JS.API.STREAM.MSG.DELETE.HW_AUDIT", r#"{"seq":1}"#)
        .await;
    // A stream of its own that would capture uz.mfa's deliveries.
    kz.denied_call(
        "creating a stream",
        "$JS.API.STREAM.CREATE.KZ_SNOOP",
        js.create_stream(jetstream::stream::Config {
            name: "KZ_SNOOP".into(),
            subjects: vec!["hw.deliver.uz.mfa.>".into()],
            ..Default::default()
        }),
    )
    .await;
    kz.denied_call(
        "updating HW_DELIVER",
        "$JS.API.STREAM.UPDATE.HW_DELIVER",
        js.update_stream(jetstream::stream::Config {
            name: subjects::DELIVER_STREAM.into(),
            subjects: vec![subjects::DELIVER_ALL.into()],
            max_age: Duration::from_secs(1),
            ..Default::default()
        }),
    )
    .await;

    let admin = admin(&local).await;
    let mut deliver = admin
        .get_stream(subjects::DELIVER_STREAM)
        .await
        .expect("HW_DELIVER is still there");
    assert!(
        deliver.info().await.expect("info").config.max_age > Duration::from_secs(3600),
        "HW_DELIVER's limits are unchanged"
    );
    deliver
        .get_consumer::<pull::Config>("deliver_uz_mfa")
        .await
        .expect("uz.mfa's consumer is still there");
    let own = local.member("kz.mfa").await.expect("kz.mfa connects");
    own.jetstream()
        .get_key_value("hw_cases_kz_mfa")
        .await
        .expect("kz.mfa's bucket is still there");
    assert!(
        !streams::exists(&admin, "KZ_SNOOP")
            .await
            .expect("looked up"),
        "no new stream in the streams' account"
    );
    // kz.mfa's own account holds its case bucket and its event log, and
    // nothing else.
    let kz_account = jetstream::with_prefix(
        local.client("admin").await.expect("admin"),
        &natsauth::admin_api_prefix(&MemberId::parse("kz.mfa").expect("id")),
    );
    assert_eq!(
        kz_account.query_account().await.expect("account").streams,
        2,
        "no new stream in kz.mfa's account"
    );
}

#[tokio::test]
async fn connections_without_credentials_or_with_an_unknown_nkey_are_refused() {
    let local = deployment().await;
    let refused = |options: async_nats::ConnectOptions| {
        let url = local.url();
        let options = with_tls(&local, options);
        async move {
            let err = options
                .connect(url)
                .await
                .expect_err("the server refuses the connection");
            assert_eq!(
                err.kind(),
                ConnectErrorKind::AuthorizationViolation,
                "{err}"
            );
        }
    };
    refused(async_nats::ConnectOptions::new()).await;
    // A well-formed user nkey the server does not know.
    refused(async_nats::ConnectOptions::with_nkey(
        SigningKey::generate().seed(),
    ))
    .await;
    // A member's signing key is not its NATS key.
    refused(async_nats::ConnectOptions::with_nkey(
        local.key("kz.mfa").expect("signing key").seed(),
    ))
    .await;
    refused(async_nats::ConnectOptions::with_user_and_password(
        "admin".into(),
        "admin".into(),
    ))
    .await;
    refused(async_nats::ConnectOptions::with_token("homeward".into())).await;
    // The member's own NATS key does connect.
    let mut kz = connect_as(&local, "kz.mfa").await;
    kz.no_violations().await;
    assert!(
        SigningKey::from_seed(&local.nats_seed("kz.mfa").expect("seed"))
            .expect("a user seed")
            .public()
            != local.key("kz.mfa").expect("key").public(),
        "the NATS key and the signing key differ"
    );
}

#[tokio::test]
async fn members_exchange_messages_end_to_end_under_the_generated_config() {
    let local = deployment().await;
    let gateway = local
        .spawn_gateway(local.gateway_config("gw-perm").expect("config"))
        .await
        .expect("gateway");
    let member_on = |watched: &Watched, id: &str| {
        homeward_core::client::MemberClient::new(
            watched.client.clone(),
            MemberId::parse(id).expect("member"),
            local.key(id).expect("key"),
            local.policy.clone(),
        )
    };
    let mut camps_conn = connect_as(&local, "aanes.camps").await;
    let mut uz_conn = connect_as(&local, "uz.mfa").await;
    let mut kz_conn = connect_as(&local, "kz.mfa").await;
    let camps = member_on(&camps_conn, "aanes.camps");
    let uz = member_on(&uz_conn, "uz.mfa");
    let kz = member_on(&kz_conn, "kz.mfa");

    // The provisioned consumers are found, not created (creating is refused).
    let mut receipts = camps.receipts().await.expect("receipts");
    let uz_deliveries = uz.delivery_consumer().await.expect("uz.mfa's consumer");
    let mut kz_deliveries = kz.delivery_consumer().await.expect("kz.mfa's consumer");

    let envelope = decision_for_uzbekistan(&local);
    let ack = camps.submit(&envelope).await.expect("submits");
    assert!(!ack.duplicate);
    let (_, receipt) = receipts
        .wait_for(envelope.id(), WAIT)
        .await
        .expect("receipt");
    assert_eq!(receipt.decision, Decision::Accepted, "{receipt:?}");
    assert_eq!(receipt.recipients, ["uz.mfa"]);

    let mut batch = uz_deliveries
        .fetch()
        .max_messages(1)
        .expires(WAIT)
        .messages()
        .await
        .expect("fetch");
    let delivery = batch.next().await.expect("a delivery").expect("message");
    assert_eq!(
        uz.verify_delivery(&delivery.payload)
            .expect("verifies")
            .id(),
        envelope.id()
    );
    delivery.double_ack().await.expect("acked");
    let info = kz_deliveries
        .info()
        .await
        .expect("kz.mfa's own consumer info");
    assert_eq!(
        info.num_pending + info.num_ack_pending as u64,
        0,
        "kz.mfa got nothing"
    );

    for conn in [&mut camps_conn, &mut uz_conn, &mut kz_conn] {
        conn.no_violations().await;
    }
    gateway.stop().await.expect("stops");
}

#[tokio::test]
async fn the_operator_reads_the_record_and_changes_nothing() {
    let local = deployment().await;
    let gateway = local
        .spawn_gateway(local.gateway_config("gw-perm").expect("config"))
        .await
        .expect("gateway");
    let camps = local.member("aanes.camps").await.expect("member");
    let envelope = decision_for_uzbekistan(&local);
    let mut receipts = camps.receipts().await.expect("receipts");
    camps.submit(&envelope).await.expect("submits");
    receipts
        .wait_for(envelope.id(), WAIT)
        .await
        .expect("receipt");

    let mut op = connect_as(&local, "homeward.operator").await;
    // What `homeward watch` and `homeward audit verify` do: the records by
    // sequence, woken by the live ones; no consumer.
    let mut tail = AuditTail::open(&op.client, ReadFrom::Start)
        .await
        .expect("the audit stream");
    let (sequence, record) = tail
        .next_before(Instant::now() + WAIT)
        .await
        .expect("reads")
        .expect("a record in time");
    assert_eq!(sequence, 1);
    let record = homeward_core::audit::parse_record(&record).expect("an audit record");
    assert_eq!(record.envelope_id.as_deref(), Some(envelope.id()));
    let chain = homeward_core::console::read_audit(&op.client)
        .await
        .expect("the whole chain");
    assert_eq!(chain.len(), 1);
    // Stream and consumer state, for backlogs.
    let hw = client::homeward_jetstream(op.client.clone());
    let mut deliver = hw
        .get_stream(subjects::DELIVER_STREAM)
        .await
        .expect("deliver stream info");
    assert!(deliver.info().await.expect("info").state.messages >= 1);
    deliver
        .consumer_info("deliver_uz_mfa")
        .await
        .expect("a member's backlog");
    op.no_violations().await;

    // No payload of a delivery, a submission or a rejection: not by
    // sequence, not by a consumer, not live.
    for stream in [
        subjects::DELIVER_STREAM,
        subjects::SUBMIT_STREAM,
        subjects::REJECTED_STREAM,
    ] {
        op.denied_request(&format!("$HW.API.STREAM.MSG.GET.{stream}"), r#"{"seq":1}"#)
            .await;
        op.denied_request(&format!("$HW.API.DIRECT.GET.{stream}"), r#"{"seq":1}"#)
            .await;
        op.denied_request(
            &format!("$HW.API.CONSUMER.CREATE.{stream}"),
            &format!(r#"{{"stream_name":"{stream}","config":{{"ack_policy":"none"}}}}"#),
        )
        .await;
    }
    op.denied_subscription("hw.deliver.>").await;
    op.denied_subscription("hw.rejected.>").await;
    // Nothing it may change, and no member's consumer it may take from.
    op.denied_publish("hw.submit.kz.mfa").await;
    op.denied_publish("hw.deliver.uz.mfa.repatriation.decided")
        .await;
    op.denied_subscription("hw.deliver.>").await;
    op.denied_subscription("_INBOX_uz_mfa.>").await;
    op.denied_request(
        "$JS.API.CONSUMER.MSG.NEXT.HW_DELIVER.deliver_uz_mfa",
        r#"{"batch":1,"expires":1000000000}"#,
    )
    .await;
    op.denied_request(
        "$JS.API.CONSUMER.CREATE.HW_DELIVER.deliver_uz_mfa.hw.deliver.>",
        r#"{"stream_name":"HW_DELIVER","config":{"durable_name":"deliver_uz_mfa","filter_subject":"hw.deliver.>","ack_policy":"explicit"}}"#,
    )
    .await;
    op.denied_request("$JS.API.CONSUMER.CREATE.HW_SUBMIT", "{}")
        .await;
    op.denied_request("$JS.API.STREAM.DELETE.HW_AUDIT", "{}")
        .await;
    op.denied_request("$JS.API.STREAM.PURGE.HW_REJECTED", "{}")
        .await;
    op.denied_request("$JS.API.STREAM.MSG.DELETE.HW_AUDIT", r#"{"seq":1}"#)
        .await;
    op.denied_request("$JS.API.STREAM.INFO.KV_hw_cases_uz_mfa", "")
        .await;
    gateway.stop().await.expect("stops");
}

#[tokio::test]
async fn the_gateway_cannot_submit_or_read_members_inboxes_and_buckets() {
    let local = deployment().await;
    let mut gw = connect_as(&local, "homeward.gateway").await;
    gw.denied_publish("hw.submit.kz.mfa").await;
    gw.denied_subscription("_INBOX_kz_mfa.>").await;
    gw.denied_subscription("hw.deliver.>").await;
    gw.denied_request("$JS.API.STREAM.INFO.KV_hw_cases_kz_mfa", "")
        .await;
    gw.denied_request(
        "$JS.API.CONSUMER.MSG.NEXT.HW_DELIVER.deliver_kz_mfa",
        r#"{"batch":1,"expires":1000000000}"#,
    )
    .await;
    gw.denied_request("$JS.API.STREAM.DELETE.HW_AUDIT", "{}")
        .await;
    gw.denied_request("$JS.API.STREAM.PURGE.HW_AUDIT", "{}")
        .await;
}
