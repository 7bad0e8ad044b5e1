//! The `SessionFamily` Durable Object class (binding `PORTCULLIS_SESSIONS`, one object per session,
//! named by its family id) around the pure `session::family::FamilyService`, the gateway's calls
//! to it, and the outbound POST the login endpoint needs.
//!
//! Every call is decided synchronously between loading and persisting (nothing is awaited while
//! the family is borrowed), so the object's single-threaded execution makes a rotation atomic: of
//! two presenters of one token, exactly one rotates it.

use futures_util::future::{select, Either};
use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::platform::{FetchError, HttpResponse, StoreError};
use crate::session::family::FamilyService;

use super::durable::{self, json_response, now_ms, persist, Loaded, StoredService};
use super::js_err;

pub(super) const SESSIONS_BINDING: &str = "PORTCULLIS_SESSIONS";

/// The `PORTCULLIS_LOGIN_SECRET` Workers secret when `sessions.login` is set: missing or shorter
/// than `MIN_LOGIN_SECRET_BYTES`, the configuration is refused (fail closed), its value never
/// named.
pub(super) fn load_login_secret(
    env: &Env,
    config: &crate::config::Config,
) -> Result<Option<String>, crate::config::ConfigError> {
    use crate::session::endpoint_settings::{LOGIN_SECRET, MIN_LOGIN_SECRET_BYTES};
    if !config.sessions.enabled || config.sessions.login.is_none() {
        return Ok(None);
    }
    let secret = js_sys::Reflect::get(env, &JsValue::from_str(LOGIN_SECRET))
        .ok()
        .and_then(|v| v.as_string());
    match secret {
        Some(s) if s.len() >= MIN_LOGIN_SECRET_BYTES => Ok(Some(s)),
        Some(_) => Err(crate::config::ConfigError {
            path: LOGIN_SECRET.to_string(),
            message: format!("must be at least {MIN_LOGIN_SECRET_BYTES} bytes (sessions.login is set)"),
        }),
        None => Err(crate::config::ConfigError {
            path: LOGIN_SECRET.to_string(),
            message: "is not set, and sessions.login needs it (wrangler secret put PORTCULLIS_LOGIN_SECRET)".into(),
        }),
    }
}

/// One call to the family object `family_id` (the caller has checked the id's shape).
pub(super) async fn call(env: &Env, family_id: &str, body: String) -> Result<String, StoreError> {
    durable::call(
        env,
        SESSIONS_BINDING,
        family_id,
        "POST",
        "/family",
        Some(body),
    )
    .await
}

impl StoredService for FamilyService {
    fn from_storage(entries: Vec<(String, String)>) -> Self {
        let (service, readable) = FamilyService::load(entries);
        if !readable {
            worker::console_error!("{}", crate::log::Event::SessionStorageUnreadable.line());
        }
        service
    }

    fn next_alarm_ms(&self) -> Option<u64> {
        FamilyService::next_alarm_ms(self)
    }
}

#[durable_object(alarm)]
pub struct SessionFamily {
    state: State,
    loaded: Loaded<FamilyService>,
}

impl DurableObject for SessionFamily {
    fn new(state: State, _env: Env) -> Self {
        SessionFamily {
            state,
            loaded: Loaded::new(),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        self.loaded.ensure(&self.state).await?;
        let body = req.text().await?;
        let (answer, writes) = {
            let mut guard = self.loaded.service.borrow_mut();
            let Some(service) = guard.as_mut() else {
                return json_response(503, "{\"error\":\"not loaded\"}".into());
            };
            service.handle_json(&body, now_ms() / 1000)
        };
        if !writes.is_empty() {
            // Written before the answer leaves: a rotation the client saw is never lost.
            persist(&self.state, writes).await?;
            self.loaded.rearm(&self.state).await?;
        }
        json_response(200, answer)
    }

    async fn alarm(&self) -> worker::Result<Response> {
        *self.loaded.alarm_at.borrow_mut() = None;
        self.loaded.ensure(&self.state).await?;
        let writes = {
            let mut guard = self.loaded.service.borrow_mut();
            guard
                .as_mut()
                .map(|s| s.prune(now_ms() / 1000))
                .unwrap_or_default()
        };
        if !writes.is_empty() {
            // Ended: nothing of the family is kept.
            self.state.storage().delete_all().await?;
        }
        self.loaded.rearm(&self.state).await?;
        Response::ok("")
    }
}

/// POSTs `body` to `url`: a deadline, a capped answer, redirects not followed.
pub(super) async fn post(
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    timeout_ms: u32,
    max_bytes: usize,
) -> Result<HttpResponse, FetchError> {
    let net = |e: JsValue| FetchError::Network(js_err(e));
    let controller = web_sys::AbortController::new().map_err(net)?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_signal(Some(&controller.signal()));
    init.set_redirect(web_sys::RequestRedirect::Manual);
    let h = web_sys::Headers::new().map_err(net)?;
    for (name, value) in headers {
        h.set(name, value).map_err(net)?;
    }
    init.set_headers(&h);
    init.set_body(&Uint8Array::from(body).into());
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let fetch = async {
        let resp: web_sys::Response = JsFuture::from(global.fetch_with_str_and_init(url, &init))
            .await
            .map_err(net)?
            .dyn_into()
            .map_err(|_| FetchError::Network("not a Response".into()))?;
        let body = match resp.body() {
            Some(stream) => match super::http::read_capped(&stream, max_bytes).await {
                Ok(body) => body,
                Err(e) => {
                    controller.abort();
                    return Err(e);
                }
            },
            None => Vec::new(),
        };
        Ok(HttpResponse {
            status: resp.status(),
            cache_control: None,
            body,
        })
    };
    let timer = worker::Delay::from(std::time::Duration::from_millis(u64::from(timeout_ms)));
    futures_util::pin_mut!(fetch);
    match select(fetch, timer).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => {
            controller.abort();
            Err(FetchError::Timeout)
        }
    }
}
