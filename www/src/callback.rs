//! The authorization response (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207).
//!
//! Order of checks: well-formed → `state` (binds the response to this browser's request) →
//! `iss` (binds it to the expected server) → only then is an `error` or `code` believed.
//! An error response with a wrong `state` is therefore reported as `state_mismatch`: an attacker
//! cannot make the application display an error of their choosing.

use crate::encoding::{constant_time_eq, is_vschar, parse_form};
use crate::error::{ErrorResponse, PkceError};
use alloc::boxed::Box;
use alloc::string::String;

/// What the response must match; taken from the pending transaction.
#[derive(Clone, Copy, Debug)]
pub struct ExpectedResponse<'a> {
    pub state: &'a str,
    pub issuer: &'a str,
    /// The server advertises `authorization_response_iss_parameter_supported`, so `iss` must
    /// be present (RFC 9207 §2.4). When false, `iss` is still checked whenever it is present.
    pub require_iss: bool,
}

fn malformed(reason: &'static str) -> PkceError {
    PkceError::MalformedCallback { reason }
}

/// Returns the query of a callback URL (`https://app/cb?…#…`) or of `location.search` (`?…`).
fn response_query(callback: &str) -> Result<&str, PkceError> {
    let bytes = callback.as_bytes();
    let hash = bytes.iter().position(|&b| b == b'#').unwrap_or(bytes.len());
    let question = bytes.iter().position(|&b| b == b'?').filter(|&q| q < hash);
    // Both positions are at ASCII bytes, so these are char boundaries and `get` cannot fail.
    let query = question
        .and_then(|q| callback.get(q + 1..hash))
        .unwrap_or("");
    if query.is_empty() {
        let fragment = bytes.get(hash + 1..).unwrap_or_default();
        let looks_like_response = |p: &[u8]| {
            p.starts_with(b"state=") || p.starts_with(b"code=") || p.starts_with(b"error=")
        };
        if fragment.split(|&b| b == b'&').any(looks_like_response) {
            return Err(malformed(
                "the response is in the URL fragment; this helper expects response_mode=query",
            ));
        }
        return Err(malformed("the URL has no query string"));
    }
    Ok(query)
}

/// Single-valued response parameters this helper reads (RFC 6749 §3.1); others are ignored.
const PARAMETERS: [&str; 6] = [
    "code",
    "state",
    "iss",
    "error",
    "error_description",
    "error_uri",
];

/// Checks an authorization response and returns its authorization code.
pub fn parse_callback(
    callback: &str,
    expected: &ExpectedResponse<'_>,
) -> Result<String, PkceError> {
    let mut found: [Option<String>; 6] = Default::default();
    for (name, value) in parse_form(response_query(callback)?).map_err(malformed)? {
        if let Some((_, slot)) = PARAMETERS
            .iter()
            .zip(found.iter_mut())
            .find(|(p, _)| **p == name)
        {
            if slot.replace(value).is_some() {
                return Err(malformed(
                    "a response parameter appears more than once (RFC 6749 §3.1)",
                ));
            }
        }
    }
    let [code, state, iss, error, error_description, error_uri] = found;

    let state = state.ok_or(PkceError::MissingState)?;
    if !constant_time_eq(state.as_bytes(), expected.state.as_bytes()) {
        return Err(PkceError::StateMismatch);
    }
    match iss {
        Some(iss) if iss != expected.issuer => return Err(PkceError::IssuerMismatch),
        None if expected.require_iss => return Err(PkceError::MissingIssuer),
        _ => {}
    }
    if let Some(error) = error {
        let response = ErrorResponse {
            error,
            description: error_description,
            uri: error_uri,
        };
        return Err(PkceError::AuthorizationError(Box::new(response)));
    }
    match code {
        Some(code) if !code.is_empty() && code.bytes().all(is_vschar) => Ok(code),
        Some(code) if !code.is_empty() => Err(malformed("the code is not printable ASCII")),
        _ => Err(PkceError::MissingCode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = "s0123456789abcdefghij-_~.";
    const ISS: &str = "https://as.example";

    fn expect(require_iss: bool) -> ExpectedResponse<'static> {
        ExpectedResponse {
            state: STATE,
            issuer: ISS,
            require_iss,
        }
    }

    fn run(url: &str, require_iss: bool) -> Result<String, PkceError> {
        parse_callback(url, &expect(require_iss))
    }

    #[test]
    fn success_returns_code() {
        let url = format!(
            "https://app.example/cb?code=abc%2Bdef&state={STATE}&iss=https%3A%2F%2Fas.example"
        );
        assert_eq!(run(&url, true).unwrap(), "abc+def");
        // location.search form, fragment ignored, unknown parameters ignored.
        let search =
            format!("?session_state=x&state={STATE}&code=c1&iss=https://as.example#/route");
        assert_eq!(run(&search, true).unwrap(), "c1");
    }

    #[test]
    fn iss_is_optional_unless_required() {
        let url = format!("https://app.example/cb?code=c&state={STATE}");
        assert_eq!(run(&url, false).unwrap(), "c");
        assert_eq!(run(&url, true).unwrap_err(), PkceError::MissingIssuer);
    }

    #[test]
    fn state_checks() {
        assert_eq!(
            run(
                "https://app.example/cb?code=c&iss=https://as.example",
                false
            )
            .unwrap_err(),
            PkceError::MissingState
        );
        let tampered = format!("https://app.example/cb?code=c&state={STATE}x");
        assert_eq!(run(&tampered, false).unwrap_err(), PkceError::StateMismatch);
        assert_eq!(
            run("https://app.example/cb?code=c&state=", false).unwrap_err(),
            PkceError::StateMismatch
        );
    }

    #[test]
    fn wrong_state_hides_an_injected_error() {
        let url = "https://app.example/cb?error=access_denied&error_description=click%20here&state=attacker";
        assert_eq!(run(url, false).unwrap_err(), PkceError::StateMismatch);
    }

    #[test]
    fn issuer_mismatch() {
        for iss in [
            "https://evil.example",
            "https://as.example/",
            "HTTPS://as.example",
            "",
        ] {
            let url = format!("https://app.example/cb?code=c&state={STATE}&iss={iss}");
            assert_eq!(
                run(&url, false).unwrap_err(),
                PkceError::IssuerMismatch,
                "{iss}"
            );
        }
    }

    #[test]
    fn authorization_error_carries_server_fields() {
        let url = format!(
            "https://app.example/cb?error=access_denied&error_description=End-User+aborted+interaction\
             &error_uri=https%3A%2F%2Fas.example%2Fhelp&state={STATE}&iss=https%3A%2F%2Fas.example"
        );
        let err = run(&url, true).unwrap_err();
        assert_eq!(
            err,
            PkceError::AuthorizationError(Box::new(ErrorResponse {
                error: "access_denied".into(),
                description: Some("End-User aborted interaction".into()),
                uri: Some("https://as.example/help".into()),
            }))
        );
        assert_eq!(err.code(), "authorization_error");
        assert_eq!(
            err.message(),
            "authorization server returned error 'access_denied': End-User aborted interaction"
        );
        let bare = format!("https://app.example/cb?error=login_required&state={STATE}");
        assert_eq!(
            run(&bare, false).unwrap_err(),
            PkceError::AuthorizationError(Box::new(ErrorResponse {
                error: "login_required".into(),
                description: None,
                uri: None
            }))
        );
    }

    #[test]
    fn missing_code() {
        assert_eq!(
            run(&format!("https://app.example/cb?state={STATE}"), false).unwrap_err(),
            PkceError::MissingCode
        );
        assert_eq!(
            run(
                &format!("https://app.example/cb?code=&state={STATE}"),
                false
            )
            .unwrap_err(),
            PkceError::MissingCode
        );
    }

    #[test]
    fn malformed_responses() {
        let m = |url: &str| match run(url, false) {
            Err(PkceError::MalformedCallback { reason }) => reason,
            other => panic!("{url}: {other:?}"),
        };
        assert_eq!(m("https://app.example/cb"), "the URL has no query string");
        assert_eq!(m("https://app.example/cb?"), "the URL has no query string");
        assert_eq!(
            m(&format!("https://app.example/cb#code=c&state={STATE}")),
            "the response is in the URL fragment; this helper expects response_mode=query"
        );
        assert_eq!(
            m(&format!(
                "https://app.example/cb?code=a&code=b&state={STATE}"
            )),
            "a response parameter appears more than once (RFC 6749 §3.1)"
        );
        assert_eq!(
            m(&format!(
                "https://app.example/cb?code=a&state={STATE}&state={STATE}"
            )),
            "a response parameter appears more than once (RFC 6749 §3.1)"
        );
        assert_eq!(
            m(&format!("https://app.example/cb?code=%zz&state={STATE}")),
            "contains an invalid percent-escape"
        );
        assert_eq!(
            m(&format!("https://app.example/cb?code=a%0Ab&state={STATE}")),
            "the code is not printable ASCII"
        );
    }
}
