//! One error type for every way the flow can be refused.
//!
//! Each variant has a stable machine-readable [`PkceError::code`] (what the JS layer exposes as
//! `error.code`) and a human message. Messages name the offending input but never echo a secret
//! value (code verifier, authorization code, state) back.

use alloc::boxed::Box;
use alloc::string::String;

/// The authorization server's error response (RFC 6749 §4.1.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    pub error: String,
    pub description: Option<String>,
    pub uri: Option<String>,
}

/// Everything the helper refuses, with enough detail to tell the caller what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PkceError {
    /// A code verifier outside RFC 7636 §4.1 (43–128 chars of `[A-Za-z0-9-._~]`).
    InvalidCodeVerifier { reason: &'static str },
    /// An endpoint, redirect URI or issuer that is not an acceptable absolute URL.
    InvalidUrl {
        field: &'static str,
        reason: &'static str,
    },
    /// Any other input that fails validation (client_id, scope, state, …).
    InvalidParameter {
        field: &'static str,
        reason: &'static str,
    },
    /// An extra authorization parameter tried to set one the helper owns.
    ReservedParameter { name: String },
    /// The platform CSPRNG (`crypto.getRandomValues`) failed.
    RandomUnavailable,
    /// The callback URL could not be parsed as an authorization response.
    MalformedCallback { reason: &'static str },
    /// The callback carries no `state`.
    MissingState,
    /// The callback's `state` is not the one this browser sent (CSRF or a mixed-up response).
    StateMismatch,
    /// The callback's RFC 9207 `iss` is not the expected issuer (mix-up attack).
    IssuerMismatch,
    /// The authorization server promised RFC 9207 `iss` but the callback has none.
    MissingIssuer,
    /// The authorization server answered with an OAuth error (RFC 6749 §4.1.2.1). Boxed so
    /// that every `Result` stays small, which matters for the wasm size.
    AuthorizationError(Box<ErrorResponse>),
    /// A success response without an authorization `code`.
    MissingCode,
    /// No pending transaction in storage: never started, already used, or from another tab.
    NoPendingTransaction,
    /// The pending transaction is older than [`crate::transaction::TRANSACTION_TTL_MS`].
    TransactionExpired,
    /// The stored transaction is not one this helper wrote.
    CorruptTransaction,
    /// `sessionStorage` is missing or refuses access (e.g. storage disabled).
    StorageUnavailable,
}

impl PkceError {
    /// The stable code, as exposed to JavaScript in `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidCodeVerifier { .. } => "invalid_code_verifier",
            Self::InvalidUrl { .. } => "invalid_url",
            Self::InvalidParameter { .. } => "invalid_parameter",
            Self::ReservedParameter { .. } => "reserved_parameter",
            Self::RandomUnavailable => "random_unavailable",
            Self::MalformedCallback { .. } => "malformed_callback",
            Self::MissingState => "missing_state",
            Self::StateMismatch => "state_mismatch",
            Self::IssuerMismatch => "issuer_mismatch",
            Self::MissingIssuer => "missing_issuer",
            Self::AuthorizationError(_) => "authorization_error",
            Self::MissingCode => "missing_code",
            Self::NoPendingTransaction => "no_pending_transaction",
            Self::TransactionExpired => "transaction_expired",
            Self::CorruptTransaction => "corrupt_transaction",
            Self::StorageUnavailable => "storage_unavailable",
        }
    }

    /// The input the error is about, when there is one (JS `error.field`).
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::InvalidUrl { field, .. } | Self::InvalidParameter { field, .. } => Some(field),
            Self::InvalidCodeVerifier { .. } => Some("codeVerifier"),
            _ => None,
        }
    }

    /// A sentence for people. Built without `core::fmt` so the wasm stays small.
    pub fn message(&self) -> String {
        let mut m = String::new();
        match self {
            Self::InvalidCodeVerifier { reason } => {
                m.push_str("code verifier ");
                m.push_str(reason);
            }
            Self::InvalidUrl { field, reason } | Self::InvalidParameter { field, reason } => {
                m.push_str(field);
                m.push(' ');
                m.push_str(reason);
            }
            Self::ReservedParameter { name } => {
                m.push_str("extra parameter '");
                m.push_str(name);
                m.push_str("' is set by the helper itself and cannot be overridden");
            }
            Self::RandomUnavailable => m.push_str("the platform CSPRNG (crypto.getRandomValues) failed"),
            Self::MalformedCallback { reason } => {
                m.push_str("callback is not a valid authorization response: ");
                m.push_str(reason);
            }
            Self::MissingState => m.push_str("callback has no state parameter"),
            Self::StateMismatch => m.push_str("callback state does not match the pending authorization request"),
            Self::IssuerMismatch => m.push_str("callback iss is not the expected issuer (RFC 9207)"),
            Self::MissingIssuer => m.push_str("callback has no iss parameter but the issuer promised one (RFC 9207)"),
            Self::AuthorizationError(response) => {
                m.push_str("authorization server returned error '");
                m.push_str(&response.error);
                m.push('\'');
                if let Some(d) = &response.description {
                    m.push_str(": ");
                    m.push_str(d);
                }
            }
            Self::MissingCode => m.push_str("callback has neither code nor error"),
            Self::NoPendingTransaction => m.push_str("no pending authorization request in sessionStorage (already used, never started, or started in another tab)"),
            Self::TransactionExpired => m.push_str("the pending authorization request has expired; start a new login"),
            Self::CorruptTransaction => m.push_str("the stored authorization request is unreadable; start a new login"),
            Self::StorageUnavailable => m.push_str("sessionStorage is not available"),
        }
        m
    }
}

impl core::fmt::Display for PkceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.message())
    }
}

impl core::error::Error for PkceError {}
