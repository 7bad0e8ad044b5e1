//! Stage 2: who is calling. Exactly one credential of a kind the route accepts is verified and
//! becomes an `Identity`; anything else is a refusal with its own code.

use crate::api_key::ApiKeyError;
use crate::identity::{AuthMethod, Identity};
use std::cell::RefCell;

use crate::config::{IssuerConfig, JwksSettings};
use crate::jose::claims::ClaimsPolicy;
use crate::jose::verify::{
    jwt_verify, IssuerPolicy, KeyLookupError, KeySource, SignatureVerifier, TrustedIssuer,
};
use crate::jose::Alg;
use crate::jwks_cache::JwksCache;
use crate::log::{self, Event};
use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
use crate::route::{CredentialKind, Route};
use crate::signing::issuer::{ImportedKeys, SessionIssuer};
use crate::token_cache::token_hash;

use super::parse::{ParsedRequest, Presented};
use super::possession;
use super::{Gateway, Refusal};
use crate::mtls::LazyCertificate;
use crate::request::RequestHead;

/// The credential, verified, then checked against the revocation list — on every request,
/// verified-token cache hits included.
pub(crate) async fn authenticate<K: Clone, P: Platform<Key = K>>(
    gw: &Gateway<K>,
    platform: &P,
    req: &ParsedRequest<'_>,
    head: &RequestHead,
    cert: &LazyCertificate<'_>,
) -> Result<Identity, Refusal> {
    let identity = verify_credential(gw, platform, req, head, cert).await?;
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
    head: &RequestHead,
    cert: &LazyCertificate<'_>,
) -> Result<Identity, Refusal> {
    let route = req.route;
    let refuse =
        |code: ErrorCode, detail: String| Refusal::for_route(Problem::new(code, detail), route);
    match credential_to_check(route, &req.presented, gw.config.dpop.enabled, cert)? {
        Checked::Public => Ok(Identity::anonymous()),
        Checked::Bearer(token) if crate::introspection::takes(&gw.config.introspection, token) => {
            let identity = authenticate_opaque(gw, platform, token)
                .await
                .map_err(|p| Refusal::for_route(p, route))?;
            // An introspected token is never bound (an answer with `cnf` is refused), so this
            // refuses it on a `binding = "required"` route, as it does an unbound JWT.
            possession::check_bearer(&identity, route, cert, platform.now_secs())
                .map_err(|p| Refusal::for_route(p, route))?;
            Ok(identity)
        }
        Checked::Bearer(token) => {
            let identity = authenticate_jwt(gw, platform, token)
                .await
                .map_err(|p| Refusal::for_route(p, route))?;
            possession::check_bearer(&identity, route, cert, platform.now_secs())
                .map_err(|p| Refusal::for_route(p, route))?;
            Ok(identity)
        }
        Checked::Dpop(token) => {
            let identity = authenticate_jwt(gw, platform, token)
                .await
                .map_err(|p| Refusal::for_route(p, route))?;
            possession::check_dpop(gw, platform, &identity, token, head)
                .await
                .map_err(|p| Refusal::for_route(p, route))?;
            Ok(identity)
        }
        Checked::ApiKey(key) => gw
            .api_key_store(platform)
            .authenticate_with(key, key_freshness(route))
            .await
            .map_err(|e| {
                if let ApiKeyError::StoreUnavailable(_) = e {
                    log::emit(
                        platform,
                        Event::CredentialStoreUnavailable {
                            reason: &e.log_detail(),
                        },
                    );
                }
                refuse(e.code(), e.detail())
            }),
        Checked::Mtls => possession::authenticate_mtls(platform, cert.get())
            .await
            .map_err(|p| Refusal::for_route(p, route)),
    }
}

/// The credential a route checks, of what the client presented.
pub(crate) enum Checked<'p> {
    /// A public route checks none.
    Public,
    Bearer(&'p str),
    /// A token presented as `Authorization: DPoP` (the `[dpop]` section is enabled): its proof is
    /// checked too.
    Dpop(&'p str),
    ApiKey(&'p str),
    /// The request's TLS client certificate, as the runtime reported it.
    Mtls,
}

/// Which presented credential `route` verifies, or why none can be: both kinds sent, another
/// `Authorization` scheme, or nothing the route accepts. The gateway and `portcullis explain`
/// decide it here (`dpop_enabled`: the `[dpop]` section; `cert`: what the runtime reported about
/// the TLS client certificate, `Unknown` offline).
pub(crate) fn credential_to_check<'p>(
    route: &Route,
    presented: &'p Presented,
    dpop_enabled: bool,
    cert: &LazyCertificate<'_>,
) -> Result<Checked<'p>, Refusal> {
    if route.is_public() {
        return Ok(Checked::Public);
    }
    match presented {
        Presented::Both => Err(Refusal::plain(Problem::new(
            ErrorCode::RequestInvalid,
            "send one credential: either Authorization: Bearer or X-API-Key, not both",
        ))),
        Presented::Bearer(token) if route.accepts(CredentialKind::Jwt) => {
            Ok(Checked::Bearer(token))
        }
        Presented::Dpop(token) if route.accepts(CredentialKind::Jwt) && dpop_enabled => {
            Ok(Checked::Dpop(token))
        }
        Presented::ApiKey(key) if route.accepts(CredentialKind::ApiKey) => Ok(Checked::ApiKey(key)),
        Presented::OtherScheme | Presented::Dpop(_) if route.accepts(CredentialKind::Jwt) => {
            Err(Refusal::for_route(
                Problem::new(
                    ErrorCode::AuthorizationSchemeUnsupported,
                    if dpop_enabled {
                        "the Authorization header must use the Bearer or DPoP scheme"
                    } else {
                        "the Authorization header must use the Bearer scheme"
                    },
                ),
                route,
            ))
        }
        // A route that also takes other credentials asks for those when no certificate came.
        Presented::None
            if route.accepts(CredentialKind::Mtls)
                && (route.auth.len() == 1 || cert.get().presented()) =>
        {
            Ok(Checked::Mtls)
        }
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
pub(crate) fn missing(route: &Route) -> Refusal {
    let jwt = route.accepts(CredentialKind::Jwt);
    let key = route.accepts(CredentialKind::ApiKey);
    let (code, detail) = match (jwt, key) {
        (false, false) if route.accepts(CredentialKind::Mtls) => (
            ErrorCode::ClientCertMissing,
            "this route requires a TLS client certificate",
        ),
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

/// Verified-token cache → the one JWT verification (`jose::verify::jwt_verify`) with the isolate's
/// JWKS cache as key source and the platform's verifier (WebCrypto in the worker) → cache.
pub(crate) async fn authenticate_jwt<K: Clone, P: Platform<Key = K>>(
    gw: &Gateway<K>,
    platform: &P,
    token: &str,
) -> Result<Identity, Problem> {
    let config = &gw.config;
    // Only a token that passed every check is cached, and an oversized one never did: looking it
    // up first changes no verdict, and bounds the hashing by the size cap.
    let hash =
        (!token.is_empty() && token.len() <= config.max_token_bytes).then(|| token_hash(token));
    if let Some(hash) = &hash {
        if let Some(identity) = gw.tokens.borrow_mut().get(hash, platform.now_ms()) {
            return Ok(identity);
        }
    }

    let keys = CachedKeys {
        cache: &gw.jwks,
        platform,
        settings: &config.jwks,
        own: gw.session.as_ref().map(|own| (own, &gw.session_keys)),
    };
    let verified = jwt_verify(
        token,
        config.max_token_bytes,
        &config.issuers,
        &keys,
        &PlatformVerifier(platform),
        || platform.now_secs(),
    )
    .await?;
    let (identity, valid_until_ms) = jwt_identity(config, verified)?;
    if let Some(hash) = hash {
        gw.tokens
            .borrow_mut()
            .insert(hash, identity.clone(), valid_until_ms);
    }
    Ok(identity)
}

/// An opaque token (`introspection::takes`): bounded by `max_token_bytes` like a JWT, then asked
/// of the introspection endpoint through the isolate's cache of its answers.
async fn authenticate_opaque<K: Clone, P: Platform<Key = K>>(
    gw: &Gateway<K>,
    platform: &P,
    token: &str,
) -> Result<Identity, Problem> {
    if token.is_empty() || token.len() > gw.config.max_token_bytes {
        return Err(Problem::new(
            ErrorCode::TokenMalformed,
            format!("the token must be 1 to {} bytes", gw.config.max_token_bytes),
        ));
    }
    crate::introspection::introspect(
        &gw.introspection,
        platform,
        &gw.config.introspection,
        &gw.config.claims,
        gw.introspection_client.as_ref(),
        token,
    )
    .await
}

/// The identity of a token `jwt_verify` accepted, and until when it may be cached: its issuer's
/// `claims_to_headers` (a claim that cannot travel refuses the token) and the claims the routes'
/// conditions read. The gateway and `portcullis explain` both end a token's verification here.
pub(crate) fn jwt_identity<K>(
    config: &crate::config::Config,
    verified: crate::jose::verify::VerifiedJwt<'_, IssuerConfig, K>,
) -> Result<(Identity, u64), Problem> {
    let carried = crate::claims::identity_claims(
        &verified.issuer.claims_to_headers,
        &config.claims,
        verified.payload.members(),
    )
    .map_err(|e| Problem::new(ErrorCode::TokenClaimInvalid, e.detail()))?;
    let claims = verified.claims;
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
        claims: carried,
        holder: crate::identity::Holder {
            certificate: None,
            confirmation: claims.confirmation,
        },
        session_id: claims.sid,
        user_auth: claims.user_auth,
    };
    let valid_until_ms = claims
        .exp
        .saturating_add(verified.issuer.leeway_secs)
        .saturating_mul(1000);
    Ok((identity, valid_until_ms))
}

impl TrustedIssuer for IssuerConfig {
    fn name(&self) -> &str {
        &self.issuer
    }
    fn policy(&self) -> IssuerPolicy<'_> {
        IssuerPolicy {
            algorithms: &self.algorithms,
            claims: ClaimsPolicy {
                issuer: &self.issuer,
                audiences: &self.audiences,
                leeway_secs: self.leeway_secs,
                typ: self.typ,
                scope_source: &self.scope_source,
            },
            max_token_lifetime_secs: self.max_token_lifetime_secs,
        }
    }
}

/// The isolate's JWKS cache as the verification's key source; for the gateway's own issuer, the
/// signing key set's public keys (never fetched: the gateway does not call itself).
struct CachedKeys<'a, K, P> {
    cache: &'a RefCell<JwksCache<K>>,
    platform: &'a P,
    settings: &'a JwksSettings,
    own: Option<(&'a SessionIssuer, &'a RefCell<ImportedKeys<K>>)>,
}

impl<K: Clone, P: Platform<Key = K>> KeySource<IssuerConfig> for CachedKeys<'_, K, P> {
    type Key = K;
    async fn keys(
        &self,
        issuer: &IssuerConfig,
        kid: Option<&str>,
        alg: Alg,
    ) -> Result<Vec<K>, KeyLookupError> {
        match self.own {
            Some((own, imported)) if own.issuer() == issuer.issuer => {
                crate::signing::issuer::verification_keys(imported, self.platform, own, kid, alg)
                    .await
            }
            _ => {
                JwksCache::keys_for(self.cache, self.platform, self.settings, issuer, kid, alg)
                    .await
            }
        }
    }
}

/// The platform's signature check (WebCrypto in the worker) as the verification's verifier.
struct PlatformVerifier<'a, P>(&'a P);

impl<P: Platform> SignatureVerifier<P::Key> for PlatformVerifier<'_, P> {
    async fn verify(&self, key: &P::Key, alg: Alg, signing_input: &[u8], signature: &[u8]) -> bool {
        self.0.verify(key, alg, signing_input, signature).await
    }
}
