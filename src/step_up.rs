//! Step-up authentication per route (RFC 9470): a route may ask for a second factor
//! (`mfa = "required"`), for an authentication context class (`acr_values`) and for a recent
//! authentication (`max_age`, against `auth_time`). A token that falls short gets 401
//! `mfa_required` with `WWW-Authenticate: Bearer error="insufficient_user_authentication"`, naming
//! what would satisfy the route, so the client can step up and come back.
//!
//! Pure: the route's policy and the identity's `UserAuthentication` in, a verdict out. The
//! gateway's own tokens and an external issuer's are read the same way (docs/mfa.md).

use crate::identity::{AuthMethod, Identity, UserAuthentication};
use crate::problem::{ErrorCode, Problem};

/// The `amr` values (RFC 8176 §2) that count as a second factor: `mfa` (the issuer says several
/// factors were used), `otp` (a one-time password: TOTP, a recovery code), `hwk` and `swk`
/// (proof of possession of a hardware- or software-secured key: a passkey), `sc` (a smart card).
/// Not counted: `pwd`, `pin`, `kba` (knowledge, the first factor), `sms` and `tel` (a code sent
/// over the phone network: SIM swapping and interception, NIST SP 800-63B §5.1.3.3), biometrics
/// alone (`fpt`, `face`, `iris`, `retina`, `vbm`: they unlock a device, they are not a
/// separate factor at the issuer), `user` (user presence/verification is a flag, not a method).
pub const SECOND_FACTORS: &[&str] = &["mfa", "otp", "hwk", "swk", "sc"];

/// The `acr` the gateway sets on a token it steps up (a TOTP or passkey check on a live session),
/// and names in the challenge of a `mfa = "required"` route that lists no `acr_values`.
pub const GATEWAY_MFA_ACR: &str = "urn:portcullis:acr:mfa";

/// What a route asks of the user's authentication. At least one member is set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StepUpPolicy {
    /// `mfa = "required"`: `amr` names one of `SECOND_FACTORS`.
    pub second_factor: bool,
    /// `acr_values`: the token's `acr` is one of these (exact comparison).
    pub acr_values: Vec<String>,
    /// `max_age`: the user authenticated at most this many seconds ago (`auth_time`).
    pub max_age: Option<u64>,
}

/// Why a credential does not satisfy the route's policy. One code (`mfa_required`) for all: the
/// client's remedy is the same (authenticate again, with what the challenge names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepUpFailure {
    /// An API key: it authenticates a client, not a user, and carries no user factor.
    NoUserAuthentication,
    /// `amr` is absent or names no second factor.
    NoSecondFactor,
    /// `acr` is absent or not in the route's `acr_values`.
    AcrNotAccepted { present: bool },
    /// `max_age` is set and the token has no `auth_time`.
    NoAuthTime,
    /// `auth_time` is more than `max_age` seconds ago.
    TooOld { age: u64, max_age: u64 },
}

impl StepUpFailure {
    pub fn detail(&self) -> String {
        match self {
            StepUpFailure::NoUserAuthentication => {
                "this route requires a user's second factor, which an API key cannot carry: use a bearer token".into()
            }
            StepUpFailure::NoSecondFactor => {
                "this route requires a second factor: the token's amr names none".into()
            }
            StepUpFailure::AcrNotAccepted { present: false } => {
                "this route requires an authentication context class (acr): the token has none".into()
            }
            StepUpFailure::AcrNotAccepted { present: true } => {
                "the token's authentication context class (acr) is not one this route accepts".into()
            }
            StepUpFailure::NoAuthTime => {
                "this route requires a recent authentication: the token has no auth_time".into()
            }
            StepUpFailure::TooOld { age, max_age } => format!(
                "this route requires an authentication within {max_age} s: the user authenticated {age} s ago"
            ),
        }
    }

    /// Whether `max_age` is the reason, so the challenge names it (RFC 9470 §3).
    fn about_max_age(&self) -> bool {
        matches!(
            self,
            StepUpFailure::NoAuthTime | StepUpFailure::TooOld { .. }
        )
    }
}

/// The route's policy against the caller. Checked in a fixed order — the kind of credential, the
/// second factor, the class, the age — so one token always fails the same way.
pub fn check(
    policy: &StepUpPolicy,
    identity: &Identity,
    now_secs: u64,
) -> Result<(), StepUpFailure> {
    if identity.method != AuthMethod::Jwt {
        return Err(StepUpFailure::NoUserAuthentication);
    }
    check_user(policy, &identity.user_auth, now_secs)
}

pub(crate) fn check_user(
    policy: &StepUpPolicy,
    auth: &UserAuthentication,
    now_secs: u64,
) -> Result<(), StepUpFailure> {
    if policy.second_factor && !has_second_factor(&auth.amr) {
        return Err(StepUpFailure::NoSecondFactor);
    }
    if !policy.acr_values.is_empty() {
        match &auth.acr {
            Some(acr) if policy.acr_values.iter().any(|v| v == acr) => {}
            other => {
                return Err(StepUpFailure::AcrNotAccepted {
                    present: other.is_some(),
                })
            }
        }
    }
    if let Some(max_age) = policy.max_age {
        let auth_time = auth.auth_time.ok_or(StepUpFailure::NoAuthTime)?;
        // An `auth_time` ahead of the clock (skew) is age 0, not a refusal: the token's own
        // `iat` has already been held to the issuer's leeway.
        let age = now_secs.saturating_sub(auth_time);
        if age > max_age {
            return Err(StepUpFailure::TooOld { age, max_age });
        }
    }
    Ok(())
}

/// Whether `amr` names a second factor (`SECOND_FACTORS`).
pub fn has_second_factor(amr: &[String]) -> bool {
    amr.iter().any(|m| SECOND_FACTORS.contains(&m.as_str()))
}

/// The `acr_values` a challenge names: the route's own, or, for a route that asks only for a
/// second factor, the class the gateway's step-up gives (`GATEWAY_MFA_ACR`).
fn challenge_acr_values(policy: &StepUpPolicy) -> String {
    if policy.acr_values.is_empty() {
        GATEWAY_MFA_ACR.to_string()
    } else {
        policy.acr_values.join(" ")
    }
}

/// The refusal: 401 `mfa_required` with its RFC 9470 §3 challenge,
/// `Bearer realm="…", error="insufficient_user_authentication", error_description="…",
/// acr_values="…"` (+ `max_age="…"` when the age is the reason), and the same values as members
/// of the problem document. `realm` and the policy's values are checked at configuration load
/// (printable ASCII without `"` or `\`), and the detail is the gateway's own text.
pub fn refusal(realm: &str, policy: &StepUpPolicy, failure: &StepUpFailure) -> Problem {
    let detail = failure.detail();
    let acr_values = challenge_acr_values(policy);
    let mut challenge = format!(
        "Bearer realm=\"{realm}\", error=\"insufficient_user_authentication\", error_description=\"{detail}\", acr_values=\"{acr_values}\""
    );
    let mut problem = Problem::new(ErrorCode::MfaRequired, detail)
        .with_extension("acr_values", serde_json::json!(acr_values));
    if failure.about_max_age() {
        if let Some(max_age) = policy.max_age {
            challenge.push_str(&format!(", max_age=\"{max_age}\""));
            problem = problem.with_extension("max_age", serde_json::json!(max_age));
        }
    }
    problem.with_header("www-authenticate", challenge)
}

/// A route's `mfa`, `acr_values` and `max_age` options, or the errors (path, message) that make
/// them unusable. `auth` tells what the route accepts: a public route has no user to ask, and a
/// route for API keys only could never be passed.
pub fn parse_route_options(
    mfa: Option<&str>,
    acr_values: Option<&[String]>,
    max_age: Option<u64>,
    accepts_jwt: bool,
    path: &str,
) -> (Option<StepUpPolicy>, Vec<(String, String)>) {
    let mut errors = Vec::new();
    if mfa.is_none() && acr_values.is_none() && max_age.is_none() {
        return (None, errors);
    }
    let second_factor = match mfa {
        None => false,
        Some("required") => true,
        Some(_) => {
            errors.push((
                format!("{path}.mfa"),
                "must be \"required\" (leave it out for no second factor)".to_string(),
            ));
            false
        }
    };
    if acr_values.is_some_and(<[String]>::is_empty) {
        errors.push((
            format!("{path}.acr_values"),
            "must list at least one acr value (leave it out to accept any)".to_string(),
        ));
    }
    let acr_values = acr_values.map(<[String]>::to_vec).unwrap_or_default();
    for (i, v) in acr_values.iter().enumerate() {
        if !is_acr_value(v) {
            errors.push((
                format!("{path}.acr_values[{i}]"),
                "must be a non-empty string of printable ASCII without spaces, '\"' or '\\'"
                    .to_string(),
            ));
        }
    }
    if max_age == Some(0) {
        errors.push((
            format!("{path}.max_age"),
            "must be at least 1 second".to_string(),
        ));
    }
    if !accepts_jwt {
        errors.push((
            format!("{path}.auth"),
            "mfa, acr_values and max_age ask for a user's authentication: the route must accept jwt"
                .to_string(),
        ));
    }
    let policy = StepUpPolicy {
        second_factor,
        acr_values,
        max_age,
    };
    (errors.is_empty().then_some(policy), errors)
}

/// An `acr` value a challenge can carry inside its quoted, space-separated `acr_values`.
fn is_acr_value(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn user(amr: &[&str], acr: Option<&str>, auth_time: Option<u64>) -> Identity {
        Identity {
            method: AuthMethod::Jwt,
            subject: "u".into(),
            user_auth: UserAuthentication {
                amr: amr.iter().map(|s| s.to_string()).collect(),
                acr: acr.map(str::to_string),
                auth_time,
            },
            ..Identity::anonymous()
        }
    }

    fn mfa() -> StepUpPolicy {
        StepUpPolicy {
            second_factor: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_second_factor_is_one_of_the_documented_amr_values() {
        for factor in SECOND_FACTORS {
            assert_eq!(
                check(&mfa(), &user(&["pwd", factor], None, None), NOW),
                Ok(())
            );
        }
        for first_only in [
            &[][..],
            &["pwd"],
            &["pwd", "pin", "kba"],
            &["sms"],
            &["tel"],
            &["fpt"],
            &["face", "user"],
            &["OTP"],
        ] {
            assert_eq!(
                check(&mfa(), &user(first_only, None, None), NOW),
                Err(StepUpFailure::NoSecondFactor),
                "{first_only:?}"
            );
        }
    }

    #[test]
    fn an_api_key_has_no_user_factor() {
        let key = Identity {
            method: AuthMethod::ApiKey,
            key_id: Some("key_x".into()),
            ..Identity::anonymous()
        };
        let any = StepUpPolicy {
            max_age: Some(60),
            ..Default::default()
        };
        for policy in [mfa(), any] {
            assert_eq!(
                check(&policy, &key, NOW),
                Err(StepUpFailure::NoUserAuthentication)
            );
        }
    }

    #[test]
    fn acr_values_compare_exactly() {
        let policy = StepUpPolicy {
            acr_values: vec!["gold".into(), "urn:x:silver".into()],
            ..Default::default()
        };
        assert_eq!(check(&policy, &user(&[], Some("gold"), None), NOW), Ok(()));
        assert_eq!(
            check(&policy, &user(&[], Some("urn:x:silver"), None), NOW),
            Ok(())
        );
        assert_eq!(
            check(&policy, &user(&["mfa"], Some("Gold"), None), NOW),
            Err(StepUpFailure::AcrNotAccepted { present: true })
        );
        assert_eq!(
            check(&policy, &user(&["mfa"], None, None), NOW),
            Err(StepUpFailure::AcrNotAccepted { present: false })
        );
    }

    #[test]
    fn max_age_holds_auth_time_to_the_second() {
        let policy = StepUpPolicy {
            max_age: Some(300),
            ..Default::default()
        };
        assert_eq!(
            check(&policy, &user(&[], None, Some(NOW - 300)), NOW),
            Ok(())
        );
        assert_eq!(
            check(&policy, &user(&[], None, Some(NOW - 301)), NOW),
            Err(StepUpFailure::TooOld {
                age: 301,
                max_age: 300
            })
        );
        // Ahead of the clock: age 0.
        assert_eq!(check(&policy, &user(&[], None, Some(NOW + 5)), NOW), Ok(()));
        assert_eq!(
            check(&policy, &user(&["mfa"], None, None), NOW),
            Err(StepUpFailure::NoAuthTime)
        );
    }

    #[test]
    fn checks_run_in_a_fixed_order() {
        let all = StepUpPolicy {
            second_factor: true,
            acr_values: vec!["gold".into()],
            max_age: Some(60),
        };
        assert_eq!(
            check(&all, &user(&["pwd"], Some("bronze"), None), NOW),
            Err(StepUpFailure::NoSecondFactor)
        );
        assert_eq!(
            check(&all, &user(&["otp"], Some("bronze"), None), NOW),
            Err(StepUpFailure::AcrNotAccepted { present: true })
        );
        assert_eq!(
            check(&all, &user(&["otp"], Some("gold"), None), NOW),
            Err(StepUpFailure::NoAuthTime)
        );
        assert_eq!(
            check(&all, &user(&["otp"], Some("gold"), Some(NOW - 10)), NOW),
            Ok(())
        );
    }

    #[test]
    fn the_refusal_carries_the_rfc_9470_challenge() {
        let p = refusal("api", &mfa(), &StepUpFailure::NoSecondFactor);
        assert_eq!(p.code, ErrorCode::MfaRequired);
        let reply = p.reply();
        assert_eq!(reply.status, 401);
        assert_eq!(
            reply.header("www-authenticate"),
            Some(
                "Bearer realm=\"api\", error=\"insufficient_user_authentication\", \
                 error_description=\"this route requires a second factor: the token's amr names none\", \
                 acr_values=\"urn:portcullis:acr:mfa\""
            )
        );
        let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(body["code"], "mfa_required");
        assert_eq!(body["acr_values"], "urn:portcullis:acr:mfa");
        assert!(body.get("max_age").is_none());

        let aged = StepUpPolicy {
            acr_values: vec!["gold".into(), "silver".into()],
            max_age: Some(60),
            ..Default::default()
        };
        let p = refusal(
            "api",
            &aged,
            &StepUpFailure::TooOld {
                age: 61,
                max_age: 60,
            },
        );
        let challenge = p.reply().header("www-authenticate").unwrap().to_string();
        assert!(
            challenge.ends_with(", acr_values=\"gold silver\", max_age=\"60\""),
            "{challenge}"
        );
        // The age is not the reason: no max_age in the challenge.
        let p = refusal(
            "api",
            &aged,
            &StepUpFailure::AcrNotAccepted { present: false },
        );
        let challenge = p.reply().header("www-authenticate").unwrap().to_string();
        assert!(
            challenge.ends_with("acr_values=\"gold silver\""),
            "{challenge}"
        );
    }

    #[test]
    fn route_options_are_checked() {
        let (none, errors) = parse_route_options(None, None, None, true, "routes[0]");
        assert_eq!((none, errors.len()), (None, 0));
        let acr = vec!["gold".to_string()];
        let (policy, errors) =
            parse_route_options(Some("required"), Some(&acr), Some(600), true, "routes[0]");
        assert!(errors.is_empty());
        assert_eq!(
            policy,
            Some(StepUpPolicy {
                second_factor: true,
                acr_values: acr.clone(),
                max_age: Some(600)
            })
        );
        type Case<'a> = (Option<&'a str>, Vec<String>, Option<u64>, bool, &'a str);
        let bad: Vec<Case> = vec![
            (
                Some("optional"),
                vec!["a".into()],
                None,
                true,
                "routes[0].mfa",
            ),
            (None, vec![], None, true, "routes[0].acr_values"),
            (
                None,
                vec!["a b".into()],
                None,
                true,
                "routes[0].acr_values[0]",
            ),
            (
                None,
                vec!["a\"".into()],
                None,
                true,
                "routes[0].acr_values[0]",
            ),
            (None, vec!["ok".into()], Some(0), true, "routes[0].max_age"),
            (
                Some("required"),
                vec!["ok".into()],
                None,
                false,
                "routes[0].auth",
            ),
        ];
        for (mfa, acr, max_age, jwt, path) in bad {
            let (policy, errors) = parse_route_options(mfa, Some(&acr), max_age, jwt, "routes[0]");
            assert_eq!(policy, None);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].0, path);
        }
    }
}
