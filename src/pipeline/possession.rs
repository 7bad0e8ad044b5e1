//! The authenticate stage's machine-identity checks (issue 13): a registered TLS client
//! certificate on `mtls` routes, and proof of possession for tokens bound with `cnf` — the client
//! certificate for `x5t#S256` (RFC 8705 §3), a DPoP proof for `jkt` (RFC 9449) — plus the route
//! option `binding = "required"`.

use crate::dpop::proof::{self, DpopError, ProofContext};
use crate::identity::{AuthMethod, CertificateFacts, Confirmation, Holder, Identity};
use crate::mtls::{self, ClientCertificate};
use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
use crate::request::RequestHead;
use crate::route::{Binding, Route};

use super::Gateway;

/// A `mtls` route's credential: a certificate Cloudflare verified, inside its validity, registered
/// and not revoked in the registry. (The revocation list is consulted afterwards, like every
/// identity's.)
pub(crate) async fn authenticate_mtls<P: Platform>(
    platform: &P,
    cert: &ClientCertificate,
) -> Result<Identity, Problem> {
    let verified = mtls::check_certificate(cert, platform.now_secs())?;
    let record = mtls::lookup(platform, &verified).await?;
    Ok(Identity {
        method: AuthMethod::Mtls,
        subject: record.client_id.clone(),
        scopes: record.scopes,
        expires_at: Some(verified.not_after),
        client_id: Some(record.client_id),
        rate_limit_policy: record.rate_limit_policy,
        holder: Holder {
            certificate: Some(CertificateFacts {
                revocation_id: mtls::revocation_id(&verified.fingerprint),
                fingerprint: verified.fingerprint,
                subject: verified.subject,
            }),
            confirmation: None,
        },
        ..Identity::anonymous()
    })
}

/// A token presented as `Authorization: Bearer`: a DPoP-bound one is refused (its holder must
/// prove the key, and a Bearer request proves nothing), a certificate-bound one needs the
/// request's verified client certificate to have its thumbprint, an unbound one passes unless
/// the route requires binding.
pub(crate) fn check_bearer(
    identity: &Identity,
    route: &Route,
    cert: &ClientCertificate,
) -> Result<(), Problem> {
    match &identity.holder.confirmation {
        Some(Confirmation::Jkt(_)) => Err(Problem::new(
            ErrorCode::TokenBoundAsBearer,
            "this token is bound to a DPoP key: send it as Authorization: DPoP with a DPoP proof",
        )),
        Some(Confirmation::X5tS256(thumbprint)) => check_certificate_binding(thumbprint, cert),
        None if route.binding == Binding::Required => Err(binding_required()),
        None => Ok(()),
    }
}

fn check_certificate_binding(thumbprint: &str, cert: &ClientCertificate) -> Result<(), Problem> {
    match cert.verified_fingerprint() {
        Some(fp) if mtls::same_fingerprint(&fp, thumbprint) => Ok(()),
        Some(_) => Err(Problem::new(
            ErrorCode::TokenBindingMismatch,
            "the token is bound to another client certificate (RFC 8705 cnf x5t#S256)",
        )),
        None => Err(Problem::new(
            ErrorCode::TokenBindingMismatch,
            "the token is bound to a client certificate (RFC 8705 cnf x5t#S256), and this request presented no verified one",
        )),
    }
}

fn binding_required() -> Problem {
    Problem::new(
        ErrorCode::TokenBindingRequired,
        "this route accepts only sender-constrained tokens (DPoP or certificate-bound)",
    )
}

/// A token presented as `Authorization: DPoP`: the proof, checked in the order of RFC 9449 §4.3
/// (cheap checks before the signature, the replay cache last so that only proofs that passed
/// everything else are remembered), and the token's `cnf.jkt` equal to the proof key's thumbprint.
pub(crate) async fn check_dpop<K: Clone, P: Platform<Key = K>>(
    gw: &Gateway<K>,
    platform: &P,
    identity: &Identity,
    token: &str,
    head: &RequestHead,
) -> Result<(), Problem> {
    let settings = &gw.config.dpop;
    let values: Vec<&str> = head.headers_named("dpop").collect();
    let proof = proof::parse(&values, settings)?;
    let now = platform.now_secs();
    let ctx = ProofContext {
        method: &head.method,
        url: &head.url,
        access_token: token,
        now,
    };
    proof::check_claims(&proof, &ctx, settings)?;
    let key = platform
        .import_key(&proof.jwk, proof.alg)
        .await
        .map_err(|_| DpopError::Malformed("the runtime refused the jwk".into()))?;
    if !platform
        .verify(&key, proof.alg, proof.signing_input(), proof.signature())
        .await
    {
        return Err(DpopError::SignatureInvalid.into());
    }
    let jkt = proof.jkt();
    match &identity.holder.confirmation {
        Some(Confirmation::Jkt(bound)) if proof::same_thumbprint(bound, &jkt) => {}
        Some(Confirmation::Jkt(_)) => {
            return Err(Problem::new(
                ErrorCode::TokenBindingMismatch,
                "the token is bound to another DPoP key (cnf jkt)",
            ))
        }
        _ => {
            return Err(Problem::new(
                ErrorCode::TokenBindingMismatch,
                "the token is not bound to a DPoP key (no cnf jkt); send it as a Bearer token",
            ))
        }
    }
    if let Some(problem) = nonce_refusal(settings, proof.nonce.as_deref(), ctx.now) {
        return Err(problem);
    }
    match crate::dpop::replay::record(
        platform,
        &jkt,
        &proof.jti,
        proof::remember_until(&proof, settings),
    )
    .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(DpopError::Replayed.into()),
        Err(e) => {
            crate::log::emit(
                platform,
                crate::log::Event::DpopReplayUnavailable { reason: &e.0 },
            );
            Err(DpopError::ReplayUnavailable.into())
        }
    }
}

/// With `dpop.nonce`, a proof without the current (or previous) server nonce is refused with
/// `use_dpop_nonce` and a fresh `DPoP-Nonce` to retry with (RFC 9449 §8).
fn nonce_refusal(
    settings: &crate::dpop::settings::DpopSettings,
    nonce: Option<&str>,
    now: u64,
) -> Option<Problem> {
    if !settings.nonce {
        return None;
    }
    let rotation = settings.nonce_rotation_secs;
    // No secret: refused at load already (`set_nonce_secret`); a gateway built without one
    // refuses every proof rather than accept one unchecked.
    let secret = settings.nonce_secret.get().unwrap_or_default();
    if !secret.is_empty()
        && nonce.is_some_and(|n| crate::dpop::nonce::accepts(secret, n, now, rotation))
    {
        return None;
    }
    let mut problem = Problem::new(
        ErrorCode::DpopNonceRequired,
        "the DPoP proof must carry the server's current nonce: retry with the DPoP-Nonce of this response",
    );
    if !secret.is_empty() {
        problem = problem.with_header(
            "dpop-nonce",
            crate::dpop::nonce::current(secret, now, rotation),
        );
    }
    Some(problem)
}
