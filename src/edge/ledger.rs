//! The `ApiKeyLedger` Durable Object (binding `PORTCULLIS_API_KEYS`): one object per API key, named
//! by the key id. A thin shell around `api_key::ledger::service::KeyLedger`: it loads the object's
//! storage once, lets one call at a time through its turnstile, and gives the logic its storage,
//! the `PORTCULLIS_KV` namespace and the other ledger objects.
//!
//! A call is `POST /<key_id>` with a JSON `LedgerRequest`; the key id in the path is how the object
//! learns its own name (the runtime does not always tell an object the name it was reached by).
//!
//! Its alarm runs `KeyLedger::tidy`: it sees through what a failed call left pending (KV writes,
//! an unfinished rotation) without waiting for another call, and deletes remembered outcomes
//! (with their sealed keys) when their 24 hours are over.

use std::cell::RefCell;

use worker::{durable_object, DurableObject, Env, Request, Response, State};

use super::durable::{call_within, json_response, load_strings, now_ms, persist, set_alarm};
use super::kv;
use crate::api_key::format::is_valid_key_id;
use crate::api_key::ledger::client::{parse_answer, LedgerAnswer, LedgerRequest};
use crate::api_key::ledger::service::RETRY_PENDING_SECS;
use crate::api_key::ledger::service::{KeyLedger, LedgerHost};
use crate::api_key::ledger::turnstile::Turnstile;
use crate::api_key::ledger::LEDGER_BINDING;
use crate::platform::StoreError;
use crate::ratelimit::service::StorageWrite;

/// The gateway's call to a key's object: calls to one key queue behind each other, and a rotation
/// waits on the successor's object and on KV.
pub(super) const LEDGER_CALL_TIMEOUT_MS: u64 = 10_000;
/// A rotation's call to its successor's object.
const SUCCESSOR_CALL_TIMEOUT_MS: u64 = 5_000;

/// One call to the ledger object of `key_id`. The call carries the moment its caller stops
/// waiting (`?until=<ms>`): the object does not start it after that (see `fetch`).
pub(super) fn call_ledger(
    env: &Env,
    key_id: &str,
    body: String,
    timeout_ms: u64,
) -> impl std::future::Future<Output = Result<String, StoreError>> + 'static {
    call_within(
        env,
        LEDGER_BINDING,
        key_id,
        "POST",
        &format!("/{key_id}?until={}", now_ms() + timeout_ms),
        Some(body),
        timeout_ms,
    )
}

#[durable_object(alarm)]
pub struct ApiKeyLedger {
    state: State,
    env: Env,
    /// `None` until loaded, and while a call holds it.
    ledger: RefCell<Option<KeyLedger>>,
    turnstile: Turnstile,
    /// When the alarm is set for (ms), as far as this instance knows.
    alarm_at: RefCell<Option<u64>>,
}

struct ObjectHost<'a> {
    state: &'a State,
    env: &'a Env,
}

impl LedgerHost for ObjectHost<'_> {
    async fn persist(&self, writes: Vec<StorageWrite>) -> Result<(), StoreError> {
        persist(self.state, writes)
            .await
            .map_err(|e| StoreError(format!("ledger storage failed: {e}")))
    }

    async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        kv::get(self.env, key).await
    }

    async fn kv_put(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), StoreError> {
        kv::put(self.env, key, value, ttl).await
    }

    async fn kv_delete(&self, key: &str) -> Result<(), StoreError> {
        kv::delete(self.env, key).await
    }

    async fn call_ledger(
        &self,
        key_id: &str,
        request: &LedgerRequest,
    ) -> Result<LedgerAnswer, StoreError> {
        let body = serde_json::to_string(request).map_err(|e| StoreError(e.to_string()))?;
        let text = call_ledger(self.env, key_id, body, SUCCESSOR_CALL_TIMEOUT_MS).await?;
        parse_answer(&text)
    }
}

impl ApiKeyLedger {
    async fn load(&self, key_id: Option<&str>) -> worker::Result<KeyLedger> {
        let entries = load_strings(&self.state).await?;
        let (ledger, unreadable) = match key_id {
            Some(id) => KeyLedger::load(id, entries),
            None => KeyLedger::load_stored(entries),
        };
        if unreadable > 0 {
            worker::console_error!(
                "{}",
                crate::log::Event::ApiKeyLedgerStorageUnreadable {
                    key_id: ledger.key_id(),
                    entries: unreadable
                }
                .line()
            );
        }
        Ok(ledger)
    }

    /// Sets the alarm for what `ledger` still has to do (`None`: what a failed call left behind
    /// is unknown here, so soon).
    async fn schedule(&self, ledger: Option<&KeyLedger>) -> worker::Result<()> {
        let now = now_ms() / 1000;
        let at = match ledger {
            Some(l) if l.is_unreadable() => None,
            Some(l) => l.next_alarm(now),
            None => Some(now + RETRY_PENDING_SECS),
        };
        if at.is_none() && self.alarm_at.borrow().is_none() {
            return Ok(());
        }
        set_alarm(&self.state, at.map(|s| s * 1000), &self.alarm_at).await
    }
}

impl DurableObject for ApiKeyLedger {
    fn new(state: State, env: Env) -> Self {
        ApiKeyLedger {
            state,
            env,
            ledger: RefCell::new(None),
            turnstile: Turnstile::default(),
            alarm_at: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let url = req.inner().url();
        let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
        let key_id = path.rsplit('/').next().unwrap_or_default().to_string();
        let until: Option<u64> = query
            .split('&')
            .find_map(|p| p.strip_prefix("until="))
            .and_then(|v| v.parse().ok());
        if !is_valid_key_id(&key_id) {
            return json_response(400, "{\"error\":\"no key id in the path\"}".into());
        }
        let body = req.text().await?;
        let request: LedgerRequest = match serde_json::from_str(&body) {
            Ok(r) => r,
            Err(e) => {
                return json_response(
                    400,
                    serde_json::json!({"error": format!("invalid call: {e}")}).to_string(),
                )
            }
        };
        let _passage = self.turnstile.enter().await;
        // The caller waits a bounded time and then answers 503; a call that reaches its turn after
        // that is not started: a change nobody is told about (a rotation whose new key nobody
        // sees, starting the old key's grace period) is worse than none. A revoke, or a
        // successor's discard, is still carried out: late, it only makes a key safer.
        let late = until.is_some_and(|u| now_ms() > u);
        let makes_safer = matches!(
            request,
            LedgerRequest::Revoke { .. } | LedgerRequest::Discard { .. }
        );
        if late && !makes_safer {
            return json_response(503, "{\"error\":\"the caller gave up waiting\"}".into());
        }
        // Taken out while it serves: the turnstile lets no other call near it, and a call that
        // ends half-way leaves it to be reloaded from storage, which is the truth.
        let taken = self.ledger.borrow_mut().take();
        let mut ledger = match taken {
            Some(l) => l,
            None => self.load(Some(&key_id)).await?,
        };
        if ledger.key_id() != key_id {
            *self.ledger.borrow_mut() = Some(ledger);
            return json_response(
                400,
                "{\"error\":\"this object belongs to another key\"}".into(),
            );
        }
        let host = ObjectHost {
            state: &self.state,
            env: &self.env,
        };
        if !matches!(request, LedgerRequest::Get) {
            // Armed before a write starts: if the object is evicted half-way, its alarm still
            // sees the change through (or undoes the rotation) without waiting for another call.
            // `schedule` below moves or clears it once the call is over.
            let soon = (now_ms() / 1000 + RETRY_PENDING_SECS) * 1000;
            let _ = set_alarm(&self.state, Some(soon), &self.alarm_at).await;
        }
        match ledger.serve(&host, request, now_ms() / 1000).await {
            Ok(answer) => {
                // Best effort: the next call sees anything pending through as well.
                let _ = self.schedule(Some(&ledger)).await;
                *self.ledger.borrow_mut() = Some(ledger);
                json_response(200, serde_json::to_string(&answer).unwrap_or_default())
            }
            // The next call reloads from storage.
            Err(e) => {
                let _ = self
                    .schedule(if ledger.is_unreadable() {
                        Some(&ledger)
                    } else {
                        None
                    })
                    .await;
                json_response(503, serde_json::json!({"error": e.0}).to_string())
            }
        }
    }

    async fn alarm(&self) -> worker::Result<Response> {
        *self.alarm_at.borrow_mut() = None;
        let _passage = self.turnstile.enter().await;
        let taken = self.ledger.borrow_mut().take();
        let mut ledger = match taken {
            Some(l) => l,
            None => self.load(None).await?,
        };
        let host = ObjectHost {
            state: &self.state,
            env: &self.env,
        };
        match ledger.tidy(&host, now_ms() / 1000).await {
            Ok(()) => {
                self.schedule(Some(&ledger)).await?;
                // Kept only if it knows its key: an object woken holding no state (a create that
                // was undone) learns its name from its next call.
                if !ledger.key_id().is_empty() {
                    *self.ledger.borrow_mut() = Some(ledger);
                }
            }
            Err(e) => {
                worker::console_error!(
                    "{}",
                    crate::log::Event::ApiKeyLedgerUpkeepFailed {
                        key_id: ledger.key_id(),
                        reason: &e.0
                    }
                    .line()
                );
                let unreadable = ledger.is_unreadable();
                self.schedule(if unreadable { Some(&ledger) } else { None })
                    .await?;
            }
        }
        Response::ok("")
    }
}
