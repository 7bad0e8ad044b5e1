//! The `_method` query parameter: Symfony/Laravel (`_method` from the query on POST) and Express
//! `method-override('_method')` turn a POST into the method it names, so a POST admitted by a route
//! could run as a DELETE the gateway never authorized. Such a POST is refused here. (A `_method` in
//! a form *body*, which Rails' Rack::MethodOverride reads, is out of the gateway's sight: it never
//! reads bodies. docs/origin.md says how to turn that off at the origin.)

use crate::problem::{ErrorCode, Problem};

use crate::query::normalize_name;

/// Refuses a POST whose query carries a `_method` parameter, in any spelling an origin would
/// read as `_method`.
pub(crate) fn check_query(method: &str, query: Option<&str>) -> Result<(), Problem> {
    let Some(query) = query else {
        return Ok(());
    };
    if !method.eq_ignore_ascii_case("POST") {
        return Ok(());
    }
    // Read the way the credential check reads names (`query::normalize_name`: pairs split on `&`
    // and `;`, decoded, a `[…]` suffix dropped, `.`/space/`[` as `_`, case folded), so `.method`,
    // `%5Fmethod` and `_method[]` are `_method` here as they are to PHP, Rack and Laravel.
    let overrides = query
        .split(['&', ';'])
        .any(|pair| normalize_name(pair.split('=').next().unwrap_or("")) == "_method");
    if overrides {
        return Err(Problem::new(
            ErrorCode::RequestInvalid,
            "a POST must not carry a _method query parameter: the origin could run it as \
             another method than the one the gateway authorized",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_with_method_param_is_refused() {
        for q in [
            "_method=DELETE",
            "a=1&_method=delete",
            "_METHOD=PUT",
            "%5Fmethod=DELETE",
            ".method=DELETE",
            "+_method=DELETE",
            "_method[]=DELETE",
            "_method[0]=DELETE",
            "_method",
        ] {
            let e = check_query("POST", Some(q)).unwrap_err();
            assert_eq!(e.code, ErrorCode::RequestInvalid, "{q}");
        }
    }

    #[test]
    fn others_pass() {
        assert!(check_query("POST", None).is_ok());
        assert!(check_query(
            "POST",
            Some("method=DELETE&x_method=1&_methods=2&_method_x=3&_method[=4")
        )
        .is_ok());
        assert!(check_query("GET", Some("_method=DELETE")).is_ok());
        assert!(check_query("DELETE", Some("_method=GET")).is_ok());
        assert!(check_query("POST", Some("%ZZ=1")).is_ok());
    }
}
