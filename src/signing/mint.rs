//! Minting the gateway's access tokens: an RFC 9068 JWT (`typ: at+jwt`) signed with the active
//! key of the set, verifiable by the gateway's own issuer entry like any issuer's token.

use base64::Engine as _;
use serde_json::{json, Map, Value};

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

/// `mint_access_token` over any `Signer`. Only the runtime calls (CSPRNG, clock, signature) are
/// generic; building the token is not, so each signer adds little to the wasm.
pub(crate) async fn mint_with<S: Signer>(
    platform: &S,
    gateway_issuer: &SessionIssuer,
    claims: AccessTokenClaims,
) -> Result<MintedAccessToken, SigningError> {
    check_claims(&claims)?;
    let mut random = [0u8; JTI_BYTES];
    platform.random_bytes(&mut random);
    let unsigned = Unsigned::new(gateway_issuer, &claims, platform.now_secs(), &random);
    let signature = platform
        .sign(unsigned.key, unsigned.input.as_bytes())
        .await
        .map_err(|reason| SigningError::Sign {
            kid: unsigned.key.kid().to_string(),
            reason,
        })?;
    Ok(unsigned.finish(&signature))
}

/// A token before its signature: the key that will sign it and the JWS signing input.
struct Unsigned<'a> {
    key: &'a super::SigningKey,
    input: String,
    jti: String,
    expires_in: u64,
}

impl<'a> Unsigned<'a> {
    /// Header `{alg, kid, typ: at+jwt}` and the RFC 9068 §2.2 claims, `iat` = `now`.
    fn new(
        issuer: &'a SessionIssuer,
        claims: &AccessTokenClaims,
        now: u64,
        random: &[u8; JTI_BYTES],
    ) -> Self {
        let key = issuer.keys().active();
        let jti = B64URL.encode(random);
        let ttl = issuer.access_token_ttl_secs();
        let header =
            json!({ "alg": key.alg().as_str(), "kid": key.kid(), "typ": ACCESS_TOKEN_TYP });
        let mut payload = Map::new();
        let mut put = |name: &str, v: Value| {
            payload.insert(name.to_string(), v);
        };
        put("iss", json!(issuer.issuer()));
        put("sub", json!(claims.sub));
        // One audience as a string (what most verifiers expect), several as an array.
        put(
            "aud",
            match issuer.audiences() {
                [one] => json!(one),
                many => json!(many),
            },
        );
        put("exp", json!(now + ttl));
        put("iat", json!(now));
        put("jti", json!(jti));
        put("sid", json!(claims.sid));
        put("scope", json!(claims.scope));
        put("amr", json!(claims.amr));
        if let Some(acr) = &claims.acr {
            put("acr", json!(acr));
        }
        if let Some(auth_time) = claims.auth_time {
            put("auth_time", json!(auth_time));
        }
        if let Some(cnf) = &claims.cnf {
            put("cnf", cnf.clone());
        }
        let input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(Value::Object(payload).to_string())
        );
        Unsigned {
            key,
            input,
            jti,
            expires_in: ttl,
        }
    }

    fn finish(self, signature: &[u8]) -> MintedAccessToken {
        MintedAccessToken {
            token: format!("{}.{}", self.input, B64URL.encode(signature)),
            jti: self.jti,
            expires_in: self.expires_in,
        }
    }
}

/// A token the gateway would refuse when it comes back is never minted: `sub` and `sid` pass the
/// verifier's own header-value rule (they travel to the origin as header values), scopes follow
/// the one grammar, `amr` values and `acr` are tokens (printable ASCII without spaces).
fn check_claims(c: &AccessTokenClaims) -> Result<(), SigningError> {
    use crate::jose::verify::header_safe;
    let token = |v: &str| !v.is_empty() && v.bytes().all(|b| (0x21..0x7f).contains(&b));
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
    if !c.amr.iter().all(|m| token(m)) {
        return Err(SigningError::ClaimUnusable("amr"));
    }
    if c.acr.as_deref().is_some_and(|a| !token(a)) {
        return Err(SigningError::ClaimUnusable("acr"));
    }
    if c.cnf.as_ref().is_some_and(|v| !v.is_object()) {
        return Err(SigningError::ClaimUnusable("cnf"));
    }
    Ok(())
}
