//! The refresh cookie: the exact `Set-Cookie` values the session endpoints send, and reading the
//! cookie back from the request.
//!
//! Attributes, always in this order: `HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=<s>` —
//! never `Domain` (the `__Host-` prefix forbids it, and configuration refuses a `__Host-` name
//! with anything else; RFC 6265bis §4.1.3.2). Clearing sends the same attributes with an empty
//! value and `Max-Age=0`, so the browser matches and drops the stored cookie.

/// The attributes after the value, before `Max-Age`.
const ATTRIBUTES: &str = "HttpOnly; Secure; SameSite=Strict; Path=/";

/// `Set-Cookie` for a refresh token living `max_age` seconds.
pub(crate) fn set(name: &str, value: &str, max_age: u64) -> String {
    format!("{name}={value}; {ATTRIBUTES}; Max-Age={max_age}")
}

/// `Set-Cookie` that deletes the refresh cookie.
pub(crate) fn clear(name: &str) -> String {
    format!("{name}=; {ATTRIBUTES}; Max-Age=0")
}

/// What the request's `Cookie` headers hold under `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Presented<'a> {
    None,
    One(&'a str),
    /// Several cookies of that name (a browser sends one per matching path/domain; with
    /// `__Host-` only a second, injected one could exist): refused rather than guessed.
    Several,
}

/// Finds `name` in every `Cookie` header (RFC 6265 §5.4: `name=value` pairs joined by `; `).
pub(crate) fn presented<'a>(
    cookie_headers: impl Iterator<Item = &'a str>,
    name: &str,
) -> Presented<'a> {
    let mut found = Presented::None;
    for header in cookie_headers {
        for pair in header.split(';') {
            let Some((n, v)) = pair.trim_matches([' ', '\t']).split_once('=') else {
                continue;
            };
            if n.trim() != name {
                continue;
            }
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(v);
            found = match found {
                Presented::None => Presented::One(v),
                _ => Presented::Several,
            };
        }
    }
    found
}

/// Why a cookie name is refused in configuration.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    // RFC 6265 §4.1.1: a token (RFC 7230 tchar).
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || name.len() > 128 || !name.bytes().all(tchar) {
        return Err("must be a cookie name: 1 to 128 token characters".into());
    }
    // The attributes are fixed (`Secure`, `Path=/`, no `Domain`), so both prefixes' rules hold;
    // a case variant of a prefix is refused because browsers match prefixes case-insensitively
    // and would enforce rules the name does not show.
    let lower = name.to_ascii_lowercase();
    for prefix in ["__host-", "__secure-"] {
        if lower.starts_with(prefix)
            && !name.starts_with(&prefix.replace("host", "Host").replace("secure", "Secure"))
        {
            return Err(format!(
                "spell the cookie prefix exactly `__Host-` or `__Secure-` (got {:?})",
                &name[..prefix.len()]
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "__Host-portcullis_refresh";

    #[test]
    fn exact_attributes() {
        assert_eq!(
            set(NAME, "abc.def", 604800),
            "__Host-portcullis_refresh=abc.def; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=604800"
        );
        assert_eq!(
            clear(NAME),
            "__Host-portcullis_refresh=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0"
        );
    }

    #[test]
    fn reads_the_cookie() {
        let one = |h: &[&'static str]| presented(h.iter().copied(), NAME);
        assert_eq!(one(&[]), Presented::None);
        assert_eq!(one(&["a=1; b=2"]), Presented::None);
        assert_eq!(
            one(&["a=1; __Host-portcullis_refresh=x.y; b=2"]),
            Presented::One("x.y")
        );
        assert_eq!(
            one(&["__Host-portcullis_refresh=\"x.y\""]),
            Presented::One("x.y")
        );
        assert_eq!(
            one(&["__host-portcullis_refresh=x"]),
            Presented::None,
            "names are case-sensitive"
        );
        assert_eq!(
            one(&["__Host-portcullis_refresh=x", "__Host-portcullis_refresh=y"]),
            Presented::Several
        );
        assert_eq!(
            one(&["__Host-portcullis_refresh=x;__Host-portcullis_refresh=y"]),
            Presented::Several
        );
        assert_eq!(one(&["__Host-portcullis_refresh="]), Presented::One(""));
    }

    #[test]
    fn names() {
        assert!(check_name(NAME).is_ok());
        assert!(check_name("__Secure-r").is_ok());
        assert!(check_name("refresh").is_ok());
        for bad in [
            "",
            "a b",
            "a;b",
            "a=b",
            "__host-x",
            "__SECURE-x",
            &"x".repeat(129),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
