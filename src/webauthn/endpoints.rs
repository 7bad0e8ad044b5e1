//! The six passkey endpoints under the sessions prefix (default `/auth`):
//!
//! | endpoint | caller | answer |
//! |---|---|---|
//! | `POST /auth/passkeys/register/options` | a session's access token | creation options (a challenge for this user) |
//! | `POST /auth/passkeys/register/verify` | the same session | 201, the passkey is registered |
//! | `POST /auth/passkeys/login/options` | anyone | request options (a challenge tied to no user: discoverable login) |
//! | `POST /auth/passkeys/login/verify` | anyone | a new session: the token response and the refresh cookie |
//! | `POST /auth/passkeys/step-up/options` | a session's access token | request options for this user's passkeys |
//! | `POST /auth/passkeys/step-up/verify` | the same session | a new access token in the same session, `amr` extended |
//!
//! What the session machinery provides (the caller's verified token, starting a session, minting
//! a stepped-up token) comes through `SessionHooks`, so the ceremonies here are tested natively
//! with the in-memory platform. Options are the WebAuthn Level 3 JSON forms
//! (`PublicKeyCredentialCreationOptionsJSON`, `…RequestOptionsJSON`), responses the
//! `RegistrationResponseJSON` / `AuthenticationResponseJSON` a browser's `credential.toJSON()` gives.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use super::client;
use super::client_data::{check_origin, parse_client_data, Ceremony, ClientData};
use super::cose::CredentialKey;
use super::flags;
use super::settings::{PasskeySettings, UserVerification};
use super::store::{ChallengeRecord, CredentialRecord, Purpose};
use super::verify::{verify_assertion, verify_registration, Policy};
use super::PasskeyError;
use crate::jose::jws::B64URL;
use crate::platform::Platform;
use crate::problem::Problem;
use crate::reply::Reply;

/// A passkey endpoint (the path after the sessions prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyEndpoint {
    RegisterOptions,
    RegisterVerify,
    LoginOptions,
    LoginVerify,
    StepUpOptions,
    StepUpVerify,
}

impl PasskeyEndpoint {
    /// `/passkeys/…` after the prefix; `None` for any other path.
    pub(crate) fn parse(rest: &str) -> Option<PasskeyEndpoint> {
        Some(match rest {
            "/passkeys/register/options" => PasskeyEndpoint::RegisterOptions,
            "/passkeys/register/verify" => PasskeyEndpoint::RegisterVerify,
            "/passkeys/login/options" => PasskeyEndpoint::LoginOptions,
            "/passkeys/login/verify" => PasskeyEndpoint::LoginVerify,
            "/passkeys/step-up/options" => PasskeyEndpoint::StepUpOptions,
            "/passkeys/step-up/verify" => PasskeyEndpoint::StepUpVerify,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            PasskeyEndpoint::RegisterOptions => "passkey-register-options",
            PasskeyEndpoint::RegisterVerify => "passkey-register-verify",
            PasskeyEndpoint::LoginOptions => "passkey-login-options",
            PasskeyEndpoint::LoginVerify => "passkey-login-verify",
            PasskeyEndpoint::StepUpOptions => "passkey-step-up-options",
            PasskeyEndpoint::StepUpVerify => "passkey-step-up-verify",
        }
    }
}

/// The caller of a registration or step-up: a live session of the gateway's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    pub(crate) sub: String,
    pub(crate) sid: String,
    /// Space-separated.
    pub(crate) scope: String,
    pub(crate) amr: Vec<String>,
    /// The token's `auth_time` (Unix seconds): deleting a passkey needs a recent one (`manage`).
    pub(crate) auth_time: Option<u64>,
    /// The session's binding (its token's `cnf`): a step-up's token keeps it.
    pub(crate) binding: Option<crate::identity::Confirmation>,
}

/// How a passkey authenticated the user, for the token it leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PasskeyAuthentication {
    /// `hwk` or `swk` (RFC 8176), then `user` when the authenticator verified the user.
    pub(crate) amr: Vec<String>,
    /// Unix seconds.
    pub(crate) auth_time: u64,
    pub(crate) user_verified: bool,
}

/// What the ceremonies need from the sessions: implemented over `session::` by the gateway.
#[allow(async_fn_in_trait)]
pub(crate) trait SessionHooks {
    /// The request's access token, verified, from the gateway's own issuer and with a `sid`;
    /// otherwise the refusal (a missing or bad token gets the token codes).
    async fn caller(&self) -> Result<Caller, Problem>;
    /// Starts a session for `sub` (passkey login): the token response with the refresh cookie.
    async fn start_session(&self, sub: &str, how: &PasskeyAuthentication)
        -> Result<Reply, Problem>;
    /// A new access token in the caller's session with `amr` extended (step-up).
    async fn step_up(&self, caller: &Caller, how: &PasskeyAuthentication)
        -> Result<Reply, Problem>;
}

/// Serves one call whose body has been read (the dispatcher caps it).
pub(crate) async fn serve<P: Platform, H: SessionHooks>(
    platform: &P,
    settings: &PasskeySettings,
    hooks: &H,
    endpoint: PasskeyEndpoint,
    body: &[u8],
) -> Result<Reply, Problem> {
    if !settings.enabled {
        return Err(Problem::new(
            crate::problem::ErrorCode::RouteNotFound,
            "passkeys are not enabled on this gateway",
        ));
    }
    let ceremony = Ceremonies {
        platform,
        settings,
        hooks,
    };
    match endpoint {
        PasskeyEndpoint::RegisterOptions => ceremony.register_options(body).await,
        PasskeyEndpoint::RegisterVerify => ceremony.register_verify(body).await,
        PasskeyEndpoint::LoginOptions => ceremony.login_options().await,
        PasskeyEndpoint::LoginVerify => ceremony.login_verify(body).await,
        PasskeyEndpoint::StepUpOptions => ceremony.step_up_options().await,
        PasskeyEndpoint::StepUpVerify => ceremony.step_up_verify(body).await,
    }
}

struct Ceremonies<'a, P, H> {
    platform: &'a P,
    settings: &'a PasskeySettings,
    hooks: &'a H,
}

// ------------------------------------------------------------------ request bodies

#[derive(Deserialize, Default)]
#[serde(default)]
struct RegisterOptionsBody {
    /// Shown by the authenticator beside the RP name; the subject when absent.
    display_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CredentialBody<R> {
    id: String,
    raw_id: String,
    #[serde(rename = "type")]
    kind: String,
    response: R,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttestationResponseBody {
    #[serde(rename = "clientDataJSON")]
    client_data_json: String,
    attestation_object: String,
    #[serde(default)]
    transports: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssertionResponseBody {
    #[serde(rename = "clientDataJSON")]
    client_data_json: String,
    authenticator_data: String,
    signature: String,
    #[serde(default)]
    user_handle: Option<String>,
}

/// The transports a browser reports (WebAuthn §5.8.4), kept for `allowCredentials` hints.
const TRANSPORTS: &[&str] = &["usb", "nfc", "ble", "smart-card", "hybrid", "internal"];

fn decode(field: &'static str, value: &str) -> Result<Vec<u8>, PasskeyError> {
    B64URL
        .decode(value)
        .map_err(|_| PasskeyError::RequestInvalid(field))
}

fn parse_body<'de, T: Deserialize<'de>>(body: &'de [u8]) -> Result<T, PasskeyError> {
    serde_json::from_slice(body)
        .map_err(|_| PasskeyError::RequestInvalid("the body is not the expected JSON"))
}

/// The credential id, from `rawId`, which must agree with `id` (both base64url).
fn credential_id<R>(c: &CredentialBody<R>) -> Result<Vec<u8>, PasskeyError> {
    if c.kind != "public-key" {
        return Err(PasskeyError::RequestInvalid("type is not \"public-key\""));
    }
    let raw = decode("rawId is not base64url", &c.raw_id)?;
    if raw.is_empty() || decode("id is not base64url", &c.id)? != raw {
        return Err(PasskeyError::RequestInvalid("id and rawId differ"));
    }
    Ok(raw)
}

// ------------------------------------------------------------------ the ceremonies

impl<P: Platform, H: SessionHooks> Ceremonies<'_, P, H> {
    fn policy(&self) -> Policy {
        Policy {
            rp_id_hash: self.settings.rp_id_hash(),
            user_verification_required: self.settings.user_verification
                == UserVerification::Required,
            algorithms: self.settings.cose_algorithms(),
        }
    }

    fn timeout_ms(&self) -> u64 {
        self.settings.challenge_ttl_seconds * 1000
    }

    /// A fresh challenge (32 octets from the CSPRNG), stored single-use with its deadline.
    async fn issue_challenge(
        &self,
        purpose: Purpose,
        subject: Option<&str>,
        sid: Option<&str>,
    ) -> Result<String, PasskeyError> {
        let mut challenge = [0u8; 32];
        self.platform.random_bytes(&mut challenge);
        let record = ChallengeRecord {
            purpose,
            subject: subject.map(str::to_string),
            sid: sid.map(str::to_string),
            expires_at_ms: self.platform.now_ms() + self.timeout_ms(),
        };
        client::put_challenge(self.platform, &challenge, record).await?;
        Ok(B64URL.encode(challenge))
    }

    /// The client data checks that need no state (type, origin), then the challenge taken from the
    /// store: it must be outstanding and issued for this ceremony (and this user and session).
    async fn client_data_and_challenge(
        &self,
        raw: &[u8],
        ceremony: Ceremony,
        purpose: Purpose,
        caller: Option<&Caller>,
    ) -> Result<ClientData, PasskeyError> {
        let data = parse_client_data(raw, ceremony)?;
        check_origin(
            &data,
            &self.settings.allowed_origins,
            &self.settings.allowed_top_origins,
        )?;
        let record = client::take_challenge(self.platform, &data.challenge)
            .await?
            .ok_or(PasskeyError::ChallengeInvalid)?;
        let issued_to = (record.subject.as_deref(), record.sid.as_deref());
        let expected = match (purpose, caller) {
            (Purpose::Login, _) => (None, None),
            (Purpose::Register, Some(c)) => (Some(c.sub.as_str()), None),
            (Purpose::StepUp, Some(c)) => (Some(c.sub.as_str()), Some(c.sid.as_str())),
            _ => return Err(PasskeyError::ChallengeInvalid),
        };
        if record.purpose != purpose || issued_to != expected {
            return Err(PasskeyError::ChallengeInvalid);
        }
        Ok(data)
    }

    async fn register_options(&self, body: &[u8]) -> Result<Reply, Problem> {
        let caller = self.hooks.caller().await?;
        let options: RegisterOptionsBody = if body.iter().all(u8::is_ascii_whitespace) {
            RegisterOptionsBody::default()
        } else {
            parse_body(body)?
        };
        let display_name = match options.display_name {
            None => caller.sub.clone(),
            Some(n)
                if (1..=64).contains(&n.chars().count()) && !n.chars().any(char::is_control) =>
            {
                n
            }
            Some(_) => {
                return Err(PasskeyError::RequestInvalid(
                    "display_name must be 1 to 64 characters without control characters",
                )
                .into())
            }
        };
        let mut handle = [0u8; 32];
        self.platform.random_bytes(&mut handle);
        let user = client::ensure_user(self.platform, &caller.sub, B64URL.encode(handle)).await?;
        if user.credentials.len() >= self.settings.max_credentials_per_user {
            return Err(PasskeyError::CredentialLimit.into());
        }
        let challenge = self
            .issue_challenge(Purpose::Register, Some(&caller.sub), None)
            .await?;
        let params: Vec<Value> = self
            .settings
            .cose_algorithms()
            .iter()
            .map(|a| json!({"type": "public-key", "alg": a.id()}))
            .collect();
        Ok(options_reply(json!({
            "rp": {"id": self.settings.rp_id, "name": self.settings.rp_name},
            "user": {"id": user.handle, "name": display_name, "displayName": display_name},
            "challenge": challenge,
            "pubKeyCredParams": params,
            "timeout": self.timeout_ms(),
            "excludeCredentials": descriptors(&user.credentials),
            "authenticatorSelection": {
                "residentKey": "required",
                "requireResidentKey": true,
                "userVerification": self.settings.user_verification.as_str(),
            },
            "attestation": "none",
        })))
    }

    async fn register_verify(&self, body: &[u8]) -> Result<Reply, Problem> {
        let caller = self.hooks.caller().await?;
        let credential: CredentialBody<AttestationResponseBody> = parse_body(body)?;
        let id = credential_id(&credential)?;
        let cd_raw = decode(
            "clientDataJSON is not base64url",
            &credential.response.client_data_json,
        )?;
        let object = decode(
            "attestationObject is not base64url",
            &credential.response.attestation_object,
        )?;
        self.client_data_and_challenge(&cd_raw, Ceremony::Create, Purpose::Register, Some(&caller))
            .await?;
        let verified = verify_registration(self.platform, &self.policy(), &cd_raw, &object).await?;
        if verified.id != id {
            return Err(
                PasskeyError::RequestInvalid("rawId is not the attested credential id").into(),
            );
        }
        let mut transports: Vec<String> = credential
            .response
            .transports
            .into_iter()
            .filter(|t| TRANSPORTS.contains(&t.as_str()))
            .collect();
        transports.dedup();
        let record = CredentialRecord {
            id: B64URL.encode(&verified.id),
            alg: verified.key.alg,
            public_key: verified.key.jwk.to_webcrypto_jwk(),
            sign_count: verified.sign_count,
            transports,
            backup_eligible: verified.flags & flags::BE != 0,
            backed_up: verified.flags & flags::BS != 0,
            aaguid: verified.aaguid.iter().map(|b| format!("{b:02x}")).collect(),
            attestation: verified.attestation.to_string(),
            created_at: self.platform.now_secs(),
            last_used_at: None,
        };
        let answer = json!({
            "credential_id": record.id,
            "alg": record.alg.name(),
            "backup_eligible": record.backup_eligible,
            "attestation": record.attestation,
        });
        client::register_credential(
            self.platform,
            &caller.sub,
            &verified.id,
            record,
            self.settings.max_credentials_per_user,
        )
        .await?;
        let mut reply = Reply::json(201, &answer);
        reply.headers.push(("pragma".into(), "no-cache".into()));
        Ok(reply)
    }

    async fn login_options(&self) -> Result<Reply, Problem> {
        let challenge = self.issue_challenge(Purpose::Login, None, None).await?;
        Ok(options_reply(json!({
            "challenge": challenge,
            "timeout": self.timeout_ms(),
            "rpId": self.settings.rp_id,
            "allowCredentials": [],
            "userVerification": self.settings.user_verification.as_str(),
        })))
    }

    async fn step_up_options(&self) -> Result<Reply, Problem> {
        let caller = self.hooks.caller().await?;
        let credentials = client::get_user(self.platform, &caller.sub)
            .await?
            .map(|u| u.credentials)
            .unwrap_or_default();
        if credentials.is_empty() {
            return Err(PasskeyError::CredentialUnknown.into());
        }
        let challenge = self
            .issue_challenge(Purpose::StepUp, Some(&caller.sub), Some(&caller.sid))
            .await?;
        Ok(options_reply(json!({
            "challenge": challenge,
            "timeout": self.timeout_ms(),
            "rpId": self.settings.rp_id,
            "allowCredentials": descriptors(&credentials),
            "userVerification": self.settings.user_verification.as_str(),
        })))
    }

    async fn login_verify(&self, body: &[u8]) -> Result<Reply, Problem> {
        let (subject, how) = self.assertion(body, Purpose::Login, None).await?;
        self.hooks.start_session(&subject, &how).await
    }

    async fn step_up_verify(&self, body: &[u8]) -> Result<Reply, Problem> {
        let caller = self.hooks.caller().await?;
        let (_, how) = self.assertion(body, Purpose::StepUp, Some(&caller)).await?;
        self.hooks.step_up(&caller, &how).await
    }

    /// §7.2: an assertion for a login (any user's passkey, found by its id) or a step-up (one of
    /// the caller's). Returns the passkey's owner and how it authenticated.
    async fn assertion(
        &self,
        body: &[u8],
        purpose: Purpose,
        caller: Option<&Caller>,
    ) -> Result<(String, PasskeyAuthentication), PasskeyError> {
        let credential: CredentialBody<AssertionResponseBody> = parse_body(body)?;
        let id = credential_id(&credential)?;
        let r = &credential.response;
        let cd_raw = decode("clientDataJSON is not base64url", &r.client_data_json)?;
        let auth_data = decode("authenticatorData is not base64url", &r.authenticator_data)?;
        let signature = decode("signature is not base64url", &r.signature)?;
        // A discoverable login identifies the user by the passkey alone: its user handle must be
        // there and be the user's (§7.2 step 6).
        let user_handle = match &r.user_handle {
            Some(h) if !h.is_empty() => Some(decode("userHandle is not base64url", h)?),
            _ if purpose == Purpose::Login => {
                return Err(PasskeyError::RequestInvalid(
                    "userHandle is required for a passkey login",
                ))
            }
            _ => None,
        };
        self.client_data_and_challenge(&cd_raw, Ceremony::Get, purpose, caller)
            .await?;
        let owner = client::credential_owner(self.platform, &id)
            .await?
            .ok_or(PasskeyError::CredentialUnknown)?;
        if caller.is_some_and(|c| c.sub != owner) {
            return Err(PasskeyError::CredentialUnknown);
        }
        let user = client::get_user(self.platform, &owner)
            .await?
            .ok_or(PasskeyError::CredentialUnknown)?;
        if user_handle.is_some_and(|h| B64URL.encode(h) != user.handle) {
            return Err(PasskeyError::CredentialUnknown);
        }
        let id_text = B64URL.encode(&id);
        let record = user
            .credentials
            .iter()
            .find(|c| c.id == id_text)
            .ok_or(PasskeyError::CredentialUnknown)?;
        let key = stored_key(record)?;
        let data = verify_assertion(
            self.platform,
            &self.policy(),
            &key,
            &cd_raw,
            &auth_data,
            &signature,
        )
        .await?;
        let used = client::use_credential(
            self.platform,
            &owner,
            &id_text,
            data.sign_count,
            data.has(flags::BS),
        )
        .await;
        if used == Err(PasskeyError::CounterRegressed) {
            crate::log::emit(
                self.platform,
                crate::log::Event::PasskeyCounterRegressed {
                    subject: &owner,
                    credential_id: &id_text,
                    stored: record.sign_count,
                    presented: data.sign_count,
                },
            );
        }
        let used = used?;
        let user_verified = data.has(flags::UV);
        let mut amr = vec![if used.backup_eligible { "swk" } else { "hwk" }.to_string()];
        if user_verified {
            amr.push("user".to_string());
        }
        Ok((
            owner,
            PasskeyAuthentication {
                amr,
                auth_time: self.platform.now_secs(),
                user_verified,
            },
        ))
    }
}

/// A stored key, read back (its JWK went through the JWK rules when registered).
fn stored_key(record: &CredentialRecord) -> Result<CredentialKey, PasskeyError> {
    let mut jwk = record.public_key.clone();
    jwk["alg"] = Value::String(record.alg.jose().as_str().to_string());
    let jwk = crate::jose::jwk::parse_jwk(&jwk).map_err(|_| PasskeyError::StoreUnavailable)?;
    Ok(CredentialKey {
        alg: record.alg,
        jwk,
    })
}

fn descriptors(credentials: &[CredentialRecord]) -> Vec<Value> {
    credentials
        .iter()
        .map(|c| json!({"type": "public-key", "id": c.id, "transports": c.transports}))
        .collect()
}

/// Options carry a live challenge: never cached.
fn options_reply(public_key: Value) -> Reply {
    let mut reply = Reply::json(200, &json!({ "publicKey": public_key }));
    reply.headers.push(("pragma".into(), "no-cache".into()));
    reply
}

#[cfg(test)]
mod tests;
