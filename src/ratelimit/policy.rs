//! Named rate-limit policies as the configuration writes them: `"100 per 60 s, burst 20"`, or the
//! same as structured fields, plus the mode (`exact` | `fast`), the failure policy (`on_error`) and
//! what is counted (`key`). Parsing never panics; every problem is reported with its field path.

use serde::Deserialize;
use serde_json::Value;

pub const MAX_NAME_LEN: usize = 64;
pub const MAX_LIMIT: u64 = 1_000_000;
pub const MAX_BURST: u64 = 1_000_000;
/// 30 days.
pub const MAX_PERIOD_SECS: u64 = 2_592_000;
pub const MIN_LEASE_TTL_MS: u64 = 100;
pub const MAX_LEASE_TTL_MS: u64 = 60_000;
pub const DEFAULT_LEASE_TTL_MS: u64 = 2_000;

/// The sustained rate and the bucket depth: on average `limit` units per `period_ms`, and at most
/// `burst` units at one instant (GCRA; see `gcra`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub limit: u64,
    pub period_ms: u64,
    pub burst: u64,
}

impl Rate {
    pub fn period_secs(&self) -> u64 {
        self.period_ms / 1000
    }
}

/// Who decides each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The identity's Durable Object decides every request: never more than the policy allows,
    /// at the cost of one round trip per request.
    Exact,
    /// The isolate decides from a leased share of the budget and settles with the Durable Object
    /// in the background: no round trip on the request path, bounded overshoot.
    Fast,
}

/// What happens when the limiter cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// 503 `rate_limiter_unavailable` (the default: fail closed).
    Deny,
    /// Serve the request unlimited (and log it).
    Allow,
}

/// What the budget is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountingKey {
    /// The authenticated identity (`Identity::rate_limit_key`): API key id, or JWT issuer + subject.
    Identity,
    /// The client IP (`CF-Connecting-IP`): only for anonymous public routes, and only when a policy
    /// says so explicitly.
    Ip,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub rate: Rate,
    pub mode: Mode,
    pub on_error: OnError,
    pub key: CountingKey,
    /// `fast` only: units an isolate leases from the Durable Object at a time, which is also the
    /// most it admits on credit before it hears back (the per-isolate overshoot bound).
    pub lease: u64,
    /// `fast` only: how long leased units stay usable; unused ones are handed back.
    pub lease_ttl_ms: u64,
}

/// `(path relative to the policy, message)`.
pub type PolicyError = (String, String);

/// A policy name as it appears in headers and logs: 1–64 of `A-Z a-z 0-9 . _ -`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    rate: Option<String>,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    period_seconds: Option<u64>,
    #[serde(default)]
    burst: Option<u64>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    on_error: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    lease: Option<u64>,
    #[serde(default)]
    lease_ttl_ms: Option<u64>,
}

/// Parses one policy: a rate string (`"100 per 60 s, burst 20"`, all else default) or an object.
/// Errors name the field relative to the policy (`""` for the policy itself, `"limit"`, …).
pub fn parse_policy(name: &str, v: &Value) -> Result<Policy, Vec<PolicyError>> {
    let mut errors = Vec::new();
    if !valid_name(name) {
        errors.push((
            String::new(),
            format!("policy names are 1 to {MAX_NAME_LEN} characters of A-Z a-z 0-9 . _ -"),
        ));
    }
    let raw = match v {
        Value::String(s) => RawPolicy {
            rate: Some(s.clone()),
            limit: None,
            period_seconds: None,
            burst: None,
            mode: None,
            on_error: None,
            key: None,
            lease: None,
            lease_ttl_ms: None,
        },
        // Paths relative to the policy: its caller prefixes `rate_limits.<name>`.
        Value::Object(_) => match crate::section::deserialize_at::<RawPolicy>(v, "") {
            Ok(r) => r,
            Err(problem) => {
                errors.push(problem);
                return Err(errors);
            }
        },
        _ => {
            errors.push((
                String::new(),
                "must be a rate string like \"100 per 60 s, burst 20\" or an object".into(),
            ));
            return Err(errors);
        }
    };

    let rate = match (&raw.rate, raw.limit, raw.period_seconds) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            errors.push((
                "rate".into(),
                "give either rate or limit + period_seconds, not both".into(),
            ));
            None
        }
        (Some(s), None, None) => match parse_rate(s) {
            Ok((limit, period_secs, burst)) => {
                if burst.is_some() && raw.burst.is_some() {
                    errors.push((
                        "burst".into(),
                        "the rate string already names a burst".into(),
                    ));
                }
                check_rate(limit, period_secs, burst.or(raw.burst), "rate", &mut errors)
            }
            Err(m) => {
                errors.push(("rate".into(), m));
                None
            }
        },
        (None, Some(limit), Some(period)) => {
            check_rate(limit, period, raw.burst, "limit", &mut errors)
        }
        (None, None, _) => {
            errors.push((
                "limit".into(),
                "required (or a rate string like \"100 per 60 s\")".into(),
            ));
            None
        }
        (None, Some(_), None) => {
            errors.push(("period_seconds".into(), "required with limit".into()));
            None
        }
    };

    let mode = match raw.mode.as_deref() {
        None | Some("exact") => Mode::Exact,
        Some("fast") => Mode::Fast,
        Some(_) => {
            errors.push(("mode".into(), "must be \"exact\" or \"fast\"".into()));
            Mode::Exact
        }
    };
    let on_error = match raw.on_error.as_deref() {
        None | Some("deny") => OnError::Deny,
        Some("allow") => OnError::Allow,
        Some(_) => {
            errors.push(("on_error".into(), "must be \"deny\" or \"allow\"".into()));
            OnError::Deny
        }
    };
    let key = match raw.key.as_deref() {
        None | Some("identity") => CountingKey::Identity,
        Some("ip") => CountingKey::Ip,
        Some(_) => {
            errors.push(("key".into(), "must be \"identity\" or \"ip\"".into()));
            CountingKey::Identity
        }
    };
    if mode == Mode::Exact {
        if raw.lease.is_some() {
            errors.push(("lease".into(), "applies to mode \"fast\" only".into()));
        }
        if raw.lease_ttl_ms.is_some() {
            errors.push((
                "lease_ttl_ms".into(),
                "applies to mode \"fast\" only".into(),
            ));
        }
    }
    let burst = rate.map(|r| r.burst).unwrap_or(1);
    let lease = raw.lease.unwrap_or_else(|| default_lease(burst));
    if lease == 0 || lease > burst {
        errors.push((
            "lease".into(),
            format!("must be between 1 and the burst ({burst})"),
        ));
    }
    let lease_ttl_ms = raw.lease_ttl_ms.unwrap_or(DEFAULT_LEASE_TTL_MS);
    if !(MIN_LEASE_TTL_MS..=MAX_LEASE_TTL_MS).contains(&lease_ttl_ms) {
        errors.push((
            "lease_ttl_ms".into(),
            format!("must be between {MIN_LEASE_TTL_MS} and {MAX_LEASE_TTL_MS}"),
        ));
    }

    match rate {
        Some(rate) if errors.is_empty() => Ok(Policy {
            name: name.to_string(),
            rate,
            mode,
            on_error,
            key,
            lease,
            lease_ttl_ms,
        }),
        _ => Err(errors),
    }
}

/// A tenth of the burst, at least 1: small enough that the per-isolate overshoot stays a small
/// fraction of the budget, large enough that a busy isolate syncs once per several requests.
pub fn default_lease(burst: u64) -> u64 {
    burst.div_ceil(10).max(1)
}

fn check_rate(
    limit: u64,
    period_secs: u64,
    burst: Option<u64>,
    field: &str,
    errors: &mut Vec<PolicyError>,
) -> Option<Rate> {
    let before = errors.len();
    if !(1..=MAX_LIMIT).contains(&limit) {
        errors.push((
            field.into(),
            format!("the limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    if !(1..=MAX_PERIOD_SECS).contains(&period_secs) {
        let f = if field == "rate" {
            "rate"
        } else {
            "period_seconds"
        };
        errors.push((
            f.into(),
            format!("the period must be between 1 and {MAX_PERIOD_SECS} seconds"),
        ));
    }
    if burst.is_some_and(|b| !(1..=MAX_BURST).contains(&b)) {
        errors.push(("burst".into(), format!("must be between 1 and {MAX_BURST}")));
    }
    let burst = burst.unwrap_or(limit);
    (errors.len() == before).then_some(Rate {
        limit,
        period_ms: period_secs * 1000,
        burst,
    })
}

/// `"<limit> per [<n>] <unit>[, burst <b>]"`: `100 per 60 s`, `100 per 60s, burst 20`,
/// `10 per second`, `5000 per hour`. Units: s/sec/second(s), m/min/minute(s), h/hour(s), d/day(s).
/// Returns `(limit, period_secs, burst)`.
pub fn parse_rate(s: &str) -> Result<(u64, u64, Option<u64>), String> {
    let usage =
        "expected \"<limit> per <n> <s|min|h|d>[, burst <b>]\", e.g. \"100 per 60 s, burst 20\"";
    let lower = s.trim().to_ascii_lowercase();
    let mut parts = lower.split(',');
    let main = parts.next().unwrap_or("");
    let burst_part = parts.next();
    if parts.next().is_some() {
        return Err(usage.into());
    }
    let (limit, rest) = main.trim().split_once(char::is_whitespace).ok_or(usage)?;
    let limit: u64 = limit.parse().map_err(|_| usage.to_string())?;
    let rest = rest.trim().strip_prefix("per").ok_or(usage)?;
    if !rest.starts_with(char::is_whitespace) {
        return Err(usage.into());
    }
    let period: String = rest.chars().filter(|c| !c.is_whitespace()).collect();
    let digits_end = period
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(period.len());
    let (count, unit) = period.split_at(digits_end);
    let count: u64 = if count.is_empty() {
        1
    } else {
        count.parse().map_err(|_| usage.to_string())?
    };
    let unit_secs: u64 = match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => return Err(usage.into()),
    };
    let period_secs = count.checked_mul(unit_secs).ok_or(usage)?;
    let burst = match burst_part {
        None => None,
        Some(b) => {
            let mut words = b.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("burst"), Some(n), None) => {
                    Some(n.parse::<u64>().map_err(|_| usage.to_string())?)
                }
                _ => return Err(usage.into()),
            }
        }
    };
    Ok((limit, period_secs, burst))
}

/// The `rate_limits` section: `{"<name>": <policy>, …}`. Errors carry their full path
/// (`rate_limits.<name>.limit`).
pub fn parse_policies(
    v: Option<&Value>,
) -> (std::collections::BTreeMap<String, Policy>, Vec<PolicyError>) {
    let mut policies = std::collections::BTreeMap::new();
    let mut errors = Vec::new();
    let Some(v) = v else {
        return (policies, errors);
    };
    let Value::Object(map) = v else {
        errors.push((
            "rate_limits".into(),
            "must be an object of named policies: {\"<name>\": \"100 per 60 s\" | {...}}".into(),
        ));
        return (policies, errors);
    };
    for (name, value) in map {
        match parse_policy(name, value) {
            Ok(p) => {
                policies.insert(name.clone(), p);
            }
            Err(list) => {
                for (field, message) in list {
                    let path = if field.is_empty() {
                        format!("rate_limits.{name}")
                    } else {
                        format!("rate_limits.{name}.{field}")
                    };
                    errors.push((path, message));
                }
            }
        }
    }
    (policies, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rate_strings() {
        assert_eq!(
            parse_rate("100 per 60 s, burst 20"),
            Ok((100, 60, Some(20)))
        );
        assert_eq!(parse_rate("100 per 60s,burst 20"), Ok((100, 60, Some(20))));
        assert_eq!(parse_rate("  10 PER second "), Ok((10, 1, None)));
        assert_eq!(parse_rate("5000 per hour"), Ok((5000, 3600, None)));
        assert_eq!(parse_rate("3 per 2 min"), Ok((3, 120, None)));
        assert_eq!(parse_rate("1 per day"), Ok((1, 86_400, None)));
        assert_eq!(parse_rate("7 per 1d"), Ok((7, 86_400, None)));
        for bad in [
            "",
            "100",
            "100 per",
            "100 per 60",
            "100 per 60 fortnights",
            "100per 60 s",
            "100 per60 s",
            "x per 60 s",
            "-1 per 60 s",
            "100 per 60 s, burst",
            "100 per 60 s, burst x",
            "100 per 60 s, burst 2 3",
            "100 per 60 s, burst 2, more",
            "100 every 60 s",
            "100 per 99999999999999999999 d",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn string_form_takes_defaults() {
        let p = parse_policy("api", &json!("100 per 60 s, burst 20")).unwrap();
        assert_eq!(
            p,
            Policy {
                name: "api".into(),
                rate: Rate {
                    limit: 100,
                    period_ms: 60_000,
                    burst: 20
                },
                mode: Mode::Exact,
                on_error: OnError::Deny,
                key: CountingKey::Identity,
                lease: 2,
                lease_ttl_ms: DEFAULT_LEASE_TTL_MS,
            }
        );
        let p = parse_policy("api", &json!("10 per 1 s")).unwrap();
        assert_eq!(p.rate.burst, 10, "burst defaults to the limit");
        assert_eq!(p.rate.period_secs(), 1);
    }

    #[test]
    fn object_forms() {
        let p = parse_policy(
            "m.1_x-y",
            &json!({"limit": 10, "period_seconds": 60, "mode": "fast", "on_error": "allow", "lease": 3, "lease_ttl_ms": 500}),
        )
        .unwrap();
        assert_eq!(
            p.rate,
            Rate {
                limit: 10,
                period_ms: 60_000,
                burst: 10
            }
        );
        assert_eq!(
            (p.mode, p.on_error, p.lease, p.lease_ttl_ms),
            (Mode::Fast, OnError::Allow, 3, 500)
        );
        let p = parse_policy(
            "anon",
            &json!({"rate": "5 per 10 s", "burst": 2, "key": "ip"}),
        )
        .unwrap();
        assert_eq!(
            p.rate,
            Rate {
                limit: 5,
                period_ms: 10_000,
                burst: 2
            }
        );
        assert_eq!(p.key, CountingKey::Ip);
        assert_eq!(p.lease, 1);
    }

    fn paths(r: Result<Policy, Vec<PolicyError>>) -> Vec<String> {
        r.unwrap_err().into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn every_bad_field_is_named() {
        assert_eq!(paths(parse_policy("a b", &json!("1 per 1 s"))), vec![""]);
        assert_eq!(
            paths(parse_policy(&"x".repeat(65), &json!("1 per 1 s"))),
            vec![""]
        );
        assert_eq!(paths(parse_policy("p", &json!(5))), vec![""]);
        assert_eq!(
            paths(parse_policy(
                "p",
                &json!({"limit": 1, "period_seconds": 1, "extra": 1})
            )),
            vec!["extra"]
        );
        assert_eq!(
            paths(parse_policy(
                "p",
                &json!({"limit": "x", "period_seconds": 1})
            )),
            vec!["limit"]
        );
        assert_eq!(
            paths(parse_policy("p", &json!({"rate": "1 per 1 s", "limit": 1}))),
            vec!["rate"]
        );
        assert_eq!(
            paths(parse_policy(
                "p",
                &json!({"rate": "1 per 1 s, burst 2", "burst": 3})
            )),
            vec!["burst"]
        );
        assert_eq!(
            paths(parse_policy("p", &json!({"period_seconds": 1}))),
            vec!["limit"]
        );
        assert_eq!(
            paths(parse_policy("p", &json!({"limit": 1}))),
            vec!["period_seconds"]
        );
        assert_eq!(
            paths(parse_policy(
                "p",
                &json!({"limit": 0, "period_seconds": 0, "burst": 0})
            )),
            vec!["limit", "period_seconds", "burst"]
        );
        assert_eq!(
            paths(parse_policy(
                "p",
                &json!({"limit": 1_000_001, "period_seconds": 2_592_001})
            )),
            vec!["limit", "period_seconds"]
        );
        assert_eq!(paths(parse_policy("p", &json!("0 per 1 s"))), vec!["rate"]);
        assert_eq!(paths(parse_policy("p", &json!("1 per 31 d"))), vec!["rate"]);
        assert_eq!(
            paths(parse_policy(
                "p",
                &json!({"rate": "1 per 1 s", "mode": "slow", "on_error": "maybe", "key": "ua"})
            )),
            vec!["mode", "on_error", "key"]
        );
        assert_eq!(
            paths(parse_policy(
                "p",
                &json!({"rate": "1 per 1 s", "lease": 1, "lease_ttl_ms": 500})
            )),
            vec!["lease", "lease_ttl_ms"]
        );
        assert_eq!(
            paths(parse_policy(
                "p",
                &json!({"rate": "10 per 1 s", "mode": "fast", "lease": 11})
            )),
            vec!["lease"]
        );
        assert_eq!(
            paths(parse_policy(
                "p",
                &json!({"rate": "10 per 1 s", "mode": "fast", "lease": 0})
            )),
            vec!["lease"]
        );
        assert_eq!(
            paths(parse_policy(
                "p",
                &json!({"rate": "10 per 1 s", "mode": "fast", "lease_ttl_ms": 99})
            )),
            vec!["lease_ttl_ms"]
        );
        assert_eq!(
            paths(parse_policy(
                "p",
                &json!({"rate": "10 per 1 s", "mode": "fast", "lease_ttl_ms": 60_001})
            )),
            vec!["lease_ttl_ms"]
        );
    }

    #[test]
    fn the_section() {
        let (p, e) = parse_policies(Some(
            &json!({"a": "1 per 1 s", "b": {"limit": 0, "period_seconds": 1}, "c d": "1 per 1 s"}),
        ));
        assert_eq!(p.keys().collect::<Vec<_>>(), vec!["a"]);
        let paths: Vec<&str> = e.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, vec!["rate_limits.b.limit", "rate_limits.c d"]);
        let (p, e) = parse_policies(None);
        assert!(p.is_empty() && e.is_empty());
        let (_, e) = parse_policies(Some(&json!(["x"])));
        assert_eq!(e[0].0, "rate_limits");
    }

    #[test]
    fn default_lease_is_a_tenth() {
        assert_eq!(default_lease(1), 1);
        assert_eq!(default_lease(10), 1);
        assert_eq!(default_lease(11), 2);
        assert_eq!(default_lease(100), 10);
        assert_eq!(default_lease(1_000_000), 100_000);
    }
}
