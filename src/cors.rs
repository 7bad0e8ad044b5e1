//! CORS for browser clients (a single-page app calling the API with a bearer token). Off unless
//! `cors.allowed_origins` lists origins. Preflights from a listed origin are answered by the gateway
//! itself (they carry no credential, so they must not reach authentication); every response to a
//! listed origin — refusals included, so the app can read its 401 — carries
//! `Access-Control-Allow-Origin` for that origin. Credentials mode (cookies) is never enabled: bearer
//! tokens and API keys travel in headers.

use serde::Deserialize;

/// The `cors` section. A missing field takes its value from `Default` (serde's container
/// default), so the defaults are written once and `CorsConfig::default()` is what `"cors": {}` means.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Exact origins (`https://app.example.com`); no wildcards. Empty (default): CORS off.
    pub allowed_origins: Vec<String>,
    /// Request headers a browser may send (default: authorization, content-type, x-api-key; and
    /// dpop when `[dpop]` is enabled, added by `config`).
    pub allowed_headers: Vec<String>,
    /// Preflight cache lifetime (default 600 s, at most 86400).
    pub max_age_seconds: u64,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            allowed_origins: Vec::new(),
            allowed_headers: vec![
                "authorization".into(),
                "content-type".into(),
                "x-api-key".into(),
            ],
            max_age_seconds: 600,
        }
    }
}

/// Response headers a browser needs to read a refusal or a rate-limit answer (and the DPoP server
/// nonce it must retry with).
const EXPOSED: &str = "WWW-Authenticate, Retry-After, RateLimit, RateLimit-Policy, DPoP-Nonce";
const METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE";

impl CorsConfig {
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        for (i, o) in self.allowed_origins.iter().enumerate() {
            let ok = crate::url::check_url(o, false).is_ok()
                && o.split("://")
                    .nth(1)
                    .is_some_and(|rest| !rest.contains('/'))
                && o != "null";
            if !ok {
                errors.push((
                    format!("cors.allowed_origins[{i}]"),
                    "must be an origin: scheme://host[:port], no path, no wildcard".into(),
                ));
            }
        }
        for (i, h) in self.allowed_headers.iter().enumerate() {
            if h.is_empty() || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                errors.push((
                    format!("cors.allowed_headers[{i}]"),
                    "must be a header name".into(),
                ));
            }
        }
        if self.max_age_seconds > 86_400 {
            errors.push((
                "cors.max_age_seconds".into(),
                "must be at most 86400".into(),
            ));
        }
        errors
    }

    /// The default `allowed_headers` when `[dpop]` is enabled: the list above plus `dpop`, so a
    /// browser client can send its proof (RFC 9449 §4.1). Called by `config` only when the
    /// operator did not write `allowed_headers`: an explicit list is authoritative.
    pub(crate) fn allow_dpop_by_default(&mut self) {
        if !self
            .allowed_headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case("dpop"))
        {
            self.allowed_headers.push("dpop".into());
        }
    }

    fn allowed<'a>(&self, origin: Option<&'a str>) -> Option<&'a str> {
        origin.filter(|o| self.allowed_origins.iter().any(|a| a == o))
    }

    /// The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`) from an allowed
    /// origin; `None` lets the request take the normal path.
    pub fn preflight(
        &self,
        method: &str,
        origin: Option<&str>,
        requested_method: Option<&str>,
    ) -> Option<Vec<(String, String)>> {
        if method != "OPTIONS" || requested_method.is_none() {
            return None;
        }
        self.allowed(origin)?;
        // Allow-Origin and Vary come from `response_headers`, added to every response.
        Some(vec![
            ("access-control-allow-methods".into(), METHODS.into()),
            (
                "access-control-allow-headers".into(),
                self.allowed_headers.join(", "),
            ),
            (
                "access-control-max-age".into(),
                self.max_age_seconds.to_string(),
            ),
        ])
    }

    /// Headers for any other response to `origin`.
    pub fn response_headers(&self, origin: Option<&str>) -> Vec<(String, String)> {
        match self.allowed(origin) {
            Some(o) => vec![
                ("access-control-allow-origin".into(), o.to_string()),
                ("access-control-expose-headers".into(), EXPOSED.into()),
                ("vary".into(), "Origin".into()),
            ],
            None => Vec::new(),
        }
    }
}

/// The `Vary` an origin response carries once the gateway has added `add` (`Origin` for CORS):
/// appended to the origin's own list, never replacing it — a cache that lost `Accept-Encoding` or
/// `Cookie` from the key would mix representations or users. A name already listed (compared
/// case-insensitively) is not repeated, and `*` (RFC 9110 §12.5.5: varies on everything) stays `*`.
pub(crate) fn merge_vary(existing: Option<&str>, add: &str) -> String {
    let Some(existing) = existing.map(str::trim).filter(|v| !v.is_empty()) else {
        return add.to_string();
    };
    let listed: Vec<&str> = existing
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if listed.contains(&"*") {
        return "*".to_string();
    }
    let missing: Vec<&str> = add
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty() && !listed.iter().any(|l| l.eq_ignore_ascii_case(n)))
        .collect();
    if missing.is_empty() {
        existing.to_string()
    } else {
        listed
            .into_iter()
            .chain(missing)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vary_is_appended_not_replaced() {
        assert_eq!(merge_vary(None, "Origin"), "Origin");
        assert_eq!(merge_vary(Some(""), "Origin"), "Origin");
        assert_eq!(
            merge_vary(Some("Accept-Encoding"), "Origin"),
            "Accept-Encoding, Origin"
        );
        assert_eq!(
            merge_vary(Some("Accept-Encoding, Cookie"), "Origin"),
            "Accept-Encoding, Cookie, Origin"
        );
        assert_eq!(
            merge_vary(Some("accept-encoding, origin"), "Origin"),
            "accept-encoding, origin"
        );
        assert_eq!(merge_vary(Some("Origin"), "Origin"), "Origin");
        assert_eq!(merge_vary(Some("*"), "Origin"), "*");
        assert_eq!(merge_vary(Some("Accept, *"), "Origin"), "*");
        assert_eq!(merge_vary(Some(" Accept ,, "), "Origin"), "Accept, Origin");
    }

    fn cfg() -> CorsConfig {
        CorsConfig {
            allowed_origins: vec!["http://127.0.0.1:5173".into()],
            ..CorsConfig::default()
        }
    }

    #[test]
    fn preflight_only_for_listed_origins() {
        let c = cfg();
        let h = c
            .preflight("OPTIONS", Some("http://127.0.0.1:5173"), Some("GET"))
            .unwrap();
        assert!(h.contains(&("access-control-max-age".into(), "600".into())));
        assert!(h.contains(&(
            "access-control-allow-headers".into(),
            "authorization, content-type, x-api-key".into()
        )));
        assert_eq!(
            c.preflight("OPTIONS", Some("https://evil.example"), Some("GET")),
            None
        );
        assert_eq!(
            c.preflight("OPTIONS", Some("http://127.0.0.1:5173"), None),
            None
        );
        assert_eq!(
            c.preflight("GET", Some("http://127.0.0.1:5173"), Some("GET")),
            None
        );
    }

    #[test]
    fn response_headers() {
        let c = cfg();
        assert_eq!(c.response_headers(Some("http://127.0.0.1:5173")).len(), 3);
        assert!(c.response_headers(Some("http://127.0.0.1:5174")).is_empty());
        assert!(c.response_headers(None).is_empty());
        assert!(CorsConfig::default().response_headers(Some("x")).is_empty());
    }

    #[test]
    fn validation() {
        let c = CorsConfig {
            allowed_origins: vec![
                "*".into(),
                "https://a.example/path".into(),
                "https://ok.example".into(),
            ],
            allowed_headers: vec!["bad header".into()],
            max_age_seconds: 90_000,
        };
        let paths: Vec<String> = c.validate().into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            vec![
                "cors.allowed_origins[0]",
                "cors.allowed_origins[1]",
                "cors.allowed_headers[0]",
                "cors.max_age_seconds"
            ]
        );
    }
}
