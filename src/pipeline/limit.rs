//! Stage 4: per-identity rate limits. The seam for the Durable Object limiter: it returns the
//! headers the response will carry (`RateLimit-Policy`, `RateLimit`) or a 429 refusal.

use crate::identity::Identity;
use crate::route::Route;

use super::Refusal;

pub fn limit(_route: &Route, _identity: &Identity) -> Result<Vec<(String, String)>, Refusal> {
    Ok(Vec::new())
}
