//! The logic of one `SessionFamily` Durable Object (one object per session, named by its family
//! id, which is also the session's `sid`), free of Workers types: the class in `edge::session`
//! passes each call in with the time and applies the storage writes that come back, like
//! `revocation::service`.
//!
//! The object decides every rotation alone and synchronously (a Durable Object runs one event at
//! a time and nothing is awaited between reading and writing the family), so two presenters of
//! one token can never both rotate it. It never sees a refresh token's secret: the gateway sends
//! `SHA-256(secret)` of the presented token and, for a rotation, the successor's hash and the
//! successor wrapped under the presented token (`refresh_token::RefreshToken::wrap`).
//!
//! Rotation rules (docs/sessions.md, "Refresh rotation"):
//! - the **current** token → rotated: the successor becomes current, the presented one becomes
//!   **previous** (with the wrapped successor and the rotation time);
//! - the **previous** token within `grace_seconds` of its rotation → **grace**: the same successor
//!   (wrapped; only a holder of the previous token can unwrap it) and a new access token. No new
//!   branch is opened: the family still has exactly one current token;
//! - the previous token after the window, or any earlier token of the family → **reused**: the
//!   family ends (theft is assumed) and the gateway revokes its `sid`;
//! - any other secret → **invalid**, and nothing changes (a guessed or forged token never ends a
//!   family);
//! - a DPoP-bound family (`grant.cnf.jkt`) rotates, or hands out its grace successor, only when the
//!   call names the thumbprint of the key the request's proof was verified with (`proof_jkt`):
//!   another key, or none, is answered **proof refused** and nothing changes, so a bad proof never
//!   costs the client its refresh token and a stolen cookie without the key burns nothing. The
//!   comparison is made here, in the same step as the rotation, so no call can rotate between a
//!   check and its use;
//! - idle (`idle_ttl` since the last use) or past the absolute lifetime → **invalid** (expired).
//!
//! Storage: one key, `family`, holding the whole family as JSON; earlier tokens are remembered by
//! the first 16 bytes of their hash, at most `MAX_USED` of them (older ones are then `invalid`,
//! still refused, but no longer recognised as a replay). An ended family stays as a tombstone
//! until its original expiry, then the alarm deletes everything.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use subtle::ConstantTimeEq;

pub(crate) use crate::ratelimit::service::StorageWrite;

/// The one storage key of a family object.
pub(crate) const FAMILY_KEY: &str = "family";
/// Earlier tokens remembered for replay detection (a rotation every 15 minutes for 10 days).
pub(crate) const MAX_USED: usize = 1024;
/// Characters of a used token's remembered hash prefix (16 bytes, base64url).
const USED_PREFIX_CHARS: usize = 22;
/// Bounds on what a family holds (checked when it starts).
pub(crate) const MAX_SUB_BYTES: usize = 512;
pub(crate) const MAX_SCOPE_BYTES: usize = 4096;
pub(crate) const MAX_AMR: usize = 16;
const MAX_CNF_BYTES: usize = 512;

/// What every access token of the family carries besides its own `jti`, `iat` and `exp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Grant {
    pub sub: String,
    pub scope: String,
    pub amr: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    pub auth_time: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Value>,
}

/// The token just rotated: its hash, its successor (wrapped) and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotated {
    hash: String,
    successor: String,
    at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EndReason {
    Logout,
    Reused,
    Revoked,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ended {
    reason: EndReason,
    at: u64,
}

/// The stored family. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Family {
    sid: String,
    grant: Grant,
    created_at: u64,
    /// Never refreshed after this (the absolute lifetime).
    absolute_expiry: u64,
    idle_ttl: u64,
    grace_seconds: u64,
    last_used: u64,
    rotations: u64,
    current: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous: Option<Rotated>,
    #[serde(default)]
    used: VecDeque<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ended: Option<Ended>,
}

impl Family {
    /// When the family stops being refreshable: idle or absolute, whichever comes first.
    fn expires_at(&self) -> u64 {
        self.last_used
            .saturating_add(self.idle_ttl)
            .min(self.absolute_expiry)
    }

    /// Is `rotated`, presented at `now`, still inside the grace window? A window of 0 is none:
    /// even within the second of the rotation the previous token is a replay.
    fn in_grace(&self, rotated: &Rotated, now: u64) -> bool {
        self.grace_seconds > 0 && now.saturating_sub(rotated.at) <= self.grace_seconds
    }

    /// When the object forgets the family: its expiry, live or ended (an ended family is kept as a
    /// tombstone until then, so its tokens are answered "ended" rather than "unknown").
    fn delete_at(&self) -> u64 {
        self.expires_at()
    }

    fn view(&self) -> SessionView {
        SessionView {
            sid: self.sid.clone(),
            sub: self.grant.sub.clone(),
            scope: self.grant.scope.clone(),
            amr: self.grant.amr.clone(),
            created_at: self.created_at,
            last_used: self.last_used,
            expires_at: self.expires_at(),
            rotations: self.rotations,
            ended: self.ended.as_ref().map(|e| e.reason),
        }
    }
}

/// What the admin API shows of a session: never a token or a hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SessionView {
    pub sid: String,
    pub sub: String,
    pub scope: String,
    pub amr: Vec<String>,
    pub created_at: u64,
    pub last_used: u64,
    pub expires_at: u64,
    pub rotations: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<EndReason>,
}

/// One call to the object (JSON, tagged by `op`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum FamilyCall {
    /// A new session whose first refresh token hashes to `token_hash`.
    Start {
        sid: String,
        grant: Grant,
        token_hash: String,
        idle_ttl: u64,
        absolute_ttl: u64,
        grace_seconds: u64,
    },
    /// Present `token_hash`; if it is current, rotate to `next_hash` (whose token, wrapped under
    /// the presented one, is `next_wrapped`).
    Refresh {
        token_hash: String,
        next_hash: String,
        next_wrapped: String,
        /// The RFC 7638 thumbprint of the key of the request's DPoP proof, already verified by the
        /// gateway (signature, htm, htu, iat, jti); `None` without a proof.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proof_jkt: Option<String>,
    },
    /// End the family on behalf of the holder of `token_hash` (any token the family recognises).
    /// A DPoP-bound family ends only with a proof by its key, as it rotates only with one: a
    /// stolen cookie without the key cannot end the holder's session.
    Logout {
        token_hash: String,
        /// As for `Refresh`: the verified proof key's thumbprint, `None` without a proof.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proof_jkt: Option<String>,
    },
    /// End the family (admin), whoever holds it.
    End { reason: EndReason },
    /// The family as the admin API shows it.
    Show,
}

/// Why a presented token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum InvalidReason {
    /// No such family, or a secret the family never issued.
    Unknown,
    /// Idle or past its absolute lifetime.
    Expired,
    /// Ended earlier (logout, revocation, or a replay).
    Ended,
}

/// Why a refresh of a DPoP-bound family was refused before anything changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ProofRefusal {
    /// The request proved no key.
    Missing,
    /// The request proved a key other than the family's `cnf.jkt`.
    OtherKey,
}

/// The object's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum FamilyAnswer {
    Started {
        expires_at: u64,
    },
    /// The sid is taken (a 128-bit collision: the caller starts again with a new one).
    Exists,
    /// The presented token was current: the caller's successor is now current.
    Rotated {
        grant: Grant,
        created_at: u64,
        expires_at: u64,
    },
    /// The presented token was rotated within the grace window: here is the same successor.
    Grace {
        successor: String,
        grant: Grant,
        created_at: u64,
        expires_at: u64,
    },
    /// An already-rotated token outside the window: the family has just ended.
    Reused {
        sub: String,
        rotations: u64,
    },
    Invalid {
        reason: InvalidReason,
    },
    Ended {
        sub: String,
    },
    Session {
        session: SessionView,
    },
    /// A call the object cannot read (a gateway bug or version skew).
    BadCall {
        error: String,
    },
    /// The family is DPoP-bound and the call did not prove its key: nothing rotated.
    ProofRefused {
        reason: ProofRefusal,
    },
}

/// One family object's state: nothing, or the family.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FamilyService {
    family: Option<Family>,
}

fn eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn used_prefix(hash: &str) -> String {
    hash.chars().take(USED_PREFIX_CHARS).collect()
}

/// Why `proof_jkt` may not refresh a family granted `grant`, if it may not: a bound family needs
/// the proof of its own key (compared in constant time); an unbound one takes any proof or none.
fn proof_refusal(grant: &Grant, proof_jkt: Option<&str>) -> Option<ProofRefusal> {
    let bound = crate::dpop::issuance::bound_jkt(grant.cnf.as_ref())?;
    match proof_jkt {
        None => Some(ProofRefusal::Missing),
        Some(proven) if crate::dpop::proof::same_thumbprint(bound, proven) => None,
        Some(_) => Some(ProofRefusal::OtherKey),
    }
}

fn check_grant(g: &Grant) -> Result<(), String> {
    if g.sub.is_empty() || g.sub.len() > MAX_SUB_BYTES {
        return Err(format!("sub is 1 to {MAX_SUB_BYTES} bytes"));
    }
    if g.scope.len() > MAX_SCOPE_BYTES {
        return Err(format!("scope is at most {MAX_SCOPE_BYTES} bytes"));
    }
    if g.amr.len() > MAX_AMR || g.amr.iter().any(|a| a.is_empty() || a.len() > 64) {
        return Err(format!("amr is at most {MAX_AMR} values of 1 to 64 bytes"));
    }
    if g.acr
        .as_ref()
        .is_some_and(|a| a.is_empty() || a.len() > 256)
    {
        return Err("acr is 1 to 256 bytes".into());
    }
    if g.cnf
        .as_ref()
        .is_some_and(|c| c.to_string().len() > MAX_CNF_BYTES)
    {
        return Err(format!("cnf is at most {MAX_CNF_BYTES} bytes"));
    }
    Ok(())
}

impl FamilyService {
    /// The family from the object's storage (`FAMILY_KEY`). Unreadable storage leaves the object
    /// empty — every token is then `invalid`, which fails closed — and is reported as `false`.
    pub(crate) fn load(entries: impl IntoIterator<Item = (String, String)>) -> (Self, bool) {
        for (k, v) in entries {
            if k == FAMILY_KEY {
                return match serde_json::from_str::<Family>(&v) {
                    Ok(f) => (FamilyService { family: Some(f) }, true),
                    Err(_) => (FamilyService::default(), false),
                };
            }
        }
        (FamilyService::default(), true)
    }

    /// When the alarm must fire (ms): when the family is to be forgotten.
    pub(crate) fn next_alarm_ms(&self) -> Option<u64> {
        self.family
            .as_ref()
            .map(|f| f.delete_at().saturating_mul(1000))
    }

    /// Forgets a family whose time is up. Returns the storage writes (delete everything).
    pub(crate) fn prune(&mut self, now: u64) -> Vec<StorageWrite> {
        match &self.family {
            Some(f) if now >= f.delete_at() => {
                self.family = None;
                vec![StorageWrite::Delete(FAMILY_KEY.into())]
            }
            _ => Vec::new(),
        }
    }

    fn save(&self) -> Vec<StorageWrite> {
        match &self.family {
            Some(f) => vec![StorageWrite::Put(
                FAMILY_KEY.into(),
                serde_json::to_string(f).unwrap_or_default(),
            )],
            None => vec![StorageWrite::Delete(FAMILY_KEY.into())],
        }
    }

    /// One call, as JSON. Returns the answer (JSON) and the writes to apply before answering.
    pub(crate) fn handle_json(&mut self, body: &str, now: u64) -> (String, Vec<StorageWrite>) {
        let (answer, writes) = match serde_json::from_str::<FamilyCall>(body) {
            Ok(call) => self.handle(call, now),
            Err(e) => (
                FamilyAnswer::BadCall {
                    error: e.to_string(),
                },
                Vec::new(),
            ),
        };
        (serde_json::to_string(&answer).unwrap_or_default(), writes)
    }

    pub(crate) fn handle(
        &mut self,
        call: FamilyCall,
        now: u64,
    ) -> (FamilyAnswer, Vec<StorageWrite>) {
        // Whatever the call, a family whose time is up is forgotten first (a refresh of it is
        // then answered `expired`, not `unknown`).
        let was_live = self.family.as_ref().is_some_and(|f| f.ended.is_none());
        let mut writes = self.prune(now);
        let just_expired = was_live && self.family.is_none();
        let answer = match call {
            FamilyCall::Start {
                sid,
                grant,
                token_hash,
                idle_ttl,
                absolute_ttl,
                grace_seconds,
            } => {
                if self.family.is_some() {
                    FamilyAnswer::Exists
                } else if let Err(error) = check_grant(&grant) {
                    FamilyAnswer::BadCall { error }
                } else {
                    let family = Family {
                        sid,
                        grant,
                        created_at: now,
                        absolute_expiry: now.saturating_add(absolute_ttl),
                        idle_ttl,
                        grace_seconds,
                        last_used: now,
                        rotations: 0,
                        current: token_hash,
                        previous: None,
                        used: VecDeque::new(),
                        ended: None,
                    };
                    let expires_at = family.expires_at();
                    self.family = Some(family);
                    writes.extend(self.save());
                    FamilyAnswer::Started { expires_at }
                }
            }
            FamilyCall::Refresh {
                token_hash,
                next_hash,
                next_wrapped,
                proof_jkt,
            } => {
                let answer = if just_expired {
                    FamilyAnswer::Invalid {
                        reason: InvalidReason::Expired,
                    }
                } else {
                    self.refresh(
                        &token_hash,
                        next_hash,
                        next_wrapped,
                        proof_jkt.as_deref(),
                        now,
                    )
                };
                // Only these change the family; a refusal leaves it exactly as it was.
                if matches!(
                    answer,
                    FamilyAnswer::Rotated { .. }
                        | FamilyAnswer::Grace { .. }
                        | FamilyAnswer::Reused { .. }
                ) {
                    writes.extend(self.save());
                }
                answer
            }
            FamilyCall::Logout {
                token_hash,
                proof_jkt,
            } => match self.family.as_mut() {
                Some(f) if f.ended.is_none() && Self::recognises(f, &token_hash) => {
                    match proof_refusal(&f.grant, proof_jkt.as_deref()) {
                        // Refused without a write: the holder's session goes on.
                        Some(reason) => FamilyAnswer::ProofRefused { reason },
                        None => {
                            f.ended = Some(Ended {
                                reason: EndReason::Logout,
                                at: now,
                            });
                            let sub = f.grant.sub.clone();
                            writes.extend(self.save());
                            FamilyAnswer::Ended { sub }
                        }
                    }
                }
                Some(f) if f.ended.is_some() => FamilyAnswer::Invalid {
                    reason: InvalidReason::Ended,
                },
                _ => FamilyAnswer::Invalid {
                    reason: InvalidReason::Unknown,
                },
            },
            FamilyCall::End { reason } => match self.family.as_mut() {
                Some(f) => {
                    let sub = f.grant.sub.clone();
                    if f.ended.is_none() {
                        f.ended = Some(Ended { reason, at: now });
                        writes.extend(self.save());
                    }
                    FamilyAnswer::Ended { sub }
                }
                None => FamilyAnswer::Invalid {
                    reason: InvalidReason::Unknown,
                },
            },
            FamilyCall::Show => match &self.family {
                Some(f) => FamilyAnswer::Session { session: f.view() },
                None => FamilyAnswer::Invalid {
                    reason: InvalidReason::Unknown,
                },
            },
        };
        (answer, writes)
    }

    /// Is `hash` a token this family issued (current, previous or remembered)?
    fn recognises(f: &Family, hash: &str) -> bool {
        eq(&f.current, hash)
            || f.previous.as_ref().is_some_and(|p| eq(&p.hash, hash))
            || Self::was_used(f, hash)
    }

    fn was_used(f: &Family, hash: &str) -> bool {
        let prefix = used_prefix(hash);
        // Every entry is compared, so the time does not tell which one matched.
        f.used.iter().fold(false, |hit, u| hit | eq(u, &prefix))
    }

    fn refresh(
        &mut self,
        presented: &str,
        next_hash: String,
        next_wrapped: String,
        proof_jkt: Option<&str>,
        now: u64,
    ) -> FamilyAnswer {
        let Some(f) = self.family.as_mut() else {
            return FamilyAnswer::Invalid {
                reason: InvalidReason::Unknown,
            };
        };
        if f.ended.is_some() {
            return FamilyAnswer::Invalid {
                reason: InvalidReason::Ended,
            };
        }
        if now >= f.expires_at() {
            return FamilyAnswer::Invalid {
                reason: InvalidReason::Expired,
            };
        }
        // The bound key is asked of the current token and of the grace window's previous one, the
        // two that would hand out a refresh; an earlier token is a replay whoever presents it.
        let hands_out = eq(&f.current, presented)
            || f.previous
                .as_ref()
                .is_some_and(|p| eq(&p.hash, presented) && f.in_grace(p, now));
        if hands_out {
            if let Some(reason) = proof_refusal(&f.grant, proof_jkt) {
                return FamilyAnswer::ProofRefused { reason };
            }
        }
        if eq(&f.current, presented) {
            if let Some(old) = f.previous.take() {
                f.used.push_back(used_prefix(&old.hash));
                while f.used.len() > MAX_USED {
                    f.used.pop_front();
                }
            }
            let presented = std::mem::replace(&mut f.current, next_hash);
            f.previous = Some(Rotated {
                hash: presented,
                successor: next_wrapped,
                at: now,
            });
            f.last_used = now;
            f.rotations += 1;
            return FamilyAnswer::Rotated {
                grant: f.grant.clone(),
                created_at: f.created_at,
                expires_at: f.expires_at(),
            };
        }
        let previous = f.previous.as_ref().filter(|p| eq(&p.hash, presented));
        let replay = match previous {
            Some(p) if f.in_grace(p, now) => {
                let successor = p.successor.clone();
                f.last_used = now;
                return FamilyAnswer::Grace {
                    successor,
                    grant: f.grant.clone(),
                    created_at: f.created_at,
                    expires_at: f.expires_at(),
                };
            }
            Some(_) => true,
            None => Self::was_used(f, presented),
        };
        if replay {
            f.ended = Some(Ended {
                reason: EndReason::Reused,
                at: now,
            });
            // What an ended family keeps: nothing to rotate to, nothing to hand out.
            f.previous = None;
            FamilyAnswer::Reused {
                sub: f.grant.sub.clone(),
                rotations: f.rotations,
            }
        } else {
            FamilyAnswer::Invalid {
                reason: InvalidReason::Unknown,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_767_225_600;

    fn grant() -> Grant {
        Grant {
            sub: "alice".into(),
            scope: "read:echo".into(),
            amr: vec!["pwd".into()],
            acr: None,
            auth_time: NOW,
            cnf: None,
        }
    }

    fn started() -> FamilyService {
        started_with(grant(), 10)
    }

    /// A family started at `NOW` with `grant` and a reuse grace window of `grace_seconds`.
    fn started_with(grant: Grant, grace_seconds: u64) -> FamilyService {
        let mut s = FamilyService::default();
        let (a, w) = s.handle(
            FamilyCall::Start {
                sid: "sid1".into(),
                grant,
                token_hash: "h0".into(),
                idle_ttl: 600,
                absolute_ttl: 3600,
                grace_seconds,
            },
            NOW,
        );
        assert_eq!(
            a,
            FamilyAnswer::Started {
                expires_at: NOW + 600
            }
        );
        assert_eq!(w.len(), 1);
        s
    }

    fn refresh(s: &mut FamilyService, presented: &str, next: &str, now: u64) -> FamilyAnswer {
        s.handle(
            FamilyCall::Refresh {
                token_hash: presented.into(),
                next_hash: next.into(),
                next_wrapped: format!("wrapped-{next}"),
                proof_jkt: None,
            },
            now,
        )
        .0
    }

    #[test]
    fn rotation_chain_then_replay_of_an_old_token_ends_the_family() {
        let mut s = started();
        for i in 0..20 {
            let a = refresh(
                &mut s,
                &format!("h{i}"),
                &format!("h{}", i + 1),
                NOW + 100 + i,
            );
            assert!(matches!(a, FamilyAnswer::Rotated { .. }), "{i}: {a:?}");
        }
        // h3 was rotated long ago: a replay.
        let a = refresh(&mut s, "h3", "x", NOW + 200);
        assert_eq!(
            a,
            FamilyAnswer::Reused {
                sub: "alice".into(),
                rotations: 20
            }
        );
        // The current token is dead too.
        assert_eq!(
            refresh(&mut s, "h20", "y", NOW + 201),
            FamilyAnswer::Invalid {
                reason: InvalidReason::Ended
            }
        );
    }

    #[test]
    fn grace_window_hands_out_the_same_successor_then_replay() {
        let mut s = started();
        assert!(matches!(
            refresh(&mut s, "h0", "h1", NOW + 1),
            FamilyAnswer::Rotated { .. }
        ));
        // A second tab within 10 s: the same successor, no new branch.
        for t in [NOW + 1, NOW + 5, NOW + 11] {
            match refresh(&mut s, "h0", "other", t) {
                FamilyAnswer::Grace { successor, .. } => assert_eq!(successor, "wrapped-h1"),
                a => panic!("{a:?}"),
            }
        }
        // `other` never became current: h1 is.
        assert!(matches!(
            refresh(&mut s, "h1", "h2", NOW + 12),
            FamilyAnswer::Rotated { .. }
        ));
        // h0 is now older than previous: replay, even inside h1's window.
        assert!(matches!(
            refresh(&mut s, "h0", "z", NOW + 13),
            FamilyAnswer::Reused { .. }
        ));
    }

    #[test]
    fn a_window_of_zero_is_none_even_within_the_rotations_second() {
        let mut s = started_with(grant(), 0);
        assert!(matches!(
            refresh(&mut s, "h0", "h1", NOW + 1),
            FamilyAnswer::Rotated { .. }
        ));
        assert!(matches!(
            refresh(&mut s, "h0", "q", NOW + 1),
            FamilyAnswer::Reused { .. }
        ));
    }

    #[test]
    fn previous_after_the_window_is_a_replay() {
        let mut s = started();
        refresh(&mut s, "h0", "h1", NOW + 1);
        assert!(matches!(
            refresh(&mut s, "h0", "q", NOW + 12),
            FamilyAnswer::Reused { .. }
        ));
    }

    const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    const OTHER_JKT: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    fn started_bound() -> FamilyService {
        started_with(
            Grant {
                cnf: Some(json!({ "jkt": JKT })),
                ..grant()
            },
            10,
        )
    }

    fn refresh_proving(
        s: &mut FamilyService,
        presented: &str,
        next: &str,
        proof_jkt: Option<&str>,
        now: u64,
    ) -> (FamilyAnswer, Vec<StorageWrite>) {
        s.handle(
            FamilyCall::Refresh {
                token_hash: presented.into(),
                next_hash: next.into(),
                next_wrapped: format!("wrapped-{next}"),
                proof_jkt: proof_jkt.map(str::to_string),
            },
            now,
        )
    }

    #[test]
    fn a_bound_family_is_logged_out_only_with_its_key() {
        let logout = |s: &mut FamilyService, token: &str, proof: Option<&str>| {
            s.handle(
                FamilyCall::Logout {
                    token_hash: token.into(),
                    proof_jkt: proof.map(str::to_string),
                },
                NOW + 1,
            )
        };
        let mut s = started_bound();
        let before = s.clone();
        for (proof, reason) in [
            (None, ProofRefusal::Missing),
            (Some(OTHER_JKT), ProofRefusal::OtherKey),
        ] {
            let (a, w) = logout(&mut s, "h0", proof);
            assert_eq!(a, FamilyAnswer::ProofRefused { reason });
            assert!(w.is_empty());
            assert_eq!(s, before, "a refused logout changes nothing");
        }
        let (a, w) = logout(&mut s, "h0", Some(JKT));
        assert_eq!(
            a,
            FamilyAnswer::Ended {
                sub: "alice".into()
            }
        );
        assert_eq!(w.len(), 1);
        // An unbound family is ended by its cookie alone, a proof or not.
        let mut s = started();
        let (a, _) = logout(&mut s, "h0", None);
        assert_eq!(
            a,
            FamilyAnswer::Ended {
                sub: "alice".into()
            }
        );
    }

    #[test]
    fn a_bound_family_refuses_another_key_or_none_and_changes_nothing() {
        let mut s = started_bound();
        let before = s.clone();
        for (proof, reason) in [
            (None, ProofRefusal::Missing),
            (Some(OTHER_JKT), ProofRefusal::OtherKey),
            (Some(&JKT[..42]), ProofRefusal::OtherKey),
        ] {
            let (a, w) = refresh_proving(&mut s, "h0", "h1", proof, NOW + 1);
            assert_eq!(a, FamilyAnswer::ProofRefused { reason });
            assert!(w.is_empty());
            assert_eq!(s, before);
        }
        // The right key rotates; the grace window's previous token needs it too.
        let (a, w) = refresh_proving(&mut s, "h0", "h1", Some(JKT), NOW + 2);
        assert!(matches!(a, FamilyAnswer::Rotated { .. }));
        assert_eq!(w.len(), 1);
        let rotated = s.clone();
        let (a, w) = refresh_proving(&mut s, "h0", "x", Some(OTHER_JKT), NOW + 3);
        assert_eq!(
            a,
            FamilyAnswer::ProofRefused {
                reason: ProofRefusal::OtherKey
            }
        );
        assert!(w.is_empty());
        assert_eq!(s, rotated);
        assert!(matches!(
            refresh_proving(&mut s, "h0", "x", Some(JKT), NOW + 3).0,
            FamilyAnswer::Grace { .. }
        ));
        // An earlier token outside the window is a replay, whatever key comes with it: theft is
        // assumed and the family ends, as for an unbound family.
        assert!(matches!(
            refresh_proving(&mut s, "h0", "x", Some(OTHER_JKT), NOW + 20).0,
            FamilyAnswer::Reused { .. }
        ));
    }

    #[test]
    fn an_unbound_family_takes_any_proof_or_none() {
        let mut s = started();
        let (a, _) = refresh_proving(&mut s, "h0", "h1", Some(OTHER_JKT), NOW + 1);
        assert!(matches!(a, FamilyAnswer::Rotated { .. }));
        let (a, _) = refresh_proving(&mut s, "h1", "h2", None, NOW + 2);
        assert!(matches!(a, FamilyAnswer::Rotated { .. }));
    }

    #[test]
    fn a_refresh_call_without_proof_jkt_still_reads() {
        let call: FamilyCall = serde_json::from_str(
            r#"{"op":"refresh","token_hash":"a","next_hash":"b","next_wrapped":"c"}"#,
        )
        .unwrap();
        assert!(matches!(
            call,
            FamilyCall::Refresh {
                proof_jkt: None,
                ..
            }
        ));
    }

    #[test]
    fn a_foreign_secret_changes_nothing() {
        let mut s = started();
        let before = s.clone();
        let (a, w) = s.handle(
            FamilyCall::Refresh {
                token_hash: "guess".into(),
                next_hash: "n".into(),
                next_wrapped: "w".into(),
                proof_jkt: None,
            },
            NOW + 1,
        );
        assert_eq!(
            a,
            FamilyAnswer::Invalid {
                reason: InvalidReason::Unknown
            }
        );
        assert!(w.is_empty());
        assert_eq!(s, before);
        let (a, _) = s.handle(
            FamilyCall::Logout {
                token_hash: "guess".into(),
                proof_jkt: None,
            },
            NOW + 1,
        );
        assert_eq!(
            a,
            FamilyAnswer::Invalid {
                reason: InvalidReason::Unknown
            }
        );
        assert!(matches!(
            refresh(&mut s, "h0", "h1", NOW + 2),
            FamilyAnswer::Rotated { .. }
        ));
    }

    #[test]
    fn idle_and_absolute_expiry() {
        let mut s = started();
        assert_eq!(
            refresh(&mut s, "h0", "h1", NOW + 600),
            FamilyAnswer::Invalid {
                reason: InvalidReason::Expired
            }
        );
        // Kept busy, the absolute lifetime still ends it.
        let mut s = started();
        let mut t = NOW;
        let mut i = 0;
        loop {
            t += 500;
            match refresh(&mut s, &format!("h{i}"), &format!("h{}", i + 1), t) {
                FamilyAnswer::Rotated { expires_at, .. } => assert!(expires_at <= NOW + 3600),
                FamilyAnswer::Invalid {
                    reason: InvalidReason::Expired,
                } => break,
                a => panic!("{a:?}"),
            }
            i += 1;
        }
        assert_eq!(t, NOW + 3500 + 500);
    }

    #[test]
    fn alarm_deletes_what_has_ended_and_storage_round_trips() {
        let mut s = started();
        let mut store = std::collections::BTreeMap::new();
        let (_, w) = s.handle(
            FamilyCall::Logout {
                token_hash: "h0".into(),
                proof_jkt: None,
            },
            NOW + 5,
        );
        for x in w {
            if let StorageWrite::Put(k, v) = x {
                store.insert(k, v);
            }
        }
        let (again, ok) = FamilyService::load(store.clone());
        assert!(ok);
        assert_eq!(again, s);
        assert_eq!(s.next_alarm_ms(), Some((NOW + 600) * 1000));
        assert!(s.prune(NOW + 599).is_empty());
        assert_eq!(
            s.prune(NOW + 600),
            vec![StorageWrite::Delete(FAMILY_KEY.into())]
        );
        assert_eq!(s.next_alarm_ms(), None);
        let (bad, ok) = FamilyService::load([(FAMILY_KEY.to_string(), "{".to_string())]);
        assert!(!ok);
        assert_eq!(bad, FamilyService::default());
    }

    #[test]
    fn used_tokens_are_bounded() {
        let mut s = started();
        for i in 0..(MAX_USED as u64 + 50) {
            refresh(
                &mut s,
                &format!("h{i}"),
                &format!("h{}", i + 1),
                NOW + 1 + i / 100,
            );
        }
        let f = s.family.as_ref().unwrap();
        assert_eq!(f.used.len(), MAX_USED);
        // The oldest fell out: refused, but not recognised as a replay.
        assert_eq!(
            refresh(&mut s, "h0", "x", NOW + 20),
            FamilyAnswer::Invalid {
                reason: InvalidReason::Unknown
            }
        );
        assert!(matches!(
            refresh(&mut s, "h100", "x", NOW + 20),
            FamilyAnswer::Reused { .. }
        ));
    }

    #[test]
    fn logout_end_show_and_bad_calls() {
        let mut s = started();
        let (a, _) = s.handle(FamilyCall::Show, NOW + 1);
        let FamilyAnswer::Session { session } = a else {
            panic!()
        };
        assert_eq!((session.sid.as_str(), session.ended), ("sid1", None));
        let shown = serde_json::to_string(&session).unwrap();
        assert!(!shown.contains("h0"), "{shown}");
        let (a, _) = s.handle(
            FamilyCall::End {
                reason: EndReason::Revoked,
            },
            NOW + 2,
        );
        assert_eq!(
            a,
            FamilyAnswer::Ended {
                sub: "alice".into()
            }
        );
        assert_eq!(
            refresh(&mut s, "h0", "h1", NOW + 3),
            FamilyAnswer::Invalid {
                reason: InvalidReason::Ended
            }
        );
        let (out, w) = s.handle_json("{\"op\":\"nope\"}", NOW);
        assert!(w.is_empty());
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap()["outcome"],
            "bad_call"
        );
        let mut empty = FamilyService::default();
        let (a, _) = empty.handle(
            FamilyCall::End {
                reason: EndReason::Revoked,
            },
            NOW,
        );
        assert_eq!(
            a,
            FamilyAnswer::Invalid {
                reason: InvalidReason::Unknown
            }
        );
        // A start on a live family is refused.
        let (a, _) = started().handle(
            FamilyCall::Start {
                sid: "sid1".into(),
                grant: grant(),
                token_hash: "z".into(),
                idle_ttl: 1,
                absolute_ttl: 1,
                grace_seconds: 0,
            },
            NOW,
        );
        assert_eq!(a, FamilyAnswer::Exists);
        let mut g = grant();
        g.sub = String::new();
        let (a, _) = FamilyService::default().handle(
            FamilyCall::Start {
                sid: "s".into(),
                grant: g,
                token_hash: "z".into(),
                idle_ttl: 1,
                absolute_ttl: 1,
                grace_seconds: 0,
            },
            NOW,
        );
        assert!(matches!(a, FamilyAnswer::BadCall { .. }));
        let wire = serde_json::to_value(FamilyCall::Logout {
            token_hash: "x".into(),
            proof_jkt: None,
        })
        .unwrap();
        assert_eq!(wire, json!({"op": "logout", "token_hash": "x"}));
    }
}
