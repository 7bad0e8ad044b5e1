//! The forwarding headers the gateway sets for the origin, from facts the client cannot forge:
//! the client's address as the runtime reports it (`CF-Connecting-IP`, set by Cloudflare's edge
//! from the connection) and the scheme and host of the URL the client addressed. Every client copy
//! of a forwarding header is stripped first (`client_headers::FORWARDING`), on every route.

use std::net::IpAddr;

use super::parse::split_url;
use super::RequestHead;

/// Which forwarding headers the origin receives (`forwarded_headers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedMode {
    /// `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host`, `X-Real-IP`.
    #[default]
    XForwarded,
    /// One RFC 7239 `Forwarded` header.
    Rfc7239,
    /// None: client copies are still stripped.
    None,
}

impl ForwardedMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "x-forwarded" => Some(Self::XForwarded),
            "rfc7239" => Some(Self::Rfc7239),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ForwardedSettings {
    pub mode: ForwardedMode,
    /// Keep the client's `X-Forwarded-For` (or, in `rfc7239` mode, `Forwarded`) chain and append
    /// the gateway's hop to it, instead of replacing it. Only for a gateway behind another proxy
    /// the origin trusts, which sets or sanitizes that chain; otherwise any client can write
    /// whatever addresses it likes in front of its own.
    pub append_client_chain: bool,
}

/// The runtime's statement of the client's address: `CF-Connecting-IP`, when it holds exactly one
/// IP address. Absent (or not an address): the gateway names no client address rather than
/// invent one.
pub fn client_address(req: &RequestHead) -> Option<IpAddr> {
    let mut values = req.headers_named("cf-connecting-ip");
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.trim().parse().ok()
}

/// The headers the origin receives from the gateway about the client's hop (lower-case names).
pub fn forwarded_headers(settings: &ForwardedSettings, req: &RequestHead) -> Vec<(String, String)> {
    let address = client_address(req);
    let (proto, host) = addressed(&req.url);
    let mut out = Vec::new();
    match settings.mode {
        ForwardedMode::None => {}
        ForwardedMode::XForwarded => {
            let hop = address.map(|a| a.to_string());
            let chain = if settings.append_client_chain {
                client_chain(req, "x-forwarded-for", hop)
            } else {
                hop.clone()
            };
            if let Some(chain) = chain {
                out.push(("x-forwarded-for".to_string(), chain));
            }
            if let Some(proto) = proto {
                out.push(("x-forwarded-proto".to_string(), proto));
            }
            if let Some(host) = host {
                out.push(("x-forwarded-host".to_string(), host.to_string()));
            }
            if let Some(a) = address {
                out.push(("x-real-ip".to_string(), a.to_string()));
            }
        }
        ForwardedMode::Rfc7239 => {
            let mut pairs = Vec::new();
            if let Some(a) = address {
                pairs.push(format!("for={}", node(a)));
            }
            if let Some(host) = host {
                pairs.push(format!("host={}", token_or_quoted(host)));
            }
            if let Some(proto) = proto {
                pairs.push(format!("proto={proto}"));
            }
            let element = (!pairs.is_empty()).then(|| pairs.join(";"));
            let value = if settings.append_client_chain {
                client_chain(req, "forwarded", element)
            } else {
                element
            };
            if let Some(value) = value {
                out.push(("forwarded".to_string(), value));
            }
        }
    }
    out
}

/// The scheme (`http`/`https`) and authority (`host[:port]`) the client addressed, from the
/// request URL. Anything else is left out rather than passed on.
fn addressed(url: &str) -> (Option<String>, Option<&str>) {
    let Some((scheme, authority, _, _)) = split_url(url) else {
        return (None, None);
    };
    let scheme = scheme.to_ascii_lowercase();
    let proto = matches!(scheme.as_str(), "http" | "https").then_some(scheme);
    let host_ok = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    (proto, host_ok.then_some(authority))
}

/// The client's chain (every copy, in order) with the gateway's hop appended.
fn client_chain(req: &RequestHead, name: &str, hop: Option<String>) -> Option<String> {
    let parts: Vec<&str> = req
        .headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
        .chain(hop.as_deref())
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// RFC 7239 §6: an IPv6 node is `"[…]"` (quoted: `[`, `]` and `:` are not token characters).
fn node(address: IpAddr) -> String {
    match address {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("\"[{a}]\""),
    }
}

/// RFC 7239 §4: a value is a token or a quoted-string; a host with a port or an IPv6 literal is
/// not a token. (Hosts hold no `"` or `\`: `addressed` admits none.)
fn token_or_quoted(value: &str) -> String {
    let token = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if token {
        value.to_string()
    } else {
        format!("\"{value}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(url: &str, headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: "GET".into(),
            url: url.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn settings(mode: ForwardedMode, append: bool) -> ForwardedSettings {
        ForwardedSettings {
            mode,
            append_client_chain: append,
        }
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn x_forwarded_from_the_runtime_and_the_url() {
        let req = head(
            "https://api.example.com/orders?x=1",
            &[
                ("cf-connecting-ip", "203.0.113.7"),
                ("x-forwarded-for", "10.0.0.1"),
                ("x-forwarded-host", "evil.example"),
            ],
        );
        let s = settings(ForwardedMode::XForwarded, false);
        assert_eq!(
            forwarded_headers(&s, &req),
            pairs(&[
                ("x-forwarded-for", "203.0.113.7"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "api.example.com"),
                ("x-real-ip", "203.0.113.7"),
            ])
        );
    }

    #[test]
    fn no_runtime_address_no_invented_one() {
        for headers in [
            vec![],
            vec![("cf-connecting-ip", "not-an-ip")],
            vec![("cf-connecting-ip", "1.2.3.4, 5.6.7.8")],
            vec![
                ("cf-connecting-ip", "1.2.3.4"),
                ("cf-connecting-ip", "5.6.7.8"),
            ],
        ] {
            let req = head("http://gw.test:8787/x", &headers);
            assert_eq!(
                forwarded_headers(&settings(ForwardedMode::XForwarded, false), &req),
                pairs(&[
                    ("x-forwarded-proto", "http"),
                    ("x-forwarded-host", "gw.test:8787"),
                ]),
                "{headers:?}"
            );
            assert_eq!(
                forwarded_headers(&settings(ForwardedMode::Rfc7239, false), &req),
                pairs(&[("forwarded", "host=\"gw.test:8787\";proto=http")]),
            );
        }
    }

    #[test]
    fn rfc7239_quotes_what_is_not_a_token() {
        let req = head(
            "https://api.example.com/",
            &[
                ("cf-connecting-ip", "2001:db8::1"),
                ("forwarded", "for=10.0.0.4"),
            ],
        );
        assert_eq!(
            forwarded_headers(&settings(ForwardedMode::Rfc7239, false), &req),
            pairs(&[(
                "forwarded",
                "for=\"[2001:db8::1]\";host=api.example.com;proto=https"
            )])
        );
        let req = head("https://[::1]:8443/", &[("cf-connecting-ip", "192.0.2.1")]);
        assert_eq!(
            forwarded_headers(&settings(ForwardedMode::Rfc7239, false), &req),
            pairs(&[("forwarded", "for=192.0.2.1;host=\"[::1]:8443\";proto=https")])
        );
    }

    #[test]
    fn none_sets_nothing() {
        let req = head("https://a.example/", &[("cf-connecting-ip", "192.0.2.1")]);
        assert!(forwarded_headers(&settings(ForwardedMode::None, false), &req).is_empty());
    }

    #[test]
    fn append_keeps_the_client_chain() {
        let req = head(
            "https://a.example/",
            &[
                ("cf-connecting-ip", "192.0.2.1"),
                ("x-forwarded-for", "198.51.100.2, 10.0.0.1"),
                ("forwarded", "for=198.51.100.2"),
            ],
        );
        let x = forwarded_headers(&settings(ForwardedMode::XForwarded, true), &req);
        assert_eq!(
            x[0],
            (
                "x-forwarded-for".into(),
                "198.51.100.2, 10.0.0.1, 192.0.2.1".into()
            )
        );
        assert_eq!(x[3], ("x-real-ip".into(), "192.0.2.1".into()));
        let f = forwarded_headers(&settings(ForwardedMode::Rfc7239, true), &req);
        assert_eq!(
            f,
            pairs(&[(
                "forwarded",
                "for=198.51.100.2, for=192.0.2.1;host=a.example;proto=https"
            )])
        );
        // Nothing from the client and no runtime address: the chain is absent.
        let req = head("https://a.example/", &[]);
        let x = forwarded_headers(&settings(ForwardedMode::XForwarded, true), &req);
        assert!(x.iter().all(|(n, _)| n != "x-forwarded-for"));
    }

    #[test]
    fn modes_parse() {
        assert_eq!(
            ForwardedMode::parse("x-forwarded"),
            Some(ForwardedMode::XForwarded)
        );
        assert_eq!(
            ForwardedMode::parse("rfc7239"),
            Some(ForwardedMode::Rfc7239)
        );
        assert_eq!(ForwardedMode::parse("none"), Some(ForwardedMode::None));
        assert_eq!(ForwardedMode::parse("X-Forwarded"), None);
    }
}
