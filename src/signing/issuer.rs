//! The gateway's own issuer: the `sessions` settings plus the signing key set, held by the
//! `Gateway` for the isolate's lifetime. It mints (`mint`) and it is the key source of the
//! gateway's own issuer entry (`config::own_issuer`): a token the gateway minted is verified by
//! `jose::verify::jwt_verify` like any issuer's, with the set's public keys and no HTTP fetch.

use std::cell::RefCell;

use super::keys::{KeySetError, SigningKeySet};
use crate::jose::jwk::JwkSet;
use crate::jose::verify::{KeyLookupError, MAX_KEYS_PER_TOKEN};
use crate::jose::Alg;
use crate::platform::Platform;
use crate::session::settings::SessionSettings;

/// The parsed key set, the issuer URL, the audiences and the access-token TTL.
#[derive(Debug, Clone)]
pub(crate) struct SessionIssuer {
    issuer: String,
    audiences: Vec<String>,
    access_token_ttl_secs: u64,
    keys: SigningKeySet,
    /// The set's public keys, as the verifier reads a JWKS.
    public: JwkSet,
}

impl SessionIssuer {
    pub(crate) fn new(settings: &SessionSettings, keys: SigningKeySet) -> SessionIssuer {
        let public = JwkSet {
            keys: keys.keys().iter().map(|k| k.public_jwk().clone()).collect(),
            skipped: 0,
        };
        SessionIssuer {
            issuer: settings.issuer.clone(),
            audiences: settings.audiences.clone(),
            access_token_ttl_secs: settings.access_token_ttl_seconds,
            keys,
            public,
        }
    }

    /// The issuer when sessions are enabled, from the secret document (`None`: the secret is not
    /// set). Enabled without a valid secret is an error: the gateway does not start (fail closed).
    /// With sessions off the secret is not read at all.
    pub(crate) fn load(
        settings: &SessionSettings,
        secret: Option<&str>,
    ) -> Result<Option<SessionIssuer>, Vec<KeySetError>> {
        if !settings.enabled {
            return Ok(None);
        }
        let document = secret.ok_or_else(|| {
            vec![KeySetError {
                path: String::new(),
                message: "is not set: sessions.enabled needs the signing keys (portcullis signing-keys generate)".into(),
            }]
        })?;
        let keys = SigningKeySet::parse(document)?;
        Ok(Some(SessionIssuer::new(settings, keys)))
    }

    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    pub(crate) fn audiences(&self) -> &[String] {
        &self.audiences
    }

    pub(crate) fn access_token_ttl_secs(&self) -> u64 {
        self.access_token_ttl_secs
    }

    pub(crate) fn keys(&self) -> &SigningKeySet {
        &self.keys
    }
}

/// The own issuer's public keys imported into the runtime's form, once per (`kid`, algorithm)
/// for the isolate's lifetime: the key set cannot change without a new isolate.
pub(crate) struct ImportedKeys<K> {
    imported: Vec<(String, Alg, K)>,
}

impl<K> Default for ImportedKeys<K> {
    fn default() -> Self {
        ImportedKeys {
            imported: Vec::new(),
        }
    }
}

/// The keys that may verify a token of the gateway's own issuer with this `kid` and `alg`: the
/// same selection as for a fetched JWKS (`JwkSet::candidates`, at most `MAX_KEYS_PER_TOKEN`). A
/// key the runtime refuses to import is no candidate; none left is `KeyUnknown`.
pub(crate) async fn verification_keys<K: Clone, P: Platform<Key = K>>(
    cache: &RefCell<ImportedKeys<K>>,
    platform: &P,
    own: &SessionIssuer,
    kid: Option<&str>,
    alg: Alg,
) -> Result<Vec<K>, KeyLookupError> {
    let mut keys = Vec::new();
    for jwk in own.public.candidates(kid, alg).take(MAX_KEYS_PER_TOKEN) {
        let kid = jwk.kid.clone().unwrap_or_default();
        let cached = cache
            .borrow()
            .imported
            .iter()
            .find(|(k, a, _)| *k == kid && *a == alg)
            .map(|(_, _, key)| key.clone());
        let key = match cached {
            Some(key) => key,
            None => match platform.import_key(jwk, alg).await {
                Ok(key) => {
                    cache.borrow_mut().imported.push((kid, alg, key.clone()));
                    key
                }
                Err(_) => continue,
            },
        };
        keys.push(key);
    }
    if keys.is_empty() {
        Err(KeyLookupError::KeyUnknown)
    } else {
        Ok(keys)
    }
}
