//! Client request headers that never reach the origin, whatever the route: the gateway's own
//! namespace, the credentials it consumes, forwarding headers (the gateway sets its own),
//! method/URL override headers and the front proxy's instructions to the origin.
//!
//! Names are compared *folded*: lower-case, with `_` and `.` read as `-`. CGI/WSGI-style servers
//! (wsgiref, older Gunicorn, uWSGI, IIS, Puma before 6.4.3 — CVE-2024-45614) turn both `X-User-Id`
//! and `X_User_Id` into `HTTP_X_USER_ID`, so a client's `X_User_Id: admin` is, to such an origin,
//! the identity header itself (or joined with the gateway's: `admin,user-42`). PHP goes further:
//! it registers every `$_SERVER` name with `.` (and space) turned into `_`, so `X.User.Id`, passed
//! on as `HTTP_X.USER.ID` by Caddy/FrankenPHP, `php -S`, or nginx with `ignore_invalid_headers
//! off`, is `$_SERVER['HTTP_X_USER_ID']` too. (A space is not a header-name character.)

use std::borrow::Cow;

/// `name` as a CGI-style or PHP origin sees it: lower-case, `_`, `.` and `-` alike. Borrowed when
/// the name is already folded — the runtime hands over lower-case names, and few have `_` or `.` —
/// so the usual request folds every header without allocating.
pub(crate) fn fold(name: &str) -> Cow<'_, str> {
    if !name
        .bytes()
        .any(|b| b == b'_' || b == b'.' || b.is_ascii_uppercase())
    {
        return Cow::Borrowed(name);
    }
    Cow::Owned(
        name.bytes()
            .map(|b| match b {
                b'_' | b'.' => '-',
                b => char::from(b.to_ascii_lowercase()),
            })
            .collect(),
    )
}

/// Why a client header is withheld from the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Withheld {
    /// `x-user-*`, `x-auth-*`, … : only the gateway speaks here.
    GatewayNamespace,
    /// A credential the gateway consumed (`X-API-Key`; `Authorization` unless forwarded).
    Credential,
    /// A statement about the client's address, scheme or host: only the gateway's own are true.
    Forwarding,
    /// Asks the origin to run another method or path than the one the gateway authorized.
    Override,
    /// Speaks for the front proxy: tells the origin how the proxy serves files for it.
    ProxyDirective,
}

/// The gateway's namespace (`docs/config.md`, "What the origin receives").
const OWN_PREFIXES: &[&str] = &["x-user-", "x-auth-", "x-token-", "x-portcullis-"];
const OWN_NAMES: &[&str] = &["x-client-id", "x-key-id"];

/// Client-certificate statements a TLS-terminating proxy makes to the origin (Envoy's XFCC,
/// nginx/Apache/HAProxy conventions, the gateway's own `x-client-cert-*`), folded. An origin
/// trusting its proxy reads them as an mTLS identity, so a client must never speak them: the
/// gateway's certificate facts come from `request.cf` alone (docs/mtls.md).
pub(crate) const CLIENT_CERT_PREFIXES: &[&str] = &["x-client-cert", "x-ssl-client-", "ssl-client-"];
pub(crate) const CLIENT_CERT_NAMES: &[&str] =
    &["x-forwarded-client-cert", "x-ssl-cert", "x-arr-clientcert"];

/// Forwarding headers, folded. Every one of them is read by some origin stack as the client's
/// address, host or scheme once it trusts its proxy (docs/origin.md).
pub(crate) const FORWARDING: &[&str] = &[
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-forwarded-ssl",
    "x-forwarded-scheme",
    "x-forwarded-protocol",
    "x-url-scheme",
    "front-end-https",
    "x-original-host",
    "x-real-ip",
    "true-client-ip",
    "client-ip",
    "x-client-ip",
    "x-original-forwarded-for",
    "x-cluster-client-ip",
    "fastly-client-ip",
    "x-proxyuser-ip",
    // Cloudflare's own: on Cloudflare the edge sets them, but a client can send them wherever the
    // gateway is not behind Cloudflare's edge (wrangler dev, Miniflare), and the gateway's
    // forwarding headers are the one statement of the client's address it makes to the origin.
    "cf-connecting-ip",
    "cf-connecting-ipv6",
    "cf-pseudo-ipv4",
    "cf-visitor",
];

/// Method and URL override headers, folded: Rack::MethodOverride, Express `method-override`,
/// Symfony/Laravel, ASP.NET and IIS rewrite modules act on them.
pub(crate) const OVERRIDE: &[&str] = &[
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-url",
    "x-rewrite-url",
];

/// The front proxy's instructions to the origin, folded. Rack::Sendfile (Rails' default middleware)
/// reads them from the request — `X-Sendfile-Type` picks how it hands a file to the proxy,
/// `X-Accel-Mapping` rewrites the file's path into an nginx location — so a client that sends them
/// makes the origin answer with an `X-Accel-Redirect` to a path of its choosing, which the proxy
/// then serves (CVE-2025-61780). The gateway is the front proxy and sends neither.
pub(crate) const PROXY_DIRECTIVES: &[&str] = &["x-sendfile-type", "x-accel-mapping"];

/// Why the client header whose `fold`ed name is `folded` must not reach the origin, if it must
/// not.
pub(crate) fn withheld_folded(folded: &str, forward_authorization: bool) -> Option<Withheld> {
    if is_gateway_namespace(folded) {
        Some(Withheld::GatewayNamespace)
    } else if folded == "x-api-key"
        || ((folded == "authorization" || folded == "dpop") && !forward_authorization)
    {
        Some(Withheld::Credential)
    } else if FORWARDING.contains(&folded) {
        Some(Withheld::Forwarding)
    } else if OVERRIDE.contains(&folded) {
        Some(Withheld::Override)
    } else if PROXY_DIRECTIVES.contains(&folded) {
        Some(Withheld::ProxyDirective)
    } else {
        None
    }
}

/// `folded` is in the gateway's namespace.
pub(crate) fn is_gateway_namespace(folded: &str) -> bool {
    OWN_NAMES.contains(&folded)
        || OWN_PREFIXES.iter().any(|p| folded.starts_with(p))
        || CLIENT_CERT_NAMES.contains(&folded)
        || CLIENT_CERT_PREFIXES.iter().any(|p| folded.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_is_what_cgi_does() {
        assert_eq!(fold("X_User_Id"), "x-user-id");
        assert_eq!(fold("X-User_Id"), "x-user-id");
        assert_eq!(fold("x-user-id"), "x-user-id");
        assert_eq!(fold("X_FORWARDED_FOR"), "x-forwarded-for");
        assert_eq!(fold("X.User.Id"), "x-user-id");
    }

    #[test]
    fn every_spelling_is_withheld() {
        let withheld = |name: &str, forward_authorization: bool| {
            withheld_folded(&fold(name), forward_authorization)
        };
        for (name, why) in [
            ("x-user-id", Withheld::GatewayNamespace),
            ("X_User_Id", Withheld::GatewayNamespace),
            ("X_User_Scopes", Withheld::GatewayNamespace),
            ("X-User_Id", Withheld::GatewayNamespace),
            ("X.User.Id", Withheld::GatewayNamespace),
            ("x-user.scopes", Withheld::GatewayNamespace),
            ("X.API.Key", Withheld::Credential),
            ("X.Forwarded.For", Withheld::Forwarding),
            ("X.HTTP.Method.Override", Withheld::Override),
            ("X_Key_Id", Withheld::GatewayNamespace),
            ("X_Auth_Method", Withheld::GatewayNamespace),
            ("x_client_id", Withheld::GatewayNamespace),
            ("x_token_id", Withheld::GatewayNamespace),
            ("x_portcullis_debug", Withheld::GatewayNamespace),
            ("X-API-Key", Withheld::Credential),
            ("X_API_Key", Withheld::Credential),
            ("x-api_key", Withheld::Credential),
            ("Authorization", Withheld::Credential),
            ("Forwarded", Withheld::Forwarding),
            ("X_Forwarded_For", Withheld::Forwarding),
            ("x-forwarded_host", Withheld::Forwarding),
            ("X-Real-IP", Withheld::Forwarding),
            ("True_Client_IP", Withheld::Forwarding),
            ("CF-Connecting-IP", Withheld::Forwarding),
            ("cf_connecting_ip", Withheld::Forwarding),
            ("X-ProxyUser-Ip", Withheld::Forwarding),
            ("X-HTTP-Method-Override", Withheld::Override),
            ("X_HTTP_Method_Override", Withheld::Override),
            ("x-http-method", Withheld::Override),
            ("X-Method-Override", Withheld::Override),
            ("X_Original_URL", Withheld::Override),
            ("X-Rewrite-URL", Withheld::Override),
            ("DPoP", Withheld::Credential),
            ("x-client-cert-fingerprint", Withheld::GatewayNamespace),
            ("X_Client_Cert_Subject", Withheld::GatewayNamespace),
            ("X-Client-Cert", Withheld::GatewayNamespace),
            ("X-Forwarded-Client-Cert", Withheld::GatewayNamespace),
            ("X-SSL-Client-Verify", Withheld::GatewayNamespace),
            ("ssl_client_s_dn", Withheld::GatewayNamespace),
            ("X-ARR-ClientCert", Withheld::GatewayNamespace),
            ("X-Sendfile-Type", Withheld::ProxyDirective),
            ("X_Sendfile_Type", Withheld::ProxyDirective),
            ("x-sendfile_type", Withheld::ProxyDirective),
            ("X.Sendfile.Type", Withheld::ProxyDirective),
            ("X-Accel-Mapping", Withheld::ProxyDirective),
            ("X_ACCEL_MAPPING", Withheld::ProxyDirective),
            ("x_accel-mapping", Withheld::ProxyDirective),
        ] {
            assert_eq!(withheld(name, false), Some(why), "{name}");
        }
        assert_eq!(withheld("authorization", true), None);
        assert_eq!(withheld("dpop", true), None);
        for name in [
            "x-request-id",
            "x-client-version",
            "x_request_id",
            "user-agent",
            "x-users",
            "x-userid",
            "x-forwarded",
            "content-type",
            "x-api-keys",
            "x-sendfile",
            "x-sendfile-types",
            "x-accel-buffering",
        ] {
            assert_eq!(withheld(name, false), None, "{name}");
        }
    }
}
