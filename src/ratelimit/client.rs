//! The protocol between the gateway and an identity's rate-limiter object: what a call carries
//! (`LimiterRequest`, one JSON body to the object named by the identity's counting key) and how
//! the answer (`LimiterResponse`) is read. The object's side is `service`; the limit stage
//! (`pipeline::limit`) makes the calls, through `Platform::limiter_call`, so that a background
//! sync can own its future.

use crate::platform::StoreError;

use super::gcra::Acquire;
use super::lease::SyncRequest;
use super::service::{LimiterRequest, LimiterResponse};
use super::Policy;

/// `exact`: one unit for this request, booked at once.
pub(crate) fn exact_request(policy: &Policy) -> String {
    request(
        policy,
        Acquire {
            want: 1,
            ..Default::default()
        },
        false,
    )
}

/// `fast`: settles what an isolate's lease `sent` (used units, returned units, a new share); the
/// object may write the booking behind.
pub(crate) fn sync_request(policy: &Policy, sent: &SyncRequest) -> String {
    request(
        policy,
        Acquire {
            charge: sent.charge,
            refund: sent.refund,
            want: sent.want,
        },
        true,
    )
}

fn request(policy: &Policy, acquire: Acquire, lazy: bool) -> String {
    serde_json::to_string(&LimiterRequest::new(
        &policy.name,
        &policy.rate,
        acquire,
        lazy,
    ))
    .unwrap_or_default()
}

/// Reads the object's answer to a call that asked for `want` units. The object never grants more
/// than it was asked (`gcra::acquire`); an answer that does is out of contract (corrupt, or from
/// another build) and is treated like no answer at all, so `on_error` decides — never a lease or
/// an admission sized by a number the gateway did not ask for.
pub(crate) fn read_answer(
    text: Result<String, StoreError>,
    want: u64,
) -> Result<LimiterResponse, String> {
    let text = text.map_err(|e| e.0)?;
    let answer: LimiterResponse =
        serde_json::from_str(&text).map_err(|e| format!("unreadable answer: {e}"))?;
    if answer.granted > want {
        return Err(format!(
            "out-of-contract answer: {} units granted, {want} asked",
            answer.granted
        ));
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(granted: u64) -> Result<String, StoreError> {
        Ok(format!(
            r#"{{"granted":{granted},"remaining":0,"next_ms":0,"now":1}}"#
        ))
    }

    #[test]
    fn an_answer_granting_more_than_asked_is_no_answer() {
        assert_eq!(read_answer(answer(1), 1).map(|a| a.granted), Ok(1));
        assert_eq!(
            read_answer(answer(2), 1).map(|a| a.granted),
            Err("out-of-contract answer: 2 units granted, 1 asked".to_string())
        );
        assert!(read_answer(Ok("{}".into()), 1)
            .unwrap_err()
            .starts_with("unreadable answer"));
        assert_eq!(
            read_answer(Err(StoreError("down".into())), 1).map(|a| a.granted),
            Err("down".to_string())
        );
    }
}
