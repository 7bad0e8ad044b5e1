//! WebSocket upgrades on routes that allow them (`websocket::plan` decided that it may pass).
//!
//! The origin is asked for a socket with an outbound `fetch` carrying `Upgrade: websocket` and the
//! same edited headers as any forward (identity added, spoofs stripped); its answer's `webSocket`
//! is the origin's end. Then either
//! - **pass-through**: that socket goes back to the client in a 101 as it is, and the runtime pumps
//!   the frames natively (the gateway sees none), or
//! - **relay** (`close_on`): the gateway accepts the origin's socket and one end of a
//!   `WebSocketPair`, hands the other end to the client, copies every frame across (text and binary,
//!   as they came), passes each side's close on to the other, and runs a control loop that closes
//!   both ends (1008, the error code as reason) when the credential expires or is revoked.
//!
//! workerd forbids using one request's I/O objects from another request, so everything the relay
//! touches — both sockets, its timers, the revocation check — belongs to the upgrade request: the
//! control loop runs in that request's `waitUntil`, which the open socket keeps alive.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use crate::origin::ForwardFailure;
use futures_util::future::select;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, Response};

use crate::pipeline::ForwardPlan;
use crate::platform::Platform;
use crate::revocation::RevocationMode;
use crate::websocket::{
    close_for_refusal, relay_close_code, CloseSchedule, GatewayClose, RelayPlan, Step,
    WebSocketPlan, CLOSE_INTERNAL_ERROR,
};

use super::{js_err, EdgePlatform, IsolateState};

#[wasm_bindgen]
extern "C" {
    /// A workerd WebSocket (either end of a `WebSocketPair`, or a fetched response's `webSocket`).
    #[wasm_bindgen(extends = js_sys::Object)]
    type RuntimeWebSocket;

    #[wasm_bindgen(method, catch)]
    fn accept(this: &RuntimeWebSocket) -> Result<(), JsValue>;

    /// `data` is passed on as received: a string stays a text frame, an ArrayBuffer a binary one.
    #[wasm_bindgen(method, catch)]
    fn send(this: &RuntimeWebSocket, data: &JsValue) -> Result<(), JsValue>;

    #[wasm_bindgen(method, catch, js_name = close)]
    fn close_with(this: &RuntimeWebSocket, code: u16, reason: &str) -> Result<(), JsValue>;

    #[wasm_bindgen(method, catch, js_name = close)]
    fn close_without_code(this: &RuntimeWebSocket) -> Result<(), JsValue>;

    #[wasm_bindgen(method, js_name = addEventListener)]
    fn add_event_listener(this: &RuntimeWebSocket, kind: &str, listener: &js_sys::Function);

    #[wasm_bindgen(method, js_name = removeEventListener)]
    fn remove_event_listener(this: &RuntimeWebSocket, kind: &str, listener: &js_sys::Function);

    type WebSocketPair;

    #[wasm_bindgen(constructor, catch)]
    fn new() -> Result<WebSocketPair, JsValue>;
}

fn get(target: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// Forwards an allowed upgrade: the 101 with a socket, or the origin's refusal as it answered.
pub(super) async fn forward(
    original: &Request,
    plan: &ForwardPlan,
    ws: &WebSocketPlan,
    transport: &[(String, String)],
    platform: &Rc<EdgePlatform>,
    state: &Rc<IsolateState>,
) -> Result<Response, ForwardFailure> {
    let runtime = |e: JsValue| ForwardFailure::Runtime(js_err(e));
    let headers = web_sys::Headers::new_with_headers(&original.headers()).map_err(runtime)?;
    for name in &plan.strip {
        headers.delete(name).map_err(runtime)?;
    }
    for (n, v) in &plan.add {
        headers.set(n, v).map_err(runtime)?;
    }
    // The one hop-by-hop header kept: it is what makes workerd open a WebSocket to the origin.
    // Extensions (permessage-deflate) are negotiated per hop by the runtime, never end to end.
    headers.set("upgrade", "websocket").map_err(runtime)?;
    headers
        .delete("sec-websocket-extensions")
        .map_err(runtime)?;
    let init = web_sys::RequestInit::new();
    init.set_method("GET");
    init.set_headers(&headers.into());
    init.set_redirect(web_sys::RequestRedirect::Manual);
    // The handshake gets the route's origin timeout, as any forward's response head does.
    let controller = web_sys::AbortController::new().map_err(runtime)?;
    init.set_signal(Some(&controller.signal()));
    let outbound = Request::new_with_str_and_init(&plan.url, &init).map_err(runtime)?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let send = JsFuture::from(global.fetch_with_request(&outbound));
    let deadline = worker::Delay::from(std::time::Duration::from_millis(u64::from(
        plan.origin.timeout_ms,
    )));
    futures_util::pin_mut!(send);
    let resp: Response = match futures_util::future::select(send, deadline).await {
        futures_util::future::Either::Left((Ok(resp), _)) => resp
            .dyn_into()
            .map_err(|_| ForwardFailure::Runtime("fetch did not return a Response".to_string()))?,
        futures_util::future::Either::Left((Err(e), _)) => {
            return Err(ForwardFailure::Unreachable {
                reason: crate::origin::redact_reason(&js_err(e), &plan.url),
                attempts: 1,
            })
        }
        futures_util::future::Either::Right(_) => {
            controller.abort();
            return Err(ForwardFailure::Timeout {
                timeout_ms: plan.origin.timeout_ms,
            });
        }
    };

    let socket = get(&resp, "webSocket");
    if socket.is_null() || socket.is_undefined() {
        return super::http::relay_response(&resp, plan, transport)
            .map_err(ForwardFailure::Runtime);
    }
    let origin: RuntimeWebSocket = socket.unchecked_into();

    // The 101 carries the subprotocol the origin chose (the client fails the handshake without
    // it), the gateway's own headers, and nothing else of the origin's handshake (its
    // `Sec-WebSocket-Accept` answers a key the runtime chose, not the client's).
    let mut out_headers: Vec<(String, String)> = Vec::new();
    if let Ok(Some(protocol)) = resp.headers().get("sec-websocket-protocol") {
        out_headers.push(("sec-websocket-protocol".to_string(), protocol));
    }
    out_headers.extend(plan.response_headers.iter().cloned());
    out_headers.extend(transport.iter().cloned());

    let client_end: JsValue = match &ws.relay {
        None => origin.into(),
        Some(relay_plan) => {
            start_relay(origin, relay_plan, platform, state).map_err(ForwardFailure::Runtime)?
        }
    };
    let init = web_sys::ResponseInit::new();
    init.set_status(101);
    let h = super::http::headers_from(&out_headers).map_err(ForwardFailure::Runtime)?;
    init.set_headers(&h.into());
    js_sys::Reflect::set(&init, &JsValue::from_str("webSocket"), &client_end).map_err(runtime)?;
    Response::new_with_opt_str_and_init(None, &init).map_err(runtime)
}

type Listener = Closure<dyn FnMut(JsValue)>;

/// The two accepted sockets and the listeners that copy between them.
struct Relay {
    /// The gateway's end of the pair; the client holds the other.
    client: RuntimeWebSocket,
    origin: RuntimeWebSocket,
    done: Cell<bool>,
    waker: RefCell<Option<Waker>>,
    listeners: RefCell<Vec<(bool, &'static str, Listener)>>,
}

impl Relay {
    fn socket(&self, client_side: bool) -> &RuntimeWebSocket {
        if client_side {
            &self.client
        } else {
            &self.origin
        }
    }

    fn finish(&self) {
        self.done.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// The gateway ends the socket: both sides get the same code and reason.
    fn close_both(&self, close: GatewayClose) {
        let _ = self.client.close_with(close.code, close.reason);
        let _ = self.origin.close_with(close.code, close.reason);
        self.finish();
    }

    /// Passes one side's close on to the other (and completes the closing handshake with the
    /// side that started it; a socket already closed refuses, which is fine).
    fn pass_close(&self, from_client: bool, code: u16, reason: &str) {
        for socket in [self.socket(!from_client), self.socket(from_client)] {
            let _ = match relay_close_code(code) {
                Some(code) => socket.close_with(code, reason),
                None => socket.close_without_code(),
            };
        }
        self.finish();
    }

    /// Removes every listener; the closures are dropped only once nothing can call them.
    fn detach(&self) {
        for (client_side, kind, listener) in self.listeners.borrow_mut().drain(..) {
            self.socket(client_side)
                .remove_event_listener(kind, listener.as_ref().unchecked_ref());
        }
    }

    fn listen(
        self: &Rc<Self>,
        client_side: bool,
        kind: &'static str,
        on: fn(&Relay, bool, JsValue),
    ) {
        let relay: Weak<Relay> = Rc::downgrade(self);
        let listener = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            if let Some(relay) = relay.upgrade() {
                on(&relay, client_side, event);
            }
        });
        self.socket(client_side)
            .add_event_listener(kind, listener.as_ref().unchecked_ref());
        self.listeners
            .borrow_mut()
            .push((client_side, kind, listener));
    }
}

fn on_message(relay: &Relay, from_client: bool, event: JsValue) {
    // A send to a socket that is closing throws; the close listener ends the relay.
    let _ = relay.socket(!from_client).send(&get(&event, "data"));
}

fn on_close(relay: &Relay, from_client: bool, event: JsValue) {
    let code = get(&event, "code").as_f64().unwrap_or(1005.0) as u16;
    let reason = get(&event, "reason").as_string().unwrap_or_default();
    relay.pass_close(from_client, code, &reason);
}

fn on_error(relay: &Relay, from_client: bool, _event: JsValue) {
    let _ = relay
        .socket(!from_client)
        .close_with(CLOSE_INTERNAL_ERROR, "the other side failed");
    relay.finish();
}

/// Resolves when either side has closed (or the gateway closed both).
struct Closed(Rc<Relay>);

impl Future for Closed {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.done.get() {
            Poll::Ready(())
        } else {
            *self.0.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// Accepts both sockets, wires the copying, starts the control loop in the request's
/// `waitUntil`, and returns the end the client gets.
fn start_relay(
    origin: RuntimeWebSocket,
    plan: &RelayPlan,
    platform: &Rc<EdgePlatform>,
    state: &Rc<IsolateState>,
) -> Result<JsValue, String> {
    let pair = WebSocketPair::new().map_err(js_err)?;
    let client_end = get(&pair, "0");
    let gateway_end: RuntimeWebSocket = get(&pair, "1").unchecked_into();
    for socket in [&origin, &gateway_end] {
        // Binary frames arrive as ArrayBuffers (the runtime's default is Blob), which `send`
        // passes on as binary frames: no copy into wasm, no re-encoding.
        js_sys::Reflect::set(
            socket,
            &JsValue::from_str("binaryType"),
            &JsValue::from_str("arraybuffer"),
        )
        .map_err(js_err)?;
        socket.accept().map_err(js_err)?;
    }
    let relay = Rc::new(Relay {
        client: gateway_end,
        origin,
        done: Cell::new(false),
        waker: RefCell::new(None),
        listeners: RefCell::new(Vec::new()),
    });
    for client_side in [true, false] {
        relay.listen(client_side, "message", on_message);
        relay.listen(client_side, "close", on_close);
        relay.listen(client_side, "error", on_error);
    }
    let schedule = CloseSchedule::new(plan, platform.now_ms());
    let control = supervise(
        relay,
        schedule,
        plan.clone(),
        Rc::clone(platform),
        Rc::clone(state),
    );
    platform.wait_until(control);
    Ok(client_end)
}

/// The control loop: sleeps until the schedule's next instant (or the socket's end), closes at
/// expiry, and checks the credential against the isolate's revocation snapshot every interval —
/// the request path's own check (`revocation::gate`), so the bound is the one in
/// docs/revocation.md plus one interval.
async fn supervise(
    relay: Rc<Relay>,
    mut schedule: CloseSchedule,
    plan: RelayPlan,
    platform: Rc<EdgePlatform>,
    state: Rc<IsolateState>,
) {
    while !relay.done.get() {
        match schedule.step(platform.now_ms()) {
            Step::Close(close) => gateway_close(&relay, &platform, &plan, close),
            Step::CheckRevocation => {
                let IsolateState::Ready(gateway) = &*state else {
                    break;
                };
                let verdict = crate::revocation::gate::check(
                    &*platform,
                    &gateway.config.revocation,
                    &gateway.revocation,
                    RevocationMode::Snapshot,
                    &plan.identity,
                )
                .await;
                if let Err(problem) = verdict {
                    if !relay.done.get() {
                        gateway_close(&relay, &platform, &plan, close_for_refusal(problem.code));
                    }
                }
            }
            Step::Wait(ms) => {
                let timer = worker::Delay::from(std::time::Duration::from_millis(ms));
                // Whichever finishes first; dropping the other clears its timer.
                let _ = select(Closed(Rc::clone(&relay)), timer).await;
            }
            Step::Idle => Closed(Rc::clone(&relay)).await,
        }
    }
    relay.detach();
}

fn gateway_close(relay: &Relay, platform: &EdgePlatform, plan: &RelayPlan, close: GatewayClose) {
    relay.close_both(close);
    let id = &plan.identity;
    crate::log::emit(
        platform,
        crate::log::Event::WebsocketClosed {
            code: close.code,
            reason: close.reason,
            credential: id.method.as_str(),
            subject: &id.subject,
            key_id: id.key_id.as_deref(),
        },
    );
}
