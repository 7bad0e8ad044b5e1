//! JSON parsing that refuses duplicate member names at any depth. `serde_json` keeps the last of
//! two equal names; another parser (the issuer's, a log pipeline's) may keep the first, and that
//! disagreement is how claims get smuggled (RFC 8725 §3.x, RFC 7515 §5.2, RFC 7519 §4).

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::RefCell;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not JSON, not UTF-8, trailing data, or nested deeper than serde_json's limit.
    Syntax,
    NotObject,
    /// The first duplicated member name found (at any depth).
    Duplicate(String),
}

/// A JSON value built without losing duplicates: either the parse fails on the first one
/// (`record_only: false`) or the name is recorded and the repeated value dropped.
#[derive(Clone, Copy)]
pub(crate) struct StrictSeed<'c> {
    pub(crate) duplicate: &'c RefCell<Option<String>>,
    pub(crate) record_only: bool,
}

impl<'de> DeserializeSeed<'de> for StrictSeed<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // serde_json never yields a non-finite float, so `Null` is unreachable in practice.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            if map.contains_key(&name) {
                let mut slot = self.duplicate.borrow_mut();
                if slot.is_none() {
                    *slot = Some(name);
                }
                drop(slot);
                if self.record_only {
                    access.next_value::<IgnoredAny>()?;
                    continue;
                }
                return Err(de::Error::custom("duplicate member name"));
            }
            let value = access.next_value_seed(self)?;
            map.insert(name, value);
        }
        Ok(Value::Object(map))
    }
}

/// Parses `bytes` as one JSON object, refusing duplicate names at any depth.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    let duplicate = RefCell::new(None);
    let seed = StrictSeed {
        duplicate: &duplicate,
        record_only: false,
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    match parsed {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(JsonError::NotObject),
        Err(_) => Err(match duplicate.into_inner() {
            Some(name) => JsonError::Duplicate(name),
            None => JsonError::Syntax,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_found_at_any_depth() {
        assert_eq!(
            parse_object(br#"{"a":1,"a":2}"#),
            Err(JsonError::Duplicate("a".into()))
        );
        assert_eq!(
            parse_object(br#"{"x":{"b":[{"c":1,"c":1}]}}"#),
            Err(JsonError::Duplicate("c".into()))
        );
        // An escaped spelling of the same name is the same name.
        assert_eq!(
            parse_object(br#"{"alg":1,"\u0061lg":2}"#),
            Err(JsonError::Duplicate("alg".into()))
        );
        assert!(parse_object(br#"{"a":1,"b":{"a":2}}"#).is_ok());
    }

    #[test]
    fn shape_errors() {
        assert_eq!(parse_object(b"[1]"), Err(JsonError::NotObject));
        assert_eq!(parse_object(b"\"x\""), Err(JsonError::NotObject));
        assert_eq!(parse_object(b"{} x"), Err(JsonError::Syntax));
        assert_eq!(parse_object(b"{"), Err(JsonError::Syntax));
        assert_eq!(parse_object(b""), Err(JsonError::Syntax));
        assert_eq!(parse_object(b"{\"a\":\"\xff\"}"), Err(JsonError::Syntax));
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(parse_object(deep.as_bytes()), Err(JsonError::Syntax));
    }

    #[test]
    fn values_round_trip() {
        let m = parse_object(br#"{"n":-1,"u":18446744073709551615,"f":1.5,"z":null,"t":true}"#)
            .unwrap();
        assert_eq!(m["n"], -1);
        assert_eq!(m["u"], u64::MAX);
        assert_eq!(m["f"], 1.5);
        assert_eq!(m["z"], Value::Null);
        assert_eq!(m["t"], true);
    }

    #[test]
    fn record_only_keeps_going() {
        let duplicate = RefCell::new(None);
        let seed = StrictSeed {
            duplicate: &duplicate,
            record_only: true,
        };
        let mut de = serde_json::Deserializer::from_slice(br#"{"a":1,"a":{"q":2}}"#);
        let v = seed.deserialize(&mut de).unwrap();
        assert_eq!(v["a"], 1);
        assert_eq!(duplicate.into_inner(), Some("a".to_string()));
    }
}
