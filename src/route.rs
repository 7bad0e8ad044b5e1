//! Routes: method set + path pattern → which credentials are accepted and which scopes are
//! required. The first matching route wins; no match is a 404, never a pass-through.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    Jwt,
    ApiKey,
    Public,
    /// A registered TLS client certificate (`request.cf.tlsClientAuth`; docs/mtls.md).
    Mtls,
}

impl CredentialKind {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "jwt" => CredentialKind::Jwt,
            "api_key" => CredentialKind::ApiKey,
            "public" => CredentialKind::Public,
            "mtls" => CredentialKind::Mtls,
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
    /// WebSocket upgrades pass (`websocket = true`); `None`: an upgrade is stripped as hop-by-hop.
    pub websocket: Option<crate::websocket_settings::WebSocketRoute>,
    /// How the origin is fetched for this route: its timeout and shared-cache policy.
    pub origin: crate::origin::OriginPolicy,
    /// Claim conditions (`require`): every one must hold (403 `claim_requirement_failed`).
    pub require: Vec<crate::claims::Condition>,
    /// Whether tokens must be sender-constrained here (`binding = "required"`: DPoP or a
    /// certificate-bound token).
    pub binding: Binding,
    /// What the route asks of the user's authentication (`mfa`, `acr_values`, `max_age`).
    pub step_up: Option<crate::step_up::StepUpPolicy>,
}

/// The route option `binding`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Binding {
    /// Bound and unbound tokens are accepted (a bound one is always checked against its binding).
    #[default]
    Optional,
    /// Only a token bound with `cnf` (DPoP `jkt` or `x5t#S256`) and proven is accepted.
    Required,
}

impl Binding {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "optional" => Some(Binding::Optional),
            "required" => Some(Binding::Required),
            _ => None,
        }
    }
}

impl Route {
    pub fn accepts(&self, kind: CredentialKind) -> bool {
        self.auth.contains(&kind)
    }

    pub fn is_public(&self) -> bool {
        self.accepts(CredentialKind::Public)
    }

    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.method_matches(method) && self.pattern.matches(path)
    }

    /// `matches`, with literals compared exactly: how a case-sensitive origin (Rails, Django,
    /// Spring) routes the same request.
    pub fn matches_exact_case(&self, method: &str, path: &str) -> bool {
        self.method_matches(method) && self.pattern.matches_exact_case(path)
    }

    fn method_matches(&self, method: &str) -> bool {
        self.methods
            .iter()
            .any(|m| m == "*" || m == method || (m == "GET" && method == "HEAD"))
    }
}

/// Non-ASCII letters that ASP.NET Core (`OrdinalIgnoreCase`: simple upper-case mapping) or Java's
/// `equalsIgnoreCase` (upper- and lower-case mapping) equate with an ASCII letter, as a normalized
/// path spells them (UTF-8, upper-case escapes): `ı` and `İ` are `i`, `ſ` is `s`, Kelvin `K` is
/// `k`. To such an origin `/api/adm%C4%B1n` is `/api/admin`.
const FOLDS_TO_ASCII: &[(&str, &str)] = &[
    ("%C4%B0", "i"),
    ("%C4%B1", "i"),
    ("%C5%BF", "s"),
    ("%E2%84%AA", "k"),
];

/// `part` with every letter of `FOLDS_TO_ASCII` replaced by its ASCII letter.
fn fold_to_ascii(part: &str) -> std::borrow::Cow<'_, str> {
    if !part.contains('%') {
        return std::borrow::Cow::Borrowed(part);
    }
    let mut folded = part.to_string();
    for (escaped, ascii) in FOLDS_TO_ASCII {
        if folded.contains(escaped) {
            folded = folded.replace(escaped, ascii);
        }
    }
    std::borrow::Cow::Owned(folded)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `:name` — exactly one non-empty segment.
    Param,
}

/// `/users/:id/keys`, `/api/*` (a trailing `*` matches the prefix itself and anything below it),
/// `/*` (everything). Matching is on whole segments, so `/api/*` never matches `/apiary`.
///
/// Literal segments compare case-insensitively unless the pattern is made case-sensitive
/// (`case_sensitive = true`): Express (by default), ASP.NET Core and IIS route `/api/Admin` to the
/// `/api/admin` handler, so a case-sensitive gateway would judge it by a laxer route. Ignoring case
/// covers ASCII and the few non-ASCII letters ASP.NET Core and Java fold to ASCII letters
/// (`FOLDS_TO_ASCII`). A case-sensitive origin reads the variant differently again, which is why
/// the request must also satisfy the route of its exact-case reading (`parse::route_readings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    segments: Vec<Segment>,
    wildcard: bool,
    case_sensitive: bool,
}

impl PathPattern {
    pub fn parse(s: &str) -> Result<Self, String> {
        let rest = s
            .strip_prefix('/')
            .ok_or_else(|| "must start with '/'".to_string())?;
        let mut segments = Vec::new();
        let mut wildcard = false;
        if rest.is_empty() {
            return Ok(PathPattern {
                segments,
                wildcard,
                case_sensitive: false,
            });
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
            } else if part.contains(['*', '?', '#', '%', ';', '\\'])
                || !part.bytes().all(|b| b.is_ascii_graphic())
                || *part == "."
                || *part == ".."
            {
                // A request path never holds these once normalized (`;` is refused, or cut before
                // routing), so such a route could never match.
                return Err(format!("invalid segment {part:?}"));
            } else {
                segments.push(Segment::Literal((*part).to_string()));
            }
        }
        Ok(PathPattern {
            segments,
            wildcard,
            case_sensitive: false,
        })
    }

    /// Compare literal segments exactly (`case_sensitive = true`) or ignoring ASCII case (the
    /// default).
    pub fn set_case_sensitive(&mut self, case_sensitive: bool) {
        self.case_sensitive = case_sensitive;
    }

    /// Whether two patterns match the same paths once case is ignored while differing in case
    /// (`/api/Admin/*` and `/api/admin/*`): under case-insensitive matching the second is never
    /// reached.
    pub fn differs_only_in_case(&self, other: &PathPattern) -> bool {
        let same_shape =
            self.wildcard == other.wildcard && self.segments.len() == other.segments.len();
        let mut differ = false;
        let same_ignoring_case = self
            .segments
            .iter()
            .zip(&other.segments)
            .all(|pair| match pair {
                (Segment::Literal(a), Segment::Literal(b)) => {
                    differ |= a != b;
                    a.eq_ignore_ascii_case(b)
                }
                (Segment::Param, Segment::Param) => true,
                _ => false,
            });
        same_shape && same_ignoring_case && differ
    }

    fn literal_matches(&self, literal: &str, part: &str) -> bool {
        if self.case_sensitive {
            literal == part
        } else {
            literal.eq_ignore_ascii_case(&fold_to_ascii(part))
        }
    }

    /// Whether `path`'s last segment is matched by a literal of this pattern (`/robots.txt` for
    /// the path `/robots.txt`), rather than by a `:param` or the wildcard.
    pub fn names_last_segment(&self, path: &str) -> bool {
        let parts = path.strip_prefix('/').map_or(0, |rest| {
            if rest.is_empty() {
                0
            } else {
                rest.split('/').count()
            }
        });
        parts > 0
            && parts == self.segments.len()
            && matches!(self.segments.last(), Some(Segment::Literal(_)))
            && self.matches(path)
    }

    /// What a matching `path` has below the pattern's segments (`/keys/1` for `/admin/*` and
    /// `/ADMIN/keys/1`), or `None` when the pattern does not match.
    pub fn remainder<'p>(&self, path: &'p str) -> Option<&'p str> {
        if !self.matches(path) {
            return None;
        }
        let prefix: usize = path[1..]
            .split('/')
            .take(self.segments.len())
            .map(|part| 1 + part.len())
            .sum();
        Some(&path[prefix..])
    }

    /// `path` is the normalized request path (see `pipeline::path::normalize`).
    pub fn matches(&self, path: &str) -> bool {
        self.matches_with(path, |literal, part| self.literal_matches(literal, part))
    }

    /// `matches` with every literal compared exactly, whatever `case_sensitive` says.
    pub fn matches_exact_case(&self, path: &str) -> bool {
        self.matches_with(path, |literal, part| literal == part)
    }

    fn matches_with(&self, path: &str, literal_matches: impl Fn(&str, &str) -> bool) -> bool {
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
                Segment::Literal(l) => literal_matches(l, part),
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
    fn literals_ignore_ascii_case_unless_case_sensitive() {
        assert!(m("/api/admin/*", "/api/Admin/users"));
        assert!(m("/api/admin/*", "/API/ADMIN"));
        assert!(m("/Health", "/health"));
        assert!(!m("/api/admin/*", "/api/admins"));
        // The non-ASCII letters ASP.NET Core and Java fold to ASCII ones, and no others.
        assert!(m("/api/admin/*", "/api/adm%C4%B1n"));
        assert!(m("/api/admin/*", "/api/ADM%C4%B0N/users"));
        assert!(m("/status", "/%C5%BFtatus"));
        assert!(m("/keys", "/%E2%84%AAeys"));
        assert!(!m("/api/admin/*", "/api/adm%C3%AFn"));
        assert!(!PathPattern::parse("/admin")
            .unwrap()
            .matches_exact_case("/Admin"));
        assert!(PathPattern::parse("/admin")
            .unwrap()
            .matches_exact_case("/admin"));
        let mut strict = PathPattern::parse("/api/admin/*").unwrap();
        strict.set_case_sensitive(true);
        assert!(strict.matches("/api/admin/users"));
        assert!(!strict.matches("/api/Admin/users"));
    }

    #[test]
    fn remainder_is_what_lies_below_the_pattern() {
        let p = PathPattern::parse("/admin/*").unwrap();
        assert_eq!(p.remainder("/ADMIN/keys/k1"), Some("/keys/k1"));
        assert_eq!(p.remainder("/admin"), Some(""));
        assert_eq!(p.remainder("/admin/"), Some("/"));
        assert_eq!(p.remainder("/administrator/keys"), None);
        let nested = PathPattern::parse("/_portcullis/admin/*").unwrap();
        assert_eq!(nested.remainder("/_Portcullis/Admin/x"), Some("/x"));
        assert_eq!(
            PathPattern::parse("/*").unwrap().remainder("/a/b"),
            Some("/a/b")
        );
    }

    #[test]
    fn patterns_differing_only_in_case() {
        let p = |s: &str| PathPattern::parse(s).unwrap();
        assert!(p("/api/Admin/*").differs_only_in_case(&p("/api/admin/*")));
        assert!(p("/Users/:id").differs_only_in_case(&p("/users/:name")));
        assert!(!p("/api/admin/*").differs_only_in_case(&p("/api/admin/*")));
        assert!(!p("/api/Admin/*").differs_only_in_case(&p("/api/admin")));
        assert!(!p("/api/Admin/*").differs_only_in_case(&p("/api/other/*")));
        assert!(!p("/a/:id").differs_only_in_case(&p("/A/b")));
    }

    #[test]
    fn bad_patterns() {
        for p in [
            "api",
            "/a/*/b",
            "/a/:",
            "/a//b",
            "/a/b*",
            "/a/../b",
            "/a%2f",
            "/a;x",
            "/a\\b",
            "/a b",
            "/caf\u{e9}",
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
            websocket: None,
            origin: Default::default(),
            require: Vec::new(),
            binding: Default::default(),
            step_up: None,
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
