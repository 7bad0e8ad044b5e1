//! The protocol between the gateway and the revocation object: the request paths, what a call
//! carries and how its answer is read — one place for the request path (`gate`) and the admin API
//! (`admin::revocations`). The object's side of it is `service` (its table lists every call).
//!
//! A transport failure and an answer this build cannot read are alike a `String` reason: the
//! callers fail closed on both and log the reason.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::platform::Platform;

use super::set::{
    CredentialFacts, KeyEntry, RevocationSet, Revoked, SessionEntry, Snapshot, SubjectEntry,
    TokenEntry,
};

/// `GET /snapshot?since=<v>`: the entries written after version `since` (all of them for 0).
/// The caller makes the call (`Platform::revocation_call("GET", …)`) so that a background refresh
/// can own its future, and hands the body to `SnapshotCache::complete`.
pub(crate) fn snapshot_path(since: u64) -> String {
    format!("/snapshot?since={since}")
}

/// Every active entry (the admin API's list).
pub(crate) async fn full_snapshot<P: Platform>(platform: &P) -> Result<Snapshot, String> {
    let text = platform
        .revocation_call("GET", &snapshot_path(0), None)
        .await
        .map_err(|e| e.0)?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// The object's verdict on one credential (`strict` mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckVerdict {
    /// The object's version: a snapshot behind it is refreshed.
    pub version: u64,
    pub revoked: Option<Revoked>,
}

#[derive(Deserialize)]
pub(crate) struct CheckAnswer {
    version: u64,
    revoked: Option<String>,
    #[serde(default)]
    before: Option<u64>,
}

impl CheckAnswer {
    fn verdict(self) -> CheckVerdict {
        let revoked = match self.revoked.as_deref() {
            None => None,
            Some("token") => Some(Revoked::Token),
            Some("key") => Some(Revoked::Key),
            Some("session") => Some(Revoked::Session),
            Some("subject") => Some(Revoked::Subject {
                before: self.before.unwrap_or(0),
            }),
            // An answer this build does not know still says "revoked".
            Some(_) => Some(Revoked::Token),
        };
        CheckVerdict {
            version: self.version,
            revoked,
        }
    }
}

/// Reads a `POST /check` answer.
pub(crate) fn read_check_answer(text: &str) -> Result<CheckVerdict, String> {
    serde_json::from_str::<CheckAnswer>(text)
        .map(CheckAnswer::verdict)
        .map_err(|e| format!("unreadable answer: {e}"))
}

/// `POST /check`: is this credential revoked?
pub(crate) async fn check<P: Platform>(
    platform: &P,
    facts: &CredentialFacts<'_>,
) -> Result<CheckVerdict, String> {
    let body = serde_json::to_string(facts).unwrap_or_default();
    let text = platform
        .revocation_call("POST", "/check", Some(body))
        .await
        .map_err(|e| e.0)?;
    read_check_answer(&text)
}

/// One entry to put on the list (`POST /tokens`, `/subjects` or `/keys`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RevocationWrite {
    Token {
        jti: String,
        iss: Option<String>,
        until: u64,
    },
    Subject {
        sub: String,
        iss: Option<String>,
        before: u64,
        until: u64,
    },
    Key {
        key_id: String,
        until: u64,
    },
    Session {
        sid: String,
        iss: Option<String>,
        until: u64,
    },
}

impl RevocationWrite {
    fn path(&self) -> &'static str {
        match self {
            RevocationWrite::Token { .. } => "/tokens",
            RevocationWrite::Subject { .. } => "/subjects",
            RevocationWrite::Key { .. } => "/keys",
            RevocationWrite::Session { .. } => "/sessions",
        }
    }

    /// The call's JSON body: the entry's identifiers and bounds.
    pub(crate) fn body(&self) -> Value {
        match self {
            RevocationWrite::Token { jti, iss, until } => {
                json!({"jti": jti, "iss": iss, "until": until})
            }
            RevocationWrite::Subject {
                sub,
                iss,
                before,
                until,
            } => json!({"sub": sub, "iss": iss, "before": before, "until": until}),
            RevocationWrite::Key { key_id, until } => json!({"key_id": key_id, "until": until}),
            RevocationWrite::Session { sid, iss, until } => {
                json!({"sid": sid, "iss": iss, "until": until})
            }
        }
    }
}

/// The object's answer to a write: the entry as stored (a re-revocation keeps the later `until`
/// and `before`) and whether it is new.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Written {
    pub version: u64,
    pub created: bool,
    pub entry: Value,
    kind: WriteKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteKind {
    Token,
    Subject,
    Key,
    Session,
}

#[derive(Deserialize)]
struct WrittenAnswer {
    version: u64,
    created: bool,
    entry: Value,
}

/// Writes one entry and reads the answer.
pub(crate) async fn write<P: Platform>(
    platform: &P,
    write: &RevocationWrite,
) -> Result<Written, String> {
    let text = platform
        .revocation_call("POST", write.path(), Some(write.body().to_string()))
        .await
        .map_err(|e| e.0)?;
    let answer: WrittenAnswer = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let kind = match write {
        RevocationWrite::Token { .. } => WriteKind::Token,
        RevocationWrite::Subject { .. } => WriteKind::Subject,
        RevocationWrite::Key { .. } => WriteKind::Key,
        RevocationWrite::Session { .. } => WriteKind::Session,
    };
    Ok(Written {
        version: answer.version,
        created: answer.created,
        entry: answer.entry,
        kind,
    })
}

impl Written {
    /// Adds the entry to an isolate's snapshot without advancing its version: entries other
    /// isolates wrote in between still arrive with the next delta.
    pub(crate) fn apply_locally(&self, set: &mut RevocationSet) {
        let version = set.version;
        // Read back through its JSON text, as `RevocationService::load` reads the stored entries:
        // one deserializer per entry type in the wasm rather than a second one over `Value`.
        let entry = self.entry.to_string();
        match self.kind {
            WriteKind::Token => {
                if let Ok(e) = serde_json::from_str::<TokenEntry>(&entry) {
                    set.put_token(e);
                }
            }
            WriteKind::Subject => {
                if let Ok(e) = serde_json::from_str::<SubjectEntry>(&entry) {
                    set.put_subject(e);
                }
            }
            WriteKind::Key => {
                if let Ok(e) = serde_json::from_str::<KeyEntry>(&entry) {
                    set.put_key(e);
                }
            }
            WriteKind::Session => {
                if let Ok(e) = serde_json::from_str::<SessionEntry>(&entry) {
                    set.put_session(e);
                }
            }
        }
        set.version = version;
    }
}
