//! Property tests for the request path and query (issue 8): path normalization against an
//! independent, spec-reading normalizer; credential query names under every spelling the origin
//! stacks accept; case-insensitive route matching against a lower-casing reference.

use portcullis::config::DEFAULT_CREDENTIAL_PARAMS;
use portcullis::path::{normalize, routing_path, PathError, PathParameters, MAX_PATH_BYTES};
use portcullis::query::credential_param;
use portcullis::route::PathPattern;
use proptest::prelude::*;

// ------------------------------------------------------------------------------------------
// A second path normalizer, written from the rules in docs/config.md rather than from the code:
// tokenize the raw path into characters and escapes, render, then judge the rendered path
// segment by segment. It only says accept (with the result) or refuse; not why.

#[derive(Clone, Copy)]
enum Token {
    Char(u8),
    /// An escape kept encoded: the byte it stands for.
    Escaped(u8),
}

fn reference(raw: &str, allow_parameters: bool) -> Option<String> {
    if raw.len() > 8192 {
        return None;
    }
    let mut tokens = Vec::new();
    let mut rest = raw.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'%' {
            if tail.len() < 2 {
                return None;
            }
            let text = std::str::from_utf8(&tail[..2]).ok()?;
            if !text.chars().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            let byte = u8::from_str_radix(text, 16).ok()?;
            let unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
            if unreserved.as_bytes().contains(&byte) {
                tokens.push(Token::Char(byte));
            } else {
                tokens.push(Token::Escaped(byte));
            }
            rest = &tail[2..];
        } else {
            // Printable ASCII other than space; never a backslash.
            if !(0x21..=0x7e).contains(&first) || first == b'\\' {
                return None;
            }
            tokens.push(Token::Char(first));
            rest = tail;
        }
    }
    // Escapes that are refused whatever their position.
    for t in &tokens {
        match t {
            Token::Escaped(b'/') | Token::Escaped(b'\\') | Token::Escaped(0) => return None,
            Token::Escaped(b';') | Token::Char(b';') if !allow_parameters => return None,
            _ => {}
        }
    }
    let rendered: String = tokens
        .iter()
        .map(|t| match t {
            Token::Char(c) => (*c as char).to_string(),
            Token::Escaped(b) => format!("%{b:02X}"),
        })
        .collect();
    if !rendered.starts_with('/') {
        return None;
    }
    // Decode the rendered path once more, as a double-decoding origin would, and look for an
    // escape of a refused character in what it sees.
    let once: Vec<u8> = {
        let b = rendered.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&rendered[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    };
    for w in once.windows(3) {
        if w[0] == b'%' {
            if let Ok(v) = u8::from_str_radix(std::str::from_utf8(&w[1..]).unwrap_or("zz"), 16) {
                if [b'.', b'/', b'\\', 0, b';', b'%'].contains(&v) {
                    return None;
                }
            }
        }
    }
    let segments: Vec<&str> = rendered[1..].split('/').collect();
    for (n, segment) in segments.iter().enumerate() {
        let routed = match segment.find(';') {
            Some(i) if allow_parameters => &segment[..i],
            _ => segment,
        };
        let is_last = n + 1 == segments.len();
        if routed == "." || routed == ".." || (routed.is_empty() && !is_last) {
            return None;
        }
        if routed.to_ascii_uppercase().contains("%3B") {
            return None;
        }
    }
    Some(rendered)
}

/// Paths from an alphabet rich in what origins disagree on: separators, dots, escapes of them
/// (single and double), `;`, `\`, case variants of hex digits, and ordinary letters.
fn path_strategy() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/".to_string()),
        Just(".".to_string()),
        Just("..".to_string()),
        Just("%".to_string()),
        Just(";".to_string()),
        Just("\\".to_string()),
        Just("~".to_string()),
        Just("=".to_string()),
        Just(" ".to_string()),
        prop::sample::select(vec![
            "%2e", "%2E", "%2f", "%2F", "%5c", "%5C", "%00", "%25", "%3b", "%3B", "%252e", "%252E",
            "%252f", "%255c", "%2500", "%253b", "%2525", "%41", "%61", "%7e", "%7E", "%c3%a9",
            "%zz", "%2", "%e", "%32", "%65", "%35",
        ])
        .prop_map(str::to_string),
        "[A-Za-z0-9]{1,3}",
        prop::sample::select(vec!["2", "5", "e", "E", "f", "F", "a", "A", "c", "C", "0"])
            .prop_map(str::to_string),
    ];
    (any::<bool>(), prop::collection::vec(piece, 0..24)).prop_map(|(slash, pieces)| {
        let body: String = pieces.concat();
        if slash {
            format!("/{body}")
        } else {
            body
        }
    })
}

fn modes() -> impl Strategy<Value = PathParameters> {
    prop_oneof![Just(PathParameters::Refuse), Just(PathParameters::Allow)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn normalization_agrees_with_the_reference(raw in path_strategy(), mode in modes()) {
        let ours = normalize(&raw, mode).ok();
        let theirs = reference(&raw, mode == PathParameters::Allow);
        prop_assert_eq!(ours, theirs, "path {:?} ({:?})", raw, mode);
    }

    #[test]
    fn normalization_is_idempotent_and_never_grows(raw in path_strategy(), mode in modes()) {
        if let Ok(once) = normalize(&raw, mode) {
            prop_assert!(once.len() <= raw.len());
            prop_assert_eq!(normalize(&once, mode), Ok(once.clone()));
            // What routes see is itself a clean path (no parameters left to strip, nothing refused).
            let routed = routing_path(&once);
            prop_assert!(!routed.contains(';'));
            let again = normalize(&routed, PathParameters::Refuse);
            prop_assert_eq!(again.as_deref(), Ok(&*routed));
        }
    }

    #[test]
    fn normalization_never_panics_on_any_string(raw in "\\PC{0,64}", mode in modes()) {
        let _ = normalize(&raw, mode);
        let _ = normalize(&format!("/{raw}"), mode);
    }

    #[test]
    fn refusing_parameters_refuses_every_semicolon(raw in path_strategy()) {
        if normalize(&raw, PathParameters::Refuse).is_ok() {
            prop_assert!(!raw.contains(';'));
            prop_assert!(!raw.to_ascii_uppercase().contains("%3B"));
        }
    }
}

#[test]
fn overlong_paths_are_refused_before_decoding() {
    let long = format!("/{}", "a".repeat(MAX_PATH_BYTES));
    assert_eq!(
        normalize(&long, PathParameters::Refuse),
        Err(PathError::TooLong)
    );
    let fits = format!("/{}", "a".repeat(MAX_PATH_BYTES - 1));
    assert_eq!(
        normalize(&fits, PathParameters::Refuse).as_deref(),
        Ok(fits.as_str())
    );
}

// ------------------------------------------------------------------------------------------
// Credential query names: a configured name hidden by any spelling the stacks read as it.

fn defaults() -> Vec<String> {
    DEFAULT_CREDENTIAL_PARAMS
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// One character of a name, spelled in any of the ways a form decoder reads back as it.
fn spell_char(c: char) -> BoxedStrategy<String> {
    let mut options: Vec<BoxedStrategy<String>> = vec![
        Just(c.to_string()).boxed(),
        Just(c.to_ascii_uppercase().to_string()).boxed(),
        any::<bool>()
            .prop_map(move |upper| {
                let e = format!("%{:02x}", c as u8);
                if upper {
                    e.to_uppercase()
                } else {
                    e
                }
            })
            .boxed(),
    ];
    if c == '_' {
        // PHP reads '.', ' ' (raw, '+' or %20) and an unclosed '[' as '_'.
        options.push(
            prop::sample::select(vec![".", "+", "%20", " ", "%2e", "%2E", "["])
                .prop_map(str::to_string)
                .boxed(),
        );
    }
    prop::strategy::Union::new(options).boxed()
}

fn spelled_name(name: &'static str) -> impl Strategy<Value = String> {
    let chars: Vec<BoxedStrategy<String>> = name.chars().map(spell_char).collect();
    (
        chars,
        prop::sample::select(vec!["", "[]", "[x]", "[0][k]", "%5B%5D", "%00tail"]),
        prop::sample::select(vec!["", "+", "%20", "++"]),
    )
        .prop_map(|(parts, suffix, lead)| {
            let body = parts.concat();
            // An unclosed '[' turned into '_' stays unclosed only without an array suffix.
            let suffix = if body.contains('[') || body.contains("%5B") || body.contains("%5b") {
                ""
            } else {
                suffix
            };
            format!("{lead}{body}{suffix}")
        })
}

fn benign_pair() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "q=token",
        "page=2",
        "sort=-name",
        "tokens=1",
        "key_id=k",
        "monkey=1",
        "a[token]=1",
        "filter[key]=x",
        "x=access_token",
        "token_type=bearer",
        "",
        "flag",
    ])
    .prop_map(str::to_string)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn a_credential_name_is_caught_under_any_spelling(
        (which, spelled) in prop::sample::select(DEFAULT_CREDENTIAL_PARAMS.to_vec())
            .prop_flat_map(|n| (Just(n), spelled_name(n))),
        before in prop::collection::vec(benign_pair(), 0..3),
        after in prop::collection::vec(benign_pair(), 0..3),
        separators in prop::collection::vec(prop::sample::select(vec!["&", ";"]), 6),
        value in prop::sample::select(vec!["", "=", "=secret", "=a=b", "=%41"]),
    ) {
        let mut pairs = before.clone();
        pairs.push(format!("{spelled}{value}"));
        pairs.extend(after.iter().cloned());
        let mut query = String::new();
        for (i, p) in pairs.iter().enumerate() {
            if i > 0 {
                query.push_str(separators[i % separators.len()]);
            }
            query.push_str(p);
        }
        let params = defaults();
        let found = credential_param(&params, &query);
        prop_assert_eq!(found, Some(which), "query {:?}", query);
    }

    #[test]
    fn benign_queries_pass(pairs in prop::collection::vec(benign_pair(), 0..6)) {
        let params = defaults();
        prop_assert_eq!(credential_param(&params, &pairs.join("&")), None);
        prop_assert_eq!(credential_param(&params, &pairs.join(";")), None);
    }

    #[test]
    fn query_checking_never_panics(query in "\\PC{0,80}") {
        let _ = credential_param(&defaults(), &query);
    }
}

// ------------------------------------------------------------------------------------------
// Route matching: ignoring case matches exactly what a case-sensitive match of the lower-cased
// pattern and path matches — never more.

fn pattern_strategy() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        "[A-Za-z]{1,3}",
        Just(":id".to_string()),
        Just("api".to_string()),
        Just("Admin".to_string()),
    ];
    (prop::collection::vec(segment, 0..4), any::<bool>()).prop_map(|(segs, wildcard)| {
        let mut p = format!("/{}", segs.join("/"));
        if wildcard {
            p = if segs.is_empty() {
                "/*".into()
            } else {
                format!("{p}/*")
            };
        }
        p
    })
}

fn route_path_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            "[A-Za-z]{0,3}",
            Just("api".to_string()),
            Just("ADMIN".to_string()),
            Just("%41".to_string())
        ],
        0..5,
    )
    .prop_map(|segs| format!("/{}", segs.join("/")))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn case_insensitive_matching_is_lower_cased_case_sensitive_matching(
        pattern in pattern_strategy(),
        path in route_path_strategy(),
    ) {
        let insensitive = PathPattern::parse(&pattern).unwrap();
        let mut lowered = PathPattern::parse(&pattern.to_ascii_lowercase()).unwrap();
        lowered.set_case_sensitive(true);
        let mut exact = PathPattern::parse(&pattern).unwrap();
        exact.set_case_sensitive(true);
        let ci = insensitive.matches(&path);
        prop_assert_eq!(ci, lowered.matches(&path.to_ascii_lowercase()), "{} vs {}", pattern, path);
        // Case-sensitive matches are a subset: ignoring case only ever adds matches.
        prop_assert!(!exact.matches(&path) || ci);
    }
}
