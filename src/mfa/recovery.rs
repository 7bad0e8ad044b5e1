//! Recovery codes: 10 per enrollment, each 80 bits from the CSPRNG written as 16 base32 letters in
//! groups of four (`abcd-efgh-ijkl-mnop`), shown once at confirmation and stored only as hashes.
//! 80 random bits need no slow hash: a stored hash cannot be inverted by guessing.

use sha2::{Digest, Sha256};

use super::totp::base32;
use crate::platform::Platform;

pub(crate) const COUNT: usize = 10;
const CODE_BYTES: usize = 10;

/// `COUNT` fresh codes, as the user is shown them.
pub(crate) fn generate<P: Platform>(platform: &P) -> Vec<String> {
    (0..COUNT)
        .map(|_| {
            let mut bytes = [0u8; CODE_BYTES];
            platform.random_bytes(&mut bytes);
            let letters = base32(&bytes).to_ascii_lowercase();
            letters
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// A code as typed: case, spaces and dashes do not matter. `None` when it cannot be a recovery
/// code (so it never reaches the store, and never counts as a TOTP attempt either).
pub(crate) fn normalize(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let valid = code.len() == 16
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
    valid.then_some(code)
}

/// What the store keeps: hex SHA-256 over the subject and the normalized code, domain-separated,
/// so equal codes of two subjects never share a hash.
pub(crate) fn hash(subject: &str, normalized: &str) -> String {
    let digest = Sha256::digest(format!("portcullis/recovery/v1\0{subject}\0{normalized}"));
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakePlatform;

    #[test]
    fn ten_distinct_codes_of_80_bits() {
        let codes = generate(&FakePlatform::new(1));
        assert_eq!(codes.len(), COUNT);
        for c in &codes {
            assert_eq!(c.len(), 19, "{c}");
            assert_eq!(c.matches('-').count(), 3);
            assert!(normalize(c).is_some());
        }
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), COUNT);
    }

    #[test]
    fn typed_codes_are_normalized_and_hashed_per_subject() {
        let n = normalize(" ABCD-efgh ijkl-2345 ").unwrap();
        assert_eq!(n, "abcdefghijkl2345");
        assert_eq!(normalize("abcd-efgh-ijkl-234"), None);
        assert_eq!(normalize("abcd-efgh-ijkl-2341"), None, "1 is not base32");
        assert_eq!(normalize("123456"), None);
        assert_ne!(hash("a", &n), hash("b", &n));
        assert_eq!(
            hash("a", &n),
            hash("a", &normalize("abcdefghijkl2345").unwrap())
        );
        assert_eq!(hash("a", &n).len(), 64);
    }
}
