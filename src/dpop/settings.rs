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
}

impl Default for DpopSettings {
    fn default() -> Self {
        DpopSettings {
            enabled: false,
            algorithms: vec!["ES256".into(), "EdDSA".into()],
            proof_max_age_secs: 60,
            leeway_secs: 5,
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
        errors
    }
}
