//! The ledger objects through the admin operations and directly, on the in-memory platform
//! (`testing`): objects keep their storage across "evictions", KV is eventually written.

use std::cell::RefCell;

use super::client::{LedgerAnswer, LedgerRequest, RefusalKind};
use super::idempotency::{fingerprint, IdempotencyKey};
use super::service::{IDEMPOTENCY_WINDOW_SECS, RETRY_PENDING_SECS, STATE_KEY};
use crate::api_key::cache::ApiKeyCache;
use crate::api_key::format::{generate_key, key_hash};
use crate::api_key::record::{ApiKeyRecord, KeyStatus};
use crate::api_key::store::{
    hash_kv_key, id_kv_key, kv_entries, ApiKeyStore, NewKey, StoreOpError,
};
use crate::api_key::ApiKeyConfig;
use crate::identity::{AuthMethod, Identity};
use crate::platform::Platform;
use crate::testing::{block_on, cut_off, FakePlatform};

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
            cache: RefCell::new(ApiKeyCache::new(100)),
            config: ApiKeyConfig::default(),
        }
    }
    fn store(&self) -> ApiKeyStore<'_, FakePlatform> {
        ApiKeyStore::new(&self.platform, &self.cache, &self.config)
    }
    fn create(&self) -> (String, ApiKeyRecord) {
        block_on(self.store().create(new_key())).unwrap()
    }
    /// Every object loses its memory: the next call reloads from its storage.
    fn evict_objects(&self) {
        self.platform.ledgers.borrow_mut().clear();
    }
    fn call(&self, key_id: &str, request: LedgerRequest) -> LedgerAnswer {
        let body = serde_json::to_string(&request).unwrap();
        let text = block_on(self.platform.key_ledger_call(key_id, body)).unwrap();
        serde_json::from_str(&text).unwrap()
    }
    fn auth(&self, key: &str) -> bool {
        // A fresh isolate: no cache, straight to KV.
        let cache = RefCell::new(ApiKeyCache::new(100));
        block_on(ApiKeyStore::new(&self.platform, &cache, &self.config).authenticate(key)).is_ok()
    }
}

fn new_key() -> NewKey {
    NewKey {
        client_id: "billing".into(),
        name: "billing".into(),
        scopes: vec!["invoices:read".into()],
        ..NewKey::default()
    }
}

fn actor(subject: &str) -> Identity {
    Identity {
        method: AuthMethod::ApiKey,
        subject: subject.into(),
        issuer: None,
        scopes: vec![],
        token_id: None,
        expires_at: None,
        issued_at: None,
        client_id: None,
        key_id: None,
        rate_limit_policy: None,
        claims: Default::default(),
        holder: Default::default(),
        session_id: None,
        user_auth: Default::default(),
    }
}

fn idem(subject: &str, value: &str) -> IdempotencyKey {
    IdempotencyKey::parse(value, &actor(subject)).unwrap()
}

const IDEM: &str = "0b7c3c0e-5f7e-4a51-9d1f-6a2f8f1e4d21";

#[test]
fn a_key_is_rotated_once_even_after_its_object_is_evicted() {
    let env = Env::new();
    let (_, old) = env.create();
    let (new_key, successor, linked) =
        block_on(env.store().rotate(&old.key_id, Some(60), None)).unwrap();
    assert_eq!(
        linked.rotated_to.as_deref(),
        Some(successor.key_id.as_str())
    );
    env.evict_objects();
    let again = block_on(env.store().rotate(&old.key_id, None, None));
    assert!(matches!(again, Err(StoreOpError::Conflict(ref d)) if d.contains("already rotated")));
    // The successor has its own object, which holds it.
    assert_eq!(
        block_on(env.store().get(&successor.key_id)).unwrap(),
        successor
    );
    assert!(env.auth(&new_key));
}

#[test]
fn the_successor_is_in_kv_before_the_old_key_links_to_it() {
    let env = Env::new();
    let (_, old) = env.create();
    let old_hash = env.platform.kv_value(&id_kv_key(&old.key_id)).unwrap();
    env.platform.kv_put_log.borrow_mut().clear();
    let (key, successor, _) = block_on(env.store().rotate(&old.key_id, None, None)).unwrap();
    assert_eq!(
        *env.platform.kv_put_log.borrow(),
        vec![
            hash_kv_key(&key_hash(&key)),
            id_kv_key(&successor.key_id),
            hash_kv_key(&old_hash),
            id_kv_key(&old.key_id),
        ]
    );
}

#[test]
fn nothing_changes_a_revoked_key_and_a_revoke_keeps_its_first_time_and_reason() {
    let env = Env::new();
    let (key, record) = env.create();
    let (revoked, newly) =
        block_on(env.store().revoke(&record.key_id, Some("leaked".into()))).unwrap();
    assert!(newly);
    env.platform.advance_secs(10);
    env.evict_objects();
    let (again, newly) =
        block_on(env.store().revoke(&record.key_id, Some("other".into()))).unwrap();
    assert!(!newly);
    assert_eq!(again, revoked);
    assert!(matches!(
        block_on(env.store().rotate(&record.key_id, None, None)),
        Err(StoreOpError::Conflict(_))
    ));
    assert!(matches!(
        block_on(env.store().update(
            &record.key_id,
            crate::api_key::store::KeyPatch {
                name: Some("x".into()),
                ..Default::default()
            }
        )),
        Err(StoreOpError::Conflict(_))
    ));
    assert!(!env.auth(&key));
}

#[test]
fn a_repeated_revoke_repairs_kv() {
    let env = Env::new();
    let (key, record) = env.create();
    let hash = key_hash(&key);
    let active = env.platform.kv_value(&hash_kv_key(&hash)).unwrap();
    block_on(env.store().revoke(&record.key_id, None)).unwrap();
    // A stale writer (a gateway from before the objects) puts the active record back.
    block_on(env.platform.kv_put(&hash_kv_key(&hash), &active, None)).unwrap();
    assert!(env.auth(&key));
    block_on(env.store().revoke(&record.key_id, None)).unwrap();
    assert!(!env.auth(&key), "the object writes what it holds");
}

#[test]
fn a_key_written_straight_into_kv_is_adopted_on_its_first_write() {
    let env = Env::new();
    let key = generate_key("pc_test", &[7; 16]);
    let hash = key_hash(&key);
    let record = ApiKeyRecord {
        key_id: "key_LegacyLegacy0001".into(),
        client_id: "legacy".into(),
        name: "legacy".into(),
        prefix: "pc_test".into(),
        scopes: vec!["read".into()],
        created_at: T0 - 100,
        updated_at: None,
        expires_at: None,
        revoked_at: None,
        revoked_reason: None,
        rate_limit_policy: None,
        metadata: Default::default(),
        rotated_from: None,
        rotated_to: None,
    };
    for (k, v, ttl) in kv_entries(&hash, &record, T0) {
        block_on(env.platform.kv_put(&k, &v, ttl)).unwrap();
    }
    assert!(env.auth(&key));
    // A read adopts nothing into storage.
    assert_eq!(block_on(env.store().get(&record.key_id)).unwrap(), record);
    assert!(!env
        .platform
        .ledger_storage
        .borrow()
        .contains_key(&record.key_id));
    let (new_key, successor, linked) =
        block_on(env.store().rotate(&record.key_id, Some(60), None)).unwrap();
    let stored = env.platform.ledger_storage.borrow()[&record.key_id][STATE_KEY].clone();
    assert!(stored.contains(&successor.key_id));
    assert_eq!(
        linked.rotated_to.as_deref(),
        Some(successor.key_id.as_str())
    );
    assert!(env.auth(&key) && env.auth(&new_key));
    // From now on the object is the authority: KV changes behind its back do not count.
    block_on(env.platform.kv_delete(&id_kv_key(&record.key_id))).unwrap();
    assert!(block_on(env.store().get(&record.key_id)).is_ok());
}

#[test]
fn an_unreadable_kv_record_fails_closed_on_adoption() {
    let env = Env::new();
    let hash = "a".repeat(64);
    block_on(
        env.platform
            .kv_put(&id_kv_key("key_Broken0000000001"), &hash, None),
    )
    .unwrap();
    block_on(env.platform.kv_put(&hash_kv_key(&hash), "{not json", None)).unwrap();
    assert!(matches!(
        block_on(env.store().revoke("key_Broken0000000001", None)),
        Err(StoreOpError::Unavailable(_))
    ));
    block_on(
        env.platform
            .kv_put(&id_kv_key("key_Broken0000000002"), "not-a-hash", None),
    )
    .unwrap();
    assert!(matches!(
        block_on(env.store().get("key_Broken0000000002")),
        Err(StoreOpError::Unavailable(_))
    ));
    assert_eq!(
        block_on(env.store().get("key_Nothing000000001")),
        Err(StoreOpError::NotFound("key_Nothing000000001".into()))
    );
}

#[test]
fn an_idempotent_rotation_returns_the_same_successor_for_24_hours() {
    let env = Env::new();
    let (_, old) = env.create();
    let k = idem("ops", IDEM);
    let fp = fingerprint("rotate", &old.key_id, b"{}");
    let first = block_on(
        env.store()
            .rotate_with(&old.key_id, None, None, Some((&k, fp.clone()))),
    )
    .unwrap();
    assert!(!first.replayed);
    env.evict_objects();
    env.platform.advance_secs(IDEMPOTENCY_WINDOW_SECS - 1);
    let again = block_on(
        env.store()
            .rotate_with(&old.key_id, None, None, Some((&k, fp.clone()))),
    )
    .unwrap();
    assert!(again.replayed);
    assert_eq!(again.key, first.key);
    assert_eq!(again.record, first.record);
    assert_eq!(again.previous, first.previous);
    // Another request under the same key is refused; so is the same key from another caller
    // (it is another key there, and the rotation happened already).
    let other_fp = fingerprint("rotate", &old.key_id, br#"{"grace_secs":5}"#);
    assert!(matches!(
        block_on(
            env.store()
                .rotate_with(&old.key_id, Some(5), None, Some((&k, other_fp)))
        ),
        Err(StoreOpError::IdempotencyMismatch(_))
    ));
    let mallory = idem("mallory", IDEM);
    assert!(matches!(
        block_on(
            env.store()
                .rotate_with(&old.key_id, None, None, Some((&mallory, fp.clone())))
        ),
        Err(StoreOpError::Conflict(_))
    ));
    // After the window the outcome is forgotten (and deleted from storage).
    env.platform.advance_secs(1);
    assert!(matches!(
        block_on(
            env.store()
                .rotate_with(&old.key_id, None, None, Some((&k, fp)))
        ),
        Err(StoreOpError::Conflict(_))
    ));
    let storage = env.platform.ledger_storage.borrow();
    assert_eq!(storage[&old.key_id].len(), 1, "only the state is left");
}

#[test]
fn an_idempotent_create_returns_the_same_key_and_stores_no_plaintext() {
    let env = Env::new();
    let k = idem("ops", IDEM);
    let fp = fingerprint("create", "", br#"{"client_id":"billing"}"#);
    let first = block_on(env.store().create_with(new_key(), Some((&k, fp.clone())))).unwrap();
    let again = block_on(env.store().create_with(new_key(), Some((&k, fp)))).unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.key.as_str(), &again.record),
        (first.key.as_str(), &first.record)
    );
    assert_eq!(first.record.key_id, k.create_key_id());
    let other = fingerprint("create", "", br#"{"client_id":"other"}"#);
    assert!(matches!(
        block_on(env.store().create_with(new_key(), Some((&k, other)))),
        Err(StoreOpError::IdempotencyMismatch(_))
    ));
    for values in env.platform.ledger_storage.borrow().values() {
        for v in values.values() {
            assert!(!v.contains(&first.key), "plaintext stored: {v}");
            assert!(!v.contains(IDEM), "idempotency key stored: {v}");
        }
    }
    assert!(env.auth(&first.key));
    // Without a key, creates are never merged.
    let (a, _) = env.create();
    let (b, _) = env.create();
    assert_ne!(a, b);
}

#[test]
fn a_create_whose_kv_write_fails_can_be_retried() {
    let env = Env::new();
    let k = idem("ops", IDEM);
    let fp = fingerprint("create", "", b"{}");
    env.platform.writes_left.set(Some(1));
    assert!(matches!(
        block_on(env.store().create_with(new_key(), Some((&k, fp.clone())))),
        Err(StoreOpError::Unavailable(_))
    ));
    env.platform.writes_left.set(None);
    let retried = block_on(env.store().create_with(new_key(), Some((&k, fp)))).unwrap();
    assert!(!retried.replayed, "the failed attempt was forgotten");
    assert!(env.auth(&retried.key));
}

#[test]
fn objects_refuse_calls_that_are_not_theirs() {
    let env = Env::new();
    let (_, record) = env.create();
    let hash = env.platform.kv_value(&id_kv_key(&record.key_id)).unwrap();
    // A create on an existing key, an init of another key's state, a discard by a stranger.
    let create = LedgerRequest::Create {
        hash: hash.clone(),
        record: record.clone(),
        idempotency: None,
    };
    assert!(
        matches!(env.call(&record.key_id, create), LedgerAnswer::Refused(r) if r.kind == RefusalKind::Conflict)
    );
    let init = LedgerRequest::Init {
        hash,
        record: record.clone(),
    };
    assert!(
        matches!(env.call("key_Another000000001", init), LedgerAnswer::Refused(r) if r.kind == RefusalKind::Invalid)
    );
    let discard = LedgerRequest::Discard {
        rotated_from: "key_Stranger00000001".into(),
    };
    assert!(
        matches!(env.call(&record.key_id, discard), LedgerAnswer::Refused(r) if r.kind == RefusalKind::Conflict)
    );
    assert_eq!(
        block_on(env.store().get(&record.key_id))
            .unwrap()
            .status(T0),
        KeyStatus::Active
    );
}

// ------------------------------------------------------------------ adversarial review (ledger)

#[test]
fn an_unreadable_state_fails_closed_instead_of_adopting_stale_kv() {
    let env = Env::new();
    let (_, record) = env.create();
    // The object stores the revoke, but its KV write fails: KV still shows the key active.
    env.platform.writes_left.set(Some(0));
    assert!(matches!(
        block_on(env.store().revoke(&record.key_id, None)),
        Err(StoreOpError::Unavailable(_))
    ));
    env.platform.writes_left.set(None);
    // Its state gains a field this build does not know (a newer build wrote it, then a rollback).
    {
        let mut storage = env.platform.ledger_storage.borrow_mut();
        let state = storage
            .get_mut(&record.key_id)
            .and_then(|s| s.get_mut(STATE_KEY))
            .unwrap();
        *state = state.replacen('{', r#"{"future_field":1,"#, 1);
    }
    env.evict_objects();
    // The object must not forget its revoke and adopt the stale KV record.
    let rotated = block_on(env.store().rotate(&record.key_id, None, None));
    assert!(
        matches!(rotated, Err(StoreOpError::Unavailable(_))),
        "{rotated:?}"
    );
    assert!(matches!(
        block_on(env.store().get(&record.key_id)),
        Err(StoreOpError::Unavailable(_))
    ));
}

#[test]
fn a_replay_never_hands_out_a_key_revoked_since() {
    let env = Env::new();
    let (_, old) = env.create();
    let k = idem("ops", IDEM);
    let fp = fingerprint("rotate", &old.key_id, b"{}");
    let first = block_on(
        env.store()
            .rotate_with(&old.key_id, None, None, Some((&k, fp.clone()))),
    )
    .unwrap();
    block_on(
        env.store()
            .revoke(&first.record.key_id, Some("leaked".into())),
    )
    .unwrap();
    let replay = block_on(
        env.store()
            .rotate_with(&old.key_id, None, None, Some((&k, fp))),
    );
    assert!(
        matches!(replay, Err(StoreOpError::Conflict(ref d)) if d.contains("revoked")),
        "{replay:?}"
    );
    // A create's replay too.
    let kc = idem("ops", "7d1e0c55-2a49-4f0e-8a3b-55c1f0e2d9a7");
    let fpc = fingerprint("create", "", b"{}");
    let created = block_on(env.store().create_with(new_key(), Some((&kc, fpc.clone())))).unwrap();
    block_on(env.store().revoke(&created.record.key_id, None)).unwrap();
    let replay = block_on(env.store().create_with(new_key(), Some((&kc, fpc))));
    assert!(
        matches!(replay, Err(StoreOpError::Conflict(ref d)) if d.contains("revoked")),
        "{replay:?}"
    );
}

#[test]
fn a_rotation_cut_off_half_way_is_undone_on_the_next_call() {
    let env = Env::new();
    let (old_key, old) = env.create();
    let k = idem("ops", IDEM);
    let fp = fingerprint("rotate", &old.key_id, b"{}");
    // The successor's object never answers, and the old key's object is evicted mid-call.
    env.platform.object_calls_before_hang.set(Some(0));
    cut_off(
        env.store()
            .rotate_with(&old.key_id, None, None, Some((&k, fp.clone()))),
    );
    env.platform.object_calls_before_hang.set(None);
    // The retry gets a successor that works, and the old key links to it.
    let retry = block_on(
        env.store()
            .rotate_with(&old.key_id, None, None, Some((&k, fp))),
    )
    .unwrap();
    assert!(env.auth(&retry.key), "the successor handed out must work");
    assert_eq!(
        block_on(env.store().get(&old.key_id)).unwrap().rotated_to,
        Some(retry.record.key_id.clone())
    );
    assert!(env.auth(&old_key), "grace period");
    // Without an Idempotency-Key: the key is not stuck "rotated" to a successor that never was.
    let (_, other) = env.create();
    env.platform.object_calls_before_hang.set(Some(0));
    cut_off(env.store().rotate(&other.key_id, None, None));
    env.platform.object_calls_before_hang.set(None);
    let again = block_on(env.store().rotate(&other.key_id, None, None));
    let (key, successor, linked) = again.unwrap();
    assert!(env.auth(&key));
    assert_eq!(linked.rotated_to, Some(successor.key_id));
}

#[test]
fn a_revoke_whose_kv_write_failed_reaches_kv_on_the_next_call() {
    let env = Env::new();
    let (key, record) = env.create();
    env.platform.writes_left.set(Some(0));
    assert!(matches!(
        block_on(env.store().revoke(&record.key_id, Some("leaked".into()))),
        Err(StoreOpError::Unavailable(_))
    ));
    env.platform.writes_left.set(None);
    assert!(env.auth(&key), "KV missed the revoke");
    // An admin looks at the key: the object shows it revoked, and KV must say so too.
    env.evict_objects();
    let shown = block_on(env.store().get(&record.key_id)).unwrap();
    assert_eq!(shown.status(T0), KeyStatus::Revoked);
    assert!(!env.auth(&key), "KV follows the object");
}

#[test]
fn an_unfinished_rotation_whose_successor_was_rotated_since_is_kept_not_undone() {
    let env = Env::new();
    let (_, old) = env.create();
    // The successor is made, the old key's KV write fails, and the object is evicted while it
    // undoes the rotation: the rotation stays pending in its storage.
    env.platform.writes_left.set(Some(2));
    env.platform.object_calls_before_hang.set(Some(1));
    cut_off(env.store().rotate(&old.key_id, None, None));
    env.platform.writes_left.set(None);
    env.platform.object_calls_before_hang.set(None);
    let successor = {
        let (listed, _) = block_on(env.store().list(None, 100, None)).unwrap();
        listed
            .into_iter()
            .find(|r| r.rotated_from.as_deref() == Some(old.key_id.as_str()))
            .unwrap()
    };
    // An admin finds the successor in the listing and rotates it to get a key.
    let (next_key, next, _) = block_on(env.store().rotate(&successor.key_id, None, None)).unwrap();
    // The old key's next call must not undo a rotation that has a successor of its own by now
    // (undoing it would give the old key back, rotatable again: two lineages).
    let linked = block_on(env.store().get(&old.key_id)).unwrap();
    assert_eq!(
        linked.rotated_to.as_deref(),
        Some(successor.key_id.as_str())
    );
    assert!(matches!(
        block_on(env.store().rotate(&old.key_id, None, None)),
        Err(StoreOpError::Conflict(_))
    ));
    let hash = env.platform.kv_value(&id_kv_key(&old.key_id)).unwrap();
    let in_kv: ApiKeyRecord =
        serde_json::from_str(&env.platform.kv_value(&hash_kv_key(&hash)).unwrap()).unwrap();
    assert_eq!(
        in_kv, linked,
        "KV shows the rotation, with its grace deadline"
    );
    assert!(env.auth(&next_key));
    assert_eq!(
        block_on(env.store().get(&successor.key_id))
            .unwrap()
            .rotated_to,
        Some(next.key_id)
    );
}

#[test]
fn the_alarm_sees_a_failed_revoke_through_and_deletes_sealed_keys_after_24_hours() {
    let env = Env::new();
    let (key, record) = env.create();
    env.platform.writes_left.set(Some(0));
    assert!(block_on(env.store().revoke(&record.key_id, None)).is_err());
    assert_eq!(
        env.platform.ledger_next_alarm(&record.key_id),
        Some(T0 + RETRY_PENDING_SECS)
    );
    // KV still refuses writes when the alarm first fires: it tries again later.
    assert!(env.platform.ledger_alarm(&record.key_id).is_err());
    env.platform.writes_left.set(None);
    assert!(env.auth(&key), "KV missed the revoke");
    env.evict_objects();
    env.platform.advance_secs(RETRY_PENDING_SECS);
    env.platform.ledger_alarm(&record.key_id).unwrap();
    assert!(!env.auth(&key), "no call needed: the alarm wrote KV");
    assert_eq!(env.platform.ledger_next_alarm(&record.key_id), None);

    // A remembered outcome (with its sealed key) is deleted when its window ends, call or not.
    let k = idem("ops", IDEM);
    let fp = fingerprint("create", "", b"{}");
    let created = block_on(env.store().create_with(new_key(), Some((&k, fp)))).unwrap();
    let id = created.record.key_id;
    let until = env.platform.now_secs() + IDEMPOTENCY_WINDOW_SECS;
    assert_eq!(env.platform.ledger_next_alarm(&id), Some(until));
    env.evict_objects();
    env.platform.advance_secs(IDEMPOTENCY_WINDOW_SECS);
    env.platform.ledger_alarm(&id).unwrap();
    let storage = env.platform.ledger_storage.borrow();
    assert_eq!(
        storage[&id].keys().collect::<Vec<_>>(),
        vec![STATE_KEY],
        "only the state is left"
    );
}
