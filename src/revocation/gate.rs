//! The revocation check on the request path. The authenticate stage runs it on every identity it
//! produces — verified-token cache hits included — so a revoked credential is refused however it
//! was recognized.
//!
//! `snapshot` routes decide from isolate memory (no network hop) while the snapshot is younger
//! than `max_staleness_ms`, refreshing it in the background once it is older than
//! `refresh_interval_ms`; an older snapshot is refreshed inline, and when that fails the request
//! is refused with 503 `revocation_unavailable` (fail closed). `strict` routes ask the revocation
//! Durable Object on every request.

use std::cell::RefCell;
use std::rc::Rc;

use serde::Deserialize;

use crate::identity::{AuthMethod, Identity};
use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};

use super::set::{CredentialFacts, Revoked};
use super::settings::{RevocationMode, RevocationSettings};
use super::snapshot::{Freshness, SnapshotCache};

/// What a credential says about itself, for the check.
pub fn facts(identity: &Identity) -> CredentialFacts<'_> {
    match identity.method {
        AuthMethod::Jwt => CredentialFacts {
            iss: identity.issuer.as_deref(),
            jti: identity.token_id.as_deref(),
            sub: Some(identity.subject.as_str()),
            iat: identity.issued_at,
            key_id: None,
        },
        AuthMethod::ApiKey => CredentialFacts {
            key_id: identity.key_id.as_deref(),
            ..Default::default()
        },
        AuthMethod::Public => CredentialFacts::default(),
    }
}

/// `Ok` when the identity is not revoked; otherwise the refusal (401 `token_revoked` /
/// `api_key_revoked`, or 503 `revocation_unavailable`).
pub async fn check<P: Platform>(
    platform: &P,
    settings: &RevocationSettings,
    cache: &Rc<RefCell<SnapshotCache>>,
    mode: RevocationMode,
    identity: &Identity,
) -> Result<(), Problem> {
    if !settings.enabled || identity.method == AuthMethod::Public {
        return Ok(());
    }
    let facts = facts(identity);
    let verdict = match mode {
        RevocationMode::Strict => ask_object(platform, cache, &facts).await?,
        RevocationMode::Snapshot => {
            ensure_snapshot(platform, settings, cache).await?;
            cache.borrow().set.check(&facts, platform.now_secs())
        }
    };
    match verdict {
        None => Ok(()),
        Some(r) => Err(refusal(r)),
    }
}

pub fn refusal(r: Revoked) -> Problem {
    match r {
        Revoked::Token => Problem::new(ErrorCode::TokenRevoked, "the token has been revoked"),
        Revoked::Subject { before } => Problem::new(
            ErrorCode::TokenRevoked,
            format!("every token of this subject issued before {before} (Unix time) has been revoked; obtain a new one"),
        ),
        Revoked::Key => Problem::new(ErrorCode::ApiKeyRevoked, "the API key has been revoked"),
    }
}

fn unavailable() -> Problem {
    Problem::new(
        ErrorCode::RevocationUnavailable,
        "the revocation list could not be consulted; try again shortly",
    )
    .with_header("retry-after", "1")
}

fn log_failure<P: Platform>(platform: &P, cache: &Rc<RefCell<SnapshotCache>>) {
    let why = cache.borrow_mut().take_last_error();
    if let Some(why) = why {
        platform.log(
            &serde_json::json!({"event": "revocation_refresh_failed", "reason": why}).to_string(),
        );
    }
}

/// Makes sure the isolate's snapshot may be used now, refreshing inline when it is too old.
pub async fn ensure_snapshot<P: Platform>(
    platform: &P,
    settings: &RevocationSettings,
    cache: &Rc<RefCell<SnapshotCache>>,
) -> Result<(), Problem> {
    let now = platform.now_ms();
    let s = settings.refresh();
    // A background refresh that failed since the last request is reported here.
    log_failure(platform, cache);
    let (freshness, background) = {
        let c = cache.borrow();
        (c.freshness(&s, now), c.wants_background_refresh(&s, now))
    };
    match freshness {
        Freshness::Fresh => Ok(()),
        Freshness::Stale => {
            if background {
                refresh_in_background(platform, cache, now);
            }
            Ok(())
        }
        Freshness::Expired => {
            let since = cache.borrow().since();
            let result = platform
                .revocation_call("GET", &format!("/snapshot?since={since}"), None)
                .await;
            let outcome = match result {
                Ok(body) => cache.borrow_mut().complete(now, since, &body),
                Err(e) => {
                    cache.borrow_mut().fail(now, e.0.clone());
                    Err(e.0)
                }
            };
            if outcome.is_err() {
                log_failure(platform, cache);
                return Err(unavailable());
            }
            Ok(())
        }
    }
}

/// Starts a refresh in the `waitUntil` of this request. It writes isolate memory when it lands
/// and nothing ever waits on it.
pub fn refresh_in_background<P: Platform>(
    platform: &P,
    cache: &Rc<RefCell<SnapshotCache>>,
    now: u64,
) {
    let since = cache.borrow_mut().begin_background(now);
    let call = platform.revocation_call("GET", &format!("/snapshot?since={since}"), None);
    let cache = Rc::clone(cache);
    platform.wait_until(async move {
        let result = call.await;
        let mut c = cache.borrow_mut();
        match result {
            Ok(body) => {
                let _ = c.complete(now, since, &body);
            }
            Err(e) => c.fail(now, e.0),
        }
    });
}

#[derive(Deserialize)]
struct CheckAnswer {
    version: u64,
    revoked: Option<String>,
    #[serde(default)]
    before: Option<u64>,
}

/// `strict`: one round trip to the object. Its answer also tells whether the snapshot is behind;
/// if so the snapshot is refreshed in the background, keeping `snapshot` routes warm too.
async fn ask_object<P: Platform>(
    platform: &P,
    cache: &Rc<RefCell<SnapshotCache>>,
    facts: &CredentialFacts<'_>,
) -> Result<Option<Revoked>, Problem> {
    let now = platform.now_ms();
    let body = serde_json::to_string(facts).unwrap_or_default();
    let answer = platform
        .revocation_call("POST", "/check", Some(body))
        .await
        .map_err(|e| e.0)
        .and_then(|text| {
            serde_json::from_str::<CheckAnswer>(&text)
                .map_err(|e| format!("unreadable answer: {e}"))
        });
    let answer = match answer {
        Ok(a) => a,
        Err(why) => {
            platform.log(
                &serde_json::json!({"event": "revocation_check_failed", "reason": why}).to_string(),
            );
            return Err(unavailable());
        }
    };
    let behind = {
        let c = cache.borrow();
        c.age_ms(now).is_some() && answer.version > c.set.version && !c.refresh_running(now)
    };
    if behind {
        refresh_in_background(platform, cache, now);
    }
    Ok(match answer.revoked.as_deref() {
        None => None,
        Some("token") => Some(Revoked::Token),
        Some("key") => Some(Revoked::Key),
        Some("subject") => Some(Revoked::Subject {
            before: answer.before.unwrap_or(0),
        }),
        // An answer this build does not know still says "revoked".
        Some(_) => Some(Revoked::Token),
    })
}
