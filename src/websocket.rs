//! WebSocket routes: whether a client's `Upgrade: websocket` may reach the origin, and when the
//! gateway closes a relayed socket because the credential that opened it has expired or been
//! revoked. Pure logic; the relay itself (a `WebSocketPair` between client and origin) lives in
//! `edge::websocket`. Reference: docs/config.md, "WebSocket routes".
//!
//! A route opts in with `websocket = true` (or a table with `close_on`). On every other route an
//! upgrade request is forwarded as a plain request with `Upgrade`/`Connection` stripped, exactly as
//! before WebSocket support existed: nothing changes silently for a route that did not opt in.

use crate::identity::{AuthMethod, Identity};
use crate::request::RequestHead;
use crate::route::Route;

/// RFC 6455 §7.4.1: the endpoint terminates because a message or the connection violates its
/// policy — here, the credential that opened the socket is no longer valid.
pub(crate) const CLOSE_POLICY_VIOLATION: u16 = 1008;
/// IANA WebSocket close code 1013, "Try Again Later": the revocation list cannot be consulted
/// within its allowed staleness, so the socket is closed (fail closed) and may be reopened.
pub(crate) const CLOSE_TRY_AGAIN_LATER: u16 = 1013;
/// RFC 6455 §7.4.1: an unexpected condition (the other side's connection failed).
pub(crate) const CLOSE_INTERNAL_ERROR: u16 = 1011;

/// The longest single wait of the close schedule: the Workers timer takes a 32-bit millisecond
/// count, and a long wait is simply split (the schedule is re-read after each).
const MAX_WAIT_MS: u64 = 3_600_000;

/// RFC 6455 §4.1: a WebSocket opening handshake is a GET whose `Upgrade` header lists the
/// `websocket` token (case-insensitive). Any other `Upgrade` (h2c, TLS/1.0, …) is never kept.
pub(crate) fn is_upgrade_request(req: &RequestHead) -> bool {
    req.method == "GET"
        && req.headers_named("upgrade").any(|v| {
            v.split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("websocket"))
        })
}

/// What the runtime does with an upgrade the gateway lets through.
#[derive(Debug, Clone, PartialEq)]
pub struct WebSocketPlan {
    /// `None`: the origin's socket is handed to the client as it is (the runtime pumps the
    /// frames; the gateway sees none). `Some`: the gateway relays every frame and closes the
    /// socket on the credential's end.
    pub relay: Option<RelayPlan>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RelayPlan {
    /// When the socket is closed as expired, ms since the epoch (`close_on` has `expiry` and the
    /// credential expires).
    pub close_at_ms: Option<u64>,
    /// The close code's reason when `close_at_ms` passes: the code a request would get then.
    pub expired_reason: &'static str,
    /// Every this many ms the credential is checked against the revocation snapshot (`close_on`
    /// has `revocation`): the revocation list's `refresh_interval_ms`.
    pub revocation_check_ms: Option<u64>,
    /// The credential, for the revocation check (the same check the request path runs).
    pub identity: Identity,
}

/// What a relay's schedule needs from the configuration, resolved for one credential by the
/// caller (`pipeline::forward::websocket_relay_settings`), so the planner does not read `Config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RelaySettings {
    /// The revocation list's `refresh_interval_ms`; `None` when revocation is disabled.
    pub revocation_refresh_ms: Option<u64>,
    /// The leeway of the issuer that signed the credential (0 for an API key, or an issuer not
    /// configured).
    pub leeway_secs: u64,
}

/// `Some` when the request is a WebSocket upgrade on a route that allows it.
pub(crate) fn plan(
    settings: RelaySettings,
    route: &Route,
    req: &RequestHead,
    identity: &Identity,
) -> Option<WebSocketPlan> {
    let ws = route.websocket?;
    if !is_upgrade_request(req) {
        return None;
    }
    if !ws.close_on.any() || identity.method == AuthMethod::Public {
        return Some(WebSocketPlan { relay: None });
    }
    let close_at_ms = if ws.close_on.expiry {
        expiry_ms(settings.leeway_secs, identity)
    } else {
        None
    };
    let revocation_check_ms = settings
        .revocation_refresh_ms
        .filter(|_| ws.close_on.revocation);
    Some(WebSocketPlan {
        relay: Some(RelayPlan {
            close_at_ms,
            expired_reason: match identity.method {
                AuthMethod::ApiKey => "api_key_expired",
                _ => "token_expired",
            },
            revocation_check_ms,
            identity: identity.clone(),
        }),
    })
}

/// The instant the gateway starts refusing the credential: a JWT at `exp` + the issuer's leeway
/// (`now >= exp + leeway` is `token_expired`), an API key at `expires_at` (inclusive).
/// `leeway_secs` is the leeway of the JWT's issuer (`RelaySettings::leeway_secs`).
pub(crate) fn expiry_ms(leeway_secs: u64, identity: &Identity) -> Option<u64> {
    let exp = identity.expires_at?;
    let leeway = match identity.method {
        AuthMethod::Jwt => leeway_secs,
        _ => 0,
    };
    Some(exp.saturating_add(leeway).saturating_mul(1000))
}

/// Why the gateway closes a relayed socket: a close code and a reason that is the error code a
/// request would get (docs/errors.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GatewayClose {
    pub code: u16,
    pub reason: &'static str,
}

impl GatewayClose {
    pub(crate) fn policy(reason: &'static str) -> Self {
        GatewayClose {
            code: CLOSE_POLICY_VIOLATION,
            reason,
        }
    }
}

/// The next thing the relay's control loop does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Close both ends now.
    Close(GatewayClose),
    /// Run the revocation check now.
    CheckRevocation,
    /// Sleep this many ms (unless the socket closes first), then ask again.
    Wait(u64),
    /// Nothing is scheduled: wait for the socket to close.
    Idle,
}

/// When a relayed socket is checked and closed: the credential's expiry and a periodic
/// revocation check, as one schedule the control loop asks "what now?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloseSchedule {
    close_at_ms: Option<u64>,
    expired: GatewayClose,
    check_every_ms: Option<u64>,
    next_check_ms: u64,
}

impl CloseSchedule {
    /// `opened_ms`: when the socket was opened (the upgrade itself was just checked, so the first
    /// periodic check is one interval later).
    pub(crate) fn new(plan: &RelayPlan, opened_ms: u64) -> Self {
        let check_every_ms = plan.revocation_check_ms.map(|ms| ms.max(1));
        CloseSchedule {
            close_at_ms: plan.close_at_ms,
            expired: GatewayClose::policy(plan.expired_reason),
            check_every_ms,
            next_check_ms: opened_ms.saturating_add(check_every_ms.unwrap_or(0)),
        }
    }

    pub(crate) fn step(&mut self, now_ms: u64) -> Step {
        if self.close_at_ms.is_some_and(|at| now_ms >= at) {
            return Step::Close(self.expired);
        }
        if let Some(every) = self.check_every_ms {
            if now_ms >= self.next_check_ms {
                // The next check is one interval after this one, never a burst of missed ones.
                self.next_check_ms = now_ms.saturating_add(every);
                return Step::CheckRevocation;
            }
        }
        let next = match (self.close_at_ms, self.check_every_ms) {
            (None, None) => return Step::Idle,
            (Some(at), None) => at,
            (None, Some(_)) => self.next_check_ms,
            (Some(at), Some(_)) => at.min(self.next_check_ms),
        };
        Step::Wait(next.saturating_sub(now_ms).clamp(1, MAX_WAIT_MS))
    }
}

/// The close a failed revocation check turns into: the refusal's own code as the reason (1008),
/// or 1013 when the list cannot be consulted (fail closed).
pub(crate) fn close_for_refusal(code: crate::problem::ErrorCode) -> GatewayClose {
    use crate::problem::ErrorCode;
    match code {
        ErrorCode::RevocationUnavailable => GatewayClose {
            code: CLOSE_TRY_AGAIN_LATER,
            reason: code.as_str(),
        },
        other => GatewayClose::policy(other.as_str()),
    }
}

/// The code one end's close is passed on with. Codes that may not be sent in a Close frame
/// (RFC 6455 §7.4.1: 1005 no status, 1006 abnormal closure, 1015 TLS failure; 1004 and unassigned
/// ranges) are not relayed: `None` closes the other end without a code.
pub(crate) fn relay_close_code(code: u16) -> Option<u16> {
    match code {
        1000..=1003 | 1007..=1014 | 3000..=4999 => Some(code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_config, Config};
    use crate::pipeline::forward::websocket_relay_settings;
    use crate::websocket_settings::{CloseOn, WebSocketRoute};
    use serde_json::json;
    use serde_json::Value;

    fn head(method: &str, headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: method.into(),
            url: "https://gw.example/ws".into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn an_upgrade_is_a_get_naming_websocket() {
        assert!(is_upgrade_request(&head(
            "GET",
            &[("upgrade", "websocket")]
        )));
        assert!(is_upgrade_request(&head(
            "GET",
            &[("upgrade", "WebSocket")]
        )));
        assert!(is_upgrade_request(&head(
            "GET",
            &[("upgrade", "h2c, websocket")]
        )));
        assert!(!is_upgrade_request(&head("GET", &[])));
        assert!(!is_upgrade_request(&head("GET", &[("upgrade", "h2c")])));
        assert!(!is_upgrade_request(&head(
            "GET",
            &[("upgrade", "websocketx")]
        )));
        assert!(!is_upgrade_request(&head(
            "POST",
            &[("upgrade", "websocket")]
        )));
        assert!(!is_upgrade_request(&head(
            "HEAD",
            &[("upgrade", "websocket")]
        )));
        assert!(!is_upgrade_request(&head(
            "GET",
            &[("connection", "upgrade")]
        )));
    }

    fn config(routes: Value, extra: Value) -> Result<Config, Vec<String>> {
        let mut doc = json!({
            "origin": "http://127.0.0.1:9000",
            "issuers": [{
                "issuer": "https://id.example.com",
                "audiences": ["api"],
                "algorithms": ["RS256"],
                "leeway_seconds": 10
            }],
            "routes": routes,
        });
        for (k, v) in extra.as_object().unwrap() {
            doc[k] = v.clone();
        }
        parse_config(&doc).map_err(|e| e.into_iter().map(|e| e.path).collect())
    }

    fn route(extra: Value) -> Value {
        let mut r = json!({"methods": ["GET"], "path": "/ws", "auth": ["jwt", "api_key"]});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    }

    #[test]
    fn the_route_option_is_off_by_default_and_resolves_against_the_defaults() {
        let c = config(json!([route(json!({}))]), json!({})).unwrap();
        assert_eq!(c.routes[0].websocket, None);
        let c = config(json!([route(json!({"websocket": false}))]), json!({})).unwrap();
        assert_eq!(c.routes[0].websocket, None);
        let c = config(json!([route(json!({"websocket": true}))]), json!({})).unwrap();
        assert_eq!(c.routes[0].websocket, Some(WebSocketRoute::default()));
        let both = CloseOn {
            expiry: true,
            revocation: true,
        };
        let c = config(
            json!([
                route(json!({"websocket": true})),
                route(json!({"websocket": {"close_on": ["expiry"]}})),
                route(json!({"websocket": {}})),
                {"methods": ["GET"], "path": "/public", "auth": ["public"], "websocket": true},
            ]),
            json!({"websocket": {"close_on": ["expiry", "revocation"]}}),
        )
        .unwrap();
        assert_eq!(c.routes[0].websocket.unwrap().close_on, both);
        assert_eq!(
            c.routes[1].websocket.unwrap().close_on,
            CloseOn {
                expiry: true,
                revocation: false
            }
        );
        assert_eq!(c.routes[2].websocket.unwrap().close_on, CloseOn::default());
        assert_eq!(
            c.routes[3].websocket.unwrap().close_on,
            CloseOn::default(),
            "a public route drops the default: it has no credential"
        );
    }

    #[test]
    fn bad_options_are_named_by_path() {
        let e = config(
            json!([
                route(json!({"websocket": "yes"})),
                route(json!({"websocket": {"close_on": ["expiry", "logout"]}})),
                route(json!({"websocket": {"close": []}})),
                {"methods": ["POST"], "path": "/ws", "auth": ["jwt"], "websocket": true},
                {"methods": ["GET"], "path": "/p", "auth": ["public"], "websocket": {"close_on": ["expiry"]}},
            ]),
            json!({"websocket": {"close_on": "expiry"}}),
        )
        .unwrap_err();
        assert_eq!(
            e,
            vec![
                "websocket.close_on",
                "routes[0].websocket",
                "routes[1].websocket.close_on[1]",
                "routes[2].websocket.close",
                "routes[3].methods",
                "routes[4].websocket.close_on",
            ]
        );
        let e = config(
            json!([route(json!({"websocket": {"close_on": ["revocation"]}}))]),
            json!({"revocation": {"enabled": false}}),
        )
        .unwrap_err();
        assert_eq!(e, vec!["routes[0].websocket.close_on"]);
        // A wildcard method list admits GET.
        assert!(config(
            json!([{"methods": ["*"], "path": "/ws", "auth": ["jwt"], "websocket": true}]),
            json!({})
        )
        .is_ok());
    }

    fn jwt(exp: u64) -> Identity {
        Identity {
            method: AuthMethod::Jwt,
            subject: "alice".into(),
            issuer: Some("https://id.example.com".into()),
            token_id: Some("j1".into()),
            expires_at: Some(exp),
            ..Identity::anonymous()
        }
    }

    fn key(exp: Option<u64>) -> Identity {
        Identity {
            method: AuthMethod::ApiKey,
            subject: "billing".into(),
            key_id: Some("key_0000000000000001".into()),
            expires_at: exp,
            ..Identity::anonymous()
        }
    }

    /// The plan with the settings the forward stage resolves from `c` for `identity`.
    fn plan_with(
        c: &Config,
        route: &Route,
        req: &RequestHead,
        identity: &Identity,
    ) -> Option<WebSocketPlan> {
        plan(websocket_relay_settings(c, identity), route, req, identity)
    }

    #[test]
    fn the_plan_keeps_an_upgrade_only_where_the_route_allows_it() {
        let c = config(
            json!([
                route(json!({"websocket": true})),
                route(json!({"websocket": {"close_on": ["expiry", "revocation"]}})),
                route(json!({})),
            ]),
            json!({}),
        )
        .unwrap();
        let up = head("GET", &[("upgrade", "websocket")]);
        let plain = head("GET", &[]);
        let id = jwt(2_000);
        assert_eq!(
            plan_with(&c, &c.routes[0], &up, &id),
            Some(WebSocketPlan { relay: None })
        );
        assert_eq!(plan_with(&c, &c.routes[0], &plain, &id), None);
        assert_eq!(
            plan_with(&c, &c.routes[2], &up, &id),
            None,
            "not a websocket route"
        );
        let relay = plan_with(&c, &c.routes[1], &up, &id)
            .unwrap()
            .relay
            .unwrap();
        assert_eq!(
            relay.close_at_ms,
            Some(2_010_000),
            "exp + the issuer's leeway"
        );
        assert_eq!(relay.expired_reason, "token_expired");
        assert_eq!(relay.revocation_check_ms, Some(1_000));
        assert_eq!(relay.identity, id);
        let relay = plan_with(&c, &c.routes[1], &up, &key(Some(3_000)))
            .unwrap()
            .relay
            .unwrap();
        assert_eq!(relay.close_at_ms, Some(3_000_000), "no leeway for API keys");
        assert_eq!(relay.expired_reason, "api_key_expired");
        let relay = plan_with(&c, &c.routes[1], &up, &key(None))
            .unwrap()
            .relay
            .unwrap();
        assert_eq!(relay.close_at_ms, None);
        assert_eq!(relay.revocation_check_ms, Some(1_000));
    }

    fn relay(close_at_ms: Option<u64>, check: Option<u64>) -> RelayPlan {
        RelayPlan {
            close_at_ms,
            expired_reason: "token_expired",
            revocation_check_ms: check,
            identity: jwt(0),
        }
    }

    #[test]
    fn the_schedule_closes_at_expiry() {
        let mut s = CloseSchedule::new(&relay(Some(10_000), None), 1_000);
        assert_eq!(s.step(1_000), Step::Wait(9_000));
        assert_eq!(s.step(9_999), Step::Wait(1));
        assert_eq!(
            s.step(10_000),
            Step::Close(GatewayClose {
                code: 1008,
                reason: "token_expired"
            })
        );
        // Already expired when opened (a token accepted in its last instant): closed at once.
        let mut s = CloseSchedule::new(&relay(Some(500), Some(100)), 1_000);
        assert_eq!(
            s.step(1_000),
            Step::Close(GatewayClose::policy("token_expired"))
        );
    }

    #[test]
    fn the_schedule_checks_revocation_every_interval_without_bursts() {
        let mut s = CloseSchedule::new(&relay(Some(5_000), Some(1_000)), 0);
        assert_eq!(s.step(0), Step::Wait(1_000));
        assert_eq!(s.step(1_000), Step::CheckRevocation);
        assert_eq!(s.step(1_000), Step::Wait(1_000));
        // A late timer (the isolate was busy) yields one check, then a full interval.
        assert_eq!(s.step(3_700), Step::CheckRevocation);
        assert_eq!(s.step(3_700), Step::Wait(1_000));
        // Expiry before the next check wins the wait, and the close wins over a due check.
        assert_eq!(s.step(4_600), Step::Wait(100));
        assert_eq!(
            s.step(5_000),
            Step::Close(GatewayClose::policy("token_expired"))
        );
    }

    #[test]
    fn the_schedule_idles_when_nothing_can_end_the_socket() {
        let mut s = CloseSchedule::new(&relay(None, None), 0);
        assert_eq!(s.step(0), Step::Idle);
        assert_eq!(s.step(u64::MAX), Step::Idle);
        // Far-away expiry: the wait is split into timer-sized pieces.
        let mut s = CloseSchedule::new(&relay(Some(u64::MAX), None), 0);
        assert_eq!(s.step(0), Step::Wait(MAX_WAIT_MS));
        let mut s = CloseSchedule::new(&relay(None, Some(0)), 0);
        assert_eq!(s.step(0), Step::Wait(1), "a zero interval is one ms");
        assert_eq!(s.step(1), Step::CheckRevocation);
        assert_eq!(s.step(1), Step::Wait(1));
    }

    #[test]
    fn refusals_become_close_codes() {
        use crate::problem::ErrorCode;
        assert_eq!(
            close_for_refusal(ErrorCode::TokenRevoked),
            GatewayClose {
                code: 1008,
                reason: "token_revoked"
            }
        );
        assert_eq!(
            close_for_refusal(ErrorCode::ApiKeyRevoked),
            GatewayClose::policy("api_key_revoked")
        );
        assert_eq!(
            close_for_refusal(ErrorCode::RevocationUnavailable),
            GatewayClose {
                code: 1013,
                reason: "revocation_unavailable"
            }
        );
    }

    #[test]
    fn only_sendable_close_codes_are_relayed() {
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1011, 1014, 3000, 4000, 4999,
        ] {
            assert_eq!(relay_close_code(code), Some(code), "{code}");
        }
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, u16::MAX] {
            assert_eq!(relay_close_code(code), None, "{code}");
        }
    }
}
