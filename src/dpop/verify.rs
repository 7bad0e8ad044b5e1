//! The whole check of one request's DPoP proof, in the order of RFC 9449 §4.3: parse, the cheap
//! request checks, the signature through the platform (WebCrypto in the worker), the key binding
//! the caller expects, the server nonce, and the replay cache last, so that only proofs that
//! passed everything else are remembered.
//!
//! Two callers: a resource request (`Authorization: DPoP <token>`: `ath` required, the token's
//! `cnf.jkt` expected) and a token request at the gateway's own endpoints (RFC 9449 §5: no token
//! yet, any key; the caller binds the tokens it issues to the returned thumbprint).

use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
use crate::request::RequestHead;

use super::proof::{self, DpopError, ProofContext};
use super::settings::DpopSettings;

/// What the proof must be bound to.
pub(crate) enum Expect<'a> {
    /// A resource request: the access token (for `ath`) and its `cnf.jkt`, if it has one.
    Resource {
        access_token: &'a str,
        jkt: Option<&'a str>,
    },
    /// A token request (§5): no access token; any key, whose thumbprint is returned.
    TokenRequest,
}

/// Checks the request's proof; returns the RFC 7638 thumbprint of its key.
pub(crate) async fn verify_proof<P: Platform>(
    platform: &P,
    settings: &DpopSettings,
    head: &RequestHead,
    expect: Expect<'_>,
) -> Result<String, Problem> {
    let values: Vec<&str> = head.headers_named("dpop").collect();
    let proof = proof::parse(&values, settings)?;
    let now = platform.now_secs();
    let ctx = ProofContext {
        method: &head.method,
        url: &head.url,
        access_token: match expect {
            Expect::Resource { access_token, .. } => Some(access_token),
            Expect::TokenRequest => None,
        },
        now,
    };
    proof::check_claims(&proof, &ctx, settings)?;
    let key = platform
        .import_key(&proof.jwk, proof.alg)
        .await
        .map_err(|_| DpopError::Malformed("the runtime refused the jwk".into()))?;
    if !platform
        .verify(&key, proof.alg, proof.signing_input(), proof.signature())
        .await
    {
        return Err(DpopError::SignatureInvalid.into());
    }
    let jkt = proof.jkt();
    if let Expect::Resource { jkt: bound, .. } = expect {
        match bound {
            Some(bound) if proof::same_thumbprint(bound, &jkt) => {}
            Some(_) => {
                return Err(Problem::new(
                    ErrorCode::TokenBindingMismatch,
                    "the token is bound to another DPoP key (cnf jkt)",
                ))
            }
            None => {
                return Err(Problem::new(
                    ErrorCode::TokenBindingMismatch,
                    "the token is not bound to a DPoP key (no cnf jkt); send it as a Bearer token",
                ))
            }
        }
    }
    if let Some(problem) = nonce_refusal(settings, proof.nonce.as_deref(), now) {
        return Err(problem);
    }
    match super::replay::record(
        platform,
        &jkt,
        &proof.jti,
        proof::remember_until(&proof, settings),
    )
    .await
    {
        Ok(true) => Ok(jkt),
        Ok(false) => Err(DpopError::Replayed.into()),
        Err(e) => {
            crate::log::emit(
                platform,
                crate::log::Event::DpopReplayUnavailable { reason: &e.0 },
            );
            Err(DpopError::ReplayUnavailable.into())
        }
    }
}

/// With `dpop.nonce`, a proof without the current (or previous) server nonce is refused with
/// `use_dpop_nonce` and a fresh `DPoP-Nonce` to retry with (RFC 9449 §8).
fn nonce_refusal(settings: &DpopSettings, nonce: Option<&str>, now: u64) -> Option<Problem> {
    if !settings.nonce {
        return None;
    }
    let rotation = settings.nonce_rotation_secs;
    // No secret: refused at load already (`set_nonce_secret`); a gateway built without one
    // refuses every proof rather than accept one unchecked.
    let secret = settings.nonce_secret.get().unwrap_or_default();
    if !secret.is_empty() && nonce.is_some_and(|n| super::nonce::accepts(secret, n, now, rotation))
    {
        return None;
    }
    let mut problem = Problem::new(
        ErrorCode::DpopNonceRequired,
        "the DPoP proof must carry the server's current nonce: retry with the DPoP-Nonce of this response",
    );
    if !secret.is_empty() {
        problem = problem.with_header("dpop-nonce", super::nonce::current(secret, now, rotation));
    }
    Some(problem)
}

#[cfg(test)]
pub(crate) mod tests {
    //! The whole check over the in-memory platform (native verifier, the replay service in
    //! process), with the RFC 9449 §4.1 token-request proof at its own `iat`.

    use super::*;
    use crate::testing::{block_on, FakePlatform};

    /// The RFC 9449 §4.1 token-request proof as a request head, its key's thumbprint and its
    /// `iat` (shared with `dpop::issuance`'s tests).
    pub(crate) fn rfc_token_request() -> (RequestHead, String, u64) {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/vectors/rfc9449_dpop.json")).unwrap();
        let case = &v["proofs"][0];
        let head = RequestHead {
            method: "POST".into(),
            url: case["htu"].as_str().unwrap().into(),
            headers: vec![("dpop".into(), case["proof"].as_str().unwrap().into())],
        };
        (
            head,
            v["jkt"].as_str().unwrap().into(),
            case["iat"].as_u64().unwrap(),
        )
    }

    pub(crate) fn enabled() -> DpopSettings {
        DpopSettings {
            enabled: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_token_request_proof_yields_its_key_thumbprint_once() {
        let (head, jkt, iat) = rfc_token_request();
        let platform = FakePlatform::new(iat);
        let s = enabled();
        let first = block_on(verify_proof(&platform, &s, &head, Expect::TokenRequest));
        assert_eq!(first, Ok(jkt));
        let again = block_on(verify_proof(&platform, &s, &head, Expect::TokenRequest));
        assert_eq!(again.map_err(|p| p.code), Err(ErrorCode::DpopProofReplayed));
    }

    #[test]
    fn the_replay_cache_unreachable_fails_closed() {
        let (head, _, iat) = rfc_token_request();
        let platform = FakePlatform::new(iat);
        platform.durable.down.set(true);
        let r = block_on(verify_proof(
            &platform,
            &enabled(),
            &head,
            Expect::TokenRequest,
        ));
        assert_eq!(r.map_err(|p| p.code), Err(ErrorCode::DpopReplayUnavailable));
        assert!(platform
            .logs
            .borrow()
            .iter()
            .any(|l| l.contains("dpop_replay_unavailable")));
    }

    #[test]
    fn nonces_when_required() {
        let (head, _, iat) = rfc_token_request();
        let platform = FakePlatform::new(iat);
        let mut s = DpopSettings {
            nonce: true,
            ..enabled()
        };
        s.set_nonce_secret(Some("n".repeat(32))).unwrap();
        // The RFC's proof carries no nonce.
        let r = block_on(verify_proof(&platform, &s, &head, Expect::TokenRequest)).unwrap_err();
        assert_eq!(r.code, ErrorCode::DpopNonceRequired);
        assert!(r.headers.iter().any(|(n, _)| n == "dpop-nonce"));
    }
}
