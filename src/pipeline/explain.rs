//! `portcullis explain`: why would the gateway answer this request the way it does? The request
//! runs through the pipeline's own functions, offline and in order — the parse stage (route match,
//! request shape), the credential the route checks (`authenticate::credential_to_check`), the one
//! JWT verification (`jose::verify::jwt_verify`, with a JWK set and the native verifier in place of
//! the JWKS cache and WebCrypto) and its identity (`authenticate::jwt_identity`), or an API-key
//! record (`api_key::store::record_identity`), the token's binding (`possession::check_bearer`;
//! a DPoP proof or a certificate binding needs the live request and is reported as not checked, and
//! an `mtls` route is refused as it would be without a certificate), then authorization (`authorize`: scopes and
//! `require`, and the routes of the path's other readings) — and each check is reported with its
//! outcome and the code the gateway would answer. What needs the live gateway (the revocation list,
//! rate limits, the origin) is reported as not checked.

use crate::api_key::record::ApiKeyRecord;
use crate::config::Config;
use crate::identity::{AuthMethod, Identity};
use crate::jose::jwk::JwkSet;
use crate::jose::verify::{jwt_verify, run_ready, NativeVerifier};
use crate::problem::Problem;

use super::authenticate::{credential_to_check, jwt_identity, Checked};
use super::parse::{parse, ParseOutcome};
use super::{authorize, method_override, RequestHead};

/// What the caller presents besides the request's own headers.
pub enum ExplainCredential<'a> {
    /// The request's `Authorization: Bearer` token is verified against these keys.
    Keys(&'a JwkSet),
    /// The request's `X-API-Key` stands for a key with this record.
    ApiKeyRecord(Box<ApiKeyRecord>),
}

/// One check and how it went.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: &'static str,
    pub outcome: CheckOutcome,
    /// What was checked, or why it failed (never a credential or a claim value).
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    Pass,
    /// Refused with this code and status.
    Fail {
        code: &'static str,
        status: u16,
    },
    /// Needs the running gateway.
    NotChecked,
}

/// The gateway's answer, as far as it can be known offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Forwarded to the origin (subject to what was not checked).
    Forwarded,
    /// Answered by the admin API (subject to what was not checked).
    Admin,
    /// Redirected to HTTPS.
    Redirect(String),
    /// Decided by what cannot be checked offline: an opaque token's introspection answer.
    Undecided,
    Refused {
        code: &'static str,
        status: u16,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub route: Option<String>,
    pub checks: Vec<Check>,
    pub verdict: Verdict,
}

struct Report {
    checks: Vec<Check>,
    route: Option<String>,
}

impl Report {
    fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.checks.push(Check {
            name,
            outcome: CheckOutcome::Pass,
            detail: detail.into(),
        });
    }

    fn not_checked(&mut self, name: &'static str, detail: impl Into<String>) {
        self.checks.push(Check {
            name,
            outcome: CheckOutcome::NotChecked,
            detail: detail.into(),
        });
    }

    /// Records the failure and returns the explanation it ends with.
    fn fail(mut self, name: &'static str, problem: &Problem) -> Explanation {
        let (code, status) = (problem.code.as_str(), problem.status());
        self.checks.push(Check {
            name,
            outcome: CheckOutcome::Fail { code, status },
            detail: problem.detail.clone(),
        });
        Explanation {
            route: self.route,
            checks: self.checks,
            verdict: Verdict::Refused { code, status },
        }
    }
}

/// The one JWT verification and its identity, with the keys the caller gave (`scheme` names the
/// `Authorization` scheme in the error when none were given).
fn verify_token(
    config: &Config,
    token: &str,
    credential: &ExplainCredential<'_>,
    now_secs: u64,
    scheme: &str,
) -> Result<Identity, Problem> {
    let ExplainCredential::Keys(keys) = credential else {
        return Err(Problem::new(
            crate::problem::ErrorCode::TokenKeyUnknown,
            format!("no JWK set was given to verify the {scheme} token with"),
        ));
    };
    let verified = run_ready(jwt_verify(
        token,
        config.max_token_bytes,
        &config.issuers,
        *keys,
        &NativeVerifier,
        || now_secs,
    ));
    verified
        .map_err(Problem::from)
        .and_then(|v| jwt_identity(config, v).map(|(identity, _)| identity))
}

/// Explains the gateway's answer to `req` under `config` at `now_secs`.
pub fn explain(
    config: &Config,
    req: &RequestHead,
    credential: ExplainCredential<'_>,
    now_secs: u64,
) -> Explanation {
    let mut report = Report {
        checks: Vec::new(),
        route: None,
    };
    let parsed = match parse(config, req) {
        ParseOutcome::Route(p) => p,
        ParseOutcome::Redirect(location) => {
            report.pass("request", format!("plain HTTP: redirected to {location}"));
            return Explanation {
                route: None,
                checks: report.checks,
                verdict: Verdict::Redirect(location),
            };
        }
        ParseOutcome::Refuse(problem) => return report.fail("request", &problem),
    };
    let route = parsed.route;
    report.route = Some(route.name.clone());
    report.pass(
        "route",
        format!(
            "{} {} matches route {:?}",
            req.method, parsed.path, route.name
        ),
    );
    let shape = crate::origin::forbidden_body(req)
        .or_else(|| crate::origin::conflicting_framing(req))
        .map(Err)
        .unwrap_or_else(|| method_override::check_query(&req.method, parsed.query.as_deref()));
    if let Err(problem) = shape {
        return report.fail("request", &problem);
    }

    // Offline there is no TLS handshake: the runtime's report on a client certificate is unknown.
    let no_cert = crate::mtls::LazyCertificate::known(crate::mtls::ClientCertificate::Unknown);
    let identity = match credential_to_check(
        route,
        &parsed.presented,
        config.dpop.enabled,
        &no_cert,
    ) {
        Err(refusal) => return report.fail("credential", &refusal.problem),
        Ok(Checked::Public) => {
            report.pass("credential", "a public route checks none");
            Identity::anonymous()
        }
        Ok(Checked::Bearer(token)) if crate::introspection::takes(&config.introspection, token) => {
            // The answer (active, subject, scopes) is the authorization server's, now: nothing
            // after the credential can be judged without it.
            report.not_checked(
                "credential",
                format!(
                    "introspection: not checked offline (an opaque token; the gateway asks {})",
                    config.introspection.endpoint
                ),
            );
            return Explanation {
                route: report.route,
                checks: report.checks,
                verdict: Verdict::Undecided,
            };
        }
        Ok(Checked::Bearer(token)) => {
            let identity = match verify_token(config, token, &credential, now_secs, "bearer") {
                Ok(identity) => identity,
                Err(problem) => return report.fail("credential", &problem),
            };
            report.pass(
                "credential",
                format!(
                    "bearer token of {} for subject {:?}: signature, claims and claim headers pass",
                    identity.issuer.as_deref().unwrap_or_default(),
                    identity.subject
                ),
            );
            // A certificate-bound token needs the request's TLS client certificate; every other
            // binding check is decided by the token and the route alone.
            if let Some(crate::identity::Confirmation::X5tS256(_)) = &identity.holder.confirmation {
                report.not_checked(
                    "possession",
                    "the token is bound to a client certificate (cnf x5t#S256): only the running gateway sees the TLS handshake",
                );
            } else if let Err(problem) =
                super::possession::check_bearer(&identity, route, &no_cert, now_secs)
            {
                return report.fail("possession", &problem);
            }
            identity
        }
        Ok(Checked::Dpop(token)) => {
            let identity = match verify_token(config, token, &credential, now_secs, "DPoP") {
                Ok(identity) => identity,
                Err(problem) => return report.fail("credential", &problem),
            };
            report.pass(
                "credential",
                format!(
                    "DPoP-bound token of {} for subject {:?}: signature, claims and claim headers pass",
                    identity.issuer.as_deref().unwrap_or_default(),
                    identity.subject
                ),
            );
            report.not_checked(
                "possession",
                "the DPoP proof (its key, freshness, nonce and single use) is checked by the running gateway",
            );
            identity
        }
        Ok(Checked::Mtls) => {
            // No certificate can be given offline: the gateway answers a request without one so.
            let problem = Problem::from(crate::mtls::CertError::Missing);
            return report.fail("credential", &problem);
        }
        Ok(Checked::ApiKey(_)) => {
            let ExplainCredential::ApiKeyRecord(record) = credential else {
                return report.fail(
                    "credential",
                    &Problem::new(
                        crate::problem::ErrorCode::ApiKeyInvalid,
                        "no API-key record was given for the X-API-Key",
                    ),
                );
            };
            match crate::api_key::store::record_identity(*record, now_secs) {
                Ok(identity) => {
                    report.pass(
                        "credential",
                        format!(
                            "API key {} of client {:?} is active",
                            identity.key_id.as_deref().unwrap_or_default(),
                            identity.subject
                        ),
                    );
                    identity
                }
                Err(e) => return report.fail("credential", &Problem::from(e)),
            }
        }
    };
    if identity.method != AuthMethod::Public {
        // Named from the facts the gate itself checks (`revocation::gate::facts`), so the text
        // cannot drift from the check; names only, never a claim value.
        let bound = crate::revocation::gate::bound_certificate_id(&identity);
        let entries = crate::revocation::gate::facts(&identity, bound.as_deref()).entries_checked();
        report.not_checked(
            "revocation",
            format!(
                "the revocation list is the running gateway's; it would look this credential up by {}",
                entries.join(", ")
            ),
        );
    }

    if let Err(refusal) = authorize::authorize(route, &identity) {
        let name = match refusal.problem.code {
            crate::problem::ErrorCode::InsufficientScope => "scopes",
            _ => "require",
        };
        return report.fail(name, &refusal.problem);
    }
    if !route.scopes.is_empty() {
        report.pass(
            "scopes",
            format!("holds every required scope: {}", route.scopes.join(" ")),
        );
    }
    for condition in &route.require {
        report.pass(
            "require",
            format!("{:?} meets the route's condition", condition.claim.as_str()),
        );
    }
    for other in &parsed.also {
        if let Err(refusal) = authorize::authorize_also(other, &identity) {
            return report.fail("other readings", &refusal.problem);
        }
        report.pass(
            "other readings",
            format!(
                "route {:?}, which another origin's reading of the path reaches, admits it too",
                other.name
            ),
        );
    }
    if route.admin {
        return Explanation {
            route: report.route,
            checks: report.checks,
            verdict: Verdict::Admin,
        };
    }
    if let Some(policy) = &route.rate_limit {
        report.not_checked(
            "rate limit",
            format!("policy {policy:?} is counted by the running gateway"),
        );
    }
    Explanation {
        route: report.route,
        checks: report.checks,
        verdict: Verdict::Forwarded,
    }
}
