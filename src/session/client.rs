//! The protocol between the gateway and a `SessionFamily` object (one per session, named by its
//! family id): one JSON `FamilyCall` in, one `FamilyAnswer` out (`family` is the object's side).
//! A transport failure and an answer this build cannot read are both an `Unavailable`: the
//! endpoints refuse with 503 `session_unavailable` (fail closed: no token is minted without the
//! object's word).

use crate::platform::Platform;

use super::family::{FamilyAnswer, FamilyCall};

/// The object could not be asked, or its answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unavailable(pub String);

/// One call to the family object `family_id`.
pub(crate) async fn call<P: Platform>(
    platform: &P,
    family_id: &str,
    call: &FamilyCall,
) -> Result<FamilyAnswer, Unavailable> {
    let body = serde_json::to_string(call).map_err(|e| Unavailable(e.to_string()))?;
    let text = platform
        .session_call(family_id, body)
        .await
        .map_err(|e| Unavailable(e.0))?;
    match serde_json::from_str::<FamilyAnswer>(&text) {
        Ok(FamilyAnswer::BadCall { error }) => Err(Unavailable(format!(
            "the session object refused the call: {error}"
        ))),
        Ok(answer) => Ok(answer),
        Err(e) => Err(Unavailable(format!(
            "unreadable session object answer: {e}"
        ))),
    }
}
