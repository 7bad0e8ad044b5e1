//! The active revocation state: revoked token ids, revoked API key ids, and per-subject
//! "revoked before" instants. Every entry carries its own end (`until`, Unix seconds) and is
//! forgotten after it, so the set holds only what can still matter: a token id is kept until the
//! token's own `exp` (plus leeway), a subject entry until every token issued before it has expired.
//!
//! The same structure is the Durable Object's authoritative state and each isolate's snapshot.
//! Entries carry the version at which the object last wrote them, so an isolate refreshes with a
//! delta (`since` its version) rather than the whole list.
//!
//! Issuer scoping: `jti` and `sub` are unique per issuer (RFC 7519 §4.1.2, §4.1.7). An entry with an
//! `iss` matches only that issuer's tokens; an entry without one matches every issuer's (the
//! broader refusal, for an admin who does not know the issuer).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The token's `exp` plus leeway: after this no such token is accepted anyway.
    pub until: u64,
    #[serde(default)]
    pub v: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectEntry {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Tokens of this subject with `iat < before` (or no `iat`) are refused.
    pub before: u64,
    /// `before` plus the longest token lifetime: after this no affected token is still valid.
    pub until: u64,
    #[serde(default)]
    pub v: u64,
}

/// A session (`sid`) ended by the gateway's session service (a refresh-token replay, a logout, an
/// admin revoke): every access token carrying that `sid` (of that issuer) is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionEntry {
    pub sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// When the session's last access token has expired (its lifetime plus leeway from now).
    pub until: u64,
    #[serde(default)]
    pub v: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    pub key_id: String,
    pub until: u64,
    #[serde(default)]
    pub v: u64,
}

/// The wire form: a full list (`full`) or the entries written after the `since` version asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    pub version: u64,
    pub full: bool,
    #[serde(default)]
    pub tokens: Vec<TokenEntry>,
    #[serde(default)]
    pub subjects: Vec<SubjectEntry>,
    #[serde(default)]
    pub keys: Vec<KeyEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<SessionEntry>,
}

/// What a verified credential says about itself, for the revocation check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialFacts<'a> {
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<&'a str>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<&'a str>,
    /// JWTs only: API keys are revoked by key id, never by subject.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<&'a str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<&'a str>,
    /// JWTs only: the session id (`sid`) of a gateway-issued token.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<&'a str>,
}

impl CredentialFacts<'_> {
    /// The revocation entries `RevocationSet::check` looks this credential up by, in its order,
    /// named as docs/revocation.md names them: `cert:<fingerprint>` (a client certificate, or the
    /// one a token is bound to) or `key id` (an API key), `jti`, `sid`, `sub`. A fact the
    /// credential lacks (a token without `jti`) is not looked up, so it is not listed.
    pub fn entries_checked(&self) -> Vec<&'static str> {
        let key = self.key_id.map(|id| {
            if id.starts_with(crate::mtls::REVOCATION_ID_PREFIX) {
                "cert:<fingerprint>"
            } else {
                "key id"
            }
        });
        let by = [
            key,
            self.jti.map(|_| "jti"),
            self.sid.map(|_| "sid"),
            self.sub.map(|_| "sub"),
        ];
        by.into_iter().flatten().collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    Token,
    Subject { before: u64 },
    Key,
    Session,
}

impl Revoked {
    pub fn as_str(self) -> &'static str {
        match self {
            Revoked::Token => "token",
            Revoked::Subject { .. } => "subject",
            Revoked::Key => "key",
            Revoked::Session => "session",
        }
    }
}

/// Hard cap on entries in one set; the admin API refuses more (see docs/revocation.md).
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationSet {
    /// By `jti`; the short list holds one entry per issuer scope.
    tokens: HashMap<String, Vec<TokenEntry>>,
    subjects: HashMap<String, Vec<SubjectEntry>>,
    keys: HashMap<String, KeyEntry>,
    /// By `sid`; the short list holds one entry per issuer scope.
    sessions: HashMap<String, Vec<SessionEntry>>,
    len: usize,
    /// The highest entry version seen (the object's write counter).
    pub version: u64,
}

fn issuer_matches(entry: &Option<String>, iss: Option<&str>) -> bool {
    match entry {
        None => true,
        Some(e) => iss == Some(e.as_str()),
    }
}

impl RevocationSet {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Is this credential revoked at `now` (Unix seconds)? Allocation-free: this runs on every
    /// request.
    pub fn check(&self, c: &CredentialFacts<'_>, now: u64) -> Option<Revoked> {
        if self.len == 0 {
            return None;
        }
        if let Some(key_id) = c.key_id {
            if self.keys.get(key_id).is_some_and(|e| e.until > now) {
                return Some(Revoked::Key);
            }
        }
        if let Some(jti) = c.jti {
            if let Some(list) = self.tokens.get(jti) {
                if list
                    .iter()
                    .any(|e| e.until > now && issuer_matches(&e.iss, c.iss))
                {
                    return Some(Revoked::Token);
                }
            }
        }
        if let Some(sid) = c.sid {
            if let Some(list) = self.sessions.get(sid) {
                if list
                    .iter()
                    .any(|e| e.until > now && issuer_matches(&e.iss, c.iss))
                {
                    return Some(Revoked::Session);
                }
            }
        }
        if let Some(sub) = c.sub {
            if let Some(list) = self.subjects.get(sub) {
                for e in list {
                    // No `iat`: the token cannot show it was issued after the revocation.
                    if e.until > now
                        && issuer_matches(&e.iss, c.iss)
                        && c.iat.is_none_or(|iat| iat < e.before)
                    {
                        return Some(Revoked::Subject { before: e.before });
                    }
                }
            }
        }
        None
    }

    /// Inserts or replaces the token entry with the same (`jti`, `iss`). Returns the stored entry.
    pub fn put_token(&mut self, e: TokenEntry) -> TokenEntry {
        self.version = self.version.max(e.v);
        let list = self.tokens.entry(e.jti.clone()).or_default();
        match list.iter_mut().find(|x| x.iss == e.iss) {
            Some(x) => *x = e.clone(),
            None => {
                list.push(e.clone());
                self.len += 1;
            }
        }
        e
    }

    pub fn put_subject(&mut self, e: SubjectEntry) -> SubjectEntry {
        self.version = self.version.max(e.v);
        let list = self.subjects.entry(e.sub.clone()).or_default();
        match list.iter_mut().find(|x| x.iss == e.iss) {
            Some(x) => *x = e.clone(),
            None => {
                list.push(e.clone());
                self.len += 1;
            }
        }
        e
    }

    pub fn put_key(&mut self, e: KeyEntry) -> KeyEntry {
        self.version = self.version.max(e.v);
        if self.keys.insert(e.key_id.clone(), e.clone()).is_none() {
            self.len += 1;
        }
        e
    }

    pub fn put_session(&mut self, e: SessionEntry) -> SessionEntry {
        self.version = self.version.max(e.v);
        let list = self.sessions.entry(e.sid.clone()).or_default();
        match list.iter_mut().find(|x| x.iss == e.iss) {
            Some(x) => *x = e.clone(),
            None => {
                list.push(e.clone());
                self.len += 1;
            }
        }
        e
    }

    pub fn session(&self, sid: &str, iss: Option<&str>) -> Option<&SessionEntry> {
        self.sessions
            .get(sid)?
            .iter()
            .find(|e| e.iss.as_deref() == iss)
    }

    pub fn token(&self, jti: &str, iss: Option<&str>) -> Option<&TokenEntry> {
        self.tokens
            .get(jti)?
            .iter()
            .find(|e| e.iss.as_deref() == iss)
    }

    pub fn subject(&self, sub: &str, iss: Option<&str>) -> Option<&SubjectEntry> {
        self.subjects
            .get(sub)?
            .iter()
            .find(|e| e.iss.as_deref() == iss)
    }

    pub fn key(&self, key_id: &str) -> Option<&KeyEntry> {
        self.keys.get(key_id)
    }

    /// Forgets every entry whose `until` has passed. Returns what was removed, for the object to
    /// delete from storage.
    pub fn prune(&mut self, now: u64) -> Snapshot {
        let mut gone = Snapshot::default();
        self.tokens.retain(|_, list| {
            list.retain(|e| {
                let keep = e.until > now;
                if !keep {
                    gone.tokens.push(e.clone());
                }
                keep
            });
            !list.is_empty()
        });
        self.subjects.retain(|_, list| {
            list.retain(|e| {
                let keep = e.until > now;
                if !keep {
                    gone.subjects.push(e.clone());
                }
                keep
            });
            !list.is_empty()
        });
        self.keys.retain(|_, e| {
            let keep = e.until > now;
            if !keep {
                gone.keys.push(e.clone());
            }
            keep
        });
        self.sessions.retain(|_, list| {
            list.retain(|e| {
                let keep = e.until > now;
                if !keep {
                    gone.sessions.push(e.clone());
                }
                keep
            });
            !list.is_empty()
        });
        self.len -= gone.tokens.len() + gone.subjects.len() + gone.keys.len() + gone.sessions.len();
        gone
    }

    /// The earliest `until` of any entry: when the next prune has work.
    pub fn next_expiry(&self) -> Option<u64> {
        let t = self.tokens.values().flatten().map(|e| e.until);
        let s = self.subjects.values().flatten().map(|e| e.until);
        let k = self.keys.values().map(|e| e.until);
        let x = self.sessions.values().flatten().map(|e| e.until);
        t.chain(s).chain(k).chain(x).min()
    }

    /// The entries written after version `since`, still active at `now`, sorted for stable output.
    /// `since = 0` (or a version the set has never reached: the object was reset) is the full list.
    pub fn snapshot_since(&self, since: u64, now: u64) -> Snapshot {
        let full = since == 0 || since > self.version;
        let since = if full { 0 } else { since };
        let mut snap = Snapshot {
            version: self.version,
            full,
            tokens: self
                .tokens
                .values()
                .flatten()
                .filter(|e| e.v > since && e.until > now)
                .cloned()
                .collect(),
            subjects: self
                .subjects
                .values()
                .flatten()
                .filter(|e| e.v > since && e.until > now)
                .cloned()
                .collect(),
            keys: self
                .keys
                .values()
                .filter(|e| e.v > since && e.until > now)
                .cloned()
                .collect(),
            sessions: self
                .sessions
                .values()
                .flatten()
                .filter(|e| e.v > since && e.until > now)
                .cloned()
                .collect(),
        };
        snap.tokens
            .sort_by(|a, b| (&a.jti, &a.iss).cmp(&(&b.jti, &b.iss)));
        snap.subjects
            .sort_by(|a, b| (&a.sub, &a.iss).cmp(&(&b.sub, &b.iss)));
        snap.keys.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        snap.sessions
            .sort_by(|a, b| (&a.sid, &a.iss).cmp(&(&b.sid, &b.iss)));
        snap
    }

    /// Applies a snapshot from the object: a full one replaces the set, a delta is merged.
    pub fn apply(&mut self, snap: Snapshot) {
        if snap.full {
            *self = RevocationSet::default();
        }
        let version = snap.version;
        for e in snap.tokens {
            self.put_token(e);
        }
        for e in snap.subjects {
            self.put_subject(e);
        }
        for e in snap.keys {
            self.put_key(e);
        }
        for e in snap.sessions {
            self.put_session(e);
        }
        self.version = self.version.max(version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_767_225_600;

    #[test]
    fn the_entries_checked_are_the_facts_the_credential_carries_in_check_order() {
        let token = CredentialFacts {
            iss: Some("https://id.example"),
            jti: Some("j"),
            sub: Some("alice"),
            iat: Some(NOW),
            key_id: Some("cert:AAAA"),
            sid: Some("s"),
        };
        assert_eq!(
            token.entries_checked(),
            ["cert:<fingerprint>", "jti", "sid", "sub"]
        );
        let bare = CredentialFacts {
            sub: Some("alice"),
            ..Default::default()
        };
        assert_eq!(bare.entries_checked(), ["sub"]);
        let api_key = CredentialFacts {
            key_id: Some("key_0123"),
            ..Default::default()
        };
        assert_eq!(api_key.entries_checked(), ["key id"]);
        assert!(CredentialFacts::default().entries_checked().is_empty());
    }

    fn tok(jti: &str, iss: Option<&str>, until: u64, v: u64) -> TokenEntry {
        TokenEntry {
            jti: jti.into(),
            iss: iss.map(Into::into),
            until,
            v,
        }
    }

    fn subj(sub: &str, iss: Option<&str>, before: u64, until: u64, v: u64) -> SubjectEntry {
        SubjectEntry {
            sub: sub.into(),
            iss: iss.map(Into::into),
            before,
            until,
            v,
        }
    }

    fn jwt<'a>(
        iss: &'a str,
        sub: &'a str,
        jti: Option<&'a str>,
        iat: Option<u64>,
    ) -> CredentialFacts<'a> {
        CredentialFacts {
            iss: Some(iss),
            jti,
            sub: Some(sub),
            iat,
            key_id: None,
            sid: None,
        }
    }

    #[test]
    fn sessions_are_scoped_by_issuer_and_expire() {
        let mut s = RevocationSet::default();
        s.put_session(SessionEntry {
            sid: "s1".into(),
            iss: Some("https://gw".into()),
            until: NOW + 60,
            v: 1,
        });
        let with_sid = |iss, sid| CredentialFacts {
            sid: Some(sid),
            ..jwt(iss, "u", Some("j"), Some(NOW))
        };
        assert_eq!(
            s.check(&with_sid("https://gw", "s1"), NOW),
            Some(Revoked::Session)
        );
        assert_eq!(s.check(&with_sid("https://other", "s1"), NOW), None);
        assert_eq!(s.check(&with_sid("https://gw", "s2"), NOW), None);
        assert_eq!(
            s.check(&jwt("https://gw", "u", Some("j"), Some(NOW)), NOW),
            None
        );
        assert_eq!(s.check(&with_sid("https://gw", "s1"), NOW + 60), None);
        assert_eq!(s.next_expiry(), Some(NOW + 60));
        let snap = s.snapshot_since(0, NOW);
        assert_eq!(snap.sessions.len(), 1);
        let mut copy = RevocationSet::default();
        copy.apply(snap);
        assert_eq!(copy, s);
        assert_eq!(s.prune(NOW + 60).sessions.len(), 1);
        assert!(s.is_empty());
    }

    #[test]
    fn empty_set_revokes_nothing() {
        let s = RevocationSet::default();
        assert_eq!(
            s.check(&jwt("https://a", "u", Some("j"), Some(NOW)), NOW),
            None
        );
    }

    #[test]
    fn token_ids_are_scoped_by_issuer_and_expire() {
        let mut s = RevocationSet::default();
        s.put_token(tok("j1", Some("https://a"), NOW + 60, 1));
        s.put_token(tok("j2", None, NOW + 60, 2));
        assert_eq!(
            s.check(&jwt("https://a", "u", Some("j1"), None), NOW),
            Some(Revoked::Token)
        );
        assert_eq!(
            s.check(&jwt("https://b", "u", Some("j1"), None), NOW),
            None,
            "another issuer's j1"
        );
        assert_eq!(
            s.check(&jwt("https://b", "u", Some("j2"), None), NOW),
            Some(Revoked::Token),
            "any issuer"
        );
        assert_eq!(s.check(&jwt("https://a", "u", Some("j3"), None), NOW), None);
        assert_eq!(
            s.check(&jwt("https://a", "u", None, None), NOW),
            None,
            "no jti, nothing to match"
        );
        assert_eq!(
            s.check(&jwt("https://a", "u", Some("j1"), None), NOW + 59),
            Some(Revoked::Token)
        );
        assert_eq!(
            s.check(&jwt("https://a", "u", Some("j1"), None), NOW + 60),
            None,
            "until is exclusive"
        );
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn subject_revocation_refuses_older_tokens_only() {
        let mut s = RevocationSet::default();
        s.put_subject(subj("alice", Some("https://a"), NOW, NOW + 3600, 1));
        let r = Some(Revoked::Subject { before: NOW });
        assert_eq!(
            s.check(&jwt("https://a", "alice", None, Some(NOW - 1)), NOW),
            r
        );
        assert_eq!(
            s.check(&jwt("https://a", "alice", None, Some(NOW)), NOW),
            None,
            "issued at the instant: admitted"
        );
        assert_eq!(
            s.check(&jwt("https://a", "alice", None, Some(NOW + 5)), NOW),
            None
        );
        assert_eq!(
            s.check(&jwt("https://a", "alice", None, None), NOW),
            r,
            "no iat: refused"
        );
        assert_eq!(
            s.check(&jwt("https://b", "alice", None, Some(NOW - 1)), NOW),
            None,
            "other issuer's alice"
        );
        assert_eq!(
            s.check(&jwt("https://a", "bob", None, Some(NOW - 1)), NOW),
            None
        );
        assert_eq!(
            s.check(&jwt("https://a", "alice", None, Some(NOW - 1)), NOW + 3600),
            None,
            "expired entry"
        );
        // API keys are never matched by subject.
        let key = CredentialFacts {
            sub: None,
            key_id: Some("key_x"),
            ..Default::default()
        };
        assert_eq!(s.check(&key, NOW), None);
    }

    #[test]
    fn key_ids() {
        let mut s = RevocationSet::default();
        s.put_key(KeyEntry {
            key_id: "key_a".into(),
            until: NOW + 10,
            v: 1,
        });
        let k = |id| CredentialFacts {
            key_id: Some(id),
            ..Default::default()
        };
        assert_eq!(s.check(&k("key_a"), NOW), Some(Revoked::Key));
        assert_eq!(s.check(&k("key_b"), NOW), None);
        assert_eq!(s.check(&k("key_a"), NOW + 10), None);
    }

    #[test]
    fn puts_replace_the_same_scope() {
        let mut s = RevocationSet::default();
        s.put_token(tok("j", None, NOW + 1, 1));
        s.put_token(tok("j", None, NOW + 100, 2));
        s.put_token(tok("j", Some("https://a"), NOW + 100, 3));
        assert_eq!(s.len(), 2);
        assert_eq!(s.token("j", None).unwrap().until, NOW + 100);
        s.put_subject(subj("u", None, NOW, NOW + 10, 4));
        s.put_subject(subj("u", None, NOW + 5, NOW + 15, 5));
        assert_eq!(s.len(), 3);
        assert_eq!(s.subject("u", None).unwrap().before, NOW + 5);
        s.put_key(KeyEntry {
            key_id: "k".into(),
            until: NOW + 1,
            v: 6,
        });
        s.put_key(KeyEntry {
            key_id: "k".into(),
            until: NOW + 2,
            v: 7,
        });
        assert_eq!(s.len(), 4);
        assert_eq!(s.version, 7);
    }

    #[test]
    fn pruning_keeps_storage_bounded() {
        let mut s = RevocationSet::default();
        for i in 0..100u64 {
            s.put_token(tok(&format!("j{i}"), None, NOW + i, i + 1));
        }
        s.put_subject(subj("u", None, NOW, NOW + 50, 101));
        s.put_key(KeyEntry {
            key_id: "k".into(),
            until: NOW + 200,
            v: 102,
        });
        assert_eq!(s.next_expiry(), Some(NOW));
        let gone = s.prune(NOW + 50);
        assert_eq!(gone.tokens.len(), 51);
        assert_eq!(gone.subjects.len(), 1);
        assert_eq!(gone.keys.len(), 0);
        assert_eq!(s.len(), 50);
        assert_eq!(s.next_expiry(), Some(NOW + 51));
        s.prune(NOW + 1000);
        assert!(s.is_empty());
        assert_eq!(s.next_expiry(), None);
        assert_eq!(s.version, 102, "pruning never lowers the version");
    }

    #[test]
    fn deltas_carry_only_newer_entries_and_merge() {
        let mut object = RevocationSet::default();
        object.put_token(tok("a", None, NOW + 60, 1));
        object.put_subject(subj("u", Some("https://a"), NOW, NOW + 60, 2));
        let mut isolate = RevocationSet::default();
        let full = object.snapshot_since(0, NOW);
        assert!(full.full);
        isolate.apply(full);
        assert_eq!(isolate, object);

        object.put_key(KeyEntry {
            key_id: "k".into(),
            until: NOW + 60,
            v: 3,
        });
        object.put_token(tok("a", None, NOW + 120, 4));
        let delta = object.snapshot_since(2, NOW);
        assert!(!delta.full);
        assert_eq!(
            (
                delta.version,
                delta.tokens.len(),
                delta.subjects.len(),
                delta.keys.len()
            ),
            (4, 1, 0, 1)
        );
        isolate.apply(delta);
        assert_eq!(isolate, object);

        let nothing = object.snapshot_since(4, NOW);
        assert_eq!(
            nothing,
            Snapshot {
                version: 4,
                full: false,
                ..Default::default()
            }
        );

        // An isolate ahead of the object (the object lost its storage): a full list replaces.
        let reset = RevocationSet::default().snapshot_since(4, NOW);
        assert!(reset.full);
        isolate.apply(reset);
        assert!(isolate.is_empty());
    }

    #[test]
    fn snapshots_leave_out_expired_entries() {
        let mut s = RevocationSet::default();
        s.put_token(tok("old", None, NOW, 1));
        s.put_token(tok("new", None, NOW + 1, 2));
        let snap = s.snapshot_since(0, NOW);
        assert_eq!(
            snap.tokens
                .iter()
                .map(|e| e.jti.as_str())
                .collect::<Vec<_>>(),
            vec!["new"]
        );
    }

    #[test]
    fn wire_format() {
        let snap = Snapshot {
            version: 3,
            full: true,
            tokens: vec![tok("j", None, 10, 1)],
            subjects: vec![subj("u", Some("https://a"), 5, 20, 2)],
            keys: vec![KeyEntry {
                key_id: "k".into(),
                until: 30,
                v: 3,
            }],
            sessions: Vec::new(),
        };
        let json = serde_json::to_string(&snap).unwrap();
        assert_eq!(
            json,
            r#"{"version":3,"full":true,"tokens":[{"jti":"j","until":10,"v":1}],"subjects":[{"sub":"u","iss":"https://a","before":5,"until":20,"v":2}],"keys":[{"key_id":"k","until":30,"v":3}]}"#
        );
        assert_eq!(serde_json::from_str::<Snapshot>(&json).unwrap(), snap);
        assert!(
            serde_json::from_str::<Snapshot>(r#"{"version":1,"full":true,"extra":1}"#).is_err()
        );
    }
}
