//! Listing and deleting a user's passkeys: the account page's two endpoints under the sessions
//! prefix, and what the admin API (`admin::passkeys`) shares with them (the listing's shape, the
//! credential id in a path).
//!
//! | endpoint | caller | answer |
//! |---|---|---|
//! | `GET /auth/passkeys` | a session's access token | 200 `{"passkeys": [...]}`: what is stored, nothing secret |
//! | `DELETE /auth/passkeys/{credential_id}` | the same, authenticated within `passkeys.delete_max_age_seconds` | 204; 404 `passkey_not_found` for an id that is not the caller's |
//!
//! Deleting is account-security-sensitive: a stolen access token alone must not remove the owner's
//! passkeys (and with them the owner's way back in). The caller's token must carry an `auth_time`
//! at most `delete_max_age_seconds` old, checked by the route step-up rule (`step_up`, RFC 9470
//! `max_age`) and refused the same way: 401 `mfa_required` with an
//! `insufficient_user_authentication` challenge naming `max_age`. A passkey or TOTP step-up, or a
//! new login, gives a token that passes.

use serde_json::{json, Value};

use super::client;
use super::endpoints::{Caller, SessionHooks};
use super::settings::PasskeySettings;
use super::store::CredentialRecord;
use super::PasskeyError;
use crate::identity::{AuthMethod, UserAuthentication};
use crate::jose::jws::B64URL;
use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
use crate::reply::Reply;
use crate::step_up::{self, StepUpPolicy};

/// An account-page endpoint (the path after the sessions prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManageEndpoint {
    /// `GET /passkeys`.
    List,
    /// `DELETE /passkeys/{credential_id}`.
    Delete,
}

impl ManageEndpoint {
    /// `/passkeys` or `/passkeys/{one segment}` after the prefix; `None` for any other path (the
    /// ceremonies' `/passkeys/register/options`… have two segments).
    pub(crate) fn at(rest: &str) -> Option<ManageEndpoint> {
        if rest == "/passkeys" {
            return Some(ManageEndpoint::List);
        }
        credential_segment(rest).map(|_| ManageEndpoint::Delete)
    }

    pub fn name(self) -> &'static str {
        match self {
            ManageEndpoint::List => "passkey-list",
            ManageEndpoint::Delete => "passkey-delete",
        }
    }

    /// The methods the endpoint takes: the listing is a GET, so HEAD too (RFC 9110 §9.3.2, as
    /// every GET of the gateway).
    pub fn methods(self) -> &'static [&'static str] {
        match self {
            ManageEndpoint::List => &["GET", "HEAD"],
            ManageEndpoint::Delete => &["DELETE"],
        }
    }
}

/// The `{credential_id}` of `/passkeys/{credential_id}`: one non-empty segment.
fn credential_segment(rest: &str) -> Option<&str> {
    rest.strip_prefix("/passkeys/")
        .filter(|s| !s.is_empty() && !s.contains('/'))
}

/// A credential id as a path carries it: exactly the base64url (no padding) the listing shows, of
/// 1 to 1023 octets (WebAuthn's bound). Returns the text and the octets. Anything else — padding,
/// percent-encoding, another alphabet — is no id at all: `passkey_request_invalid`.
pub(crate) fn credential_id_in_path(segment: &str) -> Result<(String, Vec<u8>), PasskeyError> {
    use base64::Engine as _;
    let invalid = PasskeyError::RequestInvalid(
        "the credential id in the path must be base64url without padding, as the listing shows it",
    );
    let raw = B64URL.decode(segment).map_err(|_| invalid.clone())?;
    if !(1..=1023).contains(&raw.len()) {
        return Err(invalid);
    }
    Ok((segment.to_string(), raw))
}

/// The public part of stored passkeys, as both the account page and the admin API list them: no
/// public key (useless to a reader), nothing secret.
pub(crate) fn listing(credentials: &[CredentialRecord]) -> Value {
    Value::Array(
        credentials
            .iter()
            .map(|c| {
                json!({
                    "credential_id": c.id,
                    "alg": c.alg.name(),
                    "created_at": c.created_at,
                    "last_used_at": c.last_used_at,
                    "backup_eligible": c.backup_eligible,
                    "backed_up": c.backed_up,
                    "transports": c.transports,
                    "aaguid": c.aaguid,
                    "attestation": c.attestation,
                    "sign_count": c.sign_count,
                })
            })
            .collect(),
    )
}

/// Serves an account-page call; `rest` is the path after the sessions prefix, `realm` the
/// gateway's (for the `max_age` challenge).
pub(crate) async fn serve<P: Platform, H: SessionHooks>(
    platform: &P,
    settings: &PasskeySettings,
    hooks: &H,
    endpoint: ManageEndpoint,
    rest: &str,
    realm: &str,
) -> Result<Reply, Problem> {
    if !settings.enabled {
        return Err(Problem::new(
            ErrorCode::RouteNotFound,
            "passkeys are not enabled on this gateway",
        ));
    }
    let caller = hooks.caller().await?;
    match endpoint {
        ManageEndpoint::List => {
            let credentials = client::list_credentials(platform, &caller.sub).await?;
            let mut reply = Reply::json(200, &json!({ "passkeys": listing(&credentials) }));
            reply.headers.push(("pragma".into(), "no-cache".into()));
            Ok(reply)
        }
        ManageEndpoint::Delete => {
            let segment = credential_segment(rest).ok_or(PasskeyError::NotFound)?;
            let (id, raw) = credential_id_in_path(segment)?;
            recent_authentication(settings, &caller, platform.now_secs(), realm)?;
            let steps = client::delete_credential_steps(platform, &caller.sub, &id, &raw).await?;
            let released = match steps.released {
                Ok(released) => released,
                Err(failure) => {
                    // The passkey is gone from the account all the same: recorded, then the
                    // 503 (the owner's retry releases the claim, docs/passkeys.md).
                    let problem = Problem::from(failure);
                    if steps.removed {
                        audit_deleted(platform, &caller, &id, Some(&problem));
                    }
                    return Err(problem);
                }
            };
            if !(steps.removed || released) {
                return Err(PasskeyError::NotFound.into());
            }
            audit_deleted(platform, &caller, &id, None);
            Ok(Reply {
                status: 204,
                headers: vec![("cache-control".into(), "no-store".into())],
                body: String::new(),
            })
        }
    }
}

/// The delete rule: the caller's `auth_time` within `delete_max_age_seconds`, as a route's
/// `max_age` (the same check, the same refusal and challenge).
fn recent_authentication(
    settings: &PasskeySettings,
    caller: &Caller,
    now_secs: u64,
    realm: &str,
) -> Result<(), Problem> {
    let policy = StepUpPolicy {
        max_age: Some(settings.delete_max_age_seconds),
        ..StepUpPolicy::default()
    };
    let auth = UserAuthentication {
        amr: caller.amr.clone(),
        acr: None,
        auth_time: caller.auth_time,
    };
    step_up::check_user(&policy, &auth, now_secs)
        .map_err(|failure| step_up::refusal(realm, &policy, &failure))
}

/// `{"audit":"passkey.deleted",…}`: the user removed one of their passkeys (never a key or token).
/// `failed`: the answer is that 503 — the claim's release failed after the removal — recorded as
/// the admin API records one (`outcome: "error"`, `status`, `code`) with `claim_released: false`.
fn audit_deleted<P: Platform>(
    platform: &P,
    caller: &Caller,
    credential_id: &str,
    failed: Option<&Problem>,
) {
    let mut line = json!({
        "audit": "passkey.deleted",
        "ts": platform.now_secs(),
        "actor": caller.sub,
        "actor_method": AuthMethod::Jwt.as_str(),
        "sid": caller.sid,
        "outcome": "success",
        "status": 204,
        "credential_id": credential_id,
        "claim_released": true,
    });
    if let Some(problem) = failed {
        line["outcome"] = json!("error");
        line["status"] = json!(problem.status());
        line["code"] = json!(problem.code.as_str());
        line["claim_released"] = json!(false);
    }
    platform.log(&line.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paths_are_the_list_and_one_credential() {
        assert_eq!(ManageEndpoint::at("/passkeys"), Some(ManageEndpoint::List));
        assert_eq!(
            ManageEndpoint::at("/passkeys/AAEC"),
            Some(ManageEndpoint::Delete)
        );
        // Whatever the segment: its shape is the endpoint's to judge (400, not 404).
        assert_eq!(
            ManageEndpoint::at("/passkeys/%41"),
            Some(ManageEndpoint::Delete)
        );
        for other in [
            "/passkeys/",
            "/passkeys//",
            "/passkeys/a/b",
            "/passkeys/register/options",
            "/passkeysx",
            "/passkey",
            "",
        ] {
            assert_eq!(ManageEndpoint::at(other), None, "{other}");
        }
        assert_eq!(ManageEndpoint::List.methods(), ["GET", "HEAD"]);
        assert_eq!(ManageEndpoint::Delete.methods(), ["DELETE"]);
    }

    #[test]
    fn a_credential_id_in_a_path_is_canonical_base64url() {
        assert_eq!(
            credential_id_in_path("AAEC-_8"),
            Ok(("AAEC-_8".to_string(), vec![0, 1, 2, 251, 255]))
        );
        let long = "A".repeat(1364); // 1023 octets
        assert_eq!(credential_id_in_path(&long).map(|(_, r)| r.len()), Ok(1023));
        for bad in [
            "AAEC-_8=",        // padding
            "AAEC+/8",         // the other alphabet
            "%41%41",          // percent-encoded
            "AB",              // non-zero trailing bits: not the canonical form of [0]
            "A",               // no whole octet
            &"A".repeat(1368), // 1026 octets
            "AA EC",
        ] {
            assert_eq!(
                credential_id_in_path(bad).map_err(|e| e.code()),
                Err(ErrorCode::PasskeyRequestInvalid),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_listing_shows_what_is_stored_and_no_key() {
        let record = CredentialRecord {
            id: "AAEC".into(),
            alg: super::super::cose::CoseAlg::EdDSA,
            public_key: json!({"kty": "OKP", "crv": "Ed25519", "x": "secret-looking"}),
            sign_count: 7,
            transports: vec!["internal".into(), "hybrid".into()],
            backup_eligible: true,
            backed_up: false,
            aaguid: "00".repeat(16),
            attestation: "none".into(),
            created_at: 100,
            last_used_at: Some(200),
        };
        assert_eq!(
            listing(&[record]),
            json!([{
                "credential_id": "AAEC",
                "alg": "EdDSA",
                "created_at": 100,
                "last_used_at": 200,
                "backup_eligible": true,
                "backed_up": false,
                "transports": ["internal", "hybrid"],
                "aaguid": "00".repeat(16),
                "attestation": "none",
                "sign_count": 7,
            }])
        );
    }
}
