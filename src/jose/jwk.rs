//! JWK and JWK Set parsing (RFC 7517, RFC 7518 §6, RFC 8037 §2) for signature verification only.
//!
//! An issuer's JWKS routinely mixes keys we cannot or must not use (encryption keys, symmetric keys,
//! other curves). Such keys are skipped and counted — one odd key never takes the issuer's whole set
//! down — while a document that is not a key set at all fails. Only public members are kept, and a
//! key that carries private material is refused outright: publishing it is a leak, not a key.

use super::jws::B64URL;
use super::strict_json;
use super::Alg;
use base64::Engine as _;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::cell::{Cell, RefCell};

/// A JWKS with more entries than this is refused: it bounds the work (and the WebCrypto imports) a
/// compromised or broken JWKS endpoint can cause. Real sets hold a handful of keys.
pub const MAX_JWKS_KEYS: usize = 100;

/// RSA modulus bounds in bits. Below 2048 is refused by RFC 8725 §3.5 / NIST SP 800-131A; above
/// 8192 only costs verification time (and BoringSSL's own limit is 16384).
pub const RSA_MIN_BITS: usize = 2048;
pub const RSA_MAX_BITS: usize = 8192;

/// Members that only a private (or symmetric) JWK carries (RFC 7518 §6.2.2, §6.3.2, §6.4.1,
/// RFC 8037 §2).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A public key usable for JWS verification, with the JWK metadata that restricts its use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    pub kid: Option<String>,
    /// When present, the only algorithm this key may verify (RFC 8725 §3.1). Always one of `Alg`.
    pub alg: Option<String>,
    /// `use`; when present it is `"sig"` (other values are skipped at parse).
    pub use_: Option<String>,
    /// When present it contains `"verify"` (otherwise the key is skipped at parse).
    pub key_ops: Option<Vec<String>>,
    pub key: PublicKey,
}

/// Public key material, big-endian, integers without leading zero octets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    EcP256 { x: [u8; 32], y: [u8; 32] },
    Ed25519 { x: [u8; 32] },
}

/// The usable keys of a JWKS, plus how many entries were skipped as unusable.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
    pub skipped: usize,
}

/// Why a whole JWKS document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    /// Not UTF-8 JSON (or trailing data after it).
    NotJson,
    /// JSON, but not an object with a `keys` array (RFC 7517 §5).
    NotAKeySet,
    /// More than `MAX_JWKS_KEYS` entries.
    TooManyKeys,
    /// A top-level member name appears twice (e.g. two `keys` arrays): ambiguous, so refused.
    DuplicateMember,
}

impl std::fmt::Display for JwksError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwksError::NotJson => f.write_str("the JWKS is not valid JSON"),
            JwksError::NotAKeySet => {
                f.write_str("the JWKS is not a JSON object with a \"keys\" array (RFC 7517 §5)")
            }
            JwksError::TooManyKeys => write!(f, "the JWKS has more than {MAX_JWKS_KEYS} keys"),
            JwksError::DuplicateMember => {
                f.write_str("the JWKS has a top-level member name more than once")
            }
        }
    }
}

impl std::error::Error for JwksError {}

/// Why one JWK is unusable for verification. Names members, never echoes their values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwkError {
    NotAnObject,
    /// The key object has a member name twice (only detected by `parse_jwks`, which sees raw JSON).
    DuplicateMember,
    /// `d`, `p`, `q`, `dp`, `dq`, `qi`, `oth` or `k` is present.
    PrivateMaterial(&'static str),
    MissingMember(&'static str),
    /// A member has the wrong JSON type (e.g. `kid` a number, `key_ops` not an array of strings).
    MemberType(&'static str),
    /// `kty` is `oct`: a shared secret can never verify an access token here.
    SymmetricKey,
    UnsupportedKeyType,
    UnsupportedCurve,
    /// `use` is present and is not `sig`.
    NotForSignatures,
    /// `key_ops` is present and lacks `verify`.
    VerifyNotPermitted,
    /// `alg` is present and is not an algorithm Portcullis accepts.
    UnsupportedAlgorithm,
    /// `alg` names an algorithm for a different key type.
    AlgorithmKeyMismatch,
    /// A key member is not strict base64url.
    Base64(&'static str),
    RsaModulusTooSmall {
        bits: usize,
    },
    RsaModulusTooLarge {
        bits: usize,
    },
    /// An even modulus is not an RSA modulus: no issuer publishes one, and the `rsa` crate refuses
    /// it (workerd would import it, so this is a policy choice, not a WebCrypto constraint).
    RsaModulusEven,
    /// `e` is neither 65537 nor 3: the only exponents WebCrypto in workerd imports, so a key that
    /// passes here is a key the worker can use.
    RsaExponent,
    /// `x` or `y` of a P-256 key is not exactly 32 octets (RFC 7518 §6.2.1.2).
    EcCoordinateLength(&'static str),
    /// `x` of an Ed25519 key is not exactly 32 octets.
    OkpKeyLength,
}

impl std::fmt::Display for JwkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwkError::NotAnObject => f.write_str("the JWK is not a JSON object"),
            JwkError::DuplicateMember => f.write_str("the JWK has a member name more than once"),
            JwkError::PrivateMaterial(m) => {
                write!(f, "the JWK carries private key material (\"{m}\")")
            }
            JwkError::MissingMember(m) => write!(f, "the JWK has no \"{m}\""),
            JwkError::MemberType(m) => write!(f, "the JWK member \"{m}\" has the wrong JSON type"),
            JwkError::SymmetricKey => f.write_str("symmetric (kty \"oct\") keys are never used"),
            JwkError::UnsupportedKeyType => f.write_str("the JWK key type is not supported"),
            JwkError::UnsupportedCurve => f.write_str("the JWK curve is not supported"),
            JwkError::NotForSignatures => f.write_str("the JWK \"use\" is not \"sig\""),
            JwkError::VerifyNotPermitted => f.write_str("the JWK \"key_ops\" lacks \"verify\""),
            JwkError::UnsupportedAlgorithm => f.write_str("the JWK \"alg\" is not accepted"),
            JwkError::AlgorithmKeyMismatch => {
                f.write_str("the JWK \"alg\" does not match its key type")
            }
            JwkError::Base64(m) => write!(f, "the JWK member \"{m}\" is not unpadded base64url"),
            JwkError::RsaModulusTooSmall { bits } => {
                write!(
                    f,
                    "the RSA modulus has {bits} bits; at least {RSA_MIN_BITS} are required"
                )
            }
            JwkError::RsaModulusTooLarge { bits } => {
                write!(
                    f,
                    "the RSA modulus has {bits} bits; at most {RSA_MAX_BITS} are accepted"
                )
            }
            JwkError::RsaModulusEven => f.write_str("the RSA modulus is even"),
            JwkError::RsaExponent => {
                f.write_str("the RSA exponent must be odd, at least 3 and at most 33 bits")
            }
            JwkError::EcCoordinateLength(m) => {
                write!(f, "the P-256 coordinate \"{m}\" is not 32 octets")
            }
            JwkError::OkpKeyLength => f.write_str("the Ed25519 key is not 32 octets"),
        }
    }
}

impl std::error::Error for JwkError {}

impl Jwk {
    /// Whether this key may verify a token signed with `alg`: the key type must fit the algorithm,
    /// and a key that names an `alg` verifies that one only (RFC 8725 §3.1).
    pub fn supports(&self, alg: Alg) -> bool {
        let type_fits = match alg {
            Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 => {
                matches!(self.key, PublicKey::Rsa { .. })
            }
            Alg::ES256 => matches!(self.key, PublicKey::EcP256 { .. }),
            Alg::EdDSA | Alg::Ed25519 => matches!(self.key, PublicKey::Ed25519 { .. }),
        };
        type_fits
            && self
                .alg
                .as_deref()
                .is_none_or(|a| Alg::parse(a).is_some_and(|pinned| pinned.same_operation(alg)))
    }

    /// The public JWK with only the members WebCrypto needs, for `importKey("jwk", …)`. `alg`,
    /// `use` and `key_ops` are left out on purpose: they were enforced here, and WebCrypto would
    /// otherwise compare them against the import parameters in its own ways.
    pub fn to_webcrypto_jwk(&self) -> Value {
        let mut m = Map::new();
        for (name, value) in self.required_members() {
            m.insert(name.to_owned(), Value::String(value));
        }
        Value::Object(m)
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url).
    pub fn thumbprint(&self) -> String {
        // Required members in lexicographic order, no whitespace. Every value is base64url or a
        // fixed name, so none needs JSON escaping.
        let members: Vec<String> = self
            .required_members()
            .into_iter()
            .map(|(name, value)| format!("\"{name}\":\"{value}\""))
            .collect();
        let canonical = format!("{{{}}}", members.join(","));
        B64URL.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// RFC 7638 §3.2 required members, already in lexicographic order.
    fn required_members(&self) -> Vec<(&'static str, String)> {
        match &self.key {
            PublicKey::Rsa { n, e } => vec![
                ("e", B64URL.encode(e)),
                ("kty", "RSA".into()),
                ("n", B64URL.encode(n)),
            ],
            PublicKey::EcP256 { x, y } => vec![
                ("crv", "P-256".into()),
                ("kty", "EC".into()),
                ("x", B64URL.encode(x)),
                ("y", B64URL.encode(y)),
            ],
            PublicKey::Ed25519 { x } => vec![
                ("crv", "Ed25519".into()),
                ("kty", "OKP".into()),
                ("x", B64URL.encode(x)),
            ],
        }
    }
}

impl JwkSet {
    /// The keys that may verify a token with this `kid` (when the token names one: exact match, so
    /// keys without a `kid` are not candidates) and this `alg`. Duplicate kids are all returned; the
    /// caller tries each (key rotation sometimes publishes the same kid for two algorithms).
    pub fn candidates<'a>(&'a self, kid: Option<&str>, alg: Alg) -> impl Iterator<Item = &'a Jwk> {
        // Owned so the iterator does not borrow the caller's header.
        let kid = kid.map(str::to_owned);
        self.keys.iter().filter(move |k| {
            k.supports(alg)
                && kid
                    .as_deref()
                    .is_none_or(|want| k.kid.as_deref() == Some(want))
        })
    }
}

/// Parses one JWK (a JSON value already parsed), keeping it only if it is a usable public
/// verification key.
pub fn parse_jwk(value: &Value) -> Result<Jwk, JwkError> {
    let obj = value.as_object().ok_or(JwkError::NotAnObject)?;

    if let Some(&m) = PRIVATE_MEMBERS.iter().find(|m| obj.contains_key(**m)) {
        return Err(JwkError::PrivateMaterial(m));
    }

    let kty = required_str(obj, "kty")?;
    let kid = optional_str(obj, "kid")?;
    let alg = optional_str(obj, "alg")?;
    let use_ = optional_str(obj, "use")?;
    let key_ops = match obj.get("key_ops") {
        None => None,
        Some(Value::Array(ops)) => Some(
            ops.iter()
                .map(|op| op.as_str().map(str::to_owned))
                .collect::<Option<Vec<String>>>()
                .ok_or(JwkError::MemberType("key_ops"))?,
        ),
        Some(_) => return Err(JwkError::MemberType("key_ops")),
    };

    if use_.as_deref().is_some_and(|u| u != "sig") {
        return Err(JwkError::NotForSignatures);
    }
    if key_ops
        .as_ref()
        .is_some_and(|ops| !ops.iter().any(|op| op == "verify"))
    {
        return Err(JwkError::VerifyNotPermitted);
    }

    let key = match kty.as_str() {
        "RSA" => parse_rsa(obj)?,
        "EC" => parse_ec(obj)?,
        "OKP" => parse_okp(obj)?,
        "oct" => return Err(JwkError::SymmetricKey),
        _ => return Err(JwkError::UnsupportedKeyType),
    };

    let jwk = Jwk {
        kid,
        alg,
        use_,
        key_ops,
        key,
    };
    // A key whose `alg` we never accept, or that names another key type's algorithm, can verify
    // nothing: skip it now rather than carry a key that `supports` nothing.
    if let Some(a) = jwk.alg.as_deref() {
        let alg = Alg::parse(a).ok_or(JwkError::UnsupportedAlgorithm)?;
        if !jwk.supports(alg) {
            return Err(JwkError::AlgorithmKeyMismatch);
        }
    }
    Ok(jwk)
}

fn required_str(obj: &Map<String, Value>, name: &'static str) -> Result<String, JwkError> {
    optional_str(obj, name)?.ok_or(JwkError::MissingMember(name))
}

fn optional_str(obj: &Map<String, Value>, name: &'static str) -> Result<Option<String>, JwkError> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(JwkError::MemberType(name)),
    }
}

fn base64_member(obj: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, JwkError> {
    let text = required_str(obj, name)?;
    B64URL.decode(text).map_err(|_| JwkError::Base64(name))
}

fn fixed_32(bytes: Vec<u8>, err: JwkError) -> Result<[u8; 32], JwkError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| err)
}

fn parse_rsa(obj: &Map<String, Value>) -> Result<PublicKey, JwkError> {
    // RFC 7518 §2 asks for minimal octets, but some issuers prefix a zero octet to `n`; the integer
    // is the same, so normalise rather than refuse.
    let n = strip_leading_zeros(base64_member(obj, "n")?);
    let e = strip_leading_zeros(base64_member(obj, "e")?);

    let bits = bit_length(&n);
    if bits < RSA_MIN_BITS {
        return Err(JwkError::RsaModulusTooSmall { bits });
    }
    if bits > RSA_MAX_BITS {
        return Err(JwkError::RsaModulusTooLarge { bits });
    }
    if n.last().is_none_or(|low| low & 1 == 0) {
        return Err(JwkError::RsaModulusEven);
    }
    // workerd's importKey refuses every other exponent ("must be either 3 or 65537"); refusing
    // them here keeps a JWKS entry from parsing fine and then failing at import on every request.
    if !is_accepted_rsa_exponent(&e) {
        return Err(JwkError::RsaExponent);
    }
    Ok(PublicKey::Rsa { n, e })
}

fn parse_ec(obj: &Map<String, Value>) -> Result<PublicKey, JwkError> {
    if required_str(obj, "crv")? != "P-256" {
        return Err(JwkError::UnsupportedCurve);
    }
    let x = fixed_32(base64_member(obj, "x")?, JwkError::EcCoordinateLength("x"))?;
    let y = fixed_32(base64_member(obj, "y")?, JwkError::EcCoordinateLength("y"))?;
    // Whether (x, y) is on the curve is checked when the key is imported (WebCrypto) or used
    // (`native`): this module is in the wasm and carries no curve arithmetic.
    Ok(PublicKey::EcP256 { x, y })
}

fn parse_okp(obj: &Map<String, Value>) -> Result<PublicKey, JwkError> {
    if required_str(obj, "crv")? != "Ed25519" {
        return Err(JwkError::UnsupportedCurve);
    }
    let x = fixed_32(base64_member(obj, "x")?, JwkError::OkpKeyLength)?;
    Ok(PublicKey::Ed25519 { x })
}

/// 65537 or 3, given without leading zero octets.
pub(crate) fn is_accepted_rsa_exponent(e: &[u8]) -> bool {
    e == [0x01, 0x00, 0x01] || e == [0x03]
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    bytes.drain(..zeros);
    bytes
}

/// Bit length of a big-endian integer without leading zero octets.
fn bit_length(be: &[u8]) -> usize {
    match be.first() {
        None => 0,
        Some(&top) => (be.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

/// Parses a JWK Set document. Unusable keys are skipped and counted; the set itself fails only
/// when the document is not a JSON object with a `keys` array, or has too many keys.
pub fn parse_jwks(bytes: &[u8]) -> Result<JwkSet, JwksError> {
    let state = DocState::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = DocSeed { state: &state }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    if let Err(e) = parsed {
        return Err(if state.too_many.get() {
            JwksError::TooManyKeys
        } else if state.duplicate_top_level.get() {
            JwksError::DuplicateMember
        } else if e.is_data() {
            // Valid JSON of the wrong shape: not an object, or `keys` not an array.
            JwksError::NotAKeySet
        } else {
            JwksError::NotJson
        });
    }
    let entries = state.keys.into_inner().ok_or(JwksError::NotAKeySet)?;

    let mut set = JwkSet::default();
    for (value, had_duplicate) in entries {
        let parsed = if had_duplicate {
            Err(JwkError::DuplicateMember)
        } else {
            parse_jwk(&value)
        };
        match parsed {
            Ok(jwk) => set.keys.push(jwk),
            Err(_) => set.skipped += 1,
        }
    }
    Ok(set)
}

// The JWKS document is walked with its own visitor so that a duplicate member inside one key
// skips that key only (the other keys stay usable), while a duplicate at the top level — two
// `keys` arrays — refuses the document.

#[derive(Default)]
struct DocState {
    keys: RefCell<Option<Vec<(Value, bool)>>>,
    too_many: Cell<bool>,
    duplicate_top_level: Cell<bool>,
}

struct DocSeed<'s> {
    state: &'s DocState,
}

impl<'de> DeserializeSeed<'de> for DocSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JWK Set object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<(), A::Error> {
        let mut seen: Vec<String> = Vec::new();
        while let Some(name) = access.next_key::<String>()? {
            if seen.contains(&name) {
                self.state.duplicate_top_level.set(true);
                return Err(de::Error::custom("duplicate top-level member"));
            }
            if name == "keys" {
                let keys = access.next_value_seed(KeysSeed { state: self.state })?;
                *self.state.keys.borrow_mut() = Some(keys);
            } else {
                // Other members (RFC 7517 allows extensions) are parsed for syntax and dropped.
                access.next_value::<de::IgnoredAny>()?;
            }
            seen.push(name);
        }
        Ok(())
    }
}

struct KeysSeed<'s> {
    state: &'s DocState,
}

impl<'de> DeserializeSeed<'de> for KeysSeed<'_> {
    type Value = Vec<(Value, bool)>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for KeysSeed<'_> {
    type Value = Vec<(Value, bool)>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of JWKs")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut keys = Vec::new();
        loop {
            let duplicate = RefCell::new(None);
            let seed = strict_json::StrictSeed {
                duplicate: &duplicate,
                record_only: true,
            };
            let Some(value) = seq.next_element_seed(seed)? else {
                break;
            };
            if keys.len() == MAX_JWKS_KEYS {
                self.state.too_many.set(true);
                return Err(de::Error::custom("too many keys"));
            }
            keys.push((value, duplicate.into_inner().is_some()));
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // RFC 7638 §3.1 / RFC 7515 A.2-style 2048-bit modulus (public values from the RFCs).
    const N_2048: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
    const EC_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const EC_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn rsa() -> Value {
        json!({"kty":"RSA","n":N_2048,"e":"AQAB"})
    }
    fn ec() -> Value {
        json!({"kty":"EC","crv":"P-256","x":EC_X,"y":EC_Y})
    }
    fn okp() -> Value {
        json!({"kty":"OKP","crv":"Ed25519","x":ED_X})
    }
    fn with(mut v: Value, name: &str, member: Value) -> Value {
        v.as_object_mut().unwrap().insert(name.into(), member);
        v
    }
    fn without(mut v: Value, name: &str) -> Value {
        v.as_object_mut().unwrap().remove(name);
        v
    }
    fn modulus(bits: usize) -> String {
        // Top bit set, odd: exactly `bits` bits.
        let mut n = vec![0xffu8; bits.div_ceil(8)];
        let spare = n.len() * 8 - bits;
        n[0] >>= spare;
        B64URL.encode(n)
    }

    #[test]
    fn parses_each_key_type() {
        let k = parse_jwk(&rsa()).unwrap();
        assert!(matches!(&k.key, PublicKey::Rsa { n, e } if n.len() == 256 && e == &[1, 0, 1]));
        let k = parse_jwk(&ec()).unwrap();
        assert!(matches!(k.key, PublicKey::EcP256 { .. }));
        let k = parse_jwk(&with(okp(), "kid", json!("ed"))).unwrap();
        assert_eq!(k.kid.as_deref(), Some("ed"));
        assert!(matches!(k.key, PublicKey::Ed25519 { .. }));
        let k = parse_jwk(
            &json!({"kty":"RSA","n":N_2048,"e":"AQAB","alg":"PS256","use":"sig",
            "key_ops":["verify"],"kid":"r","x5c":["ignored"],"ext":true}),
        )
        .unwrap();
        assert_eq!(k.alg.as_deref(), Some("PS256"));
        assert_eq!(k.use_.as_deref(), Some("sig"));
        assert_eq!(k.key_ops, Some(vec!["verify".to_string()]));
    }

    #[test]
    fn refusals() {
        let cases: Vec<(Value, JwkError)> = vec![
            (json!([1]), JwkError::NotAnObject),
            (json!("RSA"), JwkError::NotAnObject),
            (
                with(rsa(), "d", json!("AQAB")),
                JwkError::PrivateMaterial("d"),
            ),
            (
                with(rsa(), "p", json!("AQAB")),
                JwkError::PrivateMaterial("p"),
            ),
            (
                with(rsa(), "q", json!("AQAB")),
                JwkError::PrivateMaterial("q"),
            ),
            (
                with(rsa(), "dp", json!("AQAB")),
                JwkError::PrivateMaterial("dp"),
            ),
            (
                with(rsa(), "dq", json!("AQAB")),
                JwkError::PrivateMaterial("dq"),
            ),
            (
                with(rsa(), "qi", json!("AQAB")),
                JwkError::PrivateMaterial("qi"),
            ),
            (
                with(rsa(), "oth", json!([])),
                JwkError::PrivateMaterial("oth"),
            ),
            (with(ec(), "d", json!(EC_X)), JwkError::PrivateMaterial("d")),
            (
                with(okp(), "d", json!(ED_X)),
                JwkError::PrivateMaterial("d"),
            ),
            (
                json!({"kty":"oct","k":"AAAA"}),
                JwkError::PrivateMaterial("k"),
            ),
            (json!({"kty":"oct"}), JwkError::SymmetricKey),
            (json!({"kty":"RSA-PSS"}), JwkError::UnsupportedKeyType),
            (
                json!({"kty":"rsa","n":N_2048,"e":"AQAB"}),
                JwkError::UnsupportedKeyType,
            ),
            (without(rsa(), "kty"), JwkError::MissingMember("kty")),
            (with(rsa(), "kty", json!(1)), JwkError::MemberType("kty")),
            (with(rsa(), "kid", json!(1)), JwkError::MemberType("kid")),
            (with(rsa(), "alg", json!(null)), JwkError::MemberType("alg")),
            (
                with(rsa(), "use", json!(["sig"])),
                JwkError::MemberType("use"),
            ),
            (
                with(rsa(), "key_ops", json!("verify")),
                JwkError::MemberType("key_ops"),
            ),
            (
                with(rsa(), "key_ops", json!(["verify", 1])),
                JwkError::MemberType("key_ops"),
            ),
            (with(rsa(), "use", json!("enc")), JwkError::NotForSignatures),
            (with(rsa(), "use", json!("SIG")), JwkError::NotForSignatures),
            (
                with(rsa(), "key_ops", json!(["sign"])),
                JwkError::VerifyNotPermitted,
            ),
            (
                with(rsa(), "key_ops", json!([])),
                JwkError::VerifyNotPermitted,
            ),
            (
                with(rsa(), "key_ops", json!(["encrypt", "wrapKey"])),
                JwkError::VerifyNotPermitted,
            ),
            (
                with(rsa(), "alg", json!("RS1")),
                JwkError::UnsupportedAlgorithm,
            ),
            (
                with(rsa(), "alg", json!("RSA-OAEP")),
                JwkError::UnsupportedAlgorithm,
            ),
            (
                with(rsa(), "alg", json!("HS256")),
                JwkError::UnsupportedAlgorithm,
            ),
            (
                with(rsa(), "alg", json!("ES256")),
                JwkError::AlgorithmKeyMismatch,
            ),
            (
                with(ec(), "alg", json!("RS256")),
                JwkError::AlgorithmKeyMismatch,
            ),
            (
                with(ec(), "alg", json!("ES384")),
                JwkError::UnsupportedAlgorithm,
            ),
            (
                with(okp(), "alg", json!("ES256")),
                JwkError::AlgorithmKeyMismatch,
            ),
            (without(rsa(), "n"), JwkError::MissingMember("n")),
            (without(rsa(), "e"), JwkError::MissingMember("e")),
            (with(rsa(), "n", json!(5)), JwkError::MemberType("n")),
            (with(rsa(), "e", json!("AQAB=")), JwkError::Base64("e")),
            (
                with(rsa(), "n", json!(format!("{N_2048}="))),
                JwkError::Base64("n"),
            ),
            (
                with(rsa(), "n", json!(N_2048.replace('-', "+"))),
                JwkError::Base64("n"),
            ),
            (
                with(rsa(), "n", json!(modulus(2047))),
                JwkError::RsaModulusTooSmall { bits: 2047 },
            ),
            (
                with(rsa(), "n", json!(modulus(1024))),
                JwkError::RsaModulusTooSmall { bits: 1024 },
            ),
            (
                with(rsa(), "n", json!("")),
                JwkError::RsaModulusTooSmall { bits: 0 },
            ),
            (
                with(rsa(), "n", json!(modulus(8193))),
                JwkError::RsaModulusTooLarge { bits: 8193 },
            ),
            (with(rsa(), "e", json!("AQAA")), JwkError::RsaExponent), // 65536
            (with(rsa(), "e", json!("AQAC")), JwkError::RsaExponent), // 65538
            (with(rsa(), "e", json!("AQ")), JwkError::RsaExponent),   // 1
            (with(rsa(), "e", json!("BQ")), JwkError::RsaExponent),   // 5
            (with(rsa(), "e", json!("EQ")), JwkError::RsaExponent),   // 17
            (with(rsa(), "e", json!("")), JwkError::RsaExponent),     // 0
            (with(rsa(), "e", json!("AA")), JwkError::RsaExponent),   // 0
            (with(rsa(), "e", json!("AQAAAAE")), JwkError::RsaExponent), // 2^32 + 1
            (without(ec(), "crv"), JwkError::MissingMember("crv")),
            (
                with(ec(), "crv", json!("P-384")),
                JwkError::UnsupportedCurve,
            ),
            (
                with(ec(), "crv", json!("secp256k1")),
                JwkError::UnsupportedCurve,
            ),
            (without(ec(), "y"), JwkError::MissingMember("y")),
            (
                with(ec(), "x", json!(B64URL.encode([1u8; 31]))),
                JwkError::EcCoordinateLength("x"),
            ),
            (
                with(ec(), "y", json!(B64URL.encode([1u8; 33]))),
                JwkError::EcCoordinateLength("y"),
            ),
            (
                with(okp(), "crv", json!("Ed448")),
                JwkError::UnsupportedCurve,
            ),
            (
                with(okp(), "crv", json!("X25519")),
                JwkError::UnsupportedCurve,
            ),
            (
                with(okp(), "x", json!(B64URL.encode([1u8; 31]))),
                JwkError::OkpKeyLength,
            ),
            (
                with(okp(), "x", json!(B64URL.encode([1u8; 57]))),
                JwkError::OkpKeyLength,
            ),
        ];
        for (v, want) in cases {
            assert_eq!(parse_jwk(&v), Err(want.clone()), "{v}");
            assert!(!want.to_string().is_empty());
        }
        // An even modulus of acceptable size.
        let mut even = vec![0xffu8; 256];
        even[255] = 0xfe;
        assert_eq!(
            parse_jwk(&with(rsa(), "n", json!(B64URL.encode(even)))),
            Err(JwkError::RsaModulusEven)
        );
        // Sizes at the bounds are accepted.
        for bits in [2048, 3072, 4096, 8192] {
            assert!(
                parse_jwk(&with(rsa(), "n", json!(modulus(bits)))).is_ok(),
                "{bits}"
            );
        }
        // 65537 and 3, the exponents workerd imports, are accepted (with or without zero octets).
        for e in [vec![1u8, 0, 1], vec![3], vec![0, 3], vec![0, 0, 1, 0, 1]] {
            assert!(
                parse_jwk(&with(rsa(), "e", json!(B64URL.encode(&e)))).is_ok(),
                "{e:?}"
            );
        }
    }

    #[test]
    fn leading_zero_octets_are_normalised() {
        let mut n = vec![0u8];
        n.extend(B64URL.decode(N_2048).unwrap());
        let k = parse_jwk(&with(rsa(), "n", json!(B64URL.encode(&n)))).unwrap();
        let plain = parse_jwk(&rsa()).unwrap();
        assert_eq!(k.key, plain.key);
        assert_eq!(k.thumbprint(), plain.thumbprint());
        let k = parse_jwk(&with(rsa(), "e", json!("AAEAAQ"))).unwrap();
        assert_eq!(k.key, plain.key);
    }

    #[test]
    fn alg_key_type_matrix() {
        let rsa = parse_jwk(&rsa()).unwrap();
        let ec = parse_jwk(&ec()).unwrap();
        let ed = parse_jwk(&okp()).unwrap();
        for &alg in Alg::ALL {
            let is_rsa = matches!(alg, Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256);
            assert_eq!(rsa.supports(alg), is_rsa, "RSA {alg:?}");
            assert_eq!(ec.supports(alg), alg == Alg::ES256, "EC {alg:?}");
            assert_eq!(ed.supports(alg), alg.is_ed25519(), "OKP {alg:?}");
        }
        // A key that names its alg supports that alg only — not the other RSA algorithms.
        for &pinned in &[Alg::RS256, Alg::RS384, Alg::RS512, Alg::PS256] {
            let k = parse_jwk(&with(super::tests::rsa(), "alg", json!(pinned.as_str()))).unwrap();
            for &alg in Alg::ALL {
                assert_eq!(
                    k.supports(alg),
                    alg == pinned,
                    "pinned {pinned:?} vs {alg:?}"
                );
            }
        }
        let k = parse_jwk(&with(super::tests::ec(), "alg", json!("ES256"))).unwrap();
        assert!(k.supports(Alg::ES256));
        // EdDSA and Ed25519 (RFC 9864) name one operation on an Ed25519 key: either pin admits both.
        for pinned in ["EdDSA", "Ed25519"] {
            let k = parse_jwk(&with(super::tests::okp(), "alg", json!(pinned))).unwrap();
            for &alg in Alg::ALL {
                assert_eq!(
                    k.supports(alg),
                    alg.is_ed25519(),
                    "pinned {pinned} vs {alg:?}"
                );
            }
        }
        assert_eq!(
            parse_jwk(&with(super::tests::rsa(), "alg", json!("Ed25519"))),
            Err(JwkError::AlgorithmKeyMismatch)
        );
        // A hand-built key with a mismatching alg (parse_jwk would have skipped it) supports nothing.
        let odd = Jwk {
            alg: Some("rs256".into()),
            ..rsa.clone()
        };
        assert!(Alg::ALL.iter().all(|&a| !odd.supports(a)));
    }

    #[test]
    fn webcrypto_jwk_has_only_public_members() {
        let k = parse_jwk(
            &json!({"kty":"RSA","n":N_2048,"e":"AQAB","alg":"RS256","kid":"k",
            "use":"sig","key_ops":["verify"]}),
        )
        .unwrap();
        assert_eq!(
            k.to_webcrypto_jwk(),
            json!({"kty":"RSA","n":N_2048,"e":"AQAB"})
        );
        assert_eq!(
            parse_jwk(&with(ec(), "kid", json!("e")))
                .unwrap()
                .to_webcrypto_jwk(),
            ec()
        );
        assert_eq!(parse_jwk(&okp()).unwrap().to_webcrypto_jwk(), okp());
    }

    #[test]
    fn thumbprints() {
        // RFC 7638 §3.1 (alg and kid are not hashed).
        let k = parse_jwk(&json!({"kty":"RSA","n":N_2048,"e":"AQAB","alg":"RS256",
            "kid":"2011-04-29"}))
        .unwrap();
        assert_eq!(
            k.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        // RFC 8037 A.3.
        assert_eq!(
            parse_jwk(&okp()).unwrap().thumbprint(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        // EC: the canonical form is {"crv","kty","x","y"}; checked against a direct computation.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{EC_X}","y":"{EC_Y}"}}"#);
        assert_eq!(
            parse_jwk(&ec()).unwrap().thumbprint(),
            B64URL.encode(Sha256::digest(canonical.as_bytes()))
        );
    }

    fn jwks(keys: &[Value]) -> Vec<u8> {
        serde_json::to_vec(&json!({ "keys": keys })).unwrap()
    }

    #[test]
    fn set_skips_unusable_keys_and_counts_them() {
        let doc = jwks(&[
            with(rsa(), "kid", json!("r1")),
            json!({"kty":"oct","k":"c2VjcmV0"}),
            with(rsa(), "use", json!("enc")),
            with(ec(), "kid", json!("e1")),
            json!("not a key"),
            json!({"kty":"EC","crv":"P-521","x":"AA","y":"AA"}),
            with(okp(), "kid", json!("d1")),
        ]);
        let set = parse_jwks(&doc).unwrap();
        assert_eq!(set.keys.len(), 3);
        assert_eq!(set.skipped, 4);
        let kids: Vec<_> = set.keys.iter().map(|k| k.kid.as_deref().unwrap()).collect();
        assert_eq!(kids, ["r1", "e1", "d1"]);
        assert_eq!(parse_jwks(br#"{"keys":[]}"#).unwrap(), JwkSet::default());
    }

    #[test]
    fn set_document_errors() {
        assert_eq!(parse_jwks(b"nope"), Err(JwksError::NotJson));
        assert_eq!(parse_jwks(b""), Err(JwksError::NotJson));
        assert_eq!(parse_jwks(br#"{"keys":[]"#), Err(JwksError::NotJson));
        assert_eq!(parse_jwks(br#"{"keys":[]} x"#), Err(JwksError::NotJson));
        assert_eq!(
            parse_jwks(br#"{"keys":[{"kty":}]}"#),
            Err(JwksError::NotJson)
        );
        assert_eq!(parse_jwks(b"[]"), Err(JwksError::NotAKeySet));
        assert_eq!(parse_jwks(b"null"), Err(JwksError::NotAKeySet));
        assert_eq!(parse_jwks(br#"{}"#), Err(JwksError::NotAKeySet));
        assert_eq!(parse_jwks(br#"{"key":[]}"#), Err(JwksError::NotAKeySet));
        assert_eq!(parse_jwks(br#"{"keys":{}}"#), Err(JwksError::NotAKeySet));
        assert_eq!(parse_jwks(br#"{"keys":null}"#), Err(JwksError::NotAKeySet));
        assert_eq!(
            parse_jwks(br#"{"keys":[],"keys":[]}"#),
            Err(JwksError::DuplicateMember)
        );
        let many: Vec<Value> = (0..=MAX_JWKS_KEYS).map(|_| ec()).collect();
        assert_eq!(parse_jwks(&jwks(&many)), Err(JwksError::TooManyKeys));
        let max: Vec<Value> = (0..MAX_JWKS_KEYS).map(|_| ec()).collect();
        assert_eq!(parse_jwks(&jwks(&max)).unwrap().keys.len(), MAX_JWKS_KEYS);
        // Unusable entries count towards the cap too.
        let junk: Vec<Value> = (0..=MAX_JWKS_KEYS).map(|i| json!(i)).collect();
        assert_eq!(parse_jwks(&jwks(&junk)), Err(JwksError::TooManyKeys));
        for e in [
            JwksError::NotJson,
            JwksError::NotAKeySet,
            JwksError::TooManyKeys,
            JwksError::DuplicateMember,
        ] {
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn duplicate_member_in_one_key_skips_that_key_only() {
        let doc = format!(
            r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{ED_X}","kid":"a","kid":"b"}},
                {{"kty":"OKP","crv":"Ed25519","x":"{ED_X}","kid":"c"}}],"extra":{{"z":1,"z":2}}}}"#
        );
        let set = parse_jwks(doc.as_bytes()).unwrap();
        assert_eq!(set.skipped, 1);
        assert_eq!(set.keys.len(), 1);
        assert_eq!(set.keys[0].kid.as_deref(), Some("c"));
    }

    #[test]
    fn candidates_by_kid_and_alg() {
        let doc = jwks(&[
            with(with(rsa(), "kid", json!("a")), "alg", json!("RS256")),
            with(with(rsa(), "kid", json!("a")), "alg", json!("PS256")),
            with(rsa(), "kid", json!("b")),
            with(ec(), "kid", json!("a")),
            rsa(),
            okp(),
        ]);
        let set = parse_jwks(&doc).unwrap();
        assert_eq!(set.keys.len(), 6);
        let pick = |kid: Option<&str>, alg: Alg| -> Vec<usize> {
            set.candidates(kid, alg)
                .map(|k| set.keys.iter().position(|x| std::ptr::eq(x, k)).unwrap())
                .collect()
        };
        assert_eq!(pick(Some("a"), Alg::RS256), [0]);
        assert_eq!(pick(Some("a"), Alg::PS256), [1]);
        assert_eq!(pick(Some("a"), Alg::ES256), [3]);
        assert_eq!(pick(Some("a"), Alg::RS384), Vec::<usize>::new());
        assert_eq!(pick(Some("b"), Alg::RS512), [2]);
        assert_eq!(pick(Some("z"), Alg::RS256), Vec::<usize>::new());
        // Keys without a kid are not candidates for a token that names one.
        assert_eq!(pick(Some(""), Alg::EdDSA), Vec::<usize>::new());
        // No kid in the token: every key that supports the alg.
        assert_eq!(pick(None, Alg::RS256), [0, 2, 4]);
        assert_eq!(pick(None, Alg::RS384), [2, 4]);
        assert_eq!(pick(None, Alg::EdDSA), [5]);
        // The iterator outlives the kid it was given.
        let it = {
            let kid = String::from("b");
            set.candidates(Some(&kid), Alg::RS256)
        };
        assert_eq!(it.count(), 1);
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[1]), 1);
        assert_eq!(bit_length(&[0x80, 0]), 16);
        assert_eq!(bit_length(&[0x7f, 0]), 15);
    }
}
