//! The key set, minting, and the gateway's own issuer through the whole pipeline (`Gateway::handle`)
//! on the in-memory platform, which signs and verifies with RustCrypto.

use base64::Engine as _;
use serde_json::{json, Value};

use super::issuer::SessionIssuer;
use super::keys::{SigningAlg, SigningKeySet};
use super::mint::{mint_access_token, AccessTokenClaims};
use super::native;
use crate::config::parse_config;
use crate::jose::jws::B64URL;
use crate::pipeline::{Gateway, Outcome, RequestHead};
use crate::session::settings::SessionSettings;
use crate::testing::{block_on, FakePlatform};

const NOW: u64 = 1_800_000_000;
const GW_ISS: &str = "https://gw.example";

/// RFC 7520 §3.4's 2048-bit RSA private key (vendored in tests/vectors), as an RS256 signing key.
fn rsa_key(kid: &str) -> Value {
    let mut v: Value = serde_json::from_str(include_str!(
        "../../tests/vectors/jose-cookbook/jwk/3_4.rsa_private_key.json"
    ))
    .unwrap();
    v["kid"] = json!(kid);
    v["alg"] = json!("RS256");
    v
}

fn generated(alg: SigningAlg, kid: &str) -> Value {
    native::generate(alg, Some(kid.into()))
        .unwrap()
        .private_jwk_json()
}

fn document(active: &str, keys: &[Value]) -> String {
    json!({ "active": active, "keys": keys }).to_string()
}

fn settings() -> SessionSettings {
    SessionSettings {
        enabled: true,
        issuer: GW_ISS.into(),
        audiences: vec!["api".into()],
        ..SessionSettings::default()
    }
}

fn issuer(doc: &str) -> SessionIssuer {
    SessionIssuer::new(&settings(), SigningKeySet::parse(doc).unwrap())
}

fn claims() -> AccessTokenClaims {
    AccessTokenClaims {
        sub: "alice".into(),
        sid: "sid-1".into(),
        scope: "read write".into(),
        amr: vec!["pwd".into()],
        acr: None,
        auth_time: None,
        cnf: None,
    }
}

fn gateway(doc: &str) -> Gateway<crate::jose::jwk::Jwk> {
    let config = parse_config(&json!({
        "origin": "https://origin.internal",
        "sessions": { "enabled": true, "issuer": GW_ISS, "audiences": ["api"] },
        "routes": [{ "name": "read", "methods": ["GET"], "path": "/api/*", "auth": ["jwt"], "scopes": ["read"] }],
    }))
    .unwrap();
    let own = SessionIssuer::load(&config.sessions, Some(doc)).unwrap();
    Gateway::new(config).with_session_issuer(own)
}

fn get(gw: &Gateway<crate::jose::jwk::Jwk>, p: &FakePlatform, token: &str) -> Outcome {
    let req = RequestHead {
        method: "GET".into(),
        url: "https://gw.example/api/x".into(),
        headers: vec![("authorization".into(), format!("Bearer {token}"))],
    };
    block_on(gw.handle(p, &req)).outcome
}

fn refusal_code(o: &Outcome) -> String {
    match o {
        Outcome::Respond(r) => serde_json::from_str::<Value>(&r.body).unwrap()["code"]
            .as_str()
            .unwrap()
            .to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn decode(part: &str) -> Value {
    serde_json::from_slice(&B64URL.decode(part).unwrap()).unwrap()
}

#[test]
fn a_minted_token_is_exact_and_verifies_through_the_pipeline_for_each_algorithm() {
    for (alg, key) in [
        ("ES256", generated(SigningAlg::ES256, "es")),
        ("EdDSA", generated(SigningAlg::EdDSA, "ed")),
        ("RS256", rsa_key("rs")),
    ] {
        let kid = key["kid"].as_str().unwrap().to_string();
        let doc = document(&kid, &[key]);
        let gw = gateway(&doc);
        let p = FakePlatform::new(NOW);
        let own = gw.session_issuer().unwrap();
        let mut c = claims();
        c.acr = Some("urn:portcullis:mfa".into());
        c.auth_time = Some(NOW - 5);
        c.cnf = Some(json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}));
        let minted = block_on(mint_access_token(&p, own, c)).unwrap();
        assert_eq!(minted.expires_in, 900);

        let parts: Vec<&str> = minted.token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            decode(parts[0]),
            json!({"alg": alg, "kid": kid, "typ": "at+jwt"}),
            "{alg}"
        );
        assert_eq!(
            decode(parts[1]),
            json!({
                "iss": GW_ISS, "sub": "alice", "aud": "api", "exp": NOW + 900, "iat": NOW,
                "jti": minted.jti, "sid": "sid-1", "scope": "read write", "amr": ["pwd"],
                "acr": "urn:portcullis:mfa", "auth_time": NOW - 5,
                "cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},
            }),
            "{alg}"
        );
        // 128 random bits, base64url.
        assert_eq!(B64URL.decode(&minted.jti).unwrap().len(), 16);

        // A DPoP-bound token (`cnf.jkt`) is never accepted as a bearer token, the gateway's own
        // included (issue 13); the same claims unbound verify and forward.
        match get(&gw, &p, &minted.token) {
            Outcome::Respond(reply) => assert!(
                reply.body.contains("\"token_bound_as_bearer\""),
                "{alg}: {}",
                reply.body
            ),
            other => panic!("{alg}: expected token_bound_as_bearer, got {other:?}"),
        }
        let mut unbound = claims();
        unbound.acr = Some("urn:portcullis:mfa".into());
        unbound.auth_time = Some(NOW - 5);
        let minted = block_on(mint_access_token(&p, own, unbound)).unwrap();
        match get(&gw, &p, &minted.token) {
            Outcome::Forward(plan) => {
                let h = |n: &str| {
                    plan.add
                        .iter()
                        .find(|(k, _)| k == n)
                        .map(|(_, v)| v.clone())
                };
                assert_eq!(h("x-user-id").as_deref(), Some("alice"), "{alg}");
                assert_eq!(h("x-user-scopes").as_deref(), Some("read,write"), "{alg}");
            }
            other => panic!("{alg}: expected a forward, got {other:?}"),
        }
        // Local keys: the gateway never fetched anything to verify its own token.
        assert_eq!(p.http_calls.borrow().len(), 0, "{alg}");
    }
}

#[test]
fn optional_claims_are_absent_unless_set_and_several_audiences_are_an_array() {
    let doc = document("es", &[generated(SigningAlg::ES256, "es")]);
    let mut s = settings();
    s.audiences = vec!["api".into(), "billing".into()];
    s.access_token_ttl_seconds = 60;
    let own = SessionIssuer::new(&s, SigningKeySet::parse(&doc).unwrap());
    let p = FakePlatform::new(NOW);
    let minted = block_on(mint_access_token(&p, &own, claims())).unwrap();
    let payload = decode(minted.token.split('.').nth(1).unwrap());
    let names: Vec<&str> = payload
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut names = names.clone();
    names.sort_unstable();
    assert_eq!(
        names,
        ["amr", "aud", "exp", "iat", "iss", "jti", "scope", "sid", "sub"]
    );
    assert_eq!(payload["aud"], json!(["api", "billing"]));
    assert_eq!(payload["exp"], json!(NOW + 60));
    assert_eq!(minted.expires_in, 60);
    // Two tokens never share a jti.
    let again = block_on(mint_access_token(&p, &own, claims())).unwrap();
    assert_ne!(again.jti, minted.jti);
}

#[test]
fn claims_the_gateway_would_refuse_are_never_minted() {
    let own = issuer(&document("es", &[generated(SigningAlg::ES256, "es")]));
    let p = FakePlatform::new(NOW);
    type Change = Box<dyn Fn(&mut AccessTokenClaims)>;
    let cases: Vec<(Change, &str)> = vec![
        (Box::new(|c| c.sub = String::new()), "sub"),
        (Box::new(|c| c.sub = " alice".into()), "sub"),
        (Box::new(|c| c.sub = "alice ".into()), "sub"),
        (
            Box::new(|c| c.sub = "alice\r\nx-user-id: root".into()),
            "sub",
        ),
        (Box::new(|c| c.sub = "é".into()), "sub"),
        (Box::new(|c| c.sid = String::new()), "sid"),
        (Box::new(|c| c.scope = "read  write".into()), "scope"),
        (Box::new(|c| c.scope = " read".into()), "scope"),
        (Box::new(|c| c.scope = "read,admin".into()), "scope"),
        (Box::new(|c| c.amr = vec!["p w d".into()]), "amr"),
        (Box::new(|c| c.acr = Some(String::new())), "acr"),
        (Box::new(|c| c.cnf = Some(json!("jkt"))), "cnf"),
    ];
    for (change, claim) in cases {
        let mut c = claims();
        change(&mut c);
        assert_eq!(
            block_on(mint_access_token(&p, &own, c)),
            Err(super::SigningError::ClaimUnusable(claim))
        );
    }
    // What the verifier accepts is minted, and verifies: no scope at all, a space inside `sub`.
    let gw = gateway(&document("es", &[generated(SigningAlg::ES256, "es")]));
    let route = |scope: &str, sub: &str| {
        let mut c = claims();
        c.scope = scope.into();
        c.sub = sub.into();
        let t = block_on(mint_access_token(&p, gw.session_issuer().unwrap(), c)).unwrap();
        get(&gw, &p, &t.token)
    };
    assert_eq!(refusal_code(&route("", "alice")), "insufficient_scope");
    assert!(matches!(
        route("read", "Alice Liddell"),
        Outcome::Forward(_)
    ));
}

#[test]
fn the_runbook_rotation_keeps_every_token_valid() {
    let a = generated(SigningAlg::ES256, "a");
    let b = generated(SigningAlg::EdDSA, "b");
    let p = FakePlatform::new(NOW);
    let mint = |doc: &str| {
        let gw = gateway(doc);
        block_on(mint_access_token(
            &p,
            gw.session_issuer().unwrap(),
            claims(),
        ))
        .unwrap()
        .token
    };
    let start = document("a", std::slice::from_ref(&a));
    let published = document("a", &[a.clone(), b.clone()]);
    let switched = document("b", &[a.clone(), b.clone()]);
    let retired = document("b", std::slice::from_ref(&b));
    let by_a = mint(&start);
    let by_b = mint(&switched);
    // Step 1 (publish b) and step 2 (switch to b): both tokens verify on both versions.
    for doc in [&published, &switched] {
        let gw = gateway(doc);
        for t in [&by_a, &by_b] {
            assert!(matches!(get(&gw, &p, t), Outcome::Forward(_)));
        }
    }
    // The set at the start does not know b yet: that is why b is published before it signs.
    assert_eq!(
        refusal_code(&get(&gateway(&start), &p, &by_b)),
        "token_key_unknown"
    );
    // Step 3 (retire a, after the longest access-token TTL): a's tokens are refused.
    assert_eq!(
        refusal_code(&get(&gateway(&retired), &p, &by_a)),
        "token_key_unknown"
    );
    assert!(matches!(
        get(&gateway(&retired), &p, &by_b),
        Outcome::Forward(_)
    ));
}

#[test]
fn own_tokens_get_the_same_refusals_as_any_issuers() {
    let doc = document("es", &[generated(SigningAlg::ES256, "es")]);
    let gw = gateway(&doc);
    let p = FakePlatform::new(NOW);
    let token = block_on(mint_access_token(
        &p,
        gw.session_issuer().unwrap(),
        claims(),
    ))
    .unwrap()
    .token;
    // Another key with the same kid: the signature does not verify.
    let impostor = gateway(&document("es", &[generated(SigningAlg::ES256, "es")]));
    let forged = block_on(mint_access_token(
        &p,
        impostor.session_issuer().unwrap(),
        claims(),
    ))
    .unwrap()
    .token;
    assert_eq!(
        refusal_code(&get(&gw, &p, &forged)),
        "token_signature_invalid"
    );
    // A token of the same issuer and key without `typ: at+jwt` (an ID token, say) is refused: the
    // own issuer entry is strict.
    let payload = token.split('.').nth(1).unwrap();
    let header = B64URL.encode(json!({"alg": "ES256", "kid": "es"}).to_string());
    let input = format!("{header}.{payload}");
    let key = gw.session_issuer().unwrap().keys().active();
    let sig = native::sign(key, input.as_bytes()).unwrap();
    let untyped = format!("{input}.{}", B64URL.encode(sig));
    assert_eq!(refusal_code(&get(&gw, &p, &untyped)), "token_type_invalid");
    // Expired (past exp + leeway).
    p.advance_secs(900 + 31);
    assert_eq!(refusal_code(&get(&gw, &p, &token)), "token_expired");
}

#[test]
fn the_own_issuer_is_in_the_issuer_list_and_cannot_be_configured_twice() {
    let config = parse_config(&json!({
        "origin": "https://origin.internal",
        "sessions": { "enabled": true, "issuer": GW_ISS, "audiences": ["api", "b"] },
        "routes": [{ "methods": ["GET"], "path": "/api/*", "auth": ["jwt"] }],
    }))
    .unwrap();
    let own = config.issuers.last().unwrap();
    assert_eq!(own.issuer, GW_ISS);
    assert_eq!(own.audiences, ["api", "b"]);
    assert_eq!(own.jwks_uri, None);
    assert_eq!(own.typ, crate::jose::claims::TypPolicy::Strict);
    assert_eq!(own.max_token_lifetime_secs, 3600);

    let errors = parse_config(&json!({
        "origin": "https://origin.internal",
        "issuers": [{ "issuer": GW_ISS, "audiences": ["a"], "algorithms": ["ES256"] }],
        "sessions": { "enabled": true, "issuer": GW_ISS, "audiences": ["api"] },
        "routes": [{ "methods": ["GET"], "path": "/api/*", "auth": ["jwt"] }],
    }))
    .unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].path, "sessions.issuer");

    // Sessions off: no own issuer, and a jwt route still needs a configured one.
    let errors = parse_config(&json!({
        "origin": "https://origin.internal",
        "sessions": { "issuer": GW_ISS, "audiences": ["api"] },
        "routes": [{ "methods": ["GET"], "path": "/api/*", "auth": ["jwt"] }],
    }))
    .unwrap_err();
    assert_eq!(errors[0].path, "routes[0].auth");
}

#[test]
fn loading_fails_closed_when_sessions_are_enabled() {
    let on = settings();
    let off = SessionSettings::default();
    assert!(SessionIssuer::load(&off, None).unwrap().is_none());
    assert!(SessionIssuer::load(&off, Some("not json"))
        .unwrap()
        .is_none());
    let missing = SessionIssuer::load(&on, None).unwrap_err();
    assert_eq!(missing[0].path, "");
    assert!(missing[0].message.starts_with("is not set"));
    assert_eq!(
        SessionIssuer::load(&on, Some("{}")).unwrap_err(),
        vec![
            super::KeySetError {
                path: "active".into(),
                message: "is missing: name the kid that signs".into()
            },
            super::KeySetError {
                path: "keys".into(),
                message: "is missing".into()
            },
        ]
    );
}

/// Every way a document can be wrong gets its own path and message, and no message carries a
/// value from the document (the private members above all).
#[test]
fn invalid_key_set_documents_are_refused_by_path_without_echoing_values() {
    let es = generated(SigningAlg::ES256, "es");
    let ed = generated(SigningAlg::EdDSA, "ed");
    let other_es = generated(SigningAlg::ES256, "x");
    let with = |mut k: Value, member: &str, v: Value| {
        if v.is_null() {
            k.as_object_mut().unwrap().remove(member);
        } else {
            k[member] = v;
        }
        k
    };
    let cases: Vec<(String, &str, &str)> = vec![
        ("not json".into(), "", "is not a JSON document"),
        (
            "[]".into(),
            "",
            "must be a JSON object {\"active\", \"keys\"}",
        ),
        (
            r#"{"active":"a","active":"b","keys":[]}"#.into(),
            "",
            "has a duplicate member \"active\"",
        ),
        (
            json!({"active": "es", "keys": [es], "extra": 1}).to_string(),
            "extra",
            "unknown member; the document has active and keys",
        ),
        (document("es", &[]), "keys", "must hold at least one key"),
        (
            json!({"active": 1, "keys": [es]}).to_string(),
            "active",
            "must be a kid (a string)",
        ),
        (
            document("nope", std::slice::from_ref(&es)),
            "active",
            "names no key in keys",
        ),
        (
            document("es", &[es.clone(), es.clone()]),
            "keys[1].kid",
            "is used by an earlier key: every kid must be unique",
        ),
        (
            document("es", &[with(es.clone(), "kid", Value::Null)]),
            "keys[0].kid",
            "is missing",
        ),
        (
            document("es", &[with(es.clone(), "kid", json!("a b"))]),
            "keys[0].kid",
            "must be 1 to 128 printable ASCII characters without spaces, quotes or backslashes",
        ),
        (
            document("es", &[with(es.clone(), "alg", Value::Null)]),
            "keys[0].alg",
            "is missing",
        ),
        (
            document("es", &[with(es.clone(), "alg", json!("HS256"))]),
            "keys[0].alg",
            "must be ES256, EdDSA or RS256",
        ),
        (
            document("es", &[with(es.clone(), "alg", json!("ES384"))]),
            "keys[0].alg",
            "must be ES256, EdDSA or RS256",
        ),
        (
            document("es", &[with(es.clone(), "alg", json!("RS256"))]),
            "keys[0].kty",
            "must be RSA for alg RS256",
        ),
        (
            document("es", &[with(es.clone(), "use", json!("enc"))]),
            "keys[0].use",
            "must be sig",
        ),
        (
            document("es", &[with(es.clone(), "key_ops", json!(["verify"]))]),
            "keys[0].key_ops",
            "must include sign",
        ),
        (
            document("es", &[with(es.clone(), "d", Value::Null)]),
            "keys[0].d",
            "is missing",
        ),
        (
            document("es", &[with(es.clone(), "d", json!("!!"))]),
            "keys[0].d",
            "is not base64url (no padding)",
        ),
        (
            document("es", &[with(es.clone(), "d", json!("AAAA"))]),
            "keys[0].d",
            "must be 32 octets",
        ),
        (
            document("es", &[with(es.clone(), "oth", json!([]))]),
            "keys[0].oth",
            "is not a member of a private signing JWK (multi-prime RSA keys are not accepted)",
        ),
        (
            document("rs", &[with(rsa_key("rs"), "p", Value::Null)]),
            "keys[0].p",
            "is missing",
        ),
        (
            document("es", &[json!("a key")]),
            "keys[0]",
            "must be a JWK (a JSON object)",
        ),
    ];
    let secrets: Vec<String> = [&es, &ed, &other_es, &rsa_key("rs")]
        .iter()
        .flat_map(|k| {
            ["d", "p", "q", "dp", "dq", "qi"].map(|m| k[m].as_str().unwrap_or("").to_string())
        })
        .filter(|s| !s.is_empty())
        .collect();
    for (doc, path, message) in cases {
        let errors = SigningKeySet::parse(&doc).unwrap_err();
        assert_eq!(
            errors,
            vec![super::KeySetError {
                path: path.into(),
                message: message.into()
            }],
            "{doc}"
        );
        for e in &errors {
            for s in &secrets {
                assert!(
                    !e.to_string().contains(s.as_str()),
                    "{e} leaks a private member"
                );
            }
        }
    }
    // A private half that does not belong to its public half parses (the worker has no curve
    // arithmetic to check it with) and is refused where it is checked: natively by `check_set`
    // (the CLI) and by any signer (the worker's on first use, the test platform's each time).
    let mismatched: Vec<(String, &str)> = vec![
        (
            document("es", &[with(es.clone(), "d", other_es["d"].clone())]),
            "the private key does not match its public part (x/y, x or n/e)",
        ),
        (
            document(
                "ed",
                &[
                    ed.clone(),
                    with(with(ed.clone(), "d", es["d"].clone()), "kid", json!("ed2")),
                ],
            ),
            "the private key does not match its public part (x/y, x or n/e)",
        ),
        (
            document(
                "rs",
                &[with(rsa_key("rs"), "qi", rsa_key("rs")["dp"].clone())],
            ),
            "the RSA CRT members (dp, dq, qi) do not match d, p and q",
        ),
    ];
    for (doc, message) in mismatched {
        let set = SigningKeySet::parse(&doc).unwrap();
        let errors = native::check_set(&set).unwrap_err();
        assert_eq!(errors.len(), 1, "{doc}");
        assert_eq!(errors[0].message, message);
        let bad = set
            .keys()
            .iter()
            .position(|k| native::check_pair(k).is_err())
            .unwrap();
        assert_eq!(errors[0].path, format!("keys[{bad}]"));
        assert_eq!(
            native::sign(&set.keys()[bad], b"x"),
            Err(message.to_string())
        );
        for s in &secrets {
            assert!(!errors[0].message.contains(s.as_str()));
        }
    }
    // A small RSA key: the verifier's own JWK rule refuses it.
    let small = SigningKeySet::parse(&document(
        "rs",
        &[with(
            rsa_key("rs"),
            "n",
            json!(B64URL.encode([0xc1u8; 128])),
        )],
    ))
    .unwrap_err();
    assert_eq!(small[0].path, "keys[0]");
    assert!(small[0].message.contains("at least 2048"), "{:?}", small);
}

#[test]
fn the_debug_form_and_the_public_set_carry_nothing_private() {
    let doc = document(
        "es",
        &[
            generated(SigningAlg::ES256, "es"),
            generated(SigningAlg::EdDSA, "ed"),
            rsa_key("rs"),
        ],
    );
    let set = SigningKeySet::parse(&doc).unwrap();
    let debug = format!("{set:?}");
    assert_eq!(
        debug,
        r#"SigningKeySet { active: "es", keys: [SigningKey { kid: "es", alg: ES256, .. }, SigningKey { kid: "ed", alg: EdDSA, .. }, SigningKey { kid: "rs", alg: RS256, .. }] }"#
    );
    let public = set.public_jwks();
    for key in public["keys"].as_array().unwrap() {
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "{key}");
        }
        assert_eq!(key["use"], "sig");
    }
    assert_eq!(public["keys"][0]["alg"], "ES256");
    assert_eq!(public["keys"][1]["crv"], "Ed25519");
    assert_eq!(public["keys"][2]["e"], "AQAB");
    // The public set parses as a JWKS with every key usable.
    let parsed = crate::jose::jwk::parse_jwks(public.to_string().as_bytes()).unwrap();
    assert_eq!((parsed.keys.len(), parsed.skipped), (3, 0));
    // The document round-trips.
    assert_eq!(SigningKeySet::parse(&set.to_document()).unwrap(), set);
}

#[test]
fn native_signatures_verify_with_the_public_half() {
    for key in [
        native::generate(SigningAlg::ES256, None).unwrap(),
        native::generate(SigningAlg::EdDSA, None).unwrap(),
    ] {
        // The default kid is the RFC 7638 thumbprint.
        assert_eq!(key.kid(), key.public_jwk().thumbprint());
        let sig = native::sign(&key, b"input").unwrap();
        let alg = key.alg().as_alg();
        assert!(crate::jose::native::verify(key.public_jwk(), alg, b"input", &sig).is_ok());
        assert!(crate::jose::native::verify(key.public_jwk(), alg, b"other", &sig).is_err());
    }
}

fn request(method: &str, url: &str) -> RequestHead {
    RequestHead {
        method: method.into(),
        url: url.into(),
        headers: Vec::new(),
    }
}

fn reply(o: Outcome) -> crate::pipeline::Reply {
    match o {
        Outcome::Respond(r) => r,
        other => panic!("expected an answer, got {other:?}"),
    }
}

#[test]
fn the_jwks_and_the_rfc8414_metadata_are_published_exactly() {
    let doc = document(
        "b",
        &[
            generated(SigningAlg::ES256, "a"),
            generated(SigningAlg::EdDSA, "b"),
        ],
    );
    let gw = gateway(&doc);
    let p = FakePlatform::new(NOW);
    let set = SigningKeySet::parse(&doc).unwrap();

    let r = reply(
        block_on(gw.handle(
            &p,
            &request("GET", "https://gw.example/.well-known/jwks.json?x=1"),
        ))
        .outcome,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body, set.public_jwks());
    assert_eq!(body["keys"].as_array().unwrap().len(), 2);

    let handled = block_on(gw.handle(
        &p,
        &request(
            "GET",
            "https://gw.example/.well-known/oauth-authorization-server",
        ),
    ));
    assert_eq!(handled.log.route.as_deref(), Some("signing:metadata"));
    let r = reply(handled.outcome);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap(),
        json!({
            "issuer": GW_ISS,
            "jwks_uri": "https://gw.example/.well-known/jwks.json",
            "token_endpoint": "https://gw.example/auth/token",
            "grant_types_supported": ["refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange"],
            "token_endpoint_auth_methods_supported": ["none"],
            "response_types_supported": [],
        })
    );

    // HEAD is GET without a body (the runtime drops it); anything else is 405 with Allow.
    assert_eq!(
        reply(
            block_on(gw.handle(
                &p,
                &request("HEAD", "https://gw.example/.well-known/jwks.json")
            ))
            .outcome
        )
        .status,
        200
    );
    let r = reply(
        block_on(gw.handle(
            &p,
            &request("POST", "https://gw.example/.well-known/jwks.json"),
        ))
        .outcome,
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap()["code"],
        "request_invalid"
    );

    // Only the exact paths: other spellings go on to the routes (none matches here), or are
    // refused by path normalization.
    for (path, code) in [
        ("/.well-known/JWKS.json", "route_not_found"),
        ("/.well-known/jwks.json/", "route_not_found"),
        (
            "/.well-known/oauth-authorization-server/x",
            "route_not_found",
        ),
        ("/.well-known/%6Awks.json", "route_not_found"),
        ("//.well-known/jwks.json", "request_invalid"),
    ] {
        let url = format!("https://gw.example{path}");
        let r = reply(block_on(gw.handle(&p, &request("GET", &url))).outcome);
        assert_eq!(
            serde_json::from_str::<Value>(&r.body).unwrap()["code"],
            code,
            "{path}"
        );
    }
    // Plain HTTP follows the transport policy (redirect by default), like any request.
    let r = reply(
        block_on(gw.handle(
            &p,
            &request("GET", "http://gw.example/.well-known/jwks.json"),
        ))
        .outcome,
    );
    assert_eq!(
        (r.status, r.header("location")),
        (308, Some("https://gw.example/.well-known/jwks.json"))
    );
}

#[test]
fn an_issuer_with_a_path_publishes_its_metadata_under_that_path() {
    let doc = document("a", &[generated(SigningAlg::ES256, "a")]);
    let config = parse_config(&json!({
        "origin": "https://origin.internal",
        "sessions": { "enabled": true, "issuer": "https://gw.example/tenant-1", "audiences": ["api"], "path_prefix": "/v1/auth" },
        "routes": [{ "methods": ["GET"], "path": "/*", "auth": ["public"] }],
    }))
    .unwrap();
    let own = SessionIssuer::load(&config.sessions, Some(&doc)).unwrap();
    let gw: Gateway<crate::jose::jwk::Jwk> = Gateway::new(config).with_session_issuer(own);
    let p = FakePlatform::new(NOW);
    let r = reply(
        block_on(gw.handle(
            &p,
            &request(
                "GET",
                "https://gw.example/.well-known/oauth-authorization-server/tenant-1",
            ),
        ))
        .outcome,
    );
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["issuer"], "https://gw.example/tenant-1");
    assert_eq!(body["jwks_uri"], "https://gw.example/.well-known/jwks.json");
    assert_eq!(body["token_endpoint"], "https://gw.example/v1/auth/token");
    // The gateway answers before the public catch-all route would forward the path.
    assert!(matches!(
        block_on(gw.handle(
            &p,
            &request("GET", "https://gw.example/.well-known/jwks.json")
        ))
        .outcome,
        Outcome::Respond(_)
    ));
    // The root metadata path is not this issuer's: the catch-all route forwards it.
    assert!(matches!(
        block_on(gw.handle(
            &p,
            &request(
                "GET",
                "https://gw.example/.well-known/oauth-authorization-server"
            )
        ))
        .outcome,
        Outcome::Forward(_)
    ));
}

#[test]
fn with_sessions_off_nothing_is_published() {
    let config = parse_config(&json!({
        "origin": "https://origin.internal",
        "routes": [{ "methods": ["GET"], "path": "/*", "auth": ["public"] }],
    }))
    .unwrap();
    let gw: Gateway<crate::jose::jwk::Jwk> = Gateway::new(config);
    let p = FakePlatform::new(NOW);
    assert!(matches!(
        block_on(gw.handle(
            &p,
            &request("GET", "https://gw.example/.well-known/jwks.json")
        ))
        .outcome,
        Outcome::Forward(_)
    ));
}
