//! The per-subject TOTP state the `MfaSubject` Durable Object keeps (one object per subject,
//! binding `PORTCULLIS_MFA`), and the protocol the gateway speaks to it. Pure: each call decides
//! synchronously on the loaded state and returns its answer and its storage writes, so the
//! object's single-threaded execution makes every decision exact across isolates:
//!
//! - a step is accepted once: `Accept` is a compare-and-set on `last_step`, so of two isolates
//!   presenting the same code, one wins and the other gets `Replayed`;
//! - failed attempts are counted before the code is checked (`Begin` reserves an attempt, a
//!   success gives it back), so parallel guesses cannot outrun the lockout;
//! - a recovery code is removed in the same call that accepts it.
//!
//! The object never sees a secret in the clear: the gateway seals it (AES-256-GCM, the subject as
//! associated data) before `Stage` and opens it after `Begin`. Recovery codes arrive hashed.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::totp::TotpParams;
use crate::ratelimit::service::StorageWrite;

/// The one storage key: the whole state is a few hundred bytes.
const STATE_KEY: &str = "totp";

/// An authenticator's secret, sealed, with how its codes are made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Enrollment {
    /// base64url(IV ‖ AES-256-GCM ciphertext ‖ tag) of the secret.
    pub(crate) sealed_secret: String,
    pub(crate) params: TotpParams,
    pub(crate) created_at_ms: u64,
}

/// What one subject has. `pending` becomes `confirmed` when a first valid code proves the
/// authenticator holds the secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct SubjectState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending: Option<Enrollment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    confirmed: Option<Enrollment>,
    /// The latest time step accepted; a code for it or an earlier step is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_step: Option<u64>,
    /// Attempts since the last success (reserved before the code is checked).
    #[serde(default)]
    failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    locked_until_ms: Option<u64>,
    /// Hex SHA-256 of each unused recovery code (`recovery::hash`).
    #[serde(default)]
    recovery_hashes: Vec<String>,
}

/// The lockout: after `max_failures` failed attempts in a row, no attempt for `lockout_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Lockout {
    pub(crate) max_failures: u32,
    pub(crate) lockout_ms: u64,
}

/// Which enrollment an attempt is against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Purpose {
    /// The first code of a pending enrollment.
    Confirm,
    /// A code of the confirmed enrollment (step-up, disable).
    Verify,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum MfaRequest {
    /// Keeps a new pending enrollment (replacing an earlier pending one).
    Stage {
        enrollment: Enrollment,
    },
    /// Reserves one attempt and hands out the sealed secret and the last used step.
    Begin {
        purpose: Purpose,
        lockout: Lockout,
    },
    /// The code matched `step` of the enrollment sealed as `sealed_secret`: consume the step.
    /// Confirming also stores the recovery codes' hashes.
    Accept {
        purpose: Purpose,
        sealed_secret: String,
        step: u64,
        #[serde(default)]
        recovery_hashes: Vec<String>,
    },
    /// Redeems a recovery code (its hash), once.
    Redeem {
        hash: String,
        lockout: Lockout,
    },
    /// Forgets everything: the enrollments, the used step, the counter, the recovery codes.
    Disable,
    Status,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub(crate) enum MfaAnswer {
    Staged,
    Attempt {
        sealed_secret: String,
        params: TotpParams,
        last_step: Option<u64>,
    },
    Accepted {
        recovery_codes_left: usize,
    },
    /// Too many failures: try again after this many seconds.
    Locked {
        retry_after_secs: u64,
    },
    /// No pending (confirm) or confirmed (verify) enrollment.
    NotEnrolled,
    AlreadyEnrolled,
    /// The step was already used (or an older one than the last used).
    Replayed,
    /// The enrollment changed between `Begin` and `Accept` (a re-enrollment or a disable).
    Changed,
    /// Not an unused recovery code.
    Rejected,
    Disabled {
        had_enrollment: bool,
    },
    Status {
        enrolled: bool,
        pending: bool,
        recovery_codes_left: usize,
        locked_until_ms: Option<u64>,
    },
}

/// The object's logic over its loaded state.
#[derive(Debug, Default)]
pub(crate) struct MfaSubjectService {
    state: SubjectState,
}

impl MfaSubjectService {
    /// From the object's storage; `false` when a stored state cannot be read. An unreadable state
    /// is kept as "locked for good" rather than as empty, which would let an attacker enroll anew.
    pub(crate) fn load(entries: Vec<(String, String)>) -> (Self, bool) {
        match entries.iter().find(|(k, _)| k == STATE_KEY) {
            None => (MfaSubjectService::default(), true),
            Some((_, v)) => match serde_json::from_str(v) {
                Ok(state) => (MfaSubjectService { state }, true),
                Err(_) => (
                    MfaSubjectService {
                        state: SubjectState {
                            locked_until_ms: Some(u64::MAX),
                            ..SubjectState::default()
                        },
                    },
                    false,
                ),
            },
        }
    }

    /// One call, JSON in and out, with the writes to persist before the answer leaves.
    pub(crate) fn handle_json(&mut self, body: &str, now_ms: u64) -> (String, Vec<StorageWrite>) {
        match serde_json::from_str::<MfaRequest>(body) {
            Ok(request) => {
                let (answer, writes) = self.handle(request, now_ms);
                (serde_json::to_string(&answer).unwrap_or_default(), writes)
            }
            Err(e) => (
                serde_json::json!({ "result": "bad_request", "reason": e.to_string() }).to_string(),
                Vec::new(),
            ),
        }
    }

    pub(crate) fn handle(
        &mut self,
        request: MfaRequest,
        now_ms: u64,
    ) -> (MfaAnswer, Vec<StorageWrite>) {
        let before = self.state.clone();
        let answer = self.decide(request, now_ms);
        let writes = if self.state == before {
            Vec::new()
        } else if self.state == SubjectState::default() {
            vec![StorageWrite::Delete(STATE_KEY.to_string())]
        } else {
            vec![StorageWrite::Put(
                STATE_KEY.to_string(),
                serde_json::to_string(&self.state).unwrap_or_default(),
            )]
        };
        (answer, writes)
    }

    fn decide(&mut self, request: MfaRequest, now_ms: u64) -> MfaAnswer {
        let s = &mut self.state;
        match request {
            MfaRequest::Stage { enrollment } => {
                if s.confirmed.is_some() {
                    return MfaAnswer::AlreadyEnrolled;
                }
                s.pending = Some(enrollment);
                MfaAnswer::Staged
            }
            MfaRequest::Begin { purpose, lockout } => {
                if let Some(locked) = check_lock(s, now_ms) {
                    return locked;
                }
                let Some(target) = target(s, purpose).cloned() else {
                    return MfaAnswer::NotEnrolled;
                };
                count_failure(s, lockout, now_ms);
                MfaAnswer::Attempt {
                    sealed_secret: target.sealed_secret,
                    params: target.params,
                    last_step: s.last_step,
                }
            }
            MfaRequest::Accept {
                purpose,
                sealed_secret,
                step,
                recovery_hashes,
            } => {
                let same = target(s, purpose).is_some_and(|t| t.sealed_secret == sealed_secret);
                if !same {
                    return MfaAnswer::Changed;
                }
                if s.last_step.is_some_and(|used| step <= used) {
                    return MfaAnswer::Replayed;
                }
                s.last_step = Some(step);
                s.failures = 0;
                s.locked_until_ms = None;
                if purpose == Purpose::Confirm {
                    s.confirmed = s.pending.take();
                    s.recovery_hashes = recovery_hashes;
                }
                MfaAnswer::Accepted {
                    recovery_codes_left: s.recovery_hashes.len(),
                }
            }
            MfaRequest::Redeem { hash, lockout } => {
                if let Some(locked) = check_lock(s, now_ms) {
                    return locked;
                }
                if s.confirmed.is_none() {
                    return MfaAnswer::NotEnrolled;
                }
                // Every stored hash is compared, in constant time.
                let mut found = None;
                for (i, stored) in s.recovery_hashes.iter().enumerate() {
                    if bool::from(stored.as_bytes().ct_eq(hash.as_bytes())) {
                        found = Some(i);
                    }
                }
                match found {
                    Some(i) => {
                        s.recovery_hashes.remove(i);
                        s.failures = 0;
                        s.locked_until_ms = None;
                        MfaAnswer::Accepted {
                            recovery_codes_left: s.recovery_hashes.len(),
                        }
                    }
                    None => {
                        count_failure(s, lockout, now_ms);
                        MfaAnswer::Rejected
                    }
                }
            }
            MfaRequest::Disable => {
                let had_enrollment = s.confirmed.is_some() || s.pending.is_some();
                *s = SubjectState::default();
                MfaAnswer::Disabled { had_enrollment }
            }
            MfaRequest::Status => MfaAnswer::Status {
                enrolled: s.confirmed.is_some(),
                pending: s.pending.is_some(),
                recovery_codes_left: s.recovery_hashes.len(),
                locked_until_ms: s.locked_until_ms.filter(|&until| until > now_ms),
            },
        }
    }
}

fn target(s: &SubjectState, purpose: Purpose) -> Option<&Enrollment> {
    match purpose {
        Purpose::Confirm => s.pending.as_ref(),
        Purpose::Verify => s.confirmed.as_ref(),
    }
}

/// `Locked` while the lockout runs; once it is over, the counter starts again from zero.
fn check_lock(s: &mut SubjectState, now_ms: u64) -> Option<MfaAnswer> {
    match s.locked_until_ms {
        Some(until) if now_ms < until => Some(MfaAnswer::Locked {
            retry_after_secs: (until - now_ms).div_ceil(1000).max(1),
        }),
        Some(_) => {
            s.locked_until_ms = None;
            s.failures = 0;
            None
        }
        None => None,
    }
}

/// One more failed (or reserved) attempt; the `max_failures`-th starts the lockout. That attempt
/// itself still runs: a subject gets exactly `max_failures` tries per lockout period.
fn count_failure(s: &mut SubjectState, lockout: Lockout, now_ms: u64) {
    s.failures = s.failures.saturating_add(1);
    if s.failures >= lockout.max_failures {
        s.locked_until_ms = Some(now_ms.saturating_add(lockout.lockout_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mfa::totp::TotpAlgorithm;

    const LOCKOUT: Lockout = Lockout {
        max_failures: 3,
        lockout_ms: 60_000,
    };
    const NOW: u64 = 1_800_000_000_000;

    fn enrollment(tag: &str) -> Enrollment {
        Enrollment {
            sealed_secret: format!("sealed-{tag}"),
            params: TotpParams {
                algorithm: TotpAlgorithm::Sha1,
                digits: 6,
                period: 30,
            },
            created_at_ms: NOW,
        }
    }

    fn begin(purpose: Purpose) -> MfaRequest {
        MfaRequest::Begin {
            purpose,
            lockout: LOCKOUT,
        }
    }

    fn accept(purpose: Purpose, tag: &str, step: u64) -> MfaRequest {
        MfaRequest::Accept {
            purpose,
            sealed_secret: format!("sealed-{tag}"),
            step,
            recovery_hashes: vec!["h1".into(), "h2".into()],
        }
    }

    fn enrolled() -> MfaSubjectService {
        let mut s = MfaSubjectService::default();
        s.handle(
            MfaRequest::Stage {
                enrollment: enrollment("a"),
            },
            NOW,
        );
        s.handle(begin(Purpose::Confirm), NOW);
        assert_eq!(
            s.handle(accept(Purpose::Confirm, "a", 100), NOW).0,
            MfaAnswer::Accepted {
                recovery_codes_left: 2
            }
        );
        s
    }

    /// What the object would hold after its writes, loaded again (as a new isolate's object would).
    fn reload(s: &MfaSubjectService) -> MfaSubjectService {
        let stored = serde_json::to_string(&s.state).unwrap();
        let (loaded, readable) = MfaSubjectService::load(vec![(STATE_KEY.into(), stored)]);
        assert!(readable);
        loaded
    }

    #[test]
    fn a_pending_enrollment_is_confirmed_by_its_first_code() {
        let mut s = MfaSubjectService::default();
        assert_eq!(
            s.handle(begin(Purpose::Verify), NOW).0,
            MfaAnswer::NotEnrolled
        );
        assert_eq!(
            s.handle(begin(Purpose::Confirm), NOW).0,
            MfaAnswer::NotEnrolled
        );
        let (answer, writes) = s.handle(
            MfaRequest::Stage {
                enrollment: enrollment("a"),
            },
            NOW,
        );
        assert_eq!((answer, writes.len()), (MfaAnswer::Staged, 1));
        // Still not usable for step-up.
        assert_eq!(
            s.handle(begin(Purpose::Verify), NOW).0,
            MfaAnswer::NotEnrolled
        );
        match s.handle(begin(Purpose::Confirm), NOW).0 {
            MfaAnswer::Attempt {
                sealed_secret,
                last_step,
                ..
            } => {
                assert_eq!((sealed_secret.as_str(), last_step), ("sealed-a", None));
            }
            other => panic!("{other:?}"),
        }
        s.handle(accept(Purpose::Confirm, "a", 100), NOW);
        assert_eq!(
            s.handle(MfaRequest::Status, NOW).0,
            MfaAnswer::Status {
                enrolled: true,
                pending: false,
                recovery_codes_left: 2,
                locked_until_ms: None
            }
        );
        // A second enrollment needs the first disabled.
        assert_eq!(
            s.handle(
                MfaRequest::Stage {
                    enrollment: enrollment("b")
                },
                NOW
            )
            .0,
            MfaAnswer::AlreadyEnrolled
        );
    }

    #[test]
    fn a_step_is_consumed_once_and_never_an_older_one() {
        let mut s = enrolled();
        s.handle(begin(Purpose::Verify), NOW);
        assert_eq!(
            s.handle(accept(Purpose::Verify, "a", 100), NOW).0,
            MfaAnswer::Replayed
        );
        assert_eq!(
            s.handle(accept(Purpose::Verify, "a", 99), NOW).0,
            MfaAnswer::Replayed
        );
        let mut again = reload(&s);
        assert!(matches!(
            again.handle(accept(Purpose::Verify, "a", 101), NOW).0,
            MfaAnswer::Accepted { .. }
        ));
        assert_eq!(
            again.handle(accept(Purpose::Verify, "a", 101), NOW).0,
            MfaAnswer::Replayed
        );
    }

    #[test]
    fn an_enrollment_changed_since_begin_is_not_accepted() {
        let mut s = MfaSubjectService::default();
        s.handle(
            MfaRequest::Stage {
                enrollment: enrollment("a"),
            },
            NOW,
        );
        s.handle(begin(Purpose::Confirm), NOW);
        s.handle(
            MfaRequest::Stage {
                enrollment: enrollment("b"),
            },
            NOW,
        );
        assert_eq!(
            s.handle(accept(Purpose::Confirm, "a", 100), NOW).0,
            MfaAnswer::Changed
        );
        let mut s = enrolled();
        s.handle(MfaRequest::Disable, NOW);
        assert_eq!(
            s.handle(accept(Purpose::Verify, "a", 200), NOW).0,
            MfaAnswer::Changed
        );
    }

    #[test]
    fn failures_lock_the_subject_and_a_success_resets_the_count() {
        let mut s = enrolled();
        // Two reserved attempts that fail, then a success: the counter starts again.
        s.handle(begin(Purpose::Verify), NOW);
        s.handle(begin(Purpose::Verify), NOW);
        s.handle(begin(Purpose::Verify), NOW);
        s.handle(accept(Purpose::Verify, "a", 101), NOW);
        for _ in 0..LOCKOUT.max_failures {
            assert!(matches!(
                s.handle(begin(Purpose::Verify), NOW).0,
                MfaAnswer::Attempt { .. }
            ));
        }
        assert_eq!(
            s.handle(begin(Purpose::Verify), NOW).0,
            MfaAnswer::Locked {
                retry_after_secs: 60
            }
        );
        // Recovery codes share the lockout.
        assert_eq!(
            s.handle(
                MfaRequest::Redeem {
                    hash: "h1".into(),
                    lockout: LOCKOUT
                },
                NOW + 59_001
            )
            .0,
            MfaAnswer::Locked {
                retry_after_secs: 1
            }
        );
        let mut later = reload(&s);
        assert!(matches!(
            later.handle(begin(Purpose::Verify), NOW + 60_000).0,
            MfaAnswer::Attempt { .. }
        ));
    }

    #[test]
    fn the_attempt_that_reaches_the_limit_still_counts_if_it_succeeds() {
        let mut s = enrolled();
        for _ in 0..LOCKOUT.max_failures {
            s.handle(begin(Purpose::Verify), NOW);
        }
        assert!(matches!(
            s.handle(accept(Purpose::Verify, "a", 101), NOW).0,
            MfaAnswer::Accepted { .. }
        ));
        assert!(matches!(
            s.handle(begin(Purpose::Verify), NOW).0,
            MfaAnswer::Attempt { .. }
        ));
    }

    #[test]
    fn a_recovery_code_is_used_once() {
        let mut s = enrolled();
        let redeem = |hash: &str| MfaRequest::Redeem {
            hash: hash.into(),
            lockout: LOCKOUT,
        };
        assert_eq!(
            s.handle(redeem("h2"), NOW).0,
            MfaAnswer::Accepted {
                recovery_codes_left: 1
            }
        );
        assert_eq!(s.handle(redeem("h2"), NOW).0, MfaAnswer::Rejected);
        assert_eq!(s.handle(redeem("nope"), NOW).0, MfaAnswer::Rejected);
        assert!(matches!(
            s.handle(redeem("h1"), NOW).0,
            MfaAnswer::Accepted {
                recovery_codes_left: 0
            }
        ));
        assert_eq!(
            MfaSubjectService::default().handle(redeem("h1"), NOW).0,
            MfaAnswer::NotEnrolled
        );
    }

    #[test]
    fn disable_forgets_everything_and_deletes_the_storage() {
        let mut s = enrolled();
        let (answer, writes) = s.handle(MfaRequest::Disable, NOW);
        assert_eq!(
            answer,
            MfaAnswer::Disabled {
                had_enrollment: true
            }
        );
        assert_eq!(writes, vec![StorageWrite::Delete(STATE_KEY.into())]);
        assert_eq!(
            s.handle(MfaRequest::Disable, NOW).0,
            MfaAnswer::Disabled {
                had_enrollment: false
            }
        );
        // Enrolling again works.
        assert_eq!(
            s.handle(
                MfaRequest::Stage {
                    enrollment: enrollment("c")
                },
                NOW
            )
            .0,
            MfaAnswer::Staged
        );
    }

    #[test]
    fn an_unreadable_state_fails_closed() {
        let (mut s, readable) =
            MfaSubjectService::load(vec![(STATE_KEY.into(), "{not json".into())]);
        assert!(!readable);
        assert!(matches!(
            s.handle(begin(Purpose::Verify), NOW).0,
            MfaAnswer::Locked { .. }
        ));
        let (answer, _) = s.handle_json("{\"op\":\"nope\"}", NOW);
        assert!(answer.contains("bad_request"));
    }
}
