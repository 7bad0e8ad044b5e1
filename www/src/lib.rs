//! Portcullis PKCE helper: the client half of the OAuth 2.0 authorization code flow with PKCE
//! (RFC 7636, S256 only), `state`, OIDC `nonce`, RFC 9207 `iss` checking and RFC 8707 resource
//! indicators, for single-page apps.
//!
//! Every rule lives in plain Rust modules, tested natively with `cargo test -p portcullis-pkce`.
//! The browser binding (`wasm` module, wasm32 only) only converts JS values, reaches
//! `sessionStorage` and `Date.now()`, and turns [`PkceError`] into a JS `Error`.

pub mod authorization;
pub mod callback;
pub mod encoding;
pub mod error;
pub mod pkce;
pub mod random;
pub mod token;
pub mod transaction;
pub mod validate;

#[cfg(target_arch = "wasm32")]
mod wasm;

// The browser build is single-threaded; talc replaces std's dlmalloc to keep the module small.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

pub use authorization::AuthorizationRequest;
pub use callback::{parse_callback, ExpectedResponse};
pub use error::PkceError;
pub use pkce::CodeVerifier;
pub use random::random_token;
pub use token::TokenRequest;
pub use transaction::{begin, complete, CompletedLogin, LoginOptions, PendingTransaction};
