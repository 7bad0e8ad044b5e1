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
//!
//! (The MFA and passkey endpoints add their arms to `Endpoint`.)

use std::cell::RefCell;
use std::rc::Rc;

use crate::identity::Identity;
use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
use crate::reply::Reply;
use crate::request::RequestHead;
use crate::revocation::{RevocationSettings, SnapshotCache};
use crate::signing::issuer::SessionIssuer;

use super::csrf::{self, OriginVerdict};
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
}

impl Endpoint {
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Login => "session-login",
            Endpoint::Token => "session-token",
            Endpoint::Refresh => "session-refresh",
            Endpoint::Logout => "session-logout",
        }
    }
}

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
}

/// Where a request under the prefix goes: an endpoint (the runtime reads the body and calls
/// `serve`), or an answer right away (a preflight, 404, 405). `None`: not under the prefix.
pub(crate) fn route(settings: &SessionSettings, head: &RequestHead) -> Option<Result<Endpoint, Reply>> {
    if !settings.enabled {
        return None;
    }
    let (_, _, path, _) = crate::url::split_url(&head.url)?;
    let rest = path.strip_prefix(settings.path_prefix.as_str())?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let endpoint = match rest {
        "/login" => Endpoint::Login,
        "/token" => Endpoint::Token,
        "/refresh" => Endpoint::Refresh,
        "/logout" => Endpoint::Logout,
        _ => {
            return Some(Err(Problem::new(
                ErrorCode::RouteNotFound,
                format!(
                    "the session endpoints are {p}/login, {p}/token, {p}/refresh and {p}/logout",
                    p = settings.path_prefix
                ),
            )
            .reply()))
        }
    };
    if head.method == "OPTIONS" {
        return Some(Err(preflight(settings, head)));
    }
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

/// Serves one call; `body` is at most `MAX_BODY_BYTES + 1` bytes (the runtime's cap).
pub(crate) async fn serve<P: Platform, V: SubjectTokenVerifier>(
    ctx: &SessionContext<'_, P, V>,
    endpoint: Endpoint,
    body: &[u8],
) -> Reply {
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
        }
    };
    let mut reply = match result {
        Ok(reply) => reply,
        Err(problem) => problem.reply(),
    };
    reply.headers.extend(cors_headers(ctx.settings, ctx.head));
    reply
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
pub(crate) fn origin_if_present(settings: &SessionSettings, head: &RequestHead) -> Result<(), Problem> {
    match origin_verdict(settings, head) {
        OriginVerdict::Allowed | OriginVerdict::Missing => Ok(()),
        OriginVerdict::Foreign => Err(foreign_origin()),
    }
}

/// The cookie endpoints' CSRF checks (`csrf`): an allowed `Origin`, then a JSON request.
pub(crate) fn cookie_request_checks(settings: &SessionSettings, head: &RequestHead) -> Result<(), Problem> {
    match origin_verdict(settings, head) {
        OriginVerdict::Allowed => {}
        OriginVerdict::Missing => {
            return Err(Problem::new(
                ErrorCode::SessionOriginRefused,
                "this endpoint requires an Origin header naming the gateway or a configured app origin",
            ))
        }
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

fn foreign_origin() -> Problem {
    Problem::new(
        ErrorCode::SessionOriginRefused,
        "the request's Origin is neither the gateway nor a configured app origin",
    )
}

/// A configured app origin (not the gateway's own: that needs no CORS) that sent the request.
fn app_origin<'h>(settings: &SessionSettings, head: &'h RequestHead) -> Option<&'h str> {
    let mut origins = head.headers_named("origin");
    let origin = origins.next()?;
    if origins.next().is_some() {
        return None;
    }
    let lower = origin.trim().to_ascii_lowercase();
    settings
        .app_origins
        .iter()
        .any(|a| *a == lower)
        .then_some(origin)
}

/// CORS with credentials for an app origin: the refresh cookie travels only on a credentialed
/// request, which the browser sends cross-origin only when the answer names the origin and
/// allows credentials.
fn cors_headers(settings: &SessionSettings, head: &RequestHead) -> Vec<(String, String)> {
    match app_origin(settings, head) {
        Some(origin) => vec![
            ("access-control-allow-origin".into(), origin.trim().to_string()),
            ("access-control-allow-credentials".into(), "true".into()),
            ("vary".into(), "Origin".into()),
        ],
        None => Vec::new(),
    }
}

fn preflight(settings: &SessionSettings, head: &RequestHead) -> Reply {
    let method_ok = head
        .headers_named("access-control-request-method")
        .next()
        .is_some_and(|m| m.trim() == "POST");
    if app_origin(settings, head).is_none() || !method_ok {
        return foreign_origin().with_status(403).reply();
    }
    let mut headers = cors_headers(settings, head);
    headers.extend([
        ("access-control-allow-methods".into(), "POST".into()),
        ("access-control-allow-headers".into(), "content-type".into()),
        ("access-control-max-age".into(), "600".into()),
    ]);
    Reply {
        status: 204,
        headers,
        body: String::new(),
    }
}
