//! The location tier: copies of the revocation delta and of each issuer's JWKS kept in the Workers
//! Cache API (`caches.default`), which the isolates of one Cloudflare location share. One isolate
//! per location fetches from the revocation object or the identity provider; the others read its
//! copy (docs/scale.md gives the load model, docs/revocation.md the bound).
//!
//! The zone's cache is writable by every Worker of the zone, so an entry is only believed when its
//! HMAC-SHA256 — keyed by the Workers secret `PORTCULLIS_LOCATION_CACHE_KEY` — checks out: a forged
//! or altered JWKS copy would otherwise let another Worker inject signing keys. The tag binds the
//! entry's cache URL (a revocation delta for one version cannot be replayed as another's, nor a
//! JWKS fetched from one `jwks_uri` as the keys of another; `jwks_url`), its
//! fetch time, its freshness and its payload. The cache URLs carry a digest of the key, so two
//! deployments on one zone never read (and overwrite) each other's entries.
//!
//! An entry the cache cannot give, cannot read or cannot authenticate is simply absent: the caller
//! then asks the object or the identity provider as it would without the tier (the tier only saves
//! requests; it never answers what the source of truth could not).

use std::rc::Rc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::section::{Problems, Section};

/// The secret's name (a Workers secret, never part of the configuration document).
pub(crate) const KEY_SECRET: &str = "PORTCULLIS_LOCATION_CACHE_KEY";
/// The secret decodes (base64url or base64, padded or not) to at least this many bytes.
const MIN_KEY_BYTES: usize = 32;
/// The host of every cache URL: not a real host, nothing is ever fetched from it.
const CACHE_HOST: &str = "https://portcullis-location-cache.internal";
/// Bumped when the entry format or what the tag covers changes.
const FORMAT: u8 = 1;

/// The `location_cache` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocationCacheSettings {
    /// Off by default: it needs the `PORTCULLIS_LOCATION_CACHE_KEY` secret.
    pub enabled: bool,
    /// Share the revocation deltas (`snapshot` routes) within a location.
    pub revocation: bool,
    /// Share each issuer's JWKS within a location.
    pub jwks: bool,
}

impl Default for LocationCacheSettings {
    fn default() -> Self {
        LocationCacheSettings {
            enabled: false,
            revocation: true,
            jwks: true,
        }
    }
}

impl Section for LocationCacheSettings {
    const PATH: &'static str = "location_cache";
    fn check(&self) -> Problems {
        if self.enabled && !self.revocation && !self.jwks {
            return vec![(
                "location_cache".into(),
                "enabled with neither revocation nor jwks: enable one or set enabled = false"
                    .into(),
            )];
        }
        Vec::new()
    }
}

/// Why the secret cannot be used. Never carries the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyError {
    Missing,
    NotBase64,
    TooShort(usize),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Missing => write!(
                f,
                "is not set; location_cache.enabled needs it (generate one with `openssl rand -base64 32`)"
            ),
            KeyError::NotBase64 => f.write_str("is not base64 or base64url"),
            KeyError::TooShort(n) => write!(
                f,
                "decodes to {n} bytes; at least {MIN_KEY_BYTES} are needed"
            ),
        }
    }
}

/// What one isolate needs to read and write the location's copies: the tag key and the URL prefix.
/// Cheap to clone (shared by the revocation snapshot and the JWKS cache).
#[derive(Clone)]
pub(crate) struct LocationTier {
    mac_key: Rc<[u8]>,
    prefix: Rc<str>,
    pub revocation: bool,
    pub jwks: bool,
}

impl std::fmt::Debug for LocationTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("LocationTier")
            .field("prefix", &self.prefix)
            .field("revocation", &self.revocation)
            .field("jwks", &self.jwks)
            .finish()
    }
}

/// One authenticated copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocationEntry {
    /// When the source was asked (ms): the copy is at least this fresh.
    pub fetched_at_ms: u64,
    /// Until when the copy may be used in place of the source (ms).
    pub fresh_until_ms: u64,
    /// Where the payload came from (the JWKS URI; empty for a revocation delta).
    pub label: String,
    pub payload: String,
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    v: u8,
    fetched_at_ms: u64,
    fresh_until_ms: u64,
    label: String,
    payload: String,
    tag: String,
}

impl LocationTier {
    /// The tier for `settings`, keyed by the secret's text; `None` when the tier is off.
    pub(crate) fn from_settings(
        settings: &LocationCacheSettings,
        secret: Option<&str>,
    ) -> Result<Option<Self>, KeyError> {
        if !settings.enabled {
            return Ok(None);
        }
        let key = decode_key(secret.ok_or(KeyError::Missing)?)?;
        Ok(Some(Self::new(&key, settings.revocation, settings.jwks)))
    }

    pub(crate) fn new(key: &[u8], revocation: bool, jwks: bool) -> Self {
        // The digest names the deployment in the cache URLs without revealing the key.
        let digest = Sha256::digest([b"portcullis location cache\n".as_slice(), key].concat());
        let id: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        LocationTier {
            mac_key: Rc::from(key),
            prefix: Rc::from(format!("{CACHE_HOST}/{id}").as_str()),
            revocation,
            jwks,
        }
    }

    /// The copy of the revocation object's answer to `GET /snapshot?since=<since>`.
    pub(crate) fn revocation_url(&self, since: u64) -> String {
        format!("{}/revocation/snapshot?since={since}", self.prefix)
    }

    /// The copy of `issuer`'s JWKS fetched from the configured `jwks_uri` (`None`: discovered from
    /// the issuer's metadata), both hashed: any string makes a valid path. The source is part of
    /// the URL, and so of the tag: after `jwks_uri` changes (a redeploy, or another deployment with
    /// the same secret) a copy of the keys from the former URI is never read as the issuer's.
    pub(crate) fn jwks_url(&self, issuer: &str, jwks_uri: Option<&str>) -> String {
        let mut hash = Sha256::new();
        // Length-prefixed, so no two (issuer, source) pairs hash the same bytes.
        hash.update((issuer.len() as u64).to_be_bytes());
        hash.update(issuer.as_bytes());
        match jwks_uri {
            Some(uri) => {
                hash.update([1]);
                hash.update(uri.as_bytes());
            }
            None => hash.update([0]),
        }
        let digest = hash.finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}/jwks/{hex}", self.prefix)
    }

    fn tag(
        &self,
        url: &str,
        fetched_at_ms: u64,
        fresh_until_ms: u64,
        label: &str,
        payload: &str,
    ) -> Hmac<Sha256> {
        // `new_from_slice` accepts any key length for HMAC.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.mac_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(&[FORMAT]);
        // Every variable-length field is length-prefixed, so no two entries tag the same bytes.
        for field in [url.as_bytes(), label.as_bytes(), payload.as_bytes()] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field);
        }
        mac.update(&fetched_at_ms.to_be_bytes());
        mac.update(&fresh_until_ms.to_be_bytes());
        mac
    }

    /// The text stored at `url`.
    pub(crate) fn seal(&self, url: &str, entry: &LocationEntry) -> String {
        let tag = self
            .tag(
                url,
                entry.fetched_at_ms,
                entry.fresh_until_ms,
                &entry.label,
                &entry.payload,
            )
            .finalize()
            .into_bytes();
        let sealed = Sealed {
            v: FORMAT,
            fetched_at_ms: entry.fetched_at_ms,
            fresh_until_ms: entry.fresh_until_ms,
            label: entry.label.clone(),
            payload: entry.payload.clone(),
            tag: URL_SAFE_NO_PAD.encode(tag),
        };
        serde_json::to_string(&sealed).unwrap_or_default()
    }

    /// The entry stored at `url`, when it is well formed and its tag checks out (constant time).
    pub(crate) fn open(&self, url: &str, text: &str) -> Option<LocationEntry> {
        let sealed: Sealed = serde_json::from_str(text).ok()?;
        if sealed.v != FORMAT {
            return None;
        }
        let tag = URL_SAFE_NO_PAD.decode(&sealed.tag).ok()?;
        self.tag(
            url,
            sealed.fetched_at_ms,
            sealed.fresh_until_ms,
            &sealed.label,
            &sealed.payload,
        )
        .verify_slice(&tag)
        .ok()?;
        Some(LocationEntry {
            fetched_at_ms: sealed.fetched_at_ms,
            fresh_until_ms: sealed.fresh_until_ms,
            label: sealed.label,
            payload: sealed.payload,
        })
    }
}

/// The secret as base64url or base64, padded or not.
fn decode_key(text: &str) -> Result<Vec<u8>, KeyError> {
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    let trimmed = text.trim().trim_end_matches('=');
    let bytes = URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| STANDARD_NO_PAD.decode(trimmed))
        .map_err(|_| KeyError::NotBase64)?;
    if bytes.len() < MIN_KEY_BYTES {
        return Err(KeyError::TooShort(bytes.len()));
    }
    Ok(bytes)
}

/// How long the cache keeps an entry: its freshness, in whole seconds (the Cache API's unit), at
/// least one. Whether an entry may be used is decided by its own `fresh_until_ms`, not by this.
pub(crate) fn max_age_secs(fresh_for_ms: u64) -> u32 {
    u32::try_from(fresh_for_ms.div_ceil(1000).max(1)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = &[7u8; 32];

    fn entry() -> LocationEntry {
        LocationEntry {
            fetched_at_ms: 1_000,
            fresh_until_ms: 2_000,
            label: "https://idp.test/jwks".into(),
            payload: r#"{"keys":[]}"#.into(),
        }
    }

    #[test]
    fn a_sealed_entry_opens_at_its_own_url_only() {
        let tier = LocationTier::new(KEY, true, true);
        let url = tier.jwks_url("https://idp.test", Some("https://idp.test/jwks"));
        let text = tier.seal(&url, &entry());
        assert_eq!(tier.open(&url, &text), Some(entry()));
        assert_eq!(
            tier.open(
                &tier.jwks_url("https://other.test", Some("https://idp.test/jwks")),
                &text
            ),
            None
        );
        assert_eq!(tier.open(&tier.revocation_url(0), &text), None);
    }

    #[test]
    fn any_altered_field_or_another_key_is_refused() {
        let tier = LocationTier::new(KEY, true, true);
        let url = tier.revocation_url(3);
        let text = tier.seal(&url, &entry());
        let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        for (field, value) in [
            ("fetched_at_ms", serde_json::json!(1_001)),
            ("fresh_until_ms", serde_json::json!(99_999)),
            ("label", serde_json::json!("https://evil.test/jwks")),
            ("payload", serde_json::json!(r#"{"keys":[{"kty":"oct"}]}"#)),
            ("v", serde_json::json!(2)),
        ] {
            let original = doc[field].clone();
            doc[field] = value;
            assert_eq!(tier.open(&url, &doc.to_string()), None, "{field}");
            doc[field] = original;
        }
        assert!(tier.open(&url, &doc.to_string()).is_some());
        let other = LocationTier::new(&[8u8; 32], true, true);
        assert_eq!(other.open(&url, &text), None);
        assert_eq!(tier.open(&url, "not json"), None);
        assert_eq!(tier.open(&url, r#"{"v":1}"#), None);
    }

    #[test]
    fn a_jwks_copy_is_bound_to_where_the_keys_come_from() {
        let tier = LocationTier::new(KEY, true, true);
        let configured = tier.jwks_url("https://idp.test", Some("https://idp.test/jwks"));
        let text = tier.seal(&configured, &entry());
        for other in [
            tier.jwks_url("https://idp.test", Some("https://old.test/jwks")),
            tier.jwks_url("https://idp.test", None),
            tier.jwks_url("https://idp.test", Some("")),
        ] {
            assert_ne!(other, configured);
            assert_eq!(tier.open(&other, &text), None);
        }
        assert_ne!(
            tier.jwks_url("https://idp.test", None),
            tier.jwks_url("https://idp.test", Some(""))
        );
    }

    #[test]
    fn deployments_with_different_keys_use_different_urls() {
        let a = LocationTier::new(KEY, true, true);
        let b = LocationTier::new(&[8u8; 32], true, true);
        assert_ne!(a.revocation_url(0), b.revocation_url(0));
        assert_ne!(a.jwks_url("x", None), b.jwks_url("x", None));
        assert!(a
            .revocation_url(5)
            .ends_with("/revocation/snapshot?since=5"));
        // The URL names the deployment by a digest, never by the key.
        assert!(!format!("{a:?}").contains("0707"));
    }

    #[test]
    fn the_secret_is_base64_of_at_least_32_bytes() {
        let s = LocationCacheSettings {
            enabled: true,
            ..Default::default()
        };
        assert_eq!(
            LocationTier::from_settings(&s, None).unwrap_err(),
            KeyError::Missing
        );
        assert_eq!(
            LocationTier::from_settings(&s, Some("not base64!")).unwrap_err(),
            KeyError::NotBase64
        );
        assert_eq!(
            LocationTier::from_settings(&s, Some("AAAA")).unwrap_err(),
            KeyError::TooShort(3)
        );
        let std_b64 = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
        let url_b64 = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA";
        assert!(LocationTier::from_settings(&s, Some(std_b64))
            .unwrap()
            .is_some());
        assert!(LocationTier::from_settings(&s, Some(url_b64))
            .unwrap()
            .is_some());
        let off = LocationCacheSettings::default();
        assert!(LocationTier::from_settings(&off, None).unwrap().is_none());
        // Errors never echo the secret.
        assert!(!KeyError::TooShort(3).to_string().contains("AAAA"));
    }

    #[test]
    fn the_section_refuses_an_enabled_tier_that_shares_nothing() {
        let s = LocationCacheSettings {
            enabled: true,
            revocation: false,
            jwks: false,
        };
        assert_eq!(s.check().len(), 1);
        assert!(LocationCacheSettings::default().check().is_empty());
    }

    #[test]
    fn max_age_rounds_up_to_whole_seconds() {
        assert_eq!(max_age_secs(0), 1);
        assert_eq!(max_age_secs(1), 1);
        assert_eq!(max_age_secs(1_000), 1);
        assert_eq!(max_age_secs(1_001), 2);
    }
}
