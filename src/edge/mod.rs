//! The Workers glue: the fetch entry point, the isolate's state, and `EdgePlatform`, which gives
//! the pure pipeline the runtime it needs (WebCrypto, fetch, KV, timers). Nothing here decides
//! anything about a request: it translates between Workers types and the pipeline's.

mod crypto;
mod decision;
mod dpop;
mod durable;
mod http;
mod kv;
mod ledger;
mod mfa;
mod passkeys;
mod run_now;
mod session;
mod websocket;

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Request, Response};
use worker::{Context, Env};

use crate::config::{parse_config, ConfigError};
use crate::dpop::settings::NONCE_SECRET_VAR;
use crate::jose::jwk::Jwk;
use crate::jose::Alg;
use crate::log::{self, ConfigFieldError, Event};
use crate::log_settings::RequestLogSampler;
use crate::origin::ForwardFailure;
use crate::pipeline::{
    Gateway, Handled, HeadersUnreadable, Outcome, RequestHead, RequestId, RequestLog,
};
use crate::platform::{FetchError, HttpResponse, KvPage, Platform, StoreError};
use crate::problem::{ErrorCode, Problem};
use crate::signing::issuer::SessionIssuer;

const CONFIG_VAR: &str = "PORTCULLIS_CONFIG";

/// The configuration is validated once per isolate; a broken one is kept as its list of errors so
/// every request is refused the same way (and the log names every bad field once).
enum IsolateState {
    // Boxed: the gateway is large and lives once per isolate.
    Ready(Box<Gateway<web_sys::CryptoKey>>),
    Misconfigured(Vec<ConfigError>),
}

thread_local! {
    static STATE: RefCell<Option<Rc<IsolateState>>> = const { RefCell::new(None) };
    /// `logging.success_sample_rate`: which successful requests' lines this isolate writes.
    static REQUEST_LOG_SAMPLER: RequestLogSampler = RequestLogSampler::default();
}

fn isolate_state(env: &Env) -> Rc<IsolateState> {
    if let Some(s) = STATE.with(|s| s.borrow().clone()) {
        return s;
    }
    let state = match config_document(env) {
        Err(message) => IsolateState::Misconfigured(vec![ConfigError {
            path: CONFIG_VAR.to_string(),
            message,
        }]),
        Ok(doc) => match parse_config(&doc) {
            Ok(config) => ready(env, config),
            Err(errors) => IsolateState::Misconfigured(errors),
        },
    };
    if let IsolateState::Misconfigured(errors) = &state {
        let errors = errors
            .iter()
            .map(|e| ConfigFieldError {
                path: &e.path,
                message: &e.message,
            })
            .collect();
        worker::console_error!("{}", Event::ConfigInvalid { errors }.line());
    }
    let state = Rc::new(state);
    STATE.with(|s| *s.borrow_mut() = Some(state.clone()));
    state
}

/// The gateway for a valid configuration, with what its Workers secrets give it.
fn ready(env: &Env, mut config: crate::config::Config) -> IsolateState {
    use crate::location_cache::{LocationTier, KEY_SECRET};
    let tier = match LocationTier::from_settings(
        &config.location_cache,
        secret(env, KEY_SECRET).as_deref(),
    ) {
        Ok(tier) => tier,
        Err(e) => {
            return IsolateState::Misconfigured(vec![ConfigError {
                path: KEY_SECRET.to_string(),
                message: e.to_string(),
            }])
        }
    };
    let nonce = config
        .dpop
        .set_nonce_secret(secret(env, NONCE_SECRET_VAR))
        .map_err(|message| ConfigError {
            path: NONCE_SECRET_VAR.to_string(),
            message,
        });
    let (issuer, secret, mfa_key) = match (
        load_session_issuer(env, &config),
        session::load_login_secret(env, &config),
        load_mfa_key(env, &config),
        nonce,
    ) {
        (Ok(issuer), Ok(secret), Ok(mfa_key), Ok(())) => (issuer, secret, mfa_key),
        (issuer, secret, mfa_key, nonce) => {
            return IsolateState::Misconfigured(
                issuer
                    .err()
                    .into_iter()
                    .flatten()
                    .chain(secret.err())
                    .chain(mfa_key.err())
                    .chain(nonce.err())
                    .collect(),
            )
        }
    };
    let introspection_client = match load_introspection_client(env, &config) {
        Ok(client) => client,
        Err(error) => return IsolateState::Misconfigured(vec![error]),
    };
    let gateway = Gateway::new(config)
        .with_session_issuer(issuer)
        .with_login_secret(secret)
        .with_introspection_client(introspection_client)
        .with_mfa_key(mfa_key);
    if let Some(tier) = tier {
        gateway.share_through_location(tier);
    }
    IsolateState::Ready(Box::new(gateway))
}

/// A Workers secret (a string binding), if set.
fn secret(env: &Env, name: &str) -> Option<String> {
    js_sys::Reflect::get(env, &JsValue::from_str(name))
        .ok()
        .and_then(|v| v.as_string())
}

/// The gateway's own issuer when `sessions.enabled`: the `PORTCULLIS_SIGNING_KEYS` secret, read
/// once per isolate. A missing or invalid secret is a configuration error like any other (the
/// gateway answers `gateway_misconfigured` and logs which member is wrong, never its value).
fn load_session_issuer(
    env: &Env,
    config: &crate::config::Config,
) -> Result<Option<SessionIssuer>, Vec<ConfigError>> {
    use crate::signing::SIGNING_KEYS_SECRET;
    let secret = js_sys::Reflect::get(env, &JsValue::from_str(SIGNING_KEYS_SECRET))
        .ok()
        .and_then(|v| v.as_string());
    SessionIssuer::load(&config.sessions, secret.as_deref()).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| ConfigError {
                path: if e.path.is_empty() {
                    SIGNING_KEYS_SECRET.to_string()
                } else {
                    format!("{SIGNING_KEYS_SECRET}.{}", e.path)
                },
                message: e.message,
            })
            .collect()
    })
}

/// The gateway's credentials for the introspection endpoint when `introspection.enabled`: the
/// Workers secret the section names, read once per isolate. Missing or invalid, it is a
/// configuration error (fail closed at load, never per request), naming the secret, not its value.
fn load_introspection_client(
    env: &Env,
    config: &crate::config::Config,
) -> Result<Option<crate::introspection::client::ClientCredentials>, ConfigError> {
    let settings = &config.introspection;
    if !settings.enabled {
        return Ok(None);
    }
    let name = settings.secret_name();
    let secret = js_sys::Reflect::get(env, &JsValue::from_str(name))
        .ok()
        .and_then(|v| v.as_string());
    crate::introspection::client::ClientCredentials::load(settings, secret.as_deref())
        .map(Some)
        .map_err(|message| ConfigError {
            path: name.to_string(),
            message,
        })
}

/// The key that seals TOTP secrets when `mfa.enabled`: the `PORTCULLIS_MFA_KEY` secret, read once
/// per isolate. Missing or malformed with MFA on is a configuration error (the value is never
/// logged).
fn load_mfa_key(
    env: &Env,
    config: &crate::config::Config,
) -> Result<Option<crate::mfa_settings::MfaKey>, ConfigError> {
    use crate::mfa_settings::{MfaKey, MFA_KEY_SECRET};
    let secret = js_sys::Reflect::get(env, &JsValue::from_str(MFA_KEY_SECRET))
        .ok()
        .and_then(|v| v.as_string());
    MfaKey::load(&config.mfa, secret.as_deref()).map_err(|message| ConfigError {
        path: MFA_KEY_SECRET.to_string(),
        message,
    })
}

/// `PORTCULLIS_CONFIG` as given: a JSON string (a plain var), or an object (a TOML table in
/// wrangler.toml, which wrangler hands over as JSON).
fn config_document(env: &Env) -> Result<serde_json::Value, String> {
    let raw = js_sys::Reflect::get(env, &JsValue::from_str(CONFIG_VAR)).map_err(js_err)?;
    if raw.is_undefined() || raw.is_null() {
        return Err("is not set".to_string());
    }
    if let Some(s) = raw.as_string() {
        return Ok(serde_json::Value::String(s));
    }
    let json = js_sys::JSON::stringify(&raw).map_err(js_err)?;
    serde_json::from_str(&String::from(json)).map_err(|e| format!("is not a JSON document: {e}"))
}

/// The one call into wasm per request, from the hand-written entry module
/// (`src/edge/js/entry.mjs`): the runtime's own `Request` (its body and headers are forwarded from
/// it), its method and URL, and its headers already read into one string of `name:value\n` lines
/// by the entry (`RequestHead::from_header_lines`; `null` when the entry could not read them), and
/// whether it has a body to relay. One crossing instead of a getter call per field, no JSON on the
/// way in, and none of the `worker::Request` wrapper's work (it read `request.cf` on every request,
/// measured at about 5% of the gateway's CPU in workerd).
///
/// Returns the `Response`, or — for a plain forward without a body — the forward as a decision
/// string the entry carries out (`decision`); a `Promise` of either when the request waits on I/O
/// before it is decided (`run_now`).
#[wasm_bindgen(js_name = decide)]
// An export to JavaScript: wasm-bindgen requires `pub`.
#[allow(unreachable_pub)]
pub fn decide(
    req: Request,
    method: String,
    url: String,
    headers: Option<String>,
    bodiless: bool,
    env: Env,
    ctx: worker::worker_sys::Context,
) -> Result<JsValue, JsValue> {
    run_now::run_now(decide_async(req, method, url, headers, bodiless, env, ctx))
}

async fn decide_async(
    req: Request,
    method: String,
    url: String,
    headers: Option<String>,
    bodiless: bool,
    env: Env,
    ctx: worker::worker_sys::Context,
) -> Result<JsValue, JsValue> {
    let started = js_sys::Date::now();
    let head = RequestHead::from_header_lines(method, url, headers.as_deref());
    let mut request_id = None;
    match serve(
        &req,
        head,
        bodiless,
        env,
        Context::new(ctx),
        started,
        &mut request_id,
    )
    .await
    {
        Ok(Served::Response(r)) => Ok(r.into()),
        Ok(Served::Forward(decision)) => Ok(JsValue::from_str(&decision)),
        Err(reason) => {
            // The gateway's own fault, not the origin's: its own event and code, never logged or
            // answered as an origin outage.
            worker::console_error!(
                "{}",
                Event::RuntimeFault {
                    stage: "serve",
                    reason: &reason
                }
                .line()
            );
            let request_id = request_id.unwrap_or_else(|| RequestId::assign(None, csprng));
            let problem = Problem::new(
                ErrorCode::GatewayError,
                "the gateway failed to process the request",
            );
            worker::console_log!(
                "{}",
                Event::Request {
                    request_id: request_id.as_str(),
                    method: &req.method(),
                    path: None,
                    route: None,
                    credential: None,
                    subject: None,
                    key_id: None,
                    status: problem.status(),
                    code: Some(problem.code.as_str()),
                    duration_ms: Some(js_sys::Date::now() - started),
                }
                .line()
            );
            // HSTS as on every answer, when the configuration was read before the fault.
            let transport = match STATE.with(|s| s.borrow().clone()).as_deref() {
                Some(IsolateState::Ready(gateway)) => gateway.hsts_headers(),
                _ => Vec::new(),
            };
            match http::problem_response(&problem, &transport, &request_id) {
                Ok(r) => Ok(r.into()),
                Err(_) => {
                    let init = web_sys::ResponseInit::new();
                    init.set_status(500);
                    Response::new_with_opt_str_and_init(None, &init).map(Into::into)
                }
            }
        }
    }
}

/// What `serve` hands back: the answer, or a forward for the entry to carry out.
enum Served {
    Response(Response),
    Forward(String),
}

/// Serves one request. `request_id` is filled in before anything else, so the fallback for a
/// runtime fault answers and logs under the same id.
async fn serve(
    req: &Request,
    head: Result<RequestHead, HeadersUnreadable>,
    bodiless: bool,
    env: Env,
    ctx: Context,
    started: f64,
    request_id: &mut Option<RequestId>,
) -> Result<Served, String> {
    // Headers the entry could not read still have a `cf-ray` to try (the id is only taken when it
    // has the ray's exact shape).
    let id = match &head {
        Ok(head) => RequestId::for_head(head, csprng),
        Err(_) => {
            let cf_ray = req.headers().get("cf-ray").ok().flatten();
            RequestId::assign(cf_ray.as_deref(), csprng)
        }
    };
    let id = request_id.insert(id).clone();
    let state = isolate_state(&env);
    // Shared: a WebSocket relay's control loop keeps it past the response (edge::websocket).
    let platform = Rc::new(EdgePlatform { env, ctx });
    let gateway = match &*state {
        IsolateState::Ready(g) => g,
        IsolateState::Misconfigured(_) => {
            let problem = Problem::new(
                ErrorCode::GatewayMisconfigured,
                "the gateway's configuration is invalid; see the gateway log",
            );
            let log = RequestLog {
                code: Some(problem.code.as_str()),
                ..Default::default()
            };
            if let Ok(head) = &head {
                log_request(&platform, head, &id, &log, 503, started);
            }
            return http::problem_response(&problem, &[], &id).map(Served::Response);
        }
    };

    let head = match head {
        Ok(head) => head,
        Err(unreadable) => {
            let problem = Problem::from(unreadable);
            log::emit(
                &*platform,
                Event::Request {
                    request_id: id.as_str(),
                    method: &req.method(),
                    path: None,
                    route: None,
                    credential: None,
                    subject: None,
                    key_id: None,
                    status: problem.status(),
                    code: Some(problem.code.as_str()),
                    duration_ms: None,
                },
            );
            return http::problem_response(&problem, &gateway.hsts_headers(), &id)
                .map(Served::Response);
        }
    };
    let read_certificate = || client_certificate(req);
    let cert = crate::mtls::LazyCertificate::new(&read_certificate);

    let Handled {
        outcome,
        mut log,
        request_id: id,
    } = gateway
        .handle_as_with_certificate(&*platform, &head, id, &cert)
        .await;
    let transport = gateway.response_headers(&head);
    let response = match outcome {
        Outcome::Respond(reply) => http::reply_response(&reply, &transport)?,
        Outcome::Session(endpoint) => {
            let body = http::read_body_capped(req, endpoint.body_cap() + 1).await?;
            let mut reply =
                out_of_line(gateway.session(&*platform, endpoint, &head, &body, &mut log)).await;
            // Their refusals carry the request id as `instance`, like every other problem.
            id.stamp(&mut reply);
            // The endpoints set their own CORS (credentials for app origins): HSTS only here,
            // except on those that follow the gateway's `cors`.
            let headers: Vec<(String, String)> = transport
                .iter()
                .filter(|(n, _)| endpoint.uses_gateway_cors() || n == "strict-transport-security")
                .cloned()
                .collect();
            http::reply_response(&reply, &headers)?
        }
        Outcome::Admin(call) => {
            let body = http::read_body_capped(req, crate::admin::MAX_BODY_BYTES + 1).await?;
            let reply = out_of_line(gateway.admin(&*platform, &call, &head.method, &body)).await;
            http::reply_response(&reply, &transport)?
        }
        Outcome::Forward(plan) if bodiless && plan.websocket.is_none() => {
            // Decided now whether a successful answer's line is written; an origin's 4xx or 5xx
            // is logged whatever the sample says.
            let logged = REQUEST_LOG_SAMPLER.with(|s| s.admits(&gateway.config.logging, 200));
            if let Some(decision) = decision::encode(&plan, &transport, &head, &id, &log, logged) {
                return Ok(Served::Forward(decision));
            }
            out_of_line(forward_here(
                req, &plan, &transport, &platform, &state, &id, &mut log,
            ))
            .await?
        }
        Outcome::Forward(plan) => {
            out_of_line(forward_here(
                req, &plan, &transport, &platform, &state, &id, &mut log,
            ))
            .await?
        }
    };
    let status = response.status();
    if REQUEST_LOG_SAMPLER.with(|s| s.admits(&gateway.config.logging, status)) {
        log_request(&platform, &head, &id, &log, status, started);
    }
    Ok(Served::Response(response))
}

/// `fut` behind a pointer, so that its code is a function of its own rather than inlined into
/// `serve`'s: V8 compiles a wasm function whole on its first call, and with the session, admin and
/// in-wasm forward paths inlined `serve`'s state machine was one 308 KB function — about 15 ms of a
/// new isolate's first request, spent compiling code most requests never run.
fn out_of_line<'a, T>(
    fut: impl std::future::Future<Output = T> + 'a,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'a>> {
    Box::pin(fut)
}

/// The forward done in wasm: a body to relay, a WebSocket, or a decision the line format cannot
/// carry. A failure becomes its problem answer, logged as its own event.
async fn forward_here(
    req: &Request,
    plan: &crate::pipeline::ForwardPlan,
    transport: &[(String, String)],
    platform: &Rc<EdgePlatform>,
    state: &Rc<IsolateState>,
    request_id: &RequestId,
    log: &mut RequestLog,
) -> Result<Response, String> {
    Ok(match forward(req, plan, transport, platform, state).await {
        Ok(r) => r,
        Err(failure) => {
            if matches!(failure, ForwardFailure::Runtime(_)) {
                worker::console_error!("{}", failure.log_line());
            } else {
                platform.log(&failure.log_line());
            }
            let problem = Problem::from(&failure);
            log.code = Some(problem.code.as_str());
            http::problem_response(&problem, transport, request_id)?
        }
    })
}

/// Random bytes for a request id, which is a correlation id, not a secret: the platform's CSPRNG
/// (`getrandom`'s `js` backend: `crypto.getRandomValues`) drawn from a per-isolate pool filled
/// 4 KiB at a time, one call out to JavaScript per 256 ids instead of one per request (each byte
/// is still CSPRNG output, handed out once). Secrets use `csprng_direct`.
fn csprng(buf: &mut [u8]) {
    const POOL_BYTES: usize = 4096;
    thread_local! {
        static POOL: RefCell<(Vec<u8>, usize)> = const { RefCell::new((Vec::new(), 0)) };
    }
    if buf.len() > POOL_BYTES {
        return csprng_direct(buf);
    }
    POOL.with(|pool| {
        let (bytes, used) = &mut *pool.borrow_mut();
        if bytes.len() - *used < buf.len() {
            bytes.resize(POOL_BYTES, 0);
            if getrandom::getrandom(bytes).is_err() {
                bytes.clear();
                *used = 0;
                return csprng_direct(buf);
            }
            *used = 0;
        }
        buf.copy_from_slice(&bytes[*used..*used + buf.len()]);
        *used += buf.len();
    })
}

/// The platform's CSPRNG itself; a failure (which workerd never reports) leaves zeros and logs it.
fn csprng_direct(buf: &mut [u8]) {
    if getrandom::getrandom(buf).is_err() {
        buf.fill(0);
        worker::console_error!("{}", Event::CsprngFailed.line());
    }
}

/// What the runtime reports about the request's TLS client certificate: `request.cf.tlsClientAuth`,
/// set by Cloudflare's edge (never a header). No `cf` (a local request without one) is `Unknown`,
/// and a handshake without a certificate is read no further than `certPresented`.
fn client_certificate(req: &Request) -> crate::mtls::ClientCertificate {
    use crate::mtls::{ClientCertificate, TlsClientAuth};
    let get = |target: &JsValue, name: &str| {
        js_sys::Reflect::get(target, &JsValue::from_str(name))
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
    };
    let Some(auth) = get(req.as_ref(), "cf").and_then(|cf| get(&cf, "tlsClientAuth")) else {
        return ClientCertificate::Unknown;
    };
    let presented = get(&auth, "certPresented").and_then(|v| v.as_string());
    if presented.as_deref() != Some("1") {
        return ClientCertificate::Reported(TlsClientAuth {
            cert_presented: presented.unwrap_or_default(),
            ..Default::default()
        });
    }
    let json = js_sys::JSON::stringify(&auth).ok().map(String::from);
    ClientCertificate::from_json(json.as_deref())
}

/// A WebSocket upgrade the route allows goes its own way (`edge::websocket`); every other request
/// is forwarded as it is.
async fn forward(
    req: &Request,
    plan: &crate::pipeline::ForwardPlan,
    transport: &[(String, String)],
    platform: &Rc<EdgePlatform>,
    state: &Rc<IsolateState>,
) -> Result<Response, ForwardFailure> {
    match &plan.websocket {
        Some(ws) => websocket::forward(req, plan, ws, transport, platform, state).await,
        None => http::forward(req, plan, transport).await,
    }
}

fn log_request(
    p: &EdgePlatform,
    head: &RequestHead,
    request_id: &RequestId,
    log: &RequestLog,
    status: u16,
    started: f64,
) {
    let path = loggable_path(head);
    let duration_ms = Some(js_sys::Date::now() - started);
    let event = log.event(
        request_id,
        &head.method,
        &path,
        status,
        log.code,
        duration_ms,
    );
    log::emit(p, event);
}

/// The path only: a query string can carry anything, and so can `;` path parameters
/// (`;jsessionid=…`), which are cut from each segment.
fn loggable_path(head: &RequestHead) -> String {
    crate::url::split_url(&head.url)
        .map(|(_, _, path, _)| crate::path::loggable(path))
        .unwrap_or_default()
}

pub(crate) struct EdgePlatform {
    env: Env,
    /// The request's context: `waitUntil` for background refreshes and syncs, which must finish
    /// within the request that started them (workerd refuses cross-request I/O).
    ctx: Context,
}

impl Platform for EdgePlatform {
    type Key = web_sys::CryptoKey;

    fn revocation_call(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> impl std::future::Future<Output = Result<String, StoreError>> + 'static {
        durable::call(
            &self.env,
            durable::REVOCATION_BINDING,
            durable::REVOCATION_OBJECT,
            method,
            path,
            body,
        )
    }

    fn limiter_call(
        &self,
        identity_key: &str,
        body: String,
    ) -> impl std::future::Future<Output = Result<String, StoreError>> + 'static {
        durable::call(
            &self.env,
            durable::LIMITER_BINDING,
            identity_key,
            "POST",
            "/acquire",
            Some(body),
        )
    }

    fn wait_until(&self, fut: impl std::future::Future<Output = ()> + 'static) {
        self.ctx.wait_until(fut);
    }

    fn location_get(
        &self,
        url: &str,
    ) -> impl std::future::Future<Output = Option<String>> + 'static {
        let url = url.to_string();
        async move {
            let mut response = worker::Cache::default()
                .get(url.as_str(), false)
                .await
                .ok()??;
            response.text().await.ok()
        }
    }

    fn location_put(
        &self,
        url: &str,
        max_age_secs: u32,
        body: impl FnOnce() -> Option<String> + 'static,
    ) -> impl std::future::Future<Output = ()> + 'static {
        let url = url.to_string();
        async move {
            let Some(text) = body() else { return };
            let headers = worker::Headers::new();
            let _ = headers.set("cache-control", &format!("max-age={max_age_secs}"));
            let _ = headers.set("content-type", "application/json");
            let Ok(response) = worker::Response::ok(text) else {
                return;
            };
            // Best effort: a copy that is not stored is a copy the next isolate does not find.
            let _ = worker::Cache::default()
                .put(url.as_str(), response.with_headers(headers))
                .await;
        }
    }

    async fn key_ledger_call(&self, key_id: &str, body: String) -> Result<String, StoreError> {
        ledger::call_ledger(&self.env, key_id, body, ledger::LEDGER_CALL_TIMEOUT_MS).await
    }

    async fn passkey_call(&self, object_name: &str, body: String) -> Result<String, StoreError> {
        passkeys::call(&self.env, object_name, body).await
    }

    async fn dpop_call(&self, shard: &str, body: String) -> Result<String, StoreError> {
        dpop::call(&self.env, shard, body).await
    }

    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    fn random_bytes(&self, buf: &mut [u8]) {
        // getrandom's `js` backend is crypto.getRandomValues; it cannot fail in workerd. Secrets are
        // drawn straight from it, never from the request-id pool.
        csprng_direct(buf);
    }

    fn log(&self, line: &str) {
        // The line as it is: `console_log!` would format it into a second string first.
        web_sys::console::log_1(&JsValue::from_str(line));
    }

    async fn http_get(
        &self,
        url: &str,
        timeout_ms: u32,
        max_bytes: usize,
    ) -> Result<HttpResponse, FetchError> {
        http::get(url, timeout_ms, max_bytes).await
    }

    async fn sleep(&self, ms: u32) {
        worker::Delay::from(std::time::Duration::from_millis(u64::from(ms))).await;
    }

    async fn import_key(&self, jwk: &Jwk, alg: Alg) -> Result<Self::Key, String> {
        crypto::import_key(jwk, alg).await
    }

    async fn verify(
        &self,
        key: &Self::Key,
        alg: Alg,
        signing_input: &[u8],
        signature: &[u8],
    ) -> bool {
        crypto::verify(key, alg, signing_input, signature).await
    }

    async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        kv::get(&self.env, key).await
    }

    async fn sign(
        &self,
        key: &crate::signing::SigningKey,
        signing_input: &[u8],
    ) -> Result<Vec<u8>, String> {
        crypto::sign(key, signing_input).await
    }

    async fn kv_put(
        &self,
        key: &str,
        value: &str,
        expiration_ttl: Option<u64>,
    ) -> Result<(), StoreError> {
        kv::put(&self.env, key, value, expiration_ttl).await
    }

    async fn kv_delete(&self, key: &str) -> Result<(), StoreError> {
        kv::delete(&self.env, key).await
    }

    async fn kv_list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KvPage, StoreError> {
        kv::list(&self.env, prefix, cursor, limit).await
    }

    async fn session_call(&self, family_id: &str, body: String) -> Result<String, StoreError> {
        session::call(&self.env, family_id, body).await
    }

    async fn http_post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
        timeout_ms: u32,
        max_bytes: usize,
    ) -> Result<HttpResponse, FetchError> {
        http::post(url, headers, body, timeout_ms, max_bytes).await
    }

    async fn mfa_call(&self, subject_key: &str, body: String) -> Result<String, StoreError> {
        mfa::call(&self.env, subject_key, body).await
    }

    async fn aes_gcm_encrypt(
        &self,
        key: &[u8; 32],
        iv: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, String> {
        mfa::aes_gcm_encrypt(key, iv, aad, plaintext).await
    }

    async fn aes_gcm_decrypt(
        &self,
        key: &[u8; 32],
        iv: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, String> {
        mfa::aes_gcm_decrypt(key, iv, aad, sealed).await
    }
}

/// The worker's own WebCrypto verifier, exported so the end-to-end tests can run the Wycheproof and
/// RFC vectors through exactly the code production uses. It verifies; it holds no secret.
#[wasm_bindgen(js_name = webcryptoVerify)]
// An export to JavaScript: wasm-bindgen requires `pub`.
#[allow(unreachable_pub)]
pub async fn webcrypto_verify(
    alg: String,
    jwk_json: String,
    message: Vec<u8>,
    signature: Vec<u8>,
) -> Result<bool, JsValue> {
    let alg = Alg::parse(&alg).ok_or_else(|| JsValue::from_str("unsupported alg"))?;
    let value: serde_json::Value =
        serde_json::from_str(&jwk_json).map_err(|_| JsValue::from_str("jwk is not JSON"))?;
    let jwk = crate::jose::jwk::parse_jwk(&value)
        .map_err(|e| JsValue::from_str(&format!("jwk refused: {e}")))?;
    if !jwk.supports(alg) {
        return Ok(false);
    }
    if crate::jose::jws::check_signature_length(alg, signature.len()).is_err() {
        return Ok(false);
    }
    let key = crypto::import_key(&jwk, alg)
        .await
        .map_err(|e| JsValue::from_str(&e))?;
    Ok(crypto::verify(&key, alg, &message, &signature).await)
}

/// The worker's own minting (`signing::mint`, WebCrypto signing) with a key set the caller passes
/// in, exported as an entrypoint RPC method for the end-to-end tests: they mint tokens the way the
/// gateway does and send them to it. It holds nothing secret and grants nothing — the caller
/// supplies the private keys — and it is reachable only through a service binding, never over HTTP.
/// `sessions_json` is a `sessions` section, `claims_json` `{sub, sid, scope, amr, acr?, auth_time?,
/// cnf?}`; the answer is the compact token.
#[wasm_bindgen(js_name = mintWithKeySet)]
#[allow(unreachable_pub)]
pub async fn mint_with_key_set(
    key_set_json: String,
    sessions_json: String,
    claims_json: String,
) -> Result<String, JsValue> {
    use crate::signing::mint::{mint_with, AccessTokenClaims};
    let refuse = |m: String| JsValue::from_str(&m);
    let sessions_value: serde_json::Value =
        serde_json::from_str(&sessions_json).map_err(|e| refuse(format!("sessions: {e}")))?;
    let (settings, problems) = crate::section::parse_section::<
        crate::session::settings::SessionSettings,
    >(Some(&sessions_value));
    if let Some((path, message)) = problems.first() {
        return Err(refuse(format!("{path}: {message}")));
    }
    let keys = crate::signing::SigningKeySet::parse(&key_set_json).map_err(|errors| {
        refuse(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let issuer = SessionIssuer::new(&settings, keys);
    let c: serde_json::Value =
        serde_json::from_str(&claims_json).map_err(|e| refuse(format!("claims: {e}")))?;
    let text = |name: &str| c.get(name).and_then(|v| v.as_str()).map(str::to_string);
    let claims = AccessTokenClaims {
        sub: text("sub").unwrap_or_default(),
        sid: text("sid").unwrap_or_default(),
        scope: text("scope").unwrap_or_default(),
        amr: c
            .get("amr")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        acr: text("acr"),
        auth_time: c.get("auth_time").and_then(|v| v.as_u64()),
        cnf: c.get("cnf").cloned(),
    };
    mint_with(&RpcSigner, &issuer, claims)
        .await
        .map(|minted| minted.token)
        .map_err(|e| refuse(e.log_detail()))
}

/// The clock, CSPRNG and WebCrypto signer without a request's environment (`mint_with_key_set`).
struct RpcSigner;

impl crate::signing::mint::Signer for RpcSigner {
    fn now_secs(&self) -> u64 {
        js_sys::Date::now() as u64 / 1000
    }
    fn random_bytes(&self, buf: &mut [u8]) {
        if getrandom::getrandom(buf).is_err() {
            buf.fill(0);
            worker::console_error!("{}", Event::CsprngFailed.line());
        }
    }
    async fn sign(
        &self,
        key: &crate::signing::SigningKey,
        input: &[u8],
    ) -> Result<Vec<u8>, String> {
        crypto::sign(key, input).await
    }
}

pub(crate) fn js_err(e: JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown error".to_string())
}
