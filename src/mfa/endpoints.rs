//! The TOTP endpoints under the sessions prefix, for a user holding one of the gateway's own
//! access tokens (checked by the pipeline, revocation included, before a call gets here):
//!
//! | endpoint | body | answer |
//! |---|---|---|
//! | `POST {prefix}/mfa/totp/enroll` | none | a pending enrollment: `otpauth_uri`, `secret` (base32), `qr_svg` — shown once |
//! | `POST {prefix}/mfa/totp/confirm` | `{"code"}` | the enrollment is active; the 10 `recovery_codes`, shown once |
//! | `POST {prefix}/mfa/totp/verify` | `{"code"}` or `{"recovery_code"}` | step-up: a new access token in the same session, `amr` + `otp`, `acr`, `auth_time` now |
//! | `POST {prefix}/mfa/totp/disable` | `{"code"}` or `{"recovery_code"}` | the enrollment and the recovery codes are gone (audited) |
//!
//! Every decision that must be exact (a step used once, failed attempts, a recovery code used
//! once) is the `MfaSubject` object's (`store`); here the code is checked against the opened
//! secret and the token minted.

use serde::Deserialize;
use serde_json::{json, Value};

use super::client::{self, locked};
use super::store::{Enrollment, Lockout, MfaAnswer, MfaRequest, Purpose};
use super::totp::{self, TotpAlgorithm, TotpError, TotpParams};
use super::{recovery, seal};
use crate::identity::Identity;
use crate::mfa_settings::{MfaKey, MfaSettings};
use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
use crate::reply::Reply;
use crate::signing::issuer::SessionIssuer;
use crate::signing::mint::{mint_access_token, AccessTokenClaims};

/// The largest body a TOTP endpoint reads.
pub(crate) const MAX_BODY_BYTES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TotpEndpoint {
    Enroll,
    Confirm,
    Verify,
    Disable,
}

impl TotpEndpoint {
    /// The endpoint at `rest`, the path below `{prefix}/mfa/totp`.
    pub(crate) fn at(rest: &str) -> Option<TotpEndpoint> {
        Some(match rest {
            "/enroll" => TotpEndpoint::Enroll,
            "/confirm" => TotpEndpoint::Confirm,
            "/verify" => TotpEndpoint::Verify,
            "/disable" => TotpEndpoint::Disable,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            TotpEndpoint::Enroll => "mfa-totp-enroll",
            TotpEndpoint::Confirm => "mfa-totp-confirm",
            TotpEndpoint::Verify => "mfa-totp-verify",
            TotpEndpoint::Disable => "mfa-totp-disable",
        }
    }
}

/// The caller: the identity of a verified, unrevoked access token of the gateway's own issuer,
/// with the members of that token a step-up carries over.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) identity: Identity,
    /// `sid`: the stepped-up token stays in the same session.
    pub(crate) sid: String,
    /// `cnf`: a sender-constrained token stays bound to the same key.
    pub(crate) cnf: Option<Value>,
}

/// What the endpoints need for one call.
pub(crate) struct MfaContext<'a, P> {
    pub(crate) platform: &'a P,
    pub(crate) settings: &'a MfaSettings,
    pub(crate) key: &'a MfaKey,
    pub(crate) issuer: &'a SessionIssuer,
    pub(crate) caller: &'a Caller,
}

/// Serves one call; `body` is at most `MAX_BODY_BYTES + 1` bytes (the runtime's cap). Returns the
/// reply and, for a refusal, its code (for the request's log line).
pub(crate) async fn serve<P: Platform>(
    ctx: &MfaContext<'_, P>,
    endpoint: TotpEndpoint,
    body: &[u8],
) -> (Reply, Option<ErrorCode>) {
    let result = match endpoint {
        TotpEndpoint::Enroll => enroll(ctx).await,
        TotpEndpoint::Confirm => match parse_factor(body, false) {
            Ok(Factor::Code(code)) => confirm(ctx, &code).await,
            Ok(Factor::Recovery(_)) => Err(bad_body("confirm takes {\"code\"}")),
            Err(p) => Err(p),
        },
        TotpEndpoint::Verify => match parse_factor(body, true) {
            Ok(factor) => match check_factor(ctx, &factor).await {
                Ok(()) => step_up(ctx).await,
                Err(p) => Err(p),
            },
            Err(p) => Err(p),
        },
        TotpEndpoint::Disable => match parse_factor(body, true) {
            Ok(factor) => match check_factor(ctx, &factor).await {
                Ok(()) => disable(ctx).await,
                Err(p) => Err(p),
            },
            Err(p) => Err(p),
        },
    };
    match result {
        Ok(reply) => (reply, None),
        Err(problem) => (problem.reply(), Some(problem.code)),
    }
}

fn subject<'a, P>(ctx: &MfaContext<'a, P>) -> &'a str {
    &ctx.caller.identity.subject
}

fn lockout(settings: &MfaSettings) -> Lockout {
    Lockout {
        max_failures: settings.max_failures,
        lockout_ms: settings.lockout_seconds.saturating_mul(1000),
    }
}

/// A secret-bearing answer: never stored by a cache or kept in history.
fn secret_reply(body: Value) -> Reply {
    let mut reply = Reply::json(200, &body);
    reply.headers.push(("pragma".into(), "no-cache".into()));
    reply
}

async fn enroll<P: Platform>(ctx: &MfaContext<'_, P>) -> Result<Reply, Problem> {
    let params = TotpParams {
        algorithm: TotpAlgorithm::parse(&ctx.settings.totp_algorithm)
            .unwrap_or(TotpAlgorithm::Sha1),
        digits: ctx.settings.totp_digits,
        period: ctx.settings.totp_period_seconds,
    };
    let mut secret = [0u8; totp::SECRET_BYTES];
    ctx.platform.random_bytes(&mut secret);
    let sealed = seal::seal(ctx.platform, ctx.key, subject(ctx), &secret)
        .await
        .map_err(|e| client::unavailable(ctx.platform, &e))?;
    let stage = MfaRequest::Stage {
        enrollment: Enrollment {
            sealed_secret: sealed,
            params,
            created_at_ms: ctx.platform.now_ms(),
        },
    };
    match client::call(ctx.platform, subject(ctx), &stage).await? {
        MfaAnswer::Staged => {}
        MfaAnswer::AlreadyEnrolled => {
            return Err(Problem::new(
                ErrorCode::MfaAlreadyEnrolled,
                "TOTP is already enrolled for this user: disable it (with a code or a recovery code) before enrolling again",
            ))
        }
        other => return Err(client::unexpected(ctx.platform, &other)),
    }
    let uri = totp::otpauth_uri(&secret, &params, &ctx.settings.totp_issuer, subject(ctx));
    Ok(secret_reply(json!({
        "otpauth_uri": uri,
        "secret": totp::base32(&secret),
        "qr_svg": totp::qr_svg(&uri),
        "algorithm": params.algorithm.as_str(),
        "digits": params.digits,
        "period": params.period,
    })))
}

async fn confirm<P: Platform>(ctx: &MfaContext<'_, P>, code: &str) -> Result<Reply, Problem> {
    let codes = recovery::generate(ctx.platform);
    let hashes = codes
        .iter()
        .filter_map(|c| recovery::normalize(c))
        .map(|c| recovery::hash(subject(ctx), &c))
        .collect();
    check_code(ctx, Purpose::Confirm, code, hashes).await?;
    audit(ctx, "mfa.totp.enrolled", json!({}));
    Ok(secret_reply(
        json!({ "enrolled": true, "recovery_codes": codes }),
    ))
}

async fn step_up<P: Platform>(ctx: &MfaContext<'_, P>) -> Result<Reply, Problem> {
    let identity = &ctx.caller.identity;
    let mut amr = identity.user_auth.amr.clone();
    if !amr.iter().any(|m| m == "otp") {
        amr.push("otp".into());
    }
    let claims = AccessTokenClaims {
        sub: identity.subject.clone(),
        sid: ctx.caller.sid.clone(),
        scope: identity.scopes.join(" "),
        amr,
        acr: Some(crate::step_up::GATEWAY_MFA_ACR.to_string()),
        auth_time: Some(ctx.platform.now_secs()),
        cnf: ctx.caller.cnf.clone(),
    };
    let scope = claims.scope.clone();
    let token_type = crate::dpop::issuance::token_type(claims.cnf.as_ref());
    let minted = mint_access_token(ctx.platform, ctx.issuer, claims).await?;
    Ok(secret_reply(json!({
        "access_token": minted.token,
        "token_type": token_type,
        "expires_in": minted.expires_in,
        "scope": scope,
    })))
}

async fn disable<P: Platform>(ctx: &MfaContext<'_, P>) -> Result<Reply, Problem> {
    match client::call(ctx.platform, subject(ctx), &MfaRequest::Disable).await? {
        MfaAnswer::Disabled { .. } => {
            audit(ctx, "mfa.totp.disabled", json!({}));
            Ok(Reply::json(200, &json!({ "disabled": true })))
        }
        other => Err(client::unexpected(ctx.platform, &other)),
    }
}

/// The user's factor for `verify` and `disable`.
async fn check_factor<P: Platform>(
    ctx: &MfaContext<'_, P>,
    factor: &Factor,
) -> Result<(), Problem> {
    match factor {
        Factor::Code(code) => check_code(ctx, Purpose::Verify, code, Vec::new()).await,
        Factor::Recovery(typed) => {
            let normalized =
                recovery::normalize(typed).ok_or_else(|| invalid_code("recovery code"))?;
            let redeem = MfaRequest::Redeem {
                hash: recovery::hash(subject(ctx), &normalized),
                lockout: lockout(ctx.settings),
            };
            match client::call(ctx.platform, subject(ctx), &redeem).await? {
                MfaAnswer::Accepted {
                    recovery_codes_left,
                } => {
                    audit(
                        ctx,
                        "mfa.recovery_code.used",
                        json!({ "recovery_codes_left": recovery_codes_left }),
                    );
                    Ok(())
                }
                MfaAnswer::Rejected => Err(invalid_code("recovery code")),
                MfaAnswer::Locked { retry_after_secs } => Err(locked(retry_after_secs)),
                MfaAnswer::NotEnrolled => Err(not_enrolled()),
                other => Err(client::unexpected(ctx.platform, &other)),
            }
        }
    }
}

/// A TOTP code against the pending (`Confirm`) or confirmed (`Verify`) enrollment: the object
/// reserves the attempt, the code is checked here, the object consumes the step.
async fn check_code<P: Platform>(
    ctx: &MfaContext<'_, P>,
    purpose: Purpose,
    code: &str,
    recovery_hashes: Vec<String>,
) -> Result<(), Problem> {
    // A code of the wrong shape is never a guess at the secret: refused without an attempt.
    let shaped = (usize::from(totp::MIN_DIGITS)..=usize::from(totp::MAX_DIGITS))
        .contains(&code.len())
        && code.bytes().all(|b| b.is_ascii_digit());
    if !shaped {
        return Err(invalid_code("code"));
    }
    let begin = MfaRequest::Begin {
        purpose,
        lockout: lockout(ctx.settings),
    };
    let (sealed, params, last_step) = match client::call(ctx.platform, subject(ctx), &begin).await?
    {
        MfaAnswer::Attempt {
            sealed_secret,
            params,
            last_step,
        } => (sealed_secret, params, last_step),
        MfaAnswer::Locked { retry_after_secs } => return Err(locked(retry_after_secs)),
        MfaAnswer::NotEnrolled => return Err(not_enrolled()),
        other => return Err(client::unexpected(ctx.platform, &other)),
    };
    let secret = seal::open(ctx.platform, ctx.key, subject(ctx), &sealed)
        .await
        .map_err(|e| client::unavailable(ctx.platform, &e))?;
    let step =
        totp::verify(&secret, &params, code, ctx.platform.now_secs(), last_step).map_err(|e| {
            match e {
                TotpError::Malformed | TotpError::Mismatch => invalid_code("code"),
                TotpError::Reused => reused(),
            }
        })?;
    let accept = MfaRequest::Accept {
        purpose,
        sealed_secret: sealed,
        step,
        recovery_hashes,
    };
    match client::call(ctx.platform, subject(ctx), &accept).await? {
        MfaAnswer::Accepted { .. } => Ok(()),
        MfaAnswer::Replayed => Err(reused()),
        // Re-enrolled or disabled since the attempt began.
        MfaAnswer::Changed => Err(not_enrolled()),
        other => Err(client::unexpected(ctx.platform, &other)),
    }
}

fn invalid_code(what: &str) -> Problem {
    Problem::new(
        ErrorCode::MfaCodeInvalid,
        format!("the {what} is not valid"),
    )
}

fn reused() -> Problem {
    Problem::new(
        ErrorCode::MfaCodeReused,
        "this code was already used: wait for the next one",
    )
}

fn not_enrolled() -> Problem {
    Problem::new(
        ErrorCode::MfaNotEnrolled,
        "no TOTP enrollment for this step: enroll, then confirm with a first code",
    )
}

fn bad_body(detail: &str) -> Problem {
    Problem::new(ErrorCode::RequestInvalid, detail)
}

/// The factor a body carries.
enum Factor {
    Code(String),
    Recovery(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FactorBody {
    code: Option<String>,
    recovery_code: Option<String>,
}

fn parse_factor(body: &[u8], recovery_allowed: bool) -> Result<Factor, Problem> {
    let usage = if recovery_allowed {
        "the body must be a JSON object with \"code\" or \"recovery_code\""
    } else {
        "the body must be a JSON object with \"code\""
    };
    if body.len() > MAX_BODY_BYTES {
        return Err(
            bad_body(&format!("the request body is over {MAX_BODY_BYTES} bytes")).with_status(413),
        );
    }
    let parsed: FactorBody = serde_json::from_slice(body).map_err(|_| bad_body(usage))?;
    match (parsed.code, parsed.recovery_code) {
        (Some(code), None) => Ok(Factor::Code(code)),
        (None, Some(code)) if recovery_allowed => Ok(Factor::Recovery(code)),
        _ => Err(bad_body(usage)),
    }
}

/// The audit record of a user's own change, in the admin API's shape (`{"audit": …}`,
/// docs/api-keys.md): the actor is the user, never a code or secret.
fn audit<P: Platform>(ctx: &MfaContext<'_, P>, action: &str, fields: Value) {
    let mut line = json!({
        "audit": action,
        "ts": ctx.platform.now_secs(),
        "actor": ctx.caller.identity.subject,
        "actor_method": ctx.caller.identity.method.as_str(),
        "actor_issuer": ctx.caller.identity.issuer,
        "sid": ctx.caller.sid,
        "outcome": "success",
        "status": 200,
    });
    if let (Some(line), Value::Object(extra)) = (line.as_object_mut(), fields) {
        line.extend(extra);
    }
    ctx.platform.log(&line.to_string());
}
