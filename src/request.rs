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
    /// The head from the runtime's headers as the entry module hands them over: one string of
    /// `name:value` lines, each ended by `\n` (names lower-case, as the Headers object yields them).
    /// A hand-written reader of this one shape, not a JSON parser: it runs on every request. The
    /// separators cannot occur inside a header (a name is a token; the runtime refuses CR, LF and
    /// NUL in values), so a line without `:`, or text after the last `\n`, means the runtime did not
    /// hand over what it should: `HeadersUnreadable`, never an empty or partial list that would
    /// strip nothing and forward whatever the client sent. `None` (the entry could not read the
    /// headers) is `HeadersUnreadable` too.
    pub fn from_header_lines(
        method: String,
        url: String,
        lines: Option<&str>,
    ) -> Result<Self, HeadersUnreadable> {
        let lines = lines.ok_or(HeadersUnreadable)?;
        let headers = if lines.is_empty() {
            Vec::new()
        } else {
            lines
                .strip_suffix('\n')
                .ok_or(HeadersUnreadable)?
                .split('\n')
                .map(|line| match line.split_once(':') {
                    Some((name, value)) if !name.is_empty() => {
                        Ok((name.to_string(), value.to_string()))
                    }
                    _ => Err(HeadersUnreadable),
                })
                .collect::<Result<Vec<_>, _>>()?
        };
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
