//! HTTP translation between Workers `Request`/`Response` and the pipeline's plain types, the
//! forward to the origin (body streamed, never buffered), and bounded outbound GETs for JWKS.

use futures_util::future::{select, Either};
use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, Response};

use crate::pipeline::{ForwardPlan, Reply, RequestHead};
use crate::platform::{FetchError, HttpResponse};
use crate::problem::Problem;

use super::js_err;

/// The request head in three runtime calls, whatever the number of headers (`Array.from(headers)`,
/// `JSON.stringify`, one string into wasm): per-header iteration across the boundary cost more than
/// everything else the gateway does for a public route. The Headers object yields lower-case names.
pub fn request_head(raw: &Request) -> RequestHead {
    let pairs = js_sys::Array::from(&raw.headers());
    let headers = js_sys::JSON::stringify(&pairs)
        .ok()
        .and_then(|s| serde_json::from_str::<Vec<(String, String)>>(&String::from(s)).ok())
        .unwrap_or_default();
    RequestHead {
        method: raw.method(),
        url: raw.url(),
        headers,
    }
}

fn headers_from(pairs: &[(String, String)]) -> Result<web_sys::Headers, String> {
    let h = web_sys::Headers::new().map_err(js_err)?;
    for (n, v) in pairs {
        h.append(n, v).map_err(js_err)?;
    }
    Ok(h)
}

/// Reads a request body, but never more than `cap` bytes into memory: a larger body comes back
/// truncated to `cap`, which the caller refuses as too large.
pub async fn read_body_capped(req: &Request, cap: usize) -> Result<Vec<u8>, String> {
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|len| len >= cap) {
        return Ok(vec![0; cap]);
    }
    let buf = JsFuture::from(req.array_buffer().map_err(js_err)?)
        .await
        .map_err(js_err)?;
    let mut bytes = Uint8Array::new(&buf).to_vec();
    bytes.truncate(cap);
    Ok(bytes)
}

/// Statuses and header values come from the pipeline (valid, ASCII), so construction fails only on a
/// runtime fault; the caller turns that into a plain 502 rather than a thrown 500.
fn fixed_response(
    status: u16,
    headers: &[(String, String)],
    body: &str,
) -> Result<Response, String> {
    let init = web_sys::ResponseInit::new();
    init.set_status(status);
    init.set_headers(&headers_from(headers)?.into());
    let body = if body.is_empty() { None } else { Some(body) };
    web_sys::Response::new_with_opt_str_and_init(body, &init).map_err(js_err)
}

pub fn reply_response(reply: &Reply, transport: &[(String, String)]) -> Result<Response, String> {
    let mut headers = reply.headers.clone();
    headers.extend(transport.iter().cloned());
    fixed_response(reply.status, &headers, &reply.body)
}

pub fn problem_response(
    problem: &Problem,
    transport: &[(String, String)],
) -> Result<Response, String> {
    let mut headers = vec![
        (
            "content-type".to_string(),
            "application/problem+json".to_string(),
        ),
        ("cache-control".to_string(), "no-store".to_string()),
    ];
    headers.extend(problem.headers.iter().cloned());
    headers.extend(transport.iter().cloned());
    fixed_response(problem.status(), &headers, &problem.body())
}

/// Response headers the origin does not get to set on the gateway's behalf.
const RESPONSE_HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-connection",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub async fn forward(
    original: &web_sys::Request,
    plan: &ForwardPlan,
    transport: &[(String, String)],
) -> Result<Response, String> {
    let headers = web_sys::Headers::new_with_headers(&original.headers()).map_err(js_err)?;
    for name in &plan.strip {
        headers.delete(name).map_err(js_err)?;
    }
    for (n, v) in &plan.add {
        headers.set(n, v).map_err(js_err)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(&original.method());
    init.set_headers(&headers.into());
    // Redirects from the origin go back to the client as they are: following them here would
    // replay the identity headers to wherever the origin points.
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if let Some(body) = original.body() {
        init.set_body(&body);
    }
    let outbound = web_sys::Request::new_with_str_and_init(&plan.url, &init).map_err(js_err)?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let resp: web_sys::Response = JsFuture::from(global.fetch_with_request(&outbound))
        .await
        .map_err(js_err)?
        .dyn_into()
        .map_err(|_| "fetch did not return a Response".to_string())?;

    // A fetched response's headers are immutable: `new Response(body, response)` copies status and
    // headers in one runtime call; then hop-by-hop headers go and the gateway's are set.
    let out = web_sys::Response::new_with_opt_readable_stream_and_init(
        resp.body().as_ref(),
        resp.unchecked_ref::<web_sys::ResponseInit>(),
    )
    .map_err(js_err)?;
    let headers = out.headers();
    if let Ok(Some(conn)) = headers.get("connection") {
        for name in conn.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            headers.delete(name).map_err(js_err)?;
        }
    }
    for name in RESPONSE_HOP_BY_HOP {
        headers.delete(name).map_err(js_err)?;
    }
    for (n, v) in plan.response_headers.iter().chain(transport.iter()) {
        headers.set(n, v).map_err(js_err)?;
    }
    Ok(out)
}

/// A bounded GET: aborted after `timeout_ms`, refused above `max_bytes` (by `Content-Length` when
/// given, and by the body as it streams in: reading stops, and the connection is cut, at the first
/// chunk past the cap).
pub async fn get(url: &str, timeout_ms: u32, max_bytes: usize) -> Result<HttpResponse, FetchError> {
    let controller = web_sys::AbortController::new().map_err(|e| FetchError::Network(js_err(e)))?;
    let init = web_sys::RequestInit::new();
    init.set_method("GET");
    init.set_signal(Some(&controller.signal()));
    // workerd has no "error" mode; a redirect (3xx) is not a JWKS and fails the fetch below.
    init.set_redirect(web_sys::RequestRedirect::Manual);
    let headers = web_sys::Headers::new().map_err(|e| FetchError::Network(js_err(e)))?;
    let _ = headers.set("accept", "application/jwk-set+json, application/json");
    init.set_headers(&headers);
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let fetch = async {
        let resp: web_sys::Response = JsFuture::from(global.fetch_with_str_and_init(url, &init))
            .await
            .map_err(|e| FetchError::Network(js_err(e)))?
            .dyn_into()
            .map_err(|_| FetchError::Network("not a Response".into()))?;
        let h = resp.headers();
        if let Ok(Some(len)) = h.get("content-length") {
            if len
                .trim()
                .parse::<usize>()
                .map(|l| l > max_bytes)
                .unwrap_or(false)
            {
                return Err(FetchError::TooLarge);
            }
        }
        let cache_control = h.get("cache-control").ok().flatten();
        let body = match resp.body() {
            Some(stream) => match read_capped(&stream, max_bytes).await {
                Ok(body) => body,
                Err(e) => {
                    // Past the cap (or broken): close the connection rather than drain it.
                    controller.abort();
                    return Err(e);
                }
            },
            None => Vec::new(),
        };
        Ok(HttpResponse {
            status: resp.status(),
            cache_control,
            body,
        })
    };
    let timer = worker::Delay::from(std::time::Duration::from_millis(u64::from(timeout_ms)));
    futures_util::pin_mut!(fetch);
    match select(fetch, timer).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => {
            controller.abort();
            Err(FetchError::Timeout)
        }
    }
}

/// Reads a response body chunk by chunk and stops at the first chunk that takes it past `cap`
/// (`TooLarge`, the stream cancelled), so a body without `Content-Length` is never held whole.
/// The reader is driven through `Reflect` (`getReader`, `read`, `cancel`): the web-sys reader types
/// would add features to the build for three calls.
async fn read_capped(stream: &web_sys::ReadableStream, cap: usize) -> Result<Vec<u8>, FetchError> {
    let net = |e: wasm_bindgen::JsValue| FetchError::Network(js_err(e));
    let method =
        |target: &wasm_bindgen::JsValue, name: &str| -> Result<js_sys::Function, FetchError> {
            js_sys::Reflect::get(target, &wasm_bindgen::JsValue::from_str(name))
                .map_err(net)?
                .dyn_into::<js_sys::Function>()
                .map_err(|_| FetchError::Network(format!("the body stream has no {name}()")))
        };
    let reader = method(stream, "getReader")?.call0(stream).map_err(net)?;
    let read = method(&reader, "read")?;
    let mut body = Vec::new();
    loop {
        let promise: js_sys::Promise = read
            .call0(&reader)
            .map_err(net)?
            .dyn_into()
            .map_err(|_| FetchError::Network("read() did not return a promise".into()))?;
        let chunk = JsFuture::from(promise).await.map_err(net)?;
        let done = js_sys::Reflect::get(&chunk, &wasm_bindgen::JsValue::from_str("done"))
            .map_err(net)?
            .as_bool()
            .unwrap_or(true);
        if done {
            return Ok(body);
        }
        let value =
            js_sys::Reflect::get(&chunk, &wasm_bindgen::JsValue::from_str("value")).map_err(net)?;
        let bytes: Uint8Array = value
            .dyn_into()
            .map_err(|_| FetchError::Network("the body stream yielded a non-byte chunk".into()))?;
        if body.len() + bytes.length() as usize > cap {
            // The cancel's promise settles on its own; nothing waits for it.
            if let Ok(cancel) = method(&reader, "cancel") {
                let _ = cancel.call0(&reader);
            }
            return Err(FetchError::TooLarge);
        }
        let start = body.len();
        body.resize(start + bytes.length() as usize, 0);
        bytes.copy_to(&mut body[start..]);
    }
}
