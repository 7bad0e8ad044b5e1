//! The browser binding: JS values in, JS values out, nothing decided here.
//!
//! Options objects are read with `Reflect` (one import for every field, instead of a generated
//! getter per field) and results are plain objects, so the JS glue stays a few kilobytes.
//! Every failure is thrown as a JS `Error` whose `name` is `"PkceError"` and whose `code` is
//! [`PkceError::code`]. This module is the package's internal core: the entries in `www/js/`
//! gate every export on `init()`, and `isPkceError`, the code exchange and the session client
//! are plain JS there. The TypeScript declarations are hand-written in `www/js/index.d.ts`.

use alloc::string::String;
use alloc::vec::Vec;
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::authorization::AuthorizationRequest;
use crate::callback::{parse_callback, ExpectedResponse};
use crate::error::PkceError;
use crate::pkce::{CodeVerifier, METHOD_S256};
use crate::random::random_token;
use crate::token::{TokenRequest, FORM_CONTENT_TYPE};
use crate::transaction::{self, LoginOptions, PendingTransaction, STORAGE_KEY};

#[wasm_bindgen]
extern "C" {
    /// `sessionStorage`, reached structurally through `globalThis` so that a missing or
    /// forbidden storage is a clear `storage_unavailable` rather than a crash.
    type SessionStorage;
    #[wasm_bindgen(method, catch, js_name = getItem)]
    fn get_item(this: &SessionStorage, key: &str) -> Result<Option<String>, JsValue>;
    #[wasm_bindgen(method, catch, js_name = setItem)]
    fn set_item(this: &SessionStorage, key: &str, value: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = removeItem)]
    fn remove_item(this: &SessionStorage, key: &str) -> Result<(), JsValue>;
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(thread_local_v2, js_name = globalThis)]
    static GLOBAL_THIS: JsValue;
}

fn session_storage() -> Result<SessionStorage, PkceError> {
    // Reflect.get, not a direct binding: reading `sessionStorage` throws a SecurityError where
    // storage is disabled, and that must become `storage_unavailable`, not an uncaught exception.
    match GLOBAL_THIS.with(|global| Reflect::get(global, &JsValue::from_str("sessionStorage"))) {
        Ok(v) if v.is_object() => Ok(v.unchecked_into()),
        _ => Err(PkceError::StorageUnavailable),
    }
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

fn set(target: &JsValue, key: &str, value: &JsValue) {
    // Setting a data property on a fresh plain object cannot fail.
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

fn set_str(target: &JsValue, key: &str, value: &str) {
    set(target, key, &JsValue::from_str(value));
}

fn throw(err: PkceError) -> JsValue {
    let e = js_sys::Error::new(&err.message());
    e.set_name("PkceError");
    set_str(&e, "code", err.code());
    if let Some(field) = err.field() {
        set_str(&e, "field", field);
    }
    if let PkceError::AuthorizationError(response) = &err {
        set_str(&e, "error", &response.error);
        if let Some(d) = &response.description {
            set_str(&e, "errorDescription", d);
        }
        if let Some(u) = &response.uri {
            set_str(&e, "errorUri", u);
        }
    }
    e.into()
}

// ---- reading JS inputs -------------------------------------------------------------------

fn invalid(field: &'static str, reason: &'static str) -> PkceError {
    PkceError::InvalidParameter { field, reason }
}

fn require_object(value: &JsValue, field: &'static str) -> Result<(), PkceError> {
    if value.is_object() {
        Ok(())
    } else {
        Err(invalid(field, "must be an object"))
    }
}

fn field(obj: &JsValue, key: &'static str) -> Option<JsValue> {
    Reflect::get(obj, &JsValue::from_str(key))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

fn string_arg(value: &JsValue, name: &'static str) -> Result<String, PkceError> {
    value.as_string().ok_or(invalid(name, "must be a string"))
}

fn opt_string(obj: &JsValue, key: &'static str) -> Result<Option<String>, PkceError> {
    field(obj, key).map(|v| string_arg(&v, key)).transpose()
}

fn string(obj: &JsValue, key: &'static str) -> Result<String, PkceError> {
    opt_string(obj, key)?.ok_or(invalid(key, "is required"))
}

/// Reads several required string fields at once. One array and one early-return site keep the
/// wasm small (a chain of `?` would emit a different drop sequence for each field), and the
/// loop is not generic, so there is one copy of it.
fn read_strings(obj: &JsValue, keys: &[&'static str], out: &mut [String]) -> Result<(), PkceError> {
    for (slot, key) in out.iter_mut().zip(keys) {
        *slot = string(obj, key)?;
    }
    Ok(())
}

fn flag(obj: &JsValue, key: &'static str) -> Result<bool, PkceError> {
    match field(obj, key) {
        None => Ok(false),
        Some(v) => v.as_bool().ok_or(invalid(key, "must be a boolean")),
    }
}

fn resources(obj: &JsValue) -> Result<Vec<String>, PkceError> {
    let mut out = Vec::new();
    if let Some(v) = field(obj, "resource") {
        let list = if Array::is_array(&v) {
            Array::from(&v)
        } else {
            Array::of1(&v)
        };
        for r in list.iter() {
            match r.as_string() {
                Some(r) => out.push(r),
                None => {
                    return Err(invalid(
                        "resource",
                        "must be a string or an array of strings",
                    ))
                }
            }
        }
    }
    Ok(out)
}

fn extra_params(obj: &JsValue) -> Result<Vec<(String, String)>, PkceError> {
    let err = || invalid("extraParams", "must be an object whose values are strings");
    let mut out = Vec::new();
    if let Some(v) = field(obj, "extraParams") {
        if !v.is_object() || Array::is_array(&v) {
            return Err(err());
        }
        for entry in Object::entries(v.unchecked_ref()).iter() {
            let entry = Array::from(&entry);
            match (entry.get(0).as_string(), entry.get(1).as_string()) {
                (Some(k), Some(v)) => out.push((k, v)),
                _ => return Err(err()),
            }
        }
    }
    Ok(out)
}

// ---- building JS outputs -----------------------------------------------------------------

fn token_request_object(req: &TokenRequest) -> Result<JsValue, PkceError> {
    let body = req.body()?;
    let headers: JsValue = Object::new().into();
    set_str(&headers, "content-type", FORM_CONTENT_TYPE);
    set_str(&headers, "accept", "application/json");
    let out: JsValue = Object::new().into();
    set_str(&out, "url", req.token_endpoint);
    set_str(&out, "method", "POST");
    set(&out, "headers", &headers);
    set_str(&out, "body", &body);
    Ok(out)
}

// ---- the exported API --------------------------------------------------------------------

/// A fresh PKCE pair: a 43-character verifier from 32 bytes of `crypto.getRandomValues`, and its
/// S256 challenge.
/// @throws {PkceError} `random_unavailable`
#[wasm_bindgen(js_name = createPkcePair, unchecked_return_type = "PkcePair")]
pub fn create_pkce_pair() -> Result<JsValue, JsValue> {
    let verifier = CodeVerifier::generate().map_err(throw)?;
    let out: JsValue = Object::new().into();
    set_str(&out, "codeVerifier", verifier.as_str());
    set_str(&out, "codeChallenge", &verifier.challenge_s256());
    set_str(&out, "codeChallengeMethod", METHOD_S256);
    Ok(out)
}

/// The S256 challenge of a verifier, after checking it is 43–128 characters of
/// `A-Z a-z 0-9 - . _ ~` (RFC 7636 §4.1).
/// @throws {PkceError} `invalid_code_verifier`
#[wasm_bindgen(js_name = codeChallengeS256)]
pub fn code_challenge_s256(
    #[wasm_bindgen(js_name = codeVerifier, unchecked_param_type = "string")] code_verifier: JsValue,
) -> Result<String, JsValue> {
    let v = string_arg(&code_verifier, "codeVerifier").map_err(throw)?;
    Ok(CodeVerifier::parse(&v).map_err(throw)?.challenge_s256())
}

/// A fresh `state` value: 43 base64url characters (256 bits) from the CSPRNG.
/// @throws {PkceError} `random_unavailable`
#[wasm_bindgen(js_name = randomState)]
pub fn random_state() -> Result<String, JsValue> {
    random_token().map_err(throw)
}

/// A fresh OpenID Connect `nonce`: 43 base64url characters (256 bits) from the CSPRNG.
/// @throws {PkceError} `random_unavailable`
#[wasm_bindgen(js_name = randomNonce)]
pub fn random_nonce() -> Result<String, JsValue> {
    random_token().map_err(throw)
}

/// The authorization URL (`response_type=code`, `code_challenge_method=S256`), every value
/// percent-encoded.
/// @throws {PkceError} `invalid_url`, `invalid_parameter`, `reserved_parameter`
#[wasm_bindgen(js_name = buildAuthorizationUrl)]
pub fn build_authorization_url(
    #[wasm_bindgen(unchecked_param_type = "AuthorizationUrlParams")] params: JsValue,
) -> Result<String, JsValue> {
    let read = || -> Result<String, PkceError> {
        require_object(&params, "params")?;
        let mut fields: [String; 7] = Default::default();
        read_strings(
            &params,
            &[
                "authorizationEndpoint",
                "clientId",
                "redirectUri",
                "scope",
                "state",
                "nonce",
                "codeChallenge",
            ],
            &mut fields,
        )?;
        let [authorization_endpoint, client_id, redirect_uri, scope, state, nonce, code_challenge] =
            fields;
        let (resources, extra) = (resources(&params)?, extra_params(&params)?);
        AuthorizationRequest {
            authorization_endpoint: &authorization_endpoint,
            client_id: &client_id,
            redirect_uri: &redirect_uri,
            scope: &scope,
            state: &state,
            nonce: &nonce,
            code_challenge: &code_challenge,
            resources: &resources,
            extra: &extra,
        }
        .to_url()
    };
    read().map_err(throw)
}

/// Checks an authorization response URL (or `location.search`) against the expected `state`
/// and issuer, and returns the authorization code.
/// @throws {PkceError} `state_mismatch`, `issuer_mismatch`, `authorization_error`, …
#[wasm_bindgen(js_name = parseCallback)]
pub fn parse_callback_js(
    #[wasm_bindgen(js_name = callbackUrl, unchecked_param_type = "string")] callback_url: JsValue,
    #[wasm_bindgen(unchecked_param_type = "ExpectedCallback")] expected: JsValue,
) -> Result<String, JsValue> {
    let read = || -> Result<String, PkceError> {
        let url = string_arg(&callback_url, "callbackUrl")?;
        require_object(&expected, "expected")?;
        let mut fields: [String; 2] = Default::default();
        read_strings(&expected, &["state", "issuer"], &mut fields)?;
        let [state, issuer] = fields;
        let require_iss = flag(&expected, "requireIss")?;
        parse_callback(
            &url,
            &ExpectedResponse {
                state: &state,
                issuer: &issuer,
                require_iss,
            },
        )
    };
    read().map_err(throw)
}

/// The code-exchange request; send it with `fetch(request.url, request)`.
/// @throws {PkceError} `invalid_url`, `invalid_parameter`, `invalid_code_verifier`
#[wasm_bindgen(js_name = buildTokenRequest, unchecked_return_type = "TokenRequest")]
pub fn build_token_request(
    #[wasm_bindgen(unchecked_param_type = "TokenRequestParams")] params: JsValue,
) -> Result<JsValue, JsValue> {
    let read = || -> Result<JsValue, PkceError> {
        require_object(&params, "params")?;
        let mut fields: [String; 5] = Default::default();
        read_strings(
            &params,
            &[
                "tokenEndpoint",
                "clientId",
                "redirectUri",
                "code",
                "codeVerifier",
            ],
            &mut fields,
        )?;
        let [token_endpoint, client_id, redirect_uri, code, code_verifier] = fields;
        let code_verifier = CodeVerifier::parse(&code_verifier)?;
        let resources = resources(&params)?;
        let req = TokenRequest {
            token_endpoint: &token_endpoint,
            client_id: &client_id,
            redirect_uri: &redirect_uri,
            code: &code,
            code_verifier: &code_verifier,
            resources: &resources,
        };
        token_request_object(&req)
    };
    read().map_err(throw)
}

/// Starts a login: makes a PKCE pair, `state` and `nonce`, stores the pending transaction in
/// `sessionStorage` (replacing any older one in this tab) and returns the authorization URL.
/// @throws {PkceError} `invalid_url`, `invalid_parameter`, `reserved_parameter`, `storage_unavailable`
#[wasm_bindgen(js_name = beginAuthorization, unchecked_return_type = "AuthorizationStart")]
pub fn begin_authorization(
    #[wasm_bindgen(unchecked_param_type = "BeginAuthorizationOptions")] options: JsValue,
) -> Result<JsValue, JsValue> {
    let run = || -> Result<JsValue, PkceError> {
        require_object(&options, "options")?;
        let mut fields: [String; 6] = Default::default();
        read_strings(
            &options,
            &[
                "issuer",
                "authorizationEndpoint",
                "tokenEndpoint",
                "clientId",
                "redirectUri",
                "scope",
            ],
            &mut fields,
        )?;
        let [issuer, authorization_endpoint, token_endpoint, client_id, redirect_uri, scope] =
            fields;
        let require_iss = flag(&options, "requireIss")?;
        let (resources, extra) = (resources(&options)?, extra_params(&options)?);
        let login = LoginOptions {
            issuer: &issuer,
            authorization_endpoint: &authorization_endpoint,
            token_endpoint: &token_endpoint,
            client_id: &client_id,
            redirect_uri: &redirect_uri,
            scope: &scope,
            require_iss,
            resources: &resources,
            extra: &extra,
        };
        let storage = session_storage()?;
        let (url, tx) = transaction::begin(
            &login,
            CodeVerifier::generate()?,
            random_token()?,
            random_token()?,
            now_ms(),
        )?;
        storage
            .set_item(STORAGE_KEY, &tx.serialize())
            .map_err(|_| PkceError::StorageUnavailable)?;
        let out: JsValue = Object::new().into();
        set_str(&out, "url", &url);
        set_str(&out, "state", &tx.state);
        set_str(&out, "nonce", &tx.nonce);
        Ok(out)
    };
    run().map_err(throw)
}

/// Finishes a login on the redirect page: removes the pending transaction from
/// `sessionStorage` (whatever the outcome, so it is used at most once), checks the callback
/// and returns the code with a ready token request.
/// @throws {PkceError} `no_pending_transaction`, `transaction_expired`, `state_mismatch`,
/// `issuer_mismatch`, `missing_issuer`, `authorization_error`, `missing_code`, …
#[wasm_bindgen(js_name = completeAuthorization, unchecked_return_type = "CompletedAuthorization")]
pub fn complete_authorization(
    #[wasm_bindgen(js_name = callbackUrl, unchecked_param_type = "string")] callback_url: JsValue,
) -> Result<JsValue, JsValue> {
    let run = || -> Result<JsValue, PkceError> {
        let storage = session_storage()?;
        let stored = storage
            .get_item(STORAGE_KEY)
            .map_err(|_| PkceError::StorageUnavailable)?;
        storage
            .remove_item(STORAGE_KEY)
            .map_err(|_| PkceError::StorageUnavailable)?;
        let tx = PendingTransaction::deserialize(&stored.ok_or(PkceError::NoPendingTransaction)?)?;
        let url = string_arg(&callback_url, "callbackUrl")?;
        let code = transaction::complete(&tx, &url, now_ms())?;
        let out: JsValue = Object::new().into();
        set_str(&out, "code", &code);
        set_str(&out, "codeVerifier", tx.code_verifier.as_str());
        set_str(&out, "nonce", &tx.nonce);
        // What exchangeCode() (www/js/exchange.js) checks an ID token against.
        set_str(&out, "issuer", &tx.issuer);
        set_str(&out, "clientId", &tx.client_id);
        set(
            &out,
            "tokenRequest",
            &token_request_object(&tx.token_request(&code))?,
        );
        Ok(out)
    };
    run().map_err(throw)
}

/// Whether this tab has a login in flight (a stored transaction).
/// @throws {PkceError} `storage_unavailable`
#[wasm_bindgen(js_name = hasPendingAuthorization)]
pub fn has_pending_authorization() -> Result<bool, JsValue> {
    let storage = session_storage().map_err(throw)?;
    let stored = storage
        .get_item(STORAGE_KEY)
        .map_err(|_| throw(PkceError::StorageUnavailable))?;
    Ok(stored.is_some())
}

/// Abandons the login in flight, if any (e.g. a "cancel" button).
/// @throws {PkceError} `storage_unavailable`
#[wasm_bindgen(js_name = clearPendingAuthorization)]
pub fn clear_pending_authorization() -> Result<(), JsValue> {
    let storage = session_storage().map_err(throw)?;
    storage
        .remove_item(STORAGE_KEY)
        .map_err(|_| throw(PkceError::StorageUnavailable))
}
