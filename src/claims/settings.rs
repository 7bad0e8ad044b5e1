//! What the configuration holds for claims beyond scopes: the top-level
//! `identity_header_prefixes` (more of the gateway's header namespace, for `claims_to_headers`),
//! and — derived from the routes — every claim path some route's `require` reads, which the
//! authenticate stage keeps with the identity (in the verified-token cache too) so a route's
//! conditions can be judged on a cache hit.

use super::path::ClaimPath;
use crate::pipeline::client_headers::{
    CLIENT_CERT_NAMES, CLIENT_CERT_PREFIXES, FORWARDING, OVERRIDE, PROXY_DIRECTIVES,
};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClaimSettings {
    /// Extra prefixes of the gateway's namespace (`x-acme-`): stripped from client requests in
    /// every spelling like `x-user-*`, and open to `claims_to_headers`.
    pub identity_header_prefixes: Vec<String>,
    /// Every claim path a route's `require` names, once each.
    pub required: Vec<ClaimPath>,
}

impl ClaimSettings {
    /// `folded` (a client header name as `client_headers::fold` reads it) lies under a configured
    /// prefix, so the client may not send it.
    pub(crate) fn in_extra_namespace(&self, folded: &str) -> bool {
        self.identity_header_prefixes
            .iter()
            .any(|p| folded.starts_with(p.as_str()))
    }
}

/// A configured prefix: `x-`, then lower-case letters, digits and single `-`, ending in `-`; not one
/// of the gateway's own, not the start of a header the gateway treats otherwise (forwarding,
/// override, proxy directive, credential, request id), which claims could then be named as, and
/// not overlapping the client-certificate statements.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), String> {
    let body = prefix.strip_prefix("x-").and_then(|p| p.strip_suffix('-'));
    let well_formed = body.is_some_and(|b| {
        !b.is_empty()
            && !b.starts_with('-')
            && !b.contains("--")
            && b.bytes()
                .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'-'))
    });
    if !well_formed {
        return Err("a prefix is x-, lower-case letters, digits and single '-', and ends with '-' (x-acme-)".into());
    }
    if ["x-user-", "x-auth-", "x-token-", "x-portcullis-"].contains(&prefix) {
        return Err("already the gateway's namespace".into());
    }
    let other = FORWARDING
        .iter()
        .chain(OVERRIDE)
        .chain(PROXY_DIRECTIVES)
        .chain(&[
            "x-api-key",
            crate::request_id::HEADER,
            "x-client-id",
            "x-key-id",
        ])
        .find(|n| n.starts_with(prefix));
    if let Some(name) = other {
        return Err(format!(
            "{name} starts with it, and is not the gateway's to set from a claim"
        ));
    }
    // The client-certificate statements (`x-client-cert-*`, `x-ssl-client-*`, …): an origin behind
    // a TLS-terminating proxy reads them as the connection's verified certificate, and the gateway
    // makes them from the connection alone, never from a claim. Refused whether the prefix would
    // cover one (`x-ssl-`) or lie inside one (`x-client-cert-`).
    let cert = CLIENT_CERT_PREFIXES
        .iter()
        .chain(CLIENT_CERT_NAMES)
        .find(|n| n.starts_with(prefix) || prefix.starts_with(*n));
    if let Some(name) = cert {
        return Err(format!(
            "it overlaps the client-certificate statements ({name}…), which the gateway makes from the TLS connection alone"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(check_prefix("x-acme-"), Ok(()));
        assert_eq!(check_prefix("x-acme-corp-"), Ok(()));
        assert_eq!(check_prefix("x-client-app-"), Ok(()));
        for bad in [
            "x-",
            "x-acme",
            "acme-",
            "X-Acme-",
            "x-ac_me-",
            "x--",
            "x-a--b-",
            "x-user-",
            "x-forwarded-",
            "x-real-",
            "x-original-",
            "x-http-",
            "x-api-",
            "x-request-",
            "x-client-",
            "x-key-",
            "x-accel-",
            "x-sendfile-",
            "x-client-cert-",
            "x-client-cert-extra-",
            "x-ssl-",
            "x-ssl-client-",
            "x-ssl-cert-",
            "x-arr-",
            "x-forwarded-client-",
        ] {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
        let s = ClaimSettings {
            identity_header_prefixes: vec!["x-acme-".into()],
            required: vec![],
        };
        assert!(s.in_extra_namespace("x-acme-tenant"));
        assert!(!s.in_extra_namespace("x-acmetenant"));
    }
}
