//! The two ceremonies' checks on what the authenticator returned (WebAuthn §7.1 steps 11–26 and
//! §7.2 steps 13–23), in the specification's order, after the caller has checked the client data
//! (type, origin) and taken the challenge from the store. The signatures go through the platform's
//! WebCrypto `import_key`/`verify`, as every JWS signature does.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use super::attestation::{parse_attestation_object, Statement};
use super::auth_data::{parse_authenticator_data, AuthenticatorData};
use super::cose::{CoseAlg, CredentialKey};
use super::der::p256_der_to_raw;
use super::flags;
use super::PasskeyError;
use crate::platform::Platform;

/// What the relying party expects of every ceremony (from `[passkeys]`).
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) rp_id_hash: [u8; 32],
    pub(crate) user_verification_required: bool,
    pub(crate) algorithms: Vec<CoseAlg>,
}

/// A credential the registration ceremony verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewCredential {
    pub(crate) id: Vec<u8>,
    pub(crate) key: CredentialKey,
    pub(crate) sign_count: u32,
    pub(crate) flags: u8,
    pub(crate) aaguid: [u8; 16],
    /// `none` or `packed` (self-attestation).
    pub(crate) attestation: &'static str,
}

/// §7.1 steps 11–26 (registration): the attestation object's authenticator data is for this RP,
/// the user was present (and verified, when required), it carries a credential with an accepted
/// algorithm and a key the runtime imports, and the statement is `none` or a `packed`
/// self-attestation that verifies.
pub(crate) async fn verify_registration<P: Platform>(
    platform: &P,
    policy: &Policy,
    client_data_json: &[u8],
    attestation_object: &[u8],
) -> Result<NewCredential, PasskeyError> {
    let object = parse_attestation_object(attestation_object)?;
    let data = parse_authenticator_data(object.auth_data, &policy.algorithms)?;
    check_common(policy, &data)?;
    let attested = data
        .attested
        .clone()
        .ok_or(PasskeyError::AuthenticatorDataInvalid(
            "no attested credential data",
        ))?;
    let imported = import(platform, &attested.public_key).await?;
    let attestation = match object.statement {
        Statement::None => "none",
        Statement::PackedSelf { alg, sig } => {
            // §8.2.2: self-attestation is signed by the credential key, with its own algorithm.
            if alg != attested.public_key.alg.id() {
                return Err(PasskeyError::AttestationInvalid);
            }
            let signed = signed_data(object.auth_data, client_data_json);
            if !check_signature(platform, &imported, attested.public_key.alg, &signed, sig).await {
                return Err(PasskeyError::AttestationInvalid);
            }
            "packed"
        }
    };
    Ok(NewCredential {
        id: attested.credential_id,
        key: attested.public_key,
        sign_count: data.sign_count,
        flags: data.flags,
        aaguid: attested.aaguid,
        attestation,
    })
}

/// §7.2 steps 15–21 (authentication): the authenticator data is for this RP, the user was present
/// (and verified, when required), and the signature over `authenticatorData ‖
/// SHA-256(clientDataJSON)` verifies with the stored key. The counter rule is the store's.
pub(crate) async fn verify_assertion<P: Platform>(
    platform: &P,
    policy: &Policy,
    key: &CredentialKey,
    client_data_json: &[u8],
    authenticator_data: &[u8],
    signature: &[u8],
) -> Result<AuthenticatorData, PasskeyError> {
    let data = parse_authenticator_data(authenticator_data, &policy.algorithms)?;
    if data.attested.is_some() {
        return Err(PasskeyError::AuthenticatorDataInvalid(
            "an assertion carries attested credential data",
        ));
    }
    check_common(policy, &data)?;
    let imported = import(platform, key).await?;
    let signed = signed_data(authenticator_data, client_data_json);
    if !check_signature(platform, &imported, key.alg, &signed, signature).await {
        return Err(PasskeyError::SignatureInvalid);
    }
    Ok(data)
}

fn check_common(policy: &Policy, data: &AuthenticatorData) -> Result<(), PasskeyError> {
    if data.rp_id_hash != policy.rp_id_hash {
        return Err(PasskeyError::RpIdMismatch);
    }
    if !data.has(flags::UP) {
        return Err(PasskeyError::UserPresenceMissing);
    }
    if policy.user_verification_required && !data.has(flags::UV) {
        return Err(PasskeyError::UserVerificationMissing);
    }
    Ok(())
}

fn signed_data(authenticator_data: &[u8], client_data_json: &[u8]) -> Vec<u8> {
    let mut signed = authenticator_data.to_vec();
    signed.extend_from_slice(&Sha256::digest(client_data_json));
    signed
}

async fn import<P: Platform>(platform: &P, key: &CredentialKey) -> Result<P::Key, PasskeyError> {
    platform
        .import_key(&key.jwk, key.alg.jose())
        .await
        .map_err(|_| PasskeyError::PublicKeyInvalid("the runtime refused the key"))
}

/// ECDSA signatures arrive in DER and are checked as `r‖s`; a signature of the wrong length for its
/// algorithm fails here rather than in WebCrypto.
async fn check_signature<P: Platform>(
    platform: &P,
    key: &P::Key,
    alg: CoseAlg,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let signature: Cow<'_, [u8]> = match alg {
        CoseAlg::ES256 => match p256_der_to_raw(signature) {
            Some(raw) => Cow::Owned(raw.to_vec()),
            None => return false,
        },
        CoseAlg::EdDSA | CoseAlg::RS256 => Cow::Borrowed(signature),
    };
    if crate::jose::jws::check_signature_length(alg.jose(), signature.len()).is_err() {
        return false;
    }
    platform.verify(key, alg.jose(), message, &signature).await
}

#[cfg(test)]
mod tests;
