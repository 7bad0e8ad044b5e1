//! Claim conditions per route (`routes[].require`): `require = { tenant = "acme", roles = { any =
//! ["admin", "ops"] }, email_verified = true }`. Equality with a string, number or boolean, and
//! `any`/`all` membership — nothing more: no expression language, no regex, no negation. Every
//! condition must hold; the first that does not refuses the request with 403
//! `claim_requirement_failed`, naming the claim (never its value, nor the value required).
//!
//! JWTs are judged on their claims (a name is a claim path, `org.id`), opaque tokens on the members
//! of their introspection answer (read the same way); API keys on their record's `metadata`, whose
//! values are strings: a name is looked up verbatim as a metadata key.
//!
//! - `name = value`: the claim is that exact string, boolean or number (`5` and `5.0` are equal;
//!   `"true"` is not `true`).
//! - `name = { any = [...] }`: the claim — an array, or one value taken as a list of one — holds at
//!   least one of the listed values.
//! - `name = { all = [...] }`: it holds every listed value.
//!
//! An absent claim, or one of another type, fails the condition.

use serde_json::Value;

use super::path::ClaimPath;

/// At most this many conditions per route.
pub(crate) const MAX_CONDITIONS: usize = 32;
/// At most this many values in one `any`/`all` list.
pub(crate) const MAX_LIST: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    Equals(Value),
    Any(Vec<Value>),
    All(Vec<Value>),
}

/// One `require` entry: a claim and what it must be.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub claim: ClaimPath,
    pub expect: Expect,
}

/// The claim values an identity carries for the routes' conditions: the claim path's text (a JWT)
/// or the metadata key (an API key), and the value.
pub type ClaimValues = Vec<(String, Value)>;

/// Parses a route's `require` table; errors carry the path below `base` (`routes[1].require`).
pub(crate) fn parse_conditions(
    value: &Value,
    base: &str,
) -> Result<Vec<Condition>, Vec<(String, String)>> {
    let Value::Object(table) = value else {
        return Err(vec![(
            base.to_string(),
            "must be a table of claim = value, claim = { any = [...] } or claim = { all = [...] }"
                .into(),
        )]);
    };
    let mut errors = Vec::new();
    let mut conditions = Vec::new();
    if table.len() > MAX_CONDITIONS {
        errors.push((
            base.to_string(),
            format!("at most {MAX_CONDITIONS} conditions"),
        ));
    }
    for (name, v) in table {
        let path = format!("{base}.{name}");
        let claim = match ClaimPath::parse(name) {
            Ok(c) => c,
            Err(m) => {
                errors.push((path, format!("not a claim path: {m}")));
                continue;
            }
        };
        match expectation(v) {
            Ok(expect) => conditions.push(Condition { claim, expect }),
            Err(m) => errors.push((path, m)),
        }
    }
    if errors.is_empty() {
        Ok(conditions)
    } else {
        Err(errors)
    }
}

fn is_scalar(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

fn expectation(v: &Value) -> Result<Expect, String> {
    if is_scalar(v) {
        return Ok(Expect::Equals(v.clone()));
    }
    let shape = "must be a string, number or boolean (equality), or { any = [...] } / { all = [...] } (membership): nothing else";
    let Value::Object(op) = v else {
        return Err(shape.into());
    };
    let mut members = op.iter();
    let (Some((kind, list)), None) = (members.next(), members.next()) else {
        return Err(shape.into());
    };
    let Value::Array(list) = list else {
        return Err(shape.into());
    };
    if list.is_empty() || list.len() > MAX_LIST || !list.iter().all(is_scalar) {
        return Err(format!(
            "{kind} lists 1 to {MAX_LIST} strings, numbers or booleans"
        ));
    }
    match kind.as_str() {
        "any" => Ok(Expect::Any(list.clone())),
        "all" => Ok(Expect::All(list.clone())),
        _ => Err(shape.into()),
    }
}

/// Strings, booleans and numbers compare by value; numbers numerically (`5` = `5.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        _ => a == b,
    }
}

impl Condition {
    /// Whether `value` (the claim, `None` when absent) satisfies the condition.
    pub fn holds(&self, value: Option<&Value>) -> bool {
        let Some(value) = value else {
            return false;
        };
        let held: &[Value] = match value {
            Value::Array(items) => items,
            scalar if is_scalar(scalar) => std::slice::from_ref(scalar),
            _ => return false,
        };
        let contains = |want: &Value| held.iter().any(|h| same(h, want));
        match &self.expect {
            Expect::Equals(want) => is_scalar(value) && same(value, want),
            Expect::Any(list) => list.iter().any(contains),
            Expect::All(list) => list.iter().all(contains),
        }
    }
}

/// The first condition `claims` do not satisfy, if any.
pub fn first_unmet<'c>(conditions: &'c [Condition], claims: &ClaimValues) -> Option<&'c Condition> {
    conditions.iter().find(|c| {
        let value = claims
            .iter()
            .find(|(name, _)| name == c.claim.as_str())
            .map(|(_, v)| v);
        !c.holds(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conditions(v: Value) -> Vec<Condition> {
        parse_conditions(&v, "routes[0].require").unwrap()
    }

    fn unmet(conds: &[Condition], claims: Value) -> Option<String> {
        let claims: ClaimValues = claims
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        first_unmet(conds, &claims).map(|c| c.claim.as_str().to_string())
    }

    #[test]
    fn the_issue_example() {
        let c = conditions(json!({
            "tenant": "acme",
            "roles": { "any": ["admin", "ops"] },
            "email_verified": true,
        }));
        assert_eq!(
            unmet(
                &c,
                json!({"tenant": "acme", "roles": ["ops"], "email_verified": true})
            ),
            None
        );
        assert_eq!(
            unmet(
                &c,
                json!({"tenant": "evil", "roles": ["ops"], "email_verified": true})
            ),
            Some("tenant".into())
        );
        assert_eq!(
            unmet(
                &c,
                json!({"tenant": "acme", "roles": ["viewer"], "email_verified": true})
            ),
            Some("roles".into())
        );
        assert_eq!(
            unmet(
                &c,
                json!({"tenant": "acme", "roles": ["ops"], "email_verified": "true"})
            ),
            Some("email_verified".into())
        );
        assert_eq!(
            unmet(&c, json!({"tenant": "acme", "roles": ["ops"]})),
            Some("email_verified".into())
        );
    }

    #[test]
    fn equality_any_and_all() {
        let eq = |want: Value, have: Value| {
            Condition {
                claim: ClaimPath::parse("c").unwrap(),
                expect: Expect::Equals(want),
            }
            .holds(Some(&have))
        };
        assert!(eq(json!("a"), json!("a")));
        assert!(!eq(json!("a"), json!("A")));
        assert!(!eq(json!("a"), json!(["a"])));
        assert!(eq(json!(5), json!(5.0)));
        assert!(eq(json!(5), json!(5)));
        assert!(!eq(json!(5), json!("5")));
        assert!(!eq(json!(true), json!("true")));
        assert!(eq(json!(u64::MAX), json!(u64::MAX)));
        assert!(!eq(json!(u64::MAX), json!(u64::MAX - 1)));
        assert!(!eq(json!("a"), json!(null)));
        assert!(!eq(json!("a"), json!({"a": 1})));

        let any = Condition {
            claim: ClaimPath::parse("c").unwrap(),
            expect: Expect::Any(vec![json!("admin"), json!("ops")]),
        };
        assert!(any.holds(Some(&json!(["x", "ops"]))));
        assert!(any.holds(Some(&json!("admin"))));
        assert!(!any.holds(Some(&json!(["x"]))));
        assert!(!any.holds(Some(&json!([]))));
        assert!(!any.holds(Some(&json!({"admin": true}))));
        assert!(!any.holds(None));

        let all = Condition {
            claim: ClaimPath::parse("c").unwrap(),
            expect: Expect::All(vec![json!("admin"), json!("ops")]),
        };
        assert!(all.holds(Some(&json!(["ops", "x", "admin"]))));
        assert!(!all.holds(Some(&json!(["ops"]))));
        assert!(!all.holds(Some(&json!("admin"))));
    }

    #[test]
    fn only_the_three_forms_are_configurable() {
        for bad in [
            json!({"c": null}),
            json!({"c": ["a"]}),
            json!({"c": {"any": []}}),
            json!({"c": {"any": "a"}}),
            json!({"c": {"any": [["a"]]}}),
            json!({"c": {"none": ["a"]}}),
            json!({"c": {"regex": ".*"}}),
            json!({"c": {"any": ["a"], "all": ["b"]}}),
            json!({"a..b": "x"}),
            json!("tenant = acme"),
        ] {
            let errors = parse_conditions(&bad, "routes[0].require").unwrap_err();
            assert!(
                errors[0].0.starts_with("routes[0].require"),
                "{bad}: {errors:?}"
            );
        }
        let errors =
            parse_conditions(&json!({"roles": {"any": []}}), "routes[2].require").unwrap_err();
        assert_eq!(errors[0].0, "routes[2].require.roles");
    }
}
