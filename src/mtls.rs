//! mTLS client identity (issue 13): what Cloudflare reports about the client certificate of a
//! request (`request.cf.tlsClientAuth`), the checks a `mtls` route runs on it, and the certificate
//! registry (KV `cert:<fingerprint>` → client id and scopes).
//!
//! Cloudflare terminates TLS and verifies the certificate against the zone's CA (API Shield /
//! client certificates); the worker sees the verdict and the certificate's facts on `request.cf`,
//! which only the runtime sets. The gateway never reads any of this from a request header: a
//! proxy's `X-Client-Cert`-style header is something any client can send.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::problem::{ErrorCode, Problem};

/// The KV prefix of registry records: `cert:<64 lower-case hex digits>`.
pub const REGISTRY_PREFIX: &str = "cert:";

/// The revocation list holds a revoked certificate as a key entry with this id prefix
/// (`cert:<fingerprint>`), beside API key ids (`key_…`), which can never start with it.
pub const REVOCATION_ID_PREFIX: &str = "cert:";

/// `request.cf.tlsClientAuth` as the runtime hands it over (the members the gateway reads; the
/// others are ignored). Every member is a string, `""` when not applicable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TlsClientAuth {
    /// `"1"` when the client presented a certificate.
    pub cert_presented: String,
    /// `"SUCCESS"`, `"NONE"`, or `"FAILED:<reason>"`.
    pub cert_verified: String,
    /// `"1"` when the certificate is on the zone's revocation list.
    pub cert_revoked: String,
    #[serde(rename = "certFingerprintSHA256")]
    pub cert_fingerprint_sha256: String,
    #[serde(rename = "certSubjectDNRFC2253")]
    pub cert_subject_dn_rfc2253: String,
    #[serde(rename = "certSubjectDN")]
    pub cert_subject_dn: String,
    /// `"Mar 21 13:35:00 2022 GMT"` (OpenSSL's `ASN1_TIME_print` form).
    pub cert_not_before: String,
    pub cert_not_after: String,
}

/// The client certificate of one request, as far as the runtime could tell.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ClientCertificate {
    /// No `request.cf` (a plain local request, a subrequest) or no `tlsClientAuth` in it: nothing
    /// is known, so every check that needs a certificate refuses.
    #[default]
    Unknown,
    /// The runtime reported on the TLS handshake.
    Reported(TlsClientAuth),
}

impl ClientCertificate {
    /// From `JSON.stringify(request.cf.tlsClientAuth)`; `None` (absent) or anything unreadable is
    /// `Unknown`, which every check treats as no certificate.
    pub fn from_json(json: Option<&str>) -> Self {
        json.and_then(|j| serde_json::from_str::<TlsClientAuth>(j).ok())
            .map_or(ClientCertificate::Unknown, ClientCertificate::Reported)
    }

    /// The client presented a certificate (verified or not).
    pub fn presented(&self) -> bool {
        matches!(self, ClientCertificate::Reported(t) if t.cert_presented == "1")
    }
}

/// The request's client certificate, read from the runtime on first use. Reading `request.cf`
/// costs the runtime a parse of the whole `cf` object on each request (about 7% of a public
/// route's CPU in the workerd profile), and only `mtls` routes and certificate-bound tokens need
/// it, so the pipeline asks for it only there.
pub struct LazyCertificate<'a> {
    cell: std::cell::OnceCell<ClientCertificate>,
    read: &'a dyn Fn() -> ClientCertificate,
}

impl<'a> LazyCertificate<'a> {
    /// Reads the certificate with `read`, at most once, when a check first needs it.
    pub fn new(read: &'a dyn Fn() -> ClientCertificate) -> Self {
        LazyCertificate {
            cell: std::cell::OnceCell::new(),
            read,
        }
    }

    /// A certificate already known (tests, `portcullis explain`, a request without a handshake).
    pub fn known(cert: ClientCertificate) -> LazyCertificate<'static> {
        LazyCertificate {
            cell: std::cell::OnceCell::from(cert),
            read: &unknown_certificate,
        }
    }

    pub fn get(&self) -> &ClientCertificate {
        self.cell.get_or_init(self.read)
    }
}

fn unknown_certificate() -> ClientCertificate {
    ClientCertificate::Unknown
}

/// A certificate that passed the transport checks (presented, verified, not revoked by the zone,
/// within its validity): what the registry is asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCertificate {
    /// Lower-case hex SHA-256 of the DER certificate.
    pub fingerprint: String,
    /// The subject DN (RFC 2253 form when the runtime gives it), made header-safe.
    pub subject: String,
    pub not_after: u64,
}

/// Why a certificate was refused, one code each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertError {
    Missing,
    Unverified(String),
    Expired { not_after: u64, now: u64 },
    NotYetValid { not_before: u64, now: u64 },
    Unknown,
    Revoked,
    RegistryUnavailable,
}

impl CertError {
    pub fn code(&self) -> ErrorCode {
        match self {
            CertError::Missing => ErrorCode::ClientCertMissing,
            CertError::Unverified(_) => ErrorCode::ClientCertUnverified,
            CertError::Expired { .. } | CertError::NotYetValid { .. } => {
                ErrorCode::ClientCertExpired
            }
            CertError::Unknown => ErrorCode::ClientCertUnknown,
            CertError::Revoked => ErrorCode::ClientCertRevoked,
            CertError::RegistryUnavailable => ErrorCode::CredentialStoreUnavailable,
        }
    }

    pub fn detail(&self) -> String {
        match self {
            CertError::Missing => "this route requires a TLS client certificate".into(),
            CertError::Unverified(why) => format!(
                "the client certificate did not verify against the trusted CA ({})",
                crate::request::truncate(why, 80)
            ),
            CertError::Expired { not_after, now } => format!(
                "the client certificate expired: notAfter {not_after}, now {now} (Unix time)"
            ),
            CertError::NotYetValid { not_before, now } => format!(
                "the client certificate is not valid yet: notBefore {not_before}, now {now} (Unix time)"
            ),
            CertError::Unknown => {
                "the client certificate is not registered with this gateway".into()
            }
            CertError::Revoked => "the client certificate has been revoked".into(),
            CertError::RegistryUnavailable => {
                "the certificate registry could not be read; try again shortly".into()
            }
        }
    }
}

impl From<CertError> for Problem {
    fn from(e: CertError) -> Self {
        let problem = Problem::new(e.code(), e.detail());
        if e == CertError::RegistryUnavailable {
            problem.with_header("retry-after", "1")
        } else {
            problem
        }
    }
}

/// The transport checks, in order: presented, verified by Cloudflare, not on the zone's
/// revocation list, a well-formed fingerprint, inside `notBefore`..`notAfter` at `now`.
pub fn check_certificate(
    cert: &ClientCertificate,
    now: u64,
) -> Result<VerifiedCertificate, CertError> {
    let t = match cert {
        ClientCertificate::Reported(t) if t.cert_presented == "1" => t,
        _ => return Err(CertError::Missing),
    };
    if t.cert_verified != "SUCCESS" {
        let why = if t.cert_verified.is_empty() {
            "no verdict".to_string()
        } else {
            header_safe(&t.cert_verified)
        };
        return Err(CertError::Unverified(why));
    }
    if t.cert_revoked == "1" {
        return Err(CertError::Revoked);
    }
    let fingerprint = normalize_fingerprint(&t.cert_fingerprint_sha256)
        .ok_or_else(|| CertError::Unverified("no SHA-256 fingerprint".into()))?;
    let (Some(not_before), Some(not_after)) = (
        parse_cert_time(&t.cert_not_before),
        parse_cert_time(&t.cert_not_after),
    ) else {
        return Err(CertError::Unverified("unreadable validity dates".into()));
    };
    if now < not_before {
        return Err(CertError::NotYetValid { not_before, now });
    }
    if now > not_after {
        return Err(CertError::Expired { not_after, now });
    }
    let subject = if t.cert_subject_dn_rfc2253.is_empty() {
        &t.cert_subject_dn
    } else {
        &t.cert_subject_dn_rfc2253
    };
    Ok(VerifiedCertificate {
        fingerprint,
        subject: header_safe(subject),
        not_after,
    })
}

/// A SHA-256 fingerprint as 64 lower-case hex digits. Accepts upper case and the `AB:CD:…` form
/// (what `openssl x509 -fingerprint` prints); anything else is `None`.
pub fn normalize_fingerprint(s: &str) -> Option<String> {
    let hex: String = s
        .trim()
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// Two fingerprints (any case, any accepted form) name the same certificate. Constant time over
/// the normalized digits: a bound token's thumbprint is compared with it.
pub fn same_fingerprint(a: &str, b: &str) -> bool {
    match (normalize_fingerprint(a), normalize_fingerprint(b)) {
        (Some(a), Some(b)) => a.as_bytes().ct_eq(b.as_bytes()).into(),
        _ => false,
    }
}

/// A value that may travel as an origin header: printable ASCII stays, every other byte (and `%`)
/// is percent-encoded, so a UTF-8 DN reaches the origin intact and unambiguous.
pub fn header_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes().take(1024) {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The SHA-256 fingerprint of the first certificate in a PEM document (of its DER bytes, as
/// Cloudflare computes `certFingerprintSHA256`).
pub fn pem_fingerprint(pem: &str) -> Result<String, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem
        .find(BEGIN)
        .ok_or("no -----BEGIN CERTIFICATE----- block")?
        + BEGIN.len();
    let len = pem[start..]
        .find(END)
        .ok_or("the certificate block has no END line")?;
    let b64: String = pem[start..start + len]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "the certificate block is not base64")?;
    // A DER certificate is a SEQUENCE: anything else is not a certificate.
    if der.first() != Some(&0x30) || der.len() < 64 {
        return Err("the block does not hold a DER certificate".into());
    }
    Ok(Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// `"Mar 21 13:35:00 2022 GMT"` (the day may be space-padded) → Unix seconds.
pub fn parse_cert_time(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [month, day, time, year, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as u64 + 1;
    let day: u64 = digits(day, 1, 2)?;
    let year: u64 = digits(year, 4, 4)?;
    let hms: Vec<&str> = time.split(':').collect();
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    let (h, m, sec) = (digits(h, 2, 2)?, digits(m, 2, 2)?, digits(sec, 2, 2)?);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 || year < 1970 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec)
}

fn digits(s: &str, min: usize, max: usize) -> Option<u64> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm), year ≥ 1970.
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// One registered certificate (KV `cert:<fingerprint>`): who it identifies and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertRecord {
    pub fingerprint: String,
    /// Sent to the origin as `x-client-id`; the same charset as an API key's client id.
    pub client_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// A policy name from `rate_limits`, as for API keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_policy: Option<String>,
    pub created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_reason: Option<String>,
}

impl CertRecord {
    /// The checks a stored or submitted record must pass (a record that fails them in KV is
    /// treated as unreadable: the request fails closed).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if normalize_fingerprint(&self.fingerprint).as_deref() != Some(self.fingerprint.as_str()) {
            return Err((
                "fingerprint",
                "must be 64 lower-case hex digits (SHA-256 of the DER certificate)".into(),
            ));
        }
        crate::api_key::record::validate_client_id(&self.client_id)
            .map_err(|e| ("client_id", e))?;
        if self.name.chars().count() > 200 || self.name.chars().any(char::is_control) {
            return Err((
                "name",
                "at most 200 characters, no control characters".into(),
            ));
        }
        if self.scopes.len() > 64 {
            return Err(("scopes", "at most 64 scopes".into()));
        }
        for s in &self.scopes {
            if !crate::scope::is_scope_token(s) {
                return Err((
                    "scopes",
                    format!("must be scope tokens: {}", crate::scope::GRAMMAR),
                ));
            }
        }
        Ok(())
    }
}

pub fn registry_key(fingerprint: &str) -> String {
    format!("{REGISTRY_PREFIX}{fingerprint}")
}

pub fn revocation_id(fingerprint: &str) -> String {
    format!("{REVOCATION_ID_PREFIX}{fingerprint}")
}

/// Looks the certificate up in the registry: the record, or why not. KV failing, or a record
/// that does not read back as valid, fails closed.
pub async fn lookup<P: crate::platform::Platform>(
    platform: &P,
    cert: &VerifiedCertificate,
) -> Result<CertRecord, CertError> {
    let raw = platform
        .kv_get(&registry_key(&cert.fingerprint))
        .await
        .map_err(|e| {
            crate::log::emit(
                platform,
                crate::log::Event::CredentialStoreUnavailable { reason: &e.0 },
            );
            CertError::RegistryUnavailable
        })?
        .ok_or(CertError::Unknown)?;
    let record: CertRecord = serde_json::from_str(&raw)
        .ok()
        .filter(|r: &CertRecord| r.validate().is_ok() && r.fingerprint == cert.fingerprint)
        .ok_or_else(|| {
            crate::log::emit(
                platform,
                crate::log::Event::CredentialStoreUnavailable {
                    reason: "a certificate registry record is unreadable",
                },
            );
            CertError::RegistryUnavailable
        })?;
    if record.revoked_at.is_some() {
        return Err(CertError::Revoked);
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "af363dc85bc942a892d3cee9796190fdb36d89cd588a4f1cb17c74a943439714";

    fn reported(f: impl FnOnce(&mut TlsClientAuth)) -> ClientCertificate {
        let mut t = TlsClientAuth {
            cert_presented: "1".into(),
            cert_verified: "SUCCESS".into(),
            cert_revoked: "0".into(),
            cert_fingerprint_sha256: FP.into(),
            cert_subject_dn_rfc2253: "CN=billing,O=Example".into(),
            cert_subject_dn: "CN=billing, O=Example".into(),
            cert_not_before: "Mar 21 13:35:00 2022 GMT".into(),
            cert_not_after: "Mar 21 13:35:00 2030 GMT".into(),
        };
        f(&mut t);
        ClientCertificate::Reported(t)
    }

    const NOW: u64 = 1_764_547_200; // 2025-12-01

    #[test]
    fn cloudflare_dates() {
        assert_eq!(parse_cert_time("Jan  1 00:00:00 1970 GMT"), Some(0));
        assert_eq!(
            parse_cert_time("Mar 21 13:35:00 2022 GMT"),
            Some(1_647_869_700)
        );
        assert_eq!(
            parse_cert_time("Dec  1 00:00:00 2025 GMT"),
            Some(1_764_547_200)
        );
        assert_eq!(
            parse_cert_time("Feb 29 12:00:00 2024 GMT"),
            Some(1_709_208_000)
        );
        for bad in [
            "",
            "Mar 21 13:35:00 2022",
            "Mar 21 13:35:00 2022 UTC",
            "Foo 21 13:35:00 2022 GMT",
            "Mar 32 13:35:00 2022 GMT",
            "Mar 21 24:00:00 2022 GMT",
            "Mar 21 13:35 2022 GMT",
            "Mar 21 13:35:00 22 GMT",
            "Mar -1 13:35:00 2022 GMT",
        ] {
            assert_eq!(parse_cert_time(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_transport_refusal() {
        let code = |c: &ClientCertificate| check_certificate(c, NOW).map_err(|e| e.code());
        assert_eq!(
            code(&ClientCertificate::Unknown),
            Err(ErrorCode::ClientCertMissing)
        );
        assert_eq!(
            code(&ClientCertificate::from_json(None)),
            Err(ErrorCode::ClientCertMissing)
        );
        assert_eq!(
            code(&ClientCertificate::from_json(Some("not json"))),
            Err(ErrorCode::ClientCertMissing)
        );
        assert_eq!(
            code(&reported(|t| t.cert_presented = "0".into())),
            Err(ErrorCode::ClientCertMissing)
        );
        assert_eq!(
            code(&reported(
                |t| t.cert_verified = "FAILED:unable to get local issuer certificate".into()
            )),
            Err(ErrorCode::ClientCertUnverified)
        );
        assert_eq!(
            code(&reported(|t| t.cert_verified = "NONE".into())),
            Err(ErrorCode::ClientCertUnverified)
        );
        assert_eq!(
            code(&reported(|t| t.cert_revoked = "1".into())),
            Err(ErrorCode::ClientCertRevoked)
        );
        assert_eq!(
            code(&reported(|t| t.cert_fingerprint_sha256 = "abc".into())),
            Err(ErrorCode::ClientCertUnverified)
        );
        assert_eq!(
            code(&reported(
                |t| t.cert_not_after = "Nov 30 23:59:59 2025 GMT".into()
            )),
            Err(ErrorCode::ClientCertExpired)
        );
        assert_eq!(
            code(&reported(
                |t| t.cert_not_before = "Dec  1 00:00:01 2025 GMT".into()
            )),
            Err(ErrorCode::ClientCertExpired)
        );
        assert_eq!(
            code(&reported(|t| t.cert_not_after = "someday".into())),
            Err(ErrorCode::ClientCertUnverified)
        );
        let ok = check_certificate(
            &reported(|t| t.cert_fingerprint_sha256 = FP.to_uppercase()),
            NOW,
        )
        .unwrap();
        assert_eq!(ok.fingerprint, FP);
        assert_eq!(ok.subject, "CN=billing,O=Example");
    }

    #[test]
    fn only_the_runtime_json_is_read() {
        let json = serde_json::json!({
            "certPresented": "1", "certVerified": "SUCCESS", "certRevoked": "0",
            "certFingerprintSHA256": FP, "certSubjectDNRFC2253": "CN=a",
            "certNotBefore": "Mar 21 13:35:00 2022 GMT", "certNotAfter": "Mar 21 13:35:00 2030 GMT",
            "certSerial": "01", "certIssuerDN": "CN=ca"
        })
        .to_string();
        let cert = ClientCertificate::from_json(Some(&json));
        assert_eq!(check_certificate(&cert, NOW).unwrap().fingerprint, FP);
        assert_eq!(check_certificate(&cert, NOW).unwrap().subject, "CN=a");
    }

    #[test]
    fn fingerprints_compare_as_hex_in_any_case() {
        let colons = FP
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap().to_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(normalize_fingerprint(&colons).as_deref(), Some(FP));
        assert!(same_fingerprint(FP, &FP.to_uppercase()));
        assert!(same_fingerprint(&colons, FP));
        assert!(!same_fingerprint(FP, &FP.replace('a', "b")));
        assert!(!same_fingerprint("", ""));
        assert_eq!(normalize_fingerprint(&FP[1..]), None);
        assert_eq!(normalize_fingerprint(&format!("{}g", &FP[1..])), None);
    }

    #[test]
    fn subjects_are_header_safe() {
        assert_eq!(header_safe("CN=Zoë,O=A"), "CN=Zo%C3%AB,O=A");
        assert_eq!(header_safe("CN=a\r\nX: y"), "CN=a%0D%0AX: y");
        assert_eq!(header_safe("100%"), "100%25");
    }

    #[test]
    fn records_validate() {
        let mut r = CertRecord {
            fingerprint: FP.into(),
            client_id: "billing-exporter".into(),
            name: "billing".into(),
            scopes: vec!["invoices:read".into()],
            rate_limit_policy: None,
            created_at: 1,
            revoked_at: None,
            revoked_reason: None,
        };
        assert!(r.validate().is_ok());
        r.fingerprint = FP.to_uppercase();
        assert_eq!(r.validate().unwrap_err().0, "fingerprint");
        r.fingerprint = FP.into();
        r.client_id = "a b".into();
        assert_eq!(r.validate().unwrap_err().0, "client_id");
        r.client_id = "c".into();
        r.scopes = vec!["a,b".into()];
        assert_eq!(r.validate().unwrap_err().0, "scopes");
    }
}
