//! The authorization request (RFC 6749 §4.1.1 + RFC 7636 §4.3 + OIDC Core §3.1.2.1 + RFC 8707).

use alloc::string::String;
use alloc::vec::Vec;
use crate::encoding::push_pair;
use crate::error::PkceError;
use crate::pkce::{check_challenge, METHOD_S256};
use crate::validate::{check_resource, check_scope, check_unguessable, check_url, check_vschar, UrlRole};

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

/// Everything that goes into the authorization URL.
#[derive(Clone, Debug, Default)]
pub struct AuthorizationRequest {
    pub authorization_endpoint: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: String,
    pub nonce: String,
    pub code_challenge: String,
    /// RFC 8707 resource indicators (the API audiences the access token is for).
    pub resources: Vec<String>,
    /// Further parameters (`prompt`, `login_hint`, `ui_locales`, …), in order.
    pub extra: Vec<(String, String)>,
}

impl AuthorizationRequest {
    pub fn validate(&self) -> Result<(), PkceError> {
        check_url("authorizationEndpoint", &self.authorization_endpoint, UrlRole::Endpoint)?;
        check_vschar("clientId", &self.client_id)?;
        check_url("redirectUri", &self.redirect_uri, UrlRole::RedirectUri)?;
        check_scope(&self.scope)?;
        check_unguessable("state", &self.state)?;
        check_unguessable("nonce", &self.nonce)?;
        check_challenge(&self.code_challenge)?;
        for r in &self.resources {
            check_resource(r)?;
        }
        for (name, _) in &self.extra {
            if name.is_empty() {
                return Err(PkceError::InvalidParameter { field: "extraParams", reason: "has an empty parameter name" });
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
        url.push_str(&self.authorization_endpoint);
        if !url.contains('?') {
            url.push('?');
        }
        push_pair(&mut url, "response_type", "code");
        push_pair(&mut url, "client_id", &self.client_id);
        push_pair(&mut url, "redirect_uri", &self.redirect_uri);
        push_pair(&mut url, "scope", &self.scope);
        push_pair(&mut url, "state", &self.state);
        push_pair(&mut url, "nonce", &self.nonce);
        push_pair(&mut url, "code_challenge", &self.code_challenge);
        push_pair(&mut url, "code_challenge_method", METHOD_S256);
        for r in &self.resources {
            push_pair(&mut url, "resource", r);
        }
        for (name, value) in &self.extra {
            push_pair(&mut url, name, value);
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> AuthorizationRequest {
        AuthorizationRequest {
            authorization_endpoint: "https://as.example/authorize".into(),
            client_id: "spa client".into(),
            redirect_uri: "https://app.example/cb?x=1&y=2".into(),
            scope: "openid read:echo".into(),
            state: "st_ate-0123456789abcdefABC".into(),
            nonce: "n.o~nce0123456789abcdefABC".into(),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            resources: vec!["https://api.portcullis.test".into()],
            extra: vec![("prompt".into(), "login consent".into()), ("login_hint".into(), "a+b@c.example".into())],
        }
    }

    #[test]
    fn builds_exact_url() {
        assert_eq!(
            request().to_url().unwrap(),
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
        let mut r = request();
        r.resources.clear();
        r.extra.clear();
        r.authorization_endpoint = "https://as.example/authorize?tenant=acme".into();
        let url = r.to_url().unwrap();
        assert!(url.starts_with("https://as.example/authorize?tenant=acme&response_type=code&client_id="), "{url}");
        r.authorization_endpoint = "https://as.example/authorize?".into();
        assert!(r.to_url().unwrap().starts_with("https://as.example/authorize?response_type=code&"));
    }

    #[test]
    fn several_resources_each_get_a_parameter() {
        let mut r = request();
        r.extra.clear();
        r.resources = vec!["https://a.example".into(), "urn:b".into()];
        assert!(r.to_url().unwrap().ends_with("&resource=https%3A%2F%2Fa.example&resource=urn%3Ab"));
    }

    #[test]
    fn refuses_reserved_extra_parameters() {
        for name in ["code_challenge_method", "state", "response_type", "redirect_uri", "resource"] {
            let mut r = request();
            r.extra = vec![(name.into(), "plain".into())];
            assert_eq!(r.to_url().unwrap_err(), PkceError::ReservedParameter { name: name.into() });
        }
        let mut r = request();
        r.extra = vec![(String::new(), "x".into())];
        assert_eq!(r.to_url().unwrap_err().code(), "invalid_parameter");
    }

    #[test]
    fn validates_every_field() {
        let cases: Vec<(fn(&mut AuthorizationRequest), &str)> = vec![
            (|r| r.authorization_endpoint = "http://as.example/authorize".into(), "authorizationEndpoint"),
            (|r| r.client_id = String::new(), "clientId"),
            (|r| r.redirect_uri = "https://app.example/cb#x".into(), "redirectUri"),
            (|r| r.scope = String::new(), "scope"),
            (|r| r.state = "short".into(), "state"),
            (|r| r.nonce = String::new(), "nonce"),
            (|r| r.code_challenge = "plain-verifier".into(), "codeChallenge"),
            (|r| r.resources = vec!["not a uri".into()], "resource"),
        ];
        for (mutate, field) in cases {
            let mut r = request();
            mutate(&mut r);
            let err = r.to_url().unwrap_err();
            assert_eq!(err.field(), Some(field), "{err:?}");
        }
    }
}
