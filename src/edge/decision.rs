//! The forward as a decision handed back to the entry module (issue 10): for the common request —
//! a plain forward with no body to relay and no WebSocket — wasm does not drive the origin fetch
//! itself. It returns one string saying what to send and how to answer, and `entry.mjs` acts on it
//! with the runtime's own objects: no wasm-bindgen futures, closures or per-header string crossings
//! on the request's way out or its answer's way back. Everything else (refusals, the admin API,
//! bodies, WebSockets) is still done in wasm (`super::serve`).
//!
//! Only the plumbing moves: every decision (what to strip and add, the deadline, whether one retry
//! is allowed, which answers are failures and what they become) is still made here, in Rust, and
//! the rules it needs are wasm's — a failed forward (`forwardFailed`), the retry's log line
//! (`originRetry`), the headers a `Connection` names (`responseStripped`), a `Vary` merge
//! (`mergeVary`).
//!
//! The decision, one field per line (`\n` never occurs inside a field: every field that could hold
//! one is checked, and such a request takes the wasm path instead):
//!
//! ```text
//! <origin URL>
//! <timeout ms>
//! <flags: "r" one retry allowed, "n" cache: no-store, "l" log the line even if it succeeds>
//! <the request id: handed back to `forwardFailed` for the problem document's `instance`>
//! <the request log line up to its status: `{"event":"request",…,"key_id":…,`>
//! <names to strip from the client's headers, comma-separated>
//! <count of headers to set on the origin request>, then that many `name:value` lines
//! <count of headers to set on the response (the plan's)>, then `name:value` lines
//! <count of transport headers (HSTS, CORS) for every answer>, then `name:value` lines
//! ```

use wasm_bindgen::prelude::*;

use crate::log::Event;
use crate::origin::{self, ForwardFailure, OriginCache};
use crate::pipeline::forward::RESPONSE_HOP_BY_HOP;
use crate::pipeline::{ForwardPlan, RequestHead, RequestId, RequestLog};
use crate::problem::Problem;

use super::http;

/// The decision for `plan`, or `None` when a field would not survive the line format.
pub(super) fn encode(
    plan: &ForwardPlan,
    transport: &[(String, String)],
    head: &RequestHead,
    request_id: &RequestId,
    log: &RequestLog,
    log_even_if_successful: bool,
) -> Option<String> {
    let line_head = request_line_head(head, request_id, log)?;
    let mut out = String::with_capacity(512);
    let mut push = |field: &str| -> Option<()> {
        if field.contains('\n') {
            return None;
        }
        out.push_str(field);
        out.push('\n');
        Some(())
    };
    push(&plan.url)?;
    push(&plan.origin.timeout_ms.to_string())?;
    let mut flags = String::new();
    if origin::retryable(&head.method, false) {
        flags.push('r');
    }
    if plan.origin.cache == OriginCache::Bypass {
        flags.push('n');
    }
    if log_even_if_successful {
        flags.push('l');
    }
    push(&flags)?;
    push(request_id.as_str())?;
    push(&line_head)?;
    if plan.strip.iter().any(|n| n.contains(',')) {
        return None;
    }
    push(&plan.strip.join(","))?;
    for list in [&plan.add, &plan.response_headers, &transport.to_vec()] {
        push(&list.len().to_string())?;
        for (n, v) in list {
            if n.contains(':') {
                return None;
            }
            push(&format!("{n}:{v}"))?;
        }
    }
    Some(out)
}

/// The request log line without its last three members (`status`, `code`, `duration_ms`), which
/// only the answer decides: the entry appends them. Built once, by the same serializer as every
/// other line.
fn request_line_head(
    head: &RequestHead,
    request_id: &RequestId,
    log: &RequestLog,
) -> Option<String> {
    const TAIL: &str = "\"status\":0,\"code\":null,\"duration_ms\":null}";
    let path = super::loggable_path(head);
    let line = log
        .event(request_id, &head.method, &path, 0, None, None)
        .line();
    line.strip_suffix(TAIL).map(str::to_string)
}

fn header_lines(lines: &str) -> Vec<(String, String)> {
    lines
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// A forward the entry could not complete: `kind` says how (`unreachable` after `detail`
/// attempts, `timeout` after `detail` ms, an `interim` or `out_of_range` status `detail`, or a
/// `runtime` fault), `reason` is the runtime's message. Logs the failure as the wasm path does and
/// returns `[problem response, problem code]`; `request_id` is the decision's (the problem's
/// `instance`), `transport` are the decision's transport headers.
#[wasm_bindgen(js_name = forwardFailed)]
// An export to JavaScript: wasm-bindgen requires `pub`.
#[allow(unreachable_pub)]
pub fn forward_failed(
    kind: &str,
    detail: u32,
    reason: &str,
    origin_url: &str,
    request_id: &str,
    transport: &str,
) -> Result<js_sys::Array, JsValue> {
    // The id this module wrote into the decision; anything else (never expected) gets a fresh one
    // rather than reaching the problem document.
    let request_id = RequestId::from_issued(request_id)
        .unwrap_or_else(|| RequestId::assign(None, super::csprng));
    let failure = match kind {
        "unreachable" => ForwardFailure::Unreachable {
            reason: origin::redact_reason(reason, origin_url),
            attempts: u8::try_from(detail).unwrap_or(u8::MAX),
        },
        "timeout" => ForwardFailure::Timeout { timeout_ms: detail },
        "interim" => ForwardFailure::InterimResponse {
            status: u16::try_from(detail).unwrap_or(u16::MAX),
        },
        "out_of_range" => ForwardFailure::StatusOutOfRange {
            status: u16::try_from(detail).unwrap_or(u16::MAX),
        },
        _ => ForwardFailure::Runtime(origin::redact_reason(reason, origin_url)),
    };
    if matches!(failure, ForwardFailure::Runtime(_)) {
        web_sys::console::error_1(&JsValue::from_str(&failure.log_line()));
    } else {
        web_sys::console::log_1(&JsValue::from_str(&failure.log_line()));
    }
    let problem = Problem::from(&failure);
    let response = http::problem_response(&problem, &header_lines(transport), &request_id)
        .map_err(|e| JsValue::from_str(&e))?;
    Ok(js_sys::Array::of2(
        &response,
        &JsValue::from_str(problem.code.as_str()),
    ))
}

/// The entry retries once on a connection failure: logged as the wasm path logs it.
#[wasm_bindgen(js_name = originRetry)]
#[allow(unreachable_pub)]
pub fn origin_retry(reason: &str, origin_url: &str) {
    let line = Event::OriginRetry {
        reason: &origin::redact_reason(reason, origin_url),
    }
    .line();
    web_sys::console::log_1(&JsValue::from_str(&line));
}

/// The names to delete from the origin's response when it has a `Connection` header or is a 426
/// (comma-separated): `response_stripped_headers`, the one rule, for the entry.
#[wasm_bindgen(js_name = responseStripped)]
#[allow(unreachable_pub)]
pub fn response_stripped(status: u16, connection: Option<String>) -> String {
    crate::pipeline::forward::response_stripped_headers(status, connection.as_deref()).join(",")
}

/// The origin's `Vary` with the gateway's added (`cors::merge_vary`), for the entry.
#[wasm_bindgen(js_name = mergeVary)]
#[allow(unreachable_pub)]
pub fn merge_vary(existing: Option<String>, add: &str) -> String {
    crate::cors::merge_vary(existing.as_deref(), add)
}

/// The hop-by-hop response headers (comma-separated), which the entry strips when present from a
/// response without `Connection`: the same list `response_stripped_headers` starts from.
#[wasm_bindgen(js_name = responseHopByHop)]
#[allow(unreachable_pub)]
pub fn response_hop_by_hop() -> String {
    RESPONSE_HOP_BY_HOP.join(",")
}
