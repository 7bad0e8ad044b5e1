//! The authorization request (RFC 6749 §4.1.1 + RFC 7636 §4.3 + OIDC Core §3.1.2.1 + RFC 8707).

use crate::encoding::push_pair;
use crate::error::PkceError;
use crate::pkce::{check_challenge, METHOD_S256};
use crate::validate::{
    check_resource, check_scope, check_unguessable, check_url, check_vschar, UrlRole,
};
use alloc::string::String;

/// Parameters the helper writes itself; extra parameters may not set them, so nothing can
/// downgrade the request (e.g. `code_challenge_method=plain`) or smuggle a second `state`.
pub const RESERVED_PARAMETERS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "resource",
    "code_verifier",
    "response_mode",
    "request",
    "request_uri",
];

/// Everything that goes into the authorization URL. Borrowed: building a URL moves no data.
#[derive(Clone, Copy, Debug)]
pub struct AuthorizationRequest<'a> {
    pub authorization_endpoint: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub state: &'a str,
    pub nonce: &'a str,
    pub code_challenge: &'a str,
    /// RFC 8707 resource indicators (the API audiences the access token is for).
    pub resources: &'a [String],
    /// Further parameters (`prompt`, `login_hint`, `ui_locales`, …), in order.
    pub extra: &'a [(String, String)],
}

impl AuthorizationRequest<'_> {
    pub fn validate(&self) -> Result<(), PkceError> {
        check_url(
            "authorizationEndpoint",
            self.authorization_endpoint,
            UrlRole::Endpoint,
        )?;
        check_vschar("clientId", self.client_id)?;
        check_url("redirectUri", self.redirect_uri, UrlRole::RedirectUri)?;
        check_scope(self.scope)?;
        check_unguessable("state", self.state)?;
        check_unguessable("nonce", self.nonce)?;
        check_challenge(self.code_challenge)?;
        for r in self.resources {
            check_resource(r)?;
        }
        for (name, _) in self.extra {
            if name.is_empty() {
                return Err(PkceError::InvalidParameter {
                    field: "extraParams",
                    reason: "has an empty parameter name",
                });
            }
            if RESERVED_PARAMETERS.contains(&name.as_str()) {
                return Err(PkceError::ReservedParameter { name: name.clone() });
            }
        }
        Ok(())
    }

    /// The URL to send the browser to. Any query already on the endpoint is kept (RFC 6749 §3.1).
    pub fn to_url(&self) -> Result<String, PkceError> {
        self.validate()?;
        let mut url = String::with_capacity(512);
        url.push_str(self.authorization_endpoint);
        if !url.bytes().any(|b| b == b'?') {
            url.push('?');
        }
        let pairs = [
            ("response_type", "code"),
            ("client_id", self.client_id),
            ("redirect_uri", self.redirect_uri),
            ("scope", self.scope),
            ("state", self.state),
            ("nonce", self.nonce),
            ("code_challenge", self.code_challenge),
            ("code_challenge_method", METHOD_S256),
        ];
        for (name, value) in pairs {
            push_pair(&mut url, name, value);
        }
        for r in self.resources {
            push_pair(&mut url, "resource", r);
        }
        for (name, value) in self.extra {
            push_pair(&mut url, name, value);
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    const RESOURCES: &[&str] = &["https://api.portcullis.test"];

    fn owned(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn extra() -> Vec<(String, String)> {
        vec![
            ("prompt".into(), "login consent".into()),
            ("login_hint".into(), "a+b@c.example".into()),
        ]
    }

    fn request<'a>(
        resources: &'a [String],
        extra: &'a [(String, String)],
    ) -> AuthorizationRequest<'a> {
        AuthorizationRequest {
            authorization_endpoint: "https://as.example/authorize",
            client_id: "spa client",
            redirect_uri: "https://app.example/cb?x=1&y=2",
            scope: "openid read:echo",
            state: "st_ate-0123456789abcdefABC",
            nonce: "n.o~nce0123456789abcdefABC",
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            resources,
            extra,
        }
    }

    #[test]
    fn builds_exact_url() {
        let (resources, extra) = (owned(RESOURCES), extra());
        assert_eq!(
            request(&resources, &extra).to_url().unwrap(),
            "https://as.example/authorize?response_type=code&client_id=spa%20client\
             &redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1%26y%3D2\
             &scope=openid%20read%3Aecho&state=st_ate-0123456789abcdefABC&nonce=n.o~nce0123456789abcdefABC\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256\
             &resource=https%3A%2F%2Fapi.portcullis.test\
             &prompt=login%20consent&login_hint=a%2Bb%40c.example"
        );
    }

    #[test]
    fn keeps_existing_endpoint_query() {
        let mut r = request(&[], &[]);
        r.authorization_endpoint = "https://as.example/authorize?tenant=acme";
        let url = r.to_url().unwrap();
        assert!(
            url.starts_with(
                "https://as.example/authorize?tenant=acme&response_type=code&client_id="
            ),
            "{url}"
        );
        r.authorization_endpoint = "https://as.example/authorize?";
        assert!(r
            .to_url()
            .unwrap()
            .starts_with("https://as.example/authorize?response_type=code&"));
    }

    #[test]
    fn several_resources_each_get_a_parameter() {
        let resources = owned(&["https://a.example", "urn:b"]);
        let url = request(&resources, &[]).to_url().unwrap();
        assert!(
            url.ends_with("&resource=https%3A%2F%2Fa.example&resource=urn%3Ab"),
            "{url}"
        );
    }

    #[test]
    fn refuses_reserved_extra_parameters() {
        for name in [
            "code_challenge_method",
            "state",
            "response_type",
            "redirect_uri",
            "resource",
            "request_uri",
        ] {
            let extra = vec![(name.to_string(), "plain".to_string())];
            assert_eq!(
                request(&[], &extra).to_url().unwrap_err(),
                PkceError::ReservedParameter { name: name.into() }
            );
        }
        let extra = vec![(String::new(), "x".to_string())];
        assert_eq!(
            request(&[], &extra).to_url().unwrap_err().code(),
            "invalid_parameter"
        );
    }

    #[test]
    fn validates_every_field() {
        type Mutation = fn(&mut AuthorizationRequest<'static>);
        let cases: Vec<(Mutation, &str)> = vec![
            (
                |r| r.authorization_endpoint = "http://as.example/authorize",
                "authorizationEndpoint",
            ),
            (|r| r.client_id = "", "clientId"),
            (
                |r| r.redirect_uri = "https://app.example/cb#x",
                "redirectUri",
            ),
            (|r| r.scope = "", "scope"),
            (|r| r.state = "short", "state"),
            (|r| r.nonce = "", "nonce"),
            (|r| r.code_challenge = "plain-verifier", "codeChallenge"),
        ];
        for (mutate, field) in cases {
            let mut r = request(&[], &[]);
            mutate(&mut r);
            let err = r.to_url().unwrap_err();
            assert_eq!(err.field(), Some(field), "{err:?}");
        }
        let bad = owned(&["not a uri"]);
        assert_eq!(
            request(&bad, &[]).to_url().unwrap_err().field(),
            Some("resource")
        );
    }
}
