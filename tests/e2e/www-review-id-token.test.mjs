// Review of validateIdToken() (issue 14): options that would silently switch a check off. The
// packaged helper (www/pkg) in Node, the issuer's JWKS served by a scripted `fetch`, tokens signed
// with `jose`.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT, generateKeyPair, exportJWK } from "jose";

const PKG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../www/pkg");
if (!existsSync(path.join(PKG, "index.js"))) throw new Error("www/pkg is missing: run `make www` first");
const { validateIdToken, isPkceError } = await import(path.join(PKG, "index.js"));

const ISSUER = "https://issuer.example";
const CLIENT = "spa-client";
const NONCE = "n-review";
let key;
let jwks;
before(async () => {
  key = await generateKeyPair("ES256");
  jwks = { keys: [{ ...(await exportJWK(key.publicKey)), kid: "k1", alg: "ES256" }] };
});

const now = () => Math.floor(Date.now() / 1000);
let uri = 0;
const expected = (over = {}) => ({
  issuer: ISSUER,
  clientId: CLIENT,
  nonce: NONCE,
  jwksUri: `${ISSUER}/jwks/${uri++}`,
  fetch: async () => new Response(JSON.stringify(jwks), { headers: { "content-type": "application/json" } }),
  ...over,
});
const sign = (claims) =>
  new SignJWT({ iss: ISSUER, aud: CLIENT, sub: "alice", nonce: NONCE, ...claims }).setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(key.privateKey);

async function refusal(promise) {
  try {
    await promise;
  } catch (e) {
    assert.ok(isPkceError(e), `a PkceError, got ${e}`);
    return e;
  }
  assert.fail("expected a PkceError, the promise resolved");
}

// leewaySeconds "60" (read from a config string) made `exp + leeway` a string concatenation:
// "1700000000" + "60" compares as 170000000060, and a token expired an hour ago was accepted.
for (const [name, leewaySeconds] of [["a string", "60"], ["negative", -5], ["Infinity", Infinity], ["NaN", NaN]]) {
  test(`leewaySeconds ${name} → invalid_parameter naming the field, not a check switched off`, async () => {
    const expiredAnHourAgo = await sign({ exp: now() - 3600, iat: now() - 7200 });
    const e = await refusal(validateIdToken(expiredAnHourAgo, expected({ leewaySeconds })));
    assert.equal(e.code, "invalid_parameter");
    assert.equal(e.field, "leewaySeconds");
  });
}

for (const [name, nowOption] of [["a string", String(Date.now())], ["NaN", NaN]]) {
  test(`now ${name} → invalid_parameter naming the field`, async () => {
    const expiredAnHourAgo = await sign({ exp: now() - 3600, iat: now() - 7200 });
    const e = await refusal(validateIdToken(expiredAnHourAgo, expected({ now: nowOption })));
    assert.equal(e.code, "invalid_parameter");
    assert.equal(e.field, "now");
  });
}

test("leewaySeconds 0 and a number are accepted as before", async () => {
  const fresh = await sign({ exp: now() + 300, iat: now() });
  assert.equal((await validateIdToken(fresh, expected({ leewaySeconds: 0 }))).sub, "alice");
  assert.equal((await validateIdToken(fresh, expected({ leewaySeconds: 120 }))).sub, "alice");
  assert.equal((await validateIdToken(fresh, expected({ leewaySeconds: undefined }))).sub, "alice");
  assert.equal((await validateIdToken(fresh, expected({ leewaySeconds: null }))).sub, "alice", "null is the default, like undefined");
});
