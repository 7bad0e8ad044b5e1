//! The protocol between the gateway and an `ApiKeyLedger` object: what a call carries, what the
//! object answers, and the one function the admin operations use to make a call.
//!
//! Every call is `POST /<key_id>` to the object named by that key id, with one JSON
//! `LedgerRequest`. The object answers 200 with a `LedgerAnswer` (`{"done": …}` or
//! `{"refused": …}`); any other status (its storage or KV failed) is a `StoreError`, and the admin
//! API answers 503.

use serde::{Deserialize, Deserializer, Serialize};

use crate::api_key::record::ApiKeyRecord;
use crate::api_key::store::{KeyPatch, StoreOpError};
use crate::platform::{Platform, StoreError};

/// What a rotation gives the successor as its expiry.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SuccessorExpiry {
    /// The old key's lifetime again, counted from now (none if the old key had none).
    Inherit,
    Never,
    At(u64),
}

impl SuccessorExpiry {
    /// From the admin API's `Option<Option<u64>>` (`None`: not given; `Some(None)`: no expiry).
    pub(crate) fn from_request(expires_at: Option<Option<u64>>) -> Self {
        match expires_at {
            None => SuccessorExpiry::Inherit,
            Some(None) => SuccessorExpiry::Never,
            Some(Some(at)) => SuccessorExpiry::At(at),
        }
    }
}

/// An `Idempotency-Key` as the object sees it: never the key itself.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdempotencyClaim {
    /// SHA-256 of the caller and its `Idempotency-Key` (hex): where the outcome is remembered.
    pub id: String,
    /// SHA-256 of the request (operation, target, canonical body): a reuse with another request is
    /// refused.
    pub fingerprint: String,
    /// The new key's plaintext, sealed under a key derived from the `Idempotency-Key` (which the
    /// object never sees), so a retry can be shown the same key again.
    pub sealed: String,
}

/// One call to a key's object: `{"<operation>": {…}}` (`"get"` alone for a read). Externally
/// tagged, the form serde decodes without buffering (an internally tagged enum costs wasm size).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LedgerRequest {
    /// The key's current record (adopted from KV when the object has none yet).
    Get,
    /// A new key: the object must be empty.
    Create {
        hash: String,
        record: ApiKeyRecord,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idempotency: Option<IdempotencyClaim>,
    },
    Update {
        patch: KeyPatch,
    },
    Rotate {
        grace_secs: u64,
        expires: SuccessorExpiry,
        /// The prefix the successor is issued with (this gateway's `api_keys.prefix`).
        prefix: String,
        successor_id: String,
        successor_hash: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idempotency: Option<IdempotencyClaim>,
    },
    Revoke {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// From the predecessor's object during a rotation: this object's key is the successor.
    Init {
        hash: String,
        record: ApiKeyRecord,
    },
    /// From the predecessor's object when its rotation could not complete: the successor (whose
    /// plaintext nobody was shown) is revoked.
    Discard {
        rotated_from: String,
    },
}

/// A finished operation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Done {
    /// The key the call addressed, or the successor of a rotation.
    pub record: ApiKeyRecord,
    pub hash: String,
    /// A rotation's old key, as the rotation left it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<ApiKeyRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_hash: Option<String>,
    /// Whether the call changed the key (false for a revoke of a revoked key).
    #[serde(default)]
    pub changed: bool,
    /// The sealed plaintext of a create or rotate that carried an idempotency claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
    /// This answer is the remembered outcome of an earlier call with the same `Idempotency-Key`.
    #[serde(default)]
    pub replayed: bool,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    NotFound,
    Invalid,
    Conflict,
    /// The `Idempotency-Key` was used before with a different request.
    IdempotencyMismatch,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Refusal {
    pub fn new(kind: RefusalKind, detail: impl Into<String>) -> Self {
        Refusal {
            kind,
            detail: detail.into(),
            field: None,
        }
    }

    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Refusal {
            kind: RefusalKind::Invalid,
            detail: detail.into(),
            field: Some(field.to_string()),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LedgerAnswer {
    Done(Box<Done>),
    Refused(Refusal),
}

impl From<Refusal> for StoreOpError {
    fn from(r: Refusal) -> Self {
        match r.kind {
            RefusalKind::NotFound => StoreOpError::NotFound(r.detail),
            RefusalKind::Invalid => StoreOpError::Invalid(r.field.unwrap_or_default(), r.detail),
            RefusalKind::Conflict => StoreOpError::Conflict(r.detail),
            RefusalKind::IdempotencyMismatch => StoreOpError::IdempotencyMismatch(r.detail),
        }
    }
}

/// Parses an object's answer. Anything unreadable is a store failure (fail closed).
pub(crate) fn parse_answer(text: &str) -> Result<LedgerAnswer, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError(format!("the key ledger's answer is unreadable: {e}")))
}

/// One call to the object of `key_id`: its finished operation, or why not.
pub(crate) async fn call<P: Platform>(
    platform: &P,
    key_id: &str,
    request: &LedgerRequest,
) -> Result<Done, StoreOpError> {
    let body = serde_json::to_string(request).map_err(|e| StoreError(e.to_string()))?;
    let text = platform.key_ledger_call(key_id, body).await?;
    match parse_answer(&text)? {
        LedgerAnswer::Done(done) => Ok(*done),
        LedgerAnswer::Refused(refusal) => Err(refusal.into()),
    }
}

/// `Option<Option<T>>` from JSON: absent → `None`, `null` → `Some(None)`.
pub(crate) fn nullable<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}
