// End-to-end (issue 13, RFC 9449 §5): the gateway's own sessions issue DPoP-bound access tokens to
// a client that sends a proof at login, and refresh such a session only with a proof by the same
// key. Proofs by panva's `jose`; the real SessionFamily and DpopReplay objects in workerd.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes, randomUUID, createHash } from "node:crypto";
import { generateKeyPair, exportJWK, calculateJwkThumbprint, SignJWT } from "jose";
import { startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";
import { startIsolates } from "../support/isolates.mjs";
import { startLoginOrigin, USERS } from "../support/login-origin.mjs";

const GATEWAY = "http://localhost:8787";
const COOKIE = "__Host-portcullis_refresh";
const secret = randomBytes(32).toString("hex");
let origin, issuer, login, env, gw, holder, other;

function signingKeys() {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = { ...privateKey.export({ format: "jwk" }), kid: "gw-1", alg: "ES256" };
  return JSON.stringify({ active: "gw-1", keys: [jwk] });
}

async function makeHolder() {
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk, "sha256") };
}

function proof(h, htm, htu, token) {
  const claims = { jti: randomUUID(), htm, htu, iat: Math.floor(Date.now() / 1000) };
  if (token) claims.ath = createHash("sha256").update(token).digest("base64url");
  return new SignJWT(claims).setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk: h.jwk }).sign(h.privateKey);
}

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["ES256"] });
  login = await startLoginOrigin({ secret });
  const cfg = baseConfig({
    origin: origin.url,
    issuer,
    extra: {
      dpop: { enabled: true },
      sessions: { enabled: true, issuer: "http://127.0.0.1:9/portcullis", audiences: ["https://api.portcullis.test"], login: { url: login.loginUrl } },
    },
  });
  env = await startIsolates(JSON.stringify(cfg), { count: 1, extraBindings: { PORTCULLIS_SIGNING_KEYS: signingKeys(), PORTCULLIS_LOGIN_SECRET: secret } });
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
const cookieOf = (res) => new RegExp(`^${COOKIE}=([^;]*)`).exec(res.headers.get("set-cookie") ?? "")?.[1];

async function loginWith(dpop) {
  const headers = { ...json, ...(dpop ? { dpop } : {}) };
  const res = await gw.fetch(`${GATEWAY}/auth/login`, { method: "POST", headers, body: JSON.stringify({ username: "alice", password: USERS.alice.password }) });
  return { res, body: await res.clone().json().catch(() => null) };
}

test("a login with a DPoP proof gets a DPoP-bound token: token_type DPoP, cnf.jkt of the proof key", async () => {
  const { res, body } = await loginWith(await proof(holder, "POST", `${GATEWAY}/auth/login`));
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.token_type, "DPoP");
  const claims = JSON.parse(Buffer.from(body.access_token.split(".")[1], "base64url").toString());
  assert.deepEqual(claims.cnf, { jkt: holder.jkt });
  const token = body.access_token;
  const ok = await gw.fetch(`${GATEWAY}/api/x`, { headers: { authorization: `DPoP ${token}`, dpop: await proof(holder, "GET", `${GATEWAY}/api/x`, token) } });
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
  const { res } = await loginWith(await proof(holder, "POST", `${GATEWAY}/auth/login`));
  let cookie = cookieOf(res);
  const refresh = async (dpop) =>
    gw.fetch(`${GATEWAY}/auth/refresh`, { method: "POST", headers: { ...json, cookie: `${COOKIE}=${cookie}`, ...(dpop ? { dpop } : {}) }, body: "{}" });
  const good = await refresh(await proof(holder, "POST", `${GATEWAY}/auth/refresh`));
  const body = await good.json();
  assert.equal(good.status, 200, JSON.stringify(body));
  assert.equal(body.token_type, "DPoP");
  cookie = cookieOf(good);
  const none = await problemOf(await refresh());
  assert.equal(none.status, 401);
  assert.equal(none.code, "dpop_proof_missing");
  const { res: res2 } = await loginWith(await proof(holder, "POST", `${GATEWAY}/auth/login`));
  cookie = cookieOf(res2);
  const wrongKey = await problemOf(await refresh(await proof(other, "POST", `${GATEWAY}/auth/refresh`)));
  assert.equal(wrongKey.status, 401);
  assert.equal(wrongKey.code, "token_binding_mismatch");
});
