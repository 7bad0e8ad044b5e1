//! Portcullis PKCE helper: the client half of the OAuth 2.0 authorization code flow with PKCE
//! (RFC 7636, S256 only), `state`, OIDC `nonce`, RFC 9207 `iss` checking and RFC 8707 resource
//! indicators, for single-page apps.
//!
//! Every rule of the authorization request and the callback lives in plain Rust modules, tested
//! natively with `cargo test -p portcullis-pkce`. The browser binding (`wasm` module, wasm32 only)
//! only converts JS values, reaches `sessionStorage` and `Date.now()`, and turns [`PkceError`]
//! into a JS `Error`. What is made of `fetch` and WebCrypto — the code exchange, the ID-token
//! validation, the session client — is plain JS in `www/js/` (the package's entries), tested in
//! Node and Chromium (docs/pkce.md, docs/browser-session.md).
//!
//! The published browser build (`www/build.sh`, feature `small-wasm`) is `no_std` + `alloc`:
//! std's panic and formatting machinery alone would be about half the module. The logic is
//! written panic-free (no indexing or slicing that can fail, no `unwrap` on input), so that
//! build's panic handler is an unreachable trap. Without the feature the crate uses std on every
//! target, so a workspace-wide wasm32 build (where other crates pull std in) still links.

#![cfg_attr(all(target_arch = "wasm32", feature = "small-wasm"), no_std)]

extern crate alloc;

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

// The browser build is single-threaded; talc is a small allocator made for it.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(all(target_arch = "wasm32", feature = "small-wasm"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

pub use authorization::AuthorizationRequest;
pub use callback::{parse_callback, ExpectedResponse};
pub use error::PkceError;
pub use pkce::CodeVerifier;
pub use random::random_token;
pub use token::TokenRequest;
pub use transaction::{begin, complete, LoginOptions, PendingTransaction};
