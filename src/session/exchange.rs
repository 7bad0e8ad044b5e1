//! `POST /auth/token`: RFC 8693 token exchange. A client that signed in at a configured upstream
//! issuer (the SPA's PKCE login) trades that issuer's access or ID token for a first-party
//! session. The subject token is verified by the gateway's own pipeline (signature, issuer,
//! audience, lifetime, revocation — exactly as a bearer token on a route) and must come from an
//! issuer listed in `sessions.token_exchange.issuers`; its scopes are mapped by
//! `sessions.token_exchange.scope_map` (an upstream scope not in the map grants nothing).
//!
//! Request (`application/x-www-form-urlencoded`, RFC 8693 §2.1): `grant_type =
//! urn:ietf:params:oauth:grant-type:token-exchange`, `subject_token`, `subject_token_type` (an
//! access token, an ID token or a JWT), optionally `scope` (a subset of what the mapping grants)
//! and `requested_token_type` (an access token). `actor_token` (delegation) is not supported.

use std::collections::BTreeSet;

use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
use crate::reply::Reply;

use super::context::{origin_if_present, SessionContext, SubjectTokenVerifier};
use super::start::{start_session, StartSession};

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const SUBJECT_TOKEN_TYPES: &[&str] = &[
    ACCESS_TOKEN_TYPE,
    "urn:ietf:params:oauth:token-type:id_token",
    "urn:ietf:params:oauth:token-type:jwt",
];
/// The `amr` of an exchanged session: authenticated at another issuer.
const EXCHANGED_AMR: &str = "ext";

/// The form's parameters this endpoint reads.
#[derive(Debug, Default, PartialEq)]
struct ExchangeRequest {
    grant_type: Option<String>,
    subject_token: Option<String>,
    subject_token_type: Option<String>,
    scope: Option<String>,
    requested_token_type: Option<String>,
    actor_token: Option<String>,
}

/// 400 `token_exchange_invalid` with the OAuth `error` (RFC 6749 §5.2).
fn bad(error: &str, detail: impl Into<String>) -> Problem {
    Problem::new(ErrorCode::TokenExchangeInvalid, detail)
        .with_extension("error", serde_json::Value::String(error.into()))
}

fn parse_form(body: &[u8]) -> Result<ExchangeRequest, Problem> {
    let text =
        std::str::from_utf8(body).map_err(|_| bad("invalid_request", "the form is not UTF-8"))?;
    let mut req = ExchangeRequest::default();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = crate::url::form_decode(name);
        let slot = match name.as_str() {
            "grant_type" => &mut req.grant_type,
            "subject_token" => &mut req.subject_token,
            "subject_token_type" => &mut req.subject_token_type,
            "scope" => &mut req.scope,
            "requested_token_type" => &mut req.requested_token_type,
            "actor_token" => &mut req.actor_token,
            _ => continue,
        };
        // RFC 6749 §3.1: a parameter sent twice is an error.
        if slot.is_some() {
            return Err(bad(
                "invalid_request",
                format!("the parameter {name} is repeated"),
            ));
        }
        *slot = Some(crate::url::form_decode(value));
    }
    Ok(req)
}

pub(crate) async fn exchange<P: Platform, V: SubjectTokenVerifier>(
    ctx: &SessionContext<'_, P, V>,
    body: &[u8],
) -> Result<Reply, Problem> {
    origin_if_present(ctx.settings, ctx.head)?;
    let Some(config) = &ctx.settings.token_exchange else {
        return Err(Problem::new(
            ErrorCode::RouteNotFound,
            "token exchange is not configured on this gateway (sessions.token_exchange)",
        ));
    };
    let form_type = ctx
        .head
        .headers_named("content-type")
        .next()
        .is_some_and(|ct| {
            ct.split(';').next().is_some_and(|e| {
                e.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !form_type {
        return Err(bad(
            "invalid_request",
            "token exchange takes Content-Type: application/x-www-form-urlencoded (RFC 8693 §2.1)",
        ));
    }
    let req = parse_form(body)?;
    if req.grant_type.as_deref() != Some(GRANT_TYPE) {
        return Err(bad(
            "unsupported_grant_type",
            format!("grant_type must be {GRANT_TYPE}"),
        ));
    }
    if req.actor_token.is_some() {
        return Err(bad(
            "invalid_request",
            "actor_token (delegation) is not supported",
        ));
    }
    let Some(subject_token) = req.subject_token.filter(|t| !t.is_empty()) else {
        return Err(bad("invalid_request", "subject_token is required"));
    };
    match req.subject_token_type.as_deref() {
        Some(t) if SUBJECT_TOKEN_TYPES.contains(&t) => {}
        _ => {
            return Err(bad(
                "invalid_request",
                "subject_token_type must be an access token, an ID token or a JWT",
            ))
        }
    }
    if req
        .requested_token_type
        .as_deref()
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Err(bad(
            "invalid_request",
            "requested_token_type may only be an access token",
        ));
    }
    let identity = ctx.verifier.verify(&subject_token).await.map_err(|p| {
        if p.status() >= 500 {
            // The issuer's keys or the revocation list could not be consulted: not the token's fault.
            return p;
        }
        Problem::new(
            ErrorCode::SubjectTokenInvalid,
            format!(
                "the subject token was refused ({}): {}",
                p.code.as_str(),
                p.detail
            ),
        )
        .with_extension("error", serde_json::Value::String("invalid_grant".into()))
    })?;
    let issuer = identity.issuer.as_deref().unwrap_or_default();
    if !config.issuers.iter().any(|i| i == issuer) {
        return Err(Problem::new(
            ErrorCode::SubjectTokenInvalid,
            "the subject token's issuer is not one token exchange accepts",
        )
        .with_extension("error", serde_json::Value::String("invalid_grant".into())));
    }
    let granted: BTreeSet<&str> = identity
        .scopes
        .iter()
        .filter_map(|s| config.scope_map.get(s))
        .flatten()
        .map(String::as_str)
        .collect();
    let scope: Vec<&str> = match req.scope.as_deref() {
        None => granted.iter().copied().collect(),
        Some(asked) => {
            let asked: BTreeSet<&str> = asked.split(' ').filter(|s| !s.is_empty()).collect();
            if let Some(extra) = asked.iter().find(|s| !granted.contains(*s)) {
                return Err(bad(
                    "invalid_scope",
                    format!("the scope {extra} is not granted for this subject token"),
                ));
            }
            asked.into_iter().collect()
        }
    };
    // An exchange with a DPoP proof starts a session bound to its key (RFC 9449 §5).
    let cnf =
        crate::dpop::issuance::binding_for_new_session(ctx.platform, ctx.dpop, ctx.head).await?;
    subject_binding_kept(&identity, cnf.as_ref())?;
    let auth_time = exchanged_auth_time(&identity, ctx.platform.now_secs());
    start_session(
        ctx,
        StartSession {
            sub: identity.subject,
            scope: scope.join(" "),
            amr: vec![EXCHANGED_AMR.to_string()],
            acr: None,
            auth_time,
            cnf,
        },
    )
    .await
}

/// When the exchanged session's user last authenticated: the subject token's own `auth_time`
/// when it carries one, else its `iat` (never later than `iat`: a token cannot be younger than the
/// login it was issued for). Its `iat` alone would make an hour-old upstream login look fresh to a
/// `max_age` rule (a passkey delete's above all) whenever the upstream token was just refreshed.
fn exchanged_auth_time(subject: &crate::identity::Identity, now_secs: u64) -> u64 {
    match (subject.user_auth.auth_time, subject.issued_at) {
        (Some(auth_time), Some(iat)) => auth_time.min(iat),
        (Some(at), None) | (None, Some(at)) => at,
        (None, None) => now_secs,
    }
}

/// A sender-constrained subject token is exchanged only by its holder: a DPoP-bound one
/// (`cnf.jkt`) with a proof by the same key — the new session is then bound to it too — so a
/// stolen bound token never becomes a bearer session. A certificate-bound one is refused: the
/// session endpoints see no client certificate to hold it to (fail closed).
fn subject_binding_kept(
    subject: &crate::identity::Identity,
    session_cnf: Option<&serde_json::Value>,
) -> Result<(), Problem> {
    use crate::identity::Confirmation;
    let refused = |why: &str| {
        Problem::new(
            ErrorCode::SubjectTokenInvalid,
            format!("the subject token was refused (token_binding_mismatch): {why}"),
        )
        .with_extension("error", serde_json::Value::String("invalid_grant".into()))
    };
    match &subject.holder.confirmation {
        None => Ok(()),
        Some(Confirmation::X5tS256(_)) => Err(refused(
            "it is bound to a client certificate (cnf x5t#S256), which token exchange cannot check",
        )),
        Some(Confirmation::Jkt(bound)) => match crate::dpop::issuance::bound_jkt(session_cnf) {
            Some(proven) if crate::dpop::proof::same_thumbprint(bound, proven) => Ok(()),
            Some(_) => Err(refused(
                "it is bound to another DPoP key than the request's proof",
            )),
            None => Err(refused(
                "it is bound to a DPoP key (cnf jkt): exchange it with a DPoP proof by that key",
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Confirmation, Identity};
    use serde_json::json;

    #[test]
    fn a_bound_subject_token_is_exchanged_only_with_its_key() {
        let mut subject = Identity::anonymous();
        assert_eq!(subject_binding_kept(&subject, None), Ok(()));
        assert_eq!(
            subject_binding_kept(&subject, Some(&json!({"jkt": "k"}))),
            Ok(())
        );
        subject.holder.confirmation = Some(Confirmation::Jkt("k".into()));
        assert_eq!(
            subject_binding_kept(&subject, Some(&json!({"jkt": "k"}))),
            Ok(())
        );
        for cnf in [None, Some(json!({"jkt": "other"}))] {
            let refused = subject_binding_kept(&subject, cnf.as_ref()).unwrap_err();
            assert_eq!(refused.code, ErrorCode::SubjectTokenInvalid);
            assert!(refused.detail.contains("token_binding_mismatch"));
        }
        subject.holder.confirmation = Some(Confirmation::X5tS256("ab".repeat(32)));
        assert!(subject_binding_kept(&subject, Some(&json!({"jkt": "k"}))).is_err());
    }

    #[test]
    fn the_session_keeps_the_subject_tokens_login_time() {
        let mut subject = Identity::anonymous();
        assert_eq!(exchanged_auth_time(&subject, 50), 50);
        subject.issued_at = Some(40);
        assert_eq!(exchanged_auth_time(&subject, 50), 40);
        subject.user_auth.auth_time = Some(10);
        assert_eq!(exchanged_auth_time(&subject, 50), 10);
        // An auth_time after iat is held to iat.
        subject.user_auth.auth_time = Some(45);
        assert_eq!(exchanged_auth_time(&subject, 50), 40);
        subject.issued_at = None;
        assert_eq!(exchanged_auth_time(&subject, 50), 45);
    }

    #[test]
    fn forms() {
        let r = parse_form(b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=a.b.c&scope=read+write&x=1").unwrap();
        assert_eq!(r.grant_type.as_deref(), Some(GRANT_TYPE));
        assert_eq!(r.subject_token.as_deref(), Some("a.b.c"));
        assert_eq!(r.scope.as_deref(), Some("read write"));
        assert!(parse_form(b"scope=a&scope=b").is_err());
        assert!(parse_form(&[0xff]).is_err());
    }
}
