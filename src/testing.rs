//! The in-memory `Platform` for native tests, one for the whole workspace: this crate's unit tests
//! and the CLI's integration tests (through the `testing` cargo feature; never in the worker).
//!
//! - `FakePlatform`: a HashMap KV with Workers' rules (TTL ≥ 60, cursor-paged listing), a settable
//!   clock, deterministic "random" bytes, captured log lines, switchable KV failure, canned HTTP
//!   answers (JWKS) and the native signature verifier.
//! - `FakeDurableObjects`: the revocation object and the per-identity rate limiters run their real
//!   logic (`service` modules) in process, answering at once; futures handed to `wait_until` are
//!   kept until the test runs them, so a test controls when a background refresh or sync lands.
//!   `down` makes every call fail (an unreachable object).
//! - The API-key ledger objects run their real logic over `FakeLedgerHost`.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

use crate::api_key::ledger::client::{LedgerAnswer, LedgerRequest};
use crate::api_key::ledger::service::StorageWrite;
use crate::api_key::ledger::service::{KeyLedger, LedgerHost};
use crate::jose::jwk::Jwk;
use crate::jose::Alg;
use crate::platform::{FetchError, HttpResponse, KvPage, Platform, StoreError};
use crate::ratelimit::service::LimiterService;
use crate::revocation::service::RevocationService;

/// One `http_post` as the fake saw it: URL, headers, body.
pub type PostCall = (String, Vec<(String, String)>, Vec<u8>);

#[derive(Default)]
pub struct FakePlatform {
    pub now_ms: Cell<u64>,
    /// key → (value, expiration_ttl as given)
    pub kv: RefCell<BTreeMap<String, (String, Option<u64>)>>,
    pub logs: RefCell<Vec<String>>,
    pub kv_reads: Cell<u32>,
    pub kv_writes: Cell<u32>,
    /// Every KV key written, in order.
    pub kv_put_log: RefCell<Vec<String>>,
    /// Every KV call fails while set.
    pub kv_down: Cell<bool>,
    /// Only writes fail after this many more succeed (None: never).
    pub writes_left: Cell<Option<u32>>,
    /// Answers to `http_get` by URL (JWKS, discovery); a missing URL is a network error.
    pub http: RefCell<BTreeMap<String, HttpResponse>>,
    /// Every `http_get` URL, in order.
    pub http_calls: RefCell<Vec<String>>,
    /// Signature verifications performed.
    pub verifies: Cell<u32>,
    /// The revocation object and rate limiters, in memory; `wait_until` tasks wait here.
    /// `Rc`: a revocation call runs when its future is first polled, as the runtime's does.
    pub durable: std::rc::Rc<FakeDurableObjects>,
    /// The API-key ledger objects: in memory (dropped to simulate an eviction) and their storage.
    pub(crate) ledgers: RefCell<BTreeMap<String, KeyLedger>>,
    pub ledger_storage: RefCell<BTreeMap<String, BTreeMap<String, String>>>,
    /// Calls to ledger objects (from the gateway and from other objects).
    pub ledger_calls: Cell<u32>,
    /// Calls to the ledger object of this key id fail (an unreachable object).
    pub ledger_down_for: RefCell<Option<String>>,
    /// Calls from one ledger object to another (a rotation's successor) never answer after this
    /// many more (None: they always do).
    pub object_calls_before_hang: Cell<Option<u32>>,
    /// The `MfaSubject` objects by subject key, in memory; every call fails while `mfa_down`.
    pub(crate) mfa_subjects: RefCell<BTreeMap<String, crate::mfa::store::MfaSubjectService>>,
    pub mfa_down: Cell<bool>,
    /// The passkey store objects: name → stored state (JSON), as the object class keeps it.
    pub passkey_objects: RefCell<BTreeMap<String, String>>,
    /// Every passkey store call fails while set (an unreachable object).
    pub passkeys_down: Cell<bool>,
    rng_state: Cell<u64>,
    /// The location's Cache API (`location_get`/`location_put`): url → (text, max-age). `Rc`: the
    /// futures own it, and two platforms sharing one stand for two isolates of one location.
    pub location_cache: std::rc::Rc<RefCell<BTreeMap<String, (String, u32)>>>,
    /// `location_get` calls, hits or not.
    pub location_gets: std::rc::Rc<Cell<u32>>,
    /// The session-family objects, by family id (their real logic, in memory).
    pub(crate) sessions: RefCell<HashMap<String, crate::session::family::FamilyService>>,
    /// Every session object call fails while set.
    pub sessions_down: Cell<bool>,
    /// Answers to `http_post` by URL (the login endpoint); a missing URL is a network error.
    pub http_posts: RefCell<BTreeMap<String, HttpResponse>>,
    /// Every `http_post`: URL, headers, body.
    pub http_post_calls: RefCell<Vec<PostCall>>,
}

impl FakePlatform {
    pub fn new(now_secs: u64) -> Self {
        let p = FakePlatform::default();
        p.now_ms.set(now_secs * 1000);
        p.rng_state.set(0x0123_4567_89ab_cdef);
        p
    }

    pub fn advance_secs(&self, secs: u64) {
        self.now_ms.set(self.now_ms.get() + secs * 1000);
    }

    pub fn kv_value(&self, key: &str) -> Option<String> {
        self.kv.borrow().get(key).map(|(v, _)| v.clone())
    }

    pub fn kv_ttl(&self, key: &str) -> Option<u64> {
        self.kv.borrow().get(key).and_then(|(_, t)| *t)
    }

    fn check_up(&self) -> Result<(), StoreError> {
        if self.kv_down.get() {
            Err(StoreError("KV GET failed: simulated outage".into()))
        } else {
            Ok(())
        }
    }
}

impl Platform for FakePlatform {
    /// The key itself: verification is the native pure-Rust verifier.
    type Key = Jwk;

    fn now_ms(&self) -> u64 {
        self.now_ms.get()
    }

    fn random_bytes(&self, buf: &mut [u8]) {
        // SplitMix64: deterministic, well spread, and never mistaken for a CSPRNG outside tests.
        for chunk in buf.chunks_mut(8) {
            let s = self.rng_state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
            self.rng_state.set(s);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }

    fn log(&self, line: &str) {
        self.logs.borrow_mut().push(line.to_string());
    }

    async fn http_get(&self, url: &str, _: u32, max: usize) -> Result<HttpResponse, FetchError> {
        self.http_calls.borrow_mut().push(url.to_string());
        match self.http.borrow().get(url) {
            Some(r) if r.body.len() > max => Err(FetchError::TooLarge),
            Some(r) => Ok(r.clone()),
            None => Err(FetchError::Network("connection refused".into())),
        }
    }

    async fn sleep(&self, ms: u32) {
        self.now_ms.set(self.now_ms.get() + u64::from(ms));
    }

    async fn import_key(&self, jwk: &Jwk, alg: Alg) -> Result<Jwk, String> {
        if jwk.supports(alg) {
            Ok(jwk.clone())
        } else {
            Err("key does not support the algorithm".into())
        }
    }

    async fn verify(&self, key: &Jwk, alg: Alg, input: &[u8], sig: &[u8]) -> bool {
        self.verifies.set(self.verifies.get() + 1);
        crate::jose::native::verify(key, alg, input, sig).is_ok()
    }

    async fn sign(
        &self,
        key: &crate::signing::keys::SigningKey,
        input: &[u8],
    ) -> Result<Vec<u8>, String> {
        crate::signing::native::sign(key, input)
    }

    async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.check_up()?;
        self.kv_reads.set(self.kv_reads.get() + 1);
        Ok(self.kv_value(key))
    }

    async fn kv_put(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), StoreError> {
        self.check_up()?;
        if let Some(left) = self.writes_left.get() {
            if left == 0 {
                return Err(StoreError("KV PUT failed: simulated outage".into()));
            }
            self.writes_left.set(Some(left - 1));
        }
        if ttl.is_some_and(|t| t < 60) {
            return Err(StoreError("expiration_ttl below 60".into()));
        }
        self.kv_writes.set(self.kv_writes.get() + 1);
        self.kv_put_log.borrow_mut().push(key.to_string());
        self.kv
            .borrow_mut()
            .insert(key.to_string(), (value.to_string(), ttl));
        Ok(())
    }

    async fn kv_delete(&self, key: &str) -> Result<(), StoreError> {
        self.check_up()?;
        self.kv.borrow_mut().remove(key);
        Ok(())
    }

    async fn kv_list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KvPage, StoreError> {
        self.check_up()?;
        let kv = self.kv.borrow();
        let mut keys: Vec<String> = kv
            .keys()
            .filter(|k| k.starts_with(prefix))
            .filter(|k| cursor.is_none_or(|c| k.as_str() > c))
            .take(limit as usize + 1)
            .cloned()
            .collect();
        let more = keys.len() > limit as usize;
        keys.truncate(limit as usize);
        let cursor = if more { keys.last().cloned() } else { None };
        Ok(KvPage { keys, cursor })
    }

    fn revocation_call(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> impl Future<Output = Result<String, StoreError>> + 'static {
        // Like the runtime's call, nothing happens until the future is first polled: a refresh
        // may create the call and then find what it needs in the location's cache.
        let durable = std::rc::Rc::clone(&self.durable);
        let (method, path, now) = (method.to_string(), path.to_string(), self.now_ms.get());
        async move { durable.revocation_call(&method, &path, body.as_deref(), now) }
    }

    fn limiter_call(
        &self,
        identity_key: &str,
        body: String,
    ) -> impl Future<Output = Result<String, StoreError>> + 'static {
        let r = self
            .durable
            .limiter_call(identity_key, &body, self.now_ms.get());
        async move { r }
    }

    fn wait_until(&self, fut: impl Future<Output = ()> + 'static) {
        self.durable.defer(fut);
    }

    fn location_get(&self, url: &str) -> impl Future<Output = Option<String>> + 'static {
        let cache = std::rc::Rc::clone(&self.location_cache);
        let gets = std::rc::Rc::clone(&self.location_gets);
        let url = url.to_string();
        async move {
            gets.set(gets.get() + 1);
            cache.borrow().get(&url).map(|(text, _)| text.clone())
        }
    }

    fn location_put(
        &self,
        url: &str,
        max_age_secs: u32,
        body: impl FnOnce() -> Option<String> + 'static,
    ) -> impl Future<Output = ()> + 'static {
        let cache = std::rc::Rc::clone(&self.location_cache);
        let url = url.to_string();
        async move {
            if let Some(text) = body() {
                cache.borrow_mut().insert(url, (text, max_age_secs));
            }
        }
    }

    async fn dpop_call(&self, shard: &str, body: String) -> Result<String, StoreError> {
        self.durable.dpop_call(shard, &body, self.now_secs())
    }

    async fn session_call(&self, family_id: &str, body: String) -> Result<String, StoreError> {
        if self.sessions_down.get() {
            return Err(StoreError("session object unreachable (simulated)".into()));
        }
        let now = self.now_ms.get() / 1000;
        let mut objects = self.sessions.borrow_mut();
        let (answer, _) = objects
            .entry(family_id.to_string())
            .or_default()
            .handle_json(&body, now);
        Ok(answer)
    }

    async fn http_post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
        _: u32,
        max: usize,
    ) -> Result<HttpResponse, FetchError> {
        self.http_post_calls
            .borrow_mut()
            .push((url.to_string(), headers.to_vec(), body.to_vec()));
        // The answer configured for POSTs to this URL, else for any request to it (`http`).
        let answer = self
            .http_posts
            .borrow()
            .get(url)
            .cloned()
            .or_else(|| self.http.borrow().get(url).cloned());
        match answer {
            Some(r) if r.body.len() > max => Err(FetchError::TooLarge),
            Some(r) => Ok(r),
            None => Err(FetchError::Network(format!(
                "no answer configured for {url}"
            ))),
        }
    }

    async fn key_ledger_call(&self, key_id: &str, body: String) -> Result<String, StoreError> {
        if self.ledger_down_for.borrow().as_deref() == Some(key_id) {
            return Err(StoreError(
                "PORTCULLIS_API_KEYS call failed: simulated outage".into(),
            ));
        }
        self.ledger_calls.set(self.ledger_calls.get() + 1);
        let request: LedgerRequest =
            serde_json::from_str(&body).map_err(|e| StoreError(format!("bad call: {e}")))?;
        // Out of the map while it serves: a nested call (a rotation's successor) borrows another.
        let taken = self.ledgers.borrow_mut().remove(key_id);
        let mut ledger = taken.unwrap_or_else(|| {
            let stored = self.ledger_storage.borrow().get(key_id).cloned();
            KeyLedger::load(key_id, stored.unwrap_or_default()).0
        });
        let host = FakeLedgerHost {
            platform: self,
            key_id: key_id.to_string(),
        };
        let answer = ledger.serve(&host, request, self.now_secs()).await;
        self.ledgers.borrow_mut().insert(key_id.to_string(), ledger);
        answer.map(|a| serde_json::to_string(&a).unwrap_or_default())
    }

    async fn mfa_call(&self, subject_key: &str, body: String) -> Result<String, StoreError> {
        if self.mfa_down.get() {
            return Err(StoreError(
                "PORTCULLIS_MFA call failed: simulated outage".into(),
            ));
        }
        let mut subjects = self.mfa_subjects.borrow_mut();
        let service = subjects.entry(subject_key.to_string()).or_default();
        Ok(service.handle_json(&body, self.now_ms()).0)
    }

    async fn aes_gcm_encrypt(
        &self,
        key: &[u8; 32],
        iv: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, String> {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        aes_gcm::Aes256Gcm::new(key.into())
            .encrypt(
                iv.into(),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| "AES-GCM encryption failed".to_string())
    }

    async fn aes_gcm_decrypt(
        &self,
        key: &[u8; 32],
        iv: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, String> {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        aes_gcm::Aes256Gcm::new(key.into())
            .decrypt(iv.into(), Payload { msg: sealed, aad })
            .map_err(|_| "AES-GCM decryption failed".to_string())
    }

    async fn passkey_call(&self, object_name: &str, body: String) -> Result<String, StoreError> {
        if self.passkeys_down.get() {
            return Err(StoreError(
                "PORTCULLIS_PASSKEYS call failed: simulated outage".into(),
            ));
        }
        let stored = self.passkey_objects.borrow().get(object_name).cloned();
        let (answer, write) =
            crate::webauthn::store::handle_json(stored.as_deref(), &body).map_err(StoreError)?;
        match write {
            Some(crate::webauthn::store::Write::Put(state)) => {
                let json = serde_json::to_string(&state).map_err(|e| StoreError(e.to_string()))?;
                self.passkey_objects
                    .borrow_mut()
                    .insert(object_name.to_string(), json);
            }
            Some(crate::webauthn::store::Write::Delete) => {
                self.passkey_objects.borrow_mut().remove(object_name);
            }
            None => {}
        }
        Ok(answer)
    }
}

impl FakePlatform {
    /// The ledger object of `key_id` runs its alarm (`KeyLedger::tidy`).
    pub fn ledger_alarm(&self, key_id: &str) -> Result<(), StoreError> {
        let taken = self.ledgers.borrow_mut().remove(key_id);
        let mut ledger = taken.unwrap_or_else(|| {
            let stored = self.ledger_storage.borrow().get(key_id).cloned();
            KeyLedger::load_stored(stored.unwrap_or_default().into_iter().collect()).0
        });
        let host = FakeLedgerHost {
            platform: self,
            key_id: key_id.to_string(),
        };
        let result = block_on(ledger.tidy(&host, self.now_secs()));
        self.ledgers.borrow_mut().insert(key_id.to_string(), ledger);
        result
    }

    /// When the ledger object of `key_id` (in memory) wants its alarm.
    pub fn ledger_next_alarm(&self, key_id: &str) -> Option<u64> {
        self.ledgers
            .borrow()
            .get(key_id)
            .and_then(|l| l.next_alarm(self.now_secs()))
    }
}

/// The runtime of one in-memory ledger object: its storage, the platform's KV and the other objects.
pub struct FakeLedgerHost<'a> {
    pub platform: &'a FakePlatform,
    pub key_id: String,
}

impl LedgerHost for FakeLedgerHost<'_> {
    async fn persist(&self, writes: Vec<StorageWrite>) -> Result<(), StoreError> {
        let mut all = self.platform.ledger_storage.borrow_mut();
        let storage = all.entry(self.key_id.clone()).or_default();
        for w in writes {
            match w {
                StorageWrite::Put(k, v) => {
                    storage.insert(k, v);
                }
                StorageWrite::Delete(k) => {
                    storage.remove(&k);
                }
            }
        }
        Ok(())
    }

    async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.platform.kv_get(key).await
    }

    async fn kv_put(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), StoreError> {
        self.platform.kv_put(key, value, ttl).await
    }

    async fn kv_delete(&self, key: &str) -> Result<(), StoreError> {
        self.platform.kv_delete(key).await
    }

    async fn call_ledger(
        &self,
        key_id: &str,
        request: &LedgerRequest,
    ) -> Result<LedgerAnswer, StoreError> {
        match self.platform.object_calls_before_hang.get() {
            Some(0) => std::future::pending::<()>().await,
            Some(n) => self.platform.object_calls_before_hang.set(Some(n - 1)),
            None => {}
        }
        let body = serde_json::to_string(request).map_err(|e| StoreError(e.to_string()))?;
        let text = Box::pin(self.platform.key_ledger_call(key_id, body)).await?;
        crate::api_key::ledger::client::parse_answer(&text)
    }
}

/// Polls a future that is stuck (see `object_calls_before_hang`) a few times and drops it half-way, as a
/// Durable Object evicted mid-call loses what it held in memory.
pub fn cut_off<F: Future>(f: F) {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..100 {
        assert!(
            f.as_mut().poll(&mut cx).is_pending(),
            "the call finished; nothing was cut off"
        );
    }
}

/// Runs a future that never waits on anything real (every `FakePlatform` call is ready at once).
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("future did not complete: a test awaited something the fake cannot provide");
}

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
    /// The DPoP replay objects, one per key thumbprint (issue 13).
    pub dpop: RefCell<HashMap<String, crate::dpop::replay::ReplayLog>>,
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

    pub fn dpop_call(&self, shard: &str, body: &str, now_secs: u64) -> Result<String, StoreError> {
        if self.down.get() {
            return Err(StoreError(
                "DPoP replay object unreachable (simulated)".into(),
            ));
        }
        let mut objects = self.dpop.borrow_mut();
        objects
            .entry(shard.to_string())
            .or_default()
            .handle(body, now_secs)
            .map(|(answer, _)| serde_json::to_string(&answer).unwrap_or_default())
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
