//! Minting the gateway's access tokens: an RFC 9068 JWT (`typ: at+jwt`) signed with the active
//! key of the set, verifiable by the gateway's own issuer entry like any issuer's token.

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

use super::issuer::SessionIssuer;
use super::SigningError;
use crate::jose::jws::B64URL;
use crate::platform::Platform;

/// What the caller vouches for; the issuer adds `iss`, `aud`, `iat`, `exp` and `jti`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AccessTokenClaims {
    pub sub: String,
    /// The session (refresh family) this token belongs to: revoking it revokes the token.
    pub sid: String,
    /// Space-separated scope tokens (may be empty).
    pub scope: String,
    /// Authentication methods (RFC 8176 values: `pwd`, `otp`, `hwk`, …).
    pub amr: Vec<String>,
    pub acr: Option<String>,
    pub auth_time: Option<u64>,
    /// Proof-of-possession confirmation (RFC 7800): `{"jkt": …}` (DPoP) or `{"x5t#S256": …}` (mTLS).
    pub cnf: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MintedAccessToken {
    pub token: String,
    pub jti: String,
    /// Seconds until `exp` (the token response's `expires_in`).
    pub expires_in: u64,
}

/// The payload, members in the order RFC 9068 §2.2 lists them.
#[derive(Serialize)]
struct Payload<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: Audience<'a>,
    exp: u64,
    iat: u64,
    jti: &'a str,
    sid: &'a str,
    scope: &'a str,
    amr: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<&'a Value>,
}

/// One audience as a string (what most verifiers expect), several as an array (RFC 7519 §4.1.3).
#[derive(Serialize)]
#[serde(untagged)]
enum Audience<'a> {
    One(&'a str),
    Many(&'a [String]),
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'a str,
    kid: &'a str,
    typ: &'a str,
}

/// The JWS `typ` of an access token (RFC 9068 §2.1).
pub(crate) const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Random octets in a `jti`: 128 bits from the CSPRNG, unguessable and collision-free in practice.
const JTI_BYTES: usize = 16;

/// What minting needs from the runtime: the clock, the CSPRNG and the signer. Every `Platform`
/// is one (`mint_access_token`); the worker's test hook (`edge::mint_with_key_set`), which has no
/// request environment, is another.
#[allow(async_fn_in_trait)]
pub(crate) trait Signer {
    fn now_secs(&self) -> u64;
    fn random_bytes(&self, buf: &mut [u8]);
    async fn sign(&self, key: &super::SigningKey, input: &[u8]) -> Result<Vec<u8>, String>;
}

// The session endpoints (issue 11, `session::…`) and step-up (issue 12) call `mint_access_token`;
// until they are merged only native tests do, so the wasm build would call it dead.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
struct PlatformSigner<'a, P>(&'a P);

impl<P: Platform> Signer for PlatformSigner<'_, P> {
    fn now_secs(&self) -> u64 {
        self.0.now_secs()
    }
    fn random_bytes(&self, buf: &mut [u8]) {
        self.0.random_bytes(buf)
    }
    async fn sign(&self, key: &super::SigningKey, input: &[u8]) -> Result<Vec<u8>, String> {
        self.0.sign(key, input).await
    }
}

/// Mints an access token for `claims` with the active key of `gateway_issuer`: `iat` from the
/// platform clock, `exp = iat + access_token_ttl_seconds`, a fresh `jti`.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) async fn mint_access_token<P: Platform>(
    platform: &P,
    gateway_issuer: &SessionIssuer,
    claims: AccessTokenClaims,
) -> Result<MintedAccessToken, SigningError> {
    mint_with(&PlatformSigner(platform), gateway_issuer, claims).await
}

/// `mint_access_token` over any `Signer`.
pub(crate) async fn mint_with<S: Signer>(
    platform: &S,
    gateway_issuer: &SessionIssuer,
    claims: AccessTokenClaims,
) -> Result<MintedAccessToken, SigningError> {
    check_claims(&claims)?;
    let mut random = [0u8; JTI_BYTES];
    platform.random_bytes(&mut random);
    let jti = B64URL.encode(random);
    let iat = platform.now_secs();
    let ttl = gateway_issuer.access_token_ttl_secs();
    let audiences = gateway_issuer.audiences();
    let payload = Payload {
        iss: gateway_issuer.issuer(),
        sub: &claims.sub,
        aud: match audiences {
            [one] => Audience::One(one),
            many => Audience::Many(many),
        },
        exp: iat + ttl,
        iat,
        jti: &jti,
        sid: &claims.sid,
        scope: &claims.scope,
        amr: &claims.amr,
        acr: claims.acr.as_deref(),
        auth_time: claims.auth_time,
        cnf: claims.cnf.as_ref(),
    };
    let key = gateway_issuer.keys().active();
    let header = Header {
        alg: key.alg().as_str(),
        kid: key.kid(),
        typ: ACCESS_TOKEN_TYP,
    };
    let sign_error = |reason: String| SigningError::Sign {
        kid: key.kid().to_string(),
        reason,
    };
    let signing_input = format!(
        "{}.{}",
        b64_json(&header).map_err(sign_error)?,
        b64_json(&payload).map_err(sign_error)?
    );
    let signature = platform
        .sign(key, signing_input.as_bytes())
        .await
        .map_err(sign_error)?;
    Ok(MintedAccessToken {
        token: format!("{signing_input}.{}", B64URL.encode(signature)),
        jti,
        expires_in: ttl,
    })
}

/// Base64url of the JSON of a header or payload (plain structs: serializing cannot fail, but an
/// error would still be reported, not unwrapped).
fn b64_json<T: Serialize>(v: &T) -> Result<String, String> {
    serde_json::to_vec(v)
        .map(|bytes| B64URL.encode(bytes))
        .map_err(|e| e.to_string())
}

/// A token the gateway would refuse when it comes back is never minted: `sub` and `sid` travel to
/// the origin as header values, scopes follow the one grammar, `amr`/`acr` are plain tokens.
fn check_claims(c: &AccessTokenClaims) -> Result<(), SigningError> {
    let header_safe =
        |v: &str| !v.is_empty() && v.bytes().all(|b| (0x21..0x7f).contains(&b)) && v.len() <= 256;
    if !header_safe(&c.sub) {
        return Err(SigningError::ClaimUnusable("sub"));
    }
    if !header_safe(&c.sid) {
        return Err(SigningError::ClaimUnusable("sid"));
    }
    // One space between tokens (RFC 6749 §3.3); no leading, trailing or doubled spaces.
    if !c.scope.is_empty() && !c.scope.split(' ').all(crate::scope::is_scope_token) {
        return Err(SigningError::ClaimUnusable("scope"));
    }
    if !c.amr.iter().all(|m| header_safe(m)) {
        return Err(SigningError::ClaimUnusable("amr"));
    }
    if c.acr.as_deref().is_some_and(|a| !header_safe(a)) {
        return Err(SigningError::ClaimUnusable("acr"));
    }
    if c.cnf.as_ref().is_some_and(|v| !v.is_object()) {
        return Err(SigningError::ClaimUnusable("cnf"));
    }
    Ok(())
}
