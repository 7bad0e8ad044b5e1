//! Native JOSE costs: signature verification per algorithm (pure Rust, as the CLI and tests run
//! it; the worker verifies with WebCrypto instead), and the per-request parsing work that does run
//! in the worker: `parse_compact` + `validate` on a realistic access token, and `parse_jwks`.
//!
//! Run: `cargo bench --bench verify` (add `-- --quick` for a short run). Keys and signatures are
//! the public test vectors vendored in tests/vectors/.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use p256::ecdsa::signature::Signer as _;
use portcullis::identity::{AuthMethod, Identity};
use portcullis::jose::claims::{self, ClaimsPolicy, ScopeSource, TypPolicy};
use portcullis::jose::jwk::{parse_jwk, parse_jwks, Jwk};
use portcullis::jose::jws::{parse_compact, DEFAULT_MAX_TOKEN_BYTES};
use portcullis::jose::{native, Alg};
use portcullis::token_cache::{token_hash, TokenCache};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The vendored copies (provenance in `tests/vectors/README.md`): a clone of the repository alone
/// runs every vector.
fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn load(rel: &str) -> Value {
    let path = vectors_dir().join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("vector file is JSON")
}

fn public_only(jwk: &Value) -> Value {
    let mut m = jwk.as_object().expect("JWK object").clone();
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        m.remove(private);
    }
    Value::Object(m)
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

struct Case {
    alg: Alg,
    jwk: Jwk,
    msg: Vec<u8>,
    sig: Vec<u8>,
}

fn rfc7515_case(section: &str, alg: Alg) -> Case {
    let doc = load("rfc7515_jws_examples.json");
    let ex = doc["examples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["section"] == format!("RFC 7515 Appendix {section}"))
        .expect("example");
    Case {
        alg,
        jwk: parse_jwk(&public_only(&ex["jwk"])).expect("usable key"),
        msg: ex["signing_input"].as_str().unwrap().as_bytes().to_vec(),
        sig: B64.decode(ex["signature_b64u"].as_str().unwrap()).unwrap(),
    }
}

fn cases() -> Vec<Case> {
    let pss = load("wycheproof/rsa_pss_2048_sha256_mgf1_32_test.json");
    let group = &pss["testGroups"][0];
    let valid = group["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["result"] == "valid")
        .expect("a valid PSS case");
    let ed = load("rfc8037_ed25519_jws.json");
    let cases = vec![
        rfc7515_case("A.2", Alg::RS256),
        Case {
            alg: Alg::PS256,
            jwk: parse_jwk(&group["publicKeyJwk"]).expect("usable key"),
            msg: hex(valid["msg"].as_str().unwrap()),
            sig: hex(valid["sig"].as_str().unwrap()),
        },
        rfc7515_case("A.3", Alg::ES256),
        Case {
            alg: Alg::EdDSA,
            jwk: parse_jwk(&ed["public_jwk_A2"]).expect("usable key"),
            msg: ed["jws_A4"]["signing_input"]
                .as_str()
                .unwrap()
                .as_bytes()
                .to_vec(),
            sig: B64
                .decode(ed["jws_A4"]["signature_b64u"].as_str().unwrap())
                .unwrap(),
        },
    ];
    for c in &cases {
        // A benchmark of a failing verification would measure the wrong path.
        assert_eq!(native::verify(&c.jwk, c.alg, &c.msg, &c.sig), Ok(()));
    }
    cases
}

const NOW: u64 = 1_750_000_000;

/// A realistic RFC 9068 access token (~0.9 KB), ES256-signed with the RFC 7515 A.3 key.
fn realistic_token() -> (String, Jwk) {
    let doc = load("rfc7515_jws_examples.json");
    let a3 = doc["examples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["section"] == "RFC 7515 Appendix A.3")
        .expect("A.3");
    let d = B64.decode(a3["jwk"]["d"].as_str().unwrap()).unwrap();
    let signing_key = p256::ecdsa::SigningKey::from_slice(&d).expect("P-256 scalar");
    let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": "2025-06-rotation-b"});
    let payload = json!({
        "iss": "https://auth.example.com/",
        "sub": "auth0|6650f1c2a8e4b3d2f1e0a9b8",
        "aud": ["https://api.example.com/orders", "https://auth.example.com/userinfo"],
        "client_id": "s6BhdRkqt3-portcullis-bench",
        "azp": "s6BhdRkqt3-portcullis-bench",
        "iat": NOW - 60,
        "nbf": NOW - 60,
        "exp": NOW + 3540,
        "jti": "4f9d6c3e-2b1a-4e8f-9c7d-6a5b4c3d2e1f",
        "scope": "openid profile email orders:read orders:write invoices:read",
        "auth_time": NOW - 600,
        "acr": "urn:mace:incommon:iap:silver",
        "amr": ["pwd", "otp"],
        "sid": "08a5019c-17e1-4977-8f42-65a12843ea02",
        "https://example.com/tenant": "acme-corp-eu-west-1",
        "https://example.com/roles": ["order-manager", "invoice-reader"],
    });
    let signing_input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(payload.to_string())
    );
    let sig: p256::ecdsa::Signature = signing_key.sign(signing_input.as_bytes());
    let token = format!("{signing_input}.{}", B64.encode(sig.to_bytes()));
    let jwk = parse_jwk(&public_only(&a3["jwk"])).expect("usable key");
    (token, jwk)
}

fn bench_native_verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("native_verify");
    for case in cases() {
        group.bench_function(case.alg.as_str(), |b| {
            b.iter(|| {
                native::verify(
                    black_box(&case.jwk),
                    case.alg,
                    black_box(&case.msg),
                    black_box(&case.sig),
                )
            })
        });
    }
    group.finish();
}

fn bench_token(c: &mut Criterion) {
    let (token, jwk) = realistic_token();
    let audiences = vec!["https://api.example.com/orders".to_string()];
    let scope = ScopeSource::Scope;
    let policy = ClaimsPolicy {
        issuer: "https://auth.example.com/",
        audiences: &audiences,
        leeway_secs: 60,
        typ: TypPolicy::Strict,
        scope_source: &scope,
    };
    // The benchmark must measure the success path.
    let jws = parse_compact(&token, DEFAULT_MAX_TOKEN_BYTES).expect("token parses");
    native::verify(
        &jwk,
        jws.header.alg,
        jws.signing_input.as_bytes(),
        &jws.signature,
    )
    .expect("token verifies");
    claims::validate(&jws.payload, jws.header.typ.as_deref(), &policy, NOW).expect("claims pass");

    let mut group = c.benchmark_group(format!("token_{}B", token.len()));
    group.bench_function("parse_compact", |b| {
        b.iter(|| parse_compact(black_box(&token), DEFAULT_MAX_TOKEN_BYTES))
    });
    group.bench_function("parse_compact+validate", |b| {
        b.iter(|| {
            let jws = parse_compact(black_box(&token), DEFAULT_MAX_TOKEN_BYTES).unwrap();
            claims::validate(&jws.payload, jws.header.typ.as_deref(), &policy, NOW)
        })
    });
    // What a verified-token cache hit costs: the parse, the SHA-256 of the token and the lookup
    // (the pipeline parses before it looks up, so a malformed token never reaches the cache).
    let mut cache = TokenCache::new(10_000);
    let identity = Identity {
        method: AuthMethod::Jwt,
        subject: "user".into(),
        issuer: Some("https://auth.example.com/".into()),
        scopes: vec!["read".into()],
        ..Identity::anonymous()
    };
    cache.insert(token_hash(&token), identity, u64::MAX);
    group.bench_function("cache_hit(parse+sha256+lookup)", |b| {
        b.iter(|| {
            let _jws = parse_compact(black_box(&token), DEFAULT_MAX_TOKEN_BYTES).unwrap();
            cache
                .get(&token_hash(black_box(&token)), NOW * 1000)
                .unwrap()
        })
    });
    group.bench_function("parse_compact+native_verify+validate", |b| {
        b.iter(|| {
            let jws = parse_compact(black_box(&token), DEFAULT_MAX_TOKEN_BYTES).unwrap();
            native::verify(
                &jwk,
                jws.header.alg,
                jws.signing_input.as_bytes(),
                &jws.signature,
            )
            .unwrap();
            claims::validate(&jws.payload, jws.header.typ.as_deref(), &policy, NOW)
        })
    });
    group.finish();
}

fn bench_jwks(c: &mut Criterion) {
    // A typical issuer set: two RSA keys (current and next), one EC key, one encryption key.
    let rsa = public_only(&load("jose-cookbook/jwk/3_3.rsa_public_key.json"));
    let ec = json!({"kty":"EC","crv":"P-256","kid":"ec-1","use":"sig",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
    let mut next = rsa.clone();
    next["kid"] = json!("next");
    let mut enc = rsa.clone();
    enc["use"] = json!("enc");
    let doc = serde_json::to_vec(&json!({"keys": [rsa, next, ec, enc]})).unwrap();
    let set = parse_jwks(&doc).unwrap();
    assert_eq!((set.keys.len(), set.skipped), (3, 1));
    c.bench_function("parse_jwks_4_keys", |b| {
        b.iter(|| parse_jwks(black_box(&doc)))
    });
}

criterion_group!(benches, bench_native_verify, bench_token, bench_jwks);
criterion_main!(benches);
