//! The `PasskeyStore` protocol as the gateway speaks it: which object a request goes to, the JSON
//! request, and reading the answer. Any failure to reach an object or an answer out of contract
//! is `PasskeyError::StoreUnavailable`: the ceremony fails closed.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::store::{Answer, ChallengeRecord, CredentialRecord, Refusal, Request, UserRecord};
use super::PasskeyError;
use crate::jose::jws::B64URL;
use crate::platform::Platform;

/// The Durable Object binding.
pub(crate) const PASSKEYS_BINDING: &str = "PORTCULLIS_PASSKEYS";

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Object names: hashed, so no client-chosen string names an object and each is a fixed length.
pub(crate) fn challenge_object(challenge: &[u8]) -> String {
    format!("challenge:{}", hex_sha256(challenge))
}

pub(crate) fn user_object(subject: &str) -> String {
    format!("user:{}", hex_sha256(subject.as_bytes()))
}

pub(crate) fn credential_object(credential_id: &[u8]) -> String {
    format!("credential:{}", hex_sha256(credential_id))
}

async fn call<P: Platform>(p: &P, object: &str, request: Request) -> Result<Answer, PasskeyError> {
    let body = serde_json::to_string(&request).map_err(|_| PasskeyError::StoreUnavailable)?;
    let text = p
        .passkey_call(object, body)
        .await
        .map_err(|_| PasskeyError::StoreUnavailable)?;
    match serde_json::from_str::<Answer>(&text) {
        Ok(Answer::WrongKind) | Err(_) => Err(PasskeyError::StoreUnavailable),
        Ok(answer) => Ok(answer),
    }
}

fn unexpected<T>() -> Result<T, PasskeyError> {
    Err(PasskeyError::StoreUnavailable)
}

pub(crate) async fn put_challenge<P: Platform>(
    p: &P,
    challenge: &[u8],
    record: ChallengeRecord,
) -> Result<(), PasskeyError> {
    match call(
        p,
        &challenge_object(challenge),
        Request::ChallengePut { challenge: record },
    )
    .await?
    {
        Answer::Done => Ok(()),
        _ => unexpected(),
    }
}

/// The challenge's record when it is outstanding and unexpired; taking it ends it either way.
pub(crate) async fn take_challenge<P: Platform>(
    p: &P,
    challenge: &[u8],
) -> Result<Option<ChallengeRecord>, PasskeyError> {
    let now_ms = p.now_ms();
    match call(
        p,
        &challenge_object(challenge),
        Request::ChallengeTake { now_ms },
    )
    .await?
    {
        Answer::Challenge { challenge } => Ok(challenge),
        _ => unexpected(),
    }
}

pub(crate) async fn get_user<P: Platform>(
    p: &P,
    subject: &str,
) -> Result<Option<UserRecord>, PasskeyError> {
    match call(p, &user_object(subject), Request::UserGet).await? {
        Answer::User { user } => Ok(user),
        _ => unexpected(),
    }
}

/// The user's record, created with `handle` when there is none yet.
pub(crate) async fn ensure_user<P: Platform>(
    p: &P,
    subject: &str,
    handle: String,
) -> Result<UserRecord, PasskeyError> {
    match call(p, &user_object(subject), Request::UserEnsure { handle }).await? {
        Answer::User { user: Some(user) } => Ok(user),
        _ => unexpected(),
    }
}

/// Registers a credential: the id is claimed for the subject first (an id is registered once,
/// across users), then added to the user's record; a refused add gives the claim back.
pub(crate) async fn register_credential<P: Platform>(
    p: &P,
    subject: &str,
    credential_id: &[u8],
    record: CredentialRecord,
    max: usize,
) -> Result<(), PasskeyError> {
    let owner = credential_object(credential_id);
    match call(
        p,
        &owner,
        Request::CredentialClaim {
            subject: subject.to_string(),
        },
    )
    .await?
    {
        Answer::Done => {}
        Answer::Refused {
            reason: Refusal::Exists,
        } => return Err(PasskeyError::CredentialExists),
        _ => return unexpected(),
    }
    let added = call(
        p,
        &user_object(subject),
        Request::UserAdd {
            credential: record,
            max,
        },
    )
    .await;
    let refusal = match added {
        Ok(Answer::Done) => return Ok(()),
        Ok(Answer::Refused {
            reason: Refusal::Exists,
        }) => PasskeyError::CredentialExists,
        Ok(Answer::Refused {
            reason: Refusal::Limit,
        }) => PasskeyError::CredentialLimit,
        _ => PasskeyError::StoreUnavailable,
    };
    // Best effort: a claim left behind only blocks re-registering this one id.
    let _ = release_claim(p, subject, credential_id).await;
    Err(refusal)
}

pub(crate) async fn credential_owner<P: Platform>(
    p: &P,
    credential_id: &[u8],
) -> Result<Option<String>, PasskeyError> {
    match call(
        p,
        &credential_object(credential_id),
        Request::CredentialOwner,
    )
    .await?
    {
        Answer::Owner { subject } => Ok(subject),
        _ => unexpected(),
    }
}

/// Records a verified use: the counter rule is applied in the user's object, atomically.
pub(crate) async fn use_credential<P: Platform>(
    p: &P,
    subject: &str,
    id: &str,
    sign_count: u32,
    backed_up: bool,
) -> Result<CredentialRecord, PasskeyError> {
    let request = Request::UserUse {
        id: id.to_string(),
        sign_count,
        backed_up,
        now_secs: p.now_secs(),
    };
    match call(p, &user_object(subject), request).await? {
        Answer::Used { credential } => Ok(credential),
        Answer::Refused {
            reason: Refusal::Unknown,
        } => Err(PasskeyError::CredentialUnknown),
        Answer::Refused {
            reason: Refusal::CounterRegressed,
        } => Err(PasskeyError::CounterRegressed),
        _ => unexpected(),
    }
}

/// The subject's passkeys, as stored (none without a record).
pub(crate) async fn list_credentials<P: Platform>(
    p: &P,
    subject: &str,
) -> Result<Vec<CredentialRecord>, PasskeyError> {
    Ok(get_user(p, subject)
        .await?
        .map(|u| u.credentials)
        .unwrap_or_default())
}

/// Gives back `subject`'s claim on a credential id: whether it was theirs and is gone (another
/// subject's claim is kept, and answered as an id nobody holds).
async fn release_claim<P: Platform>(
    p: &P,
    subject: &str,
    credential_id: &[u8],
) -> Result<bool, PasskeyError> {
    match call(
        p,
        &credential_object(credential_id),
        Request::CredentialRelease {
            subject: subject.to_string(),
        },
    )
    .await?
    {
        Answer::Released { released } => Ok(released),
        _ => unexpected(),
    }
}

/// Deletes one of `subject`'s passkeys (`id` its base64url text, `raw` its octets). The user's
/// object drops it first, so from that step on a login or step-up with it is refused as unknown;
/// then its `credential:` claim is released. A claim left by an earlier delete that failed
/// between the two steps is released too. `Ok(false)`: the subject has neither (the id is
/// another user's or nobody's: the caller cannot tell which).
pub(crate) async fn delete_credential<P: Platform>(
    p: &P,
    subject: &str,
    id: &str,
    raw: &[u8],
) -> Result<bool, PasskeyError> {
    let steps = delete_credential_steps(p, subject, id, raw).await?;
    Ok(steps.removed || steps.released?)
}

/// What each step of a single delete did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeletedOne {
    /// The user's object dropped the credential: from then on it logs in as unknown.
    pub(crate) removed: bool,
    /// The claim's release: `Ok(true)` it was the subject's and is gone, `Ok(false)` none of
    /// theirs, `Err` the store failed (after a removal, the passkey is nonetheless deleted).
    pub(crate) released: Result<bool, PasskeyError>,
}

/// `delete_credential`, step by step, for a caller that must record a removal even when the
/// release then fails (the account page's audit line). `Err`: the first step failed, nothing
/// was removed.
pub(crate) async fn delete_credential_steps<P: Platform>(
    p: &P,
    subject: &str,
    id: &str,
    raw: &[u8],
) -> Result<DeletedOne, PasskeyError> {
    let removed = match call(
        p,
        &user_object(subject),
        Request::UserDelete { id: id.to_string() },
    )
    .await?
    {
        Answer::Deleted { credentials } => !credentials.is_empty(),
        Answer::Refused {
            reason: Refusal::Unknown,
        } => false,
        _ => return unexpected(),
    };
    let released = release_claim(p, subject, raw).await;
    Ok(DeletedOne { removed, released })
}

/// What deleting all of a subject's passkeys did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeletedAll {
    /// The credential ids (base64url) the user's object dropped, in one step.
    pub(crate) ids: Vec<String>,
    /// Every one's claim was released; `false`: the store failed on some (each id's own delete
    /// releases it later).
    pub(crate) claims_released: bool,
}

/// Deletes every passkey of `subject`: the user's object drops them all in one step (none stays
/// usable, whatever happens next), then each claim is released.
pub(crate) async fn delete_all_credentials<P: Platform>(
    p: &P,
    subject: &str,
) -> Result<DeletedAll, PasskeyError> {
    let removed = match call(p, &user_object(subject), Request::UserDeleteAll).await? {
        Answer::Deleted { credentials } => credentials,
        _ => return unexpected(),
    };
    let mut claims_released = true;
    for credential in &removed {
        // Ids are stored as the gateway encoded them; one that does not decode is a store fault.
        let released = match B64URL.decode(&credential.id) {
            Ok(raw) => release_claim(p, subject, &raw).await.is_ok(),
            Err(_) => false,
        };
        claims_released &= released;
    }
    Ok(DeletedAll {
        ids: removed.into_iter().map(|c| c.id).collect(),
        claims_released,
    })
}
