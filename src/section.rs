//! A section of the configuration document that parses itself, one way for every section: serde
//! reads it (unknown fields refused, every default in the type's `Default`, so an absent section
//! and an empty one are the same value), then the section checks its own values. Paths are joined
//! and problems collected here, once; `config` turns them into `ConfigError`s.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// One problem: the full field path (`revocation.max_staleness_ms`) and what is wrong.
pub(crate) type Problems = Vec<(String, String)>;

pub(crate) trait Section: DeserializeOwned + Default {
    /// Where the section sits in the document (`api_keys`), the base of its error paths.
    const PATH: &'static str;
    /// Every problem with the values, with full paths.
    fn check(&self) -> Problems;
}

/// The section at `v`: its defaults when absent, and its defaults after a structural error too
/// (so the caller always has a value; the error is reported), with every problem found.
pub(crate) fn parse_section<T: Section>(v: Option<&Value>) -> (T, Problems) {
    let (parsed, mut problems) = match v {
        None => (T::default(), Vec::new()),
        Some(v) => match deserialize_at::<T>(v, T::PATH) {
            Ok(t) => (t, Vec::new()),
            Err(problem) => (T::default(), vec![problem]),
        },
    };
    problems.extend(parsed.check());
    (parsed, problems)
}

/// Deserializes `v`, which sits at `base` in the document (`""` for the document itself); a
/// structural error comes back with its full path (`issuers[0].audiences`).
pub(crate) fn deserialize_at<T: DeserializeOwned>(
    v: &Value,
    base: &str,
) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize::<_, T>(v).map_err(|e| {
        let inner = e.path().to_string();
        let path = match (base.is_empty(), inner.as_str()) {
            (true, ".") => String::new(),
            (true, p) => p.to_string(),
            (false, ".") => base.to_string(),
            (false, p) if p.starts_with('[') => format!("{base}{p}"),
            (false, p) => format!("{base}.{p}"),
        };
        (path, e.into_inner().to_string())
    })
}
