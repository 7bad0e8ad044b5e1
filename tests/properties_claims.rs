//! Property tests of issue 15's parsers of request input: the request id (`cf-ray`), W3C
//! `traceparent`/`tracestate`, claim paths and the claim values made into headers.
//!
//! Invariants: no panic on any input; an id is a `cf-ray` of Cloudflare's shape or 32 hex digits,
//! nothing else; a stamped problem document stays JSON; a claim path built from any segments
//! round-trips; every claim header value is printable ASCII without surrounding spaces, and an
//! array's value splits back into exactly its elements. Fixed case counts and seed
//! (`common::config`).

mod common;

use portcullis::claims::{headers::claim_headers, ClaimHeader, ClaimPath};
use portcullis::problem::{ErrorCode, Problem};
use portcullis::request_id::{is_traceparent, is_tracestate, RequestId};
use proptest::prelude::*;
use serde_json::{json, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e20f64..1e20).prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::String),
        ".{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z.]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The oracle: Cloudflare's Ray ID shape, judged on bytes.
fn is_ray(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b[..16]
            .iter()
            .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
        && b[16] == b'-'
        && (3..=4).contains(&b[17..].len())
        && b[17..].iter().all(|c| c.is_ascii_uppercase())
}

proptest! {
    #![proptest_config(common::config(2000))]

    #[test]
    fn a_request_id_is_a_ray_or_random_hex(ray in prop_oneof![
        ".{0,24}",
        "[0-9a-fA-F]{14,18}-[A-Za-z]{2,5}",
        "[0-9a-f]{16}-[A-Z]{3}",
    ], seed in any::<u8>()) {
        let id = RequestId::assign(Some(&ray), |b| b.fill(seed));
        let s = id.as_str();
        if is_ray(&ray) {
            prop_assert_eq!(s, ray.as_str());
        } else {
            prop_assert_eq!(s.len(), 32);
            prop_assert!(s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        }
        let mut reply = Problem::new(ErrorCode::TokenMissing, ray.clone()).reply();
        id.stamp(&mut reply);
        let doc: Value = serde_json::from_str(&reply.body).unwrap();
        let instance = id.instance();
        prop_assert_eq!(doc["instance"].as_str(), Some(instance.as_str()));
        prop_assert_eq!(doc["detail"].as_str(), Some(ray.as_str()));
    }

    #[test]
    fn trace_context_parsers_never_panic_and_accept_what_the_grammar_makes(
        junk in ".{0,80}",
        trace in "[0-9a-f]{32}", parent in "[0-9a-f]{16}", flags in "[0-9a-f]{2}",
        keys in prop::collection::btree_set("[a-z][a-z0-9_*/-]{0,8}", 0..8),
        value in "[!-+\\--<>-~]([ !-+\\--<>-~]{0,10}[!-+\\--<>-~])?",
    ) {
        let _ = is_traceparent(&junk);
        let _ = is_tracestate(&junk);
        let tp = format!("00-{trace}-{parent}-{flags}");
        let zero_trace = trace.bytes().all(|b| b == b'0');
        let zero_parent = parent.bytes().all(|b| b == b'0');
        prop_assert_eq!(is_traceparent(&tp), !zero_trace && !zero_parent);
        prop_assert!(!is_traceparent(&tp.to_uppercase()) || !tp.bytes().any(|b| b.is_ascii_lowercase()));
        let state: Vec<String> = keys.iter().map(|k| format!("{k}={value}")).collect();
        prop_assert!(is_tracestate(&state.join(",")), "{:?}", state);
        prop_assert!(is_tracestate(&state.join(" ,\t")), "{:?}", state);
    }

    #[test]
    fn claim_paths_round_trip(segments in prop::collection::vec(".{1,8}", 1..5), text in ".{0,30}") {
        let _ = ClaimPath::parse(&text);
        let written: String = segments
            .iter()
            .map(|s| format!("[{}]", serde_json::to_string(s).unwrap()))
            .collect();
        let path = ClaimPath::parse(&written).unwrap();
        let mut claims = json!("leaf");
        for s in segments.iter().rev() {
            claims = json!({ s.clone(): claims });
        }
        let entry = ClaimHeader { header: "x-user-p".into(), claim: path };
        let headers = claim_headers(&[entry], claims.as_object().unwrap()).unwrap();
        prop_assert_eq!(headers, vec![("x-user-p".to_string(), "leaf".to_string())]);
    }

    #[test]
    fn claim_header_values_travel_whole(value in json_value()) {
        let claims = json!({ "c": value.clone() });
        let entry = ClaimHeader { header: "x-user-c".into(), claim: ClaimPath::parse("c").unwrap() };
        if let Ok(headers) = claim_headers(&[entry], claims.as_object().unwrap()) {
            let (_, v) = &headers[0];
            prop_assert!(v.bytes().all(|b| (0x20..0x7f).contains(&b)));
            prop_assert_eq!(v.trim(), v.as_str());
            match &value {
                Value::Array(items) if !items.is_empty() => {
                    prop_assert_eq!(v.split(',').count(), items.len());
                }
                Value::Array(_) => prop_assert_eq!(v.as_str(), ""),
                Value::String(s) => prop_assert_eq!(v, s),
                Value::Number(_) | Value::Bool(_) => prop_assert_eq!(v, &value.to_string()),
                other => prop_assert!(false, "{other} became a header"),
            }
        }
    }
}
