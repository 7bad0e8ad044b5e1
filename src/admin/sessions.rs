//! The session endpoints of the admin API (under the admin prefix, same authentication and
//! `admin.scope` as the rest of it; served when `sessions.enabled`):
//!
//! | method | path                       | body    | answer |
//! |--------|----------------------------|---------|--------|
//! | GET    | /sessions?sub=<sub>        |         | 200 `{sub, sessions: [{sid, sub, scope, amr, created_at, last_used, expires_at, rotations, ended?}], truncated}` |
//! | POST   | /sessions/{sid}/revoke     |         | 200 `{sid, sub, revoked: true}`; 404 `session_not_found`-style `route_not_found` for an unknown sid |
//! | POST   | /sessions/revoke-all       | `{sub}` | 200 `{sub, ended, before}` |
//!
//! A listing shows no token and no hash. Revoking one session ends its family and puts its `sid`
//! on the revocation list; revoking all of a subject's also sets the subject's revoked-before
//! instant for the gateway's issuer, which both refuses every access token issued before it and
//! ends at its next refresh any family the (eventually consistent) index did not list.

use std::cell::RefCell;

use serde::Deserialize;
use serde_json::json;

use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
use crate::revocation::client::{self as revocation_client, RevocationWrite};
use crate::revocation::{RevocationSettings, SnapshotCache};
use crate::session::client;
use crate::session::family::{EndReason, FamilyAnswer, FamilyCall, SessionView};
use crate::session::refresh::revoke_session_id;
use crate::session::refresh_token::is_family_id;
use crate::session::settings::SessionSettings;
use crate::signing::issuer::SessionIssuer;

use super::audit::Audit;
use super::{bad_request, parse_body, Answer};

/// What the session endpoints need from the gateway.
pub struct SessionAdmin<'a> {
    pub(crate) settings: &'a SessionSettings,
    pub(crate) issuer: &'a SessionIssuer,
    pub(crate) revocation: &'a RevocationSettings,
    pub(crate) snapshot: &'a RefCell<SnapshotCache>,
}

pub(super) enum Action {
    List,
    Revoke(String),
    RevokeAll,
}

impl Action {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Action::List => "session.list",
            Action::Revoke(_) => "session.revoke",
            Action::RevokeAll => "session.revoke_all",
        }
    }

    pub(super) fn method(&self) -> &'static str {
        match self {
            Action::List => "GET",
            _ => "POST",
        }
    }
}

/// `/sessions…` → its action, or the 404 for an unknown path below it; `None` for any other
/// admin path.
pub(super) fn route(path: &str) -> Option<Result<Action, Problem>> {
    let rest = crate::path::under_prefix(path, "/sessions")?;
    let not_found = || {
        Err(Problem::new(
            ErrorCode::RouteNotFound,
            "the session admin API serves /sessions?sub=…, /sessions/{sid}/revoke and /sessions/revoke-all",
        ))
    };
    Some(match rest {
        "" | "/" => Ok(Action::List),
        "/revoke-all" => Ok(Action::RevokeAll),
        _ => match rest
            .strip_prefix('/')
            .and_then(|r| r.strip_suffix("/revoke"))
        {
            Some(sid) if is_family_id(sid) => Ok(Action::Revoke(sid.to_string())),
            _ => not_found(),
        },
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeAllBody {
    sub: String,
}

fn unavailable(reason: &str) -> Problem {
    Problem::new(
        ErrorCode::SessionUnavailable,
        format!("the session store could not be reached: {reason}"),
    )
    .with_header("retry-after", "5")
}

/// The `sub` query parameter (percent-decoded).
fn sub_param(query: Option<&str>) -> Result<String, Problem> {
    let raw = query
        .unwrap_or_default()
        .split('&')
        .find_map(|p| p.strip_prefix("sub="))
        .ok_or_else(|| bad_request("sub: the query parameter is required (?sub=…)"))?;
    let sub = crate::url::percent_decode(raw)
        .ok_or_else(|| bad_request("sub: not a valid percent-encoded UTF-8 value"))?;
    check_sub(&sub)?;
    Ok(sub)
}

fn check_sub(sub: &str) -> Result<(), Problem> {
    if sub.is_empty() || sub.len() > crate::session::family::MAX_SUB_BYTES {
        return Err(bad_request("sub: 1 to 512 bytes"));
    }
    Ok(())
}

/// The live (or ended, still kept) sessions the index lists for `sub`.
async fn sessions_of<P: Platform>(
    platform: &P,
    sub: &str,
) -> Result<(Vec<SessionView>, bool), Problem> {
    let (sids, truncated) = crate::session::index::list(platform, sub)
        .await
        .map_err(|e| unavailable(&e))?;
    let mut out = Vec::new();
    for sid in sids {
        match client::call(platform, &sid, &FamilyCall::Show).await {
            // The index is keyed by a hash of `sub`; the object says whose session it is.
            Ok(FamilyAnswer::Session { session }) if session.sub == sub => out.push(session),
            Ok(_) => {}
            Err(e) => return Err(unavailable(&e.0)),
        }
    }
    Ok((out, truncated))
}

pub(super) async fn run<P: Platform>(
    admin: &SessionAdmin<'_>,
    platform: &P,
    action: &Action,
    query: Option<&str>,
    body: &[u8],
    audit: &mut Audit,
) -> Result<Answer, Problem> {
    match action {
        Action::List => {
            let sub = sub_param(query)?;
            audit.add("sub", json!(sub));
            let (sessions, truncated) = sessions_of(platform, &sub).await?;
            audit.add("count", json!(sessions.len()));
            Ok(Answer::json(
                200,
                json!({"sub": sub, "sessions": sessions, "truncated": truncated}),
            ))
        }
        Action::Revoke(sid) => {
            audit.add("sid", json!(sid));
            let end = FamilyCall::End {
                reason: EndReason::Revoked,
            };
            let sub = match client::call(platform, sid, &end).await {
                Ok(FamilyAnswer::Ended { sub }) => sub,
                Ok(FamilyAnswer::Invalid { .. }) => {
                    return Err(Problem::new(
                        ErrorCode::RouteNotFound,
                        "no session with this sid (it may have expired)",
                    )
                    .with_status(404))
                }
                Ok(other) => return Err(unavailable(&format!("end answered {other:?}"))),
                Err(e) => return Err(unavailable(&e.0)),
            };
            audit.add("sub", json!(sub));
            revoke_session_id(
                platform,
                admin.issuer,
                admin.revocation,
                admin.snapshot,
                sid,
            )
            .await
            .map_err(|e| unavailable(&e))?;
            Ok(Answer::json(
                200,
                json!({"sid": sid, "sub": sub, "revoked": true}),
            ))
        }
        Action::RevokeAll => {
            let b: RevokeAllBody = parse_body(body, false)?;
            check_sub(&b.sub)?;
            audit.add("sub", json!(b.sub));
            // Rounded up, as the revocation API does: every token issued before the call, and
            // every family started before it, is covered.
            let before = platform.now_ms().div_ceil(1000);
            if admin.revocation.enabled {
                let until = before
                    .saturating_add(admin.settings.refresh_absolute_lifetime_seconds)
                    .saturating_add(admin.issuer.access_token_ttl_secs())
                    .saturating_add(120);
                let write = RevocationWrite::Subject {
                    sub: b.sub.clone(),
                    iss: Some(admin.issuer.issuer().to_string()),
                    before,
                    until,
                };
                let written = revocation_client::write(platform, &write)
                    .await
                    .map_err(|e| unavailable(&e))?;
                written.apply_locally(&mut admin.snapshot.borrow_mut().set);
            }
            let (sessions, _) = sessions_of(platform, &b.sub).await?;
            let mut ended = 0;
            for s in sessions.iter().filter(|s| s.ended.is_none()) {
                let end = FamilyCall::End {
                    reason: EndReason::Revoked,
                };
                if let Ok(FamilyAnswer::Ended { .. }) = client::call(platform, &s.sid, &end).await {
                    ended += 1;
                }
            }
            audit.add("ended", json!(ended));
            audit.add("before", json!(before));
            Ok(Answer::json(
                200,
                json!({"sub": b.sub, "ended": ended, "before": before}),
            ))
        }
    }
}
