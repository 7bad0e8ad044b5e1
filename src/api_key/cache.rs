//! The isolate-memory cache in front of KV: key hash → what KV said, for a short TTL.
//!
//! Positive entries spare a KV read on every request of a busy client; negative entries ("no such
//! key") make a brute-force or a misconfigured client hammering one wrong key cost one KV read per
//! TTL instead of one per request. Both are bounded: negatives get a quarter of the capacity in their
//! own queue, so a flood of made-up (but well-formed) keys churns only the negative side and never
//! evicts the keys of real clients. Eviction is oldest-inserted-first, O(1) amortised; a refresh
//! re-inserts, so with short TTLs this approximates LRU without touching the queue on every hit.
//!
//! A cached record still goes through `ApiKeyRecord::status` at every use, so a key that expires
//! while cached is refused on time; only revocation and admin edits wait for the TTL (or are applied
//! at once in the isolate that made them, via `prime`/`invalidate`).

use super::record::ApiKeyRecord;
use crate::bounded_cache::BoundedCache;

/// What one KV lookup said about a hash. Returned by value once per lookup, so boxing the record
/// would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum CachedLookup {
    Found(ApiKeyRecord),
    NotFound,
}

pub struct ApiKeyCache {
    positive: BoundedCache<String, ApiKeyRecord>,
    negative: BoundedCache<String, ()>,
}

impl ApiKeyCache {
    /// At most `max_entries` hashes in all; 0 disables caching.
    pub fn new(max_entries: usize) -> Self {
        let negative_cap = max_entries / 4;
        ApiKeyCache {
            positive: BoundedCache::new(max_entries - negative_cap),
            negative: BoundedCache::new(negative_cap),
        }
    }

    /// The fresh entry for `hash`, if any; stale entries are dropped on the way.
    pub fn get(&mut self, hash: &str, now_ms: u64) -> Option<CachedLookup> {
        if let Some(record) = self.positive.get(hash, now_ms) {
            return Some(CachedLookup::Found(record.clone()));
        }
        self.negative
            .get(hash, now_ms)
            .map(|()| CachedLookup::NotFound)
    }

    /// Caches a record until `now_ms + ttl_secs`. A TTL of 0 caches nothing.
    pub fn insert_found(&mut self, hash: &str, record: ApiKeyRecord, now_ms: u64, ttl_secs: u64) {
        self.negative.remove(hash);
        self.positive
            .insert(hash.to_string(), record, fresh_until(now_ms, ttl_secs));
    }

    /// Caches "no such key" until `now_ms + ttl_secs`. Only for a definite miss, never a KV error.
    pub fn insert_not_found(&mut self, hash: &str, now_ms: u64, ttl_secs: u64) {
        self.positive.remove(hash);
        self.negative
            .insert(hash.to_string(), (), fresh_until(now_ms, ttl_secs));
    }

    /// Forgets `hash`: the next lookup goes to KV.
    pub fn invalidate(&mut self, hash: &str) {
        self.positive.remove(hash);
        self.negative.remove(hash);
    }

    pub fn len(&self) -> usize {
        self.positive.len() + self.negative.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> (usize, usize) {
        (self.positive.capacity(), self.negative.capacity())
    }
}

fn fresh_until(now_ms: u64, ttl_secs: u64) -> u64 {
    now_ms.saturating_add(ttl_secs.saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_key::record::sample_record;

    fn h(i: usize) -> String {
        format!("{i:064x}")
    }

    #[test]
    fn positive_entries_expire_after_their_ttl() {
        let mut c = ApiKeyCache::new(100);
        c.insert_found(&h(1), sample_record(), 10_000, 30);
        assert_eq!(
            c.get(&h(1), 10_000),
            Some(CachedLookup::Found(sample_record()))
        );
        assert!(c.get(&h(1), 39_999).is_some());
        assert_eq!(c.get(&h(1), 40_000), None);
        assert!(c.is_empty(), "stale entry dropped on lookup");
    }

    #[test]
    fn negative_entries_expire_after_their_ttl() {
        let mut c = ApiKeyCache::new(100);
        c.insert_not_found(&h(2), 0, 5);
        assert_eq!(c.get(&h(2), 4_999), Some(CachedLookup::NotFound));
        assert_eq!(c.get(&h(2), 5_000), None);
    }

    #[test]
    fn zero_ttl_or_zero_capacity_caches_nothing() {
        let mut c = ApiKeyCache::new(100);
        c.insert_found(&h(1), sample_record(), 1_000, 0);
        c.insert_not_found(&h(2), 1_000, 0);
        assert_eq!(c.get(&h(1), 1_000), None);
        assert_eq!(c.get(&h(2), 1_000), None);
        let mut off = ApiKeyCache::new(0);
        off.insert_found(&h(1), sample_record(), 0, 30);
        off.insert_not_found(&h(2), 0, 30);
        assert!(off.is_empty());
    }

    #[test]
    fn found_and_not_found_replace_each_other() {
        let mut c = ApiKeyCache::new(100);
        c.insert_not_found(&h(1), 0, 30);
        c.insert_found(&h(1), sample_record(), 0, 30);
        assert_eq!(c.get(&h(1), 1), Some(CachedLookup::Found(sample_record())));
        c.insert_not_found(&h(1), 0, 30);
        assert_eq!(c.get(&h(1), 1), Some(CachedLookup::NotFound));
        assert_eq!(c.len(), 1);
        c.invalidate(&h(1));
        assert_eq!(c.get(&h(1), 1), None);
    }

    #[test]
    fn capacity_is_a_hard_bound_and_the_oldest_go_first() {
        let mut c = ApiKeyCache::new(40);
        assert_eq!(c.capacity(), (30, 10));
        for i in 0..1000 {
            c.insert_found(&h(i), sample_record(), 0, 300);
            assert!(c.len() <= 40);
        }
        assert_eq!(c.len(), 30);
        assert!(c.get(&h(969), 1).is_none());
        for i in 970..1000 {
            assert!(c.get(&h(i), 1).is_some(), "{i}");
        }
        // Re-inserting refreshes the position: 970 survives the next 29 inserts, 971 does not.
        c.insert_found(&h(970), sample_record(), 0, 300);
        for i in 2000..2029 {
            c.insert_found(&h(i), sample_record(), 0, 300);
        }
        assert!(c.get(&h(970), 1).is_some());
        assert!(c.get(&h(971), 1).is_none());
    }

    #[test]
    fn a_flood_of_unknown_keys_never_evicts_real_ones() {
        let mut c = ApiKeyCache::new(40);
        for i in 0..30 {
            c.insert_found(&h(i), sample_record(), 0, 300);
        }
        for i in 10_000..20_000 {
            c.insert_not_found(&h(i), 0, 300);
        }
        assert_eq!(c.len(), 40);
        for i in 0..30 {
            assert!(
                matches!(c.get(&h(i), 1), Some(CachedLookup::Found(_))),
                "{i}"
            );
        }
        assert_eq!(c.get(&h(19_999), 1), Some(CachedLookup::NotFound));
        assert_eq!(c.get(&h(19_989), 1), None);
    }

    #[test]
    fn the_order_queue_does_not_grow_without_bound() {
        let mut c = ApiKeyCache::new(8);
        for round in 0..10_000u64 {
            // Re-inserting and invalidating the same few hashes leaves stale queue items behind.
            c.insert_found(&h((round % 3) as usize), sample_record(), round, 300);
            c.invalidate(&h(((round + 1) % 3) as usize));
        }
        assert!(c.positive.queued() <= 2 * c.positive.capacity() + 16);
        assert!(c.len() <= 8);
    }
}
