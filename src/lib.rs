//! Portcullis: an authentication gateway for Cloudflare Workers.
//!
//! A request runs one straight pipeline (`pipeline`): parse → authenticate → authorize → limit →
//! forward. Everything outside `edge` is pure logic, tested natively with `cargo test`; `edge` is the
//! thin Workers glue that implements `platform::Platform` and is compiled only for wasm32.

// The public surface is what the CLI, the native tests and the benchmarks use (docs/architecture.md,
// "The public surface"); everything else is `pub(crate)` or private.
#![warn(unreachable_pub)]
// What only `edge` uses (wasm32 only) looks dead to a native build: dead code is judged by the
// wasm build, which compiles every caller.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

pub mod admin;
pub mod admin_settings;
pub mod api_key;
mod bounded_cache;
pub mod claims;
pub mod config;
mod cors;
pub mod dpop;
pub mod forwarded;
pub mod identity;
pub mod introspection;
pub mod jose;
mod jwks_cache;
pub mod location_cache;
mod log;
pub mod log_settings;
mod mfa;
pub mod mfa_settings;
pub mod mtls;
mod origin;
pub mod path;
pub mod pipeline;
mod platform;
pub mod problem;
pub mod query;
pub mod ratelimit;
mod reply;
pub mod request;
pub mod request_id;
pub mod revocation;
pub mod route;
mod scope;
mod section;
pub mod session;
pub mod signing;
pub mod step_up;
/// The in-memory platform for native tests (this crate's and the CLI's, through the `testing`
/// feature); never compiled into the worker.
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing;
pub mod token_cache;
mod url;
pub mod webauthn;
mod websocket;
pub mod websocket_settings;

#[cfg(target_arch = "wasm32")]
mod edge;
