use base64::Engine as _;
use serde_json::Value;

use super::*;
use crate::jose::jws::B64URL;
use crate::testing::{block_on, FakePlatform};
use crate::webauthn::client_data::{check_origin, parse_client_data, Ceremony};
use crate::webauthn::cose::parse_cose_key;
use crate::webauthn::test_authenticator::{sha256, Authenticator};

const RP: &str = "app.example";
const ORIGIN: &str = "https://app.example";

fn policy() -> Policy {
    Policy {
        rp_id_hash: sha256(RP.as_bytes()),
        user_verification_required: true,
        algorithms: CoseAlg::ALL.to_vec(),
    }
}

fn register(a: &Authenticator, packed: bool) -> Result<NewCredential, PasskeyError> {
    let p = FakePlatform::new(1_700_000_000);
    let (cd, object) = a.register(&[5; 32], ORIGIN, packed);
    block_on(verify_registration(&p, &policy(), &cd, &object))
}

#[test]
fn every_algorithm_registers_and_asserts_with_none_and_packed_self_attestation() {
    for alg in CoseAlg::ALL {
        for packed in [false, true] {
            let mut a = Authenticator::new(*alg, RP);
            let c =
                register(&a, packed).unwrap_or_else(|e| panic!("{alg:?} packed={packed}: {e:?}"));
            assert_eq!(c.id, a.credential_id);
            assert_eq!(c.key.alg, *alg);
            assert_eq!(c.attestation, if packed { "packed" } else { "none" });
            let p = FakePlatform::new(1_700_000_000);
            let (cd, data, sig) = a.assert(&[6; 32], ORIGIN);
            let verified =
                block_on(verify_assertion(&p, &policy(), &c.key, &cd, &data, &sig)).unwrap();
            assert!(verified.has(flags::UV));
        }
    }
}

#[test]
fn a_tampered_signature_or_message_is_refused() {
    for alg in CoseAlg::ALL {
        let mut a = Authenticator::new(*alg, RP);
        let key = register(&a, false).unwrap().key;
        let p = FakePlatform::new(1_700_000_000);
        let (cd, data, sig) = a.assert(&[6; 32], ORIGIN);
        let mut bad_sig = sig.clone();
        let last = bad_sig.len() - 2;
        bad_sig[last] ^= 1;
        assert_eq!(
            block_on(verify_assertion(&p, &policy(), &key, &cd, &data, &bad_sig)).unwrap_err(),
            PasskeyError::SignatureInvalid,
            "{alg:?}"
        );
        // The client data (origin, challenge) is covered by the signature through its hash.
        let other_cd =
            crate::webauthn::test_authenticator::client_data("webauthn.get", &[7; 32], ORIGIN);
        assert_eq!(
            block_on(verify_assertion(
                &p,
                &policy(),
                &key,
                &other_cd,
                &data,
                &sig
            ))
            .unwrap_err(),
            PasskeyError::SignatureInvalid
        );
        // The flags and counter are covered too.
        let mut data2 = data.clone();
        data2[36] ^= 1;
        assert_eq!(
            block_on(verify_assertion(&p, &policy(), &key, &cd, &data2, &sig)).unwrap_err(),
            PasskeyError::SignatureInvalid
        );
        // Another credential's key.
        let other = Authenticator {
            key: crate::webauthn::test_authenticator::TestKey::new(*alg, 9),
            ..Authenticator::new(*alg, RP)
        };
        if *alg != CoseAlg::RS256 {
            let other_key = register(&other, false).unwrap().key;
            assert_eq!(
                block_on(verify_assertion(
                    &p,
                    &policy(),
                    &other_key,
                    &cd,
                    &data,
                    &sig
                ))
                .unwrap_err(),
                PasskeyError::SignatureInvalid
            );
        }
    }
}

#[test]
fn a_packed_self_attestation_must_verify_with_its_own_algorithm() {
    let a = Authenticator::new(CoseAlg::ES256, RP);
    let p = FakePlatform::new(1_700_000_000);
    let (cd, object) = a.register(&[5; 32], ORIGIN, true);
    // The client data hash is signed: another clientDataJSON breaks the statement.
    let other =
        crate::webauthn::test_authenticator::client_data("webauthn.create", &[6; 32], ORIGIN);
    assert_eq!(
        block_on(verify_registration(&p, &policy(), &other, &object)),
        Err(PasskeyError::AttestationInvalid)
    );
    // A statement claiming another algorithm than the key's.
    let needle = [0x63, b'a', b'l', b'g', 0x26]; // "alg": -7
    let at = object.windows(5).position(|w| w == needle).unwrap();
    let mut wrong_alg = object.clone();
    wrong_alg[at + 4] = 0x27; // -8
    assert_eq!(
        block_on(verify_registration(&p, &policy(), &cd, &wrong_alg)),
        Err(PasskeyError::AttestationInvalid)
    );
}

#[test]
fn wrong_rp_id_missing_flags_and_algorithms_are_refused() {
    let p = FakePlatform::new(1_700_000_000);
    // An authenticator that scoped the credential to another RP ID.
    let other_rp = Authenticator::new(CoseAlg::ES256, "evil.example");
    assert_eq!(register(&other_rp, false), Err(PasskeyError::RpIdMismatch));
    // UP missing; UV missing when required, accepted when preferred.
    let mut no_up = Authenticator::new(CoseAlg::ES256, RP);
    no_up.flags = flags::UV;
    assert_eq!(
        register(&no_up, false),
        Err(PasskeyError::UserPresenceMissing)
    );
    let mut no_uv = Authenticator::new(CoseAlg::ES256, RP);
    no_uv.flags = flags::UP;
    assert_eq!(
        register(&no_uv, false),
        Err(PasskeyError::UserVerificationMissing)
    );
    let preferred = Policy {
        user_verification_required: false,
        ..policy()
    };
    let (cd, object) = no_uv.register(&[5; 32], ORIGIN, false);
    assert!(block_on(verify_registration(&p, &preferred, &cd, &object)).is_ok());
    // The same for an assertion.
    let mut a = Authenticator::new(CoseAlg::ES256, RP);
    let key = register(&a, false).unwrap().key;
    a.flags = flags::UP;
    let (cd, data, sig) = a.assert(&[1; 32], ORIGIN);
    assert_eq!(
        block_on(verify_assertion(&p, &policy(), &key, &cd, &data, &sig)),
        Err(PasskeyError::UserVerificationMissing)
    );
    assert!(block_on(verify_assertion(&p, &preferred, &key, &cd, &data, &sig)).is_ok());
    let mut moved = Authenticator::new(CoseAlg::ES256, "evil.example");
    let (cd, data, sig) = moved.assert(&[1; 32], ORIGIN);
    assert_eq!(
        block_on(verify_assertion(&p, &policy(), &key, &cd, &data, &sig)),
        Err(PasskeyError::RpIdMismatch)
    );
    // An algorithm the configuration leaves out.
    let only_ed = Policy {
        algorithms: vec![CoseAlg::EdDSA],
        ..policy()
    };
    let (cd, object) = Authenticator::new(CoseAlg::ES256, RP).register(&[5; 32], ORIGIN, false);
    assert_eq!(
        block_on(verify_registration(&p, &only_ed, &cd, &object)),
        Err(PasskeyError::AlgorithmUnsupported)
    );
}

#[test]
fn an_off_curve_key_is_refused_at_registration() {
    // (x, y) not on P-256: the runtime would refuse the import, so registration refuses it.
    let cose = crate::webauthn::test_authenticator::cose_ec2(&[1; 32], &[2; 32]);
    let key = parse_cose_key(&cose, CoseAlg::ALL).unwrap();
    let p = FakePlatform::new(1_700_000_000);
    // FakePlatform imports whatever `supports` the algorithm; verification then fails closed.
    let (cd, data, sig) = Authenticator::new(CoseAlg::ES256, RP).assert(&[1; 32], ORIGIN);
    assert_eq!(
        block_on(verify_assertion(&p, &policy(), &key, &cd, &data, &sig)),
        Err(PasskeyError::SignatureInvalid)
    );
}

// ------------------------------------------------------------------ published vectors

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/passport-webauthn/passport-webauthn.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn b64(v: &Value) -> Vec<u8> {
    B64URL.decode(v.as_str().unwrap()).unwrap()
}

/// The P-256 key of an SPKI (`MFkw…`): its last 64 octets are x‖y.
fn spki_key(spki_b64: &str) -> CredentialKey {
    let der = base64::engine::general_purpose::STANDARD
        .decode(spki_b64)
        .unwrap();
    let xy = &der[der.len() - 64..];
    let cose = crate::webauthn::test_authenticator::cose_ec2(&xy[..32], &xy[32..]);
    parse_cose_key(&cose, CoseAlg::ALL).unwrap()
}

/// Real registrations and assertions (YubiKeys, Touch ID, Chrome on macOS) published with
/// passport-webauthn's tests, for RP ID `localhost` and origin `http://localhost:3000`.
#[test]
fn published_browser_and_security_key_responses() {
    let p = FakePlatform::new(1_700_000_000);
    let policy = Policy {
        rp_id_hash: sha256(b"localhost"),
        user_verification_required: false,
        algorithms: CoseAlg::ALL.to_vec(),
    };
    let allowed = vec!["http://localhost:3000".to_string()];
    let (mut registered, mut asserted, mut packed_self) = (0, 0, 0);
    for case in vectors()["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let cd = b64(&case["clientDataJSON"]);
        if !case["attestationObject"].is_null() {
            let parsed = parse_client_data(&cd, Ceremony::Create).unwrap();
            // The SafetyNet case (upstream spells it "SafteyNet") ran on https://webauthn.org.
            if !name.contains("SafteyNet") {
                check_origin(&parsed, &allowed, &[]).unwrap();
            }
            let result = block_on(verify_registration(
                &p,
                &policy,
                &cd,
                &b64(&case["attestationObject"]),
            ));
            // Touch ID signs its attestation with the credential key itself: packed
            // self-attestation, verified.
            let self_attested = name.contains("Touch ID with attestation in packed format");
            if name.contains("no attestation") || name.contains("in none format") || self_attested {
                let c = result.unwrap_or_else(|e| panic!("{name}: {e:?}"));
                assert_eq!(c.attestation, if self_attested { "packed" } else { "none" });
                packed_self += usize::from(self_attested);
                assert_eq!(c.id, b64(&case["rawId"]), "{name}");
                // The key the upstream test expects, as a JWK.
                assert_eq!(
                    c.key,
                    spki_key(case["publicKeySpkiBase64"].as_str().unwrap()),
                    "{name}"
                );
                registered += 1;
            } else {
                // fido-u2f, packed with a certificate chain, android-safetynet: trust chains are
                // not verified, so refused.
                assert_eq!(result, Err(PasskeyError::AttestationUnsupported), "{name}");
            }
        } else {
            let parsed = parse_client_data(&cd, Ceremony::Get).unwrap();
            let key = spki_key(case["publicKeySpkiBase64"].as_str().unwrap());
            let result = block_on(verify_assertion(
                &p,
                &policy,
                &key,
                &cd,
                &b64(&case["authenticatorData"]),
                &b64(&case["signature"]),
            ));
            if name.contains("origin does not match") {
                // Upstream's server runs on :3999 there; the browser signed for :3000.
                let server = vec!["http://localhost:3999".to_string()];
                assert_eq!(
                    check_origin(&parsed, &server, &[]),
                    Err(PasskeyError::OriginRefused),
                    "{name}"
                );
            } else if name.contains("signature is invalid") {
                assert_eq!(
                    result.map(|_| ()),
                    Err(PasskeyError::SignatureInvalid),
                    "{name}"
                );
            } else {
                check_origin(&parsed, &allowed, &[]).unwrap();
                result.unwrap_or_else(|e| panic!("{name}: {e:?}"));
                asserted += 1;
            }
        }
    }
    assert!(
        registered >= 6 && asserted >= 6,
        "{registered} registrations, {asserted} assertions"
    );
    assert_eq!(packed_self, 1);
}

/// Wycheproof's ECDSA P-256/SHA-256 vectors in DER: every valid signature converts and verifies,
/// every invalid one (BER encodings, wrong lengths, modified values) fails.
#[test]
fn wycheproof_der_ecdsa_vectors() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/wycheproof/ecdsa_secp256r1_sha256_test.json"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let hex = |s: &str| {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>()
    };
    let p = FakePlatform::new(1_700_000_000);
    let mut checked = 0;
    for group in v["testGroups"].as_array().unwrap() {
        let point = hex(group["publicKey"]["uncompressed"].as_str().unwrap());
        let cose = crate::webauthn::test_authenticator::cose_ec2(&point[1..33], &point[33..65]);
        let key = parse_cose_key(&cose, CoseAlg::ALL).unwrap();
        for t in group["tests"].as_array().unwrap() {
            let msg = hex(t["msg"].as_str().unwrap());
            let sig = hex(t["sig"].as_str().unwrap());
            let ok = block_on(async {
                let k = p.import_key(&key.jwk, key.alg.jose()).await.unwrap();
                check_signature(&p, &k, CoseAlg::ES256, &msg, &sig).await
            });
            match t["result"].as_str().unwrap() {
                "valid" => assert!(ok, "tcId {}", t["tcId"]),
                "invalid" => assert!(!ok, "tcId {}", t["tcId"]),
                _ => {}
            }
            checked += 1;
        }
    }
    assert!(checked > 400, "{checked}");
}
