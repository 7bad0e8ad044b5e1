//! Property tests of every WebAuthn parser a client's bytes reach: the attestation object,
//! authenticator data, COSE keys, `clientDataJSON`, DER signatures and the store's requests.
//! Invariants: no panic on any input; a mutation of a valid structure is either refused or parses
//! to something that re-reads the same; nothing trailing is ever accepted. 500 cases from a fixed
//! seed unless `PROPTEST_CASES` / `PROPTEST_RNG_SEED` say otherwise.

use proptest::prelude::*;

use super::attestation::parse_attestation_object;
use super::auth_data::parse_authenticator_data;
use super::client_data::{parse_client_data, Ceremony};
use super::cose::{parse_cose_key, CoseAlg};
use super::der::p256_der_to_raw;
use super::test_authenticator::Authenticator;

fn proptest_config() -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, RngSeed};
    let mut c = Config {
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 500;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        c.rng_seed = RngSeed::Fixed(12);
    }
    c
}

/// A valid registration's attestation object (ES256 or EdDSA: RSA keys make no difference to the
/// parsers and cost time).
fn valid_object(ed: bool) -> Vec<u8> {
    let alg = if ed { CoseAlg::EdDSA } else { CoseAlg::ES256 };
    Authenticator::new(alg, "app.example")
        .register(&[1; 32], "https://app.example", ed)
        .1
}

/// Byte edits: (position seed, new byte); also truncation and insertion.
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Cut(usize),
    Insert(usize, u8),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    proptest::collection::vec(
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
            any::<usize>().prop_map(Edit::Cut),
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        ],
        1..4,
    )
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        if bytes.is_empty() {
            break;
        }
        match *e {
            Edit::Set(i, b) => {
                let n = bytes.len();
                bytes[i % n] = b;
            }
            Edit::Cut(i) => bytes.truncate(i % bytes.len()),
            Edit::Insert(i, b) => {
                let n = bytes.len();
                bytes.insert(i % (n + 1), b);
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_attestation_object(&bytes);
        let _ = parse_authenticator_data(&bytes, CoseAlg::ALL);
        let _ = parse_cose_key(&bytes, CoseAlg::ALL);
        let _ = parse_client_data(&bytes, Ceremony::Get);
        let _ = p256_der_to_raw(&bytes);
        let _ = super::store::handle_json(None, &String::from_utf8_lossy(&bytes));
    }

    /// A mutated attestation object: refused, or it parses and its authenticator data parses
    /// consistently (AT ⇔ a credential; the credential id within bounds).
    #[test]
    fn mutated_attestation_objects(ed in any::<bool>(), e in edits()) {
        let bytes = apply(valid_object(ed), &e);
        if let Ok(object) = parse_attestation_object(&bytes) {
            if let Ok(data) = parse_authenticator_data(object.auth_data, CoseAlg::ALL) {
                prop_assert_eq!(data.attested.is_some(), data.flags & super::flags::AT != 0);
                if let Some(a) = &data.attested {
                    prop_assert!(!a.credential_id.is_empty() && a.credential_id.len() <= 1023);
                }
            }
        }
    }

    /// Anything appended to a valid structure is refused.
    #[test]
    fn trailing_bytes_are_refused(ed in any::<bool>(), tail in proptest::collection::vec(any::<u8>(), 1..8)) {
        let mut object = valid_object(ed);
        let auth_data = parse_attestation_object(&object).unwrap().auth_data.to_vec();
        object.extend(&tail);
        prop_assert!(parse_attestation_object(&object).is_err());
        let mut data = auth_data;
        data.extend(&tail);
        prop_assert!(parse_authenticator_data(&data, CoseAlg::ALL).is_err());
    }

    /// DER: a converted signature re-encodes to the input (one encoding per signature).
    #[test]
    fn der_conversion_is_one_to_one(r in proptest::collection::vec(any::<u8>(), 1..33), s in proptest::collection::vec(any::<u8>(), 1..33)) {
        fn int(v: &[u8]) -> Vec<u8> {
            let v: Vec<u8> = v.iter().copied().skip_while(|&b| b == 0).collect();
            let mut body = if v.is_empty() { vec![0] } else { v };
            if body[0] & 0x80 != 0 {
                body.insert(0, 0);
            }
            let mut out = vec![0x02, body.len() as u8];
            out.extend(body);
            out
        }
        let (ri, si) = (int(&r), int(&s));
        let mut der = vec![0x30, (ri.len() + si.len()) as u8];
        der.extend(&ri);
        der.extend(&si);
        let raw = p256_der_to_raw(&der).unwrap();
        let back = {
            let (ri2, si2) = (int(&raw[..32]), int(&raw[32..]));
            let mut d = vec![0x30, (ri2.len() + si2.len()) as u8];
            d.extend(ri2);
            d.extend(si2);
            d
        };
        prop_assert_eq!(back, der);
    }

    /// clientDataJSON built from arbitrary strings: parses exactly when the members are right.
    #[test]
    fn client_data_members(kind in "webauthn\\.(get|create)|[a-z.]{0,12}", origin in "[ -~]{0,20}", challenge in proptest::collection::vec(any::<u8>(), 0..40)) {
        use base64::Engine as _;
        let cd = serde_json::json!({"type": kind, "challenge": crate::jose::jws::B64URL.encode(&challenge), "origin": origin}).to_string();
        let parsed = parse_client_data(cd.as_bytes(), Ceremony::Get);
        if kind == "webauthn.get" {
            let parsed = parsed.unwrap();
            prop_assert_eq!(parsed.challenge, challenge);
            prop_assert_eq!(parsed.origin, origin);
        } else {
            prop_assert!(parsed.is_err());
        }
    }
}
