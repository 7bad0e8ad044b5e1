//! The gateway's side of the `MfaSubject` protocol: which object holds a subject, one call, and
//! what each failure answers. A call that cannot be completed fails closed (503
//! `mfa_unavailable`): no code is ever accepted without the object's word.

use sha2::{Digest, Sha256};

use super::store::{MfaAnswer, MfaRequest};
use crate::log::{self, Event};
use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};

/// The object's name for `subject` (the `sub` of the gateway's own tokens): a hash, so any `sub`
/// gives a short name of one alphabet.
pub(crate) fn subject_key(subject: &str) -> String {
    let digest = Sha256::digest(format!("portcullis/mfa/v1\0{subject}"));
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// One call to `subject`'s object.
pub(crate) async fn call<P: Platform>(
    platform: &P,
    subject: &str,
    request: &MfaRequest,
) -> Result<MfaAnswer, Problem> {
    let body = serde_json::to_string(request).map_err(|e| unavailable(platform, &e.to_string()))?;
    let text = platform
        .mfa_call(&subject_key(subject), body)
        .await
        .map_err(|e| unavailable(platform, &e.0))?;
    serde_json::from_str(&text)
        .map_err(|_| unavailable(platform, "the MFA object answered out of contract"))
}

/// Logs why and answers 503 `mfa_unavailable` (the reason never reaches the client).
pub(crate) fn unavailable<P: Platform>(platform: &P, reason: &str) -> Problem {
    log::emit(platform, Event::MfaUnavailable { reason });
    Problem::new(
        ErrorCode::MfaUnavailable,
        "the second factor cannot be checked right now; try again later",
    )
}

/// An answer the caller did not expect at this point of the protocol.
pub(crate) fn unexpected<P: Platform>(platform: &P, answer: &MfaAnswer) -> Problem {
    let reason = format!("unexpected answer {:?}", std::mem::discriminant(answer));
    unavailable(platform, &reason)
}

/// 429 `mfa_locked` with `Retry-After`.
pub(crate) fn locked(retry_after_secs: u64) -> Problem {
    Problem::new(
        ErrorCode::MfaLocked,
        format!("too many failed attempts; try again in {retry_after_secs} s"),
    )
    .with_header("retry-after", retry_after_secs.to_string())
    .with_extension("retry_after", serde_json::json!(retry_after_secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{block_on, FakePlatform};

    #[test]
    fn an_unreachable_object_fails_closed_and_says_why_in_the_log_only() {
        let p = FakePlatform::new(1_800_000_000);
        p.mfa_down.set(true);
        let problem = block_on(call(&p, "u", &MfaRequest::Status)).unwrap_err();
        assert_eq!(problem.code, ErrorCode::MfaUnavailable);
        assert!(!problem.detail.contains("outage"));
        let logs = p.logs.borrow();
        assert!(logs
            .iter()
            .any(|l| l.contains("mfa_unavailable") && l.contains("outage")));
        assert_eq!(subject_key("u").len(), 64);
        assert_ne!(subject_key("u"), subject_key("v"));
    }

    #[test]
    fn locked_carries_retry_after() {
        let reply = locked(42).reply();
        assert_eq!(reply.status, 429);
        assert_eq!(reply.header("retry-after"), Some("42"));
    }
}
