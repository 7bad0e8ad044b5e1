//! The two Durable Object classes and the calls the gateway makes to them. Both classes are thin:
//! they load their state from storage once, hand each request to the pure logic
//! (`revocation::service`, `ratelimit::service`), apply the storage writes it returns and keep an
//! alarm that deletes expired state.
//!
//! - `RevocationStore` (binding `PORTCULLIS_REVOCATION`): one object, named `global`.
//! - `RateLimiter` (binding `PORTCULLIS_RATE_LIMITER`): one object per identity, named by the
//!   identity's rate-limit key (`key:<key_id>`, `sub:<iss>|<sub>`, `ip:<addr>`), so no object is
//!   a global bottleneck. docs/rate-limits.md explains the choice.
//! - `ApiKeyLedger` (binding `PORTCULLIS_API_KEYS`, in `edge::ledger`): one object per API key.
//!
//! A call from the gateway is an internal `fetch` to the object's stub with a JSON body; any
//! failure — no binding, an exception, a non-2xx answer, no answer within `CALL_TIMEOUT_MS` —
//! is a `StoreError`, and the caller fails closed (or as the policy's `on_error` says).

use std::cell::RefCell;
use std::future::Future;

use futures_util::future::{select, Either};
use wasm_bindgen::JsValue;
use worker::durable::ScheduledTime;
use worker::{durable_object, DurableObject, Env, Headers, Request, Response, State};

use crate::platform::StoreError;
use crate::ratelimit::service::{LimiterService, Persist, StorageWrite, FLUSH_MS};
use crate::revocation::service::RevocationService;

pub(super) const REVOCATION_BINDING: &str = "PORTCULLIS_REVOCATION";
pub(super) const LIMITER_BINDING: &str = "PORTCULLIS_RATE_LIMITER";
/// The revocation list is one object.
pub(super) const REVOCATION_OBJECT: &str = "global";
/// A call to an object that has not answered by then has failed.
pub(super) const CALL_TIMEOUT_MS: u64 = 3_000;

/// One call to the object `name` of `binding`. The request is built before the future is returned;
/// the future owns the stub, so it may outlive the caller's borrows (background syncs).
pub(super) fn call(
    env: &Env,
    binding: &'static str,
    name: &str,
    method: &str,
    path: &str,
    body: Option<String>,
) -> impl Future<Output = Result<String, StoreError>> + 'static {
    call_within(env, binding, name, method, path, body, CALL_TIMEOUT_MS)
}

/// `call` with its own deadline (the API-key ledger queues calls to one key and waits on KV).
pub(super) fn call_within(
    env: &Env,
    binding: &'static str,
    name: &str,
    method: &str,
    path: &str,
    body: Option<String>,
    timeout_ms: u64,
) -> impl Future<Output = Result<String, StoreError>> + 'static {
    let stub = env
        .durable_object(binding)
        .and_then(|ns| ns.get_by_name(name))
        .map_err(|e| StoreError(format!("Durable Object binding {binding} is unusable: {e}")));
    let request = build_request(method, path, body);
    async move {
        let stub = stub?;
        let request = request?;
        let exchange = async {
            let mut resp = stub
                .fetch_with_request(request)
                .await
                .map_err(|e| StoreError(format!("{binding} call failed: {e}")))?;
            let status = resp.status_code();
            let text = resp
                .text()
                .await
                .map_err(|e| StoreError(format!("{binding} answer unreadable: {e}")))?;
            if (200..300).contains(&status) {
                Ok(text)
            } else {
                Err(StoreError(format!(
                    "{binding} answered {status}: {}",
                    truncate(&text)
                )))
            }
        };
        let timer = worker::Delay::from(std::time::Duration::from_millis(timeout_ms));
        futures_util::pin_mut!(exchange);
        match select(exchange, timer).await {
            Either::Left((result, _)) => result,
            Either::Right(_) => Err(StoreError(format!(
                "{binding} did not answer within {timeout_ms} ms"
            ))),
        }
    }
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(200) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Built on `web_sys` directly: the worker crate's `RequestInit` drags in `cf` serialization.
fn build_request(method: &str, path: &str, body: Option<String>) -> Result<Request, StoreError> {
    let init = web_sys::RequestInit::new();
    init.set_method(if method == "POST" { "POST" } else { "GET" });
    if let Some(b) = body {
        let headers = web_sys::Headers::new().map_err(|e| StoreError(super::js_err(e)))?;
        let _ = headers.set("content-type", "application/json");
        init.set_headers(&headers);
        init.set_body(&JsValue::from_str(&b));
    }
    web_sys::Request::new_with_str_and_init(
        &format!("https://durable-object.internal{path}"),
        &init,
    )
    .map(Request::from)
    .map_err(|e| {
        StoreError(format!(
            "cannot build the object call: {}",
            super::js_err(e)
        ))
    })
}

pub(super) fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

pub(super) fn json_response(status: u16, body: String) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    Ok(Response::ok(body)?
        .with_status(status)
        .with_headers(headers))
}

/// Every `(key, value)` in the object's storage whose value is a string.
pub(super) async fn load_strings(state: &State) -> worker::Result<Vec<(String, String)>> {
    let map = state.storage().list().await?;
    let mut out = Vec::new();
    for entry in map.entries() {
        let pair: js_sys::Array = entry?.into();
        if let (Some(k), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
            out.push((k, v));
        }
    }
    Ok(out)
}

pub(super) async fn persist(state: &State, writes: Vec<StorageWrite>) -> worker::Result<()> {
    let storage = state.storage();
    for w in writes {
        match w {
            StorageWrite::Put(k, v) => storage.put_raw(&k, JsValue::from_str(&v)).await?,
            StorageWrite::Delete(k) => {
                storage.delete(&k).await?;
            }
        }
    }
    Ok(())
}

/// Keeps the alarm at `at` (ms), or none when there is nothing left to expire.
pub(super) async fn set_alarm(
    state: &State,
    at: Option<u64>,
    scheduled: &RefCell<Option<u64>>,
) -> worker::Result<()> {
    let current = *scheduled.borrow();
    if current == at {
        return Ok(());
    }
    let storage = state.storage();
    match at {
        Some(ms) => {
            let date = js_sys::Date::new(&JsValue::from_f64(ms as f64));
            storage.set_alarm(ScheduledTime::new(date)).await?;
        }
        None => storage.delete_alarm().await?,
    }
    *scheduled.borrow_mut() = at;
    Ok(())
}

/// The path and query of the object call's URL (`https://durable-object.internal/snapshot?since=3`),
/// read without a URL parser (the `url` crate and its Unicode tables cost ~100 KB of wasm).
fn path_and_query(req: &Request) -> String {
    let url = req.inner().url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    match rest.find('/') {
        Some(i) => rest[i..].to_string(),
        None => "/".to_string(),
    }
}

/// The pure logic an object class wraps: built from the object's storage, and telling when the
/// object's alarm must next fire.
pub(super) trait StoredService: Sized {
    fn from_storage(entries: Vec<(String, String)>) -> Self;
    fn next_alarm_ms(&self) -> Option<u64>;
}

impl StoredService for RevocationService {
    fn from_storage(entries: Vec<(String, String)>) -> Self {
        let (service, unreadable) = RevocationService::load(entries);
        if unreadable > 0 {
            worker::console_error!(
                "{}",
                crate::log::Event::RevocationStorageUnreadable {
                    entries: unreadable
                }
                .line()
            );
        }
        service
    }

    fn next_alarm_ms(&self) -> Option<u64> {
        RevocationService::next_alarm_ms(self)
    }
}

impl StoredService for LimiterService {
    fn from_storage(entries: Vec<(String, String)>) -> Self {
        LimiterService::load(entries)
    }

    fn next_alarm_ms(&self) -> Option<u64> {
        LimiterService::next_alarm_ms(self)
    }
}

/// An object's service, loaded from storage on its first event, and the alarm it keeps (as last
/// set, so an unchanged alarm costs no storage call).
pub(super) struct Loaded<S> {
    pub(super) service: RefCell<Option<S>>,
    pub(super) alarm_at: RefCell<Option<u64>>,
}

impl<S: StoredService> Loaded<S> {
    pub(super) fn new() -> Self {
        Loaded {
            service: RefCell::new(None),
            alarm_at: RefCell::new(None),
        }
    }

    pub(super) async fn ensure(&self, state: &State) -> worker::Result<()> {
        if self.service.borrow().is_some() {
            return Ok(());
        }
        let entries = load_strings(state).await?;
        let alarm = state.storage().get_alarm().await?;
        // Another event may have loaded it while this one waited on storage.
        if self.service.borrow().is_none() {
            *self.service.borrow_mut() = Some(S::from_storage(entries));
            *self.alarm_at.borrow_mut() = alarm.map(|a| a.max(0) as u64);
        }
        Ok(())
    }

    /// Sets the alarm for what the service holds now (or deletes it).
    pub(super) async fn rearm(&self, state: &State) -> worker::Result<()> {
        let next = self
            .service
            .borrow()
            .as_ref()
            .and_then(|s| s.next_alarm_ms());
        set_alarm(state, next, &self.alarm_at).await
    }
}

// ------------------------------------------------------------------ the revocation list

#[durable_object(alarm)]
pub struct RevocationStore {
    state: State,
    loaded: Loaded<RevocationService>,
}

impl DurableObject for RevocationStore {
    fn new(state: State, _env: Env) -> Self {
        RevocationStore {
            state,
            loaded: Loaded::new(),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        self.loaded.ensure(&self.state).await?;
        let method = req.inner().method();
        let path = path_and_query(&req);
        let body = if method == "POST" {
            req.text().await?
        } else {
            String::new()
        };
        let (response, writes) = {
            let mut guard = self.loaded.service.borrow_mut();
            let Some(service) = guard.as_mut() else {
                return json_response(503, "{\"error\":\"not loaded\"}".into());
            };
            service.handle(&method, &path, &body, now_ms())
        };
        if !writes.is_empty() {
            persist(&self.state, writes).await?;
            self.loaded.rearm(&self.state).await?;
        }
        json_response(response.status, response.body)
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
        persist(&self.state, writes).await?;
        self.loaded.rearm(&self.state).await?;
        Response::ok("")
    }
}

// ------------------------------------------------------------------ per-identity rate limiters

#[durable_object(alarm)]
pub struct RateLimiter {
    state: State,
    loaded: Loaded<LimiterService>,
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        RateLimiter {
            state,
            loaded: Loaded::new(),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        self.loaded.ensure(&self.state).await?;
        if req.inner().method() == "GET" {
            // `GET /stats`: how many buckets the object holds (operators, tests).
            let buckets = self.loaded.service.borrow().as_ref().map_or(0, |s| s.len());
            return json_response(200, serde_json::json!({ "buckets": buckets }).to_string());
        }
        let body = req.text().await?;
        // Decided synchronously: no other request of this identity interleaves between reading
        // and writing the bucket (the object is single-threaded, and nothing is awaited here).
        let result = {
            let mut guard = self.loaded.service.borrow_mut();
            match guard.as_mut() {
                Some(service) => service.handle(&body, now_ms()),
                None => Err("not loaded".to_string()),
            }
        };
        let (answer, persist_when) = match result {
            Ok(r) => r,
            Err(why) => return json_response(400, serde_json::json!({ "error": why }).to_string()),
        };
        match persist_when {
            Persist::Now(write) => {
                persist(&self.state, vec![write]).await?;
                // Only the first write arms the alarm; when it fires it re-arms for what is left.
                if self.loaded.alarm_at.borrow().is_none() {
                    self.loaded.rearm(&self.state).await?;
                }
            }
            // Written behind: the alarm flushes within FLUSH_MS.
            Persist::Later => {
                let flush_at = now_ms() + FLUSH_MS;
                let armed = *self.loaded.alarm_at.borrow();
                if armed.is_none_or(|a| a > flush_at) {
                    set_alarm(&self.state, Some(flush_at), &self.loaded.alarm_at).await?;
                }
            }
        }
        json_response(200, serde_json::to_string(&answer).unwrap_or_default())
    }

    async fn alarm(&self) -> worker::Result<Response> {
        *self.loaded.alarm_at.borrow_mut() = None;
        self.loaded.ensure(&self.state).await?;
        let gone = {
            let mut guard = self.loaded.service.borrow_mut();
            guard
                .as_mut()
                .map(|s| s.prune(now_ms()))
                .unwrap_or_default()
        };
        persist(
            &self.state,
            gone.into_iter().map(StorageWrite::Delete).collect(),
        )
        .await?;
        self.loaded.rearm(&self.state).await?;
        Response::ok("")
    }
}
