//! Canonical JSON: the exact bytes of a record's payload.
//!
//! The rules (also in the module documentation and in the bundle's VERIFY.md):
//! * UTF-8, no whitespace outside strings, no trailing newline;
//! * object members sorted by key, comparing the keys' UTF-8 bytes (every key qtsp writes is
//!   ASCII, where this is also the RFC 8785 order); no duplicate keys;
//! * numbers are integers written in decimal, no sign for non-negative values, no leading zeros,
//!   no fraction or exponent (an event with a non-integer number is refused);
//! * strings escape `"` and `\` as `\"` and `\\`, U+0008, U+0009, U+000A, U+000C, U+000D as `\b`,
//!   `\t`, `\n`, `\f`, `\r`, the other characters below U+0020 as `\u00xx` (lowercase hex), and
//!   nothing else (no `\/`, non-ASCII characters are written as themselves);
//! * strings are kept exactly as given: no Unicode normalization is applied (producers pass NFC
//!   text; the journal records what it was given).
//!
//! For payloads that follow these rules the result is the RFC 8785 (JCS) form.
//!
//! The writer sorts keys itself instead of relying on `serde_json::Map` being a BTreeMap, so the
//! bytes stay the same even if some dependency turns on serde_json's `preserve_order` feature.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::AuditError;

/// Serializes `value` to canonical JSON.
pub fn to_canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<String, AuditError> {
    let value = serde_json::to_value(value).map_err(|source| AuditError::Json { source })?;
    let mut out = String::new();
    write_value(&value, &mut out).map_err(|detail| AuditError::NotCanonical { detail })?;
    Ok(out)
}

/// Parses `text` as JSON and writes it back canonically, returning that and the parsed value;
/// the caller compares the result with `text` to know whether `text` was canonical. Errors
/// describe why it cannot be canonical.
pub(crate) fn parse_canonical(text: &str) -> Result<(String, Value), String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let mut out = String::with_capacity(text.len());
    write_value(&value, &mut out)?;
    Ok((out, value))
}

fn write_value(value: &Value, out: &mut String) -> Result<(), String> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else {
                return Err(format!("the number {n} is not an integer"));
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(item, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn keys_sorted_no_whitespace_integers() {
        let value = serde_json::json!({"b": 1, "a": [true, null, -3], "c": {"z": "x", "y": 18446744073709551615u64}});
        assert_eq!(
            to_canonical_json(&value).unwrap(),
            r#"{"a":[true,null,-3],"b":1,"c":{"y":18446744073709551615,"z":"x"}}"#
        );
    }

    #[test]
    fn string_escapes_are_minimal() {
        let s = "q\"b\\s/\u{8}\t\n\u{c}\r\u{1}\u{1f}\u{7f}é€😀";
        assert_eq!(
            to_canonical_json(s).unwrap(),
            "\"q\\\"b\\\\s/\\b\\t\\n\\f\\r\\u0001\\u001f\u{7f}é€😀\""
        );
        // Same bytes as serde_json's own escaping, which an auditor's tools also produce.
        assert_eq!(
            to_canonical_json(s).unwrap(),
            serde_json::to_string(s).unwrap()
        );
    }

    #[test]
    fn no_normalization() {
        // "é" decomposed (e + combining acute) stays decomposed.
        let decomposed = "e\u{301}";
        assert_eq!(to_canonical_json(decomposed).unwrap(), "\"e\u{301}\"");
    }

    #[test]
    fn floats_refused() {
        let err = to_canonical_json(&serde_json::json!({"x": 1.5})).unwrap_err();
        assert_eq!(err.code(), "AUD004");
    }

    fn recanonicalize(text: &str) -> Result<String, String> {
        parse_canonical(text).map(|(canonical, _)| canonical)
    }

    #[test]
    fn recanonicalize_detects_non_canonical_text() {
        let canonical = r#"{"a":1,"b":"x"}"#;
        assert_eq!(recanonicalize(canonical).unwrap(), canonical);
        assert_ne!(
            recanonicalize(r#"{"b":"x","a":1}"#).unwrap(),
            r#"{"b":"x","a":1}"#
        );
        assert_ne!(recanonicalize(r#"{"a": 1}"#).unwrap(), r#"{"a": 1}"#);
        assert_ne!(
            recanonicalize(r#"{"a":"\u0041"}"#).unwrap(),
            r#"{"a":"\u0041"}"#
        );
        assert!(recanonicalize(r#"{"a":1.0}"#).is_err());
        assert!(recanonicalize("{").is_err());
    }
}
