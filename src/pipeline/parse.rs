//! Stage 1: the request as the gateway will judge it. Transport policy, credentials in the URL,
//! path normalization, the route, and which credential the client presented. Nothing here touches
//! the network or a store.

use crate::config::{Config, HttpsPolicy};
use crate::problem::{ErrorCode, Problem};
use crate::route::Route;

use super::RequestHead;

/// What the client presented, before anything is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    None,
    Bearer(String),
    /// An `Authorization` header with a scheme other than Bearer (the scheme, for the log only).
    OtherScheme,
    ApiKey(String),
    /// Both a bearer token and an API key: RFC 6750 §2 allows one method per request.
    Both,
}

pub struct ParsedRequest<'c> {
    pub route: &'c Route,
    /// Normalized path (percent-encoded unreserved characters decoded), as forwarded.
    pub path: String,
    pub query: Option<String>,
    pub presented: Presented,
}

pub enum ParseOutcome<'c> {
    Route(ParsedRequest<'c>),
    /// The request is answered here (a redirect to HTTPS).
    Redirect(String),
    Refuse(Problem),
}

/// Splits an absolute URL into (scheme, authority, path, query). Fragments never reach a server.
pub fn split_url(url: &str) -> Option<(&str, &str, &str, Option<&str>)> {
    let (scheme, rest) = url.split_once("://")?;
    let rest = rest.split('#').next().unwrap_or("");
    let (authority, path_query) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (path, query) = match path_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_query, None),
    };
    Some((
        scheme,
        authority,
        if path.is_empty() { "/" } else { path },
        query,
    ))
}

pub fn parse<'c>(config: &'c Config, req: &RequestHead) -> ParseOutcome<'c> {
    let Some((scheme, authority, raw_path, query)) = split_url(&req.url) else {
        return ParseOutcome::Refuse(Problem::new(
            ErrorCode::RequestInvalid,
            "the request URL is not absolute",
        ));
    };
    if scheme.eq_ignore_ascii_case("http") {
        match config.transport.https {
            HttpsPolicy::Allow => {}
            HttpsPolicy::Redirect => {
                // The redirect carries the URL minus any credential: a URL with credentials is
                // refused below rather than bounced back to the client with them in it.
                if credentials_in_url(config, authority, query).is_none() {
                    return ParseOutcome::Redirect(format!("https{}", &req.url[scheme.len()..]));
                }
            }
            HttpsPolicy::Refuse => {
                return ParseOutcome::Refuse(Problem::new(
                    ErrorCode::HttpsRequired,
                    "this gateway accepts requests over HTTPS only",
                ))
            }
        }
    }
    if let Some(what) = credentials_in_url(config, authority, query) {
        return ParseOutcome::Refuse(Problem::new(
            ErrorCode::CredentialsInUrl,
            format!("{what}; send credentials in the Authorization or X-API-Key header"),
        ));
    }
    let path = match normalize_path(raw_path) {
        Ok(p) => p,
        Err(why) => return ParseOutcome::Refuse(Problem::new(ErrorCode::RequestInvalid, why)),
    };
    let Some(route) = config.routes.iter().find(|r| r.matches(&req.method, &path)) else {
        return ParseOutcome::Refuse(Problem::new(
            ErrorCode::RouteNotFound,
            format!("no route for {} {}", req.method, truncate(&path, 200)),
        ));
    };
    let presented = match presented_credential(req) {
        Ok(p) => p,
        Err(problem) => return ParseOutcome::Refuse(problem),
    };
    ParseOutcome::Route(ParsedRequest {
        route,
        path,
        query: query.map(str::to_string),
        presented,
    })
}

/// Names the offending part, never its value.
fn credentials_in_url(config: &Config, authority: &str, query: Option<&str>) -> Option<String> {
    if authority.contains('@') {
        return Some("the URL carries user information".to_string());
    }
    for pair in query?.split('&') {
        let name = pair.split('=').next().unwrap_or("");
        let Some(decoded) = percent_decode_form(name) else {
            continue;
        };
        let lower = decoded.to_ascii_lowercase();
        if config.credential_params.contains(&lower) {
            return Some(format!(
                "the query parameter {:?} carries a credential",
                truncate(&lower, 40)
            ));
        }
    }
    None
}

pub(super) fn percent_decode_form(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let h = bytes.get(i + 1..i + 3)?;
                out.push(hex_pair(h[0], h[1])?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn hex_pair(a: u8, b: u8) -> Option<u8> {
    Some(hex_val(a)? << 4 | hex_val(b)?)
}

/// RFC 3986 §6.2.2 normalization, so the path the gateway matches is the path the origin serves:
/// percent-encoded unreserved characters are decoded (`/ap%69` is `/api`), other escapes are
/// upper-cased; encoded `/`, `\` and NUL, dot segments and empty segments are refused, since origins
/// disagree on what they mean and a disagreement is a route bypass.
pub fn normalize_path(raw: &str) -> Result<String, &'static str> {
    if raw.len() > 8192 {
        return Err("the request path is too long");
    }
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let pair = bytes
                .get(i + 1..i + 3)
                .ok_or("the request path has a truncated percent-escape")?;
            let v = hex_pair(pair[0], pair[1])
                .ok_or("the request path has an invalid percent-escape")?;
            match v {
                b'/' | b'\\' | 0 => return Err("the request path has an encoded '/', '\\' or NUL"),
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    out.push(v as char)
                }
                _ => {
                    out.push('%');
                    out.push(pair[0].to_ascii_uppercase() as char);
                    out.push(pair[1].to_ascii_uppercase() as char);
                }
            }
            i += 3;
        } else if b == b'\\' {
            return Err("the request path contains '\\'");
        } else if b.is_ascii_graphic() {
            out.push(b as char);
            i += 1;
        } else {
            return Err("the request path contains a raw control, space or non-ASCII byte");
        }
    }
    if !out.starts_with('/') {
        return Err("the request path must start with '/'");
    }
    let segments: Vec<&str> = out[1..].split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        if *seg == "." || *seg == ".." {
            return Err("the request path contains a dot segment");
        }
        if seg.is_empty() && i != last {
            return Err("the request path contains an empty segment ('//')");
        }
    }
    Ok(out)
}

fn presented_credential(req: &RequestHead) -> Result<Presented, Problem> {
    let mut authorization = req.headers_named("authorization");
    let mut api_key = req.headers_named("x-api-key");
    let auth = authorization.next();
    let key = api_key.next();
    if authorization.next().is_some() || api_key.next().is_some() {
        return Err(Problem::new(
            ErrorCode::RequestInvalid,
            "send exactly one Authorization or X-API-Key header",
        ));
    }
    let bearer = match auth {
        None => None,
        Some(value) => {
            let value = value.trim();
            let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
            if scheme.eq_ignore_ascii_case("bearer") {
                Some(Ok(rest.trim_start().to_string()))
            } else {
                Some(Err(()))
            }
        }
    };
    Ok(match (bearer, key) {
        (Some(_), Some(_)) => Presented::Both,
        (Some(Ok(t)), None) => Presented::Bearer(t),
        (Some(Err(())), None) => Presented::OtherScheme,
        (None, Some(k)) => Presented::ApiKey(k.to_string()),
        (None, None) => Presented::None,
    })
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization() {
        assert_eq!(normalize_path("/ap%69/x").unwrap(), "/api/x");
        assert_eq!(normalize_path("/a%2a").unwrap(), "/a%2A");
        assert_eq!(normalize_path("/").unwrap(), "/");
        assert_eq!(normalize_path("/a/").unwrap(), "/a/");
        for bad in [
            "/a%2fb",
            "/a%2Fb",
            "/a%5cb",
            "/a%00",
            "/a/../b",
            "/a/%2e%2e/b",
            "/a/./b",
            "//a",
            "/a//b",
            "/a%",
            "/a%zz",
            "/a\\b",
            "/a b",
            "a",
        ] {
            assert!(normalize_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn url_split() {
        assert_eq!(
            split_url("https://h:1/p/q?x=1#f"),
            Some(("https", "h:1", "/p/q", Some("x=1")))
        );
        assert_eq!(
            split_url("https://h?x"),
            Some(("https", "h", "/", Some("x")))
        );
        assert_eq!(split_url("https://h"), Some(("https", "h", "/", None)));
        assert_eq!(split_url("nourl"), None);
    }

    #[test]
    fn form_decoding() {
        assert_eq!(
            percent_decode_form("access%5Ftoken").unwrap(),
            "access_token"
        );
        assert_eq!(percent_decode_form("a+b").unwrap(), "a b");
        assert_eq!(percent_decode_form("%"), None);
    }
}
