//! Stage 4: per-identity rate limits. It returns the headers the response will carry
//! (`RateLimit-Policy`, `RateLimit`, draft-ietf-httpapi-ratelimit-headers-11) or a refusal:
//! 429 `rate_limited` with `Retry-After`, or 503 `rate_limiter_unavailable` when the limiter
//! cannot be reached and the policy says `on_error = "deny"`.
//!
//! The policy is the API key's own (its record's `rate_limit_policy`) when it names one, else the
//! route's. The budget is counted against the identity (`Identity::rate_limit_key`): the API key
//! id or the JWT issuer + subject, never the IP. Only an anonymous caller on a public route whose
//! policy says `key = "ip"` is counted by `CF-Connecting-IP`.
//!
//! `exact` policies ask the identity's Durable Object on every request; `fast` ones decide from
//! the isolate's lease (`ratelimit::lease`) and settle in the background. See docs/rate-limits.md.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::json;

use crate::identity::{AuthMethod, Identity};
use crate::platform::{Platform, StoreError};
use crate::problem::{ErrorCode, Problem};
use crate::ratelimit::gcra::Acquire;
use crate::ratelimit::headers::{self, POLICY_HEADER};
use crate::ratelimit::lease::{AskOutcome, Decision, LeaseTable, SyncRequest};
use crate::ratelimit::service::{LimiterRequest, LimiterResponse};
use crate::ratelimit::{Mode, OnError, Policy};
use crate::route::Route;

use super::{Gateway, Refusal, RequestHead};

/// The isolate's `fast`-mode state, shared with the background syncs it starts.
#[derive(Debug, Default)]
pub struct Leases {
    pub table: LeaseTable,
    /// Why the last background sync failed, for the next request to log.
    pub last_error: Option<String>,
}

pub async fn limit<K: Clone, P: Platform<Key = K>>(
    gw: &Gateway<K>,
    platform: &P,
    req: &RequestHead,
    route: &Route,
    identity: &Identity,
) -> Result<Vec<(String, String)>, Refusal> {
    let name = match identity
        .rate_limit_policy
        .as_ref()
        .or(route.rate_limit.as_ref())
    {
        Some(n) => n,
        None => return Ok(Vec::new()),
    };
    let Some(policy) = gw.config.rate_limits.get(name) else {
        // Only an API key record can name an undefined policy (routes are checked at start-up).
        platform.log(
            &json!({"event": "rate_limit_policy_unknown", "policy": name, "key_id": identity.key_id})
                .to_string(),
        );
        return Err(Refusal::plain(Problem::new(
            ErrorCode::RateLimiterUnavailable,
            format!(
                "the API key names rate-limit policy {name:?}, which this gateway does not define"
            ),
        )));
    };
    let key = counting_key(req, identity);
    match policy.mode {
        Mode::Exact => exact(platform, policy, &key).await,
        Mode::Fast => fast(platform, &gw.leases, policy, &key).await,
    }
}

/// The budget's key: the identity, or for an anonymous caller (public routes only) the client IP
/// as Cloudflare saw it.
pub fn counting_key(req: &RequestHead, identity: &Identity) -> String {
    if identity.method == AuthMethod::Public {
        let ip = req
            .headers_named("cf-connecting-ip")
            .next()
            .unwrap_or("unknown");
        format!("ip:{ip}")
    } else {
        identity.rate_limit_key()
    }
}

fn over_limit(policy: &Policy, retry_after_ms: u64) -> Refusal {
    let secs = retry_after_ms.div_ceil(1000).max(1);
    let mut problem = Problem::new(
        ErrorCode::RateLimited,
        format!(
            "the {} rate limit is used up; retry in {secs} s",
            policy.name
        ),
    )
    .with_header("retry-after", secs.to_string())
    // draft-ietf-httpapi-ratelimit-headers-11 §5.1.
    .with_extension("violated-policies", json!([policy.name]));
    for (n, v) in headers::headers(policy, 0, secs) {
        problem = problem.with_header(&n, v);
    }
    Refusal::plain(problem)
}

/// The limiter could not be reached: the policy's `on_error` decides.
fn unreachable<P: Platform>(
    platform: &P,
    policy: &Policy,
    why: &str,
) -> Result<Vec<(String, String)>, Refusal> {
    platform.log(
        &json!({"event": "rate_limiter_unavailable", "policy": policy.name, "on_error": match policy.on_error {
            OnError::Deny => "deny",
            OnError::Allow => "allow",
        }, "reason": why})
        .to_string(),
    );
    match policy.on_error {
        OnError::Deny => Err(Refusal::plain(
            Problem::new(
                ErrorCode::RateLimiterUnavailable,
                "the rate limiter could not be reached; try again shortly",
            )
            .with_header("retry-after", "1"),
        )),
        // The state is unknown: the policy is announced, the remaining quota is not.
        OnError::Allow => Ok(vec![(
            POLICY_HEADER.to_string(),
            headers::policy_value(policy),
        )]),
    }
}

fn parse_answer(text: Result<String, StoreError>) -> Result<LimiterResponse, String> {
    let text = text.map_err(|e| e.0)?;
    serde_json::from_str(&text).map_err(|e| format!("unreadable answer: {e}"))
}

fn call_body(policy: &Policy, acquire: Acquire) -> String {
    serde_json::to_string(&LimiterRequest::new(&policy.name, &policy.rate, acquire))
        .unwrap_or_default()
}

/// `exact`: the identity's object decides this request.
async fn exact<P: Platform>(
    platform: &P,
    policy: &Policy,
    key: &str,
) -> Result<Vec<(String, String)>, Refusal> {
    let body = call_body(
        policy,
        Acquire {
            want: 1,
            ..Default::default()
        },
    );
    match parse_answer(platform.limiter_call(key, body).await) {
        Ok(a) if a.granted >= 1 => Ok(headers::headers(policy, a.remaining, a.grant().next_secs())),
        Ok(a) => Err(over_limit(policy, a.next_ms)),
        Err(why) => unreachable(platform, policy, &why),
    }
}

/// `fast`: the isolate decides from its lease; the object is asked inline only when the isolate
/// has neither leased units nor credit left.
async fn fast<P: Platform>(
    platform: &P,
    leases: &Rc<RefCell<Leases>>,
    policy: &Policy,
    key: &str,
) -> Result<Vec<(String, String)>, Refusal> {
    let now = platform.now_ms();
    let lease_key = format!("{}|{key}", policy.name);
    let (decision, failed) = {
        let mut l = leases.borrow_mut();
        let d = l.table.entry(&lease_key, policy, now).decide(policy, now);
        (d, l.last_error.take())
    };
    if let Some(why) = failed {
        platform.log(&json!({"event": "rate_limit_sync_failed", "reason": why}).to_string());
    }
    match decision {
        Decision::Admit {
            sync,
            remaining,
            reset_secs,
        } => {
            if let Some(sent) = sync {
                sync_in_background(platform, leases, policy, key, lease_key, sent, now);
            }
            Ok(headers::headers(policy, remaining, reset_secs))
        }
        Decision::Deny { retry_after_ms } => Err(over_limit(policy, retry_after_ms)),
        Decision::AskFirst(sent) => {
            let answer = parse_answer(platform.limiter_call(key, sync_body(policy, &sent)).await);
            let mut l = leases.borrow_mut();
            let state = l.table.entry(&lease_key, policy, now);
            match answer {
                Ok(a) => match state.settle_ask(policy, &sent, &a.grant(), a.now.max(now)) {
                    AskOutcome::Admit {
                        remaining,
                        reset_secs,
                    } => Ok(headers::headers(policy, remaining, reset_secs)),
                    AskOutcome::Deny { retry_after_ms } => Err(over_limit(policy, retry_after_ms)),
                },
                Err(why) => {
                    state.fail(&sent, now);
                    drop(l);
                    unreachable(platform, policy, &why)
                }
            }
        }
    }
}

fn sync_body(policy: &Policy, sent: &SyncRequest) -> String {
    call_body(
        policy,
        Acquire {
            charge: sent.charge,
            refund: sent.refund,
            want: sent.want,
        },
    )
}

/// Settles with the identity's object in this request's `waitUntil`; the answer lands in isolate
/// memory, where later requests read it. Nothing waits on it.
fn sync_in_background<P: Platform>(
    platform: &P,
    leases: &Rc<RefCell<Leases>>,
    policy: &Policy,
    key: &str,
    lease_key: String,
    sent: SyncRequest,
    started: u64,
) {
    let call = platform.limiter_call(key, sync_body(policy, &sent));
    let leases = Rc::clone(leases);
    let policy = policy.clone();
    platform.wait_until(async move {
        let answer = parse_answer(call.await);
        let mut l = leases.borrow_mut();
        let state = l.table.entry(&lease_key, &policy, started);
        match answer {
            Ok(a) => state.settle(&policy, &sent, &a.grant(), a.now.max(started)),
            Err(why) => {
                state.fail(&sent, started);
                l.last_error = Some(why);
            }
        }
    });
}
