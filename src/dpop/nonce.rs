//! Server nonces (RFC 9449 §8), stateless: a nonce is the current rotation period and a MAC of it
//! under the gateway's secret (`PORTCULLIS_DPOP_NONCE_SECRET`), so every isolate issues and
//! accepts the same nonces without a store. A proof must carry the current period's nonce or the
//! previous one (a nonce issued just before a rotation stays usable for one more period); anything
//! else is 401 `dpop_nonce_required` with a fresh `DPoP-Nonce`.

use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::jose::jws::B64URL;

const MAC_BYTES: usize = 16;

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn nonce_for(secret: &[u8], period: u64) -> String {
    let mut bytes = period.to_be_bytes().to_vec();
    bytes.extend_from_slice(&hmac_sha256(secret, &bytes)[..MAC_BYTES]);
    B64URL.encode(bytes)
}

/// The nonce to hand out at `now`.
pub(crate) fn current(secret: &[u8], now: u64, rotation_secs: u64) -> String {
    nonce_for(secret, now / rotation_secs.max(1))
}

/// `nonce` is this period's or the previous one's.
pub(crate) fn accepts(secret: &[u8], nonce: &str, now: u64, rotation_secs: u64) -> bool {
    let period = now / rotation_secs.max(1);
    [period, period.saturating_sub(1)].iter().any(|p| {
        let expected = nonce_for(secret, *p);
        expected.len() == nonce.len() && bool::from(expected.as_bytes().ct_eq(nonce.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 ("Jefe").
    #[test]
    fn hmac_is_rfc_4231() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        let mac = hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn a_nonce_lives_its_period_and_the_next() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let n = current(secret, 1_000, 300);
        assert!(accepts(secret, &n, 1_000, 300));
        assert!(accepts(secret, &n, 1_199, 300));
        assert!(accepts(secret, &n, 1_499, 300));
        assert!(!accepts(secret, &n, 1_500, 300));
        assert!(!accepts(secret, &n, 899, 300));
        assert!(!accepts(
            b"another secret, thirty-two bytes",
            &n,
            1_000,
            300
        ));
        assert!(!accepts(secret, "", 1_000, 300));
        assert!(!accepts(secret, &n[1..], 1_000, 300));
        assert_ne!(current(secret, 1_000, 300), current(secret, 1_200, 300));
    }
}
