//! Compact JWS parsing (RFC 7515 §7.1) for access tokens, with the RFC 8725 hardening: a size cap
//! before any decoding, strict base64url, a JOSE header without duplicate names, an allowlist of
//! algorithms (never `none`, never `HS*`), and `crit` refused because Portcullis implements no JWS
//! extension. The signature itself is verified elsewhere (WebCrypto in the worker, `native` here).
//!
//! `jku`, `x5u`, `jwk` and `x5c` are tolerated but never read: keys come only from the issuer's
//! configured JWKS, so a token can never point at, or carry, the key that verifies it.

use super::strict_json;
use super::Alg;
use crate::problem::ErrorCode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};
use serde_json::{Map, Value};

/// The default cap on a bearer token's length, in bytes. Real access tokens are well under 2 KiB;
/// the cap bounds the work an unauthenticated request can cause before any signature check.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8192;

/// The caps a configuration may set (`max_token_bytes`; the CLI's `--max-token-bytes`).
pub const MAX_TOKEN_BYTES_RANGE: std::ops::RangeInclusive<usize> = 512..=65_536;

/// Cap on the base64url header segment. A header with a certificate chain (`x5c`, ignored) still
/// fits; anything larger is not a header an access-token issuer produces.
pub const MAX_HEADER_SEGMENT_BYTES: usize = 4096;

/// RSA keys are accepted from 2048 to 8192 bits (see `jwk`), so an RSA signature, which is exactly
/// the modulus length, can only be 256..=1024 bytes. Anything else is refused before key lookup.
const RSA_SIGNATURE_BYTES: std::ops::RangeInclusive<usize> = 256..=1024;

/// Base64url as JWS requires it (RFC 7515 §2): URL-safe alphabet, no padding, no whitespace, and no
/// non-zero trailing bits — so every byte string has exactly one accepted encoding.
pub(crate) const B64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Header parameters registered for JWS by RFC 7515 §4.1 (JWA adds none for JWS). `crit` must not
/// list them (§4.1.11), and duplicate-name errors may name them without echoing token content.
const REGISTERED_HEADER_PARAMS: &[&str] = &[
    "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit",
];

/// The JOSE header members Portcullis acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoseHeader {
    pub alg: Alg,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

/// A compact JWS split and decoded, signature not yet verified.
#[derive(Clone, PartialEq, Eq)]
pub struct CompactJws<'a> {
    pub header: JoseHeader,
    /// `BASE64URL(header) '.' BASE64URL(payload)` exactly as received: what the signature covers.
    pub signing_input: &'a str,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Redacted: a `CompactJws` is a bearer credential and must not reach a log through `{:?}`.
impl std::fmt::Debug for CompactJws<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompactJws")
            .field("header", &self.header)
            .field("signing_input_len", &self.signing_input.len())
            .field("payload_len", &self.payload.len())
            .field("signature_len", &self.signature.len())
            .finish()
    }
}

/// Which of the three compact segments a problem was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    Header,
    Payload,
    Signature,
}

impl Segment {
    fn name(self) -> &'static str {
        match self {
            Segment::Header => "header",
            Segment::Payload => "payload",
            Segment::Signature => "signature",
        }
    }
}

/// Why a compact JWS was refused before signature verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwsError {
    /// Longer than the configured cap; nothing was decoded.
    TooLarge { len: usize, max: usize },
    /// Five segments: a compact JWE. Encrypted access tokens are not supported.
    Jwe,
    /// Not three dot-separated segments (and not five).
    WrongSegmentCount(usize),
    /// The header segment is empty (an empty payload or signature is reported elsewhere).
    EmptyHeader,
    /// The header segment is longer than `MAX_HEADER_SEGMENT_BYTES`.
    HeaderTooLarge,
    /// A segment is not strict base64url (padding, `+`, `/`, whitespace, non-zero trailing bits).
    Base64(Segment),
    /// The decoded header is not JSON (or not UTF-8).
    HeaderNotJson,
    /// The header is JSON but not an object.
    HeaderNotObject,
    /// A header member name appears twice (RFC 7515 §5.2). Named only when it is a registered name.
    DuplicateHeaderParam(Option<&'static str>),
    /// No `alg`.
    AlgMissing,
    /// `alg` is not a JSON string.
    AlgNotString,
    /// `alg` is `none`, an `HS*`, or anything else Portcullis never accepts. Carries the value made
    /// safe for display: at most 16 printable ASCII characters.
    AlgorithmRefused(String),
    /// `kid` is present but not a string.
    KidNotString,
    /// `typ` is present but not a string.
    TypNotString,
    /// `crit` breaks RFC 7515 §4.1.11 (not an array, empty, a non-string, a duplicate, a registered
    /// name, or a name absent from the header).
    CritInvalid(CritProblem),
    /// `crit` is well formed, so the token requires an extension Portcullis does not implement.
    CritUnsupported { count: usize },
    /// The signature segment is empty.
    SignatureMissing,
    /// The signature length cannot be right for `alg`.
    SignatureLength { alg: Alg, len: usize },
    /// A registered header parameter Portcullis ignores (`jku`, `jwk`, `x5u`, `x5c`, `x5t`,
    /// `x5t#S256`, `cty`) has a JSON type RFC 7515 §4.1 does not allow: the header is malformed,
    /// even though the value would never be read.
    RegisteredParamType(&'static str),
}

/// The specific way a `crit` header breaks RFC 7515 §4.1.11.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CritProblem {
    NotAnArray,
    Empty,
    NotAString,
    Duplicate,
    RegisteredName,
    NotInHeader,
}

impl From<JwsError> for crate::problem::Problem {
    fn from(e: JwsError) -> Self {
        crate::problem::Problem::new(e.code(), e.detail())
    }
}

impl JwsError {
    pub fn code(&self) -> ErrorCode {
        match self {
            JwsError::TooLarge { .. } => ErrorCode::TokenTooLarge,
            JwsError::AlgorithmRefused(_) => ErrorCode::TokenAlgorithmRefused,
            JwsError::CritUnsupported { .. } => ErrorCode::TokenCritUnsupported,
            JwsError::SignatureMissing | JwsError::SignatureLength { .. } => {
                ErrorCode::TokenSignatureInvalid
            }
            JwsError::Jwe
            | JwsError::WrongSegmentCount(_)
            | JwsError::EmptyHeader
            | JwsError::HeaderTooLarge
            | JwsError::Base64(_)
            | JwsError::HeaderNotJson
            | JwsError::HeaderNotObject
            | JwsError::DuplicateHeaderParam(_)
            | JwsError::AlgMissing
            | JwsError::AlgNotString
            | JwsError::KidNotString
            | JwsError::TypNotString
            | JwsError::CritInvalid(_)
            | JwsError::RegisteredParamType(_) => ErrorCode::TokenMalformed,
        }
    }

    /// Human text for the problem document. Never contains the token or a part of it, except a
    /// refused `alg` value already reduced to 16 printable characters.
    pub fn detail(&self) -> String {
        match self {
            JwsError::TooLarge { len, max } => {
                format!("the token is {len} bytes; the limit is {max} bytes")
            }
            JwsError::Jwe => {
                "the token has 5 segments (a JWE); only signed compact JWS access tokens are \
                 accepted"
                    .into()
            }
            JwsError::WrongSegmentCount(n) => {
                format!("a compact JWS has 3 dot-separated segments; the token has {n}")
            }
            JwsError::EmptyHeader => "the JOSE header segment is empty".into(),
            JwsError::HeaderTooLarge => {
                format!("the JOSE header segment exceeds {MAX_HEADER_SEGMENT_BYTES} bytes")
            }
            JwsError::Base64(seg) => format!(
                "the {} segment is not unpadded base64url (RFC 7515 §2)",
                seg.name()
            ),
            JwsError::HeaderNotJson => "the JOSE header is not valid UTF-8 JSON".into(),
            JwsError::HeaderNotObject => "the JOSE header is not a JSON object".into(),
            JwsError::DuplicateHeaderParam(Some(name)) => {
                format!("the JOSE header has the member \"{name}\" more than once")
            }
            JwsError::DuplicateHeaderParam(None) => {
                "the JOSE header has a member name more than once".into()
            }
            JwsError::AlgMissing => "the JOSE header has no \"alg\"".into(),
            JwsError::AlgNotString => "the JOSE header \"alg\" is not a string".into(),
            JwsError::AlgorithmRefused(alg) => {
                if alg == "none" {
                    "unsecured tokens (alg \"none\") are never accepted".into()
                } else if alg.starts_with("HS") {
                    format!(
                        "symmetric algorithms are never accepted (alg \"{alg}\"); \
                         use RS256, RS384, RS512, PS256, ES256, EdDSA or Ed25519"
                    )
                } else {
                    format!(
                        "alg \"{alg}\" is not accepted; use RS256, RS384, RS512, PS256, ES256, \
                         EdDSA or Ed25519"
                    )
                }
            }
            JwsError::KidNotString => "the JOSE header \"kid\" is not a string".into(),
            JwsError::TypNotString => "the JOSE header \"typ\" is not a string".into(),
            JwsError::CritInvalid(p) => {
                let why = match p {
                    CritProblem::NotAnArray => "is not an array",
                    CritProblem::Empty => "is an empty array",
                    CritProblem::NotAString => "contains a non-string",
                    CritProblem::Duplicate => "names a parameter twice",
                    CritProblem::RegisteredName => "names a registered header parameter",
                    CritProblem::NotInHeader => "names a parameter absent from the header",
                };
                format!("the JOSE header \"crit\" {why} (RFC 7515 §4.1.11)")
            }
            JwsError::CritUnsupported { count } => format!(
                "the token marks {count} header parameter(s) as critical; Portcullis implements \
                 no JWS extensions"
            ),
            JwsError::SignatureMissing => "the signature segment is empty".into(),
            JwsError::SignatureLength { alg, len } => format!(
                "a {len}-byte signature cannot be a valid {} signature",
                alg.as_str()
            ),
            JwsError::RegisteredParamType(name) => {
                format!("the JOSE header \"{name}\" has the wrong JSON type (RFC 7515 §4.1)")
            }
        }
    }
}

impl std::fmt::Display for JwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail())
    }
}

impl std::error::Error for JwsError {}

/// Splits, decodes and checks a compact JWS. No input panics; the first failed check is returned.
pub fn parse_compact(token: &str, max_bytes: usize) -> Result<CompactJws<'_>, JwsError> {
    // Before anything else: an oversized token costs nothing but this comparison.
    if token.len() > max_bytes {
        return Err(JwsError::TooLarge {
            len: token.len(),
            max: max_bytes,
        });
    }

    let mut segments = token.split('.');
    let (header_b64, payload_b64, signature_b64) =
        match (segments.next(), segments.next(), segments.next()) {
            (Some(h), Some(p), Some(s)) => (h, p, s),
            _ => return Err(JwsError::WrongSegmentCount(token.split('.').count())),
        };
    let extra = segments.count();
    if extra > 0 {
        let total = 3 + extra;
        return Err(if total == 5 {
            JwsError::Jwe
        } else {
            JwsError::WrongSegmentCount(total)
        });
    }

    if header_b64.is_empty() {
        return Err(JwsError::EmptyHeader);
    }
    if header_b64.len() > MAX_HEADER_SEGMENT_BYTES {
        return Err(JwsError::HeaderTooLarge);
    }
    let header_bytes = B64URL
        .decode(header_b64)
        .map_err(|_| JwsError::Base64(Segment::Header))?;
    let header = parse_header(&header_bytes)?;

    let payload = B64URL
        .decode(payload_b64)
        .map_err(|_| JwsError::Base64(Segment::Payload))?;

    if signature_b64.is_empty() {
        return Err(JwsError::SignatureMissing);
    }
    let signature = B64URL
        .decode(signature_b64)
        .map_err(|_| JwsError::Base64(Segment::Signature))?;
    check_signature_length(header.alg, signature.len())?;

    // The segments are ASCII-delimited slices of `token`, so this range is on char boundaries.
    let signing_input = token
        .get(..header_b64.len() + 1 + payload_b64.len())
        .ok_or(JwsError::WrongSegmentCount(3))?;

    Ok(CompactJws {
        header,
        signing_input,
        payload,
        signature,
    })
}

/// Whether a signature of `len` bytes can be a valid `alg` signature at all under the key policy.
/// `parse_compact` applies it; verifiers that take raw signatures (the WebCrypto differential
/// test) apply it too, since WebCrypto throws rather than returns false on a wrong Ed25519 length.
pub fn check_signature_length(alg: Alg, len: usize) -> Result<(), JwsError> {
    let plausible = match alg {
        // P1363 R||S for P-256, and the Ed25519 R||S, are both exactly 64 bytes (RFC 7518 §3.4,
        // RFC 8037 §3.1). DER-encoded ECDSA signatures are a common issuer bug: refused here.
        Alg::ES256 | Alg::EdDSA | Alg::Ed25519 => len == 64,
        Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 => RSA_SIGNATURE_BYTES.contains(&len),
    };
    if plausible {
        Ok(())
    } else {
        Err(JwsError::SignatureLength { alg, len })
    }
}

fn parse_header(bytes: &[u8]) -> Result<JoseHeader, JwsError> {
    let header = strict_json::parse_object(bytes).map_err(|e| match e {
        strict_json::JsonError::Syntax => JwsError::HeaderNotJson,
        strict_json::JsonError::NotObject => JwsError::HeaderNotObject,
        strict_json::JsonError::Duplicate(name) => {
            JwsError::DuplicateHeaderParam(registered_name(&name))
        }
    })?;

    let alg = match header.get("alg") {
        None => return Err(JwsError::AlgMissing),
        Some(Value::String(s)) => s,
        Some(_) => return Err(JwsError::AlgNotString),
    };
    let alg = Alg::parse(alg).ok_or_else(|| JwsError::AlgorithmRefused(display_safe(alg, 16)))?;

    let kid = optional_string(&header, "kid").map_err(|()| JwsError::KidNotString)?;
    let typ = optional_string(&header, "typ").map_err(|()| JwsError::TypNotString)?;
    check_ignored_param_types(&header)?;

    if let Some(crit) = header.get("crit") {
        let count = check_crit(crit, &header).map_err(JwsError::CritInvalid)?;
        // Every name in a well-formed `crit` is an extension we would have to understand.
        return Err(JwsError::CritUnsupported { count });
    }

    Ok(JoseHeader { alg, kid, typ })
}

fn optional_string(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, ()> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(()),
    }
}

/// RFC 7515 §4.1.11; returns the number of extension names when `crit` is well formed.
fn check_crit(crit: &Value, header: &Map<String, Value>) -> Result<usize, CritProblem> {
    let names = crit.as_array().ok_or(CritProblem::NotAnArray)?;
    if names.is_empty() {
        return Err(CritProblem::Empty);
    }
    let mut seen: Vec<&str> = Vec::with_capacity(names.len());
    for name in names {
        let name = name.as_str().ok_or(CritProblem::NotAString)?;
        if REGISTERED_HEADER_PARAMS.contains(&name) {
            return Err(CritProblem::RegisteredName);
        }
        if seen.contains(&name) {
            return Err(CritProblem::Duplicate);
        }
        if !header.contains_key(name) {
            return Err(CritProblem::NotInHeader);
        }
        seen.push(name);
    }
    Ok(seen.len())
}

/// The registered parameters that are never read still have the types RFC 7515 §4.1.2–4.1.10
/// gives them. A header that breaks them is not one a conforming issuer produced, and another
/// JOSE library (`jsonwebtoken`, which deserializes them) refuses it: so does Portcullis.
fn check_ignored_param_types(header: &Map<String, Value>) -> Result<(), JwsError> {
    const STRINGS: &[&str] = &["jku", "x5u", "x5t", "x5t#S256", "cty"];
    for &name in STRINGS {
        if header.get(name).is_some_and(|v| !v.is_string()) {
            return Err(JwsError::RegisteredParamType(name));
        }
    }
    if header.get("jwk").is_some_and(|v| !v.is_object()) {
        return Err(JwsError::RegisteredParamType("jwk"));
    }
    let chain_ok = |v: &Value| {
        v.as_array()
            .is_some_and(|certs| certs.iter().all(Value::is_string))
    };
    if header.get("x5c").is_some_and(|v| !chain_ok(v)) {
        return Err(JwsError::RegisteredParamType("x5c"));
    }
    Ok(())
}

fn registered_name(name: &str) -> Option<&'static str> {
    REGISTERED_HEADER_PARAMS
        .iter()
        .copied()
        .find(|&registered| registered == name)
}

/// Reduces attacker-chosen text to at most `max` printable ASCII characters, so it can be shown in
/// a problem document or a log line without carrying anything else from the token.
pub(crate) fn display_safe(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        B64URL.encode(bytes)
    }

    /// A token with the given header JSON, a small payload and a signature of `sig_len` bytes.
    fn token(header: &str, sig_len: usize) -> String {
        format!(
            "{}.{}.{}",
            b64(header.as_bytes()),
            b64(br#"{"iss":"https://issuer.example"}"#),
            b64(&vec![7u8; sig_len])
        )
    }

    fn err(header: &str) -> JwsError {
        parse_compact(&token(header, 64), DEFAULT_MAX_TOKEN_BYTES).unwrap_err()
    }

    #[test]
    fn parses_a_well_formed_token() {
        let t = token(
            r#"{"alg":"ES256","kid":"k1","typ":"at+jwt","x5c":["ignored"]}"#,
            64,
        );
        let jws = parse_compact(&t, DEFAULT_MAX_TOKEN_BYTES).unwrap();
        assert_eq!(
            jws.header,
            JoseHeader {
                alg: Alg::ES256,
                kid: Some("k1".into()),
                typ: Some("at+jwt".into())
            }
        );
        assert_eq!(jws.payload, br#"{"iss":"https://issuer.example"}"#);
        assert_eq!(jws.signature, vec![7u8; 64]);
        let last_dot = t.rfind('.').unwrap();
        assert_eq!(jws.signing_input, &t[..last_dot]);
    }

    #[test]
    fn every_accepted_alg_parses() {
        for &alg in Alg::ALL {
            let len = if matches!(alg, Alg::ES256 | Alg::EdDSA | Alg::Ed25519) {
                64
            } else {
                256
            };
            let t = token(&format!(r#"{{"alg":"{}"}}"#, alg.as_str()), len);
            assert_eq!(parse_compact(&t, 8192).unwrap().header.alg, alg);
        }
    }

    #[test]
    fn debug_does_not_leak_the_token() {
        let t = token(r#"{"alg":"ES256"}"#, 64);
        let jws = parse_compact(&t, 8192).unwrap();
        let shown = format!("{jws:?}");
        assert!(!shown.contains(t.split('.').nth(1).unwrap()));
        assert!(shown.contains("payload_len"));
    }

    #[test]
    fn size_is_checked_first() {
        let t = token(r#"{"alg":"ES256"}"#, 64);
        assert!(parse_compact(&t, t.len()).is_ok());
        let e = parse_compact(&t, t.len() - 1).unwrap_err();
        assert_eq!(
            e,
            JwsError::TooLarge {
                len: t.len(),
                max: t.len() - 1
            }
        );
        assert_eq!(e.code(), ErrorCode::TokenTooLarge);
        // Garbage that is too large is reported as too large, not as malformed.
        let junk = "!".repeat(9000);
        assert_eq!(
            parse_compact(&junk, DEFAULT_MAX_TOKEN_BYTES)
                .unwrap_err()
                .code(),
            ErrorCode::TokenTooLarge
        );
    }

    #[test]
    fn segment_counts() {
        let cases: &[(&str, JwsError)] = &[
            ("", JwsError::WrongSegmentCount(1)),
            ("abc", JwsError::WrongSegmentCount(1)),
            ("a.b", JwsError::WrongSegmentCount(2)),
            ("a.b.c.d", JwsError::WrongSegmentCount(4)),
            ("a.b.c.d.e", JwsError::Jwe),
            ("a.b.c.d.e.f", JwsError::WrongSegmentCount(6)),
            ("....", JwsError::Jwe),
        ];
        for (t, want) in cases {
            let e = parse_compact(t, 8192).unwrap_err();
            assert_eq!(&e, want, "{t:?}");
            assert_eq!(e.code(), ErrorCode::TokenMalformed);
        }
        assert!(JwsError::Jwe.detail().contains("JWE"));
    }

    #[test]
    fn empty_and_oversized_header() {
        let e = parse_compact(".e30.AAAA", 8192).unwrap_err();
        assert_eq!(e, JwsError::EmptyHeader);
        assert_eq!(e.code(), ErrorCode::TokenMalformed);
        let big = format!(
            r#"{{"alg":"ES256","x5c":["{}"]}}"#,
            "A".repeat(MAX_HEADER_SEGMENT_BYTES)
        );
        let e = parse_compact(&token(&big, 64), 1 << 20).unwrap_err();
        assert_eq!(e, JwsError::HeaderTooLarge);
        assert_eq!(e.code(), ErrorCode::TokenMalformed);
    }

    #[test]
    fn base64url_is_strict() {
        let good_h = b64(br#"{"alg":"ES256"}"#);
        let good_p = b64(b"{}");
        let good_s = b64(&[1u8; 64]);
        assert!(parse_compact(&format!("{good_h}.{good_p}.{good_s}"), 8192).is_ok());

        // "e30" is "{}"; "e31" has non-zero trailing bits and decodes to the same bytes.
        assert_eq!(B64URL.decode("e30").unwrap(), b"{}");
        let bad_payloads = ["e30=", "e31", "e3+0", "e3/0", "e3 0", "e30\n", "e", "é30"];
        for p in bad_payloads {
            let e = parse_compact(&format!("{good_h}.{p}.{good_s}"), 8192).unwrap_err();
            assert_eq!(e, JwsError::Base64(Segment::Payload), "{p:?}");
            assert_eq!(e.code(), ErrorCode::TokenMalformed);
        }
        let e = parse_compact(&format!("{good_h}=.{good_p}.{good_s}"), 8192).unwrap_err();
        assert_eq!(e, JwsError::Base64(Segment::Header));
        // The standard alphabet's '+' and '/' are not base64url.
        for std_char in ["+", "/"] {
            let mut s_std = good_s.clone();
            s_std.replace_range(0..1, std_char);
            let e = parse_compact(&format!("{good_h}.{good_p}.{s_std}"), 8192).unwrap_err();
            assert_eq!(e, JwsError::Base64(Segment::Signature));
        }
        let e = parse_compact(&format!("{good_h}.{good_p}.{good_s}="), 8192).unwrap_err();
        assert_eq!(e, JwsError::Base64(Segment::Signature));
    }

    #[test]
    fn header_must_be_a_json_object() {
        for (h, want) in [
            ("not json", JwsError::HeaderNotJson),
            ("{\"alg\":\"ES256\"", JwsError::HeaderNotJson),
            ("{\"alg\":\"ES256\"} {}", JwsError::HeaderNotJson),
            ("[\"ES256\"]", JwsError::HeaderNotObject),
            ("\"ES256\"", JwsError::HeaderNotObject),
            ("null", JwsError::HeaderNotObject),
        ] {
            let e = err(h);
            assert_eq!(e, want, "{h}");
            assert_eq!(e.code(), ErrorCode::TokenMalformed);
        }
        let t = format!("{}.e30.{}", b64(b"{\"alg\":\"\xff\"}"), b64(&[0; 64]));
        assert_eq!(
            parse_compact(&t, 8192).unwrap_err(),
            JwsError::HeaderNotJson
        );
    }

    #[test]
    fn duplicate_header_members_are_refused() {
        // serde_json alone would silently take the second "alg".
        let e = err(r#"{"alg":"none","alg":"ES256"}"#);
        assert_eq!(e, JwsError::DuplicateHeaderParam(Some("alg")));
        assert_eq!(e.code(), ErrorCode::TokenMalformed);
        assert!(e.detail().contains("\"alg\""));
        let e = err(r#"{"alg":"ES256","kid":"a","kid":"b"}"#);
        assert_eq!(e, JwsError::DuplicateHeaderParam(Some("kid")));
        // An unregistered name is not echoed.
        let e = err(r#"{"alg":"ES256","secret-ish":1,"secret-ish":2}"#);
        assert_eq!(e, JwsError::DuplicateHeaderParam(None));
        assert!(!e.detail().contains("secret"));
    }

    #[test]
    fn alg_checks() {
        assert_eq!(err(r#"{"typ":"JWT"}"#), JwsError::AlgMissing);
        assert_eq!(err(r#"{"alg":1}"#), JwsError::AlgNotString);
        assert_eq!(err(r#"{"alg":null}"#), JwsError::AlgNotString);
        assert_eq!(err(r#"{"alg":["ES256"]}"#), JwsError::AlgNotString);
        assert_eq!(JwsError::AlgMissing.code(), ErrorCode::TokenMalformed);
        assert_eq!(JwsError::AlgNotString.code(), ErrorCode::TokenMalformed);

        for refused in [
            "none", "None", "NONE", "HS256", "HS384", "HS512", "hs256", "es256", "ES384", "ES512",
            "ES256K", "PS384", "PS512", "RSA-OAEP", "dir", "", "ed25519", "Ed448",
        ] {
            let e = err(&format!(r#"{{"alg":"{refused}"}}"#));
            assert_eq!(
                e,
                JwsError::AlgorithmRefused(refused.to_string()),
                "{refused}"
            );
            assert_eq!(e.code(), ErrorCode::TokenAlgorithmRefused);
        }
        assert!(err(r#"{"alg":"none"}"#).detail().contains("none"));
        assert!(err(r#"{"alg":"HS256"}"#).detail().contains("symmetric"));
    }

    #[test]
    fn refused_alg_is_truncated_and_sanitised_in_the_detail() {
        let e = err(r#"{"alg":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#);
        assert_eq!(e, JwsError::AlgorithmRefused("A".repeat(16)));
        let e = err("{\"alg\":\"x\\ny\\u0000\\\"z\\u00e9\"}");
        assert_eq!(e, JwsError::AlgorithmRefused("x?y?\"z?".into()));
        assert!(e.detail().len() < 200);
    }

    #[test]
    fn kid_and_typ_types() {
        assert_eq!(err(r#"{"alg":"ES256","kid":1}"#), JwsError::KidNotString);
        assert_eq!(err(r#"{"alg":"ES256","kid":null}"#), JwsError::KidNotString);
        assert_eq!(err(r#"{"alg":"ES256","typ":true}"#), JwsError::TypNotString);
        assert_eq!(err(r#"{"alg":"ES256","typ":{}}"#), JwsError::TypNotString);
        assert_eq!(JwsError::KidNotString.code(), ErrorCode::TokenMalformed);
        assert_eq!(JwsError::TypNotString.code(), ErrorCode::TokenMalformed);
    }

    #[test]
    fn key_pointing_params_are_ignored() {
        let t = token(
            r#"{"alg":"ES256","jku":"https://evil.example/jwks","x5u":"https://evil.example/c",
                "jwk":{"kty":"EC"},"x5c":["MII"],"cty":"JWT"}"#,
            64,
        );
        let jws = parse_compact(&t, 8192).unwrap();
        assert_eq!(
            jws.header,
            JoseHeader {
                alg: Alg::ES256,
                kid: None,
                typ: None
            }
        );
    }

    #[test]
    fn crit() {
        let invalid = [
            (r#"{"alg":"ES256","crit":"exp"}"#, CritProblem::NotAnArray),
            (r#"{"alg":"ES256","crit":null}"#, CritProblem::NotAnArray),
            (r#"{"alg":"ES256","crit":[]}"#, CritProblem::Empty),
            (
                r#"{"alg":"ES256","crit":[1],"1":1}"#,
                CritProblem::NotAString,
            ),
            (
                r#"{"alg":"ES256","crit":["alg"]}"#,
                CritProblem::RegisteredName,
            ),
            (
                r#"{"alg":"ES256","crit":["kid"],"kid":"k"}"#,
                CritProblem::RegisteredName,
            ),
            (
                r#"{"alg":"ES256","crit":["x","x"],"x":1}"#,
                CritProblem::Duplicate,
            ),
            (
                r#"{"alg":"ES256","crit":["exp"]}"#,
                CritProblem::NotInHeader,
            ),
        ];
        for (h, p) in invalid {
            let e = err(h);
            assert_eq!(e, JwsError::CritInvalid(p), "{h}");
            assert_eq!(e.code(), ErrorCode::TokenMalformed);
            assert!(e.detail().contains("crit"));
        }
        let e = err(r#"{"alg":"ES256","crit":["b64"],"b64":false}"#);
        assert_eq!(e, JwsError::CritUnsupported { count: 1 });
        assert_eq!(e.code(), ErrorCode::TokenCritUnsupported);
        let e = err(r#"{"alg":"ES256","crit":["exp","foo"],"exp":1,"foo":2}"#);
        assert_eq!(e, JwsError::CritUnsupported { count: 2 });
        // alg is judged before crit: a refused alg stays a refused alg.
        assert_eq!(
            err(r#"{"alg":"none","crit":["b64"],"b64":false}"#).code(),
            ErrorCode::TokenAlgorithmRefused
        );
    }

    #[test]
    fn signature_lengths() {
        let h = |alg: &str| format!(r#"{{"alg":"{alg}"}}"#);
        for (alg, ok, bad) in [
            ("ES256", &[64][..], &[1, 63, 65, 70, 72, 128][..]),
            ("EdDSA", &[64], &[1, 32, 63, 65, 128]),
            ("Ed25519", &[64], &[1, 32, 63, 65, 128]),
            ("RS256", &[256, 384, 512, 1024], &[1, 64, 255, 1025]),
            ("RS384", &[256], &[128]),
            ("RS512", &[512], &[2000]),
            ("PS256", &[256], &[255]),
        ] {
            let a = Alg::parse(alg).unwrap();
            for &len in ok {
                assert!(
                    parse_compact(&token(&h(alg), len), 1 << 16).is_ok(),
                    "{alg} {len}"
                );
            }
            for &len in bad {
                let e = parse_compact(&token(&h(alg), len), 1 << 16).unwrap_err();
                assert_eq!(e, JwsError::SignatureLength { alg: a, len }, "{alg} {len}");
                assert_eq!(e.code(), ErrorCode::TokenSignatureInvalid);
            }
        }
        let t = format!("{}.e30.", b64(br#"{"alg":"RS256"}"#));
        let e = parse_compact(&t, 8192).unwrap_err();
        assert_eq!(e, JwsError::SignatureMissing);
        assert_eq!(e.code(), ErrorCode::TokenSignatureInvalid);
    }

    #[test]
    fn empty_payload_is_returned_for_the_claims_stage() {
        let t = format!("{}..{}", b64(br#"{"alg":"ES256"}"#), b64(&[0; 64]));
        let jws = parse_compact(&t, 8192).unwrap();
        assert!(jws.payload.is_empty());
        assert!(jws.signing_input.ends_with('.'));
    }

    #[test]
    fn details_never_echo_the_token() {
        let secretish = "c2VjcmV0LXBheWxvYWQ";
        let tokens = [
            format!("{secretish}.{secretish}"),
            format!("{secretish}.{secretish}.{secretish}.{secretish}"),
            format!("{secretish}=.{secretish}.{secretish}"),
            format!("e30.{secretish}.x"),
            format!("{}.{secretish}=.AA", b64(br#"{"alg":"ES256"}"#)),
        ];
        for t in tokens {
            let e = parse_compact(&t, 8192).unwrap_err();
            assert!(!e.detail().contains(secretish), "{e:?}");
            assert!(!e.detail().is_empty());
        }
    }

    #[test]
    fn every_variant_has_its_documented_code() {
        use ErrorCode::*;
        let table = [
            (JwsError::TooLarge { len: 2, max: 1 }, TokenTooLarge),
            (JwsError::Jwe, TokenMalformed),
            (JwsError::WrongSegmentCount(2), TokenMalformed),
            (JwsError::EmptyHeader, TokenMalformed),
            (JwsError::HeaderTooLarge, TokenMalformed),
            (JwsError::Base64(Segment::Header), TokenMalformed),
            (JwsError::HeaderNotJson, TokenMalformed),
            (JwsError::HeaderNotObject, TokenMalformed),
            (JwsError::DuplicateHeaderParam(None), TokenMalformed),
            (JwsError::AlgMissing, TokenMalformed),
            (JwsError::AlgNotString, TokenMalformed),
            (
                JwsError::AlgorithmRefused("none".into()),
                TokenAlgorithmRefused,
            ),
            (JwsError::KidNotString, TokenMalformed),
            (JwsError::TypNotString, TokenMalformed),
            (JwsError::CritInvalid(CritProblem::Empty), TokenMalformed),
            (JwsError::CritUnsupported { count: 1 }, TokenCritUnsupported),
            (JwsError::SignatureMissing, TokenSignatureInvalid),
            (
                JwsError::SignatureLength {
                    alg: Alg::ES256,
                    len: 1,
                },
                TokenSignatureInvalid,
            ),
            (JwsError::RegisteredParamType("x5c"), TokenMalformed),
        ];
        for (e, code) in table {
            assert_eq!(e.code(), code, "{e:?}");
            assert!(!e.detail().is_empty());
            assert_eq!(e.to_string(), e.detail());
        }
    }

    #[test]
    fn no_panic_on_arbitrary_input() {
        // A cheap deterministic fuzz: mutate a valid token byte by byte and at random.
        let base = token(r#"{"alg":"RS256","kid":"k","crit":["x"],"x":1}"#, 256);
        let bytes = base.as_bytes();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"AZaz09-_.=+/ {}\"";
        for _ in 0..20_000 {
            let mut t = bytes.to_vec();
            let edits = (next() % 4 + 1) as usize;
            for _ in 0..edits {
                let i = (next() as usize) % t.len();
                t[i] = alphabet[(next() as usize) % alphabet.len()];
            }
            let s = String::from_utf8_lossy(&t);
            let _ = parse_compact(&s, DEFAULT_MAX_TOKEN_BYTES);
        }
        for s in ["\u{0}", ".", "..", "\u{feff}..", "é.é.é", "ÿÿÿÿ"] {
            assert!(parse_compact(s, DEFAULT_MAX_TOKEN_BYTES).is_err());
        }
    }

    /// Regression (found by tests/properties_differential.rs): registered parameters Portcullis
    /// ignores were accepted with any JSON type, where jsonwebtoken refuses the token.
    #[test]
    fn ignored_registered_params_must_have_their_registered_types() {
        for (member, name) in [
            (r#""jku":5"#, "jku"),
            (r#""x5u":[]"#, "x5u"),
            (r#""x5t":null"#, "x5t"),
            (r#""x5t#S256":1"#, "x5t#S256"),
            (r#""cty":{}"#, "cty"),
            (r#""jwk":"k""#, "jwk"),
            (r#""x5c":"MIIB""#, "x5c"),
            (r#""x5c":[1]"#, "x5c"),
        ] {
            assert_eq!(
                err(&format!(r#"{{"alg":"ES256",{member}}}"#)),
                JwsError::RegisteredParamType(name),
                "{member}"
            );
        }
        let ok =
            r#"{"alg":"ES256","jku":"https://x","x5c":["MIIB"],"x5t":"t","cty":"JWT","jwk":{}}"#;
        assert!(parse_compact(&token(ok, 64), DEFAULT_MAX_TOKEN_BYTES).is_ok());
    }
}
