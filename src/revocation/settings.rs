//! The `revocation` section of the configuration and the per-route mode.

use serde::Deserialize;
use serde_json::Value;

pub const DEFAULT_REFRESH_INTERVAL_MS: u64 = 1_000;
pub const DEFAULT_MAX_STALENESS_MS: u64 = 5_000;
pub const DEFAULT_KEY_REVOCATION_TTL_SECS: u64 = 30 * 86_400;

/// How a route checks revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RevocationMode {
    /// From the isolate's snapshot: no network hop; enforced within the propagation bound.
    #[default]
    Snapshot,
    /// The revocation Durable Object is asked on every request: enforced at once, one hop.
    Strict,
}

impl RevocationMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "snapshot" => Some(RevocationMode::Snapshot),
            "strict" => Some(RevocationMode::Strict),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationSettings {
    /// Off: no credential is checked against the revocation list (default on).
    pub enabled: bool,
    /// A snapshot older than this is refreshed in the background (default 1 000 ms).
    pub refresh_interval_ms: u64,
    /// A snapshot older than this is never used: the request refreshes inline, and fails closed
    /// (503 `revocation_unavailable`) when the object cannot be reached (default 5 000 ms).
    pub max_staleness_ms: u64,
    /// Default lifetime of an API key id revocation (default 30 days, the time KV keeps a revoked
    /// key's record).
    pub key_revocation_ttl_secs: u64,
}

impl Default for RevocationSettings {
    fn default() -> Self {
        RevocationSettings {
            enabled: true,
            refresh_interval_ms: DEFAULT_REFRESH_INTERVAL_MS,
            max_staleness_ms: DEFAULT_MAX_STALENESS_MS,
            key_revocation_ttl_secs: DEFAULT_KEY_REVOCATION_TTL_SECS,
        }
    }
}

impl RevocationSettings {
    pub fn refresh(&self) -> super::snapshot::RefreshSettings {
        super::snapshot::RefreshSettings {
            refresh_interval_ms: self.refresh_interval_ms,
            max_staleness_ms: self.max_staleness_ms,
        }
    }
}

/// Every field optional (`null` included): an absent one takes `RevocationSettings::default()`'s.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    refresh_interval_ms: Option<u64>,
    #[serde(default)]
    max_staleness_ms: Option<u64>,
    #[serde(default)]
    key_revocation_ttl_seconds: Option<u64>,
}

/// Parses the section; errors are `(path, message)` with full paths (`revocation.max_staleness_ms`).
pub fn parse_settings(v: Option<&Value>) -> (RevocationSettings, Vec<(String, String)>) {
    let mut errors = Vec::new();
    let d = RevocationSettings::default();
    let Some(v) = v else {
        return (d, errors);
    };
    if !v.is_object() {
        errors.push(("revocation".into(), "must be an object".into()));
        return (d, errors);
    }
    let raw = match crate::section::deserialize_at::<RawSettings>(v, "revocation") {
        Ok(r) => r,
        Err(problem) => {
            errors.push(problem);
            return (d, errors);
        }
    };
    let s = RevocationSettings {
        enabled: raw.enabled.unwrap_or(d.enabled),
        refresh_interval_ms: raw.refresh_interval_ms.unwrap_or(d.refresh_interval_ms),
        max_staleness_ms: raw.max_staleness_ms.unwrap_or(d.max_staleness_ms),
        key_revocation_ttl_secs: raw
            .key_revocation_ttl_seconds
            .unwrap_or(d.key_revocation_ttl_secs),
    };
    if !(100..=60_000).contains(&s.refresh_interval_ms) {
        errors.push((
            "revocation.refresh_interval_ms".into(),
            "must be between 100 and 60000".into(),
        ));
    }
    if !(200..=300_000).contains(&s.max_staleness_ms) {
        errors.push((
            "revocation.max_staleness_ms".into(),
            "must be between 200 and 300000".into(),
        ));
    } else if s.max_staleness_ms <= s.refresh_interval_ms {
        errors.push((
            "revocation.max_staleness_ms".into(),
            "must exceed revocation.refresh_interval_ms (the background refresh needs time to land)".into(),
        ));
    }
    if !(60..=34_560_000).contains(&s.key_revocation_ttl_secs) {
        errors.push((
            "revocation.key_revocation_ttl_seconds".into(),
            "must be between 60 and 34560000 (400 days)".into(),
        ));
    }
    (s, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(v: Value) -> Vec<String> {
        parse_settings(Some(&v))
            .1
            .into_iter()
            .map(|(p, _)| p)
            .collect()
    }

    #[test]
    fn defaults() {
        let (s, e) = parse_settings(None);
        assert!(e.is_empty());
        assert_eq!(s, RevocationSettings::default());
        assert!(s.enabled);
        assert_eq!((s.refresh_interval_ms, s.max_staleness_ms), (1_000, 5_000));
        let (s, e) = parse_settings(Some(&json!({})));
        assert!(e.is_empty());
        assert_eq!(s, RevocationSettings::default());
    }

    #[test]
    fn overrides_and_errors() {
        let (s, e) = parse_settings(Some(
            &json!({"enabled": false, "refresh_interval_ms": 200, "max_staleness_ms": 1000, "key_revocation_ttl_seconds": 600}),
        ));
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(
            s,
            RevocationSettings {
                enabled: false,
                refresh_interval_ms: 200,
                max_staleness_ms: 1000,
                key_revocation_ttl_secs: 600
            }
        );
        assert_eq!(paths(json!({"typo": 1})), vec!["revocation.typo"]);
        // Moved to each issuer (`issuers[].max_token_lifetime_seconds`), where it is enforced.
        assert_eq!(
            paths(json!({"max_token_lifetime_seconds": 3600})),
            vec!["revocation.max_token_lifetime_seconds"]
        );
        assert_eq!(paths(json!({"enabled": "yes"})), vec!["revocation.enabled"]);
        assert_eq!(paths(json!([])), vec!["revocation"]);
        assert_eq!(
            paths(
                json!({"refresh_interval_ms": 99, "max_staleness_ms": 300_001, "key_revocation_ttl_seconds": 0})
            ),
            vec![
                "revocation.refresh_interval_ms",
                "revocation.max_staleness_ms",
                "revocation.key_revocation_ttl_seconds"
            ]
        );
        assert_eq!(
            paths(json!({"refresh_interval_ms": 2000, "max_staleness_ms": 2000})),
            vec!["revocation.max_staleness_ms"]
        );
    }

    #[test]
    fn modes() {
        assert_eq!(
            RevocationMode::parse("snapshot"),
            Some(RevocationMode::Snapshot)
        );
        assert_eq!(
            RevocationMode::parse("strict"),
            Some(RevocationMode::Strict)
        );
        assert_eq!(RevocationMode::parse("Strict"), None);
        assert_eq!(RevocationMode::default(), RevocationMode::Snapshot);
    }
}
