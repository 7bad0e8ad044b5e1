//! JOSE for access tokens: compact JWS parsing (RFC 7515), JWK/JWKS (RFC 7517), JWT claim checks
//! (RFC 7519, RFC 8725, RFC 9068). Pure logic: no Workers types, no I/O.
//!
//! `verify::jwt_verify` is the one verification that runs every check in order; signatures are
//! checked by the caller's `SignatureVerifier`: WebCrypto in the worker (`edge`, through
//! `Platform`), `native` in native builds (the CLI, the tests).

pub mod claims;
pub mod jwk;
pub mod jws;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
pub(crate) mod strict_json;
pub mod verify;

/// The signature algorithms Portcullis accepts at all. Everything else (`none`, every `HS*`,
/// `ES256K`, …) is refused before any key is looked up. Which of these an issuer may use is the
/// issuer's `algorithms` allowlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Alg {
    RS256,
    RS384,
    RS512,
    PS256,
    ES256,
    /// RFC 8037's polymorphic name; Portcullis implements it for Ed25519 keys only.
    EdDSA,
    /// RFC 9864's fully-specified name for the same operation (EdDSA on Ed25519).
    Ed25519,
}

impl Alg {
    pub const ALL: &'static [Alg] = &[
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::ES256,
        Alg::EdDSA,
        Alg::Ed25519,
    ];

    /// Exact, case-sensitive match (RFC 7515 §4.1.1: "alg" values are case-sensitive).
    pub fn parse(s: &str) -> Option<Alg> {
        Some(match s {
            "RS256" => Alg::RS256,
            "RS384" => Alg::RS384,
            "RS512" => Alg::RS512,
            "PS256" => Alg::PS256,
            "ES256" => Alg::ES256,
            "EdDSA" => Alg::EdDSA,
            "Ed25519" => Alg::Ed25519,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
            Alg::Ed25519 => "Ed25519",
        }
    }

    /// Whether a key pinned to `self` (its JWK `alg`) may verify a token signed with `token_alg`.
    /// Equal names only — except `EdDSA` and `Ed25519`, which name one operation on an Ed25519 key
    /// (RFC 9864 §2.2), so a JWKS still saying `EdDSA` keeps verifying tokens that say `Ed25519`
    /// during an issuer's migration, and the other way round.
    pub fn same_operation(self, token_alg: Alg) -> bool {
        self == token_alg || (self.is_ed25519() && token_alg.is_ed25519())
    }

    /// `EdDSA` or `Ed25519`: the operation is Ed25519 either way.
    pub fn is_ed25519(self) -> bool {
        matches!(self, Alg::EdDSA | Alg::Ed25519)
    }
}
