use std::cell::RefCell;

use super::client::ClientCredentials;
use super::settings::{ClientAuth, IntrospectionSettings};
use super::*;
use crate::platform::HttpResponse;
use crate::testing::{block_on, FakePlatform};
use serde_json::json;

const NOW: u64 = 1_700_000_000;
const ENDPOINT: &str = "https://as.example/introspect";

fn settings() -> IntrospectionSettings {
    IntrospectionSettings {
        enabled: true,
        issuer: "https://as.example".into(),
        endpoint: ENDPOINT.into(),
        client_id: "gw".into(),
        ..Default::default()
    }
}

/// A configuration whose routes require no claims.
fn no_claims() -> crate::claims::ClaimSettings {
    crate::claims::ClaimSettings::default()
}

fn answer(p: &FakePlatform, status: u16, body: serde_json::Value) {
    p.http.borrow_mut().insert(
        ENDPOINT.into(),
        HttpResponse {
            status,
            cache_control: None,
            body: body.to_string().into_bytes(),
        },
    );
}

fn active(exp: u64) -> serde_json::Value {
    json!({"active": true, "sub": "alice", "token_type": "Bearer", "scope": "read", "exp": exp})
}

fn run(
    cache: &RefCell<IntrospectionCache>,
    p: &FakePlatform,
    s: &IntrospectionSettings,
    token: &str,
) -> Result<crate::identity::Identity, &'static str> {
    let creds = ClientCredentials::Secret("s3cr+t".into());
    block_on(introspect(cache, p, s, &no_claims(), Some(&creds), token))
        .map_err(|e| e.code.as_str())
}

fn posts(p: &FakePlatform) -> usize {
    p.http_post_calls.borrow().len()
}

#[test]
fn opaque_tokens_are_taken_jwts_only_when_asked() {
    let mut s = settings();
    assert!(takes(&s, "opaque-token"));
    assert!(!takes(&s, "a.b.c"));
    s.tokens = settings::IntrospectedTokens::All;
    assert!(takes(&s, "a.b.c"));
    s.enabled = false;
    assert!(!takes(&s, "opaque-token"));
}

#[test]
fn the_post_is_form_encoded_with_basic_client_authentication() {
    let p = FakePlatform::new(NOW);
    answer(&p, 200, active(NOW + 600));
    let cache = RefCell::new(IntrospectionCache::new(10));
    run(&cache, &p, &settings(), "tok+en/=").unwrap();
    let posts = p.http_post_calls.borrow();
    let (url, headers, body) = &posts[0];
    assert_eq!(url, ENDPOINT);
    assert_eq!(
        String::from_utf8_lossy(body),
        "token=tok%2Ben%2F%3D&token_type_hint=access_token"
    );
    let auth = headers.iter().find(|(n, _)| n == "authorization").unwrap();
    // base64("gw:s3cr%2Bt")
    assert_eq!(auth.1, "Basic Z3c6czNjciUyQnQ=");
}

#[test]
fn private_key_jwt_sends_a_signed_assertion_and_no_secret() {
    let p = FakePlatform::new(NOW);
    answer(&p, 200, active(NOW + 600));
    let mut s = settings();
    s.client_auth = ClientAuth::PrivateKeyJwt;
    let key = crate::signing::native::generate(
        crate::signing::keys::SigningAlg::ES256,
        Some("k1".into()),
    )
    .unwrap();
    let creds = ClientCredentials::load(&s, Some(&key.private_jwk_json().to_string())).unwrap();
    let cache = RefCell::new(IntrospectionCache::new(10));
    block_on(introspect(
        &cache,
        &p,
        &s,
        &no_claims(),
        Some(&creds),
        "opaque",
    ))
    .unwrap();
    let posts = p.http_post_calls.borrow();
    let (_, headers, body) = &posts[0];
    assert!(headers.iter().all(|(n, _)| n != "authorization"));
    let body = String::from_utf8_lossy(body);
    let assertion = body.split("client_assertion=").nth(1).unwrap();
    assert!(body.contains("&client_id=gw&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&"));
    let parts: Vec<&str> = assertion.split('.').collect();
    assert_eq!(parts.len(), 3);
    let payload: serde_json::Value =
        serde_json::from_slice(&B64URL.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(payload["iss"], "gw");
    assert_eq!(payload["sub"], "gw");
    assert_eq!(payload["aud"], "https://as.example");
    assert_eq!(payload["exp"], NOW + 60);
    let header: serde_json::Value =
        serde_json::from_slice(&B64URL.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["kid"], "k1");
    assert_eq!(header["alg"], "ES256");
}

#[test]
fn an_answer_is_cached_by_hash_until_the_ttl_or_exp_whichever_is_first() {
    let p = FakePlatform::new(NOW);
    let s = settings(); // ttl 60 s
    answer(&p, 200, active(NOW + 600));
    let cache = RefCell::new(IntrospectionCache::new(10));
    let id = run(&cache, &p, &s, "t1").unwrap();
    assert_eq!(id.subject, "alice");
    assert_eq!(id.token_id.as_deref(), Some(token_hash_id("t1").as_str()));
    run(&cache, &p, &s, "t1").unwrap();
    assert_eq!(posts(&p), 1, "a cache hit does not POST");
    p.advance_secs(60);
    run(&cache, &p, &s, "t1").unwrap();
    assert_eq!(posts(&p), 2, "past the TTL the server is asked again");
    // exp before the TTL: cached only until exp.
    answer(&p, 200, active(p.now_secs() + 10));
    run(&cache, &p, &s, "t2").unwrap();
    p.advance_secs(10);
    answer(&p, 200, json!({"active": false}));
    assert_eq!(run(&cache, &p, &s, "t2"), Err("token_inactive"));
    assert_eq!(posts(&p), 4);
}

#[test]
fn inactive_answers_are_cached_briefly() {
    let p = FakePlatform::new(NOW);
    let s = settings(); // negative 5 s
    answer(&p, 200, json!({"active": false}));
    let cache = RefCell::new(IntrospectionCache::new(10));
    assert_eq!(run(&cache, &p, &s, "t"), Err("token_inactive"));
    assert_eq!(run(&cache, &p, &s, "t"), Err("token_inactive"));
    assert_eq!(posts(&p), 1);
    p.advance_secs(5);
    answer(&p, 200, active(NOW + 600));
    assert!(run(&cache, &p, &s, "t").is_ok());
}

#[test]
fn the_cached_identity_carries_the_answers_claims_and_a_claim_refusal_is_cached_like_the_others() {
    use crate::claims::{ClaimHeader, ClaimPath};
    let p = FakePlatform::new(NOW);
    let mut s = settings(); // negative 5 s
    s.claim_headers = vec![ClaimHeader {
        header: "x-user-email".into(),
        claim: ClaimPath::parse("email").unwrap(),
    }];
    let claims = crate::claims::ClaimSettings {
        identity_header_prefixes: Vec::new(),
        required: vec![ClaimPath::parse("tenant").unwrap()],
    };
    let creds = ClientCredentials::Secret("x".into());
    let cache = RefCell::new(IntrospectionCache::new(10));
    let ask = |token: &str| block_on(introspect(&cache, &p, &s, &claims, Some(&creds), token));

    let mut good = active(NOW + 600);
    good["email"] = json!("a@example.com");
    good["tenant"] = json!("acme");
    answer(&p, 200, good);
    for _ in 0..2 {
        let id = ask("good").unwrap();
        assert_eq!(
            id.claims.headers,
            [("x-user-email".to_string(), "a@example.com".to_string())]
        );
        assert_eq!(id.claims.values, [("tenant".to_string(), json!("acme"))]);
    }
    assert_eq!(posts(&p), 1, "the second identity came from the cache");

    let mut bad = active(NOW + 600);
    bad["email"] = json!({"not": "text"});
    answer(&p, 200, bad);
    for _ in 0..2 {
        let err = ask("bad").unwrap_err();
        assert_eq!(err.code.as_str(), "token_claim_invalid");
        assert!(err.detail.contains("\"email\""), "{}", err.detail);
    }
    assert_eq!(posts(&p), 2, "the refusal is cached");
    p.advance_secs(5);
    assert_eq!(ask("bad").unwrap_err().code.as_str(), "token_claim_invalid");
    assert_eq!(posts(&p), 3, "for negative_cache_ttl_seconds");
}

#[test]
fn an_endpoint_failure_fails_closed_with_a_cooldown_and_cached_answers_keep_serving() {
    let p = FakePlatform::new(NOW);
    let s = settings(); // cooldown 5 s
    answer(&p, 200, active(NOW + 600));
    let cache = RefCell::new(IntrospectionCache::new(10));
    run(&cache, &p, &s, "cached").unwrap();
    for (status, body) in [(500, json!({})), (200, json!([]))] {
        answer(&p, status, body);
        let creds = ClientCredentials::Secret("x".into());
        let err = block_on(introspect(
            &cache,
            &p,
            &s,
            &no_claims(),
            Some(&creds),
            "new",
        ))
        .unwrap_err();
        assert_eq!(err.code.as_str(), "introspection_unavailable");
        assert!(err.headers.contains(&("retry-after".into(), "5".into())));
        let before = posts(&p);
        p.advance_secs(2);
        let err = block_on(introspect(
            &cache,
            &p,
            &s,
            &no_claims(),
            Some(&creds),
            "other",
        ))
        .unwrap_err();
        assert_eq!(err.code.as_str(), "introspection_unavailable");
        assert!(err.headers.contains(&("retry-after".into(), "3".into())));
        assert_eq!(posts(&p), before, "no POST within the cooldown");
        assert!(
            run(&cache, &p, &s, "cached").is_ok(),
            "a cached answer serves"
        );
        p.advance_secs(3);
    }
    p.http.borrow_mut().clear();
    assert_eq!(run(&cache, &p, &s, "net"), Err("introspection_unavailable"));
    assert!(p
        .logs
        .borrow()
        .iter()
        .any(|l| l.contains("introspection_failed") && !l.contains("net")));
}

#[test]
fn without_credentials_every_introspection_fails_closed() {
    let p = FakePlatform::new(NOW);
    answer(&p, 200, active(NOW + 600));
    let cache = RefCell::new(IntrospectionCache::new(10));
    let err = block_on(introspect(&cache, &p, &settings(), &no_claims(), None, "t")).unwrap_err();
    assert_eq!(err.code.as_str(), "introspection_unavailable");
    assert_eq!(posts(&p), 0);
}

#[test]
fn a_waiter_polls_memory_then_takes_over_a_marker_past_its_deadline() {
    let p = FakePlatform::new(NOW);
    let s = settings();
    answer(&p, 200, active(NOW + 600));
    let cache = RefCell::new(IntrospectionCache::new(10));
    // Another request's POST is in flight (a marker whose future never comes back).
    let until_ms = p.now_ms() + u64::from(s.timeout_ms) + IN_FLIGHT_SLACK_MS;
    cache
        .borrow_mut()
        .in_flight
        .insert(token_hash("t"), InFlight { id: 99, until_ms });
    run(&cache, &p, &s, "t").unwrap();
    assert!(
        p.now_ms() >= until_ms,
        "it waited for the marker's deadline"
    );
    assert_eq!(posts(&p), 1, "then it POSTed itself");
    assert!(cache.borrow().in_flight.is_empty());
}

#[test]
fn the_cache_is_bounded() {
    let p = FakePlatform::new(NOW);
    let s = settings();
    answer(&p, 200, active(NOW + 600));
    let cache = RefCell::new(IntrospectionCache::new(3));
    for i in 0..10 {
        run(&cache, &p, &s, &format!("t{i}")).unwrap();
    }
    assert_eq!(cache.borrow().answers.len(), 3);
}

#[test]
fn explain_says_an_opaque_token_is_not_checked_offline() {
    use crate::pipeline::explain::{explain, CheckOutcome, ExplainCredential, Verdict};
    let config = crate::config::parse_config(&json!({
        "origin": "https://origin.internal",
        "introspection": {"enabled": true, "issuer": "https://as.example", "endpoint": ENDPOINT, "client_id": "gw"},
        "routes": [{"methods": ["GET"], "path": "/api/*", "auth": ["jwt"], "scopes": ["read"]}]
    }))
    .unwrap();
    let req = crate::pipeline::RequestHead {
        method: "GET".into(),
        url: "https://gw.example/api/x".into(),
        headers: vec![("authorization".into(), "Bearer opaque-token".into())],
    };
    let keys = crate::jose::jwk::JwkSet {
        keys: Vec::new(),
        skipped: 0,
    };
    let e = explain(&config, &req, ExplainCredential::Keys(&keys), NOW);
    assert_eq!(e.verdict, Verdict::Undecided);
    let last = e.checks.last().unwrap();
    assert_eq!(last.name, "credential");
    assert_eq!(last.outcome, CheckOutcome::NotChecked);
    assert!(
        last.detail
            .starts_with("introspection: not checked offline"),
        "{}",
        last.detail
    );
}
