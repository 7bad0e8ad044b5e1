//! The session endpoints through the whole gateway (`Gateway::handle` routes, `Gateway::session`
//! serves) on the in-memory platform: the family objects run their real logic, the login endpoint
//! is a canned answer, minting signs with RustCrypto.

use serde_json::{json, Value};

use crate::config::parse_config;
use crate::pipeline::{Gateway, Outcome, Reply, RequestHead};
use crate::platform::HttpResponse;
use crate::signing::issuer::SessionIssuer;
use crate::signing::keys::SigningAlg;
use crate::signing::native;
use crate::testing::{block_on, FakePlatform};

const NOW: u64 = 1_800_000_000;
const GW: &str = "https://gw.example";
const LOGIN_URL: &str = "https://login.internal/login";
const SECRET: &str = "0123456789abcdef0123456789abcdef";
const APP: &str = "https://app.example";
const COOKIE: &str = "__Host-portcullis_refresh";

type Gw = Gateway<crate::jose::jwk::Jwk>;

fn gateway() -> Gw {
    let config = parse_config(&json!({
        "origin": "https://origin.internal",
        "sessions": {
            "enabled": true, "issuer": GW, "audiences": ["api"],
            "app_origins": [APP],
            "login": { "url": LOGIN_URL },
        },
        "routes": [{ "name": "read", "methods": ["GET"], "path": "/api/*", "auth": ["jwt"], "scopes": ["read"] }],
    }))
    .unwrap();
    let key = native::generate(SigningAlg::ES256, Some("k1".into()))
        .unwrap()
        .private_jwk_json();
    let doc = json!({"active": "k1", "keys": [key]}).to_string();
    let own = SessionIssuer::load(&config.sessions, Some(&doc)).unwrap();
    Gateway::new(config)
        .with_session_issuer(own)
        .with_login_secret(Some(SECRET.to_string()))
}

fn platform() -> FakePlatform {
    let p = FakePlatform::new(NOW);
    p.http_posts.borrow_mut().insert(
        LOGIN_URL.into(),
        HttpResponse {
            status: 200,
            cache_control: None,
            body: br#"{"sub":"alice","scopes":["read","write"],"amr":["pwd"]}"#.to_vec(),
        },
    );
    p
}

fn head(method: &str, path: &str, headers: &[(&str, &str)]) -> RequestHead {
    RequestHead {
        method: method.into(),
        url: format!("{GW}{path}"),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    }
}

/// One request through the gateway: routed, then served with `body`.
fn call(gw: &Gw, p: &FakePlatform, h: &RequestHead, body: &str) -> Reply {
    match block_on(gw.handle(p, h)).outcome {
        Outcome::Session(endpoint) => {
            let mut log = crate::pipeline::RequestLog::default();
            let reply = block_on(gw.session(p, endpoint, h, body.as_bytes(), &mut log));
            let body: Value = serde_json::from_str(&reply.body).unwrap_or_default();
            assert_eq!(
                log.code,
                body["code"].as_str(),
                "the log line names the refusal's code"
            );
            reply
        }
        Outcome::Respond(r) => r,
        other => panic!("unexpected outcome {other:?}"),
    }
}

fn code(r: &Reply) -> String {
    serde_json::from_str::<Value>(&r.body).unwrap()["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn set_cookie(r: &Reply) -> String {
    r.header("set-cookie").unwrap_or_default().to_string()
}

fn cookie_value(r: &Reply) -> String {
    let sc = set_cookie(r);
    sc.split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string()
}

fn login(gw: &Gw, p: &FakePlatform) -> Reply {
    let h = head(
        "POST",
        "/auth/login",
        &[("origin", GW), ("content-type", "application/json")],
    );
    call(gw, p, &h, r#"{"username":"alice","password":"pw"}"#)
}

fn refresh(gw: &Gw, p: &FakePlatform, token: &str) -> Reply {
    let cookie = format!("{COOKIE}={token}");
    let h = head(
        "POST",
        "/auth/refresh",
        &[
            ("origin", GW),
            ("content-type", "application/json"),
            ("cookie", &cookie),
        ],
    );
    call(gw, p, &h, "{}")
}

fn api(gw: &Gw, p: &FakePlatform, access: &str) -> Outcome {
    let auth = format!("Bearer {access}");
    block_on(gw.handle(p, &head("GET", "/api/x", &[("authorization", &auth)]))).outcome
}

fn access_token(r: &Reply) -> String {
    serde_json::from_str::<Value>(&r.body).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

const CLEARED: &str =
    "__Host-portcullis_refresh=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0";

#[test]
fn login_answers_the_token_response_and_sends_the_secret_to_the_login_endpoint() {
    let (gw, p) = (gateway(), platform());
    let r = login(&gw, &p);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "read write");
    let sc = set_cookie(&r);
    assert!(sc.starts_with("__Host-portcullis_refresh="), "{sc}");
    assert!(
        sc.ends_with("; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=604800"),
        "{sc}"
    );
    let calls = p.http_post_calls.borrow();
    let (url, headers, sent) = &calls[0];
    assert_eq!(url, LOGIN_URL);
    assert!(headers.contains(&("x-portcullis-login-secret".into(), SECRET.into())));
    assert_eq!(sent, br#"{"username":"alice","password":"pw"}"#);
    assert!(matches!(
        api(&gw, &p, &access_token(&r)),
        Outcome::Forward(_)
    ));
}

#[test]
fn rotation_replay_and_the_sid_revocation() {
    let (gw, p) = (gateway(), platform());
    let first = login(&gw, &p);
    let mut tokens = vec![cookie_value(&first)];
    let mut access = access_token(&first);
    for i in 0..5 {
        p.advance_secs(30);
        let r = refresh(&gw, &p, &tokens[i]);
        assert_eq!(r.status, 200, "{}", r.body);
        tokens.push(cookie_value(&r));
        access = access_token(&r);
    }
    assert!(matches!(api(&gw, &p, &access), Outcome::Forward(_)));
    let replay = refresh(&gw, &p, &tokens[1]);
    assert_eq!(
        (replay.status, code(&replay)),
        (401, "refresh_token_reused".into())
    );
    assert_eq!(set_cookie(&replay), CLEARED);
    let current = refresh(&gw, &p, &tokens[5]);
    assert_eq!(
        (current.status, code(&current)),
        (401, "refresh_token_invalid".into())
    );
    // The family's access token is refused at once by this isolate.
    match api(&gw, &p, &access) {
        Outcome::Respond(r) => assert_eq!(code(&r), "token_revoked"),
        other => panic!("{other:?}"),
    }
    let logs = p.logs.borrow().join("\n");
    assert!(
        logs.contains(r#""audit":"session.refresh_reused""#),
        "{logs}"
    );
    assert!(!logs.contains(&tokens[1]), "no token in a log line");
}

#[test]
fn grace_window_gives_the_same_successor() {
    let (gw, p) = (gateway(), platform());
    let first = cookie_value(&login(&gw, &p));
    let a = refresh(&gw, &p, &first);
    p.advance_secs(5);
    let b = refresh(&gw, &p, &first);
    assert_eq!((a.status, b.status), (200, 200));
    assert_eq!(cookie_value(&a), cookie_value(&b));
    assert_ne!(access_token(&a), access_token(&b));
    p.advance_secs(6);
    let late = refresh(&gw, &p, &first);
    assert_eq!(code(&late), "refresh_token_reused");
}

#[test]
fn csrf_checks_and_cors_for_app_origins() {
    let (gw, p) = (gateway(), platform());
    let token = cookie_value(&login(&gw, &p));
    let cookie = format!("{COOKIE}={token}");
    for (headers, status, expected) in [
        (
            vec![("content-type", "application/json")],
            403,
            "session_origin_refused",
        ),
        (
            vec![
                ("origin", "https://evil.example"),
                ("content-type", "application/json"),
            ],
            403,
            "session_origin_refused",
        ),
        (
            vec![("origin", GW), ("content-type", "text/plain")],
            415,
            "session_content_type_refused",
        ),
        (vec![("origin", GW)], 415, "session_content_type_refused"),
    ] {
        let mut h = headers.clone();
        h.push(("cookie", &cookie));
        let r = call(&gw, &p, &head("POST", "/auth/refresh", &h), "{}");
        assert_eq!(
            (r.status, code(&r).as_str()),
            (status, expected),
            "{headers:?}"
        );
        assert_eq!(
            r.header("set-cookie"),
            None,
            "a refused request leaves the cookie alone"
        );
    }
    let h = head(
        "POST",
        "/auth/refresh",
        &[
            ("origin", APP),
            ("content-type", "application/json"),
            ("cookie", &cookie),
        ],
    );
    let r = call(&gw, &p, &h, "{}");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    // A preflight from the app origin, and one from elsewhere.
    let pre = |origin: &str| {
        call(
            &gw,
            &p,
            &head(
                "OPTIONS",
                "/auth/refresh",
                &[
                    ("origin", origin),
                    ("access-control-request-method", "POST"),
                ],
            ),
            "",
        )
    };
    let ok = pre(APP);
    assert_eq!(ok.status, 204);
    assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(pre("https://evil.example").status, 403);
}

#[test]
fn routing_under_the_prefix() {
    let (gw, p) = (gateway(), platform());
    let r = call(&gw, &p, &head("GET", "/auth/refresh", &[]), "");
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    let r = call(&gw, &p, &head("POST", "/auth/nope", &[]), "");
    assert_eq!((r.status, code(&r).as_str()), (404, "route_not_found"));
    let r = call(&gw, &p, &head("POST", "/authx", &[]), "");
    assert_eq!(
        code(&r),
        "route_not_found",
        "not a session path: no route either"
    );
    let h = head(
        "POST",
        "/auth/login",
        &[("content-type", "application/json")],
    );
    let r = call(&gw, &p, &h, &"x".repeat(16 * 1024 + 1));
    assert_eq!(r.status, 413);
}

#[test]
fn the_passkey_list_and_delete_take_their_own_method() {
    use crate::session::endpoints::{endpoint_at, route, Endpoint};
    use crate::webauthn::manage::ManageEndpoint;
    let (gw, p) = (gateway(), platform());
    let settings = &gw.config.sessions;
    let dpop = &gw.config.dpop;
    for (path, method, allow, endpoint) in [
        ("/auth/passkeys", "GET", "GET, HEAD", ManageEndpoint::List),
        (
            "/auth/passkeys/AAEC",
            "DELETE",
            "DELETE",
            ManageEndpoint::Delete,
        ),
    ] {
        let at = endpoint_at(settings, &head("GET", path, &[])).unwrap().ok();
        assert_eq!(at, Some(Endpoint::PasskeyManage(endpoint)), "{path}");
        assert!(matches!(
            route(settings, dpop, &head(method, path, &[])),
            Some(Ok(Endpoint::PasskeyManage(e))) if e == endpoint
        ));
        // Another method: 405 naming the ones it takes.
        let r = call(&gw, &p, &head("POST", path, &[]), "{}");
        assert_eq!((r.status, r.header("allow")), (405, Some(allow)), "{path}");
        // The app origin's preflight for that method, and only that one.
        let pre = |requested: &str| {
            call(
                &gw,
                &p,
                &head(
                    "OPTIONS",
                    path,
                    &[
                        ("origin", APP),
                        ("access-control-request-method", requested),
                    ],
                ),
                "",
            )
        };
        let ok = pre(method);
        assert_eq!(ok.status, 204);
        assert_eq!(ok.header("access-control-allow-methods"), Some(allow));
        assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(pre("PUT").status, 403);
    }
    // The listing is a GET, so HEAD too (its preflight as well: HEAD with Authorization is one).
    assert!(matches!(
        route(settings, dpop, &head("HEAD", "/auth/passkeys", &[])),
        Some(Ok(Endpoint::PasskeyManage(ManageEndpoint::List)))
    ));
    let r = call(&gw, &p, &head("HEAD", "/auth/passkeys/AAEC", &[]), "");
    assert_eq!((r.status, r.header("allow")), (405, Some("DELETE")));
    // The ceremonies are still POST; a deeper path is no endpoint.
    let r = call(
        &gw,
        &p,
        &head("GET", "/auth/passkeys/login/options", &[]),
        "",
    );
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    let r = call(&gw, &p, &head("DELETE", "/auth/passkeys/a/b/c", &[]), "");
    assert_eq!((r.status, code(&r).as_str()), (404, "route_not_found"));
}

#[test]
fn login_failures() {
    let gw = gateway();
    for (status, body, expected_status, expected) in [
        (401, "{}", 401, "login_refused"),
        (500, "{}", 502, "login_unavailable"),
        (200, r#"{"user":"x"}"#, 502, "login_unavailable"),
    ] {
        let p = platform();
        p.http_posts.borrow_mut().insert(
            LOGIN_URL.into(),
            HttpResponse {
                status,
                cache_control: None,
                body: body.as_bytes().to_vec(),
            },
        );
        let r = login(&gw, &p);
        assert_eq!((r.status, code(&r).as_str()), (expected_status, expected));
        assert_eq!(r.header("set-cookie"), None);
    }
    let p = platform();
    p.http_posts.borrow_mut().clear();
    let r = login(&gw, &p);
    assert_eq!(code(&r), "login_unavailable");
    assert!(p
        .logs
        .borrow()
        .iter()
        .any(|l| l.contains("login_endpoint_failed")));
}

#[test]
fn an_unreachable_family_object_fails_closed() {
    let (gw, p) = (gateway(), platform());
    let token = cookie_value(&login(&gw, &p));
    p.sessions_down.set(true);
    let r = refresh(&gw, &p, &token);
    assert_eq!((r.status, code(&r).as_str()), (503, "session_unavailable"));
    assert_eq!(
        r.header("set-cookie"),
        None,
        "the cookie is kept: nothing was decided"
    );
    assert_eq!(code(&login(&gw, &p)), "session_unavailable");
    p.sessions_down.set(false);
    assert_eq!(refresh(&gw, &p, &token).status, 200);
}

#[test]
fn logout_ends_the_session() {
    let (gw, p) = (gateway(), platform());
    let first = login(&gw, &p);
    let token = cookie_value(&first);
    let cookie = format!("{COOKIE}={token}");
    let h = head(
        "POST",
        "/auth/logout",
        &[
            ("origin", GW),
            ("content-type", "application/json"),
            ("cookie", &cookie),
        ],
    );
    let r = call(&gw, &p, &h, "{}");
    assert_eq!((r.status, set_cookie(&r)), (204, CLEARED.to_string()));
    assert_eq!(code(&refresh(&gw, &p, &token)), "refresh_token_invalid");
    match api(&gw, &p, &access_token(&first)) {
        Outcome::Respond(r) => assert_eq!(code(&r), "token_revoked"),
        other => panic!("{other:?}"),
    }
    // Logging out again (or without a cookie) answers the same.
    assert_eq!(call(&gw, &p, &h, "{}").status, 204);
}

#[test]
fn idle_expiry_refuses_and_clears() {
    let (gw, p) = (gateway(), platform());
    let token = cookie_value(&login(&gw, &p));
    p.advance_secs(604_800);
    let r = refresh(&gw, &p, &token);
    assert_eq!(
        (r.status, code(&r).as_str()),
        (401, "refresh_token_invalid")
    );
    assert_eq!(set_cookie(&r), CLEARED);
}

#[test]
fn configuration_refuses_a_route_under_the_prefix_and_a_foreign_exchange_issuer() {
    let doc = |path: &str, exchange: Value| {
        json!({
            "origin": "https://origin.internal",
            "issuers": [{"issuer": "https://id.example", "jwks_uri": "https://id.example/jwks", "audiences": ["api"], "algorithms": ["RS256"]}],
            "sessions": {
                "enabled": true, "issuer": GW, "audiences": ["api"],
                "token_exchange": exchange,
            },
            "routes": [{ "methods": ["GET"], "path": path, "auth": ["jwt"] }],
        })
    };
    let paths = |v: Value| -> Vec<String> {
        parse_config(&v)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.path)
            .collect()
    };
    let ok = json!({"issuers": ["https://id.example"]});
    assert_eq!(paths(doc("/auth/*", ok.clone())), ["routes[0].path"]);
    assert_eq!(paths(doc("/auth/login", ok.clone())), ["routes[0].path"]);
    assert!(
        paths(doc("/*", ok.clone())).is_empty(),
        "a catch-all is not shadowed"
    );
    assert!(paths(doc("/api/*", ok)).is_empty());
    assert_eq!(
        paths(doc(
            "/api/*",
            json!({"issuers": ["https://other.example", GW]})
        )),
        [
            "sessions.token_exchange.issuers[0]",
            "sessions.token_exchange.issuers[1]"
        ]
    );
}

#[test]
fn configuration_checks_the_session_fields() {
    let problems = |sessions: Value| -> Vec<String> {
        let mut s = json!({"enabled": true, "issuer": GW, "audiences": ["api"]});
        for (k, v) in sessions.as_object().unwrap() {
            s[k] = v.clone();
        }
        parse_config(&json!({
            "origin": "https://origin.internal",
            "sessions": s,
            "routes": [{ "methods": ["GET"], "path": "/api/*", "auth": ["jwt"] }],
        }))
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.path)
        .collect()
    };
    assert!(problems(json!({})).is_empty());
    for (bad, path) in [
        (json!({"cookie_name": "__host-x"}), "sessions.cookie_name"),
        (json!({"cookie_name": "a b"}), "sessions.cookie_name"),
        (
            json!({"reuse_grace_seconds": 61}),
            "sessions.reuse_grace_seconds",
        ),
        (
            json!({"refresh_idle_ttl_seconds": 299}),
            "sessions.refresh_idle_ttl_seconds",
        ),
        (
            json!({"refresh_idle_ttl_seconds": 7200, "refresh_absolute_lifetime_seconds": 3600}),
            "sessions.refresh_absolute_lifetime_seconds",
        ),
        (
            json!({"app_origins": ["https://App.example"]}),
            "sessions.app_origins[0]",
        ),
        (
            json!({"app_origins": ["https://app.example/x"]}),
            "sessions.app_origins[0]",
        ),
        (
            json!({"login": {"url": "http://login.example/x"}}),
            "sessions.login.url",
        ),
        (
            json!({"login": {"url": LOGIN_URL, "timeout_ms": 50}}),
            "sessions.login.timeout_ms",
        ),
        (
            json!({"login": {"url": LOGIN_URL, "secret_header": "x y"}}),
            "sessions.login.secret_header",
        ),
        (
            json!({"token_exchange": {"issuers": []}}),
            "sessions.token_exchange.issuers",
        ),
    ] {
        assert_eq!(problems(bad.clone()), [path], "{bad}");
    }
}
