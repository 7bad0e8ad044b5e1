//! The gateway and `portcullis token verify` agree on every token: each refusal case of the e2e
//! JWT suite (tests/e2e/jwt.test.mjs, and the token checks of faults.test.mjs and
//! fuzz-regressions.test.mjs), plus the checks the CLI once skipped (header safety, the per-token
//! key limit, the order of issuer and algorithm), runs through
//! - the gateway: the whole pipeline on the in-memory platform (JWKS cache, verifier), and
//! - the CLI: `jwt_verify_offline` with the same issuer and the same JWKS document,
//!
//! and both must give the expected code (`None`: accepted). Not here, because they are about the
//! request rather than the token: no credential (`token_missing`), another scheme
//! (`authorization_scheme_unsupported`), both credentials (`request_invalid`), and scopes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer;
use serde_json::{json, Value};

use super::*;
use crate::config::parse_config;
use crate::jose::jwk::parse_jwks;
use crate::jose::verify::jwt_verify_offline;
use crate::platform::HttpResponse;
use crate::testing::{block_on, FakePlatform};

const NOW: u64 = 1_800_000_000;
const ISS: &str = "https://id.example.com";
const JWKS: &str = "https://id.example.com/jwks";

fn es_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_bytes(&[7u8; 32].into()).unwrap()
}

fn other_es_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_bytes(&[8u8; 32].into()).unwrap()
}

fn ed_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[9u8; 32])
}

fn es_jwk(key: &p256::ecdsa::SigningKey, kid: &str) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    json!({
        "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
        "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
    })
}

fn standard_jwks() -> Value {
    json!({ "keys": [
        es_jwk(&es_key(), "es-1"),
        { "kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "alg": "EdDSA",
          "x": URL_SAFE_NO_PAD.encode(ed_key().verifying_key().as_bytes()) },
    ]})
}

/// How a case's token is made.
enum Token {
    /// Signed: header members over `{"alg":"ES256","kid":"es-1","typ":"at+jwt"}` (null removes),
    /// claims over a valid set (null removes), signed with the named key.
    Signed {
        header: Value,
        claims: Value,
        with: Key,
    },
    /// A signed token whose payload segment is then replaced by this JSON text (the signature no
    /// longer covers it unless `resign`).
    RawPayload { payload: &'static str, resign: bool },
    /// Exactly this text.
    Raw(String),
}

#[derive(Clone, Copy)]
enum Key {
    Es,
    OtherEs,
    Ed,
    /// 64 zero bytes: a well-formed signature that verifies under no key.
    Garbage,
}

fn sign(input: &str, with: Key) -> Vec<u8> {
    match with {
        Key::Es => {
            let s: p256::ecdsa::Signature = es_key().sign(input.as_bytes());
            s.to_bytes().to_vec()
        }
        Key::OtherEs => {
            let s: p256::ecdsa::Signature = other_es_key().sign(input.as_bytes());
            s.to_bytes().to_vec()
        }
        Key::Ed => {
            use ed25519_dalek::Signer as _;
            ed_key().sign(input.as_bytes()).to_bytes().to_vec()
        }
        Key::Garbage => vec![0u8; 64],
    }
}

fn merged(mut base: Value, over: &Value) -> Value {
    for (k, v) in over.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

fn signed(header: &str, payload: &str, with: Key) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let sig = sign(&input, with);
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

const BASE_HEADER: &str = r#"{"alg":"ES256","kid":"es-1","typ":"at+jwt"}"#;

fn base_claims() -> Value {
    json!({
        "iss": ISS, "sub": "alice", "aud": "api", "exp": NOW + 300, "iat": NOW,
        "scope": "read write", "jti": "j1",
    })
}

fn make(token: &Token) -> String {
    match token {
        Token::Signed {
            header,
            claims,
            with,
        } => {
            let h = merged(serde_json::from_str(BASE_HEADER).unwrap(), header);
            let c = merged(base_claims(), claims);
            signed(&h.to_string(), &c.to_string(), *with)
        }
        Token::RawPayload { payload, resign } => {
            if *resign {
                signed(BASE_HEADER, payload, Key::Es)
            } else {
                let good = signed(BASE_HEADER, &base_claims().to_string(), Key::Es);
                let parts: Vec<&str> = good.split('.').collect();
                format!(
                    "{}.{}.{}",
                    parts[0],
                    URL_SAFE_NO_PAD.encode(payload),
                    parts[2]
                )
            }
        }
        Token::Raw(t) => t.clone(),
    }
}

struct Case {
    name: &'static str,
    token: Token,
    /// The JWKS document both sides use (`None`: the standard one).
    jwks: Option<Value>,
    expect: Option<&'static str>,
}

fn case(name: &'static str, header: Value, claims: Value, expect: Option<&'static str>) -> Case {
    Case {
        name,
        token: Token::Signed {
            header,
            claims,
            with: Key::Es,
        },
        jwks: None,
        expect,
    }
}

fn cases() -> Vec<Case> {
    let none = json!({});
    let mut v = vec![
        // Controls: both accept.
        case("valid ES256", json!({}), json!({}), None),
        Case {
            name: "valid EdDSA",
            token: Token::Signed {
                header: json!({ "alg": "EdDSA", "kid": "ed-1" }),
                claims: json!({}),
                with: Key::Ed,
            },
            jwks: None,
            expect: None,
        },
        case(
            "jku/x5c tolerated, never read",
            json!({ "x5c": ["MIIB"], "jku": "https://issuer.example/jwks" }),
            json!({}),
            None,
        ),
        case(
            "iat 20 s ahead (leeway)",
            none.clone(),
            json!({ "iat": NOW + 20 }),
            None,
        ),
        case(
            "nbf 20 s ahead (leeway)",
            none.clone(),
            json!({ "nbf": NOW + 20 }),
            None,
        ),
        case(
            "exp 20 s past (leeway)",
            none.clone(),
            json!({ "iat": NOW - 60, "exp": NOW - 20 }),
            None,
        ),
        // jwt.test.mjs: each failed claim check has its own code.
        case(
            "expired",
            none.clone(),
            json!({ "exp": NOW - 120, "iat": NOW - 600 }),
            Some("token_expired"),
        ),
        case(
            "expired beyond the leeway",
            none.clone(),
            json!({ "exp": NOW - 40, "iat": NOW - 100 }),
            Some("token_expired"),
        ),
        case(
            "not yet valid",
            none.clone(),
            json!({ "nbf": NOW + 600 }),
            Some("token_not_yet_valid"),
        ),
        case(
            "issued in the future",
            none.clone(),
            json!({ "iat": NOW + 600 }),
            Some("token_issued_in_future"),
        ),
        case(
            "audience mismatch",
            none.clone(),
            json!({ "aud": "https://other.example" }),
            Some("token_audience_mismatch"),
        ),
        case(
            "sub missing",
            none.clone(),
            json!({ "sub": null }),
            Some("token_claim_missing"),
        ),
        case(
            "exp missing",
            none.clone(),
            json!({ "exp": null }),
            Some("token_claim_missing"),
        ),
        case(
            "exp a string",
            none.clone(),
            json!({ "exp": (NOW + 600).to_string() }),
            Some("token_claim_invalid"),
        ),
        case(
            "scope an array",
            none.clone(),
            json!({ "scope": ["read"] }),
            Some("token_claim_invalid"),
        ),
        case(
            "typ of an ID token",
            json!({ "typ": "id_token+jwt" }),
            json!({}),
            Some("token_type_invalid"),
        ),
        case(
            "unknown critical header",
            json!({ "crit": ["urn:example:ext"], "urn:example:ext": true }),
            json!({}),
            Some("token_crit_unsupported"),
        ),
        case(
            "unknown issuer",
            none.clone(),
            json!({ "iss": "https://other.example" }),
            Some("token_issuer_unknown"),
        ),
        Case {
            name: "tampered payload",
            token: Token::RawPayload {
                payload: r#"{"iss":"https://id.example.com","sub":"admin","aud":"api","exp":1800000300,"iat":1800000000,"scope":"read write","jti":"j1"}"#,
                resign: false,
            },
            jwks: None,
            expect: Some("token_signature_invalid"),
        },
        Case {
            name: "right kid, another key",
            token: Token::Signed {
                header: json!({}),
                claims: json!({}),
                with: Key::OtherEs,
            },
            jwks: None,
            expect: Some("token_signature_invalid"),
        },
        // Malformed and oversized.
        raw("one segment", "abc", "token_malformed"),
        raw("two segments", "a.b", "token_malformed"),
        raw("five segments", "a.b.c.d.e", "token_malformed"),
        raw(
            "empty header object, no signature",
            "e30.e30.",
            "token_malformed",
        ),
        raw("not base64url", "!!!.e30.c2ln", "token_malformed"),
        raw(
            "padded signature",
            "eyJhbGciOiJSUzI1NiJ9.e30.c2ln==",
            "token_malformed",
        ),
        raw(
            "over the size cap",
            &format!("eyJhbGciOiJSUzI1NiJ9.{}.c2ln", "A".repeat(10_000)),
            "token_too_large",
        ),
        // Algorithms.
        Case {
            name: "alg none",
            token: Token::Raw(format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
                URL_SAFE_NO_PAD.encode(base_claims().to_string())
            )),
            jwks: None,
            expect: Some("token_algorithm_refused"),
        },
        Case {
            name: "HS256",
            token: Token::Raw(format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"es-1"}"#),
                URL_SAFE_NO_PAD.encode(base_claims().to_string()),
                URL_SAFE_NO_PAD.encode([1u8; 32])
            )),
            jwks: None,
            expect: Some("token_algorithm_refused"),
        },
        Case {
            name: "ES384 (never accepted)",
            token: Token::Raw(format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"ES384","kid":"x"}"#),
                URL_SAFE_NO_PAD.encode(base_claims().to_string()),
                URL_SAFE_NO_PAD.encode([0u8; 96])
            )),
            jwks: None,
            expect: Some("token_algorithm_refused"),
        },
        Case {
            name: "RS256, not in the issuer's allowlist",
            token: Token::Raw(format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"es-1"}"#),
                URL_SAFE_NO_PAD.encode(base_claims().to_string()),
                URL_SAFE_NO_PAD.encode([0u8; 256])
            )),
            jwks: None,
            expect: Some("token_algorithm_refused"),
        },
        // The issuer is found before its allowlist is asked: an unknown issuer with an algorithm
        // no issuer here allows is an unknown issuer.
        Case {
            name: "unknown issuer and an unlisted algorithm",
            token: Token::Raw(format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"k"}"#),
                URL_SAFE_NO_PAD.encode(
                    merged(base_claims(), &json!({ "iss": "https://other.example" })).to_string()
                ),
                URL_SAFE_NO_PAD.encode([0u8; 256])
            )),
            jwks: None,
            expect: Some("token_issuer_unknown"),
        },
        case(
            "unknown kid",
            json!({ "kid": "es-9" }),
            json!({}),
            Some("token_key_unknown"),
        ),
        // faults.test.mjs: the issuer's clock 90 s ahead.
        case(
            "iat 90 s ahead",
            none.clone(),
            json!({ "iat": NOW + 90 }),
            Some("token_issued_in_future"),
        ),
        case(
            "nbf 90 s ahead",
            none.clone(),
            json!({ "nbf": NOW + 90 }),
            Some("token_not_yet_valid"),
        ),
        case(
            "exp 31 s past",
            none.clone(),
            json!({ "iat": NOW - 60, "exp": NOW - 31 }),
            Some("token_expired"),
        ),
        // fuzz-regressions.test.mjs.
        case(
            "fractional nbf past the leeway",
            none.clone(),
            json!({ "nbf": (NOW + 30) as f64 + 0.6 }),
            Some("token_not_yet_valid"),
        ),
        // Lifetime cap (the issuer's max_token_lifetime_seconds, 86400 by default).
        case(
            "lifetime over the cap",
            none.clone(),
            json!({ "exp": NOW + 86_401 }),
            Some("token_lifetime_too_long"),
        ),
        case(
            "exp 1e30",
            none.clone(),
            json!({ "exp": 1e30 }),
            Some("token_lifetime_too_long"),
        ),
        // Scope grammar (RFC 6749 §3.3).
        case(
            "scope with two spaces",
            none.clone(),
            json!({ "scope": "read  write" }),
            Some("token_claim_invalid"),
        ),
        case(
            "scope with a quote",
            none.clone(),
            json!({ "scope": "read \"x" }),
            Some("token_claim_invalid"),
        ),
        // Header safety: sub and jti travel to the origin as header values.
        case(
            "sub not ASCII",
            none.clone(),
            json!({ "sub": "alic\u{e9}" }),
            Some("token_claim_invalid"),
        ),
        case(
            "sub with a leading space",
            none.clone(),
            json!({ "sub": " alice" }),
            Some("token_claim_invalid"),
        ),
        case(
            "jti with CR LF",
            none.clone(),
            json!({ "jti": "j1\r\nx-user-id: admin" }),
            Some("token_claim_invalid"),
        ),
        // Duplicates.
        Case {
            name: "duplicate claim",
            token: Token::RawPayload {
                payload: r#"{"iss":"https://id.example.com","sub":"alice","sub":"admin","aud":"api","exp":1800000300}"#,
                resign: true,
            },
            jwks: None,
            expect: Some("token_malformed"),
        },
        raw(
            "duplicate header parameter",
            &signed(
                r#"{"alg":"ES256","kid":"es-1","kid":"ed-1"}"#,
                &base_claims().to_string(),
                Key::Es,
            ),
            "token_malformed",
        ),
        // The per-token key limit: the matching key is the fifth with this kid, never tried.
        Case {
            name: "the verifying key is past the per-token key limit",
            token: Token::Signed {
                header: json!({}),
                claims: json!({}),
                with: Key::Es,
            },
            jwks: Some(json!({ "keys": [
                es_jwk(&other_es_key(), "es-1"),
                es_jwk(&other_es_key(), "es-1"),
                es_jwk(&other_es_key(), "es-1"),
                es_jwk(&other_es_key(), "es-1"),
                es_jwk(&es_key(), "es-1"),
            ]})),
            expect: Some("token_signature_invalid"),
        },
        Case {
            name: "the verifying key is within the per-token key limit",
            token: Token::Signed {
                header: json!({}),
                claims: json!({}),
                with: Key::Es,
            },
            jwks: Some(json!({ "keys": [
                es_jwk(&other_es_key(), "es-1"),
                es_jwk(&other_es_key(), "es-1"),
                es_jwk(&other_es_key(), "es-1"),
                es_jwk(&es_key(), "es-1"),
            ]})),
            expect: None,
        },
        Case {
            name: "a well-formed signature under no key",
            token: Token::Signed {
                header: json!({}),
                claims: json!({}),
                with: Key::Garbage,
            },
            jwks: None,
            expect: Some("token_signature_invalid"),
        },
    ];
    // fuzz-regressions.test.mjs: registered header parameters of the wrong JSON type.
    for header in [
        json!({ "x5c": 5 }),
        json!({ "x5c": [1] }),
        json!({ "jku": 5 }),
        json!({ "x5u": [] }),
        json!({ "cty": 7 }),
        json!({ "jwk": "k" }),
    ] {
        v.push(case(
            "registered header parameter of the wrong type",
            header,
            json!({}),
            Some("token_malformed"),
        ));
    }
    // `x5t: null` (a null member is not an absent one).
    v.push(raw(
        "x5t null",
        &signed(
            r#"{"alg":"ES256","kid":"es-1","x5t":null}"#,
            &base_claims().to_string(),
            Key::Es,
        ),
        "token_malformed",
    ));
    v
}

fn raw(name: &'static str, token: &str, expect: &'static str) -> Case {
    Case {
        name,
        token: Token::Raw(token.to_string()),
        jwks: None,
        expect: Some(expect),
    }
}

fn config_doc() -> Value {
    json!({
        "origin": "https://origin.internal",
        "realm": "t",
        "issuers": [{ "issuer": ISS, "jwks_uri": JWKS, "audiences": ["api"], "algorithms": ["ES256", "EdDSA"] }],
        "routes": [{ "name": "read", "methods": ["GET"], "path": "/api/*", "auth": ["jwt"] }]
    })
}

/// The gateway's verdict: the whole pipeline, a fresh isolate serving `jwks`.
fn through_gateway(token: &str, jwks: &str) -> Option<String> {
    let gw = Gateway::new(parse_config(&config_doc()).unwrap());
    let p = FakePlatform::new(NOW);
    p.http.borrow_mut().insert(
        JWKS.to_string(),
        HttpResponse {
            status: 200,
            cache_control: None,
            body: jwks.as_bytes().to_vec(),
        },
    );
    let head = RequestHead {
        method: "GET".into(),
        url: "https://gw.example/api/x".into(),
        headers: vec![("authorization".into(), format!("Bearer {token}"))],
    };
    let outcome = block_on(gw.handle(&p, &head)).outcome;
    // Log lines (JWKS fetches, …) never carry the token or its signature.
    let signature = token.rsplit('.').next().unwrap_or_default();
    for line in p.logs.borrow().iter() {
        assert!(!line.contains(token), "the token in a log line: {line}");
        assert!(
            signature.len() < 16 || !line.contains(signature),
            "a signature in a log line: {line}"
        );
    }
    match outcome {
        Outcome::Forward(_) => None,
        Outcome::Respond(r) => {
            let body: Value = serde_json::from_str(&r.body).unwrap();
            Some(body["code"].as_str().unwrap().to_string())
        }
        other => panic!("neither forwarded nor refused: {other:?}"),
    }
}

/// The CLI's verdict: `portcullis token verify` with the gateway's issuer and the JWKS as a file.
fn through_cli(token: &str, jwks: &str) -> Option<String> {
    let config = parse_config(&config_doc()).unwrap();
    let set = parse_jwks(jwks.as_bytes()).unwrap();
    jwt_verify_offline(token, config.max_token_bytes, &config.issuers[0], &set, NOW)
        .err()
        .map(|e| e.code().as_str().to_string())
}

#[test]
fn the_gateway_and_the_cli_give_every_token_the_same_verdict() {
    let mut failures = Vec::new();
    for c in cases() {
        let token = make(&c.token);
        let jwks = c.jwks.clone().unwrap_or_else(standard_jwks).to_string();
        let gateway = through_gateway(&token, &jwks);
        let cli = through_cli(&token, &jwks);
        let expect = c.expect.map(str::to_string);
        if gateway != expect || cli != expect {
            failures.push(format!(
                "{}: expected {expect:?}, gateway {gateway:?}, cli {cli:?}",
                c.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
