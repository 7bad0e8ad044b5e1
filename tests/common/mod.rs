//! Shared by the property tests (`tests/properties_*.rs`): the proptest configuration and the
//! vendored key material.
#![allow(dead_code)]

use proptest::test_runner::{Config, RngSeed};
use serde_json::Value;
use std::path::Path;

/// `cases` runs from a fixed seed, so CI sees the same inputs every time. `PROPTEST_CASES` and
/// `PROPTEST_RNG_SEED` (proptest's own variables) override both for a longer or different local
/// run, e.g. `PROPTEST_CASES=20000 cargo test --test properties_jose`.
pub fn config(cases: u32) -> Config {
    let mut c = Config {
        // A failing case is printed (shrunk) by the test itself; no regression files in the tree.
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = cases;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        c.rng_seed = RngSeed::Fixed(0x5EED_0FC0_FFEE);
    }
    c
}

pub fn load(rel: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn rfc7515_jwk(section: &str) -> Value {
    load("rfc7515_jws_examples.json")["examples"]
        .as_array()
        .expect("examples")
        .iter()
        .find(|e| e["section"] == format!("RFC 7515 Appendix {section}"))
        .expect("example present")["jwk"]
        .clone()
}

/// Private JWKs with real key material: RSA 2048 (RFC 7515 A.2), P-256 (RFC 7515 A.3), Ed25519
/// (RFC 8037 A.1).
pub fn rsa_private_jwk() -> Value {
    rfc7515_jwk("A.2")
}
pub fn ec_private_jwk() -> Value {
    rfc7515_jwk("A.3")
}
pub fn ed25519_private_jwk() -> Value {
    load("rfc8037_ed25519_jws.json")["private_jwk_A1"].clone()
}

/// The public members of a private JWK (what a JWKS publishes).
pub fn public_of(private: &Value) -> Value {
    let mut v = private.clone();
    let m = v.as_object_mut().expect("a JWK object");
    for name in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        m.remove(name);
    }
    v
}
