//! The API key wire format: `<prefix>_<body><checksum>`.
//!
//! - `prefix`: per environment (`pc_live`, `pc_test`), so a leaked key says where it works and
//!   secret scanners can match it.
//! - `body`: 128 bits from the CSPRNG as exactly [`BODY_LEN`] base62 characters.
//! - `checksum`: CRC32 over `prefix + "_" + body` as exactly [`CHECKSUM_LEN`] base62 characters.
//!
//! The checksum is not a security control (anyone can compute it); it lets the gateway refuse typos,
//! truncations and random garbage without a KV read, and lets scanners drop false positives. CRC32
//! detects every error burst of 32 bits or less, so every single-character substitution and every
//! adjacent transposition in the prefix or body is caught; a changed checksum character changes the
//! decoded value, so substitutions there are caught too.

use sha2::{Digest, Sha256};

use super::ApiKeyError;

/// Base62, digits first: the order only matters for the fixed-width encoding below.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Random bytes behind one key body.
pub const KEY_RANDOM_BYTES: usize = 16;
/// `ceil(128 / log2 62)`: the base62 width of any 128-bit number.
pub const BODY_LEN: usize = 22;
/// `ceil(32 / log2 62)`: the base62 width of any CRC32 value.
pub const CHECKSUM_LEN: usize = 6;
/// Everything after `<prefix>_`.
pub const SECRET_LEN: usize = BODY_LEN + CHECKSUM_LEN;

/// The longest prefix `ApiKeyConfig::validate` accepts (`[a-z][a-z0-9]{0,15}(_[a-z0-9]{1,16})?`).
pub const MAX_PREFIX_LEN: usize = 33;
/// Anything longer is refused before it is even scanned: no valid key comes close.
pub const MAX_PRESENTED_LEN: usize = 256;

/// Public key ids: `key_` + [`KEY_ID_RANDOM_LEN`] base62 characters (about 95 bits).
pub const KEY_ID_PREFIX: &str = "key_";
pub const KEY_ID_RANDOM_LEN: usize = 16;

/// Why a presented key was refused before any lookup. The variants never carry the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    Empty,
    TooLong,
    NotAscii,
    Prefix,
    Length,
    Alphabet,
    Checksum,
}

impl Malformed {
    pub fn detail(self) -> &'static str {
        match self {
            Malformed::Empty => "the X-API-Key header is empty",
            Malformed::TooLong => "the API key is far longer than any valid key",
            Malformed::NotAscii => "the API key contains non-ASCII characters",
            Malformed::Prefix => "the API key's prefix is not accepted by this gateway",
            Malformed::Length => "the API key has the wrong length",
            Malformed::Alphabet => "the API key contains characters outside [0-9A-Za-z]",
            Malformed::Checksum => {
                "the API key's checksum does not match (mistyped or truncated key)"
            }
        }
    }
}

/// Builds a key from `random` (the caller draws it from the CSPRNG). Deterministic so tests can pin
/// it. `prefix` must satisfy `ApiKeyConfig::validate`.
pub fn generate_key(prefix: &str, random: &[u8; KEY_RANDOM_BYTES]) -> String {
    let body = base62_fixed(u128::from_be_bytes(*random), BODY_LEN);
    let mut key = String::with_capacity(prefix.len() + 1 + SECRET_LEN);
    key.push_str(prefix);
    key.push('_');
    key.push_str(&body);
    let crc = crc32fast::hash(key.as_bytes());
    key.push_str(&base62_fixed(u128::from(crc), CHECKSUM_LEN));
    key
}

/// Checks everything that can be checked without a lookup, cheapest first: size, ASCII, prefix,
/// length, alphabet, checksum. `Ok` means "worth a KV read", nothing more.
pub fn parse_key(presented: &str, accepted_prefixes: &[String]) -> Result<(), ApiKeyError> {
    let malformed = |why| Err(ApiKeyError::Malformed(why));
    if presented.is_empty() {
        return malformed(Malformed::Empty);
    }
    if presented.len() > MAX_PRESENTED_LEN {
        return malformed(Malformed::TooLong);
    }
    if !presented.is_ascii() {
        return malformed(Malformed::NotAscii);
    }
    let Some((prefix, secret)) = split_prefix(presented, accepted_prefixes) else {
        return malformed(Malformed::Prefix);
    };
    if secret.len() != SECRET_LEN {
        return malformed(Malformed::Length);
    }
    if !secret.bytes().all(is_base62) {
        return malformed(Malformed::Alphabet);
    }
    if !checksum_matches(prefix, secret) {
        return malformed(Malformed::Checksum);
    }
    Ok(())
}

/// The environment prefix of a well-formed key, read from the key itself (offline tools have no
/// gateway config). `None` unless the structure and checksum are valid.
pub fn prefix_of(presented: &str) -> Option<&str> {
    if presented.len() > MAX_PRESENTED_LEN || !presented.is_ascii() {
        return None;
    }
    let cut = presented.len().checked_sub(SECRET_LEN + 1)?;
    let (prefix, rest) = presented.split_at(cut);
    let secret = rest.strip_prefix('_')?;
    if !is_valid_prefix(prefix) || !secret.bytes().all(is_base62) {
        return None;
    }
    checksum_matches(prefix, secret).then_some(prefix)
}

/// Lowercase hex SHA-256 of the key: the only form of a key that is ever stored.
pub fn key_hash(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// A public key id from CSPRNG bytes: each byte below 248 (= 4 × 62) yields one unbiased
/// character; returns `None` when `random` did not hold enough such bytes (the caller draws more).
pub fn key_id_from_random(random: &[u8]) -> Option<String> {
    let mut id = String::with_capacity(KEY_ID_PREFIX.len() + KEY_ID_RANDOM_LEN);
    id.push_str(KEY_ID_PREFIX);
    let chars = random
        .iter()
        .filter(|b| **b < 248)
        .take(KEY_ID_RANDOM_LEN)
        .map(|b| BASE62[usize::from(*b % 62)] as char);
    id.extend(chars);
    (id.len() == KEY_ID_PREFIX.len() + KEY_ID_RANDOM_LEN).then_some(id)
}

/// `key_` + exactly 16 base62 characters. Ids reach KV keys and URLs, so nothing else is accepted.
pub fn is_valid_key_id(id: &str) -> bool {
    id.strip_prefix(KEY_ID_PREFIX)
        .is_some_and(|r| r.len() == KEY_ID_RANDOM_LEN && r.bytes().all(is_base62))
}

/// `^[a-z][a-z0-9]{0,15}(_[a-z0-9]{1,16})?$`
pub fn is_valid_prefix(prefix: &str) -> bool {
    let (head, tail) = match prefix.split_once('_') {
        Some((h, t)) => (h, Some(t)),
        None => (prefix, None),
    };
    let lower_alnum = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let head_ok = (1..=16).contains(&head.len())
        && head.as_bytes()[0].is_ascii_lowercase()
        && lower_alnum(head);
    let tail_ok = tail.is_none_or(|t| (1..=16).contains(&t.len()) && lower_alnum(t));
    head_ok && tail_ok
}

fn split_prefix<'k>(presented: &'k str, accepted: &[String]) -> Option<(&'k str, &'k str)> {
    accepted
        .iter()
        .find_map(|p| {
            let rest = presented.strip_prefix(p.as_str())?.strip_prefix('_')?;
            // A longer accepted prefix could also match ("pc" vs "pc_live"); only the one that leaves a
            // secret of the right length can be the key's own.
            (rest.len() == SECRET_LEN).then(|| (&presented[..p.len()], rest))
        })
        .or_else(|| {
            // No prefix left a well-sized secret: report `Length` rather than `Prefix` when a prefix
            // matched at all, which is the more useful hint for a truncated key.
            accepted.iter().find_map(|p| {
                let rest = presented.strip_prefix(p.as_str())?.strip_prefix('_')?;
                Some((&presented[..p.len()], rest))
            })
        })
}

fn checksum_matches(prefix: &str, secret: &str) -> bool {
    let (body, checksum) = secret.split_at(BODY_LEN);
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(prefix.as_bytes());
    hasher.update(b"_");
    hasher.update(body.as_bytes());
    // Decoding is injective for a fixed width, so comparing numbers is comparing strings; the
    // checksum is derivable from the key by anyone, so no constant-time comparison is needed.
    base62_decode(checksum) == Some(u128::from(hasher.finalize()))
}

fn is_base62(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn base62_value(b: u8) -> Option<u128> {
    let v = match b {
        b'0'..=b'9' => b - b'0',
        b'A'..=b'Z' => b - b'A' + 10,
        b'a'..=b'z' => b - b'a' + 36,
        _ => return None,
    };
    Some(u128::from(v))
}

fn base62_decode(s: &str) -> Option<u128> {
    s.bytes().try_fold(0u128, |acc, b| {
        acc.checked_mul(62)?.checked_add(base62_value(b)?)
    })
}

/// `n` in base62, left-padded with `0` to exactly `width` characters (`width` fits `n`).
fn base62_fixed(mut n: u128, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    debug_assert_eq!(n, 0, "value wider than {width} base62 digits");
    out.into_iter().map(char::from).collect()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 0xf)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/api-keys.md's example key (its first code block) is one this code accepts.
    #[test]
    fn the_documented_example_key_is_well_formed() {
        let doc = include_str!("../../docs/api-keys.md");
        let example = doc.split("```\n").nth(1).and_then(|b| b.lines().next());
        let example = example.expect("docs/api-keys.md opens with a key example");
        assert!(example.starts_with("pc_live_"), "{example}");
        assert!(
            parse_key(example, &["pc_live".to_string()]).is_ok(),
            "{example}"
        );
    }

    fn accepted() -> Vec<String> {
        vec!["pc_test".to_string(), "pc_live".to_string()]
    }

    /// A deterministic stream of "random" bytes (SplitMix64) for many draws.
    fn draws(n: usize) -> Vec<[u8; 16]> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        (0..n)
            .map(|_| {
                let mut b = [0u8; 16];
                b[..8].copy_from_slice(&next().to_be_bytes());
                b[8..].copy_from_slice(&next().to_be_bytes());
                b
            })
            .collect()
    }

    fn malformed(key: &str) -> Option<Malformed> {
        match parse_key(key, &accepted()) {
            Err(ApiKeyError::Malformed(m)) => Some(m),
            Ok(()) => None,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn round_trip_over_many_draws() {
        let mut seen = std::collections::HashSet::new();
        for (i, r) in draws(5000).iter().enumerate() {
            let prefix = if i % 2 == 0 { "pc_test" } else { "pc_live" };
            let key = generate_key(prefix, r);
            assert_eq!(key.len(), prefix.len() + 1 + SECRET_LEN);
            assert!(key.starts_with(&format!("{prefix}_")));
            assert_eq!(parse_key(&key, &accepted()), Ok(()), "{key}");
            assert_eq!(prefix_of(&key), Some(prefix));
            assert!(seen.insert(key));
        }
    }

    #[test]
    fn extreme_bodies_keep_fixed_width() {
        for r in [[0u8; 16], [0xff; 16]] {
            let key = generate_key("pc_test", &r);
            assert_eq!(key.len(), "pc_test_".len() + SECRET_LEN);
            assert_eq!(parse_key(&key, &accepted()), Ok(()));
        }
        // u128::MAX needs all 22 digits; zero is all padding.
        assert!(generate_key("pc_test", &[0; 16]).starts_with("pc_test_0000000000000000000000"));
    }

    #[test]
    fn known_key_is_stable() {
        // Pins the format: a change here breaks every key already issued.
        let key = generate_key("pc_test", &[0u8; 16]);
        let crc = crc32fast::hash(b"pc_test_0000000000000000000000");
        assert_eq!(
            &key[key.len() - CHECKSUM_LEN..],
            base62_fixed(u128::from(crc), 6)
        );
        let r: [u8; 16] = *b"0123456789abcdef";
        let n = u128::from_be_bytes(r);
        let body = &generate_key("pc_live", &r)["pc_live_".len()..][..BODY_LEN];
        assert_eq!(base62_decode(body), Some(n));
    }

    #[test]
    fn every_single_character_substitution_is_refused() {
        for r in draws(4) {
            for prefix in ["pc_test", "pc_live"] {
                let key = generate_key(prefix, &r);
                let bytes = key.as_bytes();
                for pos in 0..bytes.len() {
                    for &c in BASE62.iter().chain(b"_-") {
                        if c == bytes[pos] {
                            continue;
                        }
                        let mut changed = bytes.to_vec();
                        changed[pos] = c;
                        let changed = String::from_utf8(changed).unwrap();
                        let why = malformed(&changed);
                        assert!(why.is_some(), "accepted {changed} (pos {pos})");
                        if pos > prefix.len() && c != b'_' && c != b'-' {
                            assert_eq!(why, Some(Malformed::Checksum), "{changed}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_transposition_is_refused() {
        for r in draws(4) {
            let key = generate_key("pc_test", &r);
            let bytes = key.as_bytes();
            for i in 0..bytes.len() {
                for j in i + 1..bytes.len() {
                    if bytes[i] == bytes[j] {
                        continue;
                    }
                    let mut swapped = bytes.to_vec();
                    swapped.swap(i, j);
                    let swapped = String::from_utf8(swapped).unwrap();
                    assert!(
                        malformed(&swapped).is_some(),
                        "accepted {swapped} ({i}<->{j})"
                    );
                }
            }
        }
    }

    #[test]
    fn structural_refusals() {
        let key = generate_key("pc_test", &draws(1)[0]);
        assert_eq!(malformed(""), Some(Malformed::Empty));
        assert_eq!(malformed(&"a".repeat(10 * 1024)), Some(Malformed::TooLong));
        assert_eq!(malformed(&"a".repeat(257)), Some(Malformed::TooLong));
        assert_eq!(malformed("pc_test_ÄÖÜ"), Some(Malformed::NotAscii));
        assert_eq!(malformed(&format!("{key}é")), Some(Malformed::NotAscii));
        let other_env = key.replacen("pc_test", "pc_prod", 1);
        assert_eq!(malformed(&other_env), Some(Malformed::Prefix));
        assert_eq!(
            malformed(&key.replacen("pc_test_", "pc_test-", 1)),
            Some(Malformed::Prefix)
        );
        assert_eq!(malformed(&key[1..]), Some(Malformed::Prefix));
        assert_eq!(malformed(&key[..key.len() - 1]), Some(Malformed::Length));
        assert_eq!(malformed(&format!("{key}0")), Some(Malformed::Length));
        assert_eq!(malformed("pc_test_"), Some(Malformed::Length));
        let mut bad_alpha = key.clone().into_bytes();
        bad_alpha[10] = b'+';
        assert_eq!(
            malformed(&String::from_utf8(bad_alpha).unwrap()),
            Some(Malformed::Alphabet)
        );
        // A key from a real environment is refused where that environment is not accepted.
        let live = generate_key("pc_live", &draws(1)[0]);
        assert_eq!(
            parse_key(&live, &["pc_test".to_string()]),
            Err(ApiKeyError::Malformed(Malformed::Prefix))
        );
        // Whitespace is never trimmed here: it is a different string.
        assert_eq!(malformed(&format!(" {key}")), Some(Malformed::Prefix));
        assert_eq!(malformed(&format!("{key} ")), Some(Malformed::Length));
    }

    #[test]
    fn overlapping_prefixes_pick_the_right_one() {
        let short = generate_key("pc", &draws(2)[0]);
        let long = generate_key("pc_live", &draws(2)[1]);
        let both = vec!["pc".to_string(), "pc_live".to_string()];
        assert_eq!(parse_key(&short, &both), Ok(()));
        assert_eq!(parse_key(&long, &both), Ok(()));
        let reversed = vec!["pc_live".to_string(), "pc".to_string()];
        assert_eq!(parse_key(&short, &reversed), Ok(()));
        assert_eq!(parse_key(&long, &reversed), Ok(()));
    }

    #[test]
    fn checksum_suffix_overflow_is_refused() {
        // "zzzzzz" decodes to 62^6 - 1, far above u32::MAX: never a valid CRC32.
        let key = generate_key("pc_test", &draws(1)[0]);
        let forged = format!("{}zzzzzz", &key[..key.len() - CHECKSUM_LEN]);
        assert_eq!(malformed(&forged), Some(Malformed::Checksum));
    }

    #[test]
    fn sha256_known_answers() {
        assert_eq!(
            key_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            key_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let h = key_hash(&generate_key("pc_test", &[7; 16]));
        assert_eq!(h.len(), 64);
        assert!(h
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    #[test]
    fn prefix_rules() {
        for ok in [
            "pc",
            "pc_live",
            "pc_test",
            "a",
            "a1_b2",
            "abcdefghijklmnop_abcdefghijklmnop",
        ] {
            assert!(is_valid_prefix(ok), "{ok}");
        }
        for bad in [
            "",
            "PC",
            "1pc",
            "pc_",
            "_pc",
            "pc__live",
            "pc_live_x",
            "pc-live",
            "abcdefghijklmnopq",
            "pc_abcdefghijklmnopq",
            "pc_Live",
            "pç",
        ] {
            assert!(!is_valid_prefix(bad), "{bad}");
        }
        const { assert!(MAX_PREFIX_LEN + 1 + SECRET_LEN < MAX_PRESENTED_LEN) };
    }

    #[test]
    fn prefix_of_reads_only_well_formed_keys() {
        let key = generate_key("acme_prod", &[3; 16]);
        assert_eq!(prefix_of(&key), Some("acme_prod"));
        assert_eq!(prefix_of(&key[1..]), None);
        assert_eq!(prefix_of(&key.replace("acme_prod", "acme_prot")), None);
        assert_eq!(prefix_of("short"), None);
        assert_eq!(prefix_of(&format!("_{}", &key["acme_prod_".len()..])), None);
    }

    #[test]
    fn key_ids() {
        let id = key_id_from_random(&[0u8; 16]).unwrap();
        assert_eq!(id, "key_0000000000000000");
        assert!(is_valid_key_id(&id));
        // Bytes >= 248 are skipped, so the output stays unbiased.
        let mut r = vec![255u8; 4];
        r.extend([61u8; 16]);
        assert_eq!(key_id_from_random(&r).unwrap(), "key_zzzzzzzzzzzzzzzz");
        assert_eq!(key_id_from_random(&[250u8; 32]), None);
        assert_eq!(key_id_from_random(&[1u8; 15]), None);
        for bad in [
            "",
            "key_",
            "key_000000000000000",
            "key_00000000000000000",
            "kez_0000000000000000",
            "key_000000000000000/",
            "../key_0000000000000",
        ] {
            assert!(!is_valid_key_id(bad), "{bad}");
        }
    }
}
