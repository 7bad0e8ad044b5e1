//! Every refusal the gateway can give, as one stable code per failed check, rendered as an
//! RFC 9457 `application/problem+json` body plus the RFC 6750 `WWW-Authenticate` challenge where the
//! failure is about a bearer token.
//!
//! The codes are a public contract (documented in `docs/errors.md`): clients and dashboards key on
//! them, so a code is never renamed and never reused for a different check.

use serde::Serialize;

/// One code per failed check. `as_str` is the wire form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    // --- request shape (parse stage)
    CredentialsInUrl,
    HttpsRequired,
    RouteNotFound,
    RequestInvalid,
    // --- configuration
    GatewayMisconfigured,
    // --- bearer tokens (authenticate stage)
    TokenMissing,
    AuthorizationSchemeUnsupported,
    TokenMalformed,
    TokenTooLarge,
    TokenAlgorithmRefused,
    TokenCritUnsupported,
    TokenTypeInvalid,
    TokenKeyUnknown,
    TokenSignatureInvalid,
    TokenIssuerUnknown,
    TokenAudienceMismatch,
    TokenExpired,
    TokenNotYetValid,
    TokenIssuedInFuture,
    TokenClaimMissing,
    TokenClaimInvalid,
    TokenRevoked,
    JwksUnavailable,
    TokenLifetimeTooLong,
    // --- API keys
    ApiKeyMissing,
    ApiKeyMalformed,
    ApiKeyInvalid,
    ApiKeyExpired,
    ApiKeyRevoked,
    ApiKeyNotFound,
    CredentialStoreUnavailable,
    /// The admin API's `Idempotency-Key` header is malformed.
    IdempotencyKeyInvalid,
    /// An `Idempotency-Key` reused with a different request (draft-ietf-httpapi-idempotency-key-header).
    IdempotencyKeyReused,
    // --- several credential kinds accepted, none presented
    CredentialsMissing,
    // --- authorize / limit stages
    InsufficientScope,
    RevocationUnavailable,
    RateLimited,
    RateLimiterUnavailable,
    // --- forward stage
    OriginUnreachable,
    OriginTimeout,
    OriginResponseInvalid,
    // --- the gateway's own runtime
    GatewayError,
    RequestHeadersUnreadable,
}

impl ErrorCode {
    pub const ALL: &'static [ErrorCode] = &[
        Self::CredentialsInUrl,
        Self::HttpsRequired,
        Self::RouteNotFound,
        Self::RequestInvalid,
        Self::GatewayMisconfigured,
        Self::TokenMissing,
        Self::AuthorizationSchemeUnsupported,
        Self::TokenMalformed,
        Self::TokenTooLarge,
        Self::TokenAlgorithmRefused,
        Self::TokenCritUnsupported,
        Self::TokenTypeInvalid,
        Self::TokenKeyUnknown,
        Self::TokenSignatureInvalid,
        Self::TokenIssuerUnknown,
        Self::TokenAudienceMismatch,
        Self::TokenExpired,
        Self::TokenNotYetValid,
        Self::TokenIssuedInFuture,
        Self::TokenClaimMissing,
        Self::TokenClaimInvalid,
        Self::TokenRevoked,
        Self::JwksUnavailable,
        Self::TokenLifetimeTooLong,
        Self::ApiKeyMissing,
        Self::ApiKeyMalformed,
        Self::ApiKeyInvalid,
        Self::ApiKeyExpired,
        Self::ApiKeyRevoked,
        Self::ApiKeyNotFound,
        Self::CredentialStoreUnavailable,
        Self::IdempotencyKeyInvalid,
        Self::IdempotencyKeyReused,
        Self::CredentialsMissing,
        Self::InsufficientScope,
        Self::RevocationUnavailable,
        Self::RateLimited,
        Self::RateLimiterUnavailable,
        Self::OriginUnreachable,
        Self::OriginTimeout,
        Self::OriginResponseInvalid,
        Self::GatewayError,
        Self::RequestHeadersUnreadable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CredentialsInUrl => "credentials_in_url",
            Self::HttpsRequired => "https_required",
            Self::RouteNotFound => "route_not_found",
            Self::RequestInvalid => "request_invalid",
            Self::GatewayMisconfigured => "gateway_misconfigured",
            Self::TokenMissing => "token_missing",
            Self::AuthorizationSchemeUnsupported => "authorization_scheme_unsupported",
            Self::TokenMalformed => "token_malformed",
            Self::TokenTooLarge => "token_too_large",
            Self::TokenAlgorithmRefused => "token_algorithm_refused",
            Self::TokenCritUnsupported => "token_crit_unsupported",
            Self::TokenTypeInvalid => "token_type_invalid",
            Self::TokenKeyUnknown => "token_key_unknown",
            Self::TokenSignatureInvalid => "token_signature_invalid",
            Self::TokenIssuerUnknown => "token_issuer_unknown",
            Self::TokenAudienceMismatch => "token_audience_mismatch",
            Self::TokenExpired => "token_expired",
            Self::TokenNotYetValid => "token_not_yet_valid",
            Self::TokenIssuedInFuture => "token_issued_in_future",
            Self::TokenClaimMissing => "token_claim_missing",
            Self::TokenClaimInvalid => "token_claim_invalid",
            Self::TokenRevoked => "token_revoked",
            Self::JwksUnavailable => "jwks_unavailable",
            Self::TokenLifetimeTooLong => "token_lifetime_too_long",
            Self::ApiKeyMissing => "api_key_missing",
            Self::ApiKeyMalformed => "api_key_malformed",
            Self::ApiKeyInvalid => "api_key_invalid",
            Self::ApiKeyExpired => "api_key_expired",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::ApiKeyNotFound => "api_key_not_found",
            Self::CredentialStoreUnavailable => "credential_store_unavailable",
            Self::IdempotencyKeyInvalid => "idempotency_key_invalid",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::CredentialsMissing => "credentials_missing",
            Self::InsufficientScope => "insufficient_scope",
            Self::RevocationUnavailable => "revocation_unavailable",
            Self::RateLimited => "rate_limited",
            Self::RateLimiterUnavailable => "rate_limiter_unavailable",
            Self::OriginUnreachable => "origin_unreachable",
            Self::OriginTimeout => "origin_timeout",
            Self::OriginResponseInvalid => "origin_response_invalid",
            Self::GatewayError => "gateway_error",
            Self::RequestHeadersUnreadable => "request_headers_unreadable",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Self::CredentialsInUrl | Self::RequestInvalid => 400,
            Self::HttpsRequired | Self::InsufficientScope => 403,
            Self::RouteNotFound | Self::ApiKeyNotFound => 404,
            Self::RateLimited => 429,
            Self::OriginUnreachable | Self::OriginResponseInvalid => 502,
            Self::OriginTimeout => 504,
            Self::GatewayError | Self::RequestHeadersUnreadable => 500,
            Self::IdempotencyKeyInvalid => 400,
            Self::IdempotencyKeyReused => 422,
            Self::GatewayMisconfigured
            | Self::JwksUnavailable
            | Self::CredentialStoreUnavailable
            | Self::RevocationUnavailable
            | Self::RateLimiterUnavailable => 503,
            Self::TokenMissing
            | Self::AuthorizationSchemeUnsupported
            | Self::TokenMalformed
            | Self::TokenTooLarge
            | Self::TokenAlgorithmRefused
            | Self::TokenCritUnsupported
            | Self::TokenTypeInvalid
            | Self::TokenKeyUnknown
            | Self::TokenSignatureInvalid
            | Self::TokenIssuerUnknown
            | Self::TokenAudienceMismatch
            | Self::TokenExpired
            | Self::TokenNotYetValid
            | Self::TokenIssuedInFuture
            | Self::TokenClaimMissing
            | Self::TokenClaimInvalid
            | Self::TokenRevoked
            | Self::TokenLifetimeTooLong
            | Self::ApiKeyMissing
            | Self::ApiKeyMalformed
            | Self::ApiKeyInvalid
            | Self::ApiKeyExpired
            | Self::ApiKeyRevoked
            | Self::CredentialsMissing => 401,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::CredentialsInUrl => "Credentials must not be sent in the URL",
            Self::HttpsRequired => "HTTPS is required",
            Self::RouteNotFound => "No route matches this request",
            Self::RequestInvalid => "The request is invalid",
            Self::GatewayMisconfigured => "The gateway is misconfigured",
            Self::TokenMissing => "A bearer token is required",
            Self::AuthorizationSchemeUnsupported => "Unsupported authorization scheme",
            Self::TokenMalformed => "The token is malformed",
            Self::TokenTooLarge => "The token is too large",
            Self::TokenAlgorithmRefused => "The token's algorithm is not accepted",
            Self::TokenCritUnsupported => "The token has an unsupported critical header",
            Self::TokenTypeInvalid => "The token's type is not accepted",
            Self::TokenKeyUnknown => "The token's signing key is unknown",
            Self::TokenSignatureInvalid => "The token's signature is invalid",
            Self::TokenIssuerUnknown => "The token's issuer is not trusted",
            Self::TokenAudienceMismatch => "The token is not meant for this audience",
            Self::TokenExpired => "The token has expired",
            Self::TokenNotYetValid => "The token is not valid yet",
            Self::TokenIssuedInFuture => "The token was issued in the future",
            Self::TokenClaimMissing => "A required claim is missing",
            Self::TokenClaimInvalid => "A claim has an invalid value",
            Self::TokenRevoked => "The token has been revoked",
            Self::JwksUnavailable => "The issuer's signing keys are unavailable",
            Self::TokenLifetimeTooLong => "The token's lifetime is longer than allowed",
            Self::ApiKeyMissing => "An API key is required",
            Self::ApiKeyMalformed => "The API key is malformed",
            Self::ApiKeyInvalid => "The API key is not valid",
            Self::ApiKeyExpired => "The API key has expired",
            Self::ApiKeyRevoked => "The API key has been revoked",
            Self::ApiKeyNotFound => "No API key with this id",
            Self::CredentialStoreUnavailable => "The credential store is unavailable",
            Self::IdempotencyKeyInvalid => "The Idempotency-Key header is invalid",
            Self::IdempotencyKeyReused => "The Idempotency-Key was used for a different request",
            Self::CredentialsMissing => "Credentials are required",
            Self::InsufficientScope => "The credential lacks a required scope",
            Self::RevocationUnavailable => "Revocation state is unavailable",
            Self::RateLimited => "Rate limit exceeded",
            Self::RateLimiterUnavailable => "The rate limiter is unavailable",
            Self::OriginUnreachable => "The origin could not be reached",
            Self::OriginTimeout => "The origin did not answer in time",
            Self::OriginResponseInvalid => "The origin's response cannot be relayed",
            Self::GatewayError => "The gateway failed to process the request",
            Self::RequestHeadersUnreadable => "The request headers could not be read",
        }
    }

    /// The RFC 6750 §3.1 error this code maps to, when the failure concerns a bearer token.
    pub fn bearer_error(self) -> Option<&'static str> {
        match self {
            // §3.1: a request that carried no credential gets a challenge without an error code.
            // An unsupported scheme counts as "no credential" there too.
            Self::TokenMissing
            | Self::CredentialsMissing
            | Self::AuthorizationSchemeUnsupported => None,
            Self::InsufficientScope => Some("insufficient_scope"),
            c if c.status() == 401 && c.as_str().starts_with("token_") => Some("invalid_token"),
            _ => None,
        }
    }

    pub fn type_uri(self) -> String {
        format!("urn:portcullis:problem:{}", self.as_str())
    }
}

/// A refusal, ready to be rendered. `detail` is written for humans and never carries a credential.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub code: ErrorCode,
    pub detail: String,
    /// Extra response headers (`Retry-After`, `WWW-Authenticate`, rate-limit headers, …).
    pub headers: Vec<(String, String)>,
    /// Extra members of the problem document (e.g. `required_scopes`).
    pub extensions: Vec<(String, serde_json::Value)>,
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    type_uri: String,
    title: &'static str,
    status: u16,
    detail: &'a str,
    code: &'static str,
}

impl Problem {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Problem {
            code,
            detail: detail.into(),
            headers: Vec::new(),
            extensions: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn with_extension(mut self, name: &str, value: serde_json::Value) -> Self {
        self.extensions.push((name.to_string(), value));
        self
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The RFC 9457 document.
    pub fn body(&self) -> String {
        let base = ProblemBody {
            type_uri: self.code.type_uri(),
            title: self.code.title(),
            status: self.code.status(),
            detail: &self.detail,
            code: self.code.as_str(),
        };
        let mut value = serde_json::to_value(base).unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(map) = &mut value {
            for (k, v) in &self.extensions {
                map.insert(k.clone(), v.clone());
            }
        }
        value.to_string()
    }
}

/// One scheme the route accepts, for the `WWW-Authenticate` challenges of a 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    Bearer,
    ApiKey,
}

/// Builds the `WWW-Authenticate` value for a refusal (RFC 6750 §3 for Bearer; an `ApiKey` scheme
/// naming the header for API keys). Every accepted scheme is listed, so a client learns all of them.
pub fn www_authenticate(
    realm: &str,
    schemes: &[Challenge],
    code: ErrorCode,
    detail: &str,
    scope: Option<&str>,
) -> Option<String> {
    if schemes.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    for scheme in schemes {
        match scheme {
            Challenge::Bearer => {
                let mut s = format!("Bearer realm=\"{}\"", quote_safe(realm));
                if let Some(err) = code.bearer_error() {
                    s.push_str(&format!(
                        ", error=\"{err}\", error_description=\"{}\"",
                        quote_safe(detail)
                    ));
                }
                if let Some(scope) = scope {
                    s.push_str(&format!(", scope=\"{}\"", quote_safe(scope)));
                }
                parts.push(s);
            }
            Challenge::ApiKey => {
                let mut s = format!(
                    "ApiKey realm=\"{}\", header=\"X-API-Key\"",
                    quote_safe(realm)
                );
                if code.as_str().starts_with("api_key_") {
                    s.push_str(&format!(", error=\"{}\"", code.as_str()));
                }
                parts.push(s);
            }
        }
    }
    Some(parts.join(", "))
}

/// RFC 6750 §3: error_description and scope are limited to printable ASCII without `"` and `\`.
fn quote_safe(s: &str) -> String {
    s.chars()
        .filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "duplicate {}", c.as_str());
            assert!(c
                .as_str()
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch == '_'));
            assert!(!c.title().is_empty());
        }
        assert_eq!(seen.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn body_is_rfc9457() {
        let p = Problem::new(ErrorCode::TokenExpired, "expired 40 s ago")
            .with_extension("x", serde_json::json!(1));
        let v: serde_json::Value = serde_json::from_str(&p.body()).unwrap();
        assert_eq!(v["type"], "urn:portcullis:problem:token_expired");
        assert_eq!(v["status"], 401);
        assert_eq!(v["code"], "token_expired");
        assert_eq!(v["detail"], "expired 40 s ago");
        assert_eq!(v["title"], "The token has expired");
        assert_eq!(v["x"], 1);
    }

    #[test]
    fn bearer_challenge_forms() {
        let missing = www_authenticate(
            "api",
            &[Challenge::Bearer],
            ErrorCode::TokenMissing,
            "x",
            None,
        )
        .unwrap();
        assert_eq!(missing, "Bearer realm=\"api\"");
        let bad = www_authenticate(
            "api",
            &[Challenge::Bearer],
            ErrorCode::TokenExpired,
            "token \"expired\"",
            None,
        )
        .unwrap();
        assert_eq!(
            bad,
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"token expired\""
        );
        let scope = www_authenticate(
            "api",
            &[Challenge::Bearer],
            ErrorCode::InsufficientScope,
            "needs write",
            Some("read write"),
        )
        .unwrap();
        assert!(scope.contains("error=\"insufficient_scope\""));
        assert!(scope.ends_with("scope=\"read write\""));
        let both = www_authenticate(
            "api",
            &[Challenge::Bearer, Challenge::ApiKey],
            ErrorCode::CredentialsMissing,
            "",
            None,
        )
        .unwrap();
        assert_eq!(
            both,
            "Bearer realm=\"api\", ApiKey realm=\"api\", header=\"X-API-Key\""
        );
        assert_eq!(
            www_authenticate("api", &[], ErrorCode::TokenMissing, "", None),
            None
        );
    }
}
