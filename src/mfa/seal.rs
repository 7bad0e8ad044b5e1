//! Sealing a TOTP secret for storage: AES-256-GCM (the platform's, WebCrypto in the worker) under
//! the `PORTCULLIS_MFA_KEY` secret, a fresh 96-bit IV from the CSPRNG per seal, and the subject as
//! associated data — a sealed secret copied into another subject's object does not open there.

use base64::Engine as _;

use crate::jose::jws::B64URL;
use crate::mfa_settings::MfaKey;
use crate::platform::Platform;

const IV_BYTES: usize = 12;

/// The associated data: what the sealed secret belongs to, domain-separated.
fn associated_data(subject: &str) -> Vec<u8> {
    format!("portcullis/totp/v1\0{subject}").into_bytes()
}

/// base64url(IV ‖ ciphertext ‖ tag).
pub(crate) async fn seal<P: Platform>(
    platform: &P,
    key: &MfaKey,
    subject: &str,
    secret: &[u8],
) -> Result<String, String> {
    let mut iv = [0u8; IV_BYTES];
    platform.random_bytes(&mut iv);
    let sealed = platform
        .aes_gcm_encrypt(&key.0, &iv, &associated_data(subject), secret)
        .await?;
    let mut out = iv.to_vec();
    out.extend_from_slice(&sealed);
    Ok(B64URL.encode(out))
}

/// The secret `seal` sealed for `subject`; an error when anything differs (key, subject, bytes).
pub(crate) async fn open<P: Platform>(
    platform: &P,
    key: &MfaKey,
    subject: &str,
    sealed: &str,
) -> Result<Vec<u8>, String> {
    let bytes = B64URL
        .decode(sealed)
        .map_err(|_| "the sealed secret is not base64url".to_string())?;
    if bytes.len() <= IV_BYTES + 16 {
        return Err("the sealed secret is too short".into());
    }
    let (iv, body) = bytes.split_at(IV_BYTES);
    let iv: [u8; IV_BYTES] = iv.try_into().map_err(|_| "bad IV".to_string())?;
    platform
        .aes_gcm_decrypt(&key.0, &iv, &associated_data(subject), body)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{block_on, FakePlatform};

    #[test]
    fn a_sealed_secret_opens_only_for_its_subject_and_key() {
        let p = FakePlatform::new(1_800_000_000);
        let key = MfaKey([7; 32]);
        let sealed = block_on(seal(&p, &key, "user-1", b"secret bytes")).unwrap();
        assert_eq!(
            block_on(open(&p, &key, "user-1", &sealed)).unwrap(),
            b"secret bytes"
        );
        // A fresh IV each time.
        let again = block_on(seal(&p, &key, "user-1", b"secret bytes")).unwrap();
        assert_ne!(sealed, again);
        assert!(block_on(open(&p, &key, "user-2", &sealed)).is_err());
        assert!(block_on(open(&p, &MfaKey([8; 32]), "user-1", &sealed)).is_err());
        let mut tampered = B64URL.decode(&sealed).unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(block_on(open(&p, &key, "user-1", &B64URL.encode(tampered))).is_err());
        assert!(block_on(open(&p, &key, "user-1", "AAAA")).is_err());
        assert!(block_on(open(&p, &key, "user-1", "not base64!")).is_err());
    }
}
