//! Opaque bearer tokens, accepted by asking the authorization server (RFC 7662 introspection).
//!
//! Policy (docs/introspection.md):
//! - One authorization server (`introspection` section) accepts opaque tokens: a bearer token that
//!   is not JWT-shaped goes to it, and with `tokens = "all"` every bearer token does. Nothing is
//!   ambiguous because there is exactly one.
//! - Answers are cached in isolate memory by the token's SHA-256, never the token: an active one
//!   until min(`exp`, now + `cache_ttl_seconds`), an inactive or refused one for
//!   `negative_cache_ttl_seconds`. The cache is a `BoundedCache` (`cache_max_entries`).
//! - Requests for the same token share one POST: the others wait, polling isolate memory on their
//!   own timers (a request never awaits another request's future in workerd). The in-flight
//!   marker has a deadline (`timeout_ms` + `IN_FLIGHT_SLACK_MS`) past which a waiter takes over,
//!   and a guard clears it where the future is dropped.
//! - An endpoint failure (network, timeout, a status other than 200, a body that is not one JSON
//!   object) starts a cooldown (`failure_cooldown_seconds`): until it ends, a token without a
//!   cached answer is refused at once with 503 `introspection_unavailable` and `Retry-After`, and
//!   nothing is POSTed. Cached active answers keep serving within their TTL: the TTL is the
//!   staleness the operator accepted for a revocation at the server, outage or not.
//! - The identity goes through the revocation gate like a JWT's (`jti`, or `sha256:<hash>` when
//!   the answer has none; subject), on cache hits too.
//! - The answer's members are the token's claims: `introspection.claims_to_headers` and the
//!   routes' `require` read them through `claims::identity_claims`, as for a JWT. The cached
//!   identity carries them; a member that cannot travel refuses the answer (cached as a refusal).

pub(crate) mod answer;
pub(crate) mod client;
pub mod settings;

use std::cell::RefCell;
use std::collections::HashMap;

use base64::Engine;

use crate::bounded_cache::BoundedCache;
use crate::claims::ClaimSettings;
use crate::identity::Identity;
use crate::jose::jws::B64URL;
use crate::log::{self, Event};
use crate::platform::{FetchError, Platform};
use crate::problem::{ErrorCode, Problem};
use crate::token_cache::{token_hash, TokenHash};

use answer::Answer;
use client::ClientCredentials;
use settings::{IntrospectedTokens, IntrospectionSettings};

/// How long a waiting request sleeps between looks at another request's POST.
const WAIT_POLL_MS: u32 = 5;
/// How long past its deadline an in-flight marker is honoured: the POST's own timer fires at the
/// deadline, and its answer needs a moment to land in isolate memory (the JWKS cache's slack).
const IN_FLIGHT_SLACK_MS: u64 = 1_000;

/// The prefix of the token id the gateway gives an introspected token whose answer has no `jti`:
/// `sha256:` + base64url(SHA-256(token)). Revoking that `jti` revokes the token.
pub const TOKEN_HASH_ID_PREFIX: &str = "sha256:";

/// How long a subject revocation naming the introspection issuer is kept: the default bound on a
/// token's lifetime (`issuers[].max_token_lifetime_seconds`); the server decides its tokens'.
pub(crate) const SUBJECT_REVOCATION_SECS: u64 = 86_400;

/// The revocation id of an opaque token (`TOKEN_HASH_ID_PREFIX`).
pub fn token_hash_id(token: &str) -> String {
    format!("{TOKEN_HASH_ID_PREFIX}{}", B64URL.encode(token_hash(token)))
}

/// Whether `token` has the shape of a compact JWS/JWT (three dot-separated parts).
pub(crate) fn jwt_shaped(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// Whether the introspection issuer, rather than `issuers`, takes this bearer token.
pub(crate) fn takes(settings: &IntrospectionSettings, token: &str) -> bool {
    settings.enabled
        && match settings.tokens {
            IntrospectedTokens::All => true,
            IntrospectedTokens::Opaque => !jwt_shaped(token),
        }
}

// An active answer is the common case and is read on every hit; boxing it would add an
// allocation per answer to save memory only on the rarer refusals.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Cached {
    Active(Identity),
    Refused(Problem),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InFlight {
    id: u64,
    until_ms: u64,
}

/// The isolate's introspection state: cached answers, POSTs in flight, the failure cooldown.
pub(crate) struct IntrospectionCache {
    answers: BoundedCache<TokenHash, Cached>,
    in_flight: HashMap<TokenHash, InFlight>,
    next_id: u64,
    cooldown_until_ms: u64,
}

impl IntrospectionCache {
    pub(crate) fn new(cap: usize) -> Self {
        IntrospectionCache {
            answers: BoundedCache::new(cap),
            in_flight: HashMap::new(),
            next_id: 0,
            cooldown_until_ms: 0,
        }
    }
}

// One value per pass of the loop, moved once: boxing the finished result would only add an
// allocation to every cache hit.
#[allow(clippy::large_enum_variant)]
enum Step {
    Done(Result<Identity, Problem>),
    Wait { until_ms: u64 },
    Post { id: u64 },
}

fn inactive() -> Problem {
    Problem::new(
        ErrorCode::TokenInactive,
        "the authorization server says the token is not active",
    )
}

fn unavailable(retry_after_secs: u64, detail: &str) -> Problem {
    Problem::new(ErrorCode::IntrospectionUnavailable, detail)
        .with_header("retry-after", retry_after_secs.max(1).to_string())
}

/// The identity of `token` according to the introspection endpoint (or its cached answer), with
/// the claims `claims` (the configuration's `claims`) says the routes' conditions read.
pub(crate) async fn introspect<P: Platform>(
    cell: &RefCell<IntrospectionCache>,
    platform: &P,
    settings: &IntrospectionSettings,
    claims: &ClaimSettings,
    credentials: Option<&ClientCredentials>,
    token: &str,
) -> Result<Identity, Problem> {
    let hash = token_hash(token);
    let cooldown_ms = settings.failure_cooldown_seconds * 1000;
    for _ in 0..4 {
        let now = platform.now_ms();
        let step = {
            let mut c = cell.borrow_mut();
            if let Some(cached) = c.answers.get(&hash, now) {
                Step::Done(match cached {
                    Cached::Active(identity) => Ok(identity.clone()),
                    Cached::Refused(problem) => Err(problem.clone()),
                })
            } else if let Some(f) = c.in_flight.get(&hash).filter(|f| f.until_ms > now) {
                Step::Wait {
                    until_ms: f.until_ms,
                }
            } else if now < c.cooldown_until_ms {
                Step::Done(Err(unavailable(
                    (c.cooldown_until_ms - now).div_ceil(1000),
                    "the introspection endpoint failed recently; try again shortly",
                )))
            } else {
                let id = c.next_id;
                c.next_id += 1;
                let until_ms = now + u64::from(settings.timeout_ms) + IN_FLIGHT_SLACK_MS;
                c.in_flight.insert(hash, InFlight { id, until_ms });
                Step::Post { id }
            }
        };
        match step {
            Step::Done(result) => return result,
            Step::Wait { until_ms } => {
                while platform.now_ms() < until_ms {
                    platform.sleep(WAIT_POLL_MS).await;
                    let still = cell
                        .borrow()
                        .in_flight
                        .get(&hash)
                        .is_some_and(|f| f.until_ms > platform.now_ms());
                    if !still {
                        break;
                    }
                }
            }
            Step::Post { id } => {
                let mut guard = InFlightGuard {
                    cell,
                    hash,
                    id,
                    armed: true,
                };
                let result = post(platform, settings, claims, credentials, token).await;
                guard.armed = false;
                let now = platform.now_ms();
                let mut c = cell.borrow_mut();
                if c.in_flight.get(&hash).map(|f| f.id) == Some(id) {
                    c.in_flight.remove(&hash);
                }
                return match result {
                    Ok(Answer::Active(identity)) => {
                        let ttl_until = now + settings.cache_ttl_seconds * 1000;
                        let until = identity
                            .expires_at
                            .map_or(ttl_until, |exp| ttl_until.min(exp.saturating_mul(1000)));
                        c.answers
                            .insert(hash, Cached::Active(identity.clone()), until);
                        Ok(identity)
                    }
                    Ok(Answer::Inactive) => {
                        let problem = inactive();
                        c.answers.insert(
                            hash,
                            Cached::Refused(problem.clone()),
                            now + settings.negative_cache_ttl_seconds * 1000,
                        );
                        Err(problem)
                    }
                    Ok(Answer::Refused(problem)) => {
                        c.answers.insert(
                            hash,
                            Cached::Refused(problem.clone()),
                            now + settings.negative_cache_ttl_seconds * 1000,
                        );
                        Err(problem)
                    }
                    Err(reason) => {
                        c.cooldown_until_ms = now + cooldown_ms;
                        drop(c);
                        log::emit(
                            platform,
                            Event::IntrospectionFailed {
                                endpoint: &settings.endpoint,
                                reason: &reason,
                            },
                        );
                        Err(unavailable(
                            settings.failure_cooldown_seconds,
                            "the introspection endpoint could not be consulted",
                        ))
                    }
                };
            }
        }
    }
    Err(unavailable(
        settings.failure_cooldown_seconds,
        "the introspection endpoint did not answer in time",
    ))
}

/// One POST to the endpoint and its answer read; `Err` is an endpoint failure (never a secret or
/// the token in it).
async fn post<P: Platform>(
    platform: &P,
    settings: &IntrospectionSettings,
    claims: &ClaimSettings,
    credentials: Option<&ClientCredentials>,
    token: &str,
) -> Result<Answer, String> {
    let credentials = credentials
        .ok_or_else(|| "no client credentials (the Workers secret is not set)".to_string())?;
    let (headers, body) = client::request(platform, settings, credentials, token).await?;
    let response = platform
        .http_post(
            &settings.endpoint,
            &headers,
            body.as_bytes(),
            settings.timeout_ms,
            settings.max_response_bytes,
        )
        .await
        .map_err(|e| match e {
            FetchError::Timeout => "timed out".to_string(),
            FetchError::TooLarge => "the answer is larger than max_response_bytes".to_string(),
            FetchError::Network(m) => format!("network: {}", crate::request::truncate(&m, 200)),
        })?;
    if response.status != 200 {
        return Err(format!("status {}", response.status));
    }
    answer::read_answer(
        settings,
        claims,
        &response.body,
        &token_hash_id(token),
        platform.now_secs(),
    )
    .map_err(|m| m.0.to_string())
}

/// Clears an in-flight marker whose POST future is dropped before it finishes.
struct InFlightGuard<'a> {
    cell: &'a RefCell<IntrospectionCache>,
    hash: TokenHash,
    id: u64,
    armed: bool,
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(mut c) = self.cell.try_borrow_mut() else {
            return;
        };
        if c.in_flight.get(&self.hash).map(|f| f.id) == Some(self.id) {
            c.in_flight.remove(&self.hash);
        }
    }
}

#[cfg(test)]
mod tests;
