//! The AsyncAPI document is generated, complete and up to date.
//!
//! `docs/asyncapi.json` is what `homeward asyncapi` writes for the demo
//! policy. The first test regenerates it and fails when the committed file
//! differs; `HOMEWARD_BLESS=1 cargo test -p homeward-core --test contract
//! asyncapi` rewrites it. The others check that every published message type
//! and version is a message, that every channel's parameters are defined,
//! and that every reference inside the document resolves.

use std::collections::BTreeSet;
use std::path::PathBuf;

use homeward_core::asyncapi::{self, COMMITTED_PATH, REGENERATE};
use homeward_core::schema::message_schema_id;
use homeward_core::{Policy, SchemaRegistry};
use serde_json::Value;

fn schemas() -> SchemaRegistry {
    SchemaRegistry::load_dir(&crate::schemas_dir()).expect("schemas")
}

fn demo_path() -> PathBuf {
    crate::repo_root().join("deploy/policy/demo.toml")
}

/// The demo policy without its keyrings: the document holds no keys.
fn demo_document() -> Value {
    let schemas = schemas();
    let policy =
        Policy::load_replacing_keyrings(&demo_path(), &[], &schemas).expect("demo policy loads");
    asyncapi::document(&policy, &schemas)
}

/// Follows a local `$ref` (`#/a/b`) inside the document.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

#[test]
fn the_committed_asyncapi_document_is_up_to_date() {
    let text = asyncapi::to_text(&demo_document()).expect("serializes");
    let path = crate::repo_root().join(COMMITTED_PATH);
    if std::env::var_os("HOMEWARD_BLESS").is_some() {
        std::fs::write(&path, &text).expect("document written");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "{COMMITTED_PATH} is not what the demo policy and schemas/ give. Regenerate it from the \
         repository root with `{REGENERATE}` (`cargo run -p homeward-cli -- asyncapi --out \
         {COMMITTED_PATH}`), or HOMEWARD_BLESS=1 cargo test -p homeward-core --test contract asyncapi"
    );
}

#[test]
fn the_asyncapi_document_holds_no_keys_and_ignores_them() {
    let path = demo_path();
    let members = Policy::member_ids(&path).expect("members");
    let dir = tempfile::tempdir().expect("tempdir");
    homeward_testkit::devkeys::generate(dir.path(), &members, false).expect("keys");
    let schemas = schemas();
    let policy =
        Policy::load_replacing_keyrings(&path, &[dir.path().join("keyring.toml")], &schemas)
            .expect("demo policy loads with keys");
    let with_keys = asyncapi::document(&policy, &schemas);
    assert_eq!(with_keys, demo_document());
    let text = with_keys.to_string();
    for member in policy.members() {
        for key in &member.keys {
            assert!(
                !text.contains(key.public.as_str()),
                "the document names {}'s key",
                member.id
            );
        }
    }
}

#[test]
fn every_message_type_in_schemas_is_a_message() {
    let doc = demo_document();
    let messages = doc["components"]["messages"]
        .as_object()
        .expect("components.messages");
    for (kind, versions) in schemas().message_types() {
        for version in versions {
            let key = asyncapi::message_key(&kind, version);
            let message = messages
                .get(&key)
                .unwrap_or_else(|| panic!("{kind} v{version} is not a message ({key})"));
            let id = message_schema_id(&kind, version);
            let schema = &message["payload"]["schema"];
            assert_eq!(message["payload"]["schemaFormat"], asyncapi::SCHEMA_FORMAT);
            assert_eq!(schema["properties"]["type"]["const"], kind.as_str());
            assert_eq!(schema["properties"]["dataschema"]["const"], id.as_str());
            assert_eq!(schema["properties"]["data"]["$ref"], id.as_str());
            let file = message["x-homeward-schema-file"]
                .as_str()
                .unwrap_or_else(|| panic!("{key} names no schema file"));
            assert!(
                crate::repo_root().join(file).is_file(),
                "{key}: {file} does not exist"
            );
        }
    }
}

#[test]
fn every_channel_parameter_is_defined_and_every_reference_resolves() {
    let doc = demo_document();
    let channels = doc["channels"].as_object().expect("channels");
    for name in [
        asyncapi::SUBMIT_CHANNEL,
        asyncapi::DELIVER_CHANNEL,
        asyncapi::RECEIPT_CHANNEL,
        asyncapi::REJECTED_CHANNEL,
    ] {
        assert!(channels.contains_key(name), "no channel {name}");
    }
    for (name, channel) in channels {
        let address = channel["address"].as_str().expect("address");
        let named: BTreeSet<&str> = address
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(p, _)| p))
            .collect();
        let parameters = channel["parameters"].as_object().expect("parameters");
        let defined: BTreeSet<&str> = parameters.keys().map(String::as_str).collect();
        assert_eq!(named, defined, "channel {name} ({address})");
        for (parameter, value) in parameters {
            let target = value["$ref"]
                .as_str()
                .and_then(|r| resolve(&doc, r))
                .unwrap_or(value);
            assert!(
                target["enum"].as_array().is_some_and(|e| !e.is_empty()),
                "channel {name}: parameter {parameter} lists no values"
            );
        }
        assert!(
            channel["messages"]
                .as_object()
                .is_some_and(|m| !m.is_empty()),
            "channel {name} carries no message"
        );
    }
    // Every local reference resolves, and every operation's messages are
    // its channel's.
    fn walk<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) if r.starts_with('#') => out.push(r),
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut references = Vec::new();
    walk(&doc, &mut references);
    for reference in references {
        assert!(resolve(&doc, reference).is_some(), "{reference} resolves");
    }
    for (name, operation) in doc["operations"].as_object().expect("operations") {
        let channel = operation["channel"]["$ref"].as_str().expect("channel");
        for message in operation["messages"].as_array().expect("messages") {
            let message = message["$ref"].as_str().expect("$ref");
            assert!(
                message.starts_with(&format!("{channel}/messages/")),
                "operation {name}: {message} is not a message of {channel}"
            );
        }
    }
}

#[test]
fn each_role_sends_and_receives_what_its_routes_say() {
    let doc = demo_document();
    let messages = |operation: &str| -> BTreeSet<String> {
        doc["operations"][operation]["messages"]
            .as_array()
            .unwrap_or_else(|| panic!("no operation {operation}"))
            .iter()
            .filter_map(|m| m["$ref"].as_str()?.rsplit('/').next().map(str::to_owned))
            .collect()
    };
    assert_eq!(doc["operations"]["mfa.submit"]["action"], "send");
    assert!(messages("mfa.submit").contains("repatriation.requested.v1"));
    assert!(!messages("mfa.submit").contains("repatriation.decided.v1"));
    assert!(messages("camp-authority.deliveries").contains("repatriation.requested.v1"));
    assert!(messages("mfa.deliveries").contains("camp.resident.located.v1"));
    assert!(messages("mfa.deliveries").contains("camp.resident.located.v2"));
    assert_eq!(
        messages("security.receipts"),
        BTreeSet::from([
            "gateway.receipt.v1".to_owned(),
            "gateway.receipt.v2".to_owned(),
            "gateway.receipt.v3".to_owned()
        ])
    );
    assert!(
        doc["operations"].get("gateway.submit").is_none()
            && doc["operations"].get("operator.deliveries").is_none(),
        "the gateway and the operator console are Homeward's own, not integrators' roles"
    );
}
