//! In-memory Durable Objects for native tests: the revocation object and the per-identity
//! rate limiters run their real logic (`service` modules) in process, answering at once; futures
//! handed to `wait_until` are kept until the test runs them, so a test controls when a background
//! refresh or sync lands. `down` makes every call fail (an unreachable object).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use crate::api_key::testing::block_on;
use crate::platform::StoreError;
use crate::ratelimit::service::LimiterService;
use crate::revocation::service::RevocationService;

type Background = Pin<Box<dyn Future<Output = ()>>>;

#[derive(Default)]
pub struct FakeDurableObjects {
    pub revocation: RefCell<RevocationService>,
    pub limiters: RefCell<HashMap<String, LimiterService>>,
    pub down: Cell<bool>,
    pub revocation_calls: Cell<u32>,
    pub limiter_calls: Cell<u32>,
    /// When set, every revocation object call gets this text as its answer (a corrupt or
    /// foreign reply), instead of the in-memory object's.
    pub revocation_answer: RefCell<Option<String>>,
    /// When set, every rate limiter call gets this text as its answer (a corrupt or foreign
    /// reply), instead of the in-memory limiter's.
    pub limiter_answer: RefCell<Option<String>>,
    background: RefCell<Vec<Background>>,
}

impl FakeDurableObjects {
    pub fn revocation_call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        now_ms: u64,
    ) -> Result<String, StoreError> {
        self.revocation_calls.set(self.revocation_calls.get() + 1);
        if self.down.get() {
            return Err(StoreError(
                "revocation object unreachable (simulated)".into(),
            ));
        }
        if let Some(answer) = self.revocation_answer.borrow().as_ref() {
            return Ok(answer.clone());
        }
        let (r, _) = self
            .revocation
            .borrow_mut()
            .handle(method, path, body.unwrap_or(""), now_ms);
        if r.status == 200 {
            Ok(r.body)
        } else {
            Err(StoreError(format!(
                "revocation object answered {}: {}",
                r.status, r.body
            )))
        }
    }

    pub fn limiter_call(&self, key: &str, body: &str, now_ms: u64) -> Result<String, StoreError> {
        self.limiter_calls.set(self.limiter_calls.get() + 1);
        if self.down.get() {
            return Err(StoreError("rate limiter unreachable (simulated)".into()));
        }
        if let Some(answer) = self.limiter_answer.borrow().as_ref() {
            return Ok(answer.clone());
        }
        let mut limiters = self.limiters.borrow_mut();
        let svc = limiters.entry(key.to_string()).or_default();
        svc.handle(body, now_ms)
            .map(|(r, _)| serde_json::to_string(&r).unwrap_or_default())
            .map_err(StoreError)
    }

    pub fn defer(&self, fut: impl Future<Output = ()> + 'static) {
        self.background.borrow_mut().push(Box::pin(fut));
    }

    pub fn pending(&self) -> usize {
        self.background.borrow().len()
    }

    /// Lets every background task started so far complete.
    pub fn run_background(&self) {
        let tasks: Vec<Background> = std::mem::take(&mut *self.background.borrow_mut());
        for t in tasks {
            block_on(t);
        }
    }
}
