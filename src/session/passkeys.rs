//! The passkey endpoints (`/auth/passkeys/…`, `webauthn::endpoints`) on the session machinery:
//! the caller of a registration or step-up is a live session of the gateway's own (its access
//! token verified as any bearer token, from the gateway's issuer, with a `sid`); a passkey login
//! starts a session (`start::start_session`); a step-up mints a new access token in the same
//! session (`start::mint`), with `amr` extended, `acr`/`auth_time` set and the session's `cnf`
//! kept.

use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
use crate::reply::Reply;
use crate::step_up::GATEWAY_MFA_ACR;
use crate::webauthn::endpoints::{
    self, Caller, PasskeyAuthentication, PasskeyEndpoint, SessionHooks,
};

use super::context::{origin_if_present, SessionContext, SubjectTokenVerifier};
use super::family::Grant;
use super::start::{mint, start_session, StartSession};

struct Hooks<'c, 'a, P, V> {
    ctx: &'c SessionContext<'a, P, V>,
}

impl<P: Platform, V: SubjectTokenVerifier> SessionHooks for Hooks<'_, '_, P, V> {
    async fn caller(&self) -> Result<Caller, Problem> {
        let (scheme, token) = super::caller::presented(self.ctx.head, self.ctx.dpop)?;
        let identity = self.ctx.verifier.verify(token).await?;
        super::caller::check_holder(
            self.ctx.platform,
            self.ctx.dpop,
            self.ctx.head,
            scheme,
            token,
            &identity,
        )
        .await?;
        // Passkeys belong to the gateway's own subjects: an upstream issuer's `sub` is another
        // namespace, and only a gateway session has a `sid` to step up.
        let own = identity.issuer.as_deref() == Some(self.ctx.settings.issuer.as_str());
        match (own, identity.session_id) {
            (true, Some(sid)) => Ok(Caller {
                sub: identity.subject,
                sid,
                scope: identity.scopes.join(" "),
                amr: identity.user_auth.amr,
                binding: identity.holder.confirmation,
            }),
            _ => Err(Problem::new(
                ErrorCode::TokenIssuerUnknown,
                "passkeys need an access token of a session this gateway issued",
            )),
        }
    }

    async fn start_session(
        &self,
        sub: &str,
        how: &PasskeyAuthentication,
    ) -> Result<Reply, Problem> {
        start_session(
            self.ctx,
            StartSession {
                sub: sub.to_string(),
                scope: self.ctx.passkeys.login_scope.clone(),
                amr: how.amr.clone(),
                // Possession and verification (UV): two factors.
                acr: how.user_verified.then(|| GATEWAY_MFA_ACR.to_string()),
                auth_time: how.auth_time,
                cnf: None,
            },
        )
        .await
    }

    async fn step_up(
        &self,
        caller: &Caller,
        how: &PasskeyAuthentication,
    ) -> Result<Reply, Problem> {
        let mut amr = caller.amr.clone();
        for m in &how.amr {
            if !amr.contains(m) {
                amr.push(m.clone());
            }
        }
        let grant = Grant {
            sub: caller.sub.clone(),
            scope: caller.scope.clone(),
            amr,
            acr: Some(GATEWAY_MFA_ACR.to_string()),
            auth_time: how.auth_time,
            // A sender-constrained session stays bound to the same key (as the TOTP step-up).
            cnf: caller
                .binding
                .as_ref()
                .map(crate::identity::Confirmation::claim),
        };
        let minted = mint(self.ctx, &caller.sid, &grant).await?;
        // The token response without a refresh cookie: the session (and its cookie) is the same.
        let mut reply = super::start::token_reply(
            &minted,
            &grant.scope,
            crate::dpop::issuance::token_type(grant.cnf.as_ref()),
            String::new(),
        );
        reply.headers.retain(|(name, _)| name != "set-cookie");
        Ok(reply)
    }
}

/// Serves a passkey endpoint (`Origin`, when present, must be the gateway's or an app origin,
/// as on `/auth/login`).
pub(crate) async fn serve<P: Platform, V: SubjectTokenVerifier>(
    ctx: &SessionContext<'_, P, V>,
    endpoint: PasskeyEndpoint,
    body: &[u8],
) -> Result<Reply, Problem> {
    origin_if_present(ctx.settings, ctx.head)?;
    endpoints::serve(ctx.platform, ctx.passkeys, &Hooks { ctx }, endpoint, body).await
}
