//! Verified access tokens, kept in isolate memory until their `exp` (plus the issuer's leeway), so a
//! client reusing a token pays neither a signature check nor a network hop. Keyed by SHA-256 of the
//! token: the token itself is never stored. Bounded: the oldest entry goes first when full.
//!
//! The storage is the one bounded cache type (`bounded_cache`), keyed by the hash, with the
//! token's own deadline.

use sha2::{Digest, Sha256};

use crate::bounded_cache::BoundedCache;
use crate::identity::Identity;

pub type TokenHash = [u8; 32];

pub fn token_hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

pub struct TokenCache {
    entries: BoundedCache<TokenHash, Identity>,
}

impl TokenCache {
    /// At most `max_entries` tokens (at least one).
    pub fn new(max_entries: usize) -> Self {
        TokenCache {
            entries: BoundedCache::new(max_entries.max(1)),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The token's identity while `now_ms` is before `valid_until_ms`; an expired entry is dropped.
    pub fn get(&mut self, hash: &TokenHash, now_ms: u64) -> Option<Identity> {
        self.entries.get(hash, now_ms).cloned()
    }

    /// Caches a verified token until `valid_until_ms` (the last accepted millisecond is the one
    /// before: `exp + leeway`, exclusive).
    pub fn insert(&mut self, hash: TokenHash, identity: Identity, valid_until_ms: u64) {
        self.entries.insert(hash, identity, valid_until_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::AuthMethod;

    fn ident(sub: &str) -> Identity {
        Identity {
            method: AuthMethod::Jwt,
            subject: sub.into(),
            issuer: Some("iss".into()),
            scopes: vec![],
            ..Identity::anonymous()
        }
    }

    #[test]
    fn hit_until_valid_until() {
        let mut c = TokenCache::new(10);
        let h = token_hash("t1");
        c.insert(h, ident("a"), 1000);
        assert_eq!(c.get(&h, 999).unwrap().subject, "a");
        assert!(c.get(&h, 1000).is_none());
        assert!(c.is_empty());
        assert!(c.get(&token_hash("other"), 0).is_none());
    }

    #[test]
    fn bounded_oldest_first() {
        let mut c = TokenCache::new(3);
        for i in 0..5 {
            c.insert(token_hash(&i.to_string()), ident(&i.to_string()), u64::MAX);
        }
        assert_eq!(c.len(), 3);
        assert!(c.get(&token_hash("0"), 0).is_none());
        assert!(c.get(&token_hash("1"), 0).is_none());
        assert!(c.get(&token_hash("4"), 0).is_some());
    }

    #[test]
    fn order_stays_bounded_under_expiry_churn() {
        let mut c = TokenCache::new(4);
        for i in 0..1000u64 {
            let h = token_hash(&i.to_string());
            c.insert(h, ident("x"), i + 1);
            let _ = c.get(&h, i + 1);
        }
        assert!(c.entries.queued() <= 2 * 4 + 16);
        assert!(c.len() <= 4);
    }

    #[test]
    fn reinsert_does_not_duplicate() {
        let mut c = TokenCache::new(2);
        let h = token_hash("a");
        c.insert(h, ident("a"), 10);
        c.insert(h, ident("a"), 20);
        assert_eq!(c.len(), 1);
        assert!(c.get(&h, 15).is_some());
    }

    /// A token dropped on expiry and inserted again (a cached token re-verified after a clock
    /// step, or the same token re-sent after `get` found it expired) is the newest entry: the
    /// stale position of its first insertion must not evict it.
    #[test]
    fn reinserted_after_expiry_is_newest() {
        let mut c = TokenCache::new(2);
        let a = token_hash("a");
        c.insert(a, ident("a"), 10);
        assert!(c.get(&a, 10).is_none(), "expired and dropped");
        c.insert(token_hash("b"), ident("b"), u64::MAX);
        c.insert(a, ident("a"), u64::MAX);
        // Full at two; a third entry evicts the oldest live one, b, not the re-inserted a.
        c.insert(token_hash("c"), ident("c"), u64::MAX);
        assert!(
            c.get(&a, 0).is_some(),
            "the re-inserted entry was evicted early"
        );
        assert!(c.get(&token_hash("b"), 0).is_none());
        assert!(c.get(&token_hash("c"), 0).is_some());
    }
}
