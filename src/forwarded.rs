//! The forwarding headers the gateway sets for the origin, from facts the client cannot forge:
//! the client's address as the runtime reports it (`CF-Connecting-IP`, set by Cloudflare's edge
//! from the connection) and the scheme and host of the URL the client addressed. Every client copy
//! of a forwarding header is stripped first (`client_headers::FORWARDING`), on every route.

use crate::request::RequestHead;
use crate::url::split_url;

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

/// The client's address as the runtime states it, in its textual form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAddress<'a> {
    V4(&'a str),
    V6(&'a str),
}

impl<'a> ClientAddress<'a> {
    fn as_str(self) -> &'a str {
        match self {
            ClientAddress::V4(a) | ClientAddress::V6(a) => a,
        }
    }
}

/// The runtime's statement of the client's address: `CF-Connecting-IP`, when it holds exactly one
/// IP address. Absent (or not an address): the gateway names no client address rather than
/// invent one. (Checked by hand rather than with `std::net::IpAddr`, whose parser and formatter
/// cost the worker several KB of wasm; a test holds the two to the same verdicts.)
pub(crate) fn client_address(req: &RequestHead) -> Option<ClientAddress<'_>> {
    let mut values = req.headers_named("cf-connecting-ip");
    let value = values.next()?.trim();
    if values.next().is_some() {
        return None;
    }
    if is_ipv4(value) {
        Some(ClientAddress::V4(value))
    } else if is_ipv6(value) {
        Some(ClientAddress::V6(value))
    } else {
        None
    }
}

/// Dotted decimal, four octets of at most 255, no leading zeros (as `std::net::Ipv4Addr`).
fn is_ipv4(s: &str) -> bool {
    let mut octets = 0;
    for part in s.split('.') {
        octets += 1;
        let ok = octets <= 4
            && (1..=3).contains(&part.len())
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part.len() == 1 || !part.starts_with('0'))
            && part.parse::<u16>().is_ok_and(|v| v <= 255);
        if !ok {
            return false;
        }
    }
    octets == 4
}

/// RFC 4291 §2.2 text forms: eight groups of 1–4 hex digits, one `::` standing for at least one
/// zero group, and an optional dotted IPv4 tail worth two groups. No zone id.
fn is_ipv6(s: &str) -> bool {
    if s.len() > 45 {
        return false;
    }
    match s.split_once("::") {
        Some((head, tail)) => {
            if tail.contains("::") {
                return false;
            }
            // The IPv4 tail ends the address, so it can only follow the `::`.
            match (groups(head, false), groups(tail, true)) {
                (Some(h), Some(t)) => h + t <= 7,
                _ => false,
            }
        }
        None => groups(s, true) == Some(8),
    }
}

/// How many 16-bit groups `part` (colon-separated, possibly empty) holds, if it is well-formed.
fn groups(part: &str, v4_tail_allowed: bool) -> Option<usize> {
    if part.is_empty() {
        return Some(0);
    }
    let mut count = 0;
    let mut pieces = part.split(':').peekable();
    while let Some(piece) = pieces.next() {
        let last = pieces.peek().is_none();
        if last && v4_tail_allowed && piece.contains('.') {
            if !is_ipv4(piece) {
                return None;
            }
            count += 2;
        } else if (1..=4).contains(&piece.len()) && piece.bytes().all(|b| b.is_ascii_hexdigit()) {
            count += 1;
        } else {
            return None;
        }
    }
    Some(count)
}

/// The headers the origin receives from the gateway about the client's hop (lower-case names).
pub(crate) fn forwarded_headers(
    settings: &ForwardedSettings,
    req: &RequestHead,
) -> Vec<(String, String)> {
    let address = client_address(req);
    let (proto, host) = addressed(&req.url);
    let mut out = Vec::new();
    match settings.mode {
        ForwardedMode::None => {}
        ForwardedMode::XForwarded => {
            let hop = address.map(|a| a.as_str().to_string());
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
                out.push(("x-real-ip".to_string(), a.as_str().to_string()));
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
fn node(address: ClientAddress<'_>) -> String {
    match address {
        ClientAddress::V4(a) => a.to_string(),
        ClientAddress::V6(a) => format!("\"[{a}]\""),
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
    fn address_syntax_agrees_with_std() {
        let corpus = [
            "0.0.0.0",
            "203.0.113.7",
            "255.255.255.255",
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.2.3.04",
            "1..3.4",
            "1.2.3.4 ",
            "+1.2.3.4",
            "1.2.3.-4",
            "",
            "::",
            "::1",
            "1::",
            "2001:db8::1",
            "2001:DB8:0:0:0:0:0:1",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7",
            "1:2:3:4:5:6:7::",
            "::1:2:3:4:5:6:7",
            "1::2::3",
            ":1::2",
            "1::2:",
            "12345::1",
            "g::1",
            "::ffff:192.0.2.1",
            "::ffff:192.0.2.256",
            "1:2:3:4:5:6:1.2.3.4",
            "1:2:3:4:5:6:7:1.2.3.4",
            "1.2.3.4::",
            "1.2.3.4::1",
            "::1.2.3.4:1",
            "fe80::1%eth0",
            "[::1]",
            ":::",
            "0:0:0:0:0:0:0:0",
            "::0.0.0.0",
            "a:b:c:d:e:f:0:1",
            "1111:2222:3333:4444:5555:6666:123.123.123.123",
            "not-an-ip",
        ];
        for s in corpus {
            let std_v4 = s.parse::<std::net::Ipv4Addr>().is_ok();
            let std_v6 = s.parse::<std::net::Ipv6Addr>().is_ok();
            assert_eq!((is_ipv4(s), is_ipv6(s)), (std_v4, std_v6), "{s:?}");
        }
        // Every byte string of a small alphabet up to length 5 — the shapes `::`, `.` and digits
        // make — gets std's verdict.
        let alphabet = [b'0', b'1', b'f', b':', b'.'];
        let mut strings = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> = strings
                .iter()
                .flat_map(|s| alphabet.iter().map(move |&b| format!("{s}{}", b as char)))
                .collect();
            for s in &longer {
                let std_v4 = s.parse::<std::net::Ipv4Addr>().is_ok();
                let std_v6 = s.parse::<std::net::Ipv6Addr>().is_ok();
                assert_eq!((is_ipv4(s), is_ipv6(s)), (std_v4, std_v6), "{s:?}");
            }
            strings = longer;
        }
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
