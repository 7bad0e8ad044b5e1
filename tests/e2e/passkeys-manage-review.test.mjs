// End-to-end: the adversarial review of passkey management (GET/DELETE /auth/passkeys[/{id}]) in
// workerd. A session started by token exchange carries the subject token's own `auth_time` (when it
// has one), so an upstream login an hour old cannot pass the delete's recent-authentication rule
// merely because the upstream token was minted a second ago; and the listing answers HEAD as every
// GET of the gateway does (RFC 9110 §9.3.2), with `Allow: GET, HEAD` on a wrong method. A delete
// whose second store step fails (the claim's release) has still removed the passkey: it answers
// 503 and writes the audit line all the same, so no removal goes unrecorded.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, createHash } from "node:crypto";
import { startEchoOrigin, startIssuer, startGateway, baseConfig, problemOf } from "./harness.mjs";
import { startLoginOrigin, USERS } from "../support/login-origin.mjs";
import { signingKeys, claimsOf } from "../support/sessions.mjs";
import { SoftAuthenticator, b64url } from "../support/webauthn-authenticator.mjs";

const RP_ID = "app.example.test";
const APP = "https://app.example.test";
const GW_ISSUER = "http://127.0.0.1:9/portcullis";
const AUDIENCE = "https://api.portcullis.test";
const secret = randomBytes(32).toString("hex");
const now = () => Math.floor(Date.now() / 1000);

let origin, issuer, login, gw;

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["ES256"] });
  login = await startLoginOrigin({ secret });
  const sessions = {
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
      passkeys: { enabled: true, rp_id: RP_ID, rp_name: "Portcullis tests", allowed_origins: [APP] },
    },
  });
  gw = await startGateway(cfg, { extraBindings: { PORTCULLIS_SIGNING_KEYS: signingKeys(), PORTCULLIS_LOGIN_SECRET: secret } });
});

after(async () => {
  await gw?.dispose();
  await origin?.close();
  await issuer?.close();
  await login?.close();
});

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
  const stale = await exchange(await issuer.mint({ alg: "ES256", claims: { sub: "erin", auth_time: t - 3600 } }));
  assert.equal(claimsOf(stale).auth_time, t - 3600);
  const r = await call("DELETE", `/auth/passkeys/${SOME_ID}`, { token: stale });
  expect(r, 401, "mfa_required");
  assert.match(r.headers.get("www-authenticate"), /error="insufficient_user_authentication"/);
  assert.match(r.headers.get("www-authenticate"), /max_age="300"/);

  // An auth_time after iat cannot make the session younger than its subject token.
  const future = await exchange(await issuer.mint({ alg: "ES256", claims: { sub: "erin", iat: t - 3600, auth_time: t } }));
  assert.equal(claimsOf(future).auth_time, t - 3600);
  expect(await call("DELETE", `/auth/passkeys/${SOME_ID}`, { token: future }), 401, "mfa_required");

  // A recent upstream login passes the rule (then: no such passkey).
  const fresh = await exchange(await issuer.mint({ alg: "ES256", claims: { sub: "erin", auth_time: t } }));
  assert.equal(claimsOf(fresh).auth_time, t);
  expect(await call("DELETE", `/auth/passkeys/${SOME_ID}`, { token: fresh }), 404, "passkey_not_found");
  // Without auth_time the subject token's iat stands, as documented.
  const noAuthTime = await exchange(await issuer.mint({ alg: "ES256", claims: { sub: "erin", iat: t - 3600 } }));
  assert.equal(claimsOf(noAuthTime).auth_time, t - 3600);
  expect(await call("DELETE", `/auth/passkeys/${SOME_ID}`, { token: noAuthTime }), 401, "mfa_required");
});

test("the listing answers HEAD like GET without a body; a wrong method gets 405 with Allow: GET, HEAD", async () => {
  const r = await call("POST", "/auth/login", { body: { username: "alice", password: USERS.alice.password } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const token = r.body.access_token;

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
  const r = await call("POST", "/auth/login", { body: { username: "alice", password: USERS.alice.password } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const token = r.body.access_token;
  const auth = new SoftAuthenticator({ alg: "ES256", rpId: RP_ID });
  const options = await call("POST", "/auth/passkeys/register/options", { token, body: {} });
  assert.equal(options.status, 200, JSON.stringify(options.body));
  const registered = await call("POST", "/auth/passkeys/register/verify", { token, body: auth.register(options.body.publicKey, APP) });
  assert.equal(registered.status, 201, JSON.stringify(registered.body));
  const id = b64url(auth.credentialId);

  // The credential's claim object is made to fail the release: its claim given back, and the
  // object then holding another kind of state (the store answers a release there out of contract).
  const claim = `credential:${createHash("sha256").update(auth.credentialId).digest("hex")}`;
  assert.deepEqual(await storeCall(claim, { credential_release: { subject: "alice" } }), { released: { released: true } });
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
    actor: "alice",
    actor_method: "jwt",
    sid: claimsOf(token).sid,
    outcome: "error",
    status: 503,
    code: "passkey_store_unavailable",
    credential_id: id,
    claim_released: false,
  });
});
