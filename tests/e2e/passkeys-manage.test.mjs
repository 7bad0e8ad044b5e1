// End-to-end: listing and deleting passkeys in workerd — the account page's endpoints
// (`GET /auth/passkeys`, `DELETE /auth/passkeys/{id}`) and the admin API's
// (`/admin/passkeys/{subject}[/{id}]`), over the real PasskeyStore Durable Object and the software
// authenticator of passkeys.test.mjs (node:crypto keys, real CBOR, real signatures). A deleted
// passkey no longer logs in (the same code as one never registered); another user's id is
// answered as absent; a delete needs a recent authentication (RFC 9470 max_age challenge).

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, createHash } from "node:crypto";
import { startEchoOrigin, startIssuer, startGateway, baseConfig, problemOf } from "./harness.mjs";
import { startLoginOrigin, USERS } from "../support/login-origin.mjs";
import { SoftAuthenticator, FLAGS, b64url } from "../support/webauthn-authenticator.mjs";
import { signingKeys, claimsOf } from "../support/sessions.mjs";

const RP_ID = "app.example.test";
const APP = "https://app.example.test";
const GW_ISSUER = "http://127.0.0.1:9/portcullis";
const AUDIENCE = "https://api.portcullis.test";
const MFA_ACR = "urn:portcullis:acr:mfa";
const secret = randomBytes(32).toString("hex");
const keySet = signingKeys();
const now = () => Math.floor(Date.now() / 1000);

let origin, issuer, login, gw, worker, sessions;

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["RS256"] });
  login = await startLoginOrigin({ secret });
  sessions = {
    enabled: true,
    issuer: GW_ISSUER,
    audiences: [AUDIENCE],
    access_token_ttl_seconds: 300,
    app_origins: [APP],
    login: { url: login.loginUrl },
    token_exchange: { issuers: [issuer.url], scope_map: { "read:echo": ["read:echo"] } },
  };
  const cfg = baseConfig({
    origin: origin.url,
    issuer,
    extra: {
      realm: "pk",
      sessions,
      passkeys: { enabled: true, rp_id: RP_ID, rp_name: "Portcullis tests", allowed_origins: [APP], login_scope: "read:echo" },
      admin: { enabled: true, credentials: ["jwt"] },
    },
  });
  gw = await startGateway(cfg, { extraBindings: { PORTCULLIS_SIGNING_KEYS: keySet, PORTCULLIS_LOGIN_SECRET: secret } });
  worker = await gw.mf.getWorker();
});

after(async () => {
  await gw?.dispose();
  await origin?.close();
  await issuer?.close();
  await login?.close();
});

/** One call from the app's page: `{status, code, body, headers}`. */
async function call(method, path, { token, body, headers = {} } = {}) {
  const h = { origin: APP, ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (body !== undefined) h["content-type"] = "application/json";
  const res = await gw.fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const p = await problemOf(res);
  return { status: res.status, code: p.code, body: p.body, headers: res.headers };
}

const expect = (r, status, code) =>
  assert.deepEqual({ status: r.status, code: r.code }, { status, code }, JSON.stringify(r.body));

async function password(username) {
  const r = await call("POST", "/auth/login", { body: { username, password: USERS[username].password } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.access_token;
}

/** A token of the gateway's own issuer minted by the worker, with the given claims. */
const minted = (claims) =>
  worker.mintWithKeySet(keySet, JSON.stringify(sessions), JSON.stringify({ scope: "read:echo", amr: ["pwd"], ...claims }));

async function register(auth, token) {
  const options = await call("POST", "/auth/passkeys/register/options", { token, body: {} });
  assert.equal(options.status, 200, JSON.stringify(options.body));
  const r = await call("POST", "/auth/passkeys/register/verify", { token, body: auth.register(options.body.publicKey, APP) });
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

async function passkeyLogin(auth) {
  const options = await call("POST", "/auth/passkeys/login/options", { body: {} });
  return call("POST", "/auth/passkeys/login/verify", { body: auth.assert(options.body.publicKey, APP) });
}

async function stepUp(auth, token) {
  const options = await call("POST", "/auth/passkeys/step-up/options", { token, body: {} });
  assert.equal(options.status, 200, JSON.stringify(options.body));
  return call("POST", "/auth/passkeys/step-up/verify", { token, body: auth.assert(options.body.publicKey, APP) });
}

const list = (token) => call("GET", "/auth/passkeys", { token });
const remove = (token, id) => call("DELETE", `/auth/passkeys/${id}`, { token });

const auditLines = async (action) => {
  await gw.settleLogs();
  return gw.logs.map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter((l) => l?.audit === action);
};

describe("the account page: list and delete one's own passkeys", () => {
  let token, synced, device;
  before(async () => {
    token = await password("alice");
    synced = new SoftAuthenticator({ alg: "ES256", rpId: RP_ID }); // BE and BS: swk
    device = new SoftAuthenticator({ alg: "EdDSA", rpId: RP_ID, flags: FLAGS.UP | FLAGS.UV, signCount: 3 });
    await register(synced, token);
    await register(device, token);
  });

  test("two passkeys are listed with exactly what is stored, nothing secret; no-store; CORS for the app", async () => {
    const t0 = now();
    assert.equal((await passkeyLogin(device)).status, 200, "a use sets last_used_at and the counter");
    const r = await list(token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.headers.get("cache-control"), "no-store");
    assert.equal(r.headers.get("access-control-allow-origin"), APP);
    assert.equal(r.headers.get("access-control-allow-credentials"), "true");
    const [a, b] = r.body.passkeys;
    assert.equal(r.body.passkeys.length, 2);
    assert.ok(Number.isInteger(a.created_at) && a.created_at <= now() && a.created_at > t0 - 120, JSON.stringify(a));
    assert.ok(b.last_used_at >= t0 && b.last_used_at <= now(), JSON.stringify(b));
    assert.deepEqual(a, {
      credential_id: b64url(synced.credentialId), alg: "ES256", created_at: a.created_at, last_used_at: null,
      backup_eligible: true, backed_up: true, transports: ["internal"], aaguid: "00".repeat(16), attestation: "none", sign_count: 0,
    });
    assert.deepEqual(b, {
      credential_id: b64url(device.credentialId), alg: "EdDSA", created_at: b.created_at, last_used_at: b.last_used_at,
      backup_eligible: false, backed_up: false, transports: ["internal"], aaguid: "00".repeat(16), attestation: "none", sign_count: 4,
    });
    // Another user sees only their own (none).
    assert.deepEqual((await list(await password("bob"))).body, { passkeys: [] });
  });

  test("another user's passkey cannot be deleted: 404 passkey_not_found, as for an id nobody has", async () => {
    const bob = await password("bob");
    expect(await remove(bob, b64url(device.credentialId)), 404, "passkey_not_found");
    expect(await remove(bob, b64url(randomBytes(16))), 404, "passkey_not_found");
    assert.equal((await list(token)).body.passkeys.length, 2, "alice keeps both");
    assert.equal((await passkeyLogin(device)).status, 200, "and the passkey still logs in");
  });

  test("a recently authenticated owner deletes one (204); the list shows the other; the deleted one no longer logs in", async () => {
    const id = b64url(synced.credentialId);
    const r = await remove(token, id);
    assert.equal(r.status, 204, JSON.stringify(r.body));
    assert.equal(r.headers.get("cache-control"), "no-store");
    assert.deepEqual((await list(token)).body.passkeys.map((p) => p.credential_id), [b64url(device.credentialId)]);
    // The same code as a passkey never registered.
    expect(await passkeyLogin(synced), 401, "passkey_credential_unknown");
    const stranger = new SoftAuthenticator({ rpId: RP_ID });
    stranger.userHandle = synced.userHandle;
    expect(await passkeyLogin(stranger), 401, "passkey_credential_unknown");
    // Deleted twice: not found.
    expect(await remove(token, id), 404, "passkey_not_found");
    const [line] = (await auditLines("passkey.deleted")).filter((l) => l.credential_id === id);
    assert.deepEqual(
      { actor: line?.actor, sid: line?.sid, status: line?.status },
      { actor: "alice", sid: claimsOf(token).sid, status: 204 },
    );
    // The id is free again: the same authenticator's credential registers anew.
    await register(synced, token);
    assert.equal((await passkeyLogin(synced)).status, 200);
  });

  test("an authentication older than delete_max_age_seconds: 401 mfa_required with max_age; a step-up passes", async () => {
    const stale = await minted({ sub: "alice", sid: claimsOf(token).sid, auth_time: now() - 600 });
    const id = b64url(device.credentialId);
    const r = await remove(stale, id);
    expect(r, 401, "mfa_required");
    assert.equal(r.body.max_age, 300);
    const challenge = r.headers.get("www-authenticate");
    assert.match(challenge, /^Bearer realm="pk", error="insufficient_user_authentication", error_description="this route requires an authentication within 300 s: the user authenticated 6\d\d s ago", acr_values="urn:portcullis:acr:mfa", max_age="300"$/);
    // No auth_time at all: the same refusal.
    const none = await minted({ sub: "alice", sid: claimsOf(token).sid });
    expect(await remove(none, id), 401, "mfa_required");
    assert.equal((await list(stale)).body.passkeys.length, 2, "nothing deleted; listing needs no recent authentication");
    // A passkey step-up on the stale session gives a fresh auth_time.
    const stepped = await stepUp(device, stale);
    assert.equal(stepped.status, 200, JSON.stringify(stepped.body));
    assert.equal(claimsOf(stepped.body.access_token).acr, MFA_ACR);
    assert.equal((await remove(stepped.body.access_token, id)).status, 204);
    expect(await passkeyLogin(device), 401, "passkey_credential_unknown");
  });

  test("bad requests: no token, a malformed id, the wrong method, and the preflight", async () => {
    expect(await call("GET", "/auth/passkeys"), 401, "token_missing");
    expect(await call("DELETE", `/auth/passkeys/${b64url(device.credentialId)}`), 401, "token_missing");
    for (const bad of ["AB%3D", "AB", "a+b", "%41%41%41%41"]) {
      expect(await remove(token, bad), 400, "passkey_request_invalid");
    }
    const post = await call("POST", "/auth/passkeys", { token, body: {} });
    expect(post, 405, "request_invalid");
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    const get = await call("GET", `/auth/passkeys/${b64url(device.credentialId)}`, { token });
    expect(get, 405, "request_invalid");
    assert.equal(get.headers.get("allow"), "DELETE");
    expect(await call("GET", "/auth/passkeys/a/b/c", { token }), 404, "route_not_found");
    const preflight = await gw.fetch(`/auth/passkeys/${b64url(device.credentialId)}`, {
      method: "OPTIONS",
      headers: { origin: APP, "access-control-request-method": "DELETE", "access-control-request-headers": "authorization" },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-methods"), "DELETE");
    assert.equal(preflight.headers.get("access-control-allow-origin"), APP);
    assert.equal(preflight.headers.get("access-control-allow-credentials"), "true");
    // A foreign page: refused before anything is read.
    expect(await call("GET", "/auth/passkeys", { token, headers: { origin: "https://evil.example.test" } }), 403, "session_origin_refused");
  });
});

describe("the admin API: a subject's passkeys listed, one deleted, all deleted, audited", () => {
  let admin, bob, one, two;
  const adminCall = async (method, path) => {
    const res = await gw.fetch(`/admin${path}`, { method, headers: { authorization: `Bearer ${admin}` } });
    const p = await problemOf(res);
    return { status: res.status, code: p.code, body: p.body, headers: res.headers };
  };

  before(async () => {
    admin = await minted({ sub: "ops", sid: "sid-ops", scope: "portcullis:admin", auth_time: now() });
    bob = await password("bob");
    one = new SoftAuthenticator({ rpId: RP_ID });
    two = new SoftAuthenticator({ alg: "RS256", rpId: RP_ID });
    await register(one, bob);
    await register(two, bob);
  });

  test("list, delete one, delete all; each audited; the deleted passkeys no longer log in", async () => {
    const listed = await adminCall("GET", "/passkeys/bob");
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    assert.equal(listed.body.subject, "bob");
    assert.deepEqual(listed.body.passkeys.map((p) => [p.credential_id, p.alg]), [[b64url(one.credentialId), "ES256"], [b64url(two.credentialId), "RS256"]]);
    assert.deepEqual(Object.keys(listed.body.passkeys[0]).sort(), ["aaguid", "alg", "attestation", "backed_up", "backup_eligible", "created_at", "credential_id", "last_used_at", "sign_count", "transports"]);

    // alice's id under bob: not found.
    expect(await adminCall("DELETE", `/passkeys/alice/${b64url(one.credentialId)}`), 404, "passkey_not_found");
    const deleted = await adminCall("DELETE", `/passkeys/bob/${b64url(one.credentialId)}`);
    assert.equal(deleted.status, 204);
    expect(await adminCall("DELETE", `/passkeys/bob/${b64url(one.credentialId)}`), 404, "passkey_not_found");
    expect(await passkeyLogin(one), 401, "passkey_credential_unknown");
    assert.equal((await passkeyLogin(two)).status, 200);

    const all = await adminCall("DELETE", "/passkeys/bob");
    assert.equal(all.status, 200, JSON.stringify(all.body));
    assert.deepEqual(all.body, { subject: "bob", deleted: 1 });
    expect(await passkeyLogin(two), 401, "passkey_credential_unknown");
    assert.deepEqual((await adminCall("GET", "/passkeys/bob")).body, { subject: "bob", passkeys: [] });
    assert.deepEqual((await adminCall("DELETE", "/passkeys/bob")).body, { subject: "bob", deleted: 0 });

    const [listLine] = await auditLines("passkey.list");
    assert.deepEqual({ actor: listLine?.actor, subject: listLine?.subject, status: listLine?.status, count: listLine?.count }, { actor: "ops", subject: "bob", status: 200, count: 2 });
    const deleteLines = await auditLines("passkey.delete");
    assert.deepEqual(
      deleteLines.map((l) => [l.subject, l.credential_id, l.status, l.code ?? null]),
      [
        ["alice", b64url(one.credentialId), 404, "passkey_not_found"],
        ["bob", b64url(one.credentialId), 204, null],
        ["bob", b64url(one.credentialId), 404, "passkey_not_found"],
      ],
    );
    const allLines = await auditLines("passkey.delete_all");
    assert.deepEqual(allLines.map((l) => [l.subject, l.deleted, l.credential_ids, l.status]), [
      ["bob", 1, [b64url(two.credentialId)], 200],
      ["bob", 0, [], 200],
    ]);
  });

  test("a percent-encoded subject; bad subjects, ids, methods and paths get their codes", async () => {
    const ana = await minted({ sub: "ana@example.com", sid: "sid-ana", auth_time: now() });
    const key = new SoftAuthenticator({ rpId: RP_ID });
    await register(key, ana);
    const listed = await adminCall("GET", "/passkeys/ana%40example.com");
    assert.deepEqual(listed.body.passkeys.map((p) => p.credential_id), [b64url(key.credentialId)]);
    assert.equal((await adminCall("DELETE", `/passkeys/ana%40example.com/${b64url(key.credentialId)}`)).status, 204);

    expect(await adminCall("GET", "/passkeys/%ZZ"), 400, "request_invalid");
    expect(await adminCall("GET", "/passkeys/a%00b"), 400, "request_invalid");
    expect(await adminCall("DELETE", "/passkeys/bob/AB="), 400, "passkey_request_invalid");
    const post = await adminCall("POST", "/passkeys/bob");
    expect(post, 405, "request_invalid");
    assert.equal(post.headers.get("allow"), "GET, DELETE");
    const get = await adminCall("GET", `/passkeys/bob/${b64url(key.credentialId)}`);
    expect(get, 405, "request_invalid");
    assert.equal(get.headers.get("allow"), "DELETE");
    expect(await adminCall("GET", "/passkeys"), 404, "route_not_found");
    expect(await adminCall("GET", "/passkeys/a/b/c"), 404, "route_not_found");
    assert.ok((await auditLines("passkey.unknown_route")).length >= 2);
  });

  test("without the admin scope: refused", async () => {
    const res = await gw.fetch("/admin/passkeys/bob", { method: "DELETE", headers: { authorization: `Bearer ${bob}` } });
    assert.equal(res.status, 403);
    assert.equal((await problemOf(res)).code, "insufficient_scope");
  });
});

// Found by the adversarial review: a session started by token exchange carries the subject
// token's own `auth_time`, so an upstream login an hour old cannot pass the delete's
// recent-authentication rule merely because the upstream token was minted a second ago; the
// listing answers HEAD as every GET of the gateway does (RFC 9110 §9.3.2), with `Allow: GET, HEAD`
// on a wrong method; a delete whose second store step (the claim's release) fails has still
// removed the passkey: 503, and the audit line is written all the same.

async function exchange(subjectToken) {
  const form = new URLSearchParams({
    grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
    subject_token: subjectToken,
    subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
  });
  const res = await gw.fetch("/auth/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: APP },
    body: form.toString(),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.access_token;
}

// Any well-formed credential id: the rule is checked before the store is asked.
const SOME_ID = "AAEC";

test("an exchanged session keeps the subject token's auth_time: a stale upstream login is challenged on delete", async () => {
  const t = now();
  const stale = await exchange(await issuer.mint({ alg: "RS256", claims: { sub: "erin", auth_time: t - 3600 } }));
  assert.equal(claimsOf(stale).auth_time, t - 3600);
  const r = await call("DELETE", `/auth/passkeys/${SOME_ID}`, { token: stale });
  expect(r, 401, "mfa_required");
  assert.match(r.headers.get("www-authenticate"), /error="insufficient_user_authentication"/);
  assert.match(r.headers.get("www-authenticate"), /max_age="300"/);

  // An auth_time after iat cannot make the session younger than its subject token.
  const future = await exchange(await issuer.mint({ alg: "RS256", claims: { sub: "erin", iat: t - 3600, auth_time: t } }));
  assert.equal(claimsOf(future).auth_time, t - 3600);
  expect(await call("DELETE", `/auth/passkeys/${SOME_ID}`, { token: future }), 401, "mfa_required");

  // A recent upstream login passes the rule (then: no such passkey).
  const fresh = await exchange(await issuer.mint({ alg: "RS256", claims: { sub: "erin", auth_time: t } }));
  assert.equal(claimsOf(fresh).auth_time, t);
  expect(await call("DELETE", `/auth/passkeys/${SOME_ID}`, { token: fresh }), 404, "passkey_not_found");
  // Without auth_time the subject token's iat stands, as documented.
  const noAuthTime = await exchange(await issuer.mint({ alg: "RS256", claims: { sub: "erin", iat: t - 3600 } }));
  assert.equal(claimsOf(noAuthTime).auth_time, t - 3600);
  expect(await call("DELETE", `/auth/passkeys/${SOME_ID}`, { token: noAuthTime }), 401, "mfa_required");
});

test("the listing answers HEAD like GET without a body; a wrong method gets 405 with Allow: GET, HEAD", async () => {
  const token = await password("carol"); // a user with no passkeys (alice has some above)

  const get = await gw.fetch("/auth/passkeys", { headers: { origin: APP, authorization: `Bearer ${token}` } });
  assert.equal(get.status, 200);
  assert.deepEqual(await get.json(), { passkeys: [] });
  const head = await gw.fetch("/auth/passkeys", { method: "HEAD", headers: { origin: APP, authorization: `Bearer ${token}` } });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
  assert.equal(head.headers.get("content-type"), get.headers.get("content-type"));
  assert.equal(head.headers.get("cache-control"), get.headers.get("cache-control"));
  assert.equal(head.headers.get("access-control-allow-origin"), APP);
  // HEAD is authenticated exactly as GET.
  const anonymous = await gw.fetch("/auth/passkeys", { method: "HEAD", headers: { origin: APP } });
  assert.equal(anonymous.status, 401);
  assert.equal(await anonymous.text(), "");

  for (const method of ["POST", "PUT", "PATCH"]) {
    const p = await call(method, "/auth/passkeys", { token });
    expect(p, 405, "request_invalid");
    assert.equal(p.headers.get("allow"), "GET, HEAD", method);
  }
  // The delete takes DELETE only; the ceremonies POST only, as before.
  const del = await call("GET", `/auth/passkeys/${SOME_ID}`, { token });
  expect(del, 405, "request_invalid");
  assert.equal(del.headers.get("allow"), "DELETE");
  for (const path of ["/auth/passkeys/register/options", "/auth/login", "/auth/token"]) {
    for (const method of ["GET", "HEAD"]) {
      const p = await gw.fetch(path, { method, headers: { origin: APP } });
      assert.equal(p.status, 405, `${method} ${path}`);
      assert.equal(p.headers.get("allow"), "POST", `${method} ${path}`);
    }
  }
  // A preflight for the listing names both.
  const pre = await gw.fetch("/auth/passkeys", {
    method: "OPTIONS",
    headers: { origin: APP, "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-methods"), "GET, HEAD");
});

/** One request straight to a PasskeyStore object (the protocol of `webauthn::store`). */
async function storeCall(objectName, request) {
  const ns = await gw.mf.getDurableObjectNamespace("PORTCULLIS_PASSKEYS");
  const res = await ns.get(ns.idFromName(objectName)).fetch("http://do/", { method: "POST", body: JSON.stringify(request) });
  assert.equal(res.status, 200);
  return res.json();
}

test("a delete whose claim release fails has removed the passkey: 503, and the removal is audited", async () => {
  const token = await password("carol"); // a user with no passkeys (alice has some above)
  const auth = new SoftAuthenticator({ alg: "ES256", rpId: RP_ID });
  const options = await call("POST", "/auth/passkeys/register/options", { token, body: {} });
  assert.equal(options.status, 200, JSON.stringify(options.body));
  const registered = await call("POST", "/auth/passkeys/register/verify", { token, body: auth.register(options.body.publicKey, APP) });
  assert.equal(registered.status, 201, JSON.stringify(registered.body));
  const id = b64url(auth.credentialId);

  // The credential's claim object is made to fail the release: its claim given back, and the
  // object then holding another kind of state (the store answers a release there out of contract).
  const claim = `credential:${createHash("sha256").update(auth.credentialId).digest("hex")}`;
  assert.deepEqual(await storeCall(claim, { credential_release: { subject: "carol" } }), { released: { released: true } });
  assert.ok((await storeCall(claim, { user_ensure: { handle: "x" } })).user);

  const before = gw.logs.length;
  const del = await call("DELETE", `/auth/passkeys/${id}`, { token });
  expect(del, 503, "passkey_store_unavailable");
  // The first step ran: the passkey is gone from the account.
  assert.deepEqual((await call("GET", "/auth/passkeys", { token })).body, { passkeys: [] });
  await gw.settleLogs();
  const lines = gw.logs.slice(before).map((l) => { try { return JSON.parse(l); } catch { return null; } });
  const audited = lines.filter((l) => l?.audit === "passkey.deleted");
  assert.equal(audited.length, 1, JSON.stringify(lines));
  const { ts, ...line } = audited[0];
  assert.equal(typeof ts, "number");
  assert.deepEqual(line, {
    audit: "passkey.deleted",
    actor: "carol",
    actor_method: "jwt",
    sid: claimsOf(token).sid,
    outcome: "error",
    status: 503,
    code: "passkey_store_unavailable",
    credential_id: id,
    claim_released: false,
  });
});
