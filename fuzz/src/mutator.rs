//! A small mutator, for running the fuzz targets without libFuzzer.
//!
//! Not coverage-guided: it mutates the seeds (the hostile corpus) with byte
//! edits (bit flips, interesting tokens, deletions, duplications, splices)
//! and JSON edits (a node replaced by an interesting value, a key dropped,
//! a value nested deeper, a control character in a string), which are
//! re-signed by the validator target. Deterministic for a given seed, so a
//! run can be replayed.

use serde_json::{Value, json};

/// Inputs never grow past this: a little over the envelope limit, so the
/// size check is exercised without slowing every run down.
pub const MAX_LEN: usize = 70_000;

/// SplitMix64: tiny, fast and good enough to pick mutations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// Byte strings that tend to matter to a JSON parser and to our checks.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\\u0000",
    b"\\ud800",
    b"\\u001b",
    b"1e400",
    b"-0",
    b"NaN",
    b"null",
    b"true",
    b"0x10",
    b"\xff",
    b"\xef\xbb\xbf",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\x00",
    b"[[[[[[[[[[[[[[[[",
    b"}}}}",
    b"\"sig\":\"x\",",
    b"\"type\":\"x\",",
    b"/*",
    b"99999999999999999999999",
];

/// JSON values worth putting anywhere in an envelope.
fn interesting_value(rng: &mut Rng) -> Value {
    let values = [
        json!(null),
        json!(true),
        json!(0),
        json!(-0.0),
        json!(1e308),
        json!(-1),
        json!(u64::MAX),
        json!(2.5),
        json!(""),
        json!("x".repeat(1000)),
        json!("\u{0}"),
        json!("\u{1b}[2J"),
        json!("\u{9b}"),
        json!("K*"),
        json!("KZ.>"),
        json!("kz.mfa"),
        json!("FR"),
        json!("UZ"),
        json!("KZ"),
        json!("homeward.gateway"),
        json!("homeward.operator"),
        json!("aanes.*"),
        json!("aanes.-camps"),
        json!("urn:homeward:uz.mfa"),
        json!("urn:homeward:kz.mfa"),
        json!("2026-06-01T00:00:00Z"),
        json!("9999-12-31T23:59:59Z"),
        json!("01D8XBK3A0CXAPMXHRRWJ7P28J"),
        json!("HOL-P5-000123"),
        json!("message.*"),
        json!("https://schemas.homeward.example/messages/message.processed/v2.json"),
        json!([]),
        json!({}),
        json!([[[[[[[[[[1]]]]]]]]]]),
        json!({"personRef": "HOL-P5-000123-01"}),
    ];
    values[rng.below(values.len())].clone()
}

/// One mutated copy of `input`; `others` feed splices.
pub fn mutate(rng: &mut Rng, input: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(3) {
        out = match rng.below(12) {
            0 => flip_bit(rng, out),
            1 => {
                if !out.is_empty() {
                    let at = rng.below(out.len());
                    out[at] = rng.next_u64() as u8;
                }
                out
            }
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                let at = rng.below(out.len() + 1);
                out.splice(at..at, token.iter().copied());
                out
            }
            3 => {
                let (from, to) = range(rng, out.len());
                out.drain(from..to);
                out
            }
            4 => {
                let (from, to) = range(rng, out.len());
                let copy = out[from..to].to_vec();
                let at = rng.below(out.len() + 1);
                out.splice(at..at, copy);
                out
            }
            5 if !others.is_empty() => {
                let other = &others[rng.below(others.len())];
                let cut = rng.below(out.len() + 1);
                let from = rng.below(other.len() + 1);
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
                out
            }
            6 => {
                let keep = rng.below(out.len() + 1);
                out.truncate(keep);
                out
            }
            _ => mutate_json(rng, out),
        };
    }
    out.truncate(MAX_LEN);
    out
}

fn flip_bit(rng: &mut Rng, mut out: Vec<u8>) -> Vec<u8> {
    if !out.is_empty() {
        let at = rng.below(out.len());
        out[at] ^= 1 << rng.below(8);
    }
    out
}

fn range(rng: &mut Rng, len: usize) -> (usize, usize) {
    let from = rng.below(len + 1);
    let to = from + rng.below((len - from).min(64) + 1);
    (from, to)
}

/// A JSON-level edit, where the input is JSON; a bit flip otherwise.
fn mutate_json(rng: &mut Rng, out: Vec<u8>) -> Vec<u8> {
    let Ok(mut value) = serde_json::from_slice::<Value>(&out) else {
        return flip_bit(rng, out);
    };
    let node = pick(rng, &mut value);
    match rng.below(5) {
        0 | 1 => *node = interesting_value(rng),
        2 => {
            if let Value::Object(o) = node
                && !o.is_empty()
            {
                let key = o
                    .keys()
                    .nth(rng.below(o.len()))
                    .cloned()
                    .unwrap_or_default();
                o.shift_remove(&key);
            } else {
                *node = interesting_value(rng);
            }
        }
        3 => {
            let mut wrapped = node.take();
            for _ in 0..=rng.below(70) {
                wrapped = Value::Array(vec![wrapped]);
            }
            *node = wrapped;
        }
        _ => {
            if let Value::String(s) = node {
                let controls = [
                    '\u{0}', '\u{7}', '\u{1b}', '\u{7f}', '\u{85}', '\u{202e}', '*', '>', '.',
                ];
                let at = s
                    .char_indices()
                    .map(|(i, _)| i)
                    .nth(rng.below(s.chars().count() + 1));
                s.insert(at.unwrap_or(s.len()), controls[rng.below(controls.len())]);
            } else {
                *node = interesting_value(rng);
            }
        }
    }
    serde_json::to_vec(&value).unwrap_or(out)
}

/// A random node of `value`: the root or somewhere below it.
fn pick<'v>(rng: &mut Rng, value: &'v mut Value) -> &'v mut Value {
    let descend = rng.below(4) != 0;
    let len = match &*value {
        Value::Array(items) => items.len(),
        Value::Object(o) => o.len(),
        _ => 0,
    };
    if !descend || len == 0 {
        return value;
    }
    let i = rng.below(len);
    match value {
        Value::Array(items) => pick(rng, &mut items[i]),
        Value::Object(o) => match o.values_mut().nth(i) {
            Some(child) => pick(rng, child),
            None => unreachable!("index below the object's length"),
        },
        _ => unreachable!("only containers have children"),
    }
}
