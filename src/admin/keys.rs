//! The API-key endpoints of the admin API: create, list, show, update, rotate and revoke keys,
//! over `ApiKeyStore` (every write goes through the key's ledger object).
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
//! Every call's audit line is `api_key.<action>` with the key id, never a key. A revoke answers
//! with `Effect::KeyRevoked`, which the router has the revocation list mirror.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use crate::api_key::ledger::idempotency::fingerprint;
use crate::api_key::ledger::IdempotencyKey;
use crate::api_key::record::ApiKeyRecord;
use crate::api_key::store::{Issued, KeyPatch, NewKey, StoreOpError, MAX_LIST_LIMIT};
use crate::identity::Identity;
use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};

use super::audit::Audit;
use super::{bad_request, parse_body, AdminContext, AdminRequest, Answer, Effect};

pub(crate) const DEFAULT_LIST_LIMIT: u32 = 50;
/// Longest `ttl_secs` accepted: 10 years.
pub(crate) const MAX_TTL_SECS: u64 = 10 * 365 * 86_400;

pub(super) enum Route<'p> {
    Collection,
    Key(&'p str),
    Rotate(&'p str),
    Revoke(&'p str),
}

impl<'p> Route<'p> {
    pub(super) fn allowed(&self) -> &'static [&'static str] {
        match self {
            Route::Collection => &["GET", "POST"],
            Route::Key(_) => &["GET", "PATCH"],
            Route::Rotate(_) | Route::Revoke(_) => &["POST"],
        }
    }

    /// The audit action of `method` (upper-case) here; `None`: the method is not allowed.
    pub(super) fn action(&self, method: &str) -> Option<&'static str> {
        Some(match (self, method) {
            (Route::Collection, "POST") => "api_key.create",
            (Route::Collection, "GET") => "api_key.list",
            (Route::Key(_), "GET") => "api_key.get",
            (Route::Key(_), "PATCH") => "api_key.update",
            (Route::Rotate(_), "POST") => "api_key.rotate",
            (Route::Revoke(_), "POST") => "api_key.revoke",
            _ => return None,
        })
    }

    pub(super) fn key_id(&self) -> Option<&'p str> {
        match self {
            Route::Collection => None,
            Route::Key(id) | Route::Rotate(id) | Route::Revoke(id) => Some(id),
        }
    }
}

pub(super) fn route(path: &str) -> Option<Route<'_>> {
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

pub(super) fn unknown_route() -> Problem {
    Problem::new(
        ErrorCode::RouteNotFound,
        "the admin API serves /keys, /keys/{id}, /keys/{id}/rotate and /keys/{id}/revoke",
    )
}

/// A key API audit line always names the key id (`null` when there is none). An id from the URL
/// goes in only when it is well-formed (it is attacker input otherwise).
pub(super) fn audit_for(key_id: Option<&str>, action: &'static str) -> Audit {
    let mut audit = Audit::new(action);
    let key_id = key_id.map(|id| {
        if crate::api_key::format::is_valid_key_id(id) {
            id
        } else {
            "(invalid)"
        }
    });
    audit.add("key_id", json!(key_id));
    audit
}

pub(super) async fn run<P: Platform>(
    ctx: &AdminContext<'_, P>,
    route: &Route<'_>,
    action: &'static str,
    req: &AdminRequest<'_>,
    audit: &mut Audit,
    actor: &Identity,
) -> Result<Answer, Problem> {
    let store = &ctx.keys;
    let now = ctx.platform.now_secs();
    let idempotency = match (action, req.idempotency_key) {
        ("api_key.create" | "api_key.rotate", Some(value)) => {
            let key = IdempotencyKey::parse(value, actor)
                .map_err(|e| Problem::new(ErrorCode::IdempotencyKeyInvalid, e.0))?;
            audit.add("idempotency", json!(true));
            Some(key)
        }
        _ => None,
    };
    match (action, route) {
        ("api_key.create", _) => {
            let new = parse_body::<CreateBody>(req.body, false)?.into_new_key(now)?;
            let claim = idempotency
                .as_ref()
                .map(|k| (k, fingerprint("create", "", req.body)));
            let issued = store.create_with(new, claim).await.map_err(op_error)?;
            let record = &issued.record;
            audit.add("key_id", json!(record.key_id));
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
            Ok(Answer::json(200, json!({"keys": keys, "cursor": cursor})))
        }
        ("api_key.get", Route::Key(id)) => {
            let record = store.get(id).await.map_err(op_error)?;
            audit.add("client_id", json!(record.client_id));
            Ok(Answer::json(200, view(&record, now)))
        }
        ("api_key.update", Route::Key(id)) => {
            let body = parse_body::<PatchBody>(req.body, false)?;
            let changed = body.changed_fields();
            let patch = body.into_patch(now)?;
            let record = store.update(id, patch).await.map_err(op_error)?;
            audit.add("client_id", json!(record.client_id));
            audit.add("changed", json!(changed));
            Ok(Answer::json(200, view(&record, now)))
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
            let mut answer = Answer::json(200, view(&record, now));
            answer.effect = Some(Effect::KeyRevoked {
                key_id: record.key_id.clone(),
            });
            Ok(answer)
        }
        _ => Err(Problem::new(
            ErrorCode::RouteNotFound,
            "no such admin route",
        )),
    }
}

/// 201 with the new key; a replayed idempotent call says so (`Idempotent-Replayed: true`, as
/// payment APIs do) and shows the records as the first call left them.
fn issued_response(issued: &Issued, body: Value, audit: &mut Audit) -> Answer {
    let mut answer = Answer::json(201, body);
    if issued.replayed {
        audit.add("replayed", json!(true));
        answer
            .headers
            .push(("idempotent-replayed".into(), "true".into()));
    }
    answer
}

/// A record as the admin API shows it: every stored field plus its status now.
fn view(record: &ApiKeyRecord, now: u64) -> Value {
    let mut v = serde_json::to_value(record).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("status".into(), json!(record.status(now).as_str()));
    }
    v
}

fn op_error(e: StoreOpError) -> Problem {
    match e {
        StoreOpError::NotFound(id) => {
            let detail = if crate::api_key::format::is_valid_key_id(&id) {
                format!("no API key with id {id}")
            } else {
                "no API key with this id (ids look like key_ followed by 16 base62 characters)"
                    .to_string()
            };
            Problem::new(ErrorCode::ApiKeyNotFound, detail)
        }
        StoreOpError::Invalid(field, why) => {
            Problem::new(ErrorCode::RequestInvalid, format!("{field}: {why}"))
                .with_extension("field", json!(field))
        }
        StoreOpError::Conflict(why) => {
            Problem::new(ErrorCode::RequestInvalid, why).with_status(409)
        }
        StoreOpError::IdempotencyMismatch(why) => {
            Problem::new(ErrorCode::IdempotencyKeyReused, why)
        }
        StoreOpError::Unavailable(_) => Problem::new(
            ErrorCode::CredentialStoreUnavailable,
            "the key store could not be reached; nothing was changed that could be confirmed, retry shortly",
        )
        .with_header("retry-after", "5"),
    }
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
) -> Result<Option<Option<u64>>, Problem> {
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
    fn into_new_key(self, now: u64) -> Result<NewKey, Problem> {
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

    fn into_patch(self, now: u64) -> Result<KeyPatch, Problem> {
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
    fn parse(query: Option<&str>) -> Result<ListQuery, Problem> {
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
