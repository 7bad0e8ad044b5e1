//! JWT claim checks for access tokens (RFC 7519 §4.1, RFC 9068, RFC 8725 §3.11–3.12). Each check
//! has its own error and code, so a client learns exactly which one failed (as panva/jose does).
//!
//! A claim of the wrong JSON type is refused, never skipped: an `exp` sent as a string is not an
//! absent `exp`, and treating it so is how expiry gets bypassed.

use super::strict_json::{self, JsonError};
use crate::problem::ErrorCode;
use base64::Engine as _;
use serde_json::{Map, Value};

/// Where a token's scopes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeSource {
    /// `scope`: one space-separated string (RFC 9068 §2.2.3, RFC 8693 §4.2).
    Scope,
    /// `scp`: an array of strings, or a space-separated string (Azure AD, Okta).
    Scp,
    /// A named claim: an array of strings, or a space-separated string.
    Claim(String),
}

/// Which header `typ` values are accepted. Media types compare case-insensitively and may omit
/// the `application/` prefix (RFC 7515 §4.1.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypPolicy {
    /// `typ` absent, `JWT`, or `at+jwt`.
    Lenient,
    /// `at+jwt` only (RFC 9068 §2.1), which keeps ID tokens and other JWTs out.
    Strict,
}

pub struct ClaimsPolicy<'a> {
    pub issuer: &'a str,
    pub audiences: &'a [String],
    pub leeway_secs: u64,
    pub typ: TypPolicy,
    pub scope_source: &'a ScopeSource,
}

/// The claims of a token that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: u64,
    pub nbf: Option<u64>,
    pub iat: Option<u64>,
    pub jti: Option<String>,
    pub scopes: Vec<String>,
    /// `cnf` (RFC 7800): the DPoP key (RFC 9449 §6) or client certificate (RFC 8705 §3) the
    /// token is bound to. The authenticate stage checks it on every request.
    pub confirmation: Option<crate::identity::Confirmation>,
    /// The session id (`sid`, OpenID Connect Front-Channel Logout §3), when the token has one:
    /// the gateway's own tokens always do, and the revocation list can end a session by it.
    pub sid: Option<String>,
    /// `amr`, `acr`, `auth_time`: how the user authenticated (read for step-up, `crate::step_up`).
    pub user_auth: crate::identity::UserAuthentication,
}

/// One variant per check. Claim names are carried (they come from the code or the configuration,
/// never from the token); claim values are not, except NumericDates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimError {
    /// The payload is not UTF-8 JSON.
    PayloadNotJson,
    /// The payload is JSON but not an object.
    PayloadNotObject,
    /// A member name appears twice in the payload (at any depth). Named if it is a claim we read.
    DuplicateClaim(Option<&'static str>),
    /// The header `typ` is absent (strict policy) or not an accepted type.
    TypeNotAccepted {
        typ_present: bool,
        policy: TypPolicy,
    },
    /// `iss` differs from the configured issuer.
    IssuerMismatch,
    /// A required claim is absent.
    Missing(String),
    /// A claim has the wrong JSON type (or, for NumericDates, is negative).
    WrongType(String),
    /// `sub` or `jti` is an empty string.
    Empty(&'static str),
    /// `aud` names none of the configured audiences (or is an empty array).
    AudienceMismatch,
    Expired {
        exp: u64,
        now: u64,
        leeway: u64,
    },
    NotYetValid {
        nbf: u64,
        now: u64,
        leeway: u64,
    },
    IssuedInFuture {
        iat: u64,
        now: u64,
        leeway: u64,
    },
    /// A scope is not a scope token (`crate::scope::is_scope_token`: RFC 6749 §3.3 without the
    /// `x-user-scopes` separator `,`), or a space-separated scope string has empty entries.
    InvalidScope(String),
    /// The token lives longer than the issuer's `max_token_lifetime_seconds`: `exp - iat`, or
    /// `exp - now` for a token without `iat`.
    LifetimeTooLong {
        lifetime: u64,
        max: u64,
        since_iat: bool,
    },
}

impl From<ClaimError> for crate::problem::Problem {
    fn from(e: ClaimError) -> Self {
        crate::problem::Problem::new(e.code(), e.detail())
    }
}

impl ClaimError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ClaimError::PayloadNotJson
            | ClaimError::PayloadNotObject
            | ClaimError::DuplicateClaim(_) => ErrorCode::TokenMalformed,
            ClaimError::TypeNotAccepted { .. } => ErrorCode::TokenTypeInvalid,
            ClaimError::IssuerMismatch => ErrorCode::TokenIssuerUnknown,
            ClaimError::Missing(_) => ErrorCode::TokenClaimMissing,
            ClaimError::WrongType(_) | ClaimError::Empty(_) | ClaimError::InvalidScope(_) => {
                ErrorCode::TokenClaimInvalid
            }
            ClaimError::AudienceMismatch => ErrorCode::TokenAudienceMismatch,
            ClaimError::Expired { .. } => ErrorCode::TokenExpired,
            ClaimError::NotYetValid { .. } => ErrorCode::TokenNotYetValid,
            ClaimError::IssuedInFuture { .. } => ErrorCode::TokenIssuedInFuture,
            ClaimError::LifetimeTooLong { .. } => ErrorCode::TokenLifetimeTooLong,
        }
    }

    pub fn detail(&self) -> String {
        match self {
            ClaimError::PayloadNotJson => "the token payload is not valid UTF-8 JSON".into(),
            ClaimError::PayloadNotObject => "the token payload is not a JSON object".into(),
            ClaimError::DuplicateClaim(Some(name)) => {
                format!("the token payload has the claim \"{name}\" more than once")
            }
            ClaimError::DuplicateClaim(None) => {
                "the token payload has a member name more than once".into()
            }
            ClaimError::TypeNotAccepted {
                typ_present,
                policy,
            } => match (policy, typ_present) {
                (TypPolicy::Strict, false) => {
                    "the token has no \"typ\"; access tokens must be typed at+jwt (RFC 9068 §2.1)"
                        .into()
                }
                (TypPolicy::Strict, true) => {
                    "the token \"typ\" is not at+jwt (RFC 9068 §2.1)".into()
                }
                (TypPolicy::Lenient, _) => "the token \"typ\" is neither JWT nor at+jwt".into(),
            },
            ClaimError::IssuerMismatch => {
                "the \"iss\" claim does not match the configured issuer".into()
            }
            ClaimError::Missing(name) => format!("the \"{name}\" claim is required"),
            ClaimError::WrongType(name) => {
                format!("the \"{name}\" claim has the wrong type or an invalid value")
            }
            ClaimError::Empty(name) => format!("the \"{name}\" claim is empty"),
            ClaimError::AudienceMismatch => {
                "the \"aud\" claim names none of the audiences this route accepts".into()
            }
            ClaimError::Expired { exp, now, leeway } => {
                format!("the token expired: exp {exp}, now {now}, leeway {leeway} s")
            }
            ClaimError::NotYetValid { nbf, now, leeway } => {
                format!("the token is not valid yet: nbf {nbf}, now {now}, leeway {leeway} s")
            }
            ClaimError::IssuedInFuture { iat, now, leeway } => format!(
                "the token was issued in the future: iat {iat}, now {now}, leeway {leeway} s"
            ),
            ClaimError::InvalidScope(name) => format!(
                "the \"{name}\" claim holds a value that is not a valid scope: {}",
                crate::scope::GRAMMAR
            ),
            ClaimError::LifetimeTooLong {
                lifetime,
                max,
                since_iat,
            } => format!(
                "the token is valid for {lifetime} s {}, more than this issuer's maximum of {max} s",
                if *since_iat { "from iat to exp" } else { "from now to exp (it has no iat)" }
            ),
        }
    }
}

impl std::fmt::Display for ClaimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail())
    }
}

impl std::error::Error for ClaimError {}

/// Claims whose names may appear in a duplicate-member detail.
const KNOWN_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "sid",
    "scope",
    "scp",
    "client_id",
    "amr",
    "acr",
    "auth_time",
];

/// A payload parsed once (a JSON object without duplicate members), for `issuer` before the
/// signature check and `validate_parsed` after it.
#[derive(Debug, Clone)]
pub struct Payload(Map<String, Value>);

impl Payload {
    pub fn parse(payload: &[u8]) -> Result<Payload, ClaimError> {
        parse_payload(payload).map(Payload)
    }

    /// `iss`, read before the signature is checked to pick the issuer's configuration (and JWKS).
    /// Nothing here is trusted: `validate_parsed` checks `iss` again against that configuration.
    pub fn issuer(&self) -> Result<String, ClaimError> {
        required_string(&self.0, "iss")
    }

    /// Every member, for the claims a configuration names beyond the registered ones
    /// (`claims_to_headers`, `require`); read only after the signature and claims checks.
    pub fn members(&self) -> &Map<String, Value> {
        &self.0
    }
}

fn parse_payload(payload: &[u8]) -> Result<Map<String, Value>, ClaimError> {
    strict_json::parse_object(payload).map_err(|e| match e {
        JsonError::Syntax => ClaimError::PayloadNotJson,
        JsonError::NotObject => ClaimError::PayloadNotObject,
        JsonError::Duplicate(name) => {
            ClaimError::DuplicateClaim(KNOWN_CLAIMS.iter().copied().find(|&k| k == name))
        }
    })
}

/// Runs every claim check, in a fixed order, against a payload whose signature has been verified.
pub fn validate(
    payload: &[u8],
    header_typ: Option<&str>,
    policy: &ClaimsPolicy,
    now_secs: u64,
) -> Result<Claims, ClaimError> {
    validate_parsed(&Payload::parse(payload)?, header_typ, policy, now_secs)
}

/// `validate` on a payload already parsed (the request path parses each payload once).
pub fn validate_parsed(
    payload: &Payload,
    header_typ: Option<&str>,
    policy: &ClaimsPolicy,
    now_secs: u64,
) -> Result<Claims, ClaimError> {
    let claims = &payload.0;
    check_typ(header_typ, policy.typ)?;

    let iss = required_string(claims, "iss")?;
    if iss != policy.issuer {
        return Err(ClaimError::IssuerMismatch);
    }

    let sub = required_string(claims, "sub")?;
    if sub.is_empty() {
        return Err(ClaimError::Empty("sub"));
    }

    let aud = audiences(claims)?;
    if !aud.iter().any(|a| policy.audiences.contains(a)) {
        return Err(ClaimError::AudienceMismatch);
    }

    let leeway = policy.leeway_secs;
    let exp = numeric_date(claims, "exp", Fraction::Floor)?
        .ok_or_else(|| ClaimError::Missing("exp".into()))?;
    // RFC 7519 §4.1.4: the token must not be accepted "on or after" exp.
    if now_secs >= exp.saturating_add(leeway) {
        return Err(ClaimError::Expired {
            exp,
            now: now_secs,
            leeway,
        });
    }
    let nbf = numeric_date(claims, "nbf", Fraction::Ceil)?;
    if let Some(nbf) = nbf {
        // RFC 7519 §4.1.5: acceptable "on or after" nbf.
        if now_secs.saturating_add(leeway) < nbf {
            return Err(ClaimError::NotYetValid {
                nbf,
                now: now_secs,
                leeway,
            });
        }
    }
    let iat = numeric_date(claims, "iat", Fraction::Ceil)?;
    if let Some(iat) = iat {
        if iat > now_secs.saturating_add(leeway) {
            return Err(ClaimError::IssuedInFuture {
                iat,
                now: now_secs,
                leeway,
            });
        }
    }

    let jti = match claims.get("jti") {
        None => None,
        Some(Value::String(s)) if s.is_empty() => return Err(ClaimError::Empty("jti")),
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ClaimError::WrongType("jti".into())),
    };

    let scopes = scopes(claims, policy.scope_source)?;
    let confirmation = confirmation(claims)?;
    let user_auth = user_authentication(claims)?;

    // Checked like `jti`: a `sid` the revocation check could not match is refused, not ignored.
    let sid = match claims.get("sid") {
        None => None,
        Some(Value::String(s)) if s.is_empty() => return Err(ClaimError::Empty("sid")),
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ClaimError::WrongType("sid".into())),
    };

    Ok(Claims {
        iss,
        sub,
        aud,
        exp,
        nbf,
        iat,
        jti,
        scopes,
        confirmation,
        sid,
        user_auth,
    })
}

/// `amr` (RFC 8176: an array of strings), `acr` (a string) and `auth_time` (a NumericDate, taken
/// down to the whole second: an older instant is the stricter reading of `max_age`). Like every
/// claim, a wrong JSON type is refused rather than read as absent: an `amr` that is not an array
/// of non-empty printable ASCII strings, an empty or non-ASCII `acr`.
fn user_authentication(
    claims: &Map<String, Value>,
) -> Result<crate::identity::UserAuthentication, ClaimError> {
    let printable = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
    let amr = match claims.get("amr") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v.as_str() {
                Some(s) if printable(s) => Ok(s.to_string()),
                _ => Err(ClaimError::WrongType("amr".into())),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ClaimError::WrongType("amr".into())),
    };
    let acr = match claims.get("acr") {
        None => None,
        Some(Value::String(s)) if printable(s) => Some(s.clone()),
        Some(_) => return Err(ClaimError::WrongType("acr".into())),
    };
    let auth_time = numeric_date(claims, "auth_time", Fraction::Floor)?;
    Ok(crate::identity::UserAuthentication {
        amr,
        acr,
        auth_time,
    })
}

/// `cnf`, when present, must name exactly one confirmation method the gateway can check: `jkt`
/// (a base64url SHA-256 thumbprint) or `x5t#S256` (a base64url SHA-256 certificate digest). A
/// token bound some other way (`jwk`, `kid`, …) is refused rather than accepted unbound: the
/// gateway could not hold it to its binding.
fn confirmation(
    claims: &Map<String, Value>,
) -> Result<Option<crate::identity::Confirmation>, ClaimError> {
    use crate::identity::Confirmation;
    let Some(cnf) = claims.get("cnf") else {
        return Ok(None);
    };
    let bad = || ClaimError::WrongType("cnf".into());
    let cnf = cnf.as_object().ok_or_else(bad)?;
    let digest = |v: &Value| -> Result<Vec<u8>, ClaimError> {
        let s = v.as_str().ok_or_else(bad)?;
        let bytes = super::jws::B64URL.decode(s).map_err(|_| bad())?;
        if bytes.len() == 32 {
            Ok(bytes)
        } else {
            Err(bad())
        }
    };
    match (cnf.get("jkt"), cnf.get("x5t#S256")) {
        (Some(jkt), None) => {
            digest(jkt)?;
            Ok(Some(Confirmation::Jkt(
                jkt.as_str().unwrap_or_default().to_string(),
            )))
        }
        (None, Some(x5t)) => {
            let hex = digest(x5t)?.iter().map(|b| format!("{b:02x}")).collect();
            Ok(Some(Confirmation::X5tS256(hex)))
        }
        _ => Err(bad()),
    }
}

/// The lifetime cap (an issuer's `max_token_lifetime_seconds`), run after `validate`: a token
/// valid for longer than `max_secs` is refused, so `exp` far in the future is never "forever" and
/// anything kept for a token's lifetime (a subject revocation, the verified-token cache) has a real
/// bound. The lifetime is `exp - iat`; without `iat` the token cannot show when it was issued and
/// only what is left of it can be capped: `exp - now`. No leeway: this is a duration, not an
/// instant compared across clocks.
pub fn check_lifetime(claims: &Claims, max_secs: u64, now_secs: u64) -> Result<(), ClaimError> {
    let (lifetime, since_iat) = match claims.iat {
        Some(iat) => (claims.exp.saturating_sub(iat), true),
        None => (claims.exp.saturating_sub(now_secs), false),
    };
    if lifetime > max_secs {
        return Err(ClaimError::LifetimeTooLong {
            lifetime,
            max: max_secs,
            since_iat,
        });
    }
    Ok(())
}

fn check_typ(typ: Option<&str>, policy: TypPolicy) -> Result<(), ClaimError> {
    let accepted = match typ {
        None => policy == TypPolicy::Lenient,
        Some(t) => {
            let lower = t.to_ascii_lowercase();
            // RFC 7515 §4.1.9: "application/" may be omitted, so both spellings are the same type.
            let media = lower.strip_prefix("application/").unwrap_or(&lower);
            match policy {
                TypPolicy::Strict => media == "at+jwt",
                TypPolicy::Lenient => media == "at+jwt" || media == "jwt",
            }
        }
    };
    if accepted {
        Ok(())
    } else {
        Err(ClaimError::TypeNotAccepted {
            typ_present: typ.is_some(),
            policy,
        })
    }
}

fn required_string(claims: &Map<String, Value>, name: &str) -> Result<String, ClaimError> {
    match claims.get(name) {
        None => Err(ClaimError::Missing(name.into())),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ClaimError::WrongType(name.into())),
    }
}

/// RFC 7519 §4.1.3: a single string or an array of strings.
fn audiences(claims: &Map<String, Value>) -> Result<Vec<String>, ClaimError> {
    let wrong = || ClaimError::WrongType("aud".into());
    match claims.get("aud") {
        None => Err(ClaimError::Missing("aud".into())),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(wrong))
            .collect(),
        Some(_) => Err(wrong()),
    }
}

/// Which way a fractional NumericDate is taken to whole seconds: always toward refusing. `now` is
/// a whole second that may lie anywhere before the real instant, so `exp` 1000.9 counts as 1000
/// (expired a little early) and `nbf`/`iat` 1000.1 as 1001 (valid a little late), never the
/// reverse.
#[derive(Clone, Copy)]
enum Fraction {
    Floor,
    Ceil,
}

/// RFC 7519 §2 NumericDate: a JSON number of seconds, possibly fractional (see `Fraction`). Negative
/// values, strings, booleans and null are refused.
fn numeric_date(
    claims: &Map<String, Value>,
    name: &str,
    fraction: Fraction,
) -> Result<Option<u64>, ClaimError> {
    let wrong = || ClaimError::WrongType(name.into());
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(u) = n.as_u64() {
                Ok(Some(u))
            } else if n.is_i64() {
                Err(wrong())
            } else {
                match n.as_f64() {
                    // `as` saturates, so a date past u64::MAX seconds becomes u64::MAX ("never").
                    Some(f) if f.is_finite() && f >= 0.0 => Ok(Some(match fraction {
                        Fraction::Floor => f.floor(),
                        Fraction::Ceil => f.ceil(),
                    } as u64)),
                    _ => Err(wrong()),
                }
            }
        }
        Some(_) => Err(wrong()),
    }
}

fn scopes(claims: &Map<String, Value>, source: &ScopeSource) -> Result<Vec<String>, ClaimError> {
    let (name, array_allowed) = match source {
        ScopeSource::Scope => ("scope", false),
        ScopeSource::Scp => ("scp", true),
        ScopeSource::Claim(name) => (name.as_str(), true),
    };
    let raw: Vec<&str> = match claims.get(name) {
        None => return Ok(Vec::new()),
        // "" is an empty scope set; otherwise RFC 6749 §3.3 separates by single spaces.
        Some(Value::String(s)) if s.is_empty() => Vec::new(),
        Some(Value::String(s)) => s.split(' ').collect(),
        Some(Value::Array(items)) if array_allowed => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<&str>>>()
            .ok_or_else(|| ClaimError::WrongType(name.into()))?,
        Some(_) => return Err(ClaimError::WrongType(name.into())),
    };
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for scope in raw {
        if !crate::scope::is_scope_token(scope) {
            return Err(ClaimError::InvalidScope(name.into()));
        }
        if !out.iter().any(|s| s == scope) {
            out.push(scope.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;
    const ISS: &str = "https://issuer.example";

    fn auds() -> Vec<String> {
        vec!["api://orders".into(), "api://billing".into()]
    }

    fn policy<'a>(aud: &'a [String], scope: &'a ScopeSource) -> ClaimsPolicy<'a> {
        ClaimsPolicy {
            issuer: ISS,
            audiences: aud,
            leeway_secs: 30,
            typ: TypPolicy::Lenient,
            scope_source: scope,
        }
    }

    fn base() -> Value {
        json!({
            "iss": ISS,
            "sub": "user-1",
            "aud": "api://orders",
            "exp": NOW + 300,
            "nbf": NOW - 10,
            "iat": NOW - 10,
            "jti": "j-1",
            "scope": "orders:read orders:write",
        })
    }

    fn set(mut v: Value, k: &str, val: Value) -> Value {
        v.as_object_mut().unwrap().insert(k.into(), val);
        v
    }
    fn unset(mut v: Value, k: &str) -> Value {
        v.as_object_mut().unwrap().remove(k);
        v
    }

    fn run(v: &Value) -> Result<Claims, ClaimError> {
        run_at(v, NOW)
    }
    fn run_at(v: &Value, now: u64) -> Result<Claims, ClaimError> {
        let aud = auds();
        let src = ScopeSource::Scope;
        validate(v.to_string().as_bytes(), None, &policy(&aud, &src), now)
    }
    fn run_scopes(v: &Value, src: ScopeSource) -> Result<Claims, ClaimError> {
        let aud = auds();
        validate(v.to_string().as_bytes(), None, &policy(&aud, &src), NOW)
    }

    #[test]
    fn a_good_token_validates() {
        let c = run(&base()).unwrap();
        assert_eq!(
            c,
            Claims {
                iss: ISS.into(),
                sub: "user-1".into(),
                aud: vec!["api://orders".into()],
                exp: NOW + 300,
                nbf: Some(NOW - 10),
                iat: Some(NOW - 10),
                jti: Some("j-1".into()),
                sid: None,
                scopes: vec!["orders:read".into(), "orders:write".into()],
                confirmation: None,
                user_auth: Default::default(),
            }
        );
        let c = run(&unset(
            unset(unset(unset(base(), "nbf"), "iat"), "jti"),
            "scope",
        ))
        .unwrap();
        assert_eq!((c.nbf, c.iat, c.jti), (None, None, None));
        assert!(c.scopes.is_empty());
    }

    #[test]
    fn the_authentication_context_is_read_strictly() {
        let c = run(&set(
            set(
                set(base(), "amr", json!(["pwd", "otp"])),
                "acr",
                json!("gold"),
            ),
            "auth_time",
            json!(NOW as f64 - 99.5),
        ))
        .unwrap();
        assert_eq!(
            c.user_auth,
            crate::identity::UserAuthentication {
                amr: vec!["pwd".into(), "otp".into()],
                acr: Some("gold".into()),
                // Floored: the older reading.
                auth_time: Some(NOW - 100),
            }
        );
        assert_eq!(run(&base()).unwrap().user_auth, Default::default());
        for (claim, bad) in [
            ("amr", json!("otp")),
            ("amr", json!([1])),
            ("amr", json!([""])),
            ("amr", json!(["o t p"])),
            ("amr", json!(null)),
            ("acr", json!(1)),
            ("acr", json!("")),
            ("acr", json!(["gold"])),
            ("auth_time", json!("1")),
            ("auth_time", json!(-1)),
        ] {
            assert_eq!(
                run(&set(base(), claim, bad.clone())),
                Err(ClaimError::WrongType(claim.into())),
                "{claim}: {bad}"
            );
        }
    }

    #[test]
    fn payload_shape() {
        let aud = auds();
        let src = ScopeSource::Scope;
        let p = policy(&aud, &src);
        assert_eq!(
            validate(b"not json", None, &p, NOW),
            Err(ClaimError::PayloadNotJson)
        );
        assert_eq!(
            validate(b"", None, &p, NOW),
            Err(ClaimError::PayloadNotJson)
        );
        assert_eq!(
            validate(b"[1,2]", None, &p, NOW),
            Err(ClaimError::PayloadNotObject)
        );
        assert_eq!(
            validate(b"\"iss\"", None, &p, NOW),
            Err(ClaimError::PayloadNotObject)
        );
        let dup = format!(r#"{{"iss":"{ISS}","sub":"a","sub":"admin"}}"#);
        let e = validate(dup.as_bytes(), None, &p, NOW).unwrap_err();
        assert_eq!(e, ClaimError::DuplicateClaim(Some("sub")));
        assert_eq!(e.code(), ErrorCode::TokenMalformed);
        let dup = format!(r#"{{"iss":"{ISS}","x-private":1,"x-private":2}}"#);
        let e = validate(dup.as_bytes(), None, &p, NOW).unwrap_err();
        assert_eq!(e, ClaimError::DuplicateClaim(None));
        assert!(!e.detail().contains("x-private"));
        for e in [ClaimError::PayloadNotJson, ClaimError::PayloadNotObject] {
            assert_eq!(e.code(), ErrorCode::TokenMalformed);
        }
    }

    #[test]
    fn typ_matrix() {
        let aud = auds();
        let src = ScopeSource::Scope;
        let payload = base().to_string();
        let cases: &[(Option<&str>, bool, bool)] = &[
            // (typ, lenient accepts, strict accepts)
            (None, true, false),
            (Some("JWT"), true, false),
            (Some("jwt"), true, false),
            (Some("application/jwt"), true, false),
            (Some("Application/JWT"), true, false),
            (Some("at+jwt"), true, true),
            (Some("AT+JWT"), true, true),
            (Some("application/at+jwt"), true, true),
            (Some("APPLICATION/At+Jwt"), true, true),
            (Some(""), false, false),
            (Some("JOSE"), false, false),
            (Some("dpop+jwt"), false, false),
            (Some("id_token+jwt"), false, false),
            (Some("logout+jwt"), false, false),
            (Some("application/"), false, false),
            (Some("at+jwt "), false, false),
            (Some("application/application/at+jwt"), false, false),
            (Some("text/at+jwt"), false, false),
        ];
        for &(typ, lenient, strict) in cases {
            for (mode, want) in [(TypPolicy::Lenient, lenient), (TypPolicy::Strict, strict)] {
                let p = ClaimsPolicy {
                    typ: mode,
                    ..policy(&aud, &src)
                };
                let got = validate(payload.as_bytes(), typ, &p, NOW);
                if want {
                    assert!(got.is_ok(), "{typ:?} {mode:?}: {got:?}");
                } else {
                    let e = got.unwrap_err();
                    assert_eq!(
                        e,
                        ClaimError::TypeNotAccepted {
                            typ_present: typ.is_some(),
                            policy: mode
                        },
                        "{typ:?} {mode:?}"
                    );
                    assert_eq!(e.code(), ErrorCode::TokenTypeInvalid);
                }
            }
        }
    }

    #[test]
    fn issuer() {
        for iss in [
            "https://issuer.example/",
            "https://ISSUER.example",
            "http://issuer.example",
            "",
        ] {
            let e = run(&set(base(), "iss", json!(iss))).unwrap_err();
            assert_eq!(e, ClaimError::IssuerMismatch, "{iss}");
            assert_eq!(e.code(), ErrorCode::TokenIssuerUnknown);
            assert!(!e.detail().contains("issuer.example"));
        }
        let e = run(&unset(base(), "iss")).unwrap_err();
        assert_eq!(e, ClaimError::Missing("iss".into()));
        assert_eq!(e.code(), ErrorCode::TokenClaimMissing);
        let e = run(&set(base(), "iss", json!(["https://issuer.example"]))).unwrap_err();
        assert_eq!(e, ClaimError::WrongType("iss".into()));
        assert_eq!(e.code(), ErrorCode::TokenClaimInvalid);
    }

    #[test]
    fn issuer_read_before_the_signature_check() {
        let peek_issuer = |payload: &[u8]| Payload::parse(payload)?.issuer();
        assert_eq!(
            peek_issuer(br#"{"iss":"https://a.example","exp":"x"}"#),
            Ok("https://a.example".into())
        );
        let e = peek_issuer(br#"{"sub":"x"}"#).unwrap_err();
        assert_eq!(e, ClaimError::Missing("iss".into()));
        assert_eq!(e.code(), ErrorCode::TokenClaimMissing);
        let e = peek_issuer(br#"{"iss":7}"#).unwrap_err();
        assert_eq!(e, ClaimError::WrongType("iss".into()));
        assert_eq!(e.code(), ErrorCode::TokenClaimInvalid);
        for bad in [&b"x"[..], b"[]", b"", b"{\"iss\":\"a\""] {
            assert_eq!(
                peek_issuer(bad).unwrap_err().code(),
                ErrorCode::TokenMalformed
            );
        }
        let e = peek_issuer(br#"{"iss":"a","iss":"b"}"#).unwrap_err();
        assert_eq!(e, ClaimError::DuplicateClaim(Some("iss")));
    }

    #[test]
    fn subject() {
        let e = run(&unset(base(), "sub")).unwrap_err();
        assert_eq!(e, ClaimError::Missing("sub".into()));
        assert_eq!(e.code(), ErrorCode::TokenClaimMissing);
        let e = run(&set(base(), "sub", json!(""))).unwrap_err();
        assert_eq!(e, ClaimError::Empty("sub"));
        assert_eq!(e.code(), ErrorCode::TokenClaimInvalid);
        for bad in [json!(42), json!(null), json!(["u"]), json!({"id":"u"})] {
            let e = run(&set(base(), "sub", bad)).unwrap_err();
            assert_eq!(e, ClaimError::WrongType("sub".into()));
            assert_eq!(e.code(), ErrorCode::TokenClaimInvalid);
        }
    }

    #[test]
    fn audience_string_vs_array() {
        assert_eq!(
            run(&set(base(), "aud", json!("api://billing")))
                .unwrap()
                .aud,
            ["api://billing"]
        );
        assert_eq!(
            run(&set(base(), "aud", json!(["x", "api://billing"])))
                .unwrap()
                .aud,
            ["x", "api://billing"]
        );
        for bad in [
            json!("api://other"),
            json!(["a", "b"]),
            json!([]),
            json!("API://ORDERS"),
            json!("api://orders/"),
        ] {
            let e = run(&set(base(), "aud", bad.clone())).unwrap_err();
            assert_eq!(e, ClaimError::AudienceMismatch, "{bad}");
            assert_eq!(e.code(), ErrorCode::TokenAudienceMismatch);
        }
        let e = run(&unset(base(), "aud")).unwrap_err();
        assert_eq!(e, ClaimError::Missing("aud".into()));
        assert_eq!(e.code(), ErrorCode::TokenClaimMissing);
        for bad in [
            json!(1),
            json!(null),
            json!({"a":1}),
            json!(["api://orders", 1]),
            json!([null]),
        ] {
            let e = run(&set(base(), "aud", bad.clone())).unwrap_err();
            assert_eq!(e, ClaimError::WrongType("aud".into()), "{bad}");
            assert_eq!(e.code(), ErrorCode::TokenClaimInvalid);
        }
        // No configured audience: nothing matches (fail closed).
        let none: Vec<String> = vec![];
        let src = ScopeSource::Scope;
        let e = validate(
            base().to_string().as_bytes(),
            None,
            &policy(&none, &src),
            NOW,
        )
        .unwrap_err();
        assert_eq!(e, ClaimError::AudienceMismatch);
    }

    #[test]
    fn expiry_and_leeway_boundaries() {
        let exp = NOW + 300;
        let v = set(base(), "exp", json!(exp));
        // leeway 30: valid up to exp + 29; exactly exp + leeway is expired.
        assert!(run_at(&v, exp + 29).is_ok());
        let e = run_at(&v, exp + 30).unwrap_err();
        assert_eq!(
            e,
            ClaimError::Expired {
                exp,
                now: exp + 30,
                leeway: 30
            }
        );
        assert_eq!(e.code(), ErrorCode::TokenExpired);
        assert!(e.detail().contains(&exp.to_string()));
        // With no leeway, now == exp is expired.
        let aud = auds();
        let src = ScopeSource::Scope;
        let p = ClaimsPolicy {
            leeway_secs: 0,
            ..policy(&aud, &src)
        };
        let payload = v.to_string();
        assert!(validate(payload.as_bytes(), None, &p, exp - 1).is_ok());
        assert_eq!(
            validate(payload.as_bytes(), None, &p, exp)
                .unwrap_err()
                .code(),
            ErrorCode::TokenExpired
        );
        // A leeway large enough to overflow saturates instead of wrapping.
        let p = ClaimsPolicy {
            leeway_secs: u64::MAX,
            ..policy(&aud, &src)
        };
        assert!(validate(payload.as_bytes(), None, &p, exp + 1_000_000).is_ok());
        let e = run(&unset(base(), "exp")).unwrap_err();
        assert_eq!(e, ClaimError::Missing("exp".into()));
        assert_eq!(e.code(), ErrorCode::TokenClaimMissing);
    }

    #[test]
    fn not_before_boundaries() {
        let nbf = NOW + 100;
        let v = set(set(base(), "nbf", json!(nbf)), "iat", json!(NOW - 1));
        // leeway 30: valid from nbf - 30 on.
        assert!(run_at(&v, nbf - 30).is_ok());
        let e = run_at(&v, nbf - 31).unwrap_err();
        assert_eq!(
            e,
            ClaimError::NotYetValid {
                nbf,
                now: nbf - 31,
                leeway: 30
            }
        );
        assert_eq!(e.code(), ErrorCode::TokenNotYetValid);
    }

    #[test]
    fn issued_at_boundaries() {
        let iat = NOW + 100;
        let v = unset(set(base(), "iat", json!(iat)), "nbf");
        assert!(run_at(&v, iat - 30).is_ok());
        let e = run_at(&v, iat - 31).unwrap_err();
        assert_eq!(
            e,
            ClaimError::IssuedInFuture {
                iat,
                now: iat - 31,
                leeway: 30
            }
        );
        assert_eq!(e.code(), ErrorCode::TokenIssuedInFuture);
    }

    #[test]
    fn numeric_date_edge_cases() {
        // Fractions count toward refusal: exp 1000.9 behaves as 1000, iat 0.5 as 1.
        let v = set(
            set(set(base(), "exp", json!(1000.9)), "nbf", json!(0)),
            "iat",
            json!(0.5),
        );
        let aud = auds();
        let src = ScopeSource::Scope;
        let p = ClaimsPolicy {
            leeway_secs: 0,
            ..policy(&aud, &src)
        };
        let c = validate(v.to_string().as_bytes(), None, &p, 999).unwrap();
        assert_eq!((c.exp, c.nbf, c.iat), (1000, Some(0), Some(1)));
        assert_eq!(
            validate(v.to_string().as_bytes(), None, &p, 1000).unwrap_err(),
            ClaimError::Expired {
                exp: 1000,
                now: 1000,
                leeway: 0
            }
        );
        // Exponent notation is a JSON number too.
        let c = run(&set(base(), "exp", json!(1.8e9))).unwrap();
        assert_eq!(c.exp, 1_800_000_000);
        let c = validate(
            format!(r#"{{"iss":"{ISS}","sub":"s","aud":"api://orders","exp":18e8}}"#).as_bytes(),
            None,
            &p,
            NOW,
        )
        .unwrap();
        assert_eq!(c.exp, 1_800_000_000);
        // Huge values saturate to "never expires", they do not wrap.
        let c = run(&set(base(), "exp", json!(1e300))).unwrap();
        assert_eq!(c.exp, u64::MAX);
        let c = run(&set(base(), "exp", json!(u64::MAX))).unwrap();
        assert_eq!(c.exp, u64::MAX);
        // -0 is zero.
        let c = validate(
            format!(r#"{{"iss":"{ISS}","sub":"s","aud":"api://orders","exp":9e9,"iat":-0.0}}"#)
                .as_bytes(),
            None,
            &p,
            NOW,
        )
        .unwrap();
        assert_eq!(c.iat, Some(0));

        for claim in ["exp", "nbf", "iat"] {
            for bad in [
                json!(-1),
                json!(-0.5),
                json!(i64::MIN),
                json!("1800000000"),
                json!(true),
                json!(null),
                json!([1_800_000_000]),
                json!({}),
            ] {
                let e = run(&set(base(), claim, bad.clone())).unwrap_err();
                assert_eq!(e, ClaimError::WrongType(claim.into()), "{claim} {bad}");
                assert_eq!(e.code(), ErrorCode::TokenClaimInvalid);
            }
        }
    }

    #[test]
    fn jti() {
        let e = run(&set(base(), "jti", json!(""))).unwrap_err();
        assert_eq!(e, ClaimError::Empty("jti"));
        assert_eq!(e.code(), ErrorCode::TokenClaimInvalid);
        for bad in [json!(5), json!(null), json!(["j"])] {
            let e = run(&set(base(), "jti", bad)).unwrap_err();
            assert_eq!(e, ClaimError::WrongType("jti".into()));
            assert_eq!(e.code(), ErrorCode::TokenClaimInvalid);
        }
    }

    #[test]
    fn scope_sources() {
        // scope: string only.
        let c = run_scopes(&set(base(), "scope", json!("a b a")), ScopeSource::Scope).unwrap();
        assert_eq!(c.scopes, ["a", "b"]);
        let c = run_scopes(&set(base(), "scope", json!("")), ScopeSource::Scope).unwrap();
        assert!(c.scopes.is_empty());
        let e = run_scopes(&set(base(), "scope", json!(["a"])), ScopeSource::Scope).unwrap_err();
        assert_eq!(e, ClaimError::WrongType("scope".into()));
        assert_eq!(e.code(), ErrorCode::TokenClaimInvalid);

        // scp: array or string; "scope" is then not read.
        let v = set(base(), "scp", json!(["orders:read", "admin"]));
        let c = run_scopes(&v, ScopeSource::Scp).unwrap();
        assert_eq!(c.scopes, ["orders:read", "admin"]);
        let c = run_scopes(&set(base(), "scp", json!("x y")), ScopeSource::Scp).unwrap();
        assert_eq!(c.scopes, ["x", "y"]);
        let c = run_scopes(&base(), ScopeSource::Scp).unwrap();
        assert!(c.scopes.is_empty());
        for bad in [json!(1), json!(["a", 2]), json!({"a":1}), json!(null)] {
            let e = run_scopes(&set(base(), "scp", bad), ScopeSource::Scp).unwrap_err();
            assert_eq!(e, ClaimError::WrongType("scp".into()));
        }

        // A named claim.
        let src = ScopeSource::Claim("permissions".into());
        let c = run_scopes(
            &set(base(), "permissions", json!(["read:all"])),
            src.clone(),
        )
        .unwrap();
        assert_eq!(c.scopes, ["read:all"]);
        let c = run_scopes(&set(base(), "permissions", json!("p q")), src.clone()).unwrap();
        assert_eq!(c.scopes, ["p", "q"]);
        let e = run_scopes(&set(base(), "permissions", json!(true)), src.clone()).unwrap_err();
        assert_eq!(e, ClaimError::WrongType("permissions".into()));
        assert!(e.detail().contains("permissions"));
    }

    #[test]
    fn scope_token_grammar() {
        for bad in [
            json!("a  b"),
            json!(" a"),
            json!("a "),
            json!("a\tb"),
            json!("a\"b"),
            json!("a\\b"),
            json!("caf\u{e9}"),
            json!("a\u{7f}"),
            // The x-user-scopes separator: one scope must not reach the origin as several.
            json!("orders:read profile,admin"),
            json!(","),
        ] {
            let e = run_scopes(&set(base(), "scope", bad.clone()), ScopeSource::Scope).unwrap_err();
            assert_eq!(e, ClaimError::InvalidScope("scope".into()), "{bad}");
            assert_eq!(e.code(), ErrorCode::TokenClaimInvalid);
        }
        for bad in [
            json!(["a b"]),
            json!([""]),
            json!(["ok", "x\"y"]),
            json!(["orders:read", "profile,admin"]),
            json!("orders:read profile,admin"),
        ] {
            let e = run_scopes(&set(base(), "scp", bad.clone()), ScopeSource::Scp).unwrap_err();
            assert_eq!(e, ClaimError::InvalidScope("scp".into()), "{bad}");
        }
        let all_allowed: String = (0x21u8..=0x7e)
            .filter(|&b| b != b'"' && b != b'\\' && b != b',')
            .map(char::from)
            .collect();
        let c = run_scopes(
            &set(base(), "scope", json!(all_allowed)),
            ScopeSource::Scope,
        )
        .unwrap();
        assert_eq!(c.scopes.len(), 1);
    }

    #[test]
    fn check_order_is_fixed() {
        // typ before iss before sub before aud before exp.
        let aud = auds();
        let src = ScopeSource::Scope;
        let p = ClaimsPolicy {
            typ: TypPolicy::Strict,
            ..policy(&aud, &src)
        };
        let bad = json!({"iss":"x","aud":"y","exp":1});
        let payload = bad.to_string();
        assert_eq!(
            validate(payload.as_bytes(), Some("JWT"), &p, NOW)
                .unwrap_err()
                .code(),
            ErrorCode::TokenTypeInvalid
        );
        assert_eq!(run(&bad).unwrap_err().code(), ErrorCode::TokenIssuerUnknown);
        let bad = set(bad, "iss", json!(ISS));
        assert_eq!(run(&bad).unwrap_err().code(), ErrorCode::TokenClaimMissing);
        let bad = set(bad, "sub", json!("s"));
        assert_eq!(
            run(&bad).unwrap_err().code(),
            ErrorCode::TokenAudienceMismatch
        );
        let bad = set(bad, "aud", json!("api://orders"));
        assert_eq!(run(&bad).unwrap_err().code(), ErrorCode::TokenExpired);
    }

    #[test]
    fn every_variant_has_its_documented_code_and_no_values() {
        use ErrorCode::*;
        let table = [
            (ClaimError::PayloadNotJson, TokenMalformed),
            (ClaimError::PayloadNotObject, TokenMalformed),
            (ClaimError::DuplicateClaim(Some("sub")), TokenMalformed),
            (
                ClaimError::TypeNotAccepted {
                    typ_present: true,
                    policy: TypPolicy::Strict,
                },
                TokenTypeInvalid,
            ),
            (ClaimError::IssuerMismatch, TokenIssuerUnknown),
            (ClaimError::Missing("sub".into()), TokenClaimMissing),
            (ClaimError::WrongType("exp".into()), TokenClaimInvalid),
            (ClaimError::Empty("sub"), TokenClaimInvalid),
            (ClaimError::AudienceMismatch, TokenAudienceMismatch),
            (
                ClaimError::Expired {
                    exp: 1,
                    now: 2,
                    leeway: 0,
                },
                TokenExpired,
            ),
            (
                ClaimError::NotYetValid {
                    nbf: 3,
                    now: 2,
                    leeway: 0,
                },
                TokenNotYetValid,
            ),
            (
                ClaimError::IssuedInFuture {
                    iat: 3,
                    now: 2,
                    leeway: 0,
                },
                TokenIssuedInFuture,
            ),
            (ClaimError::InvalidScope("scope".into()), TokenClaimInvalid),
        ];
        for (e, code) in table {
            assert_eq!(e.code(), code, "{e:?}");
            assert_eq!(e.to_string(), e.detail());
        }
        // Values from the token never appear in details.
        let v = set(set(base(), "sub", json!(7)), "aud", json!("secret-aud"));
        assert!(!run(&v).unwrap_err().detail().contains('7'));
        let v = set(base(), "aud", json!("secret-aud"));
        assert!(!run(&v).unwrap_err().detail().contains("secret-aud"));
        let v = set(base(), "scope", json!("ok secret\"scope"));
        assert!(!run(&v).unwrap_err().detail().contains("secret"));
    }

    /// Regression (found by tests/properties_differential.rs against jsonwebtoken): a fractional
    /// `nbf` was floored, so `nbf` 1000.6 admitted a token at 1000 — before it was valid.
    #[test]
    fn fractional_nbf_and_iat_round_up() {
        let aud = auds();
        let src = ScopeSource::Scope;
        let p = ClaimsPolicy {
            leeway_secs: 0,
            ..policy(&aud, &src)
        };
        let nbf = set(set(base(), "nbf", json!(1000.6)), "iat", json!(0));
        assert_eq!(
            validate(nbf.to_string().as_bytes(), None, &p, 1000).unwrap_err(),
            ClaimError::NotYetValid {
                nbf: 1001,
                now: 1000,
                leeway: 0
            }
        );
        assert_eq!(
            validate(nbf.to_string().as_bytes(), None, &p, 1001)
                .unwrap()
                .nbf,
            Some(1001)
        );
        let iat = set(set(base(), "iat", json!(1000.2)), "nbf", json!(0));
        assert_eq!(
            validate(iat.to_string().as_bytes(), None, &p, 1000).unwrap_err(),
            ClaimError::IssuedInFuture {
                iat: 1001,
                now: 1000,
                leeway: 0
            }
        );
    }

    #[test]
    fn lifetime_is_capped_from_iat_or_from_now() {
        const DAY: u64 = 86_400;
        let ok = |v: &Value, now: u64| {
            let c = run_at(v, now).unwrap();
            check_lifetime(&c, DAY, now)
        };
        // exp - iat exactly at the cap is accepted; one second more is refused.
        let v = set(
            set(base(), "iat", json!(NOW - 10)),
            "exp",
            json!(NOW - 10 + DAY),
        );
        assert_eq!(ok(&v, NOW), Ok(()));
        let v = set(
            set(base(), "iat", json!(NOW - 10)),
            "exp",
            json!(NOW - 9 + DAY),
        );
        let e = ok(&v, NOW).unwrap_err();
        assert_eq!(
            e,
            ClaimError::LifetimeTooLong {
                lifetime: DAY + 1,
                max: DAY,
                since_iat: true
            }
        );
        assert_eq!(e.code(), ErrorCode::TokenLifetimeTooLong);
        assert!(e.detail().contains("from iat to exp"), "{}", e.detail());
        // exp 1e30 (an f64 that saturates to u64::MAX) is "never": refused, not accepted forever.
        let v = set(base(), "exp", json!(1e30));
        assert_eq!(
            ok(&v, NOW),
            Err(ClaimError::LifetimeTooLong {
                lifetime: u64::MAX - (NOW - 10),
                max: DAY,
                since_iat: true
            })
        );
        // Without iat: what is left (exp - now) is capped.
        let no_iat = unset(base(), "iat");
        let v = set(no_iat.clone(), "exp", json!(NOW + DAY));
        assert_eq!(ok(&v, NOW), Ok(()));
        let v = set(no_iat.clone(), "exp", json!(NOW + DAY + 1));
        assert_eq!(
            ok(&v, NOW),
            Err(ClaimError::LifetimeTooLong {
                lifetime: DAY + 1,
                max: DAY,
                since_iat: false
            })
        );
        let v = set(no_iat, "exp", json!(1e30));
        assert!(matches!(
            ok(&v, NOW),
            Err(ClaimError::LifetimeTooLong {
                since_iat: false,
                ..
            })
        ));
        // An iat in the future (within leeway) never underflows.
        let v = set(set(base(), "iat", json!(NOW + 20)), "exp", json!(NOW + 10));
        assert_eq!(ok(&v, NOW), Ok(()));
    }
}

#[cfg(test)]
mod confirmation_claim_tests {
    use super::confirmation;
    use crate::identity::Confirmation;
    use serde_json::{json, Map, Value};

    fn read_back(c: &Confirmation) -> Option<Confirmation> {
        let mut claims = Map::new();
        claims.insert("cnf".into(), c.claim());
        confirmation(&claims).unwrap()
    }

    #[test]
    fn a_confirmation_restated_as_a_claim_reads_back_the_same() {
        let jkt = Confirmation::Jkt("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into());
        assert_eq!(
            jkt.claim(),
            json!({ "jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" })
        );
        assert_eq!(read_back(&jkt), Some(jkt));
        let hex = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
        let x5t = Confirmation::X5tS256(hex.into());
        assert_eq!(
            x5t.claim().get("x5t#S256").and_then(Value::as_str),
            Some("obLD1OX2BxgpOktcbX6PkKGyw9Tl9gcYKTpLXG1-j5A")
        );
        assert_eq!(read_back(&x5t), Some(x5t));
    }
}
