// End-to-end: listing and deleting passkeys in workerd — the account page's endpoints
// (`GET /auth/passkeys`, `DELETE /auth/passkeys/{id}`) and the admin API's
// (`/admin/passkeys/{subject}[/{id}]`), over the real PasskeyStore Durable Object and the software
// authenticator of passkeys.test.mjs (node:crypto keys, real CBOR, real signatures). A deleted
// passkey no longer logs in (the same code as one never registered); another user's id is
// answered as absent; a delete needs a recent authentication (RFC 9470 max_age challenge).

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
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
