//! Workers KV (`PORTCULLIS_KV`) for the gateway's platform and the API-key ledger objects alike:
//! one translation of each operation and its failure into a `StoreError`.

use worker::kv::KvStore;
use worker::Env;

use crate::platform::{KvPage, StoreError};

const KV_BINDING: &str = "PORTCULLIS_KV";

fn store(env: &Env) -> Result<KvStore, StoreError> {
    env.kv(KV_BINDING)
        .map_err(|_| StoreError(format!("KV binding {KV_BINDING} is missing")))
}

pub(super) async fn get(env: &Env, key: &str) -> Result<Option<String>, StoreError> {
    store(env)?
        .get(key)
        .text()
        .await
        .map_err(|e| StoreError(format!("KV get failed: {e}")))
}

/// KV refuses an `expirationTtl` under 60 s, so a shorter one is stored as 60 s.
pub(super) async fn put(
    env: &Env,
    key: &str,
    value: &str,
    expiration_ttl: Option<u64>,
) -> Result<(), StoreError> {
    let mut put = store(env)?
        .put(key, value)
        .map_err(|e| StoreError(format!("KV put failed: {e}")))?;
    if let Some(ttl) = expiration_ttl {
        put = put.expiration_ttl(ttl.max(60));
    }
    put.execute()
        .await
        .map_err(|e| StoreError(format!("KV put failed: {e}")))
}

pub(super) async fn delete(env: &Env, key: &str) -> Result<(), StoreError> {
    store(env)?
        .delete(key)
        .await
        .map_err(|e| StoreError(format!("KV delete failed: {e}")))
}

pub(super) async fn list(
    env: &Env,
    prefix: &str,
    cursor: Option<&str>,
    limit: u32,
) -> Result<KvPage, StoreError> {
    let mut list = store(env)?
        .list()
        .prefix(prefix.to_string())
        .limit(u64::from(limit));
    if let Some(c) = cursor {
        list = list.cursor(c.to_string());
    }
    let page = list
        .execute()
        .await
        .map_err(|e| StoreError(format!("KV list failed: {e}")))?;
    Ok(KvPage {
        keys: page.keys.into_iter().map(|k| k.name).collect(),
        cursor: if page.list_complete {
            None
        } else {
            page.cursor
        },
    })
}
