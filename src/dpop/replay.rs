//! The DPoP `jti` replay cache (RFC 9449 §11.1): exact across isolates, because it lives in one
//! Durable Object per proof key (`DpopReplay`, binding `PORTCULLIS_DPOP`, named by the key's RFC
//! 7638 thumbprint). A proof's `jti` is remembered until its `iat` leaves the accepted window, after
//! which the proof is refused as stale anyway, so the object holds only what can still matter.
//!
//! The object class (`edge::dpop`) is a shell: it hands each call to `ReplayLog` and applies the
//! storage writes it returns. The object sees a SHA-256 of the `jti`, never the value.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::platform::{Platform, StoreError};
use crate::ratelimit::service::StorageWrite;

/// Storage keys: `j:<hex sha-256 of the jti>` → the Unix second until which it is remembered.
const KEY_PREFIX: &str = "j:";

/// A call may not ask to remember a `jti` longer than this ahead of the object's clock.
const MAX_AHEAD_SECS: u64 = 3_600;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Hex SHA-256 of the proof's `jti`.
    pub jti: String,
    /// Remember it until this Unix second.
    pub until: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayAnswer {
    /// `true`: first use, now recorded; `false`: seen before and still remembered.
    pub fresh: bool,
}

/// The object's state: every remembered `jti` hash and its end.
#[derive(Debug, Default)]
pub struct ReplayLog {
    seen: HashMap<String, u64>,
}

impl ReplayLog {
    /// From the object's storage; entries that do not read back are skipped.
    pub fn load(entries: Vec<(String, String)>) -> Self {
        let seen = entries
            .into_iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(KEY_PREFIX)?.to_string(), v.parse().ok()?)))
            .collect();
        ReplayLog { seen }
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// One call: the answer and the storage writes to apply before answering. Decided without
    /// awaiting anything, so two calls for one `jti` cannot both be fresh.
    pub fn handle(
        &mut self,
        body: &str,
        now_secs: u64,
    ) -> Result<(ReplayAnswer, Vec<StorageWrite>), String> {
        let req: ReplayRequest =
            serde_json::from_str(body).map_err(|e| format!("bad replay request: {e}"))?;
        if req.jti.len() != 64 || !req.jti.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("jti must be a hex SHA-256".into());
        }
        if req.until > now_secs.saturating_add(MAX_AHEAD_SECS) {
            return Err("until is too far ahead".into());
        }
        if self
            .seen
            .get(&req.jti)
            .is_some_and(|until| *until >= now_secs)
        {
            return Ok((ReplayAnswer { fresh: false }, Vec::new()));
        }
        self.seen.insert(req.jti.clone(), req.until);
        let write = StorageWrite::Put(format!("{KEY_PREFIX}{}", req.jti), req.until.to_string());
        Ok((ReplayAnswer { fresh: true }, vec![write]))
    }

    /// When the next entry ends (ms), for the object's alarm.
    pub fn next_alarm_ms(&self) -> Option<u64> {
        self.seen.values().min().map(|s| (s + 1) * 1000)
    }

    /// Forgets every entry past its end.
    pub fn prune(&mut self, now_secs: u64) -> Vec<StorageWrite> {
        let gone: Vec<String> = self
            .seen
            .iter()
            .filter(|(_, until)| **until < now_secs)
            .map(|(k, _)| k.clone())
            .collect();
        gone.into_iter()
            .map(|k| {
                self.seen.remove(&k);
                StorageWrite::Delete(format!("{KEY_PREFIX}{k}"))
            })
            .collect()
    }
}

/// Records the proof's `jti` with the object of its key: `Ok(true)` the first time, `Ok(false)`
/// for a replay, `Err` when the object cannot be asked (the caller fails closed).
pub(crate) async fn record<P: Platform>(
    platform: &P,
    jkt: &str,
    jti: &str,
    until: u64,
) -> Result<bool, StoreError> {
    let hash: String = Sha256::digest(jti.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let body = serde_json::to_string(&ReplayRequest { jti: hash, until })
        .map_err(|e| StoreError(e.to_string()))?;
    let answer = platform.dpop_call(jkt, body).await?;
    serde_json::from_str::<ReplayAnswer>(&answer)
        .map(|a| a.fresh)
        .map_err(|_| StoreError("the DPoP replay object's answer is unreadable".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(log: &mut ReplayLog, jti: &str, until: u64, now: u64) -> Result<bool, String> {
        let body = serde_json::json!({ "jti": jti, "until": until }).to_string();
        log.handle(&body, now).map(|(a, _)| a.fresh)
    }

    const H: &str = "0000000000000000000000000000000000000000000000000000000000000001";

    #[test]
    fn a_jti_is_fresh_once_until_it_ends() {
        let mut log = ReplayLog::default();
        assert_eq!(call(&mut log, H, 160, 100), Ok(true));
        assert_eq!(call(&mut log, H, 160, 150), Ok(false));
        assert_eq!(call(&mut log, H, 160, 160), Ok(false));
        assert_eq!(log.next_alarm_ms(), Some(161_000));
        assert_eq!(log.prune(160), vec![]);
        assert_eq!(log.prune(161), vec![StorageWrite::Delete(format!("j:{H}"))]);
        assert!(log.is_empty());
        assert_eq!(call(&mut log, H, 230, 170), Ok(true));
    }

    #[test]
    fn state_survives_a_reload() {
        let mut log = ReplayLog::default();
        let (_, writes) = log
            .handle(
                &serde_json::json!({"jti": H, "until": 160}).to_string(),
                100,
            )
            .unwrap();
        let entries = writes
            .into_iter()
            .map(|w| match w {
                StorageWrite::Put(k, v) => (k, v),
                StorageWrite::Delete(_) => unreachable!(),
            })
            .chain([("junk".into(), "x".into()), ("j:x".into(), "nan".into())])
            .collect();
        let mut reloaded = ReplayLog::load(entries);
        assert_eq!(reloaded.len(), 1);
        assert_eq!(call(&mut reloaded, H, 160, 120), Ok(false));
    }

    #[test]
    fn bad_calls_are_refused() {
        let mut log = ReplayLog::default();
        assert!(call(&mut log, "abc", 160, 100).is_err());
        assert!(call(&mut log, H, 100 + MAX_AHEAD_SECS + 1, 100).is_err());
        assert!(log.handle("{}", 100).is_err());
        assert!(log
            .handle(
                &serde_json::json!({"jti": H, "until": 1, "x": 1}).to_string(),
                0
            )
            .is_err());
    }
}
