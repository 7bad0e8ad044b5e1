//! The code exchange (RFC 6749 §4.1.3 + RFC 7636 §4.5 + RFC 8707 §2.2) for a public client:
//! `client_id` in the body, no client secret (a browser cannot keep one).

use crate::encoding::push_pair;
use crate::error::PkceError;
use crate::pkce::CodeVerifier;
use crate::validate::{check_resource, check_url, check_vschar, UrlRole};
use alloc::string::String;

pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// The code-exchange request. Borrowed from the pending transaction and the callback's code.
#[derive(Clone, Copy, Debug)]
pub struct TokenRequest<'a> {
    pub token_endpoint: &'a str,
    pub client_id: &'a str,
    /// Must equal the `redirect_uri` of the authorization request (RFC 6749 §4.1.3).
    pub redirect_uri: &'a str,
    pub code: &'a str,
    pub code_verifier: &'a CodeVerifier,
    /// The resource(s) the access token is for; a JWT access token's `aud` comes from here.
    pub resources: &'a [String],
}

impl TokenRequest<'_> {
    pub fn validate(&self) -> Result<(), PkceError> {
        check_url("tokenEndpoint", self.token_endpoint, UrlRole::Endpoint)?;
        check_vschar("clientId", self.client_id)?;
        check_url("redirectUri", self.redirect_uri, UrlRole::RedirectUri)?;
        check_vschar("code", self.code)?;
        for r in self.resources {
            check_resource(r)?;
        }
        Ok(())
    }

    /// The `application/x-www-form-urlencoded` body to POST to the token endpoint.
    pub fn body(&self) -> Result<String, PkceError> {
        self.validate()?;
        let mut body = String::with_capacity(256);
        let pairs = [
            ("grant_type", "authorization_code"),
            ("code", self.code),
            ("redirect_uri", self.redirect_uri),
            ("client_id", self.client_id),
            ("code_verifier", self.code_verifier.as_str()),
        ];
        for (name, value) in pairs {
            push_pair(&mut body, name, value);
        }
        for r in self.resources {
            push_pair(&mut body, "resource", r);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn verifier() -> CodeVerifier {
        CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap()
    }

    fn request<'a>(verifier: &'a CodeVerifier, resources: &'a [String]) -> TokenRequest<'a> {
        TokenRequest {
            token_endpoint: "https://as.example/token",
            client_id: "spa",
            redirect_uri: "https://app.example/cb",
            code: "SplxlOBeZQQYbYS6WxSbIA+/=",
            code_verifier: verifier,
            resources,
        }
    }

    #[test]
    fn exact_body() {
        let (v, resources) = (verifier(), vec!["https://api.portcullis.test".to_string()]);
        assert_eq!(
            request(&v, &resources).body().unwrap(),
            "grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA%2B%2F%3D\
             &redirect_uri=https%3A%2F%2Fapp.example%2Fcb&client_id=spa\
             &code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk\
             &resource=https%3A%2F%2Fapi.portcullis.test"
        );
    }

    #[test]
    fn validates_inputs() {
        let v = verifier();
        let mut r = request(&v, &[]);
        r.token_endpoint = "http://as.example/token";
        assert_eq!(r.body().unwrap_err().field(), Some("tokenEndpoint"));
        let mut r = request(&v, &[]);
        r.code = "";
        assert_eq!(
            r.body().unwrap_err(),
            PkceError::InvalidParameter {
                field: "code",
                reason: "is required"
            }
        );
        let bad = vec!["relative".to_string()];
        assert_eq!(
            request(&v, &bad).body().unwrap_err().field(),
            Some("resource")
        );
    }
}
