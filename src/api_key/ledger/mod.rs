//! The authoritative state of each API key: one Durable Object per key id (`ApiKeyLedger`, binding
//! `PORTCULLIS_API_KEYS`), which serializes every change to its key and then writes the KV
//! entries the request path reads.
//!
//! Why one object per key, not per client: every admin write addresses one key by its id, and the
//! id names the object directly (no KV read to find it, so no stale read in the way); keys never
//! contend with each other; and a rotation, the one operation that spans two keys, is ordered by
//! the old key's object, which is the only one that can decide it. See docs/storage.md.
//!
//! - `service`: the object's logic (pure Rust, over a `LedgerHost`).
//! - `client`: the protocol (request and answer shapes) and the call the admin operations make.
//! - `idempotency`: what the gateway derives from an `Idempotency-Key` header.
//! - `turnstile`: one call at a time through an object.

pub(crate) mod client;
pub(crate) mod idempotency;
pub(crate) mod service;
pub(crate) mod turnstile;

pub(crate) use idempotency::IdempotencyKey;

/// The binding of the `ApiKeyLedger` namespace.
pub(crate) const LEDGER_BINDING: &str = "PORTCULLIS_API_KEYS";

#[cfg(test)]
mod tests;
