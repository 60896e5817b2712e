//! Shared set-up: a local deployment, example messages re-signed by the
//! deployment's keys, and waiting on deliveries with a timeout.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use futures::StreamExt;
use homeward_core::envelope::{Envelope, EnvelopeBuilder};
use homeward_core::subjects;
use homeward_gateway::local::{GatewayTask, Local, LocalOptions};
use serde_json::Value;

/// How long a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(20);

/// A deployment with one gateway running.
pub async fn deployment() -> (Local, GatewayTask) {
    let local = Local::start(LocalOptions::default())
        .await
        .expect("local deployment starts");
    let gateway = local
        .spawn_gateway(local.gateway_config("gw-test").expect("config"))
        .await
        .expect("gateway starts");
    (local, gateway)
}

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

/// The valid example envelopes of a type, as JSON.
pub fn examples(kind: &str) -> Vec<Value> {
    let dir = schemas_dir()
        .join("messages")
        .join(kind)
        .join("examples/v1/valid");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json"))
        .collect()
}

/// Re-signs an example as its own sender with the deployment's key, with a
/// fresh id and the current time.
pub fn resign(local: &Local, example: &Value) -> Envelope {
    let source = example["source"].as_str().expect("source");
    let member = homeward_core::MemberId::from_source(source).expect("member");
    let mut b = EnvelopeBuilder::new(
        example["type"].as_str().expect("type"),
        example["dataschema"].as_str().expect("dataschema"),
        example["data"].clone(),
    );
    if let Some(s) = example["subject"].as_str() {
        b = b.subject(s);
    }
    b.sign(&member, &local.key(member.as_str()).expect("key"))
        .expect("signs")
}

/// Reads everything currently in a stream under `filter`, with a bounded wait.
pub async fn read_all(
    js: &jetstream::Context,
    stream: &str,
    filter: &str,
) -> Vec<jetstream::Message> {
    let stream = js.get_stream(stream).await.expect("stream");
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subject: filter.to_owned(),
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .expect("consumer");
    let mut out = Vec::new();
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(1000)
            .expires(Duration::from_millis(300))
            .messages()
            .await
            .expect("fetch");
        let mut got = 0;
        while let Some(Ok(m)) = batch.next().await {
            got += 1;
            out.push(m);
        }
        if got == 0 {
            return out;
        }
    }
}

/// The members a message with envelope id `id` was delivered to.
pub async fn delivered_to(js: &jetstream::Context, id: &str) -> Vec<String> {
    let mut members: Vec<String> = read_all(js, subjects::DELIVER_STREAM, subjects::DELIVER_ALL)
        .await
        .into_iter()
        .filter(|m| {
            m.headers
                .as_ref()
                .and_then(|h| h.get(subjects::headers::MSG_ID))
                .is_some_and(|v| v.as_str() == id)
        })
        .map(|m| {
            let rest = m
                .subject
                .as_str()
                .strip_prefix("hw.deliver.")
                .expect("deliver subject");
            rest.splitn(3, '.').take(2).collect::<Vec<_>>().join(".")
        })
        .collect();
    members.sort();
    members
}
