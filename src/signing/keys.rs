//! The signing key set: the `PORTCULLIS_SIGNING_KEYS` secret, parsed and validated.
//!
//! The document is `{"active": "<kid>", "keys": [<private JWK>, …]}`. Every key has a `kid` (unique
//! in the set) and an `alg` that fits its type: `ES256` (P-256), `EdDSA` (Ed25519) or `RS256` (RSA,
//! at least 2048 bits, with its CRT members). The `active` key signs; every key in the set is
//! published and verifies (docs/sessions.md, "Signing keys").
//!
//! Whether each private key belongs to its public half is checked where the arithmetic is: the
//! worker on first use, the CLI and the tests with `native::check_pair`.
//!
//! Nothing here ever puts a private member's value in an error or a `Debug` string: errors name
//! the member (`keys[1].d`) and what is wrong with it, never what it holds.

use serde_json::{Map, Value};

use crate::jose::jwk::{parse_jwk, Jwk, PublicKey, RSA_MIN_BITS};
use crate::jose::jws::B64URL;
use crate::jose::Alg;
use base64::Engine as _;

/// The algorithms the gateway signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlg {
    /// ECDSA on P-256 with SHA-256: the default (small keys and signatures, fast in WebCrypto).
    ES256,
    /// Ed25519.
    EdDSA,
    /// RSASSA-PKCS1-v1_5 with SHA-256, for verifiers that know nothing else.
    RS256,
}

impl SigningAlg {
    pub const ALL: &'static [SigningAlg] =
        &[SigningAlg::ES256, SigningAlg::EdDSA, SigningAlg::RS256];

    pub fn parse(s: &str) -> Option<SigningAlg> {
        match s {
            "ES256" => Some(SigningAlg::ES256),
            "EdDSA" => Some(SigningAlg::EdDSA),
            "RS256" => Some(SigningAlg::RS256),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.as_alg().as_str()
    }

    /// The same algorithm as the verifier names it.
    pub fn as_alg(self) -> Alg {
        match self {
            SigningAlg::ES256 => Alg::ES256,
            SigningAlg::EdDSA => Alg::EdDSA,
            SigningAlg::RS256 => Alg::RS256,
        }
    }

    fn kty(self) -> &'static str {
        match self {
            SigningAlg::ES256 => "EC",
            SigningAlg::EdDSA => "OKP",
            SigningAlg::RS256 => "RSA",
        }
    }
}

/// The private half of a key, big-endian octets as the JWK carries them. No `Debug`: it never
/// reaches a log or an error.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum PrivateParts {
    EcP256 {
        d: [u8; 32],
    },
    Ed25519 {
        d: [u8; 32],
    },
    Rsa {
        d: Vec<u8>,
        p: Vec<u8>,
        q: Vec<u8>,
        dp: Vec<u8>,
        dq: Vec<u8>,
        qi: Vec<u8>,
    },
}

/// One signing key: its `kid`, its algorithm, its public JWK (what the JWKS publishes and the
/// gateway verifies with) and its private parts.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    kid: String,
    alg: SigningAlg,
    public: Jwk,
    private: PrivateParts,
    /// SHA-256 over the whole key (private members included), which tells two keys apart where
    /// `kid` and the public half may coincide (the worker's cache of imported keys). Never shown.
    fingerprint: [u8; 32],
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// The public key as the gateway's verifier reads it (`kid` and `alg` set).
    pub fn public_jwk(&self) -> &Jwk {
        &self.public
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn private_parts(&self) -> &PrivateParts {
        &self.private
    }

    /// See the field: equal only for the same key material, `kid` and `alg`.
    pub(crate) fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }

    /// The public JWK as published at `/.well-known/jwks.json`.
    pub fn public_jwk_json(&self) -> Value {
        let mut m = match self.public.to_webcrypto_jwk() {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        m.insert("kid".into(), Value::String(self.kid.clone()));
        m.insert("alg".into(), Value::String(self.alg.as_str().into()));
        m.insert("use".into(), Value::String("sig".into()));
        Value::Object(m)
    }

    /// The private JWK with exactly what WebCrypto's `importKey("jwk", …)` needs to sign (no `alg`,
    /// `use` or `key_ops`, which WebCrypto would compare against its own parameters).
    pub(crate) fn webcrypto_private_jwk(&self) -> Value {
        let mut m = match self.public.to_webcrypto_jwk() {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let mut put = |name: &str, bytes: &[u8]| {
            m.insert(name.into(), Value::String(B64URL.encode(bytes)));
        };
        match &self.private {
            PrivateParts::EcP256 { d } | PrivateParts::Ed25519 { d } => put("d", d),
            PrivateParts::Rsa {
                d,
                p,
                q,
                dp,
                dq,
                qi,
            } => {
                put("d", d);
                put("p", p);
                put("q", q);
                put("dp", dp);
                put("dq", dq);
                put("qi", qi);
            }
        }
        Value::Object(m)
    }

    /// The private JWK as the secret document holds it (`kid`, `alg`, `use` included). Native
    /// only: the worker never writes a private key anywhere.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn private_jwk_json(&self) -> Value {
        let mut v = self.webcrypto_private_jwk();
        if let Value::Object(m) = &mut v {
            m.insert("kid".into(), Value::String(self.kid.clone()));
            m.insert("alg".into(), Value::String(self.alg.as_str().into()));
            m.insert("use".into(), Value::String("sig".into()));
        }
        v
    }

    /// A key from its parts, checked the way a parsed one is (the CLI's generator).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn from_parts(
        kid: String,
        alg: SigningAlg,
        public: PublicKey,
        private: PrivateParts,
    ) -> SigningKey {
        let public = Jwk {
            kid: Some(kid.clone()),
            alg: Some(alg.as_str().into()),
            use_: Some("sig".into()),
            key_ops: None,
            key: public,
        };
        assemble(kid, alg, public, private)
    }
}

/// A key from its checked parts, its fingerprint computed once.
fn assemble(kid: String, alg: SigningAlg, public: Jwk, private: PrivateParts) -> SigningKey {
    use sha2::{Digest, Sha256};
    let mut key = SigningKey {
        kid,
        alg,
        public,
        private,
        fingerprint: [0; 32],
    };
    let mut h = Sha256::new();
    h.update(key.kid.as_bytes());
    h.update([0]);
    h.update(key.alg.as_str().as_bytes());
    h.update([0]);
    h.update(key.webcrypto_private_jwk().to_string().as_bytes());
    key.fingerprint = h.finalize().into();
    key
}

/// Why the key set document was refused: where (`keys[1].d`, `active`) and what is wrong. Never
/// a value from the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySetError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for KeySetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> KeySetError {
    KeySetError {
        path: path.into(),
        message: message.into(),
    }
}

/// At most this many keys in the set: a rotation needs three at its peak (retiring, active, next).
pub const MAX_KEYS: usize = 8;
/// A `kid` is at most this long.
pub const MAX_KID_LEN: usize = 128;

/// The members a private signing JWK may have.
const KNOWN_MEMBERS: &[&str] = &[
    "kty", "crv", "x", "y", "d", "n", "e", "p", "q", "dp", "dq", "qi", "kid", "alg", "use",
    "key_ops",
];

/// The validated key set: the keys in document order and which one signs.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeySet {
    keys: Vec<SigningKey>,
    active: usize,
}

impl std::fmt::Debug for SigningKeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeySet")
            .field("active", &self.active().kid)
            .field("keys", &self.keys)
            .finish()
    }
}

impl SigningKeySet {
    /// Parses and validates the secret document. Every problem is reported, each by its path.
    pub fn parse(document: &str) -> Result<SigningKeySet, Vec<KeySetError>> {
        let obj = crate::jose::strict_json::parse_object(document.as_bytes()).map_err(|e| {
            use crate::jose::strict_json::JsonError;
            vec![problem(
                "",
                match e {
                    JsonError::Syntax => "is not a JSON document".to_string(),
                    JsonError::NotObject => "must be a JSON object {\"active\", \"keys\"}".into(),
                    JsonError::Duplicate(name) => format!(
                        "has a duplicate member {:?}",
                        crate::jose::jws::display_safe(&name, 32)
                    ),
                },
            )]
        })?;
        let mut errors = Vec::new();
        for name in obj.keys().filter(|k| *k != "active" && *k != "keys") {
            errors.push(problem(
                crate::jose::jws::display_safe(name, 32),
                "unknown member; the document has active and keys",
            ));
        }
        let active = match obj.get("active") {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                errors.push(problem("active", "must be a kid (a string)"));
                None
            }
            None => {
                errors.push(problem("active", "is missing: name the kid that signs"));
                None
            }
        };
        let mut keys = Vec::new();
        match obj.get("keys") {
            Some(Value::Array(list)) if list.is_empty() => {
                errors.push(problem("keys", "must hold at least one key"))
            }
            Some(Value::Array(list)) if list.len() > MAX_KEYS => errors.push(problem(
                "keys",
                format!("must hold at most {MAX_KEYS} keys"),
            )),
            Some(Value::Array(list)) => {
                for (i, v) in list.iter().enumerate() {
                    let path = format!("keys[{i}]");
                    match parse_private_jwk(v, &path) {
                        Ok(key) => {
                            if keys.iter().any(|k: &SigningKey| k.kid == key.kid) {
                                errors.push(problem(
                                    format!("{path}.kid"),
                                    "is used by an earlier key: every kid must be unique",
                                ));
                            } else {
                                keys.push(key);
                            }
                        }
                        Err(e) => errors.push(e),
                    }
                }
            }
            Some(_) => errors.push(problem("keys", "must be an array of private JWKs")),
            None => errors.push(problem("keys", "is missing")),
        }
        let active_index = active.and_then(|kid| keys.iter().position(|k| k.kid == kid));
        if let (Some(_), None, true) = (active, active_index, errors.is_empty()) {
            errors.push(problem("active", "names no key in keys"));
        }
        match active_index {
            Some(active) if errors.is_empty() => Ok(SigningKeySet { keys, active }),
            _ => Err(errors),
        }
    }

    /// A set of one key, which signs (`portcullis signing-keys generate`).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn single(key: SigningKey) -> SigningKeySet {
        SigningKeySet {
            keys: vec![key],
            active: 0,
        }
    }

    /// The key that signs.
    pub fn active(&self) -> &SigningKey {
        &self.keys[self.active]
    }

    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    pub fn get(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// The public JWK set: every key's public part, nothing private.
    pub fn public_jwks(&self) -> Value {
        serde_json::json!({
            "keys": self.keys.iter().map(SigningKey::public_jwk_json).collect::<Vec<_>>()
        })
    }

    /// The secret document (private keys included). Native only, for the CLI.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn to_document(&self) -> String {
        let doc = serde_json::json!({
            "active": self.active().kid,
            "keys": self.keys.iter().map(SigningKey::private_jwk_json).collect::<Vec<_>>(),
        });
        doc.to_string()
    }

    /// Mutations for the rotation runbook (native only, the CLI's): the set's invariants — unique
    /// kids, the active key present, at most `MAX_KEYS` — hold after each.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn push(&mut self, key: SigningKey) -> Result<(), String> {
        if self.get(&key.kid).is_some() {
            return Err(format!("the set already has a key with kid {}", key.kid));
        }
        if self.keys.len() >= MAX_KEYS {
            return Err(format!(
                "the set already holds {MAX_KEYS} keys: retire one first"
            ));
        }
        self.keys.push(key);
        Ok(())
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn set_active(&mut self, kid: &str) -> Result<(), String> {
        let i = self
            .keys
            .iter()
            .position(|k| k.kid == kid)
            .ok_or_else(|| format!("no key with kid {kid} in the set"))?;
        self.active = i;
        Ok(())
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn remove(&mut self, kid: &str) -> Result<SigningKey, String> {
        let i = self
            .keys
            .iter()
            .position(|k| k.kid == kid)
            .ok_or_else(|| format!("no key with kid {kid} in the set"))?;
        if i == self.active {
            return Err(format!(
                "{kid} is the active key: activate another key first, then retire this one after the longest access-token TTL"
            ));
        }
        let key = self.keys.remove(i);
        if i < self.active {
            self.active -= 1;
        }
        Ok(key)
    }
}

/// A `kid` that can travel anywhere a header value or a log field can: printable ASCII without
/// spaces, quotes or backslashes.
fn kid_ok(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

fn parse_private_jwk(v: &Value, path: &str) -> Result<SigningKey, KeySetError> {
    let at = |member: &str| format!("{path}.{member}");
    let obj = v
        .as_object()
        .ok_or_else(|| problem(path, "must be a JWK (a JSON object)"))?;
    if let Some(name) = obj.keys().find(|k| !KNOWN_MEMBERS.contains(&k.as_str())) {
        return Err(problem(
            at(&crate::jose::jws::display_safe(name, 32)),
            "is not a member of a private signing JWK (multi-prime RSA keys are not accepted)",
        ));
    }
    let string = |member: &str| -> Result<Option<&str>, KeySetError> {
        match obj.get(member) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(problem(at(member), "must be a string")),
        }
    };
    let kid = string("kid")?.ok_or_else(|| problem(at("kid"), "is missing"))?;
    if !kid_ok(kid) {
        return Err(problem(
            at("kid"),
            format!("must be 1 to {MAX_KID_LEN} printable ASCII characters without spaces, quotes or backslashes"),
        ));
    }
    let alg_name = string("alg")?.ok_or_else(|| problem(at("alg"), "is missing"))?;
    let alg = SigningAlg::parse(alg_name)
        .ok_or_else(|| problem(at("alg"), "must be ES256, EdDSA or RS256"))?;
    let kty = string("kty")?.ok_or_else(|| problem(at("kty"), "is missing"))?;
    if kty != alg.kty() {
        return Err(problem(
            at("kty"),
            format!("must be {} for alg {}", alg.kty(), alg.as_str()),
        ));
    }
    if string("use")?.is_some_and(|u| u != "sig") {
        return Err(problem(at("use"), "must be sig"));
    }
    match obj.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) if ops.iter().any(|o| o.as_str() == Some("sign")) => {}
        Some(_) => return Err(problem(at("key_ops"), "must include sign")),
    }
    let octets = |member: &str| -> Result<Vec<u8>, KeySetError> {
        let text = string(member)?.ok_or_else(|| problem(at(member), "is missing"))?;
        B64URL
            .decode(text)
            .map_err(|_| problem(at(member), "is not base64url (no padding)"))
    };
    let fixed = |member: &str| -> Result<[u8; 32], KeySetError> {
        <[u8; 32]>::try_from(octets(member)?).map_err(|_| problem(at(member), "must be 32 octets"))
    };

    // The public part is parsed by the verifier's own JWK parser, so the published key is exactly
    // one the gateway (and any verifier with the same rules) accepts.
    let mut public_members = Map::new();
    for member in ["kty", "crv", "x", "y", "n", "e", "kid", "alg"] {
        if let Some(v) = obj.get(member) {
            public_members.insert(member.into(), v.clone());
        }
    }
    let public = parse_jwk(&Value::Object(public_members))
        .map_err(|e| problem(path, format!("public part refused: {e}")))?;

    let private = match (&public.key, alg) {
        (PublicKey::EcP256 { .. }, SigningAlg::ES256) => PrivateParts::EcP256 { d: fixed("d")? },
        (PublicKey::Ed25519 { .. }, SigningAlg::EdDSA) => PrivateParts::Ed25519 { d: fixed("d")? },
        (PublicKey::Rsa { n, .. }, SigningAlg::RS256) => {
            // The verifier's parser already refuses fewer than RSA_MIN_BITS; said again here
            // because it is this module's rule too.
            if n.len() * 8 < RSA_MIN_BITS {
                return Err(problem(
                    at("n"),
                    format!("must have at least {RSA_MIN_BITS} bits"),
                ));
            }
            PrivateParts::Rsa {
                d: octets("d")?,
                p: octets("p")?,
                q: octets("q")?,
                dp: octets("dp")?,
                dq: octets("dq")?,
                qi: octets("qi")?,
            }
        }
        _ => return Err(problem(at("kty"), "does not fit alg")),
    };
    // Whether the private half belongs to the public half needs curve and RSA arithmetic, which
    // this module (in the wasm) does not carry: the worker checks it when it first imports the key
    // (`edge::crypto`), the CLI and the test signer with `native::check_pair`.
    Ok(assemble(kid.to_string(), alg, public, private))
}
