// End-to-end (merge of issue 12 into the sessions dispatcher): the TOTP endpoints take a bearer
// token, not the refresh cookie, so a cross-origin app calls them under the gateway's `cors`
// policy, as any route — the preflight is answered from `cors.allowed_origins` and the answer
// carries `access-control-allow-origin` — while the cookie endpoints keep their own CORS, granted
// only to `sessions.app_origins`.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { startGateway, startEchoOrigin, problemOf } from "./harness.mjs";

const SESSIONS = { enabled: true, issuer: "https://gw.portcullis.test", audiences: ["https://api.portcullis.test"] };
const APP = "https://app.portcullis.test";
const now = () => Math.floor(Date.now() / 1000);

let origin, gw, keySet;

before(async () => {
  origin = await startEchoOrigin();
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  keySet = JSON.stringify({ active: "k1", keys: [{ ...privateKey.export({ format: "jwk" }), kid: "k1", alg: "ES256" }] });
  gw = await startGateway(
    {
      origin: origin.url,
      realm: "test",
      transport: { https: "allow" },
      sessions: SESSIONS,
      mfa: { enabled: true },
      cors: { allowed_origins: [APP] },
      routes: [{ name: "read", methods: ["GET"], path: "/api/*", auth: ["jwt"] }],
    },
    { extraBindings: { PORTCULLIS_SIGNING_KEYS: keySet, PORTCULLIS_MFA_KEY: randomBytes(32).toString("base64url") } },
  );
});

after(async () => {
  await gw?.dispose();
  await origin?.close();
});

test("a TOTP endpoint's preflight and answer follow the gateway's cors", async () => {
  const pre = await gw.fetch("/auth/mfa/totp/enroll", {
    method: "OPTIONS",
    headers: { origin: APP, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), APP);

  const worker = await gw.mf.getWorker();
  const token = await worker.mintWithKeySet(
    keySet,
    JSON.stringify(SESSIONS),
    JSON.stringify({ sub: "cors-user", sid: "sid-cors", scope: "", amr: ["pwd"], auth_time: now() }),
  );
  const res = await gw.fetch("/auth/mfa/totp/enroll", {
    method: "POST",
    headers: { origin: APP, authorization: `Bearer ${token}`, "content-type": "application/json" },
  });
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(res.headers.get("access-control-allow-origin"), APP);
  assert.match((await res.json()).secret, /^[A-Z2-7]{32}$/);

  // A refusal carries it too, so the app can read the problem.
  const refused = await gw.fetch("/auth/mfa/totp/enroll", { method: "POST", headers: { origin: APP } });
  assert.equal(refused.headers.get("access-control-allow-origin"), APP);
  assert.equal((await problemOf(refused)).code, "token_missing");
});

test("the cookie endpoints keep their own CORS: an origin only in cors is refused there", async () => {
  const pre = await gw.fetch("/auth/refresh", {
    method: "OPTIONS",
    headers: { origin: APP, "access-control-request-method": "POST" },
  });
  assert.equal(pre.status, 403);
  assert.equal((await problemOf(pre)).code, "session_origin_refused");
});
