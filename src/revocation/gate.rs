//! The revocation check on the request path. The authenticate stage runs it on every identity it
//! produces — verified-token cache hits included — so a revoked credential is refused however it
//! was recognized.
//!
//! `snapshot` routes decide from isolate memory (no network hop) while the snapshot is younger
//! than `max_staleness_ms`, refreshing it in the background once it is older than
//! `refresh_interval_ms`; an older snapshot is refreshed inline, and when that fails the request
//! is refused with 503 `revocation_unavailable` (fail closed). `strict` routes ask the revocation
//! Durable Object on every request.

use std::cell::RefCell;
use std::rc::Rc;

use crate::identity::{AuthMethod, Confirmation, Identity};
use crate::platform::Platform;
use crate::problem::{ErrorCode, Problem};

use super::client;
use super::set::{CredentialFacts, Revoked};
use super::settings::{RevocationMode, RevocationSettings};
use super::snapshot::{Freshness, SnapshotCache};

/// The revocation-list id (`cert:<fingerprint>`) of the client certificate a token is bound to
/// (RFC 8705 `cnf.x5t#S256`). Such a token is only as good as its certificate: revoking the
/// certificate revokes it, through the same entry, wherever the certificate's own check would see it.
pub(crate) fn bound_certificate_id(identity: &Identity) -> Option<String> {
    match (identity.method, &identity.holder.confirmation) {
        (AuthMethod::Jwt | AuthMethod::Introspection, Some(Confirmation::X5tS256(fingerprint))) => {
            Some(crate::mtls::revocation_id(fingerprint))
        }
        _ => None,
    }
}

/// What a credential says about itself, for the check; `bound_certificate` is what
/// `bound_certificate_id` returned for it.
pub(crate) fn facts<'a>(
    identity: &'a Identity,
    bound_certificate: Option<&'a str>,
) -> CredentialFacts<'a> {
    match identity.method {
        // A certificate-bound token is also checked by its certificate's id, among the key ids.
        AuthMethod::Jwt | AuthMethod::Introspection => CredentialFacts {
            iss: identity.issuer.as_deref(),
            jti: identity.token_id.as_deref(),
            sub: Some(identity.subject.as_str()),
            iat: identity.issued_at,
            key_id: bound_certificate,
            sid: identity.session_id.as_deref(),
        },
        AuthMethod::ApiKey => CredentialFacts {
            key_id: identity.key_id.as_deref(),
            ..Default::default()
        },
        // A certificate is on the list as `cert:<fingerprint>`, beside the API key ids.
        AuthMethod::Mtls => CredentialFacts {
            key_id: identity
                .holder
                .certificate
                .as_ref()
                .map(|c| c.revocation_id.as_str()),
            ..Default::default()
        },
        AuthMethod::Public => CredentialFacts::default(),
    }
}

/// `Ok` when the identity is not revoked; otherwise the refusal (401 `token_revoked` /
/// `api_key_revoked`, 403 `client_cert_revoked` for a certificate or a token bound to one, or 503
/// `revocation_unavailable`).
pub(crate) async fn check<P: Platform>(
    platform: &P,
    settings: &RevocationSettings,
    cache: &Rc<RefCell<SnapshotCache>>,
    mode: RevocationMode,
    identity: &Identity,
) -> Result<(), Problem> {
    if !settings.enabled || identity.method == AuthMethod::Public {
        return Ok(());
    }
    let bound_certificate = bound_certificate_id(identity);
    let facts = facts(identity, bound_certificate.as_deref());
    let verdict = match mode {
        RevocationMode::Strict => ask_object(platform, settings, cache, &facts).await?,
        RevocationMode::Snapshot => {
            ensure_snapshot(platform, settings, cache).await?;
            cache.borrow().set.check(&facts, platform.now_secs())
        }
    };
    match verdict {
        None => Ok(()),
        Some(Revoked::Key) if identity.method == AuthMethod::Mtls => Err(Problem::new(
            ErrorCode::ClientCertRevoked,
            "the client certificate has been revoked",
        )),
        Some(Revoked::Key) if bound_certificate.is_some() => Err(Problem::new(
            ErrorCode::ClientCertRevoked,
            "the client certificate this token is bound to (RFC 8705 cnf x5t#S256) has been revoked",
        )),
        Some(r) => Err(Problem::from(r)),
    }
}

/// The refusal for a revoked credential.
impl From<Revoked> for Problem {
    fn from(r: Revoked) -> Self {
        match r {
            Revoked::Token => Problem::new(ErrorCode::TokenRevoked, "the token has been revoked"),
            Revoked::Subject { before } => Problem::new(
                ErrorCode::TokenRevoked,
                format!(
                    "every token of this subject issued before {before} (Unix time) has been revoked; obtain a new one"
                ),
            ),
            Revoked::Key => Problem::new(ErrorCode::ApiKeyRevoked, "the API key has been revoked"),
            Revoked::Session => Problem::new(
                ErrorCode::TokenRevoked,
                "the session this token belongs to has ended; sign in again",
            ),
        }
    }
}

fn unavailable() -> Problem {
    Problem::new(
        ErrorCode::RevocationUnavailable,
        "the revocation list could not be consulted; try again shortly",
    )
    .with_header("retry-after", "1")
}

fn log_failure<P: Platform>(platform: &P, cache: &Rc<RefCell<SnapshotCache>>) {
    let why = cache.borrow_mut().take_last_error();
    if let Some(why) = why {
        crate::log::emit(
            platform,
            crate::log::Event::RevocationRefreshFailed { reason: &why },
        );
    }
}

/// Makes sure the isolate's snapshot may be used now, refreshing inline when it is too old.
pub(crate) async fn ensure_snapshot<P: Platform>(
    platform: &P,
    settings: &RevocationSettings,
    cache: &Rc<RefCell<SnapshotCache>>,
) -> Result<(), Problem> {
    let now = platform.now_ms();
    let s = settings.refresh();
    // A background refresh that failed since the last request is reported here.
    log_failure(platform, cache);
    let (freshness, background) = {
        let c = cache.borrow();
        (c.freshness(&s, now), c.wants_background_refresh(&s, now))
    };
    match freshness {
        Freshness::Fresh => Ok(()),
        Freshness::Stale => {
            if background {
                refresh_in_background(platform, settings, cache, now);
            }
            Ok(())
        }
        Freshness::Expired => {
            let since = cache.borrow().since();
            let fetch = fetch_delta(platform, cache, since, now, s.refresh_interval_ms);
            let outcome = match fetch.answer.await {
                Ok(answer) => {
                    // The copy for the location is written after the response.
                    if let Some(share) = fetch.share {
                        platform.wait_until(share);
                    }
                    cache
                        .borrow_mut()
                        .complete(answer.asked_at_ms, since, &answer.body)
                }
                Err(e) => {
                    cache.borrow_mut().fail(now, e.0.clone());
                    Err(e.0)
                }
            };
            if outcome.is_err() {
                log_failure(platform, cache);
                return Err(unavailable());
            }
            Ok(())
        }
    }
}

/// Starts a refresh in the `waitUntil` of this request. It writes isolate memory when it lands
/// and nothing ever waits on it.
pub(crate) fn refresh_in_background<P: Platform>(
    platform: &P,
    settings: &RevocationSettings,
    cache: &Rc<RefCell<SnapshotCache>>,
    now: u64,
) {
    let since = cache.borrow_mut().begin_background(now);
    let fetch = fetch_delta(
        platform,
        cache,
        since,
        now,
        settings.refresh().refresh_interval_ms,
    );
    let cache = Rc::clone(cache);
    platform.wait_until(async move {
        let result = fetch.answer.await;
        let ok = {
            let mut c = cache.borrow_mut();
            match result {
                Ok(answer) => c.complete(answer.asked_at_ms, since, &answer.body).is_ok(),
                Err(e) => {
                    c.fail(now, e.0);
                    false
                }
            }
        };
        if let (true, Some(share)) = (ok, fetch.share) {
            share.await;
        }
    });
}

/// A delta and when its source was asked: the age of a snapshot counts from then.
struct Delta {
    asked_at_ms: u64,
    body: String,
}

type Job<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T>>>;

/// A refresh's fetch: `answer` gives the delta; `share`, run after it, copies an answer the object
/// gave to the location (it writes nothing when the answer came from the location, or failed).
struct DeltaFetch {
    answer: Job<Result<Delta, crate::platform::StoreError>>,
    /// `None` without the location tier.
    share: Option<Job<()>>,
}

/// The delta since `since`: the location's copy when one is newer than this isolate's snapshot and
/// was asked of the object less than `refresh_interval_ms` ago; otherwise the object's answer.
/// Either way the snapshot's age counts from when the object was asked, so the bound
/// (`max_staleness_ms`) holds whichever isolate asked. Both futures own what they need: a
/// background refresh runs them after its request has ended.
fn fetch_delta<P: Platform>(
    platform: &P,
    cache: &Rc<RefCell<SnapshotCache>>,
    since: u64,
    now: u64,
    refresh_interval_ms: u64,
) -> DeltaFetch {
    use crate::location_cache::{max_age_secs, LocationEntry};
    let (tier, own) = {
        let c = cache.borrow();
        (
            c.location().filter(|t| t.revocation).cloned(),
            c.fetched_at_ms(),
        )
    };
    // Created now, run only on a miss (the runtime's call starts when first polled).
    let object = platform.revocation_call("GET", &client::snapshot_path(since), None);
    let from_object: Rc<RefCell<Option<String>>> = Rc::default();
    let copy = tier.map(|tier| {
        let url = tier.revocation_url(since);
        let get = platform.location_get(&url);
        let slot = Rc::clone(&from_object);
        let (seal_tier, seal_url) = (tier.clone(), url.clone());
        let put = platform.location_put(&url, max_age_secs(refresh_interval_ms), move || {
            let payload = slot.borrow_mut().take()?;
            let entry = LocationEntry {
                fetched_at_ms: now,
                fresh_until_ms: now + refresh_interval_ms,
                label: String::new(),
                payload,
            };
            Some(seal_tier.seal(&seal_url, &entry))
        });
        let get: Job<Option<String>> = Box::pin(get);
        let put: Job<()> = Box::pin(put);
        (get, tier, url, put)
    });
    let (lookup, share) = match copy {
        Some((get, tier, url, put)) => (Some((get, tier, url)), Some(put)),
        None => (None, None),
    };
    let slot = Rc::clone(&from_object);
    let object: Job<Result<String, crate::platform::StoreError>> = Box::pin(object);
    let answer = async move {
        if let Some((get, tier, url)) = lookup {
            let entry = get.await.and_then(|text| tier.open(&url, &text));
            if let Some(entry) = entry {
                let newer = own.is_none_or(|own| entry.fetched_at_ms > own);
                if newer && entry.fetched_at_ms <= now && now < entry.fresh_until_ms {
                    return Ok(Delta {
                        asked_at_ms: entry.fetched_at_ms,
                        body: entry.payload,
                    });
                }
            }
        }
        let body = object.await?;
        *slot.borrow_mut() = Some(body.clone());
        Ok(Delta {
            asked_at_ms: now,
            body,
        })
    };
    DeltaFetch {
        answer: Box::pin(answer),
        share,
    }
}

/// `strict`: one round trip to the object. Its answer also tells whether the snapshot is behind;
/// if so the snapshot is refreshed in the background, keeping `snapshot` routes warm too.
async fn ask_object<P: Platform>(
    platform: &P,
    settings: &RevocationSettings,
    cache: &Rc<RefCell<SnapshotCache>>,
    facts: &CredentialFacts<'_>,
) -> Result<Option<Revoked>, Problem> {
    let now = platform.now_ms();
    let answer = match client::check(platform, facts).await {
        Ok(a) => a,
        Err(why) => {
            crate::log::emit(
                platform,
                crate::log::Event::RevocationCheckFailed { reason: &why },
            );
            return Err(unavailable());
        }
    };
    let behind = {
        let c = cache.borrow();
        c.age_ms(now).is_some() && answer.version > c.set.version && !c.refresh_running(now)
    };
    if behind {
        refresh_in_background(platform, settings, cache, now);
    }
    Ok(answer.revoked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::AuthMethod;
    use crate::testing::{block_on, FakePlatform};
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;
    const ISS: &str = "https://id.example.com";

    fn settings() -> RevocationSettings {
        RevocationSettings {
            refresh_interval_ms: 1_000,
            max_staleness_ms: 5_000,
            ..Default::default()
        }
    }

    fn jwt(sub: &str, jti: &str, iat: u64) -> Identity {
        Identity {
            method: AuthMethod::Jwt,
            subject: sub.into(),
            issuer: Some(ISS.into()),
            scopes: vec![],
            token_id: Some(jti.into()),
            expires_at: Some(NOW + 300),
            issued_at: Some(iat),
            client_id: None,
            key_id: None,
            rate_limit_policy: None,
            claims: Default::default(),
            holder: Default::default(),
            session_id: None,
            user_auth: Default::default(),
        }
    }

    fn api_key(key_id: &str, client: &str) -> Identity {
        Identity {
            method: AuthMethod::ApiKey,
            subject: client.into(),
            issuer: None,
            scopes: vec![],
            token_id: None,
            expires_at: None,
            issued_at: None,
            client_id: Some(client.into()),
            key_id: Some(key_id.into()),
            rate_limit_policy: None,
            claims: Default::default(),
            holder: Default::default(),
            session_id: None,
            user_auth: Default::default(),
        }
    }

    fn revoke(p: &FakePlatform, path: &str, body: serde_json::Value) {
        p.durable
            .revocation_call("POST", path, Some(&body.to_string()), p.now_ms.get())
            .unwrap();
    }

    fn run(
        p: &FakePlatform,
        cache: &Rc<RefCell<SnapshotCache>>,
        mode: RevocationMode,
        id: &Identity,
    ) -> Result<(), Problem> {
        block_on(check(p, &settings(), cache, mode, id))
    }

    fn code(r: Result<(), Problem>) -> Option<&'static str> {
        r.err().map(|p| p.code.as_str())
    }

    #[test]
    fn snapshot_mode_decides_from_memory_and_refreshes_in_the_background() {
        let p = FakePlatform::new(NOW);
        let cache = Rc::new(RefCell::new(SnapshotCache::default()));
        let id = jwt("alice", "j1", NOW);
        // Cold isolate: one inline fetch.
        assert_eq!(code(run(&p, &cache, RevocationMode::Snapshot, &id)), None);
        assert_eq!(p.durable.revocation_calls.get(), 1);
        // Revoked at the object: not yet known here; fresh snapshot, no call.
        revoke(&p, "/tokens", json!({"jti": "j1", "until": NOW + 300}));
        p.now_ms.set(NOW * 1000 + 999);
        assert_eq!(code(run(&p, &cache, RevocationMode::Snapshot, &id)), None);
        assert_eq!(
            p.durable.revocation_calls.get(),
            2,
            "only the test's own write"
        );
        // Past the refresh interval: still decided from memory, one background refresh started.
        p.now_ms.set(NOW * 1000 + 1_000);
        assert_eq!(code(run(&p, &cache, RevocationMode::Snapshot, &id)), None);
        assert_eq!(p.durable.pending(), 1);
        assert_eq!(code(run(&p, &cache, RevocationMode::Snapshot, &id)), None);
        assert_eq!(p.durable.pending(), 1, "one refresh at a time");
        p.durable.run_background();
        assert_eq!(
            code(run(&p, &cache, RevocationMode::Snapshot, &id)),
            Some("token_revoked")
        );
        // Other tokens of alice are fine.
        assert_eq!(
            code(run(
                &p,
                &cache,
                RevocationMode::Snapshot,
                &jwt("alice", "j2", NOW)
            )),
            None
        );
    }

    /// An isolate whose refreshes go through the location tier keyed by `key`.
    fn isolate(key: u8) -> Rc<RefCell<SnapshotCache>> {
        let cache = Rc::new(RefCell::new(SnapshotCache::default()));
        cache
            .borrow_mut()
            .share_through(crate::location_cache::LocationTier::new(
                &[key; 32], true, true,
            ));
        cache
    }

    #[test]
    fn isolates_of_one_location_ask_the_object_once_per_interval() {
        let p = FakePlatform::new(NOW);
        let (a, b, c) = (isolate(1), isolate(1), isolate(1));
        let id = jwt("alice", "j1", NOW);
        // A, cold, asks the object and leaves its answer to the location after the response.
        assert_eq!(code(run(&p, &a, RevocationMode::Snapshot, &id)), None);
        assert_eq!(p.durable.revocation_calls.get(), 1);
        assert_eq!(p.durable.pending(), 1);
        p.durable.run_background();
        // B and C, cold, read the location's copy: no call. Their snapshots are as old as A's.
        p.now_ms.set(NOW * 1000 + 300);
        assert_eq!(code(run(&p, &b, RevocationMode::Snapshot, &id)), None);
        assert_eq!(code(run(&p, &c, RevocationMode::Snapshot, &id)), None);
        assert_eq!(p.durable.revocation_calls.get(), 1);
        assert_eq!(b.borrow().fetched_at_ms(), Some(NOW * 1000));
        // A revocation, then the interval passes: B notices first and asks the object (the copy is
        // not newer than its own snapshot); A and C then take B's copy.
        revoke(&p, "/tokens", json!({"jti": "j1", "until": NOW + 300}));
        let calls = p.durable.revocation_calls.get();
        p.now_ms.set(NOW * 1000 + 1_000);
        assert_eq!(code(run(&p, &b, RevocationMode::Snapshot, &id)), None);
        p.durable.run_background();
        assert_eq!(p.durable.revocation_calls.get(), calls + 1);
        p.now_ms.set(NOW * 1000 + 1_100);
        for isolate in [&a, &c] {
            assert_eq!(code(run(&p, isolate, RevocationMode::Snapshot, &id)), None);
            p.durable.run_background();
            assert_eq!(
                code(run(&p, isolate, RevocationMode::Snapshot, &id)),
                Some("token_revoked")
            );
        }
        assert_eq!(
            p.durable.revocation_calls.get(),
            calls + 1,
            "A and C read B's copy"
        );
        assert_eq!(
            code(run(&p, &b, RevocationMode::Snapshot, &id)),
            Some("token_revoked")
        );
        // The snapshot's age counts from when B asked the object.
        assert_eq!(a.borrow().fetched_at_ms(), Some(NOW * 1000 + 1_000));
    }

    #[test]
    fn a_copy_older_than_the_interval_or_sealed_with_another_key_is_not_used() {
        let p = FakePlatform::new(NOW);
        let id = jwt("alice", "j1", NOW);
        let a = isolate(1);
        assert_eq!(code(run(&p, &a, RevocationMode::Snapshot, &id)), None);
        p.durable.run_background();
        assert_eq!(p.location_cache.borrow().len(), 1);
        // Another deployment's key: its URL differs, and a forged entry at our URL fails its tag.
        let other = isolate(2);
        assert_eq!(code(run(&p, &other, RevocationMode::Snapshot, &id)), None);
        assert_eq!(p.durable.revocation_calls.get(), 2);
        p.durable.run_background();
        let url = a.borrow().location().unwrap().revocation_url(0);
        let forged = crate::location_cache::LocationTier::new(&[9; 32], true, true).seal(
            &url,
            &crate::location_cache::LocationEntry {
                fetched_at_ms: NOW * 1000,
                fresh_until_ms: NOW * 1000 + 60_000,
                label: String::new(),
                payload: r#"{"version":0,"full":true}"#.into(),
            },
        );
        p.location_cache.borrow_mut().insert(url, (forged, 60));
        let b = isolate(1);
        assert_eq!(code(run(&p, &b, RevocationMode::Snapshot, &id)), None);
        assert_eq!(
            p.durable.revocation_calls.get(),
            3,
            "the forged copy was not believed"
        );
        p.durable.run_background();
        // A genuine copy asked of the object a full interval ago is not handed to a cold isolate.
        p.now_ms.set(NOW * 1000 + 1_000);
        let c = isolate(1);
        assert_eq!(code(run(&p, &c, RevocationMode::Snapshot, &id)), None);
        assert_eq!(p.durable.revocation_calls.get(), 4);
        // Without a reachable object, a cold isolate with only an expired copy fails closed.
        p.durable.down.set(true);
        p.now_ms.set(NOW * 1000 + 10_000);
        let d = isolate(1);
        assert_eq!(
            code(run(&p, &d, RevocationMode::Snapshot, &id)),
            Some("revocation_unavailable")
        );
    }

    #[test]
    fn strict_mode_asks_every_time() {
        let p = FakePlatform::new(NOW);
        let cache = Rc::new(RefCell::new(SnapshotCache::default()));
        let id = jwt("alice", "j1", NOW);
        assert_eq!(code(run(&p, &cache, RevocationMode::Strict, &id)), None);
        revoke(&p, "/tokens", json!({"jti": "j1", "until": NOW + 300}));
        assert_eq!(
            code(run(&p, &cache, RevocationMode::Strict, &id)),
            Some("token_revoked")
        );
        assert_eq!(p.durable.revocation_calls.get(), 3);
        // The strict answer showed the snapshot is behind; nothing to refresh yet (never fetched).
        assert_eq!(p.durable.pending(), 0);
        assert_eq!(
            code(run(&p, &cache, RevocationMode::Snapshot, &id)),
            Some("token_revoked")
        );
        // Once a snapshot exists, a strict answer with a newer version refreshes it in the background.
        revoke(&p, "/tokens", json!({"jti": "j9", "until": NOW + 300}));
        assert_eq!(
            code(run(
                &p,
                &cache,
                RevocationMode::Strict,
                &jwt("bob", "j9", NOW)
            )),
            Some("token_revoked")
        );
        assert_eq!(p.durable.pending(), 1);
        p.durable.run_background();
        assert_eq!(
            code(run(
                &p,
                &cache,
                RevocationMode::Snapshot,
                &jwt("bob", "j9", NOW)
            )),
            Some("token_revoked")
        );
    }

    #[test]
    fn subjects_and_keys() {
        let p = FakePlatform::new(NOW);
        let cache = Rc::new(RefCell::new(SnapshotCache::default()));
        revoke(
            &p,
            "/subjects",
            json!({"sub": "alice", "iss": ISS, "before": NOW, "until": NOW + 3600}),
        );
        revoke(
            &p,
            "/keys",
            json!({"key_id": "key_0000000000000001", "until": NOW + 60}),
        );
        let older = run(
            &p,
            &cache,
            RevocationMode::Snapshot,
            &jwt("alice", "a", NOW - 1),
        );
        let p401 = older.unwrap_err();
        assert_eq!((p401.code.as_str(), p401.status()), ("token_revoked", 401));
        assert!(p401.detail.contains(&NOW.to_string()));
        assert_eq!(
            code(run(
                &p,
                &cache,
                RevocationMode::Snapshot,
                &jwt("alice", "b", NOW)
            )),
            None
        );
        let mut no_iat = jwt("alice", "c", NOW);
        no_iat.issued_at = None;
        assert_eq!(
            code(run(&p, &cache, RevocationMode::Snapshot, &no_iat)),
            Some("token_revoked")
        );
        assert_eq!(
            code(run(
                &p,
                &cache,
                RevocationMode::Snapshot,
                &api_key("key_0000000000000001", "alice")
            )),
            Some("api_key_revoked")
        );
        assert_eq!(
            code(run(
                &p,
                &cache,
                RevocationMode::Snapshot,
                &api_key("key_0000000000000002", "alice")
            )),
            None,
            "a client named alice is not the subject alice"
        );
        assert_eq!(
            code(run(
                &p,
                &cache,
                RevocationMode::Strict,
                &api_key("key_0000000000000001", "x")
            )),
            Some("api_key_revoked")
        );
        // Entries end by themselves.
        p.advance_secs(61);
        p.durable.run_background();
        assert_eq!(
            code(run(
                &p,
                &cache,
                RevocationMode::Strict,
                &api_key("key_0000000000000001", "x")
            )),
            None
        );
    }

    #[test]
    fn a_revoked_certificate_revokes_the_tokens_bound_to_it() {
        let fp = "ab".repeat(32);
        let p = FakePlatform::new(NOW);
        let cache = Rc::new(RefCell::new(SnapshotCache::default()));
        let bound = |jti: &str, fingerprint: &str| {
            let mut id = jwt("exporter", jti, NOW);
            id.holder.confirmation = Some(Confirmation::X5tS256(fingerprint.into()));
            id
        };
        assert_eq!(
            bound_certificate_id(&bound("t", &fp)),
            Some(format!("cert:{fp}"))
        );
        assert_eq!(bound_certificate_id(&jwt("exporter", "t", NOW)), None);
        let mut dpop = jwt("exporter", "t", NOW);
        dpop.holder.confirmation = Some(Confirmation::Jkt(fp.clone()));
        assert_eq!(bound_certificate_id(&dpop), None);
        for mode in [RevocationMode::Snapshot, RevocationMode::Strict] {
            assert_eq!(code(run(&p, &cache, mode, &bound("t1", &fp))), None);
        }
        revoke(
            &p,
            "/keys",
            json!({"key_id": format!("cert:{fp}"), "until": NOW + 3600}),
        );
        // Strict asks the object at once; its answer (a newer version) refreshes the snapshot.
        for mode in [RevocationMode::Strict, RevocationMode::Snapshot] {
            p.durable.run_background();
            let refused = run(&p, &cache, mode, &bound("t2", &fp)).unwrap_err();
            assert_eq!(
                (refused.code.as_str(), refused.status()),
                ("client_cert_revoked", 403),
                "{mode:?}"
            );
        }
        // Another certificate's token, an unbound one, and a DPoP-bound one with the same digits.
        let other = "cd".repeat(32);
        for id in [bound("t3", &other), jwt("exporter", "t4", NOW), dpop] {
            assert_eq!(code(run(&p, &cache, RevocationMode::Strict, &id)), None);
            assert_eq!(code(run(&p, &cache, RevocationMode::Snapshot, &id)), None);
        }
    }

    #[test]
    fn failing_closed_only_past_the_allowed_staleness() {
        let p = FakePlatform::new(NOW);
        let cache = Rc::new(RefCell::new(SnapshotCache::default()));
        let id = jwt("alice", "j1", NOW);
        p.durable.down.set(true);
        let cold = run(&p, &cache, RevocationMode::Snapshot, &id).unwrap_err();
        assert_eq!(
            (cold.code.as_str(), cold.status()),
            ("revocation_unavailable", 503)
        );
        assert_eq!(
            cold.headers,
            vec![("retry-after".to_string(), "1".to_string())]
        );
        assert!(p
            .logs
            .borrow()
            .iter()
            .any(|l| l.contains("revocation_refresh_failed")));
        p.durable.down.set(false);
        assert_eq!(code(run(&p, &cache, RevocationMode::Snapshot, &id)), None);
        p.durable.down.set(true);
        // Stale but within max staleness: served from memory; the background refresh fails quietly
        // and is logged by the next request.
        p.now_ms.set(NOW * 1000 + 4_999);
        assert_eq!(code(run(&p, &cache, RevocationMode::Snapshot, &id)), None);
        p.durable.run_background();
        p.logs.borrow_mut().clear();
        assert_eq!(code(run(&p, &cache, RevocationMode::Snapshot, &id)), None);
        assert!(p
            .logs
            .borrow()
            .iter()
            .any(|l| l.contains("revocation_refresh_failed")));
        p.now_ms.set(NOW * 1000 + 5_000);
        assert_eq!(
            code(run(&p, &cache, RevocationMode::Snapshot, &id)),
            Some("revocation_unavailable")
        );
        assert_eq!(
            code(run(&p, &cache, RevocationMode::Strict, &id)),
            Some("revocation_unavailable")
        );
        // Back: the next request refreshes inline and is served.
        p.durable.down.set(false);
        assert_eq!(code(run(&p, &cache, RevocationMode::Snapshot, &id)), None);
    }

    #[test]
    fn off_and_public_never_call() {
        let p = FakePlatform::new(NOW);
        p.durable.down.set(true);
        let cache = Rc::new(RefCell::new(SnapshotCache::default()));
        let off = RevocationSettings {
            enabled: false,
            ..settings()
        };
        assert!(block_on(check(
            &p,
            &off,
            &cache,
            RevocationMode::Strict,
            &jwt("a", "b", NOW)
        ))
        .is_ok());
        let mut public = jwt("", "", NOW);
        public.method = AuthMethod::Public;
        assert!(block_on(check(
            &p,
            &settings(),
            &cache,
            RevocationMode::Snapshot,
            &public
        ))
        .is_ok());
        assert_eq!(p.durable.revocation_calls.get(), 0);
    }

    /// 500 cases from a fixed seed unless `PROPTEST_CASES` / `PROPTEST_RNG_SEED` say otherwise
    /// (as in `tests/common/mod.rs`).
    fn proptest_config() -> proptest::test_runner::Config {
        use proptest::test_runner::{Config, RngSeed};
        let mut c = Config {
            failure_persistence: None,
            ..Config::default()
        };
        if std::env::var_os("PROPTEST_CASES").is_none() {
            c.cases = 500;
        }
        if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
            c.rng_seed = RngSeed::Fixed(7);
        }
        c
    }

    proptest::proptest! {
        #![proptest_config(proptest_config())]

        /// `strict` mode's answers from the object, valid, of any shape, or random text: never a
        /// panic; admitted only on a readable answer that says "not revoked"; an unreadable one
        /// is 503 `revocation_unavailable` (fail closed), never an admission.
        #[test]
        fn strict_answers_of_any_shape(
            version in proptest::prelude::any::<u64>(),
            revoked in proptest::option::of("[a-z]{0,8}"),
            before in proptest::option::of(proptest::prelude::any::<u64>()),
            extra in proptest::option::of("[a-z]{1,5}"),
            raw in ".{0,40}",
            use_raw in proptest::prelude::any::<bool>(),
        ) {
            let mut answer = json!({"version": version, "revoked": revoked, "before": before});
            if let Some(name) = extra {
                answer[name] = json!(1);
            }
            let text = if use_raw { raw } else { answer.to_string() };
            let p = FakePlatform::new(NOW);
            *p.durable.revocation_answer.borrow_mut() = Some(text.clone());
            let cache = Rc::new(RefCell::new(SnapshotCache::default()));
            let id = jwt("alice", "j1", NOW - 10);
            let verdict = code(run(&p, &cache, RevocationMode::Strict, &id));
            match super::client::read_check_answer(&text) {
                Ok(a) if a.revoked.is_none() => proptest::prop_assert_eq!(verdict, None),
                Ok(_) => proptest::prop_assert_eq!(verdict, Some("token_revoked")),
                Err(_) => proptest::prop_assert_eq!(verdict, Some("revocation_unavailable")),
            }
        }
    }
}
