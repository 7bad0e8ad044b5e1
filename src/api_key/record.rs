//! What KV holds for one key (under its hash, never its plaintext), and the rules a record obeys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::format::is_valid_key_id;

pub const MAX_CLIENT_ID_LEN: usize = 128;
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_SCOPES: usize = 32;
pub const MAX_SCOPE_LEN: usize = 64;
pub const MAX_POLICY_LEN: usize = 64;
pub const MAX_METADATA_ENTRIES: usize = 16;
pub const MAX_METADATA_KEY_LEN: usize = 64;
pub const MAX_METADATA_VALUE_LEN: usize = 256;

/// One API key. Stored as JSON at `apikey:hash:<sha256hex>`; field names are the storage schema
/// (docs/storage.md), so they are never renamed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRecord {
    /// Public id (`key_…`): in logs, in `x-key-id`, in admin URLs.
    pub key_id: String,
    /// The owning client (`x-client-id`, and the identity's subject).
    pub client_id: String,
    /// A human label ("billing exporter, prod").
    pub name: String,
    /// The environment prefix the key was issued with (`pc_live`); the key itself is not stored.
    pub prefix: String,
    pub scopes: Vec<String>,
    /// Seconds since the epoch.
    pub created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<u64>,
    /// The key is refused from this second on. Rotation lowers it to the grace deadline.
    #[serde(default)]
    pub expires_at: Option<u64>,
    #[serde(default)]
    pub revoked_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_reason: Option<String>,
    /// The rate-limit policy the limit stage applies to this key, by name.
    #[serde(default)]
    pub rate_limit_policy: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// The key this one replaced (set on a successor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_from: Option<String>,
    /// The successor issued by a rotation (set on the old key, whose `expires_at` is the grace
    /// deadline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_to: Option<String>,
}

/// A record's standing at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Expired,
    Revoked,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Expired => "expired",
            KeyStatus::Revoked => "revoked",
        }
    }
}

impl ApiKeyRecord {
    /// Revocation wins over expiry (it is the stronger statement); a key is expired from
    /// `expires_at` on, inclusive, like JWT `exp`.
    pub fn status(&self, now: u64) -> KeyStatus {
        if self.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if self.expires_at.is_some_and(|exp| now >= exp) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }

    /// Checks every field; the first problem is reported as `(field, what is wrong)`. Run on every
    /// admin write and on every record read back from KV.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !is_valid_key_id(&self.key_id) {
            return Err((
                "key_id",
                "must be key_ followed by 16 base62 characters".into(),
            ));
        }
        validate_client_id(&self.client_id).map_err(|e| ("client_id", e))?;
        validate_name(&self.name).map_err(|e| ("name", e))?;
        validate_scopes(&self.scopes).map_err(|e| ("scopes", e))?;
        if let Some(policy) = &self.rate_limit_policy {
            validate_policy(policy).map_err(|e| ("rate_limit_policy", e))?;
        }
        validate_metadata(&self.metadata).map_err(|e| ("metadata", e))?;
        if self.expires_at.is_some_and(|e| e <= self.created_at) && self.rotated_to.is_none() {
            return Err(("expires_at", "must be later than created_at".into()));
        }
        for (field, id) in [
            ("rotated_from", &self.rotated_from),
            ("rotated_to", &self.rotated_to),
        ] {
            if id.as_deref().is_some_and(|id| !is_valid_key_id(id)) {
                return Err((field, "must be a key id".into()));
            }
        }
        Ok(())
    }
}

/// The client id reaches the origin as `x-client-id`, so it is a header-safe token.
pub fn validate_client_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_CLIENT_ID_LEN {
        return Err(format!("must be 1 to {MAX_CLIENT_ID_LEN} characters"));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._:@+-".contains(&b))
    {
        return Err("may contain only A-Z a-z 0-9 and . _ : @ + -".into());
    }
    Ok(())
}

pub fn validate_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(format!(
            "must be 1 to {MAX_NAME_LEN} characters, not only spaces"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// Scope tokens (`crate::scope::is_scope_token`): they reach the origin comma-joined in
/// `x-user-scopes`.
pub fn validate_scopes(scopes: &[String]) -> Result<(), String> {
    if scopes.len() > MAX_SCOPES {
        return Err(format!("at most {MAX_SCOPES} scopes"));
    }
    for (i, scope) in scopes.iter().enumerate() {
        if scope.is_empty() || scope.len() > MAX_SCOPE_LEN {
            return Err(format!(
                "scope {i}: must be 1 to {MAX_SCOPE_LEN} characters"
            ));
        }
        if !crate::scope::is_scope_token(scope) {
            return Err(format!("scope {i}: {}", crate::scope::GRAMMAR));
        }
        if scopes[..i].contains(scope) {
            return Err(format!("scope {i}: duplicate \"{scope}\""));
        }
    }
    Ok(())
}

pub fn validate_policy(policy: &str) -> Result<(), String> {
    if policy.is_empty()
        || policy.len() > MAX_POLICY_LEN
        || !policy
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(format!(
            "must be 1 to {MAX_POLICY_LEN} characters of A-Z a-z 0-9 . _ -"
        ));
    }
    Ok(())
}

pub fn validate_metadata(metadata: &BTreeMap<String, String>) -> Result<(), String> {
    if metadata.len() > MAX_METADATA_ENTRIES {
        return Err(format!("at most {MAX_METADATA_ENTRIES} entries"));
    }
    for (k, v) in metadata {
        if k.is_empty()
            || k.len() > MAX_METADATA_KEY_LEN
            || !k
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(format!(
                "key \"{}\": must be 1 to {MAX_METADATA_KEY_LEN} characters of A-Z a-z 0-9 . _ -",
                k.chars().take(MAX_METADATA_KEY_LEN).collect::<String>()
            ));
        }
        if v.chars().count() > MAX_METADATA_VALUE_LEN || v.chars().any(char::is_control) {
            return Err(format!(
                "value of \"{k}\": at most {MAX_METADATA_VALUE_LEN} characters, no control characters"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) fn sample_record() -> ApiKeyRecord {
    ApiKeyRecord {
        key_id: "key_AAAAAAAAAAAAAAAA".into(),
        client_id: "billing-exporter".into(),
        name: "billing exporter".into(),
        prefix: "pc_test".into(),
        scopes: vec!["invoices:read".into(), "invoices:write".into()],
        created_at: 1_000,
        updated_at: None,
        expires_at: Some(2_000),
        revoked_at: None,
        revoked_reason: None,
        rate_limit_policy: Some("machines".into()),
        metadata: BTreeMap::from([("team".to_string(), "billing".to_string())]),
        rotated_from: None,
        rotated_to: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_transitions() {
        let mut r = sample_record();
        assert_eq!(r.status(1_000), KeyStatus::Active);
        assert_eq!(r.status(1_999), KeyStatus::Active);
        assert_eq!(r.status(2_000), KeyStatus::Expired);
        assert_eq!(r.status(9_999), KeyStatus::Expired);
        r.expires_at = None;
        assert_eq!(r.status(u64::MAX), KeyStatus::Active);
        r.revoked_at = Some(1_500);
        assert_eq!(r.status(1_500), KeyStatus::Revoked);
        r.expires_at = Some(1_200);
        // Revoked and expired: revocation is reported.
        assert_eq!(r.status(5_000), KeyStatus::Revoked);
    }

    #[test]
    fn json_round_trip_and_schema_names() {
        let r = sample_record();
        let json = serde_json::to_string(&r).unwrap();
        let back: ApiKeyRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        for field in [
            "key_id",
            "client_id",
            "name",
            "prefix",
            "scopes",
            "created_at",
            "expires_at",
            "revoked_at",
            "rate_limit_policy",
            "metadata",
        ] {
            assert!(v.get(field).is_some(), "missing {field}");
        }
        assert!(v.get("rotated_to").is_none());
        // Optional fields may be absent in stored JSON.
        let minimal: ApiKeyRecord = serde_json::from_str(
            r#"{"key_id":"key_AAAAAAAAAAAAAAAA","client_id":"c","name":"n","prefix":"pc_test","scopes":[],"created_at":1}"#,
        )
        .unwrap();
        assert_eq!(minimal.status(2), KeyStatus::Active);
        assert!(minimal.validate().is_ok());
        // Unknown fields mean a schema this build does not understand.
        assert!(serde_json::from_str::<ApiKeyRecord>(
            r#"{"key_id":"key_AAAAAAAAAAAAAAAA","client_id":"c","name":"n","prefix":"pc_test","scopes":[],"created_at":1,"secret":"x"}"#
        )
        .is_err());
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(sample_record().validate(), Ok(()));
        type Mutation = Box<dyn Fn(&mut ApiKeyRecord)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("key_id", Box::new(|r| r.key_id = "nope".into())),
            ("client_id", Box::new(|r| r.client_id = String::new())),
            ("client_id", Box::new(|r| r.client_id = "a b".into())),
            (
                "client_id",
                Box::new(|r| r.client_id = "x\r\nSet-Cookie: a".into()),
            ),
            ("client_id", Box::new(|r| r.client_id = "c".repeat(129))),
            ("name", Box::new(|r| r.name = "   ".into())),
            ("name", Box::new(|r| r.name = "a\u{7}".into())),
            ("name", Box::new(|r| r.name = "n".repeat(201))),
            ("scopes", Box::new(|r| r.scopes = vec!["a b".into()])),
            ("scopes", Box::new(|r| r.scopes = vec!["a\"".into()])),
            ("scopes", Box::new(|r| r.scopes = vec![String::new()])),
            (
                "scopes",
                Box::new(|r| r.scopes = vec!["a".into(), "a".into()]),
            ),
            (
                "scopes",
                Box::new(|r| r.scopes = (0..33).map(|i| format!("s{i}")).collect()),
            ),
            ("scopes", Box::new(|r| r.scopes = vec!["é".into()])),
            (
                "scopes",
                Box::new(|r| r.scopes = vec!["orders:read".into(), "profile,admin".into()]),
            ),
            (
                "rate_limit_policy",
                Box::new(|r| r.rate_limit_policy = Some("a b".into())),
            ),
            (
                "metadata",
                Box::new(|r| {
                    r.metadata.insert("bad key".into(), "v".into());
                }),
            ),
            (
                "metadata",
                Box::new(|r| {
                    r.metadata.insert("k".into(), "v".repeat(257));
                }),
            ),
            (
                "metadata",
                Box::new(|r| {
                    for i in 0..17 {
                        r.metadata.insert(format!("k{i}"), "v".into());
                    }
                }),
            ),
            (
                "expires_at",
                Box::new(|r| r.expires_at = Some(r.created_at)),
            ),
            ("rotated_to", Box::new(|r| r.rotated_to = Some("x".into()))),
        ];
        for (field, mutate) in cases {
            let mut r = sample_record();
            mutate(&mut r);
            let err = r.validate().expect_err(field);
            assert_eq!(err.0, field, "{:?}", err);
        }
        // A rotated key whose grace was zero may end at its creation second.
        let mut r = sample_record();
        r.expires_at = Some(r.created_at);
        r.rotated_to = Some("key_BBBBBBBBBBBBBBBB".into());
        assert_eq!(r.validate(), Ok(()));
        // Non-ASCII names are fine: they never reach a header.
        r.name = "Rechnungsexport – Produktion".into();
        assert_eq!(r.validate(), Ok(()));
    }
}
