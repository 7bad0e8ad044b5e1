//! The caller of an endpoint that takes one of the gateway's own access tokens (the passkey
//! registration and step-up, the TOTP endpoints): reading `Authorization`, and making the holder of
//! a sender-constrained token prove it as a route would (`pipeline::possession`). Without this
//! check a stolen DPoP-bound token — worthless on every route without its key — would still
//! register the thief's passkey or TOTP secret for its user.

use crate::dpop::settings::DpopSettings;
use crate::dpop::verify::{verify_proof, Expect};
use crate::identity::{Confirmation, Identity};
use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
use crate::request::RequestHead;

/// How the caller's token was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Bearer,
    /// `Authorization: DPoP` (RFC 9449), with the `[dpop]` section enabled.
    Dpop,
}

/// The token of the request's one `Authorization` header: `Bearer`, or `DPoP` when the `[dpop]`
/// section is enabled (the scheme in any case).
pub(crate) fn presented<'h>(
    head: &'h RequestHead,
    dpop: &DpopSettings,
) -> Result<(Scheme, &'h str), Problem> {
    let mut values = head.headers_named("authorization");
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(Problem::new(
            ErrorCode::TokenMissing,
            "this endpoint needs one of the gateway's access tokens (Authorization: Bearer, or DPoP with its proof)",
        ));
    };
    let value = value.trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if dpop.enabled && scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return Err(Problem::new(
            ErrorCode::AuthorizationSchemeUnsupported,
            "the Authorization header must use the Bearer scheme (or DPoP for a DPoP-bound token)",
        ));
    };
    Ok((scheme, token.trim()))
}

/// The holder check of a verified caller token: a DPoP-bound one (`cnf.jkt`) needs
/// `Authorization: DPoP` and a proof by its key for this request (`htm`, `htu`, `ath`, replay);
/// an unbound one is a bearer token (sent as DPoP, its proof is refused as on a route). The
/// gateway issues no certificate-bound tokens and these endpoints see no client certificate, so a
/// `cnf.x5t#S256` caller is refused (fail closed).
pub(crate) async fn check_holder<P: Platform>(
    platform: &P,
    dpop: &DpopSettings,
    head: &RequestHead,
    scheme: Scheme,
    token: &str,
    identity: &Identity,
) -> Result<(), Problem> {
    let jkt = match &identity.holder.confirmation {
        Some(Confirmation::X5tS256(_)) => {
            return Err(Problem::new(
                ErrorCode::TokenBindingMismatch,
                "a certificate-bound token (RFC 8705 cnf x5t#S256) cannot call this endpoint",
            ))
        }
        Some(Confirmation::Jkt(jkt)) => Some(jkt.as_str()),
        None => None,
    };
    match (scheme, jkt) {
        (Scheme::Bearer, None) => Ok(()),
        (Scheme::Bearer, Some(_)) => Err(Problem::new(
            ErrorCode::TokenBoundAsBearer,
            "this token is bound to a DPoP key: send it as Authorization: DPoP with a DPoP proof",
        )),
        (Scheme::Dpop, jkt) => {
            let expect = Expect::Resource {
                access_token: token,
                jkt,
            };
            verify_proof(platform, dpop, head, expect).await.map(|_| ())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{block_on, FakePlatform};

    fn head(authorization: &[&str]) -> RequestHead {
        RequestHead {
            method: "POST".into(),
            url: "https://gw.example/auth/passkeys/step-up/verify".into(),
            headers: authorization
                .iter()
                .map(|v| ("authorization".to_string(), v.to_string()))
                .collect(),
        }
    }

    fn on() -> DpopSettings {
        DpopSettings {
            enabled: true,
            ..Default::default()
        }
    }

    #[test]
    fn the_token_comes_as_bearer_or_with_dpop_on_as_dpop() {
        let off = DpopSettings::default();
        assert_eq!(
            presented(&head(&["Bearer t1"]), &off),
            Ok((Scheme::Bearer, "t1"))
        );
        assert_eq!(
            presented(&head(&["dpop  t2 "]), &on()),
            Ok((Scheme::Dpop, "t2"))
        );
        for (h, settings, code) in [
            (head(&[]), on(), ErrorCode::TokenMissing),
            (
                head(&["Bearer a", "Bearer b"]),
                on(),
                ErrorCode::TokenMissing,
            ),
            (
                head(&["DPoP t"]),
                off.clone(),
                ErrorCode::AuthorizationSchemeUnsupported,
            ),
            (
                head(&["Basic dTpw"]),
                on(),
                ErrorCode::AuthorizationSchemeUnsupported,
            ),
        ] {
            assert_eq!(presented(&h, &settings).map_err(|e| e.code), Err(code));
        }
    }

    #[test]
    fn a_bound_token_must_be_proven() {
        let p = FakePlatform::new(1_800_000_000);
        let h = head(&[]);
        let mut identity = Identity::anonymous();
        assert_eq!(
            block_on(check_holder(&p, &on(), &h, Scheme::Bearer, "t", &identity)),
            Ok(())
        );
        identity.holder.confirmation = Some(Confirmation::Jkt("k".into()));
        assert_eq!(
            block_on(check_holder(&p, &on(), &h, Scheme::Bearer, "t", &identity))
                .map_err(|e| e.code),
            Err(ErrorCode::TokenBoundAsBearer)
        );
        // As DPoP without a proof: the proof is missing.
        assert_eq!(
            block_on(check_holder(&p, &on(), &h, Scheme::Dpop, "t", &identity)).map_err(|e| e.code),
            Err(ErrorCode::DpopProofMissing)
        );
        identity.holder.confirmation = Some(Confirmation::X5tS256("ab".repeat(32)));
        for scheme in [Scheme::Bearer, Scheme::Dpop] {
            assert_eq!(
                block_on(check_holder(&p, &on(), &h, scheme, "t", &identity)).map_err(|e| e.code),
                Err(ErrorCode::TokenBindingMismatch)
            );
        }
    }
}
