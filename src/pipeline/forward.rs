//! Stage 5: what the origin receives. The client's headers minus hop-by-hop headers and every
//! header the client must not speak for (`client_headers`: the gateway's namespace, credentials,
//! forwarding, override and front-proxy headers, in any `_`/`.`/`-` spelling); plus the identity headers the gateway
//! vouches for and its own forwarding headers (`forwarded`).

use crate::config::Config;
use crate::identity::{AuthMethod, Identity};
use crate::websocket::RelaySettings;

use super::client_headers::{fold, withheld_folded};
use super::parse::ParsedRequest;
use super::{ForwardPlan, RequestHead};
use crate::forwarded::forwarded_headers;

/// RFC 9110 §7.6.1 hop-by-hop headers, plus `host` (set by the outbound fetch).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

pub(crate) fn plan(
    config: &Config,
    req: &RequestHead,
    parsed: &ParsedRequest<'_>,
    identity: &Identity,
    response_headers: Vec<(String, String)>,
) -> ForwardPlan {
    let mut url = format!("{}{}", config.origin, parsed.path);
    if let Some(q) = &parsed.query {
        url.push('?');
        url.push_str(q);
    }
    let mut strip = stripped_headers(config, req);
    if drops_expectation(req) && !strip.iter().any(|n| n == "expect") {
        strip.push("expect".to_string());
    }
    ForwardPlan {
        url,
        strip,
        add: identity_headers(identity)
            .into_iter()
            .chain(forwarded_headers(&config.forwarded, req))
            .collect(),
        response_headers,
        websocket: crate::websocket::plan(
            websocket_relay_settings(config, identity),
            parsed.route,
            req,
            identity,
        ),
        origin: parsed.route.origin,
    }
}

/// What a WebSocket relay of `identity`'s upgrade needs from the configuration: the revocation
/// list's refresh interval when revocation is enabled, and the leeway of the JWT's issuer.
pub(crate) fn websocket_relay_settings(config: &Config, identity: &Identity) -> RelaySettings {
    RelaySettings {
        revocation_refresh_ms: config
            .revocation
            .enabled
            .then_some(config.revocation.refresh_interval_ms),
        leeway_secs: identity
            .issuer
            .as_deref()
            .and_then(|iss| config.issuers.iter().find(|i| i.issuer == iss))
            .map(|i| i.leeway_secs)
            .unwrap_or(0),
    }
}

/// `Expect` goes, as nginx drops it: an origin honouring `100-continue` answers with an interim
/// `100`, which the Workers runtime hands back as if it were the final response. The gateway
/// streams the body at once, which RFC 9110 §10.1.1 allows a client to do anyway.
fn drops_expectation(req: &RequestHead) -> bool {
    req.headers_named("expect").next().is_some()
}

/// The client headers the origin must not see: hop-by-hop ones, and every one `withheld_folded` names
/// (the gateway's namespace, credentials — `Authorization` unless configured to pass —, forwarding,
/// override and front-proxy headers). Names compare folded (`_` and `.` as `-`), as CGI-style and PHP origins read them.
pub(crate) fn stripped_headers(config: &Config, req: &RequestHead) -> Vec<String> {
    // Headers named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1).
    let connection_named: Vec<_> = req
        .headers_named("connection")
        .flat_map(|v| v.split(','))
        .map(|s| fold(s.trim()))
        .filter(|s| !s.is_empty())
        .collect();
    let mut strip: Vec<String> = Vec::new();
    for (n, _) in &req.headers {
        let folded = fold(n);
        let drop = HOP_BY_HOP.contains(&folded.as_ref())
            || connection_named.contains(&folded)
            || withheld_folded(&folded, config.forward_authorization).is_some()
            || config.claims.in_extra_namespace(&folded);
        if drop && !strip.contains(n) {
            strip.push(n.clone());
        }
    }
    strip
}

/// Hop-by-hop headers of the origin's response, which the client does not get (RFC 9110 §7.6.1).
pub(crate) const RESPONSE_HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-connection",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The names to delete from the origin's response: the hop-by-hop ones and any named in its
/// `Connection`. A 426 keeps `Upgrade`: RFC 9110 §15.5.22 requires it there, and it is what tells
/// the client which protocol to switch to.
pub(crate) fn response_stripped_headers(status: u16, connection: Option<&str>) -> Vec<String> {
    let keep_upgrade = status == 426;
    connection
        .unwrap_or_default()
        .split(',')
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .chain(RESPONSE_HOP_BY_HOP.iter().map(|n| n.to_string()))
        .filter(|n| !(keep_upgrade && n == "upgrade"))
        .fold(Vec::new(), |mut names, n| {
            if !names.contains(&n) {
                names.push(n);
            }
            names
        })
}

pub(crate) fn identity_headers(identity: &Identity) -> Vec<(String, String)> {
    let mut h = vec![(
        "x-auth-method".to_string(),
        identity.method.as_str().to_string(),
    )];
    if identity.method == AuthMethod::Public {
        return h;
    }
    h.push(("x-user-id".to_string(), identity.subject.clone()));
    h.push((
        "x-user-scopes".to_string(),
        crate::scope::header_value(&identity.scopes),
    ));
    if let Some(iss) = &identity.issuer {
        h.push(("x-auth-issuer".to_string(), iss.clone()));
    }
    if let Some(jti) = &identity.token_id {
        h.push(("x-token-id".to_string(), jti.clone()));
    }
    if let Some(c) = &identity.client_id {
        h.push(("x-client-id".to_string(), c.clone()));
    }
    if let Some(k) = &identity.key_id {
        h.push(("x-key-id".to_string(), k.clone()));
    }
    // `claims_to_headers`: names in the namespace, values checked when the token was verified.
    h.extend(identity.claims.headers.iter().cloned());
    if let Some(cert) = &identity.holder.certificate {
        h.push((
            "x-client-cert-fingerprint".to_string(),
            cert.fingerprint.clone(),
        ));
        h.push(("x-client-cert-subject".to_string(), cert.subject.clone()));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_hop_by_hop_headers_go_but_a_426_keeps_upgrade() {
        let plain = response_stripped_headers(200, Some("keep-alive, X-Hop"));
        assert_eq!(plain[..2], ["keep-alive".to_string(), "x-hop".to_string()]);
        assert!(plain.contains(&"upgrade".to_string()));
        assert!(plain.contains(&"connection".to_string()));
        assert_eq!(plain.iter().filter(|n| *n == "keep-alive").count(), 1);
        let upgrade_required = response_stripped_headers(426, Some("Upgrade"));
        assert!(!upgrade_required.contains(&"upgrade".to_string()));
        assert!(upgrade_required.contains(&"connection".to_string()));
        assert_eq!(
            response_stripped_headers(426, None).len(),
            RESPONSE_HOP_BY_HOP.len() - 1
        );
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_fold_too() {
        let config = crate::config::parse_config(&serde_json::json!({
            "origin": "https://origin.internal",
            "routes": [{"methods": ["GET"], "path": "/x", "auth": ["public"]}]
        }))
        .unwrap();
        let req = RequestHead {
            method: "GET".into(),
            url: "https://gw.example/x".into(),
            headers: [
                ("proxy_authorization", "Basic x"),
                ("transfer_encoding", "chunked"),
                ("connection", "X_Hop"),
                ("x-hop", "1"),
                ("x_user_id", "admin"),
                ("accept", "*/*"),
            ]
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        };
        assert_eq!(
            stripped_headers(&config, &req),
            [
                "proxy_authorization",
                "transfer_encoding",
                "connection",
                "x-hop",
                "x_user_id"
            ]
        );
    }

    #[test]
    fn namespace() {
        // In the gateway's namespace (any `_`/`.`/`-` spelling): never sent on to the origin.
        let is_own_header =
            |name: &str| crate::pipeline::client_headers::is_gateway_namespace(&fold(name));
        for n in [
            "x-user-id",
            "x-user-anything",
            "x-auth-method",
            "x-token-id",
            "x-client-id",
            "x-key-id",
            "x-portcullis-debug",
            "X_User_Id",
            "x-user_scopes",
        ] {
            assert!(is_own_header(n), "{n}");
        }
        for n in ["x-request-id", "x-client-version", "user-agent", "x-users"] {
            assert!(!is_own_header(n), "{n}");
        }
    }
}
