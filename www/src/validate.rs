//! Input checks shared by the request builders, each with its own error reason.
//!
//! URLs are checked with a small RFC 3986 parser rather than a full URL crate: the helper only
//! needs to know the scheme, that the authority has no credentials and names a host, whether that
//! host is loopback, and that nothing ambiguous (fragments, raw spaces, non-ASCII) is present.

use crate::encoding::{is_scope_token_char, is_unreserved, is_vschar};
use crate::error::PkceError;

/// What a URL is used for, which decides the rules beyond "absolute, https or loopback".
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum UrlRole {
    /// Authorization or token endpoint: may carry a query (RFC 6749 §3.1), which is kept.
    Endpoint,
    /// Redirect URI: may carry a query (RFC 6749 §3.1.2).
    RedirectUri,
    /// Issuer identifier: no query and no fragment (RFC 8414 §2).
    Issuer,
}

/// Minimum length of a caller-supplied `state` or `nonce`: 22 base64url characters ≈ 128 bits.
pub const MIN_STATE_LEN: usize = 22;

fn url_err(field: &'static str, reason: &'static str) -> PkceError {
    PkceError::InvalidUrl { field, reason }
}

/// RFC 3986 characters that may appear literally in a URI (besides `%` escapes).
fn is_uri_char(b: u8) -> bool {
    is_unreserved(b) || b"!$&'()*+,;=:/?#[]@".contains(&b)
}

/// `localhost`, or 127.0.0.0/8 as a plain dotted quad (IPv6 `[::1]` is handled by the caller).
fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let mut octets = 0;
    for part in host.split('.') {
        let valid = (1..=3).contains(&part.len())
            && part.bytes().all(|b| b.is_ascii_digit())
            && part.parse::<u16>().is_ok_and(|v| v <= 255)
            && (octets > 0 || part == "127");
        if !valid {
            return false;
        }
        octets += 1;
    }
    octets == 4
}

fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let (head, tail) = value.split_at_checked(prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then_some(tail)
}

/// Every `%` is followed by two hex digits.
fn percent_escapes_valid(value: &str) -> bool {
    let mut pending = 0;
    for b in value.bytes() {
        if pending > 0 {
            if !b.is_ascii_hexdigit() {
                return false;
            }
            pending -= 1;
        } else if b == b'%' {
            pending = 2;
        }
    }
    pending == 0
}

/// Checks an absolute `https` URL (or `http` to a loopback host, for local development).
pub fn check_url(field: &'static str, value: &str, role: UrlRole) -> Result<(), PkceError> {
    if value.is_empty() {
        return Err(url_err(field, "is required"));
    }
    if !value.bytes().all(|b| is_uri_char(b) || b == b'%') {
        return Err(url_err(field, "contains a character not allowed in a URL (percent-encode spaces and non-ASCII)"));
    }
    if !percent_escapes_valid(value) {
        return Err(url_err(field, "contains an invalid percent-escape"));
    }
    let (rest, secure) = if let Some(rest) = strip_prefix_ignore_case(value, "https://") {
        (rest, true)
    } else if let Some(rest) = strip_prefix_ignore_case(value, "http://") {
        (rest, false)
    } else {
        return Err(url_err(field, "must be an absolute https:// URL"));
    };
    if rest.bytes().any(|b| b == b'#') {
        return Err(url_err(field, "must not contain a fragment"));
    }
    if role == UrlRole::Issuer && rest.bytes().any(|b| b == b'?') {
        return Err(url_err(field, "must not contain a query (RFC 8414 §2)"));
    }
    let authority = rest.split(|c| c == '/' || c == '?').next().unwrap_or("");
    if authority.bytes().any(|b| b == b'@') {
        return Err(url_err(field, "must not contain credentials"));
    }
    let (loopback, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let bad_v6 = || url_err(field, "has an invalid IPv6 host");
        let (inner, after) = bracketed.split_once(']').ok_or_else(bad_v6)?;
        if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return Err(bad_v6());
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(url_err(field, "has an invalid port"))?),
        };
        (inner == "::1", port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if host.is_empty() {
            return Err(url_err(field, "must name a host"));
        }
        if !host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
            return Err(url_err(field, "has an invalid host"));
        }
        (is_loopback_host(host), port)
    };
    if let Some(digits) = port {
        let valid = (1..=5).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && digits.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
        if !valid {
            return Err(url_err(field, "has an invalid port"));
        }
    }
    if !secure && !loopback {
        return Err(url_err(field, "must use https (http is allowed only for localhost, 127.0.0.0/8 and [::1])"));
    }
    Ok(())
}

/// RFC 8707 §2: a resource indicator is an absolute URI without a fragment.
pub fn check_resource(value: &str) -> Result<(), PkceError> {
    let err = |reason| PkceError::InvalidParameter { field: "resource", reason };
    let not_absolute = err("must be an absolute URI (RFC 8707 §2)");
    let (scheme, rest) = value.split_once(':').ok_or(not_absolute.clone())?;
    let mut scheme_bytes = scheme.bytes();
    let scheme_ok = scheme_bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme_bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok || rest.is_empty() {
        return Err(not_absolute);
    }
    if !value.bytes().all(|b| is_uri_char(b) || b == b'%') {
        return Err(err("contains a character not allowed in a URI"));
    }
    if value.bytes().any(|b| b == b'#') {
        return Err(err("must not contain a fragment (RFC 8707 §2)"));
    }
    Ok(())
}

/// RFC 6749 §3.3: scope-tokens separated by single spaces.
pub fn check_scope(value: &str) -> Result<(), PkceError> {
    let err = |reason| PkceError::InvalidParameter { field: "scope", reason };
    if value.is_empty() {
        return Err(err("is required"));
    }
    for token in value.split(' ') {
        if token.is_empty() {
            return Err(err("must be scope tokens separated by single spaces (RFC 6749 §3.3)"));
        }
        if !token.bytes().all(is_scope_token_char) {
            return Err(err("contains a character not allowed in a scope token (RFC 6749 §3.3)"));
        }
    }
    Ok(())
}

/// A non-empty printable-ASCII value (RFC 6749 Appendix A `VSCHAR`): client_id, code.
pub fn check_vschar(field: &'static str, value: &str) -> Result<(), PkceError> {
    if value.is_empty() {
        return Err(PkceError::InvalidParameter { field, reason: "is required" });
    }
    if !value.bytes().all(is_vschar) {
        return Err(PkceError::InvalidParameter { field, reason: "must be printable ASCII (RFC 6749 Appendix A)" });
    }
    Ok(())
}

/// A caller-supplied `state`/`nonce`: printable ASCII and long enough to be unguessable.
pub fn check_unguessable(field: &'static str, value: &str) -> Result<(), PkceError> {
    check_vschar(field, value)?;
    if value.len() < MIN_STATE_LEN {
        return Err(PkceError::InvalidParameter {
            field,
            reason: "is shorter than 22 characters; use randomState()/randomNonce() for an unguessable value",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(r: Result<(), PkceError>) -> &'static str {
        match r {
            Err(PkceError::InvalidUrl { reason, .. }) | Err(PkceError::InvalidParameter { reason, .. }) => reason,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn accepts_https_and_loopback_http() {
        for ok in [
            "https://as.example/authorize",
            "HTTPS://AS.example:8443/a/b?tenant=x%20y",
            "https://as.example",
            "http://localhost:3000/cb",
            "http://127.0.0.1:9000/token",
            "http://127.1.2.3/",
            "http://[::1]:8080/cb",
            "https://[2001:db8::1]/x",
        ] {
            assert_eq!(check_url("u", ok, UrlRole::Endpoint), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_bad_urls_with_specific_reasons() {
        let cases = [
            ("", "is required"),
            ("http://as.example/authorize", "must use https (http is allowed only for localhost, 127.0.0.0/8 and [::1])"),
            ("http://127.0.0.1.evil.example/", "must use https (http is allowed only for localhost, 127.0.0.0/8 and [::1])"),
            ("http://localhost.evil.example/", "must use https (http is allowed only for localhost, 127.0.0.0/8 and [::1])"),
            ("http://128.0.0.1/", "must use https (http is allowed only for localhost, 127.0.0.0/8 and [::1])"),
            ("http://127.0.0.256/", "must use https (http is allowed only for localhost, 127.0.0.0/8 and [::1])"),
            ("ftp://as.example/", "must be an absolute https:// URL"),
            ("//as.example/authorize", "must be an absolute https:// URL"),
            ("/authorize", "must be an absolute https:// URL"),
            ("javascript:alert(1)", "must be an absolute https:// URL"),
            ("https://as.example/a#frag", "must not contain a fragment"),
            ("https://user:pw@as.example/", "must not contain credentials"),
            ("https:///path", "must name a host"),
            ("https://as.example:0/", "has an invalid port"),
            ("https://as.example:65536/", "has an invalid port"),
            ("https://as.example:/", "has an invalid port"),
            ("https://as.example:8a/", "has an invalid port"),
            ("https://as_example/", "has an invalid host"),
            ("https://[zz]/", "has an invalid IPv6 host"),
            ("https://[::1/", "has an invalid IPv6 host"),
            ("https://as.example/a b", "contains a character not allowed in a URL (percent-encode spaces and non-ASCII)"),
            ("https://as.example/\u{e9}", "contains a character not allowed in a URL (percent-encode spaces and non-ASCII)"),
            ("https://as.example/a\\b", "contains a character not allowed in a URL (percent-encode spaces and non-ASCII)"),
            ("https://as.example/%zz", "contains an invalid percent-escape"),
        ];
        for (url, want) in cases {
            assert_eq!(reason(check_url("u", url, UrlRole::Endpoint)), want, "{url}");
        }
    }

    #[test]
    fn issuer_has_no_query() {
        assert_eq!(reason(check_url("issuer", "https://as.example/?x=1", UrlRole::Issuer)), "must not contain a query (RFC 8414 §2)");
        assert!(check_url("redirectUri", "https://app.example/cb?x=1", UrlRole::RedirectUri).is_ok());
        assert_eq!(
            check_url("issuer", "http://as.example", UrlRole::Issuer),
            Err(PkceError::InvalidUrl { field: "issuer", reason: "must use https (http is allowed only for localhost, 127.0.0.0/8 and [::1])" })
        );
    }

    #[test]
    fn resources() {
        assert!(check_resource("https://api.portcullis.test").is_ok());
        assert!(check_resource("urn:example:api").is_ok());
        assert_eq!(reason(check_resource("api")), "must be an absolute URI (RFC 8707 §2)");
        assert_eq!(reason(check_resource("1x:y")), "must be an absolute URI (RFC 8707 §2)");
        assert_eq!(reason(check_resource("https:")), "must be an absolute URI (RFC 8707 §2)");
        assert_eq!(reason(check_resource("https://api.example/#a")), "must not contain a fragment (RFC 8707 §2)");
        assert_eq!(reason(check_resource("https://api.example/ a")), "contains a character not allowed in a URI");
    }

    #[test]
    fn scopes() {
        assert!(check_scope("openid").is_ok());
        assert!(check_scope("openid read:echo offline_access").is_ok());
        assert_eq!(reason(check_scope("")), "is required");
        assert_eq!(reason(check_scope(" openid")), "must be scope tokens separated by single spaces (RFC 6749 §3.3)");
        assert_eq!(reason(check_scope("openid  x")), "must be scope tokens separated by single spaces (RFC 6749 §3.3)");
        assert_eq!(reason(check_scope("openid ")), "must be scope tokens separated by single spaces (RFC 6749 §3.3)");
        assert_eq!(reason(check_scope("a\"b")), "contains a character not allowed in a scope token (RFC 6749 §3.3)");
        assert_eq!(reason(check_scope("a\\b")), "contains a character not allowed in a scope token (RFC 6749 §3.3)");
        assert_eq!(reason(check_scope("a\tb")), "contains a character not allowed in a scope token (RFC 6749 §3.3)");
    }

    #[test]
    fn vschar_and_unguessable() {
        assert!(check_vschar("clientId", "my app 1").is_ok());
        assert_eq!(reason(check_vschar("clientId", "")), "is required");
        assert_eq!(reason(check_vschar("clientId", "a\nb")), "must be printable ASCII (RFC 6749 Appendix A)");
        assert_eq!(reason(check_vschar("clientId", "caf\u{e9}")), "must be printable ASCII (RFC 6749 Appendix A)");
        assert!(check_unguessable("state", &"x".repeat(22)).is_ok());
        assert_eq!(
            reason(check_unguessable("state", "abc")),
            "is shorter than 22 characters; use randomState()/randomNonce() for an unguessable value"
        );
    }
}
