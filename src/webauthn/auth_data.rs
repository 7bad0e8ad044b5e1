//! Authenticator data (WebAuthn §6.1): `rpIdHash(32) ‖ flags(1) ‖ signCount(4, big-endian)`, then
//! the attested credential data when AT is set (`aaguid(16) ‖ credentialIdLength(2) ‖
//! credentialId ‖ credentialPublicKey(COSE)`), then the extensions map when ED is set. Nothing may
//! follow: a structure with trailing bytes is refused, as are flags that contradict the content.

use minicbor::Decoder;

use super::cbor;
use super::cose::{read_cose_key, CoseAlg, CredentialKey};
use super::flags;
use super::PasskeyError;

/// WebAuthn §5.8.3 / §6.1: a credential id is at most 1023 octets.
pub(crate) const MAX_CREDENTIAL_ID_BYTES: usize = 1023;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthenticatorData {
    pub(crate) rp_id_hash: [u8; 32],
    pub(crate) flags: u8,
    pub(crate) sign_count: u32,
    /// Present exactly when AT is set (registration).
    pub(crate) attested: Option<AttestedCredential>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttestedCredential {
    pub(crate) aaguid: [u8; 16],
    pub(crate) credential_id: Vec<u8>,
    pub(crate) public_key: CredentialKey,
}

impl AuthenticatorData {
    pub(crate) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

fn invalid(why: &'static str) -> PasskeyError {
    PasskeyError::AuthenticatorDataInvalid(why)
}

/// Parses authenticator data. `accepted` bounds the credential key's algorithm (registration).
pub(crate) fn parse_authenticator_data(
    bytes: &[u8],
    accepted: &[CoseAlg],
) -> Result<AuthenticatorData, PasskeyError> {
    if bytes.len() < 37 {
        return Err(invalid("shorter than 37 octets"));
    }
    let mut rp_id_hash = [0u8; 32];
    rp_id_hash.copy_from_slice(&bytes[..32]);
    let flag_byte = bytes[32];
    let sign_count = u32::from_be_bytes([bytes[33], bytes[34], bytes[35], bytes[36]]);
    // §6.3.3: a credential that is not backup eligible cannot be backed up.
    if flag_byte & flags::BS != 0 && flag_byte & flags::BE == 0 {
        return Err(invalid("BS is set without BE"));
    }
    let mut rest = &bytes[37..];
    let attested = if flag_byte & flags::AT != 0 {
        if rest.len() < 18 {
            return Err(invalid("the attested credential data is truncated"));
        }
        let mut aaguid = [0u8; 16];
        aaguid.copy_from_slice(&rest[..16]);
        let id_len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        if id_len == 0 || id_len > MAX_CREDENTIAL_ID_BYTES {
            return Err(invalid("the credential id length is out of range"));
        }
        rest = &rest[18..];
        if rest.len() < id_len {
            return Err(invalid("the credential id is truncated"));
        }
        let credential_id = rest[..id_len].to_vec();
        rest = &rest[id_len..];
        let mut d = Decoder::new(rest);
        let public_key = read_cose_key(&mut d, accepted)?;
        rest = &rest[d.position()..];
        Some(AttestedCredential {
            aaguid,
            credential_id,
            public_key,
        })
    } else {
        None
    };
    if flag_byte & flags::ED != 0 {
        // The extension outputs: a map, read only to find where it ends (no extension is used).
        let mut d = Decoder::new(rest);
        let entries =
            cbor::map_len(&mut d, "the extensions are not a CBOR map").map_err(invalid)?;
        for _ in 0..entries {
            cbor::text(&mut d, "an extension identifier is not text").map_err(invalid)?;
            cbor::skip(&mut d, "an extension output is malformed").map_err(invalid)?;
        }
        rest = &rest[d.position()..];
    }
    if !rest.is_empty() {
        return Err(invalid("trailing octets after the authenticator data"));
    }
    Ok(AuthenticatorData {
        rp_id_hash,
        flags: flag_byte,
        sign_count,
        attested,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webauthn::test_authenticator::{cose_ec2, encode, Cbor};

    fn head(flags: u8, count: u32) -> Vec<u8> {
        let mut v = vec![7u8; 32];
        v.push(flags);
        v.extend(count.to_be_bytes());
        v
    }

    fn attested(flags: u8) -> Vec<u8> {
        let mut v = head(flags | super::flags::AT, 5);
        v.extend([9u8; 16]);
        v.extend(3u16.to_be_bytes());
        v.extend([1, 2, 3]);
        v.extend(cose_ec2(&[1; 32], &[2; 32]));
        v
    }

    #[test]
    fn assertion_data_parses() {
        let d = parse_authenticator_data(&head(flags::UP | flags::UV, 42), CoseAlg::ALL).unwrap();
        assert_eq!(d.rp_id_hash, [7u8; 32]);
        assert!(d.has(flags::UP) && d.has(flags::UV) && !d.has(flags::BE));
        assert_eq!(d.sign_count, 42);
        assert_eq!(d.attested, None);
    }

    #[test]
    fn attested_credential_data_parses() {
        let d = parse_authenticator_data(&attested(flags::UP), CoseAlg::ALL).unwrap();
        let a = d.attested.unwrap();
        assert_eq!(a.credential_id, vec![1, 2, 3]);
        assert_eq!(a.aaguid, [9u8; 16]);
        assert_eq!(a.public_key.alg, CoseAlg::ES256);
    }

    #[test]
    fn extensions_are_skipped_to_their_end() {
        let mut bytes = attested(flags::UP | flags::ED);
        bytes.extend(encode(&Cbor::Map(vec![(
            Cbor::Text("credProtect".into()),
            Cbor::Int(2),
        )])));
        assert!(parse_authenticator_data(&bytes, CoseAlg::ALL).is_ok());
        let mut assertion = head(flags::UP | flags::ED, 1);
        assertion.extend(encode(&Cbor::Map(vec![])));
        assert!(parse_authenticator_data(&assertion, CoseAlg::ALL).is_ok());
    }

    #[test]
    fn refusals() {
        let bad = |b: &[u8]| parse_authenticator_data(b, CoseAlg::ALL).unwrap_err();
        assert!(matches!(
            bad(&[0; 36]),
            PasskeyError::AuthenticatorDataInvalid(_)
        ));
        // Trailing data, AT without data, ED without a map, BS without BE.
        let mut trailing = head(flags::UP, 1);
        trailing.push(0);
        assert!(matches!(
            bad(&trailing),
            PasskeyError::AuthenticatorDataInvalid(_)
        ));
        assert!(matches!(
            bad(&head(flags::AT, 1)),
            PasskeyError::AuthenticatorDataInvalid(_)
        ));
        assert!(matches!(
            bad(&head(flags::ED, 1)),
            PasskeyError::AuthenticatorDataInvalid(_)
        ));
        assert!(matches!(
            bad(&head(flags::BS, 1)),
            PasskeyError::AuthenticatorDataInvalid(_)
        ));
        // Extensions not flagged, a credential id length of 0 and past the data.
        let mut unflagged = attested(flags::UP);
        unflagged.extend(encode(&Cbor::Map(vec![])));
        assert!(matches!(
            bad(&unflagged),
            PasskeyError::AuthenticatorDataInvalid(_)
        ));
        let mut zero = head(flags::AT, 1);
        zero.extend([0u8; 16]);
        zero.extend([0, 0]);
        assert!(matches!(
            bad(&zero),
            PasskeyError::AuthenticatorDataInvalid(_)
        ));
        let mut long = head(flags::AT, 1);
        long.extend([0u8; 16]);
        long.extend([0x03, 0xff]);
        long.extend([1u8; 40]);
        assert!(matches!(
            bad(&long),
            PasskeyError::AuthenticatorDataInvalid(_)
        ));
        // Every truncation of a valid attested structure is refused (and never panics).
        let whole = attested(flags::UP);
        for cut in 0..whole.len() {
            assert!(
                parse_authenticator_data(&whole[..cut], CoseAlg::ALL).is_err(),
                "{cut}"
            );
        }
    }
}
