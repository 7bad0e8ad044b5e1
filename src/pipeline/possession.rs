//! The authenticate stage's machine-identity checks (issue 13): a registered TLS client
//! certificate on `mtls` routes, and proof of possession for tokens bound with `cnf` — the client
//! certificate for `x5t#S256` (RFC 8705 §3), a DPoP proof for `jkt` (RFC 9449) — plus the route
//! option `binding = "required"`.

use crate::dpop::verify::{verify_proof, Expect};
use crate::identity::{AuthMethod, CertificateFacts, Confirmation, Holder, Identity};
use crate::mtls::{self, ClientCertificate, LazyCertificate};
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
    cert: &LazyCertificate<'_>,
    now: u64,
) -> Result<(), Problem> {
    match &identity.holder.confirmation {
        Some(Confirmation::Jkt(_)) => Err(Problem::new(
            ErrorCode::TokenBoundAsBearer,
            "this token is bound to a DPoP key: send it as Authorization: DPoP with a DPoP proof",
        )),
        Some(Confirmation::X5tS256(thumbprint)) => {
            check_certificate_binding(thumbprint, cert.get(), now)
        }
        None if route.binding == Binding::Required => Err(binding_required()),
        None => Ok(()),
    }
}

/// The certificate must pass the same transport checks as an `mtls` credential (verified, not
/// revoked by Cloudflare, inside its validity — a failure keeps its own `client_cert_*` code) and
/// have the token's thumbprint. It need not be registered: the token's issuer vouched for it.
fn check_certificate_binding(
    thumbprint: &str,
    cert: &ClientCertificate,
    now: u64,
) -> Result<(), Problem> {
    match mtls::check_certificate(cert, now) {
        Ok(v) if mtls::same_fingerprint(&v.fingerprint, thumbprint) => Ok(()),
        Ok(_) => Err(Problem::new(
            ErrorCode::TokenBindingMismatch,
            "the token is bound to another client certificate (RFC 8705 cnf x5t#S256)",
        )),
        Err(mtls::CertError::Missing) => Err(Problem::new(
            ErrorCode::TokenBindingMismatch,
            "the token is bound to a client certificate (RFC 8705 cnf x5t#S256), and this request presented none",
        )),
        Err(refused) => Err(refused.into()),
    }
}

fn binding_required() -> Problem {
    Problem::new(
        ErrorCode::TokenBindingRequired,
        "this route accepts only sender-constrained tokens (DPoP or certificate-bound)",
    )
}

/// A token presented as `Authorization: DPoP`: its proof (`dpop::verify`), bound to the token's
/// `cnf.jkt`.
pub(crate) async fn check_dpop<K: Clone, P: Platform<Key = K>>(
    gw: &Gateway<K>,
    platform: &P,
    identity: &Identity,
    token: &str,
    head: &RequestHead,
) -> Result<(), Problem> {
    let jkt = match &identity.holder.confirmation {
        Some(Confirmation::Jkt(jkt)) => Some(jkt.as_str()),
        _ => None,
    };
    let expect = Expect::Resource {
        access_token: token,
        jkt,
    };
    verify_proof(platform, &gw.config.dpop, head, expect)
        .await
        .map(|_| ())
}
