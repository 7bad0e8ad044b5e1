//! Stage 1: the request as the gateway will judge it. Transport policy, credentials in the URL,
//! path normalization, the route, and which credential the client presented. Nothing here touches
//! the network or a store.

use crate::config::{Config, HttpsPolicy};
use crate::path::{self};
use crate::problem::{ErrorCode, Problem};
use crate::query;
use crate::request::truncate;
use crate::route::Route;
use crate::url::split_url;

use super::RequestHead;

/// What the client presented, before anything is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Presented {
    None,
    Bearer(String),
    /// An `Authorization` header with a scheme other than Bearer (the scheme, for the log only).
    OtherScheme,
    ApiKey(String),
    /// Both a bearer token and an API key: RFC 6750 §2 allows one method per request.
    Both,
    /// `Authorization: DPoP <token>` (RFC 9449 §7.1); the proof is read by the authenticate stage.
    Dpop(String),
}

pub(crate) struct ParsedRequest<'c> {
    pub route: &'c Route,
    /// Normalized path (percent-encoded unreserved characters decoded), as forwarded.
    pub path: String,
    /// The path routes were matched on: `path` without `;` parameters (`path_parameters`).
    pub routing_path: String,
    /// Other routes the path reaches as some origin stack reads it (`route_readings`): the request
    /// must be admitted by each of them too.
    pub also: Vec<&'c Route>,
    pub query: Option<String>,
    pub presented: Presented,
}

pub(crate) enum ParseOutcome<'c> {
    Route(ParsedRequest<'c>),
    /// The request is answered here (a redirect to HTTPS).
    Redirect(String),
    Refuse(Problem),
}

pub(crate) fn parse<'c>(config: &'c Config, req: &RequestHead) -> ParseOutcome<'c> {
    let Some((scheme, authority, raw_path, query)) = split_url(&req.url) else {
        return ParseOutcome::Refuse(Problem::new(
            ErrorCode::RequestInvalid,
            "the request URL is not absolute",
        ));
    };
    if scheme.eq_ignore_ascii_case("http") {
        match config.transport.https {
            HttpsPolicy::Allow => {}
            HttpsPolicy::Redirect => {
                // The redirect carries the URL minus any credential: a URL with credentials is
                // refused below rather than bounced back to the client with them in it.
                if credentials_in_url(config, authority, query).is_none() {
                    return ParseOutcome::Redirect(format!("https{}", &req.url[scheme.len()..]));
                }
            }
            HttpsPolicy::Refuse => {
                return ParseOutcome::Refuse(Problem::new(
                    ErrorCode::HttpsRequired,
                    "this gateway accepts requests over HTTPS only",
                ))
            }
        }
    }
    if let Some(what) = credentials_in_url(config, authority, query) {
        return ParseOutcome::Refuse(Problem::new(
            ErrorCode::CredentialsInUrl,
            format!("{what}; send credentials in the Authorization or X-API-Key header"),
        ));
    }
    let path = match path::normalize(raw_path, config.path_parameters) {
        Ok(p) => p,
        Err(why) => {
            return ParseOutcome::Refuse(Problem::new(ErrorCode::RequestInvalid, why.message()))
        }
    };
    let routing_path = path::routing_path(&path).into_owned();
    let Some((route, also)) = route_readings(&config.routes, &req.method, &routing_path) else {
        return ParseOutcome::Refuse(Problem::new(
            ErrorCode::RouteNotFound,
            format!("no route for {} {}", req.method, truncate(&path, 200)),
        ));
    };
    let presented = match presented_credential(req) {
        Ok(p) => p,
        Err(problem) => return ParseOutcome::Refuse(problem),
    };
    ParseOutcome::Route(ParsedRequest {
        route,
        path,
        routing_path,
        also,
        query: query.map(str::to_string),
        presented,
    })
}

/// The route a request is judged by, and the other routes it reaches as other origin stacks read
/// the same path; `None` when no route matches. Routes match ignoring case (`PathPattern`), the way
/// Express, ASP.NET Core and IIS route, but the origin may read the path another way:
///
/// - exactly (Rails, Django, Spring and Express with `caseSensitive` route `/api/STATUS` to an
///   `/api/:id` handler, not to a public `/api/status`);
/// - without a trailing slash (Rails, Express's default non-strict routing and Spring before 6
///   run the `/api/export` handler for `/api/export/`);
/// - without a format suffix on its last segment (Rails' `(.:format)` and Spring's suffix pattern
///   match route `/api/admin.json` to the `/api/admin` action) — unless the route that matched names
///   that segment literally (`/robots.txt`).
///
/// A request must be admitted by the route of every reading, so the first is the one that asks for
/// a credential when any does: a public route never stands in for a protected one.
pub(crate) fn route_readings<'c>(
    routes: &'c [Route],
    method: &str,
    routing_path: &str,
) -> Option<(&'c Route, Vec<&'c Route>)> {
    let folded = |p: &str| routes.iter().find(|r| r.matches(method, p));
    let mut readings = vec![folded(routing_path)?];
    let unslashed = path::without_trailing_slash(routing_path);
    for base in std::iter::once(routing_path).chain(unslashed.as_deref()) {
        let as_routed = folded(base);
        let exact = routes.iter().find(|r| r.matches_exact_case(method, base));
        let unsuffixed = path::without_format_suffix(base)
            .filter(|_| !as_routed.is_some_and(|r| r.pattern.names_last_segment(base)))
            .and_then(|p| folded(&p));
        for route in [as_routed, exact, unsuffixed].into_iter().flatten() {
            if !readings.iter().any(|r| std::ptr::eq(*r, route)) {
                readings.push(route);
            }
        }
    }
    if let Some(i) = readings.iter().position(|r| !r.is_public()) {
        readings.swap(0, i);
    }
    let first = readings.remove(0);
    Some((first, readings))
}

/// Names the offending part, never its value.
fn credentials_in_url(config: &Config, authority: &str, query: Option<&str>) -> Option<String> {
    if authority.contains('@') {
        return Some("the URL carries user information".to_string());
    }
    let name = query::credential_param(&config.credential_params, query?)?;
    Some(format!(
        "the query parameter {:?} carries a credential",
        truncate(name, 40)
    ))
}

fn presented_credential(req: &RequestHead) -> Result<Presented, Problem> {
    let mut authorization = req.headers_named("authorization");
    let mut api_key = req.headers_named("x-api-key");
    let auth = authorization.next();
    let key = api_key.next();
    if authorization.next().is_some() || api_key.next().is_some() {
        return Err(Problem::new(
            ErrorCode::RequestInvalid,
            "send exactly one Authorization or X-API-Key header",
        ));
    }
    let bearer = match auth {
        None => None,
        Some(value) => {
            let value = value.trim();
            let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
            if scheme.eq_ignore_ascii_case("bearer") {
                Some(Ok(Presented::Bearer(rest.trim_start().to_string())))
            } else if scheme.eq_ignore_ascii_case("dpop") {
                Some(Ok(Presented::Dpop(rest.trim_start().to_string())))
            } else {
                Some(Err(()))
            }
        }
    };
    Ok(match (bearer, key) {
        (Some(_), Some(_)) => Presented::Both,
        (Some(Ok(p)), None) => p,
        (Some(Err(())), None) => Presented::OtherScheme,
        (None, Some(k)) => Presented::ApiKey(k.to_string()),
        (None, None) => Presented::None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::{PathError, PathParameters};

    #[test]
    fn normalization_refuses_path_parameters() {
        let normalize_path =
            |raw: &str| path::normalize(raw, PathParameters::Refuse).map_err(PathError::message);
        assert_eq!(normalize_path("/ap%69/x").unwrap(), "/api/x");
        assert_eq!(
            normalize_path("/public/..;/api"),
            Err(PathError::PathParameter.message())
        );
    }

    #[test]
    fn every_origin_reading_of_a_path_is_judged() {
        let config = crate::config::parse_config(&serde_json::json!({
            "origin": "https://origin.internal",
            "routes": [
                {"name": "status", "methods": ["GET"], "path": "/api/status", "auth": ["public"]},
                {"name": "robots", "methods": ["GET"], "path": "/robots.txt", "auth": ["public"]},
                {"name": "admin", "methods": ["GET"], "path": "/api/admin/*", "auth": ["api_key"], "scopes": ["admin"]},
                {"name": "read", "methods": ["GET"], "path": "/api/*", "auth": ["api_key"]},
                {"name": "private", "methods": ["GET"], "path": "/*", "auth": ["api_key"]}
            ]
        }))
        .unwrap();
        let names = |path: &str| {
            route_readings(&config.routes, "GET", path).map(|(first, also)| {
                std::iter::once(first)
                    .chain(also)
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(names("/api/status"), Some(vec!["status"]));
        // The exact-case reading is protected, so it is the one that asks for a credential.
        assert_eq!(names("/api/STATUS"), Some(vec!["read", "status"]));
        assert_eq!(names("/api/%C5%BFtatus"), Some(vec!["read", "status"]));
        assert_eq!(names("/api/Admin/x"), Some(vec!["admin", "read"]));
        assert_eq!(names("/api/adm%C4%B1n"), Some(vec!["admin", "read"]));
        assert_eq!(names("/api/admin.json"), Some(vec!["read", "admin"]));
        assert_eq!(names("/api/items.json"), Some(vec!["read"]));
        // A route that names the segment, dot included, is taken at its word.
        assert_eq!(names("/robots.txt"), Some(vec!["robots"]));
        assert_eq!(names("/api/admin/users.json"), Some(vec!["admin"]));
        assert_eq!(names("/api/status/"), Some(vec!["read", "status"]));
        assert_eq!(names("/api/admin.json/"), Some(vec!["read", "admin"]));
        assert_eq!(names("/api/items/"), Some(vec!["read"]));
        assert_eq!(names("/"), Some(vec!["private"]));
    }
}
