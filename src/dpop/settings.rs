//! The `[dpop]` section: DPoP (RFC 9449) proof-of-possession for `jwt` routes.

use serde::Deserialize;

use crate::jose::Alg;
use crate::section::{Problems, Section};

/// Algorithms a DPoP proof may use: the asymmetric ones WebCrypto verifies in workerd.
pub const SUPPORTED_ALGORITHMS: &[&str] = &["ES256", "EdDSA", "Ed25519", "RS256"];

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpopSettings {
    /// `Authorization: DPoP` is accepted on `jwt` routes (off: it is an unsupported scheme).
    pub enabled: bool,
    /// Proof algorithms, also advertised in the `DPoP algs="…"` challenge.
    pub algorithms: Vec<String>,
    /// A proof's `iat` may be at most this old (and is remembered this long against replay).
    #[serde(rename = "proof_max_age_seconds")]
    pub proof_max_age_secs: u64,
    /// A proof's `iat` may be this far in the future (client clock skew).
    #[serde(rename = "leeway_seconds")]
    pub leeway_secs: u64,
    /// Require server nonces (RFC 9449 §8): needs the Workers secret
    /// `PORTCULLIS_DPOP_NONCE_SECRET`.
    pub nonce: bool,
    /// How long a nonce is current; the previous one is accepted too.
    #[serde(rename = "nonce_rotation_seconds")]
    pub nonce_rotation_secs: u64,
    /// The secret nonces are derived from: set by `edge` from the Workers secret, never read from
    /// the configuration document.
    #[serde(skip)]
    pub nonce_secret: NonceSecret,
}

/// `PORTCULLIS_DPOP_NONCE_SECRET`: at least 32 bytes; never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NonceSecret(Option<Vec<u8>>);

impl std::fmt::Debug for NonceSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "NonceSecret(set)"
        } else {
            "NonceSecret(unset)"
        })
    }
}

impl NonceSecret {
    pub fn get(&self) -> Option<&[u8]> {
        self.0.as_deref()
    }
}

/// The Workers secret's name.
pub const NONCE_SECRET_VAR: &str = "PORTCULLIS_DPOP_NONCE_SECRET";

impl Default for DpopSettings {
    fn default() -> Self {
        DpopSettings {
            enabled: false,
            algorithms: vec!["ES256".into(), "EdDSA".into()],
            proof_max_age_secs: 60,
            leeway_secs: 5,
            nonce: false,
            nonce_rotation_secs: 300,
            nonce_secret: NonceSecret::default(),
        }
    }
}

impl DpopSettings {
    /// The configured algorithms (checked by `check`, so unknown names never reach here).
    pub fn algs(&self) -> Vec<Alg> {
        self.algorithms
            .iter()
            .filter_map(|a| Alg::parse(a))
            .collect()
    }

    /// Takes the nonce secret when nonces are required (`raw`: the Workers secret, if set). With
    /// `nonce = true` and no usable secret the configuration is refused at load (fail closed),
    /// never per request.
    pub fn set_nonce_secret(&mut self, raw: Option<String>) -> Result<(), String> {
        if !(self.enabled && self.nonce) {
            return Ok(());
        }
        match raw {
            Some(s) if s.len() >= 32 => {
                self.nonce_secret = NonceSecret(Some(s.into_bytes()));
                Ok(())
            }
            Some(_) => Err("must be at least 32 characters".into()),
            None => Err("is required when dpop.nonce is true".into()),
        }
    }

    /// The `algs` challenge parameter: the configured names, space-separated.
    pub fn algs_param(&self) -> String {
        self.algorithms.join(" ")
    }
}

impl Section for DpopSettings {
    const PATH: &'static str = "dpop";
    fn check(&self) -> Problems {
        let mut errors = Vec::new();
        if self.algorithms.is_empty() {
            errors.push((
                "dpop.algorithms".into(),
                "must name at least one algorithm".into(),
            ));
        }
        for (i, a) in self.algorithms.iter().enumerate() {
            if !SUPPORTED_ALGORITHMS.contains(&a.as_str()) {
                errors.push((
                    format!("dpop.algorithms[{i}]"),
                    format!("must be one of {}", SUPPORTED_ALGORITHMS.join(", ")),
                ));
            }
        }
        if !(1..=600).contains(&self.proof_max_age_secs) {
            errors.push((
                "dpop.proof_max_age_seconds".into(),
                "must be between 1 and 600".into(),
            ));
        }
        if self.leeway_secs > 60 {
            errors.push(("dpop.leeway_seconds".into(), "must be at most 60".into()));
        }
        if !(30..=3600).contains(&self.nonce_rotation_secs) {
            errors.push((
                "dpop.nonce_rotation_seconds".into(),
                "must be between 30 and 3600".into(),
            ));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nonce_secret_is_required_only_with_nonces_and_never_printed() {
        let mut off = DpopSettings::default();
        assert_eq!(off.set_nonce_secret(None), Ok(()));
        let mut on = DpopSettings {
            enabled: true,
            nonce: true,
            ..Default::default()
        };
        assert!(on.set_nonce_secret(None).is_err());
        assert!(on.set_nonce_secret(Some("short".into())).is_err());
        let secret = "s".repeat(32);
        assert_eq!(on.set_nonce_secret(Some(secret.clone())), Ok(()));
        assert_eq!(on.nonce_secret.get(), Some(secret.as_bytes()));
        assert!(!format!("{on:?}").contains(&secret));
    }
}
