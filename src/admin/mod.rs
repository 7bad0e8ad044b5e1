//! The admin API (`/admin/...`, off unless configured), one router over its parts:
//!
//! - `keys`: create, list, show, update, rotate and revoke API keys (`/keys…`),
//! - `revocations`: the revocation list (`/revocations…`),
//! - `certs`: the client-certificate registry of `mtls` routes (`/certs…`),
//! - `sessions`: the gateway's sessions (`/sessions…`, when `sessions.enabled`),
//! - `mfa`: a subject's TOTP state and its reset (`/mfa/totp/{subject}`),
//! - `passkeys`: a subject's passkeys listed and deleted (`/passkeys/{subject}…`).
//!
//! The pipeline authenticates the caller with the gateway's normal credentials, requires
//! `AdminConfig::scope` (the admin route's scope) and hands the call, below the admin prefix, to
//! `Gateway::admin`, which builds an `AdminContext` and calls `handle`. Here, once for every part:
//! the method and size guard, the JSON body parser, the problem rendering and the one audit line
//! per call (`audit`). A handler gets the context, never the `Gateway`.
//!
//! Refused calls the pipeline never hands over (failed authentication, no admin scope) are
//! audited by `refusal_audit`, in the same shape.

pub(crate) mod audit;
pub(crate) mod certs;
pub(crate) mod keys;
pub(crate) mod mfa;
pub(crate) mod passkeys;
pub(crate) mod refusal_audit;
pub(crate) mod revocations;
pub(crate) mod sessions;

use serde::Deserialize;
use serde_json::Value;

use crate::api_key::store::ApiKeyStore;
use crate::identity::Identity;
use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
use crate::reply::Reply;

use audit::Audit;

pub use crate::admin_settings::AdminConfig;

pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct AdminRequest<'a> {
    pub method: &'a str,
    /// The path under the admin prefix: `/keys`, `/keys/key_abc/rotate`, `/revocations/tokens`.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    pub body: &'a [u8],
    /// The `Idempotency-Key` header (create and rotate honour it; revoke is idempotent by itself,
    /// and the other calls ignore it).
    pub idempotency_key: Option<&'a str>,
}

/// What the admin handlers work with: the platform, the key store and (when the gateway serves
/// them) the revocation endpoints' state.
pub struct AdminContext<'a, P: Platform> {
    pub platform: &'a P,
    pub keys: ApiKeyStore<'a, P>,
    /// `None`: `/revocations…` is not served (an unknown route, like any other).
    pub revocations: Option<revocations::RevocationAdmin<'a>>,
    /// `None`: `/sessions…` is not served (sessions are off).
    pub sessions: Option<sessions::SessionAdmin<'a>>,
    /// `mfa.enabled`: `/mfa…` is served; otherwise it is an unknown route, like any other.
    pub mfa_enabled: bool,
    /// `passkeys.enabled`: `/passkeys…` is served; otherwise it is an unknown route.
    pub passkeys_enabled: bool,
}

/// A handler's successful answer: JSON, plus what the router must do after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
    pub effect: Option<Effect>,
}

impl Answer {
    fn json(status: u16, body: Value) -> Self {
        Answer {
            status,
            body,
            headers: Vec::new(),
            effect: None,
        }
    }

    /// 204: no content, so no body and no content type.
    fn no_content() -> Self {
        Answer::json(204, Value::Null)
    }

    fn reply(&self) -> Reply {
        let mut reply = Reply::json(self.status, &self.body);
        if self.status == 204 {
            reply.headers.retain(|(name, _)| name != "content-type");
            reply.body.clear();
        }
        reply.headers.extend(self.headers.iter().cloned());
        reply
    }
}

/// What a successful call changed that another part of the gateway must follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// An API key is revoked (newly or again): the revocation list mirrors it.
    KeyRevoked { key_id: String },
}

/// Where a path leads.
enum Endpoint<'p> {
    Keys(keys::Route<'p>),
    Revocations(revocations::Action),
    Certs(Result<certs::Action, Problem>),
    Sessions(sessions::Action),
    Mfa(Result<mfa::Action, Problem>),
    Passkeys(Result<passkeys::Action, Problem>),
    /// No such endpoint: audited as `audit`, answered with the problem.
    Unknown {
        audit: Audit,
        problem: Problem,
    },
}

impl Endpoint<'_> {
    fn resolve<'p, P: Platform>(
        ctx: &AdminContext<'_, P>,
        method: &str,
        path: &'p str,
    ) -> Endpoint<'p> {
        if let Some(certs) = certs::route(path, method) {
            return Endpoint::Certs(certs);
        }
        if ctx.mfa_enabled {
            if let Some(action) = mfa::route(method, path) {
                return Endpoint::Mfa(action);
            }
        }
        if ctx.passkeys_enabled {
            if let Some(action) = passkeys::route(method, path) {
                return Endpoint::Passkeys(action);
            }
        }
        if ctx.revocations.is_some() {
            match revocations::route(path) {
                Some(Ok(action)) => return Endpoint::Revocations(action),
                Some(Err(unknown)) => {
                    return Endpoint::Unknown {
                        audit: Audit::new("revocation.unknown_route"),
                        problem: unknown,
                    }
                }
                None => {}
            }
        }
        if ctx.sessions.is_some() {
            match sessions::route(path) {
                Some(Ok(action)) => return Endpoint::Sessions(action),
                Some(Err(unknown)) => {
                    return Endpoint::Unknown {
                        audit: Audit::new("session.unknown_route"),
                        problem: unknown,
                    }
                }
                None => {}
            }
        }
        match keys::route(path) {
            Some(route) => Endpoint::Keys(route),
            None => Endpoint::Unknown {
                audit: keys::audit_for(None, "admin.unknown_route"),
                problem: keys::unknown_route(),
            },
        }
    }
}

/// Serves one admin call: route, guard, handler, reply, one audit line, then the call's effect.
/// Never panics on input; every answer is JSON or problem+json with `Cache-Control: no-store`.
pub async fn handle<P: Platform>(
    ctx: &AdminContext<'_, P>,
    req: &AdminRequest<'_>,
    actor: &Identity,
) -> Reply {
    let method = req.method.to_ascii_uppercase();
    let (audit, result) = match Endpoint::resolve(ctx, &method, req.path) {
        Endpoint::Unknown { audit, problem } => (audit, Err(problem)),
        Endpoint::Keys(route) => match route.action(&method) {
            None => (
                keys::audit_for(None, "admin.method_not_allowed"),
                Err(method_not_allowed(&method, route.allowed())),
            ),
            Some(action) => {
                let mut audit = keys::audit_for(route.key_id(), action);
                let result = match body_guard(req) {
                    Err(p) => Err(p),
                    Ok(()) => keys::run(ctx, &route, action, req, &mut audit, actor).await,
                };
                (audit, result)
            }
        },
        Endpoint::Certs(Err(problem)) => (Audit::new("cert.refused"), Err(problem)),
        Endpoint::Certs(Ok(action)) => {
            let mut audit = action.audit();
            let result = match body_guard(req) {
                Err(p) => Err(p),
                Ok(()) => certs::run(ctx, &action, req.body, req.query, &mut audit).await,
            };
            (audit, result)
        }
        Endpoint::Revocations(action) => {
            let mut audit = Audit::new(action.name());
            let result = if method != action.method() {
                Err(method_not_allowed(&method, &[action.method()]))
            } else {
                match (body_guard(req), ctx.revocations.as_ref()) {
                    (Err(p), _) => Err(p),
                    (Ok(()), Some(rev)) => {
                        revocations::run(rev, ctx.platform, &action, req.body, &mut audit).await
                    }
                    (Ok(()), None) => Err(keys::unknown_route()),
                }
            };
            (audit, result)
        }
        Endpoint::Sessions(action) => {
            let mut audit = Audit::new(action.name());
            let result = if method != action.method() {
                Err(method_not_allowed(&method, &[action.method()]))
            } else {
                match (body_guard(req), ctx.sessions.as_ref()) {
                    (Err(p), _) => Err(p),
                    (Ok(()), Some(s)) => {
                        sessions::run(s, ctx.platform, &action, req.query, req.body, &mut audit)
                            .await
                    }
                    (Ok(()), None) => Err(keys::unknown_route()),
                }
            };
            (audit, result)
        }
        Endpoint::Mfa(Err(problem)) => (Audit::new("mfa.unknown_route"), Err(problem)),
        Endpoint::Mfa(Ok(action)) => {
            let mut audit = Audit::new(action.name());
            let result = mfa::run(ctx.platform, &action, &mut audit).await;
            (audit, result)
        }
        Endpoint::Passkeys(Err(problem)) => (Audit::new("passkey.unknown_route"), Err(problem)),
        Endpoint::Passkeys(Ok(action)) => {
            let mut audit = Audit::new(action.name());
            let result = passkeys::run(ctx.platform, &action, &mut audit).await;
            (audit, result)
        }
    };
    let reply = match &result {
        Ok(answer) => answer.reply(),
        Err(problem) => problem.reply(),
    };
    audit.write(
        ctx.platform,
        Some(actor),
        reply.status,
        result.as_ref().err().map(|p| p.code),
    );
    if let (Ok(answer), Some(rev)) = (&result, &ctx.revocations) {
        if let Some(Effect::KeyRevoked { key_id }) = &answer.effect {
            revocations::mirror_key_revocation(rev, ctx.platform, key_id).await;
        }
    }
    reply
}

/// 405, with `Allow` naming the methods the endpoint takes.
fn method_not_allowed(method: &str, allowed: &[&str]) -> Problem {
    let allowed = allowed.join(", ");
    Problem::new(
        ErrorCode::RequestInvalid,
        format!("method {method} is not allowed here; allowed: {allowed}"),
    )
    .with_status(405)
    .with_header("allow", allowed)
}

/// 413 for a body over `MAX_BODY_BYTES` (the runtime reads at most one byte more).
fn body_guard(req: &AdminRequest<'_>) -> Result<(), Problem> {
    if req.body.len() > MAX_BODY_BYTES {
        Err(Problem::new(
            ErrorCode::RequestInvalid,
            format!("the request body is over {MAX_BODY_BYTES} bytes"),
        )
        .with_status(413))
    } else {
        Ok(())
    }
}

/// A subject as a path segment carries it (`/mfa/totp/{subject}`, `/passkeys/{subject}`):
/// percent-decoded, non-empty UTF-8 without control characters.
fn subject_in_path(encoded: &str) -> Result<String, Problem> {
    match crate::url::percent_decode(encoded) {
        Some(s) if !s.is_empty() && !s.chars().any(char::is_control) => Ok(s),
        _ => Err(Problem::new(
            ErrorCode::RequestInvalid,
            "the subject must be a non-empty, percent-encoded UTF-8 string",
        )),
    }
}

fn bad_request(detail: impl Into<String>) -> Problem {
    Problem::new(ErrorCode::RequestInvalid, detail)
}

/// The one body parser: JSON objects only; `empty_ok` treats an empty body as `{}`. serde's
/// messages name the field and position ("unknown field `scope`, expected one of …").
fn parse_body<T: for<'de> Deserialize<'de>>(body: &[u8], empty_ok: bool) -> Result<T, Problem> {
    let trimmed = body.trim_ascii();
    let body = if trimmed.is_empty() && empty_ok {
        b"{}".as_slice()
    } else {
        trimmed
    };
    if body.first() != Some(&b'{') {
        return Err(bad_request("the request body must be a JSON object"));
    }
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid JSON body: {e}")))
}

#[cfg(test)]
mod tests;
