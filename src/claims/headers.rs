//! Claims to headers (`issuers[].claims_to_headers`, `introspection.claims_to_headers`): an
//! issuer's token claims, or an introspection answer's members, forwarded to the origin as headers
//! the gateway vouches for, e.g. `x-user-email = "email"`,
//! `x-tenant-… = "org.id"`, `x-user-roles = "realm_access.roles"`.
//!
//! **Names** lie in the gateway's namespace — `x-user-*`, `x-auth-*`, or one of the configured
//! `identity_header_prefixes` — so the client-copy stripping (`pipeline::client_headers`) removes
//! a client's copy in every spelling before the gateway adds its own; they are lower-case letters,
//! digits and `-` only, so a CGI/WSGI or PHP origin (which reads `-`, `_` and `.` alike) sees each
//! under exactly one name, and none is a header the gateway sets itself.
//!
//! **Values** travel as header values, so only what reads the same at every origin passes: a
//! string of printable ASCII without surrounding spaces (as `sub` and `jti`), a number, a boolean,
//! or an array of those joined with `,` — an element containing `,`, empty or with surrounding
//! spaces would read as another list at the origin and is refused. Anything else (an object,
//! `null`, a nested array, non-ASCII or control characters) refuses the token: 401
//! `token_claim_invalid` naming the claim. An absent claim sends no header (the client's copy is
//! stripped regardless, so absence is reliable).

use serde_json::{Map, Value};

use super::path::{ClaimPath, Lookup};

/// The gateway's own prefixes in which claim headers may be named (`client_headers::OWN_PREFIXES`
/// also strips `x-token-*` and `x-portcullis-*`, which stay the gateway's alone).
pub(crate) const CLAIM_HEADER_PREFIXES: &[&str] = &["x-user-", "x-auth-"];

/// Headers the gateway sets itself: no claim may be forwarded under these names.
pub(crate) const RESERVED: &[&str] = &[
    "x-auth-method",
    "x-user-id",
    "x-user-scopes",
    "x-auth-issuer",
    "x-token-id",
    "x-client-id",
    "x-key-id",
    crate::request_id::HEADER,
];

/// Joins array elements.
pub(crate) const SEPARATOR: char = ',';

/// One `claims_to_headers` entry: the header and the claim it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimHeader {
    pub header: String,
    pub claim: ClaimPath,
}

/// A claim that cannot travel as a header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNotForwardable {
    /// The claim's path as configured.
    pub claim: String,
}

impl ClaimNotForwardable {
    pub fn detail(&self) -> String {
        format!(
            "the \"{}\" claim cannot be passed to the origin as a header: strings of printable ASCII, numbers, booleans or arrays of them (elements without ',') only",
            self.claim
        )
    }
}

/// Checks a header name of `claims_to_headers` against the namespace: `extra_prefixes` are the
/// configured `identity_header_prefixes`.
pub(crate) fn check_header_name(name: &str, extra_prefixes: &[String]) -> Result<(), String> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
        || name.ends_with('-')
        || name.contains("--")
    {
        return Err("a header name is lower-case letters, digits and single '-' (no '_' or '.', which CGI/WSGI and PHP origins read as '-')".into());
    }
    if RESERVED.contains(&name) {
        return Err(format!("{name} is set by the gateway itself"));
    }
    let inside = CLAIM_HEADER_PREFIXES
        .iter()
        .map(|p| p.to_string())
        .chain(extra_prefixes.iter().cloned())
        .any(|p| name.len() > p.len() && name.starts_with(&p));
    if !inside {
        let mut allowed: Vec<String> = CLAIM_HEADER_PREFIXES
            .iter()
            .map(|p| format!("{p}*"))
            .collect();
        allowed.extend(extra_prefixes.iter().map(|p| format!("{p}*")));
        return Err(format!(
            "must lie in the gateway's namespace ({}) so clients' copies are stripped; add a prefix to identity_header_prefixes for another",
            allowed.join(", ")
        ));
    }
    Ok(())
}

/// The headers `entries` make of a verified token's `claims`, in the configured order.
pub fn claim_headers(
    entries: &[ClaimHeader],
    claims: &Map<String, Value>,
) -> Result<Vec<(String, String)>, ClaimNotForwardable> {
    let mut out = Vec::new();
    for entry in entries {
        let refused = || ClaimNotForwardable {
            claim: entry.claim.as_str().to_string(),
        };
        let value = match entry.claim.lookup(claims) {
            Lookup::Absent => continue,
            Lookup::NotAnObject => return Err(refused()),
            Lookup::Found(v) => v,
        };
        let text = match value {
            Value::Array(items) => {
                let mut parts = Vec::with_capacity(items.len());
                for item in items {
                    match scalar(item) {
                        Some(s) if !s.is_empty() && !s.contains(SEPARATOR) => parts.push(s),
                        _ => return Err(refused()),
                    }
                }
                parts.join(&SEPARATOR.to_string())
            }
            other => scalar(other).ok_or_else(refused)?,
        };
        out.push((entry.header.clone(), text));
    }
    Ok(out)
}

/// A string, number or boolean as a header value, when it can be one.
fn scalar(v: &Value) -> Option<String> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    let safe = text.bytes().all(|b| (0x20..0x7f).contains(&b)) && text.trim() == text;
    safe.then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entries(pairs: &[(&str, &str)]) -> Vec<ClaimHeader> {
        pairs
            .iter()
            .map(|(h, c)| ClaimHeader {
                header: h.to_string(),
                claim: ClaimPath::parse(c).unwrap(),
            })
            .collect()
    }

    fn headers(pairs: &[(&str, &str)], claims: Value) -> Result<Vec<(String, String)>, String> {
        claim_headers(&entries(pairs), claims.as_object().unwrap()).map_err(|e| e.claim)
    }

    #[test]
    fn names_lie_in_the_namespace_and_read_one_way() {
        for ok in ["x-user-email", "x-auth-tenant", "x-user-roles-2"] {
            assert_eq!(check_header_name(ok, &[]), Ok(()), "{ok}");
        }
        assert_eq!(
            check_header_name("x-acme-tenant", &["x-acme-".into()]),
            Ok(())
        );
        for bad in [
            "x-tenant",
            "x-user-",
            "x-user",
            "X-User-Email",
            "x_user_email",
            "x-user.email",
            "x-user--email",
            "x-user-email-",
            "x-user-id",
            "x-user-scopes",
            "x-auth-method",
            "x-auth-issuer",
            "x-token-id",
            "x-request-id",
            "x-forwarded-for",
            "authorization",
            "",
        ] {
            assert!(check_header_name(bad, &[]).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_are_strings_numbers_booleans_or_arrays_of_them() {
        let claims = json!({
            "email": "a@example.com",
            "org": {"id": "acme", "size": 12, "paid": true, "ratio": 1.5},
            "realm_access": {"roles": ["admin", "ops", 7, false]},
            "https://example.com/claims/tenant": "t1",
            "none": [],
        });
        assert_eq!(
            headers(
                &[
                    ("x-user-email", "email"),
                    ("x-auth-tenant", "org.id"),
                    ("x-auth-size", "org.size"),
                    ("x-auth-paid", "org.paid"),
                    ("x-auth-ratio", "org.ratio"),
                    ("x-user-roles", "realm_access.roles"),
                    ("x-user-t", r#"["https://example.com/claims/tenant"]"#),
                    ("x-user-none", "none"),
                    ("x-user-absent", "org.absent"),
                ],
                claims
            )
            .unwrap(),
            [
                ("x-user-email", "a@example.com"),
                ("x-auth-tenant", "acme"),
                ("x-auth-size", "12"),
                ("x-auth-paid", "true"),
                ("x-auth-ratio", "1.5"),
                ("x-user-roles", "admin,ops,7,false"),
                ("x-user-t", "t1"),
                ("x-user-none", ""),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
    }

    #[test]
    fn what_cannot_travel_as_a_header_refuses_the_token_naming_the_claim() {
        for bad in [
            json!({"c": "a\r\nx-user-id: admin"}),
            json!({"c": "caf\u{e9}"}),
            json!({"c": " padded"}),
            json!({"c": null}),
            json!({"c": {"nested": 1}}),
            json!({"c": ["a,b"]}),
            json!({"c": ["a", ""]}),
            json!({"c": ["a", " b"]}),
            json!({"c": [["a"]]}),
            json!({"c": [{"a": 1}]}),
            json!({"c": [null]}),
        ] {
            assert_eq!(
                headers(&[("x-user-c", "c")], bad.clone()),
                Err("c".into()),
                "{bad}"
            );
        }
        // A path through a value that is not an object: the claim has another shape.
        assert_eq!(
            headers(&[("x-user-c", "c.d")], json!({"c": "flat"})),
            Err("c.d".into())
        );
        let refusal = ClaimNotForwardable {
            claim: "org.id".into(),
        };
        assert!(refusal.detail().contains("\"org.id\""));
    }
}
