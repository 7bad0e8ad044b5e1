//! The session endpoints as the pipeline serves them: `Gateway::session` builds the endpoints'
//! context for one call (the gateway's issuer, the revocation snapshot, the login secret) and
//! hands the subject-token check of `/auth/token` to the authenticate stage, so an exchanged token
//! passes exactly the checks a bearer token on a route does (`snapshot` revocation mode).

use crate::identity::Identity;
use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
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
    /// runtime read, at most `endpoints::MAX_BODY_BYTES + 1` bytes. A refusal's code goes into
    /// `log`.
    pub(crate) async fn session<P: Platform<Key = K>>(
        &self,
        platform: &P,
        endpoint: Endpoint,
        head: &RequestHead,
        body: &[u8],
        log: &mut RequestLog,
    ) -> Reply {
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
            dpop: &self.config.dpop,
        };
        let (reply, code) = endpoints::serve(&ctx, endpoint, body).await;
        log.code = code.map(ErrorCode::as_str);
        reply
    }
}
