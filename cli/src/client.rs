//! A small blocking client for the gateway's admin API.

use std::time::Duration;

use serde_json::Value;

use crate::CliError;

/// How the CLI proves it is an admin: an API key with the admin scope (`X-API-Key`) or a JWT
/// carrying it (`Authorization: Bearer`). Never printed.
pub enum Credential {
    ApiKey(String),
    Bearer(String),
}

pub struct AdminClient {
    agent: ureq::Agent,
    /// `https://gw.example.com/admin`, no trailing slash.
    base: String,
    credential: Credential,
    /// Sent as `Idempotency-Key` on POST calls (create, rotate): a retry with the same value gets
    /// the first call's outcome.
    idempotency_key: Option<String>,
}

impl AdminClient {
    pub fn new(
        gateway: &str,
        admin_prefix: &str,
        credential: Credential,
        timeout: Duration,
        allow_http: bool,
    ) -> Result<Self, CliError> {
        let gateway = gateway.trim_end_matches('/');
        check_gateway_url(gateway, allow_http)?;
        if !admin_prefix.starts_with('/') || admin_prefix.contains(['?', '#']) {
            return Err(CliError::Usage(format!(
                "--admin-prefix must be a path starting with / (got \"{admin_prefix}\")"
            )));
        }
        let config = ureq::Agent::config_builder()
            // 4xx/5xx are answers to report, not transport failures.
            .http_status_as_error(false)
            // Never replay the admin credential to wherever a redirect points.
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .user_agent(concat!("portcullis-cli/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(AdminClient {
            agent: ureq::Agent::new_with_config(config),
            base: format!("{gateway}{}", admin_prefix.trim_end_matches('/')),
            credential,
            idempotency_key: None,
        })
    }

    /// Sends `key` as the `Idempotency-Key` of this client's POST calls.
    pub fn with_idempotency_key(mut self, key: Option<String>) -> Self {
        self.idempotency_key = key;
        self
    }

    /// One admin call; `Ok` with the JSON body on 2xx, a classified `CliError` otherwise.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let mut url = format!("{}{path}", self.base);
        if !query.is_empty() {
            let pairs: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{k}={}", percent_encode(v)))
                .collect();
            url.push('?');
            url.push_str(&pairs.join("&"));
        }
        let unreachable = |e: ureq::Error| {
            CliError::Unreachable(format!("cannot reach the gateway at {}: {e}", self.base))
        };
        let (name, value) = match &self.credential {
            Credential::ApiKey(k) => ("x-api-key", k.clone()),
            Credential::Bearer(t) => ("authorization", format!("Bearer {t}")),
        };
        let body_text = body.map(Value::to_string).unwrap_or_else(|| "{}".into());
        let response = match method {
            "GET" => self.agent.get(&url).header(name, &value).call(),
            "POST" => {
                let mut post = self
                    .agent
                    .post(&url)
                    .header(name, &value)
                    .header("content-type", "application/json");
                if let Some(k) = &self.idempotency_key {
                    post = post.header("idempotency-key", k);
                }
                post.send(body_text.as_str())
            }
            "PATCH" => self
                .agent
                .patch(&url)
                .header(name, &value)
                .header("content-type", "application/json")
                .send(body_text.as_str()),
            other => unreachable!("the CLI never sends {other}"),
        };
        let mut response = response.map_err(unreachable)?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| CliError::Unreachable(format!("reading the gateway's answer: {e}")))?;
        let json: Option<Value> = serde_json::from_str(&text).ok();
        if (200..300).contains(&status) {
            return json.ok_or_else(|| {
                CliError::Api(format!(
                    "the gateway answered {status} with a body that is not JSON; is {} a Portcullis admin API?",
                    self.base
                ))
            });
        }
        Err(classify(status, json.as_ref(), &self.base))
    }
}

/// Turns a refusal into an error that says what to do about it.
fn classify(status: u16, problem: Option<&Value>, base: &str) -> CliError {
    let field = |name: &str| {
        problem
            .and_then(|p| p.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let code = field("code").unwrap_or_default();
    let detail = field("detail").unwrap_or_else(|| format!("HTTP {status}"));
    match (status, code.as_str()) {
        (401, _) => CliError::Auth(format!(
            "the gateway refused the admin credential ({code}): {detail}"
        )),
        (403, _) => CliError::Auth(format!(
            "the admin credential is not allowed to do this ({code}): {detail}"
        )),
        (404, "api_key_not_found") => CliError::NotFound(detail),
        (404, _) => CliError::NotFound(format!(
            "no admin API at {base} ({}); is the admin API enabled in the gateway config, and is --admin-prefix right?",
            if code.is_empty() { format!("HTTP {status}") } else { code }
        )),
        (300..=399, _) => CliError::Api(format!(
            "the gateway answered with a redirect (HTTP {status}); use its https:// URL"
        )),
        _ if code.is_empty() => CliError::Api(format!("the gateway answered HTTP {status}")),
        _ => CliError::Api(format!("HTTP {status} {code}: {detail}")),
    }
}

/// The admin credential travels in a header, so plain HTTP is refused except to this machine.
fn check_gateway_url(url: &str, allow_http: bool) -> Result<(), CliError> {
    let bad = |why: &str| Err(CliError::Usage(format!("--gateway {url}: {why}")));
    let Some((scheme, rest)) = url.split_once("://") else {
        return bad("must be a URL like https://gateway.example.com");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return bad("has no host");
    }
    if authority.contains('@') {
        return bad("must not contain credentials; use PORTCULLIS_ADMIN_KEY");
    }
    if rest.contains(['?', '#']) {
        return bad("must not have a query or fragment");
    }
    match scheme {
        "https" => Ok(()),
        "http" => {
            let host = if let Some(v6) = authority.strip_prefix('[') {
                v6.split(']').next().unwrap_or("")
            } else {
                authority.rsplit_once(':').map_or(authority, |(h, _)| h)
            };
            let loopback = host == "localhost"
                || host == "::1"
                || host
                    .parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback || allow_http {
                Ok(())
            } else {
                bad("plain http would expose the admin credential; use https (or --allow-http)")
            }
        }
        _ => bad("scheme must be https (or http for localhost)"),
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_urls() {
        for ok in [
            "https://gw.example.com",
            "https://gw.example.com/base",
            "http://127.0.0.1:8787",
            "http://localhost:8787",
            "http://[::1]:8787",
        ] {
            assert!(check_gateway_url(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "gw.example.com",
            "http://gw.example.com",
            "https://user:pw@gw.example.com",
            "ftp://gw.example.com",
            "https://",
            "https://gw.example.com/?x=1",
        ] {
            assert!(check_gateway_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_gateway_url("http://gw.internal", true).is_ok());
    }

    #[test]
    fn refusals_are_classified() {
        let problem = |code: &str| serde_json::json!({"code": code, "detail": "d"});
        assert!(matches!(
            classify(401, Some(&problem("api_key_invalid")), "b"),
            CliError::Auth(_)
        ));
        assert!(matches!(
            classify(403, Some(&problem("insufficient_scope")), "b"),
            CliError::Auth(_)
        ));
        assert!(matches!(
            classify(404, Some(&problem("api_key_not_found")), "b"),
            CliError::NotFound(d) if d == "d"
        ));
        assert!(matches!(
            classify(404, Some(&problem("route_not_found")), "b"),
            CliError::NotFound(d) if d.contains("admin API enabled")
        ));
        assert!(matches!(classify(503, None, "b"), CliError::Api(_)));
        assert_eq!(percent_encode("a b/+="), "a%20b%2F%2B%3D");
    }
}
