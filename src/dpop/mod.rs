//! DPoP (RFC 9449): a proof of possession of the key an access token is bound to (`cnf.jkt`), sent
//! with every request as the `DPoP` header beside `Authorization: DPoP <token>`.
//!
//! - `proof`: parsing and the checks of §4.3 (typ, alg, embedded public jwk, signature through
//!   the platform's WebCrypto, htm, htu, iat window, ath, the token's `cnf.jkt`);
//! - `htu`: the URL comparison;
//! - `replay`: the `jti` replay cache, exact across isolates (one Durable Object per key);
//! - `nonce`: stateless server nonces (§8), when required;
//! - `issuance`: binding the tokens the gateway itself issues (sessions) to a proof's key (§5);
//! - `settings`: the `[dpop]` section;
//! - `verify`: the whole check of a request's proof, for a resource request or a token request;
//! - `challenge`: the `WWW-Authenticate: DPoP` challenge of a refusal.

pub mod htu;
pub(crate) mod issuance;
pub(crate) mod nonce;
pub(crate) mod proof;
pub mod replay;
pub mod settings;
pub(crate) mod verify;

use crate::problem::{BearerChallenge, ErrorCode};

/// The RFC 9449 §7.1 `error` of a refusal's DPoP challenge: `invalid_dpop_proof` for a bad
/// proof, `use_dpop_nonce` for a missing nonce, `invalid_token` for a token problem.
pub fn challenge_error(code: ErrorCode) -> Option<&'static str> {
    use ErrorCode::*;
    match code {
        DpopNonceRequired => Some("use_dpop_nonce"),
        DpopProofMissing | DpopProofInvalid | DpopAlgorithmRefused | DpopSignatureInvalid
        | DpopMethodMismatch | DpopUrlMismatch | DpopProofStale | DpopProofReplayed
        | DpopAthMismatch => Some("invalid_dpop_proof"),
        _ if code.bearer_challenge() == BearerChallenge::InvalidToken => Some("invalid_token"),
        _ => None,
    }
}

/// `DPoP algs="ES256 EdDSA"` plus the error and its description when the refusal has one.
pub fn challenge(algs: &str, code: ErrorCode, detail: &str) -> String {
    let mut s = format!("DPoP algs=\"{algs}\"");
    if let Some(error) = challenge_error(code) {
        let detail: String = detail
            .chars()
            .filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\')
            .collect();
        s.push_str(&format!(
            ", error=\"{error}\", error_description=\"{detail}\""
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_name_the_rfc_9449_errors() {
        assert_eq!(
            challenge("ES256 EdDSA", ErrorCode::TokenMissing, "x"),
            "DPoP algs=\"ES256 EdDSA\""
        );
        assert_eq!(
            challenge("ES256", ErrorCode::DpopProofStale, "too \"old\""),
            "DPoP algs=\"ES256\", error=\"invalid_dpop_proof\", error_description=\"too old\""
        );
        assert_eq!(
            challenge_error(ErrorCode::TokenBindingMismatch),
            Some("invalid_token")
        );
        assert_eq!(
            challenge_error(ErrorCode::DpopNonceRequired),
            Some("use_dpop_nonce")
        );
        assert_eq!(challenge_error(ErrorCode::DpopReplayUnavailable), None);
    }
}
