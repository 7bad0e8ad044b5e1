//! Test-only: a CBOR value encoder (through `minicbor`'s encoder) and a software authenticator
//! that makes real registration and assertion responses with RustCrypto keys (P-256, Ed25519, and
//! RFC 7520's RSA key), so the native tests verify what an authenticator would send.

use base64::Engine as _;
use minicbor::Encoder;
use sha2::{Digest, Sha256};

use super::cose::CoseAlg;
use super::flags;
use crate::jose::jws::B64URL;

/// A CBOR value, encoded in the order given (tests build non-canonical forms on purpose).
#[derive(Debug, Clone)]
pub(crate) enum Cbor {
    Int(i64),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Cbor>),
    Map(Vec<(Cbor, Cbor)>),
}

pub(crate) fn encode(value: &Cbor) -> Vec<u8> {
    fn go(e: &mut Encoder<Vec<u8>>, v: &Cbor) {
        match v {
            Cbor::Int(i) => {
                e.i64(*i).unwrap();
            }
            Cbor::Bytes(b) => {
                e.bytes(b).unwrap();
            }
            Cbor::Text(t) => {
                e.str(t).unwrap();
            }
            Cbor::Array(items) => {
                e.array(items.len() as u64).unwrap();
                for i in items {
                    go(e, i);
                }
            }
            Cbor::Map(entries) => {
                e.map(entries.len() as u64).unwrap();
                for (k, v) in entries {
                    go(e, k);
                    go(e, v);
                }
            }
        }
    }
    let mut e = Encoder::new(Vec::new());
    go(&mut e, value);
    e.into_writer()
}

pub(crate) fn cose_ec2(x: &[u8], y: &[u8]) -> Vec<u8> {
    encode(&Cbor::Map(vec![
        (Cbor::Int(1), Cbor::Int(2)),
        (Cbor::Int(3), Cbor::Int(-7)),
        (Cbor::Int(-1), Cbor::Int(1)),
        (Cbor::Int(-2), Cbor::Bytes(x.to_vec())),
        (Cbor::Int(-3), Cbor::Bytes(y.to_vec())),
    ]))
}

pub(crate) fn cose_okp(x: &[u8]) -> Vec<u8> {
    encode(&Cbor::Map(vec![
        (Cbor::Int(1), Cbor::Int(1)),
        (Cbor::Int(3), Cbor::Int(-8)),
        (Cbor::Int(-1), Cbor::Int(6)),
        (Cbor::Int(-2), Cbor::Bytes(x.to_vec())),
    ]))
}

pub(crate) fn cose_rsa(n: &[u8], e: &[u8]) -> Vec<u8> {
    encode(&Cbor::Map(vec![
        (Cbor::Int(1), Cbor::Int(3)),
        (Cbor::Int(3), Cbor::Int(-257)),
        (Cbor::Int(-1), Cbor::Bytes(n.to_vec())),
        (Cbor::Int(-2), Cbor::Bytes(e.to_vec())),
    ]))
}

pub(crate) fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

pub(crate) enum TestKey {
    Es256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
    Rs256(Box<rsa::RsaPrivateKey>),
}

/// RFC 7520 §3.4's RSA key (2048 bits), read from the vendored cookbook vector.
fn rfc7520_rsa_key() -> rsa::RsaPrivateKey {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/jose-cookbook/jws/4_1.rsa_v15_signature.json"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let k = &v["input"]["key"];
    let int =
        |m: &str| rsa::BigUint::from_bytes_be(&B64URL.decode(k[m].as_str().unwrap()).unwrap());
    rsa::RsaPrivateKey::from_components(int("n"), int("e"), int("d"), vec![int("p"), int("q")])
        .unwrap()
}

impl TestKey {
    pub(crate) fn new(alg: CoseAlg, seed: u8) -> TestKey {
        match alg {
            CoseAlg::ES256 => {
                TestKey::Es256(p256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).unwrap())
            }
            CoseAlg::EdDSA => TestKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[seed; 32])),
            CoseAlg::RS256 => TestKey::Rs256(Box::new(rfc7520_rsa_key())),
        }
    }

    pub(crate) fn cose(&self) -> Vec<u8> {
        match self {
            TestKey::Es256(k) => {
                let p = k.verifying_key().to_encoded_point(false);
                cose_ec2(p.x().unwrap(), p.y().unwrap())
            }
            TestKey::Ed25519(k) => cose_okp(k.verifying_key().as_bytes()),
            TestKey::Rs256(k) => {
                use rsa::traits::PublicKeyParts;
                cose_rsa(&k.n().to_bytes_be(), &k.e().to_bytes_be())
            }
        }
    }

    /// The signature as WebAuthn carries it (DER for ECDSA).
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            TestKey::Es256(k) => {
                use p256::ecdsa::signature::Signer;
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
            TestKey::Ed25519(k) => {
                use ed25519_dalek::Signer;
                k.sign(message).to_bytes().to_vec()
            }
            TestKey::Rs256(k) => {
                use rsa::signature::{SignatureEncoding, Signer};
                let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new((**k).clone());
                signer.sign(message).to_vec()
            }
        }
    }
}

/// A software authenticator holding one credential.
pub(crate) struct Authenticator {
    pub(crate) key: TestKey,
    pub(crate) credential_id: Vec<u8>,
    pub(crate) rp_id: String,
    pub(crate) flags: u8,
    pub(crate) sign_count: u32,
}

pub(crate) fn client_data(kind: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
    format!(
        r#"{{"type":"{kind}","challenge":"{}","origin":"{origin}","crossOrigin":false}}"#,
        B64URL.encode(challenge)
    )
    .into_bytes()
}

impl Authenticator {
    pub(crate) fn new(alg: CoseAlg, rp_id: &str) -> Authenticator {
        Authenticator {
            key: TestKey::new(alg, 7),
            credential_id: vec![0xc7; 16],
            rp_id: rp_id.to_string(),
            flags: flags::UP | flags::UV | flags::BE | flags::BS,
            sign_count: 0,
        }
    }

    pub(crate) fn auth_data(&self, attested: bool) -> Vec<u8> {
        let mut v = sha256(self.rp_id.as_bytes()).to_vec();
        v.push(self.flags | if attested { flags::AT } else { 0 });
        v.extend(self.sign_count.to_be_bytes());
        if attested {
            v.extend([0u8; 16]);
            v.extend((self.credential_id.len() as u16).to_be_bytes());
            v.extend(&self.credential_id);
            v.extend(self.key.cose());
        }
        v
    }

    /// `(clientDataJSON, attestationObject)` with attestation `none`, or `packed`
    /// self-attestation when `packed`.
    pub(crate) fn register(
        &self,
        challenge: &[u8],
        origin: &str,
        packed: bool,
    ) -> (Vec<u8>, Vec<u8>) {
        let cd = client_data("webauthn.create", challenge, origin);
        let auth_data = self.auth_data(true);
        let statement = if packed {
            let mut signed = auth_data.clone();
            signed.extend(sha256(&cd));
            let alg = match self.key {
                TestKey::Es256(_) => -7,
                TestKey::Ed25519(_) => -8,
                TestKey::Rs256(_) => -257,
            };
            Cbor::Map(vec![
                (Cbor::Text("alg".into()), Cbor::Int(alg)),
                (
                    Cbor::Text("sig".into()),
                    Cbor::Bytes(self.key.sign(&signed)),
                ),
            ])
        } else {
            Cbor::Map(vec![])
        };
        let object = encode(&Cbor::Map(vec![
            (
                Cbor::Text("fmt".into()),
                Cbor::Text(if packed { "packed" } else { "none" }.into()),
            ),
            (Cbor::Text("attStmt".into()), statement),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]));
        (cd, object)
    }

    /// `(clientDataJSON, authenticatorData, signature)`; the counter grows first when it is used.
    pub(crate) fn assert(&mut self, challenge: &[u8], origin: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        if self.sign_count > 0 {
            self.sign_count += 1;
        }
        let cd = client_data("webauthn.get", challenge, origin);
        let auth_data = self.auth_data(false);
        let mut signed = auth_data.clone();
        signed.extend(sha256(&cd));
        let sig = self.key.sign(&signed);
        (cd, auth_data, sig)
    }
}
