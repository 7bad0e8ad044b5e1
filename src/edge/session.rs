//! The `SessionFamily` Durable Object class (binding `PORTCULLIS_SESSIONS`, one object per session,
//! named by its family id) around the pure `session::family::FamilyService`, the gateway's calls
//! to it.
//!
//! Every call is decided synchronously between loading and persisting (nothing is awaited while
//! the family is borrowed), so the object's single-threaded execution makes a rotation atomic: of
//! two presenters of one token, exactly one rotates it.

use wasm_bindgen::JsValue;
use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::platform::StoreError;
use crate::session::family::FamilyService;

use super::durable::{self, json_response, now_ms, persist, Loaded, StoredService};

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
