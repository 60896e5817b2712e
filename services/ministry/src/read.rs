//! Reading message data: small, total helpers (a missing field is `None`,
//! never a panic; the gateway has already checked the schema).

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ActionError;

pub fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

pub fn array_at<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A state or outcome (one of the [`crate::case`] enums) at `pointer`;
/// `None` when it is missing or not one the enum knows. For message data,
/// which the gateway has checked against the schema, whose enums the case
/// enums match (a test in `case` holds them together).
pub fn enum_at<T: DeserializeOwned>(v: &Value, pointer: &str) -> Option<T> {
    v.pointer(pointer).and_then(|x| T::deserialize(x).ok())
}

/// A state or outcome at `pointer` in an API request, which nobody has
/// checked yet: missing or unknown is an invalid request.
pub fn required_enum<T: DeserializeOwned>(v: &Value, pointer: &str) -> Result<T, ActionError> {
    let x = v
        .pointer(pointer)
        .ok_or_else(|| ActionError::Invalid(format!("{pointer} is required")))?;
    T::deserialize(x).map_err(|e| ActionError::Invalid(format!("{pointer}: {e}")))
}

/// The `personRef`s of the objects in an array.
pub fn person_refs(v: &Value, pointer: &str) -> Vec<String> {
    array_at(v, pointer)
        .iter()
        .filter_map(|p| {
            p.get("personRef")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

/// Whether a partial birth date (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`) makes
/// someone a child (under 18) on `on` (`YYYY-MM-DD`). An unknown month or
/// day counts in the child's favour.
pub fn is_child(birth_date: &str, on: &str) -> bool {
    let parse = |s: &str| -> Option<(i32, u32, u32)> {
        let mut it = s.split('-');
        let y = it.next()?.parse().ok()?;
        let m = it.next().map_or(Some(12), |m| m.parse().ok())?;
        let d = it.next().map_or(Some(31), |d| d.parse().ok())?;
        Some((y, m, d))
    };
    match (parse(birth_date), parse(on)) {
        (Some((by, bm, bd)), Some((oy, om, od))) => {
            let mut age = oy - by;
            if (om, od) < (bm, bd) {
                age -= 1;
            }
            age < 18
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_by_partial_birth_date() {
        assert!(is_child("2015", "2019-05-01"));
        assert!(!is_child("1990-02-03", "2019-05-01"));
        assert!(is_child("2001", "2019-05-01"));
        assert!(!is_child("2001-04-30", "2019-05-01"));
        assert!(is_child("2001-05-02", "2019-05-01"));
        assert!(!is_child("garbage", "2019-05-01"));
    }
}
