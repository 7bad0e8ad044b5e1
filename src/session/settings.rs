//! The `sessions` section of the configuration: whether the gateway issues its own access tokens,
//! under which issuer URL, for which audiences and for how long. A leaf module, so that `config`
//! reads it without importing what serves sessions. Reference: docs/config.md, "`sessions`", and
//! docs/sessions.md.

use serde::Deserialize;

use crate::section::Section;

/// The shortest and longest access-token lifetime the gateway mints (seconds): long enough that a
/// client is not refreshing every few seconds, short enough that a stolen token is soon useless.
pub const ACCESS_TOKEN_TTL_RANGE_SECS: std::ops::RangeInclusive<u64> = 60..=3600;

/// The `sessions` section. Off by default; every field has a default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    /// The gateway issues access tokens (and needs the `PORTCULLIS_SIGNING_KEYS` secret).
    pub enabled: bool,
    /// The gateway's own issuer URL: the `iss` of every token it mints, and the trusted issuer
    /// those tokens are verified under.
    pub issuer: String,
    /// The `aud` of every token it mints (at least one when enabled).
    pub audiences: Vec<String>,
    /// Lifetime of a minted access token (`exp - iat`), 60–3600 s.
    pub access_token_ttl_seconds: u64,
    /// Where the session endpoints are mounted (default `/auth`).
    pub path_prefix: String,
    // --- the session lifecycle (login, token exchange, the refresh cookie): endpoint_settings
    /// A session not refreshed for this long ends; the refresh cookie's `Max-Age` (default 7 d).
    pub refresh_idle_ttl_seconds: u64,
    /// No session is refreshed past this long after its login (default 30 d).
    pub refresh_absolute_lifetime_seconds: u64,
    /// How long a just-rotated refresh token still gets the same successor (default 10 s).
    pub reuse_grace_seconds: u64,
    /// The refresh cookie's name (default `__Host-portcullis_refresh`).
    pub cookie_name: String,
    /// Origins besides the gateway's own that may call the session endpoints (lower case).
    pub app_origins: Vec<String>,
    /// `POST /auth/login`: the origin's login endpoint.
    pub login: Option<super::endpoint_settings::LoginSettings>,
    /// `POST /auth/token`: RFC 8693 token exchange.
    pub token_exchange: Option<super::endpoint_settings::TokenExchangeSettings>,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            enabled: false,
            issuer: String::new(),
            audiences: Vec::new(),
            access_token_ttl_seconds: 900,
            path_prefix: "/auth".into(),
            refresh_idle_ttl_seconds: 604_800,
            refresh_absolute_lifetime_seconds: 2_592_000,
            reuse_grace_seconds: 10,
            cookie_name: "__Host-portcullis_refresh".into(),
            app_origins: Vec::new(),
            login: None,
            token_exchange: None,
        }
    }
}

impl Section for SessionSettings {
    const PATH: &'static str = "sessions";

    fn check(&self) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        let mut err = |field: &str, message: String| {
            errors.push((format!("sessions.{field}"), message));
        };
        if !ACCESS_TOKEN_TTL_RANGE_SECS.contains(&self.access_token_ttl_seconds) {
            err(
                "access_token_ttl_seconds",
                format!(
                    "must be between {} and {}",
                    ACCESS_TOKEN_TTL_RANGE_SECS.start(),
                    ACCESS_TOKEN_TTL_RANGE_SECS.end()
                ),
            );
        }
        if !is_path_prefix(&self.path_prefix) {
            err(
                "path_prefix",
                "must be an absolute path like /auth (segments of A-Z a-z 0-9 . _ -, no trailing /)"
                    .into(),
            );
        }
        super::endpoint_settings::check(
            self.refresh_idle_ttl_seconds,
            self.refresh_absolute_lifetime_seconds,
            self.reuse_grace_seconds,
            &self.cookie_name,
            &self.app_origins,
            self.login.as_ref(),
            self.token_exchange.as_ref(),
            &mut err,
        );
        if !self.enabled {
            return errors;
        }
        if self.issuer.is_empty() {
            err("issuer", "must be set when sessions are enabled".into());
        } else if let Err(m) = crate::url::check_url(&self.issuer, true) {
            err("issuer", m);
        } else if self.issuer.contains('?') {
            // RFC 8414 §2: the issuer has no query or fragment.
            err("issuer", "must not contain a query".into());
        }
        if self.audiences.is_empty() || self.audiences.iter().any(|a| a.is_empty()) {
            err(
                "audiences",
                "must list at least one non-empty audience when sessions are enabled".into(),
            );
        }
        errors
    }
}

fn is_path_prefix(p: &str) -> bool {
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    p.len() >= 2 && p.starts_with('/') && !p.ends_with('/') && p[1..].split('/').all(segment_ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(v: serde_json::Value) -> Vec<(String, String)> {
        crate::section::parse_section::<SessionSettings>(Some(&v)).1
    }

    #[test]
    fn off_by_default_with_its_defaults() {
        let (s, p) = crate::section::parse_section::<SessionSettings>(None);
        assert_eq!(p, vec![]);
        assert!(!s.enabled);
        assert_eq!(s.access_token_ttl_seconds, 900);
        assert_eq!(s.path_prefix, "/auth");
    }

    #[test]
    fn enabled_needs_an_issuer_and_an_audience() {
        let p = problems(json!({"enabled": true}));
        let paths: Vec<&str> = p.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["sessions.issuer", "sessions.audiences"]);
        assert_eq!(
            problems(
                json!({"enabled": true, "issuer": "https://gw.example", "audiences": ["api"]})
            ),
            vec![]
        );
        // Plain http only on loopback, as for any issuer.
        assert_eq!(
            problems(json!({"enabled": true, "issuer": "http://gw.example", "audiences": ["api"]}))
                [0]
            .0,
            "sessions.issuer"
        );
        assert_eq!(
            problems(
                json!({"enabled": true, "issuer": "https://gw.example?x=1", "audiences": ["api"]})
            )[0]
            .1,
            "must not contain a query"
        );
    }

    #[test]
    fn ttl_and_prefix_are_checked_even_when_off() {
        for ttl in [59, 3601, 0] {
            assert_eq!(
                problems(json!({"access_token_ttl_seconds": ttl}))[0].0,
                "sessions.access_token_ttl_seconds"
            );
        }
        for ttl in [60, 3600] {
            assert_eq!(problems(json!({"access_token_ttl_seconds": ttl})), vec![]);
        }
        for prefix in ["auth", "/", "/auth/", "/a//b", "/a/../b", "/a b"] {
            assert_eq!(
                problems(json!({"path_prefix": prefix}))[0].0,
                "sessions.path_prefix",
                "{prefix}"
            );
        }
        assert_eq!(problems(json!({"path_prefix": "/v1/auth"})), vec![]);
    }
}
