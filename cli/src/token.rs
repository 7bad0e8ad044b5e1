//! `portcullis token verify`: checks an access token offline, exactly as the gateway does — the
//! same function, `jose::verify::jwt_verify`, so the same checks in the same order and the same
//! code — with the JWKS file as key source and the pure-Rust verifier in place of the worker's
//! JWKS cache and WebCrypto. For operators asking "why does the gateway refuse this token?".

use std::io::Read;
use std::path::PathBuf;

use clap::Args;
use serde_json::{json, Value};

use portcullis::config::IssuerConfig;
use portcullis::jose::claims::{ScopeSource, TypPolicy};
use portcullis::jose::jwk::parse_jwks;
use portcullis::jose::jws::{DEFAULT_MAX_TOKEN_BYTES, MAX_TOKEN_BYTES_RANGE};
use portcullis::jose::verify::jwt_verify_offline;
use portcullis::jose::Alg;

use crate::CliError;

#[derive(Args)]
pub struct VerifyArgs {
    /// The token, or `-` to read it from stdin (keeps it out of shell history). Never printed.
    pub token: String,
    /// The issuer's JWKS as a file (e.g. `curl -s https://issuer/.well-known/jwks.json > jwks.json`).
    #[arg(long)]
    pub jwks: PathBuf,
    /// The exact `iss` the gateway is configured with.
    #[arg(long)]
    pub issuer: String,
    /// An accepted audience (repeat for several).
    #[arg(long = "audience", required = true)]
    pub audiences: Vec<String>,
    /// Accepted algorithms, comma-separated (default: all Portcullis accepts).
    #[arg(long, value_delimiter = ',')]
    pub alg: Vec<String>,
    /// Clock leeway in seconds (gateway default 30, at most 300).
    #[arg(long, default_value_t = 30)]
    pub leeway: u64,
    /// Where scopes are read: scope, scp, or a claim name.
    #[arg(long, default_value = "scope")]
    pub scope_claim: String,
    /// Require `typ` at+jwt (RFC 9068), as `typ = "strict"` does.
    #[arg(long)]
    pub strict_typ: bool,
    /// Longest accepted lifetime in seconds (`exp - iat`), as the issuer's
    /// `max_token_lifetime_seconds` (gateway default 86400).
    #[arg(long, default_value_t = portcullis::config::DEFAULT_MAX_TOKEN_LIFETIME_SECS)]
    pub max_lifetime: u64,
    /// The gateway's `max_token_bytes`: longer tokens are refused (`token_too_large`).
    #[arg(long, default_value_t = DEFAULT_MAX_TOKEN_BYTES)]
    pub max_token_bytes: usize,
    /// Check as of this Unix time instead of now.
    #[arg(long)]
    pub now: Option<u64>,
}

pub fn verify(a: VerifyArgs) -> Result<Value, CliError> {
    let token = if a.token == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::Usage(format!("cannot read the token from stdin: {e}")))?;
        s.trim().to_string()
    } else {
        a.token.trim().to_string()
    };
    if a.leeway > 300 {
        return Err(CliError::Usage("--leeway must be at most 300".into()));
    }
    if !MAX_TOKEN_BYTES_RANGE.contains(&a.max_token_bytes) {
        return Err(CliError::Usage(format!(
            "--max-token-bytes must be between {} and {}, as the gateway's max_token_bytes",
            MAX_TOKEN_BYTES_RANGE.start(),
            MAX_TOKEN_BYTES_RANGE.end()
        )));
    }
    let mut algs = Vec::new();
    for name in &a.alg {
        algs.push(Alg::parse(name).ok_or_else(|| {
            CliError::Usage(format!(
                "unsupported algorithm {name:?} (never none or HS*)"
            ))
        })?);
    }
    if algs.is_empty() {
        algs = Alg::ALL.to_vec();
    }
    let jwks_bytes = std::fs::read(&a.jwks)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", a.jwks.display())))?;
    let set = parse_jwks(&jwks_bytes)
        .map_err(|e| CliError::Usage(format!("{} is not a usable JWKS: {e}", a.jwks.display())))?;

    let scope_source = match a.scope_claim.as_str() {
        "scope" => ScopeSource::Scope,
        "scp" => ScopeSource::Scp,
        other => ScopeSource::Claim(other.to_string()),
    };
    // The issuer given on the command line, as the gateway holds a configured one.
    let issuer = IssuerConfig {
        issuer: a.issuer,
        jwks_uri: None,
        audiences: a.audiences,
        algorithms: algs,
        leeway_secs: a.leeway,
        scope_source,
        typ: if a.strict_typ {
            TypPolicy::Strict
        } else {
            TypPolicy::Lenient
        },
        max_token_lifetime_secs: a.max_lifetime,
        claims_to_headers: Vec::new(),
    };
    let now = a.now.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    let verified = jwt_verify_offline(&token, a.max_token_bytes, &issuer, &set, now)
        .map_err(|e| CliError::Refused(format!("{}: {}", e.code().as_str(), e.detail())))?;
    let (alg, key, c) = (verified.alg, verified.key, verified.claims);
    Ok(json!({
        "valid": true,
        "alg": alg.as_str(),
        "kid": key.kid,
        "iss": c.iss,
        "sub": c.sub,
        "aud": c.aud,
        "exp": c.exp,
        "nbf": c.nbf,
        "iat": c.iat,
        "jti": c.jti,
        "scopes": c.scopes,
    }))
}
