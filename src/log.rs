//! Every operational log line the gateway writes, as one typed event serialised one way: a JSON
//! object whose first member is `event` (a `snake_case` name), then the event's fields. The same
//! meaning has the same field name everywhere: `reason` (why something failed: a runtime or store
//! message, never a secret), `code` (a problem code or a WebSocket close code), `key_id`,
//! `issuer`, `policy`, `status`.
//!
//! Nothing here may carry a secret: no token, API key, admin key, TOTP seed, query string or
//! header value. Identifiers (`key_id`, `subject`, `issuer`, `kid`) are not secrets. Admin audit
//! records (`"audit": …`) are a separate record type, written by `admin`.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event<'a> {
    /// One per request, after the response is decided. The path has no query and no `;`
    /// parameters.
    Request {
        /// The request's id (`cf-ray`, or generated): also the problem document's `instance` and
        /// the origin's `x-request-id`.
        request_id: &'a str,
        method: &'a str,
        path: Option<&'a str>,
        route: Option<&'a str>,
        credential: Option<&'a str>,
        subject: Option<&'a str>,
        key_id: Option<&'a str>,
        status: u16,
        code: Option<&'a str>,
        duration_ms: Option<f64>,
    },
    /// The configuration was refused at start-up: every bad field by path.
    ConfigInvalid {
        errors: Vec<ConfigFieldError<'a>>,
    },
    /// The gateway's own fault (not the origin's) at `stage`.
    RuntimeFault {
        stage: &'a str,
        reason: &'a str,
    },
    CsprngFailed,

    // --- the origin
    OriginRetry {
        reason: &'a str,
    },
    OriginUnreachable {
        attempts: u8,
        reason: &'a str,
    },
    OriginTimeout {
        timeout_ms: u32,
    },
    OriginInterimResponse {
        status: u16,
    },
    OriginStatusInvalid {
        status: u16,
    },

    // --- the issuers' keys
    JwksFetchAbandoned {
        issuer: &'a str,
    },
    JwksFetched {
        issuer: &'a str,
        keys: usize,
        skipped: usize,
        ttl_s: u64,
    },
    JwksFetchFailed {
        issuer: &'a str,
        reason: &'a str,
    },
    JwkImportFailed {
        issuer: &'a str,
        kid: &'a str,
        reason: &'a str,
    },

    // --- API keys
    CredentialStoreUnavailable {
        reason: &'a str,
    },
    /// A stored record (or its id index entry) cannot be used; the key is refused until replaced.
    ApiKeyRecordUnreadable {
        reason: &'a str,
    },
    ApiKeyRecordInvalid {
        key_id: &'a str,
        reason: &'a str,
    },
    ApiKeyIndexInvalid {
        key_id: &'a str,
        reason: &'a str,
    },
    ApiKeyIndexMismatch {
        key_id: &'a str,
        reason: &'a str,
    },
    ApiKeyLedgerStorageUnreadable {
        key_id: &'a str,
        entries: usize,
    },
    /// The ledger's alarm could not see a pending change through (it retries at its next alarm).
    ApiKeyLedgerUpkeepFailed {
        key_id: &'a str,
        reason: &'a str,
    },

    // --- revocation
    RevocationRefreshFailed {
        reason: &'a str,
    },
    RevocationCheckFailed {
        reason: &'a str,
    },
    RevocationStorageUnreadable {
        entries: usize,
    },
    /// The revocation API could not reach the revocation object.
    RevocationUnavailable {
        reason: &'a str,
    },
    /// A revoked API key was put on the revocation list until `until`.
    ApiKeyRevocationListed {
        key_id: &'a str,
        until: u64,
        version: u64,
    },
    /// A revoked API key could not be put on the revocation list (the key record is revoked
    /// regardless).
    RevocationMirrorFailed {
        key_id: &'a str,
        reason: &'a str,
    },

    // --- rate limits
    RateLimitPolicyUnknown {
        policy: &'a str,
        key_id: Option<&'a str>,
    },
    RateLimiterUnavailable {
        policy: &'a str,
        on_error: &'a str,
        reason: &'a str,
    },
    RateLimitSyncFailed {
        reason: &'a str,
    },

    // --- WebSockets
    WebsocketClosed {
        code: u16,
        reason: &'a str,
        credential: &'a str,
        subject: &'a str,
        key_id: Option<&'a str>,
    },

    // --- machine identity (issue 13)
    /// The DPoP replay object could not be asked; the request was refused (fail closed).
    DpopReplayUnavailable {
        reason: &'a str,
    },
    /// A client certificate was registered, changed or revoked through the admin API's mirror of
    /// the revocation list and the write to the list failed (the registry record is in force).
    CertRevocationMirrorFailed {
        fingerprint: &'a str,
        reason: &'a str,
    },

    // --- sessions (docs/sessions.md)
    /// A session object's storage could not be read: the object acts as empty (every token of it
    /// is refused).
    SessionStorageUnreadable,
    /// A session object could not be asked, or answered something unreadable.
    SessionUnavailable {
        reason: &'a str,
    },
    /// The configured login endpoint failed (unreachable, timed out, or an answer out of
    /// contract).
    LoginEndpointFailed {
        reason: &'a str,
    },
    /// An ended session's `sid` could not be put on the revocation list: its access tokens live
    /// until they expire.
    SessionRevocationFailed {
        sid: &'a str,
        reason: &'a str,
    },
    /// The introspection endpoint failed (network, timeout, status, a body that is not JSON): the
    /// failure cooldown starts. Never the token or the client secret.
    IntrospectionFailed {
        endpoint: &'a str,
        reason: &'a str,
    },

    // --- MFA (docs/mfa.md)
    /// An `MfaSubject` object's stored state could not be read: the subject is locked (every code
    /// refused) until an admin resets it.
    MfaStorageUnreadable,
    /// The MFA object could not be asked or answered out of contract, or a sealed secret did not
    /// open: the check fails closed (503 `mfa_unavailable`).
    MfaUnavailable {
        reason: &'a str,
    },

    // --- passkeys
    /// A passkey's signature counter did not grow (WebAuthn §7.2 step 21): two copies of the
    /// authenticator may exist. The assertion was refused. The credential id is not a secret.
    PasskeyCounterRegressed {
        subject: &'a str,
        credential_id: &'a str,
        stored: u32,
        presented: u32,
    },
}

/// One refused configuration field.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConfigFieldError<'a> {
    pub path: &'a str,
    pub message: &'a str,
}

impl Event<'_> {
    /// The event as its one JSON line.
    pub(crate) fn line(&self) -> String {
        // Serialising strings, numbers and options into JSON cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| "{\"event\":\"log_unserialisable\"}".into())
    }
}

/// Writes `event` to the platform's log.
pub(crate) fn emit<P: crate::platform::Platform + ?Sized>(platform: &P, event: Event<'_>) {
    platform.log(&event.line());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn parsed(e: Event<'_>) -> Value {
        serde_json::from_str(&e.line()).unwrap()
    }

    #[test]
    fn the_event_name_comes_first_then_the_fields_in_order() {
        assert_eq!(
            Event::OriginUnreachable {
                attempts: 2,
                reason: "Network connection lost."
            }
            .line(),
            r#"{"event":"origin_unreachable","attempts":2,"reason":"Network connection lost."}"#
        );
        assert_eq!(Event::CsprngFailed.line(), r#"{"event":"csprng_failed"}"#);
        assert_eq!(
            Event::JwksFetched {
                issuer: "https://id.example",
                keys: 2,
                skipped: 1,
                ttl_s: 600
            }
            .line(),
            r#"{"event":"jwks_fetched","issuer":"https://id.example","keys":2,"skipped":1,"ttl_s":600}"#
        );
    }

    #[test]
    fn text_is_escaped_so_a_reason_cannot_forge_fields() {
        let v = parsed(Event::JwksFetchFailed {
            issuer: "https://id.example",
            reason: "bad\",\"event\":\"forged\"\n",
        });
        assert_eq!(v["event"], "jwks_fetch_failed");
        assert_eq!(v["reason"], "bad\",\"event\":\"forged\"\n");
        assert_eq!(v.as_object().unwrap().len(), 3);
    }

    #[test]
    fn every_name_is_snake_case() {
        let samples = [
            Event::ConfigInvalid {
                errors: vec![ConfigFieldError {
                    path: "issuers[0]",
                    message: "m",
                }],
            },
            Event::RuntimeFault {
                stage: "serve",
                reason: "r",
            },
            Event::ApiKeyRecordInvalid {
                key_id: "key_x",
                reason: "scopes: bad",
            },
            Event::ApiKeyLedgerStorageUnreadable {
                key_id: "key_x",
                entries: 1,
            },
            Event::ApiKeyLedgerUpkeepFailed {
                key_id: "key_x",
                reason: "kv down",
            },
            Event::RateLimiterUnavailable {
                policy: "p",
                on_error: "deny",
                reason: "r",
            },
            Event::WebsocketClosed {
                code: 1008,
                reason: "r",
                credential: "jwt",
                subject: "s",
                key_id: None,
            },
        ];
        for e in samples {
            let v = parsed(e);
            let name = v["event"].as_str().unwrap();
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
        }
    }
}
