// End-to-end regressions for what the property and differential tests found (tests/properties_*.rs,
// docs/jose.md "Differential testing"): the built wasm in workerd, a real JWKS server and a real
// echo origin on 127.0.0.1. Each test asserts the exact status and problem code.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe("parser regressions in workerd", () => {
  let origin, issuer, gw;
  before(async () => {
    origin = await startEchoOrigin();
    issuer = await startIssuer();
    // No leeway, so a date's fraction of a second decides alone.
    gw = await startGateway(baseConfig({ origin: origin.url, issuer, issuerExtra: { leeway_seconds: 0 } }));
  });
  after(async () => {
    await gw.dispose();
    await origin.close();
    await issuer.close();
  });

  const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });

  async function expectRefused(token, code) {
    const res = await gw.fetch("/api/items", bearer(token));
    const p = await problemOf(res);
    assert.equal(p.status, 401, JSON.stringify(p.body));
    assert.equal(p.code, code);
    assert.match(res.headers.get("www-authenticate"), /error="invalid_token"/);
  }

  test("a control token with the same setup is admitted", async () => {
    const res = await gw.fetch("/api/items", bearer(await issuer.mint({ alg: "ES256", header: { x5c: ["MIIB"], jku: "https://issuer.example/jwks" } })));
    assert.equal(res.status, 200);
  });

  test("registered header parameters of the wrong JSON type: 401 token_malformed", async () => {
    for (const header of [{ x5c: 5 }, { x5c: [1] }, { jku: 5 }, { x5u: [] }, { x5t: null }, { cty: 7 }, { jwk: "k" }]) {
      await expectRefused(await issuer.mint({ alg: "ES256", header }), "token_malformed");
    }
  });

  test("a fractional nbf counts from the next whole second: 401 token_not_yet_valid", async () => {
    // Start early in a second, so the request is decided within the second the token names.
    while (Date.now() % 1000 > 300) await sleep(20);
    const second = Math.floor(Date.now() / 1000);
    const token = await issuer.mint({ alg: "ES256", claims: { nbf: second + 0.6, iat: second - 5 } });
    await expectRefused(token, "token_not_yet_valid");
    // Once that second has passed, the same token is valid.
    while (Math.floor(Date.now() / 1000) <= second + 1) await sleep(50);
    assert.equal((await gw.fetch("/api/items", bearer(token))).status, 200);
  });
});
