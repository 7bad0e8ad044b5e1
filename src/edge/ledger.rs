//! The `ApiKeyLedger` Durable Object (binding `PORTCULLIS_API_KEYS`): one object per API key, named
//! by the key id. A thin shell around `api_key::ledger::service::KeyLedger`: it loads the object's
//! storage once, lets one call at a time through its turnstile, and gives the logic its storage,
//! the `PORTCULLIS_KV` namespace and the other ledger objects.
//!
//! A call is `POST /<key_id>` with a JSON `LedgerRequest`; the key id in the path is how the object
//! learns its own name (the runtime does not always tell an object the name it was reached by).

use std::cell::RefCell;

use worker::{durable_object, DurableObject, Env, Request, Response, State};

use super::durable::{call_within, json_response, load_strings, now_ms, persist};
use super::kv;
use crate::api_key::format::is_valid_key_id;
use crate::api_key::ledger::client::{parse_answer, LedgerAnswer, LedgerRequest};
use crate::api_key::ledger::service::StorageWrite;
use crate::api_key::ledger::{KeyLedger, LedgerHost, Turnstile, LEDGER_BINDING};
use crate::platform::StoreError;

/// The gateway's call to a key's object: calls to one key queue behind each other, and a rotation
/// waits on the successor's object and on KV.
pub const LEDGER_CALL_TIMEOUT_MS: u64 = 10_000;
/// A rotation's call to its successor's object.
const SUCCESSOR_CALL_TIMEOUT_MS: u64 = 5_000;

/// One call to the ledger object of `key_id`.
pub fn call_ledger(
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
        &format!("/{key_id}"),
        Some(body),
        timeout_ms,
    )
}

#[durable_object]
pub struct ApiKeyLedger {
    state: State,
    env: Env,
    /// `None` until loaded, and while a call holds it.
    ledger: RefCell<Option<KeyLedger>>,
    turnstile: Turnstile,
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
    async fn load(&self, key_id: &str) -> worker::Result<KeyLedger> {
        let entries = load_strings(&self.state).await?;
        let (ledger, unreadable) = KeyLedger::load(key_id, entries);
        if unreadable > 0 {
            worker::console_error!(
                "{}",
                serde_json::json!({"event": "api_key_ledger_storage_unreadable", "key_id": key_id, "entries": unreadable})
            );
        }
        Ok(ledger)
    }
}

impl DurableObject for ApiKeyLedger {
    fn new(state: State, env: Env) -> Self {
        ApiKeyLedger {
            state,
            env,
            ledger: RefCell::new(None),
            turnstile: Turnstile::default(),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let url = req.inner().url();
        let key_id = url.rsplit('/').next().unwrap_or_default().to_string();
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
        // Taken out while it serves: the turnstile lets no other call near it, and a call that
        // ends half-way leaves it to be reloaded from storage, which is the truth.
        let taken = self.ledger.borrow_mut().take();
        let mut ledger = match taken {
            Some(l) => l,
            None => self.load(&key_id).await?,
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
        match ledger.serve(&host, request, now_ms() / 1000).await {
            Ok(answer) => {
                *self.ledger.borrow_mut() = Some(ledger);
                json_response(200, serde_json::to_string(&answer).unwrap_or_default())
            }
            // The next call reloads from storage.
            Err(e) => json_response(503, serde_json::json!({"error": e.0}).to_string()),
        }
    }
}
