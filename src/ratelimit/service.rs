//! The logic of the rate-limiter Durable Object (one object per identity), free of Workers types:
//! the object in `edge` feeds it request bodies and applies the storage writes it returns.
//!
//! Wire format (JSON, isolate → object):
//! `{"policy": "api", "limit": 100, "period_ms": 60000, "burst": 20, "charge": 0, "refund": 0, "want": 1}`
//! and back: `{"granted": 1, "remaining": 19, "next_ms": 600, "now": 1767225600000}`.
//!
//! The policy's numbers travel with every call, so the object needs no configuration and a
//! reconfigured policy applies at once (a stored TAT is rescaled to the new limit).
//!
//! Storage: one entry per policy, `bucket:<policy>` → `{"tat": "<decimal>", "limit": n, "full_at": ms}`.
//! A bucket that is full again is indistinguishable from a fresh one and is deleted; an alarm at
//! the latest `full_at` clears what is left, so an idle identity's object holds nothing.
//!
//! `exact` calls are written before the object answers. `fast` syncs (`lazy`) are written behind,
//! at most once per `FLUSH_MS` per object: a sync already tolerates a bounded overshoot, and one
//! storage write per second instead of one per sync is what keeps the background path cheap (each
//! write is a storage commit, and a billed write unit). If the object restarts before the flush,
//! at most the last `FLUSH_MS` of `fast` bookings are forgotten (docs/rate-limits.md).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::gcra::{self, Acquire, Grant, Tat};
use super::policy::{valid_name, Rate, MAX_BURST, MAX_LIMIT, MAX_PERIOD_SECS};

pub const BUCKET_PREFIX: &str = "bucket:";
/// Longest a `lazy` booking stays unwritten.
pub const FLUSH_MS: u64 = 1_000;
/// Most units one call may charge, refund or ask for.
pub const MAX_UNITS_PER_CALL: u64 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimiterRequest {
    pub policy: String,
    pub limit: u64,
    pub period_ms: u64,
    pub burst: u64,
    #[serde(default)]
    pub charge: u64,
    #[serde(default)]
    pub refund: u64,
    #[serde(default)]
    pub want: u64,
    /// The booking may be written behind (`fast` syncs).
    #[serde(default)]
    pub lazy: bool,
}

impl LimiterRequest {
    pub fn new(policy: &str, rate: &Rate, acquire: Acquire, lazy: bool) -> Self {
        LimiterRequest {
            policy: policy.to_string(),
            limit: rate.limit,
            period_ms: rate.period_ms,
            burst: rate.burst,
            charge: acquire.charge,
            refund: acquire.refund,
            want: acquire.want,
            lazy,
        }
    }

    fn validate(&self) -> Result<Rate, String> {
        if !valid_name(&self.policy) {
            return Err("policy: invalid name".into());
        }
        if !(1..=MAX_LIMIT).contains(&self.limit) {
            return Err("limit: out of range".into());
        }
        if self.period_ms == 0 || self.period_ms > MAX_PERIOD_SECS * 1000 {
            return Err("period_ms: out of range".into());
        }
        if !(1..=MAX_BURST).contains(&self.burst) {
            return Err("burst: out of range".into());
        }
        if self.charge > MAX_UNITS_PER_CALL
            || self.refund > MAX_UNITS_PER_CALL
            || self.want > MAX_UNITS_PER_CALL
        {
            return Err("charge, refund and want are at most 1000000".into());
        }
        Ok(Rate {
            limit: self.limit,
            period_ms: self.period_ms,
            burst: self.burst,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimiterResponse {
    pub granted: u64,
    pub remaining: u64,
    pub next_ms: u64,
    /// The object's clock when it decided (ms since the epoch).
    pub now: u64,
}

impl LimiterResponse {
    pub fn grant(&self) -> Grant {
        Grant {
            granted: self.granted,
            remaining: self.remaining,
            next_ms: self.next_ms,
        }
    }
}

/// A storage write for the object to apply after answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageWrite {
    Put(String, String),
    Delete(String),
}

/// When a booking reaches storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persist {
    /// Before the answer (`exact`).
    Now(StorageWrite),
    /// At the next flush, within `FLUSH_MS` (`fast`).
    Later,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredBucket {
    tat: String,
    limit: u64,
    full_at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bucket {
    tat: Tat,
    limit: u64,
    full_at: u64,
}

/// One identity's buckets, one per policy.
#[derive(Debug, Default)]
pub struct LimiterService {
    buckets: HashMap<String, Bucket>,
    /// Policies whose bucket changed since it was last written (lazy bookings).
    dirty: std::collections::BTreeSet<String>,
}

impl LimiterService {
    /// Rebuilds the state from storage entries (`bucket:<policy>` → JSON). Unreadable entries are
    /// skipped: a lost bucket is a full one, never a crash.
    pub fn load<I: IntoIterator<Item = (String, String)>>(entries: I) -> Self {
        let mut buckets = HashMap::new();
        for (key, value) in entries {
            let Some(policy) = key.strip_prefix(BUCKET_PREFIX) else {
                continue;
            };
            let Ok(stored) = serde_json::from_str::<StoredBucket>(&value) else {
                continue;
            };
            let Ok(tat) = stored.tat.parse::<u128>() else {
                continue;
            };
            buckets.insert(
                policy.to_string(),
                Bucket {
                    tat,
                    limit: stored.limit,
                    full_at: stored.full_at,
                },
            );
        }
        LimiterService {
            buckets,
            dirty: Default::default(),
        }
    }

    /// Serves one call. `Err` is a malformed request (a gateway bug, never client input).
    pub fn handle(
        &mut self,
        body: &str,
        now_ms: u64,
    ) -> Result<(LimiterResponse, Persist), String> {
        let req: LimiterRequest =
            serde_json::from_str(body).map_err(|e| format!("invalid request: {e}"))?;
        let rate = req.validate()?;
        let current = match self.buckets.get(&req.policy) {
            Some(b) if b.full_at > now_ms => gcra::rescale(b.tat, b.limit, rate.limit),
            _ => 0,
        };
        let (tat, grant) = gcra::acquire(
            &rate,
            current,
            now_ms,
            Acquire {
                charge: req.charge,
                refund: req.refund,
                want: req.want,
            },
        );
        let full_at = gcra::full_at_ms(&rate, tat);
        if full_at <= now_ms {
            self.buckets.remove(&req.policy);
        } else {
            self.buckets.insert(
                req.policy.clone(),
                Bucket {
                    tat,
                    limit: rate.limit,
                    full_at,
                },
            );
        }
        let write = if req.lazy {
            self.dirty.insert(req.policy.clone());
            Persist::Later
        } else {
            self.dirty.remove(&req.policy);
            Persist::Now(self.write_for(&req.policy))
        };
        Ok((
            LimiterResponse {
                granted: grant.granted,
                remaining: grant.remaining,
                next_ms: grant.next_ms,
                now: now_ms,
            },
            write,
        ))
    }

    /// The storage write that brings `policy`'s entry up to date.
    fn write_for(&self, policy: &str) -> StorageWrite {
        let key = format!("{BUCKET_PREFIX}{policy}");
        match self.buckets.get(policy) {
            None => StorageWrite::Delete(key),
            Some(b) => {
                let stored = StoredBucket {
                    tat: b.tat.to_string(),
                    limit: b.limit,
                    full_at: b.full_at,
                };
                StorageWrite::Put(key, serde_json::to_string(&stored).unwrap_or_default())
            }
        }
    }

    /// The writes for every bucket booked lazily since the last flush.
    pub fn flush(&mut self) -> Vec<StorageWrite> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty.iter().map(|p| self.write_for(p)).collect()
    }

    pub fn has_unwritten(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Drops every bucket that is full again; returns the storage keys to delete.
    pub fn prune(&mut self, now_ms: u64) -> Vec<String> {
        let mut gone = Vec::new();
        self.buckets.retain(|policy, b| {
            let keep = b.full_at > now_ms;
            if !keep {
                gone.push(format!("{BUCKET_PREFIX}{policy}"));
            }
            keep
        });
        gone.sort();
        gone
    }

    /// When the alarm should next fire: the latest `full_at` (everything can go then).
    pub fn next_alarm_ms(&self) -> Option<u64> {
        self.buckets.values().map(|b| b.full_at).max()
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_767_225_600_000;

    fn call(
        svc: &mut LimiterService,
        body: serde_json::Value,
        now: u64,
    ) -> (LimiterResponse, StorageWrite) {
        match svc.handle(&body.to_string(), now).unwrap() {
            (r, Persist::Now(w)) => (r, w),
            (_, Persist::Later) => panic!("an exact call is written at once"),
        }
    }

    fn one(policy: &str) -> serde_json::Value {
        json!({"policy": policy, "limit": 3, "period_ms": 60000, "burst": 3, "want": 1})
    }

    #[test]
    fn exact_budget_and_storage() {
        let mut svc = LimiterService::default();
        let mut granted = 0;
        let mut last_write = None;
        for i in 0..10 {
            let (r, w) = call(&mut svc, one("p"), NOW + i);
            granted += r.granted;
            assert_eq!(r.now, NOW + i);
            last_write = Some(w);
        }
        assert_eq!(granted, 3);
        let Some(StorageWrite::Put(key, value)) = last_write else {
            panic!()
        };
        assert_eq!(key, "bucket:p");
        // The stored state reloads to the same decision.
        let mut again = LimiterService::load([(key, value)]);
        assert_eq!(call(&mut again, one("p"), NOW + 10).0.granted, 0);
        assert_eq!(again.next_alarm_ms(), Some(NOW + 60_000));
        assert_eq!(again.prune(NOW + 59_999), Vec::<String>::new());
        assert_eq!(again.prune(NOW + 60_000), vec!["bucket:p".to_string()]);
        assert!(again.is_empty());
    }

    #[test]
    fn lazy_bookings_are_written_at_the_flush() {
        let mut svc = LimiterService::default();
        let fast = json!({"policy": "f", "limit": 3, "period_ms": 60000, "burst": 3, "want": 1, "lazy": true});
        for _ in 0..2 {
            let (r, p) = svc.handle(&fast.to_string(), NOW).unwrap();
            assert_eq!((r.granted, p), (1, Persist::Later));
        }
        assert!(svc.has_unwritten());
        let exact = one("e");
        let (_, p) = svc.handle(&exact.to_string(), NOW).unwrap();
        assert!(matches!(p, Persist::Now(StorageWrite::Put(..))));
        // One write for the two lazy bookings, with the state after both.
        let writes = svc.flush();
        assert!(!svc.has_unwritten());
        assert_eq!(writes.len(), 1);
        let StorageWrite::Put(key, value) = &writes[0] else {
            panic!()
        };
        assert_eq!(key, "bucket:f");
        let mut reloaded = LimiterService::load([(key.clone(), value.clone())]);
        let (r, _) = reloaded.handle(&fast.to_string(), NOW).unwrap();
        assert_eq!((r.granted, r.remaining), (1, 0));
        assert!(svc.flush().is_empty());
        // A lazily booked bucket that is full again by the flush is deleted.
        let refund = json!({"policy": "g", "limit": 3, "period_ms": 60000, "burst": 3, "want": 0, "lazy": true});
        svc.handle(&refund.to_string(), NOW).unwrap();
        assert_eq!(svc.flush(), vec![StorageWrite::Delete("bucket:g".into())]);
    }

    #[test]
    fn policies_are_separate_buckets() {
        let mut svc = LimiterService::default();
        for _ in 0..3 {
            assert_eq!(call(&mut svc, one("a"), NOW).0.granted, 1);
        }
        assert_eq!(call(&mut svc, one("a"), NOW).0.granted, 0);
        assert_eq!(call(&mut svc, one("b"), NOW).0.granted, 1);
        assert_eq!(svc.len(), 2);
    }

    #[test]
    fn a_bucket_full_again_is_deleted() {
        let mut svc = LimiterService::default();
        let (_, w) = call(
            &mut svc,
            json!({"policy": "p", "limit": 3, "period_ms": 60000, "burst": 3, "want": 0}),
            NOW,
        );
        assert_eq!(w, StorageWrite::Delete("bucket:p".into()));
        let (_, w) = call(
            &mut svc,
            json!({"policy": "p", "limit": 3, "period_ms": 60000, "burst": 3, "want": 2}),
            NOW,
        );
        assert!(matches!(w, StorageWrite::Put(..)));
        let (r, w) = call(
            &mut svc,
            json!({"policy": "p", "limit": 3, "period_ms": 60000, "burst": 3, "refund": 2}),
            NOW,
        );
        assert_eq!(
            (r.remaining, w),
            (3, StorageWrite::Delete("bucket:p".into()))
        );
    }

    #[test]
    fn reconfigured_limits_keep_the_instant() {
        let mut svc = LimiterService::default();
        for _ in 0..3 {
            call(&mut svc, one("p"), NOW);
        }
        // Same policy, now 6 per minute: the 60 s of debt stays 60 s (conservative), which at the
        // new rate is the whole bucket; the next unit returns after one new interval (10 s).
        let six = json!({"policy": "p", "limit": 6, "period_ms": 60000, "burst": 6, "want": 10});
        let (r, _) = call(&mut svc, six.clone(), NOW);
        assert_eq!((r.granted, r.next_ms), (0, 10_000));
        assert_eq!(call(&mut svc, six, NOW + 10_000).0.granted, 1);
    }

    #[test]
    fn malformed_requests_are_refused() {
        let mut svc = LimiterService::default();
        for bad in [
            "".to_string(),
            "{}".to_string(),
            json!({"policy": "a b", "limit": 3, "period_ms": 60000, "burst": 3}).to_string(),
            json!({"policy": "p", "limit": 0, "period_ms": 60000, "burst": 3}).to_string(),
            json!({"policy": "p", "limit": 3, "period_ms": 0, "burst": 3}).to_string(),
            json!({"policy": "p", "limit": 3, "period_ms": 60000, "burst": 0}).to_string(),
            json!({"policy": "p", "limit": 3, "period_ms": 60000, "burst": 3, "want": 1_000_001})
                .to_string(),
            json!({"policy": "p", "limit": 3, "period_ms": 60000, "burst": 3, "x": 1}).to_string(),
        ] {
            assert!(svc.handle(&bad, NOW).is_err(), "{bad}");
        }
        assert!(svc.is_empty());
    }

    #[test]
    fn unreadable_storage_is_skipped() {
        let svc = LimiterService::load([
            ("bucket:p".to_string(), "not json".to_string()),
            (
                "bucket:q".to_string(),
                json!({"tat": "x", "limit": 1, "full_at": 1}).to_string(),
            ),
            ("other".to_string(), "{}".to_string()),
        ]);
        assert!(svc.is_empty());
    }
}
