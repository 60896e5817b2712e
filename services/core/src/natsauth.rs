//! The NATS server's authorization, generated from the policy.
//!
//! The policy is the single source of truth for who may speak on the
//! broker, so the server's users and their permissions are derived from it
//! rather than written by hand. Every identity is one NATS user in one
//! account, authenticated by an nkey (no passwords, no anonymous access, no
//! `no_auth_user`); an identity's NATS nkey is separate from its signing key,
//! so a leaked server credential cannot sign and a leaked signing key cannot
//! connect.
//!
//! What each kind of identity may do (`<m>` is the member id, `<t>` its
//! [`MemberId::token`]):
//!
//! - **Member** (every role but `gateway` and `operator`): publish only its
//!   own submissions (`hw.submit.<m>`); look up, pull from and ack only its
//!   own durable consumers `deliver_<t>` on `HW_DELIVER` and `receipt_<t>` on
//!   `HW_RECEIPTS`; read and write only its own case bucket `hw_cases_<t>`;
//!   subscribe only under its private inbox prefix `_INBOX_<t>`. It may not
//!   create, update or delete any consumer or stream: its consumers and
//!   bucket are provisioned ahead of time ([`crate::streams::provision_members`]).
//!   This also rules out key-value operations that make a consumer
//!   (`keys`, `watch`, `history`). No other member can read its replies.
//! - **Gateway**: pull from and ack the shared `gateway` consumer on
//!   `HW_SUBMIT`; publish deliveries, receipts, rejections and audit
//!   records; use the `hw_seen` bucket; create, update and look up the
//!   Homeward streams; read the audit chain's head; private inbox.
//! - **Operator**: read-only. Look up streams and consumers, read messages
//!   by sequence, and read `HW_AUDIT`, `HW_REJECTED`, `HW_RECEIPTS` and
//!   `HW_DELIVER` through ephemeral (ordered) consumers; never touch a
//!   member's durable consumers; private inbox.
//! - **Administrator** (`admin`): everything. For provisioning, and only in
//!   development: it is written only when the NATS keys list an `admin`.
//!
//! The subjects follow what async-nats 0.51 sends for each operation (read
//! from its source): `get_or_create_consumer` sends `CONSUMER.INFO`
//! first and returns an existing consumer without creating it;
//! `fetch`/`messages` send `CONSUMER.MSG.NEXT.<stream>.<consumer>` with a
//! reply under the inbox prefix; `ack`/`double_ack` publish to the message's
//! `$JS.ACK.<stream>.<consumer>.…` reply subject; `get_key_value` sends
//! `STREAM.INFO.KV_<bucket>`; key-value `get`/`entry` send
//! `DIRECT.GET.KV_<bucket>.$KV.<bucket>.<key>` (buckets are made with
//! direct get allowed; `STREAM.MSG.GET.KV_<bucket>` otherwise);
//! `put`/`create`/`update`/`delete` publish to `$KV.<bucket>.<key>` (`create`
//! reads the entry when the key exists); `create_key_value` sends `INFO`
//! then `STREAM.CREATE`; `keys`/`watch`/`history` create a push consumer
//! (`CONSUMER.CREATE.KV_<bucket>`); an ordered pull consumer is created with
//! `CONSUMER.CREATE.<stream>` and re-created as
//! `CONSUMER.CREATE.<stream>.<name>.<filter>` after a gap;
//! `Stream::get_raw_message` sends `STREAM.MSG.GET.<stream>`.
//!
//! Known limit: a subject permission cannot see inside a consumer's
//! configuration, so an operator may create a push consumer on a stream it
//! can read, delivering to a subject of its choice. It gains nothing it may
//! not read anyway; members may create no consumer at all. The operator may
//! not delete consumers either: when an ordered consumer is re-created, the
//! client's attempt to delete the old one is refused (the server reports
//! it) and the old one goes away on its own after 30 s without interest.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

use crate::Error;
use crate::member::MemberId;
use crate::policy::{Policy, Role};
use crate::subjects::{self, *};

/// The administrator identity's name in the NATS keys.
pub const ADMIN: &str = "admin";

/// The JetStream API prefix.
const API: &str = "$JS.API";

/// What an identity is allowed, by the role its policy member has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A member that sends and receives.
    Member,
    /// A gateway instance.
    Gateway,
    /// The operator console: read-only.
    Operator,
    /// Everything: provisioning, development only.
    Admin,
}

impl Kind {
    /// The kind of identity a policy role gets.
    pub fn of(role: Role) -> Self {
        match role {
            Role::Gateway => Kind::Gateway,
            Role::Operator => Kind::Operator,
            _ => Kind::Member,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Member => "member",
            Kind::Gateway => "gateway",
            Kind::Operator => "operator",
            Kind::Admin => "administrator",
        }
    }
}

/// One user's subject permissions. Deny wins over allow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    pub publish_allow: Vec<String>,
    pub publish_deny: Vec<String>,
    pub subscribe_allow: Vec<String>,
}

/// One NATS user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsUser {
    /// The member id, or [`ADMIN`].
    pub identity: String,
    pub kind: Kind,
    /// The public nkey (`U…`) the user authenticates with.
    pub nkey: String,
    /// `None` for the administrator: no restriction.
    pub permissions: Option<Permissions>,
}

/// The NATS public keys of the identities, by identity (member id or
/// [`ADMIN`]). Read from a TOML file with one table:
///
/// ```toml
/// [users]
/// "kz.mfa" = "UA…"
/// admin = "UB…"
/// ```
///
/// `homeward keys generate` writes one for its development keys
/// ([`crate::devkeys::NATS_KEYS_FILE`]); a production site writes its own
/// with the public halves of the nkeys each party made where it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsKeys {
    users: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NatsKeysFile {
    #[serde(default)]
    users: BTreeMap<String, String>,
}

impl NatsKeys {
    /// Reads and checks a NATS keys file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_owned(),
            source: e,
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Parses a NATS keys file: every name is a member id or `admin`, every
    /// key an nkeys user public key.
    pub fn parse(origin: &str, text: &str) -> Result<Self, Error> {
        let file: NatsKeysFile =
            toml::from_str(text).map_err(|e| Error::Key(format!("NATS keys {origin}: {e}")))?;
        let mut keys = Self::default();
        for (identity, public) in file.users {
            keys.insert(&identity, &public)
                .map_err(|e| Error::Key(format!("NATS keys {origin}: {e}")))?;
        }
        Ok(keys)
    }

    /// Adds or replaces an identity's public key, after checking both.
    pub fn insert(&mut self, identity: &str, public: &str) -> Result<(), Error> {
        if identity != ADMIN {
            MemberId::parse(identity)?;
        }
        let valid = public.starts_with('U') && nkeys::KeyPair::from_public_key(public).is_ok();
        if !valid {
            return Err(Error::Key(format!(
                "{identity}: {public:?} is not an nkeys user public key (U…)"
            )));
        }
        self.users.insert(identity.to_owned(), public.to_owned());
        Ok(())
    }

    /// An identity's public key.
    pub fn public(&self, identity: &str) -> Option<&str> {
        self.users.get(identity).map(String::as_str)
    }

    /// The file's text.
    pub fn to_toml(&self) -> String {
        let mut out = String::from("[users]\n");
        for (identity, public) in &self.users {
            let _ = writeln!(out, "{} = \"{public}\"", toml_key(identity));
        }
        out
    }
}

fn toml_key(identity: &str) -> String {
    if identity
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        identity.to_owned()
    } else {
        format!("\"{identity}\"")
    }
}

fn api(rest: &str) -> String {
    format!("{API}.{rest}")
}

/// The subjects that use one durable consumer: look it up, pull, ack.
fn use_consumer(out: &mut Vec<String>, stream: &str, consumer: &str) {
    out.push(api(&format!("CONSUMER.INFO.{stream}.{consumer}")));
    out.push(api(&format!("CONSUMER.MSG.NEXT.{stream}.{consumer}")));
    out.push(format!("$JS.ACK.{stream}.{consumer}.>"));
}

/// The subjects that read and write one key-value bucket without making
/// consumers.
fn use_bucket(out: &mut Vec<String>, bucket: &str) {
    let stream = format!("KV_{bucket}");
    out.push(format!("$KV.{bucket}.>"));
    out.push(api(&format!("STREAM.INFO.{stream}")));
    out.push(api(&format!("DIRECT.GET.{stream}")));
    out.push(api(&format!("DIRECT.GET.{stream}.>")));
    out.push(api(&format!("STREAM.MSG.GET.{stream}")));
}

/// A member's permissions: its own submit subject, its own two durable
/// consumers, its own case bucket and its own inbox; nothing else.
pub fn member_permissions(member: &MemberId) -> Permissions {
    let mut publish = vec![subjects::submit(member)];
    use_consumer(&mut publish, DELIVER_STREAM, &delivery_consumer(member));
    use_consumer(&mut publish, RECEIPTS_STREAM, &receipt_consumer(member));
    use_bucket(&mut publish, &case_bucket(member));
    Permissions {
        publish_allow: publish,
        publish_deny: Vec::new(),
        subscribe_allow: vec![format!("{}.>", inbox_prefix(member))],
    }
}

/// The Homeward streams, in [`crate::streams::configs`] order.
const STREAMS: [&str; 5] = [
    SUBMIT_STREAM,
    DELIVER_STREAM,
    RECEIPTS_STREAM,
    REJECTED_STREAM,
    AUDIT_STREAM,
];

/// The streams an operator reads.
const OPERATOR_READS: [&str; 4] = [
    AUDIT_STREAM,
    REJECTED_STREAM,
    RECEIPTS_STREAM,
    DELIVER_STREAM,
];

/// A gateway's permissions: the work queue, everything it writes, its
/// bucket, the streams it sets up, and its own inbox.
pub fn gateway_permissions(gateway: &MemberId) -> Permissions {
    let mut publish: Vec<String> = [DELIVER_ALL, RECEIPT_ALL, REJECTED_ALL, AUDIT_ALL]
        .map(str::to_owned)
        .to_vec();
    // `create_key_value` asks for the account's limits first.
    publish.push(api("INFO"));
    let seen_stream = format!("KV_{SEEN_BUCKET}");
    for stream in STREAMS.iter().copied().chain([seen_stream.as_str()]) {
        for action in ["INFO", "CREATE", "UPDATE"] {
            publish.push(api(&format!("STREAM.{action}.{stream}")));
        }
    }
    // The audit chain's head, read by sequence.
    publish.push(api(&format!("STREAM.MSG.GET.{AUDIT_STREAM}")));
    use_bucket(&mut publish, SEEN_BUCKET);
    // The shared work-queue consumer, created by the first gateway if missing.
    use_consumer(&mut publish, SUBMIT_STREAM, GATEWAY_CONSUMER);
    publish.push(api(&format!(
        "CONSUMER.CREATE.{SUBMIT_STREAM}.{GATEWAY_CONSUMER}"
    )));
    publish.push(api(&format!(
        "CONSUMER.CREATE.{SUBMIT_STREAM}.{GATEWAY_CONSUMER}.>"
    )));
    Permissions {
        publish_allow: dedup(publish),
        publish_deny: Vec::new(),
        subscribe_allow: vec![format!("{}.>", inbox_prefix(gateway))],
    }
}

/// An operator's permissions: read-only. It may make ephemeral consumers
/// on the streams it reads, and look up streams and consumers for backlogs,
/// but never create, update or pull from a member's durable consumer.
pub fn operator_permissions(operator: &MemberId, policy: &Policy) -> Permissions {
    let mut publish = vec![api("INFO"), api("STREAM.NAMES"), api("STREAM.LIST")];
    for stream in STREAMS {
        publish.push(api(&format!("STREAM.INFO.{stream}")));
        publish.push(api(&format!("CONSUMER.INFO.{stream}.*")));
        publish.push(api(&format!("CONSUMER.NAMES.{stream}")));
        publish.push(api(&format!("CONSUMER.LIST.{stream}")));
    }
    for stream in OPERATOR_READS {
        publish.push(api(&format!("STREAM.MSG.GET.{stream}")));
        publish.push(api(&format!("CONSUMER.CREATE.{stream}")));
        publish.push(api(&format!("CONSUMER.CREATE.{stream}.>")));
        publish.push(api(&format!("CONSUMER.MSG.NEXT.{stream}.*")));
    }
    // Pulling from a member's durable consumer would take its deliveries
    // away from it; creating one by its name would update it.
    let mut deny = Vec::new();
    for member in policy
        .members()
        .filter(|m| Kind::of(m.role) == Kind::Member)
    {
        for (stream, consumer) in [
            (DELIVER_STREAM, delivery_consumer(&member.id)),
            (RECEIPTS_STREAM, receipt_consumer(&member.id)),
        ] {
            deny.push(api(&format!("CONSUMER.MSG.NEXT.{stream}.{consumer}")));
            deny.push(api(&format!("CONSUMER.CREATE.{stream}.{consumer}")));
            deny.push(api(&format!("CONSUMER.CREATE.{stream}.{consumer}.>")));
        }
    }
    Permissions {
        publish_allow: publish,
        publish_deny: deny,
        subscribe_allow: vec![format!("{}.>", inbox_prefix(operator))],
    }
}

fn dedup(list: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for s in list {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Every NATS user of a policy: one per member, by its role, plus the
/// administrator when the keys list one. Fails naming every member that has
/// no NATS key.
pub fn users(policy: &Policy, keys: &NatsKeys) -> Result<Vec<NatsUser>, Error> {
    let mut users = Vec::new();
    let mut missing = Vec::new();
    for member in policy.members() {
        let Some(nkey) = keys.public(member.id.as_str()) else {
            missing.push(member.id.to_string());
            continue;
        };
        let kind = Kind::of(member.role);
        let permissions = match kind {
            Kind::Gateway => gateway_permissions(&member.id),
            Kind::Operator => operator_permissions(&member.id, policy),
            // `Kind::of` never gives `Admin`: no policy role is the administrator.
            Kind::Member | Kind::Admin => member_permissions(&member.id),
        };
        users.push(NatsUser {
            identity: member.id.to_string(),
            kind,
            nkey: nkey.to_owned(),
            permissions: Some(permissions),
        });
    }
    if !missing.is_empty() {
        return Err(Error::Key(format!(
            "no NATS public key for {} (development keys are made by `homeward keys generate`)",
            missing.join(", ")
        )));
    }
    if let Some(nkey) = keys.public(ADMIN) {
        users.push(NatsUser {
            identity: ADMIN.to_owned(),
            kind: Kind::Admin,
            nkey: nkey.to_owned(),
            permissions: None,
        });
    }
    Ok(users)
}

/// The server's `authorization` block for a policy, ready to include in or
/// append to a nats-server configuration file.
pub fn server_config(policy: &Policy, keys: &NatsKeys) -> Result<String, Error> {
    Ok(render(&policy.origin, &users(policy, keys)?))
}

fn quoted_list(out: &mut String, indent: &str, items: &[String]) {
    out.push_str("[\n");
    for item in items {
        // Subjects are built from checked ids: no quotes or backslashes.
        let _ = writeln!(out, "{indent}  \"{item}\"");
    }
    let _ = write!(out, "{indent}]");
}

/// Renders users as a nats-server `authorization` block.
pub fn render(origin: &str, users: &[NatsUser]) -> String {
    let mut out = format!(
        "# NATS authorization for Homeward, generated from the policy {origin}\n\
         # by `homeward policy nats-config`. Do not edit: regenerate it when the\n\
         # policy or the NATS keys change. Every user authenticates by nkey;\n\
         # there are no passwords and no anonymous access.\n\
         authorization {{\n  users = [\n"
    );
    for user in users {
        let _ = writeln!(out, "    # {} ({})", user.identity, user.kind.as_str());
        let _ = writeln!(out, "    {{\n      nkey: \"{}\"", user.nkey);
        if let Some(p) = &user.permissions {
            out.push_str("      permissions: {\n        publish: {\n          allow: ");
            quoted_list(&mut out, "          ", &p.publish_allow);
            out.push('\n');
            if !p.publish_deny.is_empty() {
                out.push_str("          deny: ");
                quoted_list(&mut out, "          ", &p.publish_deny);
                out.push('\n');
            }
            out.push_str("        }\n        subscribe: {\n          allow: ");
            quoted_list(&mut out, "          ", &p.subscribe_allow);
            out.push_str("\n        }\n      }\n");
        }
        out.push_str("    }\n");
    }
    out.push_str("  ]\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str) -> MemberId {
        MemberId::parse(id).expect("member id")
    }

    #[test]
    fn a_member_may_use_only_its_own_names() {
        let p = member_permissions(&member("kz.mfa"));
        assert_eq!(
            p.publish_allow,
            [
                "hw.submit.kz.mfa",
                "$JS.API.CONSUMER.INFO.HW_DELIVER.deliver_kz_mfa",
                "$JS.API.CONSUMER.MSG.NEXT.HW_DELIVER.deliver_kz_mfa",
                "$JS.ACK.HW_DELIVER.deliver_kz_mfa.>",
                "$JS.API.CONSUMER.INFO.HW_RECEIPTS.receipt_kz_mfa",
                "$JS.API.CONSUMER.MSG.NEXT.HW_RECEIPTS.receipt_kz_mfa",
                "$JS.ACK.HW_RECEIPTS.receipt_kz_mfa.>",
                "$KV.hw_cases_kz_mfa.>",
                "$JS.API.STREAM.INFO.KV_hw_cases_kz_mfa",
                "$JS.API.DIRECT.GET.KV_hw_cases_kz_mfa",
                "$JS.API.DIRECT.GET.KV_hw_cases_kz_mfa.>",
                "$JS.API.STREAM.MSG.GET.KV_hw_cases_kz_mfa",
            ]
        );
        assert_eq!(p.subscribe_allow, ["_INBOX_kz_mfa.>"]);
        // Nothing that makes or changes a consumer or a stream.
        for s in &p.publish_allow {
            for verb in ["CREATE", "UPDATE", "DELETE", "PURGE"] {
                assert!(!s.contains(verb), "{s} lets a member {verb}");
            }
        }
    }

    #[test]
    fn the_gateway_may_set_up_streams_and_use_its_consumer() {
        let p = gateway_permissions(&member("homeward.gateway"));
        for s in [
            "hw.deliver.>",
            "$JS.API.STREAM.UPDATE.HW_AUDIT",
            "$JS.API.CONSUMER.MSG.NEXT.HW_SUBMIT.gateway",
            "$JS.ACK.HW_SUBMIT.gateway.>",
            "$KV.hw_seen.>",
        ] {
            assert!(p.publish_allow.iter().any(|x| x == s), "{s} missing");
        }
        assert!(!p.publish_allow.iter().any(|s| s.starts_with("hw.submit")));
        assert!(
            !p.publish_allow
                .iter()
                .any(|s| s.contains("DELETE") || s.contains("PURGE"))
        );
        assert_eq!(p.subscribe_allow, ["_INBOX_homeward_gateway.>"]);
    }

    #[test]
    fn nats_keys_are_checked() {
        let public = nkeys::KeyPair::new_user().public_key();
        let text = format!("[users]\n\"kz.mfa\" = \"{public}\"\nadmin = \"{public}\"\n");
        let keys = NatsKeys::parse("test", &text).expect("parses");
        assert_eq!(keys.public("kz.mfa"), Some(public.as_str()));
        assert_eq!(
            NatsKeys::parse("test", &keys.to_toml()).expect("again"),
            keys
        );
        let account = nkeys::KeyPair::new_account().public_key();
        assert!(NatsKeys::parse("t", &format!("[users]\n\"kz.mfa\" = \"{account}\"\n")).is_err());
        assert!(NatsKeys::parse("t", &format!("[users]\n\"kz.*\" = \"{public}\"\n")).is_err());
        assert!(NatsKeys::parse("t", "[users]\n\"kz.mfa\" = \"Unope\"\n").is_err());
    }
}
