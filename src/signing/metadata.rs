//! What the gateway publishes as an issuer, when sessions are enabled: its public keys
//! (`/.well-known/jwks.json`, RFC 7517) and its authorization-server metadata (RFC 8414), answered
//! by the gateway itself before any route is matched. Reference: docs/sessions.md, "Metadata".

use serde_json::json;

use super::issuer::SessionIssuer;
use crate::problem::{ErrorCode, Problem};
use crate::reply::Reply;

/// Where the public keys are served (at the root of the issuer's host).
pub(crate) const JWKS_PATH: &str = "/.well-known/jwks.json";
/// RFC 8414 §3.1: the well-known suffix goes between the host and the issuer's path.
const METADATA_SUFFIX: &str = "/.well-known/oauth-authorization-server";

/// `Cache-Control: public, max-age` of both documents. It is the lower bound of how long another
/// verifier may keep a JWKS before it sees a newly published key: the rotation runbook waits at
/// least this long (plus any longer cache a verifier applies on its own) before a new key signs.
pub(crate) const MAX_AGE_SECS: u64 = 300;

/// Which document a request path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Document {
    Jwks,
    Metadata,
}

impl Document {
    /// The name the request log gives the answer (in place of a route name).
    pub(crate) fn log_name(self) -> &'static str {
        match self {
            Document::Jwks => "signing:jwks",
            Document::Metadata => "signing:metadata",
        }
    }
}

/// The document `path` names exactly (case and all: RFC 8615 well-known names are
/// case-sensitive), if any. Any other spelling goes on to the routes.
pub(crate) fn document_at(own: &SessionIssuer, path: &str) -> Option<Document> {
    if path == JWKS_PATH {
        Some(Document::Jwks)
    } else if path == metadata_path(own.issuer()) {
        Some(Document::Metadata)
    } else {
        None
    }
}

/// The answer to `method` on `document`: GET and HEAD only (405 with `Allow` otherwise).
pub(crate) fn answer(own: &SessionIssuer, document: Document, method: &str) -> Reply {
    if method != "GET" && method != "HEAD" {
        return Problem::new(
            ErrorCode::RequestInvalid,
            format!("method {method} is not allowed here; allowed: GET, HEAD"),
        )
        .with_status(405)
        .with_header("allow", "GET, HEAD")
        .reply();
    }
    let body = match document {
        Document::Jwks => own.keys().public_jwks(),
        Document::Metadata => {
            let base = origin_of(own.issuer());
            json!({
                "issuer": own.issuer(),
                "jwks_uri": published_jwks_uri(own.issuer()),
                "token_endpoint": format!("{base}{}/token", own.path_prefix()),
                "grant_types_supported": [
                    "refresh_token",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ],
                "token_endpoint_auth_methods_supported": ["none"],
                // RFC 8414 §2 requires the member; the gateway has no authorization endpoint.
                "response_types_supported": [],
            })
        }
    };
    Reply {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            (
                "cache-control".into(),
                format!("public, max-age={MAX_AGE_SECS}"),
            ),
        ],
        body: body.to_string(),
    }
}

/// Where the gateway whose `sessions.issuer` is `issuer` publishes its keys (the metadata's
/// `jwks_uri`): what `portcullis explain` fetches for a token of the gateway's own issuer, which
/// has no configured `jwks_uri` and no OpenID discovery document.
pub fn published_jwks_uri(issuer: &str) -> String {
    format!("{}{JWKS_PATH}", origin_of(issuer))
}

/// `https://host[:port]` of a URL already checked by `url::check_url`.
fn origin_of(issuer: &str) -> &str {
    let after_scheme = issuer.find("://").map_or(0, |i| i + 3);
    match issuer[after_scheme..].find('/') {
        Some(i) => &issuer[..after_scheme + i],
        None => issuer,
    }
}

/// RFC 8414 §3.1: `https://gw.example/tenant` publishes at
/// `/.well-known/oauth-authorization-server/tenant`; a trailing `/` of the issuer is dropped.
fn metadata_path(issuer: &str) -> String {
    let path = issuer[origin_of(issuer).len()..].trim_end_matches('/');
    format!("{METADATA_SUFFIX}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_path_follows_rfc8414() {
        assert_eq!(
            metadata_path("https://gw.example"),
            "/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            metadata_path("https://gw.example/"),
            "/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            metadata_path("https://gw.example:8443/t/1"),
            "/.well-known/oauth-authorization-server/t/1"
        );
        assert_eq!(
            origin_of("https://gw.example:8443/t/1"),
            "https://gw.example:8443"
        );
        assert_eq!(origin_of("http://127.0.0.1:8787"), "http://127.0.0.1:8787");
        assert_eq!(
            published_jwks_uri("https://gw.example:8443/t/1"),
            "https://gw.example:8443/.well-known/jwks.json"
        );
    }
}
