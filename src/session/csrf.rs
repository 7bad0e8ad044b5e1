//! Cross-site request forgery defence for the endpoints that act on the refresh cookie, beyond
//! `SameSite=Strict` (which a same-site attacker — another subdomain — gets past):
//!
//! 1. **`Origin`** must be the gateway's own origin or a configured app origin. `/auth/refresh`
//!    and `/auth/logout` require it (every browser sends `Origin` on a POST); `/auth/login` and
//!    `/auth/token`, which a native client may call without one, check it when present.
//! 2. **`Content-Type: application/json`**: the one request shape an HTML form cannot send (forms
//!    send `application/x-www-form-urlencoded`, `multipart/form-data` or `text/plain`), and that a
//!    cross-origin `fetch` can send only after a CORS preflight the gateway does not grant to a
//!    foreign origin. Chosen over a custom header because every JSON client already sends it, and
//!    `navigator.sendBeacon` cannot send it either. (RFC 8693's form-encoded `/auth/token` is the
//!    exception; it carries its credential in the body, not in a cookie.)

/// The origin (`scheme://host[:port]`, lower-case) a request was sent to, from its URL.
pub(crate) fn own_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    if authority.is_empty() {
        return None;
    }
    Some(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase()
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OriginVerdict {
    Allowed,
    Missing,
    Foreign,
}

/// Checks the `Origin` header values against the request's own origin and `allowed` (already
/// normalised: lower-case, no trailing slash). Several `Origin` headers are foreign.
pub(crate) fn check_origin<'a>(
    mut origins: impl Iterator<Item = &'a str>,
    own: Option<&str>,
    allowed: &[String],
) -> OriginVerdict {
    let Some(origin) = origins.next() else {
        return OriginVerdict::Missing;
    };
    if origins.next().is_some() {
        return OriginVerdict::Foreign;
    }
    let origin = origin.trim().to_ascii_lowercase();
    if own == Some(origin.as_str()) || allowed.contains(&origin) {
        OriginVerdict::Allowed
    } else {
        OriginVerdict::Foreign
    }
}

/// Is the `Content-Type` `application/json` (parameters such as `charset` allowed)? Exactly one
/// header.
pub(crate) fn is_json<'a>(mut content_types: impl Iterator<Item = &'a str>) -> bool {
    let (Some(ct), None) = (content_types.next(), content_types.next()) else {
        return false;
    };
    ct.split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_origins() {
        assert_eq!(
            own_origin("https://API.example.com:8443/auth/refresh?x").as_deref(),
            Some("https://api.example.com:8443")
        );
        assert_eq!(
            own_origin("http://gateway.test/auth").as_deref(),
            Some("http://gateway.test")
        );
        assert_eq!(own_origin("nope"), None);
    }

    #[test]
    fn origins() {
        let allowed = vec!["https://app.example.com".to_string()];
        let own = Some("https://api.example.com");
        let check = |h: &[&str]| check_origin(h.iter().copied(), own, &allowed);
        assert_eq!(check(&[]), OriginVerdict::Missing);
        assert_eq!(check(&["https://api.example.com"]), OriginVerdict::Allowed);
        assert_eq!(check(&["https://APP.example.com"]), OriginVerdict::Allowed);
        assert_eq!(check(&["https://evil.example.com"]), OriginVerdict::Foreign);
        assert_eq!(check(&["null"]), OriginVerdict::Foreign);
        assert_eq!(
            check(&["https://app.example.com.evil.com"]),
            OriginVerdict::Foreign
        );
        assert_eq!(check(&["http://app.example.com"]), OriginVerdict::Foreign);
        assert_eq!(
            check(&["https://app.example.com", "https://app.example.com"]),
            OriginVerdict::Foreign
        );
    }

    #[test]
    fn content_types() {
        let j = |h: &[&str]| is_json(h.iter().copied());
        assert!(j(&["application/json"]));
        assert!(j(&["Application/JSON; charset=utf-8"]));
        for bad in [
            &[][..],
            &["text/plain"],
            &["application/x-www-form-urlencoded"],
            &["multipart/form-data; boundary=x"],
            &["application/jsonx"],
            &["text/plain; application/json"],
            &["application/json", "application/json"],
        ] {
            assert!(!j(bad), "{bad:?}");
        }
    }
}
