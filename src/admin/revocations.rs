//! The revocation endpoints of the admin API (under the admin prefix, same authentication and
//! `admin.scope` as the rest of it):
//!
//! | method | path                      | body                          | answer                        |
//! |--------|---------------------------|-------------------------------|-------------------------------|
//! | POST   | /revocations/tokens       | `{jti, exp, iss?}`            | 201 (200 if already revoked) `{version, created, entry}` |
//! | POST   | /revocations/subjects     | `{sub, iss?, before?}`        | same                          |
//! | POST   | /revocations/keys         | `{key_id, until?}`            | same                          |
//! | GET    | /revocations              |                               | 200 `{version, now, tokens, subjects, keys, sessions}` (active entries) |
//!
//! Writes go to the revocation Durable Object (strongly consistent, through
//! `revocation::client`) and are applied to this isolate's snapshot at once; other isolates pick
//! them up within the propagation bound. Every call's audit line is `revocation.<action>`.

use std::cell::RefCell;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::IssuerConfig;
use crate::log::{self, Event};
use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
use crate::revocation::client::{self, RevocationWrite};
use crate::revocation::service::MAX_ID_LEN;
use crate::revocation::{RevocationSettings, SnapshotCache};

use super::audit::Audit;
use super::{bad_request, parse_body, Answer};

/// Latest `exp` accepted: ten years ahead.
const MAX_AHEAD_SECS: u64 = 10 * 365 * 86_400;

/// What the revocation endpoints need from the gateway.
pub struct RevocationAdmin<'a> {
    pub settings: &'a RevocationSettings,
    /// The trusted issuers: their leeway and longest token lifetime bound each entry's `until`.
    pub issuers: &'a [IssuerConfig],
    /// This isolate's snapshot, which a write reaches at once.
    pub snapshot: &'a RefCell<SnapshotCache>,
}

pub(super) enum Action {
    List,
    Token,
    Subject,
    Key,
}

impl Action {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Action::List => "revocation.list",
            Action::Token => "revocation.token",
            Action::Subject => "revocation.subject",
            Action::Key => "revocation.key",
        }
    }

    pub(super) fn method(&self) -> &'static str {
        match self {
            Action::List => "GET",
            _ => "POST",
        }
    }
}

/// `/revocations…` → its action, or the 404 for an unknown one below it; `None` for any other
/// admin path.
pub(super) fn route(path: &str) -> Option<Result<Action, Problem>> {
    let rest = crate::path::under_prefix(path, "/revocations")?;
    Some(match rest {
        "" | "/" => Ok(Action::List),
        "/tokens" => Ok(Action::Token),
        "/subjects" => Ok(Action::Subject),
        "/keys" => Ok(Action::Key),
        _ => Err(Problem::new(
            ErrorCode::RouteNotFound,
            "the revocation API serves /revocations, /revocations/tokens, /revocations/subjects and /revocations/keys",
        )),
    })
}

pub(super) async fn run<P: Platform>(
    rev: &RevocationAdmin<'_>,
    platform: &P,
    action: &Action,
    body: &[u8],
    audit: &mut Audit,
) -> Result<Answer, Problem> {
    let now_ms = platform.now_ms();
    let now = now_ms / 1000;
    let write = match action {
        Action::List => {
            let snap = client::full_snapshot(platform)
                .await
                .map_err(|e| unavailable(platform, &e))?;
            audit.add(
                "count",
                json!(
                    snap.tokens.len() + snap.subjects.len() + snap.keys.len() + snap.sessions.len()
                ),
            );
            return Ok(Answer::json(
                200,
                json!({
                    "version": snap.version,
                    "now": now,
                    "tokens": snap.tokens,
                    "subjects": snap.subjects,
                    "keys": snap.keys,
                    "sessions": snap.sessions,
                }),
            ));
        }
        Action::Token => {
            let b: TokenBody = parse_body(body, false)?;
            check_id("jti", &b.jti)?;
            let leeway = rev.issuer_leeway(b.iss.as_deref())?;
            if b.exp > now + MAX_AHEAD_SECS {
                return Err(bad_request("exp: more than 10 years ahead"));
            }
            let until = b.exp + leeway;
            if until <= now {
                return Err(bad_request(
                    "exp: the token has expired (leeway included) and is refused already",
                ));
            }
            RevocationWrite::Token {
                jti: b.jti,
                iss: b.iss,
                until,
            }
        }
        Action::Subject => {
            let b: SubjectBody = parse_body(body, false)?;
            check_id("sub", &b.sub)?;
            let leeway = rev.issuer_leeway(b.iss.as_deref())?;
            let lifetime = rev.issuer_max_lifetime(b.iss.as_deref());
            // Default: this second, rounded up, so every token issued before the call is covered.
            let latest = now_ms.div_ceil(1000);
            let before = b.before.unwrap_or(latest);
            if before > latest {
                return Err(bad_request("before: must not be in the future"));
            }
            // Every token the gateway accepts lives at most `max_token_lifetime_seconds` from its
            // `iat` (checked on the request path), so none issued before `before` outlives this.
            let until = before + lifetime + leeway;
            if until <= now {
                return Err(bad_request(
                    "before: every token issued before it has expired already (issuers[].max_token_lifetime_seconds)",
                ));
            }
            RevocationWrite::Subject {
                sub: b.sub,
                iss: b.iss,
                before,
                until,
            }
        }
        Action::Key => {
            let b: KeyBody = parse_body(body, false)?;
            if !crate::api_key::format::is_valid_key_id(&b.key_id) {
                return Err(bad_request(
                    "key_id: not an API key id (key_ followed by 16 base62 characters)",
                ));
            }
            let until = b
                .until
                .unwrap_or(now + rev.settings.key_revocation_ttl_secs);
            if until <= now || until > now + 400 * 86_400 {
                return Err(bad_request("until: must lie in the next 400 days"));
            }
            RevocationWrite::Key {
                key_id: b.key_id,
                until,
            }
        }
    };
    // The audit line names what was written: the entry's identifiers and bounds.
    if let Value::Object(fields) = write.body() {
        for (name, value) in fields {
            audit.add(&name, value);
        }
    }
    let written = client::write(platform, &write)
        .await
        .map_err(|e| unavailable(platform, &e))?;
    audit.add("version", json!(written.version));
    audit.add("created", json!(written.created));
    // This isolate enforces the revocation at once, without waiting for its next refresh.
    written.apply_locally(&mut rev.snapshot.borrow_mut().set);
    Ok(Answer::json(
        if written.created { 201 } else { 200 },
        json!({"version": written.version, "created": written.created, "entry": written.entry}),
    ))
}

/// `POST /keys/{id}/revoke` (the key API) marks the key revoked in its ledger object, which writes
/// KV; that takes up to KV propagation + the key cache TTL (90 s with defaults) to reach every
/// isolate. A revoked key is also put on the revocation list (the router runs this on the
/// revoke's `Effect::KeyRevoked`), so it is refused everywhere within the revocation bound (≈ 1 s
/// under traffic). A failure here leaves the KV revocation in force and is logged.
pub(super) async fn mirror_key_revocation<P: Platform>(
    rev: &RevocationAdmin<'_>,
    platform: &P,
    key_id: &str,
) {
    if !rev.settings.enabled {
        return;
    }
    let until = platform.now_secs() + rev.settings.key_revocation_ttl_secs;
    let write = RevocationWrite::Key {
        key_id: key_id.to_string(),
        until,
    };
    match client::write(platform, &write).await {
        Ok(w) => {
            w.apply_locally(&mut rev.snapshot.borrow_mut().set);
            log::emit(
                platform,
                Event::ApiKeyRevocationListed {
                    key_id,
                    until,
                    version: w.version,
                },
            );
        }
        Err(why) => log::emit(
            platform,
            Event::RevocationMirrorFailed {
                key_id,
                reason: &why,
            },
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    jti: String,
    exp: u64,
    #[serde(default)]
    iss: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectBody {
    sub: String,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    before: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    key_id: String,
    #[serde(default)]
    until: Option<u64>,
}

fn check_id(field: &str, v: &str) -> Result<(), Problem> {
    if v.is_empty() || v.len() > MAX_ID_LEN {
        Err(bad_request(format!("{field}: 1 to {MAX_ID_LEN} bytes")))
    } else {
        Ok(())
    }
}

impl RevocationAdmin<'_> {
    /// The leeway tokens of `iss` get past their `exp` (the largest of all issuers when `iss` is
    /// not given). An `iss` the gateway does not trust is refused: it can only be a typo.
    fn issuer_leeway(&self, iss: Option<&str>) -> Result<u64, Problem> {
        match iss {
            None => Ok(self
                .issuers
                .iter()
                .map(|i| i.leeway_secs)
                .max()
                .unwrap_or(0)),
            Some(iss) => self
                .issuers
                .iter()
                .find(|i| i.issuer == iss)
                .map(|i| i.leeway_secs)
                .ok_or_else(|| bad_request("iss: not an issuer this gateway trusts")),
        }
    }

    /// The longest token lifetime the gateway accepts from `iss` (all issuers when `None`); `iss`
    /// was checked by `issuer_leeway` already.
    fn issuer_max_lifetime(&self, iss: Option<&str>) -> u64 {
        self.issuers
            .iter()
            .filter(|i| iss.is_none_or(|iss| i.issuer == iss))
            .map(|i| i.max_token_lifetime_secs)
            .max()
            .unwrap_or(0)
    }
}

fn unavailable<P: Platform>(platform: &P, why: &str) -> Problem {
    log::emit(platform, Event::RevocationUnavailable { reason: why });
    Problem::new(
        ErrorCode::RevocationUnavailable,
        "the revocation list could not be reached; nothing was confirmed, retry shortly",
    )
    .with_header("retry-after", "5")
}

#[cfg(test)]
mod tests {
    //! Through `Gateway::admin`, the way the runtime calls the admin API.

    use serde_json::Value;

    use crate::admin::MAX_BODY_BYTES;
    use crate::config::parse_config;
    use crate::identity::{AuthMethod, Identity};
    use crate::jose::jwk::Jwk;
    use crate::pipeline::{AdminCall, Gateway, Reply};
    use crate::revocation::set::CredentialFacts;
    use crate::testing::{block_on, FakePlatform};

    use super::*;

    const NOW: u64 = 1_800_000_000;
    const ISS: &str = "https://id.example.com";
    const KEY_ID: &str = "key_4EOI1o24YN4G7bR7";

    fn gateway() -> Gateway<Jwk> {
        let config = parse_config(&json!({
            "origin": "http://127.0.0.1:9000",
            "issuers": [
                {"issuer": ISS, "audiences": ["api"], "algorithms": ["ES256"], "leeway_seconds": 30, "max_token_lifetime_seconds": 3600},
                {"issuer": "https://other.example.com", "audiences": ["api"], "algorithms": ["ES256"], "leeway_seconds": 60, "max_token_lifetime_seconds": 7200},
            ],
            "revocation": {"key_revocation_ttl_seconds": 600},
            "routes": [{"methods": ["GET"], "path": "/x", "auth": ["jwt"]}],
        }))
        .unwrap();
        Gateway::new(config)
    }

    fn admin() -> Identity {
        Identity {
            method: AuthMethod::Jwt,
            subject: "ops".into(),
            issuer: Some(ISS.into()),
            scopes: vec!["portcullis:admin".into()],
            ..Identity::anonymous()
        }
    }

    fn call(
        gw: &Gateway<Jwk>,
        p: &FakePlatform,
        method: &str,
        path: &str,
        body: &str,
    ) -> Option<(u16, Value, Reply)> {
        let call = AdminCall {
            actor: admin(),
            request_id: crate::request_id::RequestId::assign(None, |b| b.fill(7)),
            path: path.to_string(),
            query: None,
            idempotency_key: None,
        };
        let r = block_on(gw.admin(p, &call, method, body.as_bytes()));
        Some((
            r.status,
            serde_json::from_str(&r.body).unwrap_or(Value::Null),
            r,
        ))
    }

    fn last_audit(p: &FakePlatform) -> Value {
        let logs = p.logs.borrow();
        let line = logs.iter().rev().find(|l| l.contains("\"audit\"")).unwrap();
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn revoke_a_token() {
        let gw = gateway();
        let p = FakePlatform::new(NOW);
        let (s, v, r) = call(
            &gw,
            &p,
            "POST",
            "/revocations/tokens",
            &json!({"jti": "j1", "exp": NOW + 300}).to_string(),
        )
        .unwrap();
        assert_eq!(s, 201);
        // Without an issuer the longest leeway (60 s) applies.
        assert_eq!(
            v,
            json!({"version": 1, "created": true, "entry": {"jti": "j1", "until": NOW + 360, "v": 1}})
        );
        assert_eq!(
            r.headers,
            vec![
                ("content-type".to_string(), "application/json".to_string()),
                ("cache-control".to_string(), "no-store".to_string())
            ]
        );
        let a = last_audit(&p);
        assert_eq!(
            (
                a["audit"].as_str(),
                a["actor"].as_str(),
                a["outcome"].as_str(),
                a["jti"].as_str()
            ),
            (
                Some("revocation.token"),
                Some("ops"),
                Some("success"),
                Some("j1")
            )
        );
        // This isolate enforces it at once, without claiming the object's version.
        let c = gw.revocation.borrow();
        assert!(c
            .set
            .check(
                &CredentialFacts {
                    jti: Some("j1"),
                    iss: Some(ISS),
                    ..Default::default()
                },
                NOW
            )
            .is_some());
        assert_eq!(c.set.version, 0);
        drop(c);
        let (s, v, _) = call(
            &gw,
            &p,
            "POST",
            "/revocations/tokens",
            &json!({"jti": "j1", "exp": NOW + 10, "iss": ISS}).to_string(),
        )
        .unwrap();
        assert_eq!(
            (s, v["entry"]["until"].as_u64(), v["entry"]["iss"].as_str()),
            (201, Some(NOW + 40), Some(ISS))
        );
        let (s, v, _) = call(
            &gw,
            &p,
            "POST",
            "/revocations/tokens",
            &json!({"jti": "j1", "exp": NOW + 10, "iss": ISS}).to_string(),
        )
        .unwrap();
        assert_eq!((s, v["created"].as_bool()), (200, Some(false)));
    }

    #[test]
    fn revoke_a_subject_and_a_key() {
        let gw = gateway();
        let p = FakePlatform::new(NOW);
        p.now_ms.set(NOW * 1000 + 1);
        let (s, v, _) = call(
            &gw,
            &p,
            "POST",
            "/revocations/subjects",
            &json!({"sub": "alice", "iss": ISS}).to_string(),
        )
        .unwrap();
        assert_eq!(s, 201);
        // `before` is this second rounded up: a token issued earlier in it is covered.
        assert_eq!(
            v["entry"],
            json!({"sub": "alice", "iss": ISS, "before": NOW + 1, "until": NOW + 1 + 3600 + 30, "v": 1})
        );
        let (s, v, _) = call(
            &gw,
            &p,
            "POST",
            "/revocations/subjects",
            &json!({"sub": "bob", "before": NOW - 100}).to_string(),
        )
        .unwrap();
        assert_eq!(s, 201);
        // No `iss`: kept for the longest lifetime and leeway of any issuer.
        assert_eq!(v["entry"]["until"].as_u64(), Some(NOW - 100 + 7200 + 60));
        let (s, v, _) = call(
            &gw,
            &p,
            "POST",
            "/revocations/keys",
            &json!({"key_id": KEY_ID}).to_string(),
        )
        .unwrap();
        assert_eq!((s, v["entry"]["until"].as_u64()), (201, Some(NOW + 600)));
        let (s, v, _) = call(&gw, &p, "GET", "/revocations", "").unwrap();
        assert_eq!(s, 200);
        assert_eq!(v["version"], 3);
        assert_eq!(v["subjects"].as_array().unwrap().len(), 2);
        assert_eq!(v["keys"][0]["key_id"], KEY_ID);
        assert_eq!(last_audit(&p)["count"], 3);
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        let gw = gateway();
        let p = FakePlatform::new(NOW);
        for (path, body, needle) in [
            (
                "/revocations/tokens",
                json!({"jti": "j"}).to_string(),
                "exp",
            ),
            (
                "/revocations/tokens",
                json!({"jti": "", "exp": NOW + 5}).to_string(),
                "jti",
            ),
            (
                "/revocations/tokens",
                json!({"jti": "j", "exp": NOW - 31, "iss": ISS}).to_string(),
                "expired",
            ),
            (
                "/revocations/tokens",
                json!({"jti": "j", "exp": NOW + 5, "iss": "https://evil.example"}).to_string(),
                "iss",
            ),
            (
                "/revocations/tokens",
                json!({"jti": "j", "exp": NOW + 5, "extra": 1}).to_string(),
                "unknown field",
            ),
            ("/revocations/tokens", "[1]".to_string(), "JSON object"),
            ("/revocations/tokens", "".to_string(), "JSON object"),
            (
                "/revocations/subjects",
                json!({"sub": "a", "before": NOW + 5}).to_string(),
                "future",
            ),
            (
                "/revocations/subjects",
                json!({"sub": "a", "before": NOW - 7300}).to_string(),
                "expired already",
            ),
            (
                "/revocations/keys",
                json!({"key_id": "key_short"}).to_string(),
                "key_id",
            ),
            (
                "/revocations/keys",
                json!({"key_id": KEY_ID, "until": NOW}).to_string(),
                "until",
            ),
        ] {
            let (s, v, r) = call(&gw, &p, "POST", path, &body).unwrap();
            assert_eq!(
                (s, v["code"].as_str()),
                (400, Some("request_invalid")),
                "{path} {body}"
            );
            assert!(
                v["detail"].as_str().unwrap().contains(needle),
                "{path} {body}: {v}"
            );
            assert_eq!(r.header("content-type"), Some("application/problem+json"));
            assert_eq!(last_audit(&p)["outcome"], "refused");
        }
        assert_eq!(
            p.durable.revocation_calls.get(),
            0,
            "nothing reached the object"
        );
    }

    #[test]
    fn routing() {
        let gw = gateway();
        let p = FakePlatform::new(NOW);
        // Anything but `/revocations…` is the key API's.
        assert_eq!(call(&gw, &p, "GET", "/keys", "").unwrap().0, 200);
        let (s, v, _) = call(&gw, &p, "GET", "/revocationsx", "").unwrap();
        assert_eq!((s, v["code"].as_str()), (404, Some("route_not_found")));
        assert_eq!(last_audit(&p)["audit"], "admin.unknown_route");
        let (s, v, _) = call(&gw, &p, "GET", "/revocations/other", "").unwrap();
        assert_eq!((s, v["code"].as_str()), (404, Some("route_not_found")));
        assert_eq!(last_audit(&p)["audit"], "revocation.unknown_route");
        let (s, v, r) = call(&gw, &p, "GET", "/revocations/tokens", "").unwrap();
        assert_eq!((s, v["status"].as_u64()), (405, Some(405)));
        assert_eq!(r.header("allow"), Some("POST"));
        let (s, _, r) = call(&gw, &p, "DELETE", "/revocations", "").unwrap();
        assert_eq!(s, 405);
        assert_eq!(r.header("allow"), Some("GET"));
        let big = format!("{{\"jti\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        assert_eq!(
            call(&gw, &p, "POST", "/revocations/tokens", &big)
                .unwrap()
                .0,
            413
        );
    }

    #[test]
    fn a_key_revoked_through_the_key_api_is_listed_too() {
        let gw = gateway();
        let p = FakePlatform::new(NOW);
        let (s, created, _) = call(&gw, &p, "POST", "/keys", r#"{"client_id": "c"}"#).unwrap();
        assert_eq!(s, 201);
        let id = created["record"]["key_id"].as_str().unwrap().to_string();
        let path = format!("/keys/{id}/revoke");
        // Reading a key and a refused revoke leave the list alone.
        assert_eq!(
            call(&gw, &p, "GET", &format!("/keys/{id}"), "").unwrap().0,
            200
        );
        let unknown = "/keys/key_AAAAAAAAAAAAAAAA/revoke";
        assert_eq!(call(&gw, &p, "POST", unknown, "").unwrap().0, 404);
        assert_eq!(p.durable.revocation_calls.get(), 0);
        let (s, _, _) = call(&gw, &p, "POST", &path, "").unwrap();
        assert_eq!(s, 200);
        let facts = CredentialFacts {
            key_id: Some(&id),
            ..Default::default()
        };
        assert!(
            gw.revocation.borrow().set.check(&facts, NOW).is_some(),
            "this isolate at once"
        );
        let (_, v, _) = call(&gw, &p, "GET", "/revocations", "").unwrap();
        assert_eq!(
            v["keys"][0],
            json!({"key_id": id, "until": NOW + 600, "v": 1})
        );
        assert!(p
            .logs
            .borrow()
            .iter()
            .any(|l| l.contains("api_key_revocation_listed")));
        assert_eq!(p.durable.revocation_calls.get(), 2, "one write, one list");
        // An unreachable list is logged; the KV revocation stands and the revoke still succeeds.
        p.durable.down.set(true);
        assert_eq!(call(&gw, &p, "POST", &path, "").unwrap().0, 200);
        assert!(p
            .logs
            .borrow()
            .iter()
            .any(|l| l.contains("revocation_mirror_failed")));
    }

    #[test]
    fn a_disabled_revocation_list_mirrors_nothing() {
        let mut gw = gateway();
        gw.config.revocation.enabled = false;
        let p = FakePlatform::new(NOW);
        let (_, created, _) = call(&gw, &p, "POST", "/keys", r#"{"client_id": "c"}"#).unwrap();
        let id = created["record"]["key_id"].as_str().unwrap();
        let (s, _, _) = call(&gw, &p, "POST", &format!("/keys/{id}/revoke"), "").unwrap();
        assert_eq!(s, 200);
        assert_eq!(p.durable.revocation_calls.get(), 0);
    }

    #[test]
    fn an_unreachable_object_is_a_503() {
        let gw = gateway();
        let p = FakePlatform::new(NOW);
        p.durable.down.set(true);
        let (s, v, r) = call(
            &gw,
            &p,
            "POST",
            "/revocations/tokens",
            &json!({"jti": "j", "exp": NOW + 5}).to_string(),
        )
        .unwrap();
        assert_eq!(
            (s, v["code"].as_str()),
            (503, Some("revocation_unavailable"))
        );
        assert_eq!(r.header("retry-after"), Some("5"));
        assert_eq!(last_audit(&p)["outcome"], "error");
        assert!(
            gw.revocation.borrow().set.is_empty(),
            "nothing applied locally"
        );
        assert_eq!(call(&gw, &p, "GET", "/revocations", "").unwrap().0, 503);
    }
}
