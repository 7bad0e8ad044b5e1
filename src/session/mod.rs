//! Sessions: the gateway as the issuer of first-party sessions — a short access token in the
//! response body and a rotating refresh token in an `HttpOnly` cookie, one `SessionFamily`
//! Durable Object per session deciding every rotation, replay of an old refresh token ending the
//! whole session.
//!
//! - `settings`: the `[sessions]` configuration section, a leaf module that `config` reads (the
//!   signing keys, minting and the gateway's own issuer live in `signing`); `endpoint_settings`:
//!   its login, token-exchange and refresh parts.
//! - `refresh_token`: the token's format, its hash and the wrapping of a successor.
//! - `family`: the family object's logic (`edge::session` is the thin Workers class).
//! - `client`: the protocol with the object, for the endpoints and the admin API.
//! - `caller`: the caller of an endpoint that takes the gateway's own access token (passkeys,
//!   TOTP), a bound token's holder proving its key.
//! - `cookie`: the `Set-Cookie` values and reading the cookie back.
//! - `csrf`: the `Origin` and request-shape checks of the cookie endpoints.
//! - `endpoints`: the one dispatcher under `sessions.path_prefix` (`context`: what its endpoints
//!   share, the CSRF checks among it); `start` (every way a session
//!   begins), `login`, `exchange`, `refresh` (refresh and logout) serve its endpoints; `index` is
//!   the subject index the admin API lists.
//!
//! Design, the grace window's semantics and the runbook: docs/sessions.md.

pub(crate) mod caller;
pub(crate) mod client;
pub(crate) mod context;
pub(crate) mod cookie;
pub(crate) mod csrf;
pub mod endpoint_settings;
pub mod endpoints;
pub(crate) mod exchange;
pub(crate) mod family;
pub(crate) mod index;
pub(crate) mod login;
pub(crate) mod passkeys;
pub(crate) mod refresh;
pub(crate) mod refresh_token;
pub mod settings;
pub(crate) mod start;

#[cfg(test)]
mod tests;
