//! Signing in pure Rust (RustCrypto): the in-memory test platform's signer, the key-pair check the
//! CLI and the tests run on every parsed key, and key generation for `portcullis signing-keys`.
//! Native only: the worker signs through WebCrypto (`edge::crypto`).

use p256::elliptic_curve::sec1::ToEncodedPoint;
use rsa::rand_core::{CryptoRng, RngCore};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::BigUint;

use super::keys::{PrivateParts, SigningAlg, SigningKey};
use crate::jose::jwk::PublicKey;

/// A JWS signature over `input`: raw `r‖s` for ES256 (RFC 7518 §3.4), the 64-octet Ed25519
/// signature, the PKCS #1 v1.5 signature for RS256.
/// Like the worker, it refuses a key whose private half does not belong to its public half.
pub fn sign(key: &SigningKey, input: &[u8]) -> Result<Vec<u8>, String> {
    check_pair(key)?;
    match (key.private_parts(), &key.public_jwk().key) {
        (PrivateParts::EcP256 { d }, _) => {
            let sk = p256::ecdsa::SigningKey::from_bytes(&(*d).into())
                .map_err(|_| "the P-256 private key is not a valid scalar".to_string())?;
            let sig: p256::ecdsa::Signature = sk.sign(input);
            Ok(sig.to_bytes().to_vec())
        }
        (PrivateParts::Ed25519 { d }, _) => {
            use ed25519_dalek::Signer as _;
            Ok(ed25519_dalek::SigningKey::from_bytes(d)
                .sign(input)
                .to_bytes()
                .to_vec())
        }
        (PrivateParts::Rsa { .. }, _) => {
            let sk = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new(rsa_private(key)?);
            Ok(sk
                .try_sign(input)
                .map_err(|_| "RSA signing failed".to_string())?
                .to_vec())
        }
    }
}

fn rsa_private(key: &SigningKey) -> Result<rsa::RsaPrivateKey, String> {
    let (PublicKey::Rsa { n, e }, PrivateParts::Rsa { d, p, q, .. }) =
        (&key.public_jwk().key, key.private_parts())
    else {
        return Err("not an RSA key".into());
    };
    let int = |b: &[u8]| BigUint::from_bytes_be(b);
    rsa::RsaPrivateKey::from_components(int(n), int(e), int(d), vec![int(p), int(q)])
        .map_err(|_| "the RSA private members do not form a key".to_string())
}

/// The private half belongs to the public half: a key that would sign tokens its own JWKS cannot
/// verify is refused. The message never carries key material.
pub fn check_pair(key: &SigningKey) -> Result<(), String> {
    let mismatch = || "the private key does not match its public part (x/y, x or n/e)".to_string();
    match (key.private_parts(), &key.public_jwk().key) {
        (PrivateParts::EcP256 { d }, PublicKey::EcP256 { x, y }) => {
            let sk = p256::SecretKey::from_bytes(&(*d).into())
                .map_err(|_| "d is not a valid P-256 private scalar".to_string())?;
            let point = sk.public_key().to_encoded_point(false);
            let same = |c: Option<&p256::FieldBytes>, want: &[u8; 32]| {
                c.is_some_and(|v| v[..] == want[..])
            };
            if same(point.x(), x) && same(point.y(), y) {
                Ok(())
            } else {
                Err(mismatch())
            }
        }
        (PrivateParts::Ed25519 { d }, PublicKey::Ed25519 { x }) => {
            if ed25519_dalek::SigningKey::from_bytes(d)
                .verifying_key()
                .to_bytes()
                == *x
            {
                Ok(())
            } else {
                Err(mismatch())
            }
        }
        (PrivateParts::Rsa { d, dp, dq, qi, .. }, PublicKey::Rsa { .. }) => {
            let sk = rsa_private(key)?;
            sk.validate().map_err(|_| mismatch())?;
            // WebCrypto signs with the CRT members as given: they must agree with d, p and q.
            let [p, q] = [&sk.primes()[0], &sk.primes()[1]];
            let one = BigUint::from(1u8);
            let d = BigUint::from_bytes_be(d);
            let crt_ok = BigUint::from_bytes_be(dp) == &d % (p - &one)
                && BigUint::from_bytes_be(dq) == &d % (q - &one)
                && (BigUint::from_bytes_be(qi) * q) % p == one;
            if crt_ok && sk.n().bits() >= crate::jose::jwk::RSA_MIN_BITS {
                Ok(())
            } else {
                Err("the RSA CRT members (dp, dq, qi) do not match d, p and q".into())
            }
        }
        _ => Err(mismatch()),
    }
}

/// The operating system's CSPRNG as a `rand_core` generator (for RSA key generation).
struct OsRandom;

impl RngCore for OsRandom {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // No fallback: a key generated without the OS CSPRNG must not exist.
        getrandom::getrandom(dest).expect("the operating system's CSPRNG is unavailable");
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        getrandom::getrandom(dest).map_err(|e| rsa::rand_core::Error::from(e.code()))
    }
}

impl CryptoRng for OsRandom {}

/// RSA keys the CLI generates have this many bits.
pub const GENERATED_RSA_BITS: usize = 2048;

/// A new key from the OS CSPRNG. Its `kid` is `kid` or, when `None`, the RFC 7638 thumbprint of
/// its public key.
pub fn generate(alg: SigningAlg, kid: Option<String>) -> Result<SigningKey, String> {
    let mut rng = OsRandom;
    let (public, private) = match alg {
        SigningAlg::ES256 => {
            let sk = loop {
                let mut d = [0u8; 32];
                rng.try_fill_bytes(&mut d).map_err(|e| e.to_string())?;
                if let Ok(sk) = p256::SecretKey::from_bytes(&d.into()) {
                    break sk;
                }
            };
            let point = sk.public_key().to_encoded_point(false);
            let coord = |c: Option<&p256::FieldBytes>| -> Result<[u8; 32], String> {
                c.map(|v| {
                    let mut a = [0u8; 32];
                    a.copy_from_slice(v);
                    a
                })
                .ok_or_else(|| "the generated point is the identity".to_string())
            };
            (
                PublicKey::EcP256 {
                    x: coord(point.x())?,
                    y: coord(point.y())?,
                },
                PrivateParts::EcP256 {
                    d: sk.to_bytes().into(),
                },
            )
        }
        SigningAlg::EdDSA => {
            let mut d = [0u8; 32];
            rng.try_fill_bytes(&mut d).map_err(|e| e.to_string())?;
            let x = ed25519_dalek::SigningKey::from_bytes(&d)
                .verifying_key()
                .to_bytes();
            (PublicKey::Ed25519 { x }, PrivateParts::Ed25519 { d })
        }
        SigningAlg::RS256 => {
            let mut sk = rsa::RsaPrivateKey::new(&mut rng, GENERATED_RSA_BITS)
                .map_err(|e| format!("RSA key generation failed: {e}"))?;
            sk.precompute().map_err(|e| e.to_string())?;
            let be = |v: &BigUint| v.to_bytes_be();
            let [p, q] = [&sk.primes()[0], &sk.primes()[1]];
            let one = BigUint::from(1u8);
            let dp = sk.d() % (p - &one);
            let dq = sk.d() % (q - &one);
            // qi = q⁻¹ mod p, by Fermat (p is prime): q^(p−2) mod p.
            let qi = q.modpow(&(p - BigUint::from(2u8)), p);
            (
                PublicKey::Rsa {
                    n: be(sk.n()),
                    e: be(sk.e()),
                },
                PrivateParts::Rsa {
                    d: be(sk.d()),
                    p: be(p),
                    q: be(q),
                    dp: be(&dp),
                    dq: be(&dq),
                    qi: be(&qi),
                },
            )
        }
    };
    let provisional = SigningKey::from_parts(String::new(), alg, public.clone(), private.clone());
    let kid = kid.unwrap_or_else(|| provisional.public_jwk().thumbprint());
    let key = SigningKey::from_parts(kid, alg, public, private);
    check_pair(&key)?;
    Ok(key)
}

/// `check_pair` for every key of a set, each problem at the key's path (`keys[1]`).
pub fn check_set(set: &super::keys::SigningKeySet) -> Result<(), Vec<super::keys::KeySetError>> {
    let errors: Vec<_> = set
        .keys()
        .iter()
        .enumerate()
        .filter_map(|(i, k)| {
            check_pair(k).err().map(|message| super::keys::KeySetError {
                path: format!("keys[{i}]"),
                message,
            })
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
