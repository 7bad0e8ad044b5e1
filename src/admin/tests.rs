use std::cell::RefCell;

use serde_json::{json, Value};

use super::*;
use crate::api_key::store::ApiKeyStore;
use crate::api_key::{ApiKeyCache, ApiKeyConfig, ApiKeyError};
use crate::identity::AuthMethod;
use crate::reply::Reply;
use crate::testing::{block_on, FakePlatform};

const T0: u64 = 1_700_000_000;

struct Env {
    platform: FakePlatform,
    cache: RefCell<ApiKeyCache>,
    config: ApiKeyConfig,
    /// Every plaintext key the API returned, to prove none reaches a log line.
    issued: RefCell<Vec<String>>,
}

struct Answered {
    status: u16,
    body: Value,
    response: Reply,
}

fn admin() -> Identity {
    Identity {
        method: AuthMethod::ApiKey,
        subject: "ops-bot".into(),
        issuer: None,
        scopes: vec!["portcullis:admin".into()],
        token_id: None,
        expires_at: None,
        issued_at: None,
        client_id: Some("ops-bot".into()),
        key_id: Some("key_AdminAdminAdmin1".into()),
        rate_limit_policy: None,
        claims: Default::default(),
        holder: Default::default(),
        session_id: None,
        user_auth: Default::default(),
    }
}

impl Env {
    fn new() -> Self {
        Env {
            platform: FakePlatform::new(T0),
            cache: RefCell::new(ApiKeyCache::new(1000)),
            config: ApiKeyConfig::default(),
            issued: RefCell::new(Vec::new()),
        }
    }

    fn store(&self) -> ApiKeyStore<'_, FakePlatform> {
        ApiKeyStore::new(&self.platform, &self.cache, &self.config)
    }

    /// The key API alone (no revocation endpoints), as the CLI's test gateway serves it.
    fn handle(&self, req: &AdminRequest<'_>, actor: &Identity) -> Reply {
        let ctx = AdminContext {
            platform: &self.platform,
            keys: self.store(),
            revocations: None,
            sessions: None,
            mfa_enabled: true,
            passkeys_enabled: true,
        };
        block_on(handle(&ctx, req, actor))
    }

    fn call(&self, method: &str, path: &str, query: Option<&str>, body: &str) -> Answered {
        self.call_idempotent(method, path, query, body, None)
    }

    fn call_idempotent(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        body: &str,
        idempotency_key: Option<&str>,
    ) -> Answered {
        let req = AdminRequest {
            method,
            path,
            query,
            body: body.as_bytes(),
            idempotency_key,
        };
        let logs_before = self.platform.logs.borrow().len();
        let response = self.handle(&req, &admin());
        assert_eq!(
            self.platform.logs.borrow().len(),
            logs_before + 1,
            "exactly one audit line per call"
        );
        assert_eq!(response.header("cache-control"), Some("no-store"));
        let body: Value = serde_json::from_str(&response.body).expect("JSON body");
        if response.status >= 400 {
            assert_eq!(
                response.header("content-type"),
                Some("application/problem+json")
            );
            assert_eq!(body["status"], response.status, "{body}");
            assert!(body["code"].is_string() && body["detail"].is_string());
        } else {
            assert_eq!(response.header("content-type"), Some("application/json"));
        }
        if let Some(key) = body["key"].as_str() {
            self.issued.borrow_mut().push(key.to_string());
        }
        Answered {
            status: response.status,
            body,
            response,
        }
    }

    fn create(&self, body: Value) -> (String, String) {
        let r = self.call("POST", "/keys", None, &body.to_string());
        assert_eq!(r.status, 201, "{}", r.body);
        (
            r.body["key"].as_str().unwrap().to_string(),
            r.body["record"]["key_id"].as_str().unwrap().to_string(),
        )
    }

    fn auth(&self, key: &str) -> Result<Identity, ApiKeyError> {
        block_on(self.store().authenticate(key))
    }

    fn last_audit(&self) -> Value {
        serde_json::from_str(self.platform.logs.borrow().last().unwrap()).unwrap()
    }

    fn assert_no_secret_logged(&self) {
        for line in self.platform.logs.borrow().iter() {
            for key in self.issued.borrow().iter() {
                assert!(!line.contains(key.as_str()), "secret in log: {line}");
                assert!(
                    !line.contains(&key[key.len() - 20..]),
                    "key fragment in log: {line}"
                );
            }
        }
    }
}

#[test]
fn create_returns_the_key_once_and_audits_without_it() {
    let env = Env::new();
    let r = env.call(
        "POST",
        "/keys",
        None,
        r#"{"client_id":"billing","name":"billing exporter","scopes":["invoices:read"],
            "ttl_secs":3600,"rate_limit_policy":"machines","metadata":{"team":"billing"}}"#,
    );
    assert_eq!(r.status, 201);
    let key = r.body["key"].as_str().unwrap();
    let record = &r.body["record"];
    assert_eq!(record["client_id"], "billing");
    assert_eq!(record["name"], "billing exporter");
    assert_eq!(record["scopes"], json!(["invoices:read"]));
    assert_eq!(record["expires_at"], T0 + 3600);
    assert_eq!(record["status"], "active");
    assert_eq!(record["prefix"], "pc_test");
    assert!(record.get("key").is_none() && record.get("hash").is_none());
    let id = env.auth(key).unwrap();
    assert_eq!(id.key_id.as_deref(), record["key_id"].as_str());

    let audit = env.last_audit();
    assert_eq!(audit["audit"], "api_key.create");
    assert_eq!(audit["actor"], "ops-bot");
    assert_eq!(audit["actor_method"], "api_key");
    assert_eq!(audit["actor_key_id"], "key_AdminAdminAdmin1");
    assert_eq!(audit["key_id"], record["key_id"]);
    assert_eq!(audit["client_id"], "billing");
    assert_eq!(audit["outcome"], "success");
    assert_eq!(audit["ts"], T0);

    // Show and list never carry the secret.
    let kid = record["key_id"].as_str().unwrap();
    let shown = env.call("GET", &format!("/keys/{kid}"), None, "");
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["key_id"], kid);
    assert!(!shown.response.body.contains(key));
    let listed = env.call("GET", "/keys", None, "");
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["keys"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["cursor"], Value::Null);
    assert!(!listed.response.body.contains(key));
    assert_eq!(env.last_audit()["count"], 1);
    env.assert_no_secret_logged();
}

#[test]
fn create_defaults_name_and_scopes() {
    let env = Env::new();
    let r = env.call("POST", "/keys", None, r#"{"client_id":"svc"}"#);
    assert_eq!(r.status, 201);
    assert_eq!(r.body["record"]["name"], "svc");
    assert_eq!(r.body["record"]["scopes"], json!([]));
    assert_eq!(r.body["record"]["expires_at"], Value::Null);
}

#[test]
fn bad_bodies_get_precise_400s() {
    let env = Env::new();
    let cases = [
        ("", "the request body must be a JSON object"),
        ("[]", "the request body must be a JSON object"),
        ("{", "invalid JSON body: EOF while parsing"),
        (r#"{"name":"x"}"#, "missing field `client_id`"),
        (
            r#"{"client_id":"a","scope":["x"]}"#,
            "unknown field `scope`",
        ),
        (
            r#"{"client_id":"a","scopes":"x"}"#,
            "invalid type: string \"x\", expected a sequence",
        ),
        (
            r#"{"client_id":"a","ttl_secs":-1}"#,
            "invalid value: integer `-1`",
        ),
        (
            r#"{"client_id":"a","ttl_secs":60,"expires_at":99999999999}"#,
            "give expires_at or ttl_secs, not both",
        ),
        (
            r#"{"client_id":"a","ttl_secs":0}"#,
            "ttl_secs: must be at least 1",
        ),
        (
            r#"{"client_id":"a","ttl_secs":999999999999}"#,
            "ttl_secs: at most",
        ),
        (
            r#"{"client_id":"a","expires_at":5}"#,
            "expires_at: must be in the future",
        ),
        (r#"{"client_id":"a b"}"#, "client_id: may contain only"),
        (
            r#"{"client_id":"a","scopes":["x","x"]}"#,
            "scopes: scope 1: duplicate",
        ),
        (
            r#"{"client_id":"a","rate_limit_policy":""}"#,
            "rate_limit_policy: must be",
        ),
    ];
    for (body, expected) in cases {
        let r = env.call("POST", "/keys", None, body);
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.body["code"], "request_invalid");
        let detail = r.body["detail"].as_str().unwrap();
        assert!(detail.contains(expected), "{body}: {detail}");
        assert_eq!(env.last_audit()["outcome"], "refused");
        assert_eq!(env.last_audit()["code"], "request_invalid");
    }
    let field = env.call("POST", "/keys", None, r#"{"client_id":""}"#);
    assert_eq!(field.body["field"], "client_id");
    // Not UTF-8, and over the size cap.
    let r = env.handle(
        &AdminRequest {
            method: "POST",
            path: "/keys",
            query: None,
            body: b"{\"client_id\":\"\xff\"}",
            idempotency_key: None,
        },
        &admin(),
    );
    assert_eq!(r.status, 400);
    let big = format!(
        r#"{{"client_id":"a","name":"{}"}}"#,
        "n".repeat(MAX_BODY_BYTES)
    );
    let r = env.call("POST", "/keys", None, &big);
    assert_eq!(r.status, 413);
    assert!(env.platform.kv.borrow().is_empty(), "nothing was stored");
}

#[test]
fn unknown_or_malformed_ids_are_404() {
    let env = Env::new();
    for (method, path, body) in [
        ("GET", "/keys/key_0000000000000000", ""),
        ("PATCH", "/keys/key_0000000000000000", r#"{"name":"x"}"#),
        ("POST", "/keys/key_0000000000000000/rotate", ""),
        ("POST", "/keys/key_0000000000000000/revoke", ""),
    ] {
        let r = env.call(method, path, None, body);
        assert_eq!(r.status, 404, "{method} {path}");
        assert_eq!(r.body["code"], "api_key_not_found");
        assert_eq!(r.body["detail"], "no API key with id key_0000000000000000");
        assert_eq!(env.last_audit()["key_id"], "key_0000000000000000");
    }
    let r = env.call("GET", "/keys/not-an-id%0d%0a", None, "");
    assert_eq!(r.status, 404);
    assert_eq!(r.body["code"], "api_key_not_found");
    assert_eq!(env.last_audit()["key_id"], "(invalid)");
}

#[test]
fn routing_and_methods() {
    let env = Env::new();
    for path in [
        "",
        "/",
        "/key",
        "/keys/",
        "/keys/a/b/c",
        "/keys/key_0000000000000000/delete",
        "/keysx",
        "/users",
    ] {
        let r = env.call("GET", path, None, "");
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.body["code"], "route_not_found");
    }
    let r = env.call("DELETE", "/keys/key_0000000000000000", None, "");
    assert_eq!(r.status, 405);
    assert_eq!(r.body["status"], 405);
    assert_eq!(r.response.header("allow"), Some("GET, PATCH"));
    let r = env.call("PUT", "/keys", None, "");
    assert_eq!(r.response.header("allow"), Some("GET, POST"));
    let r = env.call("GET", "/keys/key_0000000000000000/rotate", None, "");
    assert_eq!(r.status, 405);
    assert_eq!(r.response.header("allow"), Some("POST"));
    // Methods are case-insensitive on input.
    assert_eq!(
        env.call("post", "/keys", None, r#"{"client_id":"a"}"#)
            .status,
        201
    );
}

#[test]
fn update_changes_scopes_name_expiry() {
    let env = Env::new();
    let (key, kid) = env.create(json!({"client_id":"svc","scopes":["a","b"],"ttl_secs":100}));
    env.platform.advance_secs(1);
    let r = env.call(
        "PATCH",
        &format!("/keys/{kid}"),
        None,
        r#"{"scopes":["a"],"name":"renamed","expires_at":null,"metadata":{"k":"v"}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["scopes"], json!(["a"]));
    assert_eq!(r.body["name"], "renamed");
    assert_eq!(r.body["expires_at"], Value::Null);
    assert_eq!(r.body["updated_at"], T0 + 1);
    assert_eq!(env.auth(&key).unwrap().scopes, vec!["a".to_string()]);
    let audit = env.last_audit();
    assert_eq!(audit["audit"], "api_key.update");
    assert_eq!(
        audit["changed"],
        json!(["name", "scopes", "expires_at", "metadata"])
    );
    // ttl_secs sets a relative expiry.
    let r = env.call("PATCH", &format!("/keys/{kid}"), None, r#"{"ttl_secs":50}"#);
    assert_eq!(r.body["expires_at"], T0 + 1 + 50);
    // Empty patch, unknown field, past expiry.
    for (body, expected) in [
        ("{}", "nothing to change"),
        (r#"{"client_id":"other"}"#, "unknown field `client_id`"),
        (r#"{"expires_at":1}"#, "expires_at: must be in the future"),
    ] {
        let r = env.call("PATCH", &format!("/keys/{kid}"), None, body);
        assert_eq!(r.status, 400, "{body}");
        assert!(
            r.body["detail"].as_str().unwrap().contains(expected),
            "{}",
            r.body
        );
    }
}

#[test]
fn rotate_then_revoke_through_the_api() {
    let env = Env::new();
    let (old_key, old_id) = env.create(json!({"client_id":"svc","scopes":["a"]}));
    let r = env.call(
        "POST",
        &format!("/keys/{old_id}/rotate"),
        None,
        r#"{"grace_secs":600}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let new_key = r.body["key"].as_str().unwrap().to_string();
    let new_id = r.body["record"]["key_id"].as_str().unwrap().to_string();
    assert_eq!(r.body["record"]["rotated_from"], old_id);
    assert_eq!(r.body["previous"]["rotated_to"], new_id);
    assert_eq!(r.body["previous"]["expires_at"], T0 + 600);
    assert_eq!(r.body["previous"]["status"], "active");
    let audit = env.last_audit();
    assert_eq!(audit["audit"], "api_key.rotate");
    assert_eq!(audit["key_id"], old_id);
    assert_eq!(audit["successor_key_id"], new_id);
    // Both keys in the grace window; the old one refused after it.
    env.auth(&old_key).unwrap();
    env.auth(&new_key).unwrap();
    env.platform.advance_secs(600);
    assert!(matches!(
        env.auth(&old_key),
        Err(ApiKeyError::Expired { .. })
    ));
    env.auth(&new_key).unwrap();
    assert_eq!(
        env.call("GET", &format!("/keys/{old_id}"), None, "").body["status"],
        "expired"
    );
    // Rotating an expired key is a conflict.
    let r = env.call("POST", &format!("/keys/{old_id}/rotate"), None, "");
    assert_eq!(r.status, 409);
    assert_eq!(r.body["code"], "request_invalid");
    // Revoke: immediate in this isolate, idempotent.
    let r = env.call(
        "POST",
        &format!("/keys/{new_id}/revoke"),
        None,
        r#"{"reason":"leaked"}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "revoked");
    assert_eq!(r.body["revoked_reason"], "leaked");
    assert!(matches!(
        env.auth(&new_key),
        Err(ApiKeyError::Revoked { .. })
    ));
    assert_eq!(env.last_audit()["already_revoked"], false);
    let again = env.call("POST", &format!("/keys/{new_id}/revoke"), None, "");
    assert_eq!(again.status, 200);
    assert_eq!(env.last_audit()["already_revoked"], true);
    let r = env.call("PATCH", &format!("/keys/{new_id}"), None, r#"{"name":"x"}"#);
    assert_eq!(r.status, 409);
    env.assert_no_secret_logged();
}

#[test]
fn rotate_body_options() {
    let env = Env::new();
    let (_, kid) = env.create(json!({"client_id":"svc","ttl_secs":1000}));
    // Default grace from config; the successor gets its own ttl.
    let r = env.call(
        "POST",
        &format!("/keys/{kid}/rotate"),
        None,
        r#"{"ttl_secs":50}"#,
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.body["record"]["expires_at"], T0 + 50);
    assert_eq!(
        r.body["previous"]["expires_at"],
        T0 + 1000,
        "own expiry beats the 24 h grace"
    );
    for body in [r#"{"grace":5}"#, r#"{"grace_secs":-5}"#, "nope"] {
        let (_, kid) = env.create(json!({"client_id":"svc"}));
        let r = env.call("POST", &format!("/keys/{kid}/rotate"), None, body);
        assert_eq!(r.status, 400, "{body}");
    }
    let (_, kid) = env.create(json!({"client_id":"svc"}));
    let r = env.call(
        "POST",
        &format!("/keys/{kid}/rotate"),
        None,
        r#"{"grace_secs":99999999999}"#,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.body["field"], "grace_secs");
}

#[test]
fn list_query_parameters() {
    let env = Env::new();
    for i in 0..5 {
        let client = if i < 2 { "alpha" } else { "beta" };
        env.create(json!({ "client_id": client }));
    }
    let page = env.call("GET", "/keys", Some("limit=2"), "");
    assert_eq!(page.body["keys"].as_array().unwrap().len(), 2);
    let cursor = page.body["cursor"].as_str().unwrap().to_string();
    let encoded: String = cursor.bytes().map(|b| format!("%{b:02X}")).collect();
    let next = env.call(
        "GET",
        "/keys",
        Some(&format!("limit=2&cursor={encoded}")),
        "",
    );
    assert_eq!(next.status, 200);
    let first: Vec<&Value> = page.body["keys"].as_array().unwrap().iter().collect();
    let second: Vec<&Value> = next.body["keys"].as_array().unwrap().iter().collect();
    assert!(first[1]["key_id"].as_str() < second[0]["key_id"].as_str());
    let alpha = env.call("GET", "/keys", Some("client_id=alpha"), "");
    assert_eq!(alpha.body["keys"].as_array().unwrap().len(), 2);
    for (q, expected) in [
        ("limit=0", "limit: must be 1 to 100"),
        ("limit=101", "limit: must be 1 to 100"),
        ("limit=x", "limit: must be 1 to 100"),
        ("limit=1&limit=2", "given twice"),
        ("secret=1", "unknown query parameter"),
        ("cursor=%zz", "bad percent-encoding"),
        ("cursor=%+1", "bad percent-encoding"),
    ] {
        let r = env.call("GET", "/keys", Some(q), "");
        assert_eq!(r.status, 400, "{q}");
        assert!(
            r.body["detail"].as_str().unwrap().contains(expected),
            "{q}: {}",
            r.body
        );
    }
}

#[test]
fn store_failures_are_503_and_fail_closed() {
    let env = Env::new();
    let (_, kid) = env.create(json!({"client_id":"svc"}));
    env.platform.kv_down.set(true);
    for (method, path, body) in [
        ("POST", "/keys".to_string(), r#"{"client_id":"svc"}"#),
        ("GET", "/keys".to_string(), ""),
        ("POST", format!("/keys/{kid}/revoke"), ""),
    ] {
        let r = env.call(method, &path, None, body);
        assert_eq!(r.status, 503, "{method} {path}");
        assert_eq!(r.body["code"], "credential_store_unavailable");
        assert_eq!(r.response.header("retry-after"), Some("5"));
        assert!(
            !r.response.body.contains("simulated"),
            "internals stay out of responses"
        );
        assert_eq!(env.last_audit()["outcome"], "error");
    }
    // One key's record is read from its ledger object, which holds it whatever KV does; an
    // unreachable object fails closed.
    assert_eq!(
        env.call("GET", &format!("/keys/{kid}"), None, "").status,
        200
    );
    env.platform.kv_down.set(false);
    *env.platform.ledger_down_for.borrow_mut() = Some(kid.clone());
    for (method, path) in [
        ("GET", format!("/keys/{kid}")),
        ("PATCH", format!("/keys/{kid}")),
        ("POST", format!("/keys/{kid}/rotate")),
        ("POST", format!("/keys/{kid}/revoke")),
    ] {
        let body = if method == "PATCH" {
            r#"{"name":"x"}"#
        } else {
            ""
        };
        let r = env.call(method, &path, None, body);
        assert_eq!(r.status, 503, "{method} {path}");
        assert_eq!(r.body["code"], "credential_store_unavailable");
    }
}

#[test]
fn jwt_actors_are_audited_with_their_issuer() {
    let env = Env::new();
    let actor = Identity {
        method: AuthMethod::Jwt,
        subject: "alice".into(),
        issuer: Some("https://idp.example".into()),
        scopes: vec!["portcullis:admin".into()],
        token_id: Some("jti-1".into()),
        expires_at: None,
        issued_at: None,
        client_id: None,
        key_id: None,
        rate_limit_policy: None,
        claims: Default::default(),
        holder: Default::default(),
        session_id: None,
        user_auth: Default::default(),
    };
    let req = AdminRequest {
        method: "GET",
        path: "/keys",
        query: None,
        body: b"",
        idempotency_key: None,
    };
    assert_eq!(env.handle(&req, &actor).status, 200);
    let audit = env.last_audit();
    assert_eq!(audit["actor"], "alice");
    assert_eq!(audit["actor_method"], "jwt");
    assert_eq!(audit["actor_issuer"], "https://idp.example");
    assert!(audit.get("actor_key_id").is_none());
}

#[test]
fn admin_config_defaults_validation_and_prefix() {
    let c: AdminConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(c, AdminConfig::default());
    assert!(!c.enabled);
    assert_eq!(c.path_prefix, "/admin");
    assert_eq!(c.scope, "portcullis:admin");
    assert!(c.validate().is_empty());
    assert!(serde_json::from_str::<AdminConfig>(r#"{"enable":true}"#).is_err());
    let bad: AdminConfig =
        serde_json::from_str(r#"{"path_prefix":"admin/","scope":"a b","credentials":["mtls"]}"#)
            .unwrap();
    let paths: Vec<String> = bad.validate().into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        vec!["admin.path_prefix", "admin.scope", "admin.credentials[0]"]
    );
    for bad_prefix in ["/", "/admin/", "/a//b", "/../x", "/a b"] {
        let c = AdminConfig {
            path_prefix: bad_prefix.into(),
            ..AdminConfig::default()
        };
        assert_eq!(c.validate().len(), 1, "{bad_prefix}");
    }
    let empty = AdminConfig {
        credentials: vec![],
        ..AdminConfig::default()
    };
    assert_eq!(empty.validate().len(), 1);
    assert_eq!(c.strip("/admin/keys"), Some("/keys"));
    assert_eq!(c.strip("/admin"), Some(""));
    assert_eq!(c.strip("/administrator/keys"), None);
    assert_eq!(c.strip("/api/admin/keys"), None);
    let nested = AdminConfig {
        path_prefix: "/_portcullis/admin".into(),
        ..AdminConfig::default()
    };
    assert!(nested.validate().is_empty());
    assert_eq!(nested.strip("/_portcullis/admin/keys/x"), Some("/keys/x"));
}

#[test]
fn idempotency_keys_on_create_and_rotate() {
    let env = Env::new();
    let idem = Some("c0ffee00-1111-4222-8333-444455556666");
    let body = r#"{"client_id":"svc","scopes":["a"]}"#;
    let first = env.call_idempotent("POST", "/keys", None, body, idem);
    assert_eq!(first.status, 201);
    assert_eq!(first.response.header("idempotent-replayed"), None);
    assert_eq!(env.last_audit()["idempotency"], true);
    // The same request, formatted differently: the same key, marked as replayed.
    let again = env.call_idempotent(
        "POST",
        "/keys",
        None,
        r#"{ "scopes": ["a"], "client_id": "svc" }"#,
        idem,
    );
    assert_eq!(again.status, 201);
    assert_eq!(again.body["key"], first.body["key"]);
    assert_eq!(again.body["record"], first.body["record"]);
    assert_eq!(again.response.header("idempotent-replayed"), Some("true"));
    assert_eq!(env.last_audit()["replayed"], true);
    // Another body under the same key.
    let other = env.call_idempotent("POST", "/keys", None, r#"{"client_id":"svc2"}"#, idem);
    assert_eq!(other.status, 422);
    assert_eq!(other.body["code"], "idempotency_key_reused");
    assert_eq!(env.last_audit()["outcome"], "refused");

    let kid = first.body["record"]["key_id"].as_str().unwrap().to_string();
    let rotate = format!("/keys/{kid}/rotate");
    let r1 = env.call_idempotent("POST", &rotate, None, "", Some("rotate-0000-0000-0001"));
    let r2 = env.call_idempotent("POST", &rotate, None, "{}", Some("rotate-0000-0000-0001"));
    assert_eq!((r1.status, r2.status), (201, 201));
    assert_eq!(r1.body["key"], r2.body["key"]);
    assert_eq!(
        env.call_idempotent("POST", &rotate, None, "", Some("rotate-0000-0000-0002"))
            .status,
        409
    );
    // Malformed keys are refused before anything runs; calls that ignore the header ignore it.
    for bad in ["short", "with spaces in the value", "a, b-0000-0000-0000"] {
        let r = env.call_idempotent("POST", "/keys", None, body, Some(bad));
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.body["code"], "idempotency_key_invalid");
    }
    assert_eq!(
        env.call_idempotent("GET", &format!("/keys/{kid}"), None, "", Some("x"))
            .status,
        200
    );
    env.assert_no_secret_logged();
}

/// `Gateway::admin` serves the key API with the call's `Idempotency-Key` and the gateway's own
/// key store, and answers an unknown path with the key API's 404.
#[test]
fn gateway_admin_serves_the_key_api() {
    use crate::jose::jwk::Jwk;
    use crate::pipeline::{AdminCall, Gateway};

    let config = crate::config::parse_config(&json!({
        "origin": "http://127.0.0.1:9000",
        "issuers": [{"issuer": "https://id.example.com", "audiences": ["api"], "algorithms": ["ES256"]}],
        "routes": [{"methods": ["GET"], "path": "/x", "auth": ["jwt"]}],
    }))
    .unwrap();
    let gw: Gateway<Jwk> = Gateway::new(config);
    let platform = FakePlatform::new(T0);
    let call = |path: &str, idempotency_key: Option<&str>| AdminCall {
        actor: admin(),
        request_id: crate::request_id::RequestId::assign(None, |b| b.fill(7)),
        path: path.to_string(),
        query: None,
        idempotency_key: idempotency_key.map(str::to_string),
    };
    let create = call("/keys", Some("c0ffee00-1111-4222-8333-444455556666"));
    let body = br#"{"client_id":"svc"}"#;
    let first = block_on(gw.admin(&platform, &create, "POST", body));
    let again = block_on(gw.admin(&platform, &create, "POST", body));
    assert_eq!((first.status, again.status), (201, 201));
    assert_eq!(first.header("idempotent-replayed"), None);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.body, again.body, "the same key, shown again");
    let missing = block_on(gw.admin(&platform, &call("/users", None), "GET", b""));
    assert_eq!(missing.status, 404);
    let doc: Value = serde_json::from_str(&missing.body).unwrap();
    assert_eq!(doc["code"], "route_not_found");
}

#[test]
fn a_subjects_totp_is_shown_and_reset_and_audited() {
    use crate::mfa::store::{Enrollment, MfaRequest};
    use crate::mfa::totp::{TotpAlgorithm, TotpParams};
    let env = Env::new();
    let stage = MfaRequest::Stage {
        enrollment: Enrollment {
            sealed_secret: "sealed".into(),
            params: TotpParams {
                algorithm: TotpAlgorithm::Sha1,
                digits: 6,
                period: 30,
            },
            created_at_ms: 0,
        },
    };
    block_on(crate::mfa::client::call(
        &env.platform,
        "ana@example.com",
        &stage,
    ))
    .unwrap();
    let r = env.call("GET", "/mfa/totp/ana%40example.com", None, "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        serde_json::json!({"subject": "ana@example.com", "totp": {"enrolled": false, "pending": true, "recovery_codes_left": 0, "locked_until": null}})
    );
    let audit = env.last_audit();
    assert_eq!(
        (audit["audit"].as_str(), audit["subject"].as_str()),
        (Some("mfa.totp.status"), Some("ana@example.com"))
    );
    let r = env.call("DELETE", "/mfa/totp/ana@example.com", None, "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totp"]["had_enrollment"], true);
    let audit = env.last_audit();
    assert_eq!(audit["audit"], "mfa.totp.reset");
    assert_eq!(audit["had_enrollment"], true);
    assert_eq!(
        env.call("DELETE", "/mfa/totp/ana@example.com", None, "")
            .body["totp"]["had_enrollment"],
        false
    );

    let r = env.call("POST", "/mfa/totp/ana", None, "");
    assert_eq!(
        (r.status, r.response.header("allow")),
        (405, Some("GET, DELETE"))
    );
    assert_eq!(env.call("GET", "/mfa/other", None, "").status, 404);
    assert_eq!(env.call("GET", "/mfa/totp/%ZZ", None, "").status, 400);
    // An unreachable object: 503, the reason in its own log line, then the audit line.
    env.platform.mfa_down.set(true);
    let req = AdminRequest {
        method: "DELETE",
        path: "/mfa/totp/ana",
        query: None,
        body: b"",
        idempotency_key: None,
    };
    let reply = env.handle(&req, &admin());
    assert_eq!(reply.status, 503);
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["code"], "mfa_unavailable");
    assert_eq!(env.last_audit()["code"], "mfa_unavailable");
}

#[test]
fn a_subjects_passkeys_are_listed_and_deleted_and_audited() {
    use crate::webauthn::client;
    use crate::webauthn::cose::CoseAlg;
    use crate::webauthn::store::CredentialRecord;
    let env = Env::new();
    let register = |subject: &str, raw: &[u8]| {
        use base64::Engine as _;
        let id = crate::jose::jws::B64URL.encode(raw);
        block_on(client::ensure_user(&env.platform, subject, "h".into())).unwrap();
        let record = CredentialRecord {
            id: id.clone(),
            alg: CoseAlg::ES256,
            public_key: serde_json::json!({"kty": "EC"}),
            sign_count: 0,
            transports: vec!["internal".into()],
            backup_eligible: true,
            backed_up: true,
            aaguid: "00".repeat(16),
            attestation: "none".into(),
            created_at: T0,
            last_used_at: None,
        };
        block_on(client::register_credential(
            &env.platform,
            subject,
            raw,
            record,
            10,
        ))
        .unwrap();
        id
    };
    let owner = |raw: &[u8]| block_on(client::credential_owner(&env.platform, raw)).unwrap();
    let ana1 = register("ana@example.com", &[1, 2, 3]);
    let ana2 = register("ana@example.com", &[4, 5, 6]);
    let bob = register("bob", &[7, 8, 9]);
    let raw_call = |method: &str, path: &str| {
        let req = AdminRequest {
            method,
            path,
            query: None,
            body: b"",
            idempotency_key: None,
        };
        env.handle(&req, &admin())
    };

    let r = env.call("GET", "/passkeys/ana%40example.com", None, "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["subject"], "ana@example.com");
    let ids: Vec<&str> = r.body["passkeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["credential_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [ana1.as_str(), ana2.as_str()]);
    assert_eq!(r.body["passkeys"][0]["public_key"], Value::Null);
    let audit = env.last_audit();
    assert_eq!(
        (audit["audit"].as_str(), audit["subject"].as_str()),
        (Some("passkey.list"), Some("ana@example.com"))
    );

    // bob's passkey under ana's name: not found, like an id nobody has; bob keeps it.
    for id in [bob.as_str(), "AAAA"] {
        let r = env.call(
            "DELETE",
            &format!("/passkeys/ana@example.com/{id}"),
            None,
            "",
        );
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (404, Some("passkey_not_found"))
        );
    }
    assert_eq!(owner(&[7, 8, 9]), Some("bob".into()));

    let reply = raw_call("DELETE", &format!("/passkeys/ana@example.com/{ana1}"));
    assert_eq!((reply.status, reply.body.as_str()), (204, ""));
    assert_eq!(reply.header("content-type"), None);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let audit = env.last_audit();
    assert_eq!(audit["audit"], "passkey.delete");
    assert_eq!(audit["credential_id"], ana1.as_str());
    assert_eq!(audit["status"], 204);
    assert_eq!(owner(&[1, 2, 3]), None, "the claim is released");
    assert_eq!(
        env.call(
            "DELETE",
            &format!("/passkeys/ana@example.com/{ana1}"),
            None,
            ""
        )
        .status,
        404
    );

    let r = env.call("DELETE", "/passkeys/ana%40example.com", None, "");
    assert_eq!(
        r.body,
        serde_json::json!({"subject": "ana@example.com", "deleted": 1})
    );
    let audit = env.last_audit();
    assert_eq!(audit["audit"], "passkey.delete_all");
    assert_eq!(audit["credential_ids"], serde_json::json!([ana2]));
    assert_eq!(owner(&[4, 5, 6]), None);
    assert_eq!(
        env.call("GET", "/passkeys/ana@example.com", None, "").body["passkeys"],
        serde_json::json!([])
    );
    assert_eq!(
        env.call("DELETE", "/passkeys/nobody", None, "").body["deleted"],
        0
    );
    assert_eq!(owner(&[7, 8, 9]), Some("bob".into()));

    // Methods, paths, subjects and ids that are not the API's.
    let r = env.call("POST", "/passkeys/ana", None, "");
    assert_eq!(
        (r.status, r.response.header("allow")),
        (405, Some("GET, DELETE"))
    );
    let r = env.call("GET", &format!("/passkeys/bob/{bob}"), None, "");
    assert_eq!(
        (r.status, r.response.header("allow")),
        (405, Some("DELETE"))
    );
    for path in ["/passkeys", "/passkeys/", "/passkeys/a/b/c", "/passkeys//x"] {
        let r = env.call("GET", path, None, "");
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (404, Some("route_not_found")),
            "{path}"
        );
        assert_eq!(env.last_audit()["audit"], "passkey.unknown_route");
    }
    for (path, code) in [
        ("/passkeys/%ZZ", "request_invalid"),
        ("/passkeys/a%00b", "request_invalid"),
        ("/passkeys/bob/AB=", "passkey_request_invalid"),
    ] {
        let r = env.call("DELETE", path, None, "");
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (400, Some(code)),
            "{path}"
        );
    }
    assert_eq!(owner(&[7, 8, 9]), Some("bob".into()));
    // An unreachable store: 503, fail closed.
    env.platform.passkeys_down.set(true);
    let r = env.call("DELETE", &format!("/passkeys/bob/{bob}"), None, "");
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (503, Some("passkey_store_unavailable"))
    );
    assert_eq!(env.last_audit()["code"], "passkey_store_unavailable");
}
