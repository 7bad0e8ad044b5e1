//! The `PasskeyStore` Durable Object class (binding `PORTCULLIS_PASSKEYS`): one object per
//! challenge, per user and per credential id (named by `webauthn::client`), each holding one
//! state under one storage key, decided by the pure `webauthn::store`.
//!
//! A call reads the state, decides synchronously and writes before answering. Between the read
//! and the write only storage is awaited, and the runtime's input gate delivers no other event to
//! the object while a storage operation is in flight, so two isolates taking one challenge get it
//! once between them.

use wasm_bindgen::JsValue;
use worker::durable::ScheduledTime;
use worker::{durable_object, DurableObject, Env, Request, Response, State};

use super::durable::{self, json_response, now_ms};
use crate::platform::StoreError;
use crate::webauthn::client::PASSKEYS_BINDING;
use crate::webauthn::store::{self as logic, Write, STATE_KEY};

/// One call to the object `object_name`.
pub(super) async fn call(env: &Env, object_name: &str, body: String) -> Result<String, StoreError> {
    durable::call(env, PASSKEYS_BINDING, object_name, "POST", "/", Some(body)).await
}

#[durable_object(alarm)]
pub struct PasskeyStore {
    state: State,
}

impl PasskeyStore {
    async fn stored(&self) -> worker::Result<Option<String>> {
        self.state.storage().get::<String>(STATE_KEY).await
    }

    async fn apply(&self, write: Write) -> worker::Result<()> {
        let storage = self.state.storage();
        match write {
            Write::Put(state) => {
                let alarm = logic::next_alarm_ms(Some(&state));
                let json = serde_json::to_string(&state)
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                storage.put_raw(STATE_KEY, JsValue::from_str(&json)).await?;
                if let Some(at) = alarm {
                    let date = js_sys::Date::new(&JsValue::from_f64(at as f64));
                    storage.set_alarm(ScheduledTime::new(date)).await?;
                }
            }
            Write::Delete => {
                storage.delete_all().await?;
                storage.delete_alarm().await?;
            }
        }
        Ok(())
    }
}

impl DurableObject for PasskeyStore {
    fn new(state: State, _env: Env) -> Self {
        PasskeyStore { state }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let body = req.text().await?;
        let stored = self.stored().await?;
        let (answer, write) = match logic::handle_json(stored.as_deref(), &body) {
            Ok(decided) => decided,
            Err(why) => return json_response(400, serde_json::json!({ "error": why }).to_string()),
        };
        if let Some(write) = write {
            // Written before the answer leaves: a challenge the caller took is gone for everyone.
            self.apply(write).await?;
        }
        json_response(200, answer)
    }

    async fn alarm(&self) -> worker::Result<Response> {
        let stored = self.stored().await?;
        let state = stored.as_deref().and_then(|s| serde_json::from_str(s).ok());
        if let Some(write) = logic::on_alarm(state.as_ref(), now_ms()) {
            self.apply(write).await?;
        }
        Response::ok("")
    }
}
