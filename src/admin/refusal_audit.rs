//! Audit lines for admin calls the pipeline refuses before they reach the admin API: a caller
//! that could not authenticate (`admin.unauthenticated`: 401, or 503 when a check could not be
//! completed) and an authenticated caller without the admin scope (`admin.forbidden`: 403, a
//! privilege-escalation attempt). The admin API audits every call it serves; these make "every
//! admin call is audited" true for the calls it never sees.
//!
//! The same line as a served call's (`audit::Audit`), plus the method and the path as the access
//! log shows it (`path::loggable`: never the query, no `;` parameters — a session id
//! travels as `;jsessionid=…` — at most 200 characters).

use serde_json::json;

use crate::identity::Identity;
use crate::platform::Platform;
use crate::problem::Problem;

use super::audit::Audit;

pub(crate) fn audit_refused_call<P: Platform>(
    platform: &P,
    actor: Option<&Identity>,
    method: &str,
    path: &str,
    problem: &Problem,
) {
    let mut audit = Audit::new(if actor.is_some() {
        "admin.forbidden"
    } else {
        "admin.unauthenticated"
    });
    audit.add("method", json!(method));
    audit.add("path", json!(crate::path::loggable(path)));
    audit.write(platform, actor, problem.status(), Some(problem.code));
}
