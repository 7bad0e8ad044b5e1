//! Every refusal the gateway can give, as one stable code per failed check, rendered as an
//! RFC 9457 `application/problem+json` body plus the RFC 6750 `WWW-Authenticate` challenge where the
//! failure is about a bearer token.
//!
//! The codes are a public contract (documented in `docs/errors.md`): clients and dashboards key on
//! them, so a code is never renamed and never reused for a different check.

use serde::Serialize;

use crate::reply::Reply;

/// What a code's `WWW-Authenticate: Bearer` challenge says (RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerChallenge {
    /// No `error` attribute: the request carried no bearer credential (or the code is not about
    /// one).
    Plain,
    /// `error="invalid_token"`.
    InvalidToken,
    /// `error="insufficient_scope"`.
    InsufficientScope,
}

/// Declares every code once — variant, wire form, HTTP status, title, Bearer challenge — and
/// generates the enum and its tables from that one list, so they cannot drift apart.
macro_rules! error_codes {
    ($( $(#[$meta:meta])* $variant:ident = ($code:literal, $status:literal, $title:literal, $challenge:ident), )*) => {
        /// One code per failed check. `as_str` is the wire form.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$meta])* $variant, )*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[ $( Self::$variant, )* ];

            pub fn as_str(self) -> &'static str {
                match self { $( Self::$variant => $code, )* }
            }

            pub fn status(self) -> u16 {
                match self { $( Self::$variant => $status, )* }
            }

            pub fn title(self) -> &'static str {
                match self { $( Self::$variant => $title, )* }
            }

            pub fn bearer_challenge(self) -> BearerChallenge {
                match self { $( Self::$variant => BearerChallenge::$challenge, )* }
            }
        }
    };
}

error_codes! {
    // --- request shape (parse stage)
    CredentialsInUrl = ("credentials_in_url", 400, "Credentials must not be sent in the URL", Plain),
    HttpsRequired = ("https_required", 403, "HTTPS is required", Plain),
    RouteNotFound = ("route_not_found", 404, "No route matches this request", Plain),
    RequestInvalid = ("request_invalid", 400, "The request is invalid", Plain),
    // --- configuration
    GatewayMisconfigured = ("gateway_misconfigured", 503, "The gateway is misconfigured", Plain),
    // --- bearer tokens (authenticate stage)
    TokenMissing = ("token_missing", 401, "A bearer token is required", Plain),
    AuthorizationSchemeUnsupported = ("authorization_scheme_unsupported", 401, "Unsupported authorization scheme", Plain),
    TokenMalformed = ("token_malformed", 401, "The token is malformed", InvalidToken),
    TokenTooLarge = ("token_too_large", 401, "The token is too large", InvalidToken),
    TokenAlgorithmRefused = ("token_algorithm_refused", 401, "The token's algorithm is not accepted", InvalidToken),
    TokenCritUnsupported = ("token_crit_unsupported", 401, "The token has an unsupported critical header", InvalidToken),
    TokenTypeInvalid = ("token_type_invalid", 401, "The token's type is not accepted", InvalidToken),
    TokenKeyUnknown = ("token_key_unknown", 401, "The token's signing key is unknown", InvalidToken),
    TokenSignatureInvalid = ("token_signature_invalid", 401, "The token's signature is invalid", InvalidToken),
    TokenIssuerUnknown = ("token_issuer_unknown", 401, "The token's issuer is not trusted", InvalidToken),
    TokenAudienceMismatch = ("token_audience_mismatch", 401, "The token is not meant for this audience", InvalidToken),
    TokenExpired = ("token_expired", 401, "The token has expired", InvalidToken),
    TokenNotYetValid = ("token_not_yet_valid", 401, "The token is not valid yet", InvalidToken),
    TokenIssuedInFuture = ("token_issued_in_future", 401, "The token was issued in the future", InvalidToken),
    TokenClaimMissing = ("token_claim_missing", 401, "A required claim is missing", InvalidToken),
    TokenClaimInvalid = ("token_claim_invalid", 401, "A claim has an invalid value", InvalidToken),
    TokenRevoked = ("token_revoked", 401, "The token has been revoked", InvalidToken),
    JwksUnavailable = ("jwks_unavailable", 503, "The issuer's signing keys are unavailable", Plain),
    TokenLifetimeTooLong = ("token_lifetime_too_long", 401, "The token's lifetime is longer than allowed", InvalidToken),
    // --- API keys
    ApiKeyMissing = ("api_key_missing", 401, "An API key is required", Plain),
    ApiKeyMalformed = ("api_key_malformed", 401, "The API key is malformed", Plain),
    ApiKeyInvalid = ("api_key_invalid", 401, "The API key is not valid", Plain),
    ApiKeyExpired = ("api_key_expired", 401, "The API key has expired", Plain),
    ApiKeyRevoked = ("api_key_revoked", 401, "The API key has been revoked", Plain),
    ApiKeyNotFound = ("api_key_not_found", 404, "No API key with this id", Plain),
    CredentialStoreUnavailable = ("credential_store_unavailable", 503, "The credential store is unavailable", Plain),
    /// The admin API's `Idempotency-Key` header is malformed.
    IdempotencyKeyInvalid = ("idempotency_key_invalid", 400, "The Idempotency-Key header is invalid", Plain),
    /// An `Idempotency-Key` reused with a different request (draft-ietf-httpapi-idempotency-key-header).
    IdempotencyKeyReused = ("idempotency_key_reused", 422, "The Idempotency-Key was used for a different request", Plain),
    // --- several credential kinds accepted, none presented
    CredentialsMissing = ("credentials_missing", 401, "Credentials are required", Plain),
    // --- authorize / limit stages
    InsufficientScope = ("insufficient_scope", 403, "The credential lacks a required scope", InsufficientScope),
    RevocationUnavailable = ("revocation_unavailable", 503, "Revocation state is unavailable", Plain),
    RateLimited = ("rate_limited", 429, "Rate limit exceeded", Plain),
    RateLimiterUnavailable = ("rate_limiter_unavailable", 503, "The rate limiter is unavailable", Plain),
    // --- forward stage
    OriginUnreachable = ("origin_unreachable", 502, "The origin could not be reached", Plain),
    OriginTimeout = ("origin_timeout", 504, "The origin did not answer in time", Plain),
    OriginResponseInvalid = ("origin_response_invalid", 502, "The origin's response cannot be relayed", Plain),
    // --- the gateway's own runtime
    GatewayError = ("gateway_error", 500, "The gateway failed to process the request", Plain),
    RequestHeadersUnreadable = ("request_headers_unreadable", 500, "The request headers could not be read", Plain),
    // --- claims (issue 15)
    /// A route's `require` condition on a claim (or API-key metadata entry) is not met.
    ClaimRequirementFailed = ("claim_requirement_failed", 403, "The credential does not meet the route's claim requirements", Plain),
    // --- machine identity (issue 13): mTLS client certificates, RFC 8705 bound tokens, DPoP
    ClientCertMissing = ("client_cert_missing", 401, "A TLS client certificate is required", Plain),
    ClientCertUnverified = ("client_cert_unverified", 401, "The TLS client certificate did not verify", Plain),
    ClientCertExpired = ("client_cert_expired", 401, "The TLS client certificate is outside its validity period", Plain),
    ClientCertUnknown = ("client_cert_unknown", 403, "The TLS client certificate is not registered", Plain),
    ClientCertRevoked = ("client_cert_revoked", 403, "The TLS client certificate has been revoked", Plain),
    /// The admin API: no registered certificate with this fingerprint.
    ClientCertNotFound = ("client_cert_not_found", 404, "No registered certificate with this fingerprint", Plain),
    TokenBindingMismatch = ("token_binding_mismatch", 401, "The token is bound to another certificate or key", InvalidToken),
    TokenBindingRequired = ("token_binding_required", 401, "This route requires a sender-constrained token", InvalidToken),
    TokenBoundAsBearer = ("token_bound_as_bearer", 401, "A DPoP-bound token was presented as a bearer token", InvalidToken),
    DpopProofMissing = ("dpop_proof_missing", 401, "A DPoP proof is required", Plain),
    DpopProofInvalid = ("dpop_proof_invalid", 401, "The DPoP proof is malformed", Plain),
    DpopAlgorithmRefused = ("dpop_algorithm_refused", 401, "The DPoP proof's algorithm is not accepted", Plain),
    DpopSignatureInvalid = ("dpop_signature_invalid", 401, "The DPoP proof's signature is invalid", Plain),
    DpopMethodMismatch = ("dpop_method_mismatch", 401, "The DPoP proof is for another method", Plain),
    DpopUrlMismatch = ("dpop_url_mismatch", 401, "The DPoP proof is for another URL", Plain),
    DpopProofStale = ("dpop_proof_stale", 401, "The DPoP proof was not issued recently", Plain),
    DpopProofReplayed = ("dpop_proof_replayed", 401, "The DPoP proof has been used before", Plain),
    DpopAthMismatch = ("dpop_ath_mismatch", 401, "The DPoP proof is for another access token", Plain),
    DpopNonceRequired = ("dpop_nonce_required", 401, "The DPoP proof must carry the server's current nonce", Plain),
    DpopReplayUnavailable = ("dpop_replay_unavailable", 503, "The DPoP replay cache is unavailable", Plain),
    // --- MFA: per-route step-up and TOTP (src/step_up.rs, src/mfa/; docs/mfa.md). The challenge
    // (`error="insufficient_user_authentication"`, RFC 9470) is built by `step_up::refusal`.
    MfaRequired = ("mfa_required", 401, "A stronger or more recent user authentication is required", Plain),
    MfaCodeInvalid = ("mfa_code_invalid", 400, "The one-time code or recovery code is not valid", Plain),
    MfaCodeReused = ("mfa_code_reused", 400, "The one-time code was already used", Plain),
    MfaLocked = ("mfa_locked", 429, "Too many failed attempts: the second factor is locked for a while", Plain),
    MfaNotEnrolled = ("mfa_not_enrolled", 409, "No second factor of this kind is enrolled", Plain),
    MfaAlreadyEnrolled = ("mfa_already_enrolled", 409, "A second factor of this kind is already enrolled", Plain),
    MfaUnavailable = ("mfa_unavailable", 503, "The second-factor store is unavailable", Plain),
    // --- signing: the gateway as an issuer (issue 11)
    TokenSigningFailed = ("token_signing_failed", 500, "The gateway could not issue a token", Plain),
    // --- sessions: login, token exchange, refresh, logout (docs/sessions.md)
    RefreshTokenMissing = ("refresh_token_missing", 401, "A refresh cookie is required", Plain),
    RefreshTokenInvalid = ("refresh_token_invalid", 401, "The refresh token is not valid", Plain),
    RefreshTokenReused = ("refresh_token_reused", 401, "The refresh token was already used", Plain),
    SessionOriginRefused = ("session_origin_refused", 403, "The request's origin is not allowed", Plain),
    SessionContentTypeRefused = ("session_content_type_refused", 415, "The request must be JSON", Plain),
    SessionUnavailable = ("session_unavailable", 503, "The session store is unavailable", Plain),
    LoginRefused = ("login_refused", 401, "The credentials were not accepted", Plain),
    LoginUnavailable = ("login_unavailable", 502, "The login service is unavailable", Plain),
    TokenExchangeInvalid = ("token_exchange_invalid", 400, "The token exchange request is invalid", Plain),
    SubjectTokenInvalid = ("subject_token_invalid", 400, "The subject token was refused", Plain),
    // --- introspection: opaque tokens (issue 15, RFC 7662)
    /// The authorization server's introspection endpoint says the token is not active.
    TokenInactive = ("token_inactive", 401, "The token is not active", InvalidToken),
    /// The introspection endpoint failed (or failed recently); `Retry-After` says when to retry.
    IntrospectionUnavailable = ("introspection_unavailable", 503, "The token could not be introspected", Plain),
    // --- WebAuthn passkeys (src/webauthn/, docs/passkeys.md)
    PasskeyRequestInvalid = ("passkey_request_invalid", 400, "The passkey request is invalid", Plain),
    PasskeyClientDataInvalid = ("passkey_client_data_invalid", 400, "The passkey client data is invalid", Plain),
    PasskeyOriginRefused = ("passkey_origin_refused", 403, "The passkey ceremony's origin is not allowed", Plain),
    PasskeyChallengeInvalid = ("passkey_challenge_invalid", 400, "The passkey challenge is unknown, used or expired", Plain),
    PasskeyAuthenticatorDataInvalid = ("passkey_authenticator_data_invalid", 400, "The authenticator data is invalid", Plain),
    PasskeyRpIdMismatch = ("passkey_rp_id_mismatch", 400, "The passkey is for another relying party", Plain),
    PasskeyUserPresenceMissing = ("passkey_user_presence_missing", 400, "The authenticator did not test user presence", Plain),
    PasskeyUserVerificationMissing = ("passkey_user_verification_missing", 400, "The authenticator did not verify the user", Plain),
    PasskeyAlgorithmUnsupported = ("passkey_algorithm_unsupported", 400, "The passkey's algorithm is not accepted", Plain),
    PasskeyPublicKeyInvalid = ("passkey_public_key_invalid", 400, "The passkey's public key is invalid", Plain),
    PasskeyAttestationUnsupported = ("passkey_attestation_unsupported", 400, "The attestation format is not accepted", Plain),
    PasskeyAttestationInvalid = ("passkey_attestation_invalid", 400, "The attestation signature is invalid", Plain),
    PasskeySignatureInvalid = ("passkey_signature_invalid", 401, "The passkey signature is invalid", Plain),
    PasskeyCredentialUnknown = ("passkey_credential_unknown", 401, "The passkey is not registered", Plain),
    PasskeyCredentialExists = ("passkey_credential_exists", 409, "The passkey is registered already", Plain),
    PasskeyCredentialLimit = ("passkey_credential_limit", 409, "No more passkeys can be registered", Plain),
    PasskeyCounterRegressed = ("passkey_counter_regressed", 401, "The passkey's signature counter went backwards", Plain),
    PasskeyStoreUnavailable = ("passkey_store_unavailable", 503, "The passkey store is unavailable", Plain),
    /// The account page and the admin API: the subject has no passkey with this credential id
    /// (another user's or nobody's: the same answer).
    PasskeyNotFound = ("passkey_not_found", 404, "No such passkey", Plain),
}

impl ErrorCode {
    /// The RFC 6750 §3.1 error this code maps to, when the failure concerns a bearer token. A
    /// request that carried no credential (or an unsupported scheme) gets a challenge without one.
    pub fn bearer_error(self) -> Option<&'static str> {
        match self.bearer_challenge() {
            BearerChallenge::Plain => None,
            BearerChallenge::InvalidToken => Some("invalid_token"),
            BearerChallenge::InsufficientScope => Some("insufficient_scope"),
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
    /// An HTTP status more specific than the code's own (the admin API's 405, 409 and 413): the
    /// response and the document's `status` member both carry it (RFC 9457 §3.1.4).
    pub status_override: Option<u16>,
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
            status_override: None,
        }
    }

    /// Answers with `status` instead of the code's own (see `status_override`).
    pub fn with_status(mut self, status: u16) -> Self {
        self.status_override = Some(status);
        self
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
        self.status_override.unwrap_or(self.code.status())
    }

    /// The RFC 9457 document.
    pub fn body(&self) -> String {
        let base = ProblemBody {
            type_uri: self.code.type_uri(),
            title: self.code.title(),
            status: self.status(),
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

    /// The one rendering of a refusal as a response: the problem document with
    /// `Content-Type: application/problem+json`, `Cache-Control: no-store` (a refusal is about this
    /// request and this credential) and the problem's own headers.
    pub fn reply(&self) -> Reply {
        let mut headers = vec![
            (
                "content-type".to_string(),
                "application/problem+json".to_string(),
            ),
            ("cache-control".to_string(), "no-store".to_string()),
        ];
        headers.extend(self.headers.iter().cloned());
        Reply {
            status: self.status(),
            headers,
            body: self.body(),
        }
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

    /// docs/errors.md keeps its prose, but its code tables list exactly the codes declared here,
    /// each once and with its status.
    #[test]
    fn docs_errors_lists_every_code_with_its_status() {
        let doc = include_str!("../docs/errors.md");
        let mut documented = Vec::new();
        for line in doc.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // `| `code` | status | when |`: cells[0] is empty before the first `|`.
            if let [_, code, status, ..] = cells.as_slice() {
                if let (Some(code), Ok(status)) = (
                    code.strip_prefix('`').and_then(|c| c.strip_suffix('`')),
                    status.parse::<u16>(),
                ) {
                    documented.push((code.to_string(), status));
                }
            }
        }
        let declared: Vec<(String, u16)> = ErrorCode::ALL
            .iter()
            .map(|c| (c.as_str().to_string(), c.status()))
            .collect();
        for entry in &declared {
            let times = documented.iter().filter(|d| *d == entry).count();
            assert_eq!(times, 1, "docs/errors.md lists {entry:?} {times} times");
        }
        for entry in &documented {
            assert!(
                declared.contains(entry),
                "docs/errors.md lists {entry:?}, which ErrorCode does not declare"
            );
        }
    }

    #[test]
    fn a_status_override_reaches_the_response_and_the_document() {
        let p = Problem::new(ErrorCode::RequestInvalid, "no").with_status(405);
        let reply = p.reply();
        assert_eq!(reply.status, 405);
        let v: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(
            (v["status"].as_u64(), v["code"].as_str()),
            (Some(405), Some("request_invalid"))
        );
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(reply.header("cache-control"), Some("no-store"));
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
