//! The endpoints under the sessions prefix as the pipeline serves them: `Gateway::session`
//! authenticates the caller where an endpoint needs it and builds that endpoint's context. The
//! TOTP endpoints (`mfa::endpoints`) take one of the gateway's own access tokens, verified by the
//! authenticate stage (same checks and caches as on any route) and checked against the revocation
//! list.

use base64::Engine as _;
use serde_json::Value;

use crate::jose::jws::B64URL;
use crate::mfa::endpoints::{self as totp, Caller, MfaContext, TotpEndpoint};
use crate::platform::Platform;
use crate::problem::{www_authenticate, Challenge, ErrorCode, Problem};
use crate::request::RequestHead;
use crate::revocation::RevocationMode;
use crate::session::endpoints::Endpoint;

use super::{Gateway, Reply};

impl<K: Clone> Gateway<K> {
    /// Serves an endpoint the pipeline routed (`Outcome::Session`); `body` is what the runtime
    /// read, at most `session_body_cap() + 1` bytes.
    pub(crate) async fn session<P: Platform<Key = K>>(
        &self,
        platform: &P,
        endpoint: Endpoint,
        head: &RequestHead,
        body: &[u8],
    ) -> Reply {
        match endpoint {
            Endpoint::MfaTotp(e) => self.mfa_totp(platform, e, head, body).await,
        }
    }

    /// How much of a body the runtime reads for `endpoint` (one byte more is refused with 413).
    pub(crate) fn session_body_cap(endpoint: Endpoint) -> usize {
        match endpoint {
            Endpoint::MfaTotp(_) => totp::MAX_BODY_BYTES,
        }
    }

    async fn mfa_totp<P: Platform<Key = K>>(
        &self,
        platform: &P,
        endpoint: TotpEndpoint,
        head: &RequestHead,
        body: &[u8],
    ) -> Reply {
        if !self.config.mfa.enabled {
            return Problem::new(
                ErrorCode::RouteNotFound,
                "TOTP is not enabled on this gateway (mfa.enabled)",
            )
            .reply();
        }
        let (Some(issuer), Some(key)) = (self.session_issuer(), self.mfa_key.as_ref()) else {
            // Configuration refuses mfa.enabled without sessions, signing keys or the MFA key.
            return Problem::new(
                ErrorCode::GatewayMisconfigured,
                "TOTP is enabled but the gateway has no signing keys or no MFA key",
            )
            .reply();
        };
        let caller = match self.own_token_caller(platform, head, issuer.issuer()).await {
            Ok(caller) => caller,
            Err(problem) => return self.bearer_refusal(problem),
        };
        let ctx = MfaContext {
            platform,
            settings: &self.config.mfa,
            key,
            issuer,
            caller: &caller,
        };
        totp::serve(&ctx, endpoint, body).await
    }

    /// The caller of an endpoint that takes the gateway's own access tokens: exactly one
    /// `Authorization: Bearer`, verified, not revoked, issued by the gateway.
    async fn own_token_caller<P: Platform<Key = K>>(
        &self,
        platform: &P,
        head: &RequestHead,
        own_issuer: &str,
    ) -> Result<Caller, Problem> {
        let mut values = head.headers_named("authorization");
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(Problem::new(
                ErrorCode::TokenMissing,
                "this endpoint requires one of the gateway's access tokens: Authorization: Bearer",
            ));
        };
        let value = value.trim();
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Problem::new(
                ErrorCode::AuthorizationSchemeUnsupported,
                "the Authorization header must use the Bearer scheme",
            ));
        }
        let token = token.trim_start();
        let identity = super::authenticate::authenticate_jwt(self, platform, token).await?;
        crate::revocation::gate::check(
            platform,
            &self.config.revocation,
            &self.revocation,
            RevocationMode::Snapshot,
            &identity,
        )
        .await?;
        if identity.issuer.as_deref() != Some(own_issuer) {
            return Err(Problem::new(
                ErrorCode::TokenIssuerUnknown,
                "this endpoint takes the gateway's own access tokens only",
            ));
        }
        // The verified payload's `sid` and `cnf`, which the identity does not carry.
        let payload = token
            .split('.')
            .nth(1)
            .and_then(|p| B64URL.decode(p).ok())
            .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
            .unwrap_or(Value::Null);
        let sid = match payload.get("sid") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => {
                return Err(Problem::new(
                    ErrorCode::TokenClaimMissing,
                    "the \"sid\" claim is required: step-up stays in the token's session",
                ))
            }
        };
        Ok(Caller {
            identity,
            sid,
            cnf: payload.get("cnf").cloned(),
        })
    }

    /// A refusal of the caller's token: 401s carry the Bearer challenge.
    fn bearer_refusal(&self, mut problem: Problem) -> Reply {
        if problem.status() == 401 {
            if let Some(v) = www_authenticate(
                &self.config.realm,
                &[Challenge::Bearer],
                problem.code,
                &problem.detail,
                None,
            ) {
                problem.headers.insert(0, ("www-authenticate".into(), v));
            }
        }
        problem.reply()
    }
}
