//! The `introspection` section: the one authorization server whose opaque tokens the gateway
//! accepts by asking its RFC 7662 introspection endpoint.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::section::{Problems, Section};

/// How the gateway authenticates to the introspection endpoint (RFC 7662 §2.1 leaves it to the
/// server; these are the two RFC 6749/7523 methods without a shared secret in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic with `client_id` and the secret in the Workers secret `client_secret_env`.
    ClientSecretBasic,
    /// An RFC 7523 client assertion signed with the private JWK in the Workers secret
    /// `client_key_env`.
    PrivateKeyJwt,
}

/// Which bearer tokens are introspected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntrospectedTokens {
    /// Tokens that are not JWT-shaped (not three dot-separated parts); JWTs go to `issuers`.
    Opaque,
    /// Every bearer token, JWT-shaped or not; `issuers` then serve nothing on bearer routes.
    All,
}

/// What the client assertion's `aud` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssertionAudience {
    Issuer,
    Endpoint,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntrospectionSettings {
    pub enabled: bool,
    /// The authorization server's issuer: the answer's `iss`, when it has one, must equal it; it
    /// is the identity's issuer (`x-auth-issuer`, revocation by `jti`/subject).
    pub issuer: String,
    pub endpoint: String,
    pub client_id: String,
    pub client_auth: ClientAuth,
    pub client_secret_env: String,
    pub client_key_env: String,
    pub assertion_audience: AssertionAudience,
    /// The answer's `aud` must name one of these (empty: not checked).
    pub audiences: Vec<String>,
    /// The member of the answer that carries the scopes (a space-separated string or an array).
    pub scope_claim: String,
    pub tokens: IntrospectedTokens,
    pub cache_ttl_seconds: u64,
    pub negative_cache_ttl_seconds: u64,
    pub cache_max_entries: usize,
    pub timeout_ms: u32,
    pub max_response_bytes: usize,
    pub failure_cooldown_seconds: u64,
    /// Header name → claim path, as written: the answer's members forwarded to the origin, as
    /// `issuers[].claims_to_headers` does for a JWT's claims. `config` checks and parses it (it
    /// needs `identity_header_prefixes`) into `claim_headers`.
    pub claims_to_headers: BTreeMap<String, String>,
    /// `claims_to_headers` parsed, in name order (filled in by `config`; empty when disabled).
    #[serde(skip)]
    pub claim_headers: Vec<crate::claims::ClaimHeader>,
}

impl Default for IntrospectionSettings {
    fn default() -> Self {
        IntrospectionSettings {
            enabled: false,
            issuer: String::new(),
            endpoint: String::new(),
            client_id: String::new(),
            client_auth: ClientAuth::ClientSecretBasic,
            client_secret_env: "PORTCULLIS_INTROSPECTION_SECRET".into(),
            client_key_env: "PORTCULLIS_INTROSPECTION_KEY".into(),
            assertion_audience: AssertionAudience::Issuer,
            audiences: Vec::new(),
            scope_claim: "scope".into(),
            tokens: IntrospectedTokens::Opaque,
            cache_ttl_seconds: 60,
            negative_cache_ttl_seconds: 5,
            cache_max_entries: 10_000,
            timeout_ms: 3_000,
            max_response_bytes: 16 * 1024,
            failure_cooldown_seconds: 5,
            claims_to_headers: BTreeMap::new(),
            claim_headers: Vec::new(),
        }
    }
}

impl IntrospectionSettings {
    pub(crate) fn secret_name(&self) -> &str {
        match self.client_auth {
            ClientAuth::ClientSecretBasic => &self.client_secret_env,
            ClientAuth::PrivateKeyJwt => &self.client_key_env,
        }
    }
}

impl Section for IntrospectionSettings {
    const PATH: &'static str = "introspection";
    fn check(&self) -> Problems {
        let mut p = Problems::new();
        let mut bad = |field: &str, message: &str| {
            p.push((format!("introspection.{field}"), message.to_string()))
        };
        if !self.enabled {
            return Vec::new();
        }
        if self.issuer.is_empty() {
            bad("issuer", "is required when introspection is enabled");
        }
        if let Err(e) = crate::url::check_url(&self.endpoint, true) {
            bad("endpoint", &e);
        }
        if self.client_id.is_empty()
            || !self
                .client_id
                .bytes()
                .all(|b| (0x21..0x7f).contains(&b) && b != b':')
        {
            bad(
                "client_id",
                "is required: printable ASCII without spaces or ':'",
            );
        }
        for (field, name) in [
            ("client_secret_env", &self.client_secret_env),
            ("client_key_env", &self.client_key_env),
        ] {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                bad(field, "must name a Workers secret (letters, digits, _)");
            }
        }
        if self.audiences.iter().any(String::is_empty) {
            bad("audiences", "must not contain an empty string");
        }
        if self.scope_claim.is_empty() {
            bad("scope_claim", "must name a member of the answer");
        }
        if !(1..=3600).contains(&self.cache_ttl_seconds) {
            bad("cache_ttl_seconds", "must be 1 to 3600");
        }
        if self.negative_cache_ttl_seconds > 60 {
            bad("negative_cache_ttl_seconds", "must be 0 to 60");
        }
        if !(1..=1_000_000).contains(&self.cache_max_entries) {
            bad("cache_max_entries", "must be 1 to 1000000");
        }
        if !(100..=10_000).contains(&self.timeout_ms) {
            bad("timeout_ms", "must be 100 to 10000");
        }
        if !(256..=1_048_576).contains(&self.max_response_bytes) {
            bad("max_response_bytes", "must be 256 to 1048576");
        }
        if !(1..=300).contains(&self.failure_cooldown_seconds) {
            bad("failure_cooldown_seconds", "must be 1 to 300");
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(v: serde_json::Value) -> Vec<String> {
        let (_, p) = crate::section::parse_section::<IntrospectionSettings>(Some(&v));
        p.into_iter().map(|(path, _)| path).collect()
    }

    #[test]
    fn disabled_needs_nothing_enabled_names_each_missing_or_bad_field_by_path() {
        assert!(problems(serde_json::json!({})).is_empty());
        assert_eq!(
            problems(serde_json::json!({"enabled": true})),
            [
                "introspection.issuer",
                "introspection.endpoint",
                "introspection.client_id"
            ]
        );
        assert_eq!(
            problems(serde_json::json!({
                "enabled": true, "issuer": "https://as.example", "client_id": "gw",
                "endpoint": "http://as.example/introspect", "client_secret_env": "A-B",
                "audiences": [""], "cache_ttl_seconds": 0, "negative_cache_ttl_seconds": 61,
                "timeout_ms": 50, "failure_cooldown_seconds": 0
            })),
            [
                "introspection.endpoint",
                "introspection.client_secret_env",
                "introspection.audiences",
                "introspection.cache_ttl_seconds",
                "introspection.negative_cache_ttl_seconds",
                "introspection.timeout_ms",
                "introspection.failure_cooldown_seconds"
            ]
        );
        assert_eq!(
            problems(serde_json::json!({"client_auth": "none"})),
            ["introspection.client_auth"]
        );
    }
}
