//! `/passkeys/{subject}…` in the admin API (served when `passkeys.enabled`): a subject's passkeys
//! listed, one deleted, or all of them — for a user who lost a device, or an account an operator
//! must lock out of passkey login. Deletion goes through the same store steps as the user's own
//! (`webauthn::client`: the user's object first, then the claims). Audited like every admin call
//! (`passkey.list`, `passkey.delete`, `passkey.delete_all`, with the subject and the ids).
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/passkeys/{subject}` | 200 `{"subject", "passkeys": [...]}` (the account page's listing) |
//! | DELETE | `/passkeys/{subject}/{credential_id}` | 204; 404 `passkey_not_found` |
//! | DELETE | `/passkeys/{subject}` | 200 `{"subject", "deleted": n}` |

use serde_json::json;

use super::audit::Audit;
use super::Answer;
use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
use crate::webauthn::manage::{credential_id_in_path, listing};
use crate::webauthn::{client, PasskeyError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Action {
    List(String),
    Delete {
        subject: String,
        id: String,
        raw: Vec<u8>,
    },
    DeleteAll(String),
}

impl Action {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Action::List(_) => "passkey.list",
            Action::Delete { .. } => "passkey.delete",
            Action::DeleteAll(_) => "passkey.delete_all",
        }
    }

    fn subject(&self) -> &str {
        match self {
            Action::List(s) | Action::DeleteAll(s) | Action::Delete { subject: s, .. } => s,
        }
    }
}

/// `None`: not a passkey path. `Some(Err)`: under `/passkeys` but no such endpoint or method, or a
/// subject or credential id that does not decode.
pub(super) fn route(method: &str, path: &str) -> Option<Result<Action, Problem>> {
    let rest = crate::path::under_prefix(path, "/passkeys")?;
    let segments: Vec<&str> = rest.strip_prefix('/').unwrap_or("").split('/').collect();
    let (encoded, credential) = match segments.as_slice() {
        [subject] if !subject.is_empty() => (*subject, None),
        [subject, id] if !subject.is_empty() && !id.is_empty() => (*subject, Some(*id)),
        _ => {
            return Some(Err(Problem::new(
                ErrorCode::RouteNotFound,
                "the passkey admin API serves /passkeys/{subject} and /passkeys/{subject}/{credential_id}",
            )))
        }
    };
    let subject = match super::subject_in_path(encoded) {
        Ok(s) => s,
        Err(problem) => return Some(Err(problem)),
    };
    Some(match (method, credential) {
        ("GET", None) => Ok(Action::List(subject)),
        ("DELETE", None) => Ok(Action::DeleteAll(subject)),
        ("DELETE", Some(id)) => match credential_id_in_path(id) {
            Ok((id, raw)) => Ok(Action::Delete { subject, id, raw }),
            Err(e) => Err(e.into()),
        },
        (_, None) => Err(super::method_not_allowed(method, &["GET", "DELETE"])),
        (_, Some(_)) => Err(super::method_not_allowed(method, &["DELETE"])),
    })
}

pub(super) async fn run<P: Platform>(
    platform: &P,
    action: &Action,
    audit: &mut Audit,
) -> Result<Answer, Problem> {
    let subject = action.subject();
    audit.add("subject", json!(subject));
    match action {
        Action::List(_) => {
            let credentials = client::list_credentials(platform, subject).await?;
            audit.add("count", json!(credentials.len()));
            Ok(Answer::json(
                200,
                json!({ "subject": subject, "passkeys": listing(&credentials) }),
            ))
        }
        Action::Delete { id, raw, .. } => {
            audit.add("credential_id", json!(id));
            if client::delete_credential(platform, subject, id, raw).await? {
                Ok(Answer::no_content())
            } else {
                Err(PasskeyError::NotFound.into())
            }
        }
        Action::DeleteAll(_) => {
            let deleted = client::delete_all_credentials(platform, subject).await?;
            audit.add("deleted", json!(deleted.ids.len()));
            audit.add("credential_ids", json!(deleted.ids));
            if !deleted.claims_released {
                // Every passkey is gone from the user (none logs in); some ids stay claimed until
                // their own delete (`DELETE /passkeys/{subject}/{id}`) releases them.
                return Err(Problem::new(
                    ErrorCode::PasskeyStoreUnavailable,
                    "the passkeys are deleted, but the store failed to release some credential ids: delete each id listed in the audit line again",
                ));
            }
            Ok(Answer::json(
                200,
                json!({ "subject": subject, "deleted": deleted.ids.len() }),
            ))
        }
    }
}
