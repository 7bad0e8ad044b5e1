//! The gateway's own second factor: TOTP (RFC 6238) for the sessions it issues. `totp` is the
//! algorithm and what an authenticator app is shown; `store` the per-subject state the
//! `MfaSubject` Durable Object keeps exactly (the sealed secret, the last used step, failed
//! attempts, recovery codes); `seal` the AES-256-GCM sealing of secrets; `recovery` the recovery
//! codes. Which routes ask for a factor is `crate::step_up`'s.

pub(crate) mod client;
pub(crate) mod endpoints;
pub(crate) mod recovery;
pub(crate) mod seal;
pub(crate) mod store;
pub(crate) mod totp;

#[cfg(test)]
mod tests;
