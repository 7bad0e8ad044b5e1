//! The `PasskeyStore` Durable Object's logic (binding `PORTCULLIS_PASSKEYS`). Every object holds
//! one state, by the kind of name it is reached by (`client` names them):
//!
//! - `challenge:<hex SHA-256(challenge)>`: one outstanding challenge — its ceremony, the subject
//!   and session it was issued to (none for a discoverable login), its deadline. Taking it deletes
//!   it, so a challenge is answered once, even by two isolates at the same moment (the object runs
//!   one request at a time); the alarm deletes one never taken.
//! - `user:<hex SHA-256(subject)>`: the user's opaque handle (random, never the subject) and their
//!   credentials (id, public key as a JWK, algorithm, counter, transports, backup flags, created
//!   and last used).
//! - `credential:<hex SHA-256(credential id)>`: the subject owning a credential id, so a
//!   discoverable login finds the user from the credential alone, and an id is registered once.
//!
//! `handle` is synchronous and returns the one storage write the object must make, so a decision
//! and its write cannot interleave with another request.
//!
//! Deleting a passkey (`client::delete_credential`) is two steps in this order: the user's object
//! drops the credential (`UserDelete`, one step: a concurrent login's `UserUse` lands either
//! before it — a use that happened first — or after it, as `Unknown`), then the
//! `credential:` object is released (`CredentialRelease`). A crash between the two leaves a claim
//! naming the owner and no credential: the id then logs in as unknown (the same refusal as an id
//! never registered), and the owner's next delete of that id releases it.

use serde::{Deserialize, Serialize};

use super::cose::CoseAlg;

/// The single storage key of an object's state.
pub(crate) const STATE_KEY: &str = "state";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Purpose {
    Register,
    Login,
    StepUp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChallengeRecord {
    pub(crate) purpose: Purpose,
    /// The authenticated subject (registration, step-up); none for a discoverable login.
    pub(crate) subject: Option<String>,
    /// The session a step-up belongs to.
    pub(crate) sid: Option<String>,
    pub(crate) expires_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CredentialRecord {
    /// base64url of the credential id.
    pub(crate) id: String,
    pub(crate) alg: CoseAlg,
    /// The public key as a JWK (as `Jwk::to_webcrypto_jwk` writes it).
    pub(crate) public_key: serde_json::Value,
    pub(crate) sign_count: u32,
    #[serde(default)]
    pub(crate) transports: Vec<String>,
    pub(crate) backup_eligible: bool,
    pub(crate) backed_up: bool,
    /// hex; all zero for attestation `none`.
    pub(crate) aaguid: String,
    pub(crate) attestation: String,
    pub(crate) created_at: u64,
    pub(crate) last_used_at: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UserRecord {
    /// base64url of 32 random octets: the WebAuthn user handle.
    pub(crate) handle: String,
    pub(crate) credentials: Vec<CredentialRecord>,
}

/// What one object holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum State {
    Challenge(ChallengeRecord),
    User(UserRecord),
    Credential { subject: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Request {
    ChallengePut {
        challenge: ChallengeRecord,
    },
    ChallengeTake {
        now_ms: u64,
    },
    UserGet,
    UserEnsure {
        handle: String,
    },
    UserAdd {
        credential: CredentialRecord,
        max: usize,
    },
    UserUse {
        id: String,
        sign_count: u32,
        backed_up: bool,
        now_secs: u64,
    },
    /// Drops one credential (answers `Deleted` with it, or `Refused { Unknown }`).
    UserDelete {
        id: String,
    },
    /// Drops every credential (answers `Deleted` with them, possibly none); the handle is kept.
    UserDeleteAll,
    CredentialClaim {
        subject: String,
    },
    CredentialOwner,
    CredentialRelease {
        subject: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Answer {
    Done,
    Challenge {
        challenge: Option<ChallengeRecord>,
    },
    User {
        user: Option<UserRecord>,
    },
    Used {
        credential: CredentialRecord,
    },
    Owner {
        subject: Option<String>,
    },
    /// The credentials a `UserDelete`/`UserDeleteAll` removed.
    Deleted {
        credentials: Vec<CredentialRecord>,
    },
    /// `CredentialRelease`: whether the claim was the subject's and is gone.
    Released {
        released: bool,
    },
    Refused {
        reason: Refusal,
    },
    /// The object holds another kind of state than the request is for (a name collision or a
    /// caller bug): refused, nothing written.
    WrongKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Refusal {
    Exists,
    Limit,
    Unknown,
    CounterRegressed,
}

/// The storage write a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Write {
    Put(State),
    Delete,
}

/// Decides `request` against the object's `state`.
pub(crate) fn handle(state: Option<&State>, request: Request) -> (Answer, Option<Write>) {
    use Request as R;
    match (request, state) {
        (R::ChallengePut { challenge }, None) => {
            (Answer::Done, Some(Write::Put(State::Challenge(challenge))))
        }
        (R::ChallengePut { .. }, Some(_)) => refused(Refusal::Exists),
        (R::ChallengeTake { now_ms }, Some(State::Challenge(c))) => {
            let live = (now_ms < c.expires_at_ms).then(|| c.clone());
            (Answer::Challenge { challenge: live }, Some(Write::Delete))
        }
        (R::ChallengeTake { .. }, None) => (Answer::Challenge { challenge: None }, None),

        (R::UserGet, None) => (Answer::User { user: None }, None),
        (R::UserGet | R::UserEnsure { .. }, Some(State::User(u))) => (
            Answer::User {
                user: Some(u.clone()),
            },
            None,
        ),
        (R::UserEnsure { handle }, None) => {
            let user = UserRecord {
                handle,
                credentials: Vec::new(),
            };
            (
                Answer::User {
                    user: Some(user.clone()),
                },
                Some(Write::Put(State::User(user))),
            )
        }
        (R::UserAdd { credential, max }, Some(State::User(u))) => {
            if u.credentials.iter().any(|c| c.id == credential.id) {
                return refused(Refusal::Exists);
            }
            if u.credentials.len() >= max {
                return refused(Refusal::Limit);
            }
            let mut user = u.clone();
            user.credentials.push(credential);
            (Answer::Done, Some(Write::Put(State::User(user))))
        }
        (R::UserAdd { .. }, None) => refused(Refusal::Unknown),
        (
            R::UserUse {
                id,
                sign_count,
                backed_up,
                now_secs,
            },
            Some(State::User(u)),
        ) => {
            let mut user = u.clone();
            let Some(credential) = user.credentials.iter_mut().find(|c| c.id == id) else {
                return refused(Refusal::Unknown);
            };
            // WebAuthn §7.2 step 21: a counter that is used (either value non-zero) must grow;
            // otherwise two copies of the authenticator may exist. Synced passkeys report 0.
            if (sign_count != 0 || credential.sign_count != 0)
                && sign_count <= credential.sign_count
            {
                return refused(Refusal::CounterRegressed);
            }
            credential.sign_count = sign_count;
            credential.backed_up = backed_up;
            credential.last_used_at = Some(now_secs);
            let used = credential.clone();
            (
                Answer::Used { credential: used },
                Some(Write::Put(State::User(user))),
            )
        }
        (R::UserUse { .. }, None) => refused(Refusal::Unknown),
        (R::UserDelete { id }, Some(State::User(u))) => {
            let mut user = u.clone();
            let Some(at) = user.credentials.iter().position(|c| c.id == id) else {
                return refused(Refusal::Unknown);
            };
            let removed = user.credentials.remove(at);
            (
                Answer::Deleted {
                    credentials: vec![removed],
                },
                Some(Write::Put(State::User(user))),
            )
        }
        (R::UserDelete { .. }, None) => refused(Refusal::Unknown),
        (R::UserDeleteAll, Some(State::User(u))) => {
            let mut user = u.clone();
            let removed = std::mem::take(&mut user.credentials);
            let write = (!removed.is_empty()).then_some(Write::Put(State::User(user)));
            (
                Answer::Deleted {
                    credentials: removed,
                },
                write,
            )
        }
        (R::UserDeleteAll, None) => (
            Answer::Deleted {
                credentials: Vec::new(),
            },
            None,
        ),

        (R::CredentialClaim { subject }, None) => (
            Answer::Done,
            Some(Write::Put(State::Credential { subject })),
        ),
        (R::CredentialClaim { .. }, Some(State::Credential { .. })) => refused(Refusal::Exists),
        (R::CredentialOwner, Some(State::Credential { subject })) => (
            Answer::Owner {
                subject: Some(subject.clone()),
            },
            None,
        ),
        (R::CredentialOwner, None) => (Answer::Owner { subject: None }, None),
        // Only the owner's release deletes the claim: another subject's is a no-op, answered
        // `released: false` exactly as for an id nobody holds.
        (R::CredentialRelease { subject }, Some(State::Credential { subject: owner })) => {
            let released = subject == *owner;
            (
                Answer::Released { released },
                released.then_some(Write::Delete),
            )
        }
        (R::CredentialRelease { .. }, None) => (Answer::Released { released: false }, None),
        _ => (Answer::WrongKind, None),
    }
}

fn refused(reason: Refusal) -> (Answer, Option<Write>) {
    (Answer::Refused { reason }, None)
}

/// When the object's alarm must fire: a challenge is deleted at its deadline.
pub(crate) fn next_alarm_ms(state: Option<&State>) -> Option<u64> {
    match state {
        Some(State::Challenge(c)) => Some(c.expires_at_ms),
        _ => None,
    }
}

/// The alarm: an expired challenge is deleted; nothing else expires.
pub(crate) fn on_alarm(state: Option<&State>, now_ms: u64) -> Option<Write> {
    match state {
        Some(State::Challenge(c)) if now_ms >= c.expires_at_ms => Some(Write::Delete),
        _ => None,
    }
}

/// The object's whole protocol over strings: the stored state (as stored), the request body, and
/// back the answer body and the write. A request or state that does not parse is an error (the
/// object answers 400/500 and the gateway fails closed).
pub(crate) fn handle_json(
    stored: Option<&str>,
    body: &str,
) -> Result<(String, Option<Write>), String> {
    let state = match stored {
        None => None,
        Some(s) => Some(serde_json::from_str::<State>(s).map_err(|_| "stored state unreadable")?),
    };
    let request: Request = serde_json::from_str(body).map_err(|_| "request unreadable")?;
    let (answer, write) = handle(state.as_ref(), request);
    let answer = serde_json::to_string(&answer).map_err(|_| "answer unserialisable")?;
    Ok((answer, write))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(purpose: Purpose, expires_at_ms: u64) -> ChallengeRecord {
        ChallengeRecord {
            purpose,
            subject: Some("alice".into()),
            sid: None,
            expires_at_ms,
        }
    }

    fn credential(id: &str, sign_count: u32) -> CredentialRecord {
        CredentialRecord {
            id: id.into(),
            alg: CoseAlg::ES256,
            public_key: serde_json::json!({"kty": "EC"}),
            sign_count,
            transports: vec!["internal".into()],
            backup_eligible: false,
            backed_up: false,
            aaguid: "00".repeat(16),
            attestation: "none".into(),
            created_at: 1,
            last_used_at: None,
        }
    }

    /// Applies a write the way the object does.
    fn apply(state: &mut Option<State>, write: Option<Write>) {
        match write {
            Some(Write::Put(s)) => *state = Some(s),
            Some(Write::Delete) => *state = None,
            None => {}
        }
    }

    fn run(state: &mut Option<State>, request: Request) -> Answer {
        let (answer, write) = handle(state.as_ref(), request);
        apply(state, write);
        answer
    }

    #[test]
    fn a_challenge_is_taken_once_and_never_after_its_deadline() {
        let mut s = None;
        assert_eq!(
            run(
                &mut s,
                Request::ChallengePut {
                    challenge: challenge(Purpose::Login, 1_000)
                }
            ),
            Answer::Done
        );
        assert_eq!(next_alarm_ms(s.as_ref()), Some(1_000));
        assert_eq!(
            run(
                &mut s,
                Request::ChallengePut {
                    challenge: challenge(Purpose::Login, 1_000)
                }
            ),
            Answer::Refused {
                reason: Refusal::Exists
            }
        );
        assert_eq!(
            run(&mut s, Request::ChallengeTake { now_ms: 999 }),
            Answer::Challenge {
                challenge: Some(challenge(Purpose::Login, 1_000))
            }
        );
        // Replayed: gone.
        assert_eq!(
            run(&mut s, Request::ChallengeTake { now_ms: 999 }),
            Answer::Challenge { challenge: None }
        );
        // Expired: not answered, and deleted.
        let mut s = None;
        run(
            &mut s,
            Request::ChallengePut {
                challenge: challenge(Purpose::Register, 1_000),
            },
        );
        assert_eq!(
            run(&mut s, Request::ChallengeTake { now_ms: 1_000 }),
            Answer::Challenge { challenge: None }
        );
        assert_eq!(s, None);
        // The alarm deletes one never taken, only at its deadline.
        let mut s = None;
        run(
            &mut s,
            Request::ChallengePut {
                challenge: challenge(Purpose::StepUp, 1_000),
            },
        );
        assert_eq!(on_alarm(s.as_ref(), 999), None);
        assert_eq!(on_alarm(s.as_ref(), 1_000), Some(Write::Delete));
    }

    #[test]
    fn a_user_keeps_its_first_handle_and_bounded_credentials() {
        let mut s = None;
        assert_eq!(run(&mut s, Request::UserGet), Answer::User { user: None });
        let Answer::User { user: Some(u) } = run(
            &mut s,
            Request::UserEnsure {
                handle: "h1".into(),
            },
        ) else {
            panic!()
        };
        assert_eq!(u.handle, "h1");
        let Answer::User { user: Some(u) } = run(
            &mut s,
            Request::UserEnsure {
                handle: "h2".into(),
            },
        ) else {
            panic!()
        };
        assert_eq!(u.handle, "h1");
        assert_eq!(
            run(
                &mut s,
                Request::UserAdd {
                    credential: credential("a", 0),
                    max: 2
                }
            ),
            Answer::Done
        );
        assert_eq!(
            run(
                &mut s,
                Request::UserAdd {
                    credential: credential("a", 0),
                    max: 2
                }
            ),
            Answer::Refused {
                reason: Refusal::Exists
            }
        );
        assert_eq!(
            run(
                &mut s,
                Request::UserAdd {
                    credential: credential("b", 0),
                    max: 2
                }
            ),
            Answer::Done
        );
        assert_eq!(
            run(
                &mut s,
                Request::UserAdd {
                    credential: credential("c", 0),
                    max: 2
                }
            ),
            Answer::Refused {
                reason: Refusal::Limit
            }
        );
        assert_eq!(
            run(&mut s, Request::UserDelete { id: "b".into() }),
            Answer::Deleted {
                credentials: vec![credential("b", 0)]
            }
        );
        assert_eq!(
            run(
                &mut s,
                Request::UserAdd {
                    credential: credential("c", 0),
                    max: 2
                }
            ),
            Answer::Done
        );
    }

    #[test]
    fn the_counter_must_grow_when_used() {
        let mut s = None;
        run(&mut s, Request::UserEnsure { handle: "h".into() });
        run(
            &mut s,
            Request::UserAdd {
                credential: credential("a", 5),
                max: 10,
            },
        );
        let used = |s: &mut Option<State>, n| {
            run(
                s,
                Request::UserUse {
                    id: "a".into(),
                    sign_count: n,
                    backed_up: false,
                    now_secs: 9,
                },
            )
        };
        let Answer::Used { credential: c } = used(&mut s, 6) else {
            panic!()
        };
        assert_eq!((c.sign_count, c.last_used_at), (6, Some(9)));
        // Equal, lower, and zero after non-zero: the clone signal.
        for n in [6, 3, 0] {
            assert_eq!(
                used(&mut s, n),
                Answer::Refused {
                    reason: Refusal::CounterRegressed
                },
                "{n}"
            );
        }
        let Answer::User { user: Some(u) } = run(&mut s, Request::UserGet) else {
            panic!()
        };
        assert_eq!(u.credentials[0].sign_count, 6);
        assert_eq!(
            run(
                &mut s,
                Request::UserUse {
                    id: "zz".into(),
                    sign_count: 9,
                    backed_up: false,
                    now_secs: 9
                }
            ),
            Answer::Refused {
                reason: Refusal::Unknown
            }
        );
        // A synced passkey that always says 0 is fine.
        let mut s = None;
        run(&mut s, Request::UserEnsure { handle: "h".into() });
        run(
            &mut s,
            Request::UserAdd {
                credential: credential("p", 0),
                max: 10,
            },
        );
        for _ in 0..3 {
            assert!(matches!(
                run(
                    &mut s,
                    Request::UserUse {
                        id: "p".into(),
                        sign_count: 0,
                        backed_up: true,
                        now_secs: 9
                    }
                ),
                Answer::Used { .. }
            ));
        }
    }

    #[test]
    fn a_credential_id_has_one_owner() {
        let mut s = None;
        assert_eq!(
            run(&mut s, Request::CredentialOwner),
            Answer::Owner { subject: None }
        );
        assert_eq!(
            run(
                &mut s,
                Request::CredentialClaim {
                    subject: "alice".into()
                }
            ),
            Answer::Done
        );
        assert_eq!(
            run(
                &mut s,
                Request::CredentialClaim {
                    subject: "bob".into()
                }
            ),
            Answer::Refused {
                reason: Refusal::Exists
            }
        );
        assert_eq!(
            run(&mut s, Request::CredentialOwner),
            Answer::Owner {
                subject: Some("alice".into())
            }
        );
        run(
            &mut s,
            Request::CredentialRelease {
                subject: "bob".into(),
            },
        );
        assert_eq!(
            run(&mut s, Request::CredentialOwner),
            Answer::Owner {
                subject: Some("alice".into())
            }
        );
        run(
            &mut s,
            Request::CredentialRelease {
                subject: "alice".into(),
            },
        );
        assert_eq!(s, None);
    }

    /// alice's user object with credentials `ids`, and each id's claim.
    fn alice_with(ids: &[&str]) -> (Option<State>, Vec<Option<State>>) {
        let mut user = None;
        run(&mut user, Request::UserEnsure { handle: "h".into() });
        let mut claims = Vec::new();
        for id in ids {
            run(
                &mut user,
                Request::UserAdd {
                    credential: credential(id, 0),
                    max: 10,
                },
            );
            let mut claim = None;
            run(
                &mut claim,
                Request::CredentialClaim {
                    subject: "alice".into(),
                },
            );
            claims.push(claim);
        }
        (user, claims)
    }

    fn use_of(id: &str) -> Request {
        Request::UserUse {
            id: id.into(),
            sign_count: 0,
            backed_up: false,
            now_secs: 9,
        }
    }

    const UNKNOWN: Answer = Answer::Refused {
        reason: Refusal::Unknown,
    };

    #[test]
    fn a_deleted_credential_is_refused_as_an_unknown_one() {
        let (mut user, mut claims) = alice_with(&["a", "b"]);
        assert!(matches!(run(&mut user, use_of("a")), Answer::Used { .. }));
        let Answer::Deleted { credentials } =
            run(&mut user, Request::UserDelete { id: "a".into() })
        else {
            panic!()
        };
        assert_eq!(credentials.len(), 1);
        assert_eq!(credentials[0].id, "a");
        // The same refusal as an id never registered: the ceremony answers
        // `passkey_credential_unknown` for both.
        assert_eq!(run(&mut user, use_of("a")), UNKNOWN);
        assert_eq!(run(&mut user, use_of("never")), UNKNOWN);
        assert!(matches!(run(&mut user, use_of("b")), Answer::Used { .. }));
        // Deleted twice: unknown the second time.
        assert_eq!(
            run(&mut user, Request::UserDelete { id: "a".into() }),
            UNKNOWN
        );
        // Then the claim is released, by its owner only.
        assert_eq!(
            run(
                &mut claims[0],
                Request::CredentialRelease {
                    subject: "alice".into()
                }
            ),
            Answer::Released { released: true }
        );
        assert_eq!(claims[0], None);
        assert_eq!(
            run(&mut claims[0], Request::CredentialOwner),
            Answer::Owner { subject: None }
        );
        // A user with no record: nothing to delete, nothing written.
        assert_eq!(
            handle(None, Request::UserDelete { id: "a".into() }),
            (UNKNOWN, None)
        );
    }

    #[test]
    fn another_users_credential_cannot_be_deleted_or_released() {
        let (mut alice, mut claims) = alice_with(&["a"]);
        let mut bob = None;
        run(
            &mut bob,
            Request::UserEnsure {
                handle: "hb".into(),
            },
        );
        // bob's object does not hold alice's id: unknown, as for an id nobody has.
        assert_eq!(
            run(&mut bob, Request::UserDelete { id: "a".into() }),
            UNKNOWN
        );
        // bob's release of alice's claim: answered as for an id nobody holds, nothing written.
        let claim_before = claims[0].clone();
        assert_eq!(
            run(
                &mut claims[0],
                Request::CredentialRelease {
                    subject: "bob".into()
                }
            ),
            Answer::Released { released: false }
        );
        assert_eq!(claims[0], claim_before);
        assert_eq!(
            handle(
                None,
                Request::CredentialRelease {
                    subject: "bob".into()
                }
            ),
            (Answer::Released { released: false }, None)
        );
        assert!(matches!(run(&mut alice, use_of("a")), Answer::Used { .. }));
    }

    #[test]
    fn a_login_racing_a_delete_is_ordered_by_the_users_object() {
        // The login read the user (and verified the signature) before the delete; its use comes
        // after: refused, as unknown. One step in the object decides.
        let (mut user, _) = alice_with(&["a"]);
        let Answer::User { user: Some(read) } = run(&mut user, Request::UserGet) else {
            panic!()
        };
        assert_eq!(read.credentials.len(), 1);
        assert!(matches!(
            run(&mut user, Request::UserDelete { id: "a".into() }),
            Answer::Deleted { .. }
        ));
        assert_eq!(run(&mut user, use_of("a")), UNKNOWN);
        // The other order: the use happened first, then the delete removes the used credential.
        let (mut user, _) = alice_with(&["a"]);
        assert!(matches!(run(&mut user, use_of("a")), Answer::Used { .. }));
        let Answer::Deleted { credentials } =
            run(&mut user, Request::UserDelete { id: "a".into() })
        else {
            panic!()
        };
        assert_eq!(credentials[0].last_used_at, Some(9));
        assert_eq!(run(&mut user, use_of("a")), UNKNOWN);
    }

    #[test]
    fn delete_all_empties_the_user_and_keeps_its_handle() {
        let (mut user, _) = alice_with(&["a", "b", "c"]);
        let Answer::Deleted { credentials } = run(&mut user, Request::UserDeleteAll) else {
            panic!()
        };
        let ids: Vec<&str> = credentials.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        let Answer::User { user: Some(u) } = run(&mut user, Request::UserGet) else {
            panic!()
        };
        assert_eq!((u.handle.as_str(), u.credentials.len()), ("h", 0));
        for id in ["a", "b", "c"] {
            assert_eq!(run(&mut user, use_of(id)), UNKNOWN);
        }
        // Again: none, and nothing written; no user at all: none.
        assert_eq!(
            handle(user.as_ref(), Request::UserDeleteAll),
            (
                Answer::Deleted {
                    credentials: Vec::new()
                },
                None
            )
        );
        assert_eq!(
            handle(None, Request::UserDeleteAll),
            (
                Answer::Deleted {
                    credentials: Vec::new()
                },
                None
            )
        );
        // Another kind of object is never emptied.
        let claim = State::Credential {
            subject: "alice".into(),
        };
        assert_eq!(
            handle(Some(&claim), Request::UserDeleteAll),
            (Answer::WrongKind, None)
        );
        assert_eq!(
            handle(Some(&claim), Request::UserDelete { id: "a".into() }),
            (Answer::WrongKind, None)
        );
    }

    #[test]
    fn another_kind_of_state_is_never_touched() {
        let mut s = Some(State::Credential {
            subject: "alice".into(),
        });
        assert_eq!(
            run(&mut s, Request::ChallengeTake { now_ms: 0 }),
            Answer::WrongKind
        );
        assert_eq!(
            run(&mut s, Request::UserEnsure { handle: "h".into() }),
            Answer::WrongKind
        );
        assert_eq!(
            s,
            Some(State::Credential {
                subject: "alice".into()
            })
        );
        assert!(handle_json(Some("{"), r#""user_get""#).is_err());
        assert!(handle_json(None, r#"{"nope":{}}"#).is_err());
        let (answer, write) = handle_json(None, r#"{"user_ensure":{"handle":"h"}}"#).unwrap();
        assert!(answer.contains("\"handle\":\"h\""));
        assert!(matches!(write, Some(Write::Put(State::User(_)))));
    }
}
