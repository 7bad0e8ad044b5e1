//! Property tests of the JOSE parsers on the request path: compact JWS and its JOSE header
//! (`jws::parse_compact`), the strict JSON reader behind header and payload (`claims::Payload`),
//! the claim checks (`claims::validate`) and JWK / JWK Set parsing (`jwk`).
//!
//! Inputs are both random bytes and structure-aware mutations of valid inputs. Invariants: no
//! panic; the documented caps hold (oversized input refused before anything is decoded); what is
//! accepted is consistent with the input (round trips, bounded output); what is refused is refused
//! with the error the mutation calls for. Fixed case counts and seed (`common::config`).

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use portcullis::jose::claims::{self, ClaimError, ClaimsPolicy, Payload, ScopeSource, TypPolicy};
use portcullis::jose::jwk::{parse_jwk, parse_jwks, JwksError, MAX_JWKS_KEYS};
use portcullis::jose::jws::{
    check_signature_length, parse_compact, JwsError, Segment, DEFAULT_MAX_TOKEN_BYTES,
    MAX_HEADER_SEGMENT_BYTES,
};
use portcullis::jose::Alg;
use portcullis::problem::ErrorCode;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

// ------------------------------------------------------------------ generators

fn alg() -> impl Strategy<Value = Alg> {
    proptest::sample::select(Alg::ALL.to_vec())
}

fn sig_len(alg: Alg) -> usize {
    match alg {
        Alg::ES256 | Alg::EdDSA | Alg::Ed25519 => 64,
        _ => 256,
    }
}

/// A well-formed token: a header for `alg` with optional `kid`/`typ`, an arbitrary payload and a
/// signature of a plausible length (not a valid signature: the parser does not verify).
fn valid_token() -> impl Strategy<Value = (String, Alg, Vec<u8>)> {
    (
        alg(),
        proptest::option::of("[ -~]{0,12}"),
        proptest::option::of(proptest::sample::select(vec!["JWT", "at+jwt", "x"])),
        proptest::collection::vec(any::<u8>(), 0..300),
        any::<u8>(),
    )
        .prop_map(|(alg, kid, typ, payload, fill)| {
            let mut h = Map::new();
            h.insert("alg".into(), json!(alg.as_str()));
            if let Some(k) = kid {
                h.insert("kid".into(), json!(k));
            }
            if let Some(t) = typ {
                h.insert("typ".into(), json!(t));
            }
            let header = serde_json::to_vec(&Value::Object(h)).unwrap();
            let token = format!(
                "{}.{}.{}",
                B64.encode(header),
                B64.encode(&payload),
                B64.encode(vec![fill; sig_len(alg)])
            );
            (token, alg, payload)
        })
}

/// One byte-level edit of a string.
#[derive(Debug, Clone)]
enum Edit {
    Flip { at: usize, bit: u8 },
    Insert { at: usize, byte: u8 },
    Delete { at: usize },
    Replace { at: usize, byte: u8 },
    Truncate { at: usize },
    SwapSegments { a: usize, b: usize },
    DuplicateSegment { which: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    // Bytes drawn mostly from the characters that matter to a compact JWS.
    let byte = prop_oneof![
        4 => proptest::sample::select(b"ABCxyz019-_.=+/ \t\n%".to_vec()),
        1 => any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Edit::Flip { at, bit }),
        (any::<usize>(), byte.clone()).prop_map(|(at, byte)| Edit::Insert { at, byte }),
        any::<usize>().prop_map(|at| Edit::Delete { at }),
        (any::<usize>(), byte).prop_map(|(at, byte)| Edit::Replace { at, byte }),
        any::<usize>().prop_map(|at| Edit::Truncate { at }),
        (0usize..3, 0usize..3).prop_map(|(a, b)| Edit::SwapSegments { a, b }),
        (0usize..3).prop_map(|which| Edit::DuplicateSegment { which }),
    ]
}

/// Applies an edit to the bytes of `s`; the result may not be UTF-8 (lossy-converted).
fn apply(s: &str, e: &Edit) -> String {
    let mut b = s.as_bytes().to_vec();
    let n = b.len().max(1);
    match *e {
        Edit::Flip { at, bit } => {
            if !b.is_empty() {
                b[at % n] ^= 1 << bit;
            }
        }
        Edit::Insert { at, byte } => b.insert(at % (b.len() + 1), byte),
        Edit::Delete { at } => {
            if !b.is_empty() {
                b.remove(at % n);
            }
        }
        Edit::Replace { at, byte } => {
            if !b.is_empty() {
                b[at % n] = byte;
            }
        }
        Edit::Truncate { at } => b.truncate(at % n),
        Edit::SwapSegments { a, b: other } => {
            let mut segs: Vec<&str> = s.split('.').collect();
            if a < segs.len() && other < segs.len() {
                segs.swap(a, other);
            }
            return segs.join(".");
        }
        Edit::DuplicateSegment { which } => {
            let mut segs: Vec<&str> = s.split('.').collect();
            if which < segs.len() {
                let seg = segs[which];
                segs.insert(which, seg);
            }
            return segs.join(".");
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

// ------------------------------------------------------------------ invariants

/// What every parse outcome must satisfy, whatever the input.
fn check_parse_invariants(token: &str, max: usize) {
    match parse_compact(token, max) {
        Ok(jws) => {
            assert!(token.len() <= max);
            // The signing input is the token up to its last dot, and the rest is the signature.
            assert!(token.starts_with(jws.signing_input));
            let rest = &token[jws.signing_input.len()..];
            assert_eq!(
                rest.strip_prefix('.').map(|s| B64.decode(s).ok()),
                Some(Some(jws.signature.clone()))
            );
            // Strict base64url: the accepted encoding is the canonical one (a round trip).
            let (h, p) = jws.signing_input.split_once('.').expect("two segments");
            assert!(h.len() <= MAX_HEADER_SEGMENT_BYTES);
            assert_eq!(B64.encode(&jws.payload), p);
            assert_eq!(B64.encode(B64.decode(h).unwrap()), h);
            // Decoding never grows the data.
            assert!(jws.payload.len() <= token.len());
            assert!(check_signature_length(jws.header.alg, jws.signature.len()).is_ok());
            assert_eq!(Alg::parse(jws.header.alg.as_str()), Some(jws.header.alg));
        }
        Err(e) => {
            // Every refusal maps to one documented code and a detail that never echoes the token.
            let code = e.code();
            assert!(matches!(
                code,
                ErrorCode::TokenTooLarge
                    | ErrorCode::TokenMalformed
                    | ErrorCode::TokenAlgorithmRefused
                    | ErrorCode::TokenCritUnsupported
                    | ErrorCode::TokenSignatureInvalid
            ));
            let detail = e.detail();
            assert!(detail.len() < 200, "detail too long: {detail}");
            for seg in token.split('.').filter(|s| s.len() > 16) {
                assert!(!detail.contains(seg), "detail echoes the token");
            }
            if token.len() > max {
                assert_eq!(
                    e,
                    JwsError::TooLarge {
                        len: token.len(),
                        max
                    }
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(common::config(2000))]

    /// Random bytes: never a panic; every invariant of the outcome holds.
    #[test]
    fn jws_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        check_parse_invariants(&String::from_utf8_lossy(&bytes), DEFAULT_MAX_TOKEN_BYTES);
    }

    /// Random strings over the compact alphabet (more of them reach the header parser).
    #[test]
    fn jws_random_compact_strings(s in "[A-Za-z0-9_.=+/-]{0,400}") {
        check_parse_invariants(&s, DEFAULT_MAX_TOKEN_BYTES);
    }

    /// Valid tokens parse, and give back exactly what was encoded.
    #[test]
    fn jws_valid_tokens_round_trip((token, alg, payload) in valid_token()) {
        let jws = parse_compact(&token, DEFAULT_MAX_TOKEN_BYTES).unwrap();
        prop_assert_eq!(jws.header.alg, alg);
        prop_assert_eq!(&jws.payload, &payload);
        check_parse_invariants(&token, DEFAULT_MAX_TOKEN_BYTES);
    }

    /// Valid tokens under one to four byte-level edits (flip, insert, delete, replace, truncate,
    /// swapped or duplicated segments).
    #[test]
    fn jws_mutated_tokens((token, _, _) in valid_token(), edits in proptest::collection::vec(edit(), 1..4)) {
        let mut t = token;
        for e in &edits {
            t = apply(&t, e);
        }
        check_parse_invariants(&t, DEFAULT_MAX_TOKEN_BYTES);
    }

    /// The cap: a token one byte over is refused as too large whatever it holds; at the cap, the
    /// size check passes.
    #[test]
    fn jws_cap_is_checked_first((token, _, _) in valid_token(), max in 10usize..600) {
        let r = parse_compact(&token, max);
        if token.len() > max {
            prop_assert_eq!(r.unwrap_err(), JwsError::TooLarge { len: token.len(), max });
        } else {
            prop_assert!(r.is_ok());
        }
    }

    /// The header segment cap: a header segment longer than `MAX_HEADER_SEGMENT_BYTES` is
    /// refused before it is decoded, whatever the rest of the token (under the token cap).
    #[test]
    fn jws_header_segment_cap(extra in 0usize..200, fill in "[A-Za-z0-9_-]{1}") {
        let header = fill.repeat(MAX_HEADER_SEGMENT_BYTES + 1 + extra);
        let t = format!("{header}.{}.{}", B64.encode(b"{}"), B64.encode([0u8; 64]));
        prop_assert_eq!(parse_compact(&t, DEFAULT_MAX_TOKEN_BYTES).unwrap_err(), JwsError::HeaderTooLarge);
        let at_cap = format!("{}.e30.{}", &header[..MAX_HEADER_SEGMENT_BYTES], B64.encode([0u8; 64]));
        prop_assert_ne!(parse_compact(&at_cap, DEFAULT_MAX_TOKEN_BYTES).unwrap_err(), JwsError::HeaderTooLarge);
    }

    /// Any non-canonical base64url spelling of a segment is refused: padding, the standard
    /// alphabet, whitespace, or non-zero trailing bits.
    #[test]
    fn jws_non_canonical_base64_is_refused(
        (token, _, _) in valid_token(),
        which in 0usize..3,
        how in 0u8..4,
    ) {
        let segs: Vec<&str> = token.split('.').collect();
        let seg = segs[which];
        let changed = match how {
            0 => format!("{seg}="),
            1 => format!("{seg} "),
            2 => format!("+{seg}"),
            _ => {
                // Set a trailing bit when the length leaves some (len % 4 == 2 or 3).
                if seg.len().is_multiple_of(4) || seg.is_empty() {
                    return Ok(());
                }
                let last = seg.as_bytes()[seg.len() - 1];
                let sym = B64.decode(seg).map(|_| ()).ok();
                prop_assume!(sym.is_some());
                let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
                let idx = alphabet.iter().position(|&c| c == last).unwrap();
                let flipped = alphabet[idx ^ 1] as char;
                format!("{}{}", &seg[..seg.len() - 1], flipped)
            }
        };
        let mut parts = segs.clone();
        parts[which] = &changed;
        let t = parts.join(".");
        let e = parse_compact(&t, DEFAULT_MAX_TOKEN_BYTES).unwrap_err();
        let seg_kind = [Segment::Header, Segment::Payload, Segment::Signature][which];
        prop_assert_eq!(e, JwsError::Base64(seg_kind));
    }
}

// ------------------------------------------------------------------ JOSE header

/// A header member value of any JSON type.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e20f64..1e20).prop_map(|f| json!(f)),
        "[ -~]{0,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// How a member name is spelled in JSON text: plainly, or with its first character `\u`-escaped.
fn spell(name: &str, escaped: bool) -> String {
    match (escaped, name.chars().next()) {
        (true, Some(c)) if c.is_ascii() => format!("\"\\u{:04x}{}\"", c as u32, &name[1..]),
        _ => serde_json::to_string(name).unwrap(),
    }
}

/// Builds a JSON object's text member by member, so that names can repeat.
fn object_text(members: &[(String, Value, bool)]) -> String {
    let body: Vec<String> = members
        .iter()
        .map(|(n, v, esc)| format!("{}:{}", spell(n, *esc), v))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// A token with this header text and a signature of the right length for the header's `alg`
/// (when it has an accepted one).
fn token_with_header_text(header: &str) -> String {
    let alg = serde_json::from_str::<Value>(header)
        .ok()
        .and_then(|h| h["alg"].as_str().and_then(Alg::parse));
    format!(
        "{}.{}.{}",
        B64.encode(header),
        B64.encode(b"{}"),
        B64.encode(vec![1u8; alg.map_or(64, sig_len)])
    )
}

proptest! {
    #![proptest_config(common::config(1500))]

    /// Headers with random extra members (the registered names among them, with any JSON type):
    /// no panic, and the verdict is the one the header calls for.
    #[test]
    fn header_members(
        alg in prop_oneof![alg().prop_map(|a| json!(a.as_str())), json_value(),
                           proptest::sample::select(vec!["none", "HS256", "ES384", "es256", "RS256 "]).prop_map(|s| json!(s))],
        extra in proptest::collection::btree_map(
            prop_oneof![proptest::sample::select(vec!["kid", "typ", "crit", "jku", "x5c", "cty", "b64"]).prop_map(String::from), "[a-z]{1,4}"],
            json_value(), 0..5),
    ) {
        let mut h = Map::new();
        h.insert("alg".into(), alg.clone());
        for (k, v) in extra {
            h.entry(k).or_insert(v);
        }
        let text = serde_json::to_string(&Value::Object(h.clone())).unwrap();
        let token = token_with_header_text(&text);
        let r = parse_compact(&token, DEFAULT_MAX_TOKEN_BYTES);
        let expected_alg = alg.as_str().and_then(Alg::parse);
        match r {
            Ok(jws) => {
                // Accepted only with an accepted alg, string kid/typ, and no crit at all.
                prop_assert_eq!(Some(jws.header.alg), expected_alg);
                prop_assert_eq!(jws.header.kid.as_ref().map(|s| json!(s)), h.get("kid").cloned());
                prop_assert_eq!(jws.header.typ.as_ref().map(|s| json!(s)), h.get("typ").cloned());
                prop_assert!(!h.contains_key("crit"));
                for name in ["jku", "x5u", "x5t", "x5t#S256", "cty"] {
                    prop_assert!(h.get(name).is_none_or(Value::is_string));
                }
            }
            Err(e) => {
                let why = match &alg {
                    Value::String(_) if expected_alg.is_none() => matches!(e, JwsError::AlgorithmRefused(_)),
                    Value::String(_) => matches!(e,
                        JwsError::KidNotString | JwsError::TypNotString | JwsError::RegisteredParamType(_)
                        | JwsError::CritInvalid(_) | JwsError::CritUnsupported { .. }),
                    _ => e == JwsError::AlgNotString,
                };
                prop_assert!(why, "unexpected refusal {:?} for {}", e, text);
                if let JwsError::AlgorithmRefused(shown) = &e {
                    prop_assert!(shown.chars().count() <= 16);
                    prop_assert!(shown.chars().all(|c| c.is_ascii_graphic()));
                }
            }
        }
    }

    /// A member name twice, at the top or nested, plain or `\u`-escaped: always refused as a
    /// duplicate (RFC 7515 §5.2), whichever copy comes first.
    #[test]
    fn header_duplicate_members(
        a in alg(),
        others in proptest::collection::btree_map("[a-z]{1,4}", json_value(), 0..4),
        dup in prop_oneof![Just("alg".to_string()), Just("kid".to_string()), "[a-z]{1,4}"],
        dup_value in json_value(),
        escaped in any::<bool>(),
        nested in any::<bool>(),
    ) {
        let mut members: Vec<(String, Value, bool)> = vec![("alg".into(), json!(a.as_str()), false)];
        members.extend(others.into_iter().filter(|(k, _)| k != "alg" && k != "crit").map(|(k, v)| (k, v, false)));
        let text = if nested {
            // {"alg":…, "n": {"<dup>":1, "<dup>":2}}
            let inner = object_text(&[(dup.clone(), json!(1), false), (dup.clone(), dup_value, escaped)]);
            let mut outer = object_text(&members);
            outer.pop();
            format!("{outer},\"zz_nested\":{inner}}}")
        } else {
            if !members.iter().any(|(k, _, _)| *k == dup) {
                members.push((dup.clone(), json!("x"), false));
            }
            members.push((dup.clone(), dup_value, escaped));
            object_text(&members)
        };
        let e = parse_compact(&token_with_header_text(&text), DEFAULT_MAX_TOKEN_BYTES).unwrap_err();
        prop_assert!(matches!(e, JwsError::DuplicateHeaderParam(_)), "{:?} for {}", e, text);
        prop_assert_eq!(e.code(), ErrorCode::TokenMalformed);
    }
}

// ------------------------------------------------------------------ strict JSON reader

/// JSON text generated member by member, with or without an injected duplicate name somewhere.
#[derive(Debug, Clone)]
enum Doc {
    Leaf(Value),
    Arr(Vec<Doc>),
    Obj(Vec<(String, Doc, bool)>),
}

fn doc() -> impl Strategy<Value = Doc> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1e300f64..1e300).prop_map(|f| json!(f)),
        ".{0,8}".prop_map(Value::String),
    ]
    .prop_map(Doc::Leaf);
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Doc::Arr),
            proptest::collection::vec(("[a-c\u{e9}]{0,2}", inner, any::<bool>()), 0..5)
                .prop_map(Doc::Obj),
        ]
    })
}

fn ws(i: usize) -> &'static str {
    [" ", "", "\n", "\t ", "\r\n"][i % 5]
}

fn render(d: &Doc, out: &mut String, salt: &mut usize) {
    *salt += 1;
    match d {
        Doc::Leaf(v) => out.push_str(&v.to_string()),
        Doc::Arr(items) => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(ws(*salt));
                render(it, out, salt);
            }
            out.push(']');
        }
        Doc::Obj(members) => {
            out.push('{');
            for (i, (k, v, esc)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(ws(*salt));
                out.push_str(&spell(k, *esc));
                out.push(':');
                render(v, out, salt);
            }
            out.push('}');
        }
    }
}

fn has_duplicate(d: &Doc) -> bool {
    match d {
        Doc::Leaf(_) => false,
        Doc::Arr(items) => items.iter().any(has_duplicate),
        Doc::Obj(members) => {
            let mut names: Vec<&str> = members.iter().map(|(k, _, _)| k.as_str()).collect();
            names.sort_unstable();
            names.windows(2).any(|w| w[0] == w[1])
                || members.iter().any(|(_, v, _)| has_duplicate(v))
        }
    }
}

proptest! {
    #![proptest_config(common::config(2000))]

    /// The strict reader (through `Payload::parse`) against serde_json and a reference duplicate
    /// check: a duplicate name anywhere is refused; otherwise it accepts exactly the objects
    /// serde_json accepts.
    #[test]
    fn strict_json_agrees_with_serde_json_except_duplicates(d in doc()) {
        let mut text = String::new();
        render(&d, &mut text, &mut 0);
        let serde = serde_json::from_str::<Value>(&text);
        let ours = Payload::parse(text.as_bytes());
        if has_duplicate(&d) {
            prop_assert!(matches!(ours, Err(ClaimError::DuplicateClaim(_))), "{}", text);
        } else {
            match serde {
                Ok(Value::Object(_)) => prop_assert!(ours.is_ok(), "{}", text),
                Ok(_) => prop_assert!(matches!(ours, Err(ClaimError::PayloadNotObject))),
                Err(_) => prop_assert!(matches!(ours, Err(ClaimError::PayloadNotJson))),
            }
        }
    }

    /// Random bytes and mutated JSON text: no panic, and anything serde_json refuses is refused.
    #[test]
    fn strict_json_random_and_mutated(d in doc(), edits in proptest::collection::vec(edit(), 0..3),
                                      raw in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut text = String::new();
        render(&d, &mut text, &mut 0);
        for e in &edits {
            text = apply(&text, e);
        }
        for input in [text.as_bytes(), &raw[..]] {
            let ours = Payload::parse(input);
            if serde_json::from_slice::<Value>(input).is_err() {
                prop_assert!(ours.is_err());
            }
        }
    }
}

#[test]
fn strict_json_depth_is_bounded() {
    // Deeper than serde_json's recursion limit: refused as not JSON, never a stack overflow.
    for depth in [10usize, 1000, 100_000] {
        let text = format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
        let r = Payload::parse(text.as_bytes());
        assert_eq!(r.is_ok(), depth < 100, "depth {depth}");
    }
}

// ------------------------------------------------------------------ claims

const NOW: u64 = 1_800_000_000;
const ISS: &str = "https://issuer.example";

fn claim_value(kind: u8) -> impl Strategy<Value = Value> {
    // Plausible and implausible values for the claim kinds the checks read.
    let date = prop_oneof![
        (0u64..4_000_000_000).prop_map(|n| json!(n)),
        (NOW - 100..NOW + 100).prop_map(|n| json!(n)),
        (0.0f64..4e9).prop_map(|f| json!(f)),
        Just(json!(-1)),
        Just(json!(1e300)),
        Just(json!("1800000000")),
    ];
    let text = prop_oneof![
        Just(json!(ISS)),
        Just(json!("api")),
        Just(json!("")),
        "[ -~]{0,8}".prop_map(Value::String),
        Just(json!(["api", "other"])),
        Just(json!([])),
        Just(json!([1])),
        Just(json!("read write")),
        Just(json!("read  write")),
        Just(json!("a\"b")),
    ];
    match kind {
        0 => date.boxed(),
        1 => text.boxed(),
        _ => json_value().boxed(),
    }
}

fn payload() -> impl Strategy<Value = Map<String, Value>> {
    let names = [
        "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "scp",
    ];
    proptest::collection::vec(
        (
            proptest::sample::select(names.to_vec()),
            prop_oneof![Just(0u8), Just(1), Just(2)],
        )
            .prop_flat_map(|(n, k)| {
                let kind = if matches!(n, "exp" | "nbf" | "iat") && k == 1 {
                    0
                } else {
                    k
                };
                (Just(n), claim_value(kind))
            }),
        0..10,
    )
    .prop_map(|pairs| {
        let mut m = Map::new();
        m.insert("iss".into(), json!(ISS));
        m.insert("sub".into(), json!("alice"));
        m.insert("aud".into(), json!("api"));
        m.insert("exp".into(), json!(NOW + 600));
        for (k, v) in pairs {
            m.insert(k.to_string(), v);
        }
        m
    })
}

proptest! {
    #![proptest_config(common::config(3000))]

    /// Claim sets with each claim replaced by values of every type: no panic, one documented code
    /// per refusal, and what is accepted satisfies every check the gateway promises.
    #[test]
    fn claims_accepted_only_when_every_check_holds(
        m in payload(),
        typ in proptest::option::of(proptest::sample::select(vec!["JWT", "at+jwt", "application/AT+JWT", "jwt ", "id+jwt"])),
        strict in any::<bool>(),
        source in proptest::sample::select(vec![ScopeSource::Scope, ScopeSource::Scp]),
    ) {
        let audiences = vec!["api".to_string()];
        let policy = ClaimsPolicy {
            issuer: ISS,
            audiences: &audiences,
            leeway_secs: 30,
            typ: if strict { TypPolicy::Strict } else { TypPolicy::Lenient },
            scope_source: &source,
        };
        let bytes = serde_json::to_vec(&m).unwrap();
        match claims::validate(&bytes, typ, &policy, NOW) {
            Ok(c) => {
                prop_assert_eq!(&c.iss, ISS);
                prop_assert_eq!(m.get("iss"), Some(&json!(ISS)));
                prop_assert!(!c.sub.is_empty());
                prop_assert!(c.aud.iter().any(|a| a == "api"));
                prop_assert!(NOW < c.exp.saturating_add(30));
                if let Some(nbf) = c.nbf { prop_assert!(nbf <= NOW + 30); }
                if let Some(iat) = c.iat { prop_assert!(iat <= NOW + 30); }
                if let Some(j) = &c.jti { prop_assert!(!j.is_empty()); }
                for s in &c.scopes {
                    prop_assert!(!s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'));
                }
                // Every NumericDate read is a non-negative number in the payload.
                for name in ["exp", "nbf", "iat"] {
                    if let Some(v) = m.get(name) {
                        prop_assert!(v.as_f64().is_some_and(|f| f >= 0.0), "{} = {}", name, v);
                    }
                }
                match typ {
                    None => prop_assert!(!strict),
                    Some(t) => prop_assert!(t.to_ascii_lowercase().ends_with("jwt") && !t.ends_with(' ')),
                }
            }
            Err(e) => {
                prop_assert_ne!(e.code(), ErrorCode::TokenSignatureInvalid);
                let detail = e.detail();
                prop_assert!(detail.len() < 200);
            }
        }
    }

    /// Random bytes as a payload: no panic, never accepted.
    #[test]
    fn claims_random_payload(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let audiences = vec!["api".to_string()];
        let policy = ClaimsPolicy { issuer: ISS, audiences: &audiences, leeway_secs: 30,
            typ: TypPolicy::Lenient, scope_source: &ScopeSource::Scope };
        prop_assert!(claims::validate(&bytes, None, &policy, NOW).is_err());
        let _ = claims::Payload::parse(&bytes).and_then(|p| p.issuer());
    }
}

// ------------------------------------------------------------------ JWK and JWKS

fn valid_public_jwks() -> Vec<Value> {
    vec![
        common::public_of(&common::rsa_private_jwk()),
        common::public_of(&common::ec_private_jwk()),
        common::public_of(&common::ed25519_private_jwk()),
    ]
}

/// A JSON-level mutation of one JWK.
fn mutate_jwk(mut jwk: Value, op: u8, name: &str, v: Value) -> Value {
    let m = jwk.as_object_mut().unwrap();
    match op % 4 {
        0 => {
            m.remove(name);
        }
        1 => {
            m.insert(name.to_string(), v);
        }
        2 => {
            // A base64url member re-spelled: padded, standard alphabet, or one char changed.
            if let Some(Value::String(s)) = m.get(name).cloned() {
                let changed = match v.as_u64().unwrap_or(0) % 3 {
                    0 => format!("{s}="),
                    1 => s.replace('-', "+").replace('_', "/"),
                    _ => format!("A{s}"),
                };
                m.insert(name.to_string(), json!(changed));
            }
        }
        _ => {
            m.insert(name.to_string(), json!(v.to_string()));
        }
    }
    jwk
}

proptest! {
    #![proptest_config(common::config(1500))]

    /// Valid keys with members removed, replaced by values of any type, or re-spelled: no panic;
    /// an accepted key is a public key of a supported type that round-trips through the JWK
    /// WebCrypto receives, with a 43-character thumbprint.
    #[test]
    fn jwk_mutations(
        which in 0usize..3,
        ops in proptest::collection::vec((any::<u8>(),
            proptest::sample::select(vec!["kty", "n", "e", "crv", "x", "y", "d", "alg", "use", "key_ops", "kid", "k"]),
            json_value()), 0..4),
    ) {
        let mut jwk = valid_public_jwks()[which].clone();
        for (op, name, v) in ops {
            jwk = mutate_jwk(jwk, op, name, v);
        }
        if let Ok(k) = parse_jwk(&jwk) {
            let m = jwk.as_object().unwrap();
            for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
                prop_assert!(!m.contains_key(private));
            }
            let again = parse_jwk(&k.to_webcrypto_jwk()).unwrap();
            prop_assert_eq!(&again.key, &k.key);
            prop_assert_eq!(k.thumbprint().len(), 43);
            prop_assert!(Alg::ALL.iter().any(|&a| k.supports(a)));
        }
    }

    /// JWKS documents: random bytes, mutated valid sets, and sets past the key cap. A document is
    /// refused whole only for the documented reasons; otherwise every entry is kept or counted.
    #[test]
    fn jwks_documents(
        picks in proptest::collection::vec((0usize..3, any::<u8>(), json_value()), 0..8),
        garbage in proptest::collection::vec(any::<u8>(), 0..300),
        edits in proptest::collection::vec(edit(), 0..3),
    ) {
        let keys = valid_public_jwks();
        let entries: Vec<Value> = picks.iter().map(|(i, op, v)| {
            if op % 3 == 0 { mutate_jwk(keys[*i].clone(), *op / 3, "kty", v.clone()) } else { keys[*i].clone() }
        }).collect();
        let doc = json!({"keys": entries});
        let set = parse_jwks(doc.to_string().as_bytes()).unwrap();
        prop_assert_eq!(set.keys.len() + set.skipped, entries.len());
        prop_assert!(set.keys.len() <= MAX_JWKS_KEYS);

        let mut text = doc.to_string();
        for e in &edits {
            text = apply(&text, e);
        }
        for input in [text.as_bytes(), &garbage[..]] {
            match parse_jwks(input) {
                Ok(s) => prop_assert!(s.keys.len() + s.skipped <= MAX_JWKS_KEYS),
                Err(e) => prop_assert!(matches!(e, JwksError::NotJson | JwksError::NotAKeySet
                    | JwksError::TooManyKeys | JwksError::DuplicateMember)),
            }
        }
    }
}

#[test]
fn jwks_key_cap_is_enforced() {
    let key = common::public_of(&common::ec_private_jwk());
    for n in [MAX_JWKS_KEYS, MAX_JWKS_KEYS + 1, 1000] {
        let doc = json!({ "keys": vec![key.clone(); n] });
        let r = parse_jwks(doc.to_string().as_bytes());
        if n <= MAX_JWKS_KEYS {
            assert_eq!(r.unwrap().keys.len(), n);
        } else {
            assert_eq!(r.unwrap_err(), JwksError::TooManyKeys);
        }
    }
    // Two `keys` arrays: the document is refused, whichever comes first.
    let text = format!(r#"{{"keys":[{key}],"keys":[]}}"#);
    assert_eq!(
        parse_jwks(text.as_bytes()).unwrap_err(),
        JwksError::DuplicateMember
    );
}
