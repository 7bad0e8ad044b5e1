//! The code exchange (RFC 6749 §4.1.3 + RFC 7636 §4.5 + RFC 8707 §2.2) for a public client:
//! `client_id` in the body, no client secret (a browser cannot keep one).

use alloc::string::String;
use alloc::vec::Vec;
use crate::encoding::push_pair;
use crate::error::PkceError;
use crate::pkce::CodeVerifier;
use crate::validate::{check_resource, check_url, check_vschar, UrlRole};

pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub token_endpoint: String,
    pub client_id: String,
    /// Must equal the `redirect_uri` of the authorization request (RFC 6749 §4.1.3).
    pub redirect_uri: String,
    pub code: String,
    pub code_verifier: CodeVerifier,
    /// The resource(s) the access token is for; a JWT access token's `aud` comes from here.
    pub resources: Vec<String>,
}

impl TokenRequest {
    pub fn validate(&self) -> Result<(), PkceError> {
        check_url("tokenEndpoint", &self.token_endpoint, UrlRole::Endpoint)?;
        check_vschar("clientId", &self.client_id)?;
        check_url("redirectUri", &self.redirect_uri, UrlRole::RedirectUri)?;
        check_vschar("code", &self.code)?;
        for r in &self.resources {
            check_resource(r)?;
        }
        Ok(())
    }

    /// The `application/x-www-form-urlencoded` body to POST to the token endpoint.
    pub fn body(&self) -> Result<String, PkceError> {
        self.validate()?;
        let mut body = String::with_capacity(256);
        push_pair(&mut body, "grant_type", "authorization_code");
        push_pair(&mut body, "code", &self.code);
        push_pair(&mut body, "redirect_uri", &self.redirect_uri);
        push_pair(&mut body, "client_id", &self.client_id);
        push_pair(&mut body, "code_verifier", self.code_verifier.as_str());
        for r in &self.resources {
            push_pair(&mut body, "resource", r);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> TokenRequest {
        TokenRequest {
            token_endpoint: "https://as.example/token".into(),
            client_id: "spa".into(),
            redirect_uri: "https://app.example/cb".into(),
            code: "SplxlOBeZQQYbYS6WxSbIA+/=".into(),
            code_verifier: CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap(),
            resources: vec!["https://api.portcullis.test".into()],
        }
    }

    #[test]
    fn exact_body() {
        assert_eq!(
            request().body().unwrap(),
            "grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA%2B%2F%3D\
             &redirect_uri=https%3A%2F%2Fapp.example%2Fcb&client_id=spa\
             &code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk\
             &resource=https%3A%2F%2Fapi.portcullis.test"
        );
    }

    #[test]
    fn validates_inputs() {
        let mut r = request();
        r.token_endpoint = "http://as.example/token".into();
        assert_eq!(r.body().unwrap_err().field(), Some("tokenEndpoint"));
        let mut r = request();
        r.code.clear();
        assert_eq!(r.body().unwrap_err(), PkceError::InvalidParameter { field: "code", reason: "is required" });
        let mut r = request();
        r.resources = vec!["relative".into()];
        assert_eq!(r.body().unwrap_err().field(), Some("resource"));
    }
}
