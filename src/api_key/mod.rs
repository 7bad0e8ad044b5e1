//! API keys for machine clients (`X-API-Key`): format, storage, verification, administration.
//!
//! - `format`: `<prefix>_<body><checksum>`, refused cheaply before any KV read when malformed.
//! - `record`: what KV holds under `SHA-256(key)`: never the key itself.
//! - `cache`: the isolate-memory cache (positive and negative) in front of KV.
//! - `store`: `ApiKeyStore`, which authenticates a presented key and runs the admin operations.
//! - `ledger`: the authority on each key's state, one Durable Object per key: every admin write
//!   goes through it, one at a time, and it writes the KV entries the request path reads.
//!
//! The worst-case delay before a revocation takes effect everywhere is the KV propagation delay
//! (up to 60 s) plus `positive_cache_ttl_secs` (default 30 s): 90 s with defaults, and immediate in
//! the isolate that served the revoke. Routes that cannot accept that ask for `Freshness::Strong`.

pub(crate) mod cache;
pub mod format;
pub(crate) mod ledger;
pub mod record;
pub(crate) mod store;

use serde::Deserialize;

use crate::platform::StoreError;
use crate::problem::ErrorCode;

pub use cache::{ApiKeyCache, CachedLookup};
pub use format::{generate_key, key_hash, parse_key, Malformed};
pub use record::{ApiKeyRecord, KeyStatus};
pub use store::{
    hash_kv_key, id_kv_key, kv_entries, kv_expiration_ttl, ApiKeyStore, Freshness, KeyPatch,
    NewKey, StoreOpError,
};

/// Upper bound on both cache TTLs: they are the revocation delay on top of KV propagation.
pub const MAX_CACHE_TTL_SECS: u64 = 300;
/// Upper bound on a rotation's grace period (and on `default_grace_secs`).
pub const MAX_GRACE_SECS: u64 = 90 * 86_400;
pub const MAX_CACHE_ENTRIES: usize = 1_000_000;
pub const MAX_ACCEPTED_PREFIXES: usize = 16;

/// The `api_keys` section of the gateway config. Every field has a default, so `"api_keys": {}`
/// is a working test setup.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(from = "RawApiKeyConfig")]
pub struct ApiKeyConfig {
    /// The prefix of keys this gateway creates (default `pc_test`; production uses e.g. `pc_live`).
    pub prefix: String,
    /// Prefixes of keys this gateway accepts (default: just `prefix`). Listing an old prefix beside
    /// a new one lets keys migrate between prefixes without downtime.
    pub accepted_prefixes: Vec<String>,
    /// How long a found record is trusted from isolate memory (default 30 s, at most 300).
    pub positive_cache_ttl_secs: u64,
    /// How long "no such key" is remembered (default 30 s, at most 300).
    pub negative_cache_ttl_secs: u64,
    /// Cache bound per isolate (default 10 000; 0 disables the cache).
    pub cache_max_entries: usize,
    /// Grace period of a rotation when the caller names none (default 86 400 s = 24 h).
    pub default_grace_secs: u64,
    /// Not configured here: the metadata keys the routes' `require` conditions read, which the
    /// isolate cache keeps (it drops the rest of a record's metadata). Set by `config`.
    pub metadata_read_by_routes: Vec<String>,
}

/// The document as written; `deny_unknown_fields` turns a typo into a config error, not a default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApiKeyConfig {
    #[serde(default = "default_prefix")]
    prefix: String,
    #[serde(default)]
    accepted_prefixes: Option<Vec<String>>,
    #[serde(default = "default_cache_ttl")]
    positive_cache_ttl_secs: u64,
    #[serde(default = "default_cache_ttl")]
    negative_cache_ttl_secs: u64,
    #[serde(default = "default_cache_max_entries")]
    cache_max_entries: usize,
    #[serde(default = "default_grace_secs")]
    default_grace_secs: u64,
}

fn default_prefix() -> String {
    "pc_test".to_string()
}
fn default_cache_ttl() -> u64 {
    30
}
fn default_cache_max_entries() -> usize {
    10_000
}
fn default_grace_secs() -> u64 {
    86_400
}

impl From<RawApiKeyConfig> for ApiKeyConfig {
    fn from(raw: RawApiKeyConfig) -> Self {
        ApiKeyConfig {
            accepted_prefixes: raw
                .accepted_prefixes
                .unwrap_or_else(|| vec![raw.prefix.clone()]),
            prefix: raw.prefix,
            positive_cache_ttl_secs: raw.positive_cache_ttl_secs,
            negative_cache_ttl_secs: raw.negative_cache_ttl_secs,
            cache_max_entries: raw.cache_max_entries,
            default_grace_secs: raw.default_grace_secs,
            metadata_read_by_routes: Vec::new(),
        }
    }
}

impl Default for ApiKeyConfig {
    fn default() -> Self {
        ApiKeyConfig {
            prefix: default_prefix(),
            accepted_prefixes: vec![default_prefix()],
            positive_cache_ttl_secs: default_cache_ttl(),
            negative_cache_ttl_secs: default_cache_ttl(),
            cache_max_entries: default_cache_max_entries(),
            default_grace_secs: default_grace_secs(),
            metadata_read_by_routes: Vec::new(),
        }
    }
}

impl ApiKeyConfig {
    /// Every problem, as `(field path, what is wrong)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        let mut err = |path: String, msg: String| errors.push((path, msg));
        const PREFIX_RULE: &str = "must match ^[a-z][a-z0-9]{0,15}(_[a-z0-9]{1,16})?$";
        if !format::is_valid_prefix(&self.prefix) {
            err("api_keys.prefix".into(), PREFIX_RULE.into());
        }
        if self.accepted_prefixes.is_empty() {
            err(
                "api_keys.accepted_prefixes".into(),
                "must list at least one prefix".into(),
            );
        }
        if self.accepted_prefixes.len() > MAX_ACCEPTED_PREFIXES {
            err(
                "api_keys.accepted_prefixes".into(),
                format!("at most {MAX_ACCEPTED_PREFIXES} prefixes"),
            );
        }
        for (i, p) in self.accepted_prefixes.iter().enumerate() {
            if !format::is_valid_prefix(p) {
                err(
                    format!("api_keys.accepted_prefixes[{i}]"),
                    PREFIX_RULE.into(),
                );
            }
            if self.accepted_prefixes[..i].contains(p) {
                err(
                    format!("api_keys.accepted_prefixes[{i}]"),
                    format!("duplicate prefix \"{p}\""),
                );
            }
        }
        if !self.accepted_prefixes.is_empty() && !self.accepted_prefixes.contains(&self.prefix) {
            err(
                "api_keys.accepted_prefixes".into(),
                format!(
                    "must include api_keys.prefix (\"{}\"), or the keys this gateway creates would be refused",
                    self.prefix
                ),
            );
        }
        for (field, v) in [
            ("positive_cache_ttl_secs", self.positive_cache_ttl_secs),
            ("negative_cache_ttl_secs", self.negative_cache_ttl_secs),
        ] {
            if v > MAX_CACHE_TTL_SECS {
                err(
                    format!("api_keys.{field}"),
                    format!("at most {MAX_CACHE_TTL_SECS} (it adds to the revocation delay)"),
                );
            }
        }
        if self.cache_max_entries > MAX_CACHE_ENTRIES {
            err(
                "api_keys.cache_max_entries".into(),
                format!("at most {MAX_CACHE_ENTRIES}"),
            );
        }
        if self.default_grace_secs > MAX_GRACE_SECS {
            err(
                "api_keys.default_grace_secs".into(),
                format!("at most {MAX_GRACE_SECS} (90 days)"),
            );
        }
        errors
    }

    /// The worst-case time, in seconds, before a revocation is enforced in every isolate: KV's
    /// documented propagation delay plus the positive cache TTL.
    pub fn revocation_delay_bound_secs(&self) -> u64 {
        KV_PROPAGATION_SECS + self.positive_cache_ttl_secs
    }
}

/// Workers KV: "changes may take up to 60 seconds or more to be visible in other locations".
pub const KV_PROPAGATION_SECS: u64 = 60;

/// Why a presented key was refused. No variant carries the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKeyError {
    /// The route accepts API keys and none was sent.
    Missing,
    Malformed(Malformed),
    /// Well-formed but unknown.
    Invalid,
    Expired {
        key_id: String,
        expired_at: u64,
    },
    Revoked {
        key_id: String,
        revoked_at: u64,
    },
    /// KV could not be read (or held a record this build cannot read): fail closed.
    StoreUnavailable(String),
}

impl From<ApiKeyError> for crate::problem::Problem {
    fn from(e: ApiKeyError) -> Self {
        crate::problem::Problem::new(e.code(), e.detail())
    }
}

impl ApiKeyError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiKeyError::Missing => ErrorCode::ApiKeyMissing,
            ApiKeyError::Malformed(_) => ErrorCode::ApiKeyMalformed,
            ApiKeyError::Invalid => ErrorCode::ApiKeyInvalid,
            ApiKeyError::Expired { .. } => ErrorCode::ApiKeyExpired,
            ApiKeyError::Revoked { .. } => ErrorCode::ApiKeyRevoked,
            ApiKeyError::StoreUnavailable(_) => ErrorCode::CredentialStoreUnavailable,
        }
    }

    /// For the client. Key ids are public; the key and store internals never appear.
    pub fn detail(&self) -> String {
        match self {
            ApiKeyError::Missing => "send the API key in the X-API-Key header".into(),
            ApiKeyError::Malformed(why) => why.detail().into(),
            ApiKeyError::Invalid => "the API key is not known to this gateway".into(),
            ApiKeyError::Expired { key_id, .. } => format!("API key {key_id} has expired"),
            ApiKeyError::Revoked { key_id, .. } => format!("API key {key_id} has been revoked"),
            ApiKeyError::StoreUnavailable(_) => {
                "the API key could not be checked right now; retry shortly".into()
            }
        }
    }

    /// The public id of the key concerned, for logs and `x-key-id`-style diagnostics.
    pub fn key_id(&self) -> Option<&str> {
        match self {
            ApiKeyError::Expired { key_id, .. } | ApiKeyError::Revoked { key_id, .. } => {
                Some(key_id)
            }
            _ => None,
        }
    }

    /// For the operator's log line only (may name the KV failure, never the key).
    pub fn log_detail(&self) -> String {
        match self {
            ApiKeyError::StoreUnavailable(why) => format!("credential store: {why}"),
            other => other.detail(),
        }
    }
}

impl From<StoreError> for ApiKeyError {
    fn from(e: StoreError) -> Self {
        ApiKeyError::StoreUnavailable(e.0)
    }
}

impl std::fmt::Display for ApiKeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c: ApiKeyConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, ApiKeyConfig::default());
        assert_eq!(c.prefix, "pc_test");
        assert_eq!(c.accepted_prefixes, vec!["pc_test".to_string()]);
        assert_eq!(c.positive_cache_ttl_secs, 30);
        assert_eq!(c.negative_cache_ttl_secs, 30);
        assert_eq!(c.cache_max_entries, 10_000);
        assert_eq!(c.default_grace_secs, 86_400);
        assert!(c.validate().is_empty());
        assert_eq!(c.revocation_delay_bound_secs(), 90);
        let live: ApiKeyConfig = serde_json::from_str(r#"{"prefix":"pc_live"}"#).unwrap();
        assert_eq!(live.accepted_prefixes, vec!["pc_live".to_string()]);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<ApiKeyConfig>(r#"{"prefx":"pc_live"}"#).unwrap_err();
        assert!(err.to_string().contains("prefx"), "{err}");
    }

    #[test]
    fn validation_names_every_bad_field() {
        let c: ApiKeyConfig = serde_json::from_str(
            r#"{"prefix":"PC-live","accepted_prefixes":["pc_test","pc_test","x_"],
                "positive_cache_ttl_secs":301,"negative_cache_ttl_secs":1000,
                "cache_max_entries":2000000,"default_grace_secs":99999999}"#,
        )
        .unwrap();
        let paths: Vec<String> = c.validate().into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            vec![
                "api_keys.prefix",
                "api_keys.accepted_prefixes[1]",
                "api_keys.accepted_prefixes[2]",
                "api_keys.accepted_prefixes",
                "api_keys.positive_cache_ttl_secs",
                "api_keys.negative_cache_ttl_secs",
                "api_keys.cache_max_entries",
                "api_keys.default_grace_secs",
            ]
        );
        let empty: ApiKeyConfig = serde_json::from_str(r#"{"accepted_prefixes":[]}"#).unwrap();
        assert_eq!(
            empty.validate(),
            vec![(
                "api_keys.accepted_prefixes".to_string(),
                "must list at least one prefix".to_string()
            )]
        );
        let migrating: ApiKeyConfig = serde_json::from_str(
            r#"{"prefix":"acme_live","accepted_prefixes":["acme_live","pc_live"],
                "positive_cache_ttl_secs":300,"negative_cache_ttl_secs":0,"cache_max_entries":0}"#,
        )
        .unwrap();
        assert!(migrating.validate().is_empty());
    }

    #[test]
    fn errors_map_to_their_codes() {
        let cases = [
            (ApiKeyError::Missing, "api_key_missing", 401),
            (
                ApiKeyError::Malformed(Malformed::Checksum),
                "api_key_malformed",
                401,
            ),
            (ApiKeyError::Invalid, "api_key_invalid", 401),
            (
                ApiKeyError::Expired {
                    key_id: "key_x".into(),
                    expired_at: 1,
                },
                "api_key_expired",
                401,
            ),
            (
                ApiKeyError::Revoked {
                    key_id: "key_x".into(),
                    revoked_at: 1,
                },
                "api_key_revoked",
                401,
            ),
            (
                ApiKeyError::StoreUnavailable("kv down".into()),
                "credential_store_unavailable",
                503,
            ),
        ];
        for (e, code, status) in cases {
            assert_eq!(e.code().as_str(), code);
            assert_eq!(e.code().status(), status);
            assert!(!e.detail().is_empty());
        }
        // Internals stay in the log.
        let kv = ApiKeyError::StoreUnavailable("kv down".into());
        assert!(!kv.detail().contains("kv down"));
        assert!(kv.log_detail().contains("kv down"));
    }
}
