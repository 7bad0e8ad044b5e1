//! Portcullis: an authentication gateway for Cloudflare Workers.
//!
//! A request runs one straight pipeline (`pipeline`): parse → authenticate → authorize → limit →
//! forward. Everything outside `edge` is pure logic, tested natively with `cargo test`; `edge` is the
//! thin Workers glue that implements `platform::Platform` and is compiled only for wasm32.

pub mod admin;
pub mod admin_settings;
pub mod api_key;
mod bounded_cache;
pub mod config;
pub mod cors;
pub mod forwarded;
pub mod identity;
pub mod jose;
pub mod jwks_cache;
pub mod log;
pub mod origin;
pub mod path;
pub mod pipeline;
pub mod platform;
pub mod problem;
pub mod query;
pub mod ratelimit;
pub mod reply;
pub mod request;
pub mod revocation;
pub mod route;
pub mod scope;
mod section;
/// The in-memory platform for native tests (this crate's and the CLI's, through the `testing`
/// feature); never compiled into the worker.
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing;
pub mod token_cache;
pub mod url;
pub mod websocket;
pub mod websocket_settings;

#[cfg(target_arch = "wasm32")]
mod edge;
