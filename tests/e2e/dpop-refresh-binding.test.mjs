// End-to-end (RFC 9449 §5): a refresh of a DPoP-bound session whose proof is wrong — another key, a
// proof for another URL, a replayed proof, none — is refused WITHOUT rotating the refresh token.
// The proof is checked before the SessionFamily object is asked, and the object compares the
// proof's key with the family's bound `cnf.jkt` in the same step as the rotation. Before this, the
// object rotated first and the proof was checked afterwards: a client lost its valid cookie to one
// bad proof, and a stolen cookie with any key burned the family's current token.
//
// `reuse_grace_seconds = 0` and a pause of over a second make a rotated token a replay at once, so a
// refusal that had rotated the cookie shows as 401 `refresh_token_reused` on the next, correct,
// refresh. The real SessionFamily and DpopReplay objects in workerd; proofs by panva's `jose`.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { randomBytes, randomUUID } from "node:crypto";
import { startEchoOrigin, startIssuer, problemOf } from "./harness.mjs";
import { startIsolates } from "../support/isolates.mjs";
import { startLoginOrigin } from "../support/login-origin.mjs";
import { makeHolder, proof } from "../support/dpop.mjs";
import { REFRESH_COOKIE, dpopSessionsConfig, sessionSecrets, postLogin, refreshCookieOf, claimsOf } from "../support/sessions.mjs";

const GATEWAY = "http://localhost:8787";
const LOGIN_URL = `${GATEWAY}/auth/login`;
const REFRESH_URL = `${GATEWAY}/auth/refresh`;
const secret = randomBytes(32).toString("hex");
let origin, issuer, login, env, gw, holder, other;

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["ES256"] });
  login = await startLoginOrigin({ secret });
  const cfg = dpopSessionsConfig({ origin, issuer, sessions: { login: { url: login.loginUrl }, reuse_grace_seconds: 0 } });
  env = await startIsolates(JSON.stringify(cfg), { count: 1, extraBindings: sessionSecrets(secret) });
  gw = env.isolates[0];
  holder = await makeHolder();
  other = await makeHolder();
});

after(async () => {
  await env?.dispose();
  await origin?.close();
  await issuer?.close();
  await login?.close();
});

const json = { "content-type": "application/json", origin: GATEWAY };

async function boundLogin() {
  const res = await postLogin(gw, LOGIN_URL, { origin: GATEWAY, dpop: await proof(holder, { htm: "POST", htu: LOGIN_URL }) });
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal((await res.json()).token_type, "DPoP");
  return refreshCookieOf(res);
}

function refresh(cookie, dpop) {
  return gw.fetch(REFRESH_URL, { method: "POST", headers: { ...json, cookie: `${REFRESH_COOKIE}=${cookie}`, ...(dpop ? { dpop } : {}) }, body: "{}" });
}

/** A refused refresh: its status and code, and it neither sets nor clears the cookie. */
async function assertRefused(res, status, code, label) {
  const p = await problemOf(res);
  assert.equal(p.status, status, `${label}: ${JSON.stringify(p.body)}`);
  assert.equal(p.code, code, label);
  assert.equal(res.headers.get("set-cookie"), null, `${label}: the cookie is left as it was`);
}

/** The cookie still refreshes with a proof by the session's key, and its successor does too. */
async function assertStillRefreshes(cookie, label) {
  // Past the (zero) grace window: a cookie rotated by a refusal would now be a replay.
  await sleep(1100);
  const res = await refresh(cookie, await proof(holder, { htm: "POST", htu: REFRESH_URL }));
  const body = await res.clone().json();
  assert.equal(res.status, 200, `${label}: ${JSON.stringify(body)}`);
  assert.equal(body.token_type, "DPoP");
  const claims = claimsOf(body.access_token);
  assert.deepEqual(claims.cnf, { jkt: holder.jkt });
  const next = refreshCookieOf(res);
  assert.ok(next && next !== cookie, label);
  const again = await refresh(next, await proof(holder, { htm: "POST", htu: REFRESH_URL }));
  assert.equal(again.status, 200, `${label}: the successor refreshes too`);
}

test("a proof by another key is refused (401 token_binding_mismatch) and the cookie still refreshes with the right key", async () => {
  const cookie = await boundLogin();
  await assertRefused(await refresh(cookie, await proof(other, { htm: "POST", htu: REFRESH_URL })), 401, "token_binding_mismatch", "other key");
  await assertRefused(await refresh(cookie, await proof(other, { htm: "POST", htu: REFRESH_URL })), 401, "token_binding_mismatch", "other key, twice");
  await assertStillRefreshes(cookie, "after other-key proofs");
});

test("a refresh without a proof, or with a broken, misdirected or replayed one, rotates nothing", async () => {
  const cookie = await boundLogin();
  await assertRefused(await refresh(cookie), 401, "dpop_proof_missing", "no proof");
  await assertRefused(await refresh(cookie, "not-a-proof"), 401, "dpop_proof_invalid", "broken proof");
  await assertRefused(await refresh(cookie, await proof(holder, { htm: "POST", htu: LOGIN_URL })), 401, "dpop_url_mismatch", "other htu");
  await assertRefused(await refresh(cookie, await proof(holder, { htm: "GET", htu: REFRESH_URL })), 401, "dpop_method_mismatch", "other htm");
  // A proof seen once (by a refused request) is spent: its replay is refused before the family.
  const jti = randomUUID();
  await assertRefused(await refresh(cookie, await proof(other, { htm: "POST", htu: REFRESH_URL, claims: { jti } })), 401, "token_binding_mismatch", "other key");
  await assertRefused(await refresh(cookie, await proof(other, { htm: "POST", htu: REFRESH_URL, claims: { jti } })), 401, "dpop_proof_replayed", "replayed proof");
  await assertStillRefreshes(cookie, "after refused proofs");
});

test("a Bearer session still refreshes without a proof; a stolen cookie with any key cannot bind it", async () => {
  const res = await postLogin(gw, LOGIN_URL, { origin: GATEWAY });
  assert.equal(res.status, 200);
  const cookie = refreshCookieOf(res);
  const plain = await refresh(cookie);
  const body = await plain.json();
  assert.equal(plain.status, 200, JSON.stringify(body));
  assert.equal(body.token_type, "Bearer");
  const next = refreshCookieOf(plain);
  // A proof on an unbound session's refresh is checked like any proof, and binds nothing.
  const withProof = await refresh(next, await proof(other, { htm: "POST", htu: REFRESH_URL }));
  const b2 = await withProof.json();
  assert.equal(withProof.status, 200, JSON.stringify(b2));
  assert.equal(b2.token_type, "Bearer");
  const claims = claimsOf(b2.access_token);
  assert.equal(claims.cnf, undefined);
});

test("reuse_grace_seconds = 0 is no window: the rotated cookie presented again at once is a replay that ends the session", async () => {
  const res = await postLogin(gw, LOGIN_URL, { origin: GATEWAY });
  assert.equal(res.status, 200);
  const cookie = refreshCookieOf(res);
  const first = await refresh(cookie);
  assert.equal(first.status, 200, await first.clone().text());
  const successor = refreshCookieOf(first);
  // Within the same second as the rotation: before, a window of 0 still answered with the successor.
  const again = await problemOf(await refresh(cookie));
  assert.equal(again.status, 401, JSON.stringify(again.body));
  assert.equal(again.code, "refresh_token_reused");
  // The replay ended the family: the successor is dead too.
  const after = await problemOf(await refresh(successor));
  assert.equal(after.status, 401, JSON.stringify(after.body));
});

test("a DPoP-bound session is logged out only with a proof by its key: a stolen cookie alone ends nothing", async () => {
  const LOGOUT_URL = `${GATEWAY}/auth/logout`;
  const logout = (cookie, dpop) =>
    gw.fetch(LOGOUT_URL, { method: "POST", headers: { ...json, cookie: `${REFRESH_COOKIE}=${cookie}`, ...(dpop ? { dpop } : {}) }, body: "{}" });
  const cookie = await boundLogin();
  await assertRefused(await logout(cookie), 401, "dpop_proof_missing", "logout without a proof");
  await assertRefused(await logout(cookie, await proof(other, { htm: "POST", htu: LOGOUT_URL })), 401, "token_binding_mismatch", "logout with another key");
  // A proof for the refresh URL is not one for logout.
  await assertRefused(await logout(cookie, await proof(holder, { htm: "POST", htu: REFRESH_URL })), 401, "dpop_url_mismatch", "logout with a refresh proof");
  // The session survived the refused logouts: it refreshes with its key.
  const res = await refresh(cookie, await proof(holder, { htm: "POST", htu: REFRESH_URL }));
  assert.equal(res.status, 200, await res.clone().text());
  const next = refreshCookieOf(res);
  // Its holder logs out with a proof by the key: ended, the cookie cleared, no refresh after it.
  const out = await logout(next, await proof(holder, { htm: "POST", htu: LOGOUT_URL }));
  assert.equal(out.status, 204, await out.clone().text());
  assert.match(out.headers.get("set-cookie") ?? "", new RegExp(`^${REFRESH_COOKIE}=;`));
  const after = await problemOf(await refresh(next, await proof(holder, { htm: "POST", htu: REFRESH_URL })));
  assert.equal(after.status, 401, JSON.stringify(after.body));
  assert.equal(after.code, "refresh_token_invalid");
});
