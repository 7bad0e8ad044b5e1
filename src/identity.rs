//! Who the caller is, once a credential has been verified. The forward stage turns this into the
//! identity headers the origin sees; the limit stage keys budgets on `rate_limit_key`.

/// How the caller authenticated (`x-auth-method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Jwt,
    ApiKey,
    Public,
    /// An opaque bearer token, accepted by the authorization server's introspection endpoint.
    Introspection,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Jwt => "jwt",
            AuthMethod::ApiKey => "api_key",
            AuthMethod::Public => "public",
            AuthMethod::Introspection => "introspection",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub method: AuthMethod,
    /// JWT `sub`, or the API key's client id.
    pub subject: String,
    /// JWT `iss` (absent for API keys).
    pub issuer: Option<String>,
    pub scopes: Vec<String>,
    /// JWT `jti`.
    pub token_id: Option<String>,
    /// JWT `exp` / the API key's expiry, seconds since the epoch.
    pub expires_at: Option<u64>,
    /// JWT `iat`, for subject-wide revocation.
    pub issued_at: Option<u64>,
    /// API keys: the client that owns the key (`x-client-id`).
    pub client_id: Option<String>,
    /// API keys: the key's public id (`x-key-id`), never the key itself.
    pub key_id: Option<String>,
    /// API keys: the rate-limit policy named in the key's record, if any.
    pub rate_limit_policy: Option<String>,
    /// What the credential carries beyond scopes: its issuer's `claims_to_headers` headers, and
    /// the claim values (an API key: its metadata) the routes' `require` conditions read.
    pub claims: crate::claims::IdentityClaims,
    /// JWT `sid`: the session a gateway-issued token belongs to, for session revocation.
    pub session_id: Option<String>,
    /// JWTs: how the user authenticated (`amr`, `acr`, `auth_time`), for routes that ask for a
    /// second factor (`crate::step_up`). Empty for API keys: a key has no user factor.
    pub user_auth: UserAuthentication,
}

/// A token's authentication context, as its issuer states it: `amr` (RFC 8176 method references),
/// `acr` (the authentication context class) and `auth_time` (when the user last authenticated
/// actively, seconds since the epoch; OpenID Connect Core §2). Read as the token carries them;
/// `crate::step_up` decides what a route accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserAuthentication {
    pub amr: Vec<String>,
    pub acr: Option<String>,
    pub auth_time: Option<u64>,
}

impl Identity {
    /// The caller of a public route, and the base other identities are built on
    /// (`Identity { method, subject, ..Identity::anonymous() }`).
    pub fn anonymous() -> Self {
        Identity {
            method: AuthMethod::Public,
            subject: String::new(),
            issuer: None,
            scopes: Vec::new(),
            token_id: None,
            expires_at: None,
            issued_at: None,
            client_id: None,
            key_id: None,
            rate_limit_policy: None,
            claims: crate::claims::IdentityClaims::default(),
            session_id: None,
            user_auth: UserAuthentication::default(),
        }
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The budget key for per-identity rate limits: never the IP for an authenticated caller.
    pub fn rate_limit_key(&self) -> String {
        match (self.method, &self.key_id, &self.issuer) {
            (AuthMethod::ApiKey, Some(key_id), _) => format!("key:{key_id}"),
            (_, _, Some(iss)) => format!("sub:{iss}|{}", self.subject),
            _ => format!("sub:{}", self.subject),
        }
    }
}
