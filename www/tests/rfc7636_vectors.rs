//! RFC 7636 Appendix A and B, read from the repository's vendored vectors (`tests/vectors/`).

use std::path::PathBuf;

use portcullis_pkce::encoding::base64url;
use portcullis_pkce::pkce::{check_challenge, CodeVerifier};
use portcullis_pkce::{AuthorizationRequest, TokenRequest};
use serde_json::Value;

fn vectors() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/rfc7636_pkce.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "RFC 7636 vectors missing at {} ({e}); see tests/vectors/README.md",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("vector file is JSON")
}

fn octets(v: &Value) -> Vec<u8> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|n| u8::try_from(n.as_u64().unwrap()).unwrap())
        .collect()
}

#[test]
fn appendix_a_base64url() {
    let v = vectors();
    let a = &v["base64url_example_appendix_a"];
    assert_eq!(
        base64url(&octets(&a["octets"])),
        a["base64url"].as_str().unwrap()
    );
}

#[test]
fn appendix_b_s256() {
    let v = vectors();
    let b = &v["s256_example_appendix_b"];
    let verifier = CodeVerifier::from_entropy(&octets(&b["code_verifier_octets"]));
    assert_eq!(verifier.as_str(), b["code_verifier"].as_str().unwrap());
    // A verifier from 32 octets passes the RFC 7636 §4.1 checks.
    assert_eq!(CodeVerifier::parse(verifier.as_str()).unwrap(), verifier);
    let challenge = verifier.challenge_s256();
    assert_eq!(challenge, b["code_challenge"].as_str().unwrap());
    assert_eq!(
        sha2_digest(verifier.as_str()),
        octets(&b["sha256_of_ascii_code_verifier_octets"]),
    );
    check_challenge(&challenge).unwrap();
    assert_eq!(b["code_challenge_method"], "S256");
}

fn sha2_digest(s: &str) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(s.as_bytes()).to_vec()
}

#[test]
fn appendix_b_request_parameters() {
    let v = vectors();
    let b = &v["s256_example_appendix_b"];
    let url = AuthorizationRequest {
        authorization_endpoint: "https://server.example.com/authorize",
        client_id: "s6BhdRkqt3",
        redirect_uri: "https://client.example.com/cb",
        scope: "openid",
        state: "af0ifjsldkj-af0ifjsldkj-af0ifjsldkj",
        nonce: "n-0S6_WzA2Mj-n-0S6_WzA2Mj-n-0S6_WzA2Mj",
        code_challenge: b["code_challenge"].as_str().unwrap(),
        resources: &[],
        extra: &[],
    }
    .to_url()
    .unwrap();
    let params = b["authorization_request_params"].as_str().unwrap();
    assert!(
        url.ends_with(&format!("&{params}")),
        "{url} should end with {params}"
    );

    let verifier = CodeVerifier::parse(b["code_verifier"].as_str().unwrap()).unwrap();
    let body = TokenRequest {
        token_endpoint: "https://server.example.com/token",
        client_id: "s6BhdRkqt3",
        redirect_uri: "https://client.example.com/cb",
        code: "SplxlOBeZQQYbYS6WxSbIA",
        code_verifier: &verifier,
        resources: &[],
    }
    .body()
    .unwrap();
    let param = b["token_request_param"].as_str().unwrap();
    assert!(
        body.split('&').any(|p| p == param),
        "{body} should contain {param}"
    );
}
