//! The NATS server's accounts, users and permissions, generated from the
//! policy.
//!
//! The policy is the single source of truth for who may speak on the
//! broker, so the server's authorization is derived from it rather than
//! written by hand. Isolation is the server's, by **accounts**:
//!
//! - Homeward's streams live in an account of their own, [`STREAMS_ACCOUNT`]
//!   (`HW`). Its only user is the administrator, who provisions streams,
//!   consumers and buckets.
//! - Every other identity — each member, the gateway, the operator — has an
//!   account of its own, named by its [`MemberId::token`], with one user.
//!   It receives from `HW` exactly the subjects it needs, as exports that
//!   name it alone and imports in its own account ([`Grant`]). A member's
//!   case bucket, and the gateway's seen-ids bucket, live in the JetStream
//!   of the identity's own account, where no other identity can name them.
//!
//! Why accounts and not permissions inside one account: NATS checks a
//! publisher's subject against its permissions, never its *reply* subject,
//! and the server publishes its own JetStream replies (publish acks,
//! direct-get replies, pull deliveries) to that reply subject inside the
//! account, where any stream whose subjects match stores them. In one shared
//! account a member could plant acks in `HW_AUDIT` or its own bucket's bytes
//! among another member's deliveries. Across accounts the server maps every
//! reply to a private `_R_.…` subject, so a hostile reply subject lands in
//! the requester's own account, where it reaches nothing it could not
//! publish to itself. `gateway/tests/gateway/isolation.rs` tries each vector
//! on the real server.
//!
//! The streams' API reaches other accounts under [`HW_API`] (`$HW.API`),
//! not `$JS.API`, so it never collides with the account's own JetStream;
//! connect with `jetstream::with_prefix(client, HW_API)`. The administrator
//! reaches the few provisioning subjects of each identity's own JetStream
//! under [`admin_api_prefix`] (`$HWJS.<token>.API`).
//!
//! User permissions stay as a second layer inside each account: every user
//! may publish only the subjects its account imports (and its own bucket's),
//! and subscribe only under its private inbox prefix (and, for the operator,
//! the live audit records and advisories). No user but the administrator may
//! create, update, delete, purge or seal a stream or consumer.
//!
//! What each kind of identity receives (`<m>` is the member id, `<t>` its
//! token):
//!
//! - **Member**: its submit subject `hw.submit.<m>` (the publish ack comes
//!   back); look-up, pull and ack of its own durable consumers
//!   `deliver_<t>` on `HW_DELIVER`, `receipt_<t>` on `HW_RECEIPTS` and
//!   `rejected_<t>` on `HW_REJECTED` (a sender reads its own rejected
//!   submissions, to see what it sent wrong). In its own account: its case
//!   bucket `hw_cases_<t>`, and its event log `HW_EVENTS_<t>` (appending
//!   to `hw.events.<m>.>`, reading by direct get), without making
//!   consumers.
//! - **Gateway**: pull and ack of the shared `gateway` consumer on
//!   `HW_SUBMIT`; publishing deliveries, receipts, rejections and audit
//!   records; looking up the Homeward streams and reading the audit chain's
//!   head. In its own account: the `hw_seen` bucket.
//! - **Operator**: metadata only. Look-ups of streams and consumers (state,
//!   backlogs), the audit records by sequence and live, and JetStream's
//!   stream and consumer advisories. Never a payload of `HW_SUBMIT`,
//!   `HW_DELIVER` or `HW_REJECTED`, never a consumer of its own, nothing that
//!   changes anything. (API advisories are not exported: they carry request
//!   and response bodies.)
//! - **Everyone**: the published policy (`hw_policy`), its current version
//!   by direct get and each new one live; only the administrator writes it.
//! - **Administrator** (`admin`): everything in `HW`, and the provisioning
//!   subjects of the other accounts. Written only when the NATS keys list an
//!   `admin`; leave it out of a production site once provisioning is done.
//!
//! The subjects follow what async-nats 0.51 sends for each operation (read
//! from its source): `get_consumer` sends `CONSUMER.INFO`;
//! `fetch`/`messages` send `CONSUMER.MSG.NEXT.<stream>.<consumer>`, whose
//! answers are many messages (so that export's responses are a stream);
//! `ack`/`double_ack` publish to the message's `$JS.ACK.<stream>.<consumer>.…`
//! reply subject; `get_key_value` sends `STREAM.INFO.KV_<bucket>`; key-value
//! `get`/`entry` send `DIRECT.GET.KV_<bucket>.$KV.<bucket>.<key>`;
//! `put`/`create`/`update`/`delete` publish to `$KV.<bucket>.<key>`;
//! `create_key_value` sends `INFO` then `STREAM.CREATE`;
//! `Stream::get_raw_message` sends `STREAM.MSG.GET.<stream>`.

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

/// The account that holds Homeward's streams; the administrator's.
pub const STREAMS_ACCOUNT: &str = "HW";

/// The prefix under which every other account reaches the streams'
/// JetStream API.
pub const HW_API: &str = "$HW.API";

/// The JetStream API prefix inside an account.
const API: &str = "$JS.API";

/// The prefix under which the administrator reaches the provisioning
/// subjects of `identity`'s own JetStream.
pub fn admin_api_prefix(identity: &MemberId) -> String {
    format!("$HWJS.{}.API", identity.token())
}

/// The subject on which the operator reaches `verb` (`PING`, `INFO` or
/// `STATS`) of the NATS micro services (`$SRV.<verb>`) that `identity`
/// runs: the gateway, or a member's ministry service.
pub fn discovery_subject(identity: &MemberId, verb: &str) -> String {
    format!("hw.srv.{}.{verb}", identity.token())
}

/// The NATS account of a policy member.
pub fn account_name(identity: &MemberId) -> String {
    identity.token()
}

/// What an identity is allowed, by the role its policy member has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A member that sends and receives.
    Member,
    /// A gateway instance.
    Gateway,
    /// The operator console: metadata only.
    Operator,
    /// Everything: provisioning.
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

/// How the answers to an exported service come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Responses {
    /// One answer per request.
    Singleton,
    /// Any number of answers (pull deliveries).
    Stream,
}

/// One subject an account receives from the streams' account: the export
/// in `HW` names that account alone, and the account imports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grant {
    /// A request the account sends into `HW`; `local` is the subject it
    /// publishes to in its own account.
    Service {
        subject: String,
        local: String,
        responses: Responses,
    },
    /// Messages published in `HW` that the account may subscribe to.
    Stream { subject: String },
}

impl Grant {
    fn service(subject: String) -> Self {
        Grant::Service {
            local: subject.clone(),
            subject,
            responses: Responses::Singleton,
        }
    }

    /// A JetStream API call, reached under [`HW_API`].
    fn api(rest: &str) -> Self {
        Grant::Service {
            subject: format!("{API}.{rest}"),
            local: format!("{HW_API}.{rest}"),
            responses: Responses::Singleton,
        }
    }

    /// A pull from one consumer: many answers to one request.
    fn pull(stream: &str, consumer: &str) -> Self {
        let rest = format!("CONSUMER.MSG.NEXT.{stream}.{consumer}");
        Grant::Service {
            subject: format!("{API}.{rest}"),
            local: format!("{HW_API}.{rest}"),
            responses: Responses::Stream,
        }
    }
}

/// Look-up, pull and ack of one durable consumer in `HW`.
fn use_consumer(out: &mut Vec<Grant>, stream: &str, consumer: &str) {
    out.push(Grant::api(&format!("CONSUMER.INFO.{stream}.{consumer}")));
    out.push(Grant::pull(stream, consumer));
    out.push(Grant::service(format!("$JS.ACK.{stream}.{consumer}.>")));
}

/// The published policy: its current version by direct get, and each new
/// one live. Every identity reads it; only the administrator writes it.
fn read_policy(out: &mut Vec<Grant>) {
    let current = crate::published::current_subject();
    out.push(Grant::api(&format!(
        "DIRECT.GET.KV_{POLICY_BUCKET}.{current}"
    )));
    out.push(Grant::Stream { subject: current });
}

/// The subjects that read and write one key-value bucket of the account's
/// own JetStream, without making consumers.
fn use_bucket(out: &mut Vec<String>, bucket: &str) {
    let stream = format!("KV_{bucket}");
    out.push(format!("$KV.{bucket}.>"));
    out.push(format!("{API}.STREAM.INFO.{stream}"));
    out.push(format!("{API}.DIRECT.GET.{stream}"));
    out.push(format!("{API}.DIRECT.GET.{stream}.>"));
    out.push(format!("{API}.STREAM.MSG.GET.{stream}"));
}

/// The subjects that append to and read a member's event log in its own
/// JetStream, by direct get, without making consumers.
fn use_event_log(out: &mut Vec<String>, member: &MemberId) {
    let stream = crate::streams::event_log(member);
    out.push(crate::streams::event_log_subjects(member));
    out.push(format!("{API}.STREAM.INFO.{stream}"));
    out.push(format!("{API}.DIRECT.GET.{stream}"));
    out.push(format!("{API}.DIRECT.GET.{stream}.>"));
}

/// The API subjects of an account's own JetStream that the administrator
/// may use, to make and inspect its bucket and event log: nothing that
/// reads a value.
fn provisioning_subjects(access: &Access) -> Vec<String> {
    let streams: Vec<String> = access
        .bucket
        .iter()
        .map(|bucket| format!("KV_{bucket}"))
        .chain(access.event_log.iter().cloned())
        .collect();
    if streams.is_empty() {
        return Vec::new();
    }
    let mut out = vec!["INFO".to_owned()];
    for stream in streams {
        out.push(format!("STREAM.INFO.{stream}"));
        out.push(format!("STREAM.CREATE.{stream}"));
        out.push(format!("STREAM.UPDATE.{stream}"));
    }
    out
}

/// The Homeward streams, in [`crate::streams::configs`] order.
pub const STREAMS: [&str; 5] = [
    SUBMIT_STREAM,
    DELIVER_STREAM,
    RECEIPTS_STREAM,
    REJECTED_STREAM,
    AUDIT_STREAM,
];

/// JetStream advisories the operator follows: stream and consumer events
/// (created, deleted, leader elected, a message past its deliveries or
/// terminated). Not `API` advisories: those carry request and response
/// bodies, a message's content among them.
pub const OPERATOR_ADVISORIES: [&str; 2] = [
    "$JS.EVENT.ADVISORY.STREAM.>",
    "$JS.EVENT.ADVISORY.CONSUMER.>",
];

/// One user's subject permissions inside its account. Deny wins over allow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    pub publish_allow: Vec<String>,
    pub publish_deny: Vec<String>,
    pub subscribe_allow: Vec<String>,
    /// Whether the user may answer the requests it receives (once each,
    /// to their reply subject): a service's answers to `$SRV` discovery.
    pub allow_responses: bool,
}

/// What one identity's account is: what it receives from `HW`, its own
/// JetStream, and what its one user may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub kind: Kind,
    pub grants: Vec<Grant>,
    /// The bucket in the account's own JetStream, if it has one.
    pub bucket: Option<String>,
    /// The event log in the account's own JetStream, if it has one
    /// ([`crate::streams::event_log_config`]).
    pub event_log: Option<String>,
    pub permissions: Permissions,
}

fn access(kind: Kind, identity: &MemberId, grants: Vec<Grant>, bucket: Option<String>) -> Access {
    let mut publish = Vec::new();
    let mut subscribe = vec![format!("{}.>", inbox_prefix(identity))];
    for grant in &grants {
        match grant {
            Grant::Service { local, .. } => publish.push(local.clone()),
            Grant::Stream { subject } => subscribe.push(subject.clone()),
        }
    }
    if let Some(bucket) = &bucket {
        use_bucket(&mut publish, bucket);
    }
    Access {
        kind,
        grants,
        bucket,
        event_log: None,
        permissions: Permissions {
            publish_allow: dedup(publish),
            publish_deny: Vec::new(),
            subscribe_allow: subscribe,
            allow_responses: false,
        },
    }
}

/// A member's account: its own submit subject, its own three durable
/// consumers, its own case bucket and event log, and its own inbox;
/// nothing else.
pub fn member_access(member: &MemberId) -> Access {
    let mut grants = vec![Grant::service(subjects::submit(member))];
    use_consumer(&mut grants, DELIVER_STREAM, &delivery_consumer(member));
    use_consumer(&mut grants, RECEIPTS_STREAM, &receipt_consumer(member));
    use_consumer(&mut grants, REJECTED_STREAM, &rejected_consumer(member));
    read_policy(&mut grants);
    let mut access = access(Kind::Member, member, grants, Some(case_bucket(member)));
    access.event_log = Some(crate::streams::event_log(member));
    let mut publish = std::mem::take(&mut access.permissions.publish_allow);
    use_event_log(&mut publish, member);
    access.permissions.publish_allow = dedup(publish);
    answer_discovery(&mut access.permissions);
    access
}

/// The subjects a service of this identity answers NATS micro discovery
/// on, in its own account: `$SRV.PING|INFO|STATS[.name[.id]]`, and its
/// one endpoint, `hw.status`. The operator reaches them through an export
/// to its account alone ([`discovery_subject`]).
pub const DISCOVERY: [&str; 2] = ["$SRV.>", STATUS_ENDPOINT];

/// The endpoint every Homeward service registers for discovery; its stats
/// carry the service's counters.
pub const STATUS_ENDPOINT: &str = "hw.status";

fn answer_discovery(permissions: &mut Permissions) {
    for subject in DISCOVERY {
        permissions.subscribe_allow.push(subject.to_owned());
    }
    permissions.allow_responses = true;
}

/// A gateway's account: the work queue, everything it writes, the look-ups
/// it checks the streams with, the members' delivery backlogs, the audit
/// chain's head, and its bucket.
pub fn gateway_access(gateway: &MemberId) -> Access {
    let mut grants: Vec<Grant> = [DELIVER_ALL, RECEIPT_ALL, REJECTED_ALL, AUDIT_ALL]
        .map(|s| Grant::service(s.to_owned()))
        .to_vec();
    for stream in STREAMS {
        grants.push(Grant::api(&format!("STREAM.INFO.{stream}")));
    }
    grants.push(Grant::api(&format!("STREAM.MSG.GET.{AUDIT_STREAM}")));
    // The backlog watch: how far each member's delivery consumer is
    // behind, and when the oldest delivery it has not taken was written
    // (the gateway wrote every delivery; reading one back shows it
    // nothing it did not have).
    grants.push(Grant::api(&format!("CONSUMER.INFO.{DELIVER_STREAM}.*")));
    grants.push(Grant::api(&format!("STREAM.MSG.GET.{DELIVER_STREAM}")));
    use_consumer(&mut grants, SUBMIT_STREAM, GATEWAY_CONSUMER);
    read_policy(&mut grants);
    let mut access = access(Kind::Gateway, gateway, grants, Some(SEEN_BUCKET.to_owned()));
    answer_discovery(&mut access.permissions);
    access
}

/// The operator's account: look-ups of streams and consumers, the audit
/// records, and advisories; no payload of any other stream, no consumer,
/// no change.
pub fn operator_access(operator: &MemberId) -> Access {
    let mut grants = vec![
        Grant::api("INFO"),
        Grant::api("STREAM.NAMES"),
        Grant::api("STREAM.LIST"),
    ];
    for stream in STREAMS {
        grants.push(Grant::api(&format!("STREAM.INFO.{stream}")));
        grants.push(Grant::api(&format!("CONSUMER.INFO.{stream}.*")));
        grants.push(Grant::api(&format!("CONSUMER.NAMES.{stream}")));
        grants.push(Grant::api(&format!("CONSUMER.LIST.{stream}")));
    }
    grants.push(Grant::api(&format!("DIRECT.GET.{AUDIT_STREAM}")));
    grants.push(Grant::api(&format!("STREAM.MSG.GET.{AUDIT_STREAM}")));
    grants.push(Grant::Stream {
        subject: AUDIT_ALL.to_owned(),
    });
    for advisory in OPERATOR_ADVISORIES {
        grants.push(Grant::Stream {
            subject: advisory.to_owned(),
        });
    }
    read_policy(&mut grants);
    let mut access = access(Kind::Operator, operator, grants, None);
    // Discovery of every member's and gateway's services, through the
    // imports render() writes.
    access
        .permissions
        .publish_allow
        .push(OPERATOR_DISCOVERY.to_owned());
    access
}

/// What the operator publishes discovery requests to.
const OPERATOR_DISCOVERY: &str = "hw.srv.>";

/// The account of a policy member, by its role.
pub fn access_of(id: &MemberId, role: Role) -> Access {
    match Kind::of(role) {
        Kind::Gateway => gateway_access(id),
        Kind::Operator => operator_access(id),
        // `Kind::of` never gives `Admin`: no policy role is the administrator.
        Kind::Member | Kind::Admin => member_access(id),
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

/// One NATS account with its one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsAccount {
    /// The member id.
    pub identity: MemberId,
    /// The account's name ([`account_name`]).
    pub name: String,
    /// The public nkey (`U…`) its user authenticates with.
    pub nkey: String,
    pub access: Access,
    /// The member's quota: the server enforces its connections,
    /// subscriptions and payload on the account.
    pub quota: crate::quota::Quota,
}

/// The whole authorization: the streams' account with the administrator,
/// and one account per policy member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The administrator's public nkey, if the keys list one.
    pub admin: Option<String>,
    pub accounts: Vec<NatsAccount>,
    /// The most file storage the streams' account may use, in bytes; its
    /// only bound is the disk when `None`. When it is reached JetStream
    /// refuses new messages ("insufficient storage resources"): the
    /// gateway acknowledges nothing it could not store, and services hold
    /// their submissions in their outboxes, until room returns.
    pub streams_max_file: Option<u64>,
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
/// ([`crate::keys::NATS_KEYS_FILE`]); a production site writes its own
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

/// The authorization of a policy: one account per member, by its role,
/// plus the administrator in the streams' account when the keys list one.
/// Fails naming every member that has no NATS key.
pub fn authorization(policy: &Policy, keys: &NatsKeys) -> Result<Authorization, Error> {
    let mut accounts = Vec::new();
    let mut missing = Vec::new();
    for member in policy.members() {
        let Some(nkey) = keys.public(member.id.as_str()) else {
            missing.push(member.id.to_string());
            continue;
        };
        accounts.push(NatsAccount {
            identity: member.id.clone(),
            name: account_name(&member.id),
            nkey: nkey.to_owned(),
            access: access_of(&member.id, member.role),
            quota: member.quota,
        });
    }
    if !missing.is_empty() {
        return Err(Error::Key(format!(
            "no NATS public key for {} (development keys are made by `homeward keys generate`)",
            missing.join(", ")
        )));
    }
    Ok(Authorization {
        streams_max_file: None,
        admin: keys.public(ADMIN).map(str::to_owned),
        accounts,
    })
}

/// The server's `accounts` block for a policy, ready to include in or
/// append to a nats-server configuration file.
pub fn server_config(policy: &Policy, keys: &NatsKeys) -> Result<String, Error> {
    Ok(render(&policy.origin, &authorization(policy, keys)?))
}

/// How much of its own JetStream an account may use.
fn jetstream_limits(kind: Kind) -> &'static str {
    match kind {
        // A case bucket and an event log; no memory storage is used.
        Kind::Member => "{ max_mem: 1MB, max_file: 1GB, max_streams: 2 }",
        Kind::Gateway => "{ max_mem: 1MB, max_file: 8GB, max_streams: 1 }",
        Kind::Operator | Kind::Admin => "disabled",
    }
}

fn quoted_list(out: &mut String, indent: &str, items: &[String]) {
    out.push_str("[\n");
    for item in items {
        // Subjects and names are built from checked ids: no quotes or
        // backslashes.
        let _ = writeln!(out, "{indent}  \"{item}\"");
    }
    let _ = write!(out, "{indent}]");
}

fn render_user(out: &mut String, comment: &str, nkey: &str, permissions: Option<&Permissions>) {
    let _ = writeln!(out, "      # {comment}");
    let _ = writeln!(out, "      {{\n        nkey: \"{nkey}\"");
    if let Some(p) = permissions {
        let i = "            ";
        out.push_str("        permissions: {\n          publish: {\n            allow: ");
        quoted_list(out, i, &p.publish_allow);
        out.push('\n');
        if !p.publish_deny.is_empty() {
            out.push_str("            deny: ");
            quoted_list(out, i, &p.publish_deny);
            out.push('\n');
        }
        out.push_str("          }\n          subscribe: {\n            allow: ");
        quoted_list(out, i, &p.subscribe_allow);
        out.push_str("\n          }\n");
        if p.allow_responses {
            out.push_str("          allow_responses: true\n");
        }
        out.push_str("        }\n");
    }
    out.push_str("      }\n");
}

/// Renders an authorization as a nats-server `accounts` block.
pub fn render(origin: &str, auth: &Authorization) -> String {
    let mut out = format!(
        "# NATS accounts for Homeward, generated from the policy {origin}\n\
         # by `homeward policy nats-config`. Do not edit: regenerate it when the\n\
         # policy or the NATS keys change. Every user authenticates by nkey;\n\
         # there are no passwords and no anonymous access.\n\
         accounts {{\n"
    );
    // The streams' exports, each to exactly the accounts granted it.
    let mut exports: BTreeMap<(u8, &str, Responses), Vec<&str>> = BTreeMap::new();
    for account in &auth.accounts {
        for grant in &account.access.grants {
            let key = match grant {
                Grant::Service {
                    subject, responses, ..
                } => (0, subject.as_str(), *responses),
                Grant::Stream { subject } => (1, subject.as_str(), Responses::Singleton),
            };
            exports.entry(key).or_default().push(&account.name);
        }
    }
    let streams_jetstream = match auth.streams_max_file {
        Some(bytes) => format!("{{ max_file: {bytes} }}"),
        None => "enabled".to_owned(),
    };
    let _ = writeln!(
        out,
        "  # Homeward's streams. Its only user is the administrator.\n  \"{STREAMS_ACCOUNT}\": {{\n    jetstream: {streams_jetstream}\n    users: ["
    );
    if let Some(nkey) = &auth.admin {
        render_user(&mut out, "admin (administrator)", nkey, None);
    }
    out.push_str("    ]\n    exports: [\n");
    for ((kind, subject, responses), accounts) in &exports {
        let kind = if *kind == 0 { "service" } else { "stream" };
        let response = if *responses == Responses::Stream {
            ", response_type: \"stream\""
        } else {
            ""
        };
        let names: Vec<String> = accounts.iter().map(|a| format!("\"{a}\"")).collect();
        let _ = writeln!(
            out,
            "      {{ {kind}: \"{subject}\"{response}, accounts: [{}] }}",
            names.join(", ")
        );
    }
    out.push_str("    ]\n    imports: [\n");
    for account in &auth.accounts {
        let prefix = admin_api_prefix(&account.identity);
        for rest in provisioning_subjects(&account.access) {
            let _ = writeln!(
                out,
                "      {{ service: {{ account: \"{}\", subject: \"{API}.{rest}\" }}, to: \"{prefix}.{rest}\" }}",
                account.name
            );
        }
    }
    out.push_str("    ]\n  }\n");
    let operators: Vec<String> = auth
        .accounts
        .iter()
        .filter(|a| a.access.kind == Kind::Operator)
        .map(|a| format!("\"{}\"", a.name))
        .collect();
    for account in &auth.accounts {
        let access = &account.access;
        let _ = writeln!(
            out,
            "  # {} ({})\n  \"{}\": {{\n    jetstream: {}\n    limits: {{ max_connections: {}, max_subscriptions: {}, max_payload: {} }}\n    users: [",
            account.identity,
            access.kind.as_str(),
            account.name,
            jetstream_limits(access.kind),
            account.quota.connections,
            account.quota.subscriptions,
            account.quota.payload,
        );
        render_user(
            &mut out,
            account.identity.as_str(),
            &account.nkey,
            Some(&access.permissions),
        );
        out.push_str("    ]\n    exports: [\n");
        for rest in provisioning_subjects(access) {
            let _ = writeln!(
                out,
                "      {{ service: \"{API}.{rest}\", accounts: [\"{STREAMS_ACCOUNT}\"] }}"
            );
        }
        // Its services' discovery, to the operators only; every instance
        // answers, so the answers are a stream.
        if access.permissions.allow_responses && !operators.is_empty() {
            let _ = writeln!(
                out,
                "      {{ service: \"$SRV.>\", response_type: \"stream\", accounts: [{}] }}",
                operators.join(", ")
            );
        }
        out.push_str("    ]\n    imports: [\n");
        if access.kind == Kind::Operator {
            for other in auth
                .accounts
                .iter()
                .filter(|a| a.access.permissions.allow_responses)
            {
                let _ = writeln!(
                    out,
                    "      {{ service: {{ account: \"{}\", subject: \"$SRV.>\" }}, to: \"{}\" }}",
                    other.name,
                    discovery_subject(&other.identity, ">")
                );
            }
        }
        for grant in &access.grants {
            match grant {
                Grant::Service { subject, local, .. } if subject == local => {
                    let _ = writeln!(
                        out,
                        "      {{ service: {{ account: \"{STREAMS_ACCOUNT}\", subject: \"{subject}\" }} }}"
                    );
                }
                Grant::Service { subject, local, .. } => {
                    let _ = writeln!(
                        out,
                        "      {{ service: {{ account: \"{STREAMS_ACCOUNT}\", subject: \"{subject}\" }}, to: \"{local}\" }}"
                    );
                }
                Grant::Stream { subject } => {
                    let _ = writeln!(
                        out,
                        "      {{ stream: {{ account: \"{STREAMS_ACCOUNT}\", subject: \"{subject}\" }} }}"
                    );
                }
            }
        }
        out.push_str("    ]\n  }\n");
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str) -> MemberId {
        MemberId::parse(id).expect("member id")
    }

    fn locals(access: &Access) -> Vec<&str> {
        access
            .grants
            .iter()
            .map(|g| match g {
                Grant::Service { local, .. } => local.as_str(),
                Grant::Stream { subject } => subject.as_str(),
            })
            .collect()
    }

    #[test]
    fn a_member_receives_only_its_own_names() {
        let a = member_access(&member("kz.mfa"));
        assert_eq!(
            locals(&a),
            [
                "hw.submit.kz.mfa",
                "$HW.API.CONSUMER.INFO.HW_DELIVER.deliver_kz_mfa",
                "$HW.API.CONSUMER.MSG.NEXT.HW_DELIVER.deliver_kz_mfa",
                "$JS.ACK.HW_DELIVER.deliver_kz_mfa.>",
                "$HW.API.CONSUMER.INFO.HW_RECEIPTS.receipt_kz_mfa",
                "$HW.API.CONSUMER.MSG.NEXT.HW_RECEIPTS.receipt_kz_mfa",
                "$JS.ACK.HW_RECEIPTS.receipt_kz_mfa.>",
                "$HW.API.CONSUMER.INFO.HW_REJECTED.rejected_kz_mfa",
                "$HW.API.CONSUMER.MSG.NEXT.HW_REJECTED.rejected_kz_mfa",
                "$JS.ACK.HW_REJECTED.rejected_kz_mfa.>",
                "$HW.API.DIRECT.GET.KV_hw_policy.$KV.hw_policy.current",
                "$KV.hw_policy.current",
            ]
        );
        assert_eq!(a.bucket.as_deref(), Some("hw_cases_kz_mfa"));
        // Its inbox, the policy's updates, and its own account's discovery
        // subjects, which only its own services and the operator reach.
        assert_eq!(
            a.permissions.subscribe_allow,
            [
                "_INBOX_kz_mfa.>",
                "$KV.hw_policy.current",
                "$SRV.>",
                "hw.status"
            ]
        );
        assert!(a.permissions.allow_responses);
        // Its user may publish what it imports and its own bucket's
        // subjects, and nothing that makes or changes a stream or consumer.
        for s in &a.permissions.publish_allow {
            for verb in ["CREATE", "UPDATE", "DELETE", "PURGE"] {
                assert!(!s.contains(verb), "{s} lets a member {verb}");
            }
        }
        assert!(
            a.permissions
                .publish_allow
                .contains(&"$KV.hw_cases_kz_mfa.>".to_owned())
        );
        // And its own event log: appending and reading by direct get.
        assert_eq!(a.event_log.as_deref(), Some("HW_EVENTS_kz_mfa"));
        for s in [
            "hw.events.kz.mfa.>",
            "$JS.API.STREAM.INFO.HW_EVENTS_kz_mfa",
            "$JS.API.DIRECT.GET.HW_EVENTS_kz_mfa",
            "$JS.API.DIRECT.GET.HW_EVENTS_kz_mfa.>",
        ] {
            assert!(
                a.permissions.publish_allow.contains(&s.to_owned()),
                "{s} missing"
            );
        }
        assert_eq!(
            provisioning_subjects(&a),
            [
                "INFO",
                "STREAM.INFO.KV_hw_cases_kz_mfa",
                "STREAM.CREATE.KV_hw_cases_kz_mfa",
                "STREAM.UPDATE.KV_hw_cases_kz_mfa",
                "STREAM.INFO.HW_EVENTS_kz_mfa",
                "STREAM.CREATE.HW_EVENTS_kz_mfa",
                "STREAM.UPDATE.HW_EVENTS_kz_mfa",
            ]
        );
    }

    #[test]
    fn the_gateway_writes_and_pulls_but_changes_no_stream() {
        let a = gateway_access(&member("homeward.gateway"));
        let l = locals(&a);
        for s in [
            "hw.deliver.>",
            "hw.audit.>",
            "$HW.API.STREAM.INFO.HW_AUDIT",
            "$HW.API.STREAM.MSG.GET.HW_AUDIT",
            "$HW.API.CONSUMER.MSG.NEXT.HW_SUBMIT.gateway",
            "$JS.ACK.HW_SUBMIT.gateway.>",
        ] {
            assert!(l.contains(&s), "{s} missing");
        }
        assert!(!l.iter().any(|s| s.starts_with("hw.submit")));
        for s in a
            .permissions
            .publish_allow
            .iter()
            .map(String::as_str)
            .chain(l)
        {
            for verb in ["CREATE", "UPDATE", "DELETE", "PURGE"] {
                assert!(!s.contains(verb), "{s} lets the gateway {verb}");
            }
        }
        assert_eq!(a.bucket.as_deref(), Some("hw_seen"));
    }

    #[test]
    fn the_operator_reads_metadata_and_the_audit_only() {
        let a = operator_access(&member("homeward.operator"));
        assert_eq!(a.bucket, None);
        for s in locals(&a) {
            for payload_stream in [
                SUBMIT_STREAM,
                DELIVER_STREAM,
                REJECTED_STREAM,
                RECEIPTS_STREAM,
            ] {
                for verb in ["MSG.GET", "DIRECT.GET", "MSG.NEXT"] {
                    assert!(
                        !s.contains(&format!("{verb}.{payload_stream}")),
                        "{s} reads payloads"
                    );
                }
            }
            for verb in ["CREATE", "UPDATE", "DELETE", "PURGE", "ACK", "ADVISORY.API"] {
                assert!(!s.contains(verb), "{s} lets the operator {verb}");
            }
            assert!(!s.starts_with("hw.") || s == AUDIT_ALL, "{s}");
        }
    }

    /// The part of `render`'s text that is `account`'s block.
    fn block<'a>(config: &'a str, account: &str) -> &'a str {
        let start = config
            .find(&format!("  \"{account}\": {{"))
            .unwrap_or_else(|| panic!("no block for {account}:\n{config}"));
        let rest = &config[start..];
        let end = rest[3..].find("\n  }\n").map_or(rest.len(), |e| e + 3);
        &rest[..end]
    }

    #[test]
    fn only_the_operator_reaches_each_identitys_discovery() {
        let ids = ["kz.mfa", "uz.mfa", "homeward.gateway", "homeward.operator"];
        let accounts = ids
            .iter()
            .map(|id| {
                let identity = member(id);
                let access = match *id {
                    "homeward.gateway" => gateway_access(&identity),
                    "homeward.operator" => operator_access(&identity),
                    _ => member_access(&identity),
                };
                NatsAccount {
                    name: account_name(&identity),
                    nkey: nkeys::KeyPair::new_user().public_key(),
                    identity,
                    access,
                    quota: crate::quota::Quota::default(),
                }
            })
            .collect();
        let auth = Authorization {
            streams_max_file: None,
            admin: None,
            accounts,
        };
        let config = render("test", &auth);
        let operator = account_name(&member("homeward.operator"));
        let srv_export = format!(
            "{{ service: \"$SRV.>\", response_type: \"stream\", accounts: [\"{operator}\"] }}"
        );
        for id in ["kz.mfa", "uz.mfa", "homeward.gateway"] {
            let name = account_name(&member(id));
            let own = block(&config, &name);
            // Exported to the operator alone, and answerable by its user.
            assert!(own.contains(&srv_export), "{own}");
            assert!(own.contains("allow_responses: true"), "{own}");
            // Imported by the operator under the identity's own token.
            let import = format!(
                "{{ service: {{ account: \"{name}\", subject: \"$SRV.>\" }}, to: \"{}\" }}",
                discovery_subject(&member(id), ">")
            );
            assert!(block(&config, &operator).contains(&import), "{config}");
            // No one else imports it, nor may publish to the operator's names.
            for other in ["kz.mfa", "uz.mfa", "homeward.gateway"] {
                let b = block(&config, &account_name(&member(other)));
                assert!(!b.contains(&format!("account: \"{name}\"")), "{b}");
                assert!(!b.contains("hw.srv."), "{b}");
            }
        }
        // The operator answers no discovery of its own and exports nothing
        // of its account's $SRV.
        let op = block(&config, &operator);
        assert!(!op.contains("{ service: \"$SRV.>\""), "{op}");
        assert!(!op.contains("allow_responses"), "{op}");
        assert_eq!(
            discovery_subject(&member("kz.mfa"), "PING"),
            format!("hw.srv.{}.PING", member("kz.mfa").token())
        );
    }

    #[test]
    fn the_streams_account_takes_a_storage_limit_when_given_one() {
        let mut auth = Authorization {
            streams_max_file: None,
            admin: None,
            accounts: Vec::new(),
        };
        let streams = |config: &str| block(config, STREAMS_ACCOUNT).to_owned();
        assert!(streams(&render("test", &auth)).contains("jetstream: enabled"));
        auth.streams_max_file = Some(500_000_000_000);
        let limited = streams(&render("test", &auth));
        assert!(
            limited.contains("jetstream: { max_file: 500000000000 }"),
            "{limited}"
        );
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
