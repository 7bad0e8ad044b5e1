//! The issuers' signing keys, cached in isolate memory.
//!
//! Policy (documented in docs/config.md, "`jwks` — the JWKS cache"):
//! - A fetched JWKS is fresh for its `Cache-Control: max-age`, clamped to
//!   `[min_ttl_seconds, max_ttl_seconds]` (`default_ttl_seconds` when absent; `no-store`/`no-cache`
//!   count as the minimum).
//! - Fetches per issuer are gated by one cooldown (`refetch_cooldown_seconds`, default 30 s): an
//!   unknown `kid` triggers at most one refetch per cooldown, and a failing issuer is retried at most
//!   once per cooldown.
//! - Concurrent requests share one in-flight fetch: the others wait (polling isolate memory on their
//!   own timers, so no request ever resumes inside another request's I/O context).
//! - The in-flight marker has a deadline (`fetch_timeout_ms`, which bounds the whole fetch,
//!   discovery included, plus `IN_FLIGHT_SLACK_MS`). On Workers a request whose client disconnects
//!   is cancelled and its fetch never comes back to this module; past the deadline a waiting (or
//!   the next) request takes over, and when no key is usable the abandoned fetch does not hold back
//!   that takeover with the cooldown — a cold isolate would otherwise answer 503 until the cooldown
//!   ended. Where a cancelled request's future is dropped (native runtimes), a guard clears the
//!   marker at once.
//! - When a refetch fails, the cached keys keep serving until `stale_if_error_seconds` past their
//!   freshness (stale-if-error). No usable key at all → `jwks_unavailable` (fail closed).
//! - `jku`/`x5u`/`jwk`/`x5c` never reach this module: keys come only from the configured (or
//!   discovered) `jwks_uri`.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::config::{IssuerConfig, JwksSettings};
use crate::jose::jwk::{parse_jwks, Jwk, JwkSet};
use crate::jose::Alg;
use crate::location_cache::{max_age_secs, LocationEntry, LocationTier};
use crate::log::{self, Event};
use crate::platform::{FetchError, Platform};
use crate::url::check_url;

/// How long a waiting request sleeps between looks at another request's in-flight fetch.
const WAIT_POLL_MS: u32 = 5;
/// How long past its fetch deadline an in-flight marker is honoured: the fetch's own timer fires at
/// the deadline, and its result needs a moment to land in isolate memory.
pub(crate) const IN_FLIGHT_SLACK_MS: u64 = 1_000;
/// At most this many keys are imported for one token: the verification's own limit.
const MAX_CANDIDATES: usize = crate::jose::verify::MAX_KEYS_PER_TOKEN;

use crate::jose::verify::KeyLookupError;

struct CachedJwk<K> {
    jwk: Jwk,
    imported: Vec<(Alg, K)>,
}

struct IssuerState<K> {
    jwks_uri: Option<String>,
    keys: Vec<CachedJwk<K>>,
    has_keys: bool,
    /// Bumped on every replacement of `keys`, so a key imported from an older set is not stored
    /// into a newer one.
    generation: u64,
    fresh_until_ms: u64,
    stale_until_ms: u64,
    /// When the identity provider was asked for the current set (here or, through the location
    /// tier, by another isolate).
    fetched_at_ms: u64,
    next_fetch_allowed_ms: u64,
    /// The fetch some request is running for this issuer, if any.
    in_flight: Option<InFlight>,
    fetches: u64,
}

/// A started fetch: which one (so a late or abandoned fetch never clears a newer one's marker) and
/// until when other requests wait for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InFlight {
    id: u64,
    until_ms: u64,
}

impl<K> Default for IssuerState<K> {
    fn default() -> Self {
        IssuerState {
            jwks_uri: None,
            keys: Vec::new(),
            has_keys: false,
            generation: 0,
            fresh_until_ms: 0,
            stale_until_ms: 0,
            fetched_at_ms: 0,
            next_fetch_allowed_ms: 0,
            in_flight: None,
            fetches: 0,
        }
    }
}

pub(crate) struct JwksCache<K> {
    issuers: HashMap<String, IssuerState<K>>,
    /// The location tier, when key sets are shared through the location's cache.
    location: Option<LocationTier>,
}

impl<K> Default for JwksCache<K> {
    fn default() -> Self {
        JwksCache {
            issuers: HashMap::new(),
            location: None,
        }
    }
}

impl<K> JwksCache<K> {
    /// Fetches read the location's copy first (`location_cache.jwks`).
    pub(crate) fn share_through(&mut self, tier: LocationTier) {
        if tier.jwks {
            self.location = Some(tier);
        }
    }
}

/// A key to try: already imported (the common case, no copy of the JWK), or to import first.
enum Candidate<K> {
    Ready(K),
    /// Where the key sits (set generation, index), so its import can be stored back.
    ToImport {
        generation: u64,
        index: usize,
        jwk: Jwk,
    },
}

enum Step<K> {
    /// Candidate keys: (generation, index, jwk, imported key if any).
    Use(Vec<Candidate<K>>),
    Fetch {
        uri: Option<String>,
        id: u64,
        /// An earlier fetch passed its deadline without an answer (its request was cancelled).
        took_over: bool,
    },
    Wait {
        until_ms: u64,
    },
    Fail(KeyLookupError),
}

impl<K: Clone> JwksCache<K> {
    /// The keys to try for a token from `issuer` with this `kid` and `alg`, imported and ready.
    pub(crate) async fn keys_for<P: Platform<Key = K>>(
        cell: &RefCell<Self>,
        platform: &P,
        settings: &JwksSettings,
        issuer: &IssuerConfig,
        kid: Option<&str>,
        alg: Alg,
    ) -> Result<Vec<K>, KeyLookupError> {
        // Each pass either answers, fetches once, or waits for another request's fetch; a fetch
        // moves the cooldown gate forward, so this ends after at most a few passes.
        for _ in 0..4 {
            let now = platform.now_ms();
            let step = cell.borrow_mut().decide(settings, issuer, kid, alg, now);
            match step {
                Step::Use(cands) => {
                    return Self::import_all(cell, platform, issuer, alg, cands).await
                }
                Step::Fail(e) => return Err(e),
                Step::Wait { until_ms } => {
                    while platform.now_ms() < until_ms {
                        platform.sleep(WAIT_POLL_MS).await;
                        let still = cell
                            .borrow()
                            .issuers
                            .get(&issuer.issuer)
                            .and_then(|s| s.in_flight)
                            .is_some_and(|f| f.until_ms > platform.now_ms());
                        if !still {
                            break;
                        }
                    }
                }
                Step::Fetch { uri, id, took_over } => {
                    if took_over {
                        log::emit(
                            platform,
                            Event::JwksFetchAbandoned {
                                issuer: &issuer.issuer,
                            },
                        );
                    }
                    let mut guard = InFlightGuard {
                        cell,
                        issuer: &issuer.issuer,
                        id,
                        armed: true,
                    };
                    let (tier, own) = {
                        let this = cell.borrow();
                        let own = this
                            .issuers
                            .get(&issuer.issuer)
                            .filter(|s| s.has_keys)
                            .map(|s| s.fetched_at_ms);
                        (this.location.clone(), own)
                    };
                    let result =
                        fetch_shared(platform, settings, issuer, uri, tier.as_ref(), own).await;
                    guard.armed = false;
                    let now = platform.now_ms();
                    let mut this = cell.borrow_mut();
                    let state = this.issuers.entry(issuer.issuer.clone()).or_default();
                    if state.in_flight.map(|f| f.id) != Some(id) {
                        // Taken over after its deadline: a newer fetch owns the state now.
                        continue;
                    }
                    state.in_flight = None;
                    match result {
                        Ok(Fetched {
                            uri,
                            set,
                            fetched_at_ms,
                            fresh_until_ms,
                            from_location,
                        }) => {
                            state.jwks_uri = Some(uri);
                            state.generation += 1;
                            state.keys = set
                                .keys
                                .into_iter()
                                .map(|jwk| CachedJwk {
                                    jwk,
                                    imported: Vec::new(),
                                })
                                .collect();
                            state.has_keys = true;
                            state.fetched_at_ms = fetched_at_ms;
                            state.fresh_until_ms = fresh_until_ms;
                            state.stale_until_ms =
                                state.fresh_until_ms + settings.stale_if_error_secs * 1000;
                            if !from_location {
                                log::emit(
                                    platform,
                                    Event::JwksFetched {
                                        issuer: &issuer.issuer,
                                        keys: state.keys.len(),
                                        skipped: set.skipped,
                                        ttl_s: fresh_until_ms.saturating_sub(now) / 1000,
                                    },
                                );
                            }
                        }
                        Err(reason) => {
                            log::emit(
                                platform,
                                Event::JwksFetchFailed {
                                    issuer: &issuer.issuer,
                                    reason: &reason,
                                },
                            );
                            if !state.has_keys || now >= state.stale_until_ms {
                                let wait = state.next_fetch_allowed_ms.saturating_sub(now);
                                return Err(KeyLookupError::Unavailable {
                                    retry_after_secs: wait.div_ceil(1000).max(1),
                                });
                            }
                        }
                    }
                }
            }
        }
        Err(KeyLookupError::KeyUnknown)
    }

    fn decide(
        &mut self,
        settings: &JwksSettings,
        issuer: &IssuerConfig,
        kid: Option<&str>,
        alg: Alg,
        now: u64,
    ) -> Step<K> {
        let state = self.issuers.entry(issuer.issuer.clone()).or_default();
        let fresh = state.has_keys && now < state.fresh_until_ms;
        let usable = state.has_keys && now < state.stale_until_ms;
        let mut took_over = false;
        if let Some(f) = state.in_flight {
            if f.until_ms > now {
                return Step::Wait {
                    until_ms: f.until_ms,
                };
            }
            // Past its deadline with no answer: the request running it was cancelled. It learned
            // nothing, so with no usable key it does not hold the next fetch back.
            state.in_flight = None;
            took_over = true;
            if !usable {
                state.next_fetch_allowed_ms = now;
            }
        }
        let may_fetch = now >= state.next_fetch_allowed_ms;
        let candidates: Vec<Candidate<K>> = if usable {
            state
                .keys
                .iter()
                .enumerate()
                .filter(|(_, c)| kid.is_none_or(|k| c.jwk.kid.as_deref() == Some(k)))
                .filter(|(_, c)| c.jwk.supports(alg))
                .take(MAX_CANDIDATES)
                .map(|(i, c)| match c.imported.iter().find(|(a, _)| *a == alg) {
                    Some((_, k)) => Candidate::Ready(k.clone()),
                    None => Candidate::ToImport {
                        generation: state.generation,
                        index: i,
                        jwk: c.jwk.clone(),
                    },
                })
                .collect()
        } else {
            Vec::new()
        };

        if fresh && !candidates.is_empty() {
            return Step::Use(candidates);
        }
        if may_fetch {
            state.fetches += 1;
            state.next_fetch_allowed_ms = now + settings.refetch_cooldown_secs * 1000;
            let id = state.fetches;
            state.in_flight = Some(InFlight {
                id,
                until_ms: now + u64::from(settings.fetch_timeout_ms) + IN_FLIGHT_SLACK_MS,
            });
            let uri = issuer.jwks_uri.clone().or_else(|| state.jwks_uri.clone());
            return Step::Fetch { uri, id, took_over };
        }
        if !candidates.is_empty() {
            // Stale but within stale-if-error, and a refetch is not due yet.
            return Step::Use(candidates);
        }
        if usable {
            return Step::Fail(KeyLookupError::KeyUnknown);
        }
        let wait = state.next_fetch_allowed_ms.saturating_sub(now);
        Step::Fail(KeyLookupError::Unavailable {
            retry_after_secs: wait.div_ceil(1000).max(1),
        })
    }

    async fn import_all<P: Platform<Key = K>>(
        cell: &RefCell<Self>,
        platform: &P,
        issuer: &IssuerConfig,
        alg: Alg,
        cands: Vec<Candidate<K>>,
    ) -> Result<Vec<K>, KeyLookupError> {
        let mut keys = Vec::with_capacity(cands.len());
        for cand in cands {
            let (generation, index, jwk) = match cand {
                Candidate::Ready(k) => {
                    keys.push(k);
                    continue;
                }
                Candidate::ToImport {
                    generation,
                    index,
                    jwk,
                } => (generation, index, jwk),
            };
            match platform.import_key(&jwk, alg).await {
                Ok(k) => {
                    let mut this = cell.borrow_mut();
                    if let Some(state) = this.issuers.get_mut(&issuer.issuer) {
                        if state.generation == generation {
                            if let Some(c) = state.keys.get_mut(index) {
                                c.imported.push((alg, k.clone()));
                            }
                        }
                    }
                    keys.push(k);
                }
                Err(reason) => log::emit(
                    platform,
                    Event::JwkImportFailed {
                        issuer: &issuer.issuer,
                        kid: jwk.kid.as_deref().unwrap_or(""),
                        reason: &reason,
                    },
                ),
            }
        }
        if keys.is_empty() {
            Err(KeyLookupError::KeyUnknown)
        } else {
            Ok(keys)
        }
    }
}

/// Clears an in-flight marker whose fetch future is dropped before it finishes (its request was
/// cancelled, in a runtime that drops cancelled futures), so waiting requests take over at once.
struct InFlightGuard<'a, K> {
    cell: &'a RefCell<JwksCache<K>>,
    issuer: &'a str,
    id: u64,
    armed: bool,
}

impl<K> Drop for InFlightGuard<'_, K> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // Never held across an await, so free unless the drop happens inside a borrow.
        let Ok(mut this) = self.cell.try_borrow_mut() else {
            return;
        };
        if let Some(state) = this.issuers.get_mut(self.issuer) {
            if state.in_flight.map(|f| f.id) == Some(self.id) {
                state.in_flight = None;
                if !state.has_keys {
                    state.next_fetch_allowed_ms = 0;
                }
            }
        }
    }
}

/// The time left before `deadline_ms`, as a fetch timeout; `Timeout` when none is.
fn time_left<P: Platform>(platform: &P, deadline_ms: u64) -> Result<u32, String> {
    let left = deadline_ms.saturating_sub(platform.now_ms());
    if left == 0 {
        return Err(describe_fetch_error(FetchError::Timeout));
    }
    Ok(u32::try_from(left).unwrap_or(u32::MAX))
}

/// A key set ready to install.
struct Fetched {
    uri: String,
    set: JwkSet,
    /// When the identity provider was asked.
    fetched_at_ms: u64,
    fresh_until_ms: u64,
    /// Another isolate of this location fetched it.
    from_location: bool,
}

/// The key set from the location's copy when it may stand in for a fetch, else from the identity
/// provider (then copied to the location after the response). A copy is taken while it is fresh
/// (its `max-age` counted from when its fetch was sent) and either newer than this isolate's set
/// or younger than `refetch_cooldown_seconds`: a `kid` missing from a set the location fetched
/// that recently is not worth another fetch from this isolate either, so the identity provider
/// sees one fetch per location per TTL, and per cooldown however many unknown `kid`s arrive.
async fn fetch_shared<P: Platform>(
    platform: &P,
    settings: &JwksSettings,
    issuer: &IssuerConfig,
    uri: Option<String>,
    tier: Option<&LocationTier>,
    own_fetched_at_ms: Option<u64>,
) -> Result<Fetched, String> {
    let now = platform.now_ms();
    let Some(tier) = tier else {
        let (uri, set, ttl_secs, _) = fetch_key_set(platform, settings, issuer, uri).await?;
        return Ok(Fetched {
            uri,
            set,
            fetched_at_ms: now,
            fresh_until_ms: now + ttl_secs * 1000,
            from_location: false,
        });
    };
    let url = tier.jwks_url(&issuer.issuer, issuer.jwks_uri.as_deref());
    let copy = platform
        .location_get(&url)
        .await
        .and_then(|text| tier.open(&url, &text));
    if let Some(copy) = copy {
        let newer = own_fetched_at_ms.is_none_or(|own| copy.fetched_at_ms > own);
        let recent = now.saturating_sub(copy.fetched_at_ms) < settings.refetch_cooldown_secs * 1000;
        let fresh = copy.fetched_at_ms <= now && now < copy.fresh_until_ms;
        if fresh && (newer || recent) {
            if let Ok(set) = parse_jwks(copy.payload.as_bytes()) {
                return Ok(Fetched {
                    uri: copy.label,
                    set,
                    fetched_at_ms: copy.fetched_at_ms,
                    fresh_until_ms: copy.fresh_until_ms,
                    from_location: true,
                });
            }
        }
    }
    let (uri, set, ttl_secs, body) = fetch_key_set(platform, settings, issuer, uri).await?;
    let entry = LocationEntry {
        fetched_at_ms: now,
        fresh_until_ms: now + ttl_secs * 1000,
        label: uri.clone(),
        payload: body,
    };
    let text = tier.seal(&url, &entry);
    platform
        .wait_until(platform.location_put(&url, max_age_secs(ttl_secs * 1000), move || Some(text)));
    Ok(Fetched {
        uri,
        set,
        fetched_at_ms: now,
        fresh_until_ms: entry.fresh_until_ms,
        from_location: false,
    })
}

/// Fetches the key set, discovering `jwks_uri` first when it is not known. `fetch_timeout_ms`
/// bounds the whole of it, discovery included: the in-flight marker's deadline relies on that.
/// Also returns the TTL (s) and the body as received (valid UTF-8: it parsed as JSON).
async fn fetch_key_set<P: Platform>(
    platform: &P,
    settings: &JwksSettings,
    issuer: &IssuerConfig,
    uri: Option<String>,
) -> Result<(String, JwkSet, u64, String), String> {
    let deadline_ms = platform.now_ms() + u64::from(settings.fetch_timeout_ms);
    let uri = match uri {
        Some(u) => u,
        None => discover(platform, settings, &issuer.issuer, deadline_ms).await?,
    };
    let resp = platform
        .http_get(&uri, time_left(platform, deadline_ms)?, settings.max_bytes)
        .await
        .map_err(describe_fetch_error)?;
    if resp.status != 200 {
        return Err(format!("jwks_uri answered HTTP {}", resp.status));
    }
    let set =
        parse_jwks(&resp.body).map_err(|e| format!("jwks_uri returned an invalid JWKS: {e}"))?;
    let ttl = ttl_from_cache_control(resp.cache_control.as_deref(), settings);
    let body = String::from_utf8(resp.body).unwrap_or_default();
    Ok((uri, set, ttl, body))
}

fn describe_fetch_error(e: FetchError) -> String {
    match e {
        FetchError::Timeout => "timed out".to_string(),
        FetchError::TooLarge => "response exceeds jwks.max_bytes".to_string(),
        FetchError::Network(m) => format!("network error: {m}"),
    }
}

/// OpenID Connect Discovery 1.0 §4, then RFC 8414 §3 (path-inserted well-known URI). The metadata's
/// `issuer` must equal the configured issuer exactly (OIDC Discovery §4.3, RFC 8414 §3.3), which
/// stops a metadata document from redirecting keys to another issuer.
/// Every GET shares the caller's `deadline_ms`.
async fn discover<P: Platform>(
    platform: &P,
    settings: &JwksSettings,
    issuer: &str,
    deadline_ms: u64,
) -> Result<String, String> {
    let mut last_err = String::from("no metadata document found");
    for url in metadata_urls(issuer) {
        let timeout = time_left(platform, deadline_ms).map_err(|e| format!("metadata: {e}"))?;
        let resp = match platform.http_get(&url, timeout, settings.max_bytes).await {
            Ok(r) => r,
            Err(e) => {
                last_err = format!("metadata: {}", describe_fetch_error(e));
                continue;
            }
        };
        if resp.status != 200 {
            last_err = format!("metadata answered HTTP {}", resp.status);
            continue;
        }
        let doc: serde_json::Value = serde_json::from_slice(&resp.body)
            .map_err(|_| "metadata document is not JSON".to_string())?;
        if doc.get("issuer").and_then(|v| v.as_str()) != Some(issuer) {
            return Err("metadata issuer does not match the configured issuer".into());
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(|v| v.as_str())
            .ok_or_else(|| "metadata has no jwks_uri".to_string())?;
        check_url(jwks_uri, true).map_err(|m| format!("metadata jwks_uri {m}"))?;
        return Ok(jwks_uri.to_string());
    }
    Err(last_err)
}

pub(crate) fn metadata_urls(issuer: &str) -> Vec<String> {
    let trimmed = issuer.trim_end_matches('/');
    let mut urls = vec![format!("{trimmed}/.well-known/openid-configuration")];
    // RFC 8414 §3.1: the well-known segment goes between host and path.
    if let Some((scheme, rest)) = trimmed.split_once("://") {
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        urls.push(format!(
            "{scheme}://{host}/.well-known/oauth-authorization-server{path}"
        ));
    }
    urls
}

/// Seconds the fetched set stays fresh.
pub(crate) fn ttl_from_cache_control(header: Option<&str>, s: &JwksSettings) -> u64 {
    let mut ttl = None;
    if let Some(h) = header {
        for directive in h.split(',') {
            let d = directive.trim().to_ascii_lowercase();
            if d == "no-store" || d == "no-cache" {
                return s.min_ttl_secs;
            }
            if let Some(v) = d.strip_prefix("max-age=") {
                ttl = v.trim_matches('"').parse::<u64>().ok();
            }
        }
    }
    ttl.unwrap_or(s.default_ttl_secs)
        .clamp(s.min_ttl_secs, s.max_ttl_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> JwksSettings {
        JwksSettings {
            min_ttl_secs: 60,
            max_ttl_secs: 3600,
            default_ttl_secs: 600,
            refetch_cooldown_secs: 30,
            stale_if_error_secs: 600,
            fetch_timeout_ms: 1000,
            max_bytes: 65536,
        }
    }

    #[test]
    fn cache_control_is_clamped() {
        let s = settings();
        assert_eq!(ttl_from_cache_control(None, &s), 600);
        assert_eq!(ttl_from_cache_control(Some("public, max-age=120"), &s), 120);
        assert_eq!(ttl_from_cache_control(Some("max-age=5"), &s), 60);
        assert_eq!(ttl_from_cache_control(Some("max-age=999999"), &s), 3600);
        assert_eq!(ttl_from_cache_control(Some("no-store"), &s), 60);
        assert_eq!(ttl_from_cache_control(Some("max-age=abc"), &s), 600);
    }

    #[test]
    fn metadata_url_forms() {
        assert_eq!(
            metadata_urls("https://id.example.com"),
            vec![
                "https://id.example.com/.well-known/openid-configuration",
                "https://id.example.com/.well-known/oauth-authorization-server"
            ]
        );
        assert_eq!(
            metadata_urls("https://id.example.com/tenant/1/"),
            vec![
                "https://id.example.com/tenant/1/.well-known/openid-configuration",
                "https://id.example.com/.well-known/oauth-authorization-server/tenant/1"
            ]
        );
    }

    // --- single-flight under cancellation, and the whole-fetch deadline (fake clock and network)

    use crate::jose::claims::{ScopeSource, TypPolicy};
    use crate::platform::{HttpResponse, KvPage, StoreError};
    use crate::testing::{block_on, FakePlatform};
    use std::cell::Cell;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Waker};

    const NOW_SECS: u64 = 1_800_000_000;
    const URI: &str = "https://id.example.com/jwks";
    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    /// `FakePlatform` whose network can stall (a GET that never answers, as the fetch of a
    /// cancelled request on Workers) or take `latency_ms` of the fake clock per GET.
    struct SlowNet {
        inner: FakePlatform,
        stall: Cell<bool>,
        latency_ms: Cell<u64>,
        timeouts: RefCell<Vec<u32>>,
    }

    impl SlowNet {
        fn new() -> Self {
            let inner = FakePlatform::new(NOW_SECS);
            inner.http.borrow_mut().insert(
                URI.into(),
                HttpResponse {
                    status: 200,
                    cache_control: None,
                    body: format!(
                        r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"{ED_X}"}}]}}"#
                    )
                    .into_bytes(),
                },
            );
            SlowNet {
                inner,
                stall: Cell::new(false),
                latency_ms: Cell::new(0),
                timeouts: RefCell::new(Vec::new()),
            }
        }
        fn advance_ms(&self, ms: u64) {
            self.inner.now_ms.set(self.inner.now_ms.get() + ms);
        }
        fn logged(&self, event: &str) -> bool {
            let needle = format!("\"event\":\"{event}\"");
            self.inner.logs.borrow().iter().any(|l| l.contains(&needle))
        }
    }

    impl Platform for SlowNet {
        type Key = Jwk;
        fn now_ms(&self) -> u64 {
            self.inner.now_ms()
        }
        fn random_bytes(&self, buf: &mut [u8]) {
            self.inner.random_bytes(buf)
        }
        fn log(&self, line: &str) {
            self.inner.log(line)
        }
        async fn http_get(
            &self,
            url: &str,
            timeout_ms: u32,
            max_bytes: usize,
        ) -> Result<HttpResponse, FetchError> {
            self.timeouts.borrow_mut().push(timeout_ms);
            if self.stall.get() {
                self.inner.http_calls.borrow_mut().push(url.to_string());
                return std::future::pending().await;
            }
            let latency = self.latency_ms.get();
            if latency > u64::from(timeout_ms) {
                self.advance_ms(u64::from(timeout_ms));
                self.inner.http_calls.borrow_mut().push(url.to_string());
                return Err(FetchError::Timeout);
            }
            self.advance_ms(latency);
            self.inner.http_get(url, timeout_ms, max_bytes).await
        }
        async fn sleep(&self, ms: u32) {
            self.inner.sleep(ms).await
        }
        async fn import_key(&self, jwk: &Jwk, alg: Alg) -> Result<Jwk, String> {
            self.inner.import_key(jwk, alg).await
        }
        async fn verify(&self, key: &Jwk, alg: Alg, input: &[u8], sig: &[u8]) -> bool {
            self.inner.verify(key, alg, input, sig).await
        }
        async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
            self.inner.kv_get(key).await
        }
        async fn kv_put(&self, k: &str, v: &str, ttl: Option<u64>) -> Result<(), StoreError> {
            self.inner.kv_put(k, v, ttl).await
        }
        async fn kv_delete(&self, key: &str) -> Result<(), StoreError> {
            self.inner.kv_delete(key).await
        }
        async fn kv_list(
            &self,
            prefix: &str,
            cursor: Option<&str>,
            limit: u32,
        ) -> Result<KvPage, StoreError> {
            self.inner.kv_list(prefix, cursor, limit).await
        }
    }

    fn issuer(jwks_uri: Option<&str>) -> IssuerConfig {
        IssuerConfig {
            issuer: "https://id.example.com".into(),
            jwks_uri: jwks_uri.map(str::to_string),
            audiences: vec!["api".into()],
            algorithms: vec![Alg::EdDSA],
            leeway_secs: 30,
            scope_source: ScopeSource::Scope,
            typ: TypPolicy::Lenient,
            max_token_lifetime_secs: 86_400,
            claims_to_headers: Vec::new(),
        }
    }

    fn lookup<'a>(
        cache: &'a RefCell<JwksCache<Jwk>>,
        p: &'a SlowNet,
        s: &'a JwksSettings,
        iss: &'a IssuerConfig,
    ) -> impl Future<Output = Result<Vec<Jwk>, KeyLookupError>> + 'a {
        JwksCache::keys_for(cache, p, s, iss, Some("k1"), Alg::EdDSA)
    }

    /// Polls once: the request has started its fetch and is waiting on the network.
    fn start<F: Future>(f: &mut Pin<Box<F>>) {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(f.as_mut().poll(&mut cx).is_pending(), "the fetch stalls");
    }

    #[test]
    fn a_dropped_fetch_frees_the_next_request_at_once() {
        let (s, iss, p) = (settings(), issuer(Some(URI)), SlowNet::new());
        let cache = RefCell::new(JwksCache::<Jwk>::default());
        p.stall.set(true);
        let mut first = Box::pin(lookup(&cache, &p, &s, &iss));
        start(&mut first);
        drop(first); // the request is cancelled and its future dropped mid-fetch
        p.stall.set(false);
        let before = p.now_ms();
        let keys = block_on(lookup(&cache, &p, &s, &iss)).expect("the next request refetches");
        assert_eq!(keys.len(), 1);
        assert_eq!(p.inner.http_calls.borrow().len(), 2, "JWKS fetches started");
        assert_eq!(p.now_ms(), before, "no waiting on the dead fetch");
    }

    #[test]
    fn a_fetch_that_never_returns_is_taken_over_after_its_deadline() {
        // Workers: a cancelled request's future is neither polled again nor dropped.
        let (s, iss, p) = (settings(), issuer(Some(URI)), SlowNet::new());
        let cache = RefCell::new(JwksCache::<Jwk>::default());
        p.stall.set(true);
        let mut first = Box::pin(lookup(&cache, &p, &s, &iss));
        start(&mut first);
        p.stall.set(false);
        let before = p.now_ms();
        // A request arriving meanwhile waits for the fetch's deadline, then fetches itself —
        // the cooldown started by the dead fetch does not turn it away with 503.
        let keys = block_on(lookup(&cache, &p, &s, &iss)).expect("a waiter takes over");
        assert_eq!(keys.len(), 1);
        let waited = p.now_ms() - before;
        let deadline = u64::from(s.fetch_timeout_ms) + IN_FLIGHT_SLACK_MS;
        assert!(
            (deadline..=deadline + u64::from(WAIT_POLL_MS)).contains(&waited),
            "waited {waited} ms, deadline {deadline} ms"
        );
        assert_eq!(p.inner.http_calls.borrow().len(), 2, "JWKS fetches started");
        assert!(p.logged("jwks_fetch_abandoned"));
        // The dead fetch's request, dropped at last, leaves the newer state alone.
        drop(first);
        assert!(block_on(lookup(&cache, &p, &s, &iss)).is_ok());
        assert_eq!(p.inner.http_calls.borrow().len(), 2, "JWKS fetches started");
    }

    #[test]
    fn a_taken_over_fetch_does_not_bypass_the_cooldown_while_keys_are_usable() {
        let (s, iss, p) = (settings(), issuer(Some(URI)), SlowNet::new());
        let cache = RefCell::new(JwksCache::<Jwk>::default());
        assert!(block_on(lookup(&cache, &p, &s, &iss)).is_ok());
        // Past the cooldown, an unknown kid starts a refetch whose request is then cancelled.
        p.advance_ms(s.refetch_cooldown_secs * 1000);
        p.stall.set(true);
        let mut unknown = Box::pin(JwksCache::keys_for(
            &cache,
            &p,
            &s,
            &iss,
            Some("k2"),
            Alg::EdDSA,
        ));
        start(&mut unknown);
        p.stall.set(false);
        p.advance_ms(u64::from(s.fetch_timeout_ms) + IN_FLIGHT_SLACK_MS);
        // The cached key still serves; another unknown kid within the cooldown fetches nothing.
        assert!(block_on(lookup(&cache, &p, &s, &iss)).is_ok());
        let again = block_on(JwksCache::keys_for(
            &cache,
            &p,
            &s,
            &iss,
            Some("k3"),
            Alg::EdDSA,
        ));
        assert_eq!(again.unwrap_err(), KeyLookupError::KeyUnknown);
        assert_eq!(p.inner.http_calls.borrow().len(), 2, "JWKS fetches started");
        drop(unknown);
    }

    #[test]
    fn the_fetch_timeout_bounds_discovery_and_jwks_together() {
        let (s, p) = (settings(), SlowNet::new());
        let iss = issuer(None);
        p.inner.http.borrow_mut().insert(
            "https://id.example.com/.well-known/openid-configuration".into(),
            HttpResponse {
                status: 200,
                cache_control: None,
                body: format!(r#"{{"issuer":"https://id.example.com","jwks_uri":"{URI}"}}"#)
                    .into_bytes(),
            },
        );
        let cache = RefCell::new(JwksCache::<Jwk>::default());
        // 600 ms per GET against a 1000 ms budget: discovery fits, the JWKS GET gets what is left.
        p.latency_ms.set(600);
        let before = p.now_ms();
        let err = block_on(lookup(&cache, &p, &s, &iss)).unwrap_err();
        assert!(matches!(err, KeyLookupError::Unavailable { .. }), "{err:?}");
        assert_eq!(*p.timeouts.borrow(), vec![1000, 400]);
        assert_eq!(p.now_ms() - before, 1000);
        assert!(p.logged("jwks_fetch_failed"));
        // Faster GETs: the same two fit.
        let cache = RefCell::new(JwksCache::<Jwk>::default());
        p.latency_ms.set(400);
        p.timeouts.borrow_mut().clear();
        assert!(block_on(lookup(&cache, &p, &s, &iss)).is_ok());
        assert_eq!(*p.timeouts.borrow(), vec![1000, 600]);
    }

    // --- the location tier

    /// A platform whose JWKS endpoint serves `k1`, and an isolate's cache that shares through the
    /// location tier keyed by `key`.
    fn location_platform() -> FakePlatform {
        let p = FakePlatform::new(NOW_SECS);
        p.http.borrow_mut().insert(
            URI.into(),
            HttpResponse {
                status: 200,
                cache_control: Some("max-age=300".into()),
                body: format!(
                    r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"{ED_X}"}}]}}"#
                )
                .into_bytes(),
            },
        );
        p
    }

    fn shared_isolate(key: u8) -> RefCell<JwksCache<Jwk>> {
        let mut cache = JwksCache::<Jwk>::default();
        cache.share_through(crate::location_cache::LocationTier::new(
            &[key; 32], true, true,
        ));
        RefCell::new(cache)
    }

    fn keys(
        cache: &RefCell<JwksCache<Jwk>>,
        p: &FakePlatform,
        iss: &IssuerConfig,
        kid: &str,
    ) -> Result<Vec<Jwk>, KeyLookupError> {
        block_on(JwksCache::keys_for(
            cache,
            p,
            &settings(),
            iss,
            Some(kid),
            Alg::EdDSA,
        ))
    }

    #[test]
    fn isolates_of_one_location_fetch_a_key_set_once_per_ttl() {
        let (p, iss) = (location_platform(), issuer(Some(URI)));
        let (a, b, c) = (shared_isolate(1), shared_isolate(1), shared_isolate(1));
        assert_eq!(keys(&a, &p, &iss, "k1").unwrap().len(), 1);
        assert_eq!(p.http_calls.borrow().len(), 1);
        p.durable.run_background(); // A's copy lands after its response
        for isolate in [&b, &c] {
            assert_eq!(keys(isolate, &p, &iss, "k1").unwrap().len(), 1);
        }
        assert_eq!(p.http_calls.borrow().len(), 1, "B and C read A's copy");
        // An unknown kid within the cooldown of the location's fetch: no fetch from anyone.
        assert!(matches!(
            keys(&b, &p, &iss, "k2"),
            Err(KeyLookupError::KeyUnknown)
        ));
        assert_eq!(p.http_calls.borrow().len(), 1);
        // The copy's freshness counts from A's fetch: past it, one isolate refetches for all.
        p.advance_secs(300);
        assert_eq!(keys(&c, &p, &iss, "k1").unwrap().len(), 1);
        p.durable.run_background();
        assert_eq!(keys(&a, &p, &iss, "k1").unwrap().len(), 1);
        assert_eq!(keys(&b, &p, &iss, "k1").unwrap().len(), 1);
        assert_eq!(p.http_calls.borrow().len(), 2);
        let fetched_lines = p
            .logs
            .borrow()
            .iter()
            .filter(|l| l.contains("\"event\":\"jwks_fetched\""))
            .count();
        assert_eq!(
            fetched_lines, 2,
            "a copy read from the location is not a fetch"
        );
    }

    #[test]
    fn a_rotated_key_reaches_the_other_isolates_through_the_copy() {
        let (p, iss) = (location_platform(), issuer(Some(URI)));
        let (a, b) = (shared_isolate(1), shared_isolate(1));
        assert!(keys(&a, &p, &iss, "k1").is_ok());
        assert!(keys(&b, &p, &iss, "k1").is_ok());
        p.durable.run_background();
        // The IdP rotates to k2; past the cooldown A sees a k2 token first and refetches.
        p.http.borrow_mut().get_mut(URI).unwrap().body =
            format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"k2","x":"{ED_X}"}}]}}"#)
                .into_bytes();
        p.advance_secs(31);
        assert!(keys(&a, &p, &iss, "k2").is_ok());
        p.durable.run_background();
        let fetched = p.http_calls.borrow().len();
        // B's own set lacks k2; the location's copy is newer than B's set: taken, no fetch.
        assert!(keys(&b, &p, &iss, "k2").is_ok());
        assert_eq!(p.http_calls.borrow().len(), fetched);
    }

    #[test]
    fn a_forged_copy_is_ignored() {
        let (p, iss) = (location_platform(), issuer(Some(URI)));
        let tier = crate::location_cache::LocationTier::new(&[1; 32], true, true);
        let url = tier.jwks_url(&iss.issuer, iss.jwks_uri.as_deref());
        // Another Worker on the zone writes a set with its own key at our URL, sealed with its key.
        let forged = crate::location_cache::LocationTier::new(&[2; 32], true, true).seal(
            &url,
            &crate::location_cache::LocationEntry {
                fetched_at_ms: NOW_SECS * 1000,
                fresh_until_ms: NOW_SECS * 1000 + 600_000,
                label: URI.into(),
                payload: r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"evil","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#.into(),
            },
        );
        p.location_cache.borrow_mut().insert(url, (forged, 600));
        let a = shared_isolate(1);
        assert!(matches!(
            keys(&a, &p, &iss, "evil"),
            Err(KeyLookupError::KeyUnknown)
        ));
        assert_eq!(
            p.http_calls.borrow().len(),
            1,
            "fetched from the IdP instead"
        );
    }
}
