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
    /// A registered TLS client certificate (`mtls` routes).
    Mtls,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Jwt => "jwt",
            AuthMethod::ApiKey => "api_key",
            AuthMethod::Public => "public",
            AuthMethod::Introspection => "introspection",
            AuthMethod::Mtls => "mtls",
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
    /// What the credential carries beyond scopes: its issuer's (an introspected token: the
    /// `introspection` section's) `claims_to_headers` headers, and the claim values (an API key:
    /// its metadata) the routes' `require` conditions read.
    pub claims: crate::claims::IdentityClaims,
    /// JWT `sid`: the session a gateway-issued token belongs to, for session revocation.
    pub session_id: Option<String>,
    /// What ties the credential to its holder: the client certificate (mTLS) and the token's
    /// `cnf` (RFC 8705, RFC 9449).
    pub holder: Holder,
    /// JWTs: how the user authenticated (`amr`, `acr`, `auth_time`), for routes that ask for a
    /// second factor (`crate::step_up`). Empty for API keys: a key has no user factor.
    pub user_auth: UserAuthentication,
}

/// What ties a credential to its holder (issue 13).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    /// mTLS: the registered certificate the caller authenticated with.
    pub certificate: Option<CertificateFacts>,
    /// A token's `cnf` claim: the key or certificate it is bound to.
    pub confirmation: Option<Confirmation>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// Lower-case hex SHA-256 of the DER certificate (`x-client-cert-fingerprint`).
    pub fingerprint: String,
    /// The subject DN, header-safe (`x-client-cert-subject`).
    pub subject: String,
    /// `cert:<fingerprint>`: the certificate's id on the revocation list.
    pub revocation_id: String,
}

/// A token's confirmation method (RFC 7800 `cnf`), as far as the gateway can check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// RFC 9449 §6.1: the RFC 7638 thumbprint of the DPoP key (base64url).
    Jkt(String),
    /// RFC 8705 §3.1 `x5t#S256`, as the lower-case hex fingerprint Cloudflare reports.
    X5tS256(String),
}

impl Confirmation {
    /// The `cnf` claim (RFC 7800) stating this binding, as `jose::claims` reads it back: for a
    /// token the gateway mints in the same binding — a step-up keeps its session's key or
    /// certificate, never downgrading it to a bearer token.
    pub fn claim(&self) -> serde_json::Value {
        use base64::Engine as _;
        match self {
            Confirmation::Jkt(jkt) => serde_json::json!({ "jkt": jkt }),
            Confirmation::X5tS256(hex) => {
                let digest: Vec<u8> = hex
                    .as_bytes()
                    .chunks(2)
                    .filter_map(|pair| {
                        std::str::from_utf8(pair)
                            .ok()
                            .and_then(|h| u8::from_str_radix(h, 16).ok())
                    })
                    .collect();
                serde_json::json!({
                    "x5t#S256": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
                })
            }
        }
    }
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
            holder: Holder::default(),
            session_id: None,
            user_auth: UserAuthentication::default(),
        }
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The budget key for per-identity rate limits: never the IP for an authenticated caller.
    pub fn rate_limit_key(&self) -> String {
        if let (AuthMethod::Mtls, Some(cert)) = (self.method, &self.holder.certificate) {
            return format!("cert:{}", cert.fingerprint);
        }
        match (self.method, &self.key_id, &self.issuer) {
            (AuthMethod::ApiKey, Some(key_id), _) => format!("key:{key_id}"),
            (_, _, Some(iss)) => format!("sub:{iss}|{}", self.subject),
            _ => format!("sub:{}", self.subject),
        }
    }
}
