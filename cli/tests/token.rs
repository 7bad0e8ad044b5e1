//! `portcullis token verify`: the gateway's checks, offline, with exit code 6 and the gateway's
//! error code for every refusal.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer;
use serde_json::json;

const NOW: u64 = 1_800_000_000;

fn signer() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_bytes(&[5u8; 32].into()).unwrap()
}

fn jwks_file(dir: &std::path::Path) -> std::path::PathBuf {
    let point = signer().verifying_key().to_encoded_point(false);
    let jwks = json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
        "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
    }]});
    let path = dir.join("jwks.json");
    std::fs::write(&path, jwks.to_string()).unwrap();
    path
}

fn token(claims: serde_json::Value, kid: &str) -> String {
    let header = json!({"alg": "ES256", "kid": kid, "typ": "at+jwt"});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig: p256::ecdsa::Signature = signer().sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

fn good_claims() -> serde_json::Value {
    json!({"iss": "https://id.example", "sub": "alice", "aud": "api", "exp": NOW + 60, "scope": "read write", "jti": "j"})
}

fn verify(token: &str, jwks: &std::path::Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "token",
        "verify",
        "-",
        "--jwks",
        jwks.to_str().unwrap(),
        "--issuer",
        "https://id.example",
        "--audience",
        "api",
        "--now",
    ];
    let now = NOW.to_string();
    args.push(&now);
    args.extend_from_slice(extra);
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(token.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn tmp() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("portcullis-token-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_valid_token_prints_its_claims() {
    let jwks = jwks_file(&tmp());
    let out = verify(&token(good_claims(), "k1"), &jwks, &["--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sub"], "alice");
    assert_eq!(v["kid"], "k1");
    assert_eq!(v["scopes"], json!(["read", "write"]));
}

#[test]
fn each_refusal_exits_6_with_the_gateway_code() {
    let jwks = jwks_file(&tmp());
    let good = token(good_claims(), "k1");
    let mut tampered = good.clone();
    tampered.pop();
    tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
    let mut expired = good_claims();
    expired["exp"] = json!(NOW - 31);
    let mut other_aud = good_claims();
    other_aud["aud"] = json!("elsewhere");
    let mut forever = good_claims();
    forever["exp"] = json!(1e30);
    let mut long = good_claims();
    long["iat"] = json!(NOW);
    long["exp"] = json!(NOW + 3601);
    let cases: Vec<(String, Vec<&str>, &str)> = vec![
        (tampered, vec![], "token_signature_invalid"),
        (token(expired, "k1"), vec![], "token_expired"),
        (token(other_aud, "k1"), vec![], "token_audience_mismatch"),
        (token(good_claims(), "nope"), vec![], "token_key_unknown"),
        (
            good.clone(),
            vec!["--alg", "RS256"],
            "token_algorithm_refused",
        ),
        (
            "eyJhbGciOiJub25lIn0.e30.".to_string(),
            vec![],
            "token_algorithm_refused",
        ),
        ("not-a-token".to_string(), vec![], "token_malformed"),
        (token(forever, "k1"), vec![], "token_lifetime_too_long"),
        (
            token(long.clone(), "k1"),
            vec!["--max-lifetime", "3600"],
            "token_lifetime_too_long",
        ),
    ];
    for (t, extra, code) in cases {
        let out = verify(&t, &jwks, &extra);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(6), "{code}: {err}");
        assert!(err.contains(code), "{code}: {err}");
        assert!(
            !err.contains(&t) || t.len() < 12,
            "the token is never echoed"
        );
    }
    let out = verify(&good, &jwks, &["--alg", "HS256"]);
    assert_eq!(out.status.code(), Some(2));
    // Within the default cap (24 h) the same long token passes.
    let out = verify(&token(long, "k1"), &jwks, &[]);
    assert_eq!(out.status.code(), Some(0));
}

/// The checks the CLI once skipped and the gateway always made: `sub`/`jti` safe as origin header
/// values, and the issuer found before its algorithm allowlist is asked.
#[test]
fn the_cli_refuses_what_the_gateway_refuses() {
    // Its own directory: the other tests rewrite tmp()/jwks.json while this one reads it.
    let dir = tmp().join("parity");
    std::fs::create_dir_all(&dir).unwrap();
    let jwks = jwks_file(&dir);
    let mut crlf = good_claims();
    crlf["jti"] = json!("j\r\nx-user-id: admin");
    let mut accented = good_claims();
    accented["sub"] = json!("alic\u{e9}");
    let mut foreign = good_claims();
    foreign["iss"] = json!("https://other.example");
    let cases: Vec<(String, Vec<&str>, &str)> = vec![
        (token(crlf, "k1"), vec![], "token_claim_invalid"),
        (token(accented, "k1"), vec![], "token_claim_invalid"),
        (
            token(foreign, "k1"),
            vec!["--alg", "RS256"],
            "token_issuer_unknown",
        ),
    ];
    for (t, extra, code) in cases {
        let out = verify(&t, &jwks, &extra);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(6), "{code}: {err}");
        assert!(err.contains(code), "{code}: {err}");
    }
}
