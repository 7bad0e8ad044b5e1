//! Issue 15 through the whole pipeline, natively: claims to headers, claim conditions (JWT claims,
//! introspection answers' members and API-key metadata, on a cache hit too), and the request id in
//! problem documents (the admin API's included) and the origin's `x-request-id`.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer;
use serde_json::{json, Value};

use super::*;
use crate::api_key::store::NewKey;
use crate::config::parse_config;
use crate::platform::HttpResponse;
use crate::testing::{block_on, FakePlatform};

const NOW: u64 = 1_800_000_000;
const ISS: &str = "https://id.example.com";
const JWKS: &str = "https://id.example.com/jwks";

fn key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_bytes(&[7u8; 32].into()).unwrap()
}

fn token(claims: Value) -> String {
    let mut body = json!({
        "iss": ISS, "sub": "alice", "aud": "api", "exp": NOW + 300, "iat": NOW, "scope": "read",
    });
    for (k, v) in claims.as_object().unwrap() {
        body[k] = v.clone();
    }
    let header = json!({ "alg": "ES256", "kid": "es-1", "typ": "at+jwt" });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(body.to_string())
    );
    let sig: p256::ecdsa::Signature = key().sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

fn gateway() -> Gateway<crate::jose::jwk::Jwk> {
    let doc = json!({
        "origin": "https://origin.internal",
        "identity_header_prefixes": ["x-acme-"],
        "issuers": [{
            "issuer": ISS, "jwks_uri": JWKS, "audiences": ["api"], "algorithms": ["ES256"],
            "claims_to_headers": {
                "x-user-email": "email",
                "x-auth-tenant": "org.id",
                "x-user-roles": "realm_access.roles",
                "x-acme-region": "[\"https://example.com/claims/region\"]",
            },
        }],
        "api_keys": { "prefix": "pc_test", "accepted_prefixes": ["pc_test"] },
        "admin": { "enabled": true, "credentials": ["jwt"] },
        "routes": [
            { "name": "open", "methods": ["GET"], "path": "/api/*", "auth": ["jwt", "api_key"] },
            { "name": "ops", "methods": ["POST"], "path": "/api/*", "auth": ["jwt", "api_key"],
              "require": { "org.id": "acme", "realm_access.roles": { "any": ["admin", "ops"] }, "email_verified": true } },
            { "name": "team", "methods": ["GET"], "path": "/team/*", "auth": ["api_key"], "require": { "team": "billing" } },
        ]
    });
    Gateway::new(parse_config(&doc).unwrap())
}

fn platform() -> FakePlatform {
    let p = FakePlatform::new(NOW);
    let point = key().verifying_key().to_encoded_point(false);
    let jwks = json!({ "keys": [{
        "kty": "EC", "crv": "P-256", "kid": "es-1", "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
        "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
    }]});
    p.http.borrow_mut().insert(
        JWKS.to_string(),
        HttpResponse {
            status: 200,
            cache_control: None,
            body: jwks.to_string().into_bytes(),
        },
    );
    p
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

fn bearer(claims: Value) -> String {
    format!("Bearer {}", token(claims))
}

fn refusal(handled: &Handled) -> (u16, Value) {
    match &handled.outcome {
        Outcome::Respond(r) => (r.status, serde_json::from_str(&r.body).unwrap()),
        other => panic!("not a refusal: {other:?}"),
    }
}

fn forwarded(handled: &Handled) -> &ForwardPlan {
    match &handled.outcome {
        Outcome::Forward(plan) => plan,
        other => panic!("not forwarded: {other:?}"),
    }
}

const GOOD: fn() -> Value = || {
    json!({
        "email": "alice@example.com",
        "org": {"id": "acme"},
        "realm_access": {"roles": ["ops", "viewer"]},
        "email_verified": true,
        "https://example.com/claims/region": "eu",
    })
};

#[test]
fn claims_reach_the_origin_as_headers_and_client_copies_never_do() {
    let (gw, p) = (gateway(), platform());
    let auth = bearer(GOOD());
    let client = [
        ("authorization", auth.as_str()),
        ("x-user-email", "mallory@example.com"),
        ("X_Auth_Tenant", "evil"),
        ("x-acme-region", "us"),
        ("X.Acme.Region", "us"),
        ("x_acme_other", "1"),
    ];
    let h = block_on(gw.handle(&p, &req("GET", "/api/x", &client)));
    let plan = forwarded(&h);
    for (name, _) in &client[1..] {
        assert!(plan.strip.contains(&name.to_string()), "{name} stripped");
    }
    let added: BTreeMap<&str, &str> = plan
        .add
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(added["x-user-email"], "alice@example.com");
    assert_eq!(added["x-auth-tenant"], "acme");
    assert_eq!(added["x-user-roles"], "ops,viewer");
    assert_eq!(added["x-acme-region"], "eu");
    assert_eq!(added["x-request-id"], h.request_id.as_str());
}

#[test]
fn a_claim_that_cannot_travel_refuses_the_token_naming_it() {
    let (gw, p) = (gateway(), platform());
    let mut claims = GOOD();
    claims["realm_access"]["roles"] = json!(["ops", "a,b"]);
    let h = block_on(gw.handle(
        &p,
        &req("GET", "/api/x", &[("authorization", &bearer(claims))]),
    ));
    let (status, doc) = refusal(&h);
    assert_eq!(
        (status, doc["code"].as_str()),
        (401, Some("token_claim_invalid"))
    );
    assert!(doc["detail"]
        .as_str()
        .unwrap()
        .contains("realm_access.roles"));
    assert!(!doc["detail"].as_str().unwrap().contains("a,b"));
    assert_eq!(doc["instance"], h.request_id.instance());
}

#[test]
fn route_conditions_name_the_claim_never_its_value_on_cache_hits_too() {
    let (gw, p) = (gateway(), platform());
    let good = bearer(GOOD());
    // First: verified and cached; then a cache hit, judged the same way.
    for _ in 0..2 {
        let h = block_on(gw.handle(&p, &req("POST", "/api/x", &[("authorization", &good)])));
        forwarded(&h);
    }
    for (claim, value) in [
        ("org", json!({"id": "evil-corp"})),
        ("realm_access", json!({"roles": ["viewer"]})),
        ("email_verified", json!("true")),
    ] {
        let mut claims = GOOD();
        claims[claim] = value.clone();
        let auth = bearer(claims);
        for _ in 0..2 {
            let h = block_on(gw.handle(&p, &req("POST", "/api/x", &[("authorization", &auth)])));
            let (status, doc) = refusal(&h);
            assert_eq!(status, 403, "{claim}");
            assert_eq!(doc["code"], "claim_requirement_failed");
            let named = doc["claim"].as_str().unwrap();
            assert!(named.starts_with(claim), "{named} for {claim}");
            let detail = doc["detail"].as_str().unwrap();
            assert!(
                !detail.contains("evil") && !detail.contains("viewer") && !detail.contains("acme"),
                "{detail}"
            );
            assert_eq!(doc["instance"], h.request_id.instance());
        }
    }
    // `org` flat: `org.id` cannot be followed, so the `x-auth-tenant` header refuses the token
    // before the route's condition is reached.
    let mut claims = GOOD();
    claims["org"] = json!("flat");
    let h = block_on(gw.handle(
        &p,
        &req("POST", "/api/x", &[("authorization", &bearer(claims))]),
    ));
    assert_eq!(refusal(&h).1["code"], "token_claim_invalid");
    // Absent.
    let mut claims = GOOD();
    claims.as_object_mut().unwrap().remove("email_verified");
    let h = block_on(gw.handle(
        &p,
        &req("POST", "/api/x", &[("authorization", &bearer(claims))]),
    ));
    assert_eq!(refusal(&h).1["claim"], "email_verified");
}

#[test]
fn api_keys_are_judged_on_their_metadata() {
    let (gw, p) = (gateway(), platform());
    let create = |team: &str| {
        block_on(gw.api_key_store(&p).create(NewKey {
            client_id: "exporter".into(),
            name: "exporter".into(),
            scopes: vec![],
            expires_at: None,
            rate_limit_policy: None,
            metadata: BTreeMap::from([("team".to_string(), team.to_string())]),
        }))
        .unwrap()
        .0
    };
    let billing = create("billing");
    let other = create("support");
    forwarded(&block_on(
        gw.handle(&p, &req("GET", "/team/x", &[("x-api-key", &billing)])),
    ));
    let h = block_on(gw.handle(&p, &req("GET", "/team/x", &[("x-api-key", &other)])));
    let (status, doc) = refusal(&h);
    assert_eq!(
        (status, doc["code"].as_str()),
        (403, Some("claim_requirement_failed"))
    );
    assert_eq!(doc["claim"], "team");
    assert!(doc["detail"].as_str().unwrap().contains("metadata"));
    // A key has no JWT claims: the JWT route's conditions fail on it.
    let h = block_on(gw.handle(&p, &req("POST", "/api/x", &[("x-api-key", &billing)])));
    assert_eq!(refusal(&h).1["code"], "claim_requirement_failed");
}

#[test]
fn every_problem_names_its_request_the_admin_apis_too() {
    let (gw, p) = (gateway(), platform());
    let ray = "8f0b4a6c3d2e1f00-SJC";
    let h = block_on(gw.handle(&p, &req("GET", "/nowhere", &[("cf-ray", ray)])));
    assert_eq!(h.request_id.as_str(), ray);
    assert_eq!(
        refusal(&h).1["instance"],
        format!("urn:portcullis:request:{ray}")
    );
    // An admin call: its own problem documents carry the id.
    let admin = bearer(json!({"scope": "portcullis:admin"}));
    let h = block_on(gw.handle(
        &p,
        &req(
            "GET",
            "/admin/keys/key_nope",
            &[("authorization", &admin), ("cf-ray", ray)],
        ),
    ));
    let Outcome::Admin(call) = &h.outcome else {
        panic!("{:?}", h.outcome)
    };
    let reply = block_on(gw.admin(&p, call, "GET", b""));
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
    let doc: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(doc["instance"], format!("urn:portcullis:request:{ray}"));
}

#[test]
fn an_introspection_answers_members_meet_conditions_and_reach_the_origin_as_a_jwts_claims_do() {
    const ENDPOINT: &str = "https://as.example/introspect";
    let doc = json!({
        "origin": "https://origin.internal",
        "introspection": {
            "enabled": true, "issuer": "https://as.example", "endpoint": ENDPOINT, "client_id": "gw",
            "claims_to_headers": { "x-user-email": "email", "x-auth-tenant": "org.id" },
        },
        "routes": [
            { "name": "ops", "methods": ["GET"], "path": "/api/*", "auth": ["jwt"], "require": { "org.id": "acme" } },
        ]
    });
    let gw = Gateway::new(parse_config(&doc).unwrap()).with_introspection_client(Some(
        crate::introspection::client::ClientCredentials::Secret("s3cret".into()),
    ));
    let p = FakePlatform::new(NOW);
    let answer = |members: Value| {
        let mut body =
            json!({"active": true, "sub": "alice", "token_type": "Bearer", "exp": NOW + 300});
        for (k, v) in members.as_object().unwrap() {
            body[k] = v.clone();
        }
        p.http.borrow_mut().insert(
            ENDPOINT.to_string(),
            HttpResponse {
                status: 200,
                cache_control: None,
                body: body.to_string().into_bytes(),
            },
        );
    };
    let get = |token: &str| {
        let auth = format!("Bearer {token}");
        let client = [("authorization", auth.as_str()), ("X_User_Email", "forged")];
        block_on(gw.handle(&p, &req("GET", "/api/x", &client)))
    };

    answer(json!({"email": "alice@example.com", "org": {"id": "acme"}}));
    // The answer, then its cached identity: the same headers and conditions.
    for _ in 0..2 {
        let h = get("good");
        let plan = forwarded(&h);
        assert!(plan.strip.contains(&"X_User_Email".to_string()));
        let added: BTreeMap<&str, &str> = plan
            .add
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(added["x-auth-method"], "introspection");
        assert_eq!(added["x-user-email"], "alice@example.com");
        assert_eq!(added["x-auth-tenant"], "acme");
    }

    answer(json!({"email": "eve@example.com", "org": {"id": "evil-corp"}}));
    let (status, doc) = refusal(&get("other-tenant"));
    assert_eq!(
        (status, doc["code"].as_str(), doc["claim"].as_str()),
        (403, Some("claim_requirement_failed"), Some("org.id"))
    );

    answer(json!({"email": {"not": "text"}, "org": {"id": "acme"}}));
    let (status, doc) = refusal(&get("bad-email"));
    assert_eq!(
        (status, doc["code"].as_str()),
        (401, Some("token_claim_invalid"))
    );
    assert!(doc["detail"].as_str().unwrap().contains("\"email\""));
}
