//! The byte-level encodings the flow needs: base64url (RFC 4648 §5, no padding), percent-encoding
//! of query/form components, and decoding of `application/x-www-form-urlencoded` pairs.

use alloc::string::String;
use alloc::vec::Vec;

const BASE64URL_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `BASE64URL-ENCODE` as RFC 7636 §3 defines it: URL-safe alphabet, no padding.
///
/// Hand-written (a dozen lines) rather than the `base64` crate's engine, which costs about
/// 2 KB of wasm for the same output; the native tests check it against the crate.
pub fn base64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| chunk.get(i).copied().unwrap_or(0) as u32;
        let group = byte(0) << 16 | byte(1) << 8 | byte(2);
        // n input bytes give n + 1 output characters (no padding).
        for i in 0..=chunk.len() {
            let sextet = (group >> (18 - 6 * i)) & 63;
            out.push(BASE64URL_ALPHABET[sextet as usize] as char);
        }
    }
    out
}

/// RFC 3986 §2.3 unreserved characters — also exactly RFC 7636's code-verifier alphabet.
pub fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// The base64url alphabet (RFC 4648 §5).
pub fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')
}

/// RFC 6749 Appendix A `VSCHAR`: printable ASCII including space.
pub fn is_vschar(b: u8) -> bool {
    (0x20..=0x7e).contains(&b)
}

/// RFC 6749 Appendix A `NQCHAR`-free scope-token character: `%x21 / %x23-5B / %x5D-7E`.
pub fn is_scope_token_char(b: u8) -> bool {
    b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Appends `value` percent-encoded: everything but unreserved becomes `%XX` (uppercase hex,
/// UTF-8 bytes). Valid both in a URI query and in an `application/x-www-form-urlencoded` body,
/// because a space is `%20`, never an ambiguous `+`.
pub fn percent_encode_into(out: &mut String, value: &str) {
    for &b in value.as_bytes() {
        if is_unreserved(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0x0f) as usize] as char);
        }
    }
}

/// Appends `name=value` to a query or form body, with `&` when needed.
pub fn push_pair(out: &mut String, name: &str, value: &str) {
    if !matches!(out.as_bytes().last(), None | Some(b'?' | b'&')) {
        out.push('&');
    }
    percent_encode_into(out, name);
    out.push('=');
    percent_encode_into(out, value);
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte,
/// and the result must be UTF-8. A stray `%` is an error rather than passed through, so two
/// parsers can never disagree on what a parameter says.
pub fn form_decode(component: &[u8]) -> Result<String, &'static str> {
    let mut out = Vec::with_capacity(component.len());
    let mut bytes = component.iter().copied();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.next().and_then(hex_value),
                bytes.next().and_then(hex_value),
            ) {
                (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                _ => return Err("contains an invalid percent-escape"),
            },
            b => out.push(b),
        }
    }
    String::from_utf8(out).map_err(|_| "contains a value that is not UTF-8")
}

/// Splits a query string (without `?`) into decoded `(name, value)` pairs, in order.
/// Empty segments (`a=1&&b=2`) are skipped; a segment without `=` has an empty value.
pub fn parse_form(query: &str) -> Result<Vec<(String, String)>, &'static str> {
    let mut pairs = Vec::new();
    for segment in query.as_bytes().split(|&b| b == b'&') {
        if segment.is_empty() {
            continue;
        }
        let eq = segment
            .iter()
            .position(|&b| b == b'=')
            .unwrap_or(segment.len());
        let name = segment.get(..eq).unwrap_or_default();
        let value = segment.get(eq + 1..).unwrap_or_default();
        pairs.push((form_decode(name)?, form_decode(value)?));
    }
    Ok(pairs)
}

/// Appends the decimal digits of `n` (without `core::fmt`, which the wasm does not carry).
pub fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = Vec::with_capacity(20);
    loop {
        digits.push(b'0' + (n % 10) as u8);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits.iter().rev().map(|&d| d as char));
}

/// Equality whose running time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    // black_box keeps the optimizer from turning the fold into an early-exit comparison.
    core::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_a_base64url() {
        assert_eq!(base64url(&[3, 236, 255, 224, 193]), "A-z_4ME");
    }

    #[test]
    fn base64url_matches_the_base64_crate() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;
        let data: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for len in 0..data.len() {
            assert_eq!(
                base64url(&data[..len]),
                URL_SAFE_NO_PAD.encode(&data[..len]),
                "length {len}"
            );
        }
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved() {
        let mut s = String::new();
        percent_encode_into(&mut s, "a b+c/d?e=f&g#h~i.j-k_l%m\u{e9}\u{1f512}");
        assert_eq!(
            s,
            "a%20b%2Bc%2Fd%3Fe%3Df%26g%23h~i.j-k_l%25m%C3%A9%F0%9F%94%92"
        );
    }

    #[test]
    fn push_pair_separates() {
        let mut s = String::from("https://as.example/authorize?");
        push_pair(&mut s, "a", "1");
        push_pair(&mut s, "b c", "2&3");
        assert_eq!(s, "https://as.example/authorize?a=1&b%20c=2%263");
        let mut body = String::new();
        push_pair(&mut body, "x", "y");
        assert_eq!(body, "x=y");
    }

    #[test]
    fn form_decoding() {
        assert_eq!(form_decode(b"a+b%20c%2b%C3%A9").unwrap(), "a b c+\u{e9}");
        assert_eq!(form_decode(b"%4a%4A").unwrap(), "JJ");
        assert!(form_decode(b"%").is_err());
        assert!(form_decode(b"%4").is_err());
        assert!(form_decode(b"%zz").is_err());
        assert!(form_decode(b"%FF").is_err(), "lone 0xFF is not UTF-8");
    }

    #[test]
    fn form_parsing() {
        let pairs = parse_form("a=1&&b=&c&d=x%3Dy=z").unwrap();
        let want: Vec<(String, String)> = [("a", "1"), ("b", ""), ("c", ""), ("d", "x=y=z")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(pairs, want);
        assert!(parse_form("a=%G0").is_err());
        assert!(parse_form("").unwrap().is_empty());
    }

    #[test]
    fn percent_round_trip_over_all_bytes_of_utf8() {
        let all: String = (1u32..0x800).filter_map(char::from_u32).collect();
        let mut enc = String::new();
        percent_encode_into(&mut enc, &all);
        assert!(enc.bytes().all(|b| is_unreserved(b) || b == b'%'));
        assert_eq!(form_decode(enc.as_bytes()).unwrap(), all);
    }

    #[test]
    fn decimal() {
        for n in [0u64, 7, 10, 1_700_000_000_000, u64::MAX] {
            let mut s = String::from("x=");
            push_decimal(&mut s, n);
            assert_eq!(s, format!("x={n}"));
        }
    }

    #[test]
    fn constant_time_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
