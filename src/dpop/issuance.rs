//! The gateway as a DPoP authorization server (RFC 9449 §5): its token endpoints (the sessions
//! feature's login, token exchange and refresh) bind what they issue to the key of the proof the
//! client sends, and a refresh of a DPoP-bound session must come with a proof by the same key.
//!
//! These helpers are all the endpoints need: `binding_for_new_session` before minting the first
//! token, `refresh_proof_key` before asking a session's family object to rotate (the object
//! compares the key with the session's, `session::family`) and `refresh_refused` for its refusal,
//! `token_type` for the token response.

use serde_json::{json, Value};

use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
use crate::request::RequestHead;

use super::settings::DpopSettings;
use super::verify::{verify_proof, Expect};

/// The `cnf` of a new session: `{"jkt": <thumbprint>}` when the token request carries a valid
/// DPoP proof, `None` when it carries none (a Bearer session). A proof that fails any check
/// refuses the request: a client that sent one asked for a bound token and must not silently get
/// a bearer token instead. With DPoP disabled a `DPoP` header is ignored (RFC 9449 §5: a server
/// that does not support DPoP issues Bearer tokens).
pub(crate) async fn binding_for_new_session<P: Platform>(
    platform: &P,
    settings: &DpopSettings,
    head: &RequestHead,
) -> Result<Option<Value>, Problem> {
    if !settings.enabled || head.headers_named("dpop").next().is_none() {
        return Ok(None);
    }
    let jkt = verify_proof(platform, settings, head, Expect::TokenRequest).await?;
    Ok(Some(json!({ "jkt": jkt })))
}

/// The session's key thumbprint, if its grant is DPoP-bound.
pub(crate) fn bound_jkt(cnf: Option<&Value>) -> Option<&str> {
    cnf.and_then(|c| c.get("jkt")).and_then(Value::as_str)
}

/// The thumbprint of the key a refresh request proves: the request's proof checked in full
/// (signature, htm, htu, iat, nonce, and its jti recorded) before anything about the session
/// changes. `None` when the request carries no proof, or DPoP is disabled (a `DPoP` header is then
/// ignored). A proof that fails a check refuses the refresh. Whether the key is the session's is
/// the family object's decision, made atomically with the rotation.
pub(crate) async fn refresh_proof_key<P: Platform>(
    platform: &P,
    settings: &DpopSettings,
    head: &RequestHead,
) -> Result<Option<String>, Problem> {
    if !settings.enabled || head.headers_named("dpop").next().is_none() {
        return Ok(None);
    }
    verify_proof(platform, settings, head, Expect::TokenRequest)
        .await
        .map(Some)
}

/// The refusal of a refresh of a DPoP-bound session whose family did not get its key: another key
/// (`proved_a_key`), or none. The session's refresh token is bound to its key (§5), so it is never
/// refreshed without it — with DPoP turned off after the session began, not at all (fail closed,
/// never downgraded to Bearer).
pub(crate) fn refresh_refused(settings: &DpopSettings, proved_a_key: bool) -> Problem {
    if proved_a_key {
        Problem::new(
            ErrorCode::TokenBindingMismatch,
            "this session is bound to another DPoP key",
        )
    } else if !settings.enabled {
        Problem::new(
            ErrorCode::TokenBindingMismatch,
            "this session is bound to a DPoP key and DPoP is disabled on this gateway",
        )
    } else {
        Problem::from(super::proof::DpopError::Missing)
    }
}

/// `token_type` of a token response (RFC 9449 §5).
pub(crate) fn token_type(cnf: Option<&Value>) -> &'static str {
    if bound_jkt(cnf).is_some() {
        "DPoP"
    } else {
        "Bearer"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dpop::verify::tests::{enabled as on, rfc_token_request};
    use crate::testing::{block_on, FakePlatform};

    #[test]
    fn a_token_request_with_a_proof_binds_the_session_to_its_key() {
        let (head, jkt, iat) = rfc_token_request();
        let p = FakePlatform::new(iat);
        let cnf = block_on(binding_for_new_session(&p, &on(), &head)).unwrap();
        assert_eq!(cnf, Some(json!({ "jkt": jkt })));
        assert_eq!(token_type(cnf.as_ref()), "DPoP");
        let plain = RequestHead {
            headers: vec![],
            ..head.clone()
        };
        assert_eq!(
            block_on(binding_for_new_session(&p, &on(), &plain)),
            Ok(None)
        );
        assert_eq!(token_type(None), "Bearer");
        // DPoP off: the header is ignored, a Bearer session starts.
        assert_eq!(
            block_on(binding_for_new_session(&p, &DpopSettings::default(), &head)),
            Ok(None)
        );
        // A broken proof refuses the request rather than issue a Bearer token.
        let broken = RequestHead {
            headers: vec![("dpop".into(), "x.y.z".into())],
            ..head
        };
        assert_eq!(
            block_on(binding_for_new_session(&p, &on(), &broken)).map_err(|e| e.code),
            Err(ErrorCode::DpopProofInvalid)
        );
    }

    #[test]
    fn a_refresh_proves_its_key_before_the_family_is_asked() {
        let (head, jkt, iat) = rfc_token_request();
        let p = FakePlatform::new(iat);
        assert_eq!(
            block_on(refresh_proof_key(&p, &on(), &head)),
            Ok(Some(jkt.clone()))
        );
        // The proof's jti is spent: the same proof again is a replay.
        assert_eq!(
            block_on(refresh_proof_key(&p, &on(), &head)).map_err(|e| e.code),
            Err(ErrorCode::DpopProofReplayed)
        );
        let no_proof = RequestHead {
            headers: vec![],
            ..head.clone()
        };
        assert_eq!(block_on(refresh_proof_key(&p, &on(), &no_proof)), Ok(None));
        // DPoP off: the header is ignored.
        let fresh = FakePlatform::new(iat);
        assert_eq!(
            block_on(refresh_proof_key(&fresh, &DpopSettings::default(), &head)),
            Ok(None)
        );
        let broken = RequestHead {
            headers: vec![("dpop".into(), "x.y.z".into())],
            ..head
        };
        assert_eq!(
            block_on(refresh_proof_key(&fresh, &on(), &broken)).map_err(|e| e.code),
            Err(ErrorCode::DpopProofInvalid)
        );
    }

    #[test]
    fn a_bound_session_without_its_key_is_refused_by_code() {
        assert_eq!(
            refresh_refused(&on(), true).code,
            ErrorCode::TokenBindingMismatch
        );
        assert_eq!(
            refresh_refused(&on(), false).code,
            ErrorCode::DpopProofMissing
        );
        assert_eq!(
            refresh_refused(&DpopSettings::default(), false).code,
            ErrorCode::TokenBindingMismatch
        );
    }
}
