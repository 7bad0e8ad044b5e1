//! Issue 13 through the whole pipeline natively: mTLS identities from the registry, certificate-
//! and DPoP-bound tokens (the binding held on verified-token cache hits too), DPoP proofs signed
//! here with a P-256 key and checked by the pure-Rust verifier.

use super::*;
use crate::mtls::{ClientCertificate, TlsClientAuth};

const FP: &str = "af363dc85bc942a892d3cee9796190fdb36d89cd588a4f1cb17c74a943439714";
const OTHER_FP: &str = "0000000000000000000000000000000000000000000000000000000000000001";

fn machine_gateway() -> Gateway<crate::jose::jwk::Jwk> {
    gateway(json!({
        "dpop": { "enabled": true },
        "routes": [
            { "name": "machine", "methods": ["GET"], "path": "/machine/*", "auth": ["mtls"], "scopes": ["invoices:read"] },
            { "name": "bound", "methods": ["GET"], "path": "/bound/*", "auth": ["jwt"], "binding": "required" },
            { "name": "read", "methods": ["GET"], "path": "/api/*", "auth": ["jwt"], "scopes": ["read"] }
        ]
    }))
}

fn cert(fp: &str) -> ClientCertificate {
    ClientCertificate::Reported(TlsClientAuth {
        cert_presented: "1".into(),
        cert_verified: "SUCCESS".into(),
        cert_revoked: "0".into(),
        cert_fingerprint_sha256: fp.into(),
        cert_subject_dn_rfc2253: "CN=billing".into(),
        cert_subject_dn: String::new(),
        cert_not_before: "Jan  1 00:00:00 2020 GMT".into(),
        cert_not_after: "Jan  1 00:00:00 2040 GMT".into(),
    })
}

fn run_with(
    gw: &Gateway<crate::jose::jwk::Jwk>,
    p: &FakePlatform,
    r: &RequestHead,
    c: &ClientCertificate,
) -> Outcome {
    block_on(gw.handle_with_certificate(p, r, c)).outcome
}

fn register(p: &FakePlatform, fp: &str) {
    p.kv.borrow_mut().insert(
        format!("cert:{fp}"),
        (
            json!({"fingerprint": fp, "client_id": "billing", "scopes": ["invoices:read"], "created_at": 1})
                .to_string(),
            None,
        ),
    );
}

#[test]
fn a_registered_certificate_is_an_mtls_identity() {
    let issuer = Issuer::new();
    let gw = machine_gateway();
    let p = platform(&issuer, None);
    register(&p, FP);
    let o = run_with(
        &gw,
        &p,
        &req("GET", "/machine/x", &[]),
        &cert(&FP.to_uppercase()),
    );
    assert_eq!(header(&o, "x-auth-method"), Some("mtls"));
    assert_eq!(header(&o, "x-client-id"), Some("billing"));
    assert_eq!(header(&o, "x-client-cert-fingerprint"), Some(FP));
    assert_eq!(header(&o, "x-client-cert-subject"), Some("CN=billing"));
    let code =
        |c: &ClientCertificate| code_of(&run_with(&gw, &p, &req("GET", "/machine/x", &[]), c));
    assert_eq!(
        code(&ClientCertificate::Unknown),
        (401, "client_cert_missing".into())
    );
    assert_eq!(code(&cert(OTHER_FP)), (403, "client_cert_unknown".into()));
    p.kv_down.set(true);
    assert_eq!(
        code(&cert(FP)),
        (503, "credential_store_unavailable".into())
    );
}

#[test]
fn a_certificate_bound_token_is_held_to_its_certificate_on_every_request() {
    let issuer = Issuer::new();
    let gw = machine_gateway();
    let p = platform(&issuer, None);
    let x5t = URL_SAFE_NO_PAD.encode(
        (0..32)
            .map(|i| u8::from_str_radix(&FP[2 * i..2 * i + 2], 16).unwrap())
            .collect::<Vec<_>>(),
    );
    let t = issuer.token("ES256", "es-1", json!({ "cnf": { "x5t#S256": x5t } }));
    let auth = bearer(&t);
    let r = req("GET", "/api/x", &[("authorization", &auth)]);
    assert!(matches!(
        run_with(&gw, &p, &r, &cert(FP)),
        Outcome::Forward(_)
    ));
    // The second request is a verified-token cache hit: the binding is checked all the same.
    assert_eq!(
        code_of(&run_with(&gw, &p, &r, &cert(OTHER_FP))),
        (401, "token_binding_mismatch".into())
    );
    assert_eq!(
        code_of(&run_with(&gw, &p, &r, &ClientCertificate::Unknown)),
        (401, "token_binding_mismatch".into())
    );
    assert_eq!(p.verifies.get(), 1, "one signature check, then cache hits");
}

#[test]
fn a_dpop_bound_token_as_bearer_and_an_unbound_token_on_a_binding_route() {
    let issuer = Issuer::new();
    let gw = machine_gateway();
    let p = platform(&issuer, None);
    let bound = issuer.token(
        "ES256",
        "es-1",
        json!({ "cnf": { "jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" } }),
    );
    let o = run(
        &gw,
        &p,
        &req("GET", "/api/x", &[("authorization", &bearer(&bound))]),
    );
    assert_eq!(code_of(&o), (401, "token_bound_as_bearer".into()));
    let challenge = header(&o, "www-authenticate").unwrap();
    assert!(
        challenge.contains("DPoP algs=\"ES256 EdDSA\", error=\"invalid_token\""),
        "{challenge}"
    );
    let plain = issuer.token("ES256", "es-1", json!({}));
    let o = run(
        &gw,
        &p,
        &req("GET", "/bound/x", &[("authorization", &bearer(&plain))]),
    );
    assert_eq!(code_of(&o), (401, "token_binding_required".into()));
}

/// A DPoP proof for `htm` `htu`, signed with `key` (its public JWK embedded), bound to `token`.
fn proof(key: &p256::ecdsa::SigningKey, htm: &str, htu: &str, token: &str, jti: &str) -> String {
    let point = key.verifying_key().to_encoded_point(false);
    let jwk = json!({
        "kty": "EC", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
        "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
    });
    let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk });
    let claims = json!({
        "jti": jti, "htm": htm, "htu": htu, "iat": NOW,
        "ath": crate::dpop::proof::access_token_hash(token),
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig: p256::ecdsa::Signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

fn jkt_of(key: &p256::ecdsa::SigningKey) -> String {
    let point = key.verifying_key().to_encoded_point(false);
    let jwk = json!({
        "kty": "EC", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
        "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
    });
    crate::jose::jwk::parse_jwk(&jwk).unwrap().thumbprint()
}

#[test]
fn dpop_proofs_through_the_pipeline() {
    let issuer = Issuer::new();
    let gw = machine_gateway();
    let p = platform(&issuer, None);
    let holder = p256::ecdsa::SigningKey::from_bytes(&[3u8; 32].into()).unwrap();
    let thief = p256::ecdsa::SigningKey::from_bytes(&[4u8; 32].into()).unwrap();
    let token = issuer.token(
        "ES256",
        "es-1",
        json!({ "cnf": { "jkt": jkt_of(&holder) } }),
    );
    let auth = format!("DPoP {token}");
    let htu = "https://gw.example/api/x";
    let send = |dpop: &str| {
        run(
            &gw,
            &p,
            &req("GET", "/api/x", &[("authorization", &auth), ("dpop", dpop)]),
        )
    };
    let good = proof(&holder, "GET", htu, &token, "p1");
    let o = send(&good);
    assert!(matches!(o, Outcome::Forward(_)), "{o:?}");
    assert_eq!(header(&o, "x-user-id"), Some("alice"));
    assert_eq!(code_of(&send(&good)), (401, "dpop_proof_replayed".into()));
    assert_eq!(
        code_of(&send(&proof(&thief, "GET", htu, &token, "p2"))),
        (401, "token_binding_mismatch".into())
    );
    assert_eq!(
        code_of(&send(&proof(&holder, "POST", htu, &token, "p3"))),
        (401, "dpop_method_mismatch".into())
    );
    assert_eq!(
        code_of(&send(&proof(
            &holder,
            "GET",
            "https://gw.example/api/y",
            &token,
            "p4"
        ))),
        (401, "dpop_url_mismatch".into())
    );
    assert_eq!(
        code_of(&send(&proof(&holder, "GET", htu, "other", "p5"))),
        (401, "dpop_ath_mismatch".into())
    );
    // The request without the proof: the proof is missing, the challenge says so.
    let o = run(&gw, &p, &req("GET", "/api/x", &[("authorization", &auth)]));
    assert_eq!(code_of(&o), (401, "dpop_proof_missing".into()));
    assert!(header(&o, "www-authenticate")
        .unwrap()
        .contains("error=\"invalid_dpop_proof\""));
    // The proof header never reaches the origin.
    let o = send(&proof(&holder, "GET", htu, &token, "p6"));
    match o {
        Outcome::Forward(plan) => assert!(plan.strip.contains(&"dpop".to_string())),
        other => panic!("{other:?}"),
    }
}

/// `request.cf` is read only when a check needs the certificate: an unbound token on a `jwt` route
/// never reads it, a certificate-bound token and an `mtls` route read it once.
#[test]
fn the_certificate_is_read_only_when_a_check_needs_it() {
    use crate::mtls::LazyCertificate;
    use std::cell::Cell;
    let issuer = Issuer::new();
    let gw = machine_gateway();
    let p = platform(&issuer, None);
    register(&p, FP);
    let reads = Cell::new(0);
    let read = || {
        reads.set(reads.get() + 1);
        cert(FP)
    };
    let run = |r: &RequestHead| {
        reads.set(0);
        let lazy = LazyCertificate::new(&read);
        let id = RequestId::assign(None, |b| b.fill(7));
        let o = block_on(gw.handle_as_with_certificate(&p, r, id, &lazy)).outcome;
        (o, reads.get())
    };
    let plain = bearer(&issuer.token("ES256", "es-1", json!({})));
    let (o, n) = run(&req("GET", "/api/x", &[("authorization", &plain)]));
    assert!(matches!(o, Outcome::Forward(_)));
    assert_eq!(n, 0, "an unbound token does not read the certificate");

    let x5t = URL_SAFE_NO_PAD.encode(
        (0..32)
            .map(|i| u8::from_str_radix(&FP[2 * i..2 * i + 2], 16).unwrap())
            .collect::<Vec<_>>(),
    );
    let bound = bearer(&issuer.token("ES256", "es-1", json!({ "cnf": { "x5t#S256": x5t } })));
    let (o, n) = run(&req("GET", "/api/x", &[("authorization", &bound)]));
    assert!(matches!(o, Outcome::Forward(_)));
    assert_eq!(n, 1, "a certificate-bound token reads it once");

    let (o, n) = run(&req("GET", "/machine/x", &[]));
    assert_eq!(header(&o, "x-client-id"), Some("billing"));
    assert_eq!(n, 1, "an mtls route reads it once");
}
