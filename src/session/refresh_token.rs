//! The refresh token: `<family id>.<secret>`, both base64url without padding — the family id (128
//! random bits) says which `SessionFamily` object to ask, the secret (256 bits from the CSPRNG) is
//! what proves possession. Neither the gateway nor the object ever stores the secret: the object
//! keeps `SHA-256(secret)`, and the successor handed to a second presenter inside the grace window
//! is kept only *wrapped* under a pad derived from the token it succeeds (`wrap`), which only a
//! holder of that older token can compute.
//!
//! Why the family id in the token is safe: it is an address, not a credential. Knowing or guessing
//! one (the `sid` of an access token is the same value) lets a caller reach the object, which then
//! compares the presented secret's hash with the one it holds; a wrong secret is `invalid` and
//! changes nothing (it never ends or rotates the family). Forging a live token means guessing 256
//! bits.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Random bytes of a family id (and `sid`).
pub(crate) const FAMILY_ID_BYTES: usize = 16;
/// Random bytes of a refresh token's secret.
pub(crate) const SECRET_BYTES: usize = 32;
/// `FAMILY_ID_BYTES` in base64url without padding.
pub(crate) const FAMILY_ID_CHARS: usize = 22;
const SECRET_CHARS: usize = 43;

/// A refresh token as presented: its family id and secret, both checked for shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefreshToken {
    pub family_id: String,
    secret: [u8; SECRET_BYTES],
}

/// The token is not of our shape: refused before any object is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

impl RefreshToken {
    /// A new token for `family_id` from the platform's CSPRNG (`fill`).
    pub(crate) fn generate(family_id: &str, fill: impl FnOnce(&mut [u8])) -> Self {
        let mut secret = [0u8; SECRET_BYTES];
        fill(&mut secret);
        RefreshToken {
            family_id: family_id.to_string(),
            secret,
        }
    }

    pub(crate) fn parse(value: &str) -> Result<Self, Malformed> {
        let (family, secret) = value.split_once('.').ok_or(Malformed)?;
        if !is_family_id(family) || secret.len() != SECRET_CHARS {
            return Err(Malformed);
        }
        let bytes = URL_SAFE_NO_PAD.decode(secret).map_err(|_| Malformed)?;
        let secret: [u8; SECRET_BYTES] = bytes.try_into().map_err(|_| Malformed)?;
        Ok(RefreshToken {
            family_id: family.to_string(),
            secret,
        })
    }

    /// The cookie value.
    pub(crate) fn encode(&self) -> String {
        format!("{}.{}", self.family_id, URL_SAFE_NO_PAD.encode(self.secret))
    }

    /// What the object stores and compares: base64url(SHA-256(secret)).
    pub(crate) fn hash(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.secret))
    }

    /// The one-time pad this token's successor is wrapped under: SHA-256 over a label and the
    /// secret, so it is unrelated to `hash` (the object holds the hash, never the pad).
    fn pad(&self) -> [u8; SECRET_BYTES] {
        let mut h = Sha256::new();
        h.update(b"portcullis refresh successor v1\0");
        h.update(self.secret);
        h.finalize().into()
    }

    /// `successor`'s secret wrapped for the holder of `self` (base64url).
    pub(crate) fn wrap(&self, successor: &RefreshToken) -> String {
        let pad = self.pad();
        let mut out = [0u8; SECRET_BYTES];
        for (i, b) in out.iter_mut().enumerate() {
            *b = successor.secret[i] ^ pad[i];
        }
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The successor `wrap` produced, recovered by the holder of `self`.
    pub(crate) fn unwrap_successor(&self, wrapped: &str) -> Result<RefreshToken, Malformed> {
        let bytes = URL_SAFE_NO_PAD.decode(wrapped).map_err(|_| Malformed)?;
        let bytes: [u8; SECRET_BYTES] = bytes.try_into().map_err(|_| Malformed)?;
        let pad = self.pad();
        let mut secret = [0u8; SECRET_BYTES];
        for (i, b) in secret.iter_mut().enumerate() {
            *b = bytes[i] ^ pad[i];
        }
        Ok(RefreshToken {
            family_id: self.family_id.clone(),
            secret,
        })
    }
}

/// A new family id (also the session's `sid`).
pub(crate) fn new_family_id(fill: impl FnOnce(&mut [u8])) -> String {
    let mut id = [0u8; FAMILY_ID_BYTES];
    fill(&mut id);
    URL_SAFE_NO_PAD.encode(id)
}

/// Is `s` shaped like a family id (22 base64url characters)? Checked before a family object is
/// addressed, so no input creates objects with arbitrary names.
pub(crate) fn is_family_id(s: &str) -> bool {
    s.len() == FAMILY_ID_CHARS
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && URL_SAFE_NO_PAD
            .decode(s)
            .is_ok_and(|b| b.len() == FAMILY_ID_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filler(seed: u8) -> impl FnOnce(&mut [u8]) {
        move |buf: &mut [u8]| {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = seed.wrapping_add(i as u8);
            }
        }
    }

    #[test]
    fn round_trips_and_hashes() {
        let fam = new_family_id(filler(1));
        assert_eq!(fam.len(), FAMILY_ID_CHARS);
        assert!(is_family_id(&fam));
        let t = RefreshToken::generate(&fam, filler(9));
        let s = t.encode();
        assert_eq!(s.len(), FAMILY_ID_CHARS + 1 + SECRET_CHARS);
        let back = RefreshToken::parse(&s).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.hash(), t.hash());
        assert_eq!(t.hash().len(), 43);
        // The hash is not the secret, nor the pad.
        assert!(!s.contains(&t.hash()));
    }

    #[test]
    fn successor_unwraps_only_for_its_predecessor() {
        let fam = new_family_id(filler(1));
        let old = RefreshToken::generate(&fam, filler(2));
        let next = RefreshToken::generate(&fam, filler(77));
        let wrapped = old.wrap(&next);
        assert_eq!(old.unwrap_successor(&wrapped).unwrap(), next);
        let other = RefreshToken::generate(&fam, filler(3));
        assert_ne!(other.unwrap_successor(&wrapped).unwrap(), next);
        assert_eq!(old.unwrap_successor("x"), Err(Malformed));
    }

    #[test]
    fn refuses_other_shapes() {
        let fam = new_family_id(filler(1));
        let good = RefreshToken::generate(&fam, filler(2)).encode();
        for bad in [
            String::new(),
            "abc".to_string(),
            good.replace('.', ""),
            format!("{good}x"),
            format!("x{good}"),
            good[1..].to_string(),
            good.replacen('.', "..", 1),
            format!("{}.{}", &fam[..21], &good[23..]),
            format!("{fam}.{}", "=".repeat(43)),
            format!("{}.{}", "+".repeat(22), &good[23..]),
        ] {
            assert_eq!(RefreshToken::parse(&bad), Err(Malformed), "{bad}");
        }
        assert!(!is_family_id("AAAAAAAAAAAAAAAAAAAAA_")); // 22 chars, but trailing bits set
        assert!(is_family_id("AAAAAAAAAAAAAAAAAAAAAA"));
    }
}
