//! Stage 3: may this identity use this route? Every scope the route lists is required.

use crate::identity::{AuthMethod, Identity};
use crate::problem::{ErrorCode, Problem};
use crate::route::{CredentialKind, Route};

use super::Refusal;

pub fn authorize(route: &Route, identity: &Identity) -> Result<(), Refusal> {
    check_scopes(route, identity)?;
    check_claims(route, identity)
}

/// The route's `require` conditions, on the identity's claims (an API key: its metadata). The
/// refusal names the claim, never its value nor the value required.
fn check_claims(route: &Route, identity: &Identity) -> Result<(), Refusal> {
    match crate::claims::require::first_unmet(&route.require, &identity.claims.values) {
        None => Ok(()),
        Some(unmet) => {
            let claim = unmet.claim.as_str();
            let what = match identity.method {
                AuthMethod::ApiKey => "metadata entry",
                _ => "claim",
            };
            let problem = Problem::new(
                ErrorCode::ClaimRequirementFailed,
                format!(
                    "the credential's \"{claim}\" {what} does not meet this route's requirement"
                ),
            )
            .with_extension("claim", serde_json::json!(claim));
            Err(Refusal::for_route(problem, route))
        }
    }
}

fn check_scopes(route: &Route, identity: &Identity) -> Result<(), Refusal> {
    let missing: Vec<&str> = route
        .scopes
        .iter()
        .filter(|s| !identity.has_scope(s))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let problem = Problem::new(
        ErrorCode::InsufficientScope,
        format!(
            "this route requires the scope(s): {}",
            route.scopes.join(" ")
        ),
    )
    .with_extension("required_scopes", serde_json::json!(route.scopes))
    .with_extension("missing_scopes", serde_json::json!(missing));
    let mut refusal = Refusal::for_route(problem, route);
    // RFC 6750 §3: the scope attribute names the scopes needed for the resource.
    refusal.scope = Some(route.scopes.join(" "));
    Err(refusal)
}

/// A route the path also reaches as another origin stack reads it (`parse::route_readings`): the
/// identity must be of a kind it accepts and hold every scope it requires. A public route asks
/// nothing.
pub fn authorize_also(route: &Route, identity: &Identity) -> Result<(), Refusal> {
    if route.is_public() {
        return Ok(());
    }
    let kind = match identity.method {
        AuthMethod::Jwt | AuthMethod::Introspection => Some(CredentialKind::Jwt),
        AuthMethod::ApiKey => Some(CredentialKind::ApiKey),
        AuthMethod::Mtls => Some(CredentialKind::Mtls),
        AuthMethod::Public => None,
    };
    if !kind.is_some_and(|k| route.accepts(k)) {
        return Err(super::authenticate::missing(route));
    }
    // A bound token's binding was proven by the authenticate stage; an unbound one cannot
    // satisfy a reading whose route requires binding.
    if route.binding == crate::route::Binding::Required
        && matches!(identity.method, AuthMethod::Jwt | AuthMethod::Introspection)
        && identity.holder.confirmation.is_none()
    {
        return Err(Refusal::for_route(
            crate::problem::Problem::new(
                crate::problem::ErrorCode::TokenBindingRequired,
                "this route accepts only sender-constrained tokens (DPoP or certificate-bound)",
            ),
            route,
        ));
    }
    authorize(route, identity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::AuthMethod;
    use crate::route::{CredentialKind, PathPattern};

    fn route(scopes: &[&str]) -> Route {
        Route {
            name: "r".into(),
            methods: vec!["*".into()],
            pattern: PathPattern::parse("/*").unwrap(),
            auth: vec![CredentialKind::Jwt],
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            admin: false,
            revocation: Default::default(),
            rate_limit: None,
            websocket: None,
            origin: Default::default(),
            require: Vec::new(),
            binding: Default::default(),
            step_up: None,
        }
    }

    fn who(scopes: &[&str]) -> Identity {
        Identity {
            method: AuthMethod::Jwt,
            subject: "u".into(),
            issuer: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            ..Identity::anonymous()
        }
    }

    #[test]
    fn all_scopes_required() {
        assert!(authorize(&route(&[]), &who(&[])).is_ok());
        assert!(authorize(&route(&["a", "b"]), &who(&["b", "a", "c"])).is_ok());
        let r = authorize(&route(&["a", "b"]), &who(&["a"])).unwrap_err();
        assert_eq!(r.problem.code, ErrorCode::InsufficientScope);
        assert_eq!(r.scope.as_deref(), Some("a b"));
        let body: serde_json::Value = serde_json::from_str(&r.problem.body()).unwrap();
        assert_eq!(body["missing_scopes"], serde_json::json!(["b"]));
        // Scope matching is exact: no prefix or case folding.
        assert!(authorize(&route(&["read"]), &who(&["Read", "read:all"])).is_err());
    }

    #[test]
    fn another_reading_must_admit_the_identity_too() {
        assert!(authorize_also(&route(&["a"]), &who(&["a"])).is_ok());
        let scope = authorize_also(&route(&["a", "b"]), &who(&["a"])).unwrap_err();
        assert_eq!(scope.problem.code, ErrorCode::InsufficientScope);
        let anonymous = authorize_also(&route(&[]), &Identity::anonymous()).unwrap_err();
        assert_eq!(anonymous.problem.code, ErrorCode::TokenMissing);
        let key_only = Route {
            auth: vec![CredentialKind::ApiKey],
            ..route(&[])
        };
        let wrong_kind = authorize_also(&key_only, &who(&[])).unwrap_err();
        assert_eq!(wrong_kind.problem.code, ErrorCode::ApiKeyMissing);
        let public = Route {
            auth: vec![CredentialKind::Public],
            ..route(&["a"])
        };
        assert!(authorize_also(&public, &Identity::anonymous()).is_ok());
    }

    #[test]
    fn another_reading_that_requires_binding_refuses_an_unbound_token_however_verified() {
        let bound_only = Route {
            binding: crate::route::Binding::Required,
            ..route(&[])
        };
        for method in [AuthMethod::Jwt, AuthMethod::Introspection] {
            let unbound = Identity { method, ..who(&[]) };
            let refused = authorize_also(&bound_only, &unbound).unwrap_err();
            assert_eq!(refused.problem.code, ErrorCode::TokenBindingRequired);
            let mut bound = unbound.clone();
            bound.holder.confirmation = Some(crate::identity::Confirmation::Jkt("k".into()));
            assert!(authorize_also(&bound_only, &bound).is_ok());
        }
    }
}
