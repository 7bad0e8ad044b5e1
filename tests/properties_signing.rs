//! Property tests of the signing key set parser (`signing::keys`, the `PORTCULLIS_SIGNING_KEYS`
//! secret): an operator's document, read once per isolate, whose errors reach the log.
//!
//! Invariants: no panic on any input; a refusal never carries a private member's value; a
//! document the parser accepts round-trips (`to_document` → `parse`) to the same set. Fixed case
//! counts and seed (`common::config`).

mod common;

use portcullis::signing::{native, SigningAlg, SigningKeySet};
use proptest::prelude::*;
use serde_json::{json, Value};

/// One valid document with a key of each algorithm (RSA from the vendored RFC 7520 key: generating
/// one per run is slow in a debug build), and the values of its private members.
fn base() -> (Value, Vec<String>) {
    let mut rsa = common::load("jose-cookbook/jwk/3_4.rsa_private_key.json");
    rsa["kid"] = json!("rs");
    rsa["alg"] = json!("RS256");
    let es = native::generate(SigningAlg::ES256, Some("es".into()))
        .unwrap()
        .private_jwk_json();
    let ed = native::generate(SigningAlg::EdDSA, Some("ed".into()))
        .unwrap()
        .private_jwk_json();
    let doc = json!({ "active": "es", "keys": [es, ed, rsa] });
    let secrets = doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|k| {
            ["d", "p", "q", "dp", "dq", "qi"]
                .iter()
                .filter_map(|m| k[*m].as_str().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect();
    (doc, secrets)
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[A-Za-z0-9_-]{0,60}".prop_map(Value::String),
        ".{0,8}".prop_map(Value::String),
        Just(json!([])),
        Just(json!({})),
    ]
}

/// The members a mutation touches: the document's own and each key's.
const KEY_MEMBERS: &[&str] = &[
    "kty", "crv", "x", "y", "d", "n", "e", "p", "q", "dp", "dq", "qi", "kid", "alg", "use",
    "key_ops", "oth", "ext",
];

#[derive(Debug, Clone)]
enum Mutation {
    /// Set (or, with `None`, remove) a member of key `i`.
    Member(usize, &'static str, Option<Value>),
    /// Set a top-level member.
    Top(&'static str, Value),
    /// Swap a member's value between two keys.
    Swap(usize, usize, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (
            0usize..4,
            proptest::sample::select(KEY_MEMBERS),
            proptest::option::of(json_leaf())
        )
            .prop_map(|(i, m, v)| Mutation::Member(i, m, v)),
        (
            proptest::sample::select(&["active", "keys", "extra"][..]),
            json_leaf()
        )
            .prop_map(|(m, v)| Mutation::Top(m, v)),
        (0usize..3, 0usize..3, proptest::sample::select(KEY_MEMBERS))
            .prop_map(|(a, b, m)| Mutation::Swap(a, b, m)),
    ]
}

fn apply(doc: &mut Value, m: &Mutation) {
    match m {
        Mutation::Member(i, name, value) => {
            if let Some(key) = doc["keys"].get_mut(*i).and_then(Value::as_object_mut) {
                match value {
                    Some(v) => {
                        key.insert(name.to_string(), v.clone());
                    }
                    None => {
                        key.remove(*name);
                    }
                }
            }
        }
        Mutation::Top(name, value) => {
            doc[*name] = value.clone();
        }
        Mutation::Swap(a, b, name) => {
            let va = doc["keys"].get(*a).and_then(|k| k.get(*name)).cloned();
            let vb = doc["keys"].get(*b).and_then(|k| k.get(*name)).cloned();
            if let (Some(va), Some(vb)) = (va, vb) {
                doc["keys"][*a][*name] = vb;
                doc["keys"][*b][*name] = va;
            }
        }
    }
}

proptest! {
    #![proptest_config(common::config(256))]

    /// Mutated documents: parsed or refused, never a panic, never a private value in an error.
    #[test]
    fn a_mutated_key_set_is_parsed_or_refused_without_leaking(
        mutations in proptest::collection::vec(mutation(), 1..4)
    ) {
        let (mut doc, secrets) = base();
        for m in &mutations {
            apply(&mut doc, m);
        }
        match SigningKeySet::parse(&doc.to_string()) {
            Ok(set) => {
                // Accepted: it round-trips, and the public set carries nothing private.
                let again = SigningKeySet::parse(&set.to_document()).unwrap();
                prop_assert_eq!(&again, &set);
                let public = set.public_jwks().to_string();
                for s in &secrets {
                    prop_assert!(!public.contains(s.as_str()));
                }
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for e in &errors {
                    let text = e.to_string();
                    for s in &secrets {
                        prop_assert!(!text.contains(s.as_str()), "{} leaks a private value", text);
                    }
                }
            }
        }
    }

    /// Any text at all (truncations of a valid document included): no panic.
    #[test]
    fn any_text_is_parsed_or_refused(cut in 0usize..2000, noise in ".{0,40}") {
        let (doc, _) = base();
        let text = doc.to_string();
        let mut cut = cut.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let _ = SigningKeySet::parse(&text[..cut]);
        let _ = SigningKeySet::parse(&format!("{}{noise}", &text[..cut]));
        let _ = SigningKeySet::parse(&noise);
    }
}
