//! The one audit line of an admin call, served or refused: `{"audit": "<action>", …}` naming who
//! (when known), the outcome and its status and code, plus the call's own fields — never a secret:
//! an actor is named by subject, key id and issuer, a key by its id.

use serde_json::{json, Map, Value};

use crate::identity::Identity;
use crate::platform::Platform;
use crate::problem::ErrorCode;

/// What one call did, built up while it runs and written once at its end.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Audit {
    action: &'static str,
    fields: Map<String, Value>,
}

impl Audit {
    pub(crate) fn new(action: &'static str) -> Self {
        Audit {
            action,
            fields: Map::new(),
        }
    }

    pub(crate) fn add(&mut self, name: &str, value: Value) {
        self.fields.insert(name.into(), value);
    }

    /// Writes the line. `actor` is `None` for a caller that could not authenticate; `code` is the
    /// refusal's, `None` for a success.
    pub(crate) fn write<P: Platform>(
        &self,
        platform: &P,
        actor: Option<&Identity>,
        status: u16,
        code: Option<ErrorCode>,
    ) {
        let outcome = match status {
            s if s < 400 => "success",
            s if s >= 500 => "error",
            _ => "refused",
        };
        let mut line = Map::new();
        line.insert("audit".into(), json!(self.action));
        line.insert("ts".into(), json!(platform.now_secs()));
        match actor {
            Some(actor) => {
                line.insert("actor".into(), json!(actor.subject));
                line.insert("actor_method".into(), json!(actor.method.as_str()));
                if let Some(k) = &actor.key_id {
                    line.insert("actor_key_id".into(), json!(k));
                }
                if let Some(iss) = &actor.issuer {
                    line.insert("actor_issuer".into(), json!(iss));
                }
            }
            None => {
                line.insert("actor".into(), Value::Null);
            }
        }
        line.insert("outcome".into(), json!(outcome));
        line.insert("status".into(), json!(status));
        if status >= 400 {
            line.insert("code".into(), json!(code.map(ErrorCode::as_str)));
        }
        for (k, v) in &self.fields {
            line.insert(k.clone(), v.clone());
        }
        platform.log(&Value::Object(line).to_string());
    }
}
