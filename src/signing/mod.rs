//! The gateway as an issuer: its signing keys (`keys`, the `PORTCULLIS_SIGNING_KEYS` secret),
//! minting access tokens (`mint`), and its own issuer entry's keys for verification (`issuer`).
//! Reference: docs/sessions.md, "Signing keys and the gateway as an issuer".
//!
//! Signing goes through `Platform::sign` (WebCrypto in the worker, `native` in tests and the
//! CLI); a token the gateway mints is verified like any other issuer's, by `jose::verify`.

pub(crate) mod issuer;
pub mod keys;
pub(crate) mod mint;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;

pub use keys::{KeySetError, SigningAlg, SigningKey, SigningKeySet};

/// The Workers secret holding the key set document.
pub const SIGNING_KEYS_SECRET: &str = "PORTCULLIS_SIGNING_KEYS";

/// Minting failed. Never carries key material or a claim's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningError {
    /// The runtime could not sign with the active key (`kid`): import or signing failed.
    Sign { kid: String, reason: String },
    /// A claim the caller asked for cannot be put in a token the gateway would accept back
    /// (`sub` not printable ASCII, a scope outside the grammar, …): the claim's name.
    ClaimUnusable(&'static str),
}

impl SigningError {
    /// For the log line; never a secret.
    pub fn log_detail(&self) -> String {
        match self {
            SigningError::Sign { kid, reason } => format!("kid {kid}: {reason}"),
            SigningError::ClaimUnusable(claim) => format!("claim {claim} is unusable"),
        }
    }
}

impl From<SigningError> for crate::problem::Problem {
    fn from(e: SigningError) -> Self {
        let detail = match e {
            SigningError::Sign { .. } => "the gateway could not sign the token",
            SigningError::ClaimUnusable(_) => {
                "the gateway could not issue a token for this identity"
            }
        };
        crate::problem::Problem::new(crate::problem::ErrorCode::TokenSigningFailed, detail)
    }
}

#[cfg(test)]
mod tests;
