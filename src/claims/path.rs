//! Claim paths: where in a token's payload a configured name points. `email` is a top-level claim,
//! `org.id` a member of a nested object, and a name that contains dots or is a URL is quoted as a
//! JSON string in brackets: `["https://example.com/claims/tenant"]`, `resource_access["my-app"].roles`.
//!
//! Grammar: `path = first *( "." bare / quoted )`, `first = bare / quoted`,
//! `bare = 1*( printable ASCII except space . [ ] " )`, `quoted = "[" JSON string "]"`; at most
//! `MAX_SEGMENTS` segments. Only object members are walked: there is no array indexing, no
//! wildcard, no expression.

use serde_json::{Map, Value};

/// A path deeper than this is a configuration error (no issuer nests claims further).
pub(crate) const MAX_SEGMENTS: usize = 8;

/// A parsed claim path, with the text it was written as (how errors and refusals name it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    text: String,
    segments: Vec<String>,
}

/// What a path finds in a payload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Lookup<'a> {
    Found(&'a Value),
    /// The claim (or one of the objects on the way) is absent.
    Absent,
    /// A value on the way is not an object, so the path cannot be followed: the claim has another
    /// shape than the configuration expects.
    NotAnObject,
}

impl ClaimPath {
    pub fn parse(text: &str) -> Result<ClaimPath, String> {
        let mut segments = Vec::new();
        let mut rest = text;
        let mut first = true;
        while first || !rest.is_empty() {
            if rest.starts_with('[') {
                let (name, after) = quoted(rest)?;
                segments.push(name);
                rest = after;
            } else {
                if !first {
                    rest = rest
                        .strip_prefix('.')
                        .ok_or("segments are separated by '.' or written as [\"…\"]")?;
                    if rest.starts_with('[') {
                        return Err(
                            "write a quoted segment as a[\"b\"], without a '.' before it".into(),
                        );
                    }
                }
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                let bare = &rest[..end];
                if bare.is_empty() {
                    return Err("a segment is empty".into());
                }
                if !bare
                    .bytes()
                    .all(|b| (0x21..=0x7e).contains(&b) && !matches!(b, b']' | b'"'))
                {
                    return Err(format!(
                        "\"{}\": an unquoted segment is printable ASCII without spaces, '.', '[', ']' or '\"'; quote it as [\"…\"]",
                        crate::request::truncate(bare, 40)
                    ));
                }
                segments.push(bare.to_string());
                rest = &rest[end..];
            }
            first = false;
        }
        if segments.len() > MAX_SEGMENTS {
            return Err(format!("at most {MAX_SEGMENTS} segments"));
        }
        Ok(ClaimPath {
            text: text.to_string(),
            segments,
        })
    }

    /// The path as configured.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub(crate) fn lookup<'a>(&self, claims: &'a Map<String, Value>) -> Lookup<'a> {
        let mut object = claims;
        let (last, walk) = match self.segments.split_last() {
            Some(split) => split,
            None => return Lookup::Absent,
        };
        for segment in walk {
            match object.get(segment) {
                None => return Lookup::Absent,
                Some(Value::Object(inner)) => object = inner,
                Some(_) => return Lookup::NotAnObject,
            }
        }
        match object.get(last) {
            Some(v) => Lookup::Found(v),
            None => Lookup::Absent,
        }
    }
}

/// `["name"]` at the start of `s`: the decoded name and what follows the `]`.
fn quoted(s: &str) -> Result<(String, &str), String> {
    let body = &s[1..];
    if !body.starts_with('"') {
        return Err("a bracketed segment is a JSON string: [\"…\"]".into());
    }
    // The closing quote is the first `"` not escaped by a backslash.
    let bytes = body.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => break,
            _ => i += 1,
        }
    }
    if i >= bytes.len() {
        return Err("an unterminated [\"…\"] segment".into());
    }
    let name: String = serde_json::from_str(&body[..=i])
        .map_err(|_| "a bracketed segment is a JSON string: [\"…\"]".to_string())?;
    let after = body[i + 1..]
        .strip_prefix(']')
        .ok_or("a [\"…\"] segment ends with ']'")?;
    if name.is_empty() {
        return Err("a segment is empty".into());
    }
    Ok((name, after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn segments(text: &str) -> Vec<String> {
        ClaimPath::parse(text).unwrap().segments
    }

    #[test]
    fn the_grammar() {
        assert_eq!(segments("email"), ["email"]);
        assert_eq!(segments("org.id"), ["org", "id"]);
        assert_eq!(segments("realm_access.roles"), ["realm_access", "roles"]);
        assert_eq!(
            segments(r#"["https://example.com/claims/tenant"]"#),
            ["https://example.com/claims/tenant"]
        );
        assert_eq!(
            segments(r#"resource_access["my.app"].roles"#),
            ["resource_access", "my.app", "roles"]
        );
        assert_eq!(segments(r#"["a\"b"]["c]"]"#), ["a\"b", "c]"]);
        assert_eq!(segments("cognito:groups"), ["cognito:groups"]);
        for bad in [
            "",
            ".a",
            "a.",
            "a..b",
            "a b",
            "a.[\"b\"]",
            "[b]",
            "[\"b\"",
            "[\"b\"]x",
            "[\"\"]",
            "a]",
            "a\"",
            "é",
            "a.b.c.d.e.f.g.h.i",
        ] {
            assert!(ClaimPath::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(ClaimPath::parse("org.id").unwrap().as_str(), "org.id");
    }

    #[test]
    fn lookup_walks_objects_only() {
        let claims = json!({
            "email": "a@example.com",
            "org": {"id": "acme", "name": null},
            "https://example.com/claims/tenant": "t1",
            "list": ["x"],
        });
        let claims = claims.as_object().unwrap();
        let find = |p: &str| ClaimPath::parse(p).unwrap().lookup(claims);
        assert_eq!(find("email"), Lookup::Found(&json!("a@example.com")));
        assert_eq!(find("org.id"), Lookup::Found(&json!("acme")));
        assert_eq!(find("org.name"), Lookup::Found(&Value::Null));
        assert_eq!(
            find(r#"["https://example.com/claims/tenant"]"#),
            Lookup::Found(&json!("t1"))
        );
        assert_eq!(find("org.missing"), Lookup::Absent);
        assert_eq!(find("nothing.here"), Lookup::Absent);
        assert_eq!(find("email.x"), Lookup::NotAnObject);
        assert_eq!(find("list.0"), Lookup::NotAnObject);
    }
}
