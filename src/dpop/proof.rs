//! One DPoP proof (RFC 9449 §4): parsed, then checked against the request and the access token.
//! Every failed check has its own error and code; nothing from the proof is echoed back except
//! NumericDates.

use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::jose::jwk::{parse_jwk, Jwk};
use crate::jose::jws::{check_signature_length, parse_compact, B64URL};
use crate::jose::Alg;
use crate::problem::{ErrorCode, Problem};

use super::settings::DpopSettings;

/// A proof is a small JWS (a header with one public key, five short claims): 8 KiB bounds the work
/// before any signature check, RSA keys included.
pub(crate) const MAX_PROOF_BYTES: usize = 8192;
/// `jti` is "sufficient to prevent collisions" (§4.2): 96 bits of randomness fit in 16 characters.
pub(crate) const MAX_JTI_BYTES: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DpopError {
    Missing,
    /// More than one `DPoP` header (§4.3 check 1).
    Several,
    /// Not a JWS, a header or claim missing or of the wrong type, `typ` not `dpop+jwt`, the `jwk`
    /// unusable or private.
    Malformed(String),
    AlgorithmRefused,
    SignatureInvalid,
    MethodMismatch,
    UrlMismatch,
    Stale {
        iat: u64,
        now: u64,
    },
    FromTheFuture {
        iat: u64,
        now: u64,
    },
    AthMismatch,
    Replayed,
    ReplayUnavailable,
}

impl DpopError {
    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            DpopError::Missing => ErrorCode::DpopProofMissing,
            DpopError::Several | DpopError::Malformed(_) => ErrorCode::DpopProofInvalid,
            DpopError::AlgorithmRefused => ErrorCode::DpopAlgorithmRefused,
            DpopError::SignatureInvalid => ErrorCode::DpopSignatureInvalid,
            DpopError::MethodMismatch => ErrorCode::DpopMethodMismatch,
            DpopError::UrlMismatch => ErrorCode::DpopUrlMismatch,
            DpopError::Stale { .. } | DpopError::FromTheFuture { .. } => ErrorCode::DpopProofStale,
            DpopError::AthMismatch => ErrorCode::DpopAthMismatch,
            DpopError::Replayed => ErrorCode::DpopProofReplayed,
            DpopError::ReplayUnavailable => ErrorCode::DpopReplayUnavailable,
        }
    }

    pub(crate) fn detail(&self) -> String {
        match self {
            DpopError::Missing => {
                "Authorization: DPoP requires a DPoP proof header (RFC 9449 §4)".into()
            }
            DpopError::Several => "send exactly one DPoP header".into(),
            DpopError::Malformed(why) => format!("the DPoP proof is invalid: {why}"),
            DpopError::AlgorithmRefused => "the DPoP proof's algorithm is not accepted here".into(),
            DpopError::SignatureInvalid => {
                "the DPoP proof's signature does not verify with its jwk".into()
            }
            DpopError::MethodMismatch => "the DPoP proof's htm is not this request's method".into(),
            DpopError::UrlMismatch => "the DPoP proof's htu is not this request's URL".into(),
            DpopError::Stale { iat, now } => format!(
                "the DPoP proof was issued too long ago: iat {iat}, now {now}; send a fresh proof"
            ),
            DpopError::FromTheFuture { iat, now } => {
                format!("the DPoP proof was issued in the future: iat {iat}, now {now}")
            }
            DpopError::AthMismatch => {
                "the DPoP proof's ath is not the hash of this access token".into()
            }
            DpopError::Replayed => "this DPoP proof has been used before; send a new one".into(),
            DpopError::ReplayUnavailable => {
                "the DPoP replay cache could not be consulted; try again shortly".into()
            }
        }
    }
}

impl From<DpopError> for Problem {
    fn from(e: DpopError) -> Problem {
        let problem = Problem::new(e.code(), e.detail());
        if e == DpopError::ReplayUnavailable {
            problem.with_header("retry-after", "1")
        } else {
            problem
        }
    }
}

/// A proof that parsed; nothing is verified yet.
#[derive(Debug, Clone)]
pub(crate) struct Proof {
    pub alg: Alg,
    pub jwk: Jwk,
    signing_input: String,
    signature: Vec<u8>,
    pub jti: String,
    pub htm: String,
    pub htu: String,
    pub iat: u64,
    pub ath: Option<String>,
    /// The server nonce (§8), when the proof carries one.
    pub nonce: Option<String>,
}

impl Proof {
    /// The RFC 7638 thumbprint of the proof's key: what `cnf.jkt` must equal.
    pub(crate) fn jkt(&self) -> String {
        self.jwk.thumbprint()
    }

    pub(crate) fn signing_input(&self) -> &[u8] {
        self.signing_input.as_bytes()
    }

    pub(crate) fn signature(&self) -> &[u8] {
        &self.signature
    }
}

fn malformed(why: &str) -> DpopError {
    DpopError::Malformed(why.to_string())
}

/// The proof from the request's `DPoP` header values: exactly one, a compact JWS whose header is
/// `typ: dpop+jwt`, an accepted `alg` and a public `jwk` of that algorithm's key type, and whose
/// claims are `jti`, `htm`, `htu` and `iat` (and `ath`) of the right types.
pub(crate) fn parse(values: &[&str], settings: &DpopSettings) -> Result<Proof, DpopError> {
    let value = match values {
        [] => return Err(DpopError::Missing),
        [one] => one.trim(),
        _ => return Err(DpopError::Several),
    };
    let jws =
        parse_compact(value, MAX_PROOF_BYTES).map_err(|e| DpopError::Malformed(e.detail()))?;
    let typ_ok = jws
        .header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt"));
    if !typ_ok {
        return Err(malformed("the header typ must be dpop+jwt"));
    }
    let alg = jws.header.alg;
    if !settings.algs().iter().any(|a| a.same_operation(alg)) {
        return Err(DpopError::AlgorithmRefused);
    }
    check_signature_length(alg, jws.signature.len())
        .map_err(|_| malformed("the signature has the wrong length for its algorithm"))?;
    // `parse_compact` never reads `jwk` (an access token's key never comes from the token); here
    // the embedded key is the point, so the header is read once more for it.
    let header_segment = jws.signing_input.split('.').next().unwrap_or_default();
    let header = B64URL
        .decode(header_segment)
        .ok()
        .and_then(|bytes| crate::jose::strict_json::parse_object(&bytes).ok())
        .ok_or_else(|| malformed("the header is not a JSON object"))?;
    let jwk_value = header
        .get("jwk")
        .ok_or_else(|| malformed("the header has no jwk"))?;
    let jwk = parse_jwk(jwk_value).map_err(|e| DpopError::Malformed(format!("jwk: {e}")))?;
    if !jwk.supports(alg) {
        return Err(malformed("the jwk is not a key for the header's alg"));
    }
    let claims = crate::jose::strict_json::parse_object(&jws.payload)
        .map_err(|_| malformed("the payload is not a JSON object without duplicate members"))?;
    let jti = string_claim(&claims, "jti")?;
    if jti.is_empty() || jti.len() > MAX_JTI_BYTES {
        return Err(malformed("jti must be 1 to 256 bytes"));
    }
    let htm = string_claim(&claims, "htm")?;
    let htu = string_claim(&claims, "htu")?;
    let iat = match claims.get("iat") {
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| *f >= 0.0 && f.is_finite())
                    .map(|f| f as u64)
            })
            .ok_or_else(|| malformed("iat must be a non-negative NumericDate"))?,
        Some(_) => return Err(malformed("iat must be a NumericDate")),
        None => return Err(malformed("the iat claim is required")),
    };
    let ath = optional_string_claim(&claims, "ath")?;
    let nonce = optional_string_claim(&claims, "nonce")?;
    Ok(Proof {
        alg,
        jwk,
        signing_input: jws.signing_input.to_string(),
        signature: jws.signature,
        jti,
        htm,
        htu,
        iat,
        ath,
        nonce,
    })
}

fn optional_string_claim(
    claims: &Map<String, Value>,
    name: &str,
) -> Result<Option<String>, DpopError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(DpopError::Malformed(format!("{name} must be a string"))),
    }
}

fn string_claim(claims: &Map<String, Value>, name: &str) -> Result<String, DpopError> {
    match claims.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(DpopError::Malformed(format!("{name} must be a string"))),
        None => Err(DpopError::Malformed(format!(
            "the {name} claim is required"
        ))),
    }
}

/// What the proof is checked against.
pub(crate) struct ProofContext<'a> {
    pub method: &'a str,
    /// The URL as the runtime received it (never the gateway's normalized path).
    pub url: &'a str,
    /// The access token the proof comes with (`ath` is checked); `None` at a token request.
    pub access_token: Option<&'a str>,
    pub now: u64,
}

/// The cheap checks of §4.3 (run before the signature): htm, htu, the iat window, and `ath` when
/// the proof comes with an access token.
pub(crate) fn check_claims(
    proof: &Proof,
    ctx: &ProofContext<'_>,
    settings: &DpopSettings,
) -> Result<(), DpopError> {
    if proof.htm != ctx.method {
        return Err(DpopError::MethodMismatch);
    }
    if !super::htu::matches(&proof.htu, ctx.url) {
        return Err(DpopError::UrlMismatch);
    }
    if proof.iat.saturating_add(settings.proof_max_age_secs) < ctx.now {
        return Err(DpopError::Stale {
            iat: proof.iat,
            now: ctx.now,
        });
    }
    if proof.iat > ctx.now.saturating_add(settings.leeway_secs) {
        return Err(DpopError::FromTheFuture {
            iat: proof.iat,
            now: ctx.now,
        });
    }
    let Some(token) = ctx.access_token else {
        return Ok(());
    };
    let expected = access_token_hash(token);
    match &proof.ath {
        Some(ath) if bool::from(ath.as_bytes().ct_eq(expected.as_bytes())) => Ok(()),
        _ => Err(DpopError::AthMismatch),
    }
}

/// `ath` (§4.2): base64url of the SHA-256 of the access token's ASCII.
pub(crate) fn access_token_hash(token: &str) -> String {
    B64URL.encode(Sha256::digest(token.as_bytes()))
}

/// Until when the proof's `jti` must be remembered: past it the proof is stale anyway.
pub(crate) fn remember_until(proof: &Proof, settings: &DpopSettings) -> u64 {
    proof
        .iat
        .saturating_add(settings.proof_max_age_secs)
        .saturating_add(1)
}

/// Two thumbprints are equal (constant time: a thumbprint is not secret, but the comparison
/// costs nothing more).
pub(crate) fn same_thumbprint(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::Platform;
    use crate::testing::{block_on, FakePlatform};
    use serde_json::json;

    fn rfc9449() -> Value {
        serde_json::from_str(include_str!("../../tests/vectors/rfc9449_dpop.json")).unwrap()
    }

    fn settings() -> DpopSettings {
        DpopSettings {
            enabled: true,
            ..Default::default()
        }
    }

    fn verifies(p: &Proof) -> bool {
        let platform = FakePlatform::new(0);
        block_on(async {
            let key = platform.import_key(&p.jwk, p.alg).await.unwrap();
            platform
                .verify(&key, p.alg, p.signing_input(), p.signature())
                .await
        })
    }

    /// RFC 9449 §4.1 and §7.1: both example proofs parse, verify with their embedded key, pass the
    /// request checks at their `iat`, and the key's RFC 7638 thumbprint is the §6.1 `cnf.jkt`.
    #[test]
    fn rfc_9449_examples() {
        let v = rfc9449();
        for case in v["proofs"].as_array().unwrap() {
            let p = parse(&[case["proof"].as_str().unwrap()], &settings()).unwrap();
            assert_eq!(p.jti, case["jti"]);
            assert_eq!(p.iat, case["iat"].as_u64().unwrap());
            assert_eq!(p.jkt(), v["jkt"]);
            assert!(verifies(&p), "{}", case["section"]);
            let token = case["access_token"].as_str();
            if let Some(token) = token {
                assert_eq!(access_token_hash(token), case["ath"]);
            }
            let ctx = ProofContext {
                method: case["htm"].as_str().unwrap(),
                url: case["htu"].as_str().unwrap(),
                access_token: token,
                now: p.iat,
            };
            assert_eq!(check_claims(&p, &ctx, &settings()), Ok(()));
            if token.is_none() {
                // The token request's proof carries no `ath`: at a resource it is refused.
                let at_resource = ProofContext {
                    access_token: Some("a-token"),
                    method: ctx.method,
                    url: ctx.url,
                    now: ctx.now,
                };
                assert_eq!(
                    check_claims(&p, &at_resource, &settings()),
                    Err(DpopError::AthMismatch)
                );
            }
            let later = ProofContext {
                now: p.iat + 61,
                ..ctx
            };
            assert_eq!(
                check_claims(&p, &later, &settings()).map_err(|e| e.code()),
                Err(ErrorCode::DpopProofStale)
            );
        }
    }

    /// RFC 7638 §3.1: the thumbprint a proof key is bound by is the RFC's for its example key.
    #[test]
    fn rfc_7638_thumbprint_of_a_proof_key() {
        let v: Value = serde_json::from_str(include_str!(
            "../../tests/vectors/rfc7638_jwk_thumbprint.json"
        ))
        .unwrap();
        let jwk = parse_jwk(&v["jwk"]).unwrap();
        assert_eq!(jwk.thumbprint(), v["thumbprint_b64u"].as_str().unwrap());
    }

    fn tampered(f: impl FnOnce(&mut Map<String, Value>, &mut Map<String, Value>)) -> String {
        let v = rfc9449();
        let proof = v["proofs"][1]["proof"].as_str().unwrap();
        let parts: Vec<&str> = proof.split('.').collect();
        let mut header: Map<String, Value> =
            serde_json::from_slice(&B64URL.decode(parts[0]).unwrap()).unwrap();
        let mut claims: Map<String, Value> =
            serde_json::from_slice(&B64URL.decode(parts[1]).unwrap()).unwrap();
        f(&mut header, &mut claims);
        format!(
            "{}.{}.{}",
            B64URL.encode(Value::Object(header).to_string()),
            B64URL.encode(Value::Object(claims).to_string()),
            parts[2]
        )
    }

    #[test]
    fn every_malformed_proof_is_refused_at_parse() {
        let s = settings();
        let code = |values: &[&str]| parse(values, &s).map(|_| ()).map_err(|e| e.code());
        assert_eq!(code(&[]), Err(ErrorCode::DpopProofMissing));
        let good = rfc9449()["proofs"][1]["proof"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(code(&[&good]), Ok(()));
        assert_eq!(code(&[&good, &good]), Err(ErrorCode::DpopProofInvalid));
        assert_eq!(code(&["x.y.z"]), Err(ErrorCode::DpopProofInvalid));
        assert_eq!(
            code(&[&"a".repeat(MAX_PROOF_BYTES + 1)]),
            Err(ErrorCode::DpopProofInvalid)
        );
        for (name, proof) in [
            (
                "typ JWT",
                tampered(|h, _| {
                    h.insert("typ".into(), json!("JWT"));
                }),
            ),
            (
                "no typ",
                tampered(|h, _| {
                    h.remove("typ");
                }),
            ),
            (
                "no jwk",
                tampered(|h, _| {
                    h.remove("jwk");
                }),
            ),
            (
                "private jwk",
                tampered(|h, _| {
                    h["jwk"]["d"] = json!("AAAA");
                }),
            ),
            (
                "symmetric jwk",
                tampered(|h, _| {
                    h.insert("jwk".into(), json!({"kty": "oct", "k": "AAAA"}));
                }),
            ),
            (
                "crit",
                tampered(|h, _| {
                    h.insert("crit".into(), json!(["x"]));
                    h.insert("x".into(), json!(1));
                }),
            ),
            (
                "no jti",
                tampered(|_, c| {
                    c.remove("jti");
                }),
            ),
            (
                "long jti",
                tampered(|_, c| {
                    c.insert("jti".into(), json!("j".repeat(MAX_JTI_BYTES + 1)));
                }),
            ),
            (
                "numeric htm",
                tampered(|_, c| {
                    c.insert("htm".into(), json!(1));
                }),
            ),
            (
                "no htu",
                tampered(|_, c| {
                    c.remove("htu");
                }),
            ),
            (
                "string iat",
                tampered(|_, c| {
                    c.insert("iat".into(), json!("1562262618"));
                }),
            ),
            (
                "negative iat",
                tampered(|_, c| {
                    c.insert("iat".into(), json!(-1));
                }),
            ),
            (
                "numeric ath",
                tampered(|_, c| {
                    c.insert("ath".into(), json!(1));
                }),
            ),
        ] {
            assert_eq!(code(&[&proof]), Err(ErrorCode::DpopProofInvalid), "{name}");
        }
        let hs = tampered(|h, _| {
            h.insert("alg".into(), json!("HS256"));
        });
        assert_eq!(code(&[&hs]), Err(ErrorCode::DpopProofInvalid));
        let eddsa_only = DpopSettings {
            algorithms: vec!["EdDSA".into()],
            ..settings()
        };
        assert_eq!(
            parse(&[&good], &eddsa_only)
                .map(|_| ())
                .map_err(|e| e.code()),
            Err(ErrorCode::DpopAlgorithmRefused)
        );
        // A changed claim keeps its shape but no longer verifies.
        let changed = tampered(|_, c| {
            c.insert("htm".into(), json!("POST"));
        });
        assert!(!verifies(&parse(&[&changed], &s).unwrap()));
    }

    #[test]
    fn request_checks() {
        let v = rfc9449();
        let case = &v["proofs"][1];
        let p = parse(&[case["proof"].as_str().unwrap()], &settings()).unwrap();
        let token = case["access_token"].as_str().unwrap();
        let ctx = |method, url, token, now| ProofContext {
            method,
            url,
            access_token: Some(token),
            now,
        };
        let url = "https://resource.example.org/protectedresource";
        let s = settings();
        let at = |c: ProofContext<'_>| check_claims(&p, &c, &s).map_err(|e| e.code());
        assert_eq!(at(ctx("GET", url, token, p.iat)), Ok(()));
        assert_eq!(
            at(ctx(
                "GET",
                "https://RESOURCE.example.org:443/protectedresource?x#y",
                token,
                p.iat
            )),
            Ok(())
        );
        assert_eq!(
            at(ctx("POST", url, token, p.iat)),
            Err(ErrorCode::DpopMethodMismatch)
        );
        assert_eq!(
            at(ctx("get", url, token, p.iat)),
            Err(ErrorCode::DpopMethodMismatch)
        );
        assert_eq!(
            at(ctx(
                "GET",
                "https://resource.example.org/other",
                token,
                p.iat
            )),
            Err(ErrorCode::DpopUrlMismatch)
        );
        assert_eq!(
            at(ctx("GET", url, "another", p.iat)),
            Err(ErrorCode::DpopAthMismatch)
        );
        assert_eq!(at(ctx("GET", url, token, p.iat + 60)), Ok(()));
        assert_eq!(
            at(ctx("GET", url, token, p.iat + 61)),
            Err(ErrorCode::DpopProofStale)
        );
        assert_eq!(at(ctx("GET", url, token, p.iat - 5)), Ok(()));
        assert_eq!(
            at(ctx("GET", url, token, p.iat - 6)),
            Err(ErrorCode::DpopProofStale)
        );
        assert_eq!(remember_until(&p, &s), p.iat + 61);
    }
}
