//! `DpopReplay` (binding `PORTCULLIS_DPOP`): the DPoP `jti` replay cache, one object per proof key
//! (named by its RFC 7638 thumbprint), a shell around the pure `dpop::replay::ReplayLog`. The
//! decision is made synchronously against the object's memory, and its write reaches storage
//! before the answer, so a replay is caught exactly, across isolates and object restarts; an alarm
//! forgets entries once their proofs are stale anyway.

use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::dpop::replay::ReplayLog;
use crate::platform::StoreError;

use super::durable::{json_response, now_ms, persist, Loaded, StoredService};

pub(super) const DPOP_BINDING: &str = "PORTCULLIS_DPOP";

/// One call to the replay object of `shard` (a key thumbprint).
pub(super) async fn call(env: &Env, shard: &str, body: String) -> Result<String, StoreError> {
    super::durable::call(env, DPOP_BINDING, shard, "POST", "/jti", Some(body)).await
}

impl StoredService for ReplayLog {
    fn from_storage(entries: Vec<(String, String)>) -> Self {
        ReplayLog::load(entries)
    }

    fn next_alarm_ms(&self) -> Option<u64> {
        ReplayLog::next_alarm_ms(self)
    }
}

#[durable_object(alarm)]
pub struct DpopReplay {
    state: State,
    loaded: Loaded<ReplayLog>,
}

impl DurableObject for DpopReplay {
    fn new(state: State, _env: Env) -> Self {
        DpopReplay {
            state,
            loaded: Loaded::new(),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        self.loaded.ensure(&self.state).await?;
        let body = req.text().await?;
        let result = {
            let mut guard = self.loaded.service.borrow_mut();
            match guard.as_mut() {
                Some(log) => log.handle(&body, now_ms() / 1000),
                None => Err("not loaded".to_string()),
            }
        };
        let (answer, writes) = match result {
            Ok(r) => r,
            Err(why) => return json_response(400, serde_json::json!({ "error": why }).to_string()),
        };
        if !writes.is_empty() {
            persist(&self.state, writes).await?;
            if self.loaded.alarm_at.borrow().is_none() {
                self.loaded.rearm(&self.state).await?;
            }
        }
        json_response(200, serde_json::to_string(&answer).unwrap_or_default())
    }

    async fn alarm(&self) -> worker::Result<Response> {
        *self.loaded.alarm_at.borrow_mut() = None;
        self.loaded.ensure(&self.state).await?;
        let writes = {
            let mut guard = self.loaded.service.borrow_mut();
            guard
                .as_mut()
                .map(|log| log.prune(now_ms() / 1000))
                .unwrap_or_default()
        };
        persist(&self.state, writes).await?;
        self.loaded.rearm(&self.state).await?;
        Response::ok("")
    }
}
