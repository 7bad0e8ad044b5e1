//! `clientDataJSON` (WebAuthn §5.8.1): what the browser says about the ceremony — its type, the
//! challenge it signed over and the origin it ran in. The browser serialises it and the
//! authenticator signs its SHA-256, so it is parsed as the bytes that were signed, strictly (a
//! member given twice is refused: two parsers could read two different origins).

use base64::Engine as _;
use serde_json::Value;

use super::PasskeyError;
use crate::jose::jws::B64URL;
use crate::jose::strict_json;

/// Bounds what the gateway parses; a browser's client data is a few hundred octets.
pub(crate) const MAX_CLIENT_DATA_BYTES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ceremony {
    /// `navigator.credentials.create`: `webauthn.create`.
    Create,
    /// `navigator.credentials.get`: `webauthn.get`.
    Get,
}

impl Ceremony {
    fn type_name(self) -> &'static str {
        match self {
            Ceremony::Create => "webauthn.create",
            Ceremony::Get => "webauthn.get",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientData {
    /// The challenge, decoded.
    pub(crate) challenge: Vec<u8>,
    pub(crate) origin: String,
    pub(crate) cross_origin: bool,
    pub(crate) top_origin: Option<String>,
}

fn invalid(why: &'static str) -> PasskeyError {
    PasskeyError::ClientDataInvalid(why)
}

/// Parses `clientDataJSON` for `ceremony`: a JSON object whose `type` is the ceremony's, with a
/// base64url `challenge` and a string `origin`; `crossOrigin` a boolean and `topOrigin` a string
/// when present. Other members are ignored (§5.8.1.2 says so: browsers add some).
pub(crate) fn parse_client_data(
    bytes: &[u8],
    ceremony: Ceremony,
) -> Result<ClientData, PasskeyError> {
    if bytes.len() > MAX_CLIENT_DATA_BYTES {
        return Err(invalid("longer than 4096 octets"));
    }
    let obj = strict_json::parse_object(bytes).map_err(|e| match e {
        strict_json::JsonError::Duplicate(_) => invalid("a member is given twice"),
        _ => invalid("not a JSON object"),
    })?;
    let text = |name: &'static str| match obj.get(name) {
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        None => Ok(None),
        Some(_) => Err(invalid("a member has the wrong JSON type")),
    };
    let kind = text("type")?.ok_or(invalid("no type"))?;
    if kind != ceremony.type_name() {
        return Err(PasskeyError::ClientDataTypeMismatch);
    }
    let challenge = text("challenge")?.ok_or(invalid("no challenge"))?;
    let challenge = B64URL
        .decode(challenge)
        .map_err(|_| invalid("the challenge is not base64url"))?;
    let origin = text("origin")?.ok_or(invalid("no origin"))?.to_string();
    let cross_origin = match obj.get("crossOrigin") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("crossOrigin is not a boolean")),
    };
    let top_origin = text("topOrigin")?.map(str::to_string);
    Ok(ClientData {
        challenge,
        origin,
        cross_origin,
        top_origin,
    })
}

/// The origin must be one of `allowed` (compared exactly, as the browser serialises origins). A
/// ceremony in a cross-origin iframe (`crossOrigin: true`), or one that names a `topOrigin`, is
/// refused unless that top-level origin is in `allowed_top` (WebAuthn §7.1 step 10, §7.2 step 12).
pub(crate) fn check_origin(
    data: &ClientData,
    allowed: &[String],
    allowed_top: &[String],
) -> Result<(), PasskeyError> {
    if !allowed.contains(&data.origin) {
        return Err(PasskeyError::OriginRefused);
    }
    if data.cross_origin || data.top_origin.is_some() {
        let top = data
            .top_origin
            .as_ref()
            .ok_or(PasskeyError::OriginRefused)?;
        if !allowed_top.iter().any(|o| o == top) {
            return Err(PasskeyError::OriginRefused);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cd(json: &str) -> Result<ClientData, PasskeyError> {
        parse_client_data(json.as_bytes(), Ceremony::Get)
    }

    #[test]
    fn a_browser_client_data_parses() {
        let d = cd(r#"{"type":"webauthn.get","challenge":"AAEC","origin":"https://app.example","crossOrigin":false,"other_keys_can_be_added_here":"x"}"#).unwrap();
        assert_eq!(d.challenge, vec![0, 1, 2]);
        assert_eq!(d.origin, "https://app.example");
        assert!(!d.cross_origin);
        let allowed = vec!["https://app.example".to_string()];
        assert_eq!(check_origin(&d, &allowed, &[]), Ok(()));
    }

    #[test]
    fn refusals() {
        assert_eq!(
            cd(r#"{"type":"webauthn.create","challenge":"AAEC","origin":"o"}"#),
            Err(PasskeyError::ClientDataTypeMismatch)
        );
        for bad in [
            r#"{"type":"webauthn.get","challenge":"AAEC","origin":"o","origin":"p"}"#,
            r#"{"type":"webauthn.get","challenge":"AAE=","origin":"o"}"#,
            r#"{"type":"webauthn.get","challenge":"AAEC"}"#,
            r#"{"type":"webauthn.get","origin":"o"}"#,
            r#"{"type":"webauthn.get","challenge":"AAEC","origin":1}"#,
            r#"{"type":"webauthn.get","challenge":"AAEC","origin":"o","crossOrigin":"false"}"#,
            r#"["webauthn.get"]"#,
            "not json",
        ] {
            assert!(
                matches!(cd(bad), Err(PasskeyError::ClientDataInvalid(_))),
                "{bad}"
            );
        }
        let huge = format!(
            r#"{{"type":"webauthn.get","challenge":"AAEC","origin":"o","x":"{}"}}"#,
            "a".repeat(5000)
        );
        assert!(matches!(cd(&huge), Err(PasskeyError::ClientDataInvalid(_))));
    }

    #[test]
    fn origins() {
        let allowed = vec!["https://app.example".to_string()];
        let top = vec!["https://portal.example".to_string()];
        let data = |origin: &str, cross: bool, top_origin: Option<&str>| ClientData {
            challenge: vec![],
            origin: origin.into(),
            cross_origin: cross,
            top_origin: top_origin.map(Into::into),
        };
        // Exact comparison: no prefix, no trailing slash, no other scheme or port.
        for o in [
            "https://app.example.evil",
            "https://app.example/",
            "http://app.example",
            "https://app.example:444",
            "https://APP.example",
        ] {
            assert_eq!(
                check_origin(&data(o, false, None), &allowed, &top),
                Err(PasskeyError::OriginRefused),
                "{o}"
            );
        }
        // Cross-origin frames: refused without an allowed top-level origin.
        assert_eq!(
            check_origin(&data("https://app.example", true, None), &allowed, &top),
            Err(PasskeyError::OriginRefused)
        );
        assert_eq!(
            check_origin(
                &data("https://app.example", true, Some("https://evil.example")),
                &allowed,
                &top
            ),
            Err(PasskeyError::OriginRefused)
        );
        assert_eq!(
            check_origin(
                &data("https://app.example", true, Some("https://portal.example")),
                &allowed,
                &[]
            ),
            Err(PasskeyError::OriginRefused)
        );
        assert_eq!(
            check_origin(
                &data("https://app.example", true, Some("https://portal.example")),
                &allowed,
                &top
            ),
            Ok(())
        );
        assert_eq!(
            check_origin(
                &data("https://app.example", false, Some("https://evil.example")),
                &allowed,
                &top
            ),
            Err(PasskeyError::OriginRefused)
        );
    }
}
