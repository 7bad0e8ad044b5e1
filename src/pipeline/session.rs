//! The session endpoints as the pipeline serves them: `Gateway::session` builds the endpoints'
//! context for one call (the gateway's issuer, the revocation snapshot, the login secret) and
//! hands the subject-token check of `/auth/token` to the authenticate stage, so an exchanged token
//! passes exactly the checks a bearer token on a route does (`snapshot` revocation mode). The
//! TOTP endpoints (`mfa::endpoints`) take one of the gateway's own access tokens, verified by the
//! authenticate stage (same checks and caches as on any route) and checked against the revocation
//! list.

use crate::identity::Identity;
use crate::mfa::endpoints::{self as totp, Caller, MfaContext, TotpEndpoint};
use crate::platform::Platform;
use crate::problem::{www_authenticate, Challenge, ErrorCode, Problem};
use crate::request::RequestHead;
use crate::revocation::RevocationMode;
use crate::session::context::{SessionContext, SubjectTokenVerifier};
use crate::session::endpoints::{self, Endpoint};

use super::{Gateway, Reply, RequestLog};

/// The authenticate stage's JWT check plus the revocation check, for a subject token.
struct PipelineVerifier<'a, K, P> {
    gw: &'a Gateway<K>,
    platform: &'a P,
}

impl<K: Clone, P: Platform<Key = K>> SubjectTokenVerifier for PipelineVerifier<'_, K, P> {
    async fn verify(&self, token: &str) -> Result<Identity, Problem> {
        let identity = super::authenticate::authenticate_jwt(self.gw, self.platform, token).await?;
        crate::revocation::gate::check(
            self.platform,
            &self.gw.config.revocation,
            &self.gw.revocation,
            RevocationMode::Snapshot,
            &identity,
        )
        .await?;
        Ok(identity)
    }
}

impl<K: Clone> Gateway<K> {
    /// Serves a session endpoint the pipeline routed (`Outcome::Session`); `body` is what the
    /// runtime read, at most `endpoint.body_cap() + 1` bytes. A refusal's code goes into `log`.
    pub(crate) async fn session<P: Platform<Key = K>>(
        &self,
        platform: &P,
        endpoint: Endpoint,
        head: &RequestHead,
        body: &[u8],
        log: &mut RequestLog,
    ) -> Reply {
        if let Endpoint::MfaTotp(e) = endpoint {
            let (reply, code) = self.mfa_totp(platform, e, head, body).await;
            log.code = code.map(ErrorCode::as_str);
            return reply;
        }
        let Some(issuer) = self.session_issuer() else {
            // Configuration refuses `sessions.enabled` without signing keys; a safety net.
            log.code = Some(ErrorCode::GatewayMisconfigured.as_str());
            return Problem::new(
                ErrorCode::GatewayMisconfigured,
                "sessions are enabled but the gateway has no signing keys",
            )
            .reply();
        };
        let verifier = PipelineVerifier { gw: self, platform };
        let ctx = SessionContext {
            platform,
            settings: &self.config.sessions,
            issuer,
            revocation: &self.config.revocation,
            snapshot: &self.revocation,
            login_secret: self.login_secret.as_deref(),
            verifier: &verifier,
            head,
            passkeys: &self.config.passkeys,
            dpop: &self.config.dpop,
            realm: &self.config.realm,
        };
        let (reply, code) = endpoints::serve(&ctx, endpoint, body).await;
        log.code = code.map(ErrorCode::as_str);
        reply
    }

    /// A TOTP endpoint (`mfa::endpoints`): the reply and, for a refusal, its code.
    async fn mfa_totp<P: Platform<Key = K>>(
        &self,
        platform: &P,
        endpoint: TotpEndpoint,
        head: &RequestHead,
        body: &[u8],
    ) -> (Reply, Option<ErrorCode>) {
        if !self.config.mfa.enabled {
            let problem = Problem::new(
                ErrorCode::RouteNotFound,
                "TOTP is not enabled on this gateway (mfa.enabled)",
            );
            return (problem.reply(), Some(problem.code));
        }
        let (Some(issuer), Some(key)) = (self.session_issuer(), self.mfa_key.as_ref()) else {
            // Configuration refuses mfa.enabled without sessions, signing keys or the MFA key.
            let problem = Problem::new(
                ErrorCode::GatewayMisconfigured,
                "TOTP is enabled but the gateway has no signing keys or no MFA key",
            );
            return (problem.reply(), Some(problem.code));
        };
        let caller = match self.own_token_caller(platform, head, issuer.issuer()).await {
            Ok(caller) => caller,
            Err(problem) => {
                let code = problem.code;
                return (self.bearer_refusal(problem), Some(code));
            }
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
    /// `Authorization` (Bearer, or DPoP for a DPoP-bound token, `session::caller`), verified, its
    /// holder's key proven, not revoked, issued by the gateway.
    async fn own_token_caller<P: Platform<Key = K>>(
        &self,
        platform: &P,
        head: &RequestHead,
        own_issuer: &str,
    ) -> Result<Caller, Problem> {
        let (scheme, token) = crate::session::caller::presented(head, &self.config.dpop)?;
        let identity = super::authenticate::authenticate_jwt(self, platform, token).await?;
        crate::session::caller::check_holder(
            platform,
            &self.config.dpop,
            head,
            scheme,
            token,
            &identity,
        )
        .await?;
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
        let Some(sid) = identity.session_id.clone().filter(|s| !s.is_empty()) else {
            return Err(Problem::new(
                ErrorCode::TokenClaimMissing,
                "the \"sid\" claim is required: step-up stays in the token's session",
            ));
        };
        // The verified token's binding, restated for the stepped-up token (as a passkey step-up).
        let cnf = identity
            .holder
            .confirmation
            .as_ref()
            .map(crate::identity::Confirmation::claim);
        Ok(Caller { identity, sid, cnf })
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
