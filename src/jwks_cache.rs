//! The issuers' signing keys, cached in isolate memory.
//!
//! Policy (documented in docs/jwks.md):
//! - A fetched JWKS is fresh for its `Cache-Control: max-age`, clamped to
//!   `[min_ttl_seconds, max_ttl_seconds]` (`default_ttl_seconds` when absent; `no-store`/`no-cache`
//!   count as the minimum).
//! - Fetches per issuer are gated by one cooldown (`refetch_cooldown_seconds`, default 30 s): an
//!   unknown `kid` triggers at most one refetch per cooldown, and a failing issuer is retried at most
//!   once per cooldown.
//! - Concurrent requests share one in-flight fetch: the others wait (polling isolate memory on their
//!   own timers, so no request ever resumes inside another request's I/O context).
//! - When a refetch fails, the cached keys keep serving until `stale_if_error_seconds` past their
//!   freshness (stale-if-error). No usable key at all → `jwks_unavailable` (fail closed).
//! - `jku`/`x5u`/`jwk`/`x5c` never reach this module: keys come only from the configured (or
//!   discovered) `jwks_uri`.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::config::{check_url, IssuerConfig, JwksSettings};
use crate::jose::jwk::{parse_jwks, Jwk, JwkSet};
use crate::jose::Alg;
use crate::platform::{FetchError, Platform};

/// How long a waiting request sleeps between looks at another request's in-flight fetch.
const WAIT_POLL_MS: u32 = 5;
/// At most this many keys are tried for a token without `kid`.
const MAX_CANDIDATES: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLookupError {
    /// The issuer's keys are known, but none matches the token's `kid`/`alg`.
    KeyUnknown,
    /// No usable key set at all (never fetched successfully, or stale beyond the limit).
    Unavailable { retry_after_secs: u64 },
}

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
    next_fetch_allowed_ms: u64,
    in_flight_until_ms: u64,
    fetches: u64,
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
            next_fetch_allowed_ms: 0,
            in_flight_until_ms: 0,
            fetches: 0,
        }
    }
}

pub struct JwksCache<K> {
    issuers: HashMap<String, IssuerState<K>>,
}

impl<K> Default for JwksCache<K> {
    fn default() -> Self {
        JwksCache {
            issuers: HashMap::new(),
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
    },
    Wait {
        until_ms: u64,
    },
    Fail(KeyLookupError),
}

impl<K: Clone> JwksCache<K> {
    /// Number of JWKS (or discovery) fetches started for `issuer` in this isolate.
    pub fn fetch_count(&self, issuer: &str) -> u64 {
        self.issuers.get(issuer).map(|s| s.fetches).unwrap_or(0)
    }

    /// The keys to try for a token from `issuer` with this `kid` and `alg`, imported and ready.
    pub async fn keys_for<P: Platform<Key = K>>(
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
                            .map(|s| s.in_flight_until_ms > platform.now_ms())
                            .unwrap_or(false);
                        if !still {
                            break;
                        }
                    }
                }
                Step::Fetch { uri } => {
                    let result = fetch_key_set(platform, settings, issuer, uri).await;
                    let now = platform.now_ms();
                    let mut this = cell.borrow_mut();
                    let state = this.issuers.entry(issuer.issuer.clone()).or_default();
                    state.in_flight_until_ms = 0;
                    match result {
                        Ok((uri, set, ttl_secs)) => {
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
                            state.fresh_until_ms = now + ttl_secs * 1000;
                            state.stale_until_ms =
                                state.fresh_until_ms + settings.stale_if_error_secs * 1000;
                            platform.log(&format!(
                                "{{\"event\":\"jwks_fetched\",\"issuer\":{},\"keys\":{},\"skipped\":{},\"ttl_s\":{}}}",
                                json_str(&issuer.issuer),
                                state.keys.len(),
                                set.skipped,
                                ttl_secs
                            ));
                        }
                        Err(reason) => {
                            platform.log(&format!(
                                "{{\"event\":\"jwks_fetch_failed\",\"issuer\":{},\"reason\":{}}}",
                                json_str(&issuer.issuer),
                                json_str(&reason)
                            ));
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
        if state.in_flight_until_ms > now {
            return Step::Wait {
                until_ms: state.in_flight_until_ms,
            };
        }
        let may_fetch = now >= state.next_fetch_allowed_ms;
        let fresh = state.has_keys && now < state.fresh_until_ms;
        let usable = state.has_keys && now < state.stale_until_ms;
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
            state.in_flight_until_ms = now + u64::from(settings.fetch_timeout_ms) * 2 + 1000;
            let uri = issuer.jwks_uri.clone().or_else(|| state.jwks_uri.clone());
            return Step::Fetch { uri };
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
                Err(reason) => platform.log(&format!(
                    "{{\"event\":\"jwk_import_failed\",\"issuer\":{},\"kid\":{},\"reason\":{}}}",
                    json_str(&issuer.issuer),
                    json_str(jwk.kid.as_deref().unwrap_or("")),
                    json_str(&reason)
                )),
            }
        }
        if keys.is_empty() {
            Err(KeyLookupError::KeyUnknown)
        } else {
            Ok(keys)
        }
    }
}

/// Fetches the key set, discovering `jwks_uri` first when it is not known.
async fn fetch_key_set<P: Platform>(
    platform: &P,
    settings: &JwksSettings,
    issuer: &IssuerConfig,
    uri: Option<String>,
) -> Result<(String, JwkSet, u64), String> {
    let uri = match uri {
        Some(u) => u,
        None => discover_jwks_uri(platform, settings, &issuer.issuer).await?,
    };
    let resp = platform
        .http_get(&uri, settings.fetch_timeout_ms, settings.max_bytes)
        .await
        .map_err(describe_fetch_error)?;
    if resp.status != 200 {
        return Err(format!("jwks_uri answered HTTP {}", resp.status));
    }
    let set =
        parse_jwks(&resp.body).map_err(|e| format!("jwks_uri returned an invalid JWKS: {e}"))?;
    let ttl = ttl_from_cache_control(resp.cache_control.as_deref(), settings);
    Ok((uri, set, ttl))
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
pub async fn discover_jwks_uri<P: Platform>(
    platform: &P,
    settings: &JwksSettings,
    issuer: &str,
) -> Result<String, String> {
    let mut last_err = String::from("no metadata document found");
    for url in metadata_urls(issuer) {
        let resp = match platform
            .http_get(&url, settings.fetch_timeout_ms, settings.max_bytes)
            .await
        {
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

pub fn metadata_urls(issuer: &str) -> Vec<String> {
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
pub fn ttl_from_cache_control(header: Option<&str>, s: &JwksSettings) -> u64 {
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

pub(crate) fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
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
}
