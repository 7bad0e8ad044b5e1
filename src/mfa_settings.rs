//! The `mfa` section of the configuration: the gateway's own TOTP factor (docs/mfa.md). A leaf
//! module, so that `config` reads it without importing `mfa`, whose endpoints read it.

use serde::Deserialize;

use crate::section::{Problems, Section};

/// The Workers secret holding the key that seals TOTP secrets: 32 random bytes, base64url
/// (`openssl rand 32 | basenc --base64url`). Required when `mfa.enabled`.
pub const MFA_KEY_SECRET: &str = "PORTCULLIS_MFA_KEY";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfaSettings {
    /// The TOTP endpoints under the sessions prefix (`/auth/mfa/totp/…`) and the `MfaSubject`
    /// object. Off unless set; needs `sessions.enabled` (the endpoints take the gateway's own
    /// access tokens) and the `PORTCULLIS_MFA_KEY` secret.
    pub enabled: bool,
    /// The issuer an authenticator app shows beside the account (`otpauth://totp/<issuer>:…`).
    pub totp_issuer: String,
    /// `SHA1` (what every authenticator app supports), `SHA256` or `SHA512`: for new enrollments.
    pub totp_algorithm: String,
    /// 6, 7 or 8: for new enrollments.
    pub totp_digits: u8,
    /// The time step in seconds (15–120, default 30): for new enrollments.
    pub totp_period_seconds: u64,
    /// Failed attempts in a row (codes and recovery codes together) before the lockout.
    pub max_failures: u32,
    /// How long a locked subject waits (`429` with `Retry-After`).
    pub lockout_seconds: u64,
}

impl Default for MfaSettings {
    fn default() -> Self {
        MfaSettings {
            enabled: false,
            totp_issuer: "Portcullis".into(),
            totp_algorithm: "SHA1".into(),
            totp_digits: 6,
            totp_period_seconds: 30,
            max_failures: 5,
            lockout_seconds: 900,
        }
    }
}

impl Section for MfaSettings {
    const PATH: &'static str = "mfa";

    fn check(&self) -> Problems {
        let mut problems = Vec::new();
        let mut bad = |field: &str, message: &str| {
            problems.push((format!("mfa.{field}"), message.to_string()));
        };
        let issuer = &self.totp_issuer;
        if issuer.is_empty() || issuer.len() > 64 || issuer.chars().any(char::is_control) {
            bad(
                "totp_issuer",
                "must be 1-64 characters without control characters",
            );
        }
        if !matches!(self.totp_algorithm.as_str(), "SHA1" | "SHA256" | "SHA512") {
            bad("totp_algorithm", "must be SHA1, SHA256 or SHA512");
        }
        if !(6..=8).contains(&self.totp_digits) {
            bad("totp_digits", "must be 6, 7 or 8");
        }
        if !(15..=120).contains(&self.totp_period_seconds) {
            bad("totp_period_seconds", "must be between 15 and 120");
        }
        if !(1..=20).contains(&self.max_failures) {
            bad("max_failures", "must be between 1 and 20");
        }
        if !(60..=86_400).contains(&self.lockout_seconds) {
            bad("lockout_seconds", "must be between 60 and 86400");
        }
        problems
    }
}

/// The sealing key, read from `PORTCULLIS_MFA_KEY`: exactly 32 bytes (AES-256).
#[derive(Clone, PartialEq, Eq)]
pub struct MfaKey(pub(crate) [u8; 32]);

impl std::fmt::Debug for MfaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaKey(..)")
    }
}

impl MfaKey {
    /// The secret's value: base64url (padding optional) of 32 bytes. The error never quotes it.
    pub fn parse(secret: &str) -> Result<MfaKey, String> {
        use base64::Engine as _;
        let trimmed = secret.trim().trim_end_matches('=');
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(trimmed)
            .map_err(|_| "is not base64url".to_string())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("must decode to 32 bytes, not {}", b.len()))?;
        Ok(MfaKey(key))
    }

    /// The key for `settings`: `None` when MFA is off; an error (the gateway refuses to start,
    /// as for any configuration error) when it is on and the secret is missing or malformed.
    pub fn load(settings: &MfaSettings, secret: Option<&str>) -> Result<Option<MfaKey>, String> {
        if !settings.enabled {
            return Ok(None);
        }
        match secret {
            None => Err("is not set; mfa.enabled needs it (32 random bytes, base64url)".into()),
            Some(s) => MfaKey::parse(s).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_what_authenticator_apps_expect() {
        let s = MfaSettings::default();
        assert!(s.check().is_empty());
        assert_eq!(
            (
                s.totp_algorithm.as_str(),
                s.totp_digits,
                s.totp_period_seconds
            ),
            ("SHA1", 6, 30)
        );
    }

    #[test]
    fn every_bad_value_is_named() {
        let s = MfaSettings {
            totp_issuer: String::new(),
            totp_algorithm: "MD5".into(),
            totp_digits: 9,
            totp_period_seconds: 5,
            max_failures: 0,
            lockout_seconds: 1,
            ..MfaSettings::default()
        };
        let paths: Vec<String> = s.check().into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "mfa.totp_issuer",
                "mfa.totp_algorithm",
                "mfa.totp_digits",
                "mfa.totp_period_seconds",
                "mfa.max_failures",
                "mfa.lockout_seconds"
            ]
        );
    }

    #[test]
    fn the_key_is_32_bytes_of_base64url() {
        let on = MfaSettings {
            enabled: true,
            ..MfaSettings::default()
        };
        let good = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        assert_eq!(MfaKey::load(&on, Some(good)).unwrap().unwrap().0[31], 31);
        assert_eq!(MfaKey::load(&MfaSettings::default(), None), Ok(None));
        assert!(MfaKey::load(&on, None).unwrap_err().contains("not set"));
        let short = MfaKey::load(&on, Some("AAEC")).unwrap_err();
        assert_eq!(short, "must decode to 32 bytes, not 3");
        assert_eq!(
            MfaKey::load(&on, Some("!!")).unwrap_err(),
            "is not base64url"
        );
        assert_eq!(format!("{:?}", MfaKey([1; 32])), "MfaKey(..)");
    }
}
