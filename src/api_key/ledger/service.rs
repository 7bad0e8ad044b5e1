//! The logic of one `ApiKeyLedger` object (one per key id), free of Workers types: the object in
//! `edge` hands each call here, one at a time, through a `LedgerHost` (its storage, KV and the
//! other ledger objects).
//!
//! The object is the authority on its key. It decides every change in memory, persists the new
//! state to its own storage, and only then writes the KV entries the request path reads (KV is the
//! projection). Because calls run one at a time, the read-check-write that KV cannot make atomic
//! happens here without a race: a key is rotated at most once, nothing changes a revoked key, and
//! a revoke keeps its first time and reason.
//!
//! Storage: `state` → `KeyState` (the key's hash and record); `idem:<id>` → `Remembered` (the
//! outcome of a create or rotate that carried an `Idempotency-Key`, for 24 h); `pending` →
//! `Pending` (a change stored but not yet seen through to KV, or a rotation not yet complete).
//!
//! A call can stop anywhere: KV fails, the object is evicted, the runtime resets it. So every
//! change is stored together with what is left to do (`pending`), and the object's next call,
//! whatever it is, first sees that through: it writes KV again, or undoes an unfinished rotation.
//!
//! Migration: an object that holds nothing yet adopts its key's state from KV on the first call
//! that needs it, so keys written before the objects existed keep working and can be changed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::client::{
    Done, IdempotencyClaim, LedgerAnswer, LedgerRequest, Refusal, RefusalKind, SuccessorExpiry,
};
use crate::api_key::format::is_valid_key_id;
use crate::api_key::record::{ApiKeyRecord, KeyStatus};
use crate::api_key::store::{hash_kv_key, id_kv_key, kv_expiration_ttl, KeyPatch};
use crate::api_key::MAX_GRACE_SECS;
use crate::platform::StoreError;
pub(crate) use crate::ratelimit::service::StorageWrite;

pub(crate) const STATE_KEY: &str = "state";
pub(crate) const REMEMBERED_PREFIX: &str = "idem:";
pub(crate) const PENDING_KEY: &str = "pending";
/// How long the outcome of a call with an `Idempotency-Key` is remembered.
pub(crate) const IDEMPOTENCY_WINDOW_SECS: u64 = 86_400;
const MAX_REASON_CHARS: usize = 200;
/// How soon the object's alarm tries again to see through what a failed call left pending.
pub(crate) const RETRY_PENDING_SECS: u64 = 30;

/// What the object holds about its key.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyState {
    /// SHA-256 of the key (hex): where KV keeps the record.
    pub hash: String,
    pub record: ApiKeyRecord,
}

/// The outcome of a create or rotate, remembered under its idempotency id.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Remembered {
    pub fingerprint: String,
    /// Forgotten from this second on.
    pub until: u64,
    pub done: Done,
}

/// What the object stored but has not seen through yet; its next call finishes or undoes it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Pending {
    /// KV may lag `state` (its write failed or never ran): write the key's entries again.
    Projection,
    /// A rotation was decided but did not complete (nobody was shown the successor): go back to
    /// `before`, forget the remembered outcome, discard the successor.
    Rotation {
        before: Box<KeyState>,
        successor_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        claim_id: Option<String>,
    },
}

/// What a ledger object needs from its runtime.
#[allow(async_fn_in_trait)]
pub(crate) trait LedgerHost {
    /// Applies writes to the object's own storage, in order.
    async fn persist(&self, writes: Vec<StorageWrite>) -> Result<(), StoreError>;
    async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError>;
    async fn kv_put(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), StoreError>;
    async fn kv_delete(&self, key: &str) -> Result<(), StoreError>;
    /// One call to another key's object (a rotation's successor).
    async fn call_ledger(
        &self,
        key_id: &str,
        request: &LedgerRequest,
    ) -> Result<LedgerAnswer, StoreError>;
}

/// One key's object.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct KeyLedger {
    key_id: String,
    state: Option<KeyState>,
    remembered: BTreeMap<String, Remembered>,
    pending: Option<Pending>,
    /// Its `state` or `pending` could not be read: every call fails closed (never re-adopt from
    /// KV, which may be behind what the object decided).
    unreadable_state: bool,
}

fn refused(kind: RefusalKind, detail: impl Into<String>) -> Result<LedgerAnswer, StoreError> {
    Ok(LedgerAnswer::Refused(Refusal::new(kind, detail)))
}

fn done(d: Done) -> Result<LedgerAnswer, StoreError> {
    Ok(LedgerAnswer::Done(Box::new(d)))
}

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Records, states and outcomes are strings, numbers and string maps: they always serialise.
    serde_json::to_string(value).unwrap_or_default()
}

impl KeyLedger {
    /// Rebuilds the object from its storage. Unreadable entries are counted; an unreadable
    /// `state` or `pending` (a field this build does not know, written by a newer one) makes
    /// every call fail closed until a build that can read it is deployed. It never falls back to
    /// KV: KV may lag a revoke or a rotation the object decided.
    pub(crate) fn load<I: IntoIterator<Item = (String, String)>>(
        key_id: &str,
        entries: I,
    ) -> (Self, usize) {
        let mut ledger = KeyLedger {
            key_id: key_id.to_string(),
            ..KeyLedger::default()
        };
        let mut unreadable = 0;
        for (key, value) in entries {
            if key == STATE_KEY {
                match serde_json::from_str::<KeyState>(&value) {
                    Ok(s) if s.record.key_id == key_id => ledger.state = Some(s),
                    _ => {
                        unreadable += 1;
                        ledger.unreadable_state = true;
                    }
                }
            } else if key == PENDING_KEY {
                match serde_json::from_str::<Pending>(&value) {
                    Ok(p) => ledger.pending = Some(p),
                    Err(_) => {
                        unreadable += 1;
                        ledger.unreadable_state = true;
                    }
                }
            } else if let Some(id) = key.strip_prefix(REMEMBERED_PREFIX) {
                match serde_json::from_str::<Remembered>(&value) {
                    Ok(r) => {
                        ledger.remembered.insert(id.to_string(), r);
                    }
                    Err(_) => unreadable += 1,
                }
            }
        }
        (ledger, unreadable)
    }

    /// `load` for an object woken without a request (its alarm): the key id is the one its
    /// stored state names (none when it holds no state, so nothing to project either).
    pub(crate) fn load_stored(entries: Vec<(String, String)>) -> (Self, usize) {
        let key_id = entries
            .iter()
            .find(|(k, _)| k == STATE_KEY)
            .and_then(|(_, v)| serde_json::from_str::<KeyState>(v).ok())
            .map(|s| s.record.key_id)
            .unwrap_or_default();
        Self::load(&key_id, entries)
    }

    pub(crate) fn key_id(&self) -> &str {
        &self.key_id
    }

    pub(crate) fn is_unreadable(&self) -> bool {
        self.unreadable_state
    }

    /// The object's upkeep, run by its alarm without any call: forgets remembered outcomes past
    /// their window (and with them the sealed keys), and sees through what a failed call left
    /// pending, so KV follows the object within `RETRY_PENDING_SECS` of KV taking writes again,
    /// even if nobody calls the object.
    pub(crate) async fn tidy<H: LedgerHost>(
        &mut self,
        host: &H,
        now: u64,
    ) -> Result<(), StoreError> {
        if self.unreadable_state {
            return Err(StoreError(format!(
                "the stored state of {} is unreadable (written by a newer build?)",
                self.key_id
            )));
        }
        let writes = self.forget_expired(now);
        if !writes.is_empty() {
            host.persist(writes).await?;
        }
        self.settle(host, now).await
    }

    /// When the alarm should run next (Unix seconds): soon while something is pending, otherwise
    /// when the first remembered outcome runs out; `None` when there is nothing to do.
    pub(crate) fn next_alarm(&self, now: u64) -> Option<u64> {
        let retry = self.pending.as_ref().map(|_| now + RETRY_PENDING_SECS);
        let forget = self.remembered.values().map(|r| r.until).min();
        retry.into_iter().chain(forget).min()
    }

    #[cfg(test)]
    pub(crate) fn state(&self) -> Option<&KeyState> {
        self.state.as_ref()
    }

    /// Serves one call. Must not run concurrently with another call on the same object (the
    /// object's shell holds its turnstile). `Err` is a storage or KV failure: the caller answers
    /// 503, and the object's state is what its storage holds.
    pub(crate) async fn serve<H: LedgerHost>(
        &mut self,
        host: &H,
        request: LedgerRequest,
        now: u64,
    ) -> Result<LedgerAnswer, StoreError> {
        if !is_valid_key_id(&self.key_id) {
            return refused(
                RefusalKind::NotFound,
                format!("{} is not a key id", self.key_id),
            );
        }
        if self.unreadable_state {
            return Err(StoreError(format!(
                "the stored state of {} is unreadable (written by a newer build?)",
                self.key_id
            )));
        }
        let mut writes = self.forget_expired(now);
        if !writes.is_empty() {
            // Best effort: a remembered outcome past its window is ignored even while stored.
            let _ = host.persist(std::mem::take(&mut writes)).await;
        }
        if let Err(e) = self.settle(host, now).await {
            // While KV is down, a read still answers from what the object holds, and a revoke is
            // still stored (it writes KV itself, or leaves that pending). Anything else, and
            // anything after a rotation that could not be undone yet, waits.
            let goes_on = matches!(
                request,
                LedgerRequest::Get | LedgerRequest::Revoke { .. } | LedgerRequest::Discard { .. }
            ) && matches!(self.pending, Some(Pending::Projection));
            if !goes_on {
                return Err(e);
            }
        }
        match request {
            LedgerRequest::Get => match self.current(host).await? {
                Some(s) => done(Done {
                    record: s.record,
                    hash: s.hash,
                    previous: None,
                    previous_hash: None,
                    changed: false,
                    sealed: None,
                    replayed: false,
                }),
                None => refused(RefusalKind::NotFound, self.key_id.clone()),
            },
            LedgerRequest::Create {
                hash,
                record,
                idempotency,
            } => self.create(host, hash, record, idempotency, now).await,
            LedgerRequest::Update { patch } => self.update(host, patch, now).await,
            LedgerRequest::Rotate {
                grace_secs,
                expires,
                prefix,
                successor_id,
                successor_hash,
                idempotency,
            } => {
                let successor = Successor {
                    grace_secs,
                    expires,
                    prefix,
                    key_id: successor_id,
                    hash: successor_hash,
                };
                self.rotate(host, successor, idempotency, now).await
            }
            LedgerRequest::Revoke { reason } => self.revoke(host, reason, now).await,
            LedgerRequest::Init { hash, record } => self.init(host, hash, record, now).await,
            LedgerRequest::Discard { rotated_from } => self.discard(host, rotated_from, now).await,
        }
    }

    fn forget_expired(&mut self, now: u64) -> Vec<StorageWrite> {
        let gone: Vec<String> = self
            .remembered
            .iter()
            .filter(|(_, r)| r.until <= now)
            .map(|(id, _)| id.clone())
            .collect();
        gone.into_iter()
            .map(|id| {
                self.remembered.remove(&id);
                StorageWrite::Delete(format!("{REMEMBERED_PREFIX}{id}"))
            })
            .collect()
    }

    /// A remembered outcome for `claim`: the same answer again, or a refusal when the key was used
    /// for another request.
    fn recall(&self, claim: &IdempotencyClaim) -> Option<LedgerAnswer> {
        let r = self.remembered.get(&claim.id)?;
        if r.fingerprint != claim.fingerprint {
            return Some(LedgerAnswer::Refused(Refusal::new(
                RefusalKind::IdempotencyMismatch,
                "this Idempotency-Key was used for a different request in the last 24 hours",
            )));
        }
        let mut again = r.done.clone();
        again.replayed = true;
        Some(LedgerAnswer::Done(Box::new(again)))
    }

    fn remember(&mut self, claim: &IdempotencyClaim, done: &Done, now: u64) -> StorageWrite {
        let r = Remembered {
            fingerprint: claim.fingerprint.clone(),
            until: now + IDEMPOTENCY_WINDOW_SECS,
            done: done.clone(),
        };
        let write = StorageWrite::Put(format!("{REMEMBERED_PREFIX}{}", claim.id), to_json(&r));
        self.remembered.insert(claim.id.clone(), r);
        write
    }

    fn forget(&mut self, claim_id: Option<&str>) -> Option<StorageWrite> {
        let id = claim_id?;
        self.remembered.remove(id);
        Some(StorageWrite::Delete(format!("{REMEMBERED_PREFIX}{id}")))
    }

    /// Sees through what an earlier call left pending (see `Pending`), before anything else.
    async fn settle<H: LedgerHost>(&mut self, host: &H, now: u64) -> Result<(), StoreError> {
        match self.pending.clone() {
            None => Ok(()),
            Some(Pending::Projection) => {
                if let Some(state) = self.state.clone() {
                    project(host, &state, now, true).await?;
                }
                self.settled(host).await
            }
            Some(Pending::Rotation {
                before,
                successor_id,
                claim_id,
            }) => {
                self.undo_rotation(host, *before, &successor_id, claim_id.as_deref(), now)
                    .await
            }
        }
    }

    /// Nothing is pending any more.
    async fn settled<H: LedgerHost>(&mut self, host: &H) -> Result<(), StoreError> {
        if self.pending.is_some() {
            host.persist(vec![StorageWrite::Delete(PENDING_KEY.into())])
                .await?;
            self.pending = None;
        }
        Ok(())
    }

    /// The key's state: the object's own, or (first call after migration) adopted from KV.
    async fn current<H: LedgerHost>(&mut self, host: &H) -> Result<Option<KeyState>, StoreError> {
        if let Some(s) = &self.state {
            return Ok(Some(s.clone()));
        }
        let id = &self.key_id;
        let Some(hash) = host.kv_get(&id_kv_key(id)).await? else {
            return Ok(None);
        };
        if !is_hash(&hash) {
            return Err(StoreError(format!("the index entry of {id} is not a hash")));
        }
        let Some(raw) = host.kv_get(&hash_kv_key(&hash)).await? else {
            return Ok(None);
        };
        let record: ApiKeyRecord = serde_json::from_str(&raw)
            .map_err(|e| StoreError(format!("the stored record of {id} is unreadable: {e}")))?;
        record.validate().map_err(|(f, why)| {
            StoreError(format!("the stored record of {id} is invalid: {f}: {why}"))
        })?;
        if record.key_id != *id {
            return Err(StoreError(format!(
                "the index entry of {id} points at another key"
            )));
        }
        // Not stored yet: the first change persists it together with the change.
        Ok(Some(KeyState { hash, record }))
    }

    /// Adopts `next` as the key's state, and `pending` as what is left to do, in memory and in
    /// storage (with `extra` writes), in one write.
    async fn commit<H: LedgerHost>(
        &mut self,
        host: &H,
        next: KeyState,
        pending: Option<Pending>,
        extra: Vec<StorageWrite>,
    ) -> Result<(), StoreError> {
        let mut writes = vec![StorageWrite::Put(STATE_KEY.into(), to_json(&next))];
        match &pending {
            Some(p) => writes.push(StorageWrite::Put(PENDING_KEY.into(), to_json(p))),
            None if self.pending.is_some() => writes.push(StorageWrite::Delete(PENDING_KEY.into())),
            None => {}
        }
        writes.extend(extra);
        let before = self.state.replace(next);
        let pending_before = std::mem::replace(&mut self.pending, pending);
        if let Err(e) = host.persist(writes).await {
            self.state = before;
            self.pending = pending_before;
            return Err(e);
        }
        Ok(())
    }

    /// Stores `next`, then writes its KV entries. A failed KV write stays pending: the object's
    /// next call writes them again.
    /// Revokes `state` (a first revocation's time and reason are kept) and writes it to KV; a
    /// repeat writes the record again, since a stale writer may have put the active one back.
    /// Whether this call revoked it.
    async fn revoke_state<H: LedgerHost>(
        &mut self,
        host: &H,
        state: &mut KeyState,
        reason: Option<String>,
        now: u64,
    ) -> Result<bool, StoreError> {
        if state.record.revoked_at.is_some() {
            project(host, state, now, false).await?;
            return Ok(false);
        }
        state.record.revoked_at = Some(now);
        state.record.revoked_reason = reason;
        state.record.updated_at = Some(now);
        // The index keeps its expiration: at worst it outlives the record; listings skip it.
        self.commit_and_project(host, state, now, false).await?;
        Ok(true)
    }

    async fn commit_and_project<H: LedgerHost>(
        &mut self,
        host: &H,
        next: &KeyState,
        now: u64,
        with_index: bool,
    ) -> Result<(), StoreError> {
        self.commit(host, next.clone(), Some(Pending::Projection), Vec::new())
            .await?;
        project(host, next, now, with_index).await?;
        // Best effort: if this fails, the next call only writes KV once more.
        let _ = self.settled(host).await;
        Ok(())
    }

    async fn create<H: LedgerHost>(
        &mut self,
        host: &H,
        hash: String,
        record: ApiKeyRecord,
        claim: Option<IdempotencyClaim>,
        now: u64,
    ) -> Result<LedgerAnswer, StoreError> {
        if let Some(answer) = claim.as_ref().and_then(|c| self.recall(c)) {
            return Ok(answer);
        }
        if self.state.is_some() {
            return refused(
                RefusalKind::Conflict,
                format!(
                    "{} exists already (an Idempotency-Key is remembered for 24 hours only)",
                    self.key_id
                ),
            );
        }
        if record.key_id != self.key_id || !is_hash(&hash) || record.rotated_from.is_some() {
            return refused(
                RefusalKind::Invalid,
                "the create call does not fit this object",
            );
        }
        if let Err((field, why)) = record.validate() {
            return Ok(LedgerAnswer::Refused(Refusal::invalid(field, why)));
        }
        let result = Done {
            record: record.clone(),
            hash: hash.clone(),
            previous: None,
            previous_hash: None,
            changed: true,
            sealed: claim.as_ref().map(|c| c.sealed.clone()),
            replayed: false,
        };
        let extra: Vec<StorageWrite> = claim
            .iter()
            .map(|c| self.remember(c, &result, now))
            .collect();
        let state = KeyState { hash, record };
        let claim_id = claim.as_ref().map(|c| c.id.as_str());
        if let Err(e) = self.commit(host, state.clone(), None, extra).await {
            self.forget(claim_id);
            return Err(e);
        }
        if let Err(e) = project(host, &state, now, true).await {
            // Nobody has seen the plaintext: the object forgets the key, so a retry (with the same
            // Idempotency-Key or not) starts afresh. Best effort: a record left in KV belongs to a
            // key nobody holds.
            let mut undo: Vec<StorageWrite> = self.forget(claim_id).into_iter().collect();
            undo.push(StorageWrite::Delete(STATE_KEY.into()));
            self.state = None;
            let _ = host.persist(undo).await;
            let _ = host.kv_delete(&hash_kv_key(&state.hash)).await;
            return Err(e);
        }
        done(result)
    }

    async fn update<H: LedgerHost>(
        &mut self,
        host: &H,
        patch: KeyPatch,
        now: u64,
    ) -> Result<LedgerAnswer, StoreError> {
        let Some(mut state) = self.current(host).await? else {
            return refused(RefusalKind::NotFound, self.key_id.clone());
        };
        if state.record.revoked_at.is_some() {
            return refused(
                RefusalKind::Conflict,
                format!("{} is revoked; revoked keys cannot be changed", self.key_id),
            );
        }
        if let Some(Some(exp)) = patch.expires_at {
            if exp <= now {
                return Ok(LedgerAnswer::Refused(Refusal::invalid(
                    "expires_at",
                    "must be in the future (to stop a key now, revoke it)",
                )));
            }
        }
        let record = &mut state.record;
        if let Some(name) = patch.name {
            record.name = name;
        }
        if let Some(scopes) = patch.scopes {
            record.scopes = scopes;
        }
        if let Some(expires_at) = patch.expires_at {
            record.expires_at = expires_at;
        }
        if let Some(policy) = patch.rate_limit_policy {
            record.rate_limit_policy = policy;
        }
        if let Some(metadata) = patch.metadata {
            record.metadata = metadata;
        }
        record.updated_at = Some(now);
        if let Err((field, why)) = record.validate() {
            return Ok(LedgerAnswer::Refused(Refusal::invalid(field, why)));
        }
        // The index entry carries the same KV expiration: an expiry change moves both.
        self.commit_and_project(host, &state, now, true).await?;
        done(Done {
            record: state.record,
            hash: state.hash,
            previous: None,
            previous_hash: None,
            changed: true,
            sealed: None,
            replayed: false,
        })
    }

    async fn rotate<H: LedgerHost>(
        &mut self,
        host: &H,
        successor: Successor,
        claim: Option<IdempotencyClaim>,
        now: u64,
    ) -> Result<LedgerAnswer, StoreError> {
        if let Some(answer) = claim.as_ref().and_then(|c| self.recall(c)) {
            return Ok(answer);
        }
        let key_id = self.key_id.clone();
        let Some(old) = self.current(host).await? else {
            return refused(RefusalKind::NotFound, key_id);
        };
        match old.record.status(now) {
            KeyStatus::Revoked => {
                return refused(
                    RefusalKind::Conflict,
                    format!("{key_id} is revoked; create a new key instead"),
                )
            }
            KeyStatus::Expired => {
                return refused(
                    RefusalKind::Conflict,
                    format!("{key_id} has expired; create a new key instead"),
                )
            }
            KeyStatus::Active => {}
        }
        if let Some(next) = &old.record.rotated_to {
            return refused(
                RefusalKind::Conflict,
                format!("{key_id} was already rotated to {next}; rotate {next} instead"),
            );
        }
        if successor.grace_secs > MAX_GRACE_SECS {
            return Ok(LedgerAnswer::Refused(Refusal::invalid(
                "grace_secs",
                format!("at most {MAX_GRACE_SECS}"),
            )));
        }
        if !is_valid_key_id(&successor.key_id)
            || successor.key_id == key_id
            || !is_hash(&successor.hash)
        {
            return refused(
                RefusalKind::Invalid,
                "the rotate call does not fit this object",
            );
        }
        let new_record = match successor.record(&old.record, now) {
            Ok(r) => r,
            Err(refusal) => return Ok(LedgerAnswer::Refused(refusal)),
        };
        let mut linked = old.clone();
        let deadline = now.saturating_add(successor.grace_secs);
        linked.record.expires_at = Some(
            linked
                .record
                .expires_at
                .map_or(deadline, |exp| exp.min(deadline)),
        );
        linked.record.rotated_to = Some(successor.key_id.clone());
        linked.record.updated_at = Some(now);
        let result = Done {
            record: new_record.clone(),
            hash: successor.hash.clone(),
            previous: Some(linked.record.clone()),
            previous_hash: Some(linked.hash.clone()),
            changed: true,
            sealed: claim.as_ref().map(|c| c.sealed.clone()),
            replayed: false,
        };
        // 1. The decision: from here on this key is rotated (to this successor only). Stored as
        //    pending until step 3 is done: if the call stops before, the next call undoes it.
        let extra: Vec<StorageWrite> = claim
            .iter()
            .map(|c| self.remember(c, &result, now))
            .collect();
        let claim_id = claim.as_ref().map(|c| c.id.clone());
        let pending = Pending::Rotation {
            before: Box::new(old.clone()),
            successor_id: successor.key_id.clone(),
            claim_id: claim_id.clone(),
        };
        if let Err(e) = self
            .commit(host, linked.clone(), Some(pending), extra)
            .await
        {
            self.forget(claim_id.as_deref());
            return Err(e);
        }
        // 2. The successor's own object takes over the successor and writes its KV entries, so the
        //    successor exists before anything links to it.
        let init = LedgerRequest::Init {
            hash: successor.hash.clone(),
            record: new_record,
        };
        let started = match host.call_ledger(&successor.key_id, &init).await {
            Ok(LedgerAnswer::Done(_)) => Ok(()),
            Ok(LedgerAnswer::Refused(r)) => Err(StoreError(format!(
                "the successor's object refused it: {}",
                r.detail
            ))),
            Err(e) => Err(e),
        };
        // 3. The old key's record, now linked and with its grace deadline; then the rotation is
        //    no longer pending (only then is the answer given).
        let projected = match started {
            Ok(()) => match project(host, &linked, now, true).await {
                Ok(()) => self.settled(host).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        if let Err(e) = projected {
            // If the undo fails too, it stays pending: the next call undoes it.
            let _ = self
                .undo_rotation(host, old, &successor.key_id, claim_id.as_deref(), now)
                .await;
            return Err(e);
        }
        done(result)
    }

    /// A rotation that could not complete: the successor is revoked (best effort: if that fails,
    /// it is a successor nobody holds the key of), and the old key goes back to its state before
    /// it (the caller never saw the successor's plaintext).
    ///
    /// Unless the successor has been rotated itself meanwhile (an admin found it in a listing):
    /// then someone holds a key descended from it, and undoing would leave the old key rotatable
    /// again beside that lineage. The rotation is kept instead, and the old key's KV entries are
    /// written as it left them.
    async fn undo_rotation<H: LedgerHost>(
        &mut self,
        host: &H,
        old: KeyState,
        successor_id: &str,
        claim_id: Option<&str>,
        now: u64,
    ) -> Result<(), StoreError> {
        let discard = LedgerRequest::Discard {
            rotated_from: self.key_id.clone(),
        };
        let moved_on = matches!(
            host.call_ledger(successor_id, &discard).await,
            Ok(LedgerAnswer::Done(d)) if d.record.rotated_to.is_some()
        );
        let linked = self.state.clone().filter(|_| moved_on);
        let (next, undo) = match linked {
            Some(linked) => (linked, Vec::new()),
            None => (old, self.forget(claim_id).into_iter().collect()),
        };
        self.commit(host, next.clone(), Some(Pending::Projection), undo)
            .await?;
        project(host, &next, now, true).await?;
        self.settled(host).await
    }

    async fn revoke<H: LedgerHost>(
        &mut self,
        host: &H,
        reason: Option<String>,
        now: u64,
    ) -> Result<LedgerAnswer, StoreError> {
        if let Some(reason) = &reason {
            if reason.chars().count() > MAX_REASON_CHARS || reason.chars().any(char::is_control) {
                return Ok(LedgerAnswer::Refused(Refusal::invalid(
                    "reason",
                    format!("at most {MAX_REASON_CHARS} characters, no control characters"),
                )));
            }
        }
        let Some(mut state) = self.current(host).await? else {
            return refused(RefusalKind::NotFound, self.key_id.clone());
        };
        let newly = self.revoke_state(host, &mut state, reason, now).await?;
        done(Done {
            record: state.record,
            hash: state.hash,
            previous: None,
            previous_hash: None,
            changed: newly,
            sealed: None,
            replayed: false,
        })
    }

    async fn init<H: LedgerHost>(
        &mut self,
        host: &H,
        hash: String,
        record: ApiKeyRecord,
        now: u64,
    ) -> Result<LedgerAnswer, StoreError> {
        if let Some(s) = self.state.clone() {
            // A retried init of the same successor is fine (its KV entries are written again);
            // anything else is not this object's.
            if s.hash != hash || s.record.rotated_from != record.rotated_from {
                return refused(
                    RefusalKind::Conflict,
                    format!("{} exists already", self.key_id),
                );
            }
            project(host, &s, now, true).await?;
        } else {
            if record.key_id != self.key_id || !is_hash(&hash) || record.rotated_from.is_none() {
                return refused(
                    RefusalKind::Invalid,
                    "the init call does not fit this object",
                );
            }
            if let Err((field, why)) = record.validate() {
                return Ok(LedgerAnswer::Refused(Refusal::invalid(field, why)));
            }
            let state = KeyState { hash, record };
            self.commit_and_project(host, &state, now, true).await?;
        }
        let state = self
            .state
            .clone()
            .ok_or_else(|| StoreError("lost state".into()))?;
        done(Done {
            record: state.record,
            hash: state.hash,
            previous: None,
            previous_hash: None,
            changed: true,
            sealed: None,
            replayed: false,
        })
    }

    async fn discard<H: LedgerHost>(
        &mut self,
        host: &H,
        rotated_from: String,
        now: u64,
    ) -> Result<LedgerAnswer, StoreError> {
        let Some(mut state) = self.state.clone() else {
            return refused(RefusalKind::NotFound, self.key_id.clone());
        };
        if state.record.rotated_from.as_deref() != Some(rotated_from.as_str()) {
            return refused(RefusalKind::Conflict, "not a successor of that key");
        }
        if state.record.rotated_to.is_some() {
            // Rotated itself since: someone holds its successor. The predecessor keeps the
            // rotation rather than undoing it (see `undo_rotation`).
            return done(Done {
                record: state.record,
                hash: state.hash,
                previous: None,
                previous_hash: None,
                changed: false,
                sealed: None,
                replayed: false,
            });
        }
        let reason = format!("the rotation of {rotated_from} did not complete");
        self.revoke_state(host, &mut state, Some(reason), now)
            .await?;
        done(Done {
            record: state.record,
            hash: state.hash,
            previous: None,
            previous_hash: None,
            changed: true,
            sealed: None,
            replayed: false,
        })
    }
}

/// What a rotate call says about the successor.
struct Successor {
    grace_secs: u64,
    expires: SuccessorExpiry,
    prefix: String,
    key_id: String,
    hash: String,
}

impl Successor {
    /// The successor's record: the old key's client, name, scopes, policy and metadata.
    fn record(&self, old: &ApiKeyRecord, now: u64) -> Result<ApiKeyRecord, Refusal> {
        let expires_at = match self.expires {
            SuccessorExpiry::Inherit => old
                .expires_at
                .map(|exp| now + exp.saturating_sub(old.created_at).max(1)),
            SuccessorExpiry::Never => None,
            SuccessorExpiry::At(at) if at <= now => {
                return Err(Refusal::invalid("expires_at", "must be in the future"))
            }
            SuccessorExpiry::At(at) => Some(at),
        };
        let record = ApiKeyRecord {
            key_id: self.key_id.clone(),
            client_id: old.client_id.clone(),
            name: old.name.clone(),
            prefix: self.prefix.clone(),
            scopes: old.scopes.clone(),
            created_at: now,
            updated_at: None,
            expires_at,
            revoked_at: None,
            revoked_reason: None,
            rate_limit_policy: old.rate_limit_policy.clone(),
            metadata: old.metadata.clone(),
            rotated_from: Some(old.key_id.clone()),
            rotated_to: None,
        };
        record
            .validate()
            .map_err(|(f, why)| Refusal::invalid(f, why))?;
        Ok(record)
    }
}

/// Writes the key's KV entries from `state`: the record (what the request path reads), then, with
/// `with_index`, the id entry. Both carry the same expiration.
async fn project<H: LedgerHost>(
    host: &H,
    state: &KeyState,
    now: u64,
    with_index: bool,
) -> Result<(), StoreError> {
    let ttl = kv_expiration_ttl(&state.record, now);
    host.kv_put(&hash_kv_key(&state.hash), &to_json(&state.record), ttl)
        .await?;
    if with_index {
        host.kv_put(&id_kv_key(&state.record.key_id), &state.hash, ttl)
            .await?;
    }
    Ok(())
}
