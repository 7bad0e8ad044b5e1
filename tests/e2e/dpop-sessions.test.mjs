// End-to-end (issue 13, RFC 9449 §5): the gateway's own sessions issue DPoP-bound access tokens to
// a client that sends a proof at login, and refresh such a session only with a proof by the same
// key. Proofs by panva's `jose`; the real SessionFamily and DpopReplay objects in workerd.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startEchoOrigin, startIssuer, problemOf } from "./harness.mjs";
import { startIsolates } from "../support/isolates.mjs";
import { startLoginOrigin } from "../support/login-origin.mjs";
import { makeHolder, proof } from "../support/dpop.mjs";
import { REFRESH_COOKIE, dpopSessionsConfig, sessionSecrets, postLogin, refreshCookieOf, claimsOf } from "../support/sessions.mjs";

const GATEWAY = "http://localhost:8787";
const LOGIN_URL = `${GATEWAY}/auth/login`;
const secret = randomBytes(32).toString("hex");
let origin, issuer, login, env, gw, holder, other;

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["ES256"] });
  login = await startLoginOrigin({ secret });
  const cfg = dpopSessionsConfig({ origin, issuer, sessions: { login: { url: login.loginUrl } } });
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

async function loginWith(dpop) {
  const res = await postLogin(gw, LOGIN_URL, { origin: GATEWAY, dpop });
  return { res, body: await res.clone().json().catch(() => null) };
}

test("a login with a DPoP proof gets a DPoP-bound token: token_type DPoP, cnf.jkt of the proof key", async () => {
  const { res, body } = await loginWith(await proof(holder, { htm: "POST", htu: LOGIN_URL }));
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.token_type, "DPoP");
  const claims = claimsOf(body.access_token);
  assert.deepEqual(claims.cnf, { jkt: holder.jkt });
  const token = body.access_token;
  const ok = await gw.fetch(`${GATEWAY}/api/x`, { headers: { authorization: `DPoP ${token}`, dpop: await proof(holder, { htu: `${GATEWAY}/api/x`, token }) } });
  assert.equal(ok.status, 200, await ok.clone().text());
  const bearer = await problemOf(await gw.fetch(`${GATEWAY}/api/x`, { headers: { authorization: `Bearer ${token}` } }));
  assert.equal(bearer.code, "token_bound_as_bearer");
});

test("a login without a proof stays a Bearer session; a broken proof refuses the login", async () => {
  const plain = await loginWith();
  assert.equal(plain.res.status, 200);
  assert.equal(plain.body.token_type, "Bearer");
  const broken = await problemOf((await loginWith("not-a-proof")).res);
  assert.equal(broken.status, 401);
  assert.equal(broken.code, "dpop_proof_invalid");
});

test("a DPoP-bound session refreshes only with a proof by its key", async () => {
  const { res } = await loginWith(await proof(holder, { htm: "POST", htu: LOGIN_URL }));
  let cookie = refreshCookieOf(res);
  const refresh = async (dpop) =>
    gw.fetch(`${GATEWAY}/auth/refresh`, { method: "POST", headers: { ...json, cookie: `${REFRESH_COOKIE}=${cookie}`, ...(dpop ? { dpop } : {}) }, body: "{}" });
  const good = await refresh(await proof(holder, { htm: "POST", htu: `${GATEWAY}/auth/refresh` }));
  const body = await good.json();
  assert.equal(good.status, 200, JSON.stringify(body));
  assert.equal(body.token_type, "DPoP");
  cookie = refreshCookieOf(good);
  const none = await problemOf(await refresh());
  assert.equal(none.status, 401);
  assert.equal(none.code, "dpop_proof_missing");
  const { res: res2 } = await loginWith(await proof(holder, { htm: "POST", htu: LOGIN_URL }));
  cookie = refreshCookieOf(res2);
  const wrongKey = await problemOf(await refresh(await proof(other, { htm: "POST", htu: `${GATEWAY}/auth/refresh` })));
  assert.equal(wrongKey.status, 401);
  assert.equal(wrongKey.code, "token_binding_mismatch");
});
