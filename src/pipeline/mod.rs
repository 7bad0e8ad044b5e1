//! The request pipeline: parse → authenticate → authorize → limit → forward, one module per stage.
//! Each stage either hands the request on or refuses it with a `Refusal`; `Gateway::run` is the
//! whole pipeline read top to bottom, and `Gateway::handle` (what `edge` calls) turns a refusal
//! into its reply and hands back the request's log fields.
//!
//! The pipeline decides; the runtime acts: it returns an `Outcome` — a `ForwardPlan` (URL and
//! headers for the origin; the body streams through untouched in `edge`), a finished `Reply`, an
//! `AdminCall` whose body the runtime reads before calling `Gateway::admin`, or a session endpoint
//! whose body it reads before calling `Gateway::session` (`session.rs`).

// A `Refusal` carries its whole problem document; it is built once, on the cold path, and boxing it
// would only add an allocation to every refusal.
#![allow(clippy::result_large_err)]

pub(crate) mod authenticate;
pub mod authorize;
pub(crate) mod client_headers;
/// `portcullis explain` (native only: the native verifier and a JWK set as key source).
#[cfg(not(target_arch = "wasm32"))]
pub mod explain;
pub(crate) mod forward;
pub(crate) mod limit;
pub(crate) mod method_override;
pub(crate) mod parse;
pub(crate) mod possession;
pub(crate) mod session;

use std::cell::RefCell;
use std::rc::Rc;

use crate::admin::revocations::RevocationAdmin;
use crate::admin::{AdminContext, AdminRequest};
use crate::api_key::cache::ApiKeyCache;
use crate::api_key::store::ApiKeyStore;
use crate::config::Config;
use crate::identity::Identity;
use crate::jwks_cache::JwksCache;
use crate::mtls::{ClientCertificate, LazyCertificate};
use crate::platform::Platform;
use crate::problem::{www_authenticate, Challenge, ErrorCode, Problem};
use crate::revocation::SnapshotCache;
use crate::route::CredentialKind;
use crate::signing::issuer::{ImportedKeys, SessionIssuer};
use crate::token_cache::TokenCache;

use parse::ParseOutcome;

pub use crate::request::{HeadersUnreadable, RequestHead};

pub use crate::reply::Reply;
pub use crate::request_id::RequestId;

/// Where and how to forward. The origin's request headers are an edit of the client's — remove
/// `strip`, then add `add` — so the runtime copies the client's headers natively and touches only
/// the few that change.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardPlan {
    pub url: String,
    /// Lower-case names of client headers the origin must not see.
    pub strip: Vec<String>,
    /// What the gateway vouches for: the identity headers, then its own forwarding headers.
    pub add: Vec<(String, String)>,
    /// Headers to add to the origin's response (rate-limit state).
    pub response_headers: Vec<(String, String)>,
    /// A WebSocket upgrade on a route that allows it: the runtime asks the origin for a socket
    /// (`edge::websocket`) instead of forwarding a plain request.
    pub websocket: Option<crate::websocket::WebSocketPlan>,
    /// The route's origin timeout and shared-cache policy.
    pub origin: crate::origin::OriginPolicy,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Forward(ForwardPlan),
    Respond(Reply),
    /// An authenticated, authorized admin API call: the runtime reads the body and calls
    /// `Gateway::admin`.
    Admin(AdminCall),
    /// A session endpoint (`sessions.path_prefix`): the runtime reads the body (at most
    /// `Endpoint::body_cap() + 1` bytes) and calls `Gateway::session`.
    Session(crate::session::endpoints::Endpoint),
}

#[derive(Debug, Clone, PartialEq)]
pub struct AdminCall {
    pub actor: Identity,
    /// The request's id: the admin API's problem documents carry it as `instance`.
    pub request_id: RequestId,
    /// The path below the admin prefix (`/keys/key_…/rotate`).
    pub path: String,
    pub query: Option<String>,
    /// The `Idempotency-Key` header (several are joined with ", ", which no valid key contains).
    pub idempotency_key: Option<String>,
}

/// What the per-request log line says. Never a token, a key or a query string.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestLog {
    pub route: Option<String>,
    pub credential: Option<&'static str>,
    pub subject: Option<String>,
    pub key_id: Option<String>,
    pub code: Option<&'static str>,
}

impl RequestLog {
    /// The line of a request whose head was read: its method, its loggable `path` (no query, no
    /// `;` parameters) and what this log says of it; `status`, `code` and `duration_ms` are the
    /// answer's. One constructor for the line the wasm writes and the head of the line the entry
    /// completes (`edge::decision`), so the two cannot drift apart.
    pub(crate) fn event<'a>(
        &'a self,
        request_id: &'a RequestId,
        method: &'a str,
        path: &'a str,
        status: u16,
        code: Option<&'a str>,
        duration_ms: Option<f64>,
    ) -> crate::log::Event<'a> {
        crate::log::Event::Request {
            request_id: request_id.as_str(),
            method,
            path: Some(path),
            route: self.route.as_deref(),
            credential: self.credential,
            subject: self.subject.as_deref(),
            key_id: self.key_id.as_deref(),
            status,
            code,
            duration_ms,
        }
    }
}

pub struct Handled {
    pub outcome: Outcome,
    pub log: RequestLog,
    /// The request's id (`request_id`): in its log line, its problem documents and the origin's
    /// `x-request-id`.
    pub request_id: RequestId,
}

/// Isolate-lifetime state: the validated configuration and the in-memory caches. Only the
/// pipeline's stages reach into them; `edge` reads the configuration and the revocation snapshot
/// (a WebSocket relay's checks).
pub struct Gateway<K> {
    pub(crate) config: Config,
    jwks: RefCell<JwksCache<K>>,
    tokens: RefCell<TokenCache>,
    api_keys: RefCell<ApiKeyCache>,
    /// The isolate's revocation snapshot (`Rc`: background refreshes hold it past the request).
    pub(crate) revocation: Rc<RefCell<SnapshotCache>>,
    /// `fast` rate-limit leases (`Rc`: background syncs hold it past the request).
    leases: Rc<RefCell<limit::Leases>>,
    /// The gateway as an issuer (`sessions.enabled`): its signing keys, and their public halves
    /// imported for verifying its own tokens.
    session: Option<SessionIssuer>,
    session_keys: RefCell<ImportedKeys<K>>,
    /// The `PORTCULLIS_LOGIN_SECRET` Workers secret, sent to the login endpoint (`sessions.login`).
    login_secret: Option<String>,
    /// Opaque tokens (`introspection`): the cached answers, and the gateway's client credentials
    /// from their Workers secret (absent: every introspection fails closed).
    introspection: RefCell<crate::introspection::IntrospectionCache>,
    introspection_client: Option<crate::introspection::client::ClientCredentials>,
    /// The issuers a revocation may name: `config.issuers`, and the introspection server's.
    revocation_issuers: Vec<crate::config::IssuerConfig>,
    /// The key that seals TOTP secrets (`mfa.enabled`; the `PORTCULLIS_MFA_KEY` secret).
    mfa_key: Option<crate::mfa_settings::MfaKey>,
}

impl<K: Clone> Gateway<K> {
    pub fn new(config: Config) -> Self {
        let tokens = TokenCache::new(config.token_cache_entries);
        let api_keys = ApiKeyCache::new(config.api_keys.cache_max_entries);
        let introspection =
            crate::introspection::IntrospectionCache::new(config.introspection.cache_max_entries);
        let mut revocation_issuers = config.issuers.clone();
        if config.introspection.enabled {
            revocation_issuers.push(crate::config::introspection_issuer(&config.introspection));
        }
        Gateway {
            revocation_issuers,
            config,
            jwks: RefCell::new(JwksCache::default()),
            tokens: RefCell::new(tokens),
            api_keys: RefCell::new(api_keys),
            revocation: Rc::default(),
            leases: Rc::default(),
            session: None,
            session_keys: RefCell::default(),
            login_secret: None,
            introspection: RefCell::new(introspection),
            introspection_client: None,
            mfa_key: None,
        }
    }

    /// The gateway with the credentials it authenticates to the introspection endpoint with
    /// (`ClientCredentials::load`, from the Workers secret the configuration names).
    pub(crate) fn with_introspection_client(
        mut self,
        credentials: Option<crate::introspection::client::ClientCredentials>,
    ) -> Self {
        self.introspection_client = credentials;
        self
    }

    /// Shares revocation deltas and key sets with the other isolates of this location
    /// (`location_cache`; the tier says which of the two).
    pub(crate) fn share_through_location(&self, tier: crate::location_cache::LocationTier) {
        if tier.revocation {
            self.revocation.borrow_mut().share_through(tier.clone());
        }
        self.jwks.borrow_mut().share_through(tier);
    }

    /// The gateway with the login endpoint's shared secret (`session::login`).
    pub(crate) fn with_login_secret(mut self, secret: Option<String>) -> Self {
        self.login_secret = secret;
        self
    }

    /// The gateway with the key that seals TOTP secrets (`MfaKey::load`).
    pub(crate) fn with_mfa_key(mut self, key: Option<crate::mfa_settings::MfaKey>) -> Self {
        self.mfa_key = key;
        self
    }

    /// The gateway with its own issuer (`SessionIssuer::load`): it mints with the set's active key
    /// and verifies its own tokens with the set's public keys.
    pub(crate) fn with_session_issuer(mut self, issuer: Option<SessionIssuer>) -> Self {
        self.session = issuer;
        self
    }

    /// The gateway's own issuer, when sessions are enabled: what `signing::mint` signs with.
    // Until the session endpoints are merged only native tests call it.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn session_issuer(&self) -> Option<&SessionIssuer> {
        self.session.as_ref()
    }

    pub fn api_key_store<'a, P: Platform>(&'a self, platform: &'a P) -> ApiKeyStore<'a, P> {
        ApiKeyStore::new(platform, &self.api_keys, &self.config.api_keys)
    }

    /// Runs an admin call the pipeline has already authenticated and authorized.
    pub async fn admin<P: Platform<Key = K>>(
        &self,
        platform: &P,
        call: &AdminCall,
        method: &str,
        body: &[u8],
    ) -> Reply {
        let req = AdminRequest {
            method,
            path: &call.path,
            query: call.query.as_deref(),
            body,
            idempotency_key: call.idempotency_key.as_deref(),
        };
        let ctx = AdminContext {
            platform,
            keys: self.api_key_store(platform),
            revocations: Some(RevocationAdmin {
                settings: &self.config.revocation,
                issuers: &self.revocation_issuers,
                snapshot: &self.revocation,
            }),
            sessions: self
                .session_issuer()
                .map(|issuer| crate::admin::sessions::SessionAdmin {
                    settings: &self.config.sessions,
                    issuer,
                    revocation: &self.config.revocation,
                    snapshot: &self.revocation,
                }),
            mfa_enabled: self.config.mfa.enabled,
            passkeys_enabled: self.config.passkeys.enabled,
        };
        let mut reply = crate::admin::handle(&ctx, &req, &call.actor).await;
        call.request_id.stamp(&mut reply);
        reply
    }

    /// Runs the pipeline for `req` under the id its `cf-ray` or the CSPRNG gives it.
    pub async fn handle<P: Platform<Key = K>>(&self, platform: &P, req: &RequestHead) -> Handled {
        let request_id = RequestId::for_head(req, |buf| platform.random_bytes(buf));
        self.handle_as(platform, req, request_id).await
    }

    /// Runs the pipeline for `req` under `request_id`: every problem document it answers carries
    /// the id as `instance`, and a forwarded request carries it as `x-request-id`.
    pub async fn handle_as<P: Platform<Key = K>>(
        &self,
        platform: &P,
        req: &RequestHead,
        request_id: RequestId,
    ) -> Handled {
        let cert = LazyCertificate::known(ClientCertificate::Unknown);
        self.handle_as_with_certificate(platform, req, request_id, &cert)
            .await
    }

    /// `handle` for a request whose TLS client certificate the runtime reported
    /// (`request.cf.tlsClientAuth`): `mtls` routes and certificate-bound tokens read it.
    pub async fn handle_with_certificate<P: Platform<Key = K>>(
        &self,
        platform: &P,
        req: &RequestHead,
        cert: &ClientCertificate,
    ) -> Handled {
        let request_id = RequestId::for_head(req, |buf| platform.random_bytes(buf));
        let cert = LazyCertificate::known(cert.clone());
        self.handle_as_with_certificate(platform, req, request_id, &cert)
            .await
    }

    /// `handle_as` for a request whose TLS client certificate the runtime reports when asked: what
    /// the worker's `serve` calls.
    pub async fn handle_as_with_certificate<P: Platform<Key = K>>(
        &self,
        platform: &P,
        req: &RequestHead,
        request_id: RequestId,
        cert: &LazyCertificate<'_>,
    ) -> Handled {
        let mut log = RequestLog::default();
        let outcome = match self.run(platform, req, cert, &mut log, &request_id).await {
            Ok(Outcome::Forward(mut plan)) => {
                let edit = crate::request_id::origin_edit(req, &request_id);
                for name in edit.strip {
                    if !plan.strip.contains(&name) {
                        plan.strip.push(name);
                    }
                }
                plan.add.push(edit.add);
                Outcome::Forward(plan)
            }
            Ok(Outcome::Respond(mut reply)) => {
                request_id.stamp(&mut reply);
                Outcome::Respond(reply)
            }
            Ok(admin) => admin,
            Err(refusal) => {
                log.code = Some(refusal.problem.code.as_str());
                let mut reply = self.refusal_reply(refusal);
                request_id.stamp(&mut reply);
                Outcome::Respond(reply)
            }
        };
        Handled {
            outcome,
            log,
            request_id,
        }
    }

    async fn run<P: Platform<Key = K>>(
        &self,
        platform: &P,
        req: &RequestHead,
        cert: &LazyCertificate<'_>,
        log: &mut RequestLog,
        request_id: &RequestId,
    ) -> Result<Outcome, Refusal> {
        // The TOTP endpoints follow the gateway's `cors` (a bearer token, no cookie): a preflight
        // from an allowed origin is answered as on any route.
        if let Some(Ok(endpoint)) =
            crate::session::endpoints::endpoint_at(&self.config.sessions, req)
        {
            if endpoint.uses_gateway_cors() {
                if let Some(headers) = self.config.cors.preflight(
                    &req.method,
                    req.headers_named("origin").next(),
                    req.headers_named("access-control-request-method").next(),
                ) {
                    return Ok(Outcome::Respond(Reply {
                        status: 204,
                        headers,
                        body: String::new(),
                    }));
                }
            }
        }
        // The session endpoints are the gateway's own, answered before CORS and routing: their
        // preflights grant credentials to app origins (`session::endpoints`).
        if let Some(routed) =
            crate::session::endpoints::route(&self.config.sessions, &self.config.dpop, req)
        {
            return Ok(match routed {
                Ok(endpoint) => {
                    log.route = Some(endpoint.name().to_string());
                    Outcome::Session(endpoint)
                }
                Err(reply) => Outcome::Respond(reply),
            });
        }
        if let Some(headers) = self.config.cors.preflight(
            &req.method,
            req.headers_named("origin").next(),
            req.headers_named("access-control-request-method").next(),
        ) {
            return Ok(Outcome::Respond(Reply {
                status: 204,
                headers,
                body: String::new(),
            }));
        }
        if let Some(reply) = self.issuer_document(req, log) {
            return Ok(Outcome::Respond(reply));
        }
        let parsed = match parse::parse(&self.config, req) {
            ParseOutcome::Route(p) => p,
            ParseOutcome::Redirect(location) => {
                return Ok(Outcome::Respond(Reply {
                    status: 308,
                    headers: vec![("location".into(), location)],
                    body: String::new(),
                }))
            }
            ParseOutcome::Refuse(problem) => return Err(Refusal::plain(problem)),
        };
        log.route = Some(parsed.route.name.clone());
        if let Some(problem) = crate::origin::forbidden_body(req) {
            return Err(Refusal::plain(problem));
        }
        if let Some(problem) = crate::origin::conflicting_framing(req) {
            return Err(Refusal::plain(problem));
        }
        method_override::check_query(&req.method, parsed.query.as_deref())
            .map_err(Refusal::plain)?;

        let identity = match authenticate::authenticate(self, platform, &parsed, req, cert).await {
            Ok(identity) => identity,
            Err(refusal) => {
                self.audit_admin_refusal(platform, req, &parsed, None, &refusal);
                return Err(refusal);
            }
        };
        log.credential = Some(identity.method.as_str());
        log.subject = Some(identity.subject.clone());
        log.key_id = identity.key_id.clone();

        if let Err(refusal) = authorize::authorize(parsed.route, &identity) {
            self.audit_admin_refusal(platform, req, &parsed, Some(&identity), &refusal);
            return Err(refusal);
        }
        for route in &parsed.also {
            authorize::authorize_also(route, &identity)?;
        }
        // Step-up (RFC 9470): the matched route's and every other reading's route's policy.
        for route in std::iter::once(parsed.route).chain(parsed.also.iter().copied()) {
            if let Some(policy) = &route.step_up {
                crate::step_up::check(policy, &identity, platform.now_secs()).map_err(
                    |failure| {
                        Refusal::plain(crate::step_up::refusal(
                            &self.config.realm,
                            policy,
                            &failure,
                        ))
                    },
                )?;
            }
        }
        if parsed.route.admin {
            // Below the prefix as the route matched it (in any case, without `;` parameters).
            let path = parsed
                .route
                .pattern
                .remainder(&parsed.routing_path)
                .unwrap_or_default()
                .to_string();
            let keys: Vec<&str> = req
                .headers_named(crate::api_key::ledger::idempotency::HEADER)
                .collect();
            return Ok(Outcome::Admin(AdminCall {
                actor: identity,
                request_id: request_id.clone(),
                path,
                query: parsed.query.clone(),
                idempotency_key: (!keys.is_empty()).then(|| keys.join(", ")),
            }));
        }
        let limit_headers = limit::limit(self, platform, req, parsed.route, &identity).await?;
        Ok(Outcome::Forward(forward::plan(
            &self.config,
            req,
            &parsed,
            &identity,
            limit_headers,
        )))
    }

    /// The gateway's JWKS or RFC 8414 metadata (`signing::metadata`) when sessions are enabled and
    /// the path names one exactly. Plain HTTP under a `redirect` or `refuse` policy goes on to the
    /// parse stage, which redirects or refuses it like any request.
    fn issuer_document(&self, req: &RequestHead, log: &mut RequestLog) -> Option<Reply> {
        let own = self.session.as_ref()?;
        let (scheme, _, path, _) = crate::url::split_url(&req.url)?;
        if scheme.eq_ignore_ascii_case("http")
            && self.config.transport.https != crate::config::HttpsPolicy::Allow
        {
            return None;
        }
        let document = crate::signing::metadata::document_at(own, path)?;
        log.route = Some(document.log_name().to_string());
        Some(crate::signing::metadata::answer(own, document, &req.method))
    }

    /// A refused call to the admin route is audited like the calls the admin API serves: failed
    /// authentication (`actor` unknown) and a missing admin scope alike.
    fn audit_admin_refusal<P: Platform<Key = K>>(
        &self,
        platform: &P,
        req: &RequestHead,
        parsed: &parse::ParsedRequest<'_>,
        actor: Option<&Identity>,
        refusal: &Refusal,
    ) {
        if parsed.route.admin {
            crate::admin::refusal_audit::audit_refused_call(
                platform,
                actor,
                &req.method,
                &parsed.path,
                &refusal.problem,
            );
        }
    }

    fn refusal_reply(&self, refusal: Refusal) -> Reply {
        let Refusal {
            problem,
            challenges,
            scope,
        } = refusal;
        let mut problem = problem;
        if problem.code.status() == 401 || problem.code == ErrorCode::InsufficientScope {
            if let Some(v) = www_authenticate(
                &self.config.realm,
                &challenges,
                problem.code,
                &problem.detail,
                scope.as_deref(),
            ) {
                problem
                    .headers
                    .insert(0, ("www-authenticate".to_string(), v));
            }
            self.add_dpop_challenge(&mut problem, &challenges);
        }
        problem.reply()
    }

    /// With DPoP enabled, a refusal on a route that takes tokens also offers the DPoP scheme
    /// (RFC 9449 §7.1): `DPoP algs="…"`, with the proof's or the token's error.
    fn add_dpop_challenge(&self, problem: &mut Problem, challenges: &[Challenge]) {
        if !self.config.dpop.enabled || !challenges.contains(&Challenge::Bearer) {
            return;
        }
        let dpop = crate::dpop::challenge(
            &self.config.dpop.algs_param(),
            problem.code,
            &problem.detail,
        );
        match problem
            .headers
            .iter_mut()
            .find(|(n, _)| n == "www-authenticate")
        {
            Some((_, v)) => {
                v.push_str(", ");
                v.push_str(&dpop);
            }
            None => problem
                .headers
                .insert(0, ("www-authenticate".to_string(), dpop)),
        }
    }

    /// `Strict-Transport-Security` (none when `hsts.max_age` is 0): on every response, also the
    /// fallbacks answered before a request could be read (unreadable headers, a runtime fault).
    pub fn hsts_headers(&self) -> Vec<(String, String)> {
        self.config
            .transport
            .hsts
            .iter()
            .map(|v| ("strict-transport-security".to_string(), v.clone()))
            .collect()
    }

    /// Headers every response carries, the gateway's own and the origin's alike: HSTS, and CORS
    /// for an allowed browser origin — except on the session endpoints that answer with their own
    /// credentialed CORS (`session::endpoints`, their preflights included): an origin listed in
    /// both `cors.allowed_origins` and `sessions.app_origins` would otherwise get
    /// `Access-Control-Allow-Origin` twice, which a browser refuses.
    pub fn response_headers(&self, req: &RequestHead) -> Vec<(String, String)> {
        let mut h = self.hsts_headers();
        let own_cors = matches!(
            crate::session::endpoints::endpoint_at(&self.config.sessions, req),
            Some(Ok(endpoint)) if !endpoint.uses_gateway_cors()
        );
        if own_cors {
            return h;
        }
        h.extend(
            self.config
                .cors
                .response_headers(req.headers_named("origin").next()),
        );
        h
    }
}

/// A refusal plus what its challenge needs: the schemes the route accepts and, for
/// `insufficient_scope`, the scopes required.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub problem: Problem,
    pub challenges: Vec<Challenge>,
    pub scope: Option<String>,
}

impl Refusal {
    pub fn plain(problem: Problem) -> Self {
        Refusal {
            problem,
            challenges: Vec::new(),
            scope: None,
        }
    }

    pub fn for_route(problem: Problem, route: &crate::route::Route) -> Self {
        let mut challenges = Vec::new();
        if route.accepts(CredentialKind::Jwt) {
            challenges.push(Challenge::Bearer);
        }
        if route.accepts(CredentialKind::ApiKey) {
            challenges.push(Challenge::ApiKey);
        }
        Refusal {
            problem,
            challenges,
            scope: None,
        }
    }
}

#[cfg(test)]
mod claims_tests;
#[cfg(test)]
mod jwt_matrix;
#[cfg(test)]
mod tests;
