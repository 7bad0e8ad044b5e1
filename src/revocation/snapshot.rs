//! Each isolate's copy of the revocation state, and when to refresh it: a pure state machine.
//!
//! | snapshot age                        | the request                                             |
//! |-------------------------------------|---------------------------------------------------------|
//! | `< refresh_interval_ms`             | decided from memory (`Fresh`)                            |
//! | `< max_staleness_ms`                | decided from memory; one background refresh (`Stale`)    |
//! | none, or `≥ max_staleness_ms`       | refreshes inline first (`Expired`); fails closed if the object cannot be reached |
//!
//! The age of a snapshot is measured from the moment its fetch was *sent*: the object answered
//! later than that, so the snapshot is at least that fresh. A background refresh runs in the
//! `waitUntil` of the request that started it and only writes isolate memory when it completes;
//! other requests never wait on it (workerd refuses cross-request I/O).

use super::set::{RevocationSet, Snapshot};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshSettings {
    pub refresh_interval_ms: u64,
    pub max_staleness_ms: u64,
}

/// A background refresh older than this is presumed lost; another may start.
pub const REFRESH_TIMEOUT_MS: u64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    Stale,
    Expired,
}

#[derive(Debug, Default)]
pub struct SnapshotCache {
    pub set: RevocationSet,
    fetched_at_ms: Option<u64>,
    refresh_started_ms: Option<u64>,
    last_failure_ms: Option<u64>,
    /// Why the last background refresh failed, for the next request to log.
    last_error: Option<String>,
    /// The location tier, when deltas are shared through the location's cache.
    location: Option<crate::location_cache::LocationTier>,
}

impl SnapshotCache {
    /// Refreshes read the location's copy of the delta first (`location_cache.revocation`).
    pub(crate) fn share_through(&mut self, tier: crate::location_cache::LocationTier) {
        self.location = Some(tier);
    }

    pub(crate) fn location(&self) -> Option<&crate::location_cache::LocationTier> {
        self.location.as_ref()
    }

    /// When the source of this snapshot was asked (ms), if it has been fetched.
    pub fn fetched_at_ms(&self) -> Option<u64> {
        self.fetched_at_ms
    }

    pub fn age_ms(&self, now: u64) -> Option<u64> {
        self.fetched_at_ms.map(|f| now.saturating_sub(f))
    }

    pub fn freshness(&self, s: &RefreshSettings, now: u64) -> Freshness {
        match self.age_ms(now) {
            None => Freshness::Expired,
            Some(age) if age >= s.max_staleness_ms => Freshness::Expired,
            Some(age) if age >= s.refresh_interval_ms => Freshness::Stale,
            Some(_) => Freshness::Fresh,
        }
    }

    /// A stale snapshot with no refresh running (and none failed within a quarter interval) is
    /// refreshed in the background by the request that notices.
    pub fn wants_background_refresh(&self, s: &RefreshSettings, now: u64) -> bool {
        if self.freshness(s, now) != Freshness::Stale {
            return false;
        }
        let running = self.refresh_running(now);
        let backing_off = self
            .last_failure_ms
            .is_some_and(|t| now.saturating_sub(t) < s.refresh_interval_ms / 4);
        !running && !backing_off
    }

    pub fn refresh_running(&self, now: u64) -> bool {
        self.refresh_started_ms
            .is_some_and(|t| now.saturating_sub(t) < REFRESH_TIMEOUT_MS)
    }

    /// Marks a background refresh as running; returns the version to ask a delta from.
    pub fn begin_background(&mut self, now: u64) -> u64 {
        self.refresh_started_ms = Some(now);
        self.since()
    }

    /// The version to ask a delta from (0: the full list).
    pub fn since(&self) -> u64 {
        if self.fetched_at_ms.is_some() {
            self.set.version
        } else {
            0
        }
    }

    /// A fetch sent at `started_ms` asking `since` came back with `body`.
    pub fn complete(&mut self, started_ms: u64, since: u64, body: &str) -> Result<(), String> {
        self.refresh_started_ms = None;
        let snap: Snapshot = match serde_json::from_str(body) {
            Ok(s) => s,
            Err(e) => {
                let why = format!("unreadable snapshot: {e}");
                self.fail(started_ms, why.clone());
                return Err(why);
            }
        };
        // A full list answering an older request can arrive after a newer one: never go back.
        // (A full list answering a delta request means the object was reset: take it.)
        let stale_full = snap.full && since == 0 && snap.version < self.set.version;
        if !stale_full {
            self.set.apply(snap);
        }
        self.set.prune(started_ms / 1000);
        self.fetched_at_ms = Some(self.fetched_at_ms.map_or(started_ms, |f| f.max(started_ms)));
        self.last_failure_ms = None;
        Ok(())
    }

    pub fn fail(&mut self, now: u64, why: String) {
        self.refresh_started_ms = None;
        self.last_failure_ms = Some(now);
        self.last_error = Some(why);
    }

    pub fn take_last_error(&mut self) -> Option<String> {
        self.last_error.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::revocation::set::{CredentialFacts, Revoked, TokenEntry};

    const NOW: u64 = 1_767_225_600_000;
    const S: RefreshSettings = RefreshSettings {
        refresh_interval_ms: 1_000,
        max_staleness_ms: 5_000,
    };

    fn snap(version: u64, full: bool, jtis: &[(&str, u64)]) -> String {
        serde_json::to_string(&Snapshot {
            version,
            full,
            tokens: jtis
                .iter()
                .map(|(j, v)| TokenEntry {
                    jti: (*j).into(),
                    iss: None,
                    until: NOW / 1000 + 600,
                    v: *v,
                })
                .collect(),
            ..Default::default()
        })
        .unwrap()
    }

    fn revoked(c: &SnapshotCache, jti: &str) -> bool {
        let facts = CredentialFacts {
            jti: Some(jti),
            ..Default::default()
        };
        c.set.check(&facts, NOW / 1000) == Some(Revoked::Token)
    }

    #[test]
    fn the_state_machine() {
        let mut c = SnapshotCache::default();
        assert_eq!(
            c.freshness(&S, NOW),
            Freshness::Expired,
            "nothing fetched yet"
        );
        assert_eq!(c.since(), 0);
        c.complete(NOW, 0, &snap(2, true, &[("a", 1), ("b", 2)]))
            .unwrap();
        assert!(revoked(&c, "a") && revoked(&c, "b"));
        assert_eq!(c.freshness(&S, NOW + 999), Freshness::Fresh);
        assert!(!c.wants_background_refresh(&S, NOW + 999));
        assert_eq!(c.freshness(&S, NOW + 1_000), Freshness::Stale);
        assert!(c.wants_background_refresh(&S, NOW + 1_000));
        assert_eq!(c.begin_background(NOW + 1_000), 2);
        assert!(
            !c.wants_background_refresh(&S, NOW + 1_001),
            "one refresh at a time"
        );
        c.complete(NOW + 1_000, 2, &snap(3, false, &[("c", 3)]))
            .unwrap();
        assert!(revoked(&c, "a") && revoked(&c, "c"));
        assert_eq!(c.set.version, 3);
        assert_eq!(c.freshness(&S, NOW + 1_999), Freshness::Fresh);
        assert_eq!(c.freshness(&S, NOW + 5_999), Freshness::Stale);
        assert_eq!(
            c.freshness(&S, NOW + 6_000),
            Freshness::Expired,
            "max staleness: refuse to decide from memory"
        );
    }

    #[test]
    fn a_lost_refresh_is_retried_after_the_timeout() {
        let mut c = SnapshotCache::default();
        c.complete(NOW, 0, &snap(1, true, &[])).unwrap();
        c.begin_background(NOW + 1_000);
        assert!(!c.wants_background_refresh(&S, NOW + 1_000 + REFRESH_TIMEOUT_MS - 1));
        // Max staleness passes first with these settings: the request path refreshes inline.
        let long = RefreshSettings {
            refresh_interval_ms: 1_000,
            max_staleness_ms: 60_000,
        };
        assert!(c.wants_background_refresh(&long, NOW + 1_000 + REFRESH_TIMEOUT_MS));
    }

    #[test]
    fn failures_back_off_a_quarter_interval_and_keep_the_snapshot() {
        let mut c = SnapshotCache::default();
        c.complete(NOW, 0, &snap(1, true, &[("a", 1)])).unwrap();
        c.begin_background(NOW + 1_000);
        c.fail(NOW + 1_000, "object unreachable".into());
        assert_eq!(c.take_last_error().as_deref(), Some("object unreachable"));
        assert_eq!(c.take_last_error(), None);
        assert!(!c.wants_background_refresh(&S, NOW + 1_249));
        assert!(c.wants_background_refresh(&S, NOW + 1_250));
        assert!(revoked(&c, "a"), "the last good snapshot still applies");
        assert_eq!(c.freshness(&S, NOW + 4_999), Freshness::Stale);
        assert_eq!(c.freshness(&S, NOW + 5_000), Freshness::Expired);
    }

    #[test]
    fn garbage_is_a_failure() {
        let mut c = SnapshotCache::default();
        assert!(c.complete(NOW, 0, "<html>").is_err());
        assert_eq!(c.freshness(&S, NOW), Freshness::Expired);
        assert!(c
            .take_last_error()
            .unwrap()
            .starts_with("unreadable snapshot"));
    }

    #[test]
    fn out_of_order_answers_never_go_back() {
        let mut c = SnapshotCache::default();
        // Two cold requests both asked for the full list; the newer answer arrives first.
        c.complete(NOW + 10, 0, &snap(2, true, &[("a", 1), ("b", 2)]))
            .unwrap();
        c.complete(NOW, 0, &snap(1, true, &[("a", 1)])).unwrap();
        assert!(revoked(&c, "b"));
        assert_eq!(c.age_ms(NOW + 10), Some(0));
        // The object lost its storage: a full answer to a delta request is taken as is.
        c.complete(NOW + 20, 2, &snap(0, true, &[])).unwrap();
        assert!(!revoked(&c, "a"));
    }

    #[test]
    fn expired_entries_are_pruned_on_refresh() {
        let mut c = SnapshotCache::default();
        let body = serde_json::to_string(&Snapshot {
            version: 1,
            full: true,
            tokens: vec![TokenEntry {
                jti: "a".into(),
                iss: None,
                until: NOW / 1000 + 1,
                v: 1,
            }],
            ..Default::default()
        })
        .unwrap();
        c.complete(NOW, 0, &body).unwrap();
        assert_eq!(c.set.len(), 1);
        c.complete(NOW + 1_000, 1, &snap(1, false, &[])).unwrap();
        assert_eq!(c.set.len(), 0);
    }
}
