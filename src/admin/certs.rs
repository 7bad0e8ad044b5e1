//! The client-certificate registry of the admin API (issue 13), under the admin prefix with the
//! same authentication and scope as the rest of it:
//!
//! | method | path                         | body                                                   | answer |
//! |--------|------------------------------|--------------------------------------------------------|--------|
//! | POST   | /certs                       | `{fingerprint` or `pem, client_id, name?, scopes?, rate_limit_policy?}` | 201 the record (409 if registered) |
//! | GET    | /certs                       |                                                        | 200 `{certs: [...], cursor}` |
//! | GET    | /certs/{fingerprint}         |                                                        | 200 the record |
//! | POST   | /certs/{fingerprint}/revoke  | `{reason?}`                                            | 200 the record |
//!
//! A record lives in KV at `cert:<fingerprint>` (64 lower-case hex digits, SHA-256 of the DER
//! certificate); the request path reads it on every `mtls` request. A revoke marks the record and
//! puts `cert:<fingerprint>` on the revocation list, so every isolate refuses the certificate
//! within the revocation bound. Audit lines: `cert.register`, `cert.list`, `cert.show`,
//! `cert.revoke`, each naming the fingerprint.

use serde::Deserialize;
use serde_json::json;

use crate::log::{self, Event};
use crate::mtls::{self, CertRecord};
use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};
use crate::revocation::client::{self, RevocationWrite};

use super::audit::Audit;
use super::{bad_request, parse_body, AdminContext, Answer};

pub(super) enum Action {
    Register,
    List,
    Show(String),
    Revoke(String),
}

impl Action {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Action::Register => "cert.register",
            Action::List => "cert.list",
            Action::Show(_) => "cert.show",
            Action::Revoke(_) => "cert.revoke",
        }
    }

    pub(super) fn allowed(&self) -> &'static [&'static str] {
        match self {
            Action::Register | Action::List => &["GET", "POST"],
            Action::Show(_) => &["GET"],
            Action::Revoke(_) => &["POST"],
        }
    }

    /// The audit line, naming the fingerprint when the path has a well-formed one.
    pub(super) fn audit(&self) -> Audit {
        let mut audit = Audit::new(self.name());
        if let Action::Show(fp) | Action::Revoke(fp) = self {
            audit.add("fingerprint", json!(fp));
        }
        audit
    }
}

/// `/certs…` → its action for `method` (`Err`: 404 for an unknown path, 405 for a method the
/// endpoint does not take); `None` for any other admin path.
pub(super) fn route(path: &str, method: &str) -> Option<Result<Action, Problem>> {
    let rest = crate::path::under_prefix(path, "/certs")?;
    let parts: Vec<&str> = rest.split('/').skip(1).filter(|p| !p.is_empty()).collect();
    let action = match parts.as_slice() {
        [] if method == "POST" => Action::Register,
        [] => Action::List,
        [fp] => match mtls::normalize_fingerprint(fp) {
            Some(fp) => Action::Show(fp),
            None => return Some(Err(not_a_fingerprint())),
        },
        [fp, "revoke"] => match mtls::normalize_fingerprint(fp) {
            Some(fp) => Action::Revoke(fp),
            None => return Some(Err(not_a_fingerprint())),
        },
        _ => {
            return Some(Err(Problem::new(
                ErrorCode::RouteNotFound,
                "the certificate API serves /certs, /certs/{fingerprint} and /certs/{fingerprint}/revoke",
            )))
        }
    };
    if !action.allowed().contains(&method) {
        return Some(Err(super::method_not_allowed(method, action.allowed())));
    }
    Some(Ok(action))
}

fn not_a_fingerprint() -> Problem {
    Problem::new(
        ErrorCode::RouteNotFound,
        "a certificate is named by its SHA-256 fingerprint: 64 hex digits",
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    #[serde(default)]
    fingerprint: Option<String>,
    #[serde(default)]
    pem: Option<String>,
    client_id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    rate_limit_policy: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    #[serde(default)]
    reason: Option<String>,
}

pub(super) async fn run<P: Platform>(
    ctx: &AdminContext<'_, P>,
    action: &Action,
    body: &[u8],
    query: Option<&str>,
    audit: &mut Audit,
) -> Result<Answer, Problem> {
    let platform = ctx.platform;
    match action {
        Action::Register => {
            let b: RegisterBody = parse_body(body, false)?;
            let fingerprint = match (&b.fingerprint, &b.pem) {
                (Some(fp), None) => mtls::normalize_fingerprint(fp).ok_or_else(|| {
                    bad_request("fingerprint: 64 hex digits (SHA-256 of the DER certificate)")
                })?,
                (None, Some(pem)) => {
                    mtls::pem_fingerprint(pem).map_err(|e| bad_request(format!("pem: {e}")))?
                }
                _ => return Err(bad_request("send exactly one of fingerprint and pem")),
            };
            audit.add("fingerprint", json!(fingerprint));
            audit.add("client_id", json!(b.client_id));
            let record = CertRecord {
                name: b.name.unwrap_or_else(|| b.client_id.clone()),
                fingerprint,
                client_id: b.client_id,
                scopes: b.scopes,
                rate_limit_policy: b.rate_limit_policy,
                created_at: platform.now_secs(),
                revoked_at: None,
                revoked_reason: None,
            };
            record
                .validate()
                .map_err(|(field, why)| bad_request(format!("{field}: {why}")))?;
            let key = mtls::registry_key(&record.fingerprint);
            if read(platform, &key).await?.is_some() {
                return Err(Problem::new(
                    ErrorCode::RequestInvalid,
                    "this certificate is registered already",
                )
                .with_status(409));
            }
            write(platform, &key, &record).await?;
            Ok(Answer::json(201, json!(record)))
        }
        Action::List => {
            let cursor = query.and_then(|q| {
                q.split('&')
                    .find_map(|p| p.strip_prefix("cursor="))
                    .map(str::to_string)
            });
            let page = platform
                .kv_list(mtls::REGISTRY_PREFIX, cursor.as_deref(), 100)
                .await
                .map_err(|e| store_unavailable(platform, &e.0))?;
            let mut certs = Vec::new();
            for key in &page.keys {
                if let Some(record) = read(platform, key).await? {
                    certs.push(record);
                }
            }
            audit.add("count", json!(certs.len()));
            Ok(Answer::json(
                200,
                json!({ "certs": certs, "cursor": page.cursor }),
            ))
        }
        Action::Show(fp) => match read(platform, &mtls::registry_key(fp)).await? {
            Some(record) => Ok(Answer::json(200, json!(record))),
            None => Err(not_found()),
        },
        Action::Revoke(fp) => {
            let b: RevokeBody = parse_body(body, true)?;
            if b.reason
                .as_ref()
                .is_some_and(|r| r.chars().count() > 200 || r.chars().any(char::is_control))
            {
                return Err(bad_request(
                    "reason: at most 200 characters, no control characters",
                ));
            }
            let key = mtls::registry_key(fp);
            let mut record = read(platform, &key).await?.ok_or_else(not_found)?;
            if record.revoked_at.is_none() {
                record.revoked_at = Some(platform.now_secs());
                record.revoked_reason = b.reason;
                write(platform, &key, &record).await?;
            }
            mirror_revocation(ctx, fp).await;
            Ok(Answer::json(200, json!(record)))
        }
    }
}

/// The registry record in KV reaches every isolate within KV's propagation; the revocation list
/// within its own bound (≈ 1 s under traffic). A failure here leaves the KV revocation in force and
/// is logged.
async fn mirror_revocation<P: Platform>(ctx: &AdminContext<'_, P>, fingerprint: &str) {
    let Some(rev) = ctx.revocations.as_ref().filter(|r| r.settings.enabled) else {
        return;
    };
    let write = RevocationWrite::Key {
        key_id: mtls::revocation_id(fingerprint),
        until: ctx.platform.now_secs() + rev.settings.key_revocation_ttl_secs,
    };
    match client::write(ctx.platform, &write).await {
        Ok(w) => w.apply_locally(&mut rev.snapshot.borrow_mut().set),
        Err(why) => log::emit(
            ctx.platform,
            Event::CertRevocationMirrorFailed {
                fingerprint,
                reason: &why,
            },
        ),
    }
}

async fn read<P: Platform>(platform: &P, key: &str) -> Result<Option<CertRecord>, Problem> {
    let raw = platform
        .kv_get(key)
        .await
        .map_err(|e| store_unavailable(platform, &e.0))?;
    match raw {
        None => Ok(None),
        Some(raw) => serde_json::from_str(&raw).map(Some).map_err(|_| {
            store_unavailable(platform, "a certificate registry record is unreadable")
        }),
    }
}

async fn write<P: Platform>(platform: &P, key: &str, record: &CertRecord) -> Result<(), Problem> {
    let value = serde_json::to_string(record).unwrap_or_default();
    platform
        .kv_put(key, &value, None)
        .await
        .map_err(|e| store_unavailable(platform, &e.0))
}

fn not_found() -> Problem {
    Problem::new(
        ErrorCode::ClientCertNotFound,
        "no certificate with this fingerprint is registered",
    )
}

fn store_unavailable<P: Platform>(platform: &P, why: &str) -> Problem {
    log::emit(platform, Event::CredentialStoreUnavailable { reason: why });
    Problem::new(
        ErrorCode::CredentialStoreUnavailable,
        "the certificate registry could not be reached; nothing was confirmed, retry shortly",
    )
    .with_header("retry-after", "5")
}
