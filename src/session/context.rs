//! What every session endpoint works with: the per-call context `Gateway::session` builds, the
//! subject-token check the pipeline lends `/auth/token`, and the CSRF checks (`csrf`) as the
//! endpoints apply them.

use std::cell::RefCell;
use std::rc::Rc;

use crate::identity::Identity;
use crate::problem::{ErrorCode, Problem};
use crate::request::RequestHead;
use crate::revocation::{RevocationSettings, SnapshotCache};
use crate::signing::issuer::SessionIssuer;

use super::csrf::{self, OriginVerdict};
use super::settings::SessionSettings;

/// Checks a subject token for `/auth/token` through the gateway's own verification (the
/// pipeline implements it: the same checks, caches and revocation as any bearer token).
#[allow(async_fn_in_trait)]
pub(crate) trait SubjectTokenVerifier {
    async fn verify(&self, token: &str) -> Result<Identity, Problem>;
}

/// Everything an endpoint needs, built by `Gateway::session` for one call.
pub(crate) struct SessionContext<'a, P, V> {
    pub platform: &'a P,
    pub settings: &'a SessionSettings,
    pub issuer: &'a SessionIssuer,
    pub revocation: &'a RevocationSettings,
    pub snapshot: &'a Rc<RefCell<SnapshotCache>>,
    /// The `PORTCULLIS_LOGIN_SECRET` Workers secret (present whenever `sessions.login` is set).
    pub login_secret: Option<&'a str>,
    pub verifier: &'a V,
    pub head: &'a RequestHead,
    /// The `[passkeys]` section, for `/auth/passkeys/…` (`session::passkeys`).
    pub passkeys: &'a crate::webauthn::settings::PasskeySettings,
    /// DPoP (issue 13): a token request with a proof gets tokens bound to its key (RFC 9449 §5).
    pub dpop: &'a crate::dpop::settings::DpopSettings,
    /// The gateway's `realm`, for a challenge an endpoint answers with (a passkey delete's
    /// `max_age`).
    pub realm: &'a str,
}

/// The request's path after `sessions.path_prefix` (`""` or starting with `/`). `None`: not
/// under the prefix (or sessions are off).
pub(crate) fn path_under_prefix<'h>(
    settings: &SessionSettings,
    head: &'h RequestHead,
) -> Option<&'h str> {
    if !settings.enabled {
        return None;
    }
    let (_, _, path, _) = crate::url::split_url(&head.url)?;
    crate::path::under_prefix(path, &settings.path_prefix)
}

/// The request's own origin and the configured app origins, checked against `Origin`.
pub(crate) fn origin_verdict(settings: &SessionSettings, head: &RequestHead) -> OriginVerdict {
    let own = csrf::own_origin(&head.url);
    csrf::check_origin(
        head.headers_named("origin"),
        own.as_deref(),
        &settings.app_origins,
    )
}

/// `Origin`, when the request has one, must be allowed (`/auth/login`, `/auth/token`).
pub(crate) fn origin_if_present(
    settings: &SessionSettings,
    head: &RequestHead,
) -> Result<(), Problem> {
    match origin_verdict(settings, head) {
        OriginVerdict::Allowed | OriginVerdict::Missing => Ok(()),
        OriginVerdict::Foreign => Err(foreign_origin()),
    }
}

/// The cookie endpoints' CSRF checks (`csrf`): an allowed `Origin`, then a JSON request.
pub(crate) fn cookie_request_checks(
    settings: &SessionSettings,
    head: &RequestHead,
) -> Result<(), Problem> {
    match origin_verdict(settings, head) {
        OriginVerdict::Allowed => {}
        OriginVerdict::Missing => return Err(Problem::new(
            ErrorCode::SessionOriginRefused,
            "this endpoint requires an Origin header naming the gateway or a configured app origin",
        )),
        OriginVerdict::Foreign => return Err(foreign_origin()),
    }
    json_request(head)
}

pub(crate) fn json_request(head: &RequestHead) -> Result<(), Problem> {
    if csrf::is_json(head.headers_named("content-type")) {
        Ok(())
    } else {
        Err(Problem::new(
            ErrorCode::SessionContentTypeRefused,
            "this endpoint requires Content-Type: application/json",
        ))
    }
}

pub(crate) fn foreign_origin() -> Problem {
    Problem::new(
        ErrorCode::SessionOriginRefused,
        "the request's Origin is neither the gateway nor a configured app origin",
    )
}
