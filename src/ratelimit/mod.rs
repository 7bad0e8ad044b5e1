//! Per-identity rate limits: the pure part (no Workers types), tested natively.
//!
//! - `policy`: named policies from the configuration (`"100 per 60 s, burst 20"`, mode, on_error).
//! - `gcra`: the algorithm, in exact integer arithmetic.
//! - `lease`: `fast` mode's isolate-local decisions from a leased share of the budget.
//! - `service`: the rate-limiter Durable Object's logic (one object per identity).
//! - `client`: the protocol with that object (request bodies, reading its answers).
//! - `headers`: the IETF `RateLimit-Policy` / `RateLimit` fields.
//!
//! The limit stage that ties them to a request is `pipeline::limit`; the Durable Object class is
//! in `edge::durable`. Design, bounds and measurements: docs/rate-limits.md.

pub(crate) mod client;
pub mod gcra;
pub(crate) mod headers;
pub mod lease;
pub mod policy;
pub mod service;

pub use policy::{CountingKey, Mode, OnError, Policy, Rate};
