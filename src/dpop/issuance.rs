//! The gateway as a DPoP authorization server (RFC 9449 §5): its token endpoints (the sessions
//! feature's login, token exchange and refresh) bind what they issue to the key of the proof the
//! client sends, and a refresh of a DPoP-bound session must come with a proof by the same key.
//!
//! These helpers are all the endpoints need: `binding_for_new_session` before minting the first
//! token, `check_refresh` before minting a refreshed one, `token_type` for the token response.

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

/// A refresh of a DPoP-bound session needs a valid proof by the session's key (the refresh token
/// is bound to it, §5); a Bearer session's refresh needs none.
pub(crate) async fn check_refresh<P: Platform>(
    platform: &P,
    settings: &DpopSettings,
    head: &RequestHead,
    grant_cnf: Option<&Value>,
) -> Result<(), Problem> {
    let Some(bound) = bound_jkt(grant_cnf) else {
        return Ok(());
    };
    if !settings.enabled {
        // Turned off after the session began: its key can no longer be proven, so it cannot be
        // refreshed (fail closed) — never downgraded to Bearer.
        return Err(Problem::new(
            ErrorCode::TokenBindingMismatch,
            "this session is bound to a DPoP key and DPoP is disabled on this gateway",
        ));
    }
    let jkt = verify_proof(platform, settings, head, Expect::TokenRequest).await?;
    if super::proof::same_thumbprint(bound, &jkt) {
        Ok(())
    } else {
        Err(Problem::new(
            ErrorCode::TokenBindingMismatch,
            "this session is bound to another DPoP key",
        ))
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
    use crate::testing::{block_on, FakePlatform};

    fn rfc_token_request() -> (RequestHead, String, u64) {
        let v: Value =
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

    fn on() -> DpopSettings {
        DpopSettings {
            enabled: true,
            ..Default::default()
        }
    }

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
    fn a_bound_session_refreshes_only_with_its_key() {
        let (head, jkt, iat) = rfc_token_request();
        let p = FakePlatform::new(iat);
        let bound = json!({ "jkt": jkt });
        assert_eq!(block_on(check_refresh(&p, &on(), &head, None)), Ok(()));
        let no_proof = RequestHead {
            headers: vec![],
            ..head.clone()
        };
        assert_eq!(
            block_on(check_refresh(&p, &on(), &no_proof, Some(&bound))).map_err(|e| e.code),
            Err(ErrorCode::DpopProofMissing)
        );
        let other = json!({ "jkt": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" });
        assert_eq!(
            block_on(check_refresh(&p, &on(), &head, Some(&other))).map_err(|e| e.code),
            Err(ErrorCode::TokenBindingMismatch)
        );
        let p = FakePlatform::new(iat);
        assert_eq!(
            block_on(check_refresh(&p, &on(), &head, Some(&bound))),
            Ok(())
        );
        assert_eq!(
            block_on(check_refresh(
                &p,
                &DpopSettings::default(),
                &head,
                Some(&bound)
            ))
            .map_err(|e| e.code),
            Err(ErrorCode::TokenBindingMismatch)
        );
    }
}
