//! Input checks shared by the request builders, each with its own error reason.
//!
//! URLs are checked with a small RFC 3986 parser rather than a full URL crate: the helper only
//! needs to know the scheme, that the authority has no credentials and names a host, whether that
//! host is loopback, and that nothing ambiguous (fragments, raw spaces, non-ASCII) is present.

// `<[u8]>::contains` goes through `memchr`, ~400 bytes of wasm for scanning inputs of ~100 bytes;
// a plain `iter().any` is as fast here and free.
#![allow(clippy::manual_contains)]

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
    is_unreserved(b) || b"!$&'()*+,;=:/?#[]@".iter().any(|&c| c == b)
}

/// `localhost`, or 127.0.0.0/8 as a plain dotted quad (IPv6 `[::1]` is handled by the caller).
fn is_loopback_host(host: &[u8]) -> bool {
    if host.eq_ignore_ascii_case(b"localhost") {
        return true;
    }
    let mut octets = 0;
    for part in host.split(|&b| b == b'.') {
        let value = part.iter().try_fold(0u32, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + (b - b'0') as u32)
        });
        let valid = (1..=3).contains(&part.len())
            && value.is_some_and(|v| v <= 255 && (octets > 0 || v == 127));
        if !valid {
            return false;
        }
        octets += 1;
    }
    octets == 4
}

/// Checks an absolute `https` URL (or `http` to a loopback host, for local development).
///
/// Works on bytes: every byte was checked to be ASCII first, and byte-level code is a fraction of
/// the size of `str` pattern searching in the wasm.
pub fn check_url(field: &'static str, value: &str, role: UrlRole) -> Result<(), PkceError> {
    let err = |reason| Err(url_err(field, reason));
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return err("is required");
    }
    let mut pending_hex = 0;
    for &b in bytes {
        if pending_hex > 0 {
            if !b.is_ascii_hexdigit() {
                return err("contains an invalid percent-escape");
            }
            pending_hex -= 1;
        } else if b == b'%' {
            pending_hex = 2;
        } else if !is_uri_char(b) {
            return err(
                "contains a character not allowed in a URL (percent-encode spaces and non-ASCII)",
            );
        }
    }
    if pending_hex > 0 {
        return err("contains an invalid percent-escape");
    }
    let scheme_is = |scheme: &[u8]| {
        bytes
            .get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
    };
    let (rest, secure) = if scheme_is(b"https://") {
        (bytes.get(8..).unwrap_or_default(), true)
    } else if scheme_is(b"http://") {
        (bytes.get(7..).unwrap_or_default(), false)
    } else {
        return err("must be an absolute https:// URL");
    };
    if rest.iter().any(|&b| b == b'#') {
        return err("must not contain a fragment");
    }
    if role == UrlRole::Issuer && rest.iter().any(|&b| b == b'?') {
        return err("must not contain a query (RFC 8414 §2)");
    }
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    let authority = rest.get(..end).unwrap_or_default();
    if authority.iter().any(|&b| b == b'@') {
        return err("must not contain credentials");
    }
    let (loopback, port) = if let Some(bracketed) = authority.strip_prefix(b"[") {
        let close = bracketed.iter().position(|&b| b == b']');
        let inner = close.and_then(|c| bracketed.get(..c)).unwrap_or_default();
        if inner.is_empty()
            || !inner
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return err("has an invalid IPv6 host");
        }
        let after = close
            .and_then(|c| bracketed.get(c + 1..))
            .unwrap_or_default();
        let port = match after {
            [] => None,
            [b':', digits @ ..] => Some(digits),
            _ => return err("has an invalid port"),
        };
        (inner == b"::1", port)
    } else {
        let colon = authority.iter().position(|&b| b == b':');
        let host = authority
            .get(..colon.unwrap_or(authority.len()))
            .unwrap_or_default();
        if host.is_empty() {
            return err("must name a host");
        }
        if !host
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return err("has an invalid host");
        }
        (
            is_loopback_host(host),
            colon.map(|c| authority.get(c + 1..).unwrap_or_default()),
        )
    };
    if let Some(digits) = port {
        let value = digits.iter().try_fold(0u32, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + (b - b'0') as u32)
        });
        let valid =
            (1..=5).contains(&digits.len()) && value.is_some_and(|p| (1..=65535).contains(&p));
        if !valid {
            return err("has an invalid port");
        }
    }
    if !secure && !loopback {
        return err("must use https (http is allowed only for localhost, 127.0.0.0/8 and [::1])");
    }
    Ok(())
}

/// RFC 8707 §2: a resource indicator is an absolute URI without a fragment.
pub fn check_resource(value: &str) -> Result<(), PkceError> {
    let err = |reason| {
        Err(PkceError::InvalidParameter {
            field: "resource",
            reason,
        })
    };
    let bytes = value.as_bytes();
    let colon = bytes.iter().position(|&b| b == b':').unwrap_or(0);
    let scheme = bytes.get(..colon).unwrap_or_default();
    let scheme_ok = scheme.first().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok || colon + 1 >= bytes.len() {
        return err("must be an absolute URI (RFC 8707 §2)");
    }
    if !bytes.iter().all(|&b| is_uri_char(b) || b == b'%') {
        return err("contains a character not allowed in a URI");
    }
    if bytes.iter().any(|&b| b == b'#') {
        return err("must not contain a fragment (RFC 8707 §2)");
    }
    Ok(())
}

/// RFC 6749 §3.3: scope-tokens separated by single spaces.
pub fn check_scope(value: &str) -> Result<(), PkceError> {
    let err = |reason| {
        Err(PkceError::InvalidParameter {
            field: "scope",
            reason,
        })
    };
    if value.is_empty() {
        return err("is required");
    }
    for token in value.as_bytes().split(|&b| b == b' ') {
        if token.is_empty() {
            return err("must be scope tokens separated by single spaces (RFC 6749 §3.3)");
        }
        if !token.iter().all(|&b| is_scope_token_char(b)) {
            return err("contains a character not allowed in a scope token (RFC 6749 §3.3)");
        }
    }
    Ok(())
}

/// A non-empty printable-ASCII value (RFC 6749 Appendix A `VSCHAR`): client_id, code.
pub fn check_vschar(field: &'static str, value: &str) -> Result<(), PkceError> {
    if value.is_empty() {
        return Err(PkceError::InvalidParameter {
            field,
            reason: "is required",
        });
    }
    if !value.bytes().all(is_vschar) {
        return Err(PkceError::InvalidParameter {
            field,
            reason: "must be printable ASCII (RFC 6749 Appendix A)",
        });
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
            Err(PkceError::InvalidUrl { reason, .. })
            | Err(PkceError::InvalidParameter { reason, .. }) => reason,
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
            (
                "http://as.example/authorize",
                "must use https (http is allowed only for localhost, 127.0.0.0/8 and [::1])",
            ),
            (
                "http://127.0.0.1.evil.example/",
                "must use https (http is allowed only for localhost, 127.0.0.0/8 and [::1])",
            ),
            (
                "http://localhost.evil.example/",
                "must use https (http is allowed only for localhost, 127.0.0.0/8 and [::1])",
            ),
            (
                "http://128.0.0.1/",
                "must use https (http is allowed only for localhost, 127.0.0.0/8 and [::1])",
            ),
            (
                "http://127.0.0.256/",
                "must use https (http is allowed only for localhost, 127.0.0.0/8 and [::1])",
            ),
            ("ftp://as.example/", "must be an absolute https:// URL"),
            ("//as.example/authorize", "must be an absolute https:// URL"),
            ("/authorize", "must be an absolute https:// URL"),
            ("javascript:alert(1)", "must be an absolute https:// URL"),
            ("https://as.example/a#frag", "must not contain a fragment"),
            (
                "https://user:pw@as.example/",
                "must not contain credentials",
            ),
            ("https:///path", "must name a host"),
            ("https://as.example:0/", "has an invalid port"),
            ("https://as.example:65536/", "has an invalid port"),
            ("https://as.example:/", "has an invalid port"),
            ("https://as.example:8a/", "has an invalid port"),
            ("https://as_example/", "has an invalid host"),
            ("https://[zz]/", "has an invalid IPv6 host"),
            ("https://[::1/", "has an invalid IPv6 host"),
            (
                "https://as.example/a b",
                "contains a character not allowed in a URL (percent-encode spaces and non-ASCII)",
            ),
            (
                "https://as.example/\u{e9}",
                "contains a character not allowed in a URL (percent-encode spaces and non-ASCII)",
            ),
            (
                "https://as.example/a\\b",
                "contains a character not allowed in a URL (percent-encode spaces and non-ASCII)",
            ),
            (
                "https://as.example/%zz",
                "contains an invalid percent-escape",
            ),
        ];
        for (url, want) in cases {
            assert_eq!(
                reason(check_url("u", url, UrlRole::Endpoint)),
                want,
                "{url}"
            );
        }
    }

    #[test]
    fn issuer_has_no_query() {
        assert_eq!(
            reason(check_url(
                "issuer",
                "https://as.example/?x=1",
                UrlRole::Issuer
            )),
            "must not contain a query (RFC 8414 §2)"
        );
        assert!(check_url(
            "redirectUri",
            "https://app.example/cb?x=1",
            UrlRole::RedirectUri
        )
        .is_ok());
        assert_eq!(
            check_url("issuer", "http://as.example", UrlRole::Issuer),
            Err(PkceError::InvalidUrl {
                field: "issuer",
                reason:
                    "must use https (http is allowed only for localhost, 127.0.0.0/8 and [::1])"
            })
        );
    }

    #[test]
    fn resources() {
        assert!(check_resource("https://api.portcullis.test").is_ok());
        assert!(check_resource("urn:example:api").is_ok());
        assert_eq!(
            reason(check_resource("api")),
            "must be an absolute URI (RFC 8707 §2)"
        );
        assert_eq!(
            reason(check_resource("1x:y")),
            "must be an absolute URI (RFC 8707 §2)"
        );
        assert_eq!(
            reason(check_resource("https:")),
            "must be an absolute URI (RFC 8707 §2)"
        );
        assert_eq!(
            reason(check_resource("https://api.example/#a")),
            "must not contain a fragment (RFC 8707 §2)"
        );
        assert_eq!(
            reason(check_resource("https://api.example/ a")),
            "contains a character not allowed in a URI"
        );
    }

    #[test]
    fn scopes() {
        assert!(check_scope("openid").is_ok());
        assert!(check_scope("openid read:echo offline_access").is_ok());
        assert_eq!(reason(check_scope("")), "is required");
        assert_eq!(
            reason(check_scope(" openid")),
            "must be scope tokens separated by single spaces (RFC 6749 §3.3)"
        );
        assert_eq!(
            reason(check_scope("openid  x")),
            "must be scope tokens separated by single spaces (RFC 6749 §3.3)"
        );
        assert_eq!(
            reason(check_scope("openid ")),
            "must be scope tokens separated by single spaces (RFC 6749 §3.3)"
        );
        assert_eq!(
            reason(check_scope("a\"b")),
            "contains a character not allowed in a scope token (RFC 6749 §3.3)"
        );
        assert_eq!(
            reason(check_scope("a\\b")),
            "contains a character not allowed in a scope token (RFC 6749 §3.3)"
        );
        assert_eq!(
            reason(check_scope("a\tb")),
            "contains a character not allowed in a scope token (RFC 6749 §3.3)"
        );
    }

    #[test]
    fn vschar_and_unguessable() {
        assert!(check_vschar("clientId", "my app 1").is_ok());
        assert_eq!(reason(check_vschar("clientId", "")), "is required");
        assert_eq!(
            reason(check_vschar("clientId", "a\nb")),
            "must be printable ASCII (RFC 6749 Appendix A)"
        );
        assert_eq!(
            reason(check_vschar("clientId", "caf\u{e9}")),
            "must be printable ASCII (RFC 6749 Appendix A)"
        );
        assert!(check_unguessable("state", &"x".repeat(22)).is_ok());
        assert_eq!(
            reason(check_unguessable("state", "abc")),
            "is shorter than 22 characters; use randomState()/randomNonce() for an unguessable value"
        );
    }
}
