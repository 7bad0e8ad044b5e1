//! `portcullis explain`: a whole request through the gateway's checks, offline — each check with its
//! outcome and the code the gateway would answer; exit 0 when it would be forwarded, 6 when
//! refused, 2 for bad input.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer;
use serde_json::{json, Value};

const NOW: u64 = 1_800_000_000;
const ISS: &str = "https://id.example";

fn signer() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_bytes(&[5u8; 32].into()).unwrap()
}

fn dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("portcullis-explain-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn jwks_file() -> std::path::PathBuf {
    let point = signer().verifying_key().to_encoded_point(false);
    let jwks = json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
        "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
    }]});
    config_file(&jwks, "jwks.json")
}

fn config() -> Value {
    json!({
        "origin": "https://origin.internal",
        "issuers": [{
            "issuer": ISS, "jwks_uri": "https://id.example/jwks", "audiences": ["api"],
            "algorithms": ["ES256"], "claims_to_headers": {"x-user-email": "email"},
        }],
        "routes": [
            {"name": "health", "methods": ["GET"], "path": "/health", "auth": ["public"]},
            {"name": "read", "methods": ["GET"], "path": "/api/*", "auth": ["jwt", "api_key"], "scopes": ["read"]},
            {"name": "ops", "methods": ["POST"], "path": "/api/*", "auth": ["jwt", "api_key"],
             "require": {"org.id": "acme", "roles": {"any": ["ops", "admin"]}}},
        ]
    })
}

/// A fresh file per call: the tests run in parallel.
fn config_file(doc: &Value, name: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir().join(format!("{n}-{name}"));
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}

fn token(claims: Value) -> String {
    let mut body = json!({"iss": ISS, "sub": "alice", "aud": "api", "exp": NOW + 60, "iat": NOW, "scope": "read"});
    for (k, v) in claims.as_object().unwrap() {
        body[k] = v.clone();
    }
    let header = json!({"alg": "ES256", "kid": "k1", "typ": "at+jwt"});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(body.to_string())
    );
    let sig: p256::ecdsa::Signature = signer().sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

fn explain(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("explain")
        .args(args)
        .arg("--now")
        .arg(NOW.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn with_token(method: &str, path: &str, claims: Value) -> Output {
    let cfg = config_file(&config(), "config.json");
    let jwks = jwks_file();
    explain(
        &[
            "--json",
            "--config",
            cfg.to_str().unwrap(),
            "--method",
            method,
            "--path",
            path,
            "--token",
            "-",
            "--jwks",
            jwks.to_str().unwrap(),
        ],
        Some(&token(claims)),
    )
}

fn verdict(out: &Output) -> (Option<i32>, Value) {
    (out.status.code(), json_of(out)["verdict"].clone())
}

#[test]
fn a_request_the_gateway_forwards_lists_every_check_passed() {
    let out = with_token("GET", "/api/items", json!({"email": "a@example.com"}));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json_of(&out);
    assert_eq!(v["route"], "read");
    assert_eq!(v["verdict"], json!({"answer": "forwarded"}));
    let checks: Vec<(&str, &str)> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["check"].as_str().unwrap(), c["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        checks,
        [
            ("route", "pass"),
            ("credential", "pass"),
            ("revocation", "not checked"),
            ("scopes", "pass")
        ]
    );
}

#[test]
fn each_refusal_names_the_check_and_the_gateways_code() {
    for (method, path, claims, check, code, status) in [
        (
            "GET",
            "/nowhere",
            json!({}),
            "request",
            "route_not_found",
            404,
        ),
        (
            "GET",
            "/api/%2e%2e/x",
            json!({}),
            "request",
            "request_invalid",
            400,
        ),
        (
            "GET",
            "/api/x?access_token=1",
            json!({}),
            "request",
            "credentials_in_url",
            400,
        ),
        (
            "GET",
            "/api/x",
            json!({"exp": NOW - 100}),
            "credential",
            "token_expired",
            401,
        ),
        (
            "GET",
            "/api/x",
            json!({"aud": "other"}),
            "credential",
            "token_audience_mismatch",
            401,
        ),
        (
            "GET",
            "/api/x",
            json!({"iss": "https://evil.example"}),
            "credential",
            "token_issuer_unknown",
            401,
        ),
        (
            "GET",
            "/api/x",
            json!({"email": "caf\u{e9}"}),
            "credential",
            "token_claim_invalid",
            401,
        ),
        (
            "GET",
            "/api/x",
            json!({"scope": "write"}),
            "scopes",
            "insufficient_scope",
            403,
        ),
        (
            "POST",
            "/api/x",
            json!({"org": {"id": "evil"}, "roles": ["ops"]}),
            "require",
            "claim_requirement_failed",
            403,
        ),
        (
            "POST",
            "/api/x",
            json!({"org": {"id": "acme"}}),
            "require",
            "claim_requirement_failed",
            403,
        ),
    ] {
        let out = with_token(method, path, claims.clone());
        let (exit, v) = verdict(&out);
        assert_eq!(exit, Some(6), "{path} {claims}");
        assert_eq!(
            v,
            json!({"answer": "refused", "code": code, "status": status}),
            "{path} {claims}"
        );
        let last = json_of(&out)["checks"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(
            (last["check"].as_str(), last["result"].as_str()),
            (Some(check), Some("fail"))
        );
        assert!(!last["detail"].as_str().unwrap().contains("evil"), "{last}");
    }
    let ok = with_token(
        "POST",
        "/api/x",
        json!({"org": {"id": "acme"}, "roles": ["admin"]}),
    );
    assert_eq!(verdict(&ok), (Some(0), json!({"answer": "forwarded"})));
}

#[test]
fn an_api_key_record_is_judged_like_the_key() {
    let cfg = config_file(&config(), "config.json");
    let record = |extra: Value| {
        let mut r = json!({
            "key_id": "key_0123456789abcdef", "client_id": "exporter", "name": "e", "prefix": "pc_test",
            "scopes": ["read"], "created_at": NOW - 10, "metadata": {"org.id": "acme", "roles": "ops"},
        });
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        config_file(&r, "record.json")
    };
    let run = |method: &str, rec: &std::path::Path| {
        explain(
            &[
                "--json",
                "--config",
                cfg.to_str().unwrap(),
                "--method",
                method,
                "--path",
                "/api/x",
                "--api-key-record",
                rec.to_str().unwrap(),
            ],
            None,
        )
    };
    assert_eq!(
        verdict(&run("GET", &record(json!({})))),
        (Some(0), json!({"answer": "forwarded"}))
    );
    assert_eq!(
        verdict(&run("POST", &record(json!({})))),
        (Some(0), json!({"answer": "forwarded"}))
    );
    let refused =
        |extra: Value, method: &str| verdict(&run(method, &record(extra))).1["code"].clone();
    assert_eq!(
        refused(json!({"revoked_at": NOW - 1}), "GET"),
        "api_key_revoked"
    );
    assert_eq!(
        refused(json!({"expires_at": NOW - 1}), "GET"),
        "api_key_expired"
    );
    assert_eq!(refused(json!({"scopes": []}), "GET"), "insufficient_scope");
    assert_eq!(
        refused(json!({"metadata": {"org.id": "evil"}}), "POST"),
        "claim_requirement_failed"
    );
}

#[test]
fn wrangler_toml_and_text_output() {
    let toml = format!(
        "name = \"gw\"\n[vars]\nPORTCULLIS_CONFIG = '''{}'''\n\n[env.production.vars.PORTCULLIS_CONFIG]\norigin = \"https://origin.internal\"\n[[env.production.vars.PORTCULLIS_CONFIG.routes]]\nmethods = [\"GET\"]\npath = \"/health\"\nauth = [\"public\"]\n",
        config()
    );
    let path = dir().join(format!("wrangler-{}.toml", std::process::id()));
    std::fs::write(&path, toml).unwrap();
    let out = explain(
        &["--config", path.to_str().unwrap(), "--path", "/health"],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("route"), "{text}");
    assert!(text.contains("verdict: forwarded"), "{text}");
    let out = explain(
        &[
            "--config",
            path.to_str().unwrap(),
            "--env",
            "production",
            "--path",
            "/api/x",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL route_not_found (404)"));
    // A broken configuration: every request would get 503.
    let mut bad = config();
    bad["routes"][1]["require"] = json!({"roles": {"regex": "a.*"}});
    let bad = config_file(&bad, "bad.json");
    let out = explain(
        &["--config", bad.to_str().unwrap(), "--path", "/api/x"],
        None,
    );
    assert_eq!(out.status.code(), Some(6));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("gateway_misconfigured") && err.contains("routes[1].require.roles"),
        "{err}"
    );
    // Bad input.
    let out = explain(&["--config", "/nonexistent.json", "--path", "/x"], None);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_bound_tokens_possession_is_judged_as_far_as_it_can_be_offline() {
    // A DPoP-bound token sent as Bearer: the gateway refuses it (token_bound_as_bearer).
    let out = with_token(
        "GET",
        "/api/items",
        json!({"cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}),
    );
    let (code, v) = verdict(&out);
    assert_eq!(code, Some(6));
    assert_eq!(
        v,
        json!({"answer": "refused", "status": 401, "code": "token_bound_as_bearer"})
    );
    let last = json_of(&out)["checks"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["check"], "possession");

    // A certificate-bound token needs the TLS handshake: not checked offline.
    let out = with_token(
        "GET",
        "/api/items",
        json!({"cnf": {"x5t#S256": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc"}}),
    );
    assert_eq!(out.status.code(), Some(0), "{}", json_of(&out));
    let checks: Vec<(String, String)> = json_of(&out)["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap().into(),
                c["result"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        checks.contains(&("possession".into(), "not checked".into())),
        "{checks:?}"
    );
}

/// The revocation check names the entries the gate looks the credential up by — derived from the
/// gate's own facts (`revocation::gate::facts`), so sessions (`sid`) and certificate-bound tokens
/// (`cert:<fingerprint>`) are named — and never a claim value.
#[test]
fn the_revocation_check_names_the_entries_the_gate_looks_up() {
    let revocation_detail = |out: &Output| -> String {
        json_of(out)["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "revocation")
            .map(|c| {
                assert_eq!(c["result"], "not checked");
                c["detail"].as_str().unwrap().to_string()
            })
            .expect("a revocation check")
    };
    let by = |out: &Output| {
        let detail = revocation_detail(out);
        detail
            .split_once(" by ")
            .map(|(_, entries)| entries.to_string())
            .unwrap_or_else(|| panic!("no entries named in {detail:?}"))
    };
    let session = with_token(
        "GET",
        "/api/items",
        json!({"jti": "jti-value-1", "sid": "sid-value-1"}),
    );
    assert_eq!(by(&session), "jti, sid, sub");
    let detail = revocation_detail(&session);
    for value in ["jti-value-1", "sid-value-1", "alice"] {
        assert!(!detail.contains(value), "{detail:?} names {value}");
    }
    assert_eq!(by(&with_token("GET", "/api/items", json!({}))), "sub");
    let fingerprint = URL_SAFE_NO_PAD.encode([7u8; 32]);
    let cert_bound = with_token(
        "GET",
        "/api/items",
        json!({"jti": "j", "cnf": {"x5t#S256": fingerprint}}),
    );
    assert_eq!(by(&cert_bound), "cert:<fingerprint>, jti, sub");
    assert!(!revocation_detail(&cert_bound).contains(&fingerprint));

    let cfg = config_file(&config(), "config.json");
    let record = config_file(
        &json!({
            "key_id": "key_0123456789abcdef", "client_id": "exporter", "name": "e", "prefix": "pc_test",
            "scopes": ["read"], "created_at": NOW - 10,
        }),
        "record.json",
    );
    let api_key = explain(
        &[
            "--json",
            "--config",
            cfg.to_str().unwrap(),
            "--method",
            "GET",
            "--path",
            "/api/x",
            "--api-key-record",
            record.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(by(&api_key), "key id");
}
