//! RFC 8785 JSON Canonicalization Scheme: the bytes that get signed.
//!
//! JCS sorts keys by UTF-16 code units, writes numbers as ECMAScript doubles
//! and escapes strings minimally, so any two parties that agree on the JSON
//! data agree on the bytes. Large integers lose precision as doubles; the
//! schemas carry them as strings.
//!
//! The writer walks a `serde_json::Value` directly: one pass, keys sorted by
//! reference, nothing parsed again and no writer boxed per write. It is
//! about ten times faster than `serde_json_canonicalizer` on an envelope
//! (BENCHMARKS.md, "Gateway CPU, step by step"), and it is held to the
//! same output: the RFC 8785 vectors in `tests/contract/jcs.rs` and a
//! property test against `serde_json_canonicalizer` over arbitrary values
//! (`tests/contract/jcs_writer.rs`). [`write_object`] writes an object
//! from borrowed members, so a caller need not build a `Value` (or clone
//! one) just to have it signed.

use std::cmp::Ordering;

use serde::Serialize;
use serde_json::{Map, Number, Value};

use crate::Error;

/// The canonical form of `value`.
///
/// A `Value` is written as it is. Anything else is turned into a `Value`
/// first, as `serde_json` serialises it: a float that is not finite becomes
/// `null` there, as it does in `serde_json::to_vec`, so the bytes signed
/// stay the canonical form of the bytes sent.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let value = serde_json::to_value(value).map_err(|e| Error::Canonical(e.to_string()))?;
    Ok(value_to_vec(&value))
}

/// The canonical form of `value`, as text.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    // The writer emits UTF-8 only: it copies the bytes of Rust strings and
    // writes ASCII around them.
    String::from_utf8(to_vec(value)?).map_err(|e| Error::Canonical(e.to_string()))
}

/// The canonical form of a JSON value. Cannot fail: a `Value` holds no
/// number that is not finite, and its object keys are unique.
pub fn value_to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(value, &mut out);
    out
}

/// The canonical form of a JSON object.
pub fn object_to_vec(object: &Map<String, Value>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_map(object, &mut out);
    out
}

/// One member's value in [`write_object`].
#[derive(Debug, Clone, Copy)]
pub enum Member<'a> {
    Str(&'a str),
    Value(&'a Value),
}

/// Appends the canonical form of the object with `members` (whose names
/// must be distinct) to `out`, sorting them in place.
pub fn write_object(members: &mut [(&str, Member<'_>)], out: &mut Vec<u8>) {
    members.sort_unstable_by(|a, b| utf16_cmp(a.0, b.0));
    out.push(b'{');
    for (i, (name, member)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(name, out);
        out.push(b':');
        match member {
            Member::Str(s) => write_str(s, out),
            Member::Value(v) => write_value(v, out),
        }
    }
    out.push(b'}');
}

/// Appends the canonical form of `value` to `out`.
pub fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => write_map(map, out),
    }
}

fn write_map(map: &Map<String, Value>, out: &mut Vec<u8>) {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    members.sort_unstable_by(|a, b| utf16_cmp(a.0, b.0));
    out.push(b'{');
    for (i, (name, item)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(name, out);
        out.push(b':');
        write_value(item, out);
    }
    out.push(b'}');
}

/// Orders strings by their UTF-16 code units (RFC 8785 §3.2.3). UTF-8 byte
/// order is code point order, which differs from UTF-16 order only between
/// a character above U+FFFF (a surrogate pair, 0xD800–0xDBFF first) and one
/// in U+E000–U+FFFF; so bytes decide, except where the first differing
/// characters are such a pair.
fn utf16_cmp(a: &str, b: &str) -> Ordering {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let Some(at) = x.iter().zip(y).position(|(p, q)| p != q) else {
        return x.len().cmp(&y.len());
    };
    if x[at] < 0x80 && y[at] < 0x80 {
        return x[at].cmp(&y[at]);
    }
    // The first differing character starts at or before `at`: back up to
    // the start of the character the difference is in.
    let mut start = at;
    while start > 0 && (x[start] & 0xC0) == 0x80 {
        start -= 1;
    }
    a[start..].encode_utf16().cmp(b[start..].encode_utf16())
}

/// Writes `s` as a JSON string, escaping only what RFC 8785 §3.2.2.2 says
/// must be: `"`, `\` and the controls below U+0020, with the short forms
/// where there are some and `\u00xx` in lower-case hex otherwise.
fn write_str(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[run..i]);
        run = i + 1;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x09 => out.extend_from_slice(b"\\t"),
            0x0A => out.extend_from_slice(b"\\n"),
            0x0C => out.extend_from_slice(b"\\f"),
            0x0D => out.extend_from_slice(b"\\r"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xF)],
            ]),
        }
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// Integers of at most this magnitude are exact as doubles, and ECMAScript
/// writes them as plain digits.
const EXACT_INTEGER: u64 = 1 << 53;

/// Writes a number as ECMAScript writes the double it is (RFC 8785 §3.2.2.3).
fn write_number(n: &Number, out: &mut Vec<u8>) {
    if let Some(u) = n.as_u64() {
        if u <= EXACT_INTEGER {
            return write_integer(u, false, out);
        }
    } else if let Some(i) = n.as_i64()
        && i.unsigned_abs() <= EXACT_INTEGER
    {
        return write_integer(i.unsigned_abs(), i < 0, out);
    }
    // Every other number, and every float: through the double. A `Number`
    // always converts, and is finite.
    let f = n.as_f64().unwrap_or(0.0);
    if f.is_finite() {
        out.extend_from_slice(ryu_js::Buffer::new().format_finite(f).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

fn write_integer(magnitude: u64, negative: bool, out: &mut Vec<u8>) {
    // Zero has no sign in ECMAScript's output, and `-0` as an integer is 0.
    if negative && magnitude != 0 {
        out.push(b'-');
    }
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = magnitude;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn utf16_order_differs_from_byte_order_only_past_the_bmp() {
        // U+1F600 is 0xD83D 0xDE00 in UTF-16, before U+FB33; in UTF-8 it is
        // after.
        assert_eq!(utf16_cmp("\u{1f600}", "\u{fb33}"), Ordering::Less);
        assert_eq!(utf16_cmp("a\u{1f600}", "a\u{fb33}"), Ordering::Less);
        assert_eq!(utf16_cmp("\u{e9}", "\u{20ac}"), Ordering::Less);
        assert_eq!(utf16_cmp("ab", "abc"), Ordering::Less);
        assert_eq!(utf16_cmp("b", "abc"), Ordering::Greater);
        assert_eq!(utf16_cmp("x", "x"), Ordering::Equal);
    }

    #[test]
    fn members_are_written_sorted_from_borrowed_parts() {
        let data = json!({"b": 1, "a": [true, null]});
        let mut out = Vec::new();
        write_object(
            &mut [("z", Member::Str("\"q\"")), ("data", Member::Value(&data))],
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            r#"{"data":{"a":[true,null],"b":1},"z":"\"q\""}"#
        );
    }

    #[test]
    fn integers_are_written_as_the_doubles_they_are() {
        let canon = |v: Value| String::from_utf8(value_to_vec(&v)).expect("utf-8");
        assert_eq!(
            canon(json!([0, -1, 9007199254740992u64])),
            "[0,-1,9007199254740992]"
        );
        // 2^53 + 1 is not a double: it is written as the nearest one.
        assert_eq!(canon(json!(9007199254740993u64)), "9007199254740992");
        assert_eq!(canon(json!(u64::MAX)), "18446744073709552000");
        assert_eq!(canon(json!(i64::MIN)), "-9223372036854776000");
    }
}
