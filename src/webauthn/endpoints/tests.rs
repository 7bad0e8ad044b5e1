//! The ceremonies end to end over the in-memory platform and store: registration, passkey login,
//! step-up, and every refusal a client can cause.

use std::cell::RefCell;

use base64::Engine as _;
use serde_json::{json, Value};

use super::*;
use crate::problem::ErrorCode;
use crate::testing::{block_on, FakePlatform};
use crate::webauthn::cose::CoseAlg;
use crate::webauthn::test_authenticator::Authenticator;

const RP: &str = "app.example";
const ORIGIN: &str = "https://app.example";

struct FakeHooks {
    caller: RefCell<Option<Caller>>,
    started: RefCell<Vec<(String, PasskeyAuthentication)>>,
}

impl FakeHooks {
    fn signed_in(sub: &str, sid: &str) -> FakeHooks {
        FakeHooks {
            caller: RefCell::new(Some(Caller {
                sub: sub.into(),
                sid: sid.into(),
                scope: "read:echo".into(),
                amr: vec!["pwd".into()],
                auth_time: None,
                binding: None,
            })),
            started: RefCell::new(Vec::new()),
        }
    }
}

impl SessionHooks for FakeHooks {
    async fn caller(&self) -> Result<Caller, Problem> {
        self.caller
            .borrow()
            .clone()
            .ok_or_else(|| Problem::new(ErrorCode::TokenMissing, "no token"))
    }
    async fn start_session(
        &self,
        sub: &str,
        how: &PasskeyAuthentication,
    ) -> Result<Reply, Problem> {
        self.started
            .borrow_mut()
            .push((sub.to_string(), how.clone()));
        Ok(Reply::json(200, &json!({"sub": sub, "amr": how.amr})))
    }
    async fn step_up(
        &self,
        caller: &Caller,
        how: &PasskeyAuthentication,
    ) -> Result<Reply, Problem> {
        let mut amr = caller.amr.clone();
        amr.extend(how.amr.iter().cloned());
        Ok(Reply::json(
            200,
            &json!({"sub": caller.sub, "sid": caller.sid, "amr": amr}),
        ))
    }
}

fn settings() -> PasskeySettings {
    PasskeySettings {
        enabled: true,
        rp_id: RP.into(),
        allowed_origins: vec![ORIGIN.into()],
        ..PasskeySettings::default()
    }
}

struct World {
    platform: FakePlatform,
    settings: PasskeySettings,
    hooks: FakeHooks,
}

impl World {
    fn new() -> World {
        World {
            platform: FakePlatform::new(1_700_000_000),
            settings: settings(),
            hooks: FakeHooks::signed_in("alice", "sid-1"),
        }
    }

    fn call(&self, endpoint: PasskeyEndpoint, body: &Value) -> Result<Value, (ErrorCode, u16)> {
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        match block_on(serve(
            &self.platform,
            &self.settings,
            &self.hooks,
            endpoint,
            &body,
        )) {
            Ok(reply) => {
                let mut v: Value = serde_json::from_str(&reply.body).unwrap();
                v["_status"] = json!(reply.status);
                Ok(v)
            }
            Err(p) => Err((p.code, p.status())),
        }
    }

    fn challenge(&self, endpoint: PasskeyEndpoint) -> Vec<u8> {
        let options = self.call(endpoint, &Value::Null).unwrap();
        B64URL
            .decode(options["publicKey"]["challenge"].as_str().unwrap())
            .unwrap()
    }

    fn register(&self, a: &Authenticator) -> Result<Value, (ErrorCode, u16)> {
        let challenge = self.challenge(PasskeyEndpoint::RegisterOptions);
        let (cd, object) = a.register(&challenge, ORIGIN, false);
        self.call(
            PasskeyEndpoint::RegisterVerify,
            &registration_body(a, &cd, &object),
        )
    }

    fn user_handle(&self) -> String {
        let options = self
            .call(PasskeyEndpoint::RegisterOptions, &Value::Null)
            .unwrap();
        options["publicKey"]["user"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn b64(b: &[u8]) -> String {
    B64URL.encode(b)
}

fn registration_body(a: &Authenticator, cd: &[u8], object: &[u8]) -> Value {
    json!({
        "id": b64(&a.credential_id), "rawId": b64(&a.credential_id), "type": "public-key",
        "response": {"clientDataJSON": b64(cd), "attestationObject": b64(object), "transports": ["internal", "bogus"]},
    })
}

fn assertion_body(
    a: &Authenticator,
    cd: &[u8],
    data: &[u8],
    sig: &[u8],
    handle: Option<&str>,
) -> Value {
    json!({
        "id": b64(&a.credential_id), "rawId": b64(&a.credential_id), "type": "public-key",
        "response": {"clientDataJSON": b64(cd), "authenticatorData": b64(data), "signature": b64(sig), "userHandle": handle},
    })
}

#[test]
fn register_then_log_in_then_step_up() {
    let w = World::new();
    let options = w
        .call(
            PasskeyEndpoint::RegisterOptions,
            &json!({"display_name": "Alice"}),
        )
        .unwrap();
    let pk = &options["publicKey"];
    assert_eq!(pk["rp"]["id"], RP);
    assert_eq!(pk["user"]["name"], "Alice");
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(pk["attestation"], "none");
    assert_eq!(
        pk["pubKeyCredParams"],
        json!([{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -8}, {"type": "public-key", "alg": -257}])
    );
    // The user handle is random, not the subject, and stays the user's.
    let handle = pk["user"]["id"].as_str().unwrap().to_string();
    assert_ne!(B64URL.decode(&handle).unwrap(), b"alice");
    assert_eq!(B64URL.decode(&handle).unwrap().len(), 32);

    let mut a = Authenticator::new(CoseAlg::ES256, RP);
    a.flags = flags::UP | flags::UV; // device-bound: hwk
    let challenge = B64URL.decode(pk["challenge"].as_str().unwrap()).unwrap();
    let (cd, object) = a.register(&challenge, ORIGIN, false);
    let registered = w
        .call(
            PasskeyEndpoint::RegisterVerify,
            &registration_body(&a, &cd, &object),
        )
        .unwrap();
    assert_eq!(registered["_status"], 201);
    assert_eq!(registered["credential_id"], b64(&a.credential_id));
    assert_eq!(registered["backup_eligible"], false);
    // Registered passkeys are excluded from the next registration's options.
    let again = w
        .call(PasskeyEndpoint::RegisterOptions, &Value::Null)
        .unwrap();
    assert_eq!(again["publicKey"]["user"]["id"], handle.as_str());
    assert_eq!(
        again["publicKey"]["excludeCredentials"],
        json!([{"type": "public-key", "id": b64(&a.credential_id), "transports": ["internal"]}])
    );

    // Passkey login: no caller; the session starts for the owner with hwk + user.
    *w.hooks.caller.borrow_mut() = None;
    let challenge = w.challenge(PasskeyEndpoint::LoginOptions);
    a.sign_count = 1;
    let (cd, data, sig) = a.assert(&challenge, ORIGIN);
    let session = w
        .call(
            PasskeyEndpoint::LoginVerify,
            &assertion_body(&a, &cd, &data, &sig, Some(&handle)),
        )
        .unwrap();
    assert_eq!(session["sub"], "alice");
    assert_eq!(session["amr"], json!(["hwk", "user"]));

    // Step-up on a live session: amr extended.
    *w.hooks.caller.borrow_mut() = FakeHooks::signed_in("alice", "sid-1").caller.into_inner();
    let options = w
        .call(PasskeyEndpoint::StepUpOptions, &Value::Null)
        .unwrap();
    assert_eq!(
        options["publicKey"]["allowCredentials"][0]["id"],
        b64(&a.credential_id)
    );
    let challenge = B64URL
        .decode(options["publicKey"]["challenge"].as_str().unwrap())
        .unwrap();
    let (cd, data, sig) = a.assert(&challenge, ORIGIN);
    let stepped = w
        .call(
            PasskeyEndpoint::StepUpVerify,
            &assertion_body(&a, &cd, &data, &sig, None),
        )
        .unwrap();
    assert_eq!(stepped["sid"], "sid-1");
    assert_eq!(stepped["amr"], json!(["pwd", "hwk", "user"]));
}

#[test]
fn a_synced_passkey_is_swk() {
    let w = World::new();
    let handle = w.user_handle();
    let mut a = Authenticator::new(CoseAlg::EdDSA, RP); // BE and BS set
    w.register(&a).unwrap();
    *w.hooks.caller.borrow_mut() = None;
    let challenge = w.challenge(PasskeyEndpoint::LoginOptions);
    let (cd, data, sig) = a.assert(&challenge, ORIGIN);
    let session = w
        .call(
            PasskeyEndpoint::LoginVerify,
            &assertion_body(&a, &cd, &data, &sig, Some(&handle)),
        )
        .unwrap();
    assert_eq!(session["amr"], json!(["swk", "user"]));
}

fn logged_in(w: &World, a: &mut Authenticator, handle: &str) -> Result<Value, (ErrorCode, u16)> {
    let challenge = w.challenge(PasskeyEndpoint::LoginOptions);
    let (cd, data, sig) = a.assert(&challenge, ORIGIN);
    w.call(
        PasskeyEndpoint::LoginVerify,
        &assertion_body(a, &cd, &data, &sig, Some(handle)),
    )
}

#[test]
fn a_replayed_challenge_is_refused() {
    let w = World::new();
    let handle = w.user_handle();
    let mut a = Authenticator::new(CoseAlg::ES256, RP);
    w.register(&a).unwrap();
    let challenge = w.challenge(PasskeyEndpoint::LoginOptions);
    let (cd, data, sig) = a.assert(&challenge, ORIGIN);
    let body = assertion_body(&a, &cd, &data, &sig, Some(&handle));
    assert!(w.call(PasskeyEndpoint::LoginVerify, &body).is_ok());
    assert_eq!(
        w.call(PasskeyEndpoint::LoginVerify, &body),
        Err((ErrorCode::PasskeyChallengeInvalid, 400))
    );
    // A registration answer replayed.
    let challenge = w.challenge(PasskeyEndpoint::RegisterOptions);
    let b = Authenticator {
        credential_id: vec![1; 16],
        ..Authenticator::new(CoseAlg::ES256, RP)
    };
    let (cd, object) = b.register(&challenge, ORIGIN, false);
    assert!(w
        .call(
            PasskeyEndpoint::RegisterVerify,
            &registration_body(&b, &cd, &object)
        )
        .is_ok());
    assert_eq!(
        w.call(
            PasskeyEndpoint::RegisterVerify,
            &registration_body(&b, &cd, &object)
        ),
        Err((ErrorCode::PasskeyChallengeInvalid, 400))
    );
    // A challenge never issued, and one expired.
    let (cd, data, sig) = a.assert(&[9; 32], ORIGIN);
    assert_eq!(
        w.call(
            PasskeyEndpoint::LoginVerify,
            &assertion_body(&a, &cd, &data, &sig, Some(&handle))
        ),
        Err((ErrorCode::PasskeyChallengeInvalid, 400))
    );
    let challenge = w.challenge(PasskeyEndpoint::LoginOptions);
    w.platform.advance_secs(301);
    let (cd, data, sig) = a.assert(&challenge, ORIGIN);
    assert_eq!(
        w.call(
            PasskeyEndpoint::LoginVerify,
            &assertion_body(&a, &cd, &data, &sig, Some(&handle))
        ),
        Err((ErrorCode::PasskeyChallengeInvalid, 400))
    );
}

#[test]
fn a_challenge_is_for_its_own_ceremony_user_and_session() {
    let w = World::new();
    let handle = w.user_handle();
    let mut a = Authenticator::new(CoseAlg::ES256, RP);
    w.register(&a).unwrap();
    // A login challenge answered on the step-up endpoint, and a step-up challenge on login.
    let login = w.challenge(PasskeyEndpoint::LoginOptions);
    let (cd, data, sig) = a.assert(&login, ORIGIN);
    assert_eq!(
        w.call(
            PasskeyEndpoint::StepUpVerify,
            &assertion_body(&a, &cd, &data, &sig, None)
        ),
        Err((ErrorCode::PasskeyChallengeInvalid, 400))
    );
    let step = w.challenge(PasskeyEndpoint::StepUpOptions);
    let (cd, data, sig) = a.assert(&step, ORIGIN);
    assert_eq!(
        w.call(
            PasskeyEndpoint::LoginVerify,
            &assertion_body(&a, &cd, &data, &sig, Some(&handle))
        ),
        Err((ErrorCode::PasskeyChallengeInvalid, 400))
    );
    // A step-up challenge of session 1 answered in session 2 of the same user.
    let step = w.challenge(PasskeyEndpoint::StepUpOptions);
    *w.hooks.caller.borrow_mut() = FakeHooks::signed_in("alice", "sid-2").caller.into_inner();
    let (cd, data, sig) = a.assert(&step, ORIGIN);
    assert_eq!(
        w.call(
            PasskeyEndpoint::StepUpVerify,
            &assertion_body(&a, &cd, &data, &sig, None)
        ),
        Err((ErrorCode::PasskeyChallengeInvalid, 400))
    );
    // A registration challenge of alice's answered by bob.
    *w.hooks.caller.borrow_mut() = FakeHooks::signed_in("alice", "sid-1").caller.into_inner();
    let reg = w.challenge(PasskeyEndpoint::RegisterOptions);
    *w.hooks.caller.borrow_mut() = FakeHooks::signed_in("bob", "sid-9").caller.into_inner();
    let b = Authenticator {
        credential_id: vec![2; 16],
        ..Authenticator::new(CoseAlg::ES256, RP)
    };
    let (cd, object) = b.register(&reg, ORIGIN, false);
    assert_eq!(
        w.call(
            PasskeyEndpoint::RegisterVerify,
            &registration_body(&b, &cd, &object)
        ),
        Err((ErrorCode::PasskeyChallengeInvalid, 400))
    );
}

#[test]
fn another_users_passkey_cannot_step_up_and_unknown_ones_cannot_log_in() {
    let w = World::new();
    let mut a = Authenticator::new(CoseAlg::ES256, RP);
    w.register(&a).unwrap();
    // bob has a passkey of his own (so he gets step-up options) but answers with alice's.
    *w.hooks.caller.borrow_mut() = FakeHooks::signed_in("bob", "sid-9").caller.into_inner();
    let b = Authenticator {
        credential_id: vec![2; 16],
        key: crate::webauthn::test_authenticator::TestKey::new(CoseAlg::ES256, 3),
        ..Authenticator::new(CoseAlg::ES256, RP)
    };
    w.register(&b).unwrap();
    let step = w.challenge(PasskeyEndpoint::StepUpOptions);
    let (cd, data, sig) = a.assert(&step, ORIGIN);
    assert_eq!(
        w.call(
            PasskeyEndpoint::StepUpVerify,
            &assertion_body(&a, &cd, &data, &sig, None)
        ),
        Err((ErrorCode::PasskeyCredentialUnknown, 401))
    );
    // A passkey never registered.
    let mut c = Authenticator {
        credential_id: vec![3; 16],
        ..Authenticator::new(CoseAlg::ES256, RP)
    };
    assert_eq!(
        logged_in(&w, &mut c, &b64(&[0; 32])),
        Err((ErrorCode::PasskeyCredentialUnknown, 401))
    );
    // A user without passkeys asks for step-up options.
    *w.hooks.caller.borrow_mut() = FakeHooks::signed_in("carol", "sid-5").caller.into_inner();
    assert_eq!(
        w.call(PasskeyEndpoint::StepUpOptions, &Value::Null),
        Err((ErrorCode::PasskeyCredentialUnknown, 401))
    );
    // The same credential id registered twice (by anyone).
    assert_eq!(
        w.register(&a),
        Err((ErrorCode::PasskeyCredentialExists, 409))
    );
}

#[test]
fn a_wrong_user_handle_is_refused_and_login_needs_one() {
    let w = World::new();
    w.user_handle();
    let mut a = Authenticator::new(CoseAlg::ES256, RP);
    w.register(&a).unwrap();
    assert_eq!(
        logged_in(&w, &mut a, &b64(&[7; 32])),
        Err((ErrorCode::PasskeyCredentialUnknown, 401))
    );
    let challenge = w.challenge(PasskeyEndpoint::LoginOptions);
    let (cd, data, sig) = a.assert(&challenge, ORIGIN);
    assert_eq!(
        w.call(
            PasskeyEndpoint::LoginVerify,
            &assertion_body(&a, &cd, &data, &sig, None)
        ),
        Err((ErrorCode::PasskeyRequestInvalid, 400))
    );
}

#[test]
fn a_counter_that_goes_back_is_refused_and_logged() {
    let w = World::new();
    let handle = w.user_handle();
    let mut a = Authenticator::new(CoseAlg::ES256, RP);
    a.sign_count = 10;
    w.register(&a).unwrap();
    assert!(logged_in(&w, &mut a, &handle).is_ok()); // 11
    let mut clone = Authenticator {
        sign_count: 9,
        ..Authenticator::new(CoseAlg::ES256, RP)
    };
    assert_eq!(
        logged_in(&w, &mut clone, &handle),
        Err((ErrorCode::PasskeyCounterRegressed, 401))
    ); // 10 ≤ 11
    let line = w
        .platform
        .logs
        .borrow()
        .iter()
        .find(|l| l.contains("passkey_counter_regressed"))
        .cloned()
        .unwrap();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        (
            v["subject"].as_str(),
            v["stored"].as_u64(),
            v["presented"].as_u64()
        ),
        (Some("alice"), Some(11), Some(10))
    );
    // The original goes on.
    assert!(logged_in(&w, &mut a, &handle).is_ok());
}

#[test]
fn refusals_of_the_client_data_and_the_authenticator() {
    let w = World::new();
    let handle = w.user_handle();
    let mut a = Authenticator::new(CoseAlg::ES256, RP);
    w.register(&a).unwrap();
    // Another origin: refused before the challenge is spent.
    let challenge = w.challenge(PasskeyEndpoint::LoginOptions);
    let (cd, data, sig) = a.assert(&challenge, "https://evil.example");
    assert_eq!(
        w.call(
            PasskeyEndpoint::LoginVerify,
            &assertion_body(&a, &cd, &data, &sig, Some(&handle))
        ),
        Err((ErrorCode::PasskeyOriginRefused, 403))
    );
    let (cd, data, sig) = a.assert(&challenge, ORIGIN);
    assert!(w
        .call(
            PasskeyEndpoint::LoginVerify,
            &assertion_body(&a, &cd, &data, &sig, Some(&handle))
        )
        .is_ok());
    // Another RP ID.
    let mut moved = Authenticator::new(CoseAlg::ES256, "evil.example");
    assert_eq!(
        logged_in(&w, &mut moved, &handle),
        Err((ErrorCode::PasskeyRpIdMismatch, 400))
    );
    // A tampered signature.
    let challenge = w.challenge(PasskeyEndpoint::LoginOptions);
    let (cd, data, mut sig) = a.assert(&challenge, ORIGIN);
    let n = sig.len() - 3;
    sig[n] ^= 0x40;
    assert_eq!(
        w.call(
            PasskeyEndpoint::LoginVerify,
            &assertion_body(&a, &cd, &data, &sig, Some(&handle))
        ),
        Err((ErrorCode::PasskeySignatureInvalid, 401))
    );
    // A registration's clientDataJSON on login.
    let challenge = w.challenge(PasskeyEndpoint::LoginOptions);
    let (cd, _) = a.register(&challenge, ORIGIN, false);
    let (_, data, sig) = a.assert(&challenge, ORIGIN);
    assert_eq!(
        w.call(
            PasskeyEndpoint::LoginVerify,
            &assertion_body(&a, &cd, &data, &sig, Some(&handle))
        ),
        Err((ErrorCode::PasskeyClientDataInvalid, 400))
    );
    // Malformed bodies.
    for body in [
        json!({}),
        json!({"id": "x"}),
        json!([1]),
        json!({"id": "AA", "rawId": "AB", "type": "public-key", "response": {"clientDataJSON": "", "authenticatorData": "", "signature": ""}}),
    ] {
        assert_eq!(
            w.call(PasskeyEndpoint::LoginVerify, &body),
            Err((ErrorCode::PasskeyRequestInvalid, 400)),
            "{body}"
        );
    }
    assert_eq!(
        w.call(
            PasskeyEndpoint::RegisterOptions,
            &json!({"display_name": ""})
        ),
        Err((ErrorCode::PasskeyRequestInvalid, 400))
    );
}

#[test]
fn registration_limits_and_session_requirements() {
    let mut w = World::new();
    w.settings.max_credentials_per_user = 1;
    w.register(&Authenticator::new(CoseAlg::ES256, RP)).unwrap();
    assert_eq!(
        w.call(PasskeyEndpoint::RegisterOptions, &Value::Null),
        Err((ErrorCode::PasskeyCredentialLimit, 409))
    );
    // No session: the token refusal comes back as it is.
    *w.hooks.caller.borrow_mut() = None;
    for e in [
        PasskeyEndpoint::RegisterOptions,
        PasskeyEndpoint::RegisterVerify,
        PasskeyEndpoint::StepUpOptions,
        PasskeyEndpoint::StepUpVerify,
    ] {
        assert_eq!(
            w.call(e, &Value::Null),
            Err((ErrorCode::TokenMissing, 401)),
            "{e:?}"
        );
    }
    // The store down: fail closed.
    w.platform.passkeys_down.set(true);
    assert_eq!(
        w.call(PasskeyEndpoint::LoginOptions, &Value::Null),
        Err((ErrorCode::PasskeyStoreUnavailable, 503))
    );
    // Disabled: not found.
    w.settings.enabled = false;
    assert_eq!(
        w.call(PasskeyEndpoint::LoginOptions, &Value::Null),
        Err((ErrorCode::RouteNotFound, 404))
    );
}

#[test]
fn uv_required_refuses_and_preferred_leaves_user_out_of_amr() {
    let mut w = World::new();
    let handle = w.user_handle();
    let mut a = Authenticator::new(CoseAlg::ES256, RP);
    a.flags = flags::UP;
    assert_eq!(
        w.register(&a),
        Err((ErrorCode::PasskeyUserVerificationMissing, 400))
    );
    w.settings.user_verification = UserVerification::Preferred;
    w.register(&a).unwrap();
    let session = logged_in(&w, &mut a, &handle).unwrap();
    assert_eq!(session["amr"], json!(["hwk"]));
    assert!(!w.hooks.started.borrow()[0].1.user_verified);
}

#[test]
fn endpoints_parse_from_the_path() {
    assert_eq!(
        PasskeyEndpoint::parse("/passkeys/login/options"),
        Some(PasskeyEndpoint::LoginOptions)
    );
    assert_eq!(
        PasskeyEndpoint::parse("/passkeys/step-up/verify"),
        Some(PasskeyEndpoint::StepUpVerify)
    );
    assert_eq!(PasskeyEndpoint::parse("/passkeys/login"), None);
    assert_eq!(PasskeyEndpoint::parse("/passkeys/login/options/"), None);
}

// ------------------------------------------------------------------ listing and deleting

impl World {
    fn manage(&self, endpoint: ManageEndpoint, rest: &str) -> Result<Reply, Problem> {
        block_on(crate::webauthn::manage::serve(
            &self.platform,
            &self.settings,
            &self.hooks,
            endpoint,
            rest,
            "portcullis",
        ))
    }

    fn sign_in(&self, sub: &str, auth_time: Option<u64>) {
        let mut caller = FakeHooks::signed_in(sub, "sid-1")
            .caller
            .into_inner()
            .unwrap();
        caller.auth_time = auth_time;
        *self.hooks.caller.borrow_mut() = Some(caller);
    }

    fn listed_ids(&self) -> Vec<String> {
        let reply = self.manage(ManageEndpoint::List, "/passkeys").unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        let body: Value = serde_json::from_str(&reply.body).unwrap();
        body["passkeys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["credential_id"].as_str().unwrap().to_string())
            .collect()
    }
}

use crate::webauthn::manage::ManageEndpoint;

#[test]
fn a_deleted_passkey_is_gone_from_the_list_and_logs_in_as_unknown() {
    let w = World::new();
    let now = w.platform.now_secs();
    w.sign_in("alice", Some(now));
    let handle = w.user_handle();
    let mut a = Authenticator::new(CoseAlg::ES256, RP);
    let mut b = Authenticator::new(CoseAlg::EdDSA, RP);
    b.credential_id = vec![0xb0; 16];
    w.register(&a).unwrap();
    w.register(&b).unwrap();
    assert_eq!(
        w.listed_ids(),
        [b64(&a.credential_id), b64(&b.credential_id)]
    );
    // bob cannot delete alice's passkey: not found, as for an id nobody has.
    w.sign_in("bob", Some(now));
    assert_eq!(w.listed_ids(), Vec::<String>::new());
    let path = format!("/passkeys/{}", b64(&a.credential_id));
    for p in [path.as_str(), "/passkeys/AAAA"] {
        let refused = w.manage(ManageEndpoint::Delete, p).unwrap_err();
        assert_eq!(
            (refused.code, refused.status()),
            (ErrorCode::PasskeyNotFound, 404)
        );
    }
    // alice, recently authenticated: 204, and the list shows the other one only.
    w.sign_in("alice", Some(now));
    let deleted = w.manage(ManageEndpoint::Delete, &path).unwrap();
    assert_eq!((deleted.status, deleted.body.as_str()), (204, ""));
    let audit: Value = serde_json::from_str(w.platform.logs.borrow().last().unwrap()).unwrap();
    assert_eq!(audit["audit"], "passkey.deleted");
    assert_eq!(audit["credential_id"], b64(&a.credential_id));
    assert_eq!(w.listed_ids(), [b64(&b.credential_id)]);
    assert_eq!(
        w.manage(ManageEndpoint::Delete, &path).unwrap_err().code,
        ErrorCode::PasskeyNotFound
    );
    // Logging in with it: the same refusal as a passkey never registered.
    *w.hooks.caller.borrow_mut() = None;
    let challenge = w.challenge(PasskeyEndpoint::LoginOptions);
    a.sign_count = 1;
    let (cd, data, sig) = a.assert(&challenge, ORIGIN);
    assert_eq!(
        w.call(
            PasskeyEndpoint::LoginVerify,
            &assertion_body(&a, &cd, &data, &sig, Some(&handle)),
        ),
        Err((ErrorCode::PasskeyCredentialUnknown, 401))
    );
}

#[test]
fn deleting_needs_a_recent_authentication() {
    let w = World::new();
    let now = w.platform.now_secs();
    w.sign_in("alice", Some(now));
    let a = Authenticator::new(CoseAlg::ES256, RP);
    w.register(&a).unwrap();
    let path = format!("/passkeys/{}", b64(&a.credential_id));
    for auth_time in [None, Some(now - 301)] {
        w.sign_in("alice", auth_time);
        let refused = w.manage(ManageEndpoint::Delete, &path).unwrap_err();
        assert_eq!(
            (refused.code, refused.status()),
            (ErrorCode::MfaRequired, 401)
        );
        let challenge = refused
            .headers
            .iter()
            .find(|(n, _)| n == "www-authenticate")
            .map(|(_, v)| v.as_str())
            .unwrap();
        assert!(
            challenge.starts_with(
                "Bearer realm=\"portcullis\", error=\"insufficient_user_authentication\""
            ) && challenge.ends_with(", max_age=\"300\""),
            "{challenge}"
        );
        assert!(refused
            .extensions
            .contains(&("max_age".to_string(), json!(300))));
    }
    // Still listed: nothing was deleted. A bad id is refused before the age is even asked.
    assert_eq!(w.listed_ids().len(), 1);
    assert_eq!(
        w.manage(ManageEndpoint::Delete, "/passkeys/AB=")
            .unwrap_err()
            .code,
        ErrorCode::PasskeyRequestInvalid
    );
    // Exactly max_age old still passes.
    w.sign_in("alice", Some(now - 300));
    assert_eq!(w.manage(ManageEndpoint::Delete, &path).unwrap().status, 204);
    // No session: the token codes; passkeys off: 404.
    *w.hooks.caller.borrow_mut() = None;
    assert_eq!(
        w.manage(ManageEndpoint::List, "/passkeys")
            .unwrap_err()
            .code,
        ErrorCode::TokenMissing
    );
    let mut off = World::new();
    off.settings.enabled = false;
    assert_eq!(
        off.manage(ManageEndpoint::List, "/passkeys")
            .unwrap_err()
            .code,
        ErrorCode::RouteNotFound
    );
}

#[test]
fn the_store_down_fails_closed_on_list_and_delete() {
    let w = World::new();
    w.sign_in("alice", Some(w.platform.now_secs()));
    w.platform.passkeys_down.set(true);
    for (endpoint, path) in [
        (ManageEndpoint::List, "/passkeys"),
        (ManageEndpoint::Delete, "/passkeys/AAAA"),
    ] {
        let refused = w.manage(endpoint, path).unwrap_err();
        assert_eq!(
            (refused.code, refused.status()),
            (ErrorCode::PasskeyStoreUnavailable, 503)
        );
    }
}

#[test]
fn a_claim_left_by_an_interrupted_delete_is_released_by_the_next() {
    use crate::platform::Platform as _;
    let w = World::new();
    w.sign_in("alice", Some(w.platform.now_secs()));
    let a = Authenticator::new(CoseAlg::ES256, RP);
    w.register(&a).unwrap();
    // The first step of a delete ran (the user's object dropped the credential), the release
    // never did: a claim naming alice and no credential.
    let dropped = block_on(w.platform.passkey_call(
        &client::user_object("alice"),
        json!({"user_delete": {"id": b64(&a.credential_id)}}).to_string(),
    ))
    .unwrap();
    assert!(dropped.starts_with("{\"deleted\""), "{dropped}");
    assert_eq!(
        block_on(client::credential_owner(&w.platform, &a.credential_id)),
        Ok(Some("alice".into()))
    );
    assert_eq!(w.listed_ids(), Vec::<String>::new());
    // bob's delete of the id releases nothing: not found.
    w.sign_in("bob", Some(w.platform.now_secs()));
    let path = format!("/passkeys/{}", b64(&a.credential_id));
    assert_eq!(
        w.manage(ManageEndpoint::Delete, &path).unwrap_err().code,
        ErrorCode::PasskeyNotFound
    );
    assert_eq!(
        block_on(client::credential_owner(&w.platform, &a.credential_id)),
        Ok(Some("alice".into()))
    );
    // alice's retry: 204, and the claim is gone (the id could be registered again).
    w.sign_in("alice", Some(w.platform.now_secs()));
    assert_eq!(w.manage(ManageEndpoint::Delete, &path).unwrap().status, 204);
    assert_eq!(
        block_on(client::credential_owner(&w.platform, &a.credential_id)),
        Ok(None)
    );
    assert_eq!(
        w.manage(ManageEndpoint::Delete, &path).unwrap_err().code,
        ErrorCode::PasskeyNotFound
    );
    w.register(&a).unwrap();
}

#[test]
fn a_removal_whose_release_fails_is_audited_with_its_503() {
    use crate::platform::Platform as _;
    let w = World::new();
    w.sign_in("alice", Some(w.platform.now_secs()));
    let a = Authenticator::new(CoseAlg::ES256, RP);
    w.register(&a).unwrap();
    // The claim's object answers a release out of contract: released, then another kind of state.
    let claim = client::credential_object(&a.credential_id);
    for request in [
        json!({"credential_release": {"subject": "alice"}}),
        json!({"user_ensure": {"handle": "x"}}),
    ] {
        block_on(w.platform.passkey_call(&claim, request.to_string())).unwrap();
    }
    let path = format!("/passkeys/{}", b64(&a.credential_id));
    let refused = w.manage(ManageEndpoint::Delete, &path).unwrap_err();
    assert_eq!(
        (refused.code, refused.status()),
        (ErrorCode::PasskeyStoreUnavailable, 503)
    );
    assert_eq!(w.listed_ids(), Vec::<String>::new());
    let audit: Value = serde_json::from_str(w.platform.logs.borrow().last().unwrap()).unwrap();
    assert_eq!(audit["audit"], "passkey.deleted");
    assert_eq!(audit["credential_id"], b64(&a.credential_id));
    assert_eq!(
        (&audit["outcome"], &audit["status"], &audit["code"]),
        (
            &json!("error"),
            &json!(503),
            &json!("passkey_store_unavailable")
        )
    );
    assert_eq!(audit["claim_released"], json!(false));
    // Nothing removed, the release failing: no audit line, the 503 alone.
    let logged = w.platform.logs.borrow().len();
    let refused = w.manage(ManageEndpoint::Delete, &path).unwrap_err();
    assert_eq!(refused.code, ErrorCode::PasskeyStoreUnavailable);
    assert_eq!(w.platform.logs.borrow().len(), logged);
}
