//! The gateway's one configuration document (`PORTCULLIS_CONFIG`), parsed and validated once per
//! isolate. A document with any bad field yields the full list of problems, each named by its path,
//! and the gateway then refuses every request (`gateway_misconfigured`) rather than run half-configured.

use serde::Deserialize;
use serde_json::Value;

use crate::admin_settings::AdminConfig;
use crate::api_key::ApiKeyConfig;
use crate::cors::CorsConfig;
use crate::forwarded::{ForwardedMode, ForwardedSettings};
use crate::jose::claims::{ScopeSource, TypPolicy};
use crate::jose::Alg;
use crate::path::PathParameters;
use crate::query;
use crate::ratelimit::{CountingKey, Policy};
use crate::revocation::settings::{RevocationMode, RevocationSettings};
use crate::route::{PathPattern, Route};
use crate::section::Section;
use crate::session::settings::SessionSettings;
use crate::url::check_url;

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
    /// The location tier (`location_cache`): revocation deltas and JWKS shared through the Cache API.
    pub location_cache: crate::location_cache::LocationCacheSettings,
    /// `identity_header_prefixes`, and the claim paths the routes' `require` read (issue 15).
    pub claims: crate::claims::ClaimSettings,
    /// DPoP proof-of-possession (`[dpop]`, issue 13).
    pub dpop: crate::dpop::settings::DpopSettings,
    /// The gateway's own TOTP factor (`mfa`; docs/mfa.md).
    pub mfa: crate::mfa_settings::MfaSettings,
    /// The gateway as an issuer of its own access tokens (`sessions`); when enabled, `issuers`
    /// ends with the gateway's own entry (`own_issuer`).
    pub sessions: SessionSettings,
    /// Opaque bearer tokens accepted by RFC 7662 introspection (`introspection`, issue 15).
    pub introspection: crate::introspection::settings::IntrospectionSettings,
    /// WebAuthn passkeys (`[passkeys]`, docs/passkeys.md).
    pub passkeys: crate::webauthn::settings::PasskeySettings,
    /// Which per-request log lines are written (`logging`).
    pub logging: crate::log_settings::LogSettings,
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
    /// Claims forwarded to the origin as headers (`claims_to_headers`), in name order.
    pub claims_to_headers: Vec<crate::claims::ClaimHeader>,
}

/// The `jwks` section (field names as written: `min_ttl_seconds`, …). Every field has a default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwksSettings {
    #[serde(rename = "min_ttl_seconds")]
    pub min_ttl_secs: u64,
    #[serde(rename = "max_ttl_seconds")]
    pub max_ttl_secs: u64,
    #[serde(rename = "default_ttl_seconds")]
    pub default_ttl_secs: u64,
    #[serde(rename = "refetch_cooldown_seconds")]
    pub refetch_cooldown_secs: u64,
    #[serde(rename = "stale_if_error_seconds")]
    pub stale_if_error_secs: u64,
    pub fetch_timeout_ms: u32,
    pub max_bytes: usize,
}

impl Default for JwksSettings {
    fn default() -> Self {
        JwksSettings {
            min_ttl_secs: 60,
            max_ttl_secs: 86_400,
            default_ttl_secs: 600,
            refetch_cooldown_secs: 30,
            stale_if_error_secs: 86_400,
            fetch_timeout_ms: 5_000,
            max_bytes: 65_536,
        }
    }
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
    /// The gateway's own second factor (`mfa_settings`).
    #[serde(default)]
    mfa: Option<Value>,
    #[serde(default)]
    location_cache: Option<Value>,
    /// More of the gateway's header namespace, for `claims_to_headers` (`x-acme-`).
    #[serde(default)]
    identity_header_prefixes: Vec<String>,
    dpop: Option<Value>,
    #[serde(default)]
    sessions: Option<Value>,
    #[serde(default)]
    introspection: Option<Value>,
    #[serde(default)]
    passkeys: Option<Value>,
    logging: Option<Value>,
}

/// The `transport` section as written; `Transport` is what it means.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct TransportSection {
    https: HttpsPolicy,
    /// `null` is the defaults too (as it always was).
    hsts: Option<HstsSection>,
}

impl Default for TransportSection {
    fn default() -> Self {
        TransportSection {
            https: HttpsPolicy::Redirect,
            hsts: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct HstsSection {
    max_age: u64,
    include_subdomains: bool,
    preload: bool,
}

impl Default for HstsSection {
    fn default() -> Self {
        HstsSection {
            max_age: 63_072_000,
            include_subdomains: true,
            preload: false,
        }
    }
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
    /// Header name → claim path.
    #[serde(default)]
    claims_to_headers: std::collections::BTreeMap<String, String>,
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

/// The `token_cache` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct TokenCacheSection {
    max_entries: usize,
}

impl Default for TokenCacheSection {
    fn default() -> Self {
        TokenCacheSection {
            max_entries: 10_000,
        }
    }
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
    /// `true`, `false` or `{ close_on = [...] }`: see `websocket_settings::parse_route_option`.
    #[serde(default)]
    websocket: Option<Value>,
    /// Overrides the top-level `origin_timeout_ms`.
    #[serde(default)]
    origin_timeout_ms: Option<u32>,
    /// `"bypass"` (default on authenticated routes) or `"default"` (default on public ones).
    #[serde(default)]
    origin_cache: Option<String>,
    /// Claim conditions: `{ claim = value | { any = [...] } | { all = [...] } }`.
    #[serde(default)]
    require: Option<Value>,
    /// `"optional"` (default) or `"required"`: only sender-constrained tokens (issue 13).
    #[serde(default)]
    binding: Option<String>,
    /// Step-up (`crate::step_up`): `"required"` asks for a second factor in `amr`.
    #[serde(default)]
    mfa: Option<String>,
    /// Step-up: the accepted `acr` values.
    #[serde(default)]
    acr_values: Option<Vec<String>>,
    /// Step-up: the user authenticated at most this many seconds ago (`auth_time`).
    #[serde(default)]
    max_age: Option<u64>,
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

    let transport = parse_section::<TransportSection>(raw.transport.as_ref(), &mut errors).header();

    let credential_params = match raw.credential_params {
        Some(list) => {
            // Compared with query names normalized the same way (`query`), so
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

    let identity_header_prefixes = raw.identity_header_prefixes.clone();
    for (i, p) in identity_header_prefixes.iter().enumerate() {
        if let Err(m) = crate::claims::settings::check_prefix(p) {
            errors.push(err(&format!("identity_header_prefixes[{i}]"), m));
        }
    }

    let mut issuers = Vec::new();
    for (i, v) in raw.issuers.iter().enumerate() {
        let path = format!("issuers[{i}]");
        if let Some(r) = section::<RawIssuer>(v, &path, &mut errors) {
            if let Some(iss) = build_issuer(r, &path, &identity_header_prefixes, &mut errors) {
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

    let jwks: JwksSettings = parse_section(raw.jwks.as_ref(), &mut errors);
    let token_cache_entries =
        parse_section::<TokenCacheSection>(raw.token_cache.as_ref(), &mut errors).max_entries;
    let api_keys: ApiKeyConfig = parse_section(raw.api_keys.as_ref(), &mut errors);
    let admin: AdminConfig = parse_section(raw.admin.as_ref(), &mut errors);

    let (revocation, revocation_errors) =
        crate::revocation::settings::parse_settings(raw.revocation.as_ref());
    let (rate_limits, policy_errors) =
        crate::ratelimit::policy::parse_policies(raw.rate_limits.as_ref());
    for (path, message) in revocation_errors.into_iter().chain(policy_errors) {
        errors.push(err(&path, message));
    }

    let mut cors: CorsConfig = parse_section(raw.cors.as_ref(), &mut errors);
    let location_cache: crate::location_cache::LocationCacheSettings =
        parse_section(raw.location_cache.as_ref(), &mut errors);
    let mfa: crate::mfa_settings::MfaSettings = parse_section(raw.mfa.as_ref(), &mut errors);
    let sessions: SessionSettings = parse_section(raw.sessions.as_ref(), &mut errors);
    for (path, message) in crate::session::endpoint_settings::check_exchange_issuers(
        sessions.token_exchange.as_ref(),
        &sessions.issuer,
        &issuers
            .iter()
            .map(|i| i.issuer.as_str())
            .collect::<Vec<_>>(),
    ) {
        errors.push(err(&path, &message));
    }
    if mfa.enabled && !sessions.enabled {
        errors.push(err(
            "mfa.enabled",
            "needs sessions.enabled: the TOTP endpoints take the gateway's own access tokens and step-up mints one",
        ));
    }
    if sessions.enabled && !sessions.issuer.is_empty() {
        if issuers.iter().any(|i| i.issuer == sessions.issuer) {
            errors.push(err(
                "sessions.issuer",
                "is also listed under issuers: the gateway's own tokens are verified with its own keys, never fetched",
            ));
        }
        issuers.push(own_issuer(&sessions));
    }
    let mut introspection: crate::introspection::settings::IntrospectionSettings =
        parse_section(raw.introspection.as_ref(), &mut errors);
    if introspection.enabled {
        introspection.claim_headers = parse_claims_to_headers(
            &introspection.claims_to_headers,
            crate::introspection::settings::IntrospectionSettings::PATH,
            &identity_header_prefixes,
            &mut errors,
        );
    }
    // A route may accept jwt (bearer tokens) when some issuer is trusted: a configured one, the
    // gateway itself, or the introspection endpoint's authorization server.
    let no_issuers = raw.issuers.is_empty() && !sessions.enabled && !introspection.enabled;

    let (websocket_defaults, websocket_errors) =
        crate::websocket_settings::parse_defaults(raw.websocket.as_ref());
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
            if route.accepts(crate::route::CredentialKind::Jwt) && no_issuers {
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
                if route.accepts(crate::route::CredentialKind::Jwt) && no_issuers {
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
                for (path, message) in check_websocket_route(&route, revocation.enabled, &path) {
                    errors.push(err(&path, message));
                }
                // Every path under the sessions prefix is the gateway's own: a route there would
                // never be reached (a catch-all that also matches elsewhere is fine).
                if sessions.enabled
                    && route
                        .pattern
                        .matches(&format!("{}/login", sessions.path_prefix))
                    && !route
                        .pattern
                        .matches("/portcullis-outside-the-sessions-prefix")
                {
                    errors.push(err(
                        &format!("{path}.path"),
                        "lies under sessions.path_prefix, whose paths the session endpoints answer",
                    ));
                }
                routes.push(route);
            }
        }
    }

    apply_case_sensitivity(&mut routes, raw.case_sensitive, &mut errors);
    let claims = crate::claims::ClaimSettings {
        identity_header_prefixes,
        required: required_claims(&routes),
    };
    let mut api_keys = api_keys;
    api_keys.metadata_read_by_routes = claims
        .required
        .iter()
        .map(|p| p.as_str().to_string())
        .collect();
    let forwarded = parse_forwarded(
        raw.forwarded_headers.as_deref(),
        raw.append_client_forwarded_for,
        &mut errors,
    );
    let logging = parse_section(raw.logging.as_ref(), &mut errors);

    let passkeys: crate::webauthn::settings::PasskeySettings =
        parse_section(raw.passkeys.as_ref(), &mut errors);
    // The ceremonies live under the sessions prefix and start or step up sessions.
    if passkeys.enabled && !sessions.enabled {
        errors.push(err(
            "passkeys.enabled",
            "passkeys need sessions.enabled (the ceremonies start and step up the gateway's sessions)",
        ));
    }
    let dpop: crate::dpop::settings::DpopSettings = parse_section(raw.dpop.as_ref(), &mut errors);
    // With DPoP on, the default `cors.allowed_headers` lets browsers send `DPoP` too; an
    // operator's own list is used as written (docs/config.md, `cors`).
    let cors_headers_listed = raw
        .cors
        .as_ref()
        .is_some_and(|c| c.get("allowed_headers").is_some());
    if dpop.enabled && !cors_headers_listed {
        cors.allow_dpop_by_default();
    }

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
        location_cache,
        claims,
        dpop,
        mfa,
        sessions,
        introspection,
        passkeys,
        logging,
    })
}

/// Every claim path some route's `require` names, once each.
fn required_claims(routes: &[Route]) -> Vec<crate::claims::ClaimPath> {
    let mut paths: Vec<crate::claims::ClaimPath> = Vec::new();
    for condition in routes.iter().flat_map(|r| &r.require) {
        if !paths.contains(&condition.claim) {
            paths.push(condition.claim.clone());
        }
    }
    paths
}

/// The gateway's own issuer entry: tokens it minted go through the same verification as any
/// issuer's, with keys from the signing key set instead of a JWKS fetch (`signing::issuer`). Every
/// algorithm a signing key may have; `at+jwt` required (the gateway always sets it); a lifetime cap
/// of the longest TTL it could have minted with, so lowering the TTL never refuses live tokens.
fn own_issuer(sessions: &SessionSettings) -> IssuerConfig {
    IssuerConfig {
        issuer: sessions.issuer.clone(),
        jwks_uri: None,
        audiences: sessions.audiences.clone(),
        algorithms: crate::signing::keys::SigningAlg::ALL
            .iter()
            .map(|a| a.as_alg())
            .collect(),
        leeway_secs: default_leeway(),
        scope_source: ScopeSource::Scope,
        typ: TypPolicy::Strict,
        max_token_lifetime_secs: *crate::session::settings::ACCESS_TOKEN_TTL_RANGE_SECS.end(),
        // The gateway's own tokens carry no claims beyond what the identity headers forward.
        claims_to_headers: Vec::new(),
    }
}

/// The introspection server as the revocation admin sees it (`introspection`): revocations may
/// name its `iss`. Never in `issuers` (its tokens are not JWTs and its keys are never fetched). No
/// leeway (the gateway refuses an answer at its `exp`); its tokens' lifetime is the server's, so a
/// subject revocation is kept for the default lifetime bound (docs/introspection.md).
pub(crate) fn introspection_issuer(
    settings: &crate::introspection::settings::IntrospectionSettings,
) -> IssuerConfig {
    IssuerConfig {
        issuer: settings.issuer.clone(),
        jwks_uri: None,
        audiences: settings.audiences.clone(),
        algorithms: Vec::new(),
        leeway_secs: 0,
        scope_source: ScopeSource::Scope,
        typ: TypPolicy::Strict,
        max_token_lifetime_secs: crate::introspection::SUBJECT_REVOCATION_SECS,
        claims_to_headers: Vec::new(),
    }
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
        require: Vec::new(),
        binding: crate::route::Binding::Optional,
        step_up: None,
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

impl Section for ApiKeyConfig {
    const PATH: &'static str = "api_keys";
    fn check(&self) -> Vec<(String, String)> {
        self.validate()
    }
}

impl Section for AdminConfig {
    const PATH: &'static str = "admin";
    fn check(&self) -> Vec<(String, String)> {
        self.validate()
    }
}

impl Section for CorsConfig {
    const PATH: &'static str = "cors";
    fn check(&self) -> Vec<(String, String)> {
        self.validate()
    }
}

impl Section for TransportSection {
    const PATH: &'static str = "transport";
    fn check(&self) -> Vec<(String, String)> {
        let hsts = self.hsts.clone().unwrap_or_default();
        let mut errors = Vec::new();
        if hsts.preload && (hsts.max_age < 31_536_000 || !hsts.include_subdomains) {
            errors.push((
                "transport.hsts.preload".into(),
                "preload requires max_age >= 31536000 and include_subdomains (hstspreload.org rules)"
                    .into(),
            ));
        }
        errors
    }
}

impl Section for TokenCacheSection {
    const PATH: &'static str = "token_cache";
    fn check(&self) -> Vec<(String, String)> {
        if (1..=1_000_000).contains(&self.max_entries) {
            Vec::new()
        } else {
            vec![(
                "token_cache.max_entries".into(),
                "must be between 1 and 1000000".into(),
            )]
        }
    }
}

impl Section for JwksSettings {
    const PATH: &'static str = "jwks";
    fn check(&self) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        let mut err = |path: &str, message: &str| errors.push((path.into(), message.into()));
        if self.min_ttl_secs > self.max_ttl_secs {
            err(
                "jwks.min_ttl_seconds",
                "must not exceed jwks.max_ttl_seconds",
            );
        }
        if self.max_ttl_secs > 7 * 86_400 {
            err("jwks.max_ttl_seconds", "must be at most 604800 (7 days)");
        }
        if self.default_ttl_secs < self.min_ttl_secs || self.default_ttl_secs > self.max_ttl_secs {
            err(
                "jwks.default_ttl_seconds",
                "must lie between jwks.min_ttl_seconds and jwks.max_ttl_seconds",
            );
        }
        if self.refetch_cooldown_secs == 0 || self.refetch_cooldown_secs > 3600 {
            err(
                "jwks.refetch_cooldown_seconds",
                "must be between 1 and 3600",
            );
        }
        if !(100..=30_000).contains(&self.fetch_timeout_ms) {
            err("jwks.fetch_timeout_ms", "must be between 100 and 30000");
        }
        if !(1024..=1_048_576).contains(&self.max_bytes) {
            err("jwks.max_bytes", "must be between 1024 and 1048576");
        }
        errors
    }
}

/// `section::parse_section`, its problems recorded.
fn parse_section<T: Section>(v: Option<&Value>, errors: &mut Vec<ConfigError>) -> T {
    let (parsed, problems) = crate::section::parse_section(v);
    errors.extend(
        problems
            .iter()
            .map(|(path, message)| err(path, message.as_str())),
    );
    parsed
}

/// Deserializes one part of the document at `base`, recording a structural error with its path.
fn section<T: for<'de> Deserialize<'de>>(
    v: &Value,
    base: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    crate::section::deserialize_at(v, base)
        .map_err(|(path, message)| errors.push(err(&path, message)))
        .ok()
}

impl TransportSection {
    /// What the section means: the plain-HTTP policy and the `Strict-Transport-Security` value.
    fn header(self) -> Transport {
        let hsts = self.hsts.unwrap_or_default();
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
            https: self.https,
            hsts: header,
        }
    }
}

/// A `claims_to_headers` table (an issuer's, or the introspection section's) at `path`: each header
/// name checked against the namespace and each claim path parsed; a bad entry is named by its path
/// (`issuers[0].claims_to_headers.x-tenant`). In name order.
fn parse_claims_to_headers(
    written: &std::collections::BTreeMap<String, String>,
    path: &str,
    identity_header_prefixes: &[String],
    errors: &mut Vec<ConfigError>,
) -> Vec<crate::claims::ClaimHeader> {
    let mut entries = Vec::new();
    for (header, claim) in written {
        let at = format!("{path}.claims_to_headers.{header}");
        if let Err(m) = crate::claims::headers::check_header_name(header, identity_header_prefixes)
        {
            errors.push(err(&at, m));
        }
        match crate::claims::ClaimPath::parse(claim) {
            Ok(claim) => entries.push(crate::claims::ClaimHeader {
                header: header.clone(),
                claim,
            }),
            Err(m) => errors.push(err(&at, format!("not a claim path: {m}"))),
        }
    }
    entries
}

fn build_issuer(
    r: RawIssuer,
    path: &str,
    identity_header_prefixes: &[String],
    errors: &mut Vec<ConfigError>,
) -> Option<IssuerConfig> {
    let before = errors.len();
    let claims_to_headers =
        parse_claims_to_headers(&r.claims_to_headers, path, identity_header_prefixes, errors);
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
        claims_to_headers,
    })
}

fn build_route(
    r: RawRoute,
    index: usize,
    path: &str,
    websocket_defaults: &crate::websocket_settings::WebSocketDefaults,
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
            "must list accepted credential kinds: jwt, api_key, mtls, or public",
        ));
    }
    for (i, a) in r.auth.iter().enumerate() {
        match crate::route::CredentialKind::parse(a) {
            Some(k) => auth.push(k),
            None => errors.push(err(
                &format!("{path}.auth[{i}]"),
                "unknown credential kind; use jwt, api_key, mtls or public",
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
    let (websocket, websocket_errors) = crate::websocket_settings::parse_route_option(
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
    let require = match &r.require {
        None => Vec::new(),
        Some(_) if public => {
            errors.push(err(
                &format!("{path}.require"),
                "a public route has no credential whose claims could be required",
            ));
            Vec::new()
        }
        Some(v) => crate::claims::require::parse_conditions(v, &format!("{path}.require"))
            .unwrap_or_else(|problems| {
                for (p, m) in problems {
                    errors.push(err(&p, m));
                }
                Vec::new()
            }),
    };
    let binding = route_binding(
        r.binding.as_deref(),
        auth.contains(&crate::route::CredentialKind::Jwt),
        path,
        errors,
    );
    let (step_up, step_up_errors) = crate::step_up::parse_route_options(
        r.mfa.as_deref(),
        r.acr_values.as_deref(),
        r.max_age,
        auth.contains(&crate::route::CredentialKind::Jwt),
        path,
    );
    for (path, message) in step_up_errors {
        errors.push(err(&path, message));
    }
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
        require,
        binding,
        step_up,
    })
}

/// The route option `binding`: `"required"` only means something where tokens are accepted.
fn route_binding(
    raw: Option<&str>,
    accepts_jwt: bool,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> crate::route::Binding {
    let Some(raw) = raw else {
        return crate::route::Binding::Optional;
    };
    match crate::route::Binding::parse(raw) {
        None => {
            errors.push(err(
                &format!("{path}.binding"),
                "must be \"optional\" or \"required\"",
            ));
            crate::route::Binding::Optional
        }
        Some(crate::route::Binding::Required) if !accepts_jwt => {
            errors.push(err(
                &format!("{path}.binding"),
                "\"required\" applies to tokens: the route must accept jwt",
            ));
            crate::route::Binding::Required
        }
        Some(b) => b,
    }
}

/// The rules a WebSocket route obeys: the handshake is a GET, so the route must admit GET; a
/// public route has no credential whose end could close the socket; closing on revocation needs
/// revocation enabled.
fn check_websocket_route(
    route: &Route,
    revocation_enabled: bool,
    path: &str,
) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let Some(ws) = route.websocket else {
        return errors;
    };
    if !route.methods.iter().any(|m| m == "GET" || m == "*") {
        errors.push((
            format!("{path}.methods"),
            "a WebSocket handshake is a GET: a route with websocket must admit GET".to_string(),
        ));
    }
    if route.is_public() && ws.close_on.any() {
        errors.push((
            format!("{path}.websocket.close_on"),
            "a public route has no credential whose expiry or revocation could close the socket"
                .to_string(),
        ));
    } else if ws.close_on.revocation && !revocation_enabled {
        errors.push((
            format!("{path}.websocket.close_on"),
            "closing on revocation needs revocation.enabled".to_string(),
        ));
    }
    errors
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

    /// The published JSON Schema names exactly the fields the parser accepts, in both directions
    /// and for every object in the schema: each schema field is accepted (given a value of the
    /// wrong type, the error names the field rather than calling it unknown), and the parser's own
    /// list of fields (what serde names when it refuses an unknown one) is the schema's list.
    #[test]
    fn schema_matches_the_parser() {
        let schema: Value =
            serde_json::from_str(include_str!("../docs/config.schema.json")).unwrap();
        /// `sample` with `obj`'s fields set over it.
        fn merged(mut sample: Value, obj: &Value) -> Value {
            for (k, x) in obj.as_object().unwrap() {
                sample[k] = x.clone();
            }
            sample
        }
        let issuer =
            json!({"issuer": "https://i.example", "audiences": ["a"], "algorithms": ["RS256"]});
        let route = json!({"methods": ["GET"], "path": "/x", "auth": ["jwt"]});
        let policy = json!({"rate": "1 per 1 s"});
        // Where each object of the schema sits in a document: (schema pointer, error path of its
        // fields, the top-level field that holds it ("" for the document itself), how it is
        // wrapped there).
        type Wrap = Box<dyn Fn(Value) -> Value>;
        let places: Vec<(&str, &str, &str, Wrap)> = vec![
            ("", "", "", Box::new(|o| o)),
            (
                "/properties/transport",
                "transport",
                "transport",
                Box::new(|o| o),
            ),
            (
                "/properties/transport/properties/hsts",
                "transport.hsts",
                "transport",
                Box::new(|o| json!({ "hsts": o })),
            ),
            (
                "/properties/token_cache",
                "token_cache",
                "token_cache",
                Box::new(|o| o),
            ),
            (
                "/properties/location_cache",
                "location_cache",
                "location_cache",
                Box::new(|o| o),
            ),
            (
                "/$defs/issuer",
                "issuers[0]",
                "issuers",
                Box::new(move |o| json!([merged(issuer.clone(), &o)])),
            ),
            ("/$defs/jwks", "jwks", "jwks", Box::new(|o| o)),
            ("/$defs/api_keys", "api_keys", "api_keys", Box::new(|o| o)),
            ("/$defs/admin", "admin", "admin", Box::new(|o| o)),
            (
                "/$defs/route",
                "routes[0]",
                "routes",
                Box::new({
                    let route = route.clone();
                    move |o| json!([merged(route.clone(), &o)])
                }),
            ),
            ("/$defs/cors", "cors", "cors", Box::new(|o| o)),
            ("/$defs/dpop", "dpop", "dpop", Box::new(|o| o)),
            ("/$defs/sessions", "sessions", "sessions", Box::new(|o| o)),
            (
                "/$defs/sessions/properties/login",
                "sessions.login",
                "sessions",
                Box::new(|o| json!({ "login": o })),
            ),
            (
                "/$defs/sessions/properties/token_exchange",
                "sessions.token_exchange",
                "sessions",
                Box::new(|o| json!({ "token_exchange": o })),
            ),
            (
                "/$defs/introspection",
                "introspection",
                "introspection",
                Box::new(|o| o),
            ),
            (
                "/$defs/revocation",
                "revocation",
                "revocation",
                Box::new(|o| o),
            ),
            (
                "/$defs/rate_limit_policy/oneOf/1",
                "rate_limits.p",
                "rate_limits",
                Box::new(move |o| json!({ "p": merged(policy.clone(), &o) })),
            ),
            (
                "/$defs/websocket",
                "websocket",
                "websocket",
                Box::new(|o| o),
            ),
            ("/$defs/passkeys", "passkeys", "passkeys", Box::new(|o| o)),
            ("/$defs/logging", "logging", "logging", Box::new(|o| o)),
            // A route's `websocket` table is the same definition, parsed by the route.
            (
                "/$defs/websocket",
                "routes[0].websocket",
                "routes",
                Box::new(move |o| json!([merged(route.clone(), &json!({ "websocket": o }))])),
            ),
            ("/$defs/mfa", "mfa", "mfa", Box::new(|o| o)),
        ];
        let document = |field: &str, wrap: &Wrap, obj: Value| {
            if field.is_empty() {
                merged(minimal(), &obj)
            } else {
                let mut v = minimal();
                v[field] = wrap(obj);
                v
            }
        };

        // Every object with named fields in the schema has a place above.
        let mut objects = Vec::new();
        fn walk(v: &Value, pointer: String, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if m.get("properties").is_some_and(Value::is_object) {
                        out.push(pointer.clone());
                    }
                    for (k, x) in m {
                        walk(x, format!("{pointer}/{k}"), out);
                    }
                }
                Value::Array(a) => {
                    for (i, x) in a.iter().enumerate() {
                        walk(x, format!("{pointer}/{i}"), out);
                    }
                }
                _ => {}
            }
        }
        walk(&schema, String::new(), &mut objects);
        let mut placed: Vec<String> = places.iter().map(|(p, ..)| p.to_string()).collect();
        objects.sort();
        placed.sort();
        placed.dedup();
        assert_eq!(objects, placed, "every schema object is checked");

        for (pointer, base, field, wrap) in &places {
            let def = schema.pointer(pointer).unwrap();
            assert_eq!(
                def["additionalProperties"],
                json!(false),
                "{pointer}: the schema refuses unknown fields as the parser does"
            );
            let documented: Vec<&str> = def["properties"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            // Schema → parser: every documented field is a field.
            for key in &documented {
                let errors = match parse_config(&document(field, wrap, json!({ *key: [[]] }))) {
                    Ok(_) => Vec::new(),
                    Err(e) => e,
                };
                assert!(
                    errors.iter().all(|e| !e.message.contains("unknown field")),
                    "{pointer}: {key} is in the schema but not accepted: {errors:?}"
                );
            }
            // Parser → schema: the fields serde lists when it refuses an unknown one.
            let errors =
                parse_config(&document(field, wrap, json!({"not_in_schema": 1}))).unwrap_err();
            let path = if base.is_empty() {
                "not_in_schema".to_string()
            } else {
                format!("{base}.not_in_schema")
            };
            let refusal = errors.iter().find(|e| e.path == path).unwrap_or_else(|| {
                panic!("{pointer}: an unknown field is refused at {path}: {errors:?}")
            });
            // serde: "unknown field `x`, expected one of `a`, `b`"; the hand-written websocket
            // table: "…; the one option is close_on".
            let mut accepted: Vec<&str> = match refusal.message.split_once("expected") {
                Some((_, list)) => list.split('`').skip(1).step_by(2).collect(),
                None => match refusal.message.split_once("the one option is ") {
                    Some((_, one)) => vec![one],
                    None => panic!("{pointer}: {refusal:?} names no accepted fields"),
                },
            };
            let mut documented = documented.clone();
            accepted.sort_unstable();
            documented.sort_unstable();
            assert_eq!(
                accepted, documented,
                "{pointer}: parsed fields vs schema fields"
            );
        }
    }

    /// An absent section and an empty one are the same value: each section's `Default` is what
    /// its serde defaults produce (`CorsConfig::default()` once had no headers and a 0 s max-age).
    #[test]
    fn an_empty_section_is_its_default() {
        fn check<T: Section + PartialEq + std::fmt::Debug>() {
            let mut errors = Vec::new();
            let parsed: T = parse_section(Some(&json!({})), &mut errors);
            assert_eq!(parsed, T::default(), "{}", T::PATH);
            assert_eq!(errors, vec![], "{}", T::PATH);
        }
        check::<ApiKeyConfig>();
        check::<AdminConfig>();
        check::<CorsConfig>();
        check::<JwksSettings>();
        check::<TokenCacheSection>();
        check::<TransportSection>();
        check::<SessionSettings>();
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

#[cfg(test)]
mod passkeys_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn passkeys_need_sessions() {
        let doc = json!({
            "origin": "http://127.0.0.1:9000",
            "issuers": [{"issuer": "https://id.example.com", "audiences": ["api"], "algorithms": ["RS256"]}],
            "routes": [{"methods": ["GET"], "path": "/health", "auth": ["public"]}],
            "passkeys": {"enabled": true, "rp_id": "example.com", "allowed_origins": ["https://example.com"]}
        });
        let errors = parse_config(&doc).unwrap_err();
        assert_eq!(
            errors.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
            vec!["passkeys.enabled"]
        );
    }
}
