//! `POST /auth/login`: the gateway never sees a password's meaning. It forwards the request body,
//! untouched, to the configured login endpoint on the origin (`sessions.login.url`), which checks
//! the credentials and answers `200 {"sub", "scopes", "amr"}` or refuses (any 4xx). The gateway
//! then starts the session.
//!
//! The login endpoint must be reachable only from the gateway: the gateway sends the
//! `PORTCULLIS_LOGIN_SECRET` Workers secret in `sessions.login.secret_header` (default
//! `X-Portcullis-Login-Secret`), and the origin compares it in constant time and refuses
//! anything else (docs/sessions.md shows the check in each origin stack). The route to it should
//! also not be a gateway route, so a client can never reach it through the gateway either.

use serde::Deserialize;

use crate::platform::{FetchError, Platform};
use crate::problem::{ErrorCode, Problem};
use crate::reply::Reply;

use super::context::{json_request, origin_if_present, SessionContext, SubjectTokenVerifier};
use super::start::{start_session, StartSession};

/// The largest answer read from the login endpoint.
const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// The login endpoint's answer on success.
#[derive(Debug, Deserialize)]
struct Verdict {
    sub: String,
    #[serde(default)]
    scopes: Vec<String>,
    amr: Vec<String>,
}

pub(crate) async fn login<P: Platform, V: SubjectTokenVerifier>(
    ctx: &SessionContext<'_, P, V>,
    body: &[u8],
) -> Result<Reply, Problem> {
    origin_if_present(ctx.settings, ctx.head)?;
    json_request(ctx.head)?;
    let Some(login) = &ctx.settings.login else {
        return Err(Problem::new(
            ErrorCode::RouteNotFound,
            "password login is not configured on this gateway (sessions.login)",
        ));
    };
    let Some(secret) = ctx.login_secret else {
        // Configuration refuses `sessions.login` without the secret; this is only a safety net.
        return Err(Problem::new(
            ErrorCode::GatewayMisconfigured,
            "the login endpoint's secret is not set",
        ));
    };
    let headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("accept".to_string(), "application/json".to_string()),
        (login.secret_header.clone(), secret.to_string()),
    ];
    let answer = ctx
        .platform
        .http_post(
            &login.url,
            &headers,
            body,
            login.timeout_ms,
            MAX_ANSWER_BYTES,
        )
        .await
        .map_err(|e| {
            let reason = match e {
                FetchError::Timeout => format!("no answer within {} ms", login.timeout_ms),
                FetchError::TooLarge => format!("an answer over {MAX_ANSWER_BYTES} bytes"),
                FetchError::Network(m) => m,
            };
            unavailable(ctx.platform, &reason)
        })?;
    match answer.status {
        200 => {}
        400..=499 => {
            return Err(Problem::new(
                ErrorCode::LoginRefused,
                "the credentials were not accepted",
            ))
        }
        s => {
            return Err(unavailable(
                ctx.platform,
                &format!("the login endpoint answered {s}"),
            ))
        }
    }
    let verdict = read_verdict(&answer.body)
        .map_err(|why| unavailable(ctx.platform, &format!("the login endpoint's answer {why}")))?;
    // A login with a DPoP proof starts a session bound to its key (RFC 9449 §5).
    let cnf =
        crate::dpop::issuance::binding_for_new_session(ctx.platform, ctx.dpop, ctx.head).await?;
    start_session(
        ctx,
        StartSession {
            sub: verdict.sub,
            scope: verdict.scopes.join(" "),
            amr: verdict.amr,
            acr: None,
            auth_time: ctx.platform.now_secs(),
            cnf,
        },
    )
    .await
}

/// The verdict, checked: a non-empty `sub`, scope tokens, and `amr` values.
fn read_verdict(body: &[u8]) -> Result<Verdict, String> {
    let v: Verdict =
        serde_json::from_slice(body).map_err(|e| format!("is not {{sub, scopes, amr}}: {e}"))?;
    if v.sub.is_empty() || v.sub.len() > super::family::MAX_SUB_BYTES {
        return Err("has an empty or oversized sub".into());
    }
    if let Some(bad) = v.scopes.iter().find(|s| !crate::scope::is_scope_token(s)) {
        return Err(format!(
            "has a scope that is not a scope token ({} bytes)",
            bad.len()
        ));
    }
    if v.amr.is_empty()
        || v.amr.len() > super::family::MAX_AMR
        || v.amr
            .iter()
            .any(|a| !crate::scope::is_scope_token(a) || a.len() > 64)
    {
        return Err("has no amr, or an amr value that is not a short token".into());
    }
    Ok(v)
}

fn unavailable<P: Platform>(platform: &P, reason: &str) -> Problem {
    crate::log::emit(platform, crate::log::Event::LoginEndpointFailed { reason });
    Problem::new(
        ErrorCode::LoginUnavailable,
        "the login service could not be reached or answered out of contract",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert!(read_verdict(br#"{"sub":"alice","scopes":["read:echo"],"amr":["pwd"]}"#).is_ok());
        assert!(read_verdict(br#"{"sub":"alice","amr":["pwd"],"extra":1}"#).is_ok());
        for bad in [
            &br#"{"sub":"","scopes":[],"amr":["pwd"]}"#[..],
            br#"{"sub":"a","scopes":["a b"],"amr":["pwd"]}"#,
            br#"{"sub":"a","scopes":[],"amr":[]}"#,
            br#"{"sub":"a","scopes":[]}"#,
            br#"{"sub":1,"amr":["pwd"]}"#,
            b"nope",
        ] {
            assert!(
                read_verdict(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
