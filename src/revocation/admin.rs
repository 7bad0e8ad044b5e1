//! The revocation endpoints of the admin API (under the admin prefix, same authentication and
//! `admin.scope` as the rest of it):
//!
//! | method | path                      | body                          | answer                        |
//! |--------|---------------------------|-------------------------------|-------------------------------|
//! | POST   | /revocations/tokens       | `{jti, exp, iss?}`            | 201 (200 if already revoked) `{version, created, entry}` |
//! | POST   | /revocations/subjects     | `{sub, iss?, before?}`        | same                          |
//! | POST   | /revocations/keys         | `{key_id, until?}`            | same                          |
//! | GET    | /revocations              |                               | 200 `{version, now, tokens, subjects, keys}` (active entries) |
//!
//! Writes go to the revocation Durable Object (strongly consistent) and are applied to this
//! isolate's snapshot at once; other isolates pick them up within the propagation bound. Every call
//! writes one audit line (`{"audit": "revocation.<action>", …}`).

use serde::Deserialize;
use serde_json::{json, Value};

use crate::admin::{AdminRequest, AdminResponse, MAX_BODY_BYTES};
use crate::identity::Identity;
use crate::pipeline::Gateway;
use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};

use super::service::MAX_ID_LEN;
use super::set::{KeyEntry, RevocationSet, Snapshot, SubjectEntry, TokenEntry};

/// Latest `exp` accepted: ten years ahead.
const MAX_AHEAD_SECS: u64 = 10 * 365 * 86_400;

enum Action {
    List,
    Token,
    Subject,
    Key,
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Action::List => "revocation.list",
            Action::Token => "revocation.token",
            Action::Subject => "revocation.subject",
            Action::Key => "revocation.key",
        }
    }

    fn method(&self) -> &'static str {
        match self {
            Action::List => "GET",
            _ => "POST",
        }
    }
}

/// Serves `/revocations…`; `None` for any other admin path.
pub async fn handle_revocation<K: Clone, P: Platform<Key = K>>(
    gw: &Gateway<K>,
    platform: &P,
    req: &AdminRequest<'_>,
    actor: &Identity,
) -> Option<AdminResponse> {
    let rest = req.path.strip_prefix("/revocations")?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let action = match rest {
        "" | "/" => Action::List,
        "/tokens" => Action::Token,
        "/subjects" => Action::Subject,
        "/keys" => Action::Key,
        _ => {
            let response = problem(
                &Problem::new(
                    ErrorCode::RouteNotFound,
                    "the revocation API serves /revocations, /revocations/tokens, /revocations/subjects and /revocations/keys",
                ),
                None,
            );
            crate::admin::audit_line(
                platform,
                actor,
                "revocation.unknown_route",
                &serde_json::Map::new(),
                &response,
            );
            return Some(response);
        }
    };
    let mut fields = serde_json::Map::new();
    let response = if !req.method.eq_ignore_ascii_case(action.method()) {
        let mut r = problem(
            &Problem::new(
                ErrorCode::RequestInvalid,
                format!(
                    "method {} is not allowed here; allowed: {}",
                    req.method,
                    action.method()
                ),
            ),
            Some(405),
        );
        r.headers.push(("allow", action.method().to_string()));
        r
    } else if req.body.len() > MAX_BODY_BYTES {
        problem(
            &Problem::new(
                ErrorCode::RequestInvalid,
                format!("the request body is over {MAX_BODY_BYTES} bytes"),
            ),
            Some(413),
        )
    } else {
        run(gw, platform, &action, req.body, &mut fields)
            .await
            .unwrap_or_else(|r| r)
    };
    crate::admin::audit_line(platform, actor, action.name(), &fields, &response);
    Some(response)
}

async fn run<K: Clone, P: Platform<Key = K>>(
    gw: &Gateway<K>,
    platform: &P,
    action: &Action,
    body: &[u8],
    fields: &mut serde_json::Map<String, Value>,
) -> Result<AdminResponse, AdminResponse> {
    let settings = &gw.config.revocation;
    let now_ms = platform.now_ms();
    let now = now_ms / 1000;
    let (path, write) = match action {
        Action::List => {
            let text = platform
                .revocation_call("GET", "/snapshot?since=0", None)
                .await
                .map_err(|e| unavailable(platform, &e.0))?;
            let snap: Snapshot =
                serde_json::from_str(&text).map_err(|e| unavailable(platform, &e.to_string()))?;
            fields.insert(
                "count".into(),
                json!(snap.tokens.len() + snap.subjects.len() + snap.keys.len()),
            );
            return Ok(json_response(
                200,
                json!({
                    "version": snap.version,
                    "now": now,
                    "tokens": snap.tokens,
                    "subjects": snap.subjects,
                    "keys": snap.keys,
                }),
            ));
        }
        Action::Token => {
            let b: TokenBody = parse_body(body)?;
            check_id("jti", &b.jti)?;
            let leeway = issuer_leeway(gw, b.iss.as_deref())?;
            if b.exp > now + MAX_AHEAD_SECS {
                return Err(bad_request("exp: more than 10 years ahead"));
            }
            let until = b.exp + leeway;
            if until <= now {
                return Err(bad_request(
                    "exp: the token has expired (leeway included) and is refused already",
                ));
            }
            fields.insert("jti".into(), json!(b.jti));
            fields.insert("iss".into(), json!(b.iss));
            fields.insert("until".into(), json!(until));
            (
                "/tokens",
                json!({"jti": b.jti, "iss": b.iss, "until": until}),
            )
        }
        Action::Subject => {
            let b: SubjectBody = parse_body(body)?;
            check_id("sub", &b.sub)?;
            let leeway = issuer_leeway(gw, b.iss.as_deref())?;
            let lifetime = issuer_max_lifetime(gw, b.iss.as_deref());
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
            fields.insert("sub".into(), json!(b.sub));
            fields.insert("iss".into(), json!(b.iss));
            fields.insert("before".into(), json!(before));
            fields.insert("until".into(), json!(until));
            (
                "/subjects",
                json!({"sub": b.sub, "iss": b.iss, "before": before, "until": until}),
            )
        }
        Action::Key => {
            let b: KeyBody = parse_body(body)?;
            if !crate::api_key::format::is_valid_key_id(&b.key_id) {
                return Err(bad_request(
                    "key_id: not an API key id (key_ followed by 16 base62 characters)",
                ));
            }
            let until = b.until.unwrap_or(now + settings.key_revocation_ttl_secs);
            if until <= now || until > now + 400 * 86_400 {
                return Err(bad_request("until: must lie in the next 400 days"));
            }
            fields.insert("key_id".into(), json!(b.key_id));
            fields.insert("until".into(), json!(until));
            ("/keys", json!({"key_id": b.key_id, "until": until}))
        }
    };
    let text = platform
        .revocation_call("POST", path, Some(write.to_string()))
        .await
        .map_err(|e| unavailable(platform, &e.0))?;
    let answer: Written =
        serde_json::from_str(&text).map_err(|e| unavailable(platform, &e.to_string()))?;
    fields.insert("version".into(), json!(answer.version));
    fields.insert("created".into(), json!(answer.created));
    // This isolate enforces the revocation at once, without waiting for its next refresh.
    apply_locally(&mut gw.revocation.borrow_mut().set, action, &answer.entry);
    Ok(json_response(
        if answer.created { 201 } else { 200 },
        json!({"version": answer.version, "created": answer.created, "entry": answer.entry}),
    ))
}

/// `POST /keys/{id}/revoke` (the API-key admin API) marks the key revoked in its ledger object,
/// which writes KV; that takes up to KV propagation + the key cache TTL (90 s with defaults) to
/// reach every isolate. A successful
/// revoke is also put on the revocation list, so the key is refused everywhere within the
/// revocation bound (≈ 1 s under traffic). A failure here leaves the KV revocation in force and is
/// logged.
pub async fn mirror_key_revocation<K: Clone, P: Platform<Key = K>>(
    gw: &Gateway<K>,
    platform: &P,
    req: &AdminRequest<'_>,
    response: &AdminResponse,
) {
    if !gw.config.revocation.enabled
        || response.status != 200
        || !req.method.eq_ignore_ascii_case("POST")
    {
        return;
    }
    let Some(key_id) = req
        .path
        .strip_prefix("/keys/")
        .and_then(|r| r.strip_suffix("/revoke"))
        .filter(|id| crate::api_key::format::is_valid_key_id(id))
    else {
        return;
    };
    let until = platform.now_secs() + gw.config.revocation.key_revocation_ttl_secs;
    let write = json!({"key_id": key_id, "until": until}).to_string();
    let answer = platform
        .revocation_call("POST", "/keys", Some(write))
        .await
        .map_err(|e| e.0)
        .and_then(|t| serde_json::from_str::<Written>(&t).map_err(|e| e.to_string()));
    match answer {
        Ok(w) => {
            apply_locally(&mut gw.revocation.borrow_mut().set, &Action::Key, &w.entry);
            platform.log(
                &json!({"event": "api_key_revocation_listed", "key_id": key_id, "until": until, "version": w.version})
                    .to_string(),
            );
        }
        Err(why) => platform.log(
            &json!({"event": "revocation_mirror_failed", "key_id": key_id, "reason": why})
                .to_string(),
        ),
    }
}

/// Adds an entry to the isolate's snapshot without advancing its version: entries other isolates
/// wrote in between still arrive with the next delta.
fn apply_locally(set: &mut RevocationSet, action: &Action, entry: &Value) {
    let version = set.version;
    match action {
        Action::Token => {
            if let Ok(e) = serde_json::from_value::<TokenEntry>(entry.clone()) {
                set.put_token(e);
            }
        }
        Action::Subject => {
            if let Ok(e) = serde_json::from_value::<SubjectEntry>(entry.clone()) {
                set.put_subject(e);
            }
        }
        Action::Key => {
            if let Ok(e) = serde_json::from_value::<KeyEntry>(entry.clone()) {
                set.put_key(e);
            }
        }
        Action::List => {}
    }
    set.version = version;
}

#[derive(Deserialize)]
struct Written {
    version: u64,
    created: bool,
    entry: Value,
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

fn check_id(field: &str, v: &str) -> Result<(), AdminResponse> {
    if v.is_empty() || v.len() > MAX_ID_LEN {
        Err(bad_request(format!("{field}: 1 to {MAX_ID_LEN} bytes")))
    } else {
        Ok(())
    }
}

/// The leeway tokens of `iss` get past their `exp` (the largest of all issuers when `iss` is not
/// given). An `iss` the gateway does not trust is refused: it can only be a typo.
fn issuer_leeway<K>(gw: &Gateway<K>, iss: Option<&str>) -> Result<u64, AdminResponse> {
    match iss {
        None => Ok(gw
            .config
            .issuers
            .iter()
            .map(|i| i.leeway_secs)
            .max()
            .unwrap_or(0)),
        Some(iss) => gw
            .config
            .issuers
            .iter()
            .find(|i| i.issuer == iss)
            .map(|i| i.leeway_secs)
            .ok_or_else(|| bad_request("iss: not an issuer this gateway trusts")),
    }
}

/// The longest token lifetime the gateway accepts from `iss` (all issuers when `None`); `iss` was
/// checked by `issuer_leeway` already.
fn issuer_max_lifetime<K>(gw: &Gateway<K>, iss: Option<&str>) -> u64 {
    gw.config
        .issuers
        .iter()
        .filter(|i| iss.is_none_or(|iss| i.issuer == iss))
        .map(|i| i.max_token_lifetime_secs)
        .max()
        .unwrap_or(0)
}

fn parse_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, AdminResponse> {
    let body = body.trim_ascii();
    if body.first() != Some(&b'{') {
        return Err(bad_request("the request body must be a JSON object"));
    }
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid JSON body: {e}")))
}

fn json_response(status: u16, body: Value) -> AdminResponse {
    AdminResponse {
        status,
        body: body.to_string(),
        content_type: "application/json",
        headers: vec![("cache-control", "no-store".into())],
    }
}

/// An RFC 9457 document; `status` overrides the code's own (405, 413) and the document says so.
fn problem(p: &Problem, status: Option<u16>) -> AdminResponse {
    let mut headers = vec![("cache-control", "no-store".to_string())];
    for (n, v) in &p.headers {
        if n.eq_ignore_ascii_case("retry-after") {
            headers.push(("retry-after", v.clone()));
        }
    }
    let mut body = p.body();
    let status = match status {
        Some(s) => {
            if let Ok(mut doc) = serde_json::from_str::<Value>(&body) {
                doc["status"] = json!(s);
                body = doc.to_string();
            }
            s
        }
        None => p.status(),
    };
    AdminResponse {
        status,
        body,
        content_type: "application/problem+json",
        headers,
    }
}

fn bad_request(detail: impl Into<String>) -> AdminResponse {
    problem(&Problem::new(ErrorCode::RequestInvalid, detail), None)
}

fn unavailable<P: Platform>(platform: &P, why: &str) -> AdminResponse {
    platform.log(&json!({"event": "revocation_unavailable", "reason": why}).to_string());
    problem(
        &Problem::new(
            ErrorCode::RevocationUnavailable,
            "the revocation list could not be reached; nothing was confirmed, retry shortly",
        )
        .with_header("retry-after", "5"),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_config;
    use crate::identity::AuthMethod;
    use crate::jose::jwk::Jwk;
    use crate::revocation::set::CredentialFacts;
    use crate::testing::{block_on, FakePlatform};

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
    ) -> Option<(u16, Value, AdminResponse)> {
        let req = AdminRequest {
            method,
            path,
            query: None,
            body: body.as_bytes(),
        };
        block_on(handle_revocation(gw, p, &req, &admin())).map(|r| {
            (
                r.status,
                serde_json::from_str(&r.body).unwrap_or(Value::Null),
                r,
            )
        })
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
        assert_eq!(r.content_type, "application/json");
        assert_eq!(r.headers, vec![("cache-control", "no-store".to_string())]);
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
            assert_eq!(r.content_type, "application/problem+json");
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
        assert!(call(&gw, &p, "GET", "/keys", "").is_none());
        assert!(call(&gw, &p, "GET", "/revocationsx", "").is_none());
        let (s, v, _) = call(&gw, &p, "GET", "/revocations/other", "").unwrap();
        assert_eq!((s, v["code"].as_str()), (404, Some("route_not_found")));
        let (s, v, r) = call(&gw, &p, "GET", "/revocations/tokens", "").unwrap();
        assert_eq!((s, v["status"].as_u64()), (405, Some(405)));
        assert!(r.headers.contains(&("allow", "POST".to_string())));
        let (s, _, r) = call(&gw, &p, "DELETE", "/revocations", "").unwrap();
        assert_eq!(s, 405);
        assert!(r.headers.contains(&("allow", "GET".to_string())));
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
        let store = gw.api_key_store(&p);
        let create = AdminRequest {
            method: "POST",
            path: "/keys",
            query: None,
            body: br#"{"client_id": "c"}"#,
        };
        let created: Value =
            serde_json::from_str(&block_on(crate::admin::handle(&store, &create, &admin())).body)
                .unwrap();
        let id = created["record"]["key_id"].as_str().unwrap().to_string();
        let path = format!("/keys/{id}/revoke");
        let revoke = AdminRequest {
            method: "POST",
            path: &path,
            query: None,
            body: b"",
        };
        let response = block_on(crate::admin::handle(&store, &revoke, &admin()));
        assert_eq!(response.status, 200);
        block_on(mirror_key_revocation(&gw, &p, &revoke, &response));
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
        // Anything else is left alone.
        let other = AdminRequest {
            method: "GET",
            path: &path,
            query: None,
            body: b"",
        };
        block_on(mirror_key_revocation(&gw, &p, &other, &response));
        let refused = AdminResponse {
            status: 404,
            ..response.clone()
        };
        block_on(mirror_key_revocation(&gw, &p, &revoke, &refused));
        assert_eq!(p.durable.revocation_calls.get(), 2, "one write, one list");
        // An unreachable list is logged; the KV revocation stands.
        p.durable.down.set(true);
        block_on(mirror_key_revocation(&gw, &p, &revoke, &response));
        assert!(p
            .logs
            .borrow()
            .iter()
            .any(|l| l.contains("revocation_mirror_failed")));
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
        assert!(r.headers.contains(&("retry-after", "5".to_string())));
        assert_eq!(last_audit(&p)["outcome"], "error");
        assert!(
            gw.revocation.borrow().set.is_empty(),
            "nothing applied locally"
        );
        assert_eq!(call(&gw, &p, "GET", "/revocations", "").unwrap().0, 503);
    }
}
