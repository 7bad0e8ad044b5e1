//! Sessions: the gateway as the issuer of first-party sessions — a short access token in the
//! response body and a rotating refresh token in an `HttpOnly` cookie, one `SessionFamily`
//! Durable Object per session deciding every rotation, replay of an old refresh token ending the
//! whole session.
//!
//! - `refresh_token`: the token's format, its hash and the wrapping of a successor.
//! - `family`: the family object's logic (`edge::session` is the thin Workers class).
//! - `client`: the protocol with the object, for the endpoints and the admin API.
//! - `cookie`: the `Set-Cookie` values and reading the cookie back.
//! - `csrf`: the `Origin` and request-shape checks of the cookie endpoints.
//!
//! Design, the grace window's semantics and the runbook: docs/sessions.md.

pub(crate) mod client;
pub(crate) mod cookie;
pub(crate) mod csrf;
pub(crate) mod family;
pub(crate) mod refresh_token;
