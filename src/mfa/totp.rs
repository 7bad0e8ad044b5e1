//! TOTP (RFC 6238) over HOTP (RFC 4226): the code for a time step, the check of a presented code
//! (±1 step, constant time, a step used once), and what an authenticator app is shown at
//! enrollment: the secret in base32, the `otpauth://` key URI and its QR code as SVG.
//!
//! Pure and synchronous: the HMAC runs in Rust (`hmac` + `sha1`/`sha2`), so the same code is
//! tested natively against the RFC vectors and runs in the worker.

use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

/// The HMAC under the code. SHA-1 is what authenticator apps default to (and RFC 4226's HMAC, where
/// its collision weakness does not matter); SHA-256 and SHA-512 are RFC 6238's other two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum TotpAlgorithm {
    #[serde(rename = "SHA1")]
    Sha1,
    #[serde(rename = "SHA256")]
    Sha256,
    #[serde(rename = "SHA512")]
    Sha512,
}

impl TotpAlgorithm {
    /// The name in an `otpauth://` URI and in the configuration.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TotpAlgorithm::Sha1 => "SHA1",
            TotpAlgorithm::Sha256 => "SHA256",
            TotpAlgorithm::Sha512 => "SHA512",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "SHA1" => TotpAlgorithm::Sha1,
            "SHA256" => TotpAlgorithm::Sha256,
            "SHA512" => TotpAlgorithm::Sha512,
            _ => return None,
        })
    }
}

/// How codes are made for one enrollment: stored beside its secret, so a later change of the
/// configured defaults never breaks an enrolled authenticator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct TotpParams {
    pub(crate) algorithm: TotpAlgorithm,
    /// 6 to 8 (RFC 4226 §5.3 asks for at least 6).
    pub(crate) digits: u8,
    /// The time step X in seconds (RFC 6238 §4.1; 30 in every common app).
    pub(crate) period: u64,
}

pub(crate) const MIN_DIGITS: u8 = 6;
pub(crate) const MAX_DIGITS: u8 = 8;

/// Steps either side of the current one a code is accepted from (RFC 6238 §5.2 recommends at most
/// one step of network delay).
pub(crate) const WINDOW: u64 = 1;

/// A fresh secret's length: 160 bits, RFC 4226 §4's recommendation and SHA-1's output size.
pub(crate) const SECRET_BYTES: usize = 20;

/// Why a presented code is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TotpError {
    /// Not exactly `digits` ASCII digits.
    Malformed,
    /// No step within the window gives this code.
    Mismatch,
    /// The code is right for a step already used (or older than one used): a replay.
    Reused,
}

/// RFC 4226 §5.3: HMAC over the 8-byte big-endian counter, dynamic truncation, the low `digits`
/// decimal digits, zero-padded.
pub(crate) fn hotp(secret: &[u8], counter: u64, algorithm: TotpAlgorithm, digits: u8) -> String {
    let mac = hmac_of(secret, &counter.to_be_bytes(), algorithm);
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    let digits = u32::from(digits.clamp(MIN_DIGITS, MAX_DIGITS));
    let code = binary % 10u32.pow(digits);
    format!("{code:0width$}", width = digits as usize)
}

fn hmac_of(secret: &[u8], message: &[u8], algorithm: TotpAlgorithm) -> Vec<u8> {
    // `new_from_slice` takes a key of any length (RFC 2104 hashes a longer one), so it cannot fail.
    macro_rules! mac {
        ($hash:ty) => {
            match Hmac::<$hash>::new_from_slice(secret) {
                Ok(mut m) => {
                    m.update(message);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => vec![0; 20],
            }
        };
    }
    match algorithm {
        TotpAlgorithm::Sha1 => mac!(sha1::Sha1),
        TotpAlgorithm::Sha256 => mac!(sha2::Sha256),
        TotpAlgorithm::Sha512 => mac!(sha2::Sha512),
    }
}

/// RFC 6238 §4.2: T = floor((now − T0) / X), T0 = 0.
pub(crate) fn time_step(unix_secs: u64, period: u64) -> u64 {
    unix_secs / period.max(1)
}

/// The TOTP code at `unix_secs` (what an authenticator app shows; the gateway only checks).
#[cfg(test)]
pub(crate) fn totp(secret: &[u8], params: &TotpParams, unix_secs: u64) -> String {
    hotp(
        secret,
        time_step(unix_secs, params.period),
        params.algorithm,
        params.digits,
    )
}

/// Checks `code` against the steps `now − WINDOW ..= now + WINDOW` and returns the step it belongs
/// to. Every step of the window is computed and compared in constant time, so the answer's timing
/// says nothing about which step (or which digits) matched. A step at or below `last_used_step` is
/// a replay: each step's code is accepted once (RFC 6238 §5.2), and a code older than the last
/// accepted one is never accepted again either.
pub(crate) fn verify(
    secret: &[u8],
    params: &TotpParams,
    code: &str,
    unix_secs: u64,
    last_used_step: Option<u64>,
) -> Result<u64, TotpError> {
    if code.len() != usize::from(params.digits) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TotpError::Malformed);
    }
    let now = time_step(unix_secs, params.period);
    let mut matched: Option<u64> = None;
    for step in now.saturating_sub(WINDOW)..=now.saturating_add(WINDOW) {
        let expected = hotp(secret, step, params.algorithm, params.digits);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            // The latest matching step: a code valid for two steps (a 10^-digits chance) is
            // consumed at the later one.
            matched = Some(step);
        }
    }
    let step = matched.ok_or(TotpError::Mismatch)?;
    if last_used_step.is_some_and(|used| step <= used) {
        return Err(TotpError::Reused);
    }
    Ok(step)
}

/// RFC 4648 §6 base32 without padding, as authenticator apps read a secret.
pub(crate) fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The key URI (Google Authenticator's "Key Uri Format", which every common app reads):
/// `otpauth://totp/<issuer>:<account>?secret=…&issuer=…&algorithm=…&digits=…&period=…`. The
/// issuer and the account are percent-encoded (everything but RFC 3986 unreserved characters),
/// so a `:`, `/`, `?`, `&` or `#` in either cannot change the URI's structure.
pub(crate) fn otpauth_uri(
    secret: &[u8],
    params: &TotpParams,
    issuer: &str,
    account: &str,
) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{}?secret={}&issuer={issuer}&algorithm={}&digits={}&period={}",
        percent_encode(account),
        base32(secret),
        params.algorithm.as_str(),
        params.digits,
        params.period
    )
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The key URI as an SVG QR code (error correction M, a 4-module quiet zone, black on white, one
/// path), for the enrollment page to show as an image. `None` only if the URI does not fit a QR
/// code (it is ~200 bytes; the limit is ~2,300 at level M).
pub(crate) fn qr_svg(uri: &str) -> Option<String> {
    use qrcodegen::{QrCode, QrCodeEcc};
    let qr = QrCode::encode_text(uri, QrCodeEcc::Medium).ok()?;
    let size = qr.size();
    let border = 4;
    let dim = size + 2 * border;
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    Some(format!(
        "<?xml version=\"1.0\" standalone=\"yes\"?><svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"200\" height=\"200\" viewBox=\"0 0 {dim} {dim}\" shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 4226 Appendix D (tests/vectors/rfc4226_hotp.json).
    #[test]
    fn rfc4226_hotp_vectors() {
        let doc: Value =
            serde_json::from_str(include_str!("../../tests/vectors/rfc4226_hotp.json")).unwrap();
        let secret = hex(doc["secret"]["hex"].as_str().unwrap());
        let vectors = doc["vectors"].as_array().unwrap();
        assert_eq!(vectors.len(), 10);
        for v in vectors {
            let count = v["count"].as_u64().unwrap();
            assert_eq!(
                hex_of(&hmac_of(&secret, &count.to_be_bytes(), TotpAlgorithm::Sha1)),
                v["hmac_sha1_hex"].as_str().unwrap()
            );
            assert_eq!(
                hotp(&secret, count, TotpAlgorithm::Sha1, 6),
                v["hotp_6_digits"].as_str().unwrap(),
                "count {count}"
            );
        }
    }

    fn hex_of(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// RFC 6238 Appendix B (tests/vectors/rfc6238_totp.json): 8 digits, X = 30, each mode with its
    /// own seed; the base32 forms of the seeds check `base32`.
    #[test]
    fn rfc6238_totp_vectors() {
        let doc: Value =
            serde_json::from_str(include_str!("../../tests/vectors/rfc6238_totp.json")).unwrap();
        let period = doc["parameters"]["time_step_x_seconds"].as_u64().unwrap();
        let digits = doc["parameters"]["digits"].as_u64().unwrap() as u8;
        let vectors = doc["vectors"].as_array().unwrap();
        assert_eq!(vectors.len(), 18);
        for v in vectors {
            let mode = v["mode"].as_str().unwrap();
            let seed = &doc["seeds"][mode];
            let secret = hex(seed["hex"].as_str().unwrap());
            assert_eq!(
                base32(&secret),
                seed["base32"].as_str().unwrap().trim_end_matches('=')
            );
            let params = TotpParams {
                algorithm: TotpAlgorithm::parse(mode).unwrap(),
                digits,
                period,
            };
            let t = v["unix_time"].as_u64().unwrap();
            let code = v["totp"].as_str().unwrap();
            assert_eq!(
                format!("{:016X}", time_step(t, period)),
                v["t_hex"].as_str().unwrap()
            );
            assert_eq!(totp(&secret, &params, t), code, "{mode} at {t}");
            assert_eq!(
                verify(&secret, &params, code, t, None),
                Ok(time_step(t, period))
            );
        }
    }

    fn sha1_params(digits: u8) -> TotpParams {
        TotpParams {
            algorithm: TotpAlgorithm::Sha1,
            digits,
            period: 30,
        }
    }

    const SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_no_further() {
        let p = sha1_params(6);
        let now = 1_800_000_015; // mid-step
        let step = time_step(now, 30);
        for (offset, accepted) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let s = (step as i64 + offset) as u64;
            let code = hotp(SECRET, s, TotpAlgorithm::Sha1, 6);
            let verdict = verify(SECRET, &p, &code, now, None);
            if accepted {
                assert_eq!(verdict, Ok(s), "offset {offset}");
            } else {
                assert_eq!(verdict, Err(TotpError::Mismatch), "offset {offset}");
            }
        }
    }

    #[test]
    fn a_step_is_used_once_and_never_an_older_one() {
        let p = sha1_params(6);
        let now = 1_800_000_015;
        let step = time_step(now, 30);
        let current = totp(SECRET, &p, now);
        assert_eq!(
            verify(SECRET, &p, &current, now, Some(step)),
            Err(TotpError::Reused)
        );
        let previous = hotp(SECRET, step - 1, TotpAlgorithm::Sha1, 6);
        assert_eq!(
            verify(SECRET, &p, &previous, now, Some(step)),
            Err(TotpError::Reused)
        );
        assert_eq!(verify(SECRET, &p, &current, now, Some(step - 1)), Ok(step));
        let next = hotp(SECRET, step + 1, TotpAlgorithm::Sha1, 6);
        assert_eq!(verify(SECRET, &p, &next, now, Some(step)), Ok(step + 1));
    }

    #[test]
    fn only_exactly_digits_ascii_digits_are_read() {
        let p = sha1_params(6);
        let now = 1_800_000_015;
        let code = totp(SECRET, &p, now);
        for bad in [
            String::new(),
            code[..5].to_string(),
            format!("{code}0"),
            format!(" {}", &code[1..]),
            format!("{}a", &code[..5]),
            "１２３４５６".to_string(),
            format!("{}-{}", &code[..3], &code[3..]),
        ] {
            assert_eq!(
                verify(SECRET, &p, &bad, now, None),
                Err(TotpError::Malformed),
                "{bad:?}"
            );
        }
        for digits in [6, 7, 8] {
            let p = sha1_params(digits);
            let code = totp(SECRET, &p, now);
            assert_eq!(code.len(), usize::from(digits));
            assert!(verify(SECRET, &p, &code, now, None).is_ok());
        }
    }

    #[test]
    fn the_key_uri_encodes_issuer_and_account() {
        let p = sha1_params(6);
        let uri = otpauth_uri(SECRET, &p, "Acme Corp", "ana@example.com:x/y?z&w#");
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20Corp:ana%40example.com%3Ax%2Fy%3Fz%26w%23?\
             secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Corp&algorithm=SHA1&digits=6&period=30"
        );
        let utf8 = otpauth_uri(SECRET, &p, "Zoë", "ü");
        assert!(
            utf8.starts_with("otpauth://totp/Zo%C3%AB:%C3%BC?"),
            "{utf8}"
        );
    }

    #[test]
    fn base32_pads_nothing_and_handles_partial_groups() {
        // RFC 4648 §10 without the padding.
        for (input, expected) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), expected);
        }
    }

    #[test]
    fn the_qr_code_is_an_svg() {
        let uri = otpauth_uri(
            &[7u8; SECRET_BYTES],
            &sha1_params(6),
            "Portcullis",
            "user-1",
        );
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.starts_with("<?xml"), "{}", &svg[..40]);
        assert!(svg.contains("<svg") && svg.ends_with("</svg>"));
        assert!(
            !svg.contains(&base32(&[7u8; SECRET_BYTES])),
            "the secret is only in the modules"
        );
    }
}
