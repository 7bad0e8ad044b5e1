//! The one JWT verification, shaped like panva/jose's `jwtVerify(jwt, getKey)`: every caller —
//! the gateway's authenticate stage and `portcullis token verify` — runs the same checks in the
//! same order, so a token refused by one is refused by the other with the same code. What differs
//! is only where keys come from (`KeySource`: the isolate's JWKS cache, or a JWK set read from a
//! file) and what checks a signature (`SignatureVerifier`: WebCrypto through `Platform`, or
//! `native`).
//!
//! Order: empty → compact JWS (size cap, header safety, `crit`, signature length) → payload JSON
//! → `iss` names a trusted issuer → the issuer's algorithm allowlist → keys for `kid`/`alg` (at
//! most `MAX_KEYS_PER_TOKEN`) → signature → claims (RFC 7519/9068, scope grammar) → lifetime cap →
//! `sub`/`jti` safe as origin header values.
#![allow(async_fn_in_trait)]

use super::claims::{self, ClaimError, Claims, ClaimsPolicy, Payload};
#[cfg(not(target_arch = "wasm32"))]
use super::jwk::{Jwk, JwkSet};
use super::jws::{parse_compact, JwsError};
use super::Alg;
use crate::problem::{ErrorCode, Problem};

/// At most this many keys are tried for one token (a token without `kid`, or a JWKS publishing
/// one `kid` several times): bounds the signature checks an unauthenticated request can cause.
pub const MAX_KEYS_PER_TOKEN: usize = 4;

/// What the verification needs to know about one trusted issuer.
pub struct IssuerPolicy<'a> {
    pub algorithms: &'a [Alg],
    pub claims: ClaimsPolicy<'a>,
    /// Longest accepted lifetime (`exp - iat`, or `exp - now` without `iat`).
    pub max_token_lifetime_secs: u64,
}

/// An issuer the caller trusts, as the caller stores it (the gateway's `IssuerConfig`, the CLI's
/// command-line arguments).
pub trait TrustedIssuer {
    /// The exact `iss` value.
    fn name(&self) -> &str;
    fn policy(&self) -> IssuerPolicy<'_>;
}

/// Why no key could be found for a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLookupError {
    /// The issuer's keys are known, but none matches the token's `kid`/`alg`.
    KeyUnknown,
    /// No usable key set at all (never fetched successfully, or stale beyond the limit).
    Unavailable { retry_after_secs: u64 },
}

/// Where an issuer's verification keys come from (jose's `getKey`).
pub trait KeySource<I> {
    type Key;
    /// The keys that may verify a token of `issuer` with this `kid` and `alg`; never empty.
    async fn keys(
        &self,
        issuer: &I,
        kid: Option<&str>,
        alg: Alg,
    ) -> Result<Vec<Self::Key>, KeyLookupError>;
}

/// What checks a signature with a key of type `K`.
pub trait SignatureVerifier<K> {
    /// `false` for any signature that does not verify.
    async fn verify(&self, key: &K, alg: Alg, signing_input: &[u8], signature: &[u8]) -> bool;
}

/// A JWK set read by the caller (the CLI's `--jwks` file) as the key source of one issuer. The same
/// selection as the gateway's JWKS cache: `JwkSet::candidates`, at most `MAX_KEYS_PER_TOKEN`, less
/// the keys the worker's runtime would not import (`native::importable`); none left is `KeyUnknown`.
#[cfg(not(target_arch = "wasm32"))]
impl<I> KeySource<I> for JwkSet {
    type Key = Jwk;
    async fn keys(
        &self,
        _issuer: &I,
        kid: Option<&str>,
        alg: Alg,
    ) -> Result<Vec<Jwk>, KeyLookupError> {
        let keys: Vec<Jwk> = self
            .candidates(kid, alg)
            .take(MAX_KEYS_PER_TOKEN)
            .filter(|k| super::native::importable(k, alg))
            .cloned()
            .collect();
        if keys.is_empty() {
            Err(KeyLookupError::KeyUnknown)
        } else {
            Ok(keys)
        }
    }
}

/// The pure-Rust verifier (`native`) as a `SignatureVerifier`.
#[cfg(not(target_arch = "wasm32"))]
pub struct NativeVerifier;

#[cfg(not(target_arch = "wasm32"))]
impl SignatureVerifier<Jwk> for NativeVerifier {
    async fn verify(&self, key: &Jwk, alg: Alg, signing_input: &[u8], signature: &[u8]) -> bool {
        super::native::verify(key, alg, signing_input, signature).is_ok()
    }
}

/// A token that passed every check.
#[derive(Debug)]
pub struct VerifiedJwt<'i, I, K> {
    pub issuer: &'i I,
    pub alg: Alg,
    /// The key whose signature check succeeded.
    pub key: K,
    pub claims: Claims,
    /// The whole verified payload, for claims beyond the registered ones.
    pub payload: Payload,
}

/// One refusal, one code (`code()`), and a detail that never echoes token content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    Empty,
    Jws(JwsError),
    Claim(ClaimError),
    IssuerUnknown,
    AlgorithmRefused(Alg),
    KeyUnknown,
    KeysUnavailable {
        retry_after_secs: u64,
    },
    SignatureInvalid,
    /// `sub` or `jti` cannot travel to the origin as a header value.
    ClaimNotHeaderSafe(&'static str),
}

impl JwtError {
    pub fn code(&self) -> ErrorCode {
        match self {
            JwtError::Empty => ErrorCode::TokenMalformed,
            JwtError::Jws(e) => e.code(),
            JwtError::Claim(e) => e.code(),
            JwtError::IssuerUnknown => ErrorCode::TokenIssuerUnknown,
            JwtError::AlgorithmRefused(_) => ErrorCode::TokenAlgorithmRefused,
            JwtError::KeyUnknown => ErrorCode::TokenKeyUnknown,
            JwtError::KeysUnavailable { .. } => ErrorCode::JwksUnavailable,
            JwtError::SignatureInvalid => ErrorCode::TokenSignatureInvalid,
            JwtError::ClaimNotHeaderSafe(_) => ErrorCode::TokenClaimInvalid,
        }
    }

    pub fn detail(&self) -> String {
        match self {
            JwtError::Empty => "the bearer token is empty".into(),
            JwtError::Jws(e) => e.detail(),
            JwtError::Claim(e) => e.detail(),
            JwtError::IssuerUnknown => "the token's issuer is not trusted by this gateway".into(),
            JwtError::AlgorithmRefused(alg) => {
                format!("{} is not accepted for this issuer", alg.as_str())
            }
            JwtError::KeyUnknown => {
                "no key of the issuer matches the token's kid and algorithm".into()
            }
            JwtError::KeysUnavailable { .. } => {
                "the issuer's signing keys could not be fetched; try again later".into()
            }
            JwtError::SignatureInvalid => "the token's signature does not verify".into(),
            JwtError::ClaimNotHeaderSafe(name) => {
                format!("the {name} claim must be printable ASCII to be passed to the origin")
            }
        }
    }
}

impl From<JwtError> for Problem {
    fn from(e: JwtError) -> Problem {
        let problem = Problem::new(e.code(), e.detail());
        match e {
            JwtError::KeysUnavailable { retry_after_secs } => {
                problem.with_header("retry-after", retry_after_secs.to_string())
            }
            _ => problem,
        }
    }
}

/// Verifies `token` against `issuers`, finding keys with `keys` and checking the signature with
/// `verifier`. `now_secs` is read once, after the signature check (a JWKS fetch may take a while).
pub async fn jwt_verify<'i, I, S, V>(
    token: &str,
    max_token_bytes: usize,
    issuers: &'i [I],
    keys: &S,
    verifier: &V,
    now_secs: impl FnOnce() -> u64,
) -> Result<VerifiedJwt<'i, I, S::Key>, JwtError>
where
    I: TrustedIssuer,
    S: KeySource<I>,
    V: SignatureVerifier<S::Key>,
{
    if token.is_empty() {
        return Err(JwtError::Empty);
    }
    let jws = parse_compact(token, max_token_bytes).map_err(JwtError::Jws)?;
    let payload = Payload::parse(&jws.payload).map_err(JwtError::Claim)?;
    let iss = payload.issuer().map_err(JwtError::Claim)?;
    let issuer = issuers
        .iter()
        .find(|i| i.name() == iss)
        .ok_or(JwtError::IssuerUnknown)?;
    let policy = issuer.policy();
    let alg = jws.header.alg;
    if !policy.algorithms.contains(&alg) {
        return Err(JwtError::AlgorithmRefused(alg));
    }

    let candidates = keys
        .keys(issuer, jws.header.kid.as_deref(), alg)
        .await
        .map_err(|e| match e {
            KeyLookupError::KeyUnknown => JwtError::KeyUnknown,
            KeyLookupError::Unavailable { retry_after_secs } => {
                JwtError::KeysUnavailable { retry_after_secs }
            }
        })?;
    let mut verified = None;
    for key in candidates.into_iter().take(MAX_KEYS_PER_TOKEN) {
        if verifier
            .verify(&key, alg, jws.signing_input.as_bytes(), &jws.signature)
            .await
        {
            verified = Some(key);
            break;
        }
    }
    let key = verified.ok_or(JwtError::SignatureInvalid)?;

    let now = now_secs();
    let claims = claims::validate_parsed(&payload, jws.header.typ.as_deref(), &policy.claims, now)
        .map_err(JwtError::Claim)?;
    claims::check_lifetime(&claims, policy.max_token_lifetime_secs, now)
        .map_err(JwtError::Claim)?;
    for (name, value) in [("sub", Some(&claims.sub)), ("jti", claims.jti.as_ref())] {
        if value.is_some_and(|v| !header_safe(v)) {
            return Err(JwtError::ClaimNotHeaderSafe(name));
        }
    }
    Ok(VerifiedJwt {
        issuer,
        alg,
        key,
        claims,
        payload,
    })
}

/// Identity values travel to the origin as header values: printable ASCII only, so a claim can
/// neither inject a header (CR/LF) nor be mangled by an encoding the origin does not expect.
pub(crate) fn header_safe(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| (0x20..0x7f).contains(&b)) && v.trim() == v
}

/// `jwt_verify` offline, as `portcullis token verify` runs it: one issuer, its JWK set in memory,
/// the native verifier, a fixed clock.
#[cfg(not(target_arch = "wasm32"))]
pub fn jwt_verify_offline<'i, I: TrustedIssuer>(
    token: &str,
    max_token_bytes: usize,
    issuer: &'i I,
    keys: &JwkSet,
    now_secs: u64,
) -> Result<VerifiedJwt<'i, I, Jwk>, JwtError> {
    run_ready(jwt_verify(
        token,
        max_token_bytes,
        std::slice::from_ref(issuer),
        keys,
        &NativeVerifier,
        || now_secs,
    ))
}

/// Runs a verification whose key source and verifier never wait (the CLI's: a JWK set in memory
/// and the native verifier) to completion on the current thread.
#[cfg(not(target_arch = "wasm32"))]
pub fn run_ready<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::jwk::parse_jwks;

    /// RFC 7515 A.3's P-256 public key, and the same with the last bit of `y` flipped (off the
    /// curve).
    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const Y_OFF: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5aw";

    fn set(keys: serde_json::Value) -> JwkSet {
        parse_jwks(serde_json::json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    fn lookup(set: &JwkSet, kid: Option<&str>, alg: Alg) -> Result<usize, KeyLookupError> {
        run_ready(KeySource::<()>::keys(set, &(), kid, alg)).map(|k| k.len())
    }

    /// The gateway's JWKS cache drops a key WebCrypto does not import; so does the CLI's key source.
    #[test]
    fn a_key_the_runtime_would_not_import_is_no_candidate() {
        let keys = set(serde_json::json!([
            { "kty": "EC", "crv": "P-256", "kid": "good", "x": X, "y": Y },
            { "kty": "EC", "crv": "P-256", "kid": "off", "x": X, "y": Y_OFF },
            // Any 32 bytes: workerd imports an Ed25519 key without decoding the point.
            { "kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI" },
        ]));
        assert_eq!(lookup(&keys, Some("good"), Alg::ES256), Ok(1));
        assert_eq!(
            lookup(&keys, Some("off"), Alg::ES256),
            Err(KeyLookupError::KeyUnknown)
        );
        assert_eq!(lookup(&keys, None, Alg::ES256), Ok(1));
        assert_eq!(lookup(&keys, Some("ed"), Alg::EdDSA), Ok(1));
    }
}
