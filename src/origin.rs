//! The request to the origin as policy, free of Workers types: how long the gateway waits for the
//! origin's response head, whether a shared cache may answer for the origin, which requests may be
//! sent twice, which requests can be forwarded at all, and how each way a forward can fail is
//! answered and logged. `edge::http::forward` acts on these decisions.

use std::ops::RangeInclusive;

use crate::log::Event;
use crate::problem::{ErrorCode, Problem};
use crate::request::RequestHead;

/// `origin_timeout_ms` when the document gives none: between Envoy's 15 s and nginx's 60 s.
pub(crate) const DEFAULT_TIMEOUT_MS: u32 = 30_000;
/// Accepted `origin_timeout_ms` values, top level and per route.
pub(crate) const TIMEOUT_RANGE_MS: RangeInclusive<u32> = 100..=300_000;

/// How the runtime's fetch of the origin treats a shared cache (in production, Cloudflare's own
/// cache for the origin's hostname).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginCache {
    /// `RequestInit.cache = "no-store"`: no cache answers for the origin and none stores its
    /// response; the runtime also sends `Cache-Control: no-cache` and `Pragma: no-cache` upstream.
    /// The default on every authenticated route: the gateway strips `Authorization` (what keeps a
    /// request out of shared caches, RFC 9111 §3.5) and carries identity in `x-user-*`, which no
    /// cache key includes, so a cached per-user response would be served to another user.
    Bypass,
    /// The runtime's default caching (the default on public routes).
    Default,
}

impl OriginCache {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "bypass" => Some(OriginCache::Bypass),
            "default" => Some(OriginCache::Default),
            _ => None,
        }
    }

    /// The safe default for a route: only public routes may be answered from a shared cache.
    pub fn default_for(public: bool) -> Self {
        if public {
            OriginCache::Default
        } else {
            OriginCache::Bypass
        }
    }
}

/// A route's own origin settings (`routes[].origin_timeout_ms`, `routes[].origin_cache`), already
/// resolved against the top level and the route's kind when the configuration is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OriginPolicy {
    pub timeout_ms: u32,
    pub cache: OriginCache,
}

impl Default for OriginPolicy {
    fn default() -> Self {
        OriginPolicy {
            timeout_ms: DEFAULT_TIMEOUT_MS,
            cache: OriginCache::Bypass,
        }
    }
}

/// Whether a request whose send failed before any response byte may be sent once more. Only the
/// methods that are idempotent *and* carry no side effect by convention (GET, HEAD, OPTIONS), and
/// only without a body: a body stream is consumed by the first attempt, and a POST that reached the
/// origin before the connection broke must never run twice.
pub(crate) fn retryable(method: &str, has_body: bool) -> bool {
    !has_body && matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// GET and HEAD with a body are refused (400 `request_invalid`) rather than forwarded or
/// silently emptied: a body has no defined meaning there (RFC 9110 §9.3.1, §9.3.2), and origin
/// stacks disagree on whether to read it — one that does not leaves the body on a keep-alive
/// connection as the start of the "next" request. `Content-Length: 0` is no body and passes.
pub(crate) fn forbidden_body(req: &RequestHead) -> Option<Problem> {
    if req.method != "GET" && req.method != "HEAD" {
        return None;
    }
    let chunked = req.headers_named("transfer-encoding").next().is_some();
    let sized = req
        .headers_named("content-length")
        .any(|v| v.trim().parse::<u64>() != Ok(0));
    (chunked || sized).then(|| {
        Problem::new(
            ErrorCode::RequestInvalid,
            format!(
                "a {} request must not carry a body (Content-Length or Transfer-Encoding); send the data in the query or use POST",
                req.method
            ),
        )
    })
}

/// A request framed both ways, `Transfer-Encoding` and `Content-Length`, is refused (400
/// `request_invalid`): RFC 9112 §6.3 makes it the request-smuggling shape, two parsers may end its
/// body in different places, and relaying it with the declared length while the runtime decodes it
/// as chunked fails the upload, which would read as an origin outage.
pub(crate) fn conflicting_framing(req: &RequestHead) -> Option<Problem> {
    let chunked = req.headers_named("transfer-encoding").next().is_some();
    let sized = req.headers_named("content-length").next().is_some();
    (chunked && sized).then(|| {
        Problem::new(
            ErrorCode::RequestInvalid,
            "the request carries both Transfer-Encoding and Content-Length; send one",
        )
    })
}

/// Every way a forward can fail, each answered with its own problem code and logged with its own
/// event, so an origin outage, a slow origin, an origin answer the runtime cannot relay and the
/// gateway's own fault are never confused in the log or on a dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardFailure {
    /// The connection failed before a response head arrived (refused, reset, closed by the
    /// origin), after `attempts` sends.
    Unreachable { reason: String, attempts: u8 },
    /// No response head within the route's origin timeout.
    Timeout { timeout_ms: u32 },
    /// The origin sent an interim (1xx) response (103 Early Hints, an unprompted 100 Continue):
    /// the Workers runtime hands it back as if it were final, with the real response inside its
    /// body, so there is nothing that can be relayed faithfully.
    InterimResponse { status: u16 },
    /// A final status outside 200–599 (RFC 9110 §15: three digits, 1xx–5xx), which the runtime
    /// parses but a `Response` cannot carry.
    StatusOutOfRange { status: u16 },
    /// The gateway's own runtime failed (building the outbound request, copying the response).
    Runtime(String),
}

impl From<&ForwardFailure> for Problem {
    fn from(failure: &ForwardFailure) -> Self {
        match failure {
            ForwardFailure::Unreachable { .. } => Problem::new(
                ErrorCode::OriginUnreachable,
                "the origin could not be reached",
            ),
            ForwardFailure::Timeout { timeout_ms } => Problem::new(
                ErrorCode::OriginTimeout,
                format!("the origin sent no response within {timeout_ms} ms"),
            ),
            ForwardFailure::InterimResponse { status } => Problem::new(
                ErrorCode::OriginResponseInvalid,
                format!("the origin sent an interim {status} response, which cannot be relayed"),
            ),
            ForwardFailure::StatusOutOfRange { status } => Problem::new(
                ErrorCode::OriginResponseInvalid,
                format!("the origin answered with status {status}, outside 200-599"),
            ),
            ForwardFailure::Runtime(_) => Problem::new(
                ErrorCode::GatewayError,
                "the gateway failed while forwarding the request",
            ),
        }
    }
}

impl ForwardFailure {
    /// The event's own log line (JSON). Reasons are the runtime's error messages, which name no
    /// header value; the caller has already replaced the origin URL in them.
    pub fn log_line(&self) -> String {
        match self {
            ForwardFailure::Unreachable { reason, attempts } => Event::OriginUnreachable {
                attempts: *attempts,
                reason,
            },
            ForwardFailure::Timeout { timeout_ms } => Event::OriginTimeout {
                timeout_ms: *timeout_ms,
            },
            ForwardFailure::InterimResponse { status } => {
                Event::OriginInterimResponse { status: *status }
            }
            ForwardFailure::StatusOutOfRange { status } => {
                Event::OriginStatusInvalid { status: *status }
            }
            ForwardFailure::Runtime(reason) => Event::RuntimeFault {
                stage: "forward",
                reason,
            },
        }
        .line()
    }
}

/// The runtime's error message with the origin URL (which may carry a query string) replaced, and
/// bounded: the log never holds a query.
pub(crate) fn redact_reason(reason: &str, origin_url: &str) -> String {
    let redacted = if origin_url.is_empty() {
        reason.to_string()
    } else {
        reason.replace(origin_url, "<origin url>")
    };
    crate::request::truncate(&redacted, 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: method.into(),
            url: "https://gw.example/x".into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn only_bodiless_safe_methods_are_retried() {
        for m in ["GET", "HEAD", "OPTIONS"] {
            assert!(retryable(m, false), "{m}");
            assert!(!retryable(m, true), "{m} with a body");
        }
        for m in ["POST", "PUT", "PATCH", "DELETE", "CONNECT", "get"] {
            assert!(!retryable(m, false), "{m}");
        }
    }

    #[test]
    fn both_framings_are_refused_either_alone_passes() {
        let both = [("transfer-encoding", "chunked"), ("content-length", "4")];
        let p = conflicting_framing(&head("POST", &both)).unwrap();
        assert_eq!((p.code, p.status()), (ErrorCode::RequestInvalid, 400));
        assert_eq!(conflicting_framing(&head("POST", &both[..1])), None);
        assert_eq!(conflicting_framing(&head("POST", &both[1..])), None);
    }

    #[test]
    fn get_and_head_with_a_body_are_refused() {
        for m in ["GET", "HEAD"] {
            for h in [
                [("content-length", "5")],
                [("transfer-encoding", "chunked")],
                [("content-length", "0, 0")],
                [("content-length", "x")],
            ] {
                let p = forbidden_body(&head(m, &h)).unwrap_or_else(|| panic!("{m} {h:?}"));
                assert_eq!(p.code, ErrorCode::RequestInvalid);
                assert_eq!(p.status(), 400);
                assert!(
                    p.detail.starts_with(&format!("a {m} request")),
                    "{}",
                    p.detail
                );
            }
            assert_eq!(forbidden_body(&head(m, &[("content-length", "0")])), None);
            assert_eq!(forbidden_body(&head(m, &[("content-length", " 0 ")])), None);
            assert_eq!(forbidden_body(&head(m, &[("accept", "*/*")])), None);
        }
        for m in ["POST", "PUT", "DELETE", "OPTIONS"] {
            assert_eq!(
                forbidden_body(&head(m, &[("content-length", "5")])),
                None,
                "{m}"
            );
        }
    }

    #[test]
    fn cache_policy_names_and_defaults() {
        assert_eq!(OriginCache::parse("bypass"), Some(OriginCache::Bypass));
        assert_eq!(OriginCache::parse("default"), Some(OriginCache::Default));
        assert_eq!(OriginCache::parse("no-store"), None);
        assert_eq!(OriginCache::default_for(true), OriginCache::Default);
        assert_eq!(OriginCache::default_for(false), OriginCache::Bypass);
        assert_eq!(OriginPolicy::default().timeout_ms, DEFAULT_TIMEOUT_MS);
        assert!(TIMEOUT_RANGE_MS.contains(&DEFAULT_TIMEOUT_MS));
    }

    #[test]
    fn each_failure_has_its_code_status_and_event() {
        let cases = [
            (
                ForwardFailure::Unreachable {
                    reason: "Network connection lost.".into(),
                    attempts: 2,
                },
                502,
                "origin_unreachable",
                r#"{"event":"origin_unreachable","attempts":2,"reason":"Network connection lost."}"#,
            ),
            (
                ForwardFailure::Timeout { timeout_ms: 300 },
                504,
                "origin_timeout",
                r#"{"event":"origin_timeout","timeout_ms":300}"#,
            ),
            (
                ForwardFailure::InterimResponse { status: 103 },
                502,
                "origin_response_invalid",
                r#"{"event":"origin_interim_response","status":103}"#,
            ),
            (
                ForwardFailure::StatusOutOfRange { status: 600 },
                502,
                "origin_response_invalid",
                r#"{"event":"origin_status_invalid","status":600}"#,
            ),
            (
                ForwardFailure::Runtime("TypeError: x".into()),
                500,
                "gateway_error",
                r#"{"event":"runtime_fault","stage":"forward","reason":"TypeError: x"}"#,
            ),
        ];
        for (failure, status, code, line) in cases {
            let p = Problem::from(&failure);
            assert_eq!((p.status(), p.code.as_str()), (status, code));
            assert_eq!(failure.log_line(), line);
            let parsed: serde_json::Value = serde_json::from_str(&failure.log_line()).unwrap();
            assert!(parsed["event"].is_string());
        }
        assert_eq!(
            Problem::from(&ForwardFailure::Timeout { timeout_ms: 300 }).detail,
            "the origin sent no response within 300 ms"
        );
    }

    /// The pipeline end to end: what reaches `ForwardPlan` for the origin.
    mod through_the_pipeline {
        use super::*;
        use crate::pipeline::{Gateway, Outcome};
        use crate::testing::{block_on, FakePlatform};
        use serde_json::json;

        fn gateway() -> Gateway<crate::jose::jwk::Jwk> {
            let doc = json!({
                "origin": "https://origin.internal",
                "origin_timeout_ms": 2500,
                "routes": [
                    { "methods": ["GET"], "path": "/health", "auth": ["public"] },
                    { "methods": ["GET", "POST"], "path": "/up/*", "auth": ["public"],
                      "origin_timeout_ms": 900, "origin_cache": "bypass" },
                    { "methods": ["*"], "path": "/any/*", "auth": ["public"] }
                ]
            });
            Gateway::new(crate::config::parse_config(&doc).unwrap())
        }

        fn run(method: &str, path: &str, headers: &[(&str, &str)]) -> Outcome {
            let req = RequestHead {
                method: method.into(),
                url: format!("https://gw.example{path}"),
                headers: headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
            };
            block_on(gateway().handle(&FakePlatform::new(1_800_000_000), &req)).outcome
        }

        #[test]
        fn a_get_or_head_body_is_refused_before_anything_else() {
            for (method, headers) in [
                ("GET", [("content-length", "3")]),
                ("HEAD", [("transfer-encoding", "chunked")]),
            ] {
                let Outcome::Respond(reply) = run(method, "/health", &headers) else {
                    panic!("{method} was forwarded")
                };
                let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
                assert_eq!(
                    (reply.status, body["code"].as_str()),
                    (400, Some("request_invalid"))
                );
            }
            let Outcome::Forward(_) = run("GET", "/health", &[("content-length", "0")]) else {
                panic!("an empty GET body is no body")
            };
            let Outcome::Forward(_) = run("POST", "/up/x", &[("content-length", "3")]) else {
                panic!("a POST body is forwarded")
            };
        }

        #[test]
        fn expect_is_dropped_and_the_route_policy_travels() {
            let client = [("expect", "100-continue"), ("content-type", "text/plain")];
            let Outcome::Forward(plan) = run("POST", "/up/file", &client) else {
                panic!("not forwarded")
            };
            let client: Vec<(String, String)> = client
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            // What `edge` does with the plan: the client's headers minus `strip`, then `add`.
            let kept: Vec<_> = client
                .iter()
                .filter(|(n, _)| !plan.strip.contains(n))
                .cloned()
                .collect();
            assert_eq!(
                kept,
                vec![("content-type".to_string(), "text/plain".to_string())]
            );
            assert_eq!(
                crate::request_id::tests::without_request_id(&plan.add),
                vec![
                    ("x-auth-method".to_string(), "public".to_string()),
                    ("x-forwarded-proto".to_string(), "https".to_string()),
                    ("x-forwarded-host".to_string(), "gw.example".to_string()),
                ]
            );
            assert_eq!(
                plan.origin,
                OriginPolicy {
                    timeout_ms: 900,
                    cache: OriginCache::Bypass
                }
            );
            let Outcome::Forward(plan) = run("GET", "/health", &[]) else {
                panic!("not forwarded")
            };
            assert_eq!(
                plan.origin,
                OriginPolicy {
                    timeout_ms: 2500,
                    cache: OriginCache::Default
                }
            );
            assert!(!plan.strip.contains(&"expect".to_string()));
        }
    }

    #[test]
    fn reasons_never_carry_the_origin_url() {
        let url = "https://origin.internal/api/x?secret=1";
        assert_eq!(
            redact_reason(&format!("fetch to {url} failed"), url),
            "fetch to <origin url> failed"
        );
        assert_eq!(redact_reason("lost", ""), "lost");
        assert!(redact_reason(&"x".repeat(1000), url).len() <= 303);
    }
}
