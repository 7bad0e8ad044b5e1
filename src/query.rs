//! Credentials in the query string, found under every spelling a common origin stack reads as the
//! credential's name. The origin decides what a parameter is called, so the check normalizes a name
//! the way the most lenient of them do before comparing it with `credential_params`:
//!
//! - pairs are split on `&` **and `;`** (Rack 2, Python before 3.9.2 / 3.10);
//! - `+` is a space and `%XX` is decoded (every form decoder); a NUL ends the name (PHP);
//! - leading spaces are dropped, and `.`, ` ` and an unclosed `[` become `_` (PHP:
//!   `access.token`, `access token` and `access[token` are `access_token`);
//! - a `[…]` suffix is dropped (PHP and Rack arrays and hashes: `access_token[]`,
//!   `access_token[x]`); leading `[`/`]` are dropped and a `]` ends the name (Rack 2, whose
//!   `\A[\[\]]*([^\[\]]+)\]*` reads `[access_token]` and `access_token]` as `access_token`);
//! - ASCII case is folded.

/// The configured name (already normalized) that a parameter of `query` carries, if any. Only the
/// name is ever reported, never a value.
pub fn credential_param<'c>(credential_params: &'c [String], query: &str) -> Option<&'c str> {
    query
        .split(['&', ';'])
        .map(|pair| normalize_name(pair.split('=').next().unwrap_or("")))
        .find_map(|name| {
            credential_params
                .iter()
                .find(|p| **p == name)
                .map(String::as_str)
        })
}

/// A query parameter name as the most lenient origin stack reads it (see the module comment).
pub fn normalize_name(raw: &str) -> String {
    let decoded = crate::url::form_decode(raw);
    let name = decoded.split('\0').next().unwrap_or("");
    let name = name.trim_start_matches(' ');
    // Rack 2 skips leading brackets (`[access_token]` is `access_token`).
    let name = name.trim_start_matches(['[', ']']);
    // `a[b]` is the array `a`; a `[` with no `]` after it is an ordinary character, which PHP
    // turns into `_`.
    let name = match name.find('[') {
        Some(open) if name[open..].contains(']') => &name[..open],
        _ => name,
    };
    // Rack 2 ends a name at a `]` too (`access_token]` is `access_token`).
    let name = name.split(']').next().unwrap_or("");
    name.chars()
        .map(|c| match c {
            '.' | ' ' | '[' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_CREDENTIAL_PARAMS;

    fn defaults() -> Vec<String> {
        DEFAULT_CREDENTIAL_PARAMS
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn names_normalize_as_php_and_rack_read_them() {
        for (raw, name) in [
            ("access_token", "access_token"),
            ("ACCESS_TOKEN", "access_token"),
            ("access.token", "access_token"),
            ("access+token", "access_token"),
            ("access%20token", "access_token"),
            ("access token", "access_token"),
            ("access_token[]", "access_token"),
            ("access_token[x]", "access_token"),
            ("access.token[x][y]", "access_token"),
            ("access[token", "access_token"),
            ("%61ccess_token", "access_token"),
            ("access%5Ftoken", "access_token"),
            ("++access_token", "access_token"),
            ("access_token%00junk", "access_token"),
            ("a%zz", "a%zz"),
            ("%", "%"),
            ("a[token]", "a"),
            ("[access_token]", "access_token"),
            ("]access_token", "access_token"),
            ("access_token]", "access_token"),
            ("[[access_token]]", "access_token"),
            ("%5Baccess_token%5D", "access_token"),
            ("access_token]x", "access_token"),
            ("[", ""),
            ("", ""),
        ] {
            assert_eq!(normalize_name(raw), name, "{raw}");
        }
    }

    #[test]
    fn every_spelling_is_caught_and_reported_by_its_configured_name() {
        let params = defaults();
        for q in [
            "access_token=x",
            "a=1;access_token=x",
            "a=1&access.token=x",
            "access+token=x",
            "access_token[]=x",
            "access_token[x]=x",
            "%61ccess_token=x",
            "x;API.KEY=1",
            "password",
        ] {
            assert!(credential_param(&params, q).is_some(), "{q}");
        }
        assert_eq!(
            credential_param(&params, "b=2;Access.Token[k]=secret"),
            Some("access_token")
        );
    }

    #[test]
    fn harmless_names_pass() {
        let params = defaults();
        for q in [
            "",
            "q=token",
            "tokens=1",
            "my_token=1",
            "key_id=1",
            "keyboard=us",
            "monkey=1",
            "token_type=bearer",
            "password_hint=x",
            "a[token]=1",
            "filter[key]=1",
            "x=access_token;y=1",
            "page=2&sort=-name",
            "%zz=1",
            "=token",
        ] {
            assert_eq!(credential_param(&params, q), None, "{q}");
        }
    }
}
