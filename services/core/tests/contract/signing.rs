//! Property tests: a signed envelope verifies, and any change to any
//! attribute or any byte of data breaks verification.

use homeward_core::envelope::{Envelope, EnvelopeBuilder};
use homeward_core::{MemberId, SigningKey};
use proptest::prelude::*;
use serde_json::{Value, json};

fn data_strategy() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        "[a-zA-Z0-9 \\u{0400}-\\u{04FF}\\u{0600}-\\u{06FF}]{0,12}".prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop::collection::btree_map("[a-zA-Z]{1,8}", value, 1..5)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn signed(key: &SigningKey, data: Value) -> Envelope {
    EnvelopeBuilder::new(
        "camp.resident.located",
        "https://schemas.homeward.example/messages/camp.resident.located/v1.json",
        data,
    )
    .subject("HOL-P5-000123")
    .causationid("01JD3K2M4N5P6Q7R8S9T0V1W2X")
    .sign(&MemberId::parse("aanes.camps").expect("member"), key)
    .expect("signs")
}

/// Every leaf of a JSON value, as a pointer.
fn leaves(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(o) if !o.is_empty() => o
            .iter()
            .for_each(|(k, x)| leaves(x, format!("{at}/{k}"), out)),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| leaves(x, format!("{at}/{i}"), out)),
        _ => out.push(at),
    }
}

fn altered(v: &Value) -> Value {
    match v {
        Value::Bool(b) => Value::Bool(!b),
        Value::Number(n) => Value::from(n.as_i64().unwrap_or(0).wrapping_add(1)),
        Value::String(s) => Value::from(format!("{s}x")),
        Value::Null => Value::from(0),
        Value::Array(_) => json!([null]),
        Value::Object(_) => json!({"x": 1}),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sign_then_parse_then_verify(data in data_strategy()) {
        let key = SigningKey::generate();
        let env = signed(&key, data);
        let back = Envelope::parse(&env.to_bytes()).expect("parses");
        prop_assert!(back.verify_signature().is_ok());
    }

    #[test]
    fn any_change_to_data_breaks_the_signature(data in data_strategy(), pick in any::<prop::sample::Index>()) {
        let key = SigningKey::generate();
        let env = signed(&key, data);
        let mut value = env.to_value();
        let mut paths = Vec::new();
        leaves(&value["data"], "/data".into(), &mut paths);
        let path = pick.get(&paths).clone();
        let target = value.pointer_mut(&path).expect("leaf exists");
        *target = altered(target);
        let changed = Envelope::from_value(value).expect("still an envelope");
        prop_assert!(changed.verify_signature().is_err(), "change at {} still verifies", path);
    }

    #[test]
    fn any_change_to_any_attribute_breaks_the_signature(pick in 0usize..11) {
        let key = SigningKey::generate();
        let other = SigningKey::generate();
        let env = signed(&key, json!({"a": 1}));
        let mut v = env.to_value();
        match pick {
            0 => v["id"] = json!("01JD3K2M4N5P6Q7R8S9T0V1W2Y"),
            1 => v["source"] = json!("urn:homeward:iq.justice"),
            2 => v["type"] = json!("camp.resident.moved"),
            3 => v["dataschema"] = json!("https://schemas.homeward.example/messages/camp.resident.located/v2.json"),
            4 => v["time"] = json!("2019-05-07T09:30:01Z"),
            5 => v["subject"] = json!("HOL-P5-000124"),
            6 => v["traceparent"] = json!("00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"),
            7 => v["causationid"] = json!("01JD3K2M4N5P6Q7R8S9T0V1W2Z"),
            8 => v["sigkey"] = json!(other.public().as_str()),
            9 => { v.as_object_mut().expect("object").remove("subject"); }
            _ => { v.as_object_mut().expect("object").remove("causationid"); }
        }
        let changed = Envelope::from_value(v).expect("still an envelope");
        prop_assert!(changed.verify_signature().is_err(), "change {} still verifies", pick);
    }

    #[test]
    fn any_flipped_signature_bit_fails(bit in 0usize..(86 * 6)) {
        let key = SigningKey::generate();
        let env = signed(&key, json!({"a": 1}));
        let sig = env.sig().expect("signed").to_owned();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut chars: Vec<u8> = sig.into_bytes();
        let (i, b) = (bit / 6, bit % 6);
        let idx = alphabet.iter().position(|c| *c == chars[i]).expect("base64url");
        chars[i] = alphabet[idx ^ (1 << b)];
        let forged = String::from_utf8(chars).expect("ascii");
        let changed = env.with_sig(&forged);
        prop_assert!(changed.verify_signature().is_err());
    }
}
