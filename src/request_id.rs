//! The request's id and its W3C trace context: one id per request — Cloudflare's `cf-ray` when it
//! has Cloudflare's shape, otherwise 128 bits from the CSPRNG — written in the request log line, in
//! every problem document as `instance` (`urn:portcullis:request:<id>`) and to the origin as
//! `x-request-id`, so a refusal a user reports is one search away from its log line.
//!
//! `cf-ray` is set by Cloudflare's edge, overwriting a client's copy; in front of `wrangler dev` or
//! Miniflare a client can send its own, so the value is used only when it has the ray's exact shape
//! (16 lower-case hex digits, `-`, a 3–4 letter upper-case data-centre code): it can then neither
//! inject anything into a header, a log line or a problem document, nor be mistaken for another
//! kind of id.
//!
//! A client's `x-request-id` (in any spelling an origin stack folds to that name) never reaches the
//! origin: the origin's logs must name the same request the gateway's do, and a client-chosen id
//! could name another user's request. W3C `traceparent`/`tracestate` pass through unchanged when
//! well-formed (Trace Context Level 2 §3.2, §3.3); a malformed `traceparent` is dropped together
//! with `tracestate` (a vendor "MUST NOT attempt to parse tracestate" then, §4.3), a malformed
//! `tracestate` alone; the gateway takes part in no trace and invents no span id.

use crate::reply::Reply;
use crate::request::RequestHead;

/// The header the origin reads the id from.
pub(crate) const HEADER: &str = "x-request-id";

const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// One request's id: printable ASCII from a fixed alphabet (hex digits, `-`, upper-case letters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The request's `cf-ray` when it has Cloudflare's shape, else a fresh id from `random`
    /// (the platform's CSPRNG): 32 lower-case hex digits.
    pub fn assign(cf_ray: Option<&str>, random: impl FnOnce(&mut [u8])) -> RequestId {
        if let Some(ray) = cf_ray.filter(|r| is_cf_ray(r)) {
            return RequestId(ray.to_string());
        }
        let mut bytes = [0u8; 16];
        random(&mut bytes);
        RequestId(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The id of the request `head` (its `cf-ray`, or a fresh one).
    pub fn for_head(head: &RequestHead, random: impl FnOnce(&mut [u8])) -> RequestId {
        let mut rays = head.headers_named("cf-ray");
        // Two `cf-ray` headers are not Cloudflare's doing: neither is trusted.
        let ray = rays.next().filter(|_| rays.next().is_none());
        RequestId::assign(ray, random)
    }

    /// An id this gateway assigned, handed back as text (the entry's forward decision,
    /// `edge::decision`): `None` unless it has one of the two shapes `assign` gives.
    pub fn from_issued(id: &str) -> Option<RequestId> {
        let generated =
            id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        (generated || is_cf_ray(id)).then(|| RequestId(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The problem document's `instance` member (RFC 9457 §3.1.5): a URI naming this occurrence.
    pub fn instance(&self) -> String {
        format!("urn:portcullis:request:{}", self.0)
    }

    /// Adds `instance` to `reply` when it is a problem document (the gateway's refusals, the admin
    /// API's, and those of every endpoint the gateway answers itself). The id's alphabet needs no
    /// JSON escaping, and the member goes last so the document's order is kept.
    pub fn stamp(&self, reply: &mut Reply) {
        if reply.header("content-type") != Some(PROBLEM_CONTENT_TYPE)
            || reply.body.contains("\"instance\":")
        {
            return;
        }
        let body = reply.body.trim_end();
        if let Some(open) = body.strip_suffix('}') {
            let sep = if open.trim_end().ends_with('{') {
                ""
            } else {
                ","
            };
            reply.body = format!("{open}{sep}\"instance\":\"{}\"}}", self.instance());
        }
    }
}

/// Cloudflare's Ray ID: 16 lower-case hex digits, `-`, the data centre's IATA code.
fn is_cf_ray(v: &str) -> bool {
    let Some((hex, colo)) = v.split_once('-') else {
        return false;
    };
    hex.len() == 16
        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && (3..=4).contains(&colo.len())
        && colo.bytes().all(|b| b.is_ascii_uppercase())
}

/// What the origin's request loses and gains for the id and the trace context: the client's
/// `x-request-id` (any folded spelling) and malformed trace headers go, the id comes.
pub(crate) struct OriginEdit {
    pub strip: Vec<String>,
    pub add: (String, String),
}

pub(crate) fn origin_edit(req: &RequestHead, id: &RequestId) -> OriginEdit {
    let mut strip: Vec<String> = Vec::new();
    let mut push = |name: &str| {
        if !strip.iter().any(|n| n == name) {
            strip.push(name.to_string());
        }
    };
    for (name, _) in &req.headers {
        if crate::pipeline::client_headers::fold(name) == HEADER {
            push(name);
        }
    }
    let parents: Vec<&str> = req.headers_named("traceparent").collect();
    // Several `traceparent` headers are one invalid list, as the runtime joins them.
    let parent_ok = matches!(parents.as_slice(), [one] if is_traceparent(one));
    if !parent_ok {
        if !parents.is_empty() {
            push("traceparent");
        }
        if req.headers_named("tracestate").next().is_some() {
            push("tracestate");
        }
    } else {
        // Several `tracestate` headers are one list (§3.3.1.1): judged joined, as the runtime
        // forwards them.
        let state: Vec<&str> = req.headers_named("tracestate").collect();
        if !state.is_empty() && !is_tracestate(&state.join(",")) {
            push("tracestate");
        }
    }
    OriginEdit {
        strip,
        add: (HEADER.to_string(), id.as_str().to_string()),
    }
}

fn lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// W3C Trace Context `traceparent` (§3.2): `version-trace_id-parent_id-flags`, lower-case hex,
/// version `ff` and all-zero ids invalid. A version above `00` may carry more after a `-`
/// (§4.3: parse the first 55 characters; the next, if any, must be `-`).
pub fn is_traceparent(v: &str) -> bool {
    if v.len() < 55 || !v.is_char_boundary(55) {
        return false;
    }
    let (head, rest) = v.split_at(55);
    let parts: Vec<&str> = head.split('-').collect();
    let [version, trace_id, parent_id, flags] = parts.as_slice() else {
        return false;
    };
    lower_hex(version, 2)
        && *version != "ff"
        && (rest.is_empty() || (*version != "00" && rest.starts_with('-')))
        && lower_hex(trace_id, 32)
        && trace_id.bytes().any(|b| b != b'0')
        && lower_hex(parent_id, 16)
        && parent_id.bytes().any(|b| b != b'0')
        && lower_hex(flags, 2)
}

/// W3C Trace Context `tracestate` (§3.3): at most 32 list members `key=value`, separated by `,`
/// with optional spaces or tabs, keys unique; empty members allowed.
pub fn is_tracestate(v: &str) -> bool {
    let mut keys: Vec<&str> = Vec::new();
    for member in v.split(',') {
        let member = member.trim_matches([' ', '\t']);
        if member.is_empty() {
            continue;
        }
        let Some((key, value)) = member.split_once('=') else {
            return false;
        };
        if !is_tracestate_key(key) || !is_tracestate_value(value) || keys.contains(&key) {
            return false;
        }
        keys.push(key);
    }
    keys.len() <= 32
}

fn is_tracestate_key(key: &str) -> bool {
    let rest_ok = |s: &str| {
        s.bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/'))
    };
    match key.split_once('@') {
        None => {
            (1..=256).contains(&key.len()) && key.as_bytes()[0].is_ascii_lowercase() && rest_ok(key)
        }
        Some((tenant, system)) => {
            (1..=241).contains(&tenant.len())
                && matches!(tenant.as_bytes()[0], b'a'..=b'z' | b'0'..=b'9')
                && rest_ok(tenant)
                && (1..=14).contains(&system.len())
                && system.as_bytes()[0].is_ascii_lowercase()
                && rest_ok(system)
        }
    }
}

/// `value = 0*255(chr) nblk-chr`: printable ASCII without `,` and `=`, spaces allowed inside but
/// not at the end.
fn is_tracestate_value(value: &str) -> bool {
    (1..=256).contains(&value.len())
        && !value.ends_with(' ')
        && value
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A plan's `add` without its last entry, which must be the gateway's `x-request-id` (32 hex
    /// digits, as the test platform's generator makes it): the part other tests compare exactly.
    pub(crate) fn without_request_id(add: &[(String, String)]) -> Vec<(String, String)> {
        let (last, rest) = add.split_last().expect("the plan adds headers");
        assert_eq!(last.0, HEADER);
        assert!(lower_hex(&last.1, 32), "{last:?}");
        rest.to_vec()
    }

    fn head(headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: "GET".into(),
            url: "https://gw.example/x".into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn fixed(buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = i as u8 + 0xa0;
        }
    }

    #[test]
    fn a_cf_ray_of_cloudflare_shape_is_the_id() {
        let id = RequestId::assign(Some("8f0b4a6c3d2e1f00-SJC"), fixed);
        assert_eq!(id.as_str(), "8f0b4a6c3d2e1f00-SJC");
        assert_eq!(id.instance(), "urn:portcullis:request:8f0b4a6c3d2e1f00-SJC");
        for bad in [
            "8F0B4A6C3D2E1F00-SJC",
            "8f0b4a6c3d2e1f0-SJC",
            "8f0b4a6c3d2e1f000-SJC",
            "8f0b4a6c3d2e1f00-sjc",
            "8f0b4a6c3d2e1f00-SJCXY",
            "8f0b4a6c3d2e1f00",
            "8f0b4a6c3d2e1f00-SJ\"",
            "8f0b4a6c3d2e1f00-SJC\r\nx-user-id: admin",
            "",
        ] {
            let id = RequestId::assign(Some(bad), fixed);
            assert_eq!(id.as_str(), "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf", "{bad:?}");
        }
        assert_eq!(RequestId::assign(None, fixed).as_str().len(), 32);
        let two = head(&[
            ("cf-ray", "8f0b4a6c3d2e1f00-SJC"),
            ("cf-ray", "8f0b4a6c3d2e1f01-SJC"),
        ]);
        assert_eq!(RequestId::for_head(&two, fixed).as_str().len(), 32);
        let one = head(&[("cf-ray", "8f0b4a6c3d2e1f00-SJC")]);
        assert_eq!(
            RequestId::for_head(&one, fixed).as_str(),
            "8f0b4a6c3d2e1f00-SJC"
        );
    }

    #[test]
    fn an_issued_id_comes_back_only_in_an_issued_shape() {
        for issued in [
            RequestId::assign(None, fixed),
            RequestId::assign(Some("8f0b4a6c3d2e1f00-SJC"), fixed),
        ] {
            assert_eq!(RequestId::from_issued(issued.as_str()), Some(issued));
        }
        for bad in [
            "",
            "A0A1A2A3A4A5A6A7A8A9AAABACADAEAF",
            "a0a1a2a3a4a5a6a7a8a9aaabacadaea",
            "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf0",
            "a0a1a2a3a4a5a6a7a8a9aaabacadae\"}",
            "8f0b4a6c3d2e1f00-sjc",
            "8f0b4a6c3d2e1f00-SJC\nx",
        ] {
            assert_eq!(RequestId::from_issued(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn problem_documents_get_the_instance_and_nothing_else_does() {
        let id = RequestId::assign(None, fixed);
        let mut refusal = crate::problem::Problem::new(
            crate::problem::ErrorCode::TokenMissing,
            "a bearer token is required",
        )
        .reply();
        let unstamped = refusal.body.clone();
        id.stamp(&mut refusal);
        let doc: serde_json::Value = serde_json::from_str(&refusal.body).unwrap();
        assert_eq!(doc["instance"], id.instance());
        assert_eq!(doc["code"], "token_missing");
        // Appended: the document's members keep their order.
        assert!(refusal.body.starts_with(unstamped.trim_end_matches('}')));
        // Once only.
        let before = refusal.body.clone();
        id.stamp(&mut refusal);
        assert_eq!(refusal.body, before);
        let mut json = Reply::json(200, &serde_json::json!({"a": 1}));
        id.stamp(&mut json);
        assert_eq!(json.body, "{\"a\":1}");
        let mut empty = Reply {
            status: 400,
            headers: vec![("content-type".into(), PROBLEM_CONTENT_TYPE.into())],
            body: "{}".into(),
        };
        id.stamp(&mut empty);
        let doc: serde_json::Value = serde_json::from_str(&empty.body).unwrap();
        assert_eq!(doc["instance"], id.instance());
    }

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_follows_the_w3c_grammar() {
        assert!(is_traceparent(PARENT));
        assert!(is_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
        ));
        // A later version may carry more after a `-`.
        assert!(is_traceparent(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds"
        ));
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "0-04bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01, 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b\u{e9}-01",
        ] {
            assert!(!is_traceparent(bad), "{bad:?}");
        }
    }

    #[test]
    fn tracestate_follows_the_w3c_grammar() {
        for good in [
            "",
            "congo=t61rcWkgMzE",
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
            "rojo=00f067aa0ba902b7 ,\tcongo=t61rcWkgMzE",
            "tenant1@vendor=x y",
            "a=1,,b=2",
            "0tenant@sys=1",
        ] {
            assert!(is_tracestate(good), "{good:?}");
        }
        let too_many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        let just_enough: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
        assert!(is_tracestate(&just_enough.join(",")));
        for bad in [
            "Rojo=1".to_string(),
            "rojo".to_string(),
            "rojo=".to_string(),
            "rojo=a,rojo=b".to_string(),
            "rojo=a=b".to_string(),
            "rojo=a b=c".to_string(),
            "rojo=\u{e9}".to_string(),
            "0tenant=1".to_string(),
            "t@Sys=1".to_string(),
            "t@systemnameistoolong=1".to_string(),
            too_many.join(","),
        ] {
            assert!(!is_tracestate(&bad), "{bad:?}");
        }
    }

    #[test]
    fn the_origin_gets_the_gateway_id_and_only_wellformed_trace_context() {
        let id = RequestId::assign(Some("8f0b4a6c3d2e1f00-SJC"), fixed);
        let edit = origin_edit(
            &head(&[
                ("x-request-id", "client-chosen"),
                ("x_request_id", "client-chosen"),
                ("X.Request.Id", "client-chosen"),
                ("traceparent", PARENT),
                ("tracestate", "rojo=1"),
            ]),
            &id,
        );
        assert_eq!(edit.strip, ["x-request-id", "x_request_id", "X.Request.Id"]);
        assert_eq!(
            edit.add,
            (
                "x-request-id".to_string(),
                "8f0b4a6c3d2e1f00-SJC".to_string()
            )
        );
        // A bad traceparent takes tracestate with it.
        let edit = origin_edit(
            &head(&[("traceparent", "00-bad"), ("tracestate", "rojo=1")]),
            &id,
        );
        assert_eq!(edit.strip, ["traceparent", "tracestate"]);
        // No traceparent: tracestate alone means nothing.
        let edit = origin_edit(&head(&[("tracestate", "rojo=1")]), &id);
        assert_eq!(edit.strip, ["tracestate"]);
        // A bad tracestate goes alone.
        let edit = origin_edit(
            &head(&[("traceparent", PARENT), ("tracestate", "Rojo=1")]),
            &id,
        );
        assert_eq!(edit.strip, ["tracestate"]);
        // Two traceparents are invalid.
        let edit = origin_edit(
            &head(&[("traceparent", PARENT), ("traceparent", PARENT)]),
            &id,
        );
        assert_eq!(edit.strip, ["traceparent"]);
    }
}
