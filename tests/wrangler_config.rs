//! The configuration documents shipped in wrangler.toml — the local demo that `make dev` runs and
//! the production example — are valid: a TOML table becomes the same JSON document wrangler hands
//! the worker, and the gateway's parser accepts it.

use portcullis::config::parse_config;

fn wrangler() -> toml::Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/wrangler.toml"))
        .expect("wrangler.toml is readable");
    toml::from_str(&text).expect("wrangler.toml is valid TOML")
}

fn document(t: &toml::Value) -> serde_json::Value {
    serde_json::to_value(t).expect("TOML converts to JSON")
}

#[test]
fn the_demo_config_is_valid() {
    let w = wrangler();
    let doc = document(&w["vars"]["PORTCULLIS_CONFIG"]);
    let config = parse_config(&doc).unwrap_or_else(|e| panic!("demo config refused: {e:?}"));
    assert_eq!(
        config.routes[0].name, "admin",
        "the admin API is enabled in the demo"
    );
    assert!(config.routes.iter().any(|r| r.name == "echo-read"));
    // The two demo issuers, and the gateway's own (`[sessions]`).
    assert_eq!(config.issuers.len(), 3);
    assert!(config.sessions.enabled && config.sessions.login.is_some());
}

#[test]
fn the_production_example_is_valid() {
    let w = wrangler();
    let doc = document(&w["env"]["production"]["vars"]["PORTCULLIS_CONFIG"]);
    let config = parse_config(&doc).unwrap_or_else(|e| panic!("production config refused: {e:?}"));
    assert_eq!(
        config.transport.hsts.as_deref(),
        Some("max-age=63072000; includeSubDomains; preload")
    );
}

#[test]
fn the_durable_object_bindings_match_the_exported_classes() {
    let w = wrangler();
    let bindings: Vec<(String, String)> = w["durable_objects"]["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap().to_string(),
                b["class_name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        bindings,
        vec![
            (
                "PORTCULLIS_REVOCATION".to_string(),
                "RevocationStore".to_string()
            ),
            (
                "PORTCULLIS_RATE_LIMITER".to_string(),
                "RateLimiter".to_string()
            ),
            (
                "PORTCULLIS_API_KEYS".to_string(),
                "ApiKeyLedger".to_string()
            ),
            (
                "PORTCULLIS_SESSIONS".to_string(),
                "SessionFamily".to_string()
            ),
            ("PORTCULLIS_DPOP".to_string(), "DpopReplay".to_string()),
            ("PORTCULLIS_MFA".to_string(), "MfaSubject".to_string()),
            (
                "PORTCULLIS_PASSKEYS".to_string(),
                "PasskeyStore".to_string()
            ),
        ]
    );
}
