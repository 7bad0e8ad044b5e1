//! `/mfa/totp/{subject}` in the admin API: a subject's TOTP state (`GET`) and its reset
//! (`DELETE`: the enrollment, the recovery codes, the used step and the lockout are forgotten, so
//! the user can enroll again). For a user who lost the authenticator and the recovery codes, or an
//! unreadable object. Audited like every admin call (`mfa.totp.status`, `mfa.totp.reset`, with
//! the subject).

use serde_json::json;

use super::audit::Audit;
use super::Answer;
use crate::mfa::client;
use crate::mfa::store::{MfaAnswer, MfaRequest};
use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Action {
    Status(String),
    Reset(String),
}

impl Action {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Action::Status(_) => "mfa.totp.status",
            Action::Reset(_) => "mfa.totp.reset",
        }
    }

    fn subject(&self) -> &str {
        match self {
            Action::Status(s) | Action::Reset(s) => s,
        }
    }
}

/// `None`: not an MFA path. `Some(Err)`: under `/mfa` but no such endpoint or method.
pub(super) fn route(method: &str, path: &str) -> Option<Result<Action, Problem>> {
    let rest = crate::path::under_prefix(path, "/mfa")?;
    let Some(encoded) = rest.strip_prefix("/totp/").filter(|s| !s.contains('/')) else {
        return Some(Err(Problem::new(
            ErrorCode::RouteNotFound,
            "the MFA admin API serves /mfa/totp/{subject}",
        )));
    };
    let subject = match super::subject_in_path(encoded) {
        Ok(s) => s,
        Err(problem) => return Some(Err(problem)),
    };
    Some(match method {
        "GET" => Ok(Action::Status(subject)),
        "DELETE" => Ok(Action::Reset(subject)),
        _ => Err(super::method_not_allowed(method, &["GET", "DELETE"])),
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
        Action::Status(_) => match client::call(platform, subject, &MfaRequest::Status).await? {
            MfaAnswer::Status {
                enrolled,
                pending,
                recovery_codes_left,
                locked_until_ms,
            } => Ok(Answer::json(
                200,
                json!({
                    "subject": subject,
                    "totp": {
                        "enrolled": enrolled,
                        "pending": pending,
                        "recovery_codes_left": recovery_codes_left,
                        "locked_until": locked_until_ms.map(|ms| ms / 1000),
                    }
                }),
            )),
            other => Err(client::unexpected(platform, &other)),
        },
        Action::Reset(_) => match client::call(platform, subject, &MfaRequest::Disable).await? {
            MfaAnswer::Disabled { had_enrollment } => {
                audit.add("had_enrollment", json!(had_enrollment));
                Ok(Answer::json(
                    200,
                    json!({ "subject": subject, "totp": { "reset": true, "had_enrollment": had_enrollment } }),
                ))
            }
            other => Err(client::unexpected(platform, &other)),
        },
    }
}
