//! The envelope: a CloudEvents 1.0 event in JSON structured mode, signed.
//!
//! Every message in Homeward is one [`Envelope`]. Parsing from bytes is the
//! network edge: the size is bounded, the JSON is parsed strictly (no
//! duplicate keys, bounded depth), unknown attributes are refused, every
//! attribute is checked, and no string or key in `data` holds a control
//! character other than tab and line breaks, so an `Envelope` that exists is
//! well formed. Whether its data matches its schema, and whether its key
//! belongs to its sender, are the schema registry's and the policy's
//! questions.
//!
//! The signature covers the RFC 8785 (JCS) canonical form of the envelope
//! without `sig`; `sigkey` is inside the signed bytes, so the key cannot be
//! swapped without breaking the signature.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::canonical::{self, Member};
use crate::keys::{DecodedKey, SigningKey};
use crate::member::MemberId;
use crate::{Error, json};

/// Envelopes larger than this are refused before parsing.
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;
/// The only CloudEvents version we speak.
pub const SPEC_VERSION: &str = "1.0";
/// The only data content type we carry.
pub const DATA_CONTENT_TYPE: &str = "application/json";
/// The media type of an envelope on the wire.
pub const MEDIA_TYPE: &str = "application/cloudevents+json";

/// One reason an envelope is not well formed, at a JSON pointer into it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    #[serde(rename = "instancePath")]
    pub instance_path: String,
    pub message: String,
}

impl Violation {
    pub fn new(instance_path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            instance_path: instance_path.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.instance_path.is_empty() {
            "(root)"
        } else {
            &self.instance_path
        };
        write!(f, "{path}: {}", self.message)
    }
}

/// Why bytes are not an envelope. Each maps to one rejection code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("envelope is {size} bytes, over the {limit} byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("not well-formed JSON: {0}")]
    MalformedJson(String),
    #[error("not a valid envelope: {}", .0.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("; "))]
    BadEnvelope(Vec<Violation>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    specversion: String,
    id: String,
    source: String,
    #[serde(rename = "type")]
    kind: String,
    dataschema: String,
    time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    datacontenttype: String,
    data: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    traceparent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    causationid: Option<String>,
    sigkey: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sig: Option<String>,
}

/// A well-formed envelope. Built by [`EnvelopeBuilder`] or parsed by
/// [`Envelope::parse`]; both check every attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    wire: Wire,
    sender: MemberId,
    time: OffsetDateTime,
    /// `sigkey`, decoded when it was checked, to verify `sig` with.
    key: DecodedKey,
}

impl Serialize for Envelope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.wire.serialize(s)
    }
}

impl Envelope {
    /// Parses envelope bytes from the network.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(ParseError::TooLarge {
                size: bytes.len(),
                limit: MAX_ENVELOPE_BYTES,
            });
        }
        let value =
            json::parse_strict(bytes).map_err(|e| ParseError::MalformedJson(e.to_string()))?;
        Self::from_value(value)
    }

    /// Checks an already parsed JSON value as an envelope.
    pub fn from_value(value: Value) -> Result<Self, ParseError> {
        Self::from_value_with_keys(value, |_| None)
    }

    /// As [`Envelope::from_value`], taking `sigkey` decoded from `known`
    /// where it knows it (a gateway's policy keys, decoded once per policy
    /// version) instead of decoding it again. `known` must give the key a
    /// `sigkey` decodes to, or nothing: the verdict is then the same.
    pub fn from_value_with_keys(
        value: Value,
        known: impl Fn(&str) -> Option<DecodedKey>,
    ) -> Result<Self, ParseError> {
        let object = match value {
            Value::Object(object) => object,
            other => {
                return Err(ParseError::BadEnvelope(vec![Violation::new(
                    "",
                    format!("an envelope is a JSON object, not {}", json_kind(&other)),
                )]));
            }
        };
        let mut violations = shape_violations(&object);
        if !violations.is_empty() {
            return Err(ParseError::BadEnvelope(violations));
        }
        let wire: Wire = serde_json::from_value(Value::Object(object))
            .map_err(|e| ParseError::BadEnvelope(vec![Violation::new("", e.to_string())]))?;
        let key = known(&wire.sigkey);
        let checked = check(wire, key, &mut violations);
        match checked {
            Some(envelope) if violations.is_empty() => Ok(envelope),
            _ => Err(ParseError::BadEnvelope(violations)),
        }
    }

    pub fn id(&self) -> &str {
        &self.wire.id
    }
    pub fn source(&self) -> &str {
        &self.wire.source
    }
    /// The member named by `source`.
    pub fn sender(&self) -> &MemberId {
        &self.sender
    }
    /// The message type, e.g. `repatriation.requested`.
    pub fn message_type(&self) -> &str {
        &self.wire.kind
    }
    pub fn dataschema(&self) -> &str {
        &self.wire.dataschema
    }
    pub fn time(&self) -> OffsetDateTime {
        self.time
    }
    pub fn time_str(&self) -> &str {
        &self.wire.time
    }
    /// The case reference, where there is one.
    pub fn subject(&self) -> Option<&str> {
        self.wire.subject.as_deref()
    }
    pub fn data(&self) -> &Value {
        &self.wire.data
    }
    pub fn traceparent(&self) -> Option<&str> {
        self.wire.traceparent.as_deref()
    }
    pub fn causationid(&self) -> Option<&str> {
        self.wire.causationid.as_deref()
    }
    pub fn sigkey(&self) -> &str {
        &self.wire.sigkey
    }
    pub fn sig(&self) -> Option<&str> {
        self.wire.sig.as_deref()
    }

    /// The RFC 8785 canonical form of the envelope without `sig`: the bytes
    /// that are signed.
    pub fn signing_bytes(&self) -> Result<Vec<u8>, Error> {
        // Written from borrowed attributes, in the canonical writer's own
        // order: no copy of the envelope without `sig`, no `Value` of it.
        let w = &self.wire;
        let mut members = [("", Member::Str("")); 12];
        let mut n = 0;
        let mut put = |name, member| {
            members[n] = (name, member);
            n += 1;
        };
        put("specversion", Member::Str(&w.specversion));
        put("id", Member::Str(&w.id));
        put("source", Member::Str(&w.source));
        put("type", Member::Str(&w.kind));
        put("dataschema", Member::Str(&w.dataschema));
        put("time", Member::Str(&w.time));
        if let Some(subject) = &w.subject {
            put("subject", Member::Str(subject));
        }
        put("datacontenttype", Member::Str(&w.datacontenttype));
        put("data", Member::Value(&w.data));
        if let Some(traceparent) = &w.traceparent {
            put("traceparent", Member::Str(traceparent));
        }
        if let Some(causationid) = &w.causationid {
            put("causationid", Member::Str(causationid));
        }
        put("sigkey", Member::Str(&w.sigkey));
        let mut out = Vec::with_capacity(512);
        canonical::write_object(&mut members[..n], &mut out);
        Ok(out)
    }

    /// Verifies `sig` with `sigkey`. Whether `sigkey` may speak for the
    /// sender is the policy's question.
    pub fn verify_signature(&self) -> Result<(), Error> {
        let sig = self
            .wire
            .sig
            .as_deref()
            .ok_or_else(|| Error::Signature("envelope has no sig".into()))?;
        self.key.verify(&self.signing_bytes()?, sig)
    }

    /// The envelope as compact JSON bytes, ready to publish.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising a struct of strings and a `Value` cannot fail.
        serde_json::to_vec(&self.wire).unwrap_or_default()
    }

    /// The envelope as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(&self.wire).unwrap_or(Value::Null)
    }

    /// Replaces the signature; for tests that need a wrong one.
    #[doc(hidden)]
    pub fn with_sig(mut self, sig: &str) -> Self {
        self.wire.sig = Some(sig.to_owned());
        self
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

const REQUIRED: [&str; 9] = [
    "specversion",
    "id",
    "source",
    "type",
    "dataschema",
    "time",
    "datacontenttype",
    "data",
    "sigkey",
];
const OPTIONAL: [&str; 4] = ["subject", "traceparent", "causationid", "sig"];

/// Missing, unknown and wrongly typed attributes, named one by one (serde
/// would stop at the first).
fn shape_violations(object: &Map<String, Value>) -> Vec<Violation> {
    let mut out = Vec::new();
    for name in REQUIRED {
        if !object.contains_key(name) {
            out.push(Violation::new(
                "",
                format!("required attribute {name:?} is missing"),
            ));
        }
    }
    // Unknown attributes are counted, not named: an attribute name is the
    // sender's text like any value, and may be personal data (a payload
    // keyed by a person's name one level too high).
    let unknown = object
        .keys()
        .filter(|name| !REQUIRED.contains(&name.as_str()) && !OPTIONAL.contains(&name.as_str()))
        .count();
    if unknown > 0 {
        out.push(Violation::new(
            "",
            format!(
                "{unknown} unknown attribute{} (names not repeated: they may be personal data); \
                 the envelope schema lists the attributes there are",
                if unknown == 1 { "" } else { "s" }
            ),
        ));
    }
    for (name, value) in object {
        let known = REQUIRED.contains(&name.as_str()) || OPTIONAL.contains(&name.as_str());
        if !known {
            continue;
        }
        let ok = if name == "data" {
            value.is_object()
        } else {
            value.is_string()
        };
        if !ok {
            let want = if name == "data" {
                "an object"
            } else {
                "a string"
            };
            out.push(Violation::new(
                format!("/{name}"),
                format!("must be {want}, not {}", json_kind(value)),
            ));
        }
    }
    out
}

/// Checks every attribute of `wire`; `key` is `sigkey` already decoded, if
/// the caller has it.
fn check(wire: Wire, key: Option<DecodedKey>, out: &mut Vec<Violation>) -> Option<Envelope> {
    if wire.specversion != SPEC_VERSION {
        out.push(Violation::new("/specversion", "must be \"1.0\""));
    }
    if !is_ulid(&wire.id) {
        out.push(Violation::new(
            "/id",
            "must be a ULID (26 characters of Crockford base32)",
        ));
    }
    let sender = MemberId::from_source(&wire.source)
        .map_err(|_| {
            out.push(Violation::new(
                "/source",
                "must be urn:homeward:<party>.<unit>",
            ))
        })
        .ok();
    if !is_message_type(&wire.kind) {
        out.push(Violation::new(
            "/type",
            "must be dotted lower-case words, e.g. repatriation.requested",
        ));
    }
    if !wire.dataschema.starts_with(crate::schema::MESSAGES_BASE) || wire.dataschema.len() > 200 {
        out.push(Violation::new(
            "/dataschema",
            format!(
                "must be a Homeward message schema id under {}",
                crate::schema::MESSAGES_BASE
            ),
        ));
    }
    let time = parse_utc(&wire.time)
        .map_err(|_| {
            out.push(Violation::new(
                "/time",
                "must be an RFC 3339 time in UTC ending in Z",
            ))
        })
        .ok();
    if let Some(subject) = &wire.subject
        && !is_case_ref(subject)
    {
        out.push(Violation::new(
            "/subject",
            "must be a case reference such as HOL-P5-000123",
        ));
    }
    if wire.datacontenttype != DATA_CONTENT_TYPE {
        out.push(Violation::new(
            "/datacontenttype",
            "must be \"application/json\"",
        ));
    }
    if let Some(tp) = &wire.traceparent
        && !is_traceparent(tp)
    {
        out.push(Violation::new(
            "/traceparent",
            "must be a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)",
        ));
    }
    if let Some(c) = &wire.causationid
        && !is_ulid(c)
    {
        out.push(Violation::new("/causationid", "must be a ULID"));
    }
    // Where it is would name keys of the data, which may be personal data
    // (a name used as a key): the reason points at /data only.
    if has_control_character(&wire.data) {
        out.push(Violation::new(
            "/data",
            "a string or key holds a control character other than tab, line feed and carriage return",
        ));
    }
    let key = key
        .map_or_else(|| DecodedKey::parse(&wire.sigkey), Ok)
        .map_err(|_| {
            out.push(Violation::new(
                "/sigkey",
                "must be an nkeys user public key (U…, 56 characters)",
            ))
        })
        .ok();
    if let Some(sig) = &wire.sig
        && (sig.len() != 86
            || !sig
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        out.push(Violation::new(
            "/sig",
            "must be 86 characters of base64url (an Ed25519 signature)",
        ));
    }
    match (sender, time, key) {
        (Some(sender), Some(time), Some(key)) => Some(Envelope {
            wire,
            sender,
            time,
            key,
        }),
        _ => None,
    }
}

/// Whether any string or key of `data` holds a control character (Unicode
/// `Cc`: U+0000–U+001F, U+007F–U+009F) other than tab, line feed and
/// carriage return. JSON can carry any of them escaped (`\u0000`), and no
/// field of ours means one: NUL ends a C string and cannot be stored in a
/// PostgreSQL text column, so a recipient could store a name other than the
/// one signed; ESC and the C1 controls drive the terminals operators watch
/// flows on. Tab and line breaks stay allowed in free text.
fn has_control_character(data: &Value) -> bool {
    fn refused(s: &str) -> bool {
        s.chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    }
    match data {
        Value::String(s) => refused(s),
        Value::Array(items) => items.iter().any(has_control_character),
        Value::Object(map) => map
            .iter()
            .any(|(key, item)| refused(key) || has_control_character(item)),
        _ => false,
    }
}

/// Whether `s` is a ULID in canonical upper-case Crockford base32.
pub fn is_ulid(s: &str) -> bool {
    s.len() == 26
        && s.as_bytes()[0] <= b'7'
        && s.bytes().all(|b| {
            b.is_ascii_digit()
                || (b.is_ascii_uppercase() && !matches!(b, b'I' | b'L' | b'O' | b'U'))
        })
}

/// Whether `s` is a message type: dot-separated lower-case words, at most
/// 64 characters, at least two words (`camp.resident.located`).
pub fn is_message_type(s: &str) -> bool {
    s.len() <= 64
        && s.contains('.')
        && s.split('.')
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

/// Whether `s` is a case reference: `^[A-Z]{2,8}(-[A-Z0-9]{1,12}){1,4}$`.
pub fn is_case_ref(s: &str) -> bool {
    let mut parts = s.split('-');
    let head = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    (2..=8).contains(&head.len())
        && head.bytes().all(|b| b.is_ascii_uppercase())
        && (1..=4).contains(&rest.len())
        && rest.iter().all(|p| {
            (1..=12).contains(&p.len())
                && p.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        })
}

fn is_traceparent(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let hex = |p: &str, n: usize| {
        p.len() == n
            && p.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
}

fn parse_utc(s: &str) -> Result<OffsetDateTime, ()> {
    if !s.ends_with('Z') {
        return Err(());
    }
    OffsetDateTime::parse(s, &Rfc3339).map_err(|_| ())
}

/// Formats a time as RFC 3339 UTC with millisecond precision.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let ms = t.millisecond();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A fresh ULID.
pub fn new_id() -> String {
    ulid::Ulid::new().to_string()
}

/// The trace id of a W3C traceparent (its 32 hex digits), if it is one.
pub fn trace_id(traceparent: &str) -> Option<&str> {
    is_traceparent(traceparent).then(|| &traceparent[3..35])
}

/// A fresh W3C traceparent with a random trace and span.
pub fn new_traceparent() -> String {
    let trace: u128 = rand::random::<u128>().max(1);
    let span: u64 = rand::random::<u64>().max(1);
    format!("00-{trace:032x}-{span:016x}-01")
}

/// Builds and signs an envelope.
#[derive(Debug, Clone)]
pub struct EnvelopeBuilder {
    kind: String,
    dataschema: String,
    data: Value,
    id: Option<String>,
    time: Option<String>,
    subject: Option<String>,
    traceparent: Option<String>,
    causationid: Option<String>,
}

impl EnvelopeBuilder {
    /// A message of `kind` whose `data` conforms to the schema `dataschema`.
    pub fn new(kind: &str, dataschema: &str, data: Value) -> Self {
        Self {
            kind: kind.to_owned(),
            dataschema: dataschema.to_owned(),
            data,
            id: None,
            time: None,
            subject: None,
            traceparent: None,
            causationid: None,
        }
    }
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
    pub fn time(mut self, time: OffsetDateTime) -> Self {
        self.time = Some(format_time(time));
        self
    }
    /// Sets `time` from text, kept exactly as written.
    pub fn time_str(mut self, time: impl Into<String>) -> Self {
        self.time = Some(time.into());
        self
    }
    pub fn subject(mut self, case_ref: impl Into<String>) -> Self {
        self.subject = Some(case_ref.into());
        self
    }
    pub fn traceparent(mut self, tp: impl Into<String>) -> Self {
        self.traceparent = Some(tp.into());
        self
    }
    pub fn causationid(mut self, id: impl Into<String>) -> Self {
        self.causationid = Some(id.into());
        self
    }

    /// Fills what is missing (id, time, traceparent), signs as `sender` with
    /// `key`, and checks the result as a parser would.
    pub fn sign(self, sender: &MemberId, key: &SigningKey) -> Result<Envelope, Error> {
        let wire = Wire {
            specversion: SPEC_VERSION.to_owned(),
            id: self.id.unwrap_or_else(new_id),
            source: sender.source(),
            kind: self.kind,
            dataschema: self.dataschema,
            time: self
                .time
                .unwrap_or_else(|| format_time(OffsetDateTime::now_utc())),
            subject: self.subject,
            datacontenttype: DATA_CONTENT_TYPE.to_owned(),
            data: self.data,
            traceparent: Some(self.traceparent.unwrap_or_else(new_traceparent)),
            causationid: self.causationid,
            sigkey: key.public().as_str().to_owned(),
            sig: None,
        };
        let mut violations = Vec::new();
        let checked = check(wire, Some(*key.decoded_public()), &mut violations);
        let mut envelope = match checked {
            Some(e) if violations.is_empty() => e,
            _ => return Err(Error::Envelope(ParseError::BadEnvelope(violations))),
        };
        let sig = key.sign(&envelope.signing_bytes()?);
        envelope.wire.sig = Some(sig);
        Ok(envelope)
    }
}

/// Signs a JSON object in place as an envelope: sets `sigkey` and `sig`.
/// For tools that keep an envelope as written (examples, corpora).
pub fn sign_value(object: &mut Map<String, Value>, key: &SigningKey) -> Result<(), Error> {
    object.remove("sig");
    object.insert(
        "sigkey".into(),
        Value::String(key.public().as_str().to_owned()),
    );
    let bytes = canonical::object_to_vec(object);
    object.insert("sig".into(), Value::String(key.sign(&bytes)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(key: &SigningKey) -> Envelope {
        EnvelopeBuilder::new(
            "repatriation.requested",
            "https://schemas.homeward.example/messages/repatriation.requested/v1.json",
            json!({"campAuthority": "aanes.camps"}),
        )
        .subject("HOL-P5-000123")
        .sign(&MemberId::parse("kz.mfa").expect("member"), key)
        .expect("signs")
    }

    #[test]
    fn built_envelopes_parse_back_and_verify() {
        let key = SigningKey::generate();
        let env = sample(&key);
        let back = Envelope::parse(&env.to_bytes()).expect("parses");
        assert_eq!(back, env);
        back.verify_signature().expect("verifies");
        assert_eq!(back.sender().as_str(), "kz.mfa");
    }

    #[test]
    fn size_json_and_shape_are_checked() {
        let big = vec![b' '; MAX_ENVELOPE_BYTES + 1];
        assert!(matches!(
            Envelope::parse(&big),
            Err(ParseError::TooLarge { .. })
        ));
        assert!(matches!(
            Envelope::parse(b"{\"a\":"),
            Err(ParseError::MalformedJson(_))
        ));
        assert!(matches!(
            Envelope::parse(b"[]"),
            Err(ParseError::BadEnvelope(_))
        ));
        let key = SigningKey::generate();
        let mut v = sample(&key).to_value();
        v["extra"] = json!(1);
        v["time"] = json!("2019-05-07T09:30:00+05:00");
        v.as_object_mut().expect("object").remove("id");
        let Err(ParseError::BadEnvelope(violations)) = Envelope::from_value(v) else {
            panic!("should be refused")
        };
        let text: Vec<String> = violations.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|t| t.contains("\"id\" is missing")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.contains("1 unknown attribute ")),
            "{text:?}"
        );
        assert!(!text.iter().any(|t| t.contains("extra")), "{text:?}");
    }

    #[test]
    fn numbers_parse_back_exactly_so_signatures_over_them_verify() {
        // The signature covers the canonical form of the parsed numbers: a
        // parser that is off by one unit in the last place for some
        // doubles (serde_json without `float_roundtrip`) turns a correctly
        // signed envelope into a bad signature.
        let key = SigningKey::generate();
        for x in [1.0715660391465826e-75, 0.1, 2.2250738585072014e-308, 1e300] {
            let env = EnvelopeBuilder::new(
                "message.processed",
                "https://schemas.homeward.example/messages/message.processed/v1.json",
                json!({ "x": x }),
            )
            .sign(&MemberId::parse("kz.mfa").expect("member"), &key)
            .expect("signs");
            let back = Envelope::parse(&env.to_bytes()).expect("parses");
            assert_eq!(back.data()["x"].as_f64(), Some(x));
            back.verify_signature().expect("verifies");
        }
    }

    #[test]
    fn control_characters_in_data_are_refused_without_saying_where() {
        let key = SigningKey::generate();
        let refused = |data: Value| {
            let mut v = sample(&key).to_value();
            v["data"] = data;
            match Envelope::from_value(v) {
                Ok(_) => false,
                Err(ParseError::BadEnvelope(violations)) => {
                    assert_eq!(violations[0].instance_path, "/data");
                    true
                }
                Err(other) => panic!("{other}"),
            }
        };
        assert!(!refused(json!({"a": ["x", "tab\tline\nbreak\r", "é ا"]})));
        assert!(refused(json!({"a": ["x", {"b": "nul\u{0}"}]})));
        assert!(refused(json!({"a": {"esc\u{1b}": 1}})));
        assert!(refused(json!({"csi": "\u{9b}31m"})));
        assert!(refused(json!({"del": "\u{7f}"})));
        let built = EnvelopeBuilder::new(
            "message.processed",
            "https://schemas.homeward.example/messages/message.processed/v1.json",
            json!({"originalSender": "aanes.camps\u{0}"}),
        )
        .sign(&MemberId::parse("kz.mfa").expect("member"), &key);
        assert!(
            built.is_err(),
            "the builder refuses what the parser refuses"
        );
    }

    #[test]
    fn case_refs_and_ulids() {
        assert!(is_case_ref("HOL-P5-000123"));
        assert!(is_case_ref("ROJ-A-1-2-3"));
        assert!(!is_case_ref("hol-p5"));
        assert!(!is_case_ref("HOL"));
        assert!(is_ulid(&new_id()));
        assert!(!is_ulid("8ZZZZZZZZZZZZZZZZZZZZZZZZZ"));
        assert!(is_traceparent(&new_traceparent()));
    }
}
