//! Properties of generated values over many draws from the real CSPRNG.

use std::collections::HashSet;

use portcullis_pkce::encoding::is_unreserved;
use portcullis_pkce::pkce::{check_challenge, CodeVerifier};
use portcullis_pkce::random_token;

const DRAWS: usize = 10_000;

#[test]
fn verifiers_are_valid_distinct_and_use_the_whole_alphabet() {
    let mut seen = HashSet::with_capacity(DRAWS);
    let mut chars = HashSet::new();
    for _ in 0..DRAWS {
        let v = CodeVerifier::generate().unwrap();
        let s = v.as_str();
        assert_eq!(
            s.len(),
            43,
            "32 bytes of entropy give 43 base64url characters"
        );
        assert!((43..=128).contains(&s.len()));
        assert!(s.bytes().all(is_unreserved), "{s}");
        assert!(!s.contains('='), "no padding");
        assert_eq!(
            CodeVerifier::parse(s).unwrap(),
            v,
            "generated verifiers pass validation"
        );
        check_challenge(&v.challenge_s256()).unwrap();
        chars.extend(s.bytes());
        assert!(
            seen.insert(s.to_owned()),
            "duplicate verifier after {} draws",
            seen.len()
        );
    }
    // The base64url alphabet has 64 symbols; all of them show up in 430 000 characters.
    assert_eq!(chars.len(), 64);
}

#[test]
fn verifier_bits_are_balanced() {
    // Each of the 256 entropy bits (the first 42 chars carry 6 bits each) is set about half the
    // time; with 10 000 draws a fair bit lies within 5000 ± 300 (6 sigma) essentially always.
    let decode = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'-' => 62,
            b'_' => 63,
            _ => unreachable!(),
        }
    };
    let mut ones = [0u32; 42 * 6];
    for _ in 0..DRAWS {
        let v = CodeVerifier::generate().unwrap();
        for (i, c) in v.as_str().bytes().take(42).enumerate() {
            let sextet = decode(c);
            for bit in 0..6 {
                ones[i * 6 + bit] += (sextet >> bit) & 1;
            }
        }
    }
    for (bit, &n) in ones.iter().enumerate() {
        assert!(
            (4700..=5300).contains(&n),
            "bit {bit} set {n} times in {DRAWS}"
        );
    }
}

#[test]
fn state_and_nonce_tokens_are_long_and_distinct() {
    let mut seen = HashSet::with_capacity(DRAWS);
    for _ in 0..DRAWS {
        let t = random_token().unwrap();
        assert_eq!(t.len(), 43);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{t}"
        );
        assert!(seen.insert(t));
    }
}
