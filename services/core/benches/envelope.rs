//! What each submission costs the gateway in `homeward-core`, one step at
//! a time, on one core: the canonical form (ours against the reference,
//! `serde_json_canonicalizer`, in the same run), an envelope's signing
//! bytes, parsing, verifying with a key decoded for each envelope or once
//! per policy, and signing.
//!
//! ```sh
//! cargo bench -p homeward-core --bench envelope
//! ```
//!
//! Each step runs in several rounds, alternating with the others so that
//! a busy spell of the machine falls on all of them; the median round is
//! reported. BENCHMARKS.md ("Gateway CPU, step by step") records a run.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use homeward_core::envelope::{Envelope, EnvelopeBuilder};
use homeward_core::keys::DecodedKey;
use homeward_core::{MemberId, SigningKey, canonical};
use serde_json::Value;

const ROUNDS: usize = 7;
const ITERATIONS: u32 = 4_000;

fn example() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
        "../../schemas/messages/camp.resident.located/examples/v1/valid/kazakh-family-al-hol.json",
    );
    let text = std::fs::read_to_string(&path).expect("the example is readable");
    serde_json::from_str(&text).expect("the example is JSON")
}

struct Step {
    name: &'static str,
    run: Box<dyn Fn()>,
    rounds: Vec<f64>,
}

fn main() {
    let example = example();
    let key = std::rc::Rc::new(SigningKey::generate());
    let sender = MemberId::parse("aanes.camps").expect("member");
    let build = {
        let data = example["data"].clone();
        let key = std::rc::Rc::clone(&key);
        let sender = sender.clone();
        move || {
            EnvelopeBuilder::new(
                "camp.resident.located",
                "https://schemas.homeward.example/messages/camp.resident.located/v1.json",
                data.clone(),
            )
            .subject("HOL-P5-000123")
            .sign(&sender, &key)
            .expect("signs")
        }
    };
    let envelope = build();
    let bytes = envelope.to_bytes();
    let value = envelope.to_value();
    let decoded = DecodedKey::parse(key.public().as_str()).expect("key");
    println!(
        "envelope: {} bytes (the example kazakh-family-al-hol.json, signed)",
        bytes.len()
    );

    let mut steps = vec![
        Step {
            name: "canonical form, reference (serde_json_canonicalizer)",
            run: Box::new({
                let value = value.clone();
                move || {
                    black_box(serde_json_canonicalizer::to_vec(black_box(&value)).expect("jcs"));
                }
            }),
            rounds: Vec::new(),
        },
        Step {
            name: "canonical form, ours (canonical::value_to_vec)",
            run: Box::new({
                let value = value.clone();
                move || {
                    black_box(canonical::value_to_vec(black_box(&value)));
                }
            }),
            rounds: Vec::new(),
        },
        Step {
            name: "signing bytes (Envelope::signing_bytes)",
            run: Box::new({
                let envelope = envelope.clone();
                move || {
                    black_box(black_box(&envelope).signing_bytes().expect("bytes"));
                }
            }),
            rounds: Vec::new(),
        },
        Step {
            name: "strict parse and envelope checks (Envelope::parse)",
            run: Box::new({
                let bytes = bytes.clone();
                move || {
                    black_box(Envelope::parse(black_box(&bytes)).expect("parses"));
                }
            }),
            rounds: Vec::new(),
        },
        Step {
            name: "strict JSON parse alone (json::parse_strict)",
            run: Box::new({
                let bytes = bytes.clone();
                move || {
                    black_box(homeward_core::json::parse_strict(black_box(&bytes)).expect("json"));
                }
            }),
            rounds: Vec::new(),
        },
        Step {
            name: "a copy of the parsed value (to subtract from the next)",
            run: Box::new({
                let value = value.clone();
                move || {
                    black_box(black_box(&value).clone());
                }
            }),
            rounds: Vec::new(),
        },
        Step {
            name: "envelope checks of a copy, key known (from_value_with_keys)",
            run: Box::new({
                let value = value.clone();
                move || {
                    let copy = black_box(&value).clone();
                    black_box(Envelope::from_value_with_keys(copy, |_| Some(decoded)).expect("ok"));
                }
            }),
            rounds: Vec::new(),
        },
        Step {
            name: "verify alone (Envelope::verify_signature)",
            run: Box::new({
                let envelope = envelope.clone();
                move || {
                    black_box(&envelope).verify_signature().expect("verifies");
                }
            }),
            rounds: Vec::new(),
        },
        Step {
            name: "decode a public key (DecodedKey::parse)",
            run: Box::new({
                let public = key.public().as_str().to_owned();
                move || {
                    black_box(DecodedKey::parse(black_box(&public)).expect("key"));
                }
            }),
            rounds: Vec::new(),
        },
        Step {
            name: "parse and verify, key decoded per envelope",
            run: Box::new({
                let bytes = bytes.clone();
                move || {
                    let e = Envelope::parse(black_box(&bytes)).expect("parses");
                    e.verify_signature().expect("verifies");
                }
            }),
            rounds: Vec::new(),
        },
        Step {
            name: "parse and verify, key decoded once (as the gateway does)",
            run: Box::new({
                let bytes = bytes.clone();
                move || {
                    let value = homeward_core::json::parse_strict(black_box(&bytes)).expect("json");
                    let e = Envelope::from_value_with_keys(value, |_| Some(decoded)).expect("ok");
                    e.verify_signature().expect("verifies");
                }
            }),
            rounds: Vec::new(),
        },
        Step {
            name: "build and sign (EnvelopeBuilder::sign)",
            run: Box::new(move || {
                black_box(build());
            }),
            rounds: Vec::new(),
        },
    ];

    for _ in 0..ROUNDS {
        for step in &mut steps {
            for _ in 0..ITERATIONS / 10 {
                (step.run)();
            }
            let start = Instant::now();
            for _ in 0..ITERATIONS {
                (step.run)();
            }
            let micros = start.elapsed().as_secs_f64() * 1e6 / f64::from(ITERATIONS);
            step.rounds.push(micros);
        }
    }
    let median = |rounds: &[f64]| {
        let mut sorted = rounds.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    println!("median of {ROUNDS} rounds of {ITERATIONS}, µs per operation:");
    let reference = median(&steps[0].rounds);
    for step in &steps {
        let m = median(&step.rounds);
        println!("  {:>8.2} µs  {}", m, step.name);
        if step.name.starts_with("canonical form, ours") {
            println!(
                "            ({:.1}× faster than the reference)",
                reference / m
            );
        }
    }
}
