//! The `[passkeys]` configuration section (docs/config.md, "Passkeys"). The ceremonies live under
//! the sessions prefix, so the section needs `[sessions] enabled` (checked by `config`).

use serde::Deserialize;

use super::cose::CoseAlg;
use crate::section::{Problems, Section};

/// Whether the authenticator must verify the user (PIN, biometrics) on every ceremony.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserVerification {
    /// The UV flag is required; a ceremony without it is refused.
    Required,
    /// Asked for, not required: a passkey used without it gives `amr` without `user`.
    Preferred,
}

impl UserVerification {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            UserVerification::Required => "required",
            UserVerification::Preferred => "preferred",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasskeySettings {
    pub enabled: bool,
    /// The WebAuthn RP ID: a registrable domain the allowed origins' hosts are equal to or under.
    pub rp_id: String,
    /// Shown by the authenticator when a passkey is created.
    pub rp_name: String,
    /// The origins a ceremony may run in (`clientDataJSON.origin`), compared exactly.
    pub allowed_origins: Vec<String>,
    /// Top-level origins under which a ceremony in a cross-origin iframe is accepted; empty (the
    /// default): every cross-origin ceremony is refused.
    pub allowed_top_origins: Vec<String>,
    pub user_verification: UserVerification,
    /// How long a challenge can be answered.
    pub challenge_ttl_seconds: u64,
    /// The credential algorithms accepted, in the order offered to the authenticator.
    pub algorithms: Vec<String>,
    pub max_credentials_per_user: usize,
    /// The scope (space-separated tokens) of a session a passkey login starts.
    pub login_scope: String,
    /// Deleting a passkey needs an access token whose `auth_time` is at most this many seconds
    /// old (RFC 9470 `max_age`): a stolen session alone cannot remove the owner's passkeys.
    pub delete_max_age_seconds: u64,
}

impl Default for PasskeySettings {
    fn default() -> Self {
        PasskeySettings {
            enabled: false,
            rp_id: String::new(),
            rp_name: "Portcullis".to_string(),
            allowed_origins: Vec::new(),
            allowed_top_origins: Vec::new(),
            user_verification: UserVerification::Required,
            challenge_ttl_seconds: 300,
            algorithms: CoseAlg::ALL.iter().map(|a| a.name().to_string()).collect(),
            max_credentials_per_user: 10,
            login_scope: String::new(),
            delete_max_age_seconds: 300,
        }
    }
}

pub(crate) const CHALLENGE_TTL_RANGE: std::ops::RangeInclusive<u64> = 30..=600;
pub(crate) const MAX_CREDENTIALS_RANGE: std::ops::RangeInclusive<usize> = 1..=50;
pub(crate) const DELETE_MAX_AGE_RANGE: std::ops::RangeInclusive<u64> = 1..=86_400;

impl PasskeySettings {
    /// The configured algorithms (the names are checked at load; an unknown one is never here).
    pub(crate) fn cose_algorithms(&self) -> Vec<CoseAlg> {
        self.algorithms
            .iter()
            .filter_map(|a| CoseAlg::parse(a))
            .collect()
    }

    pub(crate) fn rp_id_hash(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        Sha256::digest(self.rp_id.as_bytes()).into()
    }
}

/// `scheme://host[:port]` as a browser serialises an origin: https, or http for a loopback host
/// (local development); the host in lower case. Returns the host.
fn origin_host(origin: &str) -> Option<&str> {
    let (scheme, rest) = origin.split_once("://")?;
    let host = match rest.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => rest,
    };
    let valid_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let loopback = host == "localhost" || host == "127.0.0.1";
    let scheme_ok = scheme == "https" || (scheme == "http" && loopback);
    (valid_host && scheme_ok).then_some(host)
}

impl Section for PasskeySettings {
    const PATH: &'static str = "passkeys";

    fn check(&self) -> Problems {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: &str| {
            problems.push((format!("passkeys.{field}"), message.to_string()));
        };
        if !CHALLENGE_TTL_RANGE.contains(&self.challenge_ttl_seconds) {
            problem("challenge_ttl_seconds", "must be between 30 and 600");
        }
        if !MAX_CREDENTIALS_RANGE.contains(&self.max_credentials_per_user) {
            problem("max_credentials_per_user", "must be between 1 and 50");
        }
        if !DELETE_MAX_AGE_RANGE.contains(&self.delete_max_age_seconds) {
            problem("delete_max_age_seconds", "must be between 1 and 86400");
        }
        if self.algorithms.is_empty() {
            problem(
                "algorithms",
                "must name at least one of ES256, EdDSA, RS256",
            );
        }
        for (i, a) in self.algorithms.iter().enumerate() {
            if CoseAlg::parse(a).is_none() {
                problem(&format!("algorithms[{i}]"), "must be ES256, EdDSA or RS256");
            }
        }
        if self.rp_name.is_empty()
            || self.rp_name.len() > 64
            || self.rp_name.chars().any(char::is_control)
        {
            problem(
                "rp_name",
                "must be 1 to 64 characters without control characters",
            );
        }
        if !self.login_scope.is_empty()
            && !self
                .login_scope
                .split(' ')
                .all(crate::scope::is_scope_token)
        {
            problem(
                "login_scope",
                "must be scope tokens separated by single spaces (RFC 6749 §3.3)",
            );
        }
        for (i, o) in self.allowed_top_origins.iter().enumerate() {
            if origin_host(o).is_none() {
                problem(
                    &format!("allowed_top_origins[{i}]"),
                    "must be an origin: https://host[:port] (http only for localhost or 127.0.0.1)",
                );
            }
        }
        if !self.enabled {
            return problems;
        }
        let rp_id_valid = !self.rp_id.is_empty()
            && self
                .rp_id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && !self.rp_id.starts_with('.')
            && !self.rp_id.ends_with('.');
        if !rp_id_valid {
            problem(
                "rp_id",
                "must be a lower-case domain name (the WebAuthn RP ID)",
            );
        }
        if self.allowed_origins.is_empty() {
            problem(
                "allowed_origins",
                "must list at least one origin when passkeys are enabled",
            );
        }
        for (i, o) in self.allowed_origins.iter().enumerate() {
            match origin_host(o) {
                None => problem(
                    &format!("allowed_origins[{i}]"),
                    "must be an origin: https://host[:port] (http only for localhost or 127.0.0.1)",
                ),
                // WebAuthn §5.1.4.1 / §5.1.3: browsers refuse an RP ID that is not the origin's
                // host or a registrable suffix of it, so such an origin could never succeed.
                Some(host)
                    if rp_id_valid
                        && host != self.rp_id
                        && !host.ends_with(&format!(".{}", self.rp_id)) =>
                {
                    problem(
                        &format!("allowed_origins[{i}]"),
                        "its host must be the rp_id or under it",
                    );
                }
                Some(_) => {}
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::section::parse_section;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> (PasskeySettings, Problems) {
        parse_section::<PasskeySettings>(Some(&v))
    }

    #[test]
    fn defaults_and_a_valid_section() {
        let (s, problems) = parse(json!({}));
        assert!(problems.is_empty());
        assert!(!s.enabled);
        assert_eq!(s.user_verification, UserVerification::Required);
        assert_eq!(s.cose_algorithms(), CoseAlg::ALL);
        let (s, problems) = parse(json!({
            "enabled": true, "rp_id": "example.com",
            "allowed_origins": ["https://example.com", "https://app.example.com:8443"],
            "user_verification": "preferred", "algorithms": ["EdDSA", "ES256"]
        }));
        assert_eq!(problems, vec![]);
        assert_eq!(s.cose_algorithms(), vec![CoseAlg::EdDSA, CoseAlg::ES256]);
        let (_, problems) = parse(
            json!({"enabled": true, "rp_id": "localhost", "allowed_origins": ["http://localhost:8791"]}),
        );
        assert_eq!(problems, vec![]);
    }

    #[test]
    fn refusals_name_their_field() {
        let fields = |v| parse(v).1.into_iter().map(|(p, _)| p).collect::<Vec<_>>();
        assert_eq!(
            fields(json!({"enabled": true})),
            vec!["passkeys.rp_id", "passkeys.allowed_origins"]
        );
        assert_eq!(
            fields(
                json!({"enabled": true, "rp_id": "example.com", "allowed_origins": ["https://example.org", "http://example.com", "https://EXAMPLE.com", "https://notexample.com"]})
            ),
            vec![
                "passkeys.allowed_origins[0]",
                "passkeys.allowed_origins[1]",
                "passkeys.allowed_origins[2]",
                "passkeys.allowed_origins[3]"
            ]
        );
        assert_eq!(
            fields(json!({"algorithms": ["ES384"]})),
            vec!["passkeys.algorithms[0]"]
        );
        assert_eq!(
            fields(json!({"algorithms": []})),
            vec!["passkeys.algorithms"]
        );
        assert_eq!(
            fields(json!({"challenge_ttl_seconds": 5})),
            vec!["passkeys.challenge_ttl_seconds"]
        );
        assert_eq!(
            fields(json!({"max_credentials_per_user": 0})),
            vec!["passkeys.max_credentials_per_user"]
        );
        assert_eq!(
            fields(json!({"user_verification": "discouraged"})),
            vec!["passkeys.user_verification"]
        );
        assert_eq!(fields(json!({"rp": "x"})), vec!["passkeys.rp"]);
        assert_eq!(
            fields(json!({"login_scope": "read  write"})),
            vec!["passkeys.login_scope"]
        );
        assert_eq!(
            fields(json!({"login_scope": "read,write"})),
            vec!["passkeys.login_scope"]
        );
        assert_eq!(
            fields(json!({"login_scope": "read:echo write:echo"})),
            Vec::<String>::new()
        );
    }
}
