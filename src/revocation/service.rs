//! The logic of the revocation Durable Object (one object, named `global`), free of Workers types:
//! the object in `edge` passes requests in and applies the storage writes that come back.
//!
//! Internal API (JSON; only the gateway calls it, through the Durable Object binding):
//!
//! | call                         | body                                   | answer                          |
//! |------------------------------|----------------------------------------|---------------------------------|
//! | `GET /snapshot?since=<v>`    |                                        | `Snapshot` (delta after `v`)    |
//! | `POST /check`                | `CredentialFacts`                      | `{version, revoked, before?}`   |
//! | `POST /tokens`               | `{jti, iss?, until}`                   | `{version, created, entry}`     |
//! | `POST /subjects`             | `{sub, iss?, before, until}`           | `{version, created, entry}`     |
//! | `POST /keys`                 | `{key_id, until}`                      | `{version, created, entry}`     |
//! | `POST /sessions`             | `{sid, iss?, until}`                   | `{version, created, entry}`     |
//! | `GET /stats`                 |                                        | `{version, entries, next_expiry}` |
//!
//! A write never weakens an entry: re-revoking keeps the later `until` and the later `before`.
//! Storage: `tok:<json [jti, iss]>`, `sub:<json [sub, iss]>`, `key:<key_id>`,
//! `sid:<json [sid, iss]>` → the entry's JSON,
//! and `meta:version`. Expired entries are deleted on every write and by the object's alarm.

use serde::Deserialize;
use serde_json::json;

use super::set::{
    CredentialFacts, KeyEntry, RevocationSet, SessionEntry, SubjectEntry, TokenEntry, MAX_ENTRIES,
};
pub use crate::ratelimit::service::StorageWrite;

pub const VERSION_KEY: &str = "meta:version";
/// Longest identifier accepted in an entry (`jti`, `sub`, `iss`, `key_id`).
pub const MAX_ID_LEN: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceResponse {
    pub status: u16,
    pub body: String,
}

impl ServiceResponse {
    fn ok(body: String) -> Self {
        ServiceResponse { status: 200, body }
    }

    fn error(status: u16, message: impl Into<String>) -> Self {
        ServiceResponse {
            status,
            body: json!({"error": message.into()}).to_string(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenWrite {
    jti: String,
    #[serde(default)]
    iss: Option<String>,
    until: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectWrite {
    sub: String,
    #[serde(default)]
    iss: Option<String>,
    before: u64,
    until: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyWrite {
    key_id: String,
    until: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionWrite {
    sid: String,
    #[serde(default)]
    iss: Option<String>,
    until: u64,
}

fn session_key(sid: &str, iss: &Option<String>) -> String {
    format!("sid:{}", json!([sid, iss]))
}

fn token_key(jti: &str, iss: &Option<String>) -> String {
    format!("tok:{}", json!([jti, iss]))
}

fn subject_key(sub: &str, iss: &Option<String>) -> String {
    format!("sub:{}", json!([sub, iss]))
}

fn key_key(key_id: &str) -> String {
    format!("key:{key_id}")
}

fn id_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_ID_LEN
}

#[derive(Debug, Default)]
pub struct RevocationService {
    set: RevocationSet,
}

impl RevocationService {
    /// Rebuilds the state from storage. Unreadable entries are skipped (and so no longer
    /// enforced): the object logs how many (`load` returns the count).
    pub fn load<I: IntoIterator<Item = (String, String)>>(entries: I) -> (Self, usize) {
        let mut set = RevocationSet::default();
        let mut unreadable = 0;
        let mut version = 0;
        for (key, value) in entries {
            let ok = if key == VERSION_KEY {
                value.parse::<u64>().map(|v| version = v).is_ok()
            } else if key.starts_with("tok:") {
                serde_json::from_str::<TokenEntry>(&value)
                    .map(|e| set.put_token(e))
                    .is_ok()
            } else if key.starts_with("sub:") {
                serde_json::from_str::<SubjectEntry>(&value)
                    .map(|e| set.put_subject(e))
                    .is_ok()
            } else if key.starts_with("key:") {
                serde_json::from_str::<KeyEntry>(&value)
                    .map(|e| set.put_key(e))
                    .is_ok()
            } else if key.starts_with("sid:") {
                serde_json::from_str::<SessionEntry>(&value)
                    .map(|e| set.put_session(e))
                    .is_ok()
            } else {
                true
            };
            if !ok {
                unreadable += 1;
            }
        }
        set.version = set.version.max(version);
        (RevocationService { set }, unreadable)
    }

    pub fn set(&self) -> &RevocationSet {
        &self.set
    }

    /// Deletes expired entries; returns the storage keys to delete.
    pub fn prune(&mut self, now_secs: u64) -> Vec<StorageWrite> {
        let gone = self.set.prune(now_secs);
        let mut writes = Vec::new();
        writes.extend(
            gone.tokens
                .iter()
                .map(|e| StorageWrite::Delete(token_key(&e.jti, &e.iss))),
        );
        writes.extend(
            gone.subjects
                .iter()
                .map(|e| StorageWrite::Delete(subject_key(&e.sub, &e.iss))),
        );
        writes.extend(
            gone.keys
                .iter()
                .map(|e| StorageWrite::Delete(key_key(&e.key_id))),
        );
        writes.extend(
            gone.sessions
                .iter()
                .map(|e| StorageWrite::Delete(session_key(&e.sid, &e.iss))),
        );
        writes
    }

    /// When the alarm should fire next (ms): the earliest expiry.
    pub fn next_alarm_ms(&self) -> Option<u64> {
        self.set.next_expiry().map(|s| s.saturating_mul(1000))
    }

    pub fn handle(
        &mut self,
        method: &str,
        path: &str,
        body: &str,
        now_ms: u64,
    ) -> (ServiceResponse, Vec<StorageWrite>) {
        let now = now_ms / 1000;
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        match (method, route) {
            ("GET", "/snapshot") => {
                let since = query
                    .split('&')
                    .find_map(|p| p.strip_prefix("since="))
                    .map(|v| v.parse::<u64>());
                match since {
                    None => (self.snapshot(0, now), Vec::new()),
                    Some(Ok(v)) => (self.snapshot(v, now), Vec::new()),
                    Some(Err(_)) => (
                        ServiceResponse::error(400, "since must be a version number"),
                        Vec::new(),
                    ),
                }
            }
            ("POST", "/check") => match serde_json::from_str::<CredentialFacts>(body) {
                Ok(facts) => {
                    let verdict = self.set.check(&facts, now);
                    let mut out = json!({"version": self.set.version, "revoked": verdict.map(|r| r.as_str())});
                    if let Some(super::set::Revoked::Subject { before }) = verdict {
                        out["before"] = json!(before);
                    }
                    (ServiceResponse::ok(out.to_string()), Vec::new())
                }
                Err(e) => (
                    ServiceResponse::error(400, format!("invalid check: {e}")),
                    Vec::new(),
                ),
            },
            ("POST", "/tokens" | "/subjects" | "/keys" | "/sessions") => self.write(route, body, now),
            // What the object holds, expired entries not yet deleted included (operators, tests).
            ("GET", "/stats") => (
                ServiceResponse::ok(
                    json!({"version": self.set.version, "entries": self.set.len(), "next_expiry": self.set.next_expiry()})
                        .to_string(),
                ),
                Vec::new(),
            ),
            _ => (ServiceResponse::error(404, "no such call"), Vec::new()),
        }
    }

    fn snapshot(&self, since: u64, now: u64) -> ServiceResponse {
        let snap = self.set.snapshot_since(since, now);
        ServiceResponse::ok(serde_json::to_string(&snap).unwrap_or_default())
    }

    fn room_for(&self, new_entry: bool) -> Result<(), String> {
        if new_entry && self.set.len() >= MAX_ENTRIES {
            Err(FULL.to_string())
        } else {
            Ok(())
        }
    }

    fn write(&mut self, route: &str, body: &str, now: u64) -> (ServiceResponse, Vec<StorageWrite>) {
        let mut writes = self.prune(now);
        let v = self.set.version + 1;
        let result: Result<(String, serde_json::Value, bool), String> = match route {
            "/tokens" => serde_json::from_str::<TokenWrite>(body)
                .map_err(|e| e.to_string())
                .and_then(|w| {
                    if !id_ok(&w.jti) || w.iss.as_deref().is_some_and(|i| !id_ok(i)) {
                        return Err(format!("jti and iss are 1 to {MAX_ID_LEN} bytes"));
                    }
                    let existing = self.set.token(&w.jti, w.iss.as_deref()).cloned();
                    self.room_for(existing.is_none())?;
                    let created = existing.is_none();
                    let entry = self.set.put_token(TokenEntry {
                        until: existing.map_or(w.until, |e| e.until.max(w.until)),
                        jti: w.jti,
                        iss: w.iss,
                        v,
                    });
                    Ok((token_key(&entry.jti, &entry.iss), json!(entry), created))
                }),
            "/subjects" => serde_json::from_str::<SubjectWrite>(body)
                .map_err(|e| e.to_string())
                .and_then(|w| {
                    if !id_ok(&w.sub) || w.iss.as_deref().is_some_and(|i| !id_ok(i)) {
                        return Err(format!("sub and iss are 1 to {MAX_ID_LEN} bytes"));
                    }
                    let existing = self.set.subject(&w.sub, w.iss.as_deref()).cloned();
                    self.room_for(existing.is_none())?;
                    let created = existing.is_none();
                    let entry = self.set.put_subject(SubjectEntry {
                        before: existing
                            .as_ref()
                            .map_or(w.before, |e| e.before.max(w.before)),
                        until: existing.as_ref().map_or(w.until, |e| e.until.max(w.until)),
                        sub: w.sub,
                        iss: w.iss,
                        v,
                    });
                    Ok((subject_key(&entry.sub, &entry.iss), json!(entry), created))
                }),
            "/sessions" => serde_json::from_str::<SessionWrite>(body)
                .map_err(|e| e.to_string())
                .and_then(|w| {
                    if !id_ok(&w.sid) || w.iss.as_deref().is_some_and(|i| !id_ok(i)) {
                        return Err(format!("sid and iss are 1 to {MAX_ID_LEN} bytes"));
                    }
                    let existing = self.set.session(&w.sid, w.iss.as_deref()).cloned();
                    self.room_for(existing.is_none())?;
                    let created = existing.is_none();
                    let entry = self.set.put_session(SessionEntry {
                        until: existing.map_or(w.until, |e| e.until.max(w.until)),
                        sid: w.sid,
                        iss: w.iss,
                        v,
                    });
                    Ok((session_key(&entry.sid, &entry.iss), json!(entry), created))
                }),
            _ => serde_json::from_str::<KeyWrite>(body)
                .map_err(|e| e.to_string())
                .and_then(|w| {
                    if !id_ok(&w.key_id) {
                        return Err(format!("key_id is 1 to {MAX_ID_LEN} bytes"));
                    }
                    let existing = self.set.key(&w.key_id).cloned();
                    self.room_for(existing.is_none())?;
                    let created = existing.is_none();
                    let entry = self.set.put_key(KeyEntry {
                        until: existing.map_or(w.until, |e| e.until.max(w.until)),
                        key_id: w.key_id,
                        v,
                    });
                    Ok((key_key(&entry.key_id), json!(entry), created))
                }),
        };
        match result {
            Ok((key, entry, created)) => {
                writes.push(StorageWrite::Put(key, entry.to_string()));
                writes.push(StorageWrite::Put(VERSION_KEY.into(), v.to_string()));
                let body = json!({"version": v, "created": created, "entry": entry});
                (ServiceResponse::ok(body.to_string()), writes)
            }
            Err(e) if e == FULL => (ServiceResponse::error(507, FULL), writes),
            Err(e) => (ServiceResponse::error(400, e), writes),
        }
    }
}

const FULL: &str = "the revocation list is full";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const NOW_MS: u64 = 1_767_225_600_000;
    const NOW: u64 = NOW_MS / 1000;

    fn call(
        svc: &mut RevocationService,
        method: &str,
        path: &str,
        body: Value,
    ) -> (u16, Value, Vec<StorageWrite>) {
        let (r, w) = svc.handle(method, path, &body.to_string(), NOW_MS);
        (r.status, serde_json::from_str(&r.body).unwrap(), w)
    }

    /// Applies writes to a map, as the object does with its storage.
    fn persist(store: &mut std::collections::BTreeMap<String, String>, writes: Vec<StorageWrite>) {
        for w in writes {
            match w {
                StorageWrite::Put(k, v) => {
                    store.insert(k, v);
                }
                StorageWrite::Delete(k) => {
                    store.remove(&k);
                }
            }
        }
    }

    #[test]
    fn writes_check_and_persist() {
        let mut svc = RevocationService::default();
        let mut store = std::collections::BTreeMap::new();
        let (s, v, w) = call(
            &mut svc,
            "POST",
            "/tokens",
            json!({"jti": "j1", "until": NOW + 60}),
        );
        assert_eq!(s, 200);
        assert_eq!(
            v,
            json!({"version": 1, "created": true, "entry": {"jti": "j1", "until": NOW + 60, "v": 1}})
        );
        persist(&mut store, w);
        let (_, v, w) = call(
            &mut svc,
            "POST",
            "/subjects",
            json!({"sub": "alice", "iss": "https://a", "before": NOW, "until": NOW + 3600}),
        );
        assert_eq!(v["version"], 2);
        persist(&mut store, w);
        let (_, _, w) = call(
            &mut svc,
            "POST",
            "/keys",
            json!({"key_id": "key_x", "until": NOW + 30}),
        );
        persist(&mut store, w);
        assert_eq!(store.len(), 4, "{store:?}");
        assert_eq!(store.get(VERSION_KEY).map(String::as_str), Some("3"));

        let (_, v, _) = call(
            &mut svc,
            "POST",
            "/check",
            json!({"jti": "j1", "iss": "https://b"}),
        );
        assert_eq!(v, json!({"version": 3, "revoked": "token"}));
        let (_, v, _) = call(
            &mut svc,
            "POST",
            "/check",
            json!({"sub": "alice", "iss": "https://a", "iat": NOW - 5}),
        );
        assert_eq!(
            v,
            json!({"version": 3, "revoked": "subject", "before": NOW})
        );
        let (_, v, _) = call(
            &mut svc,
            "POST",
            "/check",
            json!({"sub": "alice", "iss": "https://a", "iat": NOW}),
        );
        assert_eq!(v, json!({"version": 3, "revoked": null}));
        let (_, v, _) = call(&mut svc, "POST", "/check", json!({"key_id": "key_x"}));
        assert_eq!(v["revoked"], "key");

        // Storage reloads to the same state.
        let (again, unreadable) = RevocationService::load(store.clone());
        assert_eq!(unreadable, 0);
        assert_eq!(again.set(), svc.set());
    }

    #[test]
    fn snapshots_and_deltas() {
        let mut svc = RevocationService::default();
        call(
            &mut svc,
            "POST",
            "/tokens",
            json!({"jti": "a", "until": NOW + 60}),
        );
        call(
            &mut svc,
            "POST",
            "/tokens",
            json!({"jti": "b", "until": NOW + 60}),
        );
        let (s, v, _) = call(&mut svc, "GET", "/snapshot?since=0", Value::Null);
        assert_eq!(s, 200);
        assert_eq!(
            (
                v["version"].as_u64(),
                v["full"].as_bool(),
                v["tokens"].as_array().unwrap().len()
            ),
            (Some(2), Some(true), 2)
        );
        let (_, v, _) = call(&mut svc, "GET", "/snapshot?since=1", Value::Null);
        assert_eq!(
            v["tokens"],
            json!([{"jti": "b", "until": NOW + 60, "v": 2}])
        );
        let (_, v, _) = call(&mut svc, "GET", "/snapshot", Value::Null);
        assert_eq!(v["full"], true);
        let (s, _, _) = call(&mut svc, "GET", "/snapshot?since=x", Value::Null);
        assert_eq!(s, 400);
    }

    #[test]
    fn rewrites_never_weaken() {
        let mut svc = RevocationService::default();
        call(
            &mut svc,
            "POST",
            "/subjects",
            json!({"sub": "u", "before": NOW, "until": NOW + 100}),
        );
        let (_, v, _) = call(
            &mut svc,
            "POST",
            "/subjects",
            json!({"sub": "u", "before": NOW - 50, "until": NOW + 10}),
        );
        assert_eq!(v["created"], false);
        assert_eq!(
            v["entry"],
            json!({"sub": "u", "before": NOW, "until": NOW + 100, "v": 2})
        );
        call(
            &mut svc,
            "POST",
            "/tokens",
            json!({"jti": "j", "until": NOW + 100}),
        );
        let (_, v, _) = call(
            &mut svc,
            "POST",
            "/tokens",
            json!({"jti": "j", "until": NOW + 5}),
        );
        assert_eq!(v["entry"]["until"], NOW + 100);
        call(
            &mut svc,
            "POST",
            "/keys",
            json!({"key_id": "k", "until": NOW + 100}),
        );
        let (_, v, _) = call(
            &mut svc,
            "POST",
            "/keys",
            json!({"key_id": "k", "until": NOW + 200}),
        );
        assert_eq!(v["entry"]["until"], NOW + 200);
    }

    #[test]
    fn expired_entries_leave_storage() {
        let mut svc = RevocationService::default();
        let mut store = std::collections::BTreeMap::new();
        let (_, _, w) = call(
            &mut svc,
            "POST",
            "/tokens",
            json!({"jti": "old", "until": NOW + 1}),
        );
        persist(&mut store, w);
        assert_eq!(svc.next_alarm_ms(), Some((NOW + 1) * 1000));
        let w = svc.prune(NOW + 1);
        assert_eq!(w, vec![StorageWrite::Delete(token_key("old", &None))]);
        persist(&mut store, w);
        assert_eq!(store.keys().collect::<Vec<_>>(), vec![VERSION_KEY]);
        assert_eq!(svc.next_alarm_ms(), None);
        let (s, v, _) = call(&mut svc, "GET", "/stats", Value::Null);
        assert_eq!(
            (s, v),
            (
                200,
                json!({"version": 1, "entries": 0, "next_expiry": null})
            )
        );
    }

    #[test]
    fn bad_calls() {
        let mut svc = RevocationService::default();
        for (m, p, b) in [
            ("POST", "/tokens", json!({"jti": "", "until": 1})),
            (
                "POST",
                "/tokens",
                json!({"jti": "x".repeat(513), "until": 1}),
            ),
            ("POST", "/tokens", json!({"jti": "a"})),
            ("POST", "/tokens", json!({"jti": "a", "until": 1, "x": 1})),
            ("POST", "/subjects", json!({"sub": "a", "until": 1})),
            ("POST", "/keys", json!({"key_id": "", "until": 1})),
            ("POST", "/check", json!("x")),
        ] {
            let (s, v, _) = call(&mut svc, m, p, b.clone());
            assert_eq!(s, 400, "{p} {b}");
            assert!(v["error"].is_string());
        }
        assert_eq!(call(&mut svc, "GET", "/nope", Value::Null).0, 404);
        assert_eq!(call(&mut svc, "DELETE", "/tokens", Value::Null).0, 404);
        assert!(svc.set().is_empty());
    }

    #[test]
    fn session_entries_write_check_persist_and_expire() {
        let mut svc = RevocationService::default();
        let mut store = std::collections::BTreeMap::new();
        let (s, v, w) = call(
            &mut svc,
            "POST",
            "/sessions",
            json!({"sid": "s1", "iss": "https://gw", "until": NOW + 60}),
        );
        assert_eq!(s, 200);
        assert_eq!(
            v,
            json!({"version": 1, "created": true, "entry": {"sid": "s1", "iss": "https://gw", "until": NOW + 60, "v": 1}})
        );
        persist(&mut store, w);
        let (_, v, _) = call(
            &mut svc,
            "POST",
            "/check",
            json!({"sid": "s1", "iss": "https://gw", "sub": "alice", "iat": NOW}),
        );
        assert_eq!(v, json!({"version": 1, "revoked": "session"}));
        let (_, v, _) = call(
            &mut svc,
            "POST",
            "/check",
            json!({"sid": "s1", "iss": "https://other", "sub": "alice"}),
        );
        assert_eq!(v["revoked"], Value::Null, "another issuer's sid");
        let (_, v, _) = call(&mut svc, "GET", "/snapshot?since=0", Value::Null);
        assert_eq!(v["sessions"][0]["sid"], "s1");
        let (again, bad) = RevocationService::load(store.clone());
        assert_eq!((bad, again.set()), (0, svc.set()));
        let w = svc.prune(NOW + 60);
        assert_eq!(
            w,
            vec![StorageWrite::Delete("sid:[\"s1\",\"https://gw\"]".into())]
        );
        let (s, _, _) = call(
            &mut svc,
            "POST",
            "/sessions",
            json!({"sid": "", "until": 1}),
        );
        assert_eq!(s, 400);
    }

    #[test]
    fn unreadable_storage_is_counted() {
        let (svc, bad) = RevocationService::load([
            ("tok:[\"a\",null]".to_string(), "garbage".to_string()),
            (VERSION_KEY.to_string(), "7".to_string()),
            (
                "key:k".to_string(),
                json!({"key_id": "k", "until": NOW + 5, "v": 3}).to_string(),
            ),
        ]);
        assert_eq!(bad, 1);
        assert_eq!(svc.set().version, 7);
        assert_eq!(svc.set().len(), 1);
    }
}
