//! The gateway as an RFC 7662 client: its credentials (from a Workers secret, never from the
//! configuration document) and the form it POSTs.

use base64::Engine;
use serde_json::json;

use super::settings::{AssertionAudience, ClientAuth, IntrospectionSettings};
use crate::jose::jws::B64URL;
use crate::platform::Platform;
use crate::signing::keys::{SigningKey, SigningKeySet};

/// How long a client assertion is valid: long enough for one POST.
const ASSERTION_TTL_SECS: u64 = 60;

/// The secret that authenticates the gateway to the introspection endpoint.
#[derive(Clone)]
pub(crate) enum ClientCredentials {
    /// `client_secret_basic`.
    Secret(String),
    /// `private_key_jwt`: the key that signs the client assertion.
    Key(Box<SigningKey>),
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientCredentials::Secret(_) => f.write_str("Secret(…)"),
            ClientCredentials::Key(k) => write!(f, "Key(kid {})", k.kid()),
        }
    }
}

impl ClientCredentials {
    /// The credentials `settings.client_auth` needs, from the Workers secret's value (`None`:
    /// the secret is not set). The error names the secret, never its value.
    pub(crate) fn load(
        settings: &IntrospectionSettings,
        secret: Option<&str>,
    ) -> Result<ClientCredentials, String> {
        let name = settings.secret_name();
        let secret = secret.filter(|s| !s.is_empty()).ok_or_else(|| {
            format!("introspection is enabled but the Workers secret {name} is not set")
        })?;
        match settings.client_auth {
            ClientAuth::ClientSecretBasic => Ok(ClientCredentials::Secret(secret.to_string())),
            ClientAuth::PrivateKeyJwt => {
                let set = key_set(secret).map_err(|m| format!("{name}: {m}"))?;
                Ok(ClientCredentials::Key(Box::new(set.active().clone())))
            }
        }
    }
}

/// The secret as a key set: a signing-key document (`{"active", "keys"}`, the format of
/// `PORTCULLIS_SIGNING_KEYS`) or one private JWK with a `kid`.
fn key_set(secret: &str) -> Result<SigningKeySet, String> {
    let value: serde_json::Value =
        serde_json::from_str(secret).map_err(|_| "is not a JSON document".to_string())?;
    let document = if value.get("keys").is_some() {
        secret.to_string()
    } else {
        let kid = value
            .get("kid")
            .and_then(|k| k.as_str())
            .ok_or_else(|| "the private JWK needs a kid".to_string())?;
        json!({"active": kid, "keys": [value]}).to_string()
    };
    SigningKeySet::parse(&document).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// `application/x-www-form-urlencoded` of one value: unreserved characters kept, every other
/// byte percent-encoded (so `+`, `&`, `=` in a token arrive as sent).
fn form_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The POST for `token`: headers and body, client authentication included.
pub(crate) async fn request<P: Platform>(
    platform: &P,
    settings: &IntrospectionSettings,
    credentials: &ClientCredentials,
    token: &str,
) -> Result<(Vec<(String, String)>, String), String> {
    let mut headers = vec![
        (
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        ("accept".to_string(), "application/json".to_string()),
    ];
    let mut body = format!("token={}&token_type_hint=access_token", form_encode(token));
    match credentials {
        ClientCredentials::Secret(secret) => {
            // RFC 6749 §2.3.1: both parts form-encoded before the Basic encoding.
            let pair = format!(
                "{}:{}",
                form_encode(&settings.client_id),
                form_encode(secret)
            );
            headers.push((
                "authorization".to_string(),
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ),
            ));
        }
        ClientCredentials::Key(key) => {
            let assertion = client_assertion(platform, settings, key).await?;
            body.push_str(&format!(
                "&client_id={}&client_assertion_type={}&client_assertion={}",
                form_encode(&settings.client_id),
                form_encode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                form_encode(&assertion)
            ));
        }
    }
    Ok((headers, body))
}

/// An RFC 7523 §3 client assertion: `iss` = `sub` = the client, `aud` the issuer (or the
/// endpoint), a fresh `jti`, valid for a minute.
async fn client_assertion<P: Platform>(
    platform: &P,
    settings: &IntrospectionSettings,
    key: &SigningKey,
) -> Result<String, String> {
    let mut random = [0u8; 16];
    platform.random_bytes(&mut random);
    let now = platform.now_secs();
    let aud = match settings.assertion_audience {
        AssertionAudience::Issuer => &settings.issuer,
        AssertionAudience::Endpoint => &settings.endpoint,
    };
    let header = json!({"alg": key.alg().as_str(), "kid": key.kid(), "typ": "JWT"});
    let payload = json!({
        "iss": settings.client_id, "sub": settings.client_id, "aud": aud,
        "jti": B64URL.encode(random), "iat": now, "exp": now + ASSERTION_TTL_SECS,
    });
    let input = format!(
        "{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(payload.to_string())
    );
    let signature = platform
        .sign(key, input.as_bytes())
        .await
        .map_err(|e| format!("the client assertion could not be signed: {e}"))?;
    Ok(format!("{input}.{}", B64URL.encode(signature)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_keeps_only_unreserved_characters() {
        assert_eq!(form_encode("a+b/c=d&e f~_.-"), "a%2Bb%2Fc%3Dd%26e%20f~_.-");
        assert_eq!(form_encode("é"), "%C3%A9");
    }

    #[test]
    fn a_missing_or_broken_secret_is_an_error_naming_the_secret_only() {
        let mut s = IntrospectionSettings::default();
        let e = ClientCredentials::load(&s, None).unwrap_err();
        assert!(e.contains("PORTCULLIS_INTROSPECTION_SECRET"), "{e}");
        assert!(ClientCredentials::load(&s, Some("")).is_err());
        assert!(matches!(
            ClientCredentials::load(&s, Some("s3cret")),
            Ok(ClientCredentials::Secret(_))
        ));
        s.client_auth = ClientAuth::PrivateKeyJwt;
        let e = ClientCredentials::load(&s, Some("{\"kty\":\"EC\",\"d\":\"sekrit\"}")).unwrap_err();
        assert!(e.starts_with("PORTCULLIS_INTROSPECTION_KEY:"), "{e}");
        assert!(!e.contains("sekrit"), "{e}");
        assert!(ClientCredentials::load(&s, Some("not json")).is_err());
    }
}
