//! The pending login: what the browser must remember across the redirect to the authorization
//! server and back, and the two halves of the flow that write and consume it.
//!
//! Storage itself (`sessionStorage`) lives in the wasm binding; here the transaction is a plain
//! value with a compact form-encoded serialization, so it is tested natively and needs no JSON
//! library in the wasm. `sessionStorage` is per tab and per origin, which is exactly the scope
//! of one login; a new login in the same tab replaces any older pending one.

use crate::authorization::AuthorizationRequest;
use crate::callback::{parse_callback, ExpectedResponse};
use crate::encoding::{parse_form, push_decimal, push_pair};
use crate::error::PkceError;
use crate::pkce::CodeVerifier;
use crate::token::TokenRequest;
use crate::validate::{check_url, UrlRole};
use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;

/// The `sessionStorage` key of the pending transaction.
pub const STORAGE_KEY: &str = "portcullis.pkce.transaction";
/// A pending login older than this is refused: ten minutes is ample for a person to sign in,
/// and an abandoned transaction should not linger as a usable verifier.
pub const TRANSACTION_TTL_MS: u64 = 10 * 60 * 1000;
const FORMAT_VERSION: &str = "1";

/// How the application describes its login; the helper adds PKCE, state and nonce.
#[derive(Clone, Copy, Debug)]
pub struct LoginOptions<'a> {
    pub issuer: &'a str,
    pub authorization_endpoint: &'a str,
    pub token_endpoint: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub require_iss: bool,
    pub resources: &'a [String],
    pub extra: &'a [(String, String)],
}

/// One login in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingTransaction {
    pub state: String,
    pub nonce: String,
    pub code_verifier: CodeVerifier,
    pub issuer: String,
    pub require_iss: bool,
    pub client_id: String,
    pub redirect_uri: String,
    pub token_endpoint: String,
    pub resources: Vec<String>,
    pub created_at_ms: u64,
}

/// Builds the authorization URL and the transaction to store before redirecting.
pub fn begin(
    options: &LoginOptions<'_>,
    code_verifier: CodeVerifier,
    state: String,
    nonce: String,
    now_ms: u64,
) -> Result<(String, PendingTransaction), PkceError> {
    check_url("issuer", options.issuer, UrlRole::Issuer)?;
    let challenge = code_verifier.challenge_s256();
    let url = AuthorizationRequest {
        authorization_endpoint: options.authorization_endpoint,
        client_id: options.client_id,
        redirect_uri: options.redirect_uri,
        scope: options.scope,
        state: &state,
        nonce: &nonce,
        code_challenge: &challenge,
        resources: options.resources,
        extra: options.extra,
    }
    .to_url()?;
    // Validate the token endpoint now, not after the user has signed in.
    check_url("tokenEndpoint", options.token_endpoint, UrlRole::Endpoint)?;
    let tx = PendingTransaction {
        state,
        nonce,
        code_verifier,
        issuer: options.issuer.to_owned(),
        require_iss: options.require_iss,
        client_id: options.client_id.to_owned(),
        redirect_uri: options.redirect_uri.to_owned(),
        token_endpoint: options.token_endpoint.to_owned(),
        resources: options.resources.to_vec(),
        created_at_ms: now_ms,
    };
    Ok((url, tx))
}

/// Checks the callback against the transaction and returns the authorization code; redeem it
/// with [`PendingTransaction::token_request`]. The caller removes the transaction from storage
/// first, so a transaction is used at most once whatever the outcome.
pub fn complete(tx: &PendingTransaction, callback: &str, now_ms: u64) -> Result<String, PkceError> {
    if now_ms.saturating_sub(tx.created_at_ms) > TRANSACTION_TTL_MS {
        return Err(PkceError::TransactionExpired);
    }
    let expected = ExpectedResponse {
        state: &tx.state,
        issuer: &tx.issuer,
        require_iss: tx.require_iss,
    };
    let code = parse_callback(callback, &expected)?;
    tx.token_request(&code).validate()?;
    Ok(code)
}

impl PendingTransaction {
    /// The code exchange for this login.
    pub fn token_request<'a>(&'a self, code: &'a str) -> TokenRequest<'a> {
        TokenRequest {
            token_endpoint: &self.token_endpoint,
            client_id: &self.client_id,
            redirect_uri: &self.redirect_uri,
            code,
            code_verifier: &self.code_verifier,
            resources: &self.resources,
        }
    }

    pub fn serialize(&self) -> String {
        let mut s = String::with_capacity(512);
        push_pair(&mut s, "v", FORMAT_VERSION);
        push_pair(&mut s, "state", &self.state);
        push_pair(&mut s, "nonce", &self.nonce);
        push_pair(&mut s, "code_verifier", self.code_verifier.as_str());
        push_pair(&mut s, "issuer", &self.issuer);
        push_pair(
            &mut s,
            "require_iss",
            if self.require_iss { "1" } else { "0" },
        );
        push_pair(&mut s, "client_id", &self.client_id);
        push_pair(&mut s, "redirect_uri", &self.redirect_uri);
        push_pair(&mut s, "token_endpoint", &self.token_endpoint);
        push_pair(&mut s, "created_at", "");
        push_decimal(&mut s, self.created_at_ms);
        for r in &self.resources {
            push_pair(&mut s, "resource", r);
        }
        s
    }

    /// Reads back what [`serialize`](Self::serialize) wrote; anything else is `CorruptTransaction`.
    pub fn deserialize(stored: &str) -> Result<Self, PkceError> {
        const FIELDS: [&str; 10] = [
            "v",
            "state",
            "nonce",
            "code_verifier",
            "issuer",
            "require_iss",
            "client_id",
            "redirect_uri",
            "token_endpoint",
            "created_at",
        ];
        // One array rather than ten locals: every early return then drops a single value, which
        // keeps the generated wasm small.
        let mut fields: [Option<String>; 10] = Default::default();
        let mut resources = Vec::new();
        for (name, value) in parse_form(stored).map_err(|_| PkceError::CorruptTransaction)? {
            if name == "resource" {
                resources.push(value);
                continue;
            }
            let slot = FIELDS
                .iter()
                .zip(fields.iter_mut())
                .find(|(f, _)| **f == name)
                .map(|(_, slot)| slot);
            match slot {
                Some(slot) if slot.is_none() => *slot = Some(value),
                _ => return Err(PkceError::CorruptTransaction),
            }
        }
        if fields.iter().any(Option::is_none) {
            return Err(PkceError::CorruptTransaction);
        }
        let [v, state, nonce, verifier, issuer, require_iss, client_id, redirect_uri, token_endpoint, created_at] =
            fields.map(Option::unwrap_or_default);
        let require_iss = match (v.as_str(), require_iss.as_str()) {
            (FORMAT_VERSION, "1") => true,
            (FORMAT_VERSION, "0") => false,
            _ => return Err(PkceError::CorruptTransaction),
        };
        let created_at_ms = match created_at.bytes().all(|b| b.is_ascii_digit()) {
            true => created_at
                .parse()
                .map_err(|_| PkceError::CorruptTransaction)?,
            false => return Err(PkceError::CorruptTransaction),
        };
        let code_verifier =
            CodeVerifier::parse(&verifier).map_err(|_| PkceError::CorruptTransaction)?;
        Ok(Self {
            state,
            nonce,
            code_verifier,
            issuer,
            require_iss,
            client_id,
            redirect_uri,
            token_endpoint,
            resources,
            created_at_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const NOW: u64 = 1_700_000_000_000;
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn options<'a>(resources: &'a [String], extra: &'a [(String, String)]) -> LoginOptions<'a> {
        LoginOptions {
            issuer: "http://127.0.0.1:9000",
            authorization_endpoint: "http://127.0.0.1:9000/auth",
            token_endpoint: "http://127.0.0.1:9000/token",
            client_id: "portcullis-demo",
            redirect_uri: "http://127.0.0.1:8080/",
            scope: "openid read:echo",
            require_iss: true,
            resources,
            extra,
        }
    }

    fn started() -> (String, PendingTransaction) {
        let resources = vec!["https://api.portcullis.test".to_string()];
        let extra = vec![("prompt".to_string(), "consent".to_string())];
        let v = CodeVerifier::parse(VERIFIER).unwrap();
        begin(
            &options(&resources, &extra),
            v,
            "S".repeat(43),
            "N".repeat(43),
            NOW,
        )
        .unwrap()
    }

    #[test]
    fn begin_builds_url_with_challenge_of_stored_verifier() {
        let (url, tx) = started();
        assert_eq!(
            url,
            format!(
                "http://127.0.0.1:9000/auth?response_type=code&client_id=portcullis-demo\
                 &redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2F&scope=openid%20read%3Aecho\
                 &state={}&nonce={}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
                 &code_challenge_method=S256&resource=https%3A%2F%2Fapi.portcullis.test&prompt=consent",
                "S".repeat(43),
                "N".repeat(43)
            )
        );
        assert_eq!(tx.code_verifier.as_str(), VERIFIER);
        assert_eq!(tx.created_at_ms, NOW);
        assert_eq!(
            tx.resources,
            vec!["https://api.portcullis.test".to_string()]
        );
        assert_eq!(
            (tx.issuer.as_str(), tx.require_iss),
            ("http://127.0.0.1:9000", true)
        );
    }

    #[test]
    fn begin_validates_issuer_and_token_endpoint() {
        let v = || CodeVerifier::parse(VERIFIER).unwrap();
        let mut o = options(&[], &[]);
        o.issuer = "https://as.example/?tenant=1";
        assert_eq!(
            begin(&o, v(), "S".repeat(43), "N".repeat(43), NOW)
                .unwrap_err()
                .field(),
            Some("issuer")
        );
        let mut o = options(&[], &[]);
        o.token_endpoint = "http://as.example/token";
        assert_eq!(
            begin(&o, v(), "S".repeat(43), "N".repeat(43), NOW)
                .unwrap_err()
                .field(),
            Some("tokenEndpoint")
        );
    }

    #[test]
    fn serialization_round_trips() {
        let (_, mut tx) = started();
        assert_eq!(
            PendingTransaction::deserialize(&tx.serialize()).unwrap(),
            tx
        );
        tx.resources.push("urn:x&y=z".into());
        tx.require_iss = false;
        assert_eq!(
            PendingTransaction::deserialize(&tx.serialize()).unwrap(),
            tx
        );
    }

    #[test]
    fn deserialization_refuses_anything_else() {
        let (_, tx) = started();
        let good = tx.serialize();
        let cases = [
            String::new(),
            "{\"state\":\"x\"}".to_string(),
            good.replace("v=1", "v=2"),
            good.replace("require_iss=1", "require_iss=yes"),
            good.replace(&format!("created_at={NOW}"), "created_at=-1"),
            good.replace(&format!("created_at={NOW}"), "created_at="),
            good.replace(
                &format!("created_at={NOW}"),
                "created_at=99999999999999999999999",
            ),
            good.replace(VERIFIER, "short"),
            format!("{good}&state=again"),
            format!("{good}&unknown=1"),
            good.replace("&nonce=", "&x_nonce="),
            format!("{good}&bad=%zz"),
        ];
        for c in cases {
            assert_eq!(
                PendingTransaction::deserialize(&c),
                Err(PkceError::CorruptTransaction),
                "{c}"
            );
        }
    }

    #[test]
    fn complete_returns_code_and_token_request() {
        let (_, tx) = started();
        let cb = format!(
            "http://127.0.0.1:8080/?code=the-code&state={}&iss=http%3A%2F%2F127.0.0.1%3A9000",
            "S".repeat(43)
        );
        let code = complete(&tx, &cb, NOW + 1000).unwrap();
        assert_eq!(code, "the-code");
        let req = tx.token_request(&code);
        assert_eq!(req.token_endpoint, "http://127.0.0.1:9000/token");
        assert_eq!(
            req.body().unwrap(),
            format!(
                "grant_type=authorization_code&code=the-code&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2F\
                 &client_id=portcullis-demo&code_verifier={VERIFIER}&resource=https%3A%2F%2Fapi.portcullis.test"
            )
        );
    }

    #[test]
    fn complete_refuses_expired_tampered_and_mixed_up() {
        let cb = |state: &str, iss: &str| {
            format!("http://127.0.0.1:8080/?code=c&state={state}&iss={iss}")
        };
        let good_iss = "http://127.0.0.1:9000";
        let (_, tx) = started();
        let s = "S".repeat(43);
        assert_eq!(
            complete(&tx, &cb(&s, good_iss), NOW + TRANSACTION_TTL_MS + 1).unwrap_err(),
            PkceError::TransactionExpired
        );
        assert_eq!(
            complete(&tx, &cb(&s, good_iss), NOW + TRANSACTION_TTL_MS).unwrap(),
            "c"
        );
        assert_eq!(
            complete(&tx, &cb(&"T".repeat(43), good_iss), NOW).unwrap_err(),
            PkceError::StateMismatch
        );
        assert_eq!(
            complete(&tx, &cb(&s, "http://127.0.0.1:9001"), NOW).unwrap_err(),
            PkceError::IssuerMismatch
        );
        let no_iss = format!("http://127.0.0.1:8080/?code=c&state={s}");
        assert_eq!(
            complete(&tx, &no_iss, NOW).unwrap_err(),
            PkceError::MissingIssuer
        );
    }
}
