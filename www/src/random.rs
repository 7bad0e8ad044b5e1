//! Unguessable values from the platform CSPRNG (`crypto.getRandomValues` in a browser, the OS
//! natively), via `getrandom`.

use crate::encoding::base64url;
use crate::error::PkceError;
use alloc::string::String;

/// Bytes behind each `state` and `nonce`: 256 bits, 43 base64url characters.
pub const TOKEN_ENTROPY_BYTES: usize = 32;

pub fn fill_random(buf: &mut [u8]) -> Result<(), PkceError> {
    getrandom::fill(buf).map_err(|_| PkceError::RandomUnavailable)
}

/// A fresh base64url value for `state` (RFC 6749 §10.12) or `nonce` (OIDC Core §3.1.2.1).
pub fn random_token() -> Result<String, PkceError> {
    let mut bytes = [0u8; TOKEN_ENTROPY_BYTES];
    fill_random(&mut bytes)?;
    Ok(base64url(&bytes))
}
