//! The `_method` query parameter: Symfony/Laravel (`_method` from the query on POST) and Express
//! `method-override('_method')` turn a POST into the method it names, so a POST admitted by a route
//! could run as a DELETE the gateway never authorized. Such a POST is refused here. (A `_method` in
//! a form *body*, which Rails' Rack::MethodOverride reads, is out of the gateway's sight: it never
//! reads bodies. docs/origin.md says how to turn that off at the origin.)

use crate::problem::{ErrorCode, Problem};

use super::parse::percent_decode_form;

/// Refuses a POST whose query carries a `_method` parameter, in any spelling an origin would
/// read as `_method`.
pub fn check_query(method: &str, query: Option<&str>) -> Result<(), Problem> {
    let Some(query) = query else {
        return Ok(());
    };
    if !method.eq_ignore_ascii_case("POST") {
        return Ok(());
    }
    let overrides = query.split('&').any(|pair| {
        let name = pair.split('=').next().unwrap_or("");
        // An undecodable name is read by no framework as `_method`.
        percent_decode_form(name).is_some_and(|n| is_method_param(&n))
    });
    if overrides {
        return Err(Problem::new(
            ErrorCode::RequestInvalid,
            "a POST must not carry a _method query parameter: the origin could run it as \
             another method than the one the gateway authorized",
        ));
    }
    Ok(())
}

/// PHP drops leading spaces from parameter names, reads `_method[]` (or `_method[x]`) as the
/// array `_method`, and turns other ` `, `.` and `[` into `_` (so `.method` is `_method` to
/// Laravel). Case is ignored so no framework's spelling slips through.
fn is_method_param(decoded: &str) -> bool {
    let name = decoded.trim_start_matches(' ');
    let name = match name.find('[') {
        Some(i) if name[i..].contains(']') => &name[..i],
        _ => name,
    };
    let php: String = name
        .chars()
        .map(|c| match c {
            ' ' | '.' | '[' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    php == "_method"
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
