//! `fast` mode: the isolate decides locally from a leased share of the identity's budget.
//!
//! Per (policy, identity) an isolate keeps a `LeaseState`:
//! - `units` leased from the identity's Durable Object (already booked there), usable until the
//!   lease expires; unused units are handed back (`refund`) at the next sync;
//! - `debt`: requests admitted on credit because no leased unit was at hand (the first request of
//!   an identity in this isolate, or a lease that ran dry before the background sync returned).
//!   Credit not yet booked by the Durable Object — owed, or travelling in a sync — never exceeds
//!   `policy.lease`; the sync books it unconditionally (`charge`), so an overshoot is paid back by
//!   a correspondingly longer wait afterwards;
//! - `blocked_until_ms`: the Durable Object said the budget is spent until then; requests are
//!   refused locally, with no round trip, until that instant.
//!
//! A sync asks for a fresh lease when the lease falls to half; it runs in the background
//! (`waitUntil`) of the request that triggered it. Only when the isolate has neither units nor
//! credit left does a request ask the Durable Object inline (`AskFirst`).
//!
//! Worst-case overshoot per identity: each isolate serving it can admit at most `policy.lease`
//! requests beyond what the Durable Object granted, before the next sync settles them. With `I`
//! isolates, `I × lease` (see docs/rate-limits.md for the measured figure).

use std::collections::HashMap;

use super::gcra::Grant;
use super::policy::Policy;

/// A sync older than this is presumed lost; another may start.
pub const SYNC_TIMEOUT_MS: u64 = 5_000;
/// After a failed sync, background syncs pause this long.
pub const FAILURE_BACKOFF_MS: u64 = 500;
/// Isolate memory bound: leases kept per isolate.
pub const MAX_LEASES: usize = 10_000;
/// A lease state unused this long is dropped first when the table is full.
pub const IDLE_MS: u64 = 60_000;

/// One sync with the Durable Object: book `charge`, hand back `refund`, ask for `want` more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncRequest {
    pub charge: u64,
    pub refund: u64,
    pub want: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Serve. When `sync` is set, settle with the Durable Object in the background.
    Admit {
        sync: Option<SyncRequest>,
        remaining: u64,
        reset_secs: u64,
    },
    /// Over the limit, known locally.
    Deny { retry_after_ms: u64 },
    /// Nothing leased and no credit left: ask the Durable Object now, then `settle_ask`.
    AskFirst(SyncRequest),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AskOutcome {
    Admit { remaining: u64, reset_secs: u64 },
    Deny { retry_after_ms: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseState {
    units: u64,
    expires_ms: u64,
    debt: u64,
    /// Credit carried by syncs still out.
    credit_in_flight: u64,
    /// Units asked for by syncs still out: concurrent asks share one lease rather than each
    /// taking a whole one (which would strand units in this isolate).
    want_in_flight: u64,
    refund: u64,
    syncs_in_flight: u32,
    last_sync_started_ms: u64,
    last_failure_ms: Option<u64>,
    blocked_until_ms: u64,
    remaining_hint: u64,
    next_at_ms: u64,
    last_used_ms: u64,
}

impl LeaseState {
    pub fn new(policy: &Policy) -> Self {
        LeaseState {
            units: 0,
            expires_ms: 0,
            debt: 0,
            credit_in_flight: 0,
            want_in_flight: 0,
            refund: 0,
            syncs_in_flight: 0,
            last_sync_started_ms: 0,
            last_failure_ms: None,
            blocked_until_ms: 0,
            remaining_hint: policy.rate.burst,
            next_at_ms: 0,
            last_used_ms: 0,
        }
    }

    /// Decides one request at `now`.
    pub fn decide(&mut self, policy: &Policy, now: u64) -> Decision {
        self.last_used_ms = now;
        self.expire(now);
        if self.syncs_in_flight > 0
            && now.saturating_sub(self.last_sync_started_ms) >= SYNC_TIMEOUT_MS
        {
            // Lost (the runtime dropped it, or the object never answered): what it carried is
            // forgiven rather than blocking credit forever; at most one lease per timeout.
            self.syncs_in_flight = 0;
            self.credit_in_flight = 0;
            self.want_in_flight = 0;
        }
        if self.units > 0 {
            self.units -= 1;
            let low = self.units.saturating_mul(2) <= policy.lease;
            let sync = (low && self.may_sync(now)).then(|| self.begin_sync(policy, now));
            return Decision::Admit {
                sync,
                remaining: self.estimate_remaining(),
                reset_secs: self.reset_secs(policy, now),
            };
        }
        if now < self.blocked_until_ms {
            return Decision::Deny {
                retry_after_ms: self.blocked_until_ms - now,
            };
        }
        if self.debt + self.credit_in_flight < policy.lease {
            self.debt += 1;
            let sync = self.may_sync(now).then(|| self.begin_sync(policy, now));
            return Decision::Admit {
                sync,
                remaining: self.estimate_remaining(),
                reset_secs: self.reset_secs(policy, now),
            };
        }
        Decision::AskFirst(self.begin_sync(policy, now))
    }

    /// The background sync `sent` came back with `grant`, as of the Durable Object's clock `at`.
    pub fn settle(&mut self, policy: &Policy, sent: &SyncRequest, grant: &Grant, at: u64) {
        self.syncs_in_flight = self.syncs_in_flight.saturating_sub(1);
        self.credit_in_flight = self.credit_in_flight.saturating_sub(sent.charge);
        self.want_in_flight = self.want_in_flight.saturating_sub(sent.want);
        self.last_failure_ms = None;
        let granted = granted_within_ask(sent, grant);
        if granted > 0 {
            self.units = self.units.saturating_add(granted);
            self.expires_ms = at.saturating_add(policy.lease_ttl_ms);
        }
        self.note_state(policy, sent, grant, at);
    }

    /// The inline sync `sent` of an `AskFirst` came back: the asking request takes the first
    /// granted unit; the rest joins the lease.
    pub fn settle_ask(
        &mut self,
        policy: &Policy,
        sent: &SyncRequest,
        grant: &Grant,
        at: u64,
    ) -> AskOutcome {
        self.syncs_in_flight = self.syncs_in_flight.saturating_sub(1);
        self.credit_in_flight = self.credit_in_flight.saturating_sub(sent.charge);
        self.want_in_flight = self.want_in_flight.saturating_sub(sent.want);
        self.last_failure_ms = None;
        self.note_state(policy, sent, grant, at);
        let granted = granted_within_ask(sent, grant);
        if granted == 0 {
            return AskOutcome::Deny {
                retry_after_ms: grant.next_ms.max(1),
            };
        }
        if granted > 1 {
            self.units = self.units.saturating_add(granted - 1);
            self.expires_ms = at.saturating_add(policy.lease_ttl_ms);
        }
        AskOutcome::Admit {
            remaining: self.estimate_remaining(),
            reset_secs: self.reset_secs(policy, at),
        }
    }

    /// A sync failed: what it carried is owed again, and background syncs back off.
    pub fn fail(&mut self, sent: &SyncRequest, now: u64) {
        self.syncs_in_flight = self.syncs_in_flight.saturating_sub(1);
        self.credit_in_flight = self.credit_in_flight.saturating_sub(sent.charge);
        self.want_in_flight = self.want_in_flight.saturating_sub(sent.want);
        self.debt += sent.charge;
        self.refund += sent.refund;
        self.last_failure_ms = Some(now);
    }

    pub fn idle(&self) -> bool {
        self.syncs_in_flight == 0 && self.debt == 0 && self.credit_in_flight == 0
    }

    fn note_state(&mut self, policy: &Policy, sent: &SyncRequest, grant: &Grant, at: u64) {
        // The bucket never holds more than `burst`; a larger hint is not believed.
        self.remaining_hint = grant.remaining.min(policy.rate.burst);
        self.next_at_ms = at.saturating_add(grant.next_ms);
        if grant.granted < sent.want {
            self.blocked_until_ms = at.saturating_add(grant.next_ms.max(1));
        } else {
            self.blocked_until_ms = 0;
        }
    }

    fn expire(&mut self, now: u64) {
        if self.units > 0 && now >= self.expires_ms {
            self.refund += self.units;
            self.units = 0;
        }
    }

    fn may_sync(&self, now: u64) -> bool {
        let none_running = self.syncs_in_flight == 0
            || now.saturating_sub(self.last_sync_started_ms) >= SYNC_TIMEOUT_MS;
        let backed_off = self
            .last_failure_ms
            .is_none_or(|f| now.saturating_sub(f) >= FAILURE_BACKOFF_MS);
        none_running && backed_off
    }

    fn begin_sync(&mut self, policy: &Policy, now: u64) -> SyncRequest {
        let sent = SyncRequest {
            charge: self.debt,
            refund: self.refund,
            want: policy
                .lease
                .saturating_sub(self.units + self.want_in_flight)
                .max(1),
        };
        self.credit_in_flight += self.debt;
        self.want_in_flight += sent.want;
        self.debt = 0;
        self.refund = 0;
        self.syncs_in_flight += 1;
        self.last_sync_started_ms = now;
        sent
    }

    fn estimate_remaining(&self) -> u64 {
        (self.units.saturating_add(self.remaining_hint))
            .saturating_sub(self.debt.saturating_add(self.credit_in_flight))
    }

    fn reset_secs(&self, policy: &Policy, now: u64) -> u64 {
        let ms = if self.next_at_ms > now {
            self.next_at_ms - now
        } else {
            policy.rate.period_ms.div_ceil(policy.rate.limit)
        };
        ms.div_ceil(1000).max(1)
    }
}

/// What an answer adds to the lease: never more than the sync asked for. The object grants at
/// most `want` (`gcra::acquire`); an answer claiming more is out of contract (a corrupt or
/// foreign reply) and must not turn into a lease of unbounded size.
fn granted_within_ask(sent: &SyncRequest, grant: &Grant) -> u64 {
    grant.granted.min(sent.want)
}

/// The isolate's lease states, bounded.
#[derive(Debug, Default)]
pub struct LeaseTable {
    states: HashMap<String, LeaseState>,
}

impl LeaseTable {
    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut LeaseState> {
        self.states.get_mut(key)
    }

    /// The state for `key`, created when missing. When the table is full, idle states are dropped
    /// first, then the least recently used half.
    pub fn entry(&mut self, key: &str, policy: &Policy, now: u64) -> &mut LeaseState {
        if !self.states.contains_key(key) {
            if self.states.len() >= MAX_LEASES {
                self.evict(now);
            }
            self.states.insert(key.to_string(), LeaseState::new(policy));
        }
        // Present: inserted just above when it was missing.
        self.states
            .entry(key.to_string())
            .or_insert_with(|| LeaseState::new(policy))
    }

    fn evict(&mut self, now: u64) {
        self.states
            .retain(|_, s| !(s.idle() && now.saturating_sub(s.last_used_ms) >= IDLE_MS));
        if self.states.len() >= MAX_LEASES {
            let mut ages: Vec<u64> = self.states.values().map(|s| s.last_used_ms).collect();
            ages.sort_unstable();
            let cutoff = ages[ages.len() / 2];
            self.states.retain(|_, s| s.last_used_ms > cutoff);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::gcra::{acquire, Acquire, Tat};
    use crate::ratelimit::policy::{parse_policy, Policy};
    use serde_json::json;

    const NOW: u64 = 1_767_225_600_000;

    fn fast(rate: &str, lease: u64) -> Policy {
        parse_policy(
            "p",
            &json!({"rate": rate, "mode": "fast", "lease": lease, "lease_ttl_ms": 1000}),
        )
        .unwrap()
    }

    /// The identity's Durable Object, reduced to its bucket.
    struct Object {
        tat: Tat,
        booked: u64,
    }

    impl Object {
        fn sync(&mut self, p: &Policy, s: &SyncRequest, now: u64) -> Grant {
            let (tat, g) = acquire(
                &p.rate,
                self.tat,
                now,
                Acquire {
                    charge: s.charge,
                    refund: s.refund,
                    want: s.want,
                },
            );
            self.tat = tat;
            self.booked += s.charge + g.granted;
            g
        }
    }

    #[test]
    fn first_request_is_on_credit_and_syncs_in_background() {
        let p = fast("10 per 60 s", 2);
        let mut s = LeaseState::new(&p);
        let d = s.decide(&p, NOW);
        assert_eq!(
            d,
            Decision::Admit {
                sync: Some(SyncRequest {
                    charge: 1,
                    refund: 0,
                    want: 2
                }),
                remaining: 9,
                reset_secs: 6
            }
        );
        // Second request while the sync is out: credit, no second sync.
        assert!(matches!(
            s.decide(&p, NOW + 1),
            Decision::Admit { sync: None, .. }
        ));
        // Credit (lease = 2) used up: ask inline, carrying the new debt, for one unit (the
        // background sync already asks for a whole lease).
        assert_eq!(
            s.decide(&p, NOW + 2),
            Decision::AskFirst(SyncRequest {
                charge: 1,
                refund: 0,
                want: 1
            })
        );
    }

    #[test]
    fn leased_units_are_spent_locally_and_refilled_at_half() {
        let p = fast("100 per 60 s", 10);
        let mut obj = Object { tat: 0, booked: 0 };
        let mut s = LeaseState::new(&p);
        let Decision::Admit {
            sync: Some(req), ..
        } = s.decide(&p, NOW)
        else {
            panic!()
        };
        let g = obj.sync(&p, &req, NOW + 5);
        s.settle(&p, &req, &g, NOW + 5);
        assert_eq!(g.granted, 10);
        // 10 units at hand: the first 5 need no sync, the 5th leaves 5 = half and triggers one.
        for i in 0..4 {
            assert!(
                matches!(
                    s.decide(&p, NOW + 10 + i),
                    Decision::Admit { sync: None, .. }
                ),
                "{i}"
            );
        }
        let Decision::Admit {
            sync: Some(req),
            remaining,
            ..
        } = s.decide(&p, NOW + 20)
        else {
            panic!()
        };
        assert_eq!(
            req,
            SyncRequest {
                charge: 0,
                refund: 0,
                want: 5
            }
        );
        assert_eq!(remaining, 5 + 89);
    }

    #[test]
    fn a_spent_budget_is_refused_locally_until_the_object_says() {
        let p = fast("3 per 60 s", 1);
        let mut obj = Object { tat: 0, booked: 0 };
        let mut s = LeaseState::new(&p);
        let mut admitted = 0;
        let mut now = NOW;
        for _ in 0..20 {
            now += 1;
            match s.decide(&p, now) {
                Decision::Admit { sync, .. } => {
                    admitted += 1;
                    if let Some(req) = sync {
                        let g = obj.sync(&p, &req, now);
                        s.settle(&p, &req, &g, now);
                    }
                }
                Decision::AskFirst(req) => {
                    let g = obj.sync(&p, &req, now);
                    if let AskOutcome::Admit { .. } = s.settle_ask(&p, &req, &g, now) {
                        admitted += 1;
                    }
                }
                Decision::Deny { retry_after_ms } => {
                    assert!(retry_after_ms <= 20_000);
                }
            }
        }
        assert_eq!(
            admitted, 3,
            "syncs that complete at once leave no overshoot"
        );
        assert_eq!(obj.booked, 3);
        assert!(matches!(s.decide(&p, now + 1), Decision::Deny { .. }));
    }

    /// The documented bound: with syncs that never come back in time, one isolate admits at most
    /// `lease` requests beyond what the object granted.
    #[test]
    fn overshoot_per_isolate_is_at_most_the_lease() {
        for (rate, lease) in [
            ("10 per 60 s", 1),
            ("10 per 60 s", 3),
            ("100 per 60 s, burst 20", 2),
            ("50 per 1 s", 5),
        ] {
            let p = fast(rate, lease);
            let mut obj = Object { tat: 0, booked: 0 };
            let mut s = LeaseState::new(&p);
            let mut admitted = 0u64;
            let mut pending: Vec<SyncRequest> = Vec::new();
            for i in 0..500u64 {
                let now = NOW + i / 50; // 500 requests within 10 ms
                match s.decide(&p, now) {
                    Decision::Admit { sync, .. } => {
                        admitted += 1;
                        pending.extend(sync);
                    }
                    Decision::AskFirst(req) => {
                        let g = obj.sync(&p, &req, now);
                        if let AskOutcome::Admit { .. } = s.settle_ask(&p, &req, &g, now) {
                            admitted += 1;
                        }
                    }
                    Decision::Deny { .. } => {}
                }
            }
            // Background syncs that never came back: their charges are what was admitted on credit.
            let owed: u64 = pending.iter().map(|r| r.charge).sum();
            let granted_by_object = obj.booked;
            assert!(admitted <= p.rate.burst + lease, "{rate}: {admitted}");
            assert!(admitted >= p.rate.burst, "{rate}: {admitted}");
            assert_eq!(
                admitted + s.units,
                granted_by_object + owed + s.debt,
                "{rate}: every admission accounted"
            );
        }
    }

    #[test]
    fn two_isolates_overshoot_at_most_twice_the_lease() {
        let p = fast("20 per 60 s", 2);
        let mut obj = Object { tat: 0, booked: 0 };
        let mut isolates = [LeaseState::new(&p), LeaseState::new(&p)];
        let mut admitted = 0;
        // Background syncs complete one step later, interleaved between the isolates.
        let mut inbox: Vec<(usize, SyncRequest)> = Vec::new();
        for step in 0..400u64 {
            let now = NOW + step;
            for (i, req) in std::mem::take(&mut inbox) {
                let g = obj.sync(&p, &req, now);
                isolates[i].settle(&p, &req, &g, now);
            }
            let i = (step % 2) as usize;
            match isolates[i].decide(&p, now) {
                Decision::Admit { sync, .. } => {
                    admitted += 1;
                    if let Some(r) = sync {
                        inbox.push((i, r));
                    }
                }
                Decision::AskFirst(req) => {
                    let g = obj.sync(&p, &req, now);
                    if let AskOutcome::Admit { .. } = isolates[i].settle_ask(&p, &req, &g, now) {
                        admitted += 1;
                    }
                }
                Decision::Deny { .. } => {}
            }
        }
        assert!(admitted <= 20 + 2 * 2, "{admitted}");
        assert!(admitted >= 20, "{admitted}");
    }

    #[test]
    fn concurrent_asks_share_one_lease() {
        let p = fast("100 per 60 s", 10);
        let mut s = LeaseState::new(&p);
        // Credit, then credit exhausted while the first sync is out: inline asks.
        let mut asks = Vec::new();
        for i in 0..30 {
            if let Decision::AskFirst(req) = s.decide(&p, NOW + i) {
                asks.push(req);
            }
        }
        // The first ask takes what the background sync does not cover, later ones one each.
        assert_eq!(
            asks[0].want, 1,
            "the background sync already asks for the whole lease"
        );
        assert!(asks.iter().all(|a| a.want == 1));
        let mut s = LeaseState::new(&p);
        let Decision::Admit { sync: Some(bg), .. } = s.decide(&p, NOW) else {
            panic!()
        };
        s.fail(&bg, NOW);
        for i in 1..10 {
            s.decide(&p, NOW + i);
        }
        let Decision::AskFirst(first) = s.decide(&p, NOW + 10) else {
            panic!()
        };
        assert_eq!(first.want, 10, "nothing else out: a whole lease");
        let Decision::AskFirst(second) = s.decide(&p, NOW + 11) else {
            panic!()
        };
        assert_eq!(second.want, 1);
        s.settle_ask(
            &p,
            &first,
            &Grant {
                granted: 10,
                remaining: 80,
                next_ms: 600,
            },
            NOW + 12,
        );
        s.settle_ask(
            &p,
            &second,
            &Grant {
                granted: 1,
                remaining: 79,
                next_ms: 600,
            },
            NOW + 12,
        );
        assert_eq!(s.units, 9);
        assert_eq!(s.want_in_flight, 0);
    }

    #[test]
    fn expired_leases_are_refunded_at_the_next_sync() {
        let p = fast("100 per 60 s", 10);
        let mut s = LeaseState::new(&p);
        let Decision::Admit {
            sync: Some(req), ..
        } = s.decide(&p, NOW)
        else {
            panic!()
        };
        s.settle(
            &p,
            &req,
            &Grant {
                granted: 10,
                remaining: 89,
                next_ms: 600,
            },
            NOW,
        );
        // After the TTL (1 s) the 10 units are void; the request is on credit and hands them back.
        let d = s.decide(&p, NOW + 1_000);
        assert_eq!(
            d,
            Decision::Admit {
                sync: Some(SyncRequest {
                    charge: 1,
                    refund: 10,
                    want: 10
                }),
                remaining: 88,
                reset_secs: 1
            }
        );
    }

    #[test]
    fn failures_return_what_was_carried_and_back_off() {
        let p = fast("100 per 60 s", 4);
        let mut s = LeaseState::new(&p);
        let Decision::Admit {
            sync: Some(req), ..
        } = s.decide(&p, NOW)
        else {
            panic!()
        };
        s.fail(&req, NOW + 10);
        // Within the back-off, no new background sync, but credit continues up to the lease.
        assert!(matches!(
            s.decide(&p, NOW + 20),
            Decision::Admit { sync: None, .. }
        ));
        // After it, the next admission syncs again, carrying the old debt too.
        let Decision::Admit {
            sync: Some(req), ..
        } = s.decide(&p, NOW + 10 + FAILURE_BACKOFF_MS)
        else {
            panic!()
        };
        assert_eq!(req.charge, 3);
        s.fail(&req, NOW + 600);
        // Debt of 3 + 1 more = 4 = lease: the next request must ask inline.
        assert!(matches!(s.decide(&p, NOW + 601), Decision::Admit { .. }));
        assert!(matches!(
            s.decide(&p, NOW + 602),
            Decision::AskFirst(SyncRequest { charge: 4, .. })
        ));
    }

    #[test]
    fn a_lost_sync_is_given_up_after_the_timeout() {
        let p = fast("100 per 60 s", 4);
        let mut s = LeaseState::new(&p);
        assert!(matches!(
            s.decide(&p, NOW),
            Decision::Admit { sync: Some(_), .. }
        ));
        assert!(matches!(
            s.decide(&p, NOW + 1),
            Decision::Admit { sync: None, .. }
        ));
        assert!(matches!(
            s.decide(&p, NOW + SYNC_TIMEOUT_MS),
            Decision::Admit { sync: Some(_), .. }
        ));
    }

    #[test]
    fn ask_outcomes() {
        let p = fast("100 per 60 s", 4);
        let mut s = LeaseState::new(&p);
        let req = SyncRequest {
            charge: 4,
            refund: 0,
            want: 4,
        };
        assert_eq!(
            s.settle_ask(
                &p,
                &req,
                &Grant {
                    granted: 0,
                    remaining: 0,
                    next_ms: 1500
                },
                NOW
            ),
            AskOutcome::Deny {
                retry_after_ms: 1500
            }
        );
        assert!(matches!(
            s.decide(&p, NOW + 1499),
            Decision::Deny { retry_after_ms: 1 }
        ));
        let out = s.settle_ask(
            &p,
            &req,
            &Grant {
                granted: 3,
                remaining: 0,
                next_ms: 2500,
            },
            NOW + 1500,
        );
        assert_eq!(
            out,
            AskOutcome::Admit {
                remaining: 2,
                reset_secs: 3
            }
        );
        assert!(matches!(s.decide(&p, NOW + 1501), Decision::Admit { .. }));
        assert!(matches!(s.decide(&p, NOW + 1502), Decision::Admit { .. }));
        assert!(matches!(s.decide(&p, NOW + 1503), Decision::Deny { .. }));
    }

    #[test]
    fn the_table_is_bounded() {
        let p = fast("100 per 60 s", 4);
        let mut t = LeaseTable::default();
        for i in 0..MAX_LEASES as u64 {
            t.entry(&format!("k{i}"), &p, NOW + i).decide(&p, NOW + i);
        }
        assert_eq!(t.len(), MAX_LEASES);
        t.entry("new", &p, NOW + MAX_LEASES as u64);
        assert!(t.len() <= MAX_LEASES / 2 + 1, "{}", t.len());
        assert!(t.get_mut("new").is_some());
        assert!(
            t.get_mut(&format!("k{}", MAX_LEASES - 1)).is_some(),
            "recent ones stay"
        );
    }

    /// Regression (found by tests/properties_inputs.rs): whatever an answer says, a lease grows
    /// by at most what the sync asked for and no arithmetic overflows.
    #[test]
    fn out_of_contract_answers_cannot_overflow_or_inflate_the_lease() {
        let p = fast("100 per 60 s, burst 20", 10);
        for ask in [false, true] {
            let mut s = LeaseState::new(&p);
            let sent = SyncRequest {
                charge: 0,
                refund: 0,
                want: 10,
            };
            s.syncs_in_flight = 1;
            let grant = Grant {
                granted: u64::MAX,
                remaining: u64::MAX,
                next_ms: u64::MAX,
            };
            if ask {
                let _ = s.settle_ask(&p, &sent, &grant, u64::MAX);
            } else {
                s.settle(&p, &sent, &grant, u64::MAX);
            }
            assert!(s.units <= sent.want);
            assert!(s.remaining_hint <= p.rate.burst);
            for _ in 0..3 {
                let _ = s.decide(&p, 1_000);
            }
        }
    }
}
