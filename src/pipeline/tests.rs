//! The whole pipeline natively: the in-memory platform serves a JWKS, verifies with the pure-Rust
//! verifier and runs a settable clock, so cache timing (cooldown, freshness, stale-if-error) is
//! tested to the millisecond. The same behaviours run for real in workerd in tests/e2e/.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer;
use serde_json::{json, Value};

use super::*;
use crate::config::parse_config;
use crate::platform::HttpResponse;
use crate::testing::{block_on, FakePlatform};

const NOW: u64 = 1_800_000_000;
const ISS: &str = "https://id.example.com";
const JWKS: &str = "https://id.example.com/jwks";

struct Issuer {
    es: p256::ecdsa::SigningKey,
    ed: ed25519_dalek::SigningKey,
}

impl Issuer {
    fn new() -> Self {
        Issuer {
            es: p256::ecdsa::SigningKey::from_bytes(&[7u8; 32].into()).unwrap(),
            ed: ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]),
        }
    }

    fn jwks(&self, with_es: bool) -> String {
        let point = self.es.verifying_key().to_encoded_point(false);
        let mut keys = vec![json!({
            "kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "alg": "EdDSA",
            "x": URL_SAFE_NO_PAD.encode(self.ed.verifying_key().as_bytes()),
        })];
        if with_es {
            keys.push(json!({
                "kty": "EC", "crv": "P-256", "kid": "es-1", "alg": "ES256", "use": "sig",
                "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
                "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
            }));
        }
        json!({ "keys": keys }).to_string()
    }

    fn token(&self, alg: &str, kid: &str, claims: Value) -> String {
        let mut body = json!({
            "iss": ISS, "sub": "alice", "aud": "api", "exp": NOW + 300, "iat": NOW,
            "scope": "read write", "jti": "j1",
        });
        for (k, v) in claims.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        let header = json!({ "alg": alg, "kid": kid, "typ": "at+jwt" });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(body.to_string())
        );
        let sig = match alg {
            "ES256" => {
                let s: p256::ecdsa::Signature = self.es.sign(input.as_bytes());
                s.to_bytes().to_vec()
            }
            _ => {
                use ed25519_dalek::Signer as _;
                self.ed.sign(input.as_bytes()).to_bytes().to_vec()
            }
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

fn gateway(extra: Value) -> Gateway<crate::jose::jwk::Jwk> {
    let mut doc = json!({
        "origin": "https://origin.internal/base",
        "realm": "t",
        "issuers": [{ "issuer": ISS, "jwks_uri": JWKS, "audiences": ["api"], "algorithms": ["ES256", "EdDSA"] }],
        "jwks": { "refetch_cooldown_seconds": 30, "min_ttl_seconds": 60, "default_ttl_seconds": 600, "stale_if_error_seconds": 3600 },
        "routes": [
            { "name": "pub", "methods": ["GET"], "path": "/health", "auth": ["public"] },
            { "name": "read", "methods": ["GET"], "path": "/api/*", "auth": ["jwt"], "scopes": ["read"] },
            { "name": "admin-ish", "methods": ["POST"], "path": "/api/*", "auth": ["jwt"], "scopes": ["admin"] }
        ]
    });
    for (k, v) in extra.as_object().unwrap() {
        doc[k] = v.clone();
    }
    Gateway::new(parse_config(&doc).unwrap())
}

fn platform(issuer: &Issuer, cache_control: Option<&str>) -> FakePlatform {
    let p = FakePlatform::new(NOW);
    serve_jwks(&p, issuer, true, cache_control);
    p
}

fn serve_jwks(p: &FakePlatform, issuer: &Issuer, with_es: bool, cache_control: Option<&str>) {
    p.http.borrow_mut().insert(
        JWKS.to_string(),
        HttpResponse {
            status: 200,
            cache_control: cache_control.map(str::to_string),
            body: issuer.jwks(with_es).into_bytes(),
        },
    );
}

fn req(method: &str, path: &str, headers: &[(&str, &str)]) -> RequestHead {
    RequestHead {
        method: method.into(),
        url: format!("https://gw.example{path}"),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    }
}

fn run(gw: &Gateway<crate::jose::jwk::Jwk>, p: &FakePlatform, r: &RequestHead) -> Outcome {
    block_on(gw.handle(p, r)).outcome
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn code_of(o: &Outcome) -> (u16, String) {
    match o {
        Outcome::Respond(r) => {
            let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            (r.status, v["code"].as_str().unwrap_or("").to_string())
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn header<'a>(o: &'a Outcome, name: &str) -> Option<&'a str> {
    let headers = match o {
        Outcome::Respond(r) => &r.headers,
        Outcome::Forward(f) => &f.add,
        Outcome::Admin(_) | Outcome::Session(_) => return None,
    };
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn valid_tokens_forward_with_exact_identity_headers() {
    let issuer = Issuer::new();
    let gw = gateway(json!({}));
    let p = platform(&issuer, None);
    for (alg, kid) in [("ES256", "es-1"), ("EdDSA", "ed-1")] {
        let t = issuer.token(alg, kid, json!({}));
        let auth = bearer(&t);
        let o = run(
            &gw,
            &p,
            &req(
                "GET",
                "/api/x?y=1",
                &[
                    ("authorization", &auth),
                    ("x-user-id", "spoof"),
                    ("accept", "*/*"),
                ],
            ),
        );
        let Outcome::Forward(plan) = o else {
            panic!("{alg}: {o:?}")
        };
        assert_eq!(plan.url, "https://origin.internal/base/api/x?y=1");
        let client = [
            ("authorization".to_string(), auth.clone()),
            ("x-user-id".to_string(), "spoof".to_string()),
            ("accept".to_string(), "*/*".to_string()),
        ];
        // What `edge` does with the plan: the client's headers minus `strip`, then `add`.
        let kept: Vec<_> = client
            .iter()
            .filter(|(n, _)| !plan.strip.contains(n))
            .cloned()
            .collect();
        assert_eq!(kept, vec![("accept".to_string(), "*/*".to_string())]);
        assert_eq!(
            crate::request_id::tests::without_request_id(&plan.add),
            vec![
                ("x-auth-method".to_string(), "jwt".to_string()),
                ("x-user-id".into(), "alice".into()),
                ("x-user-scopes".into(), "read,write".into()),
                ("x-auth-issuer".into(), ISS.into()),
                ("x-token-id".into(), "j1".into()),
                ("x-forwarded-proto".into(), "https".into()),
                ("x-forwarded-host".into(), "gw.example".into()),
            ]
        );
    }
    assert_eq!(p.http_calls.borrow().len(), 1, "one JWKS fetch for both");
}

#[test]
fn a_reused_token_is_verified_once() {
    let issuer = Issuer::new();
    let gw = gateway(json!({}));
    let p = platform(&issuer, None);
    let auth = bearer(&issuer.token("ES256", "es-1", json!({})));
    for _ in 0..5 {
        assert!(matches!(
            run(&gw, &p, &req("GET", "/api/x", &[("authorization", &auth)])),
            Outcome::Forward(_)
        ));
    }
    assert_eq!(p.verifies.get(), 1);
    // Past exp + leeway the cached entry is gone and the full check reports the expiry.
    p.advance_secs(300 + 30);
    assert_eq!(
        code_of(&run(
            &gw,
            &p,
            &req("GET", "/api/x", &[("authorization", &auth)])
        )),
        (401, "token_expired".into())
    );
}

#[test]
fn each_refusal_has_its_code_status_and_challenge() {
    let issuer = Issuer::new();
    let gw = gateway(json!({}));
    let p = platform(&issuer, None);
    let cases: Vec<(String, u16, &str)> = vec![
        (
            issuer.token("ES256", "es-1", json!({"exp": NOW - 31})),
            401,
            "token_expired",
        ),
        (
            issuer.token("ES256", "es-1", json!({"nbf": NOW + 31})),
            401,
            "token_not_yet_valid",
        ),
        (
            issuer.token("ES256", "es-1", json!({"iat": NOW + 31})),
            401,
            "token_issued_in_future",
        ),
        (
            issuer.token("ES256", "es-1", json!({"aud": "other"})),
            401,
            "token_audience_mismatch",
        ),
        (
            issuer.token("ES256", "es-1", json!({"iss": "https://evil"})),
            401,
            "token_issuer_unknown",
        ),
        (
            issuer.token("ES256", "es-1", json!({"sub": null})),
            401,
            "token_claim_missing",
        ),
        (
            issuer.token("ES256", "es-1", json!({"exp": "soon"})),
            401,
            "token_claim_invalid",
        ),
        (
            issuer.token("ES256", "nope", json!({})),
            401,
            "token_key_unknown",
        ),
        (
            issuer.token("EdDSA", "es-1", json!({})),
            401,
            "token_key_unknown",
        ),
        ("a.b".to_string(), 401, "token_malformed"),
    ];
    for (token, status, code) in cases {
        let auth = bearer(&token);
        let o = run(&gw, &p, &req("GET", "/api/x", &[("authorization", &auth)]));
        assert_eq!(code_of(&o), (status, code.to_string()), "{code}");
        let www = header(&o, "www-authenticate").unwrap();
        assert!(
            www.starts_with("Bearer realm=\"t\", error=\"invalid_token\", error_description=\""),
            "{code}: {www}"
        );
    }
    // A signature from the right kid but another key.
    let other = Issuer {
        es: p256::ecdsa::SigningKey::from_bytes(&[8u8; 32].into()).unwrap(),
        ed: ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]),
    };
    let auth = bearer(&other.token("ES256", "es-1", json!({})));
    let o = run(&gw, &p, &req("GET", "/api/x", &[("authorization", &auth)]));
    assert_eq!(code_of(&o), (401, "token_signature_invalid".into()));

    let o = run(&gw, &p, &req("GET", "/api/x", &[]));
    assert_eq!(code_of(&o), (401, "token_missing".into()));
    assert_eq!(header(&o, "www-authenticate"), Some("Bearer realm=\"t\""));

    let auth = bearer(&issuer.token("ES256", "es-1", json!({})));
    let o = run(&gw, &p, &req("POST", "/api/x", &[("authorization", &auth)]));
    assert_eq!(code_of(&o), (403, "insufficient_scope".into()));
    assert!(header(&o, "www-authenticate")
        .unwrap()
        .ends_with("scope=\"admin\""));

    assert_eq!(
        code_of(&run(&gw, &p, &req("GET", "/nowhere", &[]))),
        (404, "route_not_found".into())
    );
    assert_eq!(
        code_of(&run(&gw, &p, &req("GET", "/api/x?Access_Token=1", &[]))),
        (400, "credentials_in_url".into())
    );
}

#[test]
fn an_unknown_kid_refetches_at_most_once_per_cooldown() {
    let issuer = Issuer::new();
    let gw = gateway(json!({}));
    let p = platform(&issuer, Some("max-age=3600"));
    let good = bearer(&issuer.token("ES256", "es-1", json!({"jti": "a"})));
    assert!(matches!(
        run(&gw, &p, &req("GET", "/api/x", &[("authorization", &good)])),
        Outcome::Forward(_)
    ));
    for i in 0..20 {
        let t = bearer(&issuer.token("ES256", &format!("unknown-{i}"), json!({})));
        run(&gw, &p, &req("GET", "/api/x", &[("authorization", &t)]));
    }
    assert_eq!(
        p.http_calls.borrow().len(),
        1,
        "inside the cooldown: no refetch"
    );
    p.advance_secs(31);
    for i in 0..20 {
        let t = bearer(&issuer.token("ES256", &format!("unknown-{i}"), json!({})));
        run(&gw, &p, &req("GET", "/api/x", &[("authorization", &t)]));
    }
    assert_eq!(
        p.http_calls.borrow().len(),
        2,
        "one refetch after the cooldown"
    );
}

#[test]
fn rotation_and_stale_if_error() {
    let issuer = Issuer::new();
    let gw = gateway(json!({}));
    let p = platform(&issuer, Some("max-age=120"));
    let es = |jti: &str| {
        bearer(&issuer.token("ES256", "es-1", json!({ "jti": jti, "exp": NOW + 80_000 })))
    };
    assert!(matches!(
        run(
            &gw,
            &p,
            &req("GET", "/api/x", &[("authorization", &es("1"))])
        ),
        Outcome::Forward(_)
    ));

    // The issuer goes down; the cached set keeps serving past its freshness.
    p.http.borrow_mut().clear();
    p.advance_secs(121);
    assert!(matches!(
        run(
            &gw,
            &p,
            &req("GET", "/api/x", &[("authorization", &es("2"))])
        ),
        Outcome::Forward(_)
    ));
    assert_eq!(p.http_calls.borrow().len(), 2, "one failed refetch");
    assert!(p
        .logs
        .borrow()
        .iter()
        .any(|l| l.contains("jwks_fetch_failed")));

    // Back up without the ES256 key: once refetched, that key is gone.
    serve_jwks(&p, &issuer, false, Some("max-age=120"));
    p.advance_secs(31);
    let o = run(
        &gw,
        &p,
        &req("GET", "/api/x", &[("authorization", &es("3"))]),
    );
    assert_eq!(code_of(&o), (401, "token_key_unknown".into()));

    // Beyond the stale limit with the issuer down: fail closed with Retry-After.
    p.http.borrow_mut().clear();
    p.advance_secs(120 + 3600 + 1);
    let ed = bearer(&issuer.token("EdDSA", "ed-1", json!({ "jti": "4", "exp": NOW + 80_000 })));
    let o = run(&gw, &p, &req("GET", "/api/x", &[("authorization", &ed)]));
    assert_eq!(code_of(&o), (503, "jwks_unavailable".into()));
    assert_eq!(header(&o, "retry-after"), Some("30"));
}

#[test]
fn public_routes_strip_the_namespace_and_say_so() {
    let gw = gateway(json!({}));
    let p = FakePlatform::new(NOW);
    let o = run(
        &gw,
        &p,
        &req(
            "GET",
            "/health",
            &[
                ("x-auth-method", "jwt"),
                ("x-key-id", "k"),
                ("connection", "x-foo"),
                ("x-foo", "1"),
                ("te", "trailers"),
            ],
        ),
    );
    let Outcome::Forward(plan) = o else {
        panic!("{o:?}")
    };
    let client: Vec<(String, String)> = [
        ("x-auth-method", "jwt"),
        ("x-key-id", "k"),
        ("connection", "x-foo"),
        ("x-foo", "1"),
        ("te", "trailers"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    // Every client header is stripped; what the origin sees is the plan's `add` alone.
    assert!(client.iter().all(|(n, _)| plan.strip.contains(n)));
    assert_eq!(
        crate::request_id::tests::without_request_id(&plan.add),
        vec![
            ("x-auth-method".to_string(), "public".to_string()),
            ("x-forwarded-proto".to_string(), "https".to_string()),
            ("x-forwarded-host".to_string(), "gw.example".to_string()),
        ]
    );
}

/// Issue 8 item 1 and issue 16: every spelling a CGI-style origin folds into a header the gateway
/// speaks for is stripped, and the gateway's own forwarding headers replace the client's.
#[test]
fn spoofed_identity_forwarding_and_override_headers_never_reach_the_origin() {
    let issuer = Issuer::new();
    let gw = gateway(json!({}));
    let p = platform(&issuer, None);
    let auth = bearer(&issuer.token("ES256", "es-1", json!({})));
    let spoofed: Vec<(String, String)> = [
        ("x_user_id", "admin"),
        ("x_user_scopes", "admin"),
        ("x-user_id", "admin"),
        ("x_key_id", "key_x"),
        ("x_auth_method", "api_key"),
        ("x_api_key", "pc_test_x"),
        ("forwarded", "for=10.0.0.4;host=evil.example;proto=http"),
        ("x-forwarded-host", "evil.example"),
        ("x_forwarded_host", "evil.example"),
        ("x-forwarded-for", "10.0.0.1"),
        ("x-forwarded-proto", "http"),
        ("x-forwarded-port", "80"),
        ("x-real-ip", "10.0.0.1"),
        ("true-client-ip", "10.0.0.1"),
        ("cf-connecting-ip", "198.51.100.9"),
        ("x-http-method-override", "DELETE"),
        ("x_original_url", "/admin"),
        ("accept", "*/*"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .chain([("authorization".to_string(), auth)])
    .collect();
    let r = RequestHead {
        method: "GET".into(),
        url: "https://gw.example/api/x".into(),
        headers: spoofed.clone(),
    };
    let Outcome::Forward(plan) = run(&gw, &p, &r) else {
        panic!("not forwarded")
    };
    // What `edge` does with the plan: the client's headers minus `strip`, then `add`.
    let kept: Vec<_> = spoofed
        .iter()
        .filter(|(n, _)| !plan.strip.contains(n))
        .cloned()
        .collect();
    assert_eq!(kept, vec![("accept".to_string(), "*/*".to_string())]);
    assert_eq!(
        crate::request_id::tests::without_request_id(&plan.add),
        vec![
            ("x-auth-method".to_string(), "jwt".to_string()),
            ("x-user-id".into(), "alice".into()),
            ("x-user-scopes".into(), "read,write".into()),
            ("x-auth-issuer".into(), ISS.into()),
            ("x-token-id".into(), "j1".into()),
            ("x-forwarded-for".into(), "198.51.100.9".into()),
            ("x-forwarded-proto".into(), "https".into()),
            ("x-forwarded-host".into(), "gw.example".into()),
            ("x-real-ip".into(), "198.51.100.9".into()),
        ]
    );
}

#[test]
fn a_post_with_a_method_override_parameter_is_refused() {
    let issuer = Issuer::new();
    let gw = gateway(json!({}));
    let p = platform(&issuer, None);
    let auth = bearer(&issuer.token("ES256", "es-1", json!({"scope": "admin"})));
    let o = run(
        &gw,
        &p,
        &req("POST", "/api/x?_method=DELETE", &[("authorization", &auth)]),
    );
    assert_eq!(code_of(&o), (400, "request_invalid".into()));
    let o = run(
        &gw,
        &p,
        &req("POST", "/api/x?method=DELETE", &[("authorization", &auth)]),
    );
    assert!(matches!(o, Outcome::Forward(_)), "{o:?}");
}

#[test]
fn unreadable_headers_refuse_the_request() {
    // The entry module hands the runtime's Headers over as `name:value\n` lines; anything else
    // (no headers at all, a line without `:`, an empty name, text after the last line) must not
    // become an empty or partial header list, which would strip nothing and forward every client
    // header.
    for lines in [
        None,
        Some("x-user-id"),
        Some("x-user-id\n"),
        Some(":admin\n"),
        Some("accept:*/*\nx-user-id:admin"),
        Some("\n"),
        Some("accept:*/*\n\nx-user-id:admin\n"),
    ] {
        let e = RequestHead::from_header_lines("GET".into(), "https://gw.example/".into(), lines)
            .unwrap_err();
        let problem = Problem::from(e);
        assert_eq!(
            problem.code,
            ErrorCode::RequestHeadersUnreadable,
            "{lines:?}"
        );
        assert_eq!(problem.status(), 500);
    }
    let head = RequestHead::from_header_lines(
        "GET".into(),
        "https://gw.example/".into(),
        Some("x-user-id:admin\naccept:*/*\nx-empty:\ncookie:a=b:c\n"),
    )
    .unwrap();
    assert_eq!(
        head.headers,
        [
            ("x-user-id".to_string(), "admin".to_string()),
            ("accept".to_string(), "*/*".to_string()),
            ("x-empty".to_string(), String::new()),
            ("cookie".to_string(), "a=b:c".to_string()),
        ]
    );
    let empty =
        RequestHead::from_header_lines("GET".into(), "https://gw.example/".into(), Some(""))
            .unwrap();
    assert!(empty.headers.is_empty());
}

#[test]
fn transport_policy() {
    let gw = gateway(json!({ "transport": { "https": "redirect" } }));
    let p = FakePlatform::new(NOW);
    let mut r = req("GET", "/health?a=1", &[]);
    r.url = "http://gw.example/health?a=1".into();
    let o = run(&gw, &p, &r);
    let Outcome::Respond(reply) = o else { panic!() };
    assert_eq!(reply.status, 308);
    assert_eq!(
        reply.headers,
        vec![(
            "location".to_string(),
            "https://gw.example/health?a=1".to_string()
        )]
    );
    assert_eq!(
        gw.response_headers(&r),
        vec![(
            "strict-transport-security".to_string(),
            "max-age=63072000; includeSubDomains".to_string()
        )]
    );
    let gw = gateway(json!({ "transport": { "https": "refuse" } }));
    assert_eq!(code_of(&run(&gw, &p, &r)), (403, "https_required".into()));
}

#[test]
fn cors_preflight_and_response_headers() {
    let gw = gateway(json!({ "cors": { "allowed_origins": ["https://app.example"] } }));
    let p = FakePlatform::new(NOW);
    let pre = req(
        "OPTIONS",
        "/api/x",
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "GET"),
        ],
    );
    let Outcome::Respond(reply) = run(&gw, &p, &pre) else {
        panic!()
    };
    assert_eq!(reply.status, 204);
    assert!(gw.response_headers(&pre).contains(&(
        "access-control-allow-origin".into(),
        "https://app.example".into()
    )));
    // Another origin's preflight is not answered: it meets the route like any request.
    let other = req(
        "OPTIONS",
        "/api/x",
        &[
            ("origin", "https://evil.example"),
            ("access-control-request-method", "GET"),
        ],
    );
    assert_eq!(
        code_of(&run(&gw, &p, &other)),
        (404, "route_not_found".into())
    );
    assert_eq!(gw.response_headers(&other).len(), 1);
}

/// The `Access-Control-Allow-Headers` of a preflight from `origin` for `path`.
fn preflight_allows(gw: &Gateway<crate::jose::jwk::Jwk>, path: &str, origin: &str) -> String {
    let p = FakePlatform::new(NOW);
    let pre = req(
        "OPTIONS",
        path,
        &[
            ("origin", origin),
            ("access-control-request-method", "POST"),
        ],
    );
    let Outcome::Respond(reply) = run(gw, &p, &pre) else {
        panic!("a preflight is answered by the gateway")
    };
    assert_eq!(reply.status, 204);
    reply
        .headers
        .iter()
        .find(|(n, _)| n == "access-control-allow-headers")
        .map(|(_, v)| v.clone())
        .expect("access-control-allow-headers")
}

#[test]
fn with_dpop_on_browsers_may_send_the_dpop_header_unless_the_operator_listed_headers() {
    let app = "https://app.example";
    let cors = json!({ "allowed_origins": [app] });
    let off = gateway(json!({ "cors": cors }));
    assert_eq!(
        preflight_allows(&off, "/api/x", app),
        "authorization, content-type, x-api-key"
    );
    let on = gateway(json!({ "cors": cors, "dpop": { "enabled": true } }));
    assert_eq!(
        preflight_allows(&on, "/api/x", app),
        "authorization, content-type, x-api-key, dpop"
    );
    // An explicit list is authoritative, with or without `dpop` in it.
    for (listed, allowed) in [
        (json!(["authorization"]), "authorization"),
        (json!(["authorization", "DPoP"]), "authorization, DPoP"),
    ] {
        let gw = gateway(json!({
            "cors": { "allowed_origins": [app], "allowed_headers": listed },
            "dpop": { "enabled": true },
        }));
        assert_eq!(preflight_allows(&gw, "/api/x", app), allowed);
    }
}

#[test]
fn session_endpoints_answer_with_their_own_cors_only() {
    let app = "https://app.example";
    let sessions = |dpop: bool| {
        gateway(json!({
            "cors": { "allowed_origins": [app] },
            "dpop": { "enabled": dpop },
            "sessions": {
                "enabled": true,
                "issuer": "https://gw.example/portcullis",
                "audiences": ["api"],
                "app_origins": [app],
            },
        }))
    };
    let off = sessions(false);
    assert_eq!(
        preflight_allows(&off, "/auth/refresh", app),
        "content-type, authorization"
    );
    let on = sessions(true);
    assert_eq!(
        preflight_allows(&on, "/auth/refresh", app),
        "content-type, authorization, dpop"
    );
    // The gateway's `cors` headers are not added on top of the endpoint's own (an origin in both
    // lists would otherwise get two `Access-Control-Allow-Origin`), on a preflight or an answer.
    for method in ["OPTIONS", "POST"] {
        let r = req(method, "/auth/refresh", &[("origin", app)]);
        assert!(
            on.response_headers(&r)
                .iter()
                .all(|(name, _)| !name.starts_with("access-control-")),
            "{method}"
        );
    }
    // Routes keep the gateway's CORS.
    let route = req("GET", "/api/x", &[("origin", app)]);
    assert!(on
        .response_headers(&route)
        .contains(&("access-control-allow-origin".into(), app.into())));
}

#[test]
fn refused_admin_calls_are_audited_and_other_refusals_are_not() {
    let issuer = Issuer::new();
    let gw = gateway(json!({ "admin": { "enabled": true, "credentials": ["jwt"] } }));
    let p = platform(&issuer, None);
    let audits = || -> Vec<Value> {
        p.logs
            .borrow()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("audit").is_some())
            .collect()
    };
    let token = issuer.token("ES256", "es-1", json!({ "scope": "read" }));
    let auth = bearer(&token);
    let o = run(
        &gw,
        &p,
        &req("GET", "/admin/keys?cursor=x", &[("authorization", &auth)]),
    );
    assert_eq!(code_of(&o), (403, "insufficient_scope".into()));
    assert_eq!(
        audits(),
        vec![json!({
            "audit": "admin.forbidden", "ts": NOW, "actor": "alice", "actor_method": "jwt",
            "actor_issuer": ISS, "outcome": "refused", "status": 403, "code": "insufficient_scope",
            "method": "GET", "path": "/admin/keys",
        })]
    );
    // No credential, and a bad one: audited without an actor.
    let o = run(&gw, &p, &req("POST", "/admin/keys", &[]));
    assert_eq!(code_of(&o), (401, "token_missing".into()));
    let expired = bearer(&issuer.token("ES256", "es-1", json!({ "exp": NOW - 60 })));
    let o = run(
        &gw,
        &p,
        &req("GET", "/admin/keys", &[("authorization", &expired)]),
    );
    assert_eq!(code_of(&o), (401, "token_expired".into()));
    let unauth: Vec<(Value, Value, Value)> = audits()
        .into_iter()
        .filter(|a| a["audit"] == "admin.unauthenticated")
        .map(|a| (a["actor"].clone(), a["code"].clone(), a["method"].clone()))
        .collect();
    assert_eq!(
        unauth,
        vec![
            (Value::Null, json!("token_missing"), json!("POST")),
            (Value::Null, json!("token_expired"), json!("GET")),
        ]
    );
    assert!(!p.logs.borrow().iter().any(|l| l.contains(&token)));
    // A refusal on an ordinary route is no admin call: no audit line.
    let before = audits().len();
    let o = run(&gw, &p, &req("POST", "/api/x", &[("authorization", &auth)]));
    assert_eq!(code_of(&o), (403, "insufficient_scope".into()));
    assert_eq!(audits().len(), before);
}

#[test]
fn ed25519_alg_name_and_lifetime_cap_through_the_pipeline() {
    let issuer = Issuer::new();
    let p = platform(&issuer, None);
    // The JWKS pins the key to "EdDSA"; a token saying "Ed25519" is the same operation.
    let gw = gateway(
        json!({ "issuers": [{ "issuer": ISS, "jwks_uri": JWKS, "audiences": ["api"],
        "algorithms": ["Ed25519"], "max_token_lifetime_seconds": 600 }] }),
    );
    let ed = bearer(&issuer.token("Ed25519", "ed-1", json!({})));
    let o = run(&gw, &p, &req("GET", "/api/x", &[("authorization", &ed)]));
    assert!(matches!(o, Outcome::Forward(_)), "{o:?}");
    // The allowlist is by exact name: EdDSA is not listed here.
    let old = bearer(&issuer.token("EdDSA", "ed-1", json!({})));
    let o = run(&gw, &p, &req("GET", "/api/x", &[("authorization", &old)]));
    assert_eq!(code_of(&o), (401, "token_algorithm_refused".into()));
    // exp - iat over the issuer's cap, and exp 1e30.
    for exp in [json!(NOW + 601), json!(1e30)] {
        let long = bearer(&issuer.token("Ed25519", "ed-1", json!({ "exp": exp })));
        let o = run(&gw, &p, &req("GET", "/api/x", &[("authorization", &long)]));
        assert_eq!(code_of(&o), (401, "token_lifetime_too_long".into()));
        assert!(header(&o, "www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\""));
    }
}

mod machine;
#[test]
fn step_up_holds_for_every_reading_of_the_path() {
    let issuer = Issuer::new();
    let gw = gateway(json!({ "routes": [
        { "name": "export", "methods": ["GET"], "path": "/reports/export", "auth": ["jwt"], "mfa": "required" },
        { "name": "reports", "methods": ["GET"], "path": "/reports/*", "auth": ["jwt"] }
    ]}));
    let p = platform(&issuer, None);
    let pwd = issuer.token("ES256", "es-1", json!({ "amr": ["pwd"] }));
    let otp = issuer.token("ES256", "es-1", json!({ "amr": ["pwd", "otp"] }));
    // A trailing slash or a format suffix is the export route to Rails or Spring: the step-up of
    // the route of that reading applies although `/reports/*` matched first.
    for path in [
        "/reports/export",
        "/reports/export/",
        "/reports/export.json",
    ] {
        let refused = run(
            &gw,
            &p,
            &req("GET", path, &[("authorization", &bearer(&pwd))]),
        );
        assert_eq!(code_of(&refused), (401, "mfa_required".into()), "{path}");
        assert!(header(&refused, "www-authenticate")
            .unwrap()
            .contains("error=\"insufficient_user_authentication\""));
        let passed = run(
            &gw,
            &p,
            &req("GET", path, &[("authorization", &bearer(&otp))]),
        );
        assert!(matches!(passed, Outcome::Forward(_)), "{path}: {passed:?}");
    }
    let other = run(
        &gw,
        &p,
        &req("GET", "/reports/daily", &[("authorization", &bearer(&pwd))]),
    );
    assert!(matches!(other, Outcome::Forward(_)));
}

#[test]
fn a_request_line_takes_its_identity_from_the_request_log() {
    let id = RequestId::assign(Some("8f0b4a6c3d2e1f00-SJC"), |_| {});
    let log = RequestLog {
        route: Some("api".into()),
        credential: Some("jwt"),
        subject: Some("alice".into()),
        key_id: None,
        code: Some("ignored_here"),
    };
    assert_eq!(
        log.event(
            &id,
            "GET",
            "/api/x",
            403,
            Some("insufficient_scope"),
            Some(1.5)
        )
        .line(),
        r#"{"event":"request","request_id":"8f0b4a6c3d2e1f00-SJC","method":"GET","path":"/api/x","route":"api","credential":"jwt","subject":"alice","key_id":null,"status":403,"code":"insufficient_scope","duration_ms":1.5}"#
    );
}
