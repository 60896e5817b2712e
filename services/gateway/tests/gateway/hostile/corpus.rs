//! The hostile corpus in `tests/hostile/`: reading its case descriptions and
//! building each case's bytes.
//!
//! Signatures depend on keys made for each run, so most cases are not stored
//! as bytes but as a recipe: a template envelope, edits before signing, who
//! signs, edits after signing (to break the signature on purpose), and edits
//! of the serialised bytes. `tests/hostile/README.md` documents the format;
//! this file is its reference reader. The gateway's integration test and the
//! fuzz crate both include it, so they read the corpus the same way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail, ensure};
use homeward_core::envelope::{format_time, new_id, new_traceparent, sign_value};
use homeward_core::{MemberId, RejectionCode, SigningKey};
use serde::Deserialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// The `format` a corpus file declares.
pub const FORMAT: &str = "homeward-hostile-corpus/1";

/// The submitter of a case that names none.
const DEFAULT_SUBMITTER: &str = "kz.mfa";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CorpusFile {
    format: String,
    cases: Vec<Case>,
}

/// One crafted submission and the rejection it must get.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique, kebab-case.
    pub name: String,
    /// The kind of hostility (see the README's list).
    pub category: String,
    /// What the case tests, and why its code is the right one.
    pub tests: String,
    /// The one rejection code every reason must carry.
    pub expect: RejectionCode,
    /// The member whose client submits it, on its own submit subject.
    #[serde(default = "default_submitter")]
    pub by: String,
    /// Whether the receipt and audit record must name the envelope id
    /// (`true`), must not (`false`), or may (absent).
    #[serde(default)]
    pub names_id: Option<bool>,
    /// The exact bytes, for a case that is no envelope at all.
    #[serde(default)]
    raw: Option<Bytes>,
    /// Or: the template envelope to start from (`templates/<name>.json`).
    #[serde(default)]
    template: Option<String>,
    /// JSON edits before signing.
    #[serde(default)]
    edit: Vec<Edit>,
    /// Who signs: a member id, `stranger` (a key no policy lists) or
    /// `none`; the submitter when absent.
    #[serde(default)]
    sign: Option<String>,
    /// What is signed: the RFC 8785 form (`jcs`, the default) or the
    /// compact serialisation (`compact`, which is wrong).
    #[serde(default)]
    sign_over: Option<SignOver>,
    /// JSON edits after signing.
    #[serde(default)]
    tamper: Vec<Edit>,
    /// Edits of the serialised bytes, in order.
    #[serde(default)]
    bytes: Vec<ByteOp>,
    /// Submit the envelope once first (it must be accepted), then this
    /// case's bytes under another message id.
    #[serde(default)]
    pub replay: bool,
}

fn default_submitter() -> String {
    DEFAULT_SUBMITTER.to_owned()
}

/// Bytes: one part or a list of parts, concatenated.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Bytes {
    Many(Vec<Part>),
    One(Part),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Part {
    Text { text: String },
    Hex { hex: String },
    File { file: String },
    Repeat { repeat: Box<Bytes>, times: usize },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Edit {
    /// Sets the value at a JSON pointer; with `key`, the pointer names an
    /// object and `key` (a string or a generator) the member to set.
    Set {
        set: String,
        #[serde(default)]
        key: Option<Value>,
        value: Value,
    },
    Remove {
        remove: String,
    },
    Sig {
        sig: SigTamper,
    },
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum SigTamper {
    /// A real signature by the signer, over the empty string.
    OverEmpty,
    /// The group order L added to S.
    Malleable,
    /// Non-zero padding bits in the last base64url character.
    TrailingBits,
    /// The last character dropped.
    Truncate,
    /// `==` appended.
    Pad,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SignOver {
    Jcs,
    Compact,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum ByteOp {
    /// Replaces the first occurrence, which must exist.
    Replace {
        replace: Bytes,
        with: Bytes,
    },
    Prefix {
        prefix: Bytes,
    },
    Suffix {
        suffix: Bytes,
    },
    /// Keeps the first n bytes; a negative n drops that many from the end.
    Truncate {
        truncate: i64,
    },
    /// Appends spaces up to this length.
    PadTo {
        pad_to: usize,
    },
}

/// A case made ready to submit.
#[derive(Debug, Clone)]
pub struct Built {
    pub bytes: Vec<u8>,
    /// The `id` the built envelope carries, if it has a string one.
    pub envelope_id: Option<String>,
    /// For a replay: the envelope as first sent, which must be accepted.
    pub original: Option<Vec<u8>>,
}

/// The corpus: its cases and templates.
#[derive(Debug)]
pub struct Corpus {
    dir: PathBuf,
    pub cases: Vec<Case>,
    templates: BTreeMap<String, Value>,
}

impl Corpus {
    /// Reads `cases.json` and the templates in `dir`, and checks that every
    /// case is coherent (names unique, one way to build, known template,
    /// a valid submitter).
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("cases.json");
        let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
        let file: CorpusFile =
            serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
        ensure!(
            file.format == FORMAT,
            "{}: format {:?}, expected {FORMAT:?}",
            path.display(),
            file.format
        );
        let mut templates = BTreeMap::new();
        let template_dir = dir.join("templates");
        for entry in std::fs::read_dir(&template_dir)
            .with_context(|| format!("{}", template_dir.display()))?
        {
            let p = entry?.path();
            if p.extension().is_some_and(|e| e == "json") {
                let name = p
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .ok_or_else(|| anyhow!("{}: odd file name", p.display()))?
                    .to_owned();
                let text = std::fs::read_to_string(&p)?;
                let value: Value =
                    serde_json::from_str(&text).with_context(|| format!("{}", p.display()))?;
                ensure!(value.is_object(), "{}: not an object", p.display());
                templates.insert(name, value);
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for case in &file.cases {
            let at = &case.name;
            ensure!(seen.insert(at.clone()), "{at}: a second case of that name");
            ensure!(
                !at.is_empty()
                    && at
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{at}: names are kebab-case"
            );
            ensure!(!case.tests.trim().is_empty(), "{at}: says nothing it tests");
            MemberId::parse(&case.by).with_context(|| format!("{at}: by"))?;
            match (&case.raw, &case.template) {
                (Some(_), None) => ensure!(
                    case.edit.is_empty()
                        && case.tamper.is_empty()
                        && case.bytes.is_empty()
                        && case.sign.is_none()
                        && case.sign_over.is_none()
                        && !case.replay,
                    "{at}: raw bytes take no edits, signing or replay"
                ),
                (None, Some(t)) => {
                    ensure!(templates.contains_key(t), "{at}: no template {t:?}")
                }
                _ => bail!("{at}: give either raw or template"),
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            cases: file.cases,
            templates,
        })
    }

    /// Builds a case's bytes. `keys` gives a member's signing key; `now` is
    /// the time `$now` stands for.
    pub fn build(
        &self,
        case: &Case,
        keys: &dyn Fn(&str) -> Option<SigningKey>,
        now: OffsetDateTime,
    ) -> Result<Built> {
        let at = &case.name;
        if let Some(raw) = &case.raw {
            return Ok(Built {
                bytes: self.bytes(raw).with_context(|| format!("{at}: raw"))?,
                envelope_id: None,
                original: None,
            });
        }
        let template = case
            .template
            .as_ref()
            .and_then(|t| self.templates.get(t))
            .ok_or_else(|| anyhow!("{at}: no template"))?;
        let key_of =
            |member: &str| keys(member).ok_or_else(|| anyhow!("{at}: no signing key for {member}"));
        let context = Scope {
            id: new_id(),
            by: &case.by,
            now,
            keys: &key_of,
        };
        let mut value = context.resolve(template).with_context(|| at.clone())?;
        for edit in &case.edit {
            context
                .apply(&mut value, edit, None)
                .with_context(|| format!("{at}: edit"))?;
        }
        let signer = match case.sign.as_deref().unwrap_or(&case.by) {
            "none" => None,
            "stranger" => Some(SigningKey::generate()),
            member => Some(key_of(member)?),
        };
        if let Some(key) = &signer {
            let object = value
                .as_object_mut()
                .ok_or_else(|| anyhow!("{at}: only an object can be signed"))?;
            match case.sign_over.unwrap_or(SignOver::Jcs) {
                SignOver::Jcs => sign_value(object, key).map_err(|e| anyhow!("{at}: {e}"))?,
                SignOver::Compact => {
                    object.remove("sig");
                    object.insert("sigkey".into(), key.public().as_str().into());
                    let compact = serde_json::to_vec(&object)?;
                    object.insert("sig".into(), key.sign(&compact).into());
                }
            }
        }
        for edit in &case.tamper {
            context
                .apply(&mut value, edit, signer.as_ref())
                .with_context(|| format!("{at}: tamper"))?;
        }
        let original = serde_json::to_vec(&value)?;
        let mut bytes = original.clone();
        for op in &case.bytes {
            bytes = self
                .byte_op(bytes, op)
                .with_context(|| format!("{at}: bytes"))?;
        }
        Ok(Built {
            bytes,
            envelope_id: value.get("id").and_then(Value::as_str).map(str::to_owned),
            original: case.replay.then_some(original),
        })
    }

    fn bytes(&self, spec: &Bytes) -> Result<Vec<u8>> {
        let parts: &[Part] = match spec {
            Bytes::Many(parts) => parts,
            Bytes::One(part) => std::slice::from_ref(part),
        };
        let mut out = Vec::new();
        for part in parts {
            match part {
                Part::Text { text } => out.extend_from_slice(text.as_bytes()),
                Part::Hex { hex } => out.extend(hex::decode(hex).context("hex")?),
                Part::File { file } => {
                    ensure!(
                        !file.contains(".."),
                        "{file:?}: files stay inside the corpus"
                    );
                    let path = self.dir.join(file);
                    out.extend(
                        std::fs::read(&path).with_context(|| format!("{}", path.display()))?,
                    );
                }
                Part::Repeat { repeat, times } => {
                    let one = self.bytes(repeat)?;
                    out.extend(one.repeat(*times));
                }
            }
        }
        Ok(out)
    }

    fn byte_op(&self, mut bytes: Vec<u8>, op: &ByteOp) -> Result<Vec<u8>> {
        Ok(match op {
            ByteOp::Replace { replace, with } => {
                let find = self.bytes(replace)?;
                let with = self.bytes(with)?;
                let at = bytes
                    .windows(find.len().max(1))
                    .position(|w| w == find.as_slice())
                    .ok_or_else(|| {
                        anyhow!("{:?} does not occur", String::from_utf8_lossy(&find))
                    })?;
                bytes.splice(at..at + find.len(), with);
                bytes
            }
            ByteOp::Prefix { prefix } => {
                let mut out = self.bytes(prefix)?;
                out.extend(bytes);
                out
            }
            ByteOp::Suffix { suffix } => {
                bytes.extend(self.bytes(suffix)?);
                bytes
            }
            ByteOp::Truncate { truncate } => {
                let keep = if *truncate < 0 {
                    bytes.len().saturating_sub(truncate.unsigned_abs() as usize)
                } else {
                    (*truncate as usize).min(bytes.len())
                };
                bytes.truncate(keep);
                bytes
            }
            ByteOp::PadTo { pad_to } => {
                if bytes.len() < *pad_to {
                    bytes.resize(*pad_to, b' ');
                }
                bytes
            }
        })
    }
}

/// What placeholders stand for while one case is built.
struct Scope<'a> {
    id: String,
    by: &'a str,
    now: OffsetDateTime,
    keys: &'a dyn Fn(&str) -> Result<SigningKey>,
}

impl Scope<'_> {
    /// A copy of `value` with placeholders replaced and generators expanded.
    fn resolve(&self, value: &Value) -> Result<Value> {
        Ok(match value {
            Value::String(s) if s.starts_with('$') => self.placeholder(s)?,
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.resolve(v))
                    .collect::<Result<_>>()?,
            ),
            Value::Object(o) if o.keys().any(|k| k.starts_with('$')) => self.generate(o)?,
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| Ok((k.clone(), self.resolve(v)?)))
                    .collect::<Result<Map<_, _>>>()?,
            ),
            other => other.clone(),
        })
    }

    fn placeholder(&self, s: &str) -> Result<Value> {
        let now = format_time(self.now);
        let text = match s {
            "$id" => self.id.clone(),
            "$id:lower" => self.id.to_ascii_lowercase(),
            "$source" => format!("urn:homeward:{}", self.by),
            "$trace" => new_traceparent(),
            "$now" => now,
            "$now:offset" => format!("{}+00:00", now.trim_end_matches('Z')),
            "$now:lower-z" => format!("{}z", now.trim_end_matches('Z')),
            "$now:no-zone" => now.trim_end_matches('Z').to_owned(),
            _ => {
                if let Some(member) = s.strip_prefix("$pubkey:") {
                    (self.keys)(member)?.public().as_str().to_owned()
                } else if let Some(member) = s.strip_prefix("$pubkey-lower:") {
                    (self.keys)(member)?.public().as_str().to_ascii_lowercase()
                } else if let Some(shift) = s.strip_prefix("$now") {
                    format_time(self.now + parse_shift(shift)?)
                } else {
                    bail!("unknown placeholder {s:?}")
                }
            }
        };
        Ok(Value::String(text))
    }

    fn generate(&self, o: &Map<String, Value>) -> Result<Value> {
        let count = |name: &str| -> Result<usize> {
            o.get(name)
                .and_then(Value::as_u64)
                .map(|n| n as usize)
                .ok_or_else(|| anyhow!("a generator needs a count {name:?}"))
        };
        if let Some(unit) = o.get("$repeat") {
            let unit = unit
                .as_str()
                .ok_or_else(|| anyhow!("$repeat repeats a string"))?;
            Ok(Value::String(unit.repeat(count("times")?)))
        } else if let Some(inner) = o.get("$nest") {
            let mut v = self.resolve(inner)?;
            for _ in 0..count("depth")? {
                v = Value::Array(vec![v]);
            }
            Ok(v)
        } else if let Some(item) = o.get("$array") {
            let item = self.resolve(item)?;
            Ok(Value::Array(vec![item; count("times")?]))
        } else {
            bail!("unknown generator {:?}", o.keys().collect::<Vec<_>>())
        }
    }

    fn apply(&self, root: &mut Value, edit: &Edit, signer: Option<&SigningKey>) -> Result<()> {
        match edit {
            Edit::Set { set, key, value } => {
                let value = self.resolve(value)?;
                match key {
                    Some(key) => {
                        let key = match self.resolve(key)? {
                            Value::String(k) => k,
                            _ => bail!("a key is a string"),
                        };
                        let target = pointer_mut(root, &tokens(set)?)?;
                        target
                            .as_object_mut()
                            .ok_or_else(|| anyhow!("{set:?} is not an object"))?
                            .insert(key, value);
                    }
                    None => {
                        let mut path = tokens(set)?;
                        let last = path.pop().ok_or_else(|| anyhow!("cannot set the root"))?;
                        match pointer_mut(root, &path)? {
                            Value::Object(o) => {
                                o.insert(last, value);
                            }
                            Value::Array(items) => {
                                let slot = last
                                    .parse::<usize>()
                                    .ok()
                                    .and_then(|i| items.get_mut(i))
                                    .ok_or_else(|| anyhow!("{set:?}: no such item"))?;
                                *slot = value;
                            }
                            _ => bail!("{set:?}: the parent is not an object or array"),
                        }
                    }
                }
            }
            Edit::Remove { remove } => {
                let mut path = tokens(remove)?;
                let last = path
                    .pop()
                    .ok_or_else(|| anyhow!("cannot remove the root"))?;
                pointer_mut(root, &path)?
                    .as_object_mut()
                    .and_then(|o| o.shift_remove(&last))
                    .ok_or_else(|| anyhow!("{remove:?}: nothing to remove"))?;
            }
            Edit::Sig { sig } => {
                let signer = signer.ok_or_else(|| anyhow!("a sig tamper needs a signer"))?;
                let object = root
                    .as_object_mut()
                    .ok_or_else(|| anyhow!("not an object"))?;
                let current = object
                    .get("sig")
                    .and_then(Value::as_str)
                    .ok_or_else(|| anyhow!("no sig to tamper with"))?
                    .to_owned();
                let changed = match sig {
                    SigTamper::OverEmpty => signer.sign(b""),
                    SigTamper::Malleable => {
                        let mut raw = base64url::decode(&current)?;
                        ensure!(raw.len() == 64, "a signature is 64 bytes");
                        add_group_order(&mut raw[32..]);
                        base64url::encode(&raw)
                    }
                    SigTamper::TrailingBits => {
                        // 64 bytes are 512 bits: the last of 86 characters
                        // carries 2 bits and 4 bits of zero padding.
                        let mut chars: Vec<u8> = current.into_bytes();
                        let last = chars.last_mut().ok_or_else(|| anyhow!("empty sig"))?;
                        let v = base64url::value(*last)?;
                        *last = base64url::ALPHABET[usize::from(v | 1)];
                        String::from_utf8(chars)?
                    }
                    SigTamper::Truncate => current[..current.len().saturating_sub(1)].to_owned(),
                    SigTamper::Pad => format!("{current}=="),
                };
                object.insert("sig".into(), Value::String(changed));
            }
        }
        Ok(())
    }
}

/// `+2h`, `-3d`, `-1m`, `+30s`.
fn parse_shift(s: &str) -> Result<time::Duration> {
    let (sign, rest) = match s.split_at_checked(1) {
        Some(("+", rest)) => (1, rest),
        Some(("-", rest)) => (-1, rest),
        _ => bail!("unknown placeholder $now{s}"),
    };
    let (n, unit) = rest.split_at(rest.len().saturating_sub(1));
    let n: i64 = n
        .parse()
        .map_err(|_| anyhow!("unknown placeholder $now{s}"))?;
    let d = match unit {
        "s" => time::Duration::seconds(n),
        "m" => time::Duration::minutes(n),
        "h" => time::Duration::hours(n),
        "d" => time::Duration::days(n),
        _ => bail!("unknown placeholder $now{s}"),
    };
    Ok(d * sign)
}

/// The unescaped tokens of a JSON pointer (RFC 6901).
fn tokens(pointer: &str) -> Result<Vec<String>> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| anyhow!("{pointer:?} is not a JSON pointer"))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn pointer_mut<'v>(root: &'v mut Value, path: &[String]) -> Result<&'v mut Value> {
    let mut node = root;
    for token in path {
        node = match node {
            Value::Object(o) => o.get_mut(token),
            Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| anyhow!("no {token:?} in the path {path:?}"))?;
    }
    Ok(node)
}

/// Adds the order of the Ed25519 group, L = 2^252 +
/// 27742317777372353535851937790883648493, to a 32-byte little-endian
/// scalar. A canonical S is below L, so S + L stays below 2^254.
fn add_group_order(s: &mut [u8]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (byte, l) in s.iter_mut().zip(L) {
        let sum = u16::from(*byte) + u16::from(l) + carry;
        *byte = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
}

/// Base64url without padding, as signatures travel; small enough to keep
/// this file free of another dependency.
mod base64url {
    use anyhow::{Result, anyhow};

    pub const ALPHABET: &[u8; 64] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    pub fn value(c: u8) -> Result<u8> {
        ALPHABET
            .iter()
            .position(|&a| a == c)
            .map(|p| p as u8)
            .ok_or_else(|| anyhow!("{:?} is not base64url", c as char))
    }

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    pub fn decode(text: &str) -> Result<Vec<u8>> {
        let mut bits = 0u32;
        let mut count = 0;
        let mut out = Vec::new();
        for c in text.bytes() {
            bits = (bits << 6) | u32::from(value(c)?);
            count += 6;
            if count >= 8 {
                count -= 8;
                out.push((bits >> count) as u8);
                bits &= (1 << count) - 1;
            }
        }
        Ok(out)
    }
}
