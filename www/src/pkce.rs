//! Proof Key for Code Exchange (RFC 7636), S256 only.
//!
//! `plain` is deliberately absent: RFC 9700 §2.1.1 says clients MUST use S256 when they can, and
//! every browser can. The verifier never leaves the browser except in the token request.

use alloc::borrow::ToOwned;
use alloc::string::String;
use sha2::{Digest, Sha256};

use crate::encoding::{base64url, is_base64url, is_unreserved};
use crate::error::PkceError;
use crate::random::fill_random;

/// Bytes of CSPRNG output behind a generated verifier: 256 bits, giving 43 base64url chars.
pub const VERIFIER_ENTROPY_BYTES: usize = 32;
/// RFC 7636 §4.1 bounds on a verifier's length.
pub const VERIFIER_MIN_LEN: usize = 43;
pub const VERIFIER_MAX_LEN: usize = 128;
/// A S256 challenge is a base64url SHA-256 digest: always 43 characters.
pub const CHALLENGE_LEN: usize = 43;
/// The only `code_challenge_method` this helper sends.
pub const METHOD_S256: &str = "S256";

/// A code verifier that is known to satisfy RFC 7636 §4.1.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeVerifier(String);

// No Debug derive that would print the secret by accident.
impl core::fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CodeVerifier(..)")
    }
}

impl CodeVerifier {
    /// Fresh verifier from [`VERIFIER_ENTROPY_BYTES`] of CSPRNG output.
    pub fn generate() -> Result<Self, PkceError> {
        let mut bytes = [0u8; VERIFIER_ENTROPY_BYTES];
        fill_random(&mut bytes)?;
        Ok(Self::from_entropy(&bytes))
    }

    /// base64url of the given octets, as RFC 7636 Appendix B derives its example verifier.
    /// The caller supplies the randomness; 32 octets or more are needed for a valid verifier.
    pub fn from_entropy(octets: &[u8]) -> Self {
        Self(base64url(octets))
    }

    /// Checks a verifier received from elsewhere (storage, the application).
    pub fn parse(value: &str) -> Result<Self, PkceError> {
        let len = value.len();
        if len < VERIFIER_MIN_LEN {
            return Err(PkceError::InvalidCodeVerifier {
                reason: "is shorter than 43 characters (RFC 7636 §4.1)",
            });
        }
        if len > VERIFIER_MAX_LEN {
            return Err(PkceError::InvalidCodeVerifier {
                reason: "is longer than 128 characters (RFC 7636 §4.1)",
            });
        }
        if !value.bytes().all(is_unreserved) {
            return Err(PkceError::InvalidCodeVerifier {
                reason: "contains a character outside A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)",
            });
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))` — RFC 7636 §4.2.
    pub fn challenge_s256(&self) -> String {
        base64url(&Sha256::digest(self.0.as_bytes()))
    }
}

/// Checks that a value could be an S256 challenge: 43 base64url characters whose last one
/// carries only the 4 meaningful bits a 32-byte digest leaves (so it decodes canonically).
pub fn check_challenge(value: &str) -> Result<(), PkceError> {
    let bytes = value.as_bytes();
    let ok = bytes.len() == CHALLENGE_LEN
        && bytes.iter().all(|&b| is_base64url(b))
        && matches!(
            bytes.last(),
            Some(
                b'A' | b'E'
                    | b'I'
                    | b'M'
                    | b'Q'
                    | b'U'
                    | b'Y'
                    | b'c'
                    | b'g'
                    | b'k'
                    | b'o'
                    | b's'
                    | b'w'
                    | b'0'
                    | b'4'
                    | b'8'
            )
        );
    if ok {
        Ok(())
    } else {
        Err(PkceError::InvalidParameter {
            field: "codeChallenge",
            reason: "is not an S256 challenge (43 base64url characters of a SHA-256 digest)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_bounds() {
        let at = |n: usize| "a".repeat(n);
        assert!(CodeVerifier::parse(&at(42)).is_err());
        assert!(CodeVerifier::parse(&at(43)).is_ok());
        assert!(CodeVerifier::parse(&at(128)).is_ok());
        assert!(CodeVerifier::parse(&at(129)).is_err());
        assert_eq!(
            CodeVerifier::parse("").unwrap_err().code(),
            "invalid_code_verifier"
        );
    }

    #[test]
    fn verifier_alphabet() {
        let base = "a".repeat(42);
        for ok in ['-', '.', '_', '~', 'Z', '0'] {
            assert!(
                CodeVerifier::parse(&format!("{base}{ok}")).is_ok(),
                "{ok:?}"
            );
        }
        for bad in ['+', '/', '=', ' ', '%', '\u{e9}', '\n', '!'] {
            let err = CodeVerifier::parse(&format!("{base}{bad}")).unwrap_err();
            assert_eq!(
                err,
                PkceError::InvalidCodeVerifier {
                    reason: "contains a character outside A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)"
                }
            );
        }
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let v = CodeVerifier::parse(&"s".repeat(50)).unwrap();
        assert_eq!(format!("{v:?}"), "CodeVerifier(..)");
    }

    #[test]
    fn challenge_shape() {
        assert!(check_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").is_ok());
        // 44 chars, padding, wrong alphabet, non-canonical last char.
        assert!(check_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM=").is_err());
        assert!(check_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM").is_err());
        assert!(check_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN").is_err());
        assert!(check_challenge("").is_err());
    }
}
