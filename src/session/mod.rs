//! Sessions: the gateway as an issuer of its own short access tokens (docs/sessions.md).
//!
//! `settings` is the `[sessions]` configuration section, a leaf module that `config` reads; the
//! signing keys, minting and the gateway's own issuer live in `signing`.

pub mod settings;
