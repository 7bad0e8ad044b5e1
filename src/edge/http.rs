//! HTTP translation between Workers `Request`/`Response` and the pipeline's plain types, the
//! forward to the origin (body streamed, never buffered), and bounded outbound GETs for JWKS.

use futures_util::future::{select, Either};
use js_sys::Uint8Array;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, Response};

use crate::origin::{self, ForwardFailure, OriginCache};
use crate::pipeline::forward::response_stripped_headers;
use crate::pipeline::{ForwardPlan, Reply};
use crate::platform::{FetchError, HttpResponse};
use crate::problem::Problem;

use super::js_err;

/// A `Headers` object holding `pairs` in order (a repeated name is appended, not replaced).
pub(super) fn headers_from(pairs: &[(String, String)]) -> Result<web_sys::Headers, String> {
    let h = web_sys::Headers::new().map_err(js_err)?;
    for (n, v) in pairs {
        h.append(n, v).map_err(js_err)?;
    }
    Ok(h)
}

/// Reads a request body, but never more than `cap` bytes into memory: a larger body comes back
/// truncated to `cap`, which the caller refuses as too large.
pub(super) async fn read_body_capped(req: &Request, cap: usize) -> Result<Vec<u8>, String> {
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
/// runtime fault; the caller answers that 500 `gateway_error` (or a bare 500) rather than throwing.
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

pub(super) fn reply_response(
    reply: &Reply,
    transport: &[(String, String)],
) -> Result<Response, String> {
    let mut headers = reply.headers.clone();
    headers.extend(transport.iter().cloned());
    fixed_response(reply.status, &headers, &reply.body)
}

/// A problem document answered by `edge` itself, with the request's id as its `instance`.
pub(super) fn problem_response(
    problem: &Problem,
    transport: &[(String, String)],
    request_id: &crate::pipeline::RequestId,
) -> Result<Response, String> {
    let mut reply = problem.reply();
    request_id.stamp(&mut reply);
    reply_response(&reply, transport)
}

/// Sends the request to the origin and relays its answer: headers edited as the plan says, the
/// body streamed (never buffered), redirects passed back, the route's cache policy and a deadline
/// on the response head; one more send for a bodiless GET/HEAD/OPTIONS whose connection failed
/// before any response byte. Each failure comes back as its own `ForwardFailure`.
pub(super) async fn forward(
    original: &web_sys::Request,
    plan: &ForwardPlan,
    transport: &[(String, String)],
) -> Result<Response, ForwardFailure> {
    let runtime = |e: JsValue| ForwardFailure::Runtime(js_err(e));
    let method = original.method();
    let headers = web_sys::Headers::new_with_headers(&original.headers()).map_err(runtime)?;
    for name in &plan.strip {
        headers.delete(name).map_err(runtime)?;
    }
    for (n, v) in &plan.add {
        headers.set(n, v).map_err(runtime)?;
    }
    let controller = web_sys::AbortController::new().map_err(runtime)?;
    let init = web_sys::RequestInit::new();
    init.set_method(&method);
    init.set_headers(&headers.into());
    init.set_signal(Some(&controller.signal()));
    // Redirects from the origin go back to the client as they are: following them here would
    // replay the identity headers to wherever the origin points.
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if plan.origin.cache == OriginCache::Bypass {
        init.set_cache(web_sys::RequestCache::NoStore);
    }
    // A GET or HEAD gets here bodiless or with `Content-Length: 0` (the pipeline refuses any other
    // body); for the latter the runtime hands over an empty body that a GET Request cannot carry.
    let body = original
        .body()
        .filter(|_| method != "GET" && method != "HEAD");
    let upload = match &body {
        Some(body) => {
            let relay = Relay::new(original).map_err(runtime)?;
            init.set_body(&relay.readable());
            Some(JsFuture::from(body.pipe_to(&relay.writable())))
        }
        None => None,
    };
    let may_retry = origin::retryable(&method, body.is_some());
    let outbound = web_sys::Request::new_with_str_and_init(&plan.url, &init).map_err(runtime)?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let send = || JsFuture::from(global.fetch_with_request(&outbound));
    let attempts = async {
        match send().await {
            Err(first) if may_retry => {
                // The runtime may have reused a pooled connection the origin had just closed; the
                // request cannot have had an effect, so it goes once more on a fresh connection.
                worker::console_log!(
                    "{}",
                    crate::log::Event::OriginRetry {
                        reason: &origin::redact_reason(&js_err(first), &plan.url)
                    }
                    .line()
                );
                send().await.map_err(|e| (e, 2))
            }
            other => other.map_err(|e| (e, 1)),
        }
    };
    // The clock runs from the end of the upload (an origin can only be late once it has the whole
    // request; a slow client must not turn into a 504), or from the send when there is no body.
    let deadline = async {
        if let Some(upload) = upload {
            // A failed upload fails the fetch too; either way the clock starts now.
            let _ = upload.await;
        }
        worker::Delay::from(std::time::Duration::from_millis(u64::from(
            plan.origin.timeout_ms,
        )))
        .await;
    };
    futures_util::pin_mut!(attempts);
    futures_util::pin_mut!(deadline);
    let resp = match select(attempts, deadline).await {
        Either::Left((Ok(resp), _)) => resp,
        Either::Left((Err((e, attempts)), _)) => {
            return Err(ForwardFailure::Unreachable {
                reason: origin::redact_reason(&js_err(e), &plan.url),
                attempts,
            })
        }
        Either::Right(_) => {
            // The deadline is on the response head only: a body that has started keeps streaming.
            controller.abort();
            return Err(ForwardFailure::Timeout {
                timeout_ms: plan.origin.timeout_ms,
            });
        }
    };
    let resp: web_sys::Response = resp
        .dyn_into()
        .map_err(|_| ForwardFailure::Runtime("fetch did not return a Response".into()))?;
    if resp.status() < 200 {
        // The runtime's HTTP client returns an interim response as the final one (the real answer
        // is inside its body); re-wrapping it would throw, and relaying it would be wrong.
        if let Some(body) = resp.body() {
            drop(JsFuture::from(body.cancel()));
        }
        return Err(ForwardFailure::InterimResponse {
            status: resp.status(),
        });
    }
    if resp.status() > 599 {
        if let Some(body) = resp.body() {
            drop(JsFuture::from(body.cancel()));
        }
        return Err(ForwardFailure::StatusOutOfRange {
            status: resp.status(),
        });
    }

    relay_response(&resp, plan, transport).map_err(ForwardFailure::Runtime)
}

/// The origin's answer as the client gets it, for a forwarded request and a refused WebSocket
/// upgrade alike. When no header must change (nothing to add, none to strip), the fetched response
/// goes back as it is: no copy. Otherwise — a fetched response's headers are immutable —
/// `new Response(body, response)` copies status and headers in one runtime call; then hop-by-hop
/// headers go and the gateway's are set (`Vary` merged with the origin's).
pub(super) fn relay_response(
    resp: &Response,
    plan: &ForwardPlan,
    transport: &[(String, String)],
) -> Result<Response, String> {
    let edits: Vec<(String, String)> = plan
        .response_headers
        .iter()
        .chain(transport.iter())
        .cloned()
        .collect();
    relay_with(resp, &edits)
}

/// `relay_response` with the headers to set already listed (the entry's decisions hand them over
/// this way).
pub(super) fn relay_with(resp: &Response, edits: &[(String, String)]) -> Result<Response, String> {
    let origin_headers = resp.headers();
    let connection = origin_headers.get("connection").ok().flatten();
    let stripped = response_stripped_headers(resp.status(), connection.as_deref());
    if edits.is_empty() {
        let mut unchanged = true;
        for name in &stripped {
            if origin_headers.has(name).map_err(js_err)? {
                unchanged = false;
                break;
            }
        }
        if unchanged {
            // The same object (`Clone` on the handle), not `Response.clone()`, which would tee the
            // body.
            return Ok(<Response as Clone>::clone(resp));
        }
    }
    let out = web_sys::Response::new_with_opt_readable_stream_and_init(
        resp.body().as_ref(),
        resp.unchecked_ref::<web_sys::ResponseInit>(),
    )
    .map_err(js_err)?;
    let headers = out.headers();
    for name in &stripped {
        headers.delete(name).map_err(js_err)?;
    }
    for (n, v) in edits {
        if n == "vary" {
            let merged = crate::cors::merge_vary(headers.get("vary").ok().flatten().as_deref(), v);
            headers.set(n, &merged).map_err(js_err)?;
        } else {
            headers.set(n, v).map_err(js_err)?;
        }
    }
    Ok(out)
}

#[wasm_bindgen]
extern "C" {
    /// workerd's byte `TransformStream` of a declared length: pumped natively, and the origin gets
    /// the client's `Content-Length` rather than a chunked body (which some origin stacks refuse).
    type FixedLengthStream;
    #[wasm_bindgen(constructor, catch)]
    fn new(length: f64) -> Result<FixedLengthStream, JsValue>;
    #[wasm_bindgen(method, getter)]
    fn readable(this: &FixedLengthStream) -> web_sys::ReadableStream;
    #[wasm_bindgen(method, getter)]
    fn writable(this: &FixedLengthStream) -> web_sys::WritableStream;

    /// The same without a length, for a client's chunked upload (forwarded chunked).
    type IdentityTransformStream;
    #[wasm_bindgen(constructor, catch)]
    fn new() -> Result<IdentityTransformStream, JsValue>;
    #[wasm_bindgen(method, getter)]
    fn readable(this: &IdentityTransformStream) -> web_sys::ReadableStream;
    #[wasm_bindgen(method, getter)]
    fn writable(this: &IdentityTransformStream) -> web_sys::WritableStream;
}

/// What the client's body is piped through on its way to the origin, so the gateway learns when
/// the upload has been handed over (`pipeTo` settles) and can start the origin's clock then.
enum Relay {
    Sized(FixedLengthStream),
    Chunked(IdentityTransformStream),
}

impl Relay {
    fn new(original: &web_sys::Request) -> Result<Relay, JsValue> {
        let declared = original
            .headers()
            .get("content-length")?
            .and_then(|v| v.trim().parse::<u64>().ok());
        Ok(match declared {
            // Beyond 2^53 a length is no longer exact as a JS number; such a body goes chunked.
            Some(len) if len < (1 << 53) => Relay::Sized(FixedLengthStream::new(len as f64)?),
            _ => Relay::Chunked(IdentityTransformStream::new()?),
        })
    }

    fn readable(&self) -> web_sys::ReadableStream {
        match self {
            Relay::Sized(s) => s.readable(),
            Relay::Chunked(s) => s.readable(),
        }
    }

    fn writable(&self) -> web_sys::WritableStream {
        match self {
            Relay::Sized(s) => s.writable(),
            Relay::Chunked(s) => s.writable(),
        }
    }
}

/// A bounded GET of a JWKS (or a location copy): see `bounded`.
pub(super) async fn get(
    url: &str,
    timeout_ms: u32,
    max_bytes: usize,
) -> Result<HttpResponse, FetchError> {
    let accept = [(
        "accept".to_string(),
        "application/jwk-set+json, application/json".to_string(),
    )];
    bounded("GET", url, &accept, None, timeout_ms, max_bytes).await
}

/// A bounded POST (the login endpoint, `session::login`; introspection): see `bounded`.
pub(super) async fn post(
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    timeout_ms: u32,
    max_bytes: usize,
) -> Result<HttpResponse, FetchError> {
    bounded("POST", url, headers, Some(body), timeout_ms, max_bytes).await
}

/// One outbound request of the gateway's own: aborted after `timeout_ms`, redirects not followed
/// (workerd has no "error" mode; a 3xx is answered as it is, which no caller accepts), the answer
/// refused above `max_bytes` (by `Content-Length` when given, and by the body as it streams in:
/// reading stops, and the connection is cut, at the first chunk past the cap).
async fn bounded(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
    timeout_ms: u32,
    max_bytes: usize,
) -> Result<HttpResponse, FetchError> {
    let net = |e: JsValue| FetchError::Network(js_err(e));
    let controller = web_sys::AbortController::new().map_err(net)?;
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_signal(Some(&controller.signal()));
    init.set_redirect(web_sys::RequestRedirect::Manual);
    let h = web_sys::Headers::new().map_err(net)?;
    for (name, value) in headers {
        h.set(name, value).map_err(net)?;
    }
    init.set_headers(&h);
    if let Some(body) = body {
        init.set_body(&js_sys::Uint8Array::from(body).into());
    }
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let fetch = async {
        let resp: web_sys::Response = JsFuture::from(global.fetch_with_str_and_init(url, &init))
            .await
            .map_err(net)?
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
pub(super) async fn read_capped(
    stream: &web_sys::ReadableStream,
    cap: usize,
) -> Result<Vec<u8>, FetchError> {
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
