//! The `htu` comparison of RFC 9449 §4.3: the proof's URL and the URL the client addressed, both
//! without query and fragment, compared after RFC 3986 §6.2.2 syntax-based and §6.2.3
//! scheme-based normalization (case of scheme and host, default port, percent-encoding case,
//! unreserved characters decoded, dot segments removed, an empty path as `/`).
//!
//! The request side is the URL as the runtime received it, never the gateway's own normalized
//! path (which decodes and folds more than RFC 3986 allows) nor a `Host` header read separately.

/// The normalized form, or `None` for anything that is not an absolute `http`/`https` URL.
pub fn normalize(url: &str) -> Option<String> {
    let url = url.split('#').next().unwrap_or_default();
    let url = url.split('?').next().unwrap_or_default();
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = split_host_port(authority)?;
    if host.is_empty() || !host.bytes().all(|b| b.is_ascii_graphic() && b != b'%') {
        return None;
    }
    let mut out = format!("{scheme}://{}", host.to_ascii_lowercase());
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let port = port.trim_start_matches('0');
        let port = if port.is_empty() { "0" } else { port };
        if port != default_port {
            out.push(':');
            out.push_str(port);
        }
    }
    let path = normalize_percent(path)?;
    let path = remove_dot_segments(&path);
    out.push_str(if path.is_empty() { "/" } else { &path });
    Some(out)
}

/// `host[:port]`, with an IPv6 literal in brackets.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let host = &authority[..=end];
        match &authority[end + 1..] {
            "" => Some((host, None)),
            rest => Some((host, Some(rest.strip_prefix(':')?))),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => Some((h, Some(p))),
            None => Some((authority, None)),
        }
    }
}

/// Percent-encodings of unreserved characters decoded, the others with upper-case hex; a `%` not
/// followed by two hex digits, or a character that is not allowed in a path, is `None`.
fn normalize_percent(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let pair = bytes.get(i + 1..i + 3)?;
            let hi = crate::url::hex_pair(pair[0], pair[1])?;
            if hi.is_ascii_alphanumeric() || matches!(hi, b'-' | b'.' | b'_' | b'~') {
                out.push(hi as char);
            } else {
                out.push_str(&format!("%{hi:02X}"));
            }
            i += 3;
        } else if b.is_ascii_graphic() {
            out.push(b as char);
            i += 1;
        } else {
            return None;
        }
    }
    Some(out)
}

/// RFC 3986 §5.2.4.
fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut out: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    // Work segment by segment: `path` starts with `/` (or is empty).
    let Some(rest) = input.strip_prefix('/') else {
        return input.to_string();
    };
    input = rest;
    let segments: Vec<&str> = input.split('/').collect();
    let last = segments.len() - 1;
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => trailing_slash = i == last,
            ".." => {
                out.pop();
                trailing_slash = i == last;
            }
            s => {
                out.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut result = String::from("/");
    result.push_str(&out.join("/"));
    if trailing_slash && !result.ends_with('/') {
        result.push('/');
    }
    result
}

/// The proof's `htu` names the URL of this request.
pub fn matches(proof_htu: &str, request_url: &str) -> bool {
    match (normalize(proof_htu), normalize(request_url)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_3986_normalization() {
        let n = |u: &str| normalize(u);
        assert_eq!(
            n("HTTPS://Server.Example.com:443/a/./b/../c?x=1#f").as_deref(),
            Some("https://server.example.com/a/c")
        );
        assert_eq!(
            n("https://s.example").as_deref(),
            Some("https://s.example/")
        );
        assert_eq!(
            n("http://s.example:80/%7euser/%2f%41").as_deref(),
            Some("http://s.example/~user/%2FA")
        );
        assert_eq!(
            n("https://s.example:8443/x").as_deref(),
            Some("https://s.example:8443/x")
        );
        assert_eq!(n("https://[::1]:443/x").as_deref(), Some("https://[::1]/x"));
        assert_eq!(
            n("https://s.example/a/b/..").as_deref(),
            Some("https://s.example/a/")
        );
        assert_eq!(
            n("https://s.example/../../x").as_deref(),
            Some("https://s.example/x")
        );
        for bad in [
            "ftp://s.example/",
            "https://",
            "https://u@s.example/",
            "https://s.example:x/",
            "https://s.example/%zz",
            "https://s.example/a b",
            "/relative",
        ] {
            assert_eq!(n(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc_9449_htu_matches() {
        // §4.3: query and fragment ignored; §4.2 example.
        assert!(matches(
            "https://server.example.com/token",
            "https://server.example.com/token?x=1"
        ));
        assert!(matches(
            "https://Server.Example.COM:443/to%6Ben",
            "https://server.example.com/token"
        ));
        assert!(!matches(
            "https://server.example.com/token",
            "https://server.example.com/token/"
        ));
        assert!(!matches(
            "https://server.example.com/token",
            "http://server.example.com/token"
        ));
        assert!(!matches(
            "https://other.example.com/token",
            "https://server.example.com/token"
        ));
        // The gateway decodes `%2F` when routing; RFC 3986 never does, so a proof for one path is
        // not a proof for the other.
        assert!(!matches("https://s.example/a%2Fb", "https://s.example/a/b"));
        assert!(!matches("garbage", "garbage"));
    }
}
