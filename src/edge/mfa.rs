//! The `MfaSubject` Durable Object class (binding `PORTCULLIS_MFA`, one object per subject, named
//! by the subject key) around the pure `mfa::store::MfaSubjectService`, the gateway's calls to it,
//! and AES-256-GCM through WebCrypto for sealing TOTP secrets.
//!
//! Every call is decided synchronously between loading and persisting (nothing is awaited while
//! the state is borrowed), and persisted before the answer leaves: a step the object accepted is
//! never accepted again, by this isolate or any other.

use js_sys::{Array, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::mfa::store::MfaSubjectService;
use crate::platform::StoreError;

use super::crypto::{cached_subtle, object};
use super::durable::{self, json_response, now_ms, persist, Loaded, StoredService};
use super::js_err;

pub(super) const MFA_BINDING: &str = "PORTCULLIS_MFA";

/// One call to the object of `subject_key`.
pub(super) async fn call(env: &Env, subject_key: &str, body: String) -> Result<String, StoreError> {
    durable::call(env, MFA_BINDING, subject_key, "POST", "/totp", Some(body)).await
}

impl StoredService for MfaSubjectService {
    fn from_storage(entries: Vec<(String, String)>) -> Self {
        let (service, readable) = MfaSubjectService::load(entries);
        if !readable {
            worker::console_error!("{}", crate::log::Event::MfaStorageUnreadable.line());
        }
        service
    }

    fn next_alarm_ms(&self) -> Option<u64> {
        None
    }
}

#[durable_object]
pub struct MfaSubject {
    state: State,
    loaded: Loaded<MfaSubjectService>,
}

impl DurableObject for MfaSubject {
    fn new(state: State, _env: Env) -> Self {
        MfaSubject {
            state,
            loaded: Loaded::new(),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        self.loaded.ensure(&self.state).await?;
        let body = req.text().await?;
        let (answer, writes) = {
            let mut guard = self.loaded.service.borrow_mut();
            let Some(service) = guard.as_mut() else {
                return json_response(503, "{\"error\":\"not loaded\"}".into());
            };
            service.handle_json(&body, now_ms())
        };
        if !writes.is_empty() {
            persist(&self.state, writes).await?;
        }
        json_response(200, answer)
    }
}

/// The raw AES-256 key as a WebCrypto key for `usage` (imported per call: sealing happens at
/// enrollment and opening once per code check, and a key kept in isolate memory would be one more
/// copy of the secret to reason about).
async fn aes_key(key: &[u8; 32], usage: &str) -> Result<web_sys::CryptoKey, String> {
    let subtle = cached_subtle()?;
    let usages = Array::of1(&JsValue::from_str(usage));
    let promise = subtle
        .import_key_with_object(
            "raw",
            &Uint8Array::from(&key[..]).into(),
            &object(&[("name", JsValue::from_str("AES-GCM"))]),
            false,
            &usages,
        )
        .map_err(|_| "AES key import failed".to_string())?;
    JsFuture::from(promise)
        .await
        .map_err(|_| "AES key import failed".to_string())?
        .dyn_into::<web_sys::CryptoKey>()
        .map_err(|_| "importKey did not return a CryptoKey".to_string())
}

fn gcm_params(iv: &[u8; 12], aad: &[u8]) -> js_sys::Object {
    object(&[
        ("name", JsValue::from_str("AES-GCM")),
        ("iv", Uint8Array::from(&iv[..]).into()),
        ("additionalData", Uint8Array::from(aad).into()),
        ("tagLength", JsValue::from_f64(128.0)),
    ])
}

pub(super) async fn aes_gcm_encrypt(
    key: &[u8; 32],
    iv: &[u8; 12],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, String> {
    let subtle = cached_subtle()?;
    let key = aes_key(key, "encrypt").await?;
    let promise = subtle
        .encrypt_with_object_and_buffer_source(
            &gcm_params(iv, aad),
            &key,
            &Uint8Array::from(plaintext),
        )
        .map_err(js_err)?;
    let sealed = JsFuture::from(promise).await.map_err(js_err)?;
    Ok(Uint8Array::new(&sealed).to_vec())
}

pub(super) async fn aes_gcm_decrypt(
    key: &[u8; 32],
    iv: &[u8; 12],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, String> {
    let subtle = cached_subtle()?;
    let key = aes_key(key, "decrypt").await?;
    let promise = subtle
        .decrypt_with_object_and_buffer_source(
            &gcm_params(iv, aad),
            &key,
            &Uint8Array::from(sealed),
        )
        .map_err(js_err)?;
    // A failed tag check rejects with an OperationError; say only that it did not open.
    let opened = JsFuture::from(promise)
        .await
        .map_err(|_| "the sealed secret does not open with this key and subject".to_string())?;
    Ok(Uint8Array::new(&opened).to_vec())
}
