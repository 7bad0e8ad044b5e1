//! `POST /auth/refresh` and `POST /auth/logout`: the cookie endpoints. Both read only the refresh
//! cookie (the body is ignored), after the CSRF checks (`csrf`). The family object decides; this
//! module turns its answer into the response, mints the access token of a rotation, and puts an
//! ended session's `sid` on the revocation list.

use std::cell::RefCell;

use serde_json::json;

use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
use crate::reply::Reply;
use crate::revocation::client::{self as revocation_client, RevocationWrite};
use crate::revocation::{CredentialFacts, RevocationSettings, SnapshotCache};
use crate::signing::issuer::SessionIssuer;

use super::client;
use super::context::{cookie_request_checks, SessionContext, SubjectTokenVerifier};
use super::cookie::{self, Presented};
use super::family::{EndReason, FamilyAnswer, FamilyCall, Grant, InvalidReason, ProofRefusal};
use super::refresh_token::RefreshToken;
use super::start::{mint, token_reply, unavailable};

/// Seconds an ended session's `sid` entry outlives its last access token's `exp` (clock skew
/// between the gateway's isolates and any verifier's leeway).
const SID_ENTRY_MARGIN_SECS: u64 = 120;

/// The presented refresh token, or the refusal (which clears the cookie).
fn presented_token<P, V>(ctx: &SessionContext<'_, P, V>) -> Result<RefreshToken, Problem> {
    let name = &ctx.settings.cookie_name;
    match cookie::presented(ctx.head.headers_named("cookie"), name) {
        Presented::None => Err(Problem::new(
            ErrorCode::RefreshTokenMissing,
            format!("the request carries no {name} cookie"),
        )),
        Presented::Several => Err(invalid(
            ctx,
            "the request carries more than one refresh cookie",
        )),
        Presented::One(value) => RefreshToken::parse(value)
            .map_err(|_| invalid(ctx, "the refresh cookie is not a refresh token")),
    }
}

/// 401 `refresh_token_invalid`, clearing the cookie.
fn invalid<P, V>(ctx: &SessionContext<'_, P, V>, detail: &str) -> Problem {
    Problem::new(ErrorCode::RefreshTokenInvalid, detail)
        .with_header("set-cookie", cookie::clear(&ctx.settings.cookie_name))
}

fn invalid_for(reason: InvalidReason) -> &'static str {
    match reason {
        InvalidReason::Unknown => "the refresh token is not known",
        InvalidReason::Expired => "the session has expired; sign in again",
        InvalidReason::Ended => "the session has ended; sign in again",
    }
}

pub(crate) async fn refresh<P: Platform, V: SubjectTokenVerifier>(
    ctx: &SessionContext<'_, P, V>,
) -> Result<Reply, Problem> {
    cookie_request_checks(ctx.settings, ctx.head)?;
    let token = presented_token(ctx)?;
    let platform = ctx.platform;
    // A DPoP proof is checked in full — its jti spent — before the family is asked, and the
    // family compares its key with the session's in the same step as the rotation (RFC 9449 §5):
    // a refused proof leaves the refresh token as it was.
    let proof_jkt = crate::dpop::issuance::refresh_proof_key(platform, ctx.dpop, ctx.head).await?;
    let next = RefreshToken::generate(&token.family_id, |b| platform.random_bytes(b));
    let call = FamilyCall::Refresh {
        token_hash: token.hash(),
        next_hash: next.hash(),
        next_wrapped: token.wrap(&next),
        proof_jkt,
    };
    let asked_at = platform.now_secs();
    let answer = client::call(platform, &token.family_id, &call)
        .await
        .map_err(|e| unavailable(platform, &e.0))?;
    let (cookie_token, grant, created_at, expires_at) = match answer {
        FamilyAnswer::Rotated {
            grant,
            created_at,
            expires_at,
        } => (next, grant, created_at, expires_at),
        // The second presenter inside the grace window: the successor the first one got.
        FamilyAnswer::Grace {
            successor,
            grant,
            created_at,
            expires_at,
        } => {
            let successor = token
                .unwrap_successor(&successor)
                .map_err(|_| unavailable(platform, "the grace answer's successor is unreadable"))?;
            (successor, grant, created_at, expires_at)
        }
        FamilyAnswer::Reused { sub, rotations } => {
            audit_reuse(platform, &token.family_id, &sub, rotations);
            revoke_sid(ctx, &token.family_id).await;
            return Err(Problem::new(
                ErrorCode::RefreshTokenReused,
                "this refresh token was already used: the session has been ended; sign in again",
            )
            .with_header("set-cookie", cookie::clear(&ctx.settings.cookie_name)));
        }
        FamilyAnswer::Invalid { reason } => return Err(invalid(ctx, invalid_for(reason))),
        FamilyAnswer::ProofRefused { reason } => {
            return Err(crate::dpop::issuance::refresh_refused(
                ctx.dpop,
                reason == ProofRefusal::OtherKey,
            ))
        }
        other => {
            return Err(unavailable(
                platform,
                &format!("refresh answered {other:?}"),
            ))
        }
    };
    session_still_valid(ctx, &token.family_id, &grant, created_at).await?;
    let minted = mint(ctx, &token.family_id, &grant).await?;
    Ok(token_reply(
        &minted,
        &grant.scope,
        crate::dpop::issuance::token_type(grant.cnf.as_ref()),
        cookie::set(
            &ctx.settings.cookie_name,
            &cookie_token.encode(),
            super::start::cookie_max_age(
                expires_at,
                asked_at,
                ctx.settings.refresh_idle_ttl_seconds,
            ),
        ),
    ))
}

/// The revocation list may have ended the session (its `sid`) or everything its subject had
/// before an instant (revoke-all): then the family ends too, and nothing is minted. Fails closed
/// when the list cannot be consulted.
async fn session_still_valid<P: Platform, V>(
    ctx: &SessionContext<'_, P, V>,
    sid: &str,
    grant: &Grant,
    created_at: u64,
) -> Result<(), Problem> {
    if !ctx.revocation.enabled {
        return Ok(());
    }
    crate::revocation::gate::ensure_snapshot(ctx.platform, ctx.revocation, ctx.snapshot).await?;
    let facts = CredentialFacts {
        iss: Some(ctx.issuer.issuer()),
        sub: Some(&grant.sub),
        sid: Some(sid),
        iat: Some(created_at),
        ..Default::default()
    };
    let revoked = ctx
        .snapshot
        .borrow()
        .set
        .check(&facts, ctx.platform.now_secs());
    if revoked.is_none() {
        return Ok(());
    }
    let end = FamilyCall::End {
        reason: EndReason::Revoked,
    };
    // Best effort: the list already refuses the session whatever the object says.
    let _ = client::call(ctx.platform, sid, &end).await;
    Err(invalid(ctx, "the session has been revoked; sign in again"))
}

pub(crate) async fn logout<P: Platform, V: SubjectTokenVerifier>(
    ctx: &SessionContext<'_, P, V>,
) -> Result<Reply, Problem> {
    cookie_request_checks(ctx.settings, ctx.head)?;
    let done = || Reply {
        status: 204,
        headers: vec![
            ("cache-control".into(), "no-store".into()),
            (
                "set-cookie".into(),
                cookie::clear(&ctx.settings.cookie_name),
            ),
        ],
        body: String::new(),
    };
    // Logging out without a (usable) cookie leaves nothing to end: the answer is the same.
    let token = match presented_token(ctx) {
        Ok(t) => t,
        Err(_) => return Ok(done()),
    };
    // As for a refresh: a DPoP-bound session ends only with a proof by its key, checked in full
    // here and compared with the session's key by the object (a stolen cookie alone cannot end
    // the holder's session); a refusal keeps the cookie.
    let proof_jkt =
        crate::dpop::issuance::refresh_proof_key(ctx.platform, ctx.dpop, ctx.head).await?;
    let call = FamilyCall::Logout {
        token_hash: token.hash(),
        proof_jkt,
    };
    match client::call(ctx.platform, &token.family_id, &call).await {
        Ok(FamilyAnswer::Ended { .. }) => {
            revoke_sid(ctx, &token.family_id).await;
            Ok(done())
        }
        Ok(FamilyAnswer::Invalid { .. }) => Ok(done()),
        Ok(FamilyAnswer::ProofRefused { reason }) => Err(crate::dpop::issuance::refresh_refused(
            ctx.dpop,
            reason == ProofRefusal::OtherKey,
        )),
        Ok(other) => Err(unavailable(
            ctx.platform,
            &format!("logout answered {other:?}"),
        )),
        Err(e) => Err(unavailable(ctx.platform, &e.0)),
    }
}

async fn revoke_sid<P: Platform, V>(ctx: &SessionContext<'_, P, V>, sid: &str) {
    let _ = revoke_session_id(ctx.platform, ctx.issuer, ctx.revocation, ctx.snapshot, sid).await;
}

/// Puts `sid` on the revocation list until the session's last access token has expired, and
/// applies it to this isolate's snapshot at once. A failure is logged (and returned): the family
/// is ended regardless, and its access tokens expire within `access_token_ttl_seconds`.
pub(crate) async fn revoke_session_id<P: Platform>(
    platform: &P,
    issuer: &SessionIssuer,
    revocation: &RevocationSettings,
    snapshot: &RefCell<SnapshotCache>,
    sid: &str,
) -> Result<(), String> {
    if !revocation.enabled {
        return Ok(());
    }
    let until = platform
        .now_secs()
        .saturating_add(issuer.access_token_ttl_secs())
        .saturating_add(SID_ENTRY_MARGIN_SECS);
    let write = RevocationWrite::Session {
        sid: sid.to_string(),
        iss: Some(issuer.issuer().to_string()),
        until,
    };
    match revocation_client::write(platform, &write).await {
        Ok(written) => {
            written.apply_locally(&mut snapshot.borrow_mut().set);
            Ok(())
        }
        Err(reason) => {
            crate::log::emit(
                platform,
                crate::log::Event::SessionRevocationFailed {
                    sid,
                    reason: &reason,
                },
            );
            Err(reason)
        }
    }
}

/// The audit line of a detected replay: a refresh token used twice means one of its holders is
/// not the user.
fn audit_reuse<P: Platform>(platform: &P, sid: &str, sub: &str, rotations: u64) {
    platform.log(
        &json!({
            "audit": "session.refresh_reused",
            "ts": platform.now_secs(),
            "outcome": "refused",
            "status": 401,
            "code": ErrorCode::RefreshTokenReused.as_str(),
            "sid": sid,
            "sub": sub,
            "rotations": rotations,
        })
        .to_string(),
    );
}
