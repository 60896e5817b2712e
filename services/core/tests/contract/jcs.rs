//! RFC 8785 test vectors: the canonical form every signer must agree on.

use homeward_core::canonical;
use serde_json::Value;

fn canon(input: &str) -> String {
    let v: Value = serde_json::from_str(input).expect("vector parses");
    canonical::to_string(&v).expect("canonicalises")
}

#[test]
fn rfc8785_section_3_2_2_sample() {
    // RFC 8785 §3.2.2: whitespace removed, literals kept, numbers in
    // ECMAScript form, strings minimally escaped.
    let input = r#"{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }"#;
    let expected = r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#;
    assert_eq!(canon(input), expected);
}

#[test]
fn rfc8785_section_3_2_3_key_sorting_by_utf16_code_units() {
    let input = r#"{
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis"
    }"#;
    let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
    assert_eq!(canon(input), expected);
}

#[test]
fn rfc8785_appendix_b_numbers() {
    // IEEE 754 values and their ECMAScript serialisation (RFC 8785 appendix B).
    let cases: [(f64, &str); 12] = [
        (0.0, "0"),
        (-0.0, "0"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (9007199254740992.0, "9007199254740992"),
        (9007199254740994.0, "9007199254740994"),
        (295147905179352830000.0, "295147905179352830000"),
        (1e21, "1e+21"),
        (9.999999999999997e22, "9.999999999999997e+22"),
        (1e23, "1e+23"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
    ];
    for (number, expected) in cases {
        let v = serde_json::json!([number]);
        assert_eq!(
            canonical::to_string(&v).expect("canonical"),
            format!("[{expected}]"),
            "{number:e}"
        );
    }
}

#[test]
fn nested_objects_sort_at_every_level_and_arrays_keep_order() {
    assert_eq!(
        canon(r#"{"b":[{"z":1,"a":2},3],"a":{"y":null,"x":"é"}}"#),
        r#"{"a":{"x":"é","y":null},"b":[{"a":2,"z":1},3]}"#
    );
}
