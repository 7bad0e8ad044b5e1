//! The one scope-token grammar, shared by every place a scope enters the gateway: JWT scope
//! claims, API key records (admin writes and records read back from KV), route and admin
//! configuration.
//!
//! A scope reaches the origin inside `x-user-scopes`, joined by `SEPARATOR`. A scope that contains
//! the separator would arrive as two: a token with the one scope `"profile,admin"` is refused by a
//! route requiring `admin`, yet the origin would read `profile` and `admin`. So the grammar is
//! RFC 6749 §3.3 `scope-token` minus the separator.

/// Joins scopes in `x-user-scopes`.
pub(crate) const SEPARATOR: char = ',';

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`, without `SEPARATOR`.
pub(crate) fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e) && b != SEPARATOR as u8)
}

/// What `is_scope_token` accepts, in words, for error messages.
pub(crate) const GRAMMAR: &str =
    "RFC 6749 scope-token: printable ASCII without space, '\"', '\\' or ',' (the separator)";

/// The `x-user-scopes` value.
pub(crate) fn header_value(scopes: &[String]) -> String {
    scopes.join(&SEPARATOR.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar_is_rfc6749_minus_the_separator() {
        for b in 0u8..=0xff {
            let s = String::from_utf8_lossy(&[b]).into_owned();
            let expected = matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e) && b != b',';
            assert_eq!(is_scope_token(&s), expected, "byte {b:#04x}");
        }
        assert!(is_scope_token("orders:read"));
        assert!(is_scope_token("https://api.example.com/orders.read"));
        for bad in [
            "",
            "profile,admin",
            ",",
            "a b",
            "a\"b",
            "a\\b",
            "café",
            "a\u{7f}",
        ] {
            assert!(!is_scope_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn header_value_cannot_be_split_into_other_scopes() {
        let scopes = vec!["orders:read".to_string(), "profile".to_string()];
        let header = header_value(&scopes);
        assert_eq!(header, "orders:read,profile");
        let back: Vec<&str> = header.split(SEPARATOR).collect();
        assert_eq!(back, ["orders:read", "profile"]);
    }
}
