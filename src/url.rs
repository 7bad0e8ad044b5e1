//! URLs and percent-encoding, written once: the configuration's URL check, the request URL's split,
//! and the one hex decoder every percent-decoding (paths, form-encoded names, admin query values)
//! is built on. Pure; no module here imports the configuration or the pipeline.

/// An absolute `http`/`https` URL with a host, no userinfo and no fragment. With
/// `https_only_except_loopback` (issuers, JWKS URIs: key material) plain `http` is refused unless the
/// host is loopback (a local issuer in tests and `wrangler dev`); without it (the origin, CORS
/// origins) `http` is accepted anywhere: the origin link is the operator's choice.
pub(crate) fn check_url(url: &str, https_only_except_loopback: bool) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "must be an absolute http(s) URL".to_string())?;
    if scheme != "https" && scheme != "http" {
        return Err("must use https (or http)".into());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err("has no host".into());
    }
    if authority.contains('@') {
        return Err("must not contain credentials".into());
    }
    if url.contains('#') {
        return Err("must not contain a fragment".into());
    }
    if https_only_except_loopback && scheme == "http" && !is_loopback(authority) {
        return Err("must use https (http is allowed only for localhost / 127.0.0.1)".into());
    }
    Ok(())
}

fn is_loopback(authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(authority)
    };
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

/// Splits an absolute URL into (scheme, authority, path, query). Fragments never reach a server.
pub(crate) fn split_url(url: &str) -> Option<(&str, &str, &str, Option<&str>)> {
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

/// The byte a `%XX` escape stands for, or `None` when `a`/`b` are not both hex digits.
pub(crate) fn hex_pair(a: u8, b: u8) -> Option<u8> {
    Some(hex_val(a)? << 4 | hex_val(b)?)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Strict RFC 3986 percent-decoding to UTF-8 text: `None` for a truncated or non-hex escape or for
/// bytes that are not UTF-8 (`+` stays `+`). For values the gateway itself reads (admin query
/// parameters), where guessing what a malformed escape meant would be wrong.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            out.push(hex_pair(hex[0], hex[1])?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `application/x-www-form-urlencoded` decoding of one name: `+` is a space, `%XX` a byte; a `%`
/// that starts no valid escape stays as it is (what PHP and Rack do).
pub(crate) fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match bytes.get(i + 1..i + 3).and_then(|h| hex_pair(h[0], h[1])) {
                Some(v) => {
                    out.push(v);
                    i += 3;
                }
                None => {
                    out.push(b'%');
                    i += 1;
                }
            },
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
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn url_check() {
        assert_eq!(check_url("https://i.example/x", true), Ok(()));
        assert_eq!(check_url("http://127.0.0.1:8787", true), Ok(()));
        assert_eq!(check_url("http://[::1]:80/", true), Ok(()));
        assert_eq!(check_url("http://localhost/", true), Ok(()));
        assert!(check_url("http://i.example", true).is_err());
        assert_eq!(check_url("http://i.example", false), Ok(()));
        assert!(check_url("ftp://i.example", false).is_err());
        assert!(check_url("https://", false).is_err());
        assert!(check_url("https://u:p@i.example", false).is_err());
        assert!(check_url("https://i.example/#f", false).is_err());
        assert!(check_url("i.example", false).is_err());
    }

    #[test]
    fn strict_percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%c3%a9+"), Some("a/bé+".into()));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%+1"), None);
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
    }

    #[test]
    fn form_decoding_keeps_malformed_escapes() {
        assert_eq!(form_decode("a+b%2Ec"), "a b.c");
        assert_eq!(form_decode("%zz%4"), "%zz%4");
    }
}
