//! The TOTP endpoints through the whole gateway (`Gateway::handle`, then `Gateway::session`) on the
//! in-memory platform: enrollment, confirmation, step-up to a `mfa = "required"` route, a replayed
//! code, the lockout, recovery codes, disable; and the caller checks.

use base64::Engine as _;
use serde_json::{json, Value};

use super::totp::{self, TotpAlgorithm, TotpParams};
use crate::config::parse_config;
use crate::jose::jws::B64URL;
use crate::mfa_settings::MfaKey;
use crate::pipeline::{Gateway, Outcome, RequestHead};
use crate::platform::Platform as _;
use crate::reply::Reply;
use crate::signing::issuer::SessionIssuer;
use crate::signing::keys::SigningAlg;
use crate::signing::mint::{mint_access_token, AccessTokenClaims};
use crate::testing::{block_on, FakePlatform};

const NOW: u64 = 1_800_000_010;
const GW_ISS: &str = "https://gw.example";

type Gw = Gateway<crate::jose::jwk::Jwk>;

fn key_set() -> String {
    let key = crate::signing::native::generate(SigningAlg::ES256, Some("k1".into()))
        .unwrap()
        .private_jwk_json();
    json!({ "active": "k1", "keys": [key] }).to_string()
}

fn gateway() -> Gw {
    let config = parse_config(&json!({
        "origin": "https://origin.internal",
        "sessions": { "enabled": true, "issuer": GW_ISS, "audiences": ["api"] },
        "mfa": { "enabled": true, "max_failures": 3, "lockout_seconds": 120 },
        "routes": [
            { "name": "money", "methods": ["POST"], "path": "/api/transfer", "auth": ["jwt"], "mfa": "required" },
            { "name": "read", "methods": ["GET"], "path": "/api/*", "auth": ["jwt"] }
        ],
    }))
    .unwrap();
    let own = SessionIssuer::load(&config.sessions, Some(&key_set())).unwrap();
    Gateway::new(config)
        .with_session_issuer(own)
        .with_mfa_key(Some(MfaKey([9; 32])))
}

fn login_token(gw: &Gw, p: &FakePlatform, sub: &str) -> String {
    let claims = AccessTokenClaims {
        sub: sub.into(),
        sid: "sid-1".into(),
        scope: "read".into(),
        amr: vec!["pwd".into()],
        acr: None,
        auth_time: Some(p.now_secs() - 600),
        cnf: None,
    };
    let issuer = gw_issuer(gw);
    block_on(mint_access_token(p, issuer, claims))
        .unwrap()
        .token
}

fn gw_issuer(gw: &Gw) -> &SessionIssuer {
    gw.session_issuer().unwrap()
}

/// A request through the pipeline; a session endpoint is served as the worker would.
fn call(
    gw: &Gw,
    p: &FakePlatform,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> Reply {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if let Some(t) = token {
        headers.push(("authorization".into(), format!("Bearer {t}")));
    }
    let head = RequestHead {
        method: method.into(),
        url: format!("https://gw.example{path}"),
        headers,
    };
    match block_on(gw.handle(p, &head)).outcome {
        Outcome::Session(endpoint) => {
            let body = if body.is_null() {
                Vec::new()
            } else {
                body.to_string().into_bytes()
            };
            let mut log = crate::pipeline::RequestLog::default();
            block_on(gw.session(p, endpoint, &head, &body, &mut log))
        }
        Outcome::Respond(reply) => reply,
        Outcome::Forward(_) => Reply::json(299, &json!({ "forwarded": true })),
        other => panic!("unexpected {other:?}"),
    }
}

fn body(r: &Reply) -> Value {
    serde_json::from_str(&r.body).unwrap()
}

fn code(r: &Reply) -> (u16, String) {
    (r.status, body(r)["code"].as_str().unwrap_or("").to_string())
}

fn base32_decode(s: &str) -> Vec<u8> {
    let mut bits = 0u32;
    let mut buffer = 0u32;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32"),
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

const SHA1_6: TotpParams = TotpParams {
    algorithm: TotpAlgorithm::Sha1,
    digits: 6,
    period: 30,
};

/// Enrolls and confirms `sub`; returns the secret and the recovery codes.
fn enrolled(gw: &Gw, p: &FakePlatform, token: &str) -> (Vec<u8>, Vec<String>) {
    let r = call(
        gw,
        p,
        "POST",
        "/auth/mfa/totp/enroll",
        Some(token),
        Value::Null,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    let b = body(&r);
    let secret = base32_decode(b["secret"].as_str().unwrap());
    assert_eq!(secret.len(), 20);
    assert!(b["otpauth_uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/Portcullis:"));
    assert!(b["qr_svg"].as_str().unwrap().contains("<svg"));
    let r = call(
        gw,
        p,
        "POST",
        "/auth/mfa/totp/confirm",
        Some(token),
        json!({ "code": totp::totp(&secret, &SHA1_6, p.now_secs()) }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let codes: Vec<String> = serde_json::from_value(body(&r)["recovery_codes"].clone()).unwrap();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

#[test]
fn enroll_confirm_step_up_then_the_mfa_route_passes() {
    let gw = gateway();
    let p = FakePlatform::new(NOW);
    let token = login_token(&gw, &p, "alice");
    // Before: the route challenges.
    let r = call(&gw, &p, "POST", "/api/transfer", Some(&token), Value::Null);
    assert_eq!(code(&r), (401, "mfa_required".into()));
    // Verify before enrolling: nothing to check against.
    let r = call(
        &gw,
        &p,
        "POST",
        "/auth/mfa/totp/verify",
        Some(&token),
        json!({"code": "123456"}),
    );
    assert_eq!(code(&r), (409, "mfa_not_enrolled".into()));

    let (secret, _) = enrolled(&gw, &p, &token);
    // A second enrollment is refused while one is confirmed.
    let r = call(
        &gw,
        &p,
        "POST",
        "/auth/mfa/totp/enroll",
        Some(&token),
        Value::Null,
    );
    assert_eq!(code(&r), (409, "mfa_already_enrolled".into()));

    p.advance_secs(30);
    let r = call(
        &gw,
        &p,
        "POST",
        "/auth/mfa/totp/verify",
        Some(&token),
        json!({ "code": totp::totp(&secret, &SHA1_6, p.now_secs()) }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let b = body(&r);
    assert_eq!(
        (b["token_type"].as_str(), b["scope"].as_str()),
        (Some("Bearer"), Some("read"))
    );
    let stepped = b["access_token"].as_str().unwrap().to_string();
    let payload: Value =
        serde_json::from_slice(&B64URL.decode(stepped.split('.').nth(1).unwrap()).unwrap())
            .unwrap();
    assert_eq!(payload["sid"], "sid-1");
    assert_eq!(payload["sub"], "alice");
    assert_eq!(payload["amr"], json!(["pwd", "otp"]));
    assert_eq!(payload["acr"], crate::step_up::GATEWAY_MFA_ACR);
    assert_eq!(payload["auth_time"], p.now_secs());
    let r = call(
        &gw,
        &p,
        "POST",
        "/api/transfer",
        Some(&stepped),
        Value::Null,
    );
    assert_eq!(r.status, 299, "{}", r.body);
}

#[test]
fn a_code_is_accepted_once() {
    let gw = gateway();
    let p = FakePlatform::new(NOW);
    let token = login_token(&gw, &p, "bob");
    let (secret, _) = enrolled(&gw, &p, &token);
    // The confirming code's step is used: the same code again is a replay.
    let same = totp::totp(&secret, &SHA1_6, p.now_secs());
    let r = call(
        &gw,
        &p,
        "POST",
        "/auth/mfa/totp/verify",
        Some(&token),
        json!({ "code": same }),
    );
    assert_eq!(code(&r), (400, "mfa_code_reused".into()));
    p.advance_secs(30);
    let next = totp::totp(&secret, &SHA1_6, p.now_secs());
    let verify = |c: &str| {
        call(
            &gw,
            &p,
            "POST",
            "/auth/mfa/totp/verify",
            Some(&token),
            json!({ "code": c }),
        )
    };
    assert_eq!(verify(&next).status, 200);
    assert_eq!(code(&verify(&next)), (400, "mfa_code_reused".into()));
}

#[test]
fn failures_lock_with_retry_after_and_recovery_codes_work_once() {
    let gw = gateway();
    let p = FakePlatform::new(NOW);
    let token = login_token(&gw, &p, "carol");
    let (secret, codes) = enrolled(&gw, &p, &token);
    let verify = |b: Value| call(&gw, &p, "POST", "/auth/mfa/totp/verify", Some(&token), b);
    // A code of the wrong shape is refused without counting.
    assert_eq!(
        code(&verify(json!({"code": "12ab56"}))),
        (400, "mfa_code_invalid".into())
    );
    let right = totp::totp(&secret, &SHA1_6, p.now_secs() + 30);
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000);
    for _ in 0..3 {
        assert_eq!(
            code(&verify(json!({ "code": wrong }))),
            (400, "mfa_code_invalid".into())
        );
    }
    p.advance_secs(30);
    let locked = verify(json!({ "code": totp::totp(&secret, &SHA1_6, p.now_secs()) }));
    assert_eq!(code(&locked), (429, "mfa_locked".into()));
    assert_eq!(locked.header("retry-after"), Some("90"));
    // Recovery codes share the lockout.
    assert_eq!(
        code(&verify(json!({ "recovery_code": codes[0] }))),
        (429, "mfa_locked".into())
    );
    p.advance_secs(90);
    let r = verify(json!({ "recovery_code": codes[0].to_uppercase() }));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        code(&verify(json!({ "recovery_code": codes[0] }))),
        (400, "mfa_code_invalid".into())
    );
    let audit = p.logs.borrow().iter().any(|l| {
        l.contains("\"audit\":\"mfa.recovery_code.used\"")
            && l.contains("\"recovery_codes_left\":9")
    });
    assert!(audit);
    // No secret or code in any log line.
    for line in p.logs.borrow().iter() {
        assert!(
            !line.contains(&codes[1]) && !line.contains(&totp::base32(&secret)),
            "{line}"
        );
    }
}

#[test]
fn disable_needs_a_factor_and_lets_the_user_enroll_again() {
    let gw = gateway();
    let p = FakePlatform::new(NOW);
    let token = login_token(&gw, &p, "dave");
    let (_, codes) = enrolled(&gw, &p, &token);
    let disable = |b: Value| call(&gw, &p, "POST", "/auth/mfa/totp/disable", Some(&token), b);
    assert_eq!(code(&disable(json!({}))), (400, "request_invalid".into()));
    assert_eq!(
        code(&disable(json!({"code": "000000", "recovery_code": "x"}))),
        (400, "request_invalid".into())
    );
    let r = disable(json!({ "recovery_code": codes[3] }));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        p.logs
            .borrow()
            .iter()
            .any(|l| l.contains("\"audit\":\"mfa.totp.disabled\"")
                && l.contains("\"actor\":\"dave\""))
    );
    let r = call(
        &gw,
        &p,
        "POST",
        "/auth/mfa/totp/enroll",
        Some(&token),
        Value::Null,
    );
    assert_eq!(r.status, 200);
}

#[test]
fn only_the_gateways_own_live_tokens_reach_the_endpoints() {
    let gw = gateway();
    let p = FakePlatform::new(NOW);
    let r = call(&gw, &p, "POST", "/auth/mfa/totp/enroll", None, Value::Null);
    assert_eq!(code(&r), (401, "token_missing".into()));
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"portcullis\"")
    );
    let r = call(
        &gw,
        &p,
        "POST",
        "/auth/mfa/totp/enroll",
        Some("not.a.token"),
        Value::Null,
    );
    assert_eq!(code(&r).0, 401);
    let token = login_token(&gw, &p, "erin");
    p.advance_secs(3600);
    let r = call(
        &gw,
        &p,
        "POST",
        "/auth/mfa/totp/enroll",
        Some(&token),
        Value::Null,
    );
    assert_eq!(code(&r), (401, "token_expired".into()));
    // Wrong method, unknown endpoint.
    let token = login_token(&gw, &p, "erin");
    let r = call(
        &gw,
        &p,
        "GET",
        "/auth/mfa/totp/enroll",
        Some(&token),
        Value::Null,
    );
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    let r = call(
        &gw,
        &p,
        "POST",
        "/auth/mfa/totp/nope",
        Some(&token),
        Value::Null,
    );
    assert_eq!(code(&r), (404, "route_not_found".into()));
    // The object unreachable: fail closed.
    p.mfa_down.set(true);
    let r = call(
        &gw,
        &p,
        "POST",
        "/auth/mfa/totp/verify",
        Some(&token),
        json!({"code": "123456"}),
    );
    assert_eq!(code(&r), (503, "mfa_unavailable".into()));
}

#[test]
fn mfa_needs_sessions() {
    let errors = parse_config(&json!({
        "origin": "https://origin.internal",
        "mfa": { "enabled": true },
        "routes": [{ "methods": ["GET"], "path": "/x", "auth": ["public"] }],
    }))
    .unwrap_err();
    assert_eq!(errors[0].path, "mfa.enabled");
}
