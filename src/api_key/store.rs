//! `ApiKeyStore`: verification of presented keys (checksum → hash → isolate cache → KV) and the
//! admin operations.
//!
//! KV layout (docs/storage.md):
//! - `apikey:hash:<sha256hex>` → the `ApiKeyRecord` JSON. The only entry the request path reads.
//! - `apikey:id:<key_id>` → `<sha256hex>`. Lets the admin API address keys by their public id
//!   without the plaintext ever being stored.
//!
//! Both entries of a key carry the same KV expiration: 30 days after the key expires or is revoked
//! (`RETENTION_SECS`), so dead keys answer `api_key_expired` / `api_key_revoked` for a month and
//! then disappear by themselves.
//!
//! KV is the read path, not the authority: every admin write goes to the key's ledger object
//! (`ledger`, one Durable Object per key), which serializes the writes to its key, enforces the
//! rules and then writes KV. Listings still read KV.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::identity::{AuthMethod, Identity};
use crate::log::{self, Event};
use crate::platform::{Platform, StoreError};

use super::cache::{ApiKeyCache, CachedLookup};
use super::format::{self, generate_key, key_hash, parse_key, KEY_RANDOM_BYTES};
use super::ledger::client::{Done, IdempotencyClaim, LedgerRequest, SuccessorExpiry};
use super::ledger::{self, IdempotencyKey};
use super::record::{ApiKeyRecord, KeyStatus};
use super::{ApiKeyConfig, ApiKeyError, MAX_GRACE_SECS};

pub(crate) const HASH_KEY_PREFIX: &str = "apikey:hash:";
pub(crate) const ID_KEY_PREFIX: &str = "apikey:id:";
/// How long KV keeps a key's entries after it expired or was revoked.
pub(crate) const RETENTION_SECS: u64 = 30 * 86_400;
/// Workers KV refuses a shorter `expirationTtl`.
pub(crate) const KV_MIN_TTL_SECS: u64 = 60;
pub(crate) const MAX_LIST_LIMIT: u32 = 100;

pub fn hash_kv_key(hash: &str) -> String {
    format!("{HASH_KEY_PREFIX}{hash}")
}

pub fn id_kv_key(key_id: &str) -> String {
    format!("{ID_KEY_PREFIX}{key_id}")
}

/// The `expiration_ttl` for both KV entries of `record` at `now`: `None` while the key has neither
/// an expiry nor a revocation.
pub fn kv_expiration_ttl(record: &ApiKeyRecord, now: u64) -> Option<u64> {
    let end = match (record.expires_at, record.revoked_at) {
        (Some(e), Some(r)) => e.min(r),
        (Some(e), None) => e,
        (None, Some(r)) => r,
        (None, None) => return None,
    };
    Some(
        end.saturating_add(RETENTION_SECS)
            .saturating_sub(now)
            .max(KV_MIN_TTL_SECS),
    )
}

/// One KV write: `(key, value, expiration_ttl)`.
pub(crate) type KvEntry = (String, String, Option<u64>);

/// The two KV entries of a new key, exactly as `create` writes them: for offline seeding
/// (`portcullis keys seed` → `wrangler kv bulk put`).
pub fn kv_entries(hash: &str, record: &ApiKeyRecord, now: u64) -> [KvEntry; 2] {
    let ttl = kv_expiration_ttl(record, now);
    // A record of strings, numbers and a string map always serialises.
    let json = serde_json::to_string(record).unwrap_or_default();
    [
        (hash_kv_key(hash), json, ttl),
        (id_kv_key(&record.key_id), hash.to_string(), ttl),
    ]
}

/// How much staleness a route tolerates when checking a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Freshness {
    /// Isolate cache, then KV: a revocation takes up to `revocation_delay_bound_secs` to apply.
    #[default]
    Cached,
    /// Skips the isolate cache (KV propagation still applies). This is the seam for the
    /// Durable Object revocation check: the revocation work adds its consultation here, so routes
    /// that ask for `Strong` today get the stronger check without changing.
    Strong,
}

/// Input of `create`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewKey {
    pub client_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<u64>,
    pub rate_limit_policy: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// Input of `update`: `None` leaves a field alone; `Some(None)` clears an optional one. It travels
/// to the key's ledger object as JSON (absent: leave alone; `null`: clear).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::ledger::client::nullable"
    )]
    pub expires_at: Option<Option<u64>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::ledger::client::nullable"
    )]
    pub rate_limit_policy: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

impl KeyPatch {
    pub fn is_empty(&self) -> bool {
        *self == KeyPatch::default()
    }
}

/// Why an admin operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOpError {
    NotFound(String),
    /// Bad input: `(field, what is wrong)`.
    Invalid(String, String),
    /// The operation makes no sense for the key's state (rotating a revoked key, …).
    Conflict(String),
    Unavailable(String),
    /// The `Idempotency-Key` was used before with a different request.
    IdempotencyMismatch(String),
}

impl From<StoreError> for StoreOpError {
    fn from(e: StoreError) -> Self {
        StoreOpError::Unavailable(e.0)
    }
}

/// What a create or rotate issued.
#[derive(Debug, Clone, PartialEq)]
pub struct Issued {
    /// The plaintext: shown to the caller once (and again on a replayed idempotent call).
    pub key: String,
    pub record: ApiKeyRecord,
    /// A rotation's old key, as the rotation left it.
    pub previous: Option<ApiKeyRecord>,
    /// The remembered outcome of an earlier call with the same `Idempotency-Key`.
    pub replayed: bool,
}

pub struct ApiKeyStore<'a, P: Platform> {
    pub platform: &'a P,
    pub cache: &'a RefCell<ApiKeyCache>,
    pub config: &'a ApiKeyConfig,
}

impl<'a, P: Platform> ApiKeyStore<'a, P> {
    pub fn new(platform: &'a P, cache: &'a RefCell<ApiKeyCache>, config: &'a ApiKeyConfig) -> Self {
        ApiKeyStore {
            platform,
            cache,
            config,
        }
    }

    // ---------------------------------------------------------------- request path

    /// Checks a presented `X-API-Key` value (never logged, never stored).
    pub async fn authenticate(&self, presented: &str) -> Result<Identity, ApiKeyError> {
        self.authenticate_with(presented, Freshness::Cached).await
    }

    pub async fn authenticate_with(
        &self,
        presented: &str,
        freshness: Freshness,
    ) -> Result<Identity, ApiKeyError> {
        parse_key(presented, &self.config.accepted_prefixes)?;
        let hash = key_hash(presented);
        let record = self.lookup(&hash, freshness).await?;
        let record = record.ok_or(ApiKeyError::Invalid)?;
        record_identity(record, self.platform.now_secs())
    }

    /// Cache, then KV. Definite answers are cached; a KV failure is not (fail closed, retry next
    /// time).
    async fn lookup(
        &self,
        hash: &str,
        freshness: Freshness,
    ) -> Result<Option<ApiKeyRecord>, ApiKeyError> {
        let now_ms = self.platform.now_ms();
        if freshness == Freshness::Cached {
            // The borrow ends with this statement: never held across an await.
            let cached = self.cache.borrow_mut().get(hash, now_ms);
            match cached {
                Some(CachedLookup::Found(record)) => return Ok(Some(record)),
                Some(CachedLookup::NotFound) => return Ok(None),
                None => {}
            }
        }
        let raw = self.platform.kv_get(&hash_kv_key(hash)).await?;
        let now_ms = self.platform.now_ms();
        let Some(raw) = raw else {
            self.cache.borrow_mut().insert_not_found(
                hash,
                now_ms,
                self.config.negative_cache_ttl_secs,
            );
            return Ok(None);
        };
        let record = self
            .decode_record(&raw)
            .map_err(ApiKeyError::StoreUnavailable)?;
        self.cache.borrow_mut().insert_found(
            hash,
            slim_for_cache(&record, &self.config.metadata_read_by_routes),
            now_ms,
            self.config.positive_cache_ttl_secs,
        );
        Ok(Some(record))
    }

    /// A stored record this build cannot read, or that breaks the record rules, fails closed and
    /// is reported to the operator (by key id only).
    fn decode_record(&self, raw: &str) -> Result<ApiKeyRecord, String> {
        let record: ApiKeyRecord = serde_json::from_str(raw).map_err(|e| {
            log::emit(
                self.platform,
                Event::ApiKeyRecordUnreadable {
                    reason: &e.to_string(),
                },
            );
            "a stored API key record is unreadable".to_string()
        })?;
        record.validate().map_err(|(field, why)| {
            log::emit(
                self.platform,
                Event::ApiKeyRecordInvalid {
                    key_id: &record.key_id,
                    reason: &format!("{field}: {why}"),
                },
            );
            format!("the stored record of {} is invalid", record.key_id)
        })?;
        Ok(record)
    }

    // ---------------------------------------------------------------- admin operations
    //
    // Every change goes through the key's ledger object (`ledger`), which serializes the changes
    // to one key, enforces the rules (one rotation per key, nothing changes a revoked key) and
    // writes KV. Reads of one key ask the object too; listings read KV.

    /// Issues a key. The plaintext is returned here and nowhere else, ever.
    pub async fn create(&self, new: NewKey) -> Result<(String, ApiKeyRecord), StoreOpError> {
        self.create_with(new, None).await.map(|i| (i.key, i.record))
    }

    /// `create`, idempotent when `idempotency` (the caller's key and the request's fingerprint)
    /// is given: a retry within 24 h gets the same key and record again (`replayed`).
    pub async fn create_with(
        &self,
        new: NewKey,
        idempotency: Option<(&IdempotencyKey, String)>,
    ) -> Result<Issued, StoreOpError> {
        let (key, hash, mut record) = self.build(new, None)?;
        if let Some((k, _)) = idempotency {
            record.key_id = k.create_key_id();
        }
        let key_id = record.key_id.clone();
        let idempotency_key = idempotency.as_ref().map(|(k, _)| *k);
        let claim = idempotency.map(|(k, fingerprint)| IdempotencyClaim {
            id: k.id(),
            fingerprint,
            sealed: k.seal(&key_id, &key),
        });
        let request = LedgerRequest::Create {
            hash,
            record,
            idempotency: claim,
        };
        let done = ledger::client::call(self.platform, &key_id, &request).await?;
        self.issued(done, key, idempotency_key).await
    }

    /// The plaintext of what a create or rotate issued: this call's own key, or, for a replayed
    /// answer, the remembered one opened with the caller's `Idempotency-Key`.
    async fn issued(
        &self,
        done: Done,
        fresh_key: String,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<Issued, StoreOpError> {
        let key = if done.replayed {
            let opened = idempotency
                .zip(done.sealed.as_deref())
                .and_then(|(k, sealed)| k.open(&done.record.key_id, &done.hash, sealed))
                .filter(|plain| key_hash(plain) == done.hash);
            let key = opened.ok_or_else(|| {
                StoreOpError::Unavailable("the remembered key could not be opened".into())
            })?;
            // The remembered records are as the first call left them; the key may have been
            // revoked (or have expired) since. Its own object says: a key that no longer works is
            // never handed out again as if it were new.
            let now_record = self.get(&done.record.key_id).await?;
            let id = &now_record.key_id;
            match now_record.status(self.platform.now_secs()) {
                KeyStatus::Active => {}
                KeyStatus::Revoked => {
                    return Err(StoreOpError::Conflict(format!(
                        "{id}, issued under this Idempotency-Key, has been revoked since; create or rotate with a new Idempotency-Key"
                    )))
                }
                KeyStatus::Expired => {
                    return Err(StoreOpError::Conflict(format!(
                        "{id}, issued under this Idempotency-Key, has expired since; create or rotate with a new Idempotency-Key"
                    )))
                }
            }
            key
        } else {
            fresh_key
        };
        self.cache_record(&done.hash, &done.record);
        if let (Some(previous), Some(hash)) = (&done.previous, &done.previous_hash) {
            self.cache_record(hash, previous);
        }
        Ok(Issued {
            key,
            record: done.record,
            previous: done.previous,
            replayed: done.replayed,
        })
    }

    /// A fresh key and its validated record, not yet stored: `(plaintext, hash, record)`.
    fn build(
        &self,
        new: NewKey,
        rotated_from: Option<String>,
    ) -> Result<(String, String, ApiKeyRecord), StoreOpError> {
        let now = self.platform.now_secs();
        if new.expires_at.is_some_and(|exp| exp <= now) {
            return Err(invalid("expires_at", "must be in the future"));
        }
        let key_id = self.new_key_id()?;
        let mut random = [0u8; KEY_RANDOM_BYTES];
        self.platform.random_bytes(&mut random);
        let key = generate_key(&self.config.prefix, &random);
        let record = ApiKeyRecord {
            key_id,
            client_id: new.client_id,
            name: new.name,
            prefix: self.config.prefix.clone(),
            scopes: new.scopes,
            created_at: now,
            updated_at: None,
            expires_at: new.expires_at,
            revoked_at: None,
            revoked_reason: None,
            rate_limit_policy: new.rate_limit_policy,
            metadata: new.metadata,
            rotated_from,
            rotated_to: None,
        };
        record
            .validate()
            .map_err(|(f, why)| StoreOpError::Invalid(f.into(), why))?;
        let hash = key_hash(&key);
        Ok((key, hash, record))
    }

    /// The record of `key_id` (never the key), as its object holds it.
    pub async fn get(&self, key_id: &str) -> Result<ApiKeyRecord, StoreOpError> {
        if !format::is_valid_key_id(key_id) {
            return Err(StoreOpError::NotFound(key_id.to_string()));
        }
        let done = ledger::client::call(self.platform, key_id, &LedgerRequest::Get).await?;
        Ok(done.record)
    }

    /// One page of keys in key-id order, optionally only those of `client_id` (a filtered page may
    /// hold fewer than `limit` records; follow the cursor until it is `None`).
    pub async fn list(
        &self,
        cursor: Option<&str>,
        limit: u32,
        client_id: Option<&str>,
    ) -> Result<(Vec<ApiKeyRecord>, Option<String>), StoreOpError> {
        let limit = limit.clamp(1, MAX_LIST_LIMIT);
        let page = self.platform.kv_list(ID_KEY_PREFIX, cursor, limit).await?;
        let mut records = Vec::with_capacity(page.keys.len());
        for kv_key in &page.keys {
            let Some(key_id) = kv_key.strip_prefix(ID_KEY_PREFIX) else {
                continue;
            };
            match self.load(key_id).await {
                Ok((_, record)) => {
                    if client_id.is_none_or(|c| c == record.client_id) {
                        records.push(record);
                    }
                }
                // The index outlived its record (retention expiry race): not a key any more.
                Err(StoreOpError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok((records, page.cursor))
    }

    /// Changes name, scopes, expiry, rate-limit policy or metadata. Revoked keys stay as they are.
    pub async fn update(
        &self,
        key_id: &str,
        patch: KeyPatch,
    ) -> Result<ApiKeyRecord, StoreOpError> {
        if !format::is_valid_key_id(key_id) {
            return Err(StoreOpError::NotFound(key_id.to_string()));
        }
        let done =
            ledger::client::call(self.platform, key_id, &LedgerRequest::Update { patch }).await?;
        self.cache_record(&done.hash, &done.record);
        Ok(done.record)
    }

    /// Issues a successor with the same client, name, scopes, policy and metadata; the old key
    /// keeps working until `now + grace_secs` (capped by its own expiry), then stops. The
    /// successor's expiry: `expires_at` when given (`Some(None)`: none), else the old key's
    /// lifetime again, counted from now (none if the old key had none).
    /// Returns `(plaintext, successor, old)`.
    pub async fn rotate(
        &self,
        key_id: &str,
        grace_secs: Option<u64>,
        expires_at: Option<Option<u64>>,
    ) -> Result<(String, ApiKeyRecord, ApiKeyRecord), StoreOpError> {
        let issued = self
            .rotate_with(key_id, grace_secs, expires_at, None)
            .await?;
        let previous = issued.previous.ok_or_else(|| {
            StoreOpError::Unavailable("the rotation's answer lacks the old key".into())
        })?;
        Ok((issued.key, issued.record, previous))
    }

    /// `rotate`, idempotent when `idempotency` is given (see `create_with`).
    pub async fn rotate_with(
        &self,
        key_id: &str,
        grace_secs: Option<u64>,
        expires_at: Option<Option<u64>>,
        idempotency: Option<(&IdempotencyKey, String)>,
    ) -> Result<Issued, StoreOpError> {
        let grace = grace_secs.unwrap_or(self.config.default_grace_secs);
        if grace > MAX_GRACE_SECS {
            return Err(invalid("grace_secs", &format!("at most {MAX_GRACE_SECS}")));
        }
        if !format::is_valid_key_id(key_id) {
            return Err(StoreOpError::NotFound(key_id.to_string()));
        }
        if let Some(Some(exp)) = expires_at {
            if exp <= self.platform.now_secs() {
                return Err(invalid("expires_at", "must be in the future"));
            }
        }
        let successor_id = self.new_key_id()?;
        let mut random = [0u8; KEY_RANDOM_BYTES];
        self.platform.random_bytes(&mut random);
        let key = generate_key(&self.config.prefix, &random);
        let idempotency_key = idempotency.as_ref().map(|(k, _)| *k);
        let claim = idempotency.map(|(k, fingerprint)| IdempotencyClaim {
            id: k.id(),
            fingerprint,
            sealed: k.seal(&successor_id, &key),
        });
        let request = LedgerRequest::Rotate {
            grace_secs: grace,
            expires: SuccessorExpiry::from_request(expires_at),
            prefix: self.config.prefix.clone(),
            successor_id,
            successor_hash: key_hash(&key),
            idempotency: claim,
        };
        let done = ledger::client::call(self.platform, key_id, &request).await?;
        self.issued(done, key, idempotency_key).await
    }

    /// Revokes at once (in this isolate) and within the documented bound everywhere. Idempotent:
    /// revoking a revoked key returns it unchanged. Returns `(record, newly_revoked)`.
    pub async fn revoke(
        &self,
        key_id: &str,
        reason: Option<String>,
    ) -> Result<(ApiKeyRecord, bool), StoreOpError> {
        if !format::is_valid_key_id(key_id) {
            return Err(StoreOpError::NotFound(key_id.to_string()));
        }
        let done =
            ledger::client::call(self.platform, key_id, &LedgerRequest::Revoke { reason }).await?;
        self.cache_record(&done.hash, &done.record);
        Ok((done.record, done.changed))
    }

    // ---------------------------------------------------------------- internals

    async fn load(&self, key_id: &str) -> Result<(String, ApiKeyRecord), StoreOpError> {
        if !format::is_valid_key_id(key_id) {
            return Err(StoreOpError::NotFound(key_id.to_string()));
        }
        let Some(hash) = self.platform.kv_get(&id_kv_key(key_id)).await? else {
            return Err(StoreOpError::NotFound(key_id.to_string()));
        };
        if hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            log::emit(
                self.platform,
                Event::ApiKeyIndexInvalid {
                    key_id,
                    reason: "id entry is not a hash",
                },
            );
            return Err(StoreOpError::Unavailable(format!(
                "the index entry of {key_id} is invalid"
            )));
        }
        let Some(raw) = self.platform.kv_get(&hash_kv_key(&hash)).await? else {
            return Err(StoreOpError::NotFound(key_id.to_string()));
        };
        let record = self
            .decode_record(&raw)
            .map_err(StoreOpError::Unavailable)?;
        if record.key_id != key_id {
            log::emit(
                self.platform,
                Event::ApiKeyIndexMismatch {
                    key_id,
                    reason: "record names another id",
                },
            );
            return Err(StoreOpError::Unavailable(format!(
                "the index entry of {key_id} points at another key"
            )));
        }
        Ok((hash, record))
    }

    /// The isolate that served an admin write enforces it at once.
    fn cache_record(&self, hash: &str, record: &ApiKeyRecord) {
        let now_ms = self.platform.now_ms();
        let mut cache = self.cache.borrow_mut();
        cache.invalidate(hash);
        cache.insert_found(
            hash,
            slim_for_cache(record, &self.config.metadata_read_by_routes),
            now_ms,
            self.config.positive_cache_ttl_secs,
        );
    }

    fn new_key_id(&self) -> Result<String, StoreOpError> {
        for _ in 0..8 {
            let mut random = [0u8; 32];
            self.platform.random_bytes(&mut random);
            if let Some(id) = format::key_id_from_random(&random) {
                return Ok(id);
            }
        }
        Err(StoreOpError::Unavailable(
            "the CSPRNG returned implausible output".into(),
        ))
    }
}

/// The identity of a key whose record is `record`, or why the key is refused at `now`: the store's
/// request path and `portcullis explain` (an API-key record given offline) judge a record here.
pub(crate) fn record_identity(record: ApiKeyRecord, now: u64) -> Result<Identity, ApiKeyError> {
    match record.status(now) {
        KeyStatus::Revoked => Err(ApiKeyError::Revoked {
            revoked_at: record.revoked_at.unwrap_or_default(),
            key_id: record.key_id,
        }),
        KeyStatus::Expired => Err(ApiKeyError::Expired {
            expired_at: record.expires_at.unwrap_or_default(),
            key_id: record.key_id,
        }),
        KeyStatus::Active => Ok(Identity {
            method: AuthMethod::ApiKey,
            subject: record.client_id.clone(),
            issuer: None,
            scopes: record.scopes,
            token_id: None,
            expires_at: record.expires_at,
            issued_at: None,
            client_id: Some(record.client_id),
            key_id: Some(record.key_id),
            rate_limit_policy: record.rate_limit_policy,
            holder: Default::default(),
            session_id: None,
            // Routes' `require` conditions read an API key's metadata (strings).
            claims: crate::claims::IdentityClaims {
                headers: Vec::new(),
                values: record
                    .metadata
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect(),
            },
            user_auth: Default::default(),
        }),
    }
}

/// The request path needs neither the revocation reason nor the metadata — except the entries
/// routes' `require` conditions read (`keep`); dropping the rest keeps the cache's worst case at
/// about 3 KB per entry plus those.
fn slim_for_cache(record: &ApiKeyRecord, keep: &[String]) -> ApiKeyRecord {
    ApiKeyRecord {
        metadata: record
            .metadata
            .iter()
            .filter(|(k, _)| keep.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        revoked_reason: None,
        name: String::new(),
        ..record.clone()
    }
}

fn invalid(field: &str, why: &str) -> StoreOpError {
    StoreOpError::Invalid(field.to_string(), why.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{block_on, FakePlatform};

    const T0: u64 = 1_700_000_000;

    struct Env {
        platform: FakePlatform,
        cache: RefCell<ApiKeyCache>,
        config: ApiKeyConfig,
    }

    impl Env {
        fn new() -> Self {
            Env {
                platform: FakePlatform::new(T0),
                cache: RefCell::new(ApiKeyCache::new(1000)),
                config: ApiKeyConfig::default(),
            }
        }
        fn store(&self) -> ApiKeyStore<'_, FakePlatform> {
            ApiKeyStore::new(&self.platform, &self.cache, &self.config)
        }
        /// Another isolate: same KV and clock, its own (empty) cache.
        fn other_isolate_cache(&self) -> RefCell<ApiKeyCache> {
            RefCell::new(ApiKeyCache::new(1000))
        }
        fn create(&self, expires_at: Option<u64>) -> (String, ApiKeyRecord) {
            block_on(self.store().create(new_key(expires_at))).unwrap()
        }
        fn auth(&self, key: &str) -> Result<Identity, ApiKeyError> {
            block_on(self.store().authenticate(key))
        }
    }

    fn new_key(expires_at: Option<u64>) -> NewKey {
        NewKey {
            client_id: "billing-exporter".into(),
            name: "billing exporter".into(),
            scopes: vec!["invoices:read".into(), "invoices:write".into()],
            expires_at,
            rate_limit_policy: Some("machines".into()),
            metadata: BTreeMap::from([("team".into(), "billing".into())]),
        }
    }

    #[test]
    fn create_then_authenticate() {
        let env = Env::new();
        let (key, record) = env.create(None);
        assert!(key.starts_with("pc_test_"));
        assert!(format::is_valid_key_id(&record.key_id));
        assert_eq!(record.created_at, T0);
        let id = env.auth(&key).unwrap();
        assert_eq!(
            id,
            Identity {
                method: AuthMethod::ApiKey,
                subject: "billing-exporter".into(),
                issuer: None,
                scopes: vec!["invoices:read".into(), "invoices:write".into()],
                token_id: None,
                expires_at: None,
                issued_at: None,
                client_id: Some("billing-exporter".into()),
                key_id: Some(record.key_id.clone()),
                rate_limit_policy: Some("machines".into()),
                claims: Default::default(),
                holder: Default::default(),
                session_id: None,
                user_auth: Default::default(),
            }
        );
        // KV holds the hash, the record and the index; the plaintext nowhere.
        let hash = key_hash(&key);
        let kv = env.platform.kv.borrow();
        assert_eq!(kv.len(), 2);
        assert_eq!(kv.get(&id_kv_key(&record.key_id)).unwrap().0, hash);
        let stored: ApiKeyRecord =
            serde_json::from_str(&kv.get(&hash_kv_key(&hash)).unwrap().0).unwrap();
        assert_eq!(stored, record);
        for (k, (v, _)) in kv.iter() {
            assert!(!k.contains(&key) && !v.contains(&key));
            assert!(!v.contains(&key["pc_test_".len()..][..20]));
        }
        assert!(env.platform.logs.borrow().is_empty());
    }

    #[test]
    fn seed_entries_match_what_create_writes() {
        let env = Env::new();
        let (key, record) = env.create(Some(T0 + 500));
        let kv = env.platform.kv.borrow();
        for (k, v, ttl) in kv_entries(&key_hash(&key), &record, T0) {
            assert_eq!(kv.get(&k), Some(&(v, ttl)), "{k}");
        }
    }

    #[test]
    fn positive_results_are_cached_for_their_ttl() {
        let env = Env::new();
        let (key, _) = env.create(None);
        env.cache.borrow_mut().invalidate(&key_hash(&key));
        let reads = env.platform.kv_reads.get();
        env.auth(&key).unwrap();
        assert_eq!(env.platform.kv_reads.get(), reads + 1);
        env.platform.advance_secs(29);
        env.auth(&key).unwrap();
        assert_eq!(
            env.platform.kv_reads.get(),
            reads + 1,
            "served from the cache"
        );
        env.platform.advance_secs(1);
        env.auth(&key).unwrap();
        assert_eq!(env.platform.kv_reads.get(), reads + 2, "TTL over: KV again");
    }

    #[test]
    fn unknown_keys_are_negatively_cached() {
        let env = Env::new();
        let unknown = generate_key("pc_test", &[9; 16]);
        assert_eq!(env.auth(&unknown), Err(ApiKeyError::Invalid));
        assert_eq!(env.platform.kv_reads.get(), 1);
        for _ in 0..50 {
            assert_eq!(env.auth(&unknown), Err(ApiKeyError::Invalid));
        }
        assert_eq!(
            env.platform.kv_reads.get(),
            1,
            "one KV read per negative TTL"
        );
        env.platform.advance_secs(30);
        assert_eq!(env.auth(&unknown), Err(ApiKeyError::Invalid));
        assert_eq!(env.platform.kv_reads.get(), 2);
    }

    #[test]
    fn malformed_keys_never_reach_kv() {
        let env = Env::new();
        let (key, _) = env.create(None);
        let mut typo = key.clone().into_bytes();
        typo[12] = if typo[12] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        let live = generate_key("pc_live", &[1; 16]);
        for bad in [
            String::new(),
            "x".repeat(10 * 1024),
            "pc_test_ÄÖÜ".to_string(),
            typo,
            live,
            key[..key.len() - 1].to_string(),
        ] {
            assert!(
                matches!(env.auth(&bad), Err(ApiKeyError::Malformed(_))),
                "{bad:.40}"
            );
        }
        assert_eq!(env.platform.kv_reads.get(), 0);
        assert!(
            env.cache.borrow().len() <= 1,
            "malformed keys are not cached"
        );
    }

    #[test]
    fn expiry_is_honoured_even_from_the_cache() {
        let env = Env::new();
        let (key, record) = env.create(Some(T0 + 100));
        assert_eq!(env.auth(&key).unwrap().expires_at, Some(T0 + 100));
        env.platform.advance_secs(99);
        env.auth(&key).unwrap();
        env.platform.advance_secs(1);
        assert_eq!(
            env.auth(&key),
            Err(ApiKeyError::Expired {
                key_id: record.key_id,
                expired_at: T0 + 100
            })
        );
    }

    #[test]
    fn rotation_keeps_both_keys_valid_for_the_grace_period() {
        let env = Env::new();
        let (old_key, old) = env.create(None);
        env.platform.advance_secs(10);
        let (new_key, successor, old_after) =
            block_on(env.store().rotate(&old.key_id, Some(3600), None)).unwrap();
        assert_ne!(new_key, old_key);
        assert_eq!(successor.client_id, old.client_id);
        assert_eq!(successor.scopes, old.scopes);
        assert_eq!(successor.name, old.name);
        assert_eq!(successor.metadata, old.metadata);
        assert_eq!(successor.rate_limit_policy, old.rate_limit_policy);
        assert_eq!(successor.rotated_from.as_deref(), Some(old.key_id.as_str()));
        assert_eq!(successor.expires_at, None);
        assert_eq!(
            old_after.rotated_to.as_deref(),
            Some(successor.key_id.as_str())
        );
        assert_eq!(old_after.expires_at, Some(T0 + 10 + 3600));
        assert_eq!(block_on(env.store().get(&old.key_id)).unwrap(), old_after);

        // Both work in this isolate and in one that never saw the rotation.
        let other = env.other_isolate_cache();
        let other_store = ApiKeyStore::new(&env.platform, &other, &env.config);
        for k in [&old_key, &new_key] {
            env.auth(k).unwrap();
            block_on(other_store.authenticate(k)).unwrap();
        }
        env.platform.advance_secs(3599);
        env.auth(&old_key).unwrap();
        env.platform.advance_secs(1);
        assert_eq!(
            env.auth(&old_key),
            Err(ApiKeyError::Expired {
                key_id: old.key_id.clone(),
                expired_at: T0 + 3610
            })
        );
        assert!(matches!(
            block_on(other_store.authenticate(&old_key)),
            Err(ApiKeyError::Expired { .. })
        ));
        assert_eq!(
            env.auth(&new_key).unwrap().key_id.as_deref(),
            Some(successor.key_id.as_str())
        );
        // One rotation per key: the successor is the one to rotate next.
        assert!(matches!(
            block_on(env.store().rotate(&old.key_id, None, None)),
            Err(StoreOpError::Conflict(_))
        ));
    }

    #[test]
    fn rotation_defaults_and_expiry_rules() {
        let env = Env::new();
        // Default grace from config; an earlier own expiry wins over the deadline.
        let (_, a) = env.create(None);
        let (_, _, a_old) = block_on(env.store().rotate(&a.key_id, None, None)).unwrap();
        assert_eq!(a_old.expires_at, Some(T0 + 86_400));
        let (_, b) = env.create(Some(T0 + 1000));
        env.platform.advance_secs(100);
        let (_, b_new, b_old) = block_on(env.store().rotate(&b.key_id, None, None)).unwrap();
        assert_eq!(b_old.expires_at, Some(T0 + 1000));
        // The successor gets the old key's lifetime again, from now.
        assert_eq!(b_new.expires_at, Some(T0 + 100 + 1000));
        // Or an explicit expiry (or none).
        let (_, c) = env.create(Some(T0 + 5000));
        let (_, c_new, _) = block_on(env.store().rotate(&c.key_id, Some(0), Some(None))).unwrap();
        assert_eq!(c_new.expires_at, None);
        // Grace 0 ends the old key now.
        let got = block_on(env.store().get(&c.key_id)).unwrap();
        assert_eq!(got.status(env.platform.now_secs()), KeyStatus::Expired);
        // Bounds and states.
        let (_, d) = env.create(None);
        assert_eq!(
            block_on(
                env.store()
                    .rotate(&d.key_id, Some(MAX_GRACE_SECS + 1), None)
            ),
            Err(StoreOpError::Invalid(
                "grace_secs".into(),
                format!("at most {MAX_GRACE_SECS}")
            ))
        );
        block_on(env.store().revoke(&d.key_id, None)).unwrap();
        assert!(matches!(
            block_on(env.store().rotate(&d.key_id, None, None)),
            Err(StoreOpError::Conflict(_))
        ));
        assert_eq!(
            block_on(env.store().rotate("key_0000000000000000", None, None)),
            Err(StoreOpError::NotFound("key_0000000000000000".into()))
        );
    }

    #[test]
    fn revocation_applies_at_once_here_and_within_the_ttl_elsewhere() {
        let env = Env::new();
        let (key, record) = env.create(None);
        // Another isolate has the key cached as valid.
        let other = env.other_isolate_cache();
        let other_store = ApiKeyStore::new(&env.platform, &other, &env.config);
        block_on(other_store.authenticate(&key)).unwrap();

        let (revoked, newly) = block_on(
            env.store()
                .revoke(&record.key_id, Some("leaked in CI log".into())),
        )
        .unwrap();
        assert!(newly);
        assert_eq!(revoked.revoked_at, Some(T0));
        let expected = Err(ApiKeyError::Revoked {
            key_id: record.key_id.clone(),
            revoked_at: T0,
        });
        assert_eq!(env.auth(&key), expected, "this isolate: immediately");
        // The other isolate: still served from its cache until the positive TTL runs out...
        assert!(block_on(other_store.authenticate(&key)).is_ok());
        // ...unless the route demands a strong check.
        assert_eq!(
            block_on(other_store.authenticate_with(&key, Freshness::Strong)),
            expected
        );
        let other2 = env.other_isolate_cache();
        let other_store2 = ApiKeyStore::new(&env.platform, &other2, &env.config);
        block_on(other_store2.authenticate(&key)).unwrap_err();
        let other3 = env.other_isolate_cache();
        let s3 = ApiKeyStore::new(&env.platform, &other3, &env.config);
        // Fresh isolate with a stale positive entry from before the revoke:
        other3.borrow_mut().insert_found(
            &key_hash(&key),
            record.clone(),
            env.platform.now_ms(),
            30,
        );
        env.platform
            .advance_secs(env.config.positive_cache_ttl_secs);
        assert_eq!(block_on(s3.authenticate(&key)), expected);
        // Revoking twice is harmless and keeps the first timestamp.
        env.platform.advance_secs(5);
        let (again, newly) = block_on(env.store().revoke(&record.key_id, None)).unwrap();
        assert!(!newly);
        assert_eq!(again.revoked_at, Some(T0));
        assert_eq!(again.revoked_reason.as_deref(), Some("leaked in CI log"));
    }

    #[test]
    fn kv_failure_fails_closed_and_is_not_cached() {
        let env = Env::new();
        let (key, _) = env.create(None);
        let unknown = generate_key("pc_test", &[5; 16]);
        env.cache.borrow_mut().invalidate(&key_hash(&key));
        env.platform.kv_down.set(true);
        for k in [&key, &unknown] {
            let err = env.auth(k).unwrap_err();
            assert!(matches!(err, ApiKeyError::StoreUnavailable(_)), "{err:?}");
            assert_eq!(err.code().status(), 503);
        }
        assert!(
            env.cache.borrow().is_empty(),
            "no verdict cached from a failure"
        );
        env.platform.kv_down.set(false);
        env.auth(&key).unwrap();
        assert_eq!(env.auth(&unknown), Err(ApiKeyError::Invalid));
        // Admin operations fail closed too.
        env.platform.kv_down.set(true);
        assert!(matches!(
            block_on(env.store().create(new_key(None))),
            Err(StoreOpError::Unavailable(_))
        ));
    }

    #[test]
    fn a_corrupt_record_fails_closed_and_is_logged_without_secrets() {
        let env = Env::new();
        let (key, record) = env.create(None);
        let hash = key_hash(&key);
        env.cache.borrow_mut().invalidate(&hash);
        env.platform
            .kv
            .borrow_mut()
            .insert(hash_kv_key(&hash), ("{not json".into(), None));
        assert!(matches!(
            env.auth(&key),
            Err(ApiKeyError::StoreUnavailable(_))
        ));
        // A record that breaks the rules (header injection through a hand-seeded client id).
        let mut bad = record.clone();
        bad.client_id = "x\r\nx-admin: 1".into();
        env.platform.kv.borrow_mut().insert(
            hash_kv_key(&hash),
            (serde_json::to_string(&bad).unwrap(), None),
        );
        assert!(matches!(
            env.auth(&key),
            Err(ApiKeyError::StoreUnavailable(_))
        ));
        assert!(env.cache.borrow().is_empty());
        let logs = env.platform.logs.borrow();
        assert_eq!(logs.len(), 2);
        assert!(logs[1].contains(&record.key_id) && logs[1].contains("client_id"));
        for line in logs.iter() {
            assert!(!line.contains(&key) && !line.contains(&hash));
        }
    }

    #[test]
    fn update_changes_what_the_next_request_sees() {
        let env = Env::new();
        let (key, record) = env.create(None);
        env.platform.advance_secs(5);
        let updated = block_on(env.store().update(
            &record.key_id,
            KeyPatch {
                scopes: Some(vec!["invoices:read".into()]),
                name: Some("read-only exporter".into()),
                expires_at: Some(Some(T0 + 1000)),
                rate_limit_policy: Some(None),
                metadata: None,
            },
        ))
        .unwrap();
        assert_eq!(updated.scopes, vec!["invoices:read".to_string()]);
        assert_eq!(updated.updated_at, Some(T0 + 5));
        assert_eq!(updated.metadata, record.metadata);
        let id = env.auth(&key).unwrap();
        assert_eq!(id.scopes, vec!["invoices:read".to_string()]);
        assert_eq!(id.rate_limit_policy, None);
        assert_eq!(id.expires_at, Some(T0 + 1000));
        // Both entries now expire 30 days after the key does.
        let ttl = T0 + 1000 + RETENTION_SECS - (T0 + 5);
        assert_eq!(
            env.platform.kv_ttl(&hash_kv_key(&key_hash(&key))),
            Some(ttl)
        );
        assert_eq!(env.platform.kv_ttl(&id_kv_key(&record.key_id)), Some(ttl));
        // Bad values are named.
        assert_eq!(
            block_on(env.store().update(
                &record.key_id,
                KeyPatch {
                    scopes: Some(vec!["a b".into()]),
                    ..KeyPatch::default()
                }
            ))
            .unwrap_err(),
            StoreOpError::Invalid(
                "scopes".into(),
                format!("scope 0: {}", crate::scope::GRAMMAR)
            )
        );
        assert!(matches!(
            block_on(env.store().update(
                &record.key_id,
                KeyPatch {
                    expires_at: Some(Some(T0)),
                    ..KeyPatch::default()
                }
            )),
            Err(StoreOpError::Invalid(f, _)) if f == "expires_at"
        ));
        block_on(env.store().revoke(&record.key_id, None)).unwrap();
        assert!(matches!(
            block_on(env.store().update(&record.key_id, KeyPatch::default())),
            Err(StoreOpError::Conflict(_))
        ));
    }

    #[test]
    fn list_pages_through_every_key() {
        let env = Env::new();
        let mut ids = Vec::new();
        for i in 0..7 {
            let mut n = new_key(None);
            if i % 2 == 0 {
                n.client_id = "other".into();
            }
            ids.push(block_on(env.store().create(n)).unwrap().1.key_id);
        }
        ids.sort();
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let (records, next) = block_on(env.store().list(cursor.as_deref(), 3, None)).unwrap();
            assert!(records.len() <= 3);
            seen.extend(records.into_iter().map(|r| r.key_id));
            pages += 1;
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, ids);
        let (others, _) = block_on(env.store().list(None, 100, Some("other"))).unwrap();
        assert_eq!(others.len(), 4);
        assert!(others.iter().all(|r| r.client_id == "other"));
    }

    #[test]
    fn create_validates_input() {
        let env = Env::new();
        let mut n = new_key(Some(T0));
        assert_eq!(
            block_on(env.store().create(n.clone())),
            Err(StoreOpError::Invalid(
                "expires_at".into(),
                "must be in the future".into()
            ))
        );
        n.expires_at = None;
        n.client_id = String::new();
        assert!(matches!(
            block_on(env.store().create(n)),
            Err(StoreOpError::Invalid(f, _)) if f == "client_id"
        ));
        assert!(env.platform.kv.borrow().is_empty());
    }

    #[test]
    fn kv_entries_expire_after_retention_and_never_below_the_kv_minimum() {
        let env = Env::new();
        let (key, record) = env.create(Some(T0 + 10));
        let ttl = env.platform.kv_ttl(&hash_kv_key(&key_hash(&key)));
        assert_eq!(ttl, Some(10 + RETENTION_SECS));
        let (forever, _) = env.create(None);
        assert_eq!(env.platform.kv_ttl(&hash_kv_key(&key_hash(&forever))), None);
        let mut old = record;
        old.expires_at = Some(1);
        assert_eq!(kv_expiration_ttl(&old, T0), Some(KV_MIN_TTL_SECS));
        old.revoked_at = Some(0);
        assert_eq!(
            kv_expiration_ttl(&old, RETENTION_SECS - 30),
            Some(KV_MIN_TTL_SECS)
        );
    }

    #[test]
    fn a_failed_rotation_leaves_no_usable_successor() {
        let env = Env::new();
        let (old_key, old) = env.create(None);
        // The successor's two entries are written, then the old key's write fails.
        env.platform.writes_left.set(Some(2));
        let err = block_on(env.store().rotate(&old.key_id, None, None)).unwrap_err();
        assert!(matches!(err, StoreOpError::Unavailable(_)));
        env.platform.writes_left.set(None);
        // The old key is as it was, in its object and in KV, and can still be rotated once.
        let still = block_on(env.store().get(&old.key_id)).unwrap();
        assert_eq!(still, old);
        env.auth(&old_key).unwrap();
        let (_, successor, _) = block_on(env.store().rotate(&old.key_id, None, None)).unwrap();
        // The abandoned successor's object revoked it (its plaintext was never shown anyway).
        let abandoned: Vec<ApiKeyRecord> = env
            .platform
            .ledgers
            .borrow()
            .values()
            .filter_map(|l| l.state().map(|s| s.record.clone()))
            .filter(|r| r.rotated_from.as_deref() == Some(old.key_id.as_str()))
            .filter(|r| r.key_id != successor.key_id)
            .collect();
        assert_eq!(abandoned.len(), 1);
        assert!(abandoned[0].revoked_at.is_some());
        // An unreachable successor object: nothing changes either.
        let (_, other) = env.create(None);
        let kv_before = env.platform.kv.borrow().clone();
        env.platform.writes_left.set(Some(0));
        assert!(block_on(env.store().rotate(&other.key_id, None, None)).is_err());
        env.platform.writes_left.set(None);
        assert_eq!(block_on(env.store().get(&other.key_id)).unwrap(), other);
        // The old key's entries are as they were (its object rewrote them, unchanged, once KV
        // took writes again); the successor that never was left at most its own entries.
        let kv = env.platform.kv.borrow();
        for (k, v) in kv_before.iter() {
            assert_eq!(kv.get(k), Some(v), "{k}");
        }
    }

    #[test]
    fn admin_addressing_refuses_bad_ids_without_kv() {
        let env = Env::new();
        for bad in [
            "",
            "../apikey:hash:x",
            "key_short",
            "key_0000000000000000/rotate",
        ] {
            assert_eq!(
                block_on(env.store().get(bad)),
                Err(StoreOpError::NotFound(bad.into()))
            );
        }
        assert_eq!(env.platform.kv_reads.get(), 0);
    }
}
