//! The attestation object (WebAuthn §6.5): `{fmt, attStmt, authData}` in CBOR. Two statement
//! formats are accepted: `none` (§8.7, an empty statement: what browsers send when the relying
//! party asks for no attestation, as the gateway does) and `packed` self-attestation (§8.2, no
//! `x5c`: the credential key signs `authData ‖ clientDataHash` itself). Attestation trust chains
//! (`packed` with `x5c`, `tpm`, `android-key`, `apple`, `fido-u2f`, …) prove which authenticator
//! model made the key; the gateway does not verify them (no metadata service), so it refuses them
//! rather than accept a statement it has not checked (docs/passkeys.md).

use minicbor::Decoder;

use super::cbor::{self, SeenKeys};
use super::PasskeyError;

/// Bounds the attestation object (a passkey's is a few hundred octets; RSA keys ~ 400 more).
pub(crate) const MAX_ATTESTATION_OBJECT_BYTES: usize = 8192;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Statement<'a> {
    None,
    /// `packed` without a certificate: `alg` (a COSE algorithm id) and the signature.
    PackedSelf {
        alg: i64,
        sig: &'a [u8],
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttestationObject<'a> {
    pub(crate) statement: Statement<'a>,
    pub(crate) auth_data: &'a [u8],
}

fn invalid(why: &'static str) -> PasskeyError {
    PasskeyError::AuthenticatorDataInvalid(why)
}

pub(crate) fn parse_attestation_object(
    bytes: &[u8],
) -> Result<AttestationObject<'_>, PasskeyError> {
    if bytes.len() > MAX_ATTESTATION_OBJECT_BYTES {
        return Err(invalid("the attestation object is longer than 8192 octets"));
    }
    let mut d = Decoder::new(bytes);
    let entries =
        cbor::map_len(&mut d, "the attestation object is not a CBOR map").map_err(invalid)?;
    let mut seen = SeenKeys::default();
    let (mut fmt, mut statement_at, mut auth_data) = (None, None, None);
    for _ in 0..entries {
        let key = cbor::text(&mut d, "an attestation object key is not text").map_err(invalid)?;
        seen.first(key, "an attestation object key is given twice")
            .map_err(invalid)?;
        match key {
            "fmt" => fmt = Some(cbor::text(&mut d, "fmt is not text").map_err(invalid)?),
            "attStmt" => {
                statement_at = Some(d.position());
                cbor::skip(&mut d, "attStmt is malformed").map_err(invalid)?;
            }
            "authData" => {
                auth_data =
                    Some(cbor::bytes(&mut d, "authData is not a byte string").map_err(invalid)?)
            }
            _ => return Err(invalid("the attestation object has an unknown member")),
        }
    }
    if d.position() != bytes.len() {
        return Err(invalid("trailing octets after the attestation object"));
    }
    let (Some(fmt), Some(statement_at), Some(auth_data)) = (fmt, statement_at, auth_data) else {
        return Err(invalid(
            "the attestation object lacks fmt, attStmt or authData",
        ));
    };
    let mut d = Decoder::new(bytes);
    d.set_position(statement_at);
    let statement = match fmt {
        "none" => {
            if cbor::map_len(&mut d, "attStmt is not a map").map_err(invalid)? != 0 {
                return Err(invalid("a \"none\" attestation statement is not empty"));
            }
            Statement::None
        }
        "packed" => packed(&mut d)?,
        _ => return Err(PasskeyError::AttestationUnsupported),
    };
    Ok(AttestationObject {
        statement,
        auth_data,
    })
}

fn packed<'a>(d: &mut Decoder<'a>) -> Result<Statement<'a>, PasskeyError> {
    let entries = cbor::map_len(d, "attStmt is not a map").map_err(invalid)?;
    let mut seen = SeenKeys::default();
    let (mut alg, mut sig) = (None, None);
    for _ in 0..entries {
        let key = cbor::text(d, "an attStmt key is not text").map_err(invalid)?;
        seen.first(key, "an attStmt key is given twice")
            .map_err(invalid)?;
        match key {
            "alg" => alg = Some(cbor::int(d, "attStmt.alg is not an integer").map_err(invalid)?),
            "sig" => {
                sig = Some(cbor::bytes(d, "attStmt.sig is not a byte string").map_err(invalid)?)
            }
            // A certificate chain: full attestation, whose trust the gateway does not evaluate.
            "x5c" => return Err(PasskeyError::AttestationUnsupported),
            _ => return Err(invalid("attStmt has an unknown member")),
        }
    }
    match (alg, sig) {
        (Some(alg), Some(sig)) => Ok(Statement::PackedSelf { alg, sig }),
        _ => Err(invalid("a packed attestation statement lacks alg or sig")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webauthn::test_authenticator::{encode, Cbor};

    fn object(fmt: &str, stmt: Cbor) -> Vec<u8> {
        encode(&Cbor::Map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text(fmt.into())),
            (Cbor::Text("attStmt".into()), stmt),
            (Cbor::Text("authData".into()), Cbor::Bytes(vec![1, 2, 3])),
        ]))
    }

    #[test]
    fn none_and_packed_self() {
        let o = object("none", Cbor::Map(vec![]));
        let a = parse_attestation_object(&o).unwrap();
        assert_eq!(a.statement, Statement::None);
        assert_eq!(a.auth_data, &[1, 2, 3]);
        let o = object(
            "packed",
            Cbor::Map(vec![
                (Cbor::Text("alg".into()), Cbor::Int(-7)),
                (Cbor::Text("sig".into()), Cbor::Bytes(vec![9; 70])),
            ]),
        );
        let a = parse_attestation_object(&o).unwrap();
        assert_eq!(
            a.statement,
            Statement::PackedSelf {
                alg: -7,
                sig: &[9; 70]
            }
        );
    }

    #[test]
    fn refusals() {
        let x5c = object(
            "packed",
            Cbor::Map(vec![
                (Cbor::Text("alg".into()), Cbor::Int(-7)),
                (Cbor::Text("sig".into()), Cbor::Bytes(vec![9; 70])),
                (
                    Cbor::Text("x5c".into()),
                    Cbor::Array(vec![Cbor::Bytes(vec![0x30])]),
                ),
            ]),
        );
        assert_eq!(
            parse_attestation_object(&x5c),
            Err(PasskeyError::AttestationUnsupported)
        );
        for fmt in [
            "fido-u2f",
            "tpm",
            "android-key",
            "apple",
            "android-safetynet",
            "NONE",
        ] {
            assert_eq!(
                parse_attestation_object(&object(fmt, Cbor::Map(vec![]))),
                Err(PasskeyError::AttestationUnsupported),
                "{fmt}"
            );
        }
        let not_empty = object(
            "none",
            Cbor::Map(vec![(Cbor::Text("sig".into()), Cbor::Bytes(vec![]))]),
        );
        assert!(matches!(
            parse_attestation_object(&not_empty),
            Err(PasskeyError::AuthenticatorDataInvalid(_))
        ));
        let no_sig = object(
            "packed",
            Cbor::Map(vec![(Cbor::Text("alg".into()), Cbor::Int(-7))]),
        );
        assert!(matches!(
            parse_attestation_object(&no_sig),
            Err(PasskeyError::AuthenticatorDataInvalid(_))
        ));
        let twice = encode(&Cbor::Map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("fmt".into()), Cbor::Text("packed".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(vec![])),
            (Cbor::Text("authData".into()), Cbor::Bytes(vec![1])),
        ]));
        assert!(matches!(
            parse_attestation_object(&twice),
            Err(PasskeyError::AuthenticatorDataInvalid(_))
        ));
        let mut trailing = object("none", Cbor::Map(vec![]));
        trailing.push(0);
        assert!(matches!(
            parse_attestation_object(&trailing),
            Err(PasskeyError::AuthenticatorDataInvalid(_))
        ));
        let whole = object("none", Cbor::Map(vec![]));
        for cut in 0..whole.len() {
            assert!(parse_attestation_object(&whole[..cut]).is_err());
        }
    }
}
