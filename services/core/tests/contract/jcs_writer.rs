//! The direct RFC 8785 writer (`homeward_core::canonical`) against the
//! reference implementation, `serde_json_canonicalizer`, over arbitrary
//! JSON: every byte the same, for every value, including the ones where
//! implementations differ most (keys ordered by UTF-16 code units past the
//! BMP, controls in strings, numbers at the edges of the double range).
//! And an envelope's signing bytes, written from borrowed attributes,
//! against the reference's form of the envelope without `sig`.

use homeward_core::canonical;
use homeward_core::envelope::EnvelopeBuilder;
use homeward_core::{MemberId, SigningKey};
use proptest::prelude::*;
use serde_json::{Map, Number, Value, json};

fn reference(v: &Value) -> Vec<u8> {
    serde_json_canonicalizer::to_vec(v).expect("the reference canonicalises")
}

/// Strings from the characters that matter to the canonical form: ASCII
/// with its controls, `"` and `\`, Latin, Cyrillic and Arabic letters, the
/// characters of U+E000–U+FFFF (which sort after surrogates in UTF-8 but
/// before them in UTF-16), and characters past the BMP.
fn text() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        4 => proptest::char::range('\u{0}', '\u{7f}'),
        1 => proptest::char::range('\u{80}', '\u{7ff}'),
        1 => proptest::char::range('\u{600}', '\u{6ff}'),
        1 => proptest::char::range('\u{e000}', '\u{ffff}'),
        1 => proptest::char::range('\u{10000}', '\u{10ffff}'),
    ];
    prop::collection::vec(ch, 0..10).prop_map(|c| c.into_iter().collect())
}

/// Numbers as a parser gives them: small and large integers of both
/// signs, integers past 2^53, and finite doubles of every magnitude.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-(1i64 << 54)..(1i64 << 54)).prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| Value::Number(Number::from_f64(f).expect("finite"))),
        (-1e-5f64..1e-5).prop_map(|f| Value::Number(Number::from_f64(f).expect("finite"))),
        (1e20f64..1e22).prop_map(|f| Value::Number(Number::from_f64(f).expect("finite"))),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        number(),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::vec((text(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_writer_gives_the_reference_bytes_for_any_value(v in json_value()) {
        let ours = canonical::value_to_vec(&v);
        let theirs = reference(&v);
        prop_assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "for {}", v
        );
        prop_assert_eq!(canonical::to_vec(&v).expect("canonical"), ours);
    }

    #[test]
    fn an_envelopes_signing_bytes_are_the_reference_form_without_sig(data in json_value(), subject in any::<bool>(), cause in any::<bool>()) {
        // An envelope holds no control character but tab, line feed and
        // carriage return, in a string or a key.
        let data = json!({"payload": without_controls(data)});
        let mut builder = EnvelopeBuilder::new(
            "camp.resident.located",
            "https://schemas.homeward.example/messages/camp.resident.located/v1.json",
            data,
        );
        if subject {
            builder = builder.subject("HOL-P5-000123");
        }
        if cause {
            builder = builder.causationid("01JD3K2M4N5P6Q7R8S9T0V1W2X");
        }
        let env = builder
            .sign(&MemberId::parse("aanes.camps").expect("member"), &SigningKey::generate())
            .expect("signs");
        let mut unsigned = env.to_value();
        unsigned.as_object_mut().expect("object").remove("sig");
        prop_assert_eq!(env.signing_bytes().expect("bytes"), reference(&unsigned));
    }
}

fn without_controls(v: Value) -> Value {
    let clean = |s: String| -> String {
        s.chars()
            .filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
            .collect()
    };
    match v {
        Value::String(s) => Value::String(clean(s)),
        Value::Array(items) => Value::Array(items.into_iter().map(without_controls).collect()),
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .map(|(k, v)| (clean(k), without_controls(v)))
                .collect(),
        ),
        other => other,
    }
}

#[test]
fn numbers_at_the_edges_are_written_as_the_reference_writes_them() {
    for text in [
        "0",
        "-0",
        "-0.0",
        "9007199254740992",
        "9007199254740993",
        "-9007199254740993",
        "18446744073709551615",
        "-9223372036854775808",
        "1e21",
        "1e-7",
        "123456789012345680000",
        "5e-324",
        "1.7976931348623157e308",
        "0.1",
        "100",
        "1E2",
    ] {
        let v: Value = serde_json::from_str(text).expect("a number");
        assert_eq!(
            String::from_utf8(canonical::value_to_vec(&v)).expect("utf-8"),
            String::from_utf8(reference(&v)).expect("utf-8"),
            "{text}"
        );
    }
}
