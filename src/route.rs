//! Routes: method set + path pattern → which credentials are accepted and which scopes are
//! required. The first matching route wins; no match is a 404, never a pass-through.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    Jwt,
    ApiKey,
    Public,
}

impl CredentialKind {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "jwt" => CredentialKind::Jwt,
            "api_key" => CredentialKind::ApiKey,
            "public" => CredentialKind::Public,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    /// Upper-case methods, or `["*"]` for any. `GET` also admits `HEAD`.
    pub methods: Vec<String>,
    pub pattern: PathPattern,
    pub auth: Vec<CredentialKind>,
    /// All of these are required.
    pub scopes: Vec<String>,
    /// The admin API: answered by the gateway itself, never forwarded.
    pub admin: bool,
    /// How revocation is checked (`snapshot` from isolate memory, or `strict`: the Durable Object).
    pub revocation: crate::revocation::settings::RevocationMode,
    /// The rate-limit policy (a name from `rate_limits`), if any.
    pub rate_limit: Option<String>,
    /// How the origin is fetched for this route: its timeout and shared-cache policy.
    pub origin: crate::origin::OriginPolicy,
}

impl Route {
    pub fn accepts(&self, kind: CredentialKind) -> bool {
        self.auth.contains(&kind)
    }

    pub fn is_public(&self) -> bool {
        self.accepts(CredentialKind::Public)
    }

    pub fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self
            .methods
            .iter()
            .any(|m| m == "*" || m == method || (m == "GET" && method == "HEAD"));
        method_ok && self.pattern.matches(path)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `:name` — exactly one non-empty segment.
    Param,
}

/// `/users/:id/keys`, `/api/*` (a trailing `*` matches the prefix itself and anything below it),
/// `/*` (everything). Matching is on whole segments, so `/api/*` never matches `/apiary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    segments: Vec<Segment>,
    wildcard: bool,
}

impl PathPattern {
    pub fn parse(s: &str) -> Result<Self, String> {
        let rest = s
            .strip_prefix('/')
            .ok_or_else(|| "must start with '/'".to_string())?;
        let mut segments = Vec::new();
        let mut wildcard = false;
        if rest.is_empty() {
            return Ok(PathPattern { segments, wildcard });
        }
        let parts: Vec<&str> = rest.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if *part == "*" {
                if !last {
                    return Err("'*' is allowed only as the last segment".into());
                }
                wildcard = true;
            } else if let Some(name) = part.strip_prefix(':') {
                if name.is_empty() {
                    return Err("a ':' parameter needs a name".into());
                }
                segments.push(Segment::Param);
            } else if part.is_empty() {
                if !last {
                    return Err("empty path segment".into());
                }
                segments.push(Segment::Literal(String::new()));
            } else if part.contains(['*', '?', '#', '%']) || *part == "." || *part == ".." {
                return Err(format!("invalid segment {part:?}"));
            } else {
                segments.push(Segment::Literal((*part).to_string()));
            }
        }
        Ok(PathPattern { segments, wildcard })
    }

    /// `path` is the normalized request path (see `parse::normalize_path`).
    pub fn matches(&self, path: &str) -> bool {
        let rest = match path.strip_prefix('/') {
            Some(r) => r,
            None => return false,
        };
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        if parts.len() < self.segments.len() {
            return false;
        }
        if !self.wildcard && parts.len() != self.segments.len() {
            return false;
        }
        self.segments
            .iter()
            .zip(parts.iter())
            .all(|(seg, part)| match seg {
                Segment::Literal(l) => l == part,
                Segment::Param => !part.is_empty(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, path: &str) -> bool {
        PathPattern::parse(p).unwrap().matches(path)
    }

    #[test]
    fn literal_and_wildcards() {
        assert!(m("/health", "/health"));
        assert!(!m("/health", "/health/"));
        assert!(!m("/health", "/healthz"));
        assert!(m("/api/*", "/api"));
        assert!(m("/api/*", "/api/"));
        assert!(m("/api/*", "/api/v1/users"));
        assert!(!m("/api/*", "/apiary"));
        assert!(!m("/api/*", "/"));
        assert!(m("/*", "/"));
        assert!(m("/*", "/anything/at/all"));
        assert!(m("/", "/"));
        assert!(!m("/", "/x"));
    }

    #[test]
    fn params() {
        assert!(m("/users/:id", "/users/42"));
        assert!(!m("/users/:id", "/users/"));
        assert!(!m("/users/:id", "/users/42/keys"));
        assert!(m("/users/:id/*", "/users/42/keys/1"));
    }

    #[test]
    fn bad_patterns() {
        for p in [
            "api", "/a/*/b", "/a/:", "/a//b", "/a/b*", "/a/../b", "/a%2f",
        ] {
            assert!(PathPattern::parse(p).is_err(), "{p}");
        }
    }

    #[test]
    fn methods() {
        let r = Route {
            name: "r".into(),
            methods: vec!["GET".into()],
            pattern: PathPattern::parse("/x").unwrap(),
            auth: vec![CredentialKind::Jwt],
            scopes: vec![],
            admin: false,
            revocation: Default::default(),
            rate_limit: None,
            origin: Default::default(),
        };
        assert!(r.matches("GET", "/x"));
        assert!(r.matches("HEAD", "/x"));
        assert!(!r.matches("POST", "/x"));
        let any = Route {
            methods: vec!["*".into()],
            ..r
        };
        assert!(any.matches("DELETE", "/x"));
    }
}
