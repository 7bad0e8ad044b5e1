//! The one dispatcher for the endpoints under `sessions.path_prefix` (default `/auth`): which
//! endpoint a request is for. Every path under the prefix is the gateway's own: an unknown one is
//! 404 `route_not_found`, never forwarded.
//!
//! (Created minimally on the TOTP branch with the MFA arm only; the session endpoints —
//! login, token, refresh, logout — and the passkey endpoints add their arms to `Endpoint`.)

use crate::mfa::endpoints::TotpEndpoint;
use crate::problem::{ErrorCode, Problem};
use crate::reply::Reply;
use crate::request::RequestHead;

use super::settings::SessionSettings;

/// An endpoint under the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `{prefix}/mfa/totp/{enroll,confirm,verify,disable}` (`mfa::endpoints`).
    MfaTotp(TotpEndpoint),
}

impl Endpoint {
    /// The route name in the request log.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Endpoint::MfaTotp(e) => e.name(),
        }
    }
}

/// Where a request under the prefix goes: an endpoint (the runtime reads the body and calls
/// `Gateway::session`), or an answer right away (404, 405). `None`: not under the prefix.
pub(crate) fn route(
    settings: &SessionSettings,
    head: &RequestHead,
) -> Option<Result<Endpoint, Reply>> {
    if !settings.enabled {
        return None;
    }
    let (_, _, path, _) = crate::url::split_url(&head.url)?;
    let rest = path.strip_prefix(settings.path_prefix.as_str())?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let endpoint = match rest.strip_prefix("/mfa/totp").and_then(TotpEndpoint::at) {
        Some(totp) => Endpoint::MfaTotp(totp),
        None => {
            return Some(Err(Problem::new(
                ErrorCode::RouteNotFound,
                format!(
                    "no endpoint here; the TOTP endpoints are {p}/mfa/totp/enroll, confirm, verify and disable",
                    p = settings.path_prefix
                ),
            )
            .reply()))
        }
    };
    if head.method != "POST" {
        return Some(Err(Problem::new(
            ErrorCode::RequestInvalid,
            format!("method {} is not allowed here; allowed: POST", head.method),
        )
        .with_status(405)
        .with_header("allow", "POST")
        .reply()));
    }
    Some(Ok(endpoint))
}
