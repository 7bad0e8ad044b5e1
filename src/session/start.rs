//! Starting a session, for every way one begins (password login, token exchange, passkey login):
//! a new family object holding the grant and the first refresh token's hash, the subject index
//! entry the admin API lists, an access token, and the token response with the refresh cookie.

use serde_json::{json, Value};

use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
use crate::reply::Reply;
use crate::signing::mint::{mint_access_token, AccessTokenClaims, MintedAccessToken};

use super::client;
use super::context::{SessionContext, SubjectTokenVerifier};
use super::cookie;
use super::family::{FamilyAnswer, FamilyCall, Grant};
use super::index;
use super::refresh_token::{new_family_id, RefreshToken};

/// Who the new session is for and how they authenticated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StartSession {
    pub sub: String,
    /// Space-separated scope tokens.
    pub scope: String,
    /// RFC 8176 values (`pwd`, `otp`, `hwk`, …).
    pub amr: Vec<String>,
    pub acr: Option<String>,
    /// When the user authenticated (Unix seconds).
    pub auth_time: u64,
    /// RFC 7800 confirmation (`{"jkt": …}` for DPoP-bound sessions).
    pub cnf: Option<Value>,
}

/// Starts a family for `start` and answers with the token response and the refresh cookie.
pub(crate) async fn start_session<P: Platform, V: SubjectTokenVerifier>(
    ctx: &SessionContext<'_, P, V>,
    start: StartSession,
) -> Result<Reply, Problem> {
    let platform = ctx.platform;
    let settings = ctx.settings;
    let sid = new_family_id(|b| platform.random_bytes(b));
    let token = RefreshToken::generate(&sid, |b| platform.random_bytes(b));
    let grant = Grant {
        sub: start.sub,
        scope: start.scope,
        amr: start.amr,
        acr: start.acr,
        auth_time: start.auth_time,
        cnf: start.cnf,
    };
    let call = FamilyCall::Start {
        sid: sid.clone(),
        grant: grant.clone(),
        token_hash: token.hash(),
        idle_ttl: settings.refresh_idle_ttl_seconds,
        absolute_ttl: settings.refresh_absolute_lifetime_seconds,
        grace_seconds: settings.reuse_grace_seconds,
    };
    // Asked before the call: the cookie's Max-Age counts from the object's decision, not from
    // after the KV index write and the minting (a second boundary there is not the session's).
    let asked_at = platform.now_secs();
    let expires_at = match client::call(platform, &sid, &call).await {
        Ok(FamilyAnswer::Started { expires_at }) => expires_at,
        Ok(other) => return Err(unavailable(platform, &format!("start answered {other:?}"))),
        Err(e) => return Err(unavailable(platform, &e.0)),
    };
    let now = platform.now_secs();
    index::add(platform, settings, &grant.sub, &sid, now).await;
    let minted = mint(ctx, &sid, &grant).await?;
    Ok(token_reply(
        &minted,
        &grant.scope,
        crate::dpop::issuance::token_type(grant.cnf.as_ref()),
        cookie::set(
            &settings.cookie_name,
            &token.encode(),
            cookie_max_age(expires_at, asked_at, settings.refresh_idle_ttl_seconds),
        ),
    ))
}

/// The refresh cookie's `Max-Age`: what is left of the family at the instant the object was asked,
/// never more than the idle TTL (the object's clock may be a second ahead of the isolate's).
pub(crate) fn cookie_max_age(expires_at: u64, asked_at: u64, idle_ttl: u64) -> u64 {
    expires_at.saturating_sub(asked_at).min(idle_ttl)
}

/// An access token of the family `sid` carrying `grant`.
pub(crate) async fn mint<P: Platform, V>(
    ctx: &SessionContext<'_, P, V>,
    sid: &str,
    grant: &Grant,
) -> Result<MintedAccessToken, Problem> {
    mint_access_token(
        ctx.platform,
        ctx.issuer,
        AccessTokenClaims {
            sub: grant.sub.clone(),
            sid: sid.to_string(),
            scope: grant.scope.clone(),
            amr: grant.amr.clone(),
            acr: grant.acr.clone(),
            auth_time: Some(grant.auth_time),
            cnf: grant.cnf.clone(),
        },
    )
    .await
    .map_err(Problem::from)
}

/// The token response (RFC 6749 §5.1): the access token in the body, never in a cookie; the
/// refresh token only in `set_cookie`.
/// `token_type` is `DPoP` for a DPoP-bound session (RFC 9449 §5), else `Bearer`.
pub(crate) fn token_reply(
    minted: &MintedAccessToken,
    scope: &str,
    token_type: &str,
    set_cookie: String,
) -> Reply {
    Reply {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("cache-control".into(), "no-store".into()),
            ("pragma".into(), "no-cache".into()),
            ("set-cookie".into(), set_cookie),
        ],
        body: json!({
            "access_token": minted.token,
            "token_type": token_type,
            "expires_in": minted.expires_in,
            "scope": scope,
        })
        .to_string(),
    }
}

/// 503 `session_unavailable`, logged: no session object's word, no token.
pub(crate) fn unavailable<P: Platform>(platform: &P, reason: &str) -> Problem {
    crate::log::emit(platform, crate::log::Event::SessionUnavailable { reason });
    Problem::new(
        ErrorCode::SessionUnavailable,
        "the session store could not be reached; try again shortly",
    )
    .with_header("retry-after", "1")
}

#[cfg(test)]
mod cookie_tests {
    use super::cookie_max_age;

    #[test]
    fn the_cookie_lives_as_long_as_the_family_and_never_past_the_idle_ttl() {
        // The object decided in the second the gateway asked: the full idle TTL.
        assert_eq!(cookie_max_age(1_000 + 604_800, 1_000, 604_800), 604_800);
        // Its clock a second ahead of the isolate's: still the idle TTL, never more.
        assert_eq!(cookie_max_age(1_001 + 604_800, 1_000, 604_800), 604_800);
        // Near the absolute lifetime: what is left.
        assert_eq!(cookie_max_age(1_300, 1_000, 604_800), 300);
        assert_eq!(cookie_max_age(900, 1_000, 604_800), 0);
    }
}
