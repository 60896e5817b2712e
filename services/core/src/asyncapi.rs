//! The AsyncAPI 3.0 document of the broker, generated from the policy and
//! the schema registry.
//!
//! An integrator in another ministry should be able to connect from the
//! published contract alone. The document says, in the form AsyncAPI tools
//! read, which subjects exist (one channel per subject family, with its
//! parameters), what each member role sends and receives (one operation per
//! role and direction, derived from the policy's routes), every message type
//! and version, and how to reach and authenticate to the server. It is
//! generated rather than written so that it cannot drift from the policy:
//! `homeward asyncapi` writes it, and the contract test
//! `services/core/tests/contract/asyncapi.rs` fails when the committed
//! `docs/asyncapi.json` differs from what the demo policy gives.
//!
//! # What the document does not replace
//! `schemas/` is normative. Each message's payload is the CloudEvents
//! envelope, whose `data` refers to the data schema by its `$id`. Those are
//! JSON Schema draft 2020-12, labelled with the `schemaFormat`
//! `application/schema+json;version=draft-2020-12`. AsyncAPI 3.0 lets a
//! document name any schema format, but tools need only understand the
//! AsyncAPI schema (a superset of draft 07), and many AsyncAPI tools do not
//! read draft 2020-12 payload schemas at all or resolve the `$id`s offline.
//! Where a tool and `schemas/` disagree, `schemas/` is right.
//!
//! # How security is represented
//! AsyncAPI 3.0 has no security scheme for NATS nkeys. The connection is
//! TLS with server verification only (no client certificate, so not
//! `X509`), which is transport rather than a security scheme and is
//! described on the server. Authentication is NATS nkey challenge-response:
//! the server's `INFO` carries a nonce, and the client signs it with its
//! Ed25519 user seed and sends the public key and signature in `CONNECT`.
//! The closest scheme type is `asymmetricEncryption` (a key pair whose
//! private half never leaves the client); its description says what it is
//! exactly.
//!
//! The document holds no keys, and is the same whichever keyrings the
//! policy was loaded with. Map and list orders are fixed (members, routes
//! and types in their sorted order, roles in the order of [`Role`]), so the
//! same policy and schemas always give the same bytes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::natsauth::HW_API;
use crate::policy::{Policy, Role, SenderRule};
use crate::receipt::RECEIPT_TYPE;
use crate::rejection::RejectionCode;
use crate::schema::{ENVELOPE_ID, SchemaRegistry, message_schema_id};
use crate::subjects::{self, headers};

/// The AsyncAPI version of the document.
pub const ASYNCAPI_VERSION: &str = "3.0.0";
/// The schema format of every payload: our schemas are draft 2020-12.
pub const SCHEMA_FORMAT: &str = "application/schema+json;version=draft-2020-12";
/// Where the generated document of the demo policy is committed, relative
/// to the repository.
pub const COMMITTED_PATH: &str = "docs/asyncapi.json";
/// The command that regenerates the committed document.
pub const REGENERATE: &str = "homeward asyncapi --out docs/asyncapi.json";

/// The key of the message a rejected submission is copied as.
pub const REJECTED_MESSAGE: &str = "rejected.submission";

/// The channels, by key, with the subject family each one addresses.
pub const SUBMIT_CHANNEL: &str = "submit";
pub const DELIVER_CHANNEL: &str = "deliver";
pub const RECEIPT_CHANNEL: &str = "receipt";
pub const REJECTED_CHANNEL: &str = "rejected";

/// The key of a message type's version in `components.messages`.
pub fn message_key(kind: &str, version: u32) -> String {
    format!("{kind}.v{version}")
}

/// The roles integrators play: every role but the gateway's and the
/// operator console's, which are Homeward's own.
fn is_member_role(role: Role) -> bool {
    !matches!(role, Role::Gateway | Role::Operator)
}

/// What one role sends and receives, from the routes.
struct RoleTraffic {
    members: Vec<String>,
    sends: BTreeSet<String>,
    receives: BTreeSet<String>,
}

fn traffic(policy: &Policy) -> BTreeMap<Role, RoleTraffic> {
    let mut out: BTreeMap<Role, RoleTraffic> = BTreeMap::new();
    for member in policy.members().filter(|m| is_member_role(m.role)) {
        let entry = out.entry(member.role).or_insert_with(|| RoleTraffic {
            members: Vec::new(),
            sends: BTreeSet::new(),
            receives: BTreeSet::new(),
        });
        entry.members.push(member.id.to_string());
        entry.receives.extend(policy.types_received_by(&member.id));
        for route in policy.routes() {
            let sends = route.senders.iter().any(|rule| match rule {
                SenderRule::Role(r) => *r == member.role,
                SenderRule::Member(m) => *m == member.id,
            });
            if sends {
                entry.sends.insert(route.message_type.clone());
            }
        }
    }
    out
}

/// The AsyncAPI 3.0 document for `policy` and `schemas`, as JSON.
///
/// Payload schemas are JSON Schema draft 2020-12 (`schemaFormat`
/// [`SCHEMA_FORMAT`]), which AsyncAPI tooling may not fully support;
/// `schemas/` stays normative.
pub fn document(policy: &Policy, schemas: &SchemaRegistry) -> Value {
    let roles = traffic(policy);
    let versions = schemas.message_types();
    let versions_of = |kinds: &BTreeSet<String>| -> Vec<String> {
        kinds
            .iter()
            .flat_map(|kind| {
                versions
                    .get(kind)
                    .into_iter()
                    .flatten()
                    .map(move |v| message_key(kind, *v))
            })
            .collect()
    };
    let sent: BTreeSet<String> = roles.values().flat_map(|r| r.sends.clone()).collect();
    let delivered: BTreeSet<String> = roles.values().flat_map(|r| r.receives.clone()).collect();
    let receipt: BTreeSet<String> = [RECEIPT_TYPE.to_owned()].into();
    let members: Vec<String> = roles.values().flat_map(|r| r.members.clone()).collect();
    let mut sorted_members = members.clone();
    sorted_members.sort();

    let channel_messages = |keys: &[String]| -> Value {
        let mut map = Map::new();
        for key in keys {
            map.insert(
                key.clone(),
                json!({ "$ref": format!("#/components/messages/{key}") }),
            );
        }
        Value::Object(map)
    };
    let member_parameter = json!({ "$ref": "#/components/parameters/member" });

    let mut channels = Map::new();
    channels.insert(
        SUBMIT_CHANNEL.into(),
        json!({
            "address": "hw.submit.{member}",
            "title": "Submissions",
            "description": format!(
                "A member publishes each signed envelope to its own submit subject, with JetStream (the \
                 `{}` work queue answers with a publish ack) and with `Nats-Msg-Id` set to the \
                 envelope's `id`. The envelope's `source` must be `urn:homeward:<member>` of the same \
                 member. The gateway's decision comes back on the member's receipt subject.",
                subjects::SUBMIT_STREAM
            ),
            "parameters": { "member": member_parameter },
            "messages": channel_messages(&versions_of(&sent)),
        }),
    );
    channels.insert(
        DELIVER_CHANNEL.into(),
        json!({
            "address": "hw.deliver.{member}.{type}",
            "title": "Deliveries",
            "description": format!(
                "The gateway writes an accepted submission once per recipient, byte for byte as it \
                 was submitted, to `{}`. A member reads its deliveries by pulling its durable \
                 consumer `deliver_<token>` (its member id with `.` as `_`, e.g. `deliver_kz_mfa`) \
                 through the JetStream API prefix `{HW_API}`, verifies the signature, route, schema \
                 and age itself, and acks. Each delivery carries the headers `{}` (the sender), `{}`, \
                 `{}`, `{}` and `{}` where known.",
                subjects::DELIVER_STREAM,
                headers::SENDER,
                headers::SUBMIT_SEQ,
                headers::TYPE,
                headers::CASE,
                headers::MSG_ID
            ),
            "parameters": {
                "member": member_parameter,
                "type": { "$ref": "#/components/parameters/type" },
            },
            "messages": channel_messages(&versions_of(&delivered)),
        }),
    );
    channels.insert(
        RECEIPT_CHANNEL.into(),
        json!({
            "address": "hw.receipt.{member}",
            "title": "Receipts",
            "description": format!(
                "The gateway's signed receipt of every submission, accepted or rejected, to its \
                 sender, in `{}`. A member pulls its durable consumer `receipt_<token>` through \
                 `{HW_API}` and verifies that the gateway member signed it.",
                subjects::RECEIPTS_STREAM
            ),
            "parameters": { "member": member_parameter },
            "messages": channel_messages(&versions_of(&receipt)),
        }),
    );
    channels.insert(
        REJECTED_CHANNEL.into(),
        json!({
            "address": "hw.rejected.{member}",
            "title": "Rejected submissions",
            "description": format!(
                "A copy of each rejected submission's original bytes, with the reasons, in `{}`, so \
                 a sender can see what it sent wrong. A member pulls its durable consumer \
                 `rejected_<token>` through `{HW_API}`. Submissions whose subject named no valid \
                 member are filed under `{}`, which no member reads.",
                subjects::REJECTED_STREAM,
                subjects::REJECTED_UNKNOWN
            ),
            "parameters": { "member": member_parameter },
            "messages": channel_messages(&[REJECTED_MESSAGE.to_owned()]),
        }),
    );

    let operation_messages = |channel: &str, keys: &[String]| -> Value {
        keys.iter()
            .map(|k| json!({ "$ref": format!("#/channels/{channel}/messages/{k}") }))
            .collect()
    };
    let mut operations = Map::new();
    for (role, t) in &roles {
        let who = format!(
            "Members of role `{role}` in this policy: {}.",
            t.members
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !t.sends.is_empty() {
            operations.insert(
                format!("{role}.submit"),
                json!({
                    "action": "send",
                    "channel": { "$ref": format!("#/channels/{SUBMIT_CHANNEL}") },
                    "title": format!("A {role} member submits"),
                    "summary": format!("The message types the routes let a {role} member send."),
                    "description": format!(
                        "{who} Each publishes only to its own submit subject. A route that names a \
                         single member as sender lets only that member send the type."
                    ),
                    "messages": operation_messages(SUBMIT_CHANNEL, &versions_of(&t.sends)),
                }),
            );
        }
        if !t.receives.is_empty() {
            operations.insert(
                format!("{role}.deliveries"),
                json!({
                    "action": "receive",
                    "channel": { "$ref": format!("#/channels/{DELIVER_CHANNEL}") },
                    "title": format!("A {role} member receives its deliveries"),
                    "summary": format!(
                        "The message types some route can deliver to a {role} member."
                    ),
                    "description": format!(
                        "{who} Which member of the role receives a given message depends on the \
                         route's recipient templates (e.g. the claimed nationality in the data)."
                    ),
                    "messages": operation_messages(DELIVER_CHANNEL, &versions_of(&t.receives)),
                }),
            );
        }
        if !t.sends.is_empty() {
            operations.insert(
                format!("{role}.receipts"),
                json!({
                    "action": "receive",
                    "channel": { "$ref": format!("#/channels/{RECEIPT_CHANNEL}") },
                    "title": format!("A {role} member reads the receipts of its submissions"),
                    "description": who,
                    "messages": operation_messages(RECEIPT_CHANNEL, &versions_of(&receipt)),
                }),
            );
            operations.insert(
                format!("{role}.rejections"),
                json!({
                    "action": "receive",
                    "channel": { "$ref": format!("#/channels/{REJECTED_CHANNEL}") },
                    "title": format!("A {role} member reads its rejected submissions"),
                    "description": who,
                    "messages": operation_messages(
                        REJECTED_CHANNEL,
                        &[REJECTED_MESSAGE.to_owned()]
                    ),
                }),
            );
        }
    }

    let mut messages = Map::new();
    for (kind, kind_versions) in &versions {
        for version in kind_versions {
            messages.insert(
                message_key(kind, *version),
                type_message(policy, schemas, kind, *version),
            );
        }
    }
    messages.insert(REJECTED_MESSAGE.into(), rejected_message());

    json!({
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Homeward",
            "version": env!("CARGO_PKG_VERSION"),
            "description": description(),
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {
            "homeward": {
                "host": "{host}:{port}",
                "protocol": "nats",
                "title": "The Homeward NATS server",
                "description": format!(
                    "Connect to `tls://{{host}}:{{port}}`: TLS only, verifying the server's \
                     certificate against the CA the operator of the site gives you (no client \
                     certificate). Authenticate with your member's NATS user nkey. Each member has \
                     a NATS account of its own, which imports only its own subjects from the \
                     streams' account; use the JetStream API prefix `{HW_API}` for the streams, and \
                     the inbox prefix `_INBOX_<token>` (e.g. `_INBOX_kz_mfa`) for replies, the only \
                     one your user may subscribe to."
                ),
                "variables": {
                    "host": {
                        "description": "The NATS server's host name, as its certificate names it.",
                        "default": "localhost",
                    },
                    "port": {
                        "description": "The NATS client port.",
                        "default": "4222",
                    },
                },
                "security": [{ "$ref": "#/components/securitySchemes/natsNkey" }],
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "parameters": {
                "member": {
                    "description": "A member id, `<party>.<unit>`: always two tokens, so a \
                                    message type's own dots never widen the subject.",
                    "enum": sorted_members,
                    "examples": sorted_members.first().cloned().into_iter().collect::<Vec<_>>(),
                },
                "type": {
                    "description": "A message type, e.g. `repatriation.requested`: it may \
                                    contain dots, so match the rest of the subject after the \
                                    member id.",
                    "enum": delivered.iter().cloned().collect::<Vec<_>>(),
                    "examples": delivered.first().cloned().into_iter().collect::<Vec<_>>(),
                },
            },
            "securitySchemes": {
                "natsNkey": {
                    "type": "asymmetricEncryption",
                    "description": "NATS nkey challenge-response authentication. AsyncAPI 3.0 \
                                    has no type for it, and this is the closest: the server's \
                                    INFO carries a nonce, the client signs it with its Ed25519 \
                                    user seed (`SU…`) and sends its public user key (`U…`) and \
                                    the signature in CONNECT. The seed never leaves the client. \
                                    Every member, the gateway and the operator console have one \
                                    NATS user each, listed in the server's configuration that \
                                    `homeward policy nats-config` generates from the policy. This \
                                    key only opens the connection: every message is also signed \
                                    with the member's signing key (the envelope's `sigkey` and \
                                    `sig`), which the policy lists.",
                },
            },
        },
    })
}

fn description() -> String {
    format!(
        "Signed, schema-validated coordination messages for bringing citizens home, carried on \
         NATS JetStream. Every message is a CloudEvents 1.0 event in JSON structured mode, signed \
         by its sender; the gateway checks each submission against the policy and `schemas/` and \
         routes it to its recipients.\n\n\
         This document is generated from the policy and `schemas/` by `homeward asyncapi`; do not \
         edit it. The JSON Schemas in `schemas/` are normative. Payloads are JSON Schema draft \
         2020-12 (`schemaFormat` `{SCHEMA_FORMAT}`), which AsyncAPI tooling may not fully \
         support: where a tool and `schemas/` disagree, `schemas/` is right. Each payload refers \
         to the envelope and data schemas by their `$id`; nothing is served at those addresses, so \
         resolve them from the files in `schemas/` (each message names its file in \
         `x-homeward-schema-file`).\n\n\
         Security: TLS with server verification (no client certificate), and NATS nkey \
         challenge-response authentication, which AsyncAPI 3.0 has no scheme type for (see \
         `natsNkey`). The NATS key only opens the connection; every message's own signature is \
         what a recipient verifies."
    )
}

/// One message type in one version: the envelope, with `data` by `$id`.
fn type_message(policy: &Policy, schemas: &SchemaRegistry, kind: &str, version: u32) -> Value {
    let id = message_schema_id(kind, version);
    let doc = schemas.document(&id);
    let text = |field: &str| {
        doc.and_then(|d| d.value.get(field))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let summary = policy
        .route(kind)
        .map(|r| r.description.clone())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| text("title"));
    json!({
        "name": kind,
        "title": format!("{kind} v{version}"),
        "summary": summary,
        "description": text("description"),
        "contentType": "application/cloudevents+json",
        "payload": {
            "schemaFormat": SCHEMA_FORMAT,
            "schema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "allOf": [{ "$ref": ENVELOPE_ID }],
                "properties": {
                    "type": { "const": kind },
                    "dataschema": { "const": id },
                    "data": { "$ref": id },
                },
            },
        },
        "x-homeward-schema-file": doc.map(|d| format!("schemas/{}", d.path)),
    })
}

/// A rejected submission: the original bytes, the reasons in headers.
fn rejected_message() -> Value {
    let codes: Vec<&str> = RejectionCode::ALL.iter().map(|c| c.as_str()).collect();
    let code_lines: Vec<String> = RejectionCode::ALL
        .iter()
        .map(|c| {
            let sentence = c.sentence();
            format!(
                "`{}`: {}",
                c.as_str(),
                sentence.strip_suffix('.').unwrap_or(sentence)
            )
        })
        .collect();
    let string = |description: &str| json!({ "type": "string", "description": description });
    json!({
        "name": REJECTED_MESSAGE,
        "title": "A rejected submission",
        "summary": "The submission's original bytes, with the reasons the gateway rejected it.",
        "description": format!(
            "The payload is exactly what was submitted, which may not be JSON at all; the receipt \
             on the receipt subject says the same reasons, signed. Rejection codes: {}.",
            code_lines.join("; ")
        ),
        "contentType": "application/octet-stream",
        "headers": {
            "type": "object",
            "properties": {
                headers::SENDER: string("The submitting member."),
                headers::SUBMIT_SEQ: string("The submission's sequence in HW_SUBMIT."),
                headers::TYPE: string("The message type, where it could be read."),
                headers::CASE: string("The case reference, where it could be read."),
                headers::MSG_ID: string("The envelope id, where it could be read."),
                headers::DECISION: { "type": "string", "const": "rejected" },
                headers::CODES: {
                    "type": "string",
                    "description": format!(
                        "The rejection codes, comma-separated, each one of: {}.",
                        codes.join(", ")
                    ),
                    "examples": ["schema_violation", "unknown_key,bad_signature"],
                },
                headers::REASONS: string(
                    "The reasons as a JSON array of {code, message, instancePath?}, as in the \
                     receipt."
                ),
            },
        },
        "payload": {
            "description": "The submission's original bytes, unchanged.",
        },
    })
}

/// The document as it is committed: pretty JSON with a final newline.
pub fn to_text(document: &Value) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(document)?;
    text.push('\n');
    Ok(text)
}
