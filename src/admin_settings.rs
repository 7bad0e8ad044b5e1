//! The `admin` section of the configuration, a leaf module so that `config` reads it without
//! importing the admin API (`admin`), whose handlers read the configuration. Reference:
//! docs/api-keys.md, "Admin API".

use serde::Deserialize;

/// The `admin` section of the gateway config.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Off unless set (default `false`).
    #[serde(default)]
    pub enabled: bool,
    /// Where the admin API is mounted (default `/admin`).
    #[serde(default = "default_path_prefix")]
    pub path_prefix: String,
    /// The scope an admin credential must carry (default `portcullis:admin`).
    #[serde(default = "default_scope")]
    pub scope: String,
    /// Credential kinds accepted for admin calls: `api_key`, `jwt` (default both).
    #[serde(default = "default_credentials")]
    pub credentials: Vec<String>,
}

fn default_path_prefix() -> String {
    "/admin".into()
}
fn default_scope() -> String {
    "portcullis:admin".into()
}
fn default_credentials() -> Vec<String> {
    vec!["api_key".into(), "jwt".into()]
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: false,
            path_prefix: default_path_prefix(),
            scope: default_scope(),
            credentials: default_credentials(),
        }
    }
}

impl AdminConfig {
    /// Every problem, as `(field path, what is wrong)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        let p = &self.path_prefix;
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        if !p.starts_with('/')
            || p.len() < 2
            || p.ends_with('/')
            || !p[1..].split('/').all(segment_ok)
        {
            errors.push((
                "admin.path_prefix".into(),
                "must be an absolute path like /admin (segments of A-Z a-z 0-9 . _ -, no trailing /)"
                    .into(),
            ));
        }
        if crate::api_key::record::validate_scopes(std::slice::from_ref(&self.scope)).is_err() {
            errors.push((
                "admin.scope".into(),
                "must be one RFC 6749 scope token".into(),
            ));
        }
        if self.credentials.is_empty() {
            errors.push((
                "admin.credentials".into(),
                "must list api_key, jwt or both".into(),
            ));
        }
        for (i, c) in self.credentials.iter().enumerate() {
            if c != "api_key" && c != "jwt" {
                errors.push((
                    format!("admin.credentials[{i}]"),
                    "unknown credential kind; use api_key or jwt".into(),
                ));
            }
        }
        errors
    }

    /// The part of `path` under the admin prefix (`/admin/keys` → `/keys`), or `None` when the
    /// request is not for the admin API.
    pub fn strip<'p>(&self, path: &'p str) -> Option<&'p str> {
        crate::path::under_prefix(path, &self.path_prefix)
    }
}
