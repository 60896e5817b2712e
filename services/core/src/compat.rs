//! Can a reader of one schema version read what a writer of another sends?
//!
//! `homeward schemas diff A B` asks whether every message valid under B is
//! valid under A: whether a member that reads only A (and validates against
//! it, as every recipient does) can take a message a sender wrote in B.
//! That is Confluent's *forward* compatibility of B with respect to A; the
//! reverse question is `diff B A`.
//!
//! Shapes are closed here (`additionalProperties: false`), so adding even an
//! optional property makes a version a reader of the old one cannot read:
//! that is why the policy lists the versions each member reads and the
//! gateway refuses the rest (`version_not_read`). The new version, though,
//! usually reads the old one, so a recipient can move to it first and the
//! senders after.
//!
//! The check is structural and conservative: it answers "readable" only
//! when it can show it, keyword by keyword, and otherwise names the first
//! thing it could not show, with the path in B's schema where it lies. It
//! understands what `schemas/` uses: types, enums and consts, formats,
//! patterns, lengths and bounds, closed and open objects, arrays, `$ref`
//! (a published `$id` never changes, so the same reference is the same
//! schema), `allOf`, `anyOf`, `oneOf` and `if`/`then`/`else` when both sides
//! hold them alike. An enum or const in B is checked exactly, by validating
//! each value against A.

use jsonschema::{Draft, Registry, Resource, Validator};
use serde_json::{Map, Value};

use crate::Error;
use crate::schema::SchemaRegistry;

/// One thing a reader of A could not read in B.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatibility {
    /// A JSON pointer into B's schema (after following references).
    pub at: String,
    /// What a writer of B may send that a reader of A refuses, or what could
    /// not be shown.
    pub reason: String,
}

impl std::fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.at.is_empty() {
            "(root)"
        } else {
            &self.at
        };
        write!(f, "{at}: {}", self.reason)
    }
}

/// Keywords that assert nothing.
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "$defs",
    "title",
    "description",
    "examples",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "contentMediaType",
    "contentEncoding",
];

/// Keywords the check understands; a reader keyword outside these (and the
/// annotations) is reported rather than ignored.
const UNDERSTOOD: &[&str] = &[
    "$ref",
    "type",
    "enum",
    "const",
    "format",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "items",
    "minProperties",
    "maxProperties",
    "required",
    "properties",
    "additionalProperties",
    "allOf",
    "anyOf",
    "oneOf",
    "if",
    "then",
    "else",
];

/// Nesting deeper than this is not followed (a cycle of references).
const MAX_DEPTH: usize = 64;

/// Compares schema versions against the published schemas they refer to.
pub struct Compatibility<'r> {
    schemas: &'r SchemaRegistry,
    registry: Registry<'static>,
}

impl std::fmt::Debug for Compatibility<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compatibility").finish_non_exhaustive()
    }
}

impl<'r> Compatibility<'r> {
    /// A checker that resolves references from `schemas`.
    pub fn new(schemas: &'r SchemaRegistry) -> Result<Self, Error> {
        let registry = Registry::new()
            .draft(Draft::Draft202012)
            .extend(
                schemas
                    .documents()
                    .map(|d| (d.id.clone(), Resource::from_contents(d.value.clone()))),
            )
            .and_then(|b| b.prepare())
            .map_err(|e| Error::Schema(format!("schemas do not resolve: {e}")))?;
        Ok(Self { schemas, registry })
    }

    /// What keeps a reader of `reader` from reading every message valid
    /// under `writer`; empty when it reads them all.
    pub fn readable_by(&self, reader: &Value, writer: &Value) -> Vec<Incompatibility> {
        let mut out = Vec::new();
        self.sub(reader, writer, String::new(), 0, &mut out);
        out
    }

    /// Follows `$ref` where it stands alone with annotations; a `$ref`
    /// beside assertions stays (it is handled as an `allOf`).
    fn resolve<'a>(&'a self, node: &'a Value, depth: usize) -> &'a Value {
        let Some(reference) = node.get("$ref").and_then(Value::as_str) else {
            return node;
        };
        if depth >= MAX_DEPTH || assertions(node).count() > 1 {
            return node;
        }
        let (id, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let Some(doc) = self.schemas.document(id) else {
            return node;
        };
        let target = if fragment.is_empty() {
            Some(&doc.value)
        } else {
            doc.value.pointer(fragment)
        };
        target.map_or(node, |t| self.resolve(t, depth + 1))
    }

    fn sub(
        &self,
        reader: &Value,
        writer: &Value,
        at: String,
        depth: usize,
        out: &mut Vec<Incompatibility>,
    ) {
        if depth > MAX_DEPTH {
            out.push(incompatible(at, "the schemas nest too deep to compare"));
            return;
        }
        // The same published reference is the same schema.
        if let (Some(r), Some(w)) = (ref_alone(reader), ref_alone(writer))
            && r == w
        {
            return;
        }
        let reader = self.resolve(reader, depth);
        let writer = self.resolve(writer, depth);
        if stripped(reader) == stripped(writer) {
            return;
        }
        match (reader, writer) {
            (Value::Bool(true), _) | (_, Value::Bool(false)) => return,
            (Value::Bool(false), _) => {
                out.push(incompatible(
                    at,
                    "A allows nothing here, B allows something",
                ));
                return;
            }
            (Value::Object(r), Value::Object(_)) if r.keys().all(|k| is_annotation(k)) => {
                return;
            }
            (Value::Object(_), Value::Bool(true)) => {
                out.push(incompatible(at, "B allows any value here, A does not"));
                return;
            }
            (Value::Object(_), Value::Object(_)) => {}
            _ => {
                out.push(incompatible(at, "not a schema"));
                return;
            }
        }
        let (Value::Object(r), Value::Object(w)) = (reader, writer) else {
            return;
        };

        // A writer's fixed values are checked exactly.
        if let Some(values) = fixed_values(w) {
            match self.validator(reader) {
                Ok(validator) => {
                    for value in values {
                        if !validator.is_valid(value) {
                            out.push(incompatible(
                                at.clone(),
                                format!("B allows the value {value}, A does not"),
                            ));
                        }
                    }
                }
                Err(e) => out.push(incompatible(at, e)),
            }
            return;
        }

        // Compositions in the writer: a union must fit branch by branch.
        for keyword in ["anyOf", "oneOf"] {
            if let Some(branches) = w.get(keyword).and_then(Value::as_array)
                && r.get(keyword) != w.get(keyword)
            {
                let rest = without(w, &[keyword]);
                for (i, branch) in branches.iter().enumerate() {
                    let mut combined = Map::new();
                    combined.insert(
                        "allOf".into(),
                        Value::Array(vec![rest.clone(), branch.clone()]),
                    );
                    self.sub(
                        reader,
                        &Value::Object(combined),
                        format!("{at}/{keyword}/{i}"),
                        depth + 1,
                        out,
                    );
                }
                return;
            }
        }
        // An intersection in the writer: enough that one part fits.
        if w.contains_key("allOf") || has_ref_and_more(w) {
            let parts = parts_of(w);
            if r.get("allOf") != w.get("allOf") {
                let fits = parts.iter().any(|part| {
                    let mut trial = Vec::new();
                    self.sub(reader, part, at.clone(), depth + 1, &mut trial);
                    trial.is_empty()
                });
                if fits {
                    return;
                }
                if !has_assertions_besides(w, &["allOf", "$ref"]) {
                    out.push(incompatible(
                        at,
                        "no part of B's allOf alone fits A, and their intersection is not compared",
                    ));
                    return;
                }
            }
        }

        // Compositions in the reader.
        // An intersection in the reader: B must fit every part. (The same
        // `allOf` on both sides constrains both alike and is passed over.)
        if has_ref_and_more(r) || (r.contains_key("allOf") && r.get("allOf") != w.get("allOf")) {
            for (i, part) in parts_of(r).iter().enumerate() {
                self.sub(part, writer, format!("{at}/allOf/{i}"), depth + 1, out);
            }
            return;
        }
        if let Some(branches) = r.get("anyOf").and_then(Value::as_array)
            && r.get("anyOf") != w.get("anyOf")
        {
            let fits = branches.iter().any(|branch| {
                let mut trial = Vec::new();
                self.sub(branch, writer, at.clone(), depth + 1, &mut trial);
                trial.is_empty()
            });
            if !fits {
                out.push(incompatible(
                    at.clone(),
                    "B fits none of A's anyOf branches",
                ));
            }
        }
        for keyword in ["oneOf", "if", "then", "else"] {
            if r.contains_key(keyword) && r.get(keyword) != w.get(keyword) {
                out.push(incompatible(
                    at.clone(),
                    format!("A's {keyword:?} differs from B's; the check compares it only when both are alike"),
                ));
            }
        }
        for keyword in r.keys() {
            if !is_annotation(keyword)
                && !UNDERSTOOD.contains(&keyword.as_str())
                && r.get(keyword) != w.get(keyword)
            {
                out.push(incompatible(
                    at.clone(),
                    format!(
                        "A uses {keyword:?}, which the check does not compare, and B's differs"
                    ),
                ));
            }
        }

        let writer_types = types(w);
        let reader_types = types(r);
        if let Some(allowed) = &reader_types {
            match &writer_types {
                None => out.push(incompatible(
                    at.clone(),
                    format!("B allows any type here, A only {}", allowed.join(", ")),
                )),
                Some(sent) => {
                    for t in sent {
                        let ok = allowed.contains(t)
                            || (t == "integer" && allowed.iter().any(|a| a == "number"));
                        if !ok {
                            out.push(incompatible(
                                at.clone(),
                                format!("B allows type {t}, A only {}", allowed.join(", ")),
                            ));
                        }
                    }
                }
            }
        }
        let may = |t: &str| {
            writer_types.as_ref().is_none_or(|ts| {
                ts.iter()
                    .any(|x| x == t || (t == "number" && x == "integer"))
            })
        };

        if r.contains_key("enum") || r.contains_key("const") {
            out.push(incompatible(
                at.clone(),
                "A allows only fixed values here, B any value of its type",
            ));
        }
        if may("string") {
            self.strings(r, w, &at, out);
        }
        if may("number") {
            numbers(r, w, &at, out);
        }
        if may("array") {
            if let Some(reason) = tighter_or_equal(r, w, "minItems", Bound::AtLeast)
                .or_else(|| tighter_or_equal(r, w, "maxItems", Bound::AtMost))
            {
                out.push(incompatible(at.clone(), reason));
            }
            if r.get("uniqueItems") == Some(&Value::Bool(true))
                && w.get("uniqueItems") != Some(&Value::Bool(true))
            {
                out.push(incompatible(
                    at.clone(),
                    "A requires unique items, B does not",
                ));
            }
            if let Some(items) = r.get("items") {
                let written = w.get("items").cloned().unwrap_or(Value::Bool(true));
                self.sub(items, &written, format!("{at}/items"), depth + 1, out);
            }
        }
        if may("object") {
            self.objects(r, w, &at, depth, out);
        }
    }

    fn strings(
        &self,
        r: &Map<String, Value>,
        w: &Map<String, Value>,
        at: &str,
        out: &mut Vec<Incompatibility>,
    ) {
        for keyword in ["format", "pattern"] {
            if let Some(wanted) = r.get(keyword)
                && w.get(keyword) != Some(wanted)
            {
                out.push(incompatible(
                    at.to_owned(),
                    match w.get(keyword) {
                        Some(other) => format!("A's {keyword} is {wanted}, B's {other}"),
                        None => format!("A requires {keyword} {wanted}, B does not"),
                    },
                ));
            }
        }
        if let Some(reason) = tighter_or_equal(r, w, "minLength", Bound::AtLeast)
            .or_else(|| tighter_or_equal(r, w, "maxLength", Bound::AtMost))
        {
            out.push(incompatible(at.to_owned(), reason));
        }
    }

    fn objects(
        &self,
        r: &Map<String, Value>,
        w: &Map<String, Value>,
        at: &str,
        depth: usize,
        out: &mut Vec<Incompatibility>,
    ) {
        let empty = Map::new();
        let r_props = r
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let w_props = w
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let r_extra = r.get("additionalProperties").unwrap_or(&Value::Bool(true));
        let w_extra = w.get("additionalProperties").unwrap_or(&Value::Bool(true));

        let required = |m: &Map<String, Value>| -> Vec<String> {
            m.get("required")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let w_required = required(w);
        for name in required(r) {
            if !w_required.contains(&name) {
                out.push(incompatible(
                    format!("{at}/required"),
                    format!("A requires {name:?}, B may leave it out"),
                ));
            }
        }
        for (name, written) in w_props {
            let path = format!("{at}/properties/{}", escape(name));
            match r_props.get(name) {
                Some(read) => self.sub(read, written, path, depth + 1, out),
                None if *r_extra == Value::Bool(false) => {
                    if *written != Value::Bool(false) {
                        out.push(incompatible(
                            path,
                            format!(
                                "B may send {name:?}, which A does not allow (its properties are closed)"
                            ),
                        ));
                    }
                }
                None => self.sub(r_extra, written, path, depth + 1, out),
            }
        }
        for (name, read) in r_props {
            if !w_props.contains_key(name) && *w_extra != Value::Bool(false) {
                self.sub(
                    read,
                    w_extra,
                    format!("{at}/additionalProperties"),
                    depth + 1,
                    out,
                );
            }
        }
        if *w_extra != Value::Bool(false) {
            self.sub(
                r_extra,
                w_extra,
                format!("{at}/additionalProperties"),
                depth + 1,
                out,
            );
        }
        if let Some(reason) = tighter_or_equal(r, w, "minProperties", Bound::AtLeast)
            .or_else(|| tighter_or_equal(r, w, "maxProperties", Bound::AtMost))
        {
            out.push(incompatible(at.to_owned(), reason));
        }
    }

    /// A validator for a reader's subschema, its references resolved.
    fn validator(&self, schema: &Value) -> Result<Validator, String> {
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            .should_validate_formats(true)
            .offline()
            .with_registry(&self.registry)
            .build(schema)
            .map_err(|e| format!("A's schema here does not compile: {e}"))
    }
}

fn numbers(
    r: &Map<String, Value>,
    w: &Map<String, Value>,
    at: &str,
    out: &mut Vec<Incompatibility>,
) {
    for (keyword, bound) in [
        ("minimum", Bound::AtLeast),
        ("exclusiveMinimum", Bound::AtLeast),
        ("maximum", Bound::AtMost),
        ("exclusiveMaximum", Bound::AtMost),
    ] {
        if let Some(reason) = tighter_or_equal(r, w, keyword, bound) {
            out.push(incompatible(at.to_owned(), reason));
        }
    }
    if let Some(step) = r.get("multipleOf").and_then(Value::as_f64) {
        let ok = w
            .get("multipleOf")
            .and_then(Value::as_f64)
            .is_some_and(|w_step| (w_step / step).fract() == 0.0);
        if !ok {
            out.push(incompatible(
                at.to_owned(),
                format!("A requires multiples of {step}, B does not"),
            ));
        }
    }
}

#[derive(Clone, Copy)]
enum Bound {
    AtLeast,
    AtMost,
}

/// Whether B's bound is at least as tight as A's, where A has one.
fn tighter_or_equal(
    r: &Map<String, Value>,
    w: &Map<String, Value>,
    keyword: &str,
    bound: Bound,
) -> Option<String> {
    let limit = r.get(keyword)?.as_f64()?;
    let fits = match (w.get(keyword).and_then(Value::as_f64), bound) {
        (Some(b), Bound::AtLeast) => b >= limit,
        (Some(b), Bound::AtMost) => b <= limit,
        (None, _) => false,
    };
    (!fits).then(|| match w.get(keyword) {
        Some(b) => format!("A's {keyword} is {limit}, B's {b}"),
        None => format!("A has {keyword} {limit}, B has none"),
    })
}

fn incompatible(at: String, reason: impl Into<String>) -> Incompatibility {
    Incompatibility {
        at,
        reason: reason.into(),
    }
}

fn is_annotation(keyword: &str) -> bool {
    ANNOTATIONS.contains(&keyword)
}

/// The keywords of a node that assert something.
fn assertions(node: &Value) -> impl Iterator<Item = &String> {
    node.as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .filter(|k| !is_annotation(k))
}

fn has_assertions_besides(node: &Map<String, Value>, keywords: &[&str]) -> bool {
    node.keys()
        .any(|k| !is_annotation(k) && !keywords.contains(&k.as_str()))
}

fn has_ref_and_more(node: &Map<String, Value>) -> bool {
    node.contains_key("$ref") && has_assertions_besides(node, &["$ref"])
}

/// A `$ref` that stands with annotations only.
fn ref_alone(node: &Value) -> Option<&str> {
    let reference = node.get("$ref")?.as_str()?;
    (assertions(node).count() == 1).then_some(reference)
}

/// The node without annotations, for comparing.
fn stripped(node: &Value) -> Value {
    match node {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !is_annotation(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn without(node: &Map<String, Value>, keywords: &[&str]) -> Value {
    Value::Object(
        node.iter()
            .filter(|(k, _)| !keywords.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// An intersection's parts: each `allOf` branch, the `$ref`, and the rest.
fn parts_of(node: &Map<String, Value>) -> Vec<Value> {
    let mut parts: Vec<Value> = node
        .get("allOf")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(reference) = node.get("$ref") {
        let mut only = Map::new();
        only.insert("$ref".into(), reference.clone());
        parts.push(Value::Object(only));
    }
    let rest = without(node, &["allOf", "$ref"]);
    if assertions(&rest).next().is_some() {
        parts.push(rest);
    }
    parts
}

/// A writer's `const` or `enum` values.
fn fixed_values(w: &Map<String, Value>) -> Option<Vec<&Value>> {
    if let Some(c) = w.get("const") {
        return Some(vec![c]);
    }
    w.get("enum")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
}

/// The `type` keyword as a list, if present.
fn types(m: &Map<String, Value>) -> Option<Vec<String>> {
    match m.get("type")? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    }
}

/// RFC 6901 escaping of one pointer token.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::message_schema_id;
    use serde_json::json;

    fn registry() -> SchemaRegistry {
        SchemaRegistry::embedded().expect("schemas")
    }

    fn published<'a>(schemas: &'a SchemaRegistry, kind: &str, version: u32) -> &'a Value {
        &schemas
            .document(&message_schema_id(kind, version))
            .expect("published")
            .value
    }

    #[test]
    fn every_published_version_reads_itself() {
        let schemas = registry();
        let check = Compatibility::new(&schemas).expect("checker");
        for doc in schemas.documents() {
            assert!(
                check.readable_by(&doc.value, &doc.value).is_empty(),
                "{}",
                doc.path
            );
        }
    }

    #[test]
    fn a_new_optional_property_is_new_to_a_closed_reader_but_not_the_other_way() {
        let schemas = registry();
        let check = Compatibility::new(&schemas).expect("checker");
        let v1 = published(&schemas, "camp.resident.located", 1);
        let v2 = published(&schemas, "camp.resident.located", 2);
        let forward = check.readable_by(v1, v2);
        assert_eq!(forward.len(), 1, "{forward:?}");
        assert_eq!(forward[0].at, "/properties/interviewLanguages");
        assert!(forward[0].reason.contains("closed"), "{}", forward[0]);
        assert!(check.readable_by(v2, v1).is_empty());
    }

    #[test]
    fn a_new_receipt_code_is_new_to_a_reader_of_v1() {
        let schemas = registry();
        let check = Compatibility::new(&schemas).expect("checker");
        let v1 = published(&schemas, "gateway.receipt", 1);
        let v2 = published(&schemas, "gateway.receipt", 2);
        let forward = check.readable_by(v1, v2);
        assert!(
            forward
                .iter()
                .any(|i| i.reason.contains("\"version_not_read\"")),
            "{forward:?}"
        );
        assert!(check.readable_by(v2, v1).is_empty());
    }

    #[test]
    fn tightening_is_readable_loosening_is_not() {
        let schemas = registry();
        let check = Compatibility::new(&schemas).expect("checker");
        let loose = json!({"type": "object", "additionalProperties": false,
            "required": ["a"],
            "properties": {"a": {"type": "string", "maxLength": 10},
                           "n": {"type": "number", "minimum": 0},
                           "list": {"type": "array", "items": {"enum": ["x", "y"]}}}});
        let tight = json!({"type": "object", "additionalProperties": false,
            "required": ["a", "n"],
            "properties": {"a": {"type": "string", "maxLength": 5},
                           "n": {"type": "integer", "minimum": 1},
                           "list": {"type": "array", "items": {"const": "x"}, "uniqueItems": true}}});
        assert!(
            check.readable_by(&loose, &tight).is_empty(),
            "{:?}",
            check.readable_by(&loose, &tight)
        );
        let back = check.readable_by(&tight, &loose);
        let text: Vec<String> = back.iter().map(ToString::to_string).collect();
        for expected in [
            "A requires \"n\"",
            "maxLength is 5",
            "B allows type number",
            "minimum is 1",
            "B allows the value \"y\"",
            "unique items",
        ] {
            assert!(
                text.iter().any(|t| t.contains(expected)),
                "{expected}: {text:#?}"
            );
        }
    }

    #[test]
    fn an_open_writer_is_not_read_by_a_closed_reader() {
        let schemas = registry();
        let check = Compatibility::new(&schemas).expect("checker");
        let closed = json!({"type": "object", "additionalProperties": false, "properties": {"a": {"type": "string"}}});
        let open = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        assert!(check.readable_by(&open, &closed).is_empty());
        let found = check.readable_by(&closed, &open);
        assert!(!found.is_empty());
        assert_eq!(found[0].at, "/additionalProperties");
    }

    #[test]
    fn a_closed_list_of_values_does_not_read_any_string() {
        let schemas = registry();
        let check = Compatibility::new(&schemas).expect("checker");
        let closed = json!({"enum": ["a", "b"]});
        let any = json!({"type": "string"});
        assert!(check.readable_by(&any, &closed).is_empty());
        let found = check.readable_by(&closed, &any);
        assert!(found[0].reason.contains("fixed values"), "{found:?}");
    }

    #[test]
    fn a_different_pattern_cannot_be_shown_readable() {
        let schemas = registry();
        let check = Compatibility::new(&schemas).expect("checker");
        let a = json!({"type": "string", "pattern": "^[A-Z]{2}$"});
        let b = json!({"type": "string", "pattern": "^[A-Z]{2,3}$"});
        assert_eq!(check.readable_by(&a, &b).len(), 1);
    }
}
