// Issue 15: claims to headers and claim conditions per route, in workerd in front of a real echo
// origin and a real issuer (JWKS over HTTP) on 127.0.0.1, plus API keys seeded into real local KV.
// The origin receives an issuer's configured claims as headers inside the gateway's namespace — a
// client's copies, in any spelling, never arrive —; a claim that cannot travel as a header refuses
// the token (401 token_claim_invalid); a route's `require` refuses with 403
// claim_requirement_failed naming the claim and never its value, for JWT claims and API-key
// metadata alike.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";

import { startGateway, startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";
import { seedKey } from "../support/seed.mjs";

let origin;
let issuer;
let gw;
let billingKey;
let supportKey;

const TENANT_URL = "https://example.com/claims/tenant";

const GOOD = {
  email: "alice@example.com",
  org: { id: "acme", seats: 12 },
  realm_access: { roles: ["ops", "viewer"] },
  email_verified: true,
  [TENANT_URL]: "t-42",
};

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["ES256"] });
  gw = await startGateway(
    baseConfig({
      origin: origin.url,
      issuer,
      algorithms: ["ES256"],
      issuerExtra: {
        claims_to_headers: {
          "x-user-email": "email",
          "x-auth-org": "org.id",
          "x-auth-seats": "org.seats",
          "x-user-roles": "realm_access.roles",
          "x-user-email-verified": "email_verified",
          "x-acme-tenant": `["${TENANT_URL}"]`,
        },
      },
      extra: {
        identity_header_prefixes: ["x-acme-"],
        api_keys: { prefix: "pc_test", accepted_prefixes: ["pc_test"] },
        routes: [
          { name: "read", methods: ["GET"], path: "/api/*", auth: ["jwt"], scopes: ["read:echo"] },
          {
            name: "ops",
            methods: ["POST"],
            path: "/api/*",
            auth: ["jwt"],
            require: { "org.id": "acme", "realm_access.roles": { any: ["admin", "ops"] }, email_verified: true },
          },
          { name: "all-roles", methods: ["PUT"], path: "/api/*", auth: ["jwt"], require: { "realm_access.roles": { all: ["ops", "viewer"] } } },
          { name: "team", methods: ["GET"], path: "/team/*", auth: ["api_key", "jwt"], require: { team: "billing" } },
        ],
      },
    }),
  );
  ({ key: billingKey } = await seedKey(gw, ["--prefix", "pc_test", "--client-id", "exporter", "--meta", "team=billing"]));
  ({ key: supportKey } = await seedKey(gw, ["--prefix", "pc_test", "--client-id", "helpdesk", "--meta", "team=support"]));
});

after(async () => {
  await gw?.dispose();
  await origin?.close();
  await issuer?.close();
});

async function withToken(method, path, claims, headers = {}) {
  const token = await issuer.mint({ alg: "ES256", claims });
  return gw.fetch(path, { method, headers: { authorization: `Bearer ${token}`, ...headers } });
}

describe("claims_to_headers", () => {
  test("the origin gets each configured claim: strings, numbers, booleans, arrays joined with ',', a quoted URL claim", async () => {
    const res = await withToken("GET", "/api/items", GOOD);
    assert.equal(res.status, 200);
    const seen = (await res.json()).headers;
    assert.equal(seen["x-user-email"], "alice@example.com");
    assert.equal(seen["x-auth-org"], "acme");
    assert.equal(seen["x-auth-seats"], "12");
    assert.equal(seen["x-user-roles"], "ops,viewer");
    assert.equal(seen["x-user-email-verified"], "true");
    assert.equal(seen["x-acme-tenant"], "t-42");
  });

  test("a client's copies never arrive, in any spelling; an absent claim sends no header", async () => {
    const spoofed = {
      "x-user-email": "mallory@example.com",
      X_Auth_Org: "evil",
      "X.User.Roles": "admin",
      "x-acme-tenant": "t-1",
      x_acme_tenant: "t-1",
      "x-acme-other": "1",
    };
    const res = await withToken("GET", "/api/items", { sub: "bob" }, spoofed);
    assert.equal(res.status, 200);
    const seen = (await res.json()).headers;
    for (const name of Object.keys(seen)) {
      assert.ok(!/^x[-_.](user|auth|acme)[-_.]/i.test(name) || ["x-user-id", "x-user-scopes", "x-auth-method", "x-auth-issuer"].includes(name), `${name} reached the origin`);
    }
    assert.equal(seen["x-user-id"], "bob");
  });

  test("a claim that cannot travel as a header refuses the token: 401 token_claim_invalid naming the claim, not its value", async () => {
    for (const [claims, named] of [
      [{ ...GOOD, email: "caf\u00e9@example.com" }, "email"],
      [{ ...GOOD, realm_access: { roles: ["ops", "admin,root"] } }, "realm_access.roles"],
      [{ ...GOOD, org: { id: { nested: true } } }, "org.id"],
      [{ ...GOOD, org: "flat" }, "org.id"],
      [{ ...GOOD, email: null }, "email"],
    ]) {
      const { status, code, body } = await problemOf(await withToken("GET", "/api/items", claims));
      assert.equal(status, 401, named);
      assert.equal(code, "token_claim_invalid", named);
      assert.ok(body.detail.includes(`"${named}"`), body.detail);
      assert.ok(!/admin,root|caf|nested/.test(body.detail), body.detail);
    }
  });
});

describe("require: claim conditions per route", () => {
  test("every condition met: forwarded", async () => {
    assert.equal((await withToken("POST", "/api/items", GOOD)).status, 200);
    assert.equal((await withToken("POST", "/api/items", { ...GOOD, realm_access: { roles: ["admin"] } })).status, 200);
    assert.equal((await withToken("PUT", "/api/items", GOOD)).status, 200);
  });

  test("a condition not met: 403 claim_requirement_failed naming the claim, never a value", async () => {
    for (const [claims, named] of [
      [{ ...GOOD, org: { id: "evil-corp" } }, "org.id"],
      [{ ...GOOD, realm_access: { roles: ["viewer"] } }, "realm_access.roles"],
      [{ ...GOOD, email_verified: "true" }, "email_verified"],
      [{ ...GOOD, email_verified: false }, "email_verified"],
      [(({ email_verified, ...rest }) => rest)(GOOD), "email_verified"],
    ]) {
      const { status, code, body } = await problemOf(await withToken("POST", "/api/items", claims));
      assert.equal(status, 403, named);
      assert.equal(code, "claim_requirement_failed", named);
      assert.equal(body.claim, named);
      assert.ok(body.detail.includes(`"${named}"`), body.detail);
      assert.ok(!/evil|viewer|acme|admin|ops/.test(body.detail), body.detail);
      assert.match(body.instance, /^urn:portcullis:request:[0-9a-f]{32}$/);
    }
    const all = await problemOf(await withToken("PUT", "/api/items", { ...GOOD, realm_access: { roles: ["ops"] } }));
    assert.equal(all.code, "claim_requirement_failed");
  });

  test("API keys are judged on their metadata", async () => {
    const ok = await gw.fetch("/team/report", { headers: { "x-api-key": billingKey } });
    assert.equal(ok.status, 200);
    const { status, code, body } = await problemOf(await gw.fetch("/team/report", { headers: { "x-api-key": supportKey } }));
    assert.equal(status, 403);
    assert.equal(code, "claim_requirement_failed");
    assert.equal(body.claim, "team");
    assert.ok(!body.detail.includes("support") && !body.detail.includes("billing"), body.detail);
    // The same route for a JWT: its `team` claim.
    assert.equal((await withToken("GET", "/team/report", { team: "billing" })).status, 200);
    assert.equal((await withToken("GET", "/team/report", { team: "support" })).status, 403);
  });
});

test("configuration errors name the field by path: a header outside the namespace, a bad condition", async () => {
  const bad = await startGateway(
    baseConfig({
      origin: origin.url,
      issuer,
      issuerExtra: { claims_to_headers: { "x-tenant": "org.id" } },
      extra: { routes: [{ methods: ["GET"], path: "/x", auth: ["jwt"], require: { roles: { regex: "adm.*" } } }] },
    }),
  );
  try {
    const { status, code } = await problemOf(await bad.fetch("/x"));
    assert.equal(status, 503);
    assert.equal(code, "gateway_misconfigured");
    await bad.settleLogs();
    const line = bad.logs.map((m) => { try { return JSON.parse(m); } catch { return null; } }).find((l) => l?.event === "config_invalid");
    const paths = line.errors.map((e) => e.path);
    assert.deepEqual(paths, ["issuers[0].claims_to_headers.x-tenant", "routes[0].require.roles"]);
  } finally {
    await bad.dispose();
  }
});
