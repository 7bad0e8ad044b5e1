//! The one bounded cache of isolate memory: a map with a hard size cap and a deadline per entry,
//! evicting the oldest-inserted entry first. It serves the verified-token cache (`token_cache`:
//! deadline `exp` + leeway) and the API-key cache (`api_key::cache`: one TTL per answer kind, in two
//! instances so made-up keys never evict real ones).
//!
//! Oldest-inserted, not least-recently-used: a hit touches nothing (no queue move on the hot path),
//! and the deadlines are short, so an entry in use is re-inserted soon after it expires anyway.
//!
//! The JWKS cache (`jwks_cache`) is deliberately not one of these: it holds one key set per
//! configured issuer (so its size is bounded by the configuration, not by traffic), keeps a set past
//! its freshness for stale-if-error, and carries per-issuer fetch state (cooldown, in-flight marker).

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

struct Slot<V> {
    value: V,
    fresh_until_ms: u64,
    generation: u64,
}

/// A map with a hard size cap and per-entry deadlines. The queue records insertion order; entries
/// replaced or removed leave stale queue items (recognised by generation) that are skipped on
/// eviction and swept when they outnumber live ones.
pub(crate) struct BoundedCache<K, V> {
    cap: usize,
    map: HashMap<K, Slot<V>>,
    order: VecDeque<(K, u64)>,
    next_generation: u64,
}

impl<K: Hash + Eq + Clone, V> BoundedCache<K, V> {
    /// At most `cap` entries; 0 caches nothing.
    pub(crate) fn new(cap: usize) -> Self {
        BoundedCache {
            cap,
            map: HashMap::new(),
            order: VecDeque::new(),
            next_generation: 0,
        }
    }

    /// The entry for `key` while `now_ms` is before its deadline; a stale entry is dropped.
    pub(crate) fn get<Q>(&mut self, key: &Q, now_ms: u64) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let fresh = self.map.get(key)?.fresh_until_ms > now_ms;
        if !fresh {
            self.map.remove(key);
            return None;
        }
        self.map.get(key).map(|slot| &slot.value)
    }

    /// Inserts (or replaces, as the newest entry) `key` until `fresh_until_ms` (exclusive),
    /// evicting the oldest-inserted entries first when full.
    pub(crate) fn insert(&mut self, key: K, value: V, fresh_until_ms: u64) {
        if self.cap == 0 {
            return;
        }
        self.map.remove(&key);
        while self.map.len() >= self.cap {
            let Some((oldest, generation)) = self.order.pop_front() else {
                break;
            };
            if self
                .map
                .get(&oldest)
                .is_some_and(|s| s.generation == generation)
            {
                self.map.remove(&oldest);
            }
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        self.map.insert(
            key.clone(),
            Slot {
                value,
                fresh_until_ms,
                generation,
            },
        );
        self.order.push_back((key, generation));
        if self.order.len() > 2 * self.cap + 16 {
            let map = &self.map;
            self.order
                .retain(|(k, g)| map.get(k).is_some_and(|s| s.generation == *g));
        }
    }

    pub(crate) fn remove<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove(key);
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    /// Queue items, stale ones included (tests check the queue stays bounded).
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.order.len()
    }
}
