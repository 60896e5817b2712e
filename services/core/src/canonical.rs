//! RFC 8785 JSON Canonicalization Scheme: the bytes that get signed.
//!
//! JCS sorts keys by UTF-16 code units, writes numbers as ECMAScript doubles
//! and escapes strings minimally, so any two parties that agree on the JSON
//! data agree on the bytes. Large integers lose precision as doubles; the
//! schemas carry them as strings.

use serde::Serialize;

use crate::Error;

/// The canonical form of `value`.
pub fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json_canonicalizer::to_vec(value).map_err(|e| Error::Canonical(e.to_string()))
}

/// The canonical form of `value`, as text.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json_canonicalizer::to_string(value).map_err(|e| Error::Canonical(e.to_string()))
}
