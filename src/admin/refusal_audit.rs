//! Audit lines for admin calls the pipeline refuses before they reach the admin API: a caller
//! that could not authenticate (`admin.unauthenticated`: 401, or 503 when a check could not be
//! completed) and an authenticated caller without the admin scope (`admin.forbidden`: 403, a
//! privilege-escalation attempt). The admin API audits every call it serves (`audit_line`); these
//! make "every admin call is audited" true for the calls it never sees.
//!
//! Same shape as `audit_line`: who (when known), what (method and path, never the query), the
//! outcome and its code. Never a credential: an actor is named by subject, key id and issuer.

use serde_json::{json, Value};

use crate::identity::Identity;
use crate::platform::Platform;
use crate::problem::Problem;

/// The longest path an audit line carries (the path is the caller's input).
const MAX_PATH_CHARS: usize = 200;

pub fn audit_refused_call<P: Platform>(
    platform: &P,
    actor: Option<&Identity>,
    method: &str,
    path: &str,
    problem: &Problem,
) {
    let status = problem.status();
    let mut line = serde_json::Map::new();
    let action = if actor.is_some() {
        "admin.forbidden"
    } else {
        "admin.unauthenticated"
    };
    line.insert("audit".into(), json!(action));
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
    let outcome = if status >= 500 { "error" } else { "refused" };
    line.insert("outcome".into(), json!(outcome));
    line.insert("status".into(), json!(status));
    line.insert("code".into(), json!(problem.code.as_str()));
    line.insert("method".into(), json!(method));
    line.insert(
        "path".into(),
        json!(crate::pipeline::parse::truncate(path, MAX_PATH_CHARS)),
    );
    platform.log(&Value::Object(line).to_string());
}
