//! Revocation: revoked token ids (`jti`), revoked API key ids, and per-subject "revoked before"
//! instants, held by one Durable Object and mirrored in every isolate.
//!
//! - `set`: the state itself and the check, pure and allocation-free on the request path.
//! - `snapshot`: each isolate's copy and when to refresh it (a pure state machine).
//! - `service`: the Durable Object's logic (`edge::durable` is the thin Workers wrapper).
//! - `gate`: the check the authenticate stage runs on every identity, cache hits included.
//! - `client`: the protocol with the object (request paths, answers), for `gate` and the admin
//!   API's `/revocations` endpoints (`admin::revocations`).
//!
//! Design, propagation bound and failure modes: docs/revocation.md.

pub(crate) mod client;
pub(crate) mod gate;
pub mod service;
pub mod set;
pub mod settings;
pub mod snapshot;

pub use set::{CredentialFacts, RevocationSet, Revoked, Snapshot};
pub use settings::{RevocationMode, RevocationSettings};
pub use snapshot::{Freshness, RefreshSettings, SnapshotCache};
