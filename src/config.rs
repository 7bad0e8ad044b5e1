//! The gateway's one configuration document (`PORTCULLIS_CONFIG`), parsed and validated once per
//! isolate. A document with any bad field yields the full list of problems, each named by its path,
//! and the gateway then refuses every request (`gateway_misconfigured`) rather than run half-configured.

use serde::Deserialize;
use serde_json::Value;

use crate::admin::AdminConfig;
use crate::api_key::ApiKeyConfig;
use crate::cors::CorsConfig;
use crate::jose::claims::{ScopeSource, TypPolicy};
use crate::jose::Alg;
use crate::pipeline::forwarded::{ForwardedMode, ForwardedSettings};
use crate::pipeline::path::PathParameters;
use crate::pipeline::query;
use crate::ratelimit::{CountingKey, Policy};
use crate::revocation::settings::{RevocationMode, RevocationSettings};
use crate::route::{PathPattern, Route};

/// One configuration problem: where (`issuers[0].audiences`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

pub const DEFAULT_CREDENTIAL_PARAMS: &[&str] = &[
    "access_token",
    "token",
    "id_token",
    "refresh_token",
    "api_key",
    "apikey",
    "key",
    "jwt",
    "client_secret",
    "password",
];

#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL requests are forwarded to (scheme, host, optional path prefix).
    pub origin: String,
    /// The `realm` of `WWW-Authenticate` challenges.
    pub realm: String,
    pub transport: Transport,
    /// Forward the client's `Authorization` header to the origin (default: strip it).
    pub forward_authorization: bool,
    /// Query parameter names that carry credentials and are refused (compared case-insensitively).
    pub credential_params: Vec<String>,
    pub max_token_bytes: usize,
    pub issuers: Vec<IssuerConfig>,
    pub jwks: JwksSettings,
    pub token_cache_entries: usize,
    /// The admin route (when `admin.enabled`) comes first, then the configured routes in order.
    pub routes: Vec<Route>,
    pub api_keys: ApiKeyConfig,
    pub admin: AdminConfig,
    pub cors: CorsConfig,
    pub revocation: RevocationSettings,
    /// Named rate-limit policies (`rate_limits`), referenced by routes and API key records.
    pub rate_limits: std::collections::BTreeMap<String, Policy>,
    /// Route literals (and the admin prefix) compare exactly; by default they ignore ASCII case.
    pub case_sensitive: bool,
    /// `;` path parameters: refused (default), or allowed and dropped for route matching.
    pub path_parameters: PathParameters,
    /// How long the gateway waits for the origin's response head (routes may override it).
    pub origin_timeout_ms: u32,
    /// The forwarding headers the gateway sets (`forwarded_headers`, `append_client_forwarded_for`).
    pub forwarded: ForwardedSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpsPolicy {
    /// Plain-HTTP requests get a 308 to the same URL on https.
    Redirect,
    /// Plain-HTTP requests get 403 `https_required`.
    Refuse,
    /// Plain HTTP is served (local development only).
    Allow,
}

#[derive(Debug, Clone)]
pub struct Transport {
    pub https: HttpsPolicy,
    /// The `Strict-Transport-Security` value, or `None` when `hsts.max_age` is 0 and nothing is sent.
    pub hsts: Option<String>,
}

#[derive(Debug, Clone)]
pub struct IssuerConfig {
    pub issuer: String,
    /// `None`: discovered from the issuer's metadata (OpenID Discovery, then RFC 8414).
    pub jwks_uri: Option<String>,
    pub audiences: Vec<String>,
    pub algorithms: Vec<Alg>,
    pub leeway_secs: u64,
    pub scope_source: ScopeSource,
    pub typ: TypPolicy,
    /// Longest accepted token lifetime (`exp - iat`, or `exp - now` without `iat`).
    pub max_token_lifetime_secs: u64,
}

#[derive(Debug, Clone)]
pub struct JwksSettings {
    pub min_ttl_secs: u64,
    pub max_ttl_secs: u64,
    pub default_ttl_secs: u64,
    pub refetch_cooldown_secs: u64,
    pub stale_if_error_secs: u64,
    pub fetch_timeout_ms: u32,
    pub max_bytes: usize,
}

// --- the document as written (serde), before validation

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    origin: String,
    #[serde(default)]
    realm: Option<String>,
    #[serde(default)]
    transport: Option<Value>,
    #[serde(default)]
    forward_authorization: bool,
    #[serde(default)]
    credential_params: Option<Vec<String>>,
    #[serde(default)]
    max_token_bytes: Option<usize>,
    #[serde(default)]
    issuers: Vec<Value>,
    #[serde(default)]
    jwks: Option<Value>,
    #[serde(default)]
    token_cache: Option<Value>,
    #[serde(default)]
    api_keys: Option<Value>,
    #[serde(default)]
    admin: Option<Value>,
    #[serde(default)]
    cors: Option<Value>,
    #[serde(default)]
    revocation: Option<Value>,
    #[serde(default)]
    rate_limits: Option<Value>,
    routes: Vec<Value>,
    /// Defaults for WebSocket routes (`close_on`).
    #[serde(default)]
    websocket: Option<Value>,
    #[serde(default)]
    case_sensitive: bool,
    #[serde(default)]
    path_parameters: PathParameters,
    #[serde(default)]
    origin_timeout_ms: Option<u32>,
    #[serde(default)]
    forwarded_headers: Option<String>,
    #[serde(default)]
    append_client_forwarded_for: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransport {
    #[serde(default = "default_https")]
    https: HttpsPolicy,
    #[serde(default)]
    hsts: Option<RawHsts>,
}

fn default_https() -> HttpsPolicy {
    HttpsPolicy::Redirect
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHsts {
    #[serde(default = "default_hsts_max_age")]
    max_age: u64,
    #[serde(default = "yes")]
    include_subdomains: bool,
    #[serde(default)]
    preload: bool,
}

fn default_hsts_max_age() -> u64 {
    63_072_000
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIssuer {
    issuer: String,
    #[serde(default)]
    jwks_uri: Option<String>,
    audiences: Vec<String>,
    algorithms: Vec<String>,
    #[serde(default = "default_leeway")]
    leeway_seconds: u64,
    #[serde(default)]
    scope_claim: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default = "default_max_token_lifetime")]
    max_token_lifetime_seconds: u64,
}

fn default_leeway() -> u64 {
    30
}

/// 24 h: longer than any access token an OAuth server mints by default, short enough that a
/// subject revocation (kept this long) stays small.
pub const DEFAULT_MAX_TOKEN_LIFETIME_SECS: u64 = 86_400;
/// One year: the same upper bound the revocation list accepts for an entry.
pub const MAX_MAX_TOKEN_LIFETIME_SECS: u64 = 31_536_000;

fn default_max_token_lifetime() -> u64 {
    DEFAULT_MAX_TOKEN_LIFETIME_SECS
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJwks {
    #[serde(default = "d_min_ttl")]
    min_ttl_seconds: u64,
    #[serde(default = "d_max_ttl")]
    max_ttl_seconds: u64,
    #[serde(default = "d_default_ttl")]
    default_ttl_seconds: u64,
    #[serde(default = "d_cooldown")]
    refetch_cooldown_seconds: u64,
    #[serde(default = "d_stale")]
    stale_if_error_seconds: u64,
    #[serde(default = "d_timeout")]
    fetch_timeout_ms: u32,
    #[serde(default = "d_max_bytes")]
    max_bytes: usize,
}

fn d_min_ttl() -> u64 {
    60
}
fn d_max_ttl() -> u64 {
    86_400
}
fn d_default_ttl() -> u64 {
    600
}
fn d_cooldown() -> u64 {
    30
}
fn d_stale() -> u64 {
    86_400
}
fn d_timeout() -> u32 {
    5_000
}
fn d_max_bytes() -> usize {
    65_536
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTokenCache {
    #[serde(default = "d_token_cache")]
    max_entries: usize,
}

fn d_token_cache() -> usize {
    10_000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    #[serde(default)]
    name: Option<String>,
    methods: Vec<String>,
    path: String,
    auth: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    /// `"snapshot"` (default) or `"strict"`.
    #[serde(default)]
    revocation: Option<String>,
    /// A policy name from `rate_limits`.
    #[serde(default)]
    rate_limit: Option<String>,
    /// `true`, `false` or `{ close_on = [...] }`: see `websocket::parse_route_option`.
    #[serde(default)]
    websocket: Option<Value>,
    /// Overrides the top-level `origin_timeout_ms`.
    #[serde(default)]
    origin_timeout_ms: Option<u32>,
    /// `"bypass"` (default on authenticated routes) or `"default"` (default on public ones).
    #[serde(default)]
    origin_cache: Option<String>,
}

/// Parses the document: a JSON string, or the JSON form of a TOML table (which is what wrangler
/// hands the worker for `[vars.PORTCULLIS_CONFIG]`).
pub fn parse_config(doc: &Value) -> Result<Config, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let owned;
    let doc = match doc {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v) => {
                owned = v;
                &owned
            }
            Err(e) => {
                return Err(vec![err("$", format!("not valid JSON: {e}"))]);
            }
        },
        other => other,
    };
    let raw: RawConfig = match section(doc, "", &mut errors) {
        Some(r) => r,
        None => return Err(errors),
    };

    if let Err(m) = check_url(&raw.origin, false) {
        errors.push(err("origin", m));
    }
    let realm = raw.realm.unwrap_or_else(|| "portcullis".to_string());
    if realm.is_empty()
        || !realm
            .chars()
            .all(|c| (' '..='~').contains(&c) && c != '"' && c != '\\')
    {
        errors.push(err(
            "realm",
            "must be non-empty printable ASCII without quotes or backslashes",
        ));
    }

    let transport = parse_transport(raw.transport.as_ref(), &mut errors);

    let credential_params = match raw.credential_params {
        Some(list) => {
            // Compared with query names normalized the same way (`pipeline::query`), so
            // `Access.Token` configured is `access_token`.
            let normalized: Vec<String> = list.iter().map(|p| query::normalize_name(p)).collect();
            for (i, p) in normalized.iter().enumerate() {
                if p.is_empty() {
                    errors.push(err(&format!("credential_params[{i}]"), "must not be empty"));
                }
            }
            normalized
        }
        None => DEFAULT_CREDENTIAL_PARAMS
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };

    let max_token_bytes = raw
        .max_token_bytes
        .unwrap_or(crate::jose::jws::DEFAULT_MAX_TOKEN_BYTES);
    if !crate::jose::jws::MAX_TOKEN_BYTES_RANGE.contains(&max_token_bytes) {
        errors.push(err("max_token_bytes", "must be between 512 and 65536"));
    }

    let mut issuers = Vec::new();
    for (i, v) in raw.issuers.iter().enumerate() {
        let path = format!("issuers[{i}]");
        if let Some(r) = section::<RawIssuer>(v, &path, &mut errors) {
            if let Some(iss) = build_issuer(r, &path, &mut errors) {
                if issuers
                    .iter()
                    .any(|x: &IssuerConfig| x.issuer == iss.issuer)
                {
                    errors.push(err(&format!("{path}.issuer"), "duplicate issuer"));
                }
                issuers.push(iss);
            }
        }
    }

    let jwks = parse_jwks_settings(raw.jwks.as_ref(), &mut errors);
    let token_cache_entries = match raw.token_cache.as_ref() {
        None => d_token_cache(),
        Some(v) => section::<RawTokenCache>(v, "token_cache", &mut errors)
            .map(|t| {
                if !(1..=1_000_000).contains(&t.max_entries) {
                    errors.push(err(
                        "token_cache.max_entries",
                        "must be between 1 and 1000000",
                    ));
                }
                t.max_entries
            })
            .unwrap_or(0),
    };

    let api_keys = match raw.api_keys.as_ref() {
        None => ApiKeyConfig::default(),
        Some(v) => section::<ApiKeyConfig>(v, "api_keys", &mut errors).unwrap_or_default(),
    };
    for (path, message) in api_keys.validate() {
        errors.push(err(&path, message));
    }
    let admin = match raw.admin.as_ref() {
        None => AdminConfig::default(),
        Some(v) => section::<AdminConfig>(v, "admin", &mut errors).unwrap_or_default(),
    };
    for (path, message) in admin.validate() {
        errors.push(err(&path, message));
    }

    let (revocation, revocation_errors) =
        crate::revocation::settings::parse_settings(raw.revocation.as_ref());
    let (rate_limits, policy_errors) =
        crate::ratelimit::policy::parse_policies(raw.rate_limits.as_ref());
    for (path, message) in revocation_errors.into_iter().chain(policy_errors) {
        errors.push(err(&path, message));
    }

    let cors = match raw.cors.as_ref() {
        None => CorsConfig::default(),
        Some(v) => section::<CorsConfig>(v, "cors", &mut errors).unwrap_or_default(),
    };
    for (path, message) in cors.validate() {
        errors.push(err(&path, message));
    }

    let (websocket_defaults, websocket_errors) =
        crate::websocket::parse_defaults(raw.websocket.as_ref());
    for (path, message) in websocket_errors {
        errors.push(err(&path, message));
    }
    let origin_timeout_ms = raw
        .origin_timeout_ms
        .unwrap_or(crate::origin::DEFAULT_TIMEOUT_MS);
    if !crate::origin::TIMEOUT_RANGE_MS.contains(&origin_timeout_ms) {
        errors.push(err("origin_timeout_ms", timeout_range_message()));
    }

    let mut routes = Vec::new();
    if admin.enabled {
        if let Some(route) = admin_route(&admin) {
            if route.accepts(crate::route::CredentialKind::Jwt) && raw.issuers.is_empty() {
                errors.push(err(
                    "admin.credentials",
                    "accepts jwt but no issuers are configured",
                ));
            }
            routes.push(route);
        }
    }
    if raw.routes.is_empty() {
        errors.push(err("routes", "at least one route is required"));
    }
    for (i, v) in raw.routes.iter().enumerate() {
        let path = format!("routes[{i}]");
        if let Some(r) = section::<RawRoute>(v, &path, &mut errors) {
            if let Some(route) = build_route(
                r,
                i,
                &path,
                &websocket_defaults,
                origin_timeout_ms,
                &mut errors,
            ) {
                if route.accepts(crate::route::CredentialKind::Jwt) && raw.issuers.is_empty() {
                    errors.push(err(
                        &format!("{path}.auth"),
                        "accepts jwt but no issuers are configured",
                    ));
                }
                check_route_limits(
                    &route,
                    &path,
                    &revocation,
                    &rate_limits,
                    &raw.rate_limits,
                    &mut errors,
                );
                for (path, message) in
                    crate::websocket::check_route(&route, revocation.enabled, &path)
                {
                    errors.push(err(&path, message));
                }
                routes.push(route);
            }
        }
    }

    apply_case_sensitivity(&mut routes, raw.case_sensitive, &mut errors);
    let forwarded = parse_forwarded(
        raw.forwarded_headers.as_deref(),
        raw.append_client_forwarded_for,
        &mut errors,
    );

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Config {
        origin: raw.origin.trim_end_matches('/').to_string(),
        realm,
        transport,
        forward_authorization: raw.forward_authorization,
        credential_params,
        max_token_bytes,
        issuers,
        jwks,
        token_cache_entries,
        routes,
        api_keys,
        admin,
        cors,
        revocation,
        rate_limits,
        case_sensitive: raw.case_sensitive,
        path_parameters: raw.path_parameters,
        origin_timeout_ms,
        forwarded,
    })
}

/// Whether one request method could match both routes (`GET` admits `HEAD`).
fn methods_overlap(a: &Route, b: &Route) -> bool {
    let any_method = |r: &Route| r.methods.iter().any(|m| m == "*");
    let admits = |r: &Route, m: &str| {
        r.methods
            .iter()
            .any(|x| x == m || (x == "GET" && m == "HEAD"))
    };
    any_method(a)
        || any_method(b)
        || a.methods.iter().any(|m| admits(b, m))
        || b.methods.iter().any(|m| admits(a, m))
}

/// Sets every route's case sensitivity (the admin route's included). Under case-insensitive
/// matching a route whose path differs from an earlier one's only in case is never reached: that
/// is a configuration error naming both, not a silent change of which route wins.
fn apply_case_sensitivity(
    routes: &mut [Route],
    case_sensitive: bool,
    errors: &mut Vec<ConfigError>,
) {
    for route in routes.iter_mut() {
        route.pattern.set_case_sensitive(case_sensitive);
    }
    if case_sensitive {
        return;
    }
    // Configured routes are numbered from 0 after the admin route, when there is one.
    let offset = usize::from(routes.first().is_some_and(|r| r.admin));
    for (i, later) in routes.iter().enumerate() {
        if let Some(earlier) = routes[..i].iter().position(|e| {
            e.pattern.differs_only_in_case(&later.pattern) && methods_overlap(e, later)
        }) {
            let name = |n: usize| {
                if routes[n].admin {
                    "admin.path_prefix".to_string()
                } else {
                    format!("routes[{}].path", n - offset)
                }
            };
            errors.push(err(
                &name(i),
                format!(
                    "differs from {} only in case, so it is never matched (routes ignore case); set case_sensitive = true if the origin's routes differ by case",
                    name(earlier)
                ),
            ));
        }
    }
}

fn timeout_range_message() -> String {
    format!(
        "must be between {} and {} (milliseconds)",
        crate::origin::TIMEOUT_RANGE_MS.start(),
        crate::origin::TIMEOUT_RANGE_MS.end()
    )
}

/// A route's origin settings, resolved: its own timeout or the top level's, its own cache policy or
/// the safe default for its kind (only public routes may be answered from a shared cache).
fn route_origin(
    r: &RawRoute,
    public: bool,
    default_timeout_ms: u32,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> crate::origin::OriginPolicy {
    use crate::origin::{OriginCache, OriginPolicy, TIMEOUT_RANGE_MS};
    let timeout_ms = r.origin_timeout_ms.unwrap_or(default_timeout_ms);
    if r.origin_timeout_ms.is_some() && !TIMEOUT_RANGE_MS.contains(&timeout_ms) {
        errors.push(err(
            &format!("{path}.origin_timeout_ms"),
            timeout_range_message(),
        ));
    }
    let cache = match r.origin_cache.as_deref() {
        None => OriginCache::default_for(public),
        Some(name) => OriginCache::parse(name).unwrap_or_else(|| {
            errors.push(err(
                &format!("{path}.origin_cache"),
                "must be \"bypass\" or \"default\"",
            ));
            OriginCache::default_for(public)
        }),
    };
    OriginPolicy { timeout_ms, cache }
}

fn parse_forwarded(
    mode: Option<&str>,
    append: bool,
    errors: &mut Vec<ConfigError>,
) -> ForwardedSettings {
    let mode = match mode {
        None => ForwardedMode::default(),
        Some(m) => ForwardedMode::parse(m).unwrap_or_else(|| {
            errors.push(err(
                "forwarded_headers",
                "must be \"x-forwarded\", \"rfc7239\" or \"none\"",
            ));
            ForwardedMode::default()
        }),
    };
    if append && mode == ForwardedMode::None {
        errors.push(err(
            "append_client_forwarded_for",
            "there is no chain to append to with forwarded_headers = \"none\"",
        ));
    }
    ForwardedSettings {
        mode,
        append_client_chain: append,
    }
}

/// A route's `rate_limit` names a defined policy whose counting key fits the route (the IP only on
/// a public route, an identity only where there is one); `revocation = "strict"` needs a credential
/// and revocation enabled.
fn check_route_limits(
    route: &Route,
    path: &str,
    revocation: &RevocationSettings,
    policies: &std::collections::BTreeMap<String, Policy>,
    raw_policies: &Option<Value>,
    errors: &mut Vec<ConfigError>,
) {
    if let Some(name) = &route.rate_limit {
        match policies.get(name) {
            Some(p) => match (route.is_public(), p.key) {
                (true, CountingKey::Identity) => errors.push(err(
                    &format!("{path}.rate_limit"),
                    format!("a public route has no identity to count: policy {name} needs key = \"ip\""),
                )),
                (false, CountingKey::Ip) => errors.push(err(
                    &format!("{path}.rate_limit"),
                    format!("policy {name} counts by IP, which is for public routes only: authenticated callers are counted by identity"),
                )),
                _ => {}
            },
            // A policy that failed to parse has its own error already.
            None if raw_policies.as_ref().and_then(|v| v.get(name)).is_some() => {}
            None => errors.push(err(
                &format!("{path}.rate_limit"),
                format!("unknown policy {name:?}: define it under rate_limits"),
            )),
        }
    }
    if route.revocation == RevocationMode::Strict {
        if route.is_public() {
            errors.push(err(
                &format!("{path}.revocation"),
                "a public route has no credential to check",
            ));
        } else if !revocation.enabled {
            errors.push(err(
                &format!("{path}.revocation"),
                "strict needs revocation.enabled",
            ));
        }
    }
}

/// The admin API as a route: it runs the same pipeline (authenticate, then the admin scope) and is
/// matched before every configured route, so no route can shadow or expose it.
fn admin_route(admin: &AdminConfig) -> Option<Route> {
    let pattern = PathPattern::parse(&format!("{}/*", admin.path_prefix)).ok()?;
    let auth = admin
        .credentials
        .iter()
        .filter_map(|c| crate::route::CredentialKind::parse(c))
        .collect();
    Some(Route {
        name: "admin".to_string(),
        methods: vec!["*".to_string()],
        pattern,
        auth,
        scopes: vec![admin.scope.clone()],
        admin: true,
        // An admin credential revoked a moment ago must not reach the admin API.
        revocation: RevocationMode::Strict,
        rate_limit: None,
        websocket: None,
        // Answered by the gateway itself, never forwarded.
        origin: crate::origin::OriginPolicy::default(),
    })
}

fn err(path: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: if path.is_empty() {
            "$".to_string()
        } else {
            path.to_string()
        },
        message: message.into(),
    }
}

/// Deserializes one section, recording a structural error with its full path.
fn section<T: for<'de> Deserialize<'de>>(
    v: &Value,
    base: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(v) {
        Ok(t) => Some(t),
        Err(e) => {
            let inner = e.path().to_string();
            let path = match (base.is_empty(), inner.as_str()) {
                (true, ".") => String::new(),
                (true, p) => p.to_string(),
                (false, ".") => base.to_string(),
                (false, p) if p.starts_with('[') => format!("{base}{p}"),
                (false, p) => format!("{base}.{p}"),
            };
            errors.push(err(&path, e.into_inner().to_string()));
            None
        }
    }
}

/// Only `https` URLs, except loopback hosts when `allow_loopback_http` (local JWKS servers, a local
/// origin in `wrangler dev`). Origins may be plain http: the origin link is the operator's choice.
pub fn check_url(url: &str, https_only_except_loopback: bool) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "must be an absolute http(s) URL".to_string())?;
    if scheme != "https" && scheme != "http" {
        return Err("must use https (or http)".into());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err("has no host".into());
    }
    if authority.contains('@') {
        return Err("must not contain credentials".into());
    }
    if url.contains('#') {
        return Err("must not contain a fragment".into());
    }
    if https_only_except_loopback && scheme == "http" && !is_loopback(authority) {
        return Err("must use https (http is allowed only for localhost / 127.0.0.1)".into());
    }
    Ok(())
}

fn is_loopback(authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(authority)
    };
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

fn parse_transport(v: Option<&Value>, errors: &mut Vec<ConfigError>) -> Transport {
    let raw = match v {
        None => RawTransport {
            https: HttpsPolicy::Redirect,
            hsts: None,
        },
        Some(v) => match section::<RawTransport>(v, "transport", errors) {
            Some(t) => t,
            None => RawTransport {
                https: HttpsPolicy::Redirect,
                hsts: None,
            },
        },
    };
    let hsts = raw.hsts.unwrap_or(RawHsts {
        max_age: default_hsts_max_age(),
        include_subdomains: true,
        preload: false,
    });
    if hsts.preload && (hsts.max_age < 31_536_000 || !hsts.include_subdomains) {
        errors.push(err(
            "transport.hsts.preload",
            "preload requires max_age >= 31536000 and include_subdomains (hstspreload.org rules)",
        ));
    }
    let header = (hsts.max_age > 0).then(|| {
        let mut s = format!("max-age={}", hsts.max_age);
        if hsts.include_subdomains {
            s.push_str("; includeSubDomains");
        }
        if hsts.preload {
            s.push_str("; preload");
        }
        s
    });
    Transport {
        https: raw.https,
        hsts: header,
    }
}

fn build_issuer(r: RawIssuer, path: &str, errors: &mut Vec<ConfigError>) -> Option<IssuerConfig> {
    let before = errors.len();
    if r.issuer.is_empty() {
        errors.push(err(&format!("{path}.issuer"), "must not be empty"));
    } else if let Err(m) = check_url(&r.issuer, true) {
        errors.push(err(&format!("{path}.issuer"), m));
    }
    if let Some(uri) = &r.jwks_uri {
        if let Err(m) = check_url(uri, true) {
            errors.push(err(&format!("{path}.jwks_uri"), m));
        }
    }
    if r.audiences.is_empty() || r.audiences.iter().any(|a| a.is_empty()) {
        errors.push(err(
            &format!("{path}.audiences"),
            "must list at least one non-empty audience (RFC 8725 §3.9)",
        ));
    }
    let mut algorithms = Vec::new();
    if r.algorithms.is_empty() {
        errors.push(err(
            &format!("{path}.algorithms"),
            "must list at least one algorithm",
        ));
    }
    for (i, a) in r.algorithms.iter().enumerate() {
        match Alg::parse(a) {
            Some(alg) => algorithms.push(alg),
            None => errors.push(err(
                &format!("{path}.algorithms[{i}]"),
                format!(
                    "unsupported algorithm; accepted: {} (never none or HS*)",
                    Alg::ALL
                        .iter()
                        .map(|a| a.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }
    if r.leeway_seconds > 300 {
        errors.push(err(
            &format!("{path}.leeway_seconds"),
            "must be at most 300",
        ));
    }
    if !(60..=MAX_MAX_TOKEN_LIFETIME_SECS).contains(&r.max_token_lifetime_seconds) {
        errors.push(err(
            &format!("{path}.max_token_lifetime_seconds"),
            format!("must be between 60 and {MAX_MAX_TOKEN_LIFETIME_SECS}"),
        ));
    }
    let scope_source = match r.scope_claim.as_deref() {
        None | Some("scope") => ScopeSource::Scope,
        Some("scp") => ScopeSource::Scp,
        Some("") => {
            errors.push(err(&format!("{path}.scope_claim"), "must not be empty"));
            ScopeSource::Scope
        }
        Some(other) => ScopeSource::Claim(other.to_string()),
    };
    let typ = match r.typ.as_deref() {
        None | Some("lenient") => TypPolicy::Lenient,
        Some("strict") => TypPolicy::Strict,
        Some(_) => {
            errors.push(err(
                &format!("{path}.typ"),
                "must be \"lenient\" or \"strict\"",
            ));
            TypPolicy::Lenient
        }
    };
    (errors.len() == before).then_some(IssuerConfig {
        issuer: r.issuer,
        jwks_uri: r.jwks_uri,
        audiences: r.audiences,
        algorithms,
        leeway_secs: r.leeway_seconds,
        scope_source,
        typ,
        max_token_lifetime_secs: r.max_token_lifetime_seconds,
    })
}

fn parse_jwks_settings(v: Option<&Value>, errors: &mut Vec<ConfigError>) -> JwksSettings {
    let empty = Value::Object(Default::default());
    let raw = section::<RawJwks>(v.unwrap_or(&empty), "jwks", errors).unwrap_or(RawJwks {
        min_ttl_seconds: d_min_ttl(),
        max_ttl_seconds: d_max_ttl(),
        default_ttl_seconds: d_default_ttl(),
        refetch_cooldown_seconds: d_cooldown(),
        stale_if_error_seconds: d_stale(),
        fetch_timeout_ms: d_timeout(),
        max_bytes: d_max_bytes(),
    });
    if raw.min_ttl_seconds > raw.max_ttl_seconds {
        errors.push(err(
            "jwks.min_ttl_seconds",
            "must not exceed jwks.max_ttl_seconds",
        ));
    }
    if raw.max_ttl_seconds > 7 * 86_400 {
        errors.push(err(
            "jwks.max_ttl_seconds",
            "must be at most 604800 (7 days)",
        ));
    }
    if raw.default_ttl_seconds < raw.min_ttl_seconds
        || raw.default_ttl_seconds > raw.max_ttl_seconds
    {
        errors.push(err(
            "jwks.default_ttl_seconds",
            "must lie between jwks.min_ttl_seconds and jwks.max_ttl_seconds",
        ));
    }
    if raw.refetch_cooldown_seconds == 0 || raw.refetch_cooldown_seconds > 3600 {
        errors.push(err(
            "jwks.refetch_cooldown_seconds",
            "must be between 1 and 3600",
        ));
    }
    if !(100..=30_000).contains(&raw.fetch_timeout_ms) {
        errors.push(err(
            "jwks.fetch_timeout_ms",
            "must be between 100 and 30000",
        ));
    }
    if !(1024..=1_048_576).contains(&raw.max_bytes) {
        errors.push(err("jwks.max_bytes", "must be between 1024 and 1048576"));
    }
    JwksSettings {
        min_ttl_secs: raw.min_ttl_seconds,
        max_ttl_secs: raw.max_ttl_seconds,
        default_ttl_secs: raw.default_ttl_seconds,
        refetch_cooldown_secs: raw.refetch_cooldown_seconds,
        stale_if_error_secs: raw.stale_if_error_seconds,
        fetch_timeout_ms: raw.fetch_timeout_ms,
        max_bytes: raw.max_bytes,
    }
}

fn build_route(
    r: RawRoute,
    index: usize,
    path: &str,
    websocket_defaults: &crate::websocket::WebSocketDefaults,
    default_origin_timeout_ms: u32,
    errors: &mut Vec<ConfigError>,
) -> Option<Route> {
    let before = errors.len();
    let mut methods = Vec::new();
    if r.methods.is_empty() {
        errors.push(err(
            &format!("{path}.methods"),
            "must list at least one method, or \"*\"",
        ));
    }
    for (i, m) in r.methods.iter().enumerate() {
        if m == "*" {
            methods.clear();
            methods.push("*".to_string());
            break;
        }
        if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
            errors.push(err(
                &format!("{path}.methods[{i}]"),
                "must be an upper-case HTTP method (GET, POST, …) or \"*\"",
            ));
        } else {
            methods.push(m.clone());
        }
    }
    let pattern = match PathPattern::parse(&r.path) {
        Ok(p) => Some(p),
        Err(m) => {
            errors.push(err(&format!("{path}.path"), m));
            None
        }
    };
    let mut auth = Vec::new();
    if r.auth.is_empty() {
        errors.push(err(
            &format!("{path}.auth"),
            "must list accepted credential kinds: jwt, api_key, or public",
        ));
    }
    for (i, a) in r.auth.iter().enumerate() {
        match crate::route::CredentialKind::parse(a) {
            Some(k) => auth.push(k),
            None => errors.push(err(
                &format!("{path}.auth[{i}]"),
                "unknown credential kind; use jwt, api_key or public",
            )),
        }
    }
    if auth.contains(&crate::route::CredentialKind::Public) && auth.len() > 1 {
        errors.push(err(
            &format!("{path}.auth"),
            "public cannot be combined with other kinds",
        ));
    }
    if auth.contains(&crate::route::CredentialKind::Public) && !r.scopes.is_empty() {
        errors.push(err(
            &format!("{path}.scopes"),
            "a public route cannot require scopes",
        ));
    }
    for (i, s) in r.scopes.iter().enumerate() {
        if !crate::scope::is_scope_token(s) {
            errors.push(err(
                &format!("{path}.scopes[{i}]"),
                format!("must be a scope token: {}", crate::scope::GRAMMAR),
            ));
        }
    }
    let revocation = match r.revocation.as_deref() {
        None => RevocationMode::default(),
        Some(m) => RevocationMode::parse(m).unwrap_or_else(|| {
            errors.push(err(
                &format!("{path}.revocation"),
                "must be \"snapshot\" or \"strict\"",
            ));
            RevocationMode::default()
        }),
    };
    let (websocket, websocket_errors) = crate::websocket::parse_route_option(
        r.websocket.as_ref(),
        websocket_defaults,
        auth.contains(&crate::route::CredentialKind::Public),
        &format!("{path}.websocket"),
    );
    for (path, message) in websocket_errors {
        errors.push(err(&path, message));
    }
    let public = auth.contains(&crate::route::CredentialKind::Public);
    let origin = route_origin(&r, public, default_origin_timeout_ms, path, errors);
    if errors.len() != before {
        return None;
    }
    Some(Route {
        name: r.name.unwrap_or_else(|| format!("route{index}")),
        methods,
        pattern: pattern?,
        auth,
        scopes: r.scopes,
        admin: false,
        revocation,
        rate_limit: r.rate_limit,
        websocket,
        origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({
            "origin": "http://127.0.0.1:9000",
            "issuers": [{
                "issuer": "https://id.example.com",
                "audiences": ["api"],
                "algorithms": ["RS256", "ES256"]
            }],
            "routes": [
                {"methods": ["GET"], "path": "/health", "auth": ["public"]},
                {"methods": ["*"], "path": "/api/*", "auth": ["jwt"], "scopes": ["read"]}
            ]
        })
    }

    fn paths(e: Vec<ConfigError>) -> Vec<String> {
        e.into_iter().map(|e| e.path).collect()
    }

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let c = parse_config(&minimal()).unwrap();
        assert_eq!(c.realm, "portcullis");
        assert_eq!(c.transport.https, HttpsPolicy::Redirect);
        assert_eq!(
            c.transport.hsts.as_deref(),
            Some("max-age=63072000; includeSubDomains")
        );
        assert_eq!(c.max_token_bytes, 8192);
        assert_eq!(c.issuers[0].leeway_secs, 30);
        assert_eq!(c.issuers[0].algorithms, vec![Alg::RS256, Alg::ES256]);
        assert_eq!(c.issuers[0].max_token_lifetime_secs, 86_400);
        assert_eq!(c.jwks.refetch_cooldown_secs, 30);
        assert_eq!(c.routes.len(), 2);
        assert_eq!(c.routes[1].name, "route1");
        assert!(!c.forward_authorization);
        assert_eq!(c.credential_params.len(), DEFAULT_CREDENTIAL_PARAMS.len());
    }

    #[test]
    fn issuer_lifetime_cap_and_ed25519_name() {
        let mut v = minimal();
        v["issuers"][0]["max_token_lifetime_seconds"] = json!(3600);
        v["issuers"][0]["algorithms"] = json!(["EdDSA", "Ed25519"]);
        let c = parse_config(&v).unwrap();
        assert_eq!(c.issuers[0].max_token_lifetime_secs, 3600);
        assert_eq!(c.issuers[0].algorithms, vec![Alg::EdDSA, Alg::Ed25519]);
        for bad in [json!(59), json!(31_536_001), json!(-1), json!("1h")] {
            v["issuers"][0]["max_token_lifetime_seconds"] = bad.clone();
            assert_eq!(
                paths(parse_config(&v).unwrap_err()),
                vec!["issuers[0].max_token_lifetime_seconds"],
                "{bad}"
            );
        }
    }

    #[test]
    fn json_string_form_is_accepted() {
        let s = Value::String(minimal().to_string());
        assert!(parse_config(&s).is_ok());
        let bad = Value::String("{not json".into());
        assert_eq!(paths(parse_config(&bad).unwrap_err()), vec!["$"]);
    }

    #[test]
    fn every_bad_field_is_named_by_path() {
        let mut v = minimal();
        v["issuers"][0]["algorithms"] = json!(["RS256", "HS256", "none"]);
        v["issuers"][0]["leeway_seconds"] = json!(301);
        v["issuers"][0]["audiences"] = json!([]);
        v["routes"][1]["auth"] = json!(["jwt", "magic"]);
        v["routes"][0]["methods"] = json!(["get"]);
        v["jwks"] = json!({"refetch_cooldown_seconds": 0});
        let e = paths(parse_config(&v).unwrap_err());
        assert_eq!(
            e,
            vec![
                "issuers[0].audiences",
                "issuers[0].algorithms[1]",
                "issuers[0].algorithms[2]",
                "issuers[0].leeway_seconds",
                "jwks.refetch_cooldown_seconds",
                "routes[0].methods[0]",
                "routes[1].auth[1]",
            ]
        );
    }

    #[test]
    fn structural_errors_carry_the_path() {
        let mut v = minimal();
        v["issuers"][0]["audiences"] = json!("api");
        v["routes"][0]["extra"] = json!(1);
        v["bogus"] = json!(1);
        let e = paths(parse_config(&v).unwrap_err());
        assert_eq!(e, vec!["bogus"]);
        v.as_object_mut().unwrap().remove("bogus");
        let e = paths(parse_config(&v).unwrap_err());
        assert_eq!(e, vec!["issuers[0].audiences", "routes[0].extra"]);
    }

    #[test]
    fn missing_required_fields() {
        let e = parse_config(&json!({"routes": []})).unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].message.contains("origin"), "{:?}", e);
    }

    #[test]
    fn urls_are_checked() {
        let mut v = minimal();
        v["issuers"][0]["jwks_uri"] = json!("http://keys.example.com/jwks");
        v["origin"] = json!("ftp://x");
        let e = paths(parse_config(&v).unwrap_err());
        assert_eq!(e, vec!["origin", "issuers[0].jwks_uri"]);
        v["origin"] = json!("https://user:pw@origin.example");
        v["issuers"][0]["jwks_uri"] = json!("http://127.0.0.1:4000/jwks");
        let e = paths(parse_config(&v).unwrap_err());
        assert_eq!(e, vec!["origin"]);
    }

    #[test]
    fn jwt_route_without_issuer_is_refused() {
        let mut v = minimal();
        v["issuers"] = json!([]);
        let e = paths(parse_config(&v).unwrap_err());
        assert_eq!(e, vec!["routes[1].auth"]);
    }

    #[test]
    fn public_routes_cannot_mix() {
        let mut v = minimal();
        v["routes"][0]["auth"] = json!(["public", "jwt"]);
        v["routes"][0]["scopes"] = json!(["x"]);
        let e = paths(parse_config(&v).unwrap_err());
        assert_eq!(e, vec!["routes[0].auth", "routes[0].scopes"]);
    }

    #[test]
    fn admin_route_comes_first_and_sections_are_validated() {
        let mut v = minimal();
        v["admin"] = json!({"enabled": true});
        v["api_keys"] = json!({"prefix": "pc_live"});
        let c = parse_config(&v).unwrap();
        assert_eq!(c.routes[0].name, "admin");
        assert!(c.routes[0].admin);
        assert_eq!(c.routes[0].scopes, vec!["portcullis:admin"]);
        assert!(c.routes[0].matches("POST", "/admin/keys"));
        assert_eq!(c.api_keys.prefix, "pc_live");
        v["admin"] = json!({"enabled": true, "path_prefix": "admin/"});
        v["api_keys"] = json!({"positive_cache_ttl_secs": 301, "typo": 1});
        let e = paths(parse_config(&v).unwrap_err());
        assert_eq!(e, vec!["api_keys.typo", "admin.path_prefix"]);
    }

    /// The published JSON Schema names exactly the fields the parser accepts, section by section.
    #[test]
    fn schema_matches_the_parser() {
        let schema: Value =
            serde_json::from_str(include_str!("../docs/config.schema.json")).unwrap();
        let top: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let mut doc = minimal();
        for key in &top {
            // Every documented top-level field is accepted (here with an invalid value, so the
            // error names it rather than calling it unknown).
            doc[*key] = json!(null);
        }
        let errors = parse_config(&doc).unwrap_err();
        assert!(
            errors.iter().all(|e| !e.message.contains("unknown field")),
            "{errors:?}"
        );
        let mut extra = minimal();
        extra["not_in_schema"] = json!(1);
        assert_eq!(
            paths(parse_config(&extra).unwrap_err()),
            vec!["not_in_schema"]
        );
        for (def, sample) in [
            (
                "issuer",
                json!({"issuer": "https://i.example", "audiences": ["a"], "algorithms": ["RS256"]}),
            ),
            (
                "route",
                json!({"methods": ["GET"], "path": "/x", "auth": ["public"]}),
            ),
        ] {
            for key in schema["$defs"][def]["properties"]
                .as_object()
                .unwrap()
                .keys()
            {
                let mut v = minimal();
                let mut item = sample.clone();
                item[key.as_str()] = json!({"wrong": "type"});
                let field = if def == "issuer" { "issuers" } else { "routes" };
                v[field] = json!([item]);
                let errors = parse_config(&v).unwrap_err();
                assert!(
                    errors.iter().all(|e| !e.message.contains("unknown field")),
                    "{def}.{key} is in the schema but not accepted: {errors:?}"
                );
            }
        }
    }

    #[test]
    fn revocation_and_rate_limits() {
        let c = parse_config(&minimal()).unwrap();
        assert_eq!(c.revocation, RevocationSettings::default());
        assert!(c.rate_limits.is_empty());
        assert_eq!(c.routes[1].revocation, RevocationMode::Snapshot);
        assert_eq!(c.routes[1].rate_limit, None);

        let mut v = minimal();
        v["revocation"] = json!({"refresh_interval_ms": 200, "max_staleness_ms": 1000});
        v["rate_limits"] = json!({
            "per-user": "100 per 60 s, burst 20",
            "anon": {"rate": "10 per 1 s", "key": "ip"},
        });
        v["routes"][0]["rate_limit"] = json!("anon");
        v["routes"][1]["rate_limit"] = json!("per-user");
        v["routes"][1]["revocation"] = json!("strict");
        let c = parse_config(&v).unwrap();
        assert_eq!(
            (
                c.revocation.refresh_interval_ms,
                c.revocation.max_staleness_ms
            ),
            (200, 1000)
        );
        assert_eq!(c.routes[1].revocation, RevocationMode::Strict);
        assert_eq!(c.routes[1].rate_limit.as_deref(), Some("per-user"));
        assert_eq!(c.rate_limits["per-user"].rate.burst, 20);
        assert_eq!(c.rate_limits["anon"].key, CountingKey::Ip);
    }

    #[test]
    fn route_limits_are_checked_against_the_policies() {
        let mut v = minimal();
        v["revocation"] = json!({"max_staleness_ms": 10});
        v["rate_limits"] = json!({
            "user": "1 per 1 s",
            "anon": {"rate": "1 per 1 s", "key": "ip"},
            "broken": {"limit": 0, "period_seconds": 1},
        });
        let route = |rl: Value, rev: Value| {
            let mut r = json!({"methods": ["GET"], "path": "/x", "auth": ["jwt"]});
            if !rl.is_null() {
                r["rate_limit"] = rl;
            }
            if !rev.is_null() {
                r["revocation"] = rev;
            }
            r
        };
        v["routes"] = json!([
            {"methods": ["GET"], "path": "/health", "auth": ["public"], "rate_limit": "user", "revocation": "strict"},
            route(json!("anon"), Value::Null),
            route(json!("nope"), Value::Null),
            route(json!("broken"), Value::Null),
            route(Value::Null, json!("loose")),
            route(json!(7), Value::Null),
        ]);
        assert_eq!(
            paths(parse_config(&v).unwrap_err()),
            vec![
                "revocation.max_staleness_ms",
                "rate_limits.broken.limit",
                "routes[0].rate_limit",
                "routes[0].revocation",
                "routes[1].rate_limit",
                "routes[2].rate_limit",
                "routes[4].revocation",
                "routes[5].rate_limit",
            ]
        );
        let mut v = minimal();
        v["revocation"] = json!({"enabled": false});
        v["routes"][1]["revocation"] = json!("strict");
        assert_eq!(
            paths(parse_config(&v).unwrap_err()),
            vec!["routes[1].revocation"]
        );
    }

    #[test]
    fn origin_timeout_and_cache_policy() {
        use crate::origin::{OriginCache, DEFAULT_TIMEOUT_MS};
        let c = parse_config(&minimal()).unwrap();
        assert_eq!(c.origin_timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(c.routes[0].origin.timeout_ms, DEFAULT_TIMEOUT_MS);
        // Public routes may use a shared cache; authenticated ones bypass it by default.
        assert_eq!(c.routes[0].origin.cache, OriginCache::Default);
        assert_eq!(c.routes[1].origin.cache, OriginCache::Bypass);

        let mut v = minimal();
        v["origin_timeout_ms"] = json!(5000);
        v["routes"][0]["origin_cache"] = json!("bypass");
        v["routes"][1]["origin_cache"] = json!("default");
        v["routes"][1]["origin_timeout_ms"] = json!(120000);
        let c = parse_config(&v).unwrap();
        assert_eq!(c.origin_timeout_ms, 5000);
        assert_eq!(c.routes[0].origin.timeout_ms, 5000);
        assert_eq!(c.routes[0].origin.cache, OriginCache::Bypass);
        assert_eq!(c.routes[1].origin.timeout_ms, 120000);
        assert_eq!(c.routes[1].origin.cache, OriginCache::Default);

        let mut v = minimal();
        v["origin_timeout_ms"] = json!(99);
        v["routes"][0]["origin_timeout_ms"] = json!(300001);
        v["routes"][1]["origin_cache"] = json!("no-store");
        assert_eq!(
            paths(parse_config(&v).unwrap_err()),
            vec![
                "origin_timeout_ms",
                "routes[0].origin_timeout_ms",
                "routes[1].origin_cache"
            ]
        );
        let mut v = minimal();
        v["origin_timeout_ms"] = json!(-1);
        assert_eq!(
            paths(parse_config(&v).unwrap_err()),
            vec!["origin_timeout_ms"]
        );
        let mut v = minimal();
        v["origin_timeout_ms"] = json!(100);
        v["routes"][1]["origin_timeout_ms"] = json!(300000);
        assert!(parse_config(&v).is_ok());
    }

    #[test]
    fn forwarded_headers_options() {
        let c = parse_config(&minimal()).unwrap();
        assert_eq!(c.forwarded, ForwardedSettings::default());
        assert_eq!(c.forwarded.mode, ForwardedMode::XForwarded);
        assert!(!c.forwarded.append_client_chain);
        let mut v = minimal();
        v["forwarded_headers"] = json!("rfc7239");
        v["append_client_forwarded_for"] = json!(true);
        let c = parse_config(&v).unwrap();
        assert_eq!(
            c.forwarded,
            ForwardedSettings {
                mode: ForwardedMode::Rfc7239,
                append_client_chain: true
            }
        );
        v["forwarded_headers"] = json!("none");
        assert_eq!(
            paths(parse_config(&v).unwrap_err()),
            vec!["append_client_forwarded_for"]
        );
        v["forwarded_headers"] = json!("X-Forwarded-For");
        v["append_client_forwarded_for"] = json!(false);
        assert_eq!(
            paths(parse_config(&v).unwrap_err()),
            vec!["forwarded_headers"]
        );
    }

    #[test]
    fn route_scopes_follow_the_scope_grammar() {
        let mut v = minimal();
        v["routes"][1]["scopes"] = json!(["read", "profile,admin", "a b"]);
        assert_eq!(
            paths(parse_config(&v).unwrap_err()),
            vec!["routes[1].scopes[1]", "routes[1].scopes[2]"]
        );
    }

    #[test]
    fn hsts_options() {
        let mut v = minimal();
        v["transport"] = json!({"https": "allow", "hsts": {"max_age": 0}});
        let c = parse_config(&v).unwrap();
        assert_eq!(c.transport.https, HttpsPolicy::Allow);
        assert_eq!(c.transport.hsts, None);
        v["transport"] = json!({"hsts": {"max_age": 100, "preload": true}});
        assert_eq!(
            paths(parse_config(&v).unwrap_err()),
            vec!["transport.hsts.preload"]
        );
        v["transport"] = json!({"hsts": {"max_age": 31536000, "preload": true}});
        assert_eq!(
            parse_config(&v).unwrap().transport.hsts.as_deref(),
            Some("max-age=31536000; includeSubDomains; preload")
        );
    }
    #[test]
    fn path_options_default_to_the_strict_reading() {
        let c = parse_config(&minimal()).unwrap();
        assert!(!c.case_sensitive);
        assert_eq!(c.path_parameters, PathParameters::Refuse);
        assert!(c.routes[1].matches("GET", "/API/items"));
        let mut v = minimal();
        v["case_sensitive"] = json!(true);
        v["path_parameters"] = json!("allow");
        let c = parse_config(&v).unwrap();
        assert!(c.case_sensitive);
        assert_eq!(c.path_parameters, PathParameters::Allow);
        assert!(!c.routes[1].matches("GET", "/API/items"));
        v["path_parameters"] = json!("strip");
        v["case_sensitive"] = json!("yes");
        let e = paths(parse_config(&v).unwrap_err());
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0] == "case_sensitive" || e[0] == "path_parameters",
            "{e:?}"
        );
    }

    #[test]
    fn the_admin_prefix_ignores_case_too() {
        let mut v = minimal();
        v["admin"] = json!({"enabled": true});
        v["routes"] = json!([{"methods": ["*"], "path": "/*", "auth": ["public"]}]);
        let c = parse_config(&v).unwrap();
        let first = c
            .routes
            .iter()
            .find(|r| r.matches("GET", "/ADMIN/keys"))
            .unwrap();
        assert!(first.admin);
        v["case_sensitive"] = json!(true);
        let c = parse_config(&v).unwrap();
        let first = c
            .routes
            .iter()
            .find(|r| r.matches("GET", "/ADMIN/keys"))
            .unwrap();
        assert!(!first.admin);
    }

    #[test]
    fn routes_differing_only_in_case_are_an_error_unless_case_sensitive() {
        let mut v = minimal();
        v["admin"] = json!({"enabled": true});
        v["routes"] = json!([
            {"methods": ["GET"], "path": "/api/Admin/*", "auth": ["jwt"], "scopes": ["admin"]},
            {"methods": ["POST"], "path": "/api/admin/*", "auth": ["jwt"]},
            {"methods": ["*"], "path": "/api/ADMIN/*", "auth": ["jwt"]},
            {"methods": ["HEAD"], "path": "/api/admin/*", "auth": ["jwt"]},
            {"methods": ["GET"], "path": "/Admin/*", "auth": ["public"]},
        ]);
        let e = parse_config(&v).unwrap_err();
        assert_eq!(
            paths(e.clone()),
            vec!["routes[2].path", "routes[3].path", "routes[4].path"]
        );
        assert!(e[0].message.contains("routes[0].path"), "{e:?}");
        assert!(e[2].message.contains("admin.path_prefix"), "{e:?}");
        v["case_sensitive"] = json!(true);
        assert!(parse_config(&v).is_ok());
    }

    #[test]
    fn configured_credential_params_are_normalized_like_query_names() {
        let mut v = minimal();
        v["credential_params"] = json!(["Session.Token", "sig[]"]);
        let c = parse_config(&v).unwrap();
        assert_eq!(c.credential_params, vec!["session_token", "sig"]);
        v["credential_params"] = json!(["[]"]);
        assert_eq!(
            paths(parse_config(&v).unwrap_err()),
            vec!["credential_params[0]"]
        );
    }
}
