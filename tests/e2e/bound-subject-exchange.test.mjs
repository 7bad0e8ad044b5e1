// End-to-end (RFC 8693 with RFC 9449 / RFC 8705): token exchange at `/auth/token` of a
// sender-constrained subject token. A DPoP-bound upstream token (`cnf.jkt`) is exchanged only with a
// DPoP proof by its key, and the session it starts is bound to that key; without a proof, or with
// another key's, it is refused (400 `subject_token_invalid`, `invalid_grant`) — a stolen bound token
// never becomes a bearer session. A certificate-bound one (`cnf.x5t#S256`) is refused: the session
// endpoints see no client certificate. Real issuer on 127.0.0.1, the real objects in workerd.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startEchoOrigin, startIssuer, startGateway, problemOf } from "./harness.mjs";
import { makeHolder, proof } from "../support/dpop.mjs";
import { signingKeys, dpopSessionsConfig, claimsOf } from "../support/sessions.mjs";

const GATEWAY = "http://gateway.test";
let origin, issuer, gw, holder, thief;

/** A proof by `h` for the token exchange (`POST /auth/token`). */
const tokenProof = (h) => proof(h, { htm: "POST", htu: `${GATEWAY}/auth/token` });

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["ES256"] });
  const cfg = dpopSessionsConfig({
    origin,
    issuer,
    sessions: { token_exchange: { issuers: [issuer.url], scope_map: { "read:echo": ["read:echo"] } } },
  });
  gw = await startGateway(cfg, { extraBindings: { PORTCULLIS_SIGNING_KEYS: signingKeys() } });
  holder = await makeHolder();
  thief = await makeHolder();
});

after(async () => {
  await gw?.dispose();
  await origin?.close();
  await issuer?.close();
});

async function exchange(subjectToken, dpop) {
  const form = new URLSearchParams({
    grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
    subject_token: subjectToken,
    subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
  });
  const headers = { "content-type": "application/x-www-form-urlencoded", origin: GATEWAY, ...(dpop ? { dpop } : {}) };
  return gw.fetch("/auth/token", { method: "POST", headers, body: form.toString() });
}

test("a DPoP-bound subject token is exchanged only with a proof by its key; the session keeps the binding", async () => {
  const bound = await issuer.mint({ alg: "ES256", claims: { sub: "erin", cnf: { jkt: holder.jkt } } });
  for (const [label, dpop] of [["no proof", undefined], ["another key", await tokenProof(thief)]]) {
    const p = await problemOf(await exchange(bound, dpop));
    assert.deepEqual([p.status, p.code, p.body.error], [400, "subject_token_invalid", "invalid_grant"], label);
    assert.match(p.body.detail, /token_binding_mismatch/, label);
  }
  const res = await exchange(bound, await tokenProof(holder));
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.token_type, "DPoP");
  assert.deepEqual(claimsOf(body.access_token).cnf, { jkt: holder.jkt });
  assert.equal(claimsOf(body.access_token).sub, "erin");
});

test("a certificate-bound subject token is refused; an unbound one is exchanged with or without a proof", async () => {
  const x5t = Buffer.alloc(32, 7).toString("base64url");
  const certBound = await issuer.mint({ alg: "ES256", claims: { cnf: { "x5t#S256": x5t } } });
  const p = await problemOf(await exchange(certBound, await tokenProof(holder)));
  assert.deepEqual([p.status, p.code, p.body.error], [400, "subject_token_invalid", "invalid_grant"]);
  assert.match(p.body.detail, /x5t#S256/);

  const plain = await exchange(await issuer.mint({ alg: "ES256" }));
  assert.equal(plain.status, 200);
  assert.equal((await plain.json()).token_type, "Bearer");
  const withProof = await exchange(await issuer.mint({ alg: "ES256" }), await tokenProof(holder));
  assert.equal(withProof.status, 200);
  assert.deepEqual(claimsOf((await withProof.json()).access_token).cnf, { jkt: holder.jkt });
});
