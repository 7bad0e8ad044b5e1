//! COSE_Key (RFC 9052 §7, RFC 9053 §7, RFC 8230 §4) → JWK, for the three algorithms passkeys use:
//! ES256 (-7, EC2 P-256), EdDSA (-8, OKP Ed25519) and RS256 (-257, RSA). The JWK goes through
//! `jose::jwk::parse_jwk`, so a passkey's key meets the same rules as an issuer's (RSA modulus
//! bounds and exponent, coordinate lengths) and is checked by the same WebCrypto path.

use base64::Engine as _;
use minicbor::Decoder;
use serde_json::json;

use super::cbor::{self, SeenKeys};
use super::PasskeyError;
use crate::jose::jwk::{parse_jwk, Jwk};
use crate::jose::jws::B64URL;
use crate::jose::Alg;

/// A COSE algorithm the gateway verifies passkeys with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum CoseAlg {
    ES256,
    EdDSA,
    RS256,
}

impl CoseAlg {
    pub(crate) const ALL: &'static [CoseAlg] = &[CoseAlg::ES256, CoseAlg::EdDSA, CoseAlg::RS256];

    /// The COSE algorithm identifier (IANA "COSE Algorithms").
    pub(crate) fn id(self) -> i64 {
        match self {
            CoseAlg::ES256 => -7,
            CoseAlg::EdDSA => -8,
            CoseAlg::RS256 => -257,
        }
    }

    pub(crate) fn from_id(id: i64) -> Option<CoseAlg> {
        CoseAlg::ALL.iter().copied().find(|a| a.id() == id)
    }

    /// The configuration's name for it (also the JOSE name).
    pub(crate) fn name(self) -> &'static str {
        match self {
            CoseAlg::ES256 => "ES256",
            CoseAlg::EdDSA => "EdDSA",
            CoseAlg::RS256 => "RS256",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<CoseAlg> {
        CoseAlg::ALL.iter().copied().find(|a| a.name() == name)
    }

    /// The JOSE algorithm the platform's `import_key`/`verify` take for it.
    pub(crate) fn jose(self) -> Alg {
        match self {
            CoseAlg::ES256 => Alg::ES256,
            CoseAlg::EdDSA => Alg::EdDSA,
            CoseAlg::RS256 => Alg::RS256,
        }
    }
}

/// A credential public key: its algorithm (from the COSE key's `alg`) and the key as a JWK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CredentialKey {
    pub(crate) alg: CoseAlg,
    pub(crate) jwk: Jwk,
}

// COSE key labels (RFC 9052 §7.1) and the key-type parameters (RFC 9053 §7.1, §7.2; RFC 8230 §4).
const KTY: i64 = 1;
const ALG: i64 = 3;
const KTY_OKP: i64 = 1;
const KTY_EC2: i64 = 2;
const KTY_RSA: i64 = 3;
const CRV_P256: i64 = 1;
const CRV_ED25519: i64 = 6;
/// `crv` (EC2, OKP) and `n` (RSA) share label -1, `x`/`e` share -2; EC2's `y` is -3 and `d` (the
/// private key in EC2 and OKP) is -4.
const LABEL_1: i64 = -1;
const LABEL_2: i64 = -2;
const LABEL_Y: i64 = -3;
const LABEL_D: i64 = -4;

const MALFORMED: PasskeyError = PasskeyError::PublicKeyInvalid("the COSE key is malformed");

/// A key-type parameter: an integer (`crv`) or a byte string (coordinates, modulus, exponent).
enum Param<'b> {
    Int(i64),
    Bytes(&'b [u8]),
}

/// Reads the COSE key at the decoder's position (leaving the decoder just after it) and converts
/// it. `accepted` are the configured algorithms; any other is `AlgorithmUnsupported`.
pub(crate) fn read_cose_key(
    d: &mut Decoder<'_>,
    accepted: &[CoseAlg],
) -> Result<CredentialKey, PasskeyError> {
    let entries = cbor::map_len(d, "").map_err(|_| MALFORMED)?;
    let mut seen = SeenKeys::default();
    let (mut kty, mut alg) = (None, None);
    let mut params: Vec<(i64, Param<'_>)> = Vec::new();
    for _ in 0..entries {
        let label = cbor::int_key(d, "").map_err(|_| MALFORMED)?;
        seen.first(label, "").map_err(|_| MALFORMED)?;
        match label {
            KTY => kty = Some(cbor::int(d, "").map_err(|_| MALFORMED)?),
            ALG => alg = Some(cbor::int(d, "").map_err(|_| MALFORMED)?),
            LABEL_D => {
                return Err(PasskeyError::PublicKeyInvalid(
                    "the COSE key carries private key material",
                ))
            }
            LABEL_1 | LABEL_2 | LABEL_Y => {
                let value = match d.datatype() {
                    Ok(minicbor::data::Type::Bytes) => {
                        Param::Bytes(cbor::bytes(d, "").map_err(|_| MALFORMED)?)
                    }
                    _ => Param::Int(cbor::int(d, "").map_err(|_| MALFORMED)?),
                };
                params.push((label, value));
            }
            // `kid` (2), `key_ops` (4), `Base IV` (5) and private-use labels say nothing the
            // checks below need.
            _ => cbor::skip(d, "").map_err(|_| MALFORMED)?,
        }
    }
    let kty = kty.ok_or(PasskeyError::PublicKeyInvalid("the COSE key has no kty"))?;
    let alg_id = alg.ok_or(PasskeyError::PublicKeyInvalid("the COSE key has no alg"))?;
    let alg = CoseAlg::from_id(alg_id)
        .filter(|a| accepted.contains(a))
        .ok_or(PasskeyError::AlgorithmUnsupported)?;
    let int_param = |label| match params.iter().find(|(l, _)| *l == label) {
        Some((_, Param::Int(i))) => Some(*i),
        _ => None,
    };
    let bytes_param = |label| match params.iter().find(|(l, _)| *l == label) {
        Some((_, Param::Bytes(b))) => Some(B64URL.encode(b)),
        _ => None,
    };
    let missing = PasskeyError::PublicKeyInvalid("the COSE key lacks a parameter of its type");
    let jwk = match (alg, kty) {
        (CoseAlg::ES256, KTY_EC2) => {
            if int_param(LABEL_1) != Some(CRV_P256) {
                return Err(PasskeyError::PublicKeyInvalid(
                    "the EC2 key's curve is not P-256",
                ));
            }
            let (x, y) = (bytes_param(LABEL_2), bytes_param(LABEL_Y));
            let (Some(x), Some(y)) = (x, y) else {
                return Err(missing);
            };
            json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "alg": "ES256"})
        }
        (CoseAlg::EdDSA, KTY_OKP) => {
            if int_param(LABEL_1) != Some(CRV_ED25519) {
                return Err(PasskeyError::PublicKeyInvalid(
                    "the OKP key's curve is not Ed25519",
                ));
            }
            let Some(x) = bytes_param(LABEL_2) else {
                return Err(missing);
            };
            json!({"kty": "OKP", "crv": "Ed25519", "x": x, "alg": "EdDSA"})
        }
        (CoseAlg::RS256, KTY_RSA) => {
            let (n, e) = (bytes_param(LABEL_1), bytes_param(LABEL_2));
            let (Some(n), Some(e)) = (n, e) else {
                return Err(missing);
            };
            json!({"kty": "RSA", "n": n, "e": e, "alg": "RS256"})
        }
        _ => {
            return Err(PasskeyError::PublicKeyInvalid(
                "the COSE key type does not fit its algorithm",
            ))
        }
    };
    let jwk = parse_jwk(&jwk).map_err(|_| {
        PasskeyError::PublicKeyInvalid("the key is outside what the gateway accepts")
    })?;
    Ok(CredentialKey { alg, jwk })
}

/// Parses a whole COSE key (nothing may follow it). Tests only: the ceremonies read a key inside
/// its authenticator data.
#[cfg(test)]
pub(crate) fn parse_cose_key(
    bytes: &[u8],
    accepted: &[CoseAlg],
) -> Result<CredentialKey, PasskeyError> {
    let mut d = Decoder::new(bytes);
    let key = read_cose_key(&mut d, accepted)?;
    if d.position() != bytes.len() {
        return Err(MALFORMED);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::jwk::PublicKey;
    use crate::webauthn::test_authenticator::{cose_ec2, cose_okp, cose_rsa, encode, Cbor};

    #[test]
    fn the_three_key_types_become_jwks() {
        let x = [1u8; 32];
        let y = [2u8; 32];
        let k = parse_cose_key(&cose_ec2(&x, &y), CoseAlg::ALL).unwrap();
        assert_eq!(k.alg, CoseAlg::ES256);
        assert_eq!(k.jwk.key, PublicKey::EcP256 { x, y });
        assert_eq!(k.jwk.alg.as_deref(), Some("ES256"));

        let k = parse_cose_key(&cose_okp(&x), CoseAlg::ALL).unwrap();
        assert_eq!(k.alg, CoseAlg::EdDSA);
        assert_eq!(k.jwk.key, PublicKey::Ed25519 { x });

        let mut n = vec![0xc5u8; 256];
        n[255] = 0x01;
        let k = parse_cose_key(&cose_rsa(&n, &[1, 0, 1]), CoseAlg::ALL).unwrap();
        assert_eq!(k.alg, CoseAlg::RS256);
        assert_eq!(
            k.jwk.key,
            PublicKey::Rsa {
                n,
                e: vec![1, 0, 1]
            }
        );
    }

    /// A published example: the ES256 credential public key of the WebAuthn Level 3 specification's
    /// registration example (§ "Packed Attestation", test vectors: the decoded `credentialPublicKey`
    /// of the example in https://www.w3.org/TR/webauthn-3/#sctn-test-vectors-none-es256).
    #[test]
    fn a_published_es256_cose_key() {
        // A5 01 02 03 26 20 01 21 58 20 <x> 22 58 20 <y>: kty 2, alg -7, crv 1, x, y.
        let hex =
            "a5010203262001215820b0fc78c3feb62b4ba5bd5cc7c35bb0b37b14f1ca0a1c1de1d4c6ff0bcafa3a\
                   ac225820e9a3d70aa1f0f6c0e8bd8d37b8bbde0c5f33f10ae23ddf8ad1da00a6b7e2b1e8";
        let bytes = hex_decode(&hex.replace(' ', ""));
        let k = parse_cose_key(&bytes, CoseAlg::ALL).unwrap();
        assert_eq!(k.alg, CoseAlg::ES256);
        assert!(matches!(k.jwk.key, PublicKey::EcP256 { .. }));
    }

    fn hex_decode(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn refusals() {
        let x = [1u8; 32];
        let y = [2u8; 32];
        // Only the configured algorithms.
        assert_eq!(
            parse_cose_key(&cose_ec2(&x, &y), &[CoseAlg::EdDSA]),
            Err(PasskeyError::AlgorithmUnsupported)
        );
        // An algorithm the gateway never verifies (ES384, -35).
        let es384 = encode(&Cbor::Map(vec![
            (Cbor::Int(1), Cbor::Int(2)),
            (Cbor::Int(3), Cbor::Int(-35)),
            (Cbor::Int(-1), Cbor::Int(2)),
            (Cbor::Int(-2), Cbor::Bytes(vec![1; 48])),
            (Cbor::Int(-3), Cbor::Bytes(vec![2; 48])),
        ]));
        assert_eq!(
            parse_cose_key(&es384, CoseAlg::ALL),
            Err(PasskeyError::AlgorithmUnsupported)
        );
        let key =
            |entries: Vec<(Cbor, Cbor)>| parse_cose_key(&encode(&Cbor::Map(entries)), CoseAlg::ALL);
        let base = || {
            vec![
                (Cbor::Int(1), Cbor::Int(2)),
                (Cbor::Int(3), Cbor::Int(-7)),
                (Cbor::Int(-1), Cbor::Int(1)),
                (Cbor::Int(-2), Cbor::Bytes(vec![1; 32])),
                (Cbor::Int(-3), Cbor::Bytes(vec![2; 32])),
            ]
        };
        // A duplicated label.
        let mut dup = base();
        dup.push((Cbor::Int(3), Cbor::Int(-7)));
        assert_eq!(key(dup), Err(MALFORMED));
        // Private material.
        let mut private = base();
        private.push((Cbor::Int(-4), Cbor::Bytes(vec![3; 32])));
        assert!(matches!(
            key(private),
            Err(PasskeyError::PublicKeyInvalid(_))
        ));
        // Wrong curve, short coordinate, key type not fitting the algorithm, missing kty.
        let mut wrong_curve = base();
        wrong_curve[2].1 = Cbor::Int(2);
        assert!(matches!(
            key(wrong_curve),
            Err(PasskeyError::PublicKeyInvalid(_))
        ));
        let mut short = base();
        short[3].1 = Cbor::Bytes(vec![1; 31]);
        assert!(matches!(key(short), Err(PasskeyError::PublicKeyInvalid(_))));
        let mut okp = base();
        okp[0].1 = Cbor::Int(1);
        assert!(matches!(key(okp), Err(PasskeyError::PublicKeyInvalid(_))));
        let no_kty = base().into_iter().skip(1).collect();
        assert!(matches!(
            key(no_kty),
            Err(PasskeyError::PublicKeyInvalid(_))
        ));
        // Text where bytes belong, an indefinite map, trailing bytes, truncation.
        let mut text = base();
        text[3].1 = Cbor::Text("x".into());
        assert_eq!(key(text), Err(MALFORMED));
        let mut indefinite = encode(&Cbor::Map(base()));
        indefinite[0] = 0xbf;
        indefinite.push(0xff);
        assert_eq!(parse_cose_key(&indefinite, CoseAlg::ALL), Err(MALFORMED));
        let mut trailing = encode(&Cbor::Map(base()));
        trailing.push(0);
        assert_eq!(parse_cose_key(&trailing, CoseAlg::ALL), Err(MALFORMED));
        let whole = encode(&Cbor::Map(base()));
        for cut in 0..whole.len() {
            assert!(
                parse_cose_key(&whole[..cut], CoseAlg::ALL).is_err(),
                "cut at {cut}"
            );
        }
        // A small RSA modulus (the JWK rules apply).
        let small = cose_rsa(&[0xc5; 128], &[1, 0, 1]);
        assert!(matches!(
            parse_cose_key(&small, CoseAlg::ALL),
            Err(PasskeyError::PublicKeyInvalid(_))
        ));
    }
}
