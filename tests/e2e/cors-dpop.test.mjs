// End-to-end: a cross-origin browser DPoP client (RFC 9449) through the gateway's CORS. With
// `[dpop] enabled` the default `cors.allowed_headers` lets the browser send `DPoP`, on the routes
// (the `cors` section) and on the session endpoints (their own credentialed CORS for
// `sessions.app_origins`); `DPoP-Nonce` is readable cross-origin when a nonce is issued (§8/§9).
// An operator's explicit `allowed_headers` stays authoritative, and with DPoP off the default list
// is unchanged. Proofs by panva's `jose`; the real DpopReplay and SessionFamily objects in workerd.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import { generateKeyPair, exportJWK, calculateJwkThumbprint, SignJWT } from "jose";
import { startEchoOrigin, startIssuer, startGateway, baseConfig, problemOf } from "./harness.mjs";
import { startLoginOrigin, USERS } from "../support/login-origin.mjs";

const APP = "https://app.example.test";
const GATEWAY = "http://gateway.test";
const NONCE_SECRET = "a-test-secret-of-at-least-32-characters";
const secret = randomBytes(32).toString("hex");
let origin, issuer, login, holder;

function signingKeys() {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = { ...privateKey.export({ format: "jwk" }), kid: "gw-1", alg: "ES256" };
  return JSON.stringify({ active: "gw-1", keys: [jwk] });
}

function proof(h, htm, htu, token) {
  const claims = { jti: randomUUID(), htm, htu, iat: Math.floor(Date.now() / 1000) };
  if (token) claims.ath = createHash("sha256").update(token).digest("base64url");
  return new SignJWT(claims).setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk: h.jwk }).sign(h.privateKey);
}

function config({ dpop, cors = {} }) {
  return baseConfig({
    origin: origin.url,
    issuer,
    extra: {
      ...(dpop ? { dpop } : {}),
      cors: { allowed_origins: [APP], ...cors },
      sessions: {
        enabled: true,
        issuer: "http://127.0.0.1:9/portcullis",
        audiences: ["https://api.portcullis.test"],
        app_origins: [APP],
        login: { url: login.loginUrl },
      },
    },
  });
}

async function withGateway(cfg, run) {
  const gw = await startGateway(cfg, {
    extraBindings: { PORTCULLIS_SIGNING_KEYS: signingKeys(), PORTCULLIS_LOGIN_SECRET: secret, PORTCULLIS_DPOP_NONCE_SECRET: NONCE_SECRET },
  });
  try {
    await run(gw);
  } finally {
    await gw.dispose();
  }
}

/** The preflight answer for `method` `path` asking to send `headers`. */
async function preflight(gw, path, method, headers) {
  const res = await gw.fetch(path, {
    method: "OPTIONS",
    headers: { origin: APP, "access-control-request-method": method, "access-control-request-headers": headers },
  });
  await res.arrayBuffer();
  return res;
}

const listOf = (value) => (value ?? "").split(",").map((h) => h.trim().toLowerCase()).filter(Boolean);

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["ES256"] });
  login = await startLoginOrigin({ secret });
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = await exportJWK(publicKey);
  holder = { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk, "sha256") };
});

after(async () => {
  await origin?.close();
  await issuer?.close();
  await login?.close();
});

test("[dpop] enabled: a route's preflight for DPoP is allowed and a refusal's DPoP-Nonce is readable cross-origin", async () => {
  await withGateway(config({ dpop: { enabled: true, nonce: true } }), async (gw) => {
    const pre = await preflight(gw, "/api/orders", "GET", "authorization,dpop");
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), APP);
    assert.deepEqual(listOf(pre.headers.get("access-control-allow-headers")), ["authorization", "content-type", "x-api-key", "dpop"]);

    // The request itself: a proof without a nonce is refused with one, and the app can read it.
    const token = await issuer.mint({ alg: "ES256", claims: { cnf: { jkt: holder.jkt } } });
    const res = await gw.fetch("/api/orders", {
      headers: { origin: APP, authorization: `DPoP ${token}`, dpop: await proof(holder, "GET", `${GATEWAY}/api/orders`, token) },
    });
    const refused = await problemOf(res);
    assert.deepEqual([refused.status, refused.code], [401, "dpop_nonce_required"]);
    assert.match(res.headers.get("dpop-nonce") ?? "", /^[A-Za-z0-9_-]{32}$/);
    assert.equal(res.headers.get("access-control-allow-origin"), APP);
    assert.ok(listOf(res.headers.get("access-control-expose-headers")).includes("dpop-nonce"), res.headers.get("access-control-expose-headers"));
  });
});

test("[dpop] enabled: the session endpoints' preflight allows DPoP and a login's DPoP-Nonce is readable by the app", async () => {
  await withGateway(config({ dpop: { enabled: true, nonce: true } }), async (gw) => {
    for (const path of ["/auth/login", "/auth/refresh", "/auth/token"]) {
      const pre = await preflight(gw, path, "POST", "content-type,dpop");
      assert.equal(pre.status, 204, path);
      assert.equal(pre.headers.get("access-control-allow-origin"), APP, path);
      assert.equal(pre.headers.get("access-control-allow-credentials"), "true", path);
      assert.deepEqual(listOf(pre.headers.get("access-control-allow-headers")), ["content-type", "authorization", "dpop"], path);
    }
    const res = await gw.fetch("/auth/login", {
      method: "POST",
      headers: { origin: APP, "content-type": "application/json", dpop: await proof(holder, "POST", `${GATEWAY}/auth/login`) },
      body: JSON.stringify({ username: "alice", password: USERS.alice.password }),
    });
    const refused = await problemOf(res);
    assert.deepEqual([refused.status, refused.code], [401, "dpop_nonce_required"]);
    assert.match(res.headers.get("dpop-nonce") ?? "", /^[A-Za-z0-9_-]{32}$/);
    assert.equal(res.headers.get("access-control-allow-origin"), APP);
    assert.deepEqual(listOf(res.headers.get("access-control-expose-headers")), ["www-authenticate", "retry-after", "dpop-nonce"]);
  });
});

test("an operator's explicit cors.allowed_headers is authoritative, with DPoP on", async () => {
  await withGateway(config({ dpop: { enabled: true }, cors: { allowed_headers: ["authorization"] } }), async (gw) => {
    const pre = await preflight(gw, "/api/orders", "GET", "authorization,dpop");
    assert.equal(pre.status, 204);
    assert.deepEqual(listOf(pre.headers.get("access-control-allow-headers")), ["authorization"]);
  });
});

test("[dpop] off: the default lists are unchanged and the session answers expose only the challenge and Retry-After", async () => {
  await withGateway(config({}), async (gw) => {
    const pre = await preflight(gw, "/api/orders", "GET", "authorization");
    assert.deepEqual(listOf(pre.headers.get("access-control-allow-headers")), ["authorization", "content-type", "x-api-key"]);
    const session = await preflight(gw, "/auth/login", "POST", "content-type");
    assert.deepEqual(listOf(session.headers.get("access-control-allow-headers")), ["content-type", "authorization"]);
    const res = await gw.fetch("/auth/login", {
      method: "POST",
      headers: { origin: APP, "content-type": "application/json" },
      body: JSON.stringify({ username: "alice", password: USERS.alice.password }),
    });
    await res.arrayBuffer();
    assert.equal(res.status, 200);
    assert.deepEqual(listOf(res.headers.get("access-control-expose-headers")), ["www-authenticate", "retry-after"]);
  });
});
