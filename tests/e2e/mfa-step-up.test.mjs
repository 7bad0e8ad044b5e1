// End-to-end: per-route step-up (RFC 9470) in workerd. Routes with `mfa = "required"`,
// `acr_values` and `max_age` against tokens of an external issuer carrying `amr`, `acr` and
// `auth_time`, and against an API key (no user factor). Every refusal is 401 `mfa_required` with
// the exact `WWW-Authenticate` challenge.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";
import { seedKey } from "../support/seed.mjs";

const NO_FACTOR = "this route requires a second factor: the token's amr names none";

/** `description` is the exact error_description, or for an age (which may tick by one second
 * between minting and checking) `{ ageBetween: [min, max], maxAge }`. */
async function expectStepUp(res, { description, ageBetween, acrValues, maxAge }) {
  const p = await problemOf(res);
  if (ageBetween) {
    const age = Number(/authenticated (\d+) s ago$/.exec(p.body.detail)?.[1]);
    assert.ok(age >= ageBetween[0] && age <= ageBetween[1], p.body.detail);
    description = `this route requires an authentication within ${maxAge} s: the user authenticated ${age} s ago`;
  }
  assert.equal(p.status, 401, JSON.stringify(p.body));
  assert.equal(p.code, "mfa_required");
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  let challenge =
    `Bearer realm="test", error="insufficient_user_authentication", ` +
    `error_description="${description}", acr_values="${acrValues}"`;
  if (maxAge !== undefined) challenge += `, max_age="${maxAge}"`;
  assert.equal(res.headers.get("www-authenticate"), challenge);
  assert.equal(p.body.acr_values, acrValues);
  assert.equal(p.body.max_age, maxAge);
  assert.equal(p.body.detail, description);
  return p;
}

describe("step-up per route", () => {
  let origin, issuer, gw;
  const now = () => Math.floor(Date.now() / 1000);
  const token = (claims) => issuer.mint({ alg: "ES256", claims });
  const get = async (path, claims) =>
    gw.fetch(path, { headers: { authorization: `Bearer ${await token(claims)}` } });

  before(async () => {
    origin = await startEchoOrigin();
    issuer = await startIssuer({ algs: ["ES256"] });
    const config = baseConfig({ origin: origin.url, issuer });
    config.routes.unshift(
      { name: "mfa", methods: ["GET"], path: "/mfa/*", auth: ["jwt", "api_key"], mfa: "required" },
      { name: "gold", methods: ["GET"], path: "/gold/*", auth: ["jwt"], acr_values: ["gold", "urn:example:platinum"] },
      { name: "recent", methods: ["GET"], path: "/recent/*", auth: ["jwt"], max_age: 60 },
      { name: "all", methods: ["GET"], path: "/all/*", auth: ["jwt"], mfa: "required", acr_values: ["gold"], max_age: 60 },
    );
    gw = await startGateway(config);
  });
  after(async () => {
    await gw.dispose();
    await origin.close();
    await issuer.close();
  });

  test("mfa = required: a token whose amr names no second factor is challenged", async () => {
    for (const amr of [undefined, ["pwd"], ["pwd", "sms"], ["face", "user"]]) {
      await expectStepUp(await get("/mfa/x", { amr }), {
        description: NO_FACTOR,
        acrValues: "urn:portcullis:acr:mfa",
      });
    }
  });

  test("mfa = required: otp, hwk, swk, sc or mfa in amr passes", async () => {
    for (const factor of ["otp", "hwk", "swk", "sc", "mfa"]) {
      const res = await get("/mfa/x", { amr: ["pwd", factor] });
      assert.equal(res.status, 200, `${factor}: ${await res.clone().text()}`);
      const echo = await res.json();
      assert.equal(echo.url, "/mfa/x");
      assert.equal(echo.headers["x-user-id"], "user-123");
    }
  });

  test("an API key never passes a step-up route: it has no user factor", async () => {
    const { key } = await seedKey(gw, ["--client-id", "robot"]);
    const res = await gw.fetch("/mfa/x", { headers: { "x-api-key": key } });
    await expectStepUp(res, {
      description:
        "this route requires a user's second factor, which an API key cannot carry: use a bearer token",
      acrValues: "urn:portcullis:acr:mfa",
    });
  });

  test("acr_values: the token's acr must be listed, compared exactly", async () => {
    const acrValues = "gold urn:example:platinum";
    await expectStepUp(await get("/gold/x", { acr: "silver" }), {
      description: "the token's authentication context class (acr) is not one this route accepts",
      acrValues,
    });
    await expectStepUp(await get("/gold/x", { acr: "Gold" }), {
      description: "the token's authentication context class (acr) is not one this route accepts",
      acrValues,
    });
    await expectStepUp(await get("/gold/x", { amr: ["mfa"] }), {
      description: "this route requires an authentication context class (acr): the token has none",
      acrValues,
    });
    for (const acr of ["gold", "urn:example:platinum"]) {
      assert.equal((await get("/gold/x", { acr })).status, 200, acr);
    }
  });

  test("max_age: auth_time older than the route allows is challenged with max_age", async () => {
    await expectStepUp(await get("/recent/x", { auth_time: now() - 120 }), {
      ageBetween: [120, 121],
      acrValues: "urn:portcullis:acr:mfa",
      maxAge: 60,
    });
    await expectStepUp(await get("/recent/x", {}), {
      description: "this route requires a recent authentication: the token has no auth_time",
      acrValues: "urn:portcullis:acr:mfa",
      maxAge: 60,
    });
    assert.equal((await get("/recent/x", { auth_time: now() - 10 })).status, 200);
  });

  test("every condition at once: checked in order, max_age named only when it is the reason", async () => {
    await expectStepUp(await get("/all/x", { amr: ["pwd"], acr: "gold", auth_time: now() }), {
      description: NO_FACTOR,
      acrValues: "gold",
    });
    await expectStepUp(await get("/all/x", { amr: ["otp"], acr: "gold", auth_time: now() - 3600 }), {
      ageBetween: [3600, 3601],
      acrValues: "gold",
      maxAge: 60,
    });
    assert.equal((await get("/all/x", { amr: ["otp"], acr: "gold", auth_time: now() })).status, 200);
  });

  test("routes without step-up ignore amr, but a malformed amr is refused everywhere", async () => {
    const ok = await get("/api/x", {});
    assert.equal(ok.status, 200);
    for (const [claim, value] of [["amr", "otp"], ["acr", 7], ["auth_time", "yesterday"]]) {
      const p = await problemOf(await get("/api/x", { [claim]: value }));
      assert.equal(p.status, 401);
      assert.equal(p.code, "token_claim_invalid", claim);
      assert.equal(p.body.detail, `the "${claim}" claim has the wrong type or an invalid value`);
    }
  });
});
