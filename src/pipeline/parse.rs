//! Stage 1: the request as the gateway will judge it. Transport policy, credentials in the URL,
//! path normalization, the route, and which credential the client presented. Nothing here touches
//! the network or a store.

use crate::config::{Config, HttpsPolicy};
use crate::problem::{ErrorCode, Problem};
use crate::route::Route;
use crate::url::split_url;

use super::path::{self, PathError, PathParameters};
use super::query;
use super::RequestHead;

/// What the client presented, before anything is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    None,
    Bearer(String),
    /// An `Authorization` header with a scheme other than Bearer (the scheme, for the log only).
    OtherScheme,
    ApiKey(String),
    /// Both a bearer token and an API key: RFC 6750 §2 allows one method per request.
    Both,
}

pub struct ParsedRequest<'c> {
    pub route: &'c Route,
    /// Normalized path (percent-encoded unreserved characters decoded), as forwarded.
    pub path: String,
    /// The path routes were matched on: `path` without `;` parameters (`path_parameters`).
    pub routing_path: String,
    pub query: Option<String>,
    pub presented: Presented,
}

pub enum ParseOutcome<'c> {
    Route(ParsedRequest<'c>),
    /// The request is answered here (a redirect to HTTPS).
    Redirect(String),
    Refuse(Problem),
}

pub fn parse<'c>(config: &'c Config, req: &RequestHead) -> ParseOutcome<'c> {
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
    let Some(route) = config
        .routes
        .iter()
        .find(|r| r.matches(&req.method, &routing_path))
    else {
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
        query: query.map(str::to_string),
        presented,
    })
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

/// RFC 3986 §6.2.2 normalization with `;` path parameters refused: see `path::normalize`.
pub fn normalize_path(raw: &str) -> Result<String, &'static str> {
    path::normalize(raw, PathParameters::Refuse).map_err(PathError::message)
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
                Some(Ok(rest.trim_start().to_string()))
            } else {
                Some(Err(()))
            }
        }
    };
    Ok(match (bearer, key) {
        (Some(_), Some(_)) => Presented::Both,
        (Some(Ok(t)), None) => Presented::Bearer(t),
        (Some(Err(())), None) => Presented::OtherScheme,
        (None, Some(k)) => Presented::ApiKey(k.to_string()),
        (None, None) => Presented::None,
    })
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_refuses_path_parameters() {
        assert_eq!(normalize_path("/ap%69/x").unwrap(), "/api/x");
        assert_eq!(
            normalize_path("/public/..;/api"),
            Err(PathError::PathParameter.message())
        );
    }
}
