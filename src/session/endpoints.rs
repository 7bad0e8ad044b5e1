//! The one dispatcher for the endpoints under `sessions.path_prefix` (default `/auth`): which
//! endpoint a request is for, the CORS answer for a configured app origin, and serving the call
//! once the runtime has read its body. Every path under the prefix is the gateway's own: an
//! unknown one is 404 `route_not_found`, never forwarded.
//!
//! | endpoint | module | what |
//! |---|---|---|
//! | `POST /auth/login` | `login` | the origin's login endpoint checks the credentials; a session starts |
//! | `POST /auth/token` | `exchange` | RFC 8693 token exchange of an upstream issuer's token |
//! | `POST /auth/refresh` | `refresh` | rotates the refresh cookie, mints an access token |
//! | `POST /auth/logout` | `refresh` | ends the session |
//! | `POST /auth/mfa/totp/{enroll,confirm,verify,disable}` | `mfa::endpoints` | TOTP, served by `Gateway::session` (`pipeline::session`) |
//! | `POST /auth/passkeys/…` | `passkeys` | WebAuthn registration, passkey login and step-up (`webauthn::endpoints`) |
//! | `GET /auth/passkeys`, `DELETE /auth/passkeys/{id}` | `passkeys` | the user's passkeys listed and deleted (`webauthn::manage`) |

use crate::dpop::settings::DpopSettings;
use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
use crate::reply::Reply;
use crate::request::RequestHead;

use super::context::{foreign_origin, path_under_prefix, SessionContext, SubjectTokenVerifier};
use super::settings::SessionSettings;

/// The largest request body a session endpoint reads (a login form, a token exchange).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A session endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Login,
    Token,
    Refresh,
    Logout,
    /// `{prefix}/mfa/totp/{enroll,confirm,verify,disable}` (`mfa::endpoints`). (Its endpoint
    /// type is crate-private: only the worker acts on it.)
    #[allow(private_interfaces)]
    MfaTotp(crate::mfa::endpoints::TotpEndpoint),
    /// `/passkeys/…` (`webauthn::endpoints`, served by `session::passkeys`).
    Passkeys(crate::webauthn::endpoints::PasskeyEndpoint),
    /// `GET /passkeys`, `DELETE /passkeys/{id}` (`webauthn::manage`, served by `session::passkeys`).
    PasskeyManage(crate::webauthn::manage::ManageEndpoint),
}

impl Endpoint {
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Login => "session-login",
            Endpoint::Token => "session-token",
            Endpoint::Refresh => "session-refresh",
            Endpoint::Logout => "session-logout",
            Endpoint::MfaTotp(e) => e.name(),
            Endpoint::Passkeys(p) => p.name(),
            Endpoint::PasskeyManage(m) => m.name(),
        }
    }

    /// The methods the endpoint takes: `POST`, except the passkey listing and delete.
    pub fn methods(self) -> &'static [&'static str] {
        match self {
            Endpoint::PasskeyManage(m) => m.methods(),
            _ => &["POST"],
        }
    }

    /// Whether the gateway's `cors` policy applies, as on any route, instead of the session
    /// endpoints' own CORS for `sessions.app_origins`: the TOTP endpoints take a bearer token, not
    /// the refresh cookie, so a cross-origin app calls them without credentials mode.
    pub fn uses_gateway_cors(self) -> bool {
        matches!(self, Endpoint::MfaTotp(_))
    }

    /// How much of a body the runtime reads for this endpoint (one byte more is refused with 413).
    pub fn body_cap(self) -> usize {
        match self {
            Endpoint::MfaTotp(_) => crate::mfa::endpoints::MAX_BODY_BYTES,
            _ => MAX_BODY_BYTES,
        }
    }
}

/// Where a request under the prefix goes: an endpoint (the runtime reads the body and calls
/// `serve`), or an answer right away (a preflight, 404, 405). `None`: not under the prefix.
pub(crate) fn route(
    settings: &SessionSettings,
    dpop: &DpopSettings,
    head: &RequestHead,
) -> Option<Result<Endpoint, Reply>> {
    let endpoint = match endpoint_at(settings, head)? {
        Ok(endpoint) => endpoint,
        Err(not_found) => return Some(Err(not_found)),
    };
    if head.method == "OPTIONS" {
        return Some(Err(preflight(settings, dpop, head, endpoint)));
    }
    if !endpoint.methods().contains(&head.method.as_str()) {
        let allowed = endpoint.methods().join(", ");
        return Some(Err(Problem::new(
            ErrorCode::RequestInvalid,
            format!(
                "method {} is not allowed here; allowed: {allowed}",
                head.method
            ),
        )
        .with_status(405)
        .with_header("allow", allowed)
        .reply()));
    }
    Some(Ok(endpoint))
}

/// The endpoint `head`'s path names, whatever the method, or 404 for another path under the
/// prefix. `None`: not under the prefix (or sessions are off).
pub(crate) fn endpoint_at(
    settings: &SessionSettings,
    head: &RequestHead,
) -> Option<Result<Endpoint, Reply>> {
    let rest = path_under_prefix(settings, head)?;
    let endpoint = match rest {
        "/login" => Endpoint::Login,
        "/token" => Endpoint::Token,
        "/refresh" => Endpoint::Refresh,
        "/logout" => Endpoint::Logout,
        _ => match (
            rest.strip_prefix("/mfa/totp")
                .and_then(crate::mfa::endpoints::TotpEndpoint::at),
            crate::webauthn::endpoints::PasskeyEndpoint::parse(rest),
            crate::webauthn::manage::ManageEndpoint::at(rest),
        ) {
            (Some(totp), _, _) => Endpoint::MfaTotp(totp),
            (None, Some(passkey), _) => Endpoint::Passkeys(passkey),
            (None, None, Some(manage)) => Endpoint::PasskeyManage(manage),
            (None, None, None) => {
                return Some(Err(Problem::new(
                    ErrorCode::RouteNotFound,
                    format!(
                        "the session endpoints are {p}/login, {p}/token, {p}/refresh and {p}/logout (and {p}/mfa/totp/enroll, confirm, verify and disable, and {p}/passkeys/…)",
                        p = settings.path_prefix
                    ),
                )
                .reply()))
            }
        },
    };
    Some(Ok(endpoint))
}

/// Serves one call; `body` is at most `MAX_BODY_BYTES + 1` bytes (the runtime's cap). Returns the
/// reply and, for a refusal, its code (for the request's log line).
pub(crate) async fn serve<P: Platform, V: SubjectTokenVerifier>(
    ctx: &SessionContext<'_, P, V>,
    endpoint: Endpoint,
    body: &[u8],
) -> (Reply, Option<ErrorCode>) {
    let result = if body.len() > MAX_BODY_BYTES {
        Err(Problem::new(
            ErrorCode::RequestInvalid,
            format!("the request body is over {MAX_BODY_BYTES} bytes"),
        )
        .with_status(413))
    } else {
        match endpoint {
            Endpoint::Login => super::login::login(ctx, body).await,
            Endpoint::Token => super::exchange::exchange(ctx, body).await,
            Endpoint::Refresh => super::refresh::refresh(ctx).await,
            Endpoint::Logout => super::refresh::logout(ctx).await,
            // Served by `Gateway::session`, which needs the caller's token checked by the pipeline.
            Endpoint::MfaTotp(_) => Err(Problem::new(
                ErrorCode::GatewayError,
                "the TOTP endpoints are not served here",
            )),
            Endpoint::Passkeys(p) => super::passkeys::serve(ctx, p, body).await,
            Endpoint::PasskeyManage(m) => super::passkeys::serve_manage(ctx, m).await,
        }
    };
    let (mut reply, code) = match result {
        Ok(reply) => (reply, None),
        Err(problem) => (problem.reply(), Some(problem.code)),
    };
    reply
        .headers
        .extend(cors_headers(ctx.settings, ctx.dpop, ctx.head));
    (reply, code)
}

/// A configured app origin (not the gateway's own: that needs no CORS) that sent the request.
fn app_origin<'h>(settings: &SessionSettings, head: &'h RequestHead) -> Option<&'h str> {
    let mut origins = head.headers_named("origin");
    let origin = origins.next()?;
    if origins.next().is_some() {
        return None;
    }
    let lower = origin.trim().to_ascii_lowercase();
    settings.app_origins.contains(&lower).then_some(origin)
}

/// CORS with credentials for an app origin: the refresh cookie travels only on a credentialed
/// request, which the browser sends cross-origin only when the answer names the origin and
/// allows credentials. The app may read `WWW-Authenticate` (the challenge of a refused bearer
/// call: `invalid_token`, or RFC 9470 step-up with its `max_age`) and `Retry-After` (a rate limit
/// or an unavailable store), and with DPoP on `DPoP-Nonce` (RFC 9449 §8: the nonce a refused
/// login or refresh must be retried with).
fn cors_headers(
    settings: &SessionSettings,
    dpop: &DpopSettings,
    head: &RequestHead,
) -> Vec<(String, String)> {
    let Some(origin) = app_origin(settings, head) else {
        return Vec::new();
    };
    let mut headers = vec![
        (
            "access-control-allow-origin".into(),
            origin.trim().to_string(),
        ),
        ("access-control-allow-credentials".into(), "true".into()),
        ("vary".into(), "Origin".into()),
    ];
    let exposed = if dpop.enabled {
        "WWW-Authenticate, Retry-After, DPoP-Nonce"
    } else {
        "WWW-Authenticate, Retry-After"
    };
    headers.push(("access-control-expose-headers".into(), exposed.into()));
    headers
}

/// The request headers an app origin may send: `authorization` for the passkey registration and
/// step-up calls (they carry the session's token), and `dpop` with DPoP on, for a proof that binds
/// a login or proves a refresh (RFC 9449 §5).
fn allowed_request_headers(dpop: &DpopSettings) -> &'static str {
    if dpop.enabled {
        "content-type, authorization, dpop"
    } else {
        "content-type, authorization"
    }
}

fn preflight(
    settings: &SessionSettings,
    dpop: &DpopSettings,
    head: &RequestHead,
    endpoint: Endpoint,
) -> Reply {
    let method_ok = head
        .headers_named("access-control-request-method")
        .next()
        .is_some_and(|m| endpoint.methods().contains(&m.trim()));
    if app_origin(settings, head).is_none() || !method_ok {
        return foreign_origin().with_status(403).reply();
    }
    let mut headers = cors_headers(settings, dpop, head);
    headers.extend([
        (
            "access-control-allow-methods".into(),
            endpoint.methods().join(", "),
        ),
        (
            "access-control-allow-headers".into(),
            allowed_request_headers(dpop).into(),
        ),
        ("access-control-max-age".into(), "600".into()),
    ]);
    Reply {
        status: 204,
        headers,
        body: String::new(),
    }
}
