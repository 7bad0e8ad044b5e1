//! Reading an RFC 7662 introspection answer into an identity, or the reason it is refused. Pure:
//! the caller did the POST.

use serde_json::{Map, Value};

use super::settings::IntrospectionSettings;
use crate::claims::ClaimSettings;
use crate::identity::{AuthMethod, Identity};
use crate::problem::{ErrorCode, Problem};

/// What the authorization server said about the token.
// Built once per introspection and moved into the cache: not worth a box (see `Cached`).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    /// `active: true` and every member the gateway reads is usable; cacheable until
    /// `expires_at` (the answer's `exp`, when it has one).
    Active(Identity),
    /// `active: false` (or anything but `true`): the token is not valid at the server.
    Inactive,
    /// `active: true`, but the answer names another issuer or audience, an expired token, a
    /// token type other than Bearer, or a value that cannot travel as a header (a member the
    /// gateway reads, or one `claims_to_headers` forwards).
    Refused(Problem),
}

/// The answer body is not a JSON object (duplicates refused): the endpoint failed, not the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed(pub &'static str);

/// Reads the answer for the token whose id is `token_hash_id` (used as `jti` when the answer gives
/// none), at `now_secs`. `claims` names what the identity keeps of the answer's members for the
/// routes' `require` conditions.
pub(crate) fn read_answer(
    settings: &IntrospectionSettings,
    claims: &ClaimSettings,
    body: &[u8],
    token_hash_id: &str,
    now_secs: u64,
) -> Result<Answer, Malformed> {
    let obj = crate::jose::strict_json::parse_object(body)
        .map_err(|_| Malformed("the answer is not a JSON object"))?;
    if obj.get("active") != Some(&Value::Bool(true)) {
        return Ok(Answer::Inactive);
    }
    Ok(
        match identity(settings, claims, &obj, token_hash_id, now_secs) {
            Ok(identity) => Answer::Active(identity),
            Err(problem) => Answer::Refused(problem),
        },
    )
}

fn claim_invalid(detail: impl Into<String>) -> Problem {
    Problem::new(ErrorCode::TokenClaimInvalid, detail)
}

/// A string member that travels as a header value, if present.
fn text<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, Problem> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if crate::jose::verify::header_safe(s) => Ok(Some(s)),
        Some(_) => Err(claim_invalid(format!(
            "the introspection answer's {name} must be printable ASCII text"
        ))),
    }
}

fn number(obj: &Map<String, Value>, name: &str) -> Result<Option<u64>, Problem> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            claim_invalid(format!(
                "the introspection answer's {name} must be a non-negative integer"
            ))
        }),
    }
}

fn identity(
    settings: &IntrospectionSettings,
    claims: &ClaimSettings,
    obj: &Map<String, Value>,
    token_hash_id: &str,
    now: u64,
) -> Result<Identity, Problem> {
    if let Some(iss) = text(obj, "iss")? {
        if iss != settings.issuer {
            return Err(Problem::new(
                ErrorCode::TokenIssuerUnknown,
                "the introspection answer names another issuer",
            ));
        }
    }
    // RFC 7662 `token_type` (RFC 6749 §7.1 values). A refresh token is introspected as active by
    // many servers with no `token_type`: only a Bearer access token is accepted. A sender-
    // constrained token (`cnf`) needs a proof this gateway does not check, so it is refused.
    match text(obj, "token_type")? {
        Some(t) if t.eq_ignore_ascii_case("bearer") => {}
        _ => {
            return Err(claim_invalid(
                "the introspection answer does not name a Bearer access token (token_type)",
            ))
        }
    }
    if obj.get("cnf").is_some_and(|v| !v.is_null()) {
        return Err(claim_invalid(
            "the token is sender-constrained (cnf); the gateway accepts only Bearer tokens",
        ));
    }
    if !settings.audiences.is_empty() {
        let named = match obj.get("aud") {
            Some(Value::String(a)) => settings.audiences.iter().any(|x| x == a),
            Some(Value::Array(list)) => list.iter().any(|a| {
                a.as_str()
                    .is_some_and(|a| settings.audiences.iter().any(|x| x == a))
            }),
            _ => false,
        };
        if !named {
            return Err(Problem::new(
                ErrorCode::TokenAudienceMismatch,
                "the introspection answer's aud names none of the configured audiences",
            ));
        }
    }
    let exp = number(obj, "exp")?;
    if exp.is_some_and(|exp| exp <= now) {
        return Err(Problem::new(
            ErrorCode::TokenExpired,
            "the introspection answer's exp has passed",
        ));
    }
    if number(obj, "nbf")?.is_some_and(|nbf| nbf > now) {
        return Err(Problem::new(
            ErrorCode::TokenNotYetValid,
            "the introspection answer's nbf is in the future",
        ));
    }
    let iat = number(obj, "iat")?;
    let client_id = text(obj, "client_id")?;
    let subject = match (text(obj, "sub")?, client_id) {
        (Some(sub), _) => sub,
        // A client-credentials token has no user: the client is the subject.
        (None, Some(client)) => client,
        (None, None) => {
            return Err(claim_invalid(
                "the introspection answer names neither sub nor client_id",
            ))
        }
    };
    let scopes = scopes(obj.get(&settings.scope_claim), &settings.scope_claim)?;
    let token_id = match text(obj, "jti")? {
        Some(jti) => jti.to_string(),
        None => token_hash_id.to_string(),
    };
    // The answer's members are the token's claims: the same extraction as a verified JWT's
    // (`pipeline::authenticate::jwt_identity`), so `claims_to_headers` and `require` read them
    // alike, and the cached identity carries them to every cache hit.
    let carried = crate::claims::identity_claims(&settings.claim_headers, claims, obj)
        .map_err(|e| claim_invalid(e.detail()))?;
    Ok(Identity {
        method: AuthMethod::Introspection,
        subject: subject.to_string(),
        issuer: Some(settings.issuer.clone()),
        scopes,
        token_id: Some(token_id),
        expires_at: exp,
        issued_at: iat,
        client_id: client_id.map(str::to_string),
        claims: carried,
        ..Identity::anonymous()
    })
}

/// The scopes: a space-separated string (RFC 7662 `scope`) or an array of strings, each in the
/// scope grammar (`scope::is_scope_token`); absent is none.
fn scopes(v: Option<&Value>, name: &str) -> Result<Vec<String>, Problem> {
    let list: Vec<&str> = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => s.split(' ').filter(|s| !s.is_empty()).collect(),
        Some(Value::Array(a)) => a.iter().map(|v| v.as_str().unwrap_or("")).collect(),
        Some(_) => {
            return Err(claim_invalid(format!(
                "the introspection answer's {name} must be a string or an array of strings"
            )))
        }
    };
    if list.iter().any(|s| !crate::scope::is_scope_token(s)) {
        return Err(claim_invalid(format!(
            "the introspection answer's {name} holds a value outside the scope grammar"
        )));
    }
    Ok(list.into_iter().map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    fn settings() -> IntrospectionSettings {
        IntrospectionSettings {
            enabled: true,
            issuer: "https://as.example".into(),
            endpoint: "https://as.example/introspect".into(),
            client_id: "gw".into(),
            audiences: vec!["https://api.example".into()],
            ..Default::default()
        }
    }

    fn read(v: Value) -> Answer {
        read_answer(
            &settings(),
            &ClaimSettings::default(),
            v.to_string().as_bytes(),
            "sha256:h",
            NOW,
        )
        .unwrap()
    }

    fn active() -> Value {
        json!({"active": true, "iss": "https://as.example", "sub": "alice", "aud": "https://api.example",
               "token_type": "Bearer", "scope": "read write", "exp": NOW + 60, "iat": NOW - 1,
               "client_id": "app"})
    }

    fn with(name: &str, v: Value) -> Value {
        let mut a = active();
        a[name] = v;
        a
    }

    fn without(name: &str) -> Value {
        let mut a = active();
        a.as_object_mut().unwrap().remove(name);
        a
    }

    fn code(a: Answer) -> &'static str {
        match a {
            Answer::Refused(p) => p.code.as_str(),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn an_active_answer_is_an_identity() {
        let Answer::Active(id) = read(active()) else {
            panic!()
        };
        assert_eq!(id.method, AuthMethod::Introspection);
        assert_eq!(id.subject, "alice");
        assert_eq!(id.issuer.as_deref(), Some("https://as.example"));
        assert_eq!(id.scopes, ["read", "write"]);
        assert_eq!(id.token_id.as_deref(), Some("sha256:h"));
        assert_eq!(id.expires_at, Some(NOW + 60));
        assert_eq!(id.issued_at, Some(NOW - 1));
        assert_eq!(id.client_id.as_deref(), Some("app"));
        let Answer::Active(id) = read(with("jti", json!("j-1"))) else {
            panic!()
        };
        assert_eq!(id.token_id.as_deref(), Some("j-1"));
        let Answer::Active(id) = read(without("sub")) else {
            panic!()
        };
        assert_eq!(id.subject, "app");
        let Answer::Active(id) = read(with("scope", json!(["a", "b"]))) else {
            panic!()
        };
        assert_eq!(id.scopes, ["a", "b"]);
        assert!(matches!(read(without("iss")), Answer::Active(_)));
        assert!(matches!(read(without("exp")), Answer::Active(_)));
        assert!(matches!(
            read(with("aud", json!(["x", "https://api.example"]))),
            Answer::Active(_)
        ));
    }

    #[test]
    fn anything_but_active_true_is_inactive() {
        for a in [
            json!({"active": false}),
            json!({}),
            json!({"active": "true"}),
            json!({"active": 1}),
        ] {
            assert_eq!(read(a), Answer::Inactive);
        }
    }

    #[test]
    fn each_failed_check_has_its_code() {
        assert_eq!(
            code(read(with("iss", json!("https://evil.example")))),
            "token_issuer_unknown"
        );
        assert_eq!(
            code(read(with("aud", json!("https://other.example")))),
            "token_audience_mismatch"
        );
        assert_eq!(code(read(without("aud"))), "token_audience_mismatch");
        assert_eq!(code(read(with("exp", json!(NOW)))), "token_expired");
        assert_eq!(
            code(read(with("nbf", json!(NOW + 5)))),
            "token_not_yet_valid"
        );
        assert_eq!(code(read(without("token_type"))), "token_claim_invalid");
        assert_eq!(
            code(read(with("token_type", json!("DPoP")))),
            "token_claim_invalid"
        );
        assert_eq!(
            code(read(with("cnf", json!({"jkt": "x"})))),
            "token_claim_invalid"
        );
        assert_eq!(
            code(read(with("sub", json!("a\r\nx-admin: 1")))),
            "token_claim_invalid"
        );
        assert_eq!(code(read(with("sub", json!(7)))), "token_claim_invalid");
        assert_eq!(code(read(with("jti", json!("é")))), "token_claim_invalid");
        assert_eq!(
            code(read(with("scope", json!("a,b")))),
            "token_claim_invalid"
        );
        assert_eq!(
            code(read(with("scope", json!(["a", 1])))),
            "token_claim_invalid"
        );
        assert_eq!(code(read(with("scope", json!(3)))), "token_claim_invalid");
        assert_eq!(code(read(with("exp", json!(-1)))), "token_claim_invalid");
        let mut a = without("sub");
        a.as_object_mut().unwrap().remove("client_id");
        assert_eq!(code(read(a)), "token_claim_invalid");
    }

    /// Settings forwarding `email`, `org.id` and `sub`, and claims that routes require `org.id`
    /// and `roles`.
    fn with_claims() -> (IntrospectionSettings, ClaimSettings) {
        use crate::claims::{ClaimHeader, ClaimPath};
        let mut s = settings();
        s.claim_headers = [
            ("x-auth-sub", "sub"),
            ("x-auth-tenant", "org.id"),
            ("x-user-email", "email"),
        ]
        .map(|(header, claim)| ClaimHeader {
            header: header.into(),
            claim: ClaimPath::parse(claim).unwrap(),
        })
        .to_vec();
        let claims = ClaimSettings {
            identity_header_prefixes: Vec::new(),
            required: vec![
                ClaimPath::parse("org.id").unwrap(),
                ClaimPath::parse("roles").unwrap(),
            ],
        };
        (s, claims)
    }

    fn read_claims(v: Value) -> Answer {
        let (s, claims) = with_claims();
        read_answer(&s, &claims, v.to_string().as_bytes(), "sha256:h", NOW).unwrap()
    }

    #[test]
    fn the_answers_members_are_the_identitys_claims_as_a_jwts_are() {
        let mut a = active();
        a["email"] = json!("a@example.com");
        a["org"] = json!({"id": "acme"});
        a["roles"] = json!(["admin", "ops"]);
        let Answer::Active(id) = read_claims(a) else {
            panic!()
        };
        // In configured (name) order; a member the gateway reads itself (`sub`) may be forwarded.
        assert_eq!(
            id.claims.headers,
            [
                ("x-auth-sub", "alice"),
                ("x-auth-tenant", "acme"),
                ("x-user-email", "a@example.com"),
            ]
            .map(|(h, v)| (h.to_string(), v.to_string()))
        );
        assert_eq!(
            id.claims.values,
            [
                ("org.id".to_string(), json!("acme")),
                ("roles".to_string(), json!(["admin", "ops"]))
            ]
        );
        // Absent claims: no header, no value (a condition on them fails).
        let Answer::Active(id) = read_claims(active()) else {
            panic!()
        };
        assert_eq!(
            id.claims.headers,
            [("x-auth-sub".to_string(), "alice".to_string())]
        );
        assert!(id.claims.values.is_empty());
        // Without claims configured, the identity carries none.
        let Answer::Active(id) = read(with("email", json!("a@example.com"))) else {
            panic!()
        };
        assert_eq!(id.claims, crate::claims::IdentityClaims::default());
    }

    #[test]
    fn a_claim_that_cannot_travel_refuses_the_answer_naming_the_claim() {
        for (name, v, claim) in [
            ("email", json!("a@example.com\u{7}"), "email"),
            ("email", json!("a\r\nx-user-id: admin"), "email"),
            ("email", json!({"a": 1}), "email"),
            ("email", json!(null), "email"),
            ("org", json!({"id": ["a,b"]}), "org.id"),
            ("org", json!("flat"), "org.id"),
        ] {
            let Answer::Refused(p) = read_claims(with(name, v.clone())) else {
                panic!("{v}")
            };
            assert_eq!(p.code, ErrorCode::TokenClaimInvalid, "{v}");
            assert!(p.detail.contains(&format!("\"{claim}\"")), "{}", p.detail);
            assert!(!p.detail.contains("admin"), "{}", p.detail);
        }
        // A claim only a route's condition reads is not a header: any JSON value is kept for it.
        assert!(matches!(
            read_claims(with("roles", json!({"nested": [1, null]}))),
            Answer::Active(_)
        ));
        // The token's own checks come first: an expired token is expired, whatever its claims.
        let mut expired = with("exp", json!(NOW));
        expired["email"] = json!({"a": 1});
        assert_eq!(code(read_claims(expired)), "token_expired");
    }

    #[test]
    fn a_body_that_is_not_one_json_object_is_malformed() {
        for body in [
            &b"not json"[..],
            b"[]",
            br#"{"active":true,"active":false}"#,
            b"",
        ] {
            assert!(read_answer(&settings(), &ClaimSettings::default(), body, "h", NOW).is_err());
        }
    }
}
