//! ECDSA signatures as WebAuthn carries them (ASN.1 DER `Ecdsa-Sig-Value`, WebAuthn §6.5.5) to the
//! fixed-width `r‖s` form WebCrypto's ECDSA verify (and JWS) takes.
//!
//! Strict DER only: one encoding per signature, so a signature cannot be re-encoded into a second
//! valid form (malleability of the encoding, not of the maths). BER forms (long-form short lengths,
//! padding zeros, negative integers, trailing data) are refused; Wycheproof's DER vectors check it.

/// `SEQUENCE { r INTEGER, s INTEGER }` → 64 octets, each integer left-padded to 32. `None` for any
/// encoding that is not strict DER or an integer that does not fit P-256's 32 octets.
pub(crate) fn p256_der_to_raw(der: &[u8]) -> Option<[u8; 64]> {
    let (tag, body, rest) = tlv(der)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (r, after_r) = integer(body)?;
    let (s, after_s) = integer(after_r)?;
    if !after_s.is_empty() {
        return None;
    }
    let mut out = [0u8; 64];
    out[32 - r.len()..32].copy_from_slice(r);
    out[64 - s.len()..].copy_from_slice(s);
    Some(out)
}

/// One tag-length-value with a DER length (short form below 128, minimal long form otherwise;
/// a P-256 signature is at most 72 octets, so one length octet after 0x81 suffices).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        0..=0x7f => (usize::from(first), rest),
        0x81 => {
            let (&len, rest) = rest.split_first()?;
            if len < 0x80 {
                return None;
            }
            (usize::from(len), rest)
        }
        _ => return None,
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// A positive INTEGER in minimal form, as its magnitude without the sign octet (≤ 32 octets).
fn integer(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, value, rest) = tlv(input)?;
    if tag != 0x02 || value.is_empty() {
        return None;
    }
    // Negative (top bit set), or a leading zero that is not needed for the sign.
    if value[0] & 0x80 != 0 || (value.len() > 1 && value[0] == 0 && value[1] & 0x80 == 0) {
        return None;
    }
    let magnitude = if value[0] == 0 { &value[1..] } else { value };
    if magnitude.len() > 32 {
        return None;
    }
    Some((magnitude, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_forms_convert_and_pad() {
        // r = 1, s = 0x80 (needs its sign octet).
        let der = [0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x02, 0x00, 0x80];
        let raw = p256_der_to_raw(&der).unwrap();
        assert_eq!(raw[31], 1);
        assert_eq!(raw[63], 0x80);
        assert!(raw[..31].iter().all(|&b| b == 0));
    }

    #[test]
    fn non_der_forms_are_refused() {
        for bad in [
            &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00][..], // trailing octet
            &[0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01],     // padding zero
            &[0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01],           // negative r
            &[0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],     // long form for 6
            &[0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],           // SET, not SEQUENCE
            &[0x30, 0x04, 0x02, 0x00, 0x02, 0x00],                       // empty integers
            &[0x30, 0x03, 0x02, 0x01, 0x01],                             // no s
            &[],
        ] {
            assert_eq!(p256_der_to_raw(bad), None, "{bad:02x?}");
        }
        // 33 octets of magnitude.
        let mut long = vec![0x30, 0x26, 0x02, 0x21];
        long.extend([0x7f; 33]);
        long.extend([0x02, 0x01, 0x01]);
        assert_eq!(p256_der_to_raw(&long), None);
    }
}
