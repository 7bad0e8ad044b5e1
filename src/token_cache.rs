//! Verified access tokens, kept in isolate memory until their `exp` (plus the issuer's leeway), so a
//! client reusing a token pays neither a signature check nor a network hop. Keyed by SHA-256 of the
//! token: the token itself is never stored. Bounded: the oldest entry goes first when full.
//!
//! Why this is not the API-key cache's type (`api_key::cache`): an entry here lives until a
//! per-entry deadline the token itself sets (`exp` + leeway), and only hits are cached; the API-key
//! cache holds negative answers too, with one TTL per kind and an invalidation on revocation.
//!
//! A hit skips signature and claim checks only; revocation (the `revocation` stage) still runs on
//! every request, hit or not.

use std::collections::{HashMap, VecDeque};

use sha2::{Digest, Sha256};

use crate::identity::Identity;

pub type TokenHash = [u8; 32];

pub fn token_hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

struct Entry {
    identity: Identity,
    /// Which insertion this entry is: `order` may still hold a hash from an earlier insertion
    /// of the same token (expired and dropped by `get`), and that stale position must not evict
    /// the entry inserted since.
    generation: u64,
    /// Last millisecond at which the token is still accepted (`exp + leeway`, exclusive).
    valid_until_ms: u64,
}

pub struct TokenCache {
    max_entries: usize,
    map: HashMap<TokenHash, Entry>,
    /// Insertion order, oldest first, as `(hash, generation)`.
    order: VecDeque<(TokenHash, u64)>,
    next_generation: u64,
}

impl TokenCache {
    pub fn new(max_entries: usize) -> Self {
        TokenCache {
            max_entries: max_entries.max(1),
            map: HashMap::new(),
            order: VecDeque::new(),
            next_generation: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&mut self, hash: &TokenHash, now_ms: u64) -> Option<Identity> {
        let live = self.map.get(hash).map(|e| now_ms < e.valid_until_ms)?;
        if !live {
            self.map.remove(hash);
            return None;
        }
        self.map.get(hash).map(|e| e.identity.clone())
    }

    pub fn insert(&mut self, hash: TokenHash, identity: Identity, valid_until_ms: u64) {
        // A re-insert of a live entry keeps its place (and generation): it is the same token.
        if let Some(entry) = self.map.get_mut(&hash) {
            entry.identity = identity;
            entry.valid_until_ms = valid_until_ms;
            return;
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        self.map.insert(
            hash,
            Entry {
                identity,
                valid_until_ms,
                generation,
            },
        );
        self.order.push_back((hash, generation));
        while self.map.len() > self.max_entries {
            match self.order.pop_front() {
                Some((old, generation)) => {
                    if self
                        .map
                        .get(&old)
                        .is_some_and(|e| e.generation == generation)
                    {
                        self.map.remove(&old);
                    }
                }
                None => break,
            }
        }
        // Entries that expired were removed from the map but not from `order`; keep `order` bounded.
        if self.order.len() > self.max_entries * 2 {
            let map = &self.map;
            self.order
                .retain(|(h, g)| map.get(h).is_some_and(|e| e.generation == *g));
        }
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
        assert!(c.order.len() <= 8 + 1);
        assert!(c.map.len() <= 4);
    }

    #[test]
    fn reinsert_does_not_duplicate() {
        let mut c = TokenCache::new(2);
        let h = token_hash("a");
        c.insert(h, ident("a"), 10);
        c.insert(h, ident("a"), 20);
        assert_eq!(c.order.len(), 1);
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
