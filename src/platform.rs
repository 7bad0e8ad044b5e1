//! The one boundary between the gateway's logic and the runtime it runs on.
//!
//! Everything the pipeline needs from the outside world — the clock, outbound HTTP, signature
//! verification, Workers KV, Durable Objects, logging — goes through `Platform`. The worker
//! (`edge`, wasm32 only) implements it with Workers APIs and WebCrypto; native tests implement it
//! with in-memory state and the pure-Rust verifier. No Workers type crosses this line.
//!
//! Futures here are not `Send`: a Workers isolate is single-threaded.
#![allow(async_fn_in_trait)]

use crate::jose::jwk::Jwk;
use crate::jose::Alg;

/// A response to an outbound GET (JWKS, OpenID discovery).
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub cache_control: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    Timeout,
    TooLarge,
    Network(String),
}

/// A Workers KV (or Durable Object) operation failed; the caller fails closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One page of a KV prefix listing.
#[derive(Debug, Clone, Default)]
pub struct KvPage {
    pub keys: Vec<String>,
    pub cursor: Option<String>,
}

pub trait Platform {
    /// A verification key in the runtime's own form (a WebCrypto `CryptoKey` in the worker), imported
    /// once per JWKS entry and algorithm and kept in the isolate's `JwksCache`.
    type Key: Clone;

    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;

    fn now_secs(&self) -> u64 {
        self.now_ms() / 1000
    }

    /// Fills `buf` from the CSPRNG.
    fn random_bytes(&self, buf: &mut [u8]);

    /// One JSON line to the log: a serialised `log::Event` (callers use `log::emit`) or an admin
    /// audit record. Never a secret.
    fn log(&self, line: &str);

    /// GET `url` with a deadline and a cap on the body size.
    async fn http_get(
        &self,
        url: &str,
        timeout_ms: u32,
        max_bytes: usize,
    ) -> Result<HttpResponse, FetchError>;

    /// Waits without blocking the isolate (used by requests waiting on another request's JWKS fetch).
    async fn sleep(&self, ms: u32);

    /// Imports a public JWK for `alg`. Fails when the runtime refuses the key.
    async fn import_key(&self, jwk: &Jwk, alg: Alg) -> Result<Self::Key, String>;

    /// Verifies a JWS signature over `signing_input`. `false` for any invalid signature.
    async fn verify(
        &self,
        key: &Self::Key,
        alg: Alg,
        signing_input: &[u8],
        signature: &[u8],
    ) -> bool;

    // --- Workers KV (the `PORTCULLIS_KV` namespace)
    async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// `expiration_ttl` in seconds; Workers KV requires at least 60.
    async fn kv_put(
        &self,
        key: &str,
        value: &str,
        expiration_ttl: Option<u64>,
    ) -> Result<(), StoreError>;
    async fn kv_delete(&self, key: &str) -> Result<(), StoreError>;
    async fn kv_list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KvPage, StoreError>;

    // --- Durable Objects: the revocation list and the per-identity rate limiters. Calls are JSON
    // strings both ways. The futures own everything they need (`'static`), so a background sync
    // can run in `wait_until`; a platform without the objects fails every call (fail closed).

    /// One call to the revocation object: `method`, `path` (with query), optional JSON body.
    fn revocation_call(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> impl std::future::Future<Output = Result<String, StoreError>> + 'static {
        let _ = (method, path, body);
        async { Err(StoreError("no revocation service on this platform".into())) }
    }

    /// One call to the rate-limiter object of `identity_key` (one object per identity).
    fn limiter_call(
        &self,
        identity_key: &str,
        body: String,
    ) -> impl std::future::Future<Output = Result<String, StoreError>> + 'static {
        let _ = (identity_key, body);
        async { Err(StoreError("no rate limiter on this platform".into())) }
    }

    /// One call to the API-key ledger object of `key_id` (one object per key, binding
    /// `PORTCULLIS_API_KEYS`): a JSON `LedgerRequest` in, a JSON `LedgerAnswer` out. A platform
    /// without the objects fails every call, so every admin write fails closed.
    async fn key_ledger_call(&self, key_id: &str, body: String) -> Result<String, StoreError> {
        let _ = (key_id, body);
        Err(StoreError("no API-key ledger on this platform".into()))
    }

    /// One call to the passkey store object `object_name` (binding `PORTCULLIS_PASSKEYS`: a
    /// challenge, a user or a credential id, named by `webauthn::client`): a JSON
    /// `webauthn::store::Request` in, a JSON `Answer` out. A platform without the objects fails
    /// every call, so every ceremony fails closed.
    async fn passkey_call(&self, object_name: &str, body: String) -> Result<String, StoreError> {
        let _ = (object_name, body);
        Err(StoreError("no passkey store on this platform".into()))
    }

    /// Runs `fut` after the response without delaying it (Workers `ctx.waitUntil`). Without a
    /// runtime to run it, the future is dropped.
    fn wait_until(&self, fut: impl std::future::Future<Output = ()> + 'static) {
        drop(fut);
    }

    // --- The location tier (`location_cache`): the Workers Cache API, shared by the isolates of
    // one location. Best effort both ways: the callers treat a miss and a failure alike and fall
    // back to the source of truth. The futures own what they need (`'static`), so a background
    // refresh can use them.

    /// The text stored at `url` in the location's cache; `None` when absent or unreadable.
    fn location_get(
        &self,
        url: &str,
    ) -> impl std::future::Future<Output = Option<String>> + 'static {
        let _ = url;
        async { None }
    }

    /// Stores the text `body` gives at `url`, kept for `max_age_secs`. `body` is called when the
    /// future first runs (a background refresh creates the write before its answer arrives);
    /// `None` writes nothing.
    fn location_put(
        &self,
        url: &str,
        max_age_secs: u32,
        body: impl FnOnce() -> Option<String> + 'static,
    ) -> impl std::future::Future<Output = ()> + 'static {
        let _ = (url, max_age_secs, body);
        async {}
    }

    /// One call to the DPoP replay object `shard` (binding `PORTCULLIS_DPOP`, one object per proof
    /// key thumbprint): a JSON `dpop::replay::ReplayRequest` in, a `ReplayAnswer` out. A platform
    /// without the objects fails every call, so every DPoP request fails closed.
    async fn dpop_call(&self, shard: &str, body: String) -> Result<String, StoreError> {
        let _ = (shard, body);
        Err(StoreError("no DPoP replay cache on this platform".into()))
    }

    // --- MFA (docs/mfa.md): the per-subject TOTP object and the sealing of TOTP secrets.

    /// One call to the `MfaSubject` object named `subject_key` (binding `PORTCULLIS_MFA`): a JSON
    /// `mfa::store::MfaRequest` in, a JSON `MfaAnswer` out. A platform without the objects fails
    /// every call, so no code is ever accepted unchecked (fail closed).
    async fn mfa_call(&self, subject_key: &str, body: String) -> Result<String, StoreError> {
        let _ = (subject_key, body);
        Err(StoreError("no MFA store on this platform".into()))
    }

    /// AES-256-GCM encryption (WebCrypto in the worker) with a 96-bit `iv` and associated data
    /// `aad`: the ciphertext followed by the 128-bit tag. The error never carries key material.
    async fn aes_gcm_encrypt(
        &self,
        key: &[u8; 32],
        iv: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, String> {
        let _ = (key, iv, aad, plaintext);
        Err("no AES-GCM on this platform".into())
    }

    /// The inverse of `aes_gcm_encrypt`; an error for a wrong key, IV, associated data or a
    /// modified ciphertext (the tag does not verify).
    async fn aes_gcm_decrypt(
        &self,
        key: &[u8; 32],
        iv: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, String> {
        let _ = (key, iv, aad, sealed);
        Err("no AES-GCM on this platform".into())
    }

    /// Signs `signing_input` with a key of the gateway's signing key set, with the key's own
    /// algorithm: the JWS signature octets (ES256 as raw `r‖s`). The worker imports each key into
    /// WebCrypto once per isolate; an error never carries key material. A platform without a
    /// signer fails every call, so nothing is minted (fail closed).
    async fn sign(
        &self,
        key: &crate::signing::keys::SigningKey,
        signing_input: &[u8],
    ) -> Result<Vec<u8>, String> {
        let _ = (key, signing_input);
        Err("no signer on this platform".into())
    }

    /// One call to the session-family object `family_id` (one object per session, binding
    /// `PORTCULLIS_SESSIONS`): a JSON `session::family::FamilyCall` in, a `FamilyAnswer` out. A
    /// platform without the objects fails every call, so no session endpoint mints anything.
    async fn session_call(&self, family_id: &str, body: String) -> Result<String, StoreError> {
        let _ = (family_id, body);
        Err(StoreError("no session objects on this platform".into()))
    }

    /// POSTs `body` to `url` with `headers`, under a deadline and a cap on the answer's size,
    /// redirects not followed (the login endpoint, `session::login`). Any answer is returned,
    /// whatever its status.
    async fn http_post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
        timeout_ms: u32,
        max_bytes: usize,
    ) -> Result<HttpResponse, FetchError> {
        let _ = (url, headers, body, timeout_ms, max_bytes);
        Err(FetchError::Network(
            "no outbound POST on this platform".into(),
        ))
    }
}
