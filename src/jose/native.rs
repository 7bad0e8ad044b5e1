//! Pure-Rust JWS signature verification, for native builds only: tests, the CLI, and differential
//! testing against WebCrypto in workerd. In the worker, WebCrypto verifies (it is ~20–50x faster
//! than Rust compiled to wasm), so this module must give exactly WebCrypto's (BoringSSL's) verdict.
//! Where the algorithms leave room — RSA signature length, PSS salt length, `s >= n`, Ed25519
//! canonicity — the choice below is BoringSSL's, and the Wycheproof vectors pin it down.

use super::jwk::{is_accepted_rsa_exponent, Jwk, PublicKey, RSA_MAX_BITS, RSA_MIN_BITS};
use super::Alg;
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// The PSS salt length WebCrypto is asked for with PS256 (RFC 7518 §3.5: salt = hash size).
const PS256_SALT_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeVerifyError {
    /// The key cannot verify this algorithm (`Jwk::supports` is false).
    KeyAlgorithmMismatch,
    /// The key material is not a valid public key (an EC point off the curve, a bad Ed25519 point,
    /// an RSA key the `rsa` crate refuses).
    InvalidKey,
    /// The signature does not verify.
    BadSignature,
}

impl std::fmt::Display for NativeVerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NativeVerifyError::KeyAlgorithmMismatch => "the key cannot verify this algorithm",
            NativeVerifyError::InvalidKey => "the key is not a valid public key",
            NativeVerifyError::BadSignature => "the signature does not verify",
        })
    }
}

impl std::error::Error for NativeVerifyError {}

/// Verifies a JWS signature over `signing_input` with `jwk` for `alg`.
pub fn verify(
    jwk: &Jwk,
    alg: Alg,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), NativeVerifyError> {
    if !jwk.supports(alg) {
        return Err(NativeVerifyError::KeyAlgorithmMismatch);
    }
    match (&jwk.key, alg) {
        (PublicKey::Rsa { n, e }, Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256) => {
            verify_rsa(n, e, alg, signing_input, signature)
        }
        (PublicKey::EcP256 { x, y }, Alg::ES256) => verify_es256(x, y, signing_input, signature),
        (PublicKey::Ed25519 { x }, Alg::EdDSA | Alg::Ed25519) => {
            verify_ed25519(x, signing_input, signature)
        }
        // `supports` already refused every other pairing.
        _ => Err(NativeVerifyError::KeyAlgorithmMismatch),
    }
}

/// Whether the worker's runtime imports `jwk` as a verification key for `alg`
/// (`crypto.subtle.importKey`): the gateway's JWKS cache drops a key whose import fails, so a
/// token that only such a key could verify is `token_key_unknown` there, not
/// `token_signature_invalid`. workerd refuses a P-256 point off the curve; it imports any 32-byte
/// Ed25519 key (the point is only decoded when verifying); RSA keys are held to `parse_jwk`'s
/// policy before either side sees them.
pub fn importable(jwk: &Jwk, alg: Alg) -> bool {
    match (&jwk.key, alg) {
        (PublicKey::EcP256 { x, y }, Alg::ES256) => ec_p256_key(x, y).is_ok(),
        _ => true,
    }
}

fn verify_rsa(
    n: &[u8],
    e: &[u8],
    alg: Alg,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), NativeVerifyError> {
    // `parse_jwk` enforces the key policy, but `Jwk` can be built by hand: apply it again so this
    // verifier never accepts a key WebCrypto (or the policy) would refuse.
    let n = BigUint::from_bytes_be(n);
    let e = BigUint::from_bytes_be(e);
    if n.bits() < RSA_MIN_BITS || !is_accepted_rsa_exponent(&e.to_bytes_be()) {
        return Err(NativeVerifyError::InvalidKey);
    }
    let key = RsaPublicKey::new_with_max_size(n, e, RSA_MAX_BITS)
        .map_err(|_| NativeVerifyError::InvalidKey)?;

    // RFC 8017 §8.2.2 / §8.1.2 step 1: the signature is exactly k octets. BoringSSL enforces it;
    // the `rsa` crate does too, but say so here rather than rely on it.
    if signature.len() != rsa::traits::PublicKeyParts::size(&key) {
        return Err(NativeVerifyError::BadSignature);
    }
    // RSAVP1 requires s < n. The crate's PSS path (unlike its PKCS#1 path) does not check it, and
    // s + n would otherwise verify like s.
    if BigUint::from_bytes_be(signature) >= *rsa::traits::PublicKeyParts::n(&key) {
        return Err(NativeVerifyError::BadSignature);
    }

    let result = match alg {
        Alg::RS256 => key.verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(signing_input),
            signature,
        ),
        Alg::RS384 => key.verify(
            Pkcs1v15Sign::new::<Sha384>(),
            &Sha384::digest(signing_input),
            signature,
        ),
        Alg::RS512 => key.verify(
            Pkcs1v15Sign::new::<Sha512>(),
            &Sha512::digest(signing_input),
            signature,
        ),
        // MGF1 uses the same hash (Pss::new_with_salt sets both), and the salt length is checked
        // exactly, as WebCrypto's `saltLength: 32` does.
        Alg::PS256 => key.verify(
            Pss::new_with_salt::<Sha256>(PS256_SALT_LEN),
            &Sha256::digest(signing_input),
            signature,
        ),
        Alg::ES256 | Alg::EdDSA | Alg::Ed25519 => {
            return Err(NativeVerifyError::KeyAlgorithmMismatch)
        }
    };
    result.map_err(|_| NativeVerifyError::BadSignature)
}

fn verify_es256(
    x: &[u8; 32],
    y: &[u8; 32],
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), NativeVerifyError> {
    use p256::ecdsa::signature::Verifier as _;
    use p256::ecdsa::Signature;

    let key = ec_p256_key(x, y)?;
    // JWS ES256 signatures are the 64-octet R||S (P1363), never DER. `from_slice` also refuses
    // r or s equal to zero or not below the group order. High-S is accepted, as in BoringSSL.
    let sig = Signature::from_slice(signature).map_err(|_| NativeVerifyError::BadSignature)?;
    key.verify(signing_input, &sig)
        .map_err(|_| NativeVerifyError::BadSignature)
}

/// The uncompressed point as a key; refuses points off the curve and the identity, as WebCrypto's
/// import does.
fn ec_p256_key(x: &[u8; 32], y: &[u8; 32]) -> Result<p256::ecdsa::VerifyingKey, NativeVerifyError> {
    let mut sec1 = [0u8; 65];
    sec1[0] = 0x04;
    sec1[1..33].copy_from_slice(x);
    sec1[33..].copy_from_slice(y);
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| NativeVerifyError::InvalidKey)
}

fn verify_ed25519(
    x: &[u8; 32],
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), NativeVerifyError> {
    use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};

    let key = VerifyingKey::from_bytes(x).map_err(|_| NativeVerifyError::InvalidKey)?;
    let bytes: &[u8; 64] = signature
        .try_into()
        .map_err(|_| NativeVerifyError::BadSignature)?;
    let sig = Signature::from_bytes(bytes);
    // `verify` (not `verify_strict`) is BoringSSL's ED25519_verify: cofactorless, S must be below
    // the group order, R compared as encoded; small-order keys and R are not refused. The
    // Wycheproof suite passes either way; workerd accepts a small-order key that `verify_strict`
    // refuses (tests/jose_vectors.rs pins that case), so matching WebCrypto decides.
    key.verify(signing_input, &sig)
        .map_err(|_| NativeVerifyError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::jwk::parse_jwk;
    use crate::jose::jws::B64URL;
    use base64::Engine as _;
    use serde_json::json;

    // RFC 7515 A.2 (RS256) and A.3 (ES256), RFC 8037 A.4 (EdDSA): public keys and signatures.
    const A2_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
    const A2_INPUT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    const A2_SIG: &str = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
    const A3_INPUT: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    const A3_SIG: &str =
        "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    const ED_INPUT: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
    const ED_SIG: &str =
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

    fn rsa_key() -> Jwk {
        parse_jwk(&json!({"kty":"RSA","n":A2_N,"e":"AQAB"})).unwrap()
    }
    fn ec_key() -> Jwk {
        parse_jwk(&json!({"kty":"EC","crv":"P-256",
            "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}))
        .unwrap()
    }
    fn ed_key() -> Jwk {
        parse_jwk(&json!({"kty":"OKP","crv":"Ed25519",
            "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}))
        .unwrap()
    }
    fn d(s: &str) -> Vec<u8> {
        B64URL.decode(s).unwrap()
    }

    #[test]
    fn rfc_examples_verify() {
        assert_eq!(
            verify(&rsa_key(), Alg::RS256, A2_INPUT.as_bytes(), &d(A2_SIG)),
            Ok(())
        );
        assert_eq!(
            verify(&ec_key(), Alg::ES256, A3_INPUT.as_bytes(), &d(A3_SIG)),
            Ok(())
        );
        assert_eq!(
            verify(&ed_key(), Alg::EdDSA, ED_INPUT.as_bytes(), &d(ED_SIG)),
            Ok(())
        );
    }

    #[test]
    fn tampering_is_refused() {
        for (key, alg, input, sig) in examples() {
            let mut msg = input.as_bytes().to_vec();
            msg[5] ^= 1;
            assert_eq!(
                verify(&key, alg, &msg, &d(sig)),
                Err(NativeVerifyError::BadSignature),
                "{alg:?} message"
            );
            let mut s = d(sig);
            let last = s.len() - 1;
            s[last] ^= 1;
            assert_eq!(
                verify(&key, alg, input.as_bytes(), &s),
                Err(NativeVerifyError::BadSignature),
                "{alg:?} signature"
            );
            // Truncated, extended and empty signatures.
            let s = d(sig);
            for bad in [&s[..s.len() - 1], &[][..]] {
                assert_eq!(
                    verify(&key, alg, input.as_bytes(), bad),
                    Err(NativeVerifyError::BadSignature)
                );
            }
            let mut longer = s.clone();
            longer.push(0);
            assert_eq!(
                verify(&key, alg, input.as_bytes(), &longer),
                Err(NativeVerifyError::BadSignature)
            );
            let mut zero_prefixed = vec![0];
            zero_prefixed.extend_from_slice(&s);
            assert_eq!(
                verify(&key, alg, input.as_bytes(), &zero_prefixed),
                Err(NativeVerifyError::BadSignature)
            );
        }
    }

    fn examples() -> Vec<(Jwk, Alg, &'static str, &'static str)> {
        vec![
            (rsa_key(), Alg::RS256, A2_INPUT, A2_SIG),
            (ec_key(), Alg::ES256, A3_INPUT, A3_SIG),
            (ed_key(), Alg::EdDSA, ED_INPUT, ED_SIG),
        ]
    }

    // RFC 7515 A.2 private members, to sign fresh messages in the s + n test below.
    const A2_D: &str = "Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ";
    const A2_P: &str = "4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPGBY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc";
    const A2_Q: &str = "uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc";

    /// A fixed byte stream: PSS signing needs a salt source, and the test must be reproducible.
    struct FixedRng(u8);
    impl rsa::rand_core::RngCore for FixedRng {
        fn next_u32(&mut self) -> u32 {
            rsa::rand_core::impls::next_u32_via_fill(self)
        }
        fn next_u64(&mut self) -> u64 {
            rsa::rand_core::impls::next_u64_via_fill(self)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for b in dest {
                self.0 = self.0.wrapping_mul(31).wrapping_add(7);
                *b = self.0;
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }
    impl rsa::rand_core::CryptoRng for FixedRng {}

    #[test]
    fn rsa_signature_plus_modulus_is_refused() {
        // s + n has the same residue as s, so without the s < n check (RFC 8017 §5.2.2) it would
        // verify. It fits in k octets only when s < 2^2048 - n: search for such a signature.
        let big = |s: &str| BigUint::from_bytes_be(&d(s));
        let n = big(A2_N);
        let private = rsa::RsaPrivateKey::from_components(
            n.clone(),
            BigUint::from(65537u32),
            big(A2_D),
            vec![big(A2_P), big(A2_Q)],
        )
        .unwrap();
        let mut tested = [false; 2];
        for i in 0..64u32 {
            let msg = format!("message {i}");
            let hash = Sha256::digest(msg.as_bytes());
            let mut rng = FixedRng(i as u8);
            for (slot, alg) in [Alg::RS256, Alg::PS256].into_iter().enumerate() {
                let sig = match alg {
                    Alg::RS256 => private.sign(Pkcs1v15Sign::new::<Sha256>(), &hash),
                    _ => private.sign_with_rng(&mut rng, Pss::new_with_salt::<Sha256>(32), &hash),
                }
                .unwrap();
                assert_eq!(verify(&rsa_key(), alg, msg.as_bytes(), &sig), Ok(()));
                let unreduced = (BigUint::from_bytes_be(&sig) + &n).to_bytes_be();
                if unreduced.len() == 256 {
                    assert_eq!(
                        verify(&rsa_key(), alg, msg.as_bytes(), &unreduced),
                        Err(NativeVerifyError::BadSignature),
                        "{alg:?}"
                    );
                    tested[slot] = true;
                }
            }
            if tested == [true, true] {
                break;
            }
        }
        assert_eq!(tested, [true, true], "no signature small enough was found");
        // The modulus itself is never a valid signature.
        assert_eq!(
            verify(&rsa_key(), Alg::PS256, b"x", &n.to_bytes_be()),
            Err(NativeVerifyError::BadSignature)
        );
    }

    #[test]
    fn rs256_signature_does_not_verify_as_other_rsa_algs() {
        for alg in [Alg::RS384, Alg::RS512, Alg::PS256] {
            assert_eq!(
                verify(&rsa_key(), alg, A2_INPUT.as_bytes(), &d(A2_SIG)),
                Err(NativeVerifyError::BadSignature),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn key_algorithm_matrix() {
        let keys = [rsa_key(), ec_key(), ed_key()];
        for key in &keys {
            for &alg in Alg::ALL {
                let r = verify(key, alg, b"m", &[0u8; 64]);
                if key.supports(alg) {
                    assert_ne!(r, Err(NativeVerifyError::KeyAlgorithmMismatch));
                } else {
                    assert_eq!(r, Err(NativeVerifyError::KeyAlgorithmMismatch), "{alg:?}");
                }
            }
        }
        // The same RSA key pinned to PS256 no longer verifies its RS256 signature.
        let pinned = Jwk {
            alg: Some("PS256".into()),
            ..rsa_key()
        };
        assert_eq!(
            verify(&pinned, Alg::RS256, A2_INPUT.as_bytes(), &d(A2_SIG)),
            Err(NativeVerifyError::KeyAlgorithmMismatch)
        );
    }

    #[test]
    fn invalid_key_material() {
        // (x, y) not on P-256.
        let off_curve = Jwk {
            key: PublicKey::EcP256 {
                x: [1; 32],
                y: [2; 32],
            },
            ..ec_key()
        };
        assert_eq!(
            verify(&off_curve, Alg::ES256, A3_INPUT.as_bytes(), &d(A3_SIG)),
            Err(NativeVerifyError::InvalidKey)
        );
        // An Ed25519 encoding that is not a curve point (found by search rather than hard-coded).
        let bad_ed = (0u8..=255)
            .map(|b| {
                let mut x = [0xffu8; 32];
                x[0] = b;
                x
            })
            .find(|x| ed25519_dalek::VerifyingKey::from_bytes(x).is_err())
            .expect("some encoding is not a point");
        let k = Jwk {
            key: PublicKey::Ed25519 { x: bad_ed },
            ..ed_key()
        };
        assert_eq!(
            verify(&k, Alg::EdDSA, ED_INPUT.as_bytes(), &d(ED_SIG)),
            Err(NativeVerifyError::InvalidKey)
        );
        // An RSA key the rsa crate refuses (parse_jwk would have skipped this even modulus).
        let even = Jwk {
            key: PublicKey::Rsa {
                n: vec![0xfe; 256],
                e: vec![1, 0, 1],
            },
            ..rsa_key()
        };
        assert_eq!(
            verify(&even, Alg::RS256, b"m", &[1u8; 256]),
            Err(NativeVerifyError::InvalidKey)
        );
        // Hand-built keys outside the policy: e = 5, and a 1024-bit modulus.
        let mut n1024 = vec![0xffu8; 128];
        n1024[127] = 0xfd;
        for (n, e) in [(d(A2_N), vec![5u8]), (n1024, vec![1, 0, 1])] {
            let k = Jwk {
                key: PublicKey::Rsa { n, e },
                ..rsa_key()
            };
            assert_eq!(
                verify(&k, Alg::RS256, A2_INPUT.as_bytes(), &d(A2_SIG)),
                Err(NativeVerifyError::InvalidKey)
            );
        }
        for e in [
            NativeVerifyError::KeyAlgorithmMismatch,
            NativeVerifyError::InvalidKey,
            NativeVerifyError::BadSignature,
        ] {
            assert!(!e.to_string().is_empty());
        }
    }
}
