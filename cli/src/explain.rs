//! `portcullis explain`: how the gateway configured by `--config` would answer one request, check by
//! check, offline — the route match and every check through the pipeline's own functions
//! (`portcullis::pipeline::explain`), the token through the same `jwt_verify` the gateway runs (the
//! issuer's JWKS fetched from its configured `jwks_uri` or discovery, or given with `--jwks`), or an
//! API key through its record (`--api-key-record`, as `keys show --json` prints it).

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::{json, Value};

use portcullis::api_key::record::ApiKeyRecord;
use portcullis::config::{parse_config, Config};
use portcullis::jose::claims::Payload;
use portcullis::jose::jwk::{parse_jwks, JwkSet};
use portcullis::jose::jws::parse_compact;
use portcullis::pipeline::explain::{explain, CheckOutcome, ExplainCredential, Verdict};
use portcullis::request::RequestHead;

use crate::CliError;

#[derive(Args)]
pub struct ExplainArgs {
    /// The gateway's configuration: wrangler.toml (its `[vars.PORTCULLIS_CONFIG]`), or the
    /// document itself as a .json file.
    #[arg(long, value_name = "PATH")]
    pub config: PathBuf,
    /// The wrangler environment whose document to read (`[env.NAME.vars.PORTCULLIS_CONFIG]`).
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// The request path, with its query if any (`/api/x?y=1`).
    #[arg(long)]
    pub path: String,
    /// The host the client addressed.
    #[arg(long, default_value = "gateway.example")]
    pub host: String,
    /// The request came over plain HTTP (default HTTPS).
    #[arg(long)]
    pub http: bool,
    /// A request header, `NAME: VALUE` (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// A bearer token, or `-` to read it from stdin. Never printed.
    #[arg(long, conflicts_with = "api_key_record")]
    pub token: Option<String>,
    /// The issuer's JWKS as a file, instead of fetching it.
    #[arg(long, value_name = "PATH", requires = "token")]
    pub jwks: Option<PathBuf>,
    /// An API key's record (JSON, as `portcullis keys show --json` prints it): the request is
    /// explained as if it carried that key.
    #[arg(long, value_name = "PATH")]
    pub api_key_record: Option<PathBuf>,
    /// Judge as of this Unix time instead of now.
    #[arg(long)]
    pub now: Option<u64>,
}

/// The explanation as JSON, and whether the gateway would refuse the request.
pub fn run(a: ExplainArgs) -> Result<(Value, bool), CliError> {
    let config = load_config(&a.config, a.env.as_deref())?;
    let token = match a.token.as_deref() {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| CliError::Usage(format!("cannot read the token from stdin: {e}")))?;
            Some(s.trim().to_string())
        }
        Some(t) => Some(t.trim().to_string()),
        None => None,
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for h in &a.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| CliError::Usage(format!("--header {h:?}: write NAME: VALUE")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    if let Some(t) = &token {
        headers.push(("authorization".into(), format!("Bearer {t}")));
    }
    let record = match &a.api_key_record {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
            let record: ApiKeyRecord = serde_json::from_str(&text).map_err(|e| {
                CliError::Usage(format!("{} is not an API-key record: {e}", path.display()))
            })?;
            // Stands for the key whose record this is; its value is never read.
            headers.push(("x-api-key".into(), format!("{}_explain", record.prefix)));
            Some(record)
        }
    };
    if !a.path.starts_with('/') {
        return Err(CliError::Usage("--path must start with '/'".into()));
    }
    let scheme = if a.http { "http" } else { "https" };
    let req = RequestHead {
        method: a.method.to_ascii_uppercase(),
        url: format!("{scheme}://{}{}", a.host, a.path),
        headers,
    };
    let now = a.now.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    let keys;
    let credential = match (record, &token) {
        (Some(record), _) => ExplainCredential::ApiKeyRecord(Box::new(record)),
        (None, Some(t)) => {
            keys = match &a.jwks {
                Some(path) => read_jwks(path)?,
                None => fetch_jwks(&config, t)?,
            };
            ExplainCredential::Keys(&keys)
        }
        (None, None) => {
            keys = JwkSet::default();
            ExplainCredential::Keys(&keys)
        }
    };
    let e = explain(&config, &req, credential, now);
    let checks: Vec<Value> = e
        .checks
        .iter()
        .map(|c| {
            let (result, code, status) = match c.outcome {
                CheckOutcome::Pass => ("pass", None, None),
                CheckOutcome::Fail { code, status } => ("fail", Some(code), Some(status)),
                CheckOutcome::NotChecked => ("not checked", None, None),
            };
            json!({"check": c.name, "result": result, "code": code, "status": status, "detail": c.detail})
        })
        .collect();
    let (verdict, refused) = match &e.verdict {
        Verdict::Forwarded => (json!({"answer": "forwarded"}), false),
        Verdict::Admin => (json!({"answer": "admin"}), false),
        Verdict::Undecided => (
            json!({"answer": "undecided", "reason": "introspection: not checked offline"}),
            false,
        ),
        Verdict::Redirect(location) => (
            json!({"answer": "redirect", "status": 308, "location": location}),
            false,
        ),
        Verdict::Refused { code, status } => (
            json!({"answer": "refused", "status": status, "code": code}),
            true,
        ),
    };
    Ok((
        json!({"route": e.route, "checks": checks, "verdict": verdict}),
        refused,
    ))
}

/// The explanation as text: one line per check, then the verdict.
pub fn text(explanation: &Value) -> String {
    let mut out = String::new();
    for c in explanation["checks"].as_array().into_iter().flatten() {
        let result = match (c["result"].as_str(), c["code"].as_str()) {
            (Some("fail"), Some(code)) => format!("FAIL {code} ({})", c["status"]),
            (Some(r), _) => r.to_uppercase(),
            _ => String::new(),
        };
        out.push_str(&format!(
            "{:<15} {:<12} {}\n",
            c["check"].as_str().unwrap_or(""),
            result,
            c["detail"].as_str().unwrap_or("")
        ));
    }
    let v = &explanation["verdict"];
    out.push_str(&match v["answer"].as_str() {
        Some("refused") => format!(
            "verdict: refused, {} {}",
            v["status"],
            v["code"].as_str().unwrap_or("")
        ),
        Some("redirect") => format!(
            "verdict: 308 redirect to {}",
            v["location"].as_str().unwrap_or("")
        ),
        Some("admin") => {
            "verdict: answered by the admin API (revocation not checked offline)".into()
        }
        Some("undecided") => {
            "verdict: undecided (introspection: not checked offline; the authorization server decides)"
                .into()
        }
        _ => "verdict: forwarded to the origin (revocation and rate limits not checked offline)"
            .into(),
    });
    out
}

/// The configuration document of a wrangler.toml (a table or a JSON string var), or a JSON file.
fn load_config(path: &PathBuf, env: Option<&str>) -> Result<Config, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
    let doc: Value = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text)
            .map_err(|e| CliError::Usage(format!("{} is not JSON: {e}", path.display())))?
    } else {
        let toml: toml::Value = toml::from_str(&text)
            .map_err(|e| CliError::Usage(format!("{} is not TOML: {e}", path.display())))?;
        let scope = match env {
            Some(name) => toml.get("env").and_then(|e| e.get(name)).ok_or_else(|| {
                CliError::Usage(format!("{} has no [env.{name}]", path.display()))
            })?,
            None => &toml,
        };
        let var = scope
            .get("vars")
            .and_then(|v| v.get("PORTCULLIS_CONFIG"))
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "{} has no vars.PORTCULLIS_CONFIG{}",
                    path.display(),
                    env.map(|e| format!(" in [env.{e}]")).unwrap_or_default()
                ))
            })?;
        serde_json::to_value(var).map_err(|e| CliError::Usage(format!("PORTCULLIS_CONFIG: {e}")))?
    };
    parse_config(&doc).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        CliError::Refused(format!(
            "gateway_misconfigured: the configuration is invalid (every request gets 503):\n  {}",
            list.join("\n  ")
        ))
    })
}

fn read_jwks(path: &PathBuf) -> Result<JwkSet, CliError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
    parse_jwks(&bytes)
        .map_err(|e| CliError::Usage(format!("{} is not a usable JWKS: {e}", path.display())))
}

/// The keys of the token's issuer, fetched as the gateway would: its configured `jwks_uri`, or
/// discovered from its metadata; for the gateway's own issuer (`sessions`), the JWKS the gateway
/// publishes. The token's `iss` is read unverified, only to pick the issuer;
/// an issuer the configuration does not trust gets an empty set (the verification then says why).
fn fetch_jwks(config: &Config, token: &str) -> Result<JwkSet, CliError> {
    let iss = parse_compact(token, config.max_token_bytes)
        .ok()
        .and_then(|jws| Payload::parse(&jws.payload).ok())
        .and_then(|p| p.issuer().ok());
    let Some(issuer) = iss.and_then(|iss| config.issuers.iter().find(|i| i.issuer == iss)) else {
        return Ok(JwkSet::default());
    };
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_millis(u64::from(
                config.jwks.fetch_timeout_ms,
            ))))
            .build(),
    );
    let get = |url: &str| -> Result<Vec<u8>, CliError> {
        let fail = |why: String| CliError::Unreachable(format!("fetching {url}: {why}"));
        let mut r = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
        if r.status().as_u16() != 200 {
            return Err(fail(format!("status {}", r.status().as_u16())));
        }
        r.body_mut()
            .with_config()
            .limit(config.jwks.max_bytes as u64)
            .read_to_vec()
            .map_err(|e| fail(e.to_string()))
    };
    let own = config.sessions.enabled && issuer.issuer == config.sessions.issuer;
    let jwks_uri = match &issuer.jwks_uri {
        Some(uri) => uri.clone(),
        // The gateway's own issuer: its keys are where the gateway publishes them (it serves RFC
        // 8414 metadata, not OpenID discovery).
        None if own => portcullis::signing::published_jwks_uri(&issuer.issuer),
        None => {
            let base = issuer.issuer.trim_end_matches('/');
            let meta: Value =
                serde_json::from_slice(&get(&format!("{base}/.well-known/openid-configuration"))?)
                    .map_err(|e| CliError::Unreachable(format!("the issuer's metadata: {e}")))?;
            if meta["issuer"].as_str() != Some(issuer.issuer.as_str()) {
                return Err(CliError::Unreachable(
                    "the issuer's metadata names another issuer".into(),
                ));
            }
            meta["jwks_uri"]
                .as_str()
                .ok_or_else(|| {
                    CliError::Unreachable("the issuer's metadata has no jwks_uri".into())
                })?
                .to_string()
        }
    };
    parse_jwks(&get(&jwks_uri)?)
        .map_err(|e| CliError::Unreachable(format!("{jwks_uri} is not a usable JWKS: {e}")))
}
