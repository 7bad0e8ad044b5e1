//! The passkey endpoints (`/auth/passkeys/…`, `webauthn::endpoints`) on the session machinery:
//! the caller of a registration or step-up is a live session of the gateway's own (its access
//! token verified as any bearer token, from the gateway's issuer, with a `sid`); a passkey login
//! starts a session (`start::start_session`), bound to the key of a DPoP proof sent with it exactly
//! as `/auth/login` binds (`dpop::issuance::binding_for_new_session`); a step-up mints a new access token in the same
//! session (`start::mint`), with `amr` extended, `acr`/`auth_time` set and the session's `cnf`
//! kept.

use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
use crate::reply::Reply;
use crate::step_up::GATEWAY_MFA_ACR;
use crate::webauthn::endpoints::{
    self, Caller, PasskeyAuthentication, PasskeyEndpoint, SessionHooks,
};
use crate::webauthn::manage::{self, ManageEndpoint};

use super::context::{origin_if_present, SessionContext, SubjectTokenVerifier};
use super::family::Grant;
use super::start::{mint, start_session, StartSession};

struct Hooks<'c, 'a, P, V> {
    ctx: &'c SessionContext<'a, P, V>,
    /// A passkey login's binding: the `cnf` of its DPoP proof, `None` without one.
    login_cnf: Option<serde_json::Value>,
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
                auth_time: identity.user_auth.auth_time,
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
                cnf: self.login_cnf.clone(),
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
///
/// A passkey login reads its DPoP proof as `/auth/login` does (RFC 9449 §5: same checks, same
/// codes, a session bound to the proof's key), but before the ceremony rather than after it: a
/// refused proof — `dpop_nonce_required` above all, which a client answers by retrying — then
/// leaves the challenge untaken and the sign counter untouched, so the same assertion can be sent
/// again with a new proof instead of asking the user for another gesture.
pub(crate) async fn serve<P: Platform, V: SubjectTokenVerifier>(
    ctx: &SessionContext<'_, P, V>,
    endpoint: PasskeyEndpoint,
    body: &[u8],
) -> Result<Reply, Problem> {
    origin_if_present(ctx.settings, ctx.head)?;
    let login_cnf = match endpoint {
        PasskeyEndpoint::LoginVerify if ctx.passkeys.enabled => {
            crate::dpop::issuance::binding_for_new_session(ctx.platform, ctx.dpop, ctx.head).await?
        }
        _ => None,
    };
    let hooks = Hooks { ctx, login_cnf };
    endpoints::serve(ctx.platform, ctx.passkeys, &hooks, endpoint, body).await
}

/// Serves an account-page endpoint (`GET /passkeys`, `DELETE /passkeys/{id}`: `webauthn::manage`)
/// with the same caller check and `Origin` rule as the ceremonies.
pub(crate) async fn serve_manage<P: Platform, V: SubjectTokenVerifier>(
    ctx: &SessionContext<'_, P, V>,
    endpoint: ManageEndpoint,
) -> Result<Reply, Problem> {
    origin_if_present(ctx.settings, ctx.head)?;
    let rest = super::context::path_under_prefix(ctx.settings, ctx.head).unwrap_or_default();
    let hooks = Hooks {
        ctx,
        login_cnf: None,
    };
    manage::serve(
        ctx.platform,
        ctx.passkeys,
        &hooks,
        endpoint,
        rest,
        ctx.realm,
    )
    .await
}
