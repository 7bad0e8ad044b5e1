//! `Idempotency-Key` on the admin API's create and rotate calls
//! (draft-ietf-httpapi-idempotency-key-header): what the gateway derives from the header before it
//! calls a key's object.
//!
//! The object never sees the header's value. It gets:
//! - an **id**, SHA-256 over the caller (method, issuer, subject) and the key: the same key from
//!   another admin is another id;
//! - a **fingerprint** of the request (operation, target, canonical JSON body): the same key with
//!   another request is refused (422 `idempotency_key_reused`);
//! - the new key's plaintext **sealed** under a key derived from the header's value, so a retry
//!   within 24 h can be shown the same key again while the object's storage alone cannot reveal it
//!   (the project's rule: every stored secret is hashed; this one must come back, so it is stored
//!   only sealed, only for the window, and only for calls that ask for idempotency).
//!
//! A create has no key id to address before it runs; with an `Idempotency-Key` its id is derived
//! from the id above, so a retry reaches the same object.

use sha2::{Digest, Sha256};

use crate::api_key::format::{hex, key_id_from_random};
use crate::identity::Identity;

pub(crate) const HEADER: &str = "idempotency-key";
/// A key must be hard to guess (it opens the sealed plaintext): a UUID is 36 characters.
pub(crate) const MIN_LEN: usize = 16;
pub(crate) const MAX_LEN: usize = 255;

/// A checked `Idempotency-Key` and the caller it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// SHA-256 over a domain label, the caller and the key: the root of everything derived.
    root: [u8; 32],
}

/// Why an `Idempotency-Key` header was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidIdempotencyKey(pub String);

impl IdempotencyKey {
    /// Checks the header value (RFC 8941 sf-string contents: printable ASCII; the quotes are
    /// optional here) and binds it to `actor`.
    pub fn parse(value: &str, actor: &Identity) -> Result<Self, InvalidIdempotencyKey> {
        let inner = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        let len = inner.len();
        if !(MIN_LEN..=MAX_LEN).contains(&len) {
            return Err(InvalidIdempotencyKey(format!(
                "Idempotency-Key: {MIN_LEN} to {MAX_LEN} characters (a random UUID is a good key)"
            )));
        }
        if !inner
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
        {
            return Err(InvalidIdempotencyKey(
                "Idempotency-Key: printable ASCII without spaces, quotes or backslashes".into(),
            ));
        }
        let mut h = Sha256::new();
        h.update(b"portcullis idempotency v1\0");
        for part in [
            actor.method.as_str(),
            actor.issuer.as_deref().unwrap_or(""),
            actor.subject.as_str(),
            inner,
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        Ok(IdempotencyKey {
            root: h.finalize().into(),
        })
    }

    fn derive(&self, label: &[u8], context: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.root);
        h.update((label.len() as u64).to_be_bytes());
        h.update(label);
        h.update(context);
        h.finalize().into()
    }

    /// Where the object remembers the outcome (hex).
    pub fn id(&self) -> String {
        hex(&self.derive(b"id", b""))
    }

    /// The key id a create with this key gets: the same on every retry.
    pub fn create_key_id(&self) -> String {
        let mut counter = 0u32;
        loop {
            let bytes = self.derive(b"create key id", &counter.to_be_bytes());
            if let Some(id) = key_id_from_random(&bytes) {
                return id;
            }
            // Fewer than 16 of 32 bytes below 248: about 1 in 10^17; draw again.
            counter += 1;
        }
    }

    /// Seals a new key's plaintext for the object `target`: XOR with a SHA-256 keystream,
    /// base64url. The keystream is derived from the target *and the key's hash*, so two keys are
    /// never sealed with one keystream (a create retried after a failure seals a new key for the
    /// same target). Integrity: `open`'s caller checks the opened key against the stored hash.
    pub fn seal(&self, target: &str, plaintext: &str) -> String {
        use base64::Engine;
        let hash = crate::api_key::format::key_hash(plaintext);
        let sealed = self.xor(target, &hash, plaintext.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed)
    }

    /// Opens what `seal` made for the key whose hash is `hash`; `None` when it does not decode to
    /// text.
    pub fn open(&self, target: &str, hash: &str, sealed: &str) -> Option<String> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sealed)
            .ok()?;
        String::from_utf8(self.xor(target, hash, &bytes)).ok()
    }

    fn xor(&self, target: &str, hash: &str, data: &[u8]) -> Vec<u8> {
        let mut context = Vec::with_capacity(8 + target.len() + hash.len());
        context.extend_from_slice(&(target.len() as u64).to_be_bytes());
        context.extend_from_slice(target.as_bytes());
        context.extend_from_slice(hash.as_bytes());
        let key = self.derive(b"seal", &context);
        data.chunks(32)
            .enumerate()
            .flat_map(|(i, chunk)| {
                let mut h = Sha256::new();
                h.update(key);
                h.update((i as u64).to_be_bytes());
                let pad: [u8; 32] = h.finalize().into();
                chunk
                    .iter()
                    .zip(pad)
                    .map(|(b, p)| b ^ p)
                    .collect::<Vec<u8>>()
            })
            .collect()
    }
}

/// The request's fingerprint: operation, target and body with its keys sorted and whitespace
/// gone, so the same request sent twice matches however it was formatted.
pub(crate) fn fingerprint(operation: &str, target: &str, body: &[u8]) -> String {
    let trimmed = body.trim_ascii();
    let canonical = if trimmed.is_empty() {
        "{}".to_string()
    } else {
        serde_json::from_slice::<serde_json::Value>(trimmed)
            .map(|v| v.to_string())
            .unwrap_or_else(|_| String::from_utf8_lossy(trimmed).into_owned())
    };
    let mut h = Sha256::new();
    for part in [operation, target, canonical.as_str()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::AuthMethod;

    fn actor(subject: &str) -> Identity {
        Identity {
            method: AuthMethod::ApiKey,
            subject: subject.into(),
            issuer: None,
            scopes: vec![],
            token_id: None,
            expires_at: None,
            issued_at: None,
            client_id: Some(subject.into()),
            key_id: None,
            rate_limit_policy: None,
            claims: Default::default(),
            holder: Default::default(),
            session_id: None,
            user_auth: Default::default(),
        }
    }

    const K: &str = "8e0f7a52-4c9b-4d3a-9f7e-2b1c6d5e4f30";

    #[test]
    fn header_rules() {
        let a = actor("ops");
        assert!(IdempotencyKey::parse(K, &a).is_ok());
        assert_eq!(
            IdempotencyKey::parse(&format!("\"{K}\""), &a),
            IdempotencyKey::parse(K, &a),
            "the sf-string quotes are optional"
        );
        for bad in [
            "",
            "short",
            "has space in it!!",
            "quote\"inside-0123456",
            &"x".repeat(256),
        ] {
            assert!(IdempotencyKey::parse(bad, &a).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids_are_per_caller_and_stable() {
        let a = IdempotencyKey::parse(K, &actor("ops")).unwrap();
        let a2 = IdempotencyKey::parse(K, &actor("ops")).unwrap();
        let b = IdempotencyKey::parse(K, &actor("other")).unwrap();
        assert_eq!(a.id(), a2.id());
        assert_ne!(a.id(), b.id());
        assert_eq!(a.create_key_id(), a2.create_key_id());
        assert_ne!(a.create_key_id(), b.create_key_id());
        assert!(crate::api_key::format::is_valid_key_id(&a.create_key_id()));
        assert!(!a.id().contains(K));
    }

    #[test]
    fn seal_round_trips_and_hides_the_key() {
        let k = IdempotencyKey::parse(K, &actor("ops")).unwrap();
        let plain = "pc_test_3eRq2QWGCwB0uuyeqgGPr62XhZJe";
        let sealed = k.seal("key_AAAAAAAAAAAAAAAA", plain);
        let hash = crate::api_key::format::key_hash(plain);
        assert!(!sealed.contains("3eRq2QWG"));
        assert_eq!(
            k.open("key_AAAAAAAAAAAAAAAA", &hash, &sealed).as_deref(),
            Some(plain)
        );
        // Another target or another key opens nothing useful.
        assert_ne!(
            k.open("key_BBBBBBBBBBBBBBBB", &hash, &sealed).as_deref(),
            Some(plain)
        );
        let other = IdempotencyKey::parse(K, &actor("mallory")).unwrap();
        assert_ne!(
            other
                .open("key_AAAAAAAAAAAAAAAA", &hash, &sealed)
                .as_deref(),
            Some(plain)
        );
    }

    #[test]
    fn two_keys_sealed_for_one_target_never_share_a_keystream() {
        // A create retried after a failure seals a new key for the same target (its key id comes
        // from the Idempotency-Key): the XOR of two seals must not be the XOR of the two keys.
        let k = IdempotencyKey::parse(K, &actor("ops")).unwrap();
        let target = k.create_key_id();
        let (p1, p2) = (
            "pc_test_3eRq2QWGCwB0uuyeqgGPr62XhZJe",
            "pc_test_9xT2mQ0pLrVb7cYe00000000abcd",
        );
        use base64::Engine;
        let raw = |s: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap()
        };
        let (s1, s2) = (raw(&k.seal(&target, p1)), raw(&k.seal(&target, p2)));
        let sealed_xor: Vec<u8> = s1.iter().zip(&s2).map(|(a, b)| a ^ b).collect();
        let plain_xor: Vec<u8> = p1.bytes().zip(p2.bytes()).map(|(a, b)| a ^ b).collect();
        assert_ne!(sealed_xor, plain_xor, "keystream reused");
    }

    #[test]
    fn fingerprints_ignore_formatting_not_content() {
        let a = fingerprint("rotate", "key_x", br#"{"grace_secs": 60, "ttl_secs": 5}"#);
        let b = fingerprint("rotate", "key_x", br#"{"ttl_secs":5,"grace_secs":60}"#);
        assert_eq!(a, b);
        assert_ne!(
            a,
            fingerprint("rotate", "key_x", br#"{"grace_secs":61,"ttl_secs":5}"#)
        );
        assert_ne!(
            a,
            fingerprint("rotate", "key_y", br#"{"grace_secs":60,"ttl_secs":5}"#)
        );
        assert_eq!(
            fingerprint("rotate", "k", b""),
            fingerprint("rotate", "k", b" {} ")
        );
    }
}
