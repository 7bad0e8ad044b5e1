//! The request head as the runtime hands it over: a building block below the pipeline, so the
//! services that read a request (`origin`, `websocket`, the forwarded headers) need not import the
//! pipeline that runs them.

use crate::problem::{ErrorCode, Problem};

/// The request head as the runtime received it. Header names are lower-case.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// The runtime could not hand over the request's headers. Every header decision (what to strip,
/// which credential was presented) reads them, so such a request is refused, never forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadersUnreadable;

impl From<HeadersUnreadable> for Problem {
    fn from(_: HeadersUnreadable) -> Self {
        Problem::new(
            ErrorCode::RequestHeadersUnreadable,
            "the gateway could not read this request's headers; it was not forwarded",
        )
    }
}

impl RequestHead {
    /// The head from the runtime's headers serialized as a JSON array of `[name, value]` pairs
    /// (`JSON.stringify(Array.from(headers))`). `None` (serialization failed) or anything but such
    /// an array is `HeadersUnreadable`: an empty list would strip nothing and forward whatever the
    /// client sent.
    pub fn from_header_json(
        method: String,
        url: String,
        pairs_json: Option<&str>,
    ) -> Result<Self, HeadersUnreadable> {
        let headers = pairs_json
            .and_then(|json| serde_json::from_str::<Vec<(String, String)>>(json).ok())
            .ok_or(HeadersUnreadable)?;
        Ok(RequestHead {
            method,
            url,
            headers,
        })
    }

    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The first `max` characters of request text quoted in a message or a log line.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
