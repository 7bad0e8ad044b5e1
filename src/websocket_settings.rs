//! The WebSocket settings: the top-level `websocket` section and a route's `websocket` option,
//! parsed here so that `config` and `route` read them without importing the planner in
//! `websocket`, which reads routes and requests. Reference: docs/config.md, "WebSocket routes".

use serde_json::Value;

/// What ends a relayed socket besides its two ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CloseOn {
    /// Closed (1008) when the credential expires: the token's `exp` plus the issuer's leeway (the
    /// instant the gateway starts refusing it), or the API key's `expires_at`.
    pub expiry: bool,
    /// Closed (1008) within the revocation bound when the credential is revoked.
    pub revocation: bool,
}

impl CloseOn {
    pub fn any(self) -> bool {
        self.expiry || self.revocation
    }
}

/// A route's WebSocket option, resolved against the top-level defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WebSocketRoute {
    pub close_on: CloseOn,
}

/// The top-level `websocket` section: defaults for routes that say `websocket = true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WebSocketDefaults {
    pub close_on: CloseOn,
}

type FieldErrors = Vec<(String, String)>;

/// `{ close_on = [...] }`; any other key is an error at its own path.
fn parse_table(v: &Value, path: &str, errors: &mut FieldErrors) -> Option<CloseOn> {
    let Some(table) = v.as_object() else {
        errors.push((
            path.to_string(),
            "must be a table { close_on = [...] }".to_string(),
        ));
        return None;
    };
    let before = errors.len();
    for key in table.keys().filter(|k| *k != "close_on") {
        errors.push((
            format!("{path}.{key}"),
            "not a websocket option; the one option is close_on".to_string(),
        ));
    }
    let close_on = match table.get("close_on") {
        None => CloseOn::default(),
        Some(Value::Array(items)) => {
            let mut close_on = CloseOn::default();
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some("expiry") => close_on.expiry = true,
                    Some("revocation") => close_on.revocation = true,
                    _ => errors.push((
                        format!("{path}.close_on[{i}]"),
                        "must be \"expiry\" or \"revocation\"".to_string(),
                    )),
                }
            }
            close_on
        }
        Some(_) => {
            errors.push((
                format!("{path}.close_on"),
                "must be a list of \"expiry\", \"revocation\"".to_string(),
            ));
            CloseOn::default()
        }
    };
    (errors.len() == before).then_some(close_on)
}

/// The top-level `websocket` section (`{ close_on = [...] }`), default: close on nothing.
pub fn parse_defaults(v: Option<&Value>) -> (WebSocketDefaults, FieldErrors) {
    let mut errors = Vec::new();
    let close_on = match v {
        None => CloseOn::default(),
        Some(v) => parse_table(v, "websocket", &mut errors).unwrap_or_default(),
    };
    (WebSocketDefaults { close_on }, errors)
}

/// A route's `websocket` field: absent or `false` (off), `true` (on, with the top-level
/// `close_on`), or a table `{ close_on = [...] }` (on, with its own). `path` is the field's path.
/// A public route has no credential whose end could close a socket, so `true` there takes no
/// `close_on` from the defaults (an explicit one is refused by `check_route`).
pub fn parse_route_option(
    v: Option<&Value>,
    defaults: &WebSocketDefaults,
    public: bool,
    path: &str,
) -> (Option<WebSocketRoute>, FieldErrors) {
    let mut errors = Vec::new();
    let option = match v {
        None | Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) => Some(WebSocketRoute {
            close_on: if public {
                CloseOn::default()
            } else {
                defaults.close_on
            },
        }),
        Some(v @ Value::Object(_)) => {
            parse_table(v, path, &mut errors).map(|close_on| WebSocketRoute { close_on })
        }
        Some(_) => {
            errors.push((
                path.to_string(),
                "must be true, false or a table { close_on = [...] }".to_string(),
            ));
            None
        }
    };
    (option, errors)
}
