//! The subject index: which sessions a subject has, for the admin API (list a subject's sessions,
//! revoke them all). One Workers KV entry per session, `session/<subject key>/<sid>`, written when
//! the session starts and expiring with its absolute lifetime; the value holds no secret
//! (`{"sid", "created_at"}`). The subject key is base64url(SHA-256(sub)), so any `sub` makes a
//! valid, fixed-length KV key.
//!
//! The index only *finds* sessions; the family objects are the truth (an ended session may still
//! be listed until its entry expires, and is shown as ended). KV listing is eventually consistent,
//! so a session started a moment ago may be missing from a list: revoking all of a subject's
//! sessions therefore also sets the subject's revoked-before instant, which the refresh endpoint
//! checks against each family's start (docs/sessions.md).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::platform::Platform;

use super::settings::SessionSettings;

/// Sessions listed per subject at most (the admin API says when there were more).
pub(crate) const MAX_LISTED: usize = 100;

fn subject_prefix(sub: &str) -> String {
    format!(
        "session/{}/",
        URL_SAFE_NO_PAD.encode(Sha256::digest(sub.as_bytes()))
    )
}

/// Records a new session (best effort: a failure is logged; the session works, and a subject-wide
/// revocation still ends it through revoked-before).
pub(crate) async fn add<P: Platform>(
    platform: &P,
    settings: &SessionSettings,
    sub: &str,
    sid: &str,
    now: u64,
) {
    let key = format!("{}{sid}", subject_prefix(sub));
    let value = json!({"sid": sid, "created_at": now}).to_string();
    // Workers KV requires a TTL of at least 60 s.
    let ttl = settings.refresh_absolute_lifetime_seconds.max(60);
    if let Err(e) = platform.kv_put(&key, &value, Some(ttl)).await {
        crate::log::emit(
            platform,
            crate::log::Event::SessionUnavailable {
                reason: &format!("the subject index could not be written: {e}"),
            },
        );
    }
}

/// The sids indexed for `sub` (at most `MAX_LISTED`), and whether there were more.
pub(crate) async fn list<P: Platform>(
    platform: &P,
    sub: &str,
) -> Result<(Vec<String>, bool), String> {
    let prefix = subject_prefix(sub);
    let mut sids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = platform
            .kv_list(&prefix, cursor.as_deref(), 100)
            .await
            .map_err(|e| e.0)?;
        for key in page.keys {
            if let Some(sid) = key.strip_prefix(&prefix) {
                if sids.len() == MAX_LISTED {
                    return Ok((sids, true));
                }
                sids.push(sid.to_string());
            }
        }
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return Ok((sids, false)),
        }
    }
}
