//! The request path, read the way every common origin stack reads it. The gateway routes on the
//! normalized path and forwards that same path, so anything two origin stacks could read
//! differently — and a disagreement between the gateway and the origin is a route bypass — is
//! refused (400 `request_invalid`) rather than guessed at:
//!
//! - RFC 3986 §6.2.2 normalization: percent-encoded unreserved characters are decoded (`/ap%69` is
//!   `/api`), other escapes upper-cased;
//! - encoded `/`, `\` or NUL, a raw `\` (WHATWG and IIS read it as `/`), dot segments and empty
//!   segments are refused;
//! - `;` path parameters (Tomcat, Jetty and Spring drop `;…` from each segment and read `..;x` as
//!   `..`): refused unless the deployment opts in, and then routes see each segment without them;
//! - double encodings of a refused character (`%252e`, `%252F`, `%255C`, `%2500`, `%253B`, `%2525`):
//!   an origin — or a proxy in front of it — that decodes twice would see the character itself.

use std::borrow::Cow;

use serde::Deserialize;

/// Longer request paths are refused before any decoding.
pub const MAX_PATH_BYTES: usize = 8192;

/// The part of `path` under `prefix` — `""` for the prefix itself, else starting with `/` — or
/// `None` when `path` is not under it (`/keysx` is not under `/keys`). The one reading of "this
/// path belongs to that endpoint group" for the admin API, its groups and the session endpoints.
pub fn under_prefix<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// How `;` path parameters (`/cars;color=red/1`, RFC 3986 §3.3) are treated (`path_parameters`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathParameters {
    /// Any `;` in the path, raw or as `%3B`, is refused: the gateway cannot know whether the origin
    /// strips parameters (Java servlet containers do) or treats `;` as data (most others do).
    #[default]
    Refuse,
    /// For origins that really use matrix parameters: accepted and forwarded as sent, and routes
    /// are matched on the path with each segment's `;…` removed — Tomcat's reading. A segment
    /// whose part before `;` is a dot segment, empty, or holds an encoded `;` is still refused.
    Allow,
}

/// Why a path was refused; each is a 400 `request_invalid` whose detail is `message()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    TooLong,
    TruncatedEscape,
    InvalidEscape,
    /// `%2F`, `%5C` or `%00`.
    EncodedSeparator,
    Backslash,
    RawByte,
    NotAbsolute,
    DotSegment,
    EmptySegment,
    /// A raw `;` while `path_parameters = "refuse"`.
    PathParameter,
    /// `%3B` where routing reads it.
    EncodedSemicolon,
    /// `%25` followed by the escape of a refused character.
    DoubleEncoded,
}

impl PathError {
    pub fn message(self) -> &'static str {
        match self {
            PathError::TooLong => "the request path is too long",
            PathError::TruncatedEscape => "the request path has a truncated percent-escape",
            PathError::InvalidEscape => "the request path has an invalid percent-escape",
            PathError::EncodedSeparator => "the request path has an encoded '/', '\\' or NUL",
            PathError::Backslash => "the request path contains '\\'",
            PathError::RawByte => {
                "the request path contains a raw control, space or non-ASCII byte"
            }
            PathError::NotAbsolute => "the request path must start with '/'",
            PathError::DotSegment => "the request path contains a dot segment",
            PathError::EmptySegment => "the request path contains an empty segment ('//')",
            PathError::PathParameter => {
                "the request path contains ';' (path parameters are not accepted here)"
            }
            PathError::EncodedSemicolon => "the request path contains an encoded ';'",
            PathError::DoubleEncoded => {
                "the request path has a double-encoded '.', '/', '\\', NUL, ';' or '%'"
            }
        }
    }
}

/// What a second decoding must never reveal: the characters refused (or given meaning) above, and
/// `%` itself, so no depth of decoding reaches them.
const REFUSED_WHEN_DOUBLE_ENCODED: &[u8] = b"\0%./;\\";

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// The normalized path (as forwarded), or why it is refused. Normalizing a normalized path changes
/// nothing, and the result is never longer than `raw`.
pub fn normalize(raw: &str, parameters: PathParameters) -> Result<String, PathError> {
    if raw.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong);
    }
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let pair = bytes.get(i + 1..i + 3).ok_or(PathError::TruncatedEscape)?;
                let v = crate::url::hex_pair(pair[0], pair[1]).ok_or(PathError::InvalidEscape)?;
                match v {
                    b'/' | b'\\' | 0 => return Err(PathError::EncodedSeparator),
                    b';' if parameters == PathParameters::Refuse => {
                        return Err(PathError::EncodedSemicolon)
                    }
                    v if is_unreserved(v) => out.push(v as char),
                    _ => {
                        out.push('%');
                        out.push(pair[0].to_ascii_uppercase() as char);
                        out.push(pair[1].to_ascii_uppercase() as char);
                    }
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            b';' if parameters == PathParameters::Refuse => return Err(PathError::PathParameter),
            b if b.is_ascii_graphic() => {
                out.push(b as char);
                i += 1;
            }
            _ => return Err(PathError::RawByte),
        }
    }
    if !out.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    // On the output, not the input: `%25%32%65` decodes to `%252e`, which is what the origin gets.
    if hides_refused_character(&out) {
        return Err(PathError::DoubleEncoded);
    }
    let segments: Vec<&str> = out[1..].split('/').collect();
    let last = segments.len() - 1;
    for (i, segment) in segments.iter().enumerate() {
        let routed = without_parameters(segment);
        if routed == "." || routed == ".." {
            return Err(PathError::DotSegment);
        }
        if routed.is_empty() && i != last {
            return Err(PathError::EmptySegment);
        }
        // Tomcat decodes after dropping parameters, so `%3B` in what routing reads is data to it —
        // and a `;` to any proxy that decodes before it. Inside a parameter it is dropped anyway.
        if routed.contains("%3B") {
            return Err(PathError::EncodedSemicolon);
        }
    }
    Ok(out)
}

/// `%25` followed by the escape of a character in `REFUSED_WHEN_DOUBLE_ENCODED`.
fn hides_refused_character(path: &str) -> bool {
    let b = path.as_bytes();
    (0..b.len().saturating_sub(4)).any(|i| {
        b[i] == b'%'
            && b[i + 1] == b'2'
            && b[i + 2] == b'5'
            && crate::url::hex_pair(b[i + 3], b[i + 4])
                .is_some_and(|v| REFUSED_WHEN_DOUBLE_ENCODED.contains(&v))
    })
}

/// A segment as Tomcat routes it: everything from its first `;` on is a parameter.
fn without_parameters(segment: &str) -> &str {
    segment.split(';').next().unwrap_or(segment)
}

/// The path routes are matched on: the normalized path with each segment's `;…` parameters
/// removed (there are none unless `path_parameters = "allow"`).
pub fn routing_path(normalized: &str) -> Cow<'_, str> {
    if !normalized.contains(';') {
        return Cow::Borrowed(normalized);
    }
    Cow::Owned(
        normalized
            .split('/')
            .map(without_parameters)
            .collect::<Vec<_>>()
            .join("/"),
    )
}

/// `routing` with the format suffix cut from its last segment (`/api/admin.json` → `/api/admin`,
/// `/a/b.tar.gz` → `/a/b`), as Rails' `(.:format)` and Spring's suffix pattern match read it;
/// `None` when the last segment has no `.` after its first character.
pub fn without_format_suffix(routing: &str) -> Option<String> {
    let start = routing.rfind('/')? + 1;
    let dot = routing[start..].find('.').filter(|&i| i > 0)?;
    Some(routing[..start + dot].to_string())
}

/// `routing` without its trailing `/` (`/api/export/` → `/api/export`), as Rails, Express's
/// non-strict routing and Spring before 6 read it; `None` for `/` and paths without one.
pub fn without_trailing_slash(routing: &str) -> Option<String> {
    routing
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
}

/// The request path as the access log shows it: each segment's `;…` parameters cut (a session id
/// travels as `;jsessionid=…`), at most 200 characters. Works on any path, normalized or not.
pub fn loggable(raw: &str) -> String {
    routing_path(raw).chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_under_a_prefix_only_at_a_segment_boundary() {
        assert_eq!(under_prefix("/keys", "/keys"), Some(""));
        assert_eq!(under_prefix("/keys/", "/keys"), Some("/"));
        assert_eq!(under_prefix("/keys/k1/x", "/keys"), Some("/k1/x"));
        assert_eq!(under_prefix("/keysx", "/keys"), None);
        assert_eq!(under_prefix("/key", "/keys"), None);
        assert_eq!(under_prefix("/other/keys", "/keys"), None);
    }

    const REFUSE: PathParameters = PathParameters::Refuse;
    const ALLOW: PathParameters = PathParameters::Allow;

    #[test]
    fn rfc3986_normalization() {
        assert_eq!(normalize("/ap%69/x", REFUSE).unwrap(), "/api/x");
        assert_eq!(normalize("/a%2a", REFUSE).unwrap(), "/a%2A");
        assert_eq!(normalize("/", REFUSE).unwrap(), "/");
        assert_eq!(normalize("/a/", REFUSE).unwrap(), "/a/");
        assert_eq!(normalize("/%7euser", REFUSE).unwrap(), "/~user");
        assert_eq!(normalize("/100%2541", REFUSE).unwrap(), "/100%2541");
        assert_eq!(normalize("/a%c3%a9", REFUSE).unwrap(), "/a%C3%A9");
    }

    #[test]
    fn refusals_each_have_their_reason() {
        use PathError::*;
        for (bad, why) in [
            ("/a%2fb", EncodedSeparator),
            ("/a%2Fb", EncodedSeparator),
            ("/a%5cb", EncodedSeparator),
            ("/a%00", EncodedSeparator),
            ("/a/../b", DotSegment),
            ("/a/%2e%2e/b", DotSegment),
            ("/a/.%2E", DotSegment),
            ("/a/./b", DotSegment),
            ("/a/..", DotSegment),
            ("//a", EmptySegment),
            ("/a//b", EmptySegment),
            ("/a%", TruncatedEscape),
            ("/a%4", TruncatedEscape),
            ("/a%zz", InvalidEscape),
            ("/a\\b", Backslash),
            ("/a b", RawByte),
            ("/a\u{e9}", RawByte),
            ("a", NotAbsolute),
            ("/public/..;/api", PathParameter),
            ("/api/admin;x/users", PathParameter),
            ("/x;", PathParameter),
            ("/x%3bY", EncodedSemicolon),
            ("/x%3B", EncodedSemicolon),
            ("/x%252e", DoubleEncoded),
            ("/x%252E", DoubleEncoded),
            ("/x%252F", DoubleEncoded),
            ("/x%252f", DoubleEncoded),
            ("/x%255C", DoubleEncoded),
            ("/x%2500", DoubleEncoded),
            ("/x%253B", DoubleEncoded),
            ("/x%2525", DoubleEncoded),
            ("/x%25%32%65", DoubleEncoded),
            ("/x%25%32E", DoubleEncoded),
        ] {
            assert_eq!(normalize(bad, REFUSE), Err(why), "{bad}");
        }
        assert_eq!(normalize(&"/a".repeat(5000), REFUSE), Err(TooLong));
    }

    #[test]
    fn allowed_path_parameters_are_routed_without_them() {
        for (raw, forwarded, routed) in [
            (
                "/api/admin;x/users",
                "/api/admin;x/users",
                "/api/admin/users",
            ),
            ("/a;x=1;y=2/b;c", "/a;x=1;y=2/b;c", "/a/b"),
            (
                "/public/page;jsessionid=AB",
                "/public/page;jsessionid=AB",
                "/public/page",
            ),
            ("/a/;x", "/a/;x", "/a/"),
            ("/;x", "/;x", "/"),
            ("/a;v=1%3B2", "/a;v=1%3B2", "/a"),
            ("/a;%2e%2e", "/a;..", "/a"),
        ] {
            let n = normalize(raw, ALLOW).unwrap();
            assert_eq!(n, forwarded, "{raw}");
            assert_eq!(routing_path(&n), routed, "{raw}");
        }
        use PathError::*;
        for (bad, why) in [
            ("/public/..;/api", DotSegment),
            ("/public/..;x/api", DotSegment),
            ("/public/.;x/y", DotSegment),
            ("/public/%2e%2e;/api", DotSegment),
            ("/public/..%3B/api", EncodedSemicolon),
            ("/a%3b;x", EncodedSemicolon),
            ("/;x/api", EmptySegment),
            ("/a/;/b", EmptySegment),
            ("/a;x%2fy", EncodedSeparator),
            ("/a;%253B", DoubleEncoded),
        ] {
            assert_eq!(normalize(bad, ALLOW), Err(why), "{bad}");
        }
    }

    #[test]
    fn logged_paths_carry_no_parameters() {
        assert_eq!(loggable("/a;jsessionid=SECRET/b;x"), "/a/b");
        assert_eq!(loggable("/..;/x"), "/../x");
        assert_eq!(loggable(&"/a".repeat(300)).len(), 200);
    }

    #[test]
    fn format_suffixes_are_cut_from_the_last_segment_only() {
        assert_eq!(
            without_format_suffix("/api/admin.json").as_deref(),
            Some("/api/admin")
        );
        assert_eq!(
            without_format_suffix("/a/b.tar.gz").as_deref(),
            Some("/a/b")
        );
        assert_eq!(without_format_suffix("/v1.2/users"), None);
        assert_eq!(without_format_suffix("/a/.hidden"), None);
        assert_eq!(without_format_suffix("/a/"), None);
        assert_eq!(without_format_suffix("/"), None);
    }

    #[test]
    fn trailing_slashes_are_cut_once() {
        assert_eq!(
            without_trailing_slash("/api/export/").as_deref(),
            Some("/api/export")
        );
        assert_eq!(without_trailing_slash("/api/export"), None);
        assert_eq!(without_trailing_slash("/"), None);
    }

    #[test]
    fn routing_path_is_the_path_when_there_are_no_parameters() {
        assert!(matches!(routing_path("/a/b"), Cow::Borrowed("/a/b")));
    }
}
