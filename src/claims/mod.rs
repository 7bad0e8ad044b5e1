//! What a credential's claims do beyond scopes (issue 15): an issuer's claims (or an introspection
//! answer's members) forwarded to the origin as headers (`headers`), and per-route conditions on
//! claims or API-key metadata (`require`), both over claim paths (`path`). `settings` holds what
//! the configuration adds for them; `identity_claims` is the one extraction the gateway and
//! `portcullis explain` run on a verified token, and the gateway on an active introspection answer.

pub mod headers;
pub mod path;
pub mod require;
pub mod settings;

use serde_json::{Map, Value};

pub use headers::{ClaimHeader, ClaimNotForwardable};
pub use path::ClaimPath;
pub use require::{ClaimValues, Condition};
pub use settings::ClaimSettings;

use path::Lookup;

/// What an identity carries from its token's claims: the headers of its issuer's (or the
/// introspection section's) `claims_to_headers`, and the values of every claim some route's
/// `require` names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdentityClaims {
    pub headers: Vec<(String, String)>,
    pub values: ClaimValues,
}

/// The claims a verified token (or an active introspection answer) carries to the origin and to
/// the routes' conditions: the same function for the gateway (authenticate stage, introspection
/// answers) and `portcullis explain`.
pub fn identity_claims(
    claims_to_headers: &[ClaimHeader],
    settings: &ClaimSettings,
    claims: &Map<String, Value>,
) -> Result<IdentityClaims, ClaimNotForwardable> {
    let headers = headers::claim_headers(claims_to_headers, claims)?;
    let values = settings
        .required
        .iter()
        .filter_map(|path| match path.lookup(claims) {
            Lookup::Found(v) => Some((path.as_str().to_string(), v.clone())),
            Lookup::Absent | Lookup::NotAnObject => None,
        })
        .collect();
    Ok(IdentityClaims { headers, values })
}

#[cfg(test)]
mod tests {
    use crate::config::parse_config;
    use serde_json::{json, Value};

    fn config(issuer_extra: Value, route_extra: Value, top_extra: Value) -> Value {
        let mut issuer = json!({"issuer": "https://id.example.com", "audiences": ["api"], "algorithms": ["ES256"]});
        for (k, v) in issuer_extra.as_object().unwrap() {
            issuer[k] = v.clone();
        }
        let mut route = json!({"methods": ["GET"], "path": "/api/*", "auth": ["jwt", "api_key"]});
        for (k, v) in route_extra.as_object().unwrap() {
            route[k] = v.clone();
        }
        let mut doc = json!({
            "origin": "https://origin.internal",
            "issuers": [issuer],
            "routes": [{"methods": ["GET"], "path": "/health", "auth": ["public"]}, route],
        });
        for (k, v) in top_extra.as_object().unwrap() {
            doc[k] = v.clone();
        }
        doc
    }

    fn errors(doc: Value) -> Vec<(String, String)> {
        match parse_config(&doc) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| (e.path, e.message)).collect(),
        }
    }

    #[test]
    fn the_issue_examples_configure() {
        let doc = config(
            json!({"claims_to_headers": {
                "x-user-email": "email",
                "x-auth-tenant": "org.id",
                "x-user-roles": "realm_access.roles",
                "x-acme-tenant": "[\"https://example.com/claims/tenant\"]",
            }}),
            json!({"require": {"tenant": "acme", "roles": {"any": ["admin", "ops"]}, "email_verified": true}}),
            json!({"identity_header_prefixes": ["x-acme-"]}),
        );
        let c = parse_config(&doc).unwrap();
        let names: Vec<&str> = c.issuers[0]
            .claims_to_headers
            .iter()
            .map(|h| h.header.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "x-acme-tenant",
                "x-auth-tenant",
                "x-user-email",
                "x-user-roles"
            ]
        );
        assert_eq!(c.routes[1].require.len(), 3);
        let required: Vec<&str> = c.claims.required.iter().map(|p| p.as_str()).collect();
        assert_eq!(required.len(), 3);
        assert!(required.contains(&"email_verified"));
        assert_eq!(c.claims.identity_header_prefixes, ["x-acme-"]);
    }

    #[test]
    fn bad_entries_are_named_by_path() {
        let e = errors(config(
            json!({"claims_to_headers": {"x-tenant": "org.id", "x-user-id": "email", "x_user_email": "email", "x-user-ok": "a..b"}}),
            json!({}),
            json!({}),
        ));
        let paths: Vec<&str> = e.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "issuers[0].claims_to_headers.x-tenant",
                "issuers[0].claims_to_headers.x-user-id",
                "issuers[0].claims_to_headers.x-user-ok",
                "issuers[0].claims_to_headers.x_user_email",
            ]
        );
        assert!(e[0].1.contains("namespace"), "{e:?}");
        let e = errors(config(
            json!({}),
            json!({"require": {"roles": {"regex": "adm.*"}}}),
            json!({"identity_header_prefixes": ["x-forwarded-"]}),
        ));
        let paths: Vec<&str> = e.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            ["identity_header_prefixes[0]", "routes[1].require.roles"]
        );
        // A public route has no claims to require.
        let mut doc = config(json!({}), json!({}), json!({}));
        doc["routes"][0]["require"] = json!({"tenant": "acme"});
        assert_eq!(errors(doc)[0].0, "routes[0].require");
    }

    fn introspection(claims_to_headers: Value) -> Value {
        config(
            json!({}),
            json!({"require": {"org.id": "acme"}}),
            json!({
                "identity_header_prefixes": ["x-acme-"],
                "introspection": {
                    "enabled": true, "issuer": "https://as.example", "client_id": "gw",
                    "endpoint": "https://as.example/introspect",
                    "claims_to_headers": claims_to_headers,
                },
            }),
        )
    }

    #[test]
    fn introspection_claims_to_headers_configure_as_an_issuers_do() {
        let c = parse_config(&introspection(json!({
            "x-user-email": "email",
            "x-auth-tenant": "org.id",
            "x-acme-roles": "realm_access.roles",
            "x-auth-sub": "sub",
            "x-acme-region": "[\"https://example.com/claims/region\"]",
        })))
        .unwrap();
        let entries: Vec<(&str, &str)> = c
            .introspection
            .claim_headers
            .iter()
            .map(|h| (h.header.as_str(), h.claim.as_str()))
            .collect();
        assert_eq!(
            entries,
            [
                ("x-acme-region", "[\"https://example.com/claims/region\"]"),
                ("x-acme-roles", "realm_access.roles"),
                ("x-auth-sub", "sub"),
                ("x-auth-tenant", "org.id"),
                ("x-user-email", "email"),
            ]
        );
        // The routes' conditions are read from introspection answers too.
        assert_eq!(c.claims.required[0].as_str(), "org.id");
        // Disabled, the table is not read.
        let mut doc = introspection(json!({"x-tenant": "a..b"}));
        doc["introspection"]["enabled"] = json!(false);
        assert!(parse_config(&doc)
            .unwrap()
            .introspection
            .claim_headers
            .is_empty());
    }

    #[test]
    fn bad_introspection_claims_to_headers_are_named_by_path() {
        let e = errors(introspection(json!({
            "x-tenant": "org.id",
            "x-user-id": "email",
            "x-auth-method": "amr",
            "x-auth-issuer": "iss",
            "x-user-scopes": "scope",
            "x-token-id": "jti",
            "x-client-id": "client_id",
            "x_user_email": "email",
            "x-user-ok": "a..b",
            "x-other-roles": "roles",
        })));
        let paths: Vec<&str> = e.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "introspection.claims_to_headers.x-auth-issuer",
                "introspection.claims_to_headers.x-auth-method",
                "introspection.claims_to_headers.x-client-id",
                "introspection.claims_to_headers.x-other-roles",
                "introspection.claims_to_headers.x-tenant",
                "introspection.claims_to_headers.x-token-id",
                "introspection.claims_to_headers.x-user-id",
                "introspection.claims_to_headers.x-user-ok",
                "introspection.claims_to_headers.x-user-scopes",
                "introspection.claims_to_headers.x_user_email",
            ]
        );
        assert!(e[0].1.contains("set by the gateway itself"), "{e:?}");
        assert!(e[3].1.contains("namespace"), "{e:?}");
        assert!(e[7].1.contains("not a claim path"), "{e:?}");
        // Not a table of strings: the section's own parse names the entry.
        let e = errors(introspection(json!({"x-user-email": 7})));
        assert_eq!(
            e,
            [(
                "introspection.claims_to_headers.x-user-email".to_string(),
                "invalid type: integer `7`, expected a string".to_string()
            )]
        );
    }
}
