//! The parts of the `sessions` section that configure how a session starts: `sessions.login` (the
//! origin's login endpoint) and `sessions.token_exchange` (RFC 8693 from upstream issuers), plus
//! the checks of the refresh fields (`sessions.refresh_*`, `cookie_name`, `app_origins`,
//! `reuse_grace_seconds`) that `settings::SessionSettings::check` runs. Reference:
//! docs/config.md, "`sessions`".

use std::collections::BTreeMap;

use serde::Deserialize;

/// The Workers secret the gateway sends to the login endpoint.
pub const LOGIN_SECRET: &str = "PORTCULLIS_LOGIN_SECRET";
/// The shortest login secret accepted (bytes): 256 bits as hex or base64.
pub const MIN_LOGIN_SECRET_BYTES: usize = 32;

pub const REFRESH_IDLE_TTL_RANGE_SECS: std::ops::RangeInclusive<u64> = 300..=7_776_000;
pub const REFRESH_ABSOLUTE_RANGE_SECS: std::ops::RangeInclusive<u64> = 300..=31_536_000;
pub const REUSE_GRACE_RANGE_SECS: std::ops::RangeInclusive<u64> = 0..=60;

/// `sessions.login`: where `POST /auth/login` sends the credentials.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginSettings {
    /// The origin's login endpoint (https, or http on loopback).
    pub url: String,
    /// The header carrying `PORTCULLIS_LOGIN_SECRET` (default `x-portcullis-login-secret`).
    #[serde(default = "default_secret_header")]
    pub secret_header: String,
    /// How long the login endpoint may take (default 5000 ms, 100–30 000).
    #[serde(default = "default_login_timeout_ms")]
    pub timeout_ms: u32,
}

fn default_secret_header() -> String {
    "x-portcullis-login-secret".into()
}

fn default_login_timeout_ms() -> u32 {
    5_000
}

/// `sessions.token_exchange`: which upstream issuers' tokens `POST /auth/token` accepts, and what
/// their scopes grant.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenExchangeSettings {
    /// Issuers (each a configured `issuers[].issuer`) whose tokens may be exchanged.
    pub issuers: Vec<String>,
    /// Upstream scope → the gateway scopes it grants. An upstream scope not listed grants nothing.
    #[serde(default)]
    pub scope_map: BTreeMap<String, Vec<String>>,
}

/// `token_exchange.issuers` must name configured issuers (`known`, the gateway's own excluded:
/// exchanging its own token would only copy a session). Run by `config`, which knows them.
pub(crate) fn check_exchange_issuers(
    exchange: Option<&TokenExchangeSettings>,
    own_issuer: &str,
    known: &[&str],
) -> Vec<(String, String)> {
    let Some(x) = exchange else {
        return Vec::new();
    };
    x.issuers
        .iter()
        .enumerate()
        .filter(|(_, i)| !known.contains(&i.as_str()) || i.as_str() == own_issuer)
        .map(|(n, _)| {
            (
                format!("sessions.token_exchange.issuers[{n}]"),
                "is not a configured issuer (issuers[].issuer); the gateway's own is not allowed"
                    .into(),
            )
        })
        .collect()
}

/// Checks of the session-start and refresh fields; `err(field, message)` collects a problem.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check(
    idle: u64,
    absolute: u64,
    grace: u64,
    cookie_name: &str,
    app_origins: &[String],
    login: Option<&LoginSettings>,
    exchange: Option<&TokenExchangeSettings>,
    mut err: impl FnMut(&str, String),
) {
    let range = |r: &std::ops::RangeInclusive<u64>| {
        format!("must be between {} and {}", r.start(), r.end())
    };
    if !REFRESH_IDLE_TTL_RANGE_SECS.contains(&idle) {
        err(
            "refresh_idle_ttl_seconds",
            range(&REFRESH_IDLE_TTL_RANGE_SECS),
        );
    }
    if !REFRESH_ABSOLUTE_RANGE_SECS.contains(&absolute) {
        err(
            "refresh_absolute_lifetime_seconds",
            range(&REFRESH_ABSOLUTE_RANGE_SECS),
        );
    } else if absolute < idle {
        err(
            "refresh_absolute_lifetime_seconds",
            "must be at least refresh_idle_ttl_seconds".into(),
        );
    }
    if !REUSE_GRACE_RANGE_SECS.contains(&grace) {
        err("reuse_grace_seconds", range(&REUSE_GRACE_RANGE_SECS));
    }
    if let Err(m) = super::cookie::check_name(cookie_name) {
        err("cookie_name", m);
    }
    for (i, o) in app_origins.iter().enumerate() {
        let ok = crate::url::check_url(o, false).is_ok()
            && o.split("://")
                .nth(1)
                .is_some_and(|rest| !rest.contains('/'))
            && *o == o.to_ascii_lowercase();
        if !ok {
            err(
                &format!("app_origins[{i}]"),
                "must be an origin in lower case: scheme://host[:port], no path, no wildcard"
                    .into(),
            );
        }
    }
    if let Some(login) = login {
        if let Err(m) = crate::url::check_url(&login.url, true) {
            err("login.url", m);
        }
        let h = &login.secret_header;
        if h.is_empty() || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            err(
                "login.secret_header",
                "must be a header name (A-Z a-z 0-9 -)".into(),
            );
        }
        if !(100..=30_000).contains(&login.timeout_ms) {
            err("login.timeout_ms", "must be between 100 and 30000".into());
        }
    }
    if let Some(x) = exchange {
        if x.issuers.is_empty() {
            err(
                "token_exchange.issuers",
                "must list at least one issuer".into(),
            );
        }
        for (upstream, granted) in &x.scope_map {
            if let Some(bad) = granted.iter().find(|s| !crate::scope::is_scope_token(s)) {
                err(
                    &format!("token_exchange.scope_map.{upstream}"),
                    format!("{bad:?} is not a scope token ({})", crate::scope::GRAMMAR),
                );
            }
        }
    }
}
