//! The IETF RateLimit header fields, draft-ietf-httpapi-ratelimit-headers-11 (May 2026):
//!
//! - `RateLimit-Policy: "<name>";q=<limit>;w=<period seconds>` (§3: the quota policy);
//! - `RateLimit: "<name>";r=<available>;t=<seconds>` (§4: the service limit). `t` is the effective
//!   window (§4.1.2): the seconds within which no more than `r` units can be used, which for GCRA
//!   is the time until the next unit returns, rounded up.
//!
//! Both are Structured Field lists of one item whose value is an sf-string. Policy names are
//! restricted (`policy::valid_name`) to characters that need no escaping in an sf-string.
//! No partition key (`pk`) is sent: the key is the caller's identity, which §6.1 asks servers not
//! to echo.

use super::policy::Policy;

pub(crate) const POLICY_HEADER: &str = "ratelimit-policy";
pub(crate) const LIMIT_HEADER: &str = "ratelimit";

pub(crate) fn policy_value(policy: &Policy) -> String {
    format!(
        "\"{}\";q={};w={}",
        policy.name,
        policy.rate.limit,
        policy.rate.period_secs()
    )
}

pub(crate) fn limit_value(policy: &Policy, remaining: u64, reset_secs: u64) -> String {
    format!("\"{}\";r={};t={}", policy.name, remaining, reset_secs)
}

/// Both fields, for a response whose state is known.
pub(crate) fn headers(policy: &Policy, remaining: u64, reset_secs: u64) -> Vec<(String, String)> {
    vec![
        (POLICY_HEADER.to_string(), policy_value(policy)),
        (
            LIMIT_HEADER.to_string(),
            limit_value(policy, remaining, reset_secs),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::policy::parse_policy;
    use serde_json::json;

    #[test]
    fn draft_11_forms() {
        let p = parse_policy("per-user", &json!("100 per 60 s, burst 20")).unwrap();
        assert_eq!(policy_value(&p), "\"per-user\";q=100;w=60");
        assert_eq!(limit_value(&p, 42, 17), "\"per-user\";r=42;t=17");
        assert_eq!(
            headers(&p, 0, 1),
            vec![
                (
                    "ratelimit-policy".to_string(),
                    "\"per-user\";q=100;w=60".to_string()
                ),
                ("ratelimit".to_string(), "\"per-user\";r=0;t=1".to_string()),
            ]
        );
        let day = parse_policy("daily.v2", &json!("1000 per day")).unwrap();
        assert_eq!(policy_value(&day), "\"daily.v2\";q=1000;w=86400");
    }
}
