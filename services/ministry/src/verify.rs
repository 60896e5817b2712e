//! What a recipient checks of every delivery itself, before its role sees
//! it.
//!
//! The gateway decides who receives a message, and a recipient could take
//! its word for it. It does not: who may send a type, and to whom a message
//! goes, follow from signed fields (the sender, the type, the data) and the
//! policy, so each service checks them again, with the same functions the
//! gateway uses ([`Policy::may_send`], [`Policy::recipients`],
//! [`SchemaRegistry::validate_data`]). A compromised gateway that
//! misroutes, or delivers what it should have rejected, is then refused by
//! the recipient, which answers the sender with a signed `case.refused`
//! naming the check, terminates the delivery and counts it
//! ([`crate::Ministry::alarms`]). The signature and the key's window were
//! checked before, by [`homeward_core::client::MemberClient`].
//!
//! The age is judged against the server's clock: when the server stored
//! the delivery in `HW_DELIVER`, which neither the gateway nor the sender
//! sets, and which a redelivery keeps. A submission may wait in `HW_SUBMIT`
//! up to [`SUBMIT_MAX_AGE`] before a gateway takes it, and the gateway
//! accepts an envelope whose time is within its window of when the
//! submission was stored; so an envelope honestly delivered is never older
//! than the delivery minus [`SUBMIT_MAX_AGE`] and the window, nor newer
//! than the delivery plus the window. A recipient that is down for a while
//! loses nothing: the delivery's stored time does not move.
//!
//! Rule codes, of refused deliveries: `envelope_stale`,
//! `envelope_from_the_future`, `schema_unknown`, `schema_invalid`,
//! `sender_not_permitted`, `not_routed_here`.

use std::time::Duration;

use homeward_core::schema::DataCheck;
use homeward_core::streams::SUBMIT_MAX_AGE;
use homeward_core::{Envelope, MemberId, Policy, SchemaRegistry};
use time::OffsetDateTime;

use crate::runtime::Refusal;

/// How far an envelope's time may be from when the gateway saw it: the
/// gateway's default window.
pub const MAX_SKEW: Duration = Duration::from_secs(600);

/// The oldest and newest envelope a recipient takes, around the time the
/// server stored the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgeLimits {
    /// How much older than the delivery an envelope may be.
    pub max_age: Duration,
    /// How much newer than the delivery an envelope may be.
    pub max_skew: Duration,
}

impl Default for AgeLimits {
    /// As old as a submission can wait for a gateway, plus the gateway's
    /// window; as new as the gateway's window.
    fn default() -> Self {
        Self {
            max_age: SUBMIT_MAX_AGE + MAX_SKEW,
            max_skew: MAX_SKEW,
        }
    }
}

/// What a recipient checks of a delivery: age, schema, permission, route,
/// in the gateway's order. The refusal's reason names attributes, paths and
/// counts, never a value from the message.
pub fn check_delivery(
    policy: &Policy,
    schemas: &SchemaRegistry,
    recipient: &MemberId,
    message: &Envelope,
    stored_at: OffsetDateTime,
    limits: AgeLimits,
) -> Result<(), Refusal> {
    let time = message.time();
    if time < stored_at - limits.max_age {
        return Err(Refusal::new(
            "envelope_stale",
            format!(
                "time is {}s before the delivery was stored; at most {}s is taken",
                (stored_at - time).whole_seconds(),
                limits.max_age.as_secs()
            ),
        ));
    }
    if time > stored_at + limits.max_skew {
        return Err(Refusal::new(
            "envelope_from_the_future",
            format!(
                "time is {}s after the delivery was stored; at most {}s is taken",
                (time - stored_at).whole_seconds(),
                limits.max_skew.as_secs()
            ),
        ));
    }
    match schemas.validate_data(message.message_type(), message.dataschema(), message.data()) {
        Ok(()) => {}
        Err(DataCheck::UnknownSchema(_)) => {
            return Err(Refusal::new(
                "schema_unknown",
                "dataschema is not a schema of this type that this service knows",
            ));
        }
        Err(DataCheck::Violations(violations)) => {
            let paths: Vec<&str> = violations
                .iter()
                .take(5)
                .map(|v| v.instance_path.as_str())
                .collect();
            return Err(Refusal::new(
                "schema_invalid",
                format!(
                    "data breaks its schema in {} place(s), at {paths:?}",
                    violations.len()
                ),
            ));
        }
    }
    let sender = message.sender();
    let route = policy
        .route(message.message_type())
        .filter(|_| policy.may_send(sender, message.message_type()));
    let Some(route) = route else {
        return Err(Refusal::new(
            "sender_not_permitted",
            format!(
                "the policy does not let {sender} send {}",
                message.message_type()
            ),
        ));
    };
    match policy.recipients(route, sender, message.data()) {
        Ok(recipients) if recipients.contains(recipient) => Ok(()),
        _ => Err(Refusal::new(
            "not_routed_here",
            format!("the route of this message does not name {recipient}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use homeward_core::envelope::EnvelopeBuilder;
    use homeward_core::message_types as types;
    use homeward_core::schema::message_schema_id;
    use serde_json::{Value, json};

    use super::*;
    use crate::test_support::{CASE, MOTHER, NOW, member, refused};

    /// The demo policy, with a key for every member.
    static POLICY: LazyLock<Policy> = LazyLock::new(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/policy");
        let text = std::fs::read_to_string(dir.join("demo.toml")).expect("the demo policy");
        let mut keyring = String::new();
        for id in Policy::member_ids(&dir.join("demo.toml")).expect("members") {
            keyring.push_str(&format!(
                "[[key]]\nmember = \"{id}\"\npublic = \"{}\"\nvalid_from = \"2019-01-01T00:00:00Z\"\n",
                homeward_core::SigningKey::generate().public()
            ));
        }
        let text = text.replace("keyrings = [\"../../dev-keys/keyring.toml\"]", "");
        Policy::from_toml(
            "demo.toml",
            &text,
            &[("keyring".into(), keyring)],
            schemas(),
        )
        .expect("the demo policy loads")
    });

    fn schemas() -> &'static SchemaRegistry {
        static SCHEMAS: LazyLock<SchemaRegistry> =
            LazyLock::new(|| SchemaRegistry::embedded().expect("schemas"));
        &SCHEMAS
    }

    /// A verification result for [`CASE`] from `sender`, signed at `time`.
    fn verification(sender: &str, time: OffsetDateTime, data: Value) -> Envelope {
        EnvelopeBuilder::new(
            types::IDENTITY_VERIFICATION_COMPLETED,
            &message_schema_id(types::IDENTITY_VERIFICATION_COMPLETED, 1),
            data,
        )
        .time(time)
        .subject(CASE)
        .sign(&member(sender), &homeward_core::SigningKey::generate())
        .expect("signs")
    }

    fn confirmed() -> Value {
        json!({"caseRef": CASE, "completedOn": "2019-05-07",
               "results": [{"personRef": MOTHER, "outcome": "confirmed", "methods": ["civil-registry"]}]})
    }

    /// `message` as delivered to `recipient` at [`NOW`].
    fn check(recipient: &str, message: &Envelope) -> Result<(), Refusal> {
        check_delivery(
            &POLICY,
            schemas(),
            &member(recipient),
            message,
            NOW,
            AgeLimits::default(),
        )
    }

    #[test]
    fn a_delivery_the_route_names_passes() {
        check("kz.mfa", &verification("kz.security", NOW, confirmed())).expect("passes");
        // A message whose recipients the data names.
        let located = crate::test_support::message(
            "aanes.camps",
            types::CAMP_RESIDENT_LOCATED,
            crate::test_support::located("KZ"),
        );
        check("kz.mfa", &located).expect("to the nationality's ministry");
        check("kz.security", &located).expect("and its security service");
        refused(check("uz.mfa", &located), "not_routed_here");
        // The oldest and newest envelopes taken.
        let limits = AgeLimits::default();
        let oldest = NOW - limits.max_age;
        check("kz.mfa", &verification("kz.security", oldest, confirmed())).expect("oldest");
        let newest = NOW + limits.max_skew;
        check("kz.mfa", &verification("kz.security", newest, confirmed())).expect("newest");
    }

    #[test]
    fn envelope_stale() {
        let old = NOW - AgeLimits::default().max_age - time::Duration::seconds(1);
        let r = refused(
            check("kz.mfa", &verification("kz.security", old, confirmed())),
            "envelope_stale",
        );
        assert!(r.reason.contains("before the delivery"), "{}", r.reason);
    }

    #[test]
    fn envelope_from_the_future() {
        let ahead = NOW + MAX_SKEW + time::Duration::seconds(1);
        refused(
            check("kz.mfa", &verification("kz.security", ahead, confirmed())),
            "envelope_from_the_future",
        );
    }

    #[test]
    fn schema_unknown() {
        let message = EnvelopeBuilder::new(
            types::IDENTITY_VERIFICATION_COMPLETED,
            &message_schema_id(types::IDENTITY_VERIFICATION_COMPLETED, 99),
            confirmed(),
        )
        .time(NOW)
        .subject(CASE)
        .sign(
            &member("kz.security"),
            &homeward_core::SigningKey::generate(),
        )
        .expect("signs");
        refused(check("kz.mfa", &message), "schema_unknown");
    }

    #[test]
    fn schema_invalid() {
        let mut data = confirmed();
        data["results"][0]["outcome"] = json!("Synthetic Name");
        let r = refused(
            check("kz.mfa", &verification("kz.security", NOW, data)),
            "schema_invalid",
        );
        // The path, never the value.
        assert!(r.reason.contains("/results/0/outcome"), "{}", r.reason);
        assert!(!r.reason.contains("Synthetic"), "{}", r.reason);
    }

    #[test]
    fn sender_not_permitted() {
        // The right state, the wrong role.
        refused(
            check("kz.mfa", &verification("kz.rehab", NOW, confirmed())),
            "sender_not_permitted",
        );
        // A member the policy does not know.
        refused(
            check("kz.mfa", &verification("xx.security", NOW, confirmed())),
            "sender_not_permitted",
        );
    }

    #[test]
    fn not_routed_here() {
        // Another state's security service answers its own ministry only.
        refused(
            check("kz.mfa", &verification("uz.security", NOW, confirmed())),
            "not_routed_here",
        );
        // And never a member of another role.
        refused(
            check(
                "kz.interior",
                &verification("kz.security", NOW, confirmed()),
            ),
            "not_routed_here",
        );
    }

    #[test]
    fn every_rule_code_is_documented_and_tested() {
        let source = include_str!("verify.rs");
        let (code, tests) = source.split_once("#[cfg(test)]").expect("a test module");
        crate::test_support::rule_codes_are_documented_and_tested(code, tests);
    }
}
