//! Property tests of the other parsers on the request path: the API key format and the stored
//! key records read back from KV, the configuration document, the Durable Object answers (the
//! revocation snapshot/delta and check answers, the rate limiter's replies and the requests each
//! object parses), rate-limit policy strings and the revocation settings.
//!
//! Invariants: no panic on any input; documented caps refuse what is above them; round trips
//! where a format has an encoder (API key generate → parse, record → JSON → record, policy
//! string → parse). Fixed case counts and seed (`common::config`).

mod common;

use portcullis::api_key::format::{
    self, generate_key, key_hash, parse_key, prefix_of, Malformed, MAX_PRESENTED_LEN, SECRET_LEN,
};
use portcullis::api_key::record::{self, ApiKeyRecord};
use portcullis::api_key::ApiKeyError;
use portcullis::config::parse_config;
use portcullis::ratelimit::gcra::Grant;
use portcullis::ratelimit::lease::{Decision, LeaseState};
use portcullis::ratelimit::policy::{parse_policies, parse_policy, parse_rate};
use portcullis::ratelimit::service::{LimiterResponse, LimiterService};
use portcullis::revocation::service::RevocationService;
use portcullis::revocation::set::{RevocationSet, Snapshot, SubjectEntry, TokenEntry};
use portcullis::revocation::settings::parse_settings;
use portcullis::revocation::snapshot::SnapshotCache;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;

// ------------------------------------------------------------------ shared generators

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1e20f64..1e20).prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::String),
        ".{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer in `v` (the root included).
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                pointers(
                    c,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                pointers(c, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// A structure-aware mutation of a JSON document: at a random node, replace the value, delete it,
/// add a member, or turn the value into a string / an array of itself.
#[derive(Debug, Clone)]
struct JsonEdit {
    node: usize,
    op: u8,
    value: Value,
    name: String,
}

fn json_edit() -> impl Strategy<Value = JsonEdit> {
    (any::<usize>(), 0u8..5, json_value(), "[a-z_]{1,10}").prop_map(|(node, op, value, name)| {
        JsonEdit {
            node,
            op,
            value,
            name,
        }
    })
}

fn apply_json(doc: &mut Value, e: &JsonEdit) {
    let mut all = Vec::new();
    pointers(doc, String::new(), &mut all);
    let ptr = &all[e.node % all.len()];
    let (parent_ptr, last) = match ptr.rfind('/') {
        Some(i) => (&ptr[..i], Some(&ptr[i + 1..])),
        None => ("", None),
    };
    match e.op {
        0 => *doc.pointer_mut(ptr).unwrap() = e.value.clone(),
        1 => {
            if let Some(last) = last {
                let key = last.replace("~1", "/").replace("~0", "~");
                match doc.pointer_mut(parent_ptr).unwrap() {
                    Value::Object(m) => {
                        m.remove(&key);
                    }
                    Value::Array(a) => {
                        if let Ok(i) = key.parse::<usize>() {
                            if i < a.len() {
                                a.remove(i);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        2 => {
            if let Value::Object(m) = doc.pointer_mut(ptr).unwrap() {
                m.insert(e.name.clone(), e.value.clone());
            }
        }
        3 => {
            let node = doc.pointer_mut(ptr).unwrap();
            *node = Value::String(node.to_string());
        }
        _ => {
            let node = doc.pointer_mut(ptr).unwrap();
            *node = json!([node.clone()]);
        }
    }
}

/// Byte-level edits of a text (for JSON documents received as strings).
fn byte_edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    proptest::collection::vec((any::<usize>(), 0u8..3, any::<u8>()), 0..4)
}

fn apply_bytes(text: &str, edits: &[(usize, u8, u8)]) -> String {
    let mut b = text.as_bytes().to_vec();
    for &(at, op, byte) in edits {
        let n = b.len().max(1);
        match op {
            0 if !b.is_empty() => b[at % n] = byte,
            1 => b.insert(at % (b.len() + 1), byte),
            _ if !b.is_empty() => {
                b.remove(at % n);
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

// ------------------------------------------------------------------ API key format

/// Prefixes `ApiKeyConfig` accepts: `[a-z][a-z0-9]{0,15}(_[a-z0-9]{1,16})?`.
fn prefix() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,15}(_[a-z0-9]{1,16})?"
}

proptest! {
    #![proptest_config(common::config(3000))]

    /// generate → parse: every generated key is accepted under its prefix, names its prefix, and
    /// hashes to 64 lowercase hex characters.
    #[test]
    fn api_key_round_trip(p in prefix(), random in any::<[u8; 16]>()) {
        prop_assert!(format::is_valid_prefix(&p));
        let key = generate_key(&p, &random);
        prop_assert_eq!(key.len(), p.len() + 1 + SECRET_LEN);
        prop_assert_eq!(parse_key(&key, std::slice::from_ref(&p)), Ok(()));
        prop_assert_eq!(prefix_of(&key), Some(p.as_str()));
        let h = key_hash(&key);
        prop_assert!(h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    /// Every single-character substitution, insertion or deletion in a valid key is refused
    /// before any lookup (CRC32 catches each substitution; a length change is caught by length).
    #[test]
    fn api_key_single_edits_are_refused(
        p in prefix(), random in any::<[u8; 16]>(),
        at in any::<usize>(), op in 0u8..3,
        c in proptest::sample::select(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-".to_vec()),
    ) {
        let key = generate_key(&p, &random);
        let mut b = key.clone().into_bytes();
        let i = at % b.len();
        match op {
            0 => { prop_assume!(b[i] != c); b[i] = c; }
            1 => b.insert(i, c),
            _ => { b.remove(i); }
        }
        let edited = String::from_utf8(b).unwrap();
        let accepted = vec![p.clone()];
        prop_assert!(parse_key(&edited, &accepted).is_err(), "{} accepted", edited);
    }

    /// Arbitrary strings: no panic; over the cap refused as too long before anything else; a key
    /// that is accepted has the documented shape.
    #[test]
    fn api_key_arbitrary_input(s in prop_oneof![".{0,80}", "[a-z_0-9A-Z]{0,300}"], p in prefix()) {
        let accepted = vec![p.clone(), "pc_live".to_string()];
        let r = parse_key(&s, &accepted);
        if s.len() > MAX_PRESENTED_LEN {
            prop_assert_eq!(r, Err(ApiKeyError::Malformed(Malformed::TooLong)));
        } else if s.is_empty() {
            prop_assert_eq!(r, Err(ApiKeyError::Malformed(Malformed::Empty)));
        } else if r.is_ok() {
            let named = accepted.iter().any(|a| s.starts_with(&format!("{a}_")));
            prop_assert!(named);
            prop_assert!(prefix_of(&s).is_some());
        }
        let _ = prefix_of(&s);
    }
}

// ------------------------------------------------------------------ stored key records

fn valid_record() -> impl Strategy<Value = ApiKeyRecord> {
    (
        "key_[0-9A-Za-z]{16}",
        "[A-Za-z0-9._:@+-]{1,40}",
        "[ -~]{0,40}[!-~]",
        // RFC 6749 §3.3 scope-token minus `,`, the x-user-scopes separator (`scope::is_scope_token`).
        proptest::collection::btree_set("[!#-+\\--\\[\\]-~]{1,20}", 0..6),
        (
            1_000_000u64..2_000_000_000,
            proptest::option::of(1u64..1_000_000),
        ),
        proptest::option::of(1u64..3_000_000_000),
        proptest::option::of("[A-Za-z0-9._-]{1,20}"),
        proptest::collection::btree_map("[A-Za-z0-9._-]{1,10}", "[ -~]{0,20}", 0..4),
    )
        .prop_map(
            |(key_id, client_id, name, scopes, (created_at, ttl), revoked_at, policy, metadata)| {
                ApiKeyRecord {
                    key_id,
                    client_id,
                    name,
                    prefix: "pc_live".into(),
                    scopes: scopes.into_iter().collect(),
                    created_at,
                    updated_at: None,
                    expires_at: ttl.map(|t| created_at + t),
                    revoked_at,
                    revoked_reason: None,
                    rate_limit_policy: policy,
                    metadata,
                    rotated_from: None,
                    rotated_to: None,
                }
            },
        )
}

fn check_record_caps(r: &ApiKeyRecord) {
    assert!(r.client_id.len() <= record::MAX_CLIENT_ID_LEN);
    assert!(r.name.chars().count() <= record::MAX_NAME_LEN);
    assert!(r.scopes.len() <= record::MAX_SCOPES);
    assert!(r
        .scopes
        .iter()
        .all(|s| !s.is_empty() && s.len() <= record::MAX_SCOPE_LEN));
    assert!(r.metadata.len() <= record::MAX_METADATA_ENTRIES);
    assert!(format::is_valid_key_id(&r.key_id));
}

proptest! {
    #![proptest_config(common::config(1500))]

    /// record → JSON → record is the identity, and a valid record stays valid.
    #[test]
    fn record_round_trip(r in valid_record()) {
        prop_assert_eq!(r.validate(), Ok(()));
        let text = serde_json::to_string(&r).unwrap();
        let back: ApiKeyRecord = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &r);
    }

    /// Records as KV could hold them after corruption or a schema change (structure-aware edits
    /// of a valid record, and byte edits of its JSON): no panic, and a record that reads and
    /// validates obeys every documented cap.
    #[test]
    fn record_mutations(r in valid_record(), edits in proptest::collection::vec(json_edit(), 1..4), bytes in byte_edits()) {
        let mut doc = serde_json::to_value(&r).unwrap();
        for e in &edits {
            apply_json(&mut doc, e);
        }
        for text in [doc.to_string(), apply_bytes(&serde_json::to_string(&r).unwrap(), &bytes)] {
            if let Ok(rec) = serde_json::from_str::<ApiKeyRecord>(&text) {
                if rec.validate().is_ok() {
                    check_record_caps(&rec);
                }
                let _ = rec.status(1_900_000_000);
            }
        }
    }
}

#[test]
fn record_caps_are_enforced() {
    let base = || ApiKeyRecord {
        key_id: "key_0123456789abcdef".into(),
        client_id: "billing".into(),
        name: "n".into(),
        prefix: "pc_live".into(),
        scopes: vec![],
        created_at: 1,
        updated_at: None,
        expires_at: None,
        revoked_at: None,
        revoked_reason: None,
        rate_limit_policy: None,
        metadata: BTreeMap::new(),
        rotated_from: None,
        rotated_to: None,
    };
    let mut r = base();
    r.scopes = (0..=record::MAX_SCOPES).map(|i| format!("s{i}")).collect();
    assert_eq!(r.validate().unwrap_err().0, "scopes");
    let mut r = base();
    r.client_id = "c".repeat(record::MAX_CLIENT_ID_LEN + 1);
    assert_eq!(r.validate().unwrap_err().0, "client_id");
    let mut r = base();
    r.name = "n".repeat(record::MAX_NAME_LEN + 1);
    assert_eq!(r.validate().unwrap_err().0, "name");
    let mut r = base();
    r.metadata = (0..=record::MAX_METADATA_ENTRIES)
        .map(|i| (format!("k{i}"), "v".into()))
        .collect();
    assert_eq!(r.validate().unwrap_err().0, "metadata");
}

// ------------------------------------------------------------------ configuration

fn demo_config() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/wrangler.toml"))
        .expect("wrangler.toml");
    let w: toml::Value = toml::from_str(&text).expect("TOML");
    serde_json::to_value(&w["vars"]["PORTCULLIS_CONFIG"]).expect("JSON")
}

proptest! {
    #![proptest_config(common::config(600))]

    /// The demo configuration under structure-aware mutations (values replaced by any JSON,
    /// members removed or added, values stringified or wrapped in arrays), as a document and as
    /// the JSON-string form with byte edits: no panic; a refusal always names at least one
    /// problem, each with a message; the verdict is deterministic.
    #[test]
    fn config_mutations(edits in proptest::collection::vec(json_edit(), 1..5), bytes in byte_edits()) {
        let mut doc = demo_config();
        prop_assert!(parse_config(&doc).is_ok());
        for e in &edits {
            apply_json(&mut doc, e);
        }
        let as_string = Value::String(apply_bytes(&doc.to_string(), &bytes));
        for d in [&doc, &as_string] {
            let first = parse_config(d);
            match &first {
                Ok(_) => {}
                Err(errors) => {
                    prop_assert!(!errors.is_empty());
                    for e in errors {
                        prop_assert!(!e.message.is_empty());
                    }
                }
            }
            let second = parse_config(d);
            prop_assert_eq!(first.is_ok(), second.is_ok());
            if let (Err(a), Err(b)) = (&first, &second) {
                prop_assert_eq!(a, b);
            }
        }
    }

    /// Arbitrary JSON as the whole document: no panic, refused with at least one problem unless
    /// it happens to be a configuration.
    #[test]
    fn config_arbitrary(v in json_value()) {
        if let Err(errors) = parse_config(&v) {
            prop_assert!(!errors.is_empty());
        }
    }
}

// ------------------------------------------------------------------ rate-limit policy strings

fn unit() -> impl Strategy<Value = (&'static str, u64)> {
    proptest::sample::select(vec![
        ("s", 1),
        ("sec", 1),
        ("seconds", 1),
        ("m", 60),
        ("min", 60),
        ("minutes", 60),
        ("h", 3600),
        ("hour", 3600),
        ("d", 86_400),
        ("days", 86_400),
    ])
}

proptest! {
    #![proptest_config(common::config(3000))]

    /// `"<limit> per [<n>] <unit>[, burst <b>]"` round-trips, in any case and spacing.
    #[test]
    fn rate_string_round_trip(
        limit in any::<u64>(), n in proptest::option::of(0u64..100_000), (u, secs) in unit(),
        burst in proptest::option::of(any::<u64>()), upper in any::<bool>(), spaced in any::<bool>(),
    ) {
        let sp = if spaced { "  " } else { " " };
        let count = n.map(|n| format!("{n}{sp}")).unwrap_or_default();
        let mut s = format!("{limit}{sp}per{sp}{count}{u}");
        if let Some(b) = burst {
            s.push_str(&format!(",{sp}burst{sp}{b}"));
        }
        if upper {
            s = s.to_uppercase();
        }
        let (l, p, b) = parse_rate(&s).unwrap();
        prop_assert_eq!(l, limit);
        prop_assert_eq!(p, n.unwrap_or(1) * secs);
        prop_assert_eq!(b, burst);
    }

    /// Arbitrary strings and edited valid ones: no panic; what parses has a digit-only limit and
    /// a period that is a whole number of a known unit.
    #[test]
    fn rate_string_arbitrary(s in prop_oneof![".{0,40}", "[0-9 ,a-z]{0,40}"], limit in 1u64..1000, edits in byte_edits()) {
        let _ = parse_rate(&s);
        let edited = apply_bytes(&format!("{limit} per 60 s, burst 20"), &edits);
        if let Ok((_, period, _)) = parse_rate(&edited) {
            prop_assert!([1, 60, 3600, 86_400].iter().any(|u| period % u == 0));
        }
    }

    /// Policy objects and the `rate_limits` section with any member values: no panic; a policy
    /// that parses is within the documented bounds.
    #[test]
    fn policies_arbitrary(v in json_value(), edits in proptest::collection::vec(json_edit(), 0..4)) {
        let mut doc = json!({"per_key": {"rate": "100 per 60 s, burst 20", "mode": "fast"},
                             "exact": {"rate": "5 per second", "mode": "exact", "on_error": "allow"}});
        for e in &edits {
            apply_json(&mut doc, e);
        }
        for section in [&v, &doc] {
            let (policies, _errors) = parse_policies(Some(section));
            for p in policies.values() {
                prop_assert!(p.rate.limit >= 1 && p.rate.limit <= portcullis::ratelimit::policy::MAX_LIMIT);
                prop_assert!(p.rate.period_ms >= 1000);
                prop_assert!(p.rate.burst >= 1);
            }
            let _ = parse_policy("p", section);
        }
    }

    /// The revocation settings section with any values: no panic, and the settings returned keep
    /// refresh within staleness whenever no error is reported.
    #[test]
    fn revocation_settings_arbitrary(v in json_value(), edits in proptest::collection::vec(json_edit(), 0..3)) {
        let mut doc = json!({"refresh_interval_ms": 200, "max_staleness_ms": 1000, "mode": "snapshot"});
        for e in &edits {
            apply_json(&mut doc, e);
        }
        for section in [&v, &doc] {
            let (s, errors) = parse_settings(Some(section));
            if errors.is_empty() {
                let r = s.refresh();
                prop_assert!(r.refresh_interval_ms <= r.max_staleness_ms);
            }
        }
    }
}

// ------------------------------------------------------------------ Durable Object answers

fn snapshot_text() -> impl Strategy<Value = String> {
    (
        1u64..1000,
        any::<bool>(),
        proptest::collection::vec(
            (
                "[ -~]{1,10}",
                proptest::option::of("[a-z]{1,5}"),
                0u64..4_000_000_000,
            ),
            0..5,
        ),
        proptest::collection::vec(
            ("[ -~]{1,10}", 0u64..4_000_000_000, 0u64..4_000_000_000),
            0..3,
        ),
    )
        .prop_map(|(version, full, tokens, subjects)| {
            let snap = Snapshot {
                version,
                full,
                tokens: tokens
                    .into_iter()
                    .map(|(jti, iss, until)| TokenEntry {
                        jti,
                        iss,
                        until,
                        v: version,
                    })
                    .collect(),
                subjects: subjects
                    .into_iter()
                    .map(|(sub, before, until)| SubjectEntry {
                        sub,
                        iss: None,
                        before,
                        until,
                        v: version,
                    })
                    .collect(),
                keys: vec![],
                sessions: vec![],
            };
            serde_json::to_string(&snap).unwrap()
        })
}

proptest! {
    #![proptest_config(common::config(1500))]

    /// Snapshot and delta answers from the revocation object — valid, structurally mutated, byte
    /// edited, or random — through the isolate's snapshot cache: no panic; an unreadable answer
    /// is an error that leaves the cache failed (so the gate fails closed), never a half-applied
    /// list; a readable one is applied.
    #[test]
    fn revocation_snapshot_answers(
        text in snapshot_text(), json_edits in proptest::collection::vec(json_edit(), 0..3),
        bytes in byte_edits(), since in 0u64..3, started in 1_700_000_000_000u64..1_800_000_000_000,
    ) {
        let mut doc: Value = serde_json::from_str(&text).unwrap();
        for e in &json_edits {
            apply_json(&mut doc, e);
        }
        for body in [text.clone(), doc.to_string(), apply_bytes(&text, &bytes)] {
            let mut cache = SnapshotCache::default();
            let readable = serde_json::from_str::<Snapshot>(&body).is_ok();
            let r = cache.complete(started, since, &body);
            prop_assert_eq!(r.is_ok(), readable);
            if r.is_err() {
                prop_assert!(cache.age_ms(started).is_none());
                prop_assert!(cache.take_last_error().is_some());
            } else {
                prop_assert_eq!(cache.age_ms(started), Some(0));
            }
        }
    }

    /// The requests the revocation object parses (its HTTP surface inside the runtime): any body
    /// on any route gets an answer, never a panic; a malformed body is a 4xx and writes nothing.
    #[test]
    fn revocation_object_requests(
        route in proptest::sample::select(vec!["/check", "/tokens", "/subjects", "/keys", "/snapshot?since=", "/stats", "/x"]),
        method in proptest::sample::select(vec!["GET", "POST", "DELETE"]),
        body in prop_oneof![json_value().prop_map(|v| v.to_string()), ".{0,60}",
            Just(r#"{"jti":"a","until":4000000000}"#.to_string()),
            Just(r#"{"sub":"s","before":1,"until":4000000000}"#.to_string()),
            Just(r#"{"key_id":"key_0123456789abcdef","until":4000000000}"#.to_string())],
        suffix in "[0-9a-z-]{0,6}",
    ) {
        let mut svc = RevocationService::default();
        let path = format!("{route}{}", if route.ends_with('=') { suffix.as_str() } else { "" });
        let (resp, writes) = svc.handle(method, &path, &body, 1_800_000_000_000);
        prop_assert!(resp.status == 200 || (400..500).contains(&resp.status), "{}", resp.status);
        prop_assert!(serde_json::from_str::<Value>(&resp.body).is_ok());
        if resp.status != 200 {
            prop_assert!(writes.is_empty() || svc.set().is_empty());
        }
    }

    /// The requests the rate limiter object parses: any body is a readable answer or an error,
    /// never a panic, and what it grants never exceeds what was asked.
    #[test]
    fn limiter_object_requests(
        body in prop_oneof![json_value().prop_map(|v| v.to_string()), ".{0,60}"],
        fields in (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
        now in 0u64..u64::MAX / 2,
    ) {
        let mut svc = LimiterService::load(Vec::<(String, String)>::new());
        let _ = svc.handle(&body, now);
        // The bucket as storage holds it, read back with any values (corruption, older builds).
        let stored = json!({"tat": fields.0.to_string() + &fields.1.to_string(), "limit": fields.2 % 1000, "full_at": fields.3});
        let mut svc = LimiterService::load(vec![
            ("bucket:p".to_string(), stored.to_string()),
            ("bucket:q".to_string(), body.clone()),
        ]);
        let (limit, period_ms, burst, charge, refund, want) = fields;
        let req = json!({"policy": "p", "limit": limit, "period_ms": period_ms, "burst": burst,
                         "charge": charge, "refund": refund, "want": want});
        if let Ok((resp, _)) = svc.handle(&req.to_string(), now) {
            prop_assert!(resp.granted <= want);
        }
    }

    /// Rate limiter answers as the gateway reads them (`LimiterResponse`), with any field values,
    /// settled into an isolate's `fast` lease: no panic (no overflow), and the units an answer
    /// adds are at most what the sync asked for.
    #[test]
    fn limiter_answers_settle_without_overflow(
        granted in prop_oneof![0u64..10, any::<u64>()], remaining in any::<u64>(),
        next_ms in prop_oneof![0u64..10_000, any::<u64>()], at in prop_oneof![1_700_000_000_000u64..1_800_000_000_000, any::<u64>()],
        ask in any::<bool>(),
    ) {
        let text = json!({"granted": granted, "remaining": remaining, "next_ms": next_ms, "now": at}).to_string();
        let answer: LimiterResponse = serde_json::from_str(&text).unwrap();
        let section = json!({"p": {"rate": "100 per 60 s, burst 20", "mode": "fast"}});
        let (policies, errors) = parse_policies(Some(&section));
        prop_assert!(errors.is_empty());
        let policy = &policies["p"];
        let now = 1_750_000_000_000u64;
        let mut state = LeaseState::new(policy);
        // Use up credit until the lease asks the object first, then settle with the answer.
        let mut sent = None;
        for _ in 0..1000 {
            match state.decide(policy, now) {
                Decision::AskFirst(s) => { sent = Some(s); break; }
                Decision::Admit { sync: Some(s), .. } if !ask => { sent = Some(s); break; }
                _ => {}
            }
        }
        let sent = sent.expect("a sync is requested");
        let grant: Grant = answer.grant();
        if ask {
            let _ = state.settle_ask(policy, &sent, &grant, answer.now.max(now));
        } else {
            state.settle(policy, &sent, &grant, answer.now.max(now));
        }
        // Whatever the answer said, the next decisions run without panicking.
        for _ in 0..3 {
            let _ = state.decide(policy, now + 1);
        }
    }

    /// Random bytes as a limiter answer or revocation-check answer: refused as unreadable.
    #[test]
    fn do_answers_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(a) = serde_json::from_str::<LimiterResponse>(&text) {
            prop_assert!(serde_json::from_str::<Value>(&text).unwrap().is_object());
            let _ = a.grant().next_secs();
        }
        let mut set = RevocationSet::default();
        if let Ok(s) = serde_json::from_str::<Snapshot>(&text) {
            set.apply(s);
        }
    }
}

#[test]
fn revocation_ids_above_the_cap_are_refused() {
    use portcullis::revocation::service::MAX_ID_LEN;
    for (route, field) in [
        ("/tokens", "jti"),
        ("/subjects", "sub"),
        ("/keys", "key_id"),
    ] {
        for len in [MAX_ID_LEN, MAX_ID_LEN + 1] {
            let mut body = json!({"until": 4_000_000_000u64});
            body[field] = json!("a".repeat(len));
            if route == "/subjects" {
                body["before"] = json!(1);
            }
            let mut svc = RevocationService::default();
            let (resp, writes) = svc.handle("POST", route, &body.to_string(), 1_800_000_000_000);
            if len > MAX_ID_LEN {
                assert_eq!(resp.status, 400, "{route} {len}");
                assert!(writes.is_empty() && svc.set().is_empty());
            } else if route != "/keys" {
                assert_eq!(resp.status, 200, "{route} {len}: {}", resp.body);
            }
        }
    }
}
