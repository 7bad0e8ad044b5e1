//! The `PasskeyStore` protocol as the gateway speaks it: which object a request goes to, the JSON
//! request, and reading the answer. Any failure to reach an object or an answer out of contract
//! is `PasskeyError::StoreUnavailable`: the ceremony fails closed.

use sha2::{Digest, Sha256};

use super::store::{Answer, ChallengeRecord, CredentialRecord, Refusal, Request, UserRecord};
use super::PasskeyError;
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
    let _ = call(
        p,
        &owner,
        Request::CredentialRelease {
            subject: subject.to_string(),
        },
    )
    .await;
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
