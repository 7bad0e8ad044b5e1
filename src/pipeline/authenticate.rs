//! Stage 2: who is calling. Exactly one credential of a kind the route accepts is verified and
//! becomes an `Identity`; anything else is a refusal with its own code.

use crate::api_key::ApiKeyError;
use crate::identity::{AuthMethod, Identity};
use crate::jose::claims::{self, ClaimsPolicy};
use crate::jose::jws::parse_compact;
use crate::jwks_cache::{json_str, JwksCache, KeyLookupError};
use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
use crate::route::{CredentialKind, Route};
use crate::token_cache::token_hash;

use super::parse::{ParsedRequest, Presented};
use super::{Gateway, Refusal};

/// The credential, verified, then checked against the revocation list — on every request,
/// verified-token cache hits included.
pub async fn authenticate<K: Clone, P: Platform<Key = K>>(
    gw: &Gateway<K>,
    platform: &P,
    req: &ParsedRequest<'_>,
) -> Result<Identity, Refusal> {
    let identity = verify_credential(gw, platform, req).await?;
    crate::revocation::gate::check(
        platform,
        &gw.config.revocation,
        &gw.revocation,
        req.route.revocation,
        &identity,
    )
    .await
    .map_err(|p| Refusal::for_route(p, req.route))?;
    Ok(identity)
}

async fn verify_credential<K: Clone, P: Platform<Key = K>>(
    gw: &Gateway<K>,
    platform: &P,
    req: &ParsedRequest<'_>,
) -> Result<Identity, Refusal> {
    let route = req.route;
    if route.is_public() {
        return Ok(Identity::anonymous());
    }
    let refuse =
        |code: ErrorCode, detail: String| Refusal::for_route(Problem::new(code, detail), route);
    match &req.presented {
        Presented::Both => Err(Refusal::plain(Problem::new(
            ErrorCode::RequestInvalid,
            "send one credential: either Authorization: Bearer or X-API-Key, not both",
        ))),
        Presented::Bearer(token) if route.accepts(CredentialKind::Jwt) => {
            authenticate_jwt(gw, platform, token)
                .await
                .map_err(|p| Refusal::for_route(p, route))
        }
        Presented::ApiKey(key) if route.accepts(CredentialKind::ApiKey) => gw
            .api_key_store(platform)
            .authenticate_with(key, key_freshness(route))
            .await
            .map_err(|e| {
                if let ApiKeyError::StoreUnavailable(_) = e {
                    platform.log(&format!(
                        "{{\"event\":\"credential_store_unavailable\",\"reason\":{}}}",
                        json_str(&e.log_detail())
                    ));
                }
                refuse(e.code(), e.detail())
            }),
        Presented::OtherScheme if route.accepts(CredentialKind::Jwt) => Err(refuse(
            ErrorCode::AuthorizationSchemeUnsupported,
            "the Authorization header must use the Bearer scheme".into(),
        )),
        _ => Err(missing(route)),
    }
}

/// `strict` routes read the key's record from KV, not the isolate cache (the revocation list is
/// asked too, by the revocation check).
fn key_freshness(route: &Route) -> crate::api_key::Freshness {
    match route.revocation {
        crate::revocation::RevocationMode::Strict => crate::api_key::Freshness::Strong,
        crate::revocation::RevocationMode::Snapshot => crate::api_key::Freshness::Cached,
    }
}

/// No acceptable credential: the code names what the route wants.
fn missing(route: &Route) -> Refusal {
    let jwt = route.accepts(CredentialKind::Jwt);
    let key = route.accepts(CredentialKind::ApiKey);
    let (code, detail) = match (jwt, key) {
        (true, true) => (
            ErrorCode::CredentialsMissing,
            "this route requires a bearer token or an API key",
        ),
        (false, true) => (
            ErrorCode::ApiKeyMissing,
            "this route requires an X-API-Key header",
        ),
        _ => (
            ErrorCode::TokenMissing,
            "this route requires a bearer token",
        ),
    };
    Refusal::for_route(Problem::new(code, detail), route)
}

/// JWS parse → verified-token cache → issuer → algorithm allowlist → key (JWKS cache) →
/// signature (the platform's verifier: WebCrypto in the worker) → claims.
pub async fn authenticate_jwt<K: Clone, P: Platform<Key = K>>(
    gw: &Gateway<K>,
    platform: &P,
    token: &str,
) -> Result<Identity, Problem> {
    let config = &gw.config;
    if token.is_empty() {
        return Err(Problem::new(
            ErrorCode::TokenMalformed,
            "the bearer token is empty",
        ));
    }
    let jws = parse_compact(token, config.max_token_bytes).map_err(Problem::from)?;

    let hash = token_hash(token);
    let now_ms = platform.now_ms();
    if let Some(identity) = gw.tokens.borrow_mut().get(&hash, now_ms) {
        return Ok(identity);
    }

    let payload = claims::Payload::parse(&jws.payload).map_err(Problem::from)?;
    let iss = payload.issuer().map_err(Problem::from)?;
    let Some(issuer) = config.issuers.iter().find(|i| i.issuer == iss) else {
        return Err(Problem::new(
            ErrorCode::TokenIssuerUnknown,
            "the token's issuer is not trusted by this gateway",
        ));
    };
    let alg = jws.header.alg;
    if !issuer.algorithms.contains(&alg) {
        return Err(Problem::new(
            ErrorCode::TokenAlgorithmRefused,
            format!("{} is not accepted for this issuer", alg.as_str()),
        ));
    }

    let keys = JwksCache::keys_for(
        &gw.jwks,
        platform,
        &config.jwks,
        issuer,
        jws.header.kid.as_deref(),
        alg,
    )
    .await
    .map_err(|e| match e {
        KeyLookupError::KeyUnknown => Problem::new(
            ErrorCode::TokenKeyUnknown,
            "no key of the issuer matches the token's kid and algorithm",
        ),
        KeyLookupError::Unavailable { retry_after_secs } => Problem::new(
            ErrorCode::JwksUnavailable,
            "the issuer's signing keys could not be fetched; try again later",
        )
        .with_header("retry-after", retry_after_secs.to_string()),
    })?;

    let mut verified = false;
    for key in &keys {
        if platform
            .verify(key, alg, jws.signing_input.as_bytes(), &jws.signature)
            .await
        {
            verified = true;
            break;
        }
    }
    if !verified {
        return Err(Problem::new(
            ErrorCode::TokenSignatureInvalid,
            "the token's signature does not verify",
        ));
    }

    let policy = ClaimsPolicy {
        issuer: &issuer.issuer,
        audiences: &issuer.audiences,
        leeway_secs: issuer.leeway_secs,
        typ: issuer.typ,
        scope_source: &issuer.scope_source,
    };
    let claims = claims::validate_parsed(
        &payload,
        jws.header.typ.as_deref(),
        &policy,
        platform.now_secs(),
    )
    .map_err(Problem::from)?;
    claims::check_lifetime(&claims, issuer.max_token_lifetime_secs, platform.now_secs())
        .map_err(Problem::from)?;
    for (name, value) in [("sub", Some(&claims.sub)), ("jti", claims.jti.as_ref())] {
        if value.is_some_and(|v| !header_safe(v)) {
            return Err(Problem::new(
                ErrorCode::TokenClaimInvalid,
                format!("the {name} claim must be printable ASCII to be passed to the origin"),
            ));
        }
    }

    let identity = Identity {
        method: AuthMethod::Jwt,
        subject: claims.sub,
        issuer: Some(claims.iss),
        scopes: claims.scopes,
        token_id: claims.jti,
        expires_at: Some(claims.exp),
        issued_at: claims.iat,
        client_id: None,
        key_id: None,
        rate_limit_policy: None,
    };
    let valid_until_ms = claims
        .exp
        .saturating_add(issuer.leeway_secs)
        .saturating_mul(1000);
    gw.tokens
        .borrow_mut()
        .insert(hash, identity.clone(), valid_until_ms);
    Ok(identity)
}

/// Identity values travel to the origin as header values: printable ASCII only, so a claim can
/// neither inject a header (CR/LF) nor be mangled by an encoding the origin does not expect.
fn header_safe(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| (0x20..0x7f).contains(&b)) && v.trim() == v
}
