//! The admin API (`/admin/...`, off unless configured): create, list, show, update, rotate and
//! revoke API keys. Pure logic over `ApiKeyStore`; the pipeline authenticates the caller with the
//! gateway's normal credentials, requires `AdminConfig::scope` (the admin route's scope, checked by
//! the authorize stage like any route's), strips the admin prefix and calls `handle` (through
//! `Gateway::admin`).
//!
//! | method | path                  | body                                                       |
//! |--------|-----------------------|------------------------------------------------------------|
//! | POST   | /keys                 | {client_id, name?, scopes?, expires_at? \| ttl_secs?, rate_limit_policy?, metadata?} → 201 {key, record} |
//! | GET    | /keys?cursor=&limit=&client_id= | → 200 {keys, cursor}                             |
//! | GET    | /keys/{id}            | → 200 record                                               |
//! | PATCH  | /keys/{id}            | {name?, scopes?, expires_at? (null clears) \| ttl_secs?, rate_limit_policy?, metadata?} → 200 record |
//! | POST   | /keys/{id}/rotate     | {grace_secs?, expires_at? \| ttl_secs?} → 201 {key, record, previous} |
//! | POST   | /keys/{id}/revoke     | {reason?} → 200 record                                     |
//!
//! Every call writes exactly one audit line (`{"audit": "api_key.<action>", …}`) naming the actor
//! and the key id, never a key.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use crate::api_key::ledger::idempotency::fingerprint;
use crate::api_key::ledger::IdempotencyKey;
use crate::api_key::record::ApiKeyRecord;
use crate::api_key::store::{ApiKeyStore, Issued, KeyPatch, NewKey, StoreOpError, MAX_LIST_LIMIT};
use crate::identity::Identity;
use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};

pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const DEFAULT_LIST_LIMIT: u32 = 50;
/// Longest `ttl_secs` accepted: 10 years.
pub const MAX_TTL_SECS: u64 = 10 * 365 * 86_400;

/// The `admin` section of the gateway config.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Off unless set (default `false`).
    #[serde(default)]
    pub enabled: bool,
    /// Where the admin API is mounted (default `/admin`).
    #[serde(default = "default_path_prefix")]
    pub path_prefix: String,
    /// The scope an admin credential must carry (default `portcullis:admin`).
    #[serde(default = "default_scope")]
    pub scope: String,
    /// Credential kinds accepted for admin calls: `api_key`, `jwt` (default both).
    #[serde(default = "default_credentials")]
    pub credentials: Vec<String>,
}

fn default_path_prefix() -> String {
    "/admin".into()
}
fn default_scope() -> String {
    "portcullis:admin".into()
}
fn default_credentials() -> Vec<String> {
    vec!["api_key".into(), "jwt".into()]
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: false,
            path_prefix: default_path_prefix(),
            scope: default_scope(),
            credentials: default_credentials(),
        }
    }
}

impl AdminConfig {
    /// Every problem, as `(field path, what is wrong)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        let p = &self.path_prefix;
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        if !p.starts_with('/')
            || p.len() < 2
            || p.ends_with('/')
            || !p[1..].split('/').all(segment_ok)
        {
            errors.push((
                "admin.path_prefix".into(),
                "must be an absolute path like /admin (segments of A-Z a-z 0-9 . _ -, no trailing /)"
                    .into(),
            ));
        }
        if crate::api_key::record::validate_scopes(std::slice::from_ref(&self.scope)).is_err() {
            errors.push((
                "admin.scope".into(),
                "must be one RFC 6749 scope token".into(),
            ));
        }
        if self.credentials.is_empty() {
            errors.push((
                "admin.credentials".into(),
                "must list api_key, jwt or both".into(),
            ));
        }
        for (i, c) in self.credentials.iter().enumerate() {
            if c != "api_key" && c != "jwt" {
                errors.push((
                    format!("admin.credentials[{i}]"),
                    "unknown credential kind; use api_key or jwt".into(),
                ));
            }
        }
        errors
    }

    /// The part of `path` under the admin prefix (`/admin/keys` → `/keys`), or `None` when the
    /// request is not for the admin API.
    pub fn strip<'p>(&self, path: &'p str) -> Option<&'p str> {
        let rest = path.strip_prefix(self.path_prefix.as_str())?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    }
}

/// The admin scope check for a caller served outside the pipeline (the CLI's test gateway): a
/// caller without the scope gets 403 `insufficient_scope`. The gateway itself does not call it —
/// there the admin route's scope is checked by the authorize stage.
pub fn authorize(config: &AdminConfig, actor: &Identity) -> Result<(), Problem> {
    if actor.has_scope(&config.scope) {
        Ok(())
    } else {
        Err(Problem::new(
            ErrorCode::InsufficientScope,
            format!("the admin API requires the {} scope", config.scope),
        )
        .with_extension("required_scopes", json!([config.scope])))
    }
}

pub struct AdminRequest<'a> {
    pub method: &'a str,
    /// The path under the admin prefix: `/keys`, `/keys/key_abc/rotate`.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

#[derive(Debug, Clone, PartialEq)]
pub struct AdminResponse {
    pub status: u16,
    /// JSON (`application/json`) or an RFC 9457 problem (`application/problem+json`).
    pub body: String,
    pub content_type: &'static str,
    /// Always `Cache-Control: no-store` (a create response carries a key); `Allow` on a 405.
    pub headers: Vec<(&'static str, String)>,
}

impl AdminResponse {
    fn json(status: u16, body: Value) -> Self {
        AdminResponse {
            status,
            body: body.to_string(),
            content_type: "application/json",
            headers: vec![("cache-control", "no-store".into())],
        }
    }

    fn problem(problem: &Problem) -> Self {
        let mut headers = vec![("cache-control", "no-store".into())];
        for (name, value) in &problem.headers {
            if name.eq_ignore_ascii_case("retry-after") {
                headers.push(("retry-after", value.clone()));
            }
        }
        AdminResponse {
            status: problem.status(),
            body: problem.body(),
            content_type: "application/problem+json",
            headers,
        }
    }

    /// A problem whose HTTP status is more specific than its code's (405, 409, 413): the
    /// document's `status` member follows the response, as RFC 9457 §3.1.4 asks.
    fn problem_with_status(problem: &Problem, status: u16) -> Self {
        let mut response = Self::problem(problem);
        let mut doc: Value = serde_json::from_str(&response.body).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut doc {
            map.insert("status".into(), json!(status));
        }
        response.body = doc.to_string();
        response.status = status;
        response
    }
}

/// What one call did, for its audit line.
struct Audit {
    action: &'static str,
    key_id: Option<String>,
    fields: serde_json::Map<String, Value>,
}

impl Audit {
    fn new(action: &'static str, key_id: Option<&str>) -> Self {
        Audit {
            action,
            key_id: key_id.map(str::to_string),
            fields: serde_json::Map::new(),
        }
    }

    fn add(&mut self, name: &str, value: Value) {
        self.fields.insert(name.into(), value);
    }
}

enum Route<'p> {
    Collection,
    Key(&'p str),
    Rotate(&'p str),
    Revoke(&'p str),
}

impl Route<'_> {
    fn allowed(&self) -> &'static [&'static str] {
        match self {
            Route::Collection => &["GET", "POST"],
            Route::Key(_) => &["GET", "PATCH"],
            Route::Rotate(_) | Route::Revoke(_) => &["POST"],
        }
    }
}

fn route(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix("/keys")?;
    if rest.is_empty() {
        return Some(Route::Collection);
    }
    let rest = rest.strip_prefix('/')?;
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        [id] if !id.is_empty() => Some(Route::Key(id)),
        [id, "rotate"] if !id.is_empty() => Some(Route::Rotate(id)),
        [id, "revoke"] if !id.is_empty() => Some(Route::Revoke(id)),
        _ => None,
    }
}

/// Serves one admin request. Never panics on input; every outcome is JSON or problem+json.
pub async fn handle<P: Platform>(
    store: &ApiKeyStore<'_, P>,
    req: &AdminRequest<'_>,
    actor: &Identity,
) -> AdminResponse {
    handle_idempotent(store, req, actor, None).await
}

/// `handle`, with the request's `Idempotency-Key` header (create and rotate honour it; revoke is
/// idempotent by itself, and the other calls ignore it).
pub async fn handle_idempotent<P: Platform>(
    store: &ApiKeyStore<'_, P>,
    req: &AdminRequest<'_>,
    actor: &Identity,
    idempotency_key: Option<&str>,
) -> AdminResponse {
    let Some(route) = route(req.path) else {
        let response = AdminResponse::problem(&Problem::new(
            ErrorCode::RouteNotFound,
            "the admin API serves /keys, /keys/{id}, /keys/{id}/rotate and /keys/{id}/revoke",
        ));
        audit(
            store,
            actor,
            &Audit::new("admin.unknown_route", None),
            &response,
        );
        return response;
    };
    let method = req.method.to_ascii_uppercase();
    let (action, key_id) = match (&route, method.as_str()) {
        (Route::Collection, "POST") => ("api_key.create", None),
        (Route::Collection, "GET") => ("api_key.list", None),
        (Route::Key(id), "GET") => ("api_key.get", Some(*id)),
        (Route::Key(id), "PATCH") => ("api_key.update", Some(*id)),
        (Route::Rotate(id), "POST") => ("api_key.rotate", Some(*id)),
        (Route::Revoke(id), "POST") => ("api_key.revoke", Some(*id)),
        _ => {
            let allowed = route.allowed().join(", ");
            let mut response = AdminResponse::problem_with_status(
                &Problem::new(
                    ErrorCode::RequestInvalid,
                    format!("method {method} is not allowed here; allowed: {allowed}"),
                ),
                405,
            );
            response.headers.push(("allow", allowed));
            audit(
                store,
                actor,
                &Audit::new("admin.method_not_allowed", None),
                &response,
            );
            return response;
        }
    };
    let mut entry = Audit::new(action, key_id.map(safe_key_id));
    let response = if req.body.len() > MAX_BODY_BYTES {
        AdminResponse::problem_with_status(
            &Problem::new(
                ErrorCode::RequestInvalid,
                format!("the request body is over {MAX_BODY_BYTES} bytes"),
            ),
            413,
        )
    } else {
        run(store, &route, req, &mut entry, actor, idempotency_key)
            .await
            .unwrap_or_else(|refusal| refusal)
    };
    audit(store, actor, &entry, &response);
    response
}

/// A key id from the URL goes into the audit line only when it is well-formed (it is attacker
/// input otherwise).
fn safe_key_id(id: &str) -> &str {
    if crate::api_key::format::is_valid_key_id(id) {
        id
    } else {
        "(invalid)"
    }
}

async fn run<P: Platform>(
    store: &ApiKeyStore<'_, P>,
    route: &Route<'_>,
    req: &AdminRequest<'_>,
    audit: &mut Audit,
    actor: &Identity,
    idempotency_key: Option<&str>,
) -> Result<AdminResponse, AdminResponse> {
    let now = store.platform.now_secs();
    let idempotency = match (audit.action, idempotency_key) {
        ("api_key.create" | "api_key.rotate", Some(value)) => {
            let key = IdempotencyKey::parse(value, actor).map_err(|e| {
                AdminResponse::problem(&Problem::new(ErrorCode::IdempotencyKeyInvalid, e.0))
            })?;
            audit.add("idempotency", json!(true));
            Some(key)
        }
        _ => None,
    };
    match (audit.action, route) {
        ("api_key.create", _) => {
            let new = parse_body::<CreateBody>(req.body, false)?.into_new_key(now)?;
            let claim = idempotency
                .as_ref()
                .map(|k| (k, fingerprint("create", "", req.body)));
            let issued = store.create_with(new, claim).await.map_err(op_error)?;
            let record = &issued.record;
            audit.key_id = Some(record.key_id.clone());
            audit.add("client_id", json!(record.client_id));
            audit.add("scopes", json!(record.scopes));
            Ok(issued_response(
                &issued,
                json!({"key": issued.key, "record": view(record, now)}),
                audit,
            ))
        }
        ("api_key.list", _) => {
            let q = ListQuery::parse(req.query)?;
            let (records, cursor) = store
                .list(q.cursor.as_deref(), q.limit, q.client_id.as_deref())
                .await
                .map_err(op_error)?;
            audit.add("count", json!(records.len()));
            if let Some(c) = &q.client_id {
                audit.add("client_id", json!(c));
            }
            let keys: Vec<Value> = records.iter().map(|r| view(r, now)).collect();
            Ok(AdminResponse::json(
                200,
                json!({"keys": keys, "cursor": cursor}),
            ))
        }
        ("api_key.get", Route::Key(id)) => {
            let record = store.get(id).await.map_err(op_error)?;
            audit.add("client_id", json!(record.client_id));
            Ok(AdminResponse::json(200, view(&record, now)))
        }
        ("api_key.update", Route::Key(id)) => {
            let body = parse_body::<PatchBody>(req.body, false)?;
            let changed = body.changed_fields();
            let patch = body.into_patch(now)?;
            let record = store.update(id, patch).await.map_err(op_error)?;
            audit.add("client_id", json!(record.client_id));
            audit.add("changed", json!(changed));
            Ok(AdminResponse::json(200, view(&record, now)))
        }
        ("api_key.rotate", Route::Rotate(id)) => {
            let body = parse_body::<RotateBody>(req.body, true)?;
            let expiry = expiry_from(body.expires_at, body.ttl_secs, now)?;
            let claim = idempotency
                .as_ref()
                .map(|k| (k, fingerprint("rotate", id, req.body)));
            let issued = store
                .rotate_with(id, body.grace_secs, expiry, claim)
                .await
                .map_err(op_error)?;
            let successor = &issued.record;
            let previous = issued.previous.clone().unwrap_or_else(|| successor.clone());
            audit.add("client_id", json!(successor.client_id));
            audit.add("successor_key_id", json!(successor.key_id));
            audit.add("old_key_expires_at", json!(previous.expires_at));
            Ok(issued_response(
                &issued,
                json!({
                    "key": issued.key,
                    "record": view(successor, now),
                    "previous": view(&previous, now),
                }),
                audit,
            ))
        }
        ("api_key.revoke", Route::Revoke(id)) => {
            let body = parse_body::<RevokeBody>(req.body, true)?;
            let (record, newly) = store.revoke(id, body.reason).await.map_err(op_error)?;
            audit.add("client_id", json!(record.client_id));
            audit.add("already_revoked", json!(!newly));
            Ok(AdminResponse::json(200, view(&record, now)))
        }
        _ => Err(AdminResponse::problem(&Problem::new(
            ErrorCode::RouteNotFound,
            "no such admin route",
        ))),
    }
}

/// A record as the admin API shows it: every stored field plus its status now.
/// 201 with the new key; a replayed idempotent call says so (`Idempotent-Replayed: true`, as
/// payment APIs do) and shows the records as the first call left them.
fn issued_response(issued: &Issued, body: Value, audit: &mut Audit) -> AdminResponse {
    let mut response = AdminResponse::json(201, body);
    if issued.replayed {
        audit.add("replayed", json!(true));
        response
            .headers
            .push(("idempotent-replayed", "true".into()));
    }
    response
}

fn view(record: &ApiKeyRecord, now: u64) -> Value {
    let mut v = serde_json::to_value(record).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("status".into(), json!(record.status(now).as_str()));
    }
    v
}

fn op_error(e: StoreOpError) -> AdminResponse {
    match e {
        StoreOpError::NotFound(id) => {
            let detail = if crate::api_key::format::is_valid_key_id(&id) {
                format!("no API key with id {id}")
            } else {
                "no API key with this id (ids look like key_ followed by 16 base62 characters)"
                    .to_string()
            };
            AdminResponse::problem(&Problem::new(ErrorCode::ApiKeyNotFound, detail))
        }
        StoreOpError::Invalid(field, why) => AdminResponse::problem(
            &Problem::new(ErrorCode::RequestInvalid, format!("{field}: {why}"))
                .with_extension("field", json!(field)),
        ),
        StoreOpError::Conflict(why) => {
            AdminResponse::problem_with_status(&Problem::new(ErrorCode::RequestInvalid, why), 409)
        }
        StoreOpError::IdempotencyMismatch(why) => {
            AdminResponse::problem(&Problem::new(ErrorCode::IdempotencyKeyReused, why))
        }
        StoreOpError::Unavailable(_) => AdminResponse::problem(
            &Problem::new(
                ErrorCode::CredentialStoreUnavailable,
                "the key store could not be reached; nothing was changed that could be confirmed, retry shortly",
            )
            .with_header("Retry-After", "5"),
        ),
    }
}

fn audit<P: Platform>(
    store: &ApiKeyStore<'_, P>,
    actor: &Identity,
    entry: &Audit,
    response: &AdminResponse,
) {
    let mut fields = serde_json::Map::new();
    fields.insert("key_id".into(), json!(entry.key_id));
    for (k, v) in &entry.fields {
        fields.insert(k.clone(), v.clone());
    }
    audit_line(store.platform, actor, entry.action, &fields, response);
}

/// The one audit line of an admin call (the key API's and the revocation API's alike): who, what,
/// the outcome and its code, plus `fields` — never a secret.
pub fn audit_line<P: Platform>(
    platform: &P,
    actor: &Identity,
    action: &str,
    fields: &serde_json::Map<String, Value>,
    response: &AdminResponse,
) {
    let outcome = match response.status {
        s if s < 400 => "success",
        s if s >= 500 => "error",
        _ => "refused",
    };
    let mut line = serde_json::Map::new();
    line.insert("audit".into(), json!(action));
    line.insert("ts".into(), json!(platform.now_secs()));
    line.insert("actor".into(), json!(actor.subject));
    line.insert("actor_method".into(), json!(actor.method.as_str()));
    if let Some(k) = &actor.key_id {
        line.insert("actor_key_id".into(), json!(k));
    }
    if let Some(iss) = &actor.issuer {
        line.insert("actor_issuer".into(), json!(iss));
    }
    line.insert("outcome".into(), json!(outcome));
    line.insert("status".into(), json!(response.status));
    if response.status >= 400 {
        let code = serde_json::from_str::<Value>(&response.body)
            .ok()
            .and_then(|v| v.get("code").cloned());
        line.insert("code".into(), code.unwrap_or(Value::Null));
    }
    for (k, v) in fields {
        line.insert(k.clone(), v.clone());
    }
    platform.log(&Value::Object(line).to_string());
}

// ------------------------------------------------------------------ request bodies

fn bad_request(detail: impl Into<String>) -> AdminResponse {
    AdminResponse::problem(&Problem::new(ErrorCode::RequestInvalid, detail))
}

/// JSON object bodies only; `empty_ok` treats an empty body as `{}`. serde's messages name the
/// field and position ("unknown field `scope`, expected one of …").
fn parse_body<T: for<'de> Deserialize<'de>>(
    body: &[u8],
    empty_ok: bool,
) -> Result<T, AdminResponse> {
    let trimmed = body.trim_ascii();
    let body = if trimmed.is_empty() && empty_ok {
        b"{}".as_slice()
    } else {
        trimmed
    };
    if body.first() != Some(&b'{') {
        return Err(bad_request("the request body must be a JSON object"));
    }
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid JSON body: {e}")))
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn nullable<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `expires_at` (absolute) or `ttl_secs` (relative), never both.
fn expiry_from(
    expires_at: Option<Option<u64>>,
    ttl_secs: Option<u64>,
    now: u64,
) -> Result<Option<Option<u64>>, AdminResponse> {
    match (expires_at, ttl_secs) {
        (Some(_), Some(_)) => Err(bad_request("give expires_at or ttl_secs, not both")),
        (Some(at), None) => Ok(Some(at)),
        (None, Some(0)) => Err(bad_request("ttl_secs: must be at least 1")),
        (None, Some(ttl)) if ttl > MAX_TTL_SECS => Err(bad_request(format!(
            "ttl_secs: at most {MAX_TTL_SECS} (10 years)"
        ))),
        (None, Some(ttl)) => Ok(Some(Some(now + ttl))),
        (None, None) => Ok(None),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    client_id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    expires_at: Option<u64>,
    #[serde(default)]
    ttl_secs: Option<u64>,
    #[serde(default)]
    rate_limit_policy: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

impl CreateBody {
    fn into_new_key(self, now: u64) -> Result<NewKey, AdminResponse> {
        let expires_at = expiry_from(self.expires_at.map(Some), self.ttl_secs, now)?.flatten();
        Ok(NewKey {
            name: self.name.unwrap_or_else(|| self.client_id.clone()),
            client_id: self.client_id,
            scopes: self.scopes,
            expires_at,
            rate_limit_policy: self.rate_limit_policy,
            metadata: self.metadata,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    expires_at: Option<Option<u64>>,
    #[serde(default)]
    ttl_secs: Option<u64>,
    #[serde(default, deserialize_with = "nullable")]
    rate_limit_policy: Option<Option<String>>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
}

impl PatchBody {
    fn changed_fields(&self) -> Vec<&'static str> {
        let mut f = Vec::new();
        if self.name.is_some() {
            f.push("name");
        }
        if self.scopes.is_some() {
            f.push("scopes");
        }
        if self.expires_at.is_some() || self.ttl_secs.is_some() {
            f.push("expires_at");
        }
        if self.rate_limit_policy.is_some() {
            f.push("rate_limit_policy");
        }
        if self.metadata.is_some() {
            f.push("metadata");
        }
        f
    }

    fn into_patch(self, now: u64) -> Result<KeyPatch, AdminResponse> {
        let patch = KeyPatch {
            expires_at: expiry_from(self.expires_at, self.ttl_secs, now)?,
            name: self.name,
            scopes: self.scopes,
            rate_limit_policy: self.rate_limit_policy,
            metadata: self.metadata,
        };
        if patch.is_empty() {
            return Err(bad_request(
                "nothing to change: give name, scopes, expires_at, ttl_secs, rate_limit_policy or metadata",
            ));
        }
        Ok(patch)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    #[serde(default)]
    grace_secs: Option<u64>,
    #[serde(default, deserialize_with = "nullable")]
    expires_at: Option<Option<u64>>,
    #[serde(default)]
    ttl_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    #[serde(default)]
    reason: Option<String>,
}

struct ListQuery {
    cursor: Option<String>,
    limit: u32,
    client_id: Option<String>,
}

impl ListQuery {
    fn parse(query: Option<&str>) -> Result<ListQuery, AdminResponse> {
        let mut q = ListQuery {
            cursor: None,
            limit: DEFAULT_LIST_LIMIT,
            client_id: None,
        };
        let mut seen = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = crate::url::percent_decode(value).ok_or_else(|| {
                bad_request(format!("query parameter {name}: bad percent-encoding"))
            })?;
            if seen.contains(&name) {
                return Err(bad_request(format!("query parameter {name} given twice")));
            }
            seen.push(name);
            match name {
                "cursor" if !value.is_empty() => q.cursor = Some(value),
                "cursor" => {}
                "client_id" => q.client_id = Some(value),
                "limit" => {
                    q.limit = value
                        .parse::<u32>()
                        .ok()
                        .filter(|l| (1..=MAX_LIST_LIMIT).contains(l))
                        .ok_or_else(|| {
                            bad_request(format!("limit: must be 1 to {MAX_LIST_LIMIT}"))
                        })?;
                }
                _ => {
                    return Err(bad_request(
                        "unknown query parameter; GET /keys takes cursor, limit and client_id",
                    ))
                }
            }
        }
        Ok(q)
    }
}

#[cfg(test)]
mod tests;

pub mod refusal_audit;
