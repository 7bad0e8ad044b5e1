//! WebAuthn passkeys (W3C Web Authentication Level 3): registration and authentication ceremonies
//! verified at the edge, as a first factor (passkey login) and as step-up on a live session.
//!
//! Pure logic, one concern per module; the runtime is reached only through `Platform` (WebCrypto
//! for the signatures, the `PasskeyStore` Durable Object for challenges and credentials):
//!
//! - `cbor`: the few CBOR reading rules every structure here shares (through `minicbor`),
//! - `cose`: COSE_Key (RFC 9052/9053) → JWK, so the gateway's one WebCrypto path checks passkeys too,
//! - `auth_data`: authenticator data (rpIdHash, flags, sign count, attested credential data),
//! - `client_data`: `clientDataJSON` (type, challenge, origin, crossOrigin/topOrigin),
//! - `der`: ECDSA signatures from DER (WebAuthn) to raw `r‖s` (WebCrypto, JWS),
//! - `attestation`: the attestation object, formats `none` and `packed` self-attestation,
//! - `verify`: the two ceremonies' checks in order, one `PasskeyError` per failed check,
//! - `store`: the `PasskeyStore` object's logic (challenges, users, credential lookup),
//! - `client`: the object's protocol as the gateway speaks it,
//! - `manage`: listing and deleting a user's passkeys (the account page's endpoints, and what the
//!   admin API shares with them),
//! - `settings`: the `[passkeys]` configuration section.
//!
//! docs/passkeys.md describes the ceremonies, the storage and every error code.

pub(crate) mod attestation;
pub(crate) mod auth_data;
pub(crate) mod cbor;
pub(crate) mod client;
pub(crate) mod client_data;
pub(crate) mod cose;
pub(crate) mod der;
pub mod endpoints;
pub mod manage;
pub mod settings;
pub(crate) mod store;
pub(crate) mod verify;

#[cfg(test)]
mod properties;
#[cfg(test)]
pub(crate) mod test_authenticator;

use crate::problem::{ErrorCode, Problem};

/// One failed check of a ceremony. Each maps to one stable problem code; the detail names the
/// check, never a value the client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PasskeyError {
    /// The request body is not the expected JSON, or a member is missing or not base64url.
    RequestInvalid(&'static str),
    /// `clientDataJSON` is not a JSON object with the members WebAuthn requires.
    ClientDataInvalid(&'static str),
    /// `clientDataJSON.type` is not the ceremony's (`webauthn.create` / `webauthn.get`).
    ClientDataTypeMismatch,
    /// The origin is not an allowed origin, or the ceremony ran in a cross-origin frame (or under
    /// a top-level origin) that the configuration does not allow.
    OriginRefused,
    /// The challenge is unknown, already used, expired, or for another ceremony or user.
    ChallengeInvalid,
    /// The attestation object or the authenticator data is malformed.
    AuthenticatorDataInvalid(&'static str),
    /// `rpIdHash` is not SHA-256 of the configured RP ID.
    RpIdMismatch,
    /// The UP flag is not set.
    UserPresenceMissing,
    /// The UV flag is not set and the configuration requires user verification.
    UserVerificationMissing,
    /// The credential's COSE algorithm is not one the configuration accepts.
    AlgorithmUnsupported,
    /// The credential public key is malformed or one the runtime will not import.
    PublicKeyInvalid(&'static str),
    /// An attestation format other than `none` or `packed` self-attestation.
    AttestationUnsupported,
    /// The `packed` self-attestation signature does not verify.
    AttestationInvalid,
    /// The assertion signature does not verify.
    SignatureInvalid,
    /// No credential with this id is registered (for this user, on step-up).
    CredentialUnknown,
    /// A credential with this id is registered already.
    CredentialExists,
    /// The user has as many passkeys as the configuration allows.
    CredentialLimit,
    /// The signature counter did not grow: the authenticator may have been cloned.
    CounterRegressed,
    /// The `PasskeyStore` object could not be reached or answered out of contract.
    StoreUnavailable,
    /// Deleting: the subject has no passkey with this id (another user's or nobody's).
    NotFound,
}

impl PasskeyError {
    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            PasskeyError::RequestInvalid(_) => ErrorCode::PasskeyRequestInvalid,
            PasskeyError::ClientDataInvalid(_) => ErrorCode::PasskeyClientDataInvalid,
            PasskeyError::ClientDataTypeMismatch => ErrorCode::PasskeyClientDataInvalid,
            PasskeyError::OriginRefused => ErrorCode::PasskeyOriginRefused,
            PasskeyError::ChallengeInvalid => ErrorCode::PasskeyChallengeInvalid,
            PasskeyError::AuthenticatorDataInvalid(_) => ErrorCode::PasskeyAuthenticatorDataInvalid,
            PasskeyError::RpIdMismatch => ErrorCode::PasskeyRpIdMismatch,
            PasskeyError::UserPresenceMissing => ErrorCode::PasskeyUserPresenceMissing,
            PasskeyError::UserVerificationMissing => ErrorCode::PasskeyUserVerificationMissing,
            PasskeyError::AlgorithmUnsupported => ErrorCode::PasskeyAlgorithmUnsupported,
            PasskeyError::PublicKeyInvalid(_) => ErrorCode::PasskeyPublicKeyInvalid,
            PasskeyError::AttestationUnsupported => ErrorCode::PasskeyAttestationUnsupported,
            PasskeyError::AttestationInvalid => ErrorCode::PasskeyAttestationInvalid,
            PasskeyError::SignatureInvalid => ErrorCode::PasskeySignatureInvalid,
            PasskeyError::CredentialUnknown => ErrorCode::PasskeyCredentialUnknown,
            PasskeyError::CredentialExists => ErrorCode::PasskeyCredentialExists,
            PasskeyError::CredentialLimit => ErrorCode::PasskeyCredentialLimit,
            PasskeyError::CounterRegressed => ErrorCode::PasskeyCounterRegressed,
            PasskeyError::StoreUnavailable => ErrorCode::PasskeyStoreUnavailable,
            PasskeyError::NotFound => ErrorCode::PasskeyNotFound,
        }
    }

    fn detail(&self) -> String {
        match self {
            PasskeyError::RequestInvalid(why) => format!("the request is invalid: {why}"),
            PasskeyError::ClientDataInvalid(why) => format!("clientDataJSON is invalid: {why}"),
            PasskeyError::ClientDataTypeMismatch => {
                "clientDataJSON.type is not this ceremony's".into()
            }
            PasskeyError::OriginRefused => {
                "the ceremony's origin (or its top-level origin) is not allowed".into()
            }
            PasskeyError::ChallengeInvalid => {
                "the challenge is unknown, used, expired or for another ceremony".into()
            }
            PasskeyError::AuthenticatorDataInvalid(why) => {
                format!("the authenticator data is invalid: {why}")
            }
            PasskeyError::RpIdMismatch => "the authenticator data is for another RP ID".into(),
            PasskeyError::UserPresenceMissing => {
                "the authenticator did not test user presence".into()
            }
            PasskeyError::UserVerificationMissing => {
                "the authenticator did not verify the user, and user verification is required"
                    .into()
            }
            PasskeyError::AlgorithmUnsupported => {
                "the credential's algorithm is not accepted".into()
            }
            PasskeyError::PublicKeyInvalid(why) => {
                format!("the credential public key is invalid: {why}")
            }
            PasskeyError::AttestationUnsupported => {
                "only attestation \"none\" and \"packed\" self-attestation are accepted".into()
            }
            PasskeyError::AttestationInvalid => {
                "the self-attestation signature does not verify".into()
            }
            PasskeyError::SignatureInvalid => "the assertion signature does not verify".into(),
            PasskeyError::CredentialUnknown => "no such passkey is registered".into(),
            PasskeyError::CredentialExists => "this passkey is registered already".into(),
            PasskeyError::CredentialLimit => {
                "no more passkeys can be registered for this user".into()
            }
            PasskeyError::CounterRegressed => {
                "the authenticator's signature counter did not increase; the passkey may be cloned"
                    .into()
            }
            PasskeyError::StoreUnavailable => "the passkey store is unavailable".into(),
            PasskeyError::NotFound => "this user has no passkey with this credential id".into(),
        }
    }
}

impl From<PasskeyError> for Problem {
    fn from(e: PasskeyError) -> Self {
        Problem::new(e.code(), e.detail())
    }
}

/// The flags byte of authenticator data (WebAuthn §6.1).
pub(crate) mod flags {
    pub(crate) const UP: u8 = 0x01;
    pub(crate) const UV: u8 = 0x04;
    pub(crate) const BE: u8 = 0x08;
    pub(crate) const BS: u8 = 0x10;
    pub(crate) const AT: u8 = 0x40;
    pub(crate) const ED: u8 = 0x80;
}
