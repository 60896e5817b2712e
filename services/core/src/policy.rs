//! The policy: who the members are, which keys speak for them, and who may
//! send what to whom.
//!
//! One TOML file under `deploy/policy/` is the single source of truth for the
//! gateway's decisions, the NATS server's permissions and the docs. Public
//! keys may sit in the policy itself or in keyring files it names (the
//! development keys made by `homeward keys generate`). Everything is checked
//! when the policy loads, and each problem is reported with where it is:
//! a policy that loads is one the gateway can apply without surprises.
//!
//! A route names a message type, the members or roles that may send it, and
//! recipient templates. A template is a member id in which `{sender.party}`
//! and `{data.<field>}` are replaced; a substituted value is lower-cased
//! (country codes travel upper-case in data) and the result must be a member
//! of the policy, of the role the template asks for where it asks for one,
//! and never the gateway or the operator console, which receive nothing.
//!
//! A `[quota]` table sets every member's quota, and a member's own `quota`
//! overrides it field by field ([`crate::quota`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Error;
use crate::keys::{DecodedKey, PublicKey};
use crate::member::MemberId;
use crate::quota::{Quota, QuotaEntry};
use crate::schema::SchemaRegistry;

/// What a member does. Routes may name senders by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A camp administration or a detaining authority.
    CampAuthority,
    /// A humanitarian intermediary (tracing, family links).
    Intermediary,
    /// Ministry of foreign affairs.
    Mfa,
    /// State security service.
    Security,
    /// Interior: border, civil registry, custody, documents, reintegration.
    Interior,
    /// Rehabilitation centre.
    Rehab,
    /// The Homeward gateway itself (signs receipts).
    Gateway,
    /// The operator console.
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::CampAuthority => "camp-authority",
            Role::Intermediary => "intermediary",
            Role::Mfa => "mfa",
            Role::Security => "security",
            Role::Interior => "interior",
            Role::Rehab => "rehab",
            Role::Gateway => "gateway",
            Role::Operator => "operator",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(Value::String(s.to_owned())).ok()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A public key and when it may sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberKey {
    pub public: PublicKey,
    pub valid_from: OffsetDateTime,
    pub valid_until: Option<OffsetDateTime>,
    pub revoked: bool,
}

/// Whether a key may sign at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Valid,
    /// The policy lists no such key for this member.
    Unknown,
    /// Outside its validity window.
    Expired,
    Revoked,
}

/// One member of the policy.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: MemberId,
    pub name: String,
    pub role: Role,
    pub keys: Vec<MemberKey>,
    /// The schema versions this member reads, per message type, where the
    /// policy lists them (sorted, without repeats); every other type it
    /// reads in version 1 only ([`Policy::reads`]).
    pub reads: BTreeMap<String, Vec<u32>>,
    /// What it may take of what all members share ([`crate::quota`]).
    pub quota: Quota,
}

/// The versions a member reads of a type the policy lists none for.
const DEFAULT_READS: &[u32] = &[1];

/// Who may send a type: a member or every member of a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderRule {
    Member(MemberId),
    Role(Role),
}

/// One part of a recipient template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    SenderParty,
    Data(String),
}

/// A recipient template, e.g. `{data.claimedNationality}.mfa`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientTemplate {
    pub template: String,
    pub role: Option<Role>,
    pieces: Vec<Piece>,
}

impl RecipientTemplate {
    /// The data fields this template reads.
    pub fn data_fields(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Data(f) => Some(f.as_str()),
            _ => None,
        })
    }
}

/// A route: one message type, its senders and recipients.
#[derive(Debug, Clone)]
pub struct Route {
    pub message_type: String,
    pub description: String,
    pub senders: Vec<SenderRule>,
    pub recipients: Vec<RecipientTemplate>,
}

/// Why a route gave no recipients for a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("data field {field:?} that the route reads is missing or not a string")]
    MissingField { field: String },
    #[error("recipient template {template:?} gives {value:?}, which is not a member")]
    NotAMember { template: String, value: String },
    #[error("recipient {member} is a {actual}, but the route sends this type only to a {expected}")]
    WrongRole {
        member: MemberId,
        expected: Role,
        actual: Role,
    },
    #[error("recipient {member} is the {role} and receives no deliveries")]
    NotAReceiver { member: MemberId, role: Role },
}

/// The loaded, checked policy.
#[derive(Debug, Clone)]
pub struct Policy {
    members: BTreeMap<MemberId, Member>,
    routes: BTreeMap<String, Route>,
    /// Every member key, decoded once when the policy loads, by its
    /// `sigkey` form: a gateway verifies with these instead of decoding
    /// the key of every submission again ([`Policy::decoded_key`]).
    decoded: HashMap<String, DecodedKey>,
    /// Where it was loaded from, for messages.
    pub origin: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    keyrings: Vec<String>,
    #[serde(default, rename = "member")]
    members: Vec<MemberEntry>,
    #[serde(default, rename = "route")]
    routes: Vec<RouteEntry>,
    /// Every member's quota unless its own entry says otherwise.
    #[serde(default)]
    quota: QuotaEntry,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberEntry {
    id: String,
    name: String,
    role: String,
    #[serde(default, rename = "key")]
    keys: Vec<KeyEntry>,
    /// `{ "camp.resident.located" = [1, 2] }`: the versions read per type.
    #[serde(default)]
    reads: BTreeMap<String, Vec<u32>>,
    /// This member's quota, field by field over the policy's `[quota]`.
    #[serde(default)]
    quota: QuotaEntry,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    public: String,
    valid_from: String,
    #[serde(default)]
    valid_until: Option<String>,
    #[serde(default)]
    revoked: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyringFile {
    #[serde(default, rename = "key")]
    keys: Vec<KeyringEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyringEntry {
    member: String,
    #[serde(flatten)]
    key: KeyEntry,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteEntry {
    #[serde(rename = "type")]
    message_type: String,
    #[serde(default)]
    description: String,
    senders: Vec<String>,
    recipients: Vec<RecipientEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipientEntry {
    member: String,
    #[serde(default)]
    role: Option<String>,
}

/// Collects every problem in a policy before failing, so one run shows them all.
struct Problems {
    origin: String,
    list: Vec<String>,
}

impl Problems {
    fn add(&mut self, problem: String) {
        self.list.push(problem);
    }
    fn finish(self) -> Result<(), Error> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(Error::Policy {
                origin: self.origin,
                problems: self.list,
            })
        }
    }
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

impl Policy {
    /// Loads a policy file and the keyrings it names (paths relative to the
    /// policy file), checked against the schemas.
    pub fn load(path: &Path, schemas: &SchemaRegistry) -> Result<Self, Error> {
        Self::load_with_keyrings(path, &[], schemas)
    }

    /// The member ids a policy file lists, without loading keys: for
    /// making development keys before any keyring exists.
    pub fn member_ids(path: &Path) -> Result<Vec<MemberId>, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_owned(),
            source: e,
        })?;
        let file: PolicyFile = toml::from_str(&text).map_err(|e| Error::Policy {
            origin: path.display().to_string(),
            problems: vec![e.to_string()],
        })?;
        file.members
            .iter()
            .map(|m| MemberId::parse(&m.id))
            .collect()
    }

    /// As [`Policy::load`], with extra keyring files.
    pub fn load_with_keyrings(
        path: &Path,
        extra: &[PathBuf],
        schemas: &SchemaRegistry,
    ) -> Result<Self, Error> {
        Self::load_inner(path, extra, false, schemas)
    }

    /// As [`Policy::load`], but with `keyrings` in place of the keyrings the
    /// file names: for tests and demos with keys of their own.
    pub fn load_replacing_keyrings(
        path: &Path,
        keyrings: &[PathBuf],
        schemas: &SchemaRegistry,
    ) -> Result<Self, Error> {
        Self::load_inner(path, keyrings, true, schemas)
    }

    fn load_inner(
        path: &Path,
        extra: &[PathBuf],
        replace: bool,
        schemas: &SchemaRegistry,
    ) -> Result<Self, Error> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|e| Error::Io {
                path: p.to_owned(),
                source: e,
            })
        };
        let text = read(path)?;
        let mut file: PolicyFile = toml::from_str(&text).map_err(|e| Error::Policy {
            origin: path.display().to_string(),
            problems: vec![e.to_string()],
        })?;
        if replace {
            file.keyrings.clear();
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let mut keyrings = Vec::new();
        for ring in file
            .keyrings
            .iter()
            .map(|r| base.join(r))
            .chain(extra.iter().cloned())
        {
            let text = read(&ring).map_err(|e| Error::Policy {
                origin: path.display().to_string(),
                problems: vec![format!(
                    "keyring {}: {e} (development keys are made by `homeward keys generate`)",
                    ring.display()
                )],
            })?;
            keyrings.push((ring.display().to_string(), text));
        }
        Self::build(path.display().to_string(), file, &keyrings, schemas)
    }

    /// Parses a policy from text, with keyrings given as (name, text).
    pub fn from_toml(
        origin: &str,
        text: &str,
        keyrings: &[(String, String)],
        schemas: &SchemaRegistry,
    ) -> Result<Self, Error> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| Error::Policy {
            origin: origin.to_owned(),
            problems: vec![e.to_string()],
        })?;
        if !file.keyrings.is_empty() {
            return Err(Error::Policy {
                origin: origin.to_owned(),
                problems: vec!["keyrings by path need Policy::load".into()],
            });
        }
        Self::build(origin.to_owned(), file, keyrings, schemas)
    }

    fn build(
        origin: String,
        file: PolicyFile,
        keyrings: &[(String, String)],
        schemas: &SchemaRegistry,
    ) -> Result<Self, Error> {
        let mut problems = Problems {
            origin: origin.clone(),
            list: Vec::new(),
        };
        let mut members: BTreeMap<MemberId, Member> = BTreeMap::new();
        let mut seen_keys: BTreeMap<String, String> = BTreeMap::new();
        let mut check_key =
            |problems: &mut Problems, owner: &str, at: &str, k: &KeyEntry| -> Option<MemberKey> {
                let public = match PublicKey::parse(&k.public) {
                    Ok(p) => p,
                    Err(e) => {
                        problems.add(format!("{at}: {e}"));
                        return None;
                    }
                };
                if let Some(first) = seen_keys.insert(k.public.clone(), at.to_owned()) {
                    problems.add(format!(
                        "{at}: duplicate key {} (already listed at {first})",
                        k.public
                    ));
                    return None;
                }
                let Some(valid_from) = parse_time(&k.valid_from) else {
                    problems.add(format!(
                        "{at}: valid_from {:?} is not an RFC 3339 time",
                        k.valid_from
                    ));
                    return None;
                };
                let valid_until = match &k.valid_until {
                    None => None,
                    Some(s) => match parse_time(s) {
                        Some(t) if t > valid_from => Some(t),
                        Some(_) => {
                            problems
                                .add(format!("{at}: valid_until {s:?} is not after valid_from"));
                            return None;
                        }
                        None => {
                            problems
                                .add(format!("{at}: valid_until {s:?} is not an RFC 3339 time"));
                            return None;
                        }
                    },
                };
                let _ = owner;
                Some(MemberKey {
                    public,
                    valid_from,
                    valid_until,
                    revoked: k.revoked,
                })
            };

        let default_quota = file
            .quota
            .over(Quota::default(), "[quota]", &mut problems.list);
        for (i, entry) in file.members.iter().enumerate() {
            let at = format!("member {} ({:?})", i + 1, entry.id);
            let id = match MemberId::parse(&entry.id) {
                Ok(id) => id,
                Err(e) => {
                    problems.add(format!("{at}: {e}"));
                    continue;
                }
            };
            let Some(role) = Role::parse(&entry.role) else {
                problems.add(format!("{at}: unknown role {:?}", entry.role));
                continue;
            };
            let keys = entry
                .keys
                .iter()
                .enumerate()
                .filter_map(|(k, key)| {
                    check_key(
                        &mut problems,
                        &entry.id,
                        &format!("{at} key {}", k + 1),
                        key,
                    )
                })
                .collect();
            if members.contains_key(&id) {
                problems.add(format!("{at}: duplicate member id"));
                continue;
            }
            members.insert(
                id.clone(),
                Member {
                    id,
                    name: entry.name.clone(),
                    role,
                    keys,
                    reads: BTreeMap::new(),
                    quota: entry.quota.over(default_quota, &at, &mut problems.list),
                },
            );
        }

        for (name, text) in keyrings {
            let ring: KeyringFile = match toml::from_str(text) {
                Ok(r) => r,
                Err(e) => {
                    problems.add(format!("keyring {name}: {e}"));
                    continue;
                }
            };
            for (i, entry) in ring.keys.iter().enumerate() {
                let at = format!("keyring {name} key {} ({:?})", i + 1, entry.member);
                let Some(member) = MemberId::parse(&entry.member)
                    .ok()
                    .filter(|m| members.contains_key(m))
                else {
                    problems.add(format!("{at}: unknown member {:?}", entry.member));
                    continue;
                };
                if let Some(key) = check_key(&mut problems, &entry.member, &at, &entry.key)
                    && let Some(m) = members.get_mut(&member)
                {
                    m.keys.push(key);
                }
            }
        }

        let mut routes = BTreeMap::new();
        for (i, entry) in file.routes.iter().enumerate() {
            let at = format!("route {} ({:?})", i + 1, entry.message_type);
            if schemas.latest_schema_id(&entry.message_type).is_none() {
                problems.add(format!(
                    "{at}: no schema is published for type {:?}",
                    entry.message_type
                ));
            }
            let mut senders = Vec::new();
            for s in &entry.senders {
                if let Some(role) = s.strip_prefix("role:") {
                    match Role::parse(role) {
                        Some(r) => senders.push(SenderRule::Role(r)),
                        None => problems.add(format!("{at}: sender {s:?} names an unknown role")),
                    }
                } else {
                    match MemberId::parse(s) {
                        Ok(m) if members.contains_key(&m) => senders.push(SenderRule::Member(m)),
                        _ => problems
                            .add(format!("{at}: sender {s:?} is not a member of the policy")),
                    }
                }
            }
            if entry.senders.is_empty() {
                problems.add(format!("{at}: no senders"));
            }
            if entry.recipients.is_empty() {
                problems.add(format!("{at}: no recipients"));
            }
            let mut recipients = Vec::new();
            for r in &entry.recipients {
                let role = match r.role.as_deref().map(|s| (s, Role::parse(s))) {
                    None => None,
                    Some((_, Some(role))) => Some(role),
                    Some((s, None)) => {
                        problems.add(format!(
                            "{at}: recipient {:?} asks for unknown role {s:?}",
                            r.member
                        ));
                        continue;
                    }
                };
                match parse_template(&r.member) {
                    Err(e) => problems.add(format!("{at}: recipient {:?}: {e}", r.member)),
                    Ok(pieces) => {
                        let template = RecipientTemplate {
                            template: r.member.clone(),
                            role,
                            pieces,
                        };
                        for field in template.data_fields() {
                            if !schemas.declares_field(&entry.message_type, field) {
                                problems.add(format!(
                                    "{at}: recipient {:?} reads data field {field:?}, which the schema of {:?} does not have",
                                    r.member, entry.message_type
                                ));
                            }
                        }
                        if template.pieces.iter().all(|p| matches!(p, Piece::Text(_))) {
                            match MemberId::parse(&r.member) {
                                Ok(m) if members.contains_key(&m) => {}
                                _ => problems.add(format!(
                                    "{at}: recipient {:?} is not a member of the policy",
                                    r.member
                                )),
                            }
                        }
                        recipients.push(template);
                    }
                }
            }
            let route = Route {
                message_type: entry.message_type.clone(),
                description: entry.description.clone(),
                senders,
                recipients,
            };
            if routes.insert(entry.message_type.clone(), route).is_some() {
                problems.add(format!("{at}: a second route for the same type"));
            }
        }
        let decoded = members
            .values()
            .flat_map(|m| &m.keys)
            .filter_map(|k| {
                let decoded = DecodedKey::parse(k.public.as_str()).ok()?;
                Some((k.public.as_str().to_owned(), decoded))
            })
            .collect();
        let mut policy = Self {
            members,
            routes,
            decoded,
            origin,
        };
        policy.check_reads(&file.members, schemas, &mut problems);
        problems.finish()?;
        Ok(policy)
    }

    /// Takes each member's `reads`: every type must be one a route delivers
    /// to it, every version one `schemas/` publishes.
    fn check_reads(
        &mut self,
        entries: &[MemberEntry],
        schemas: &SchemaRegistry,
        problems: &mut Problems,
    ) {
        let published = schemas.message_types();
        for (i, entry) in entries.iter().enumerate() {
            let Ok(id) = MemberId::parse(&entry.id) else {
                continue;
            };
            if entry.reads.is_empty() || !self.members.contains_key(&id) {
                continue;
            }
            let received = self.types_received_by(&id);
            let at = format!("member {} ({:?})", i + 1, entry.id);
            let mut reads = BTreeMap::new();
            for (kind, versions) in &entry.reads {
                let Some(available) = published.get(kind) else {
                    problems.add(format!(
                        "{at}: reads {kind:?}, for which no schema is published"
                    ));
                    continue;
                };
                if !received.contains(kind) {
                    problems.add(format!(
                        "{at}: reads {kind:?}, which no route delivers to it"
                    ));
                    continue;
                }
                if versions.is_empty() {
                    problems.add(format!(
                        "{at}: reads no version of {kind:?}; leave the type out to read version 1"
                    ));
                    continue;
                }
                let mut list = versions.clone();
                list.sort_unstable();
                list.dedup();
                let unknown: Vec<String> = list
                    .iter()
                    .filter(|v| !available.contains(v))
                    .map(|v| format!("v{v}"))
                    .collect();
                if !unknown.is_empty() {
                    problems.add(format!(
                        "{at}: reads {kind:?} in {}, which is not published (published: {})",
                        unknown.join(", "),
                        versions_text(available)
                    ));
                    continue;
                }
                reads.insert(kind.clone(), list);
            }
            if let Some(member) = self.members.get_mut(&id) {
                member.reads = reads;
            }
        }
    }

    /// The schema versions of `message_type` that `member` reads: what the
    /// policy lists for it, or version 1.
    pub fn reads(&self, member: &MemberId, message_type: &str) -> &[u32] {
        self.members
            .get(member)
            .and_then(|m| m.reads.get(message_type))
            .map_or(DEFAULT_READS, Vec::as_slice)
    }

    /// The first of `recipients` that does not read `message_type` in
    /// `version`, with the versions it does read.
    pub fn first_not_reading<'a>(
        &'a self,
        recipients: &'a [MemberId],
        message_type: &str,
        version: u32,
    ) -> Option<(&'a MemberId, &'a [u32])> {
        recipients.iter().find_map(|r| {
            let reads = self.reads(r, message_type);
            (!reads.contains(&version)).then_some((r, reads))
        })
    }

    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    pub fn member(&self, id: &MemberId) -> Option<&Member> {
        self.members.get(id)
    }

    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        self.routes.values()
    }

    pub fn route(&self, message_type: &str) -> Option<&Route> {
        self.routes.get(message_type)
    }

    /// The members that have a given role.
    pub fn members_with_role(&self, role: Role) -> impl Iterator<Item = &Member> {
        self.members.values().filter(move |m| m.role == role)
    }

    /// Whether `key` may sign for `member` at time `at`.
    pub fn key_status(&self, member: &MemberId, key: &str, at: OffsetDateTime) -> KeyStatus {
        let Some(found) = self
            .members
            .get(member)
            .and_then(|m| m.keys.iter().find(|k| k.public.as_str() == key))
        else {
            return KeyStatus::Unknown;
        };
        if found.revoked {
            KeyStatus::Revoked
        } else if at < found.valid_from || found.valid_until.is_some_and(|until| at >= until) {
            KeyStatus::Expired
        } else {
            KeyStatus::Valid
        }
    }

    /// A key the policy lists (for any member, at any time), decoded; for
    /// [`crate::envelope::Envelope::from_value_with_keys`]. Whether the key
    /// may sign for an envelope's sender is [`Policy::key_status`].
    pub fn decoded_key(&self, key: &str) -> Option<DecodedKey> {
        self.decoded.get(key).copied()
    }

    /// Whether the route of `message_type` lets `sender` send it.
    pub fn may_send(&self, sender: &MemberId, message_type: &str) -> bool {
        let (Some(route), Some(member)) = (self.routes.get(message_type), self.members.get(sender))
        else {
            return false;
        };
        route.senders.iter().any(|rule| match rule {
            SenderRule::Member(m) => m == sender,
            SenderRule::Role(r) => *r == member.role,
        })
    }

    /// The members a message goes to, in template order, without repeats.
    pub fn recipients(
        &self,
        route: &Route,
        sender: &MemberId,
        data: &Value,
    ) -> Result<Vec<MemberId>, RouteError> {
        let mut out: Vec<MemberId> = Vec::new();
        for template in &route.recipients {
            let mut text = String::new();
            for piece in &template.pieces {
                match piece {
                    Piece::Text(t) => text.push_str(t),
                    Piece::SenderParty => text.push_str(sender.party()),
                    Piece::Data(field) => {
                        let pointer = format!("/{}", field.replace('.', "/"));
                        let value = data
                            .pointer(&pointer)
                            .and_then(Value::as_str)
                            .filter(|s| !s.is_empty() && s.len() <= 64)
                            .ok_or_else(|| RouteError::MissingField {
                                field: field.clone(),
                            })?;
                        text.push_str(&value.to_ascii_lowercase());
                    }
                }
            }
            let member = MemberId::parse(&text)
                .ok()
                .and_then(|m| self.members.get(&m))
                .ok_or_else(|| RouteError::NotAMember {
                    template: template.template.clone(),
                    value: text.chars().take(64).collect(),
                })?;
            // The gateway and the operator console have no delivery
            // consumer (see `streams::provision_members`): a message a
            // template sent to them would be accepted and then read by
            // nobody. Templates that read the data (`{data.originalSender}`)
            // could otherwise be pointed at them by any sender.
            if matches!(member.role, Role::Gateway | Role::Operator) {
                return Err(RouteError::NotAReceiver {
                    member: member.id.clone(),
                    role: member.role,
                });
            }
            if let Some(expected) = template.role
                && member.role != expected
            {
                return Err(RouteError::WrongRole {
                    member: member.id.clone(),
                    expected,
                    actual: member.role,
                });
            }
            if !out.contains(&member.id) {
                out.push(member.id.clone());
            }
        }
        Ok(out)
    }

    /// Every message type some route lets `member` receive, for consumers'
    /// filters and the docs.
    pub fn types_received_by(&self, member: &MemberId) -> BTreeSet<String> {
        let Some(m) = self.members.get(member) else {
            return BTreeSet::new();
        };
        // `recipients` never delivers to them, whatever a template gives.
        if matches!(m.role, Role::Gateway | Role::Operator) {
            return BTreeSet::new();
        }
        self.routes
            .values()
            .filter(|r| {
                r.recipients.iter().any(|t| {
                    t.role.is_none_or(|role| role == m.role) && template_could_give(t, member)
                })
            })
            .map(|r| r.message_type.clone())
            .collect()
    }
}

/// Whether a template could resolve to `member` (data fields match anything).
fn template_could_give(template: &RecipientTemplate, member: &MemberId) -> bool {
    // Build a loose pattern: text must match literally, `{sender.party}`
    // matches one token without dots, and a data field matches any
    // non-empty text, dots included: `{data.campAuthority}` is a whole
    // member id.
    fn matches(pieces: &[Piece], rest: &str) -> bool {
        match pieces.split_first() {
            None => rest.is_empty(),
            Some((Piece::Text(t), tail)) => rest
                .strip_prefix(t.as_str())
                .is_some_and(|r| matches(tail, r)),
            Some((piece, tail)) => (1..=rest.len()).any(|n| {
                rest.is_char_boundary(n)
                    && (matches!(piece, Piece::Data(_)) || !rest[..n].contains('.'))
                    && matches(tail, &rest[n..])
            }),
        }
    }
    matches(&template.pieces, member.as_str())
}

fn parse_template(template: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        match rest.find('{') {
            Some(0) => {
                let end = rest.find('}').ok_or("an unclosed \"{\"")?;
                let name = &rest[1..end];
                if name == "sender.party" {
                    pieces.push(Piece::SenderParty);
                } else if let Some(field) = name.strip_prefix("data.") {
                    let ok = !field.is_empty()
                        && field.split('.').all(|p| {
                            !p.is_empty()
                                && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        });
                    if !ok {
                        return Err(format!("{{{name}}} is not a data field path"));
                    }
                    pieces.push(Piece::Data(field.to_owned()));
                } else {
                    return Err(format!(
                        "unknown placeholder {{{name}}} (known: {{sender.party}}, {{data.<field>}})"
                    ));
                }
                rest = &rest[end + 1..];
            }
            Some(n) => {
                pieces.push(Piece::Text(rest[..n].to_owned()));
                rest = &rest[n..];
            }
            None => {
                pieces.push(Piece::Text(rest.to_owned()));
                rest = "";
            }
        }
    }
    if pieces
        .iter()
        .any(|p| matches!(p, Piece::Text(t) if t.contains('}')))
    {
        return Err("a \"}\" without \"{\"".into());
    }
    Ok(pieces)
}

/// `v1, v2`.
pub fn versions_text(versions: &[u32]) -> String {
    versions
        .iter()
        .map(|v| format!("v{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse() {
        assert_eq!(
            parse_template("{data.claimedNationality}.mfa").expect("parses"),
            vec![
                Piece::Data("claimedNationality".into()),
                Piece::Text(".mfa".into())
            ]
        );
        assert_eq!(
            parse_template("{sender.party}.security").expect("parses"),
            vec![Piece::SenderParty, Piece::Text(".security".into())]
        );
        assert!(parse_template("{data.}.mfa").is_err());
        assert!(parse_template("{who}.mfa").is_err());
        assert!(parse_template("{data.x.mfa").is_err());
    }

    #[test]
    fn a_data_field_can_give_a_whole_member_id() {
        let template = |t: &str| RecipientTemplate {
            template: t.to_owned(),
            role: None,
            pieces: parse_template(t).expect("parses"),
        };
        let camps = MemberId::parse("aanes.camps").expect("id");
        let kz_mfa = MemberId::parse("kz.mfa").expect("id");
        assert!(template_could_give(
            &template("{data.campAuthority}"),
            &camps
        ));
        assert!(template_could_give(
            &template("{data.claimedNationality}.mfa"),
            &kz_mfa
        ));
        assert!(template_could_give(
            &template("{sender.party}.mfa"),
            &kz_mfa
        ));
        assert!(!template_could_give(&template("{sender.party}"), &camps));
        assert!(!template_could_give(
            &template("{sender.party}.security"),
            &kz_mfa
        ));
    }
}
