// An introspection answer's claims, like a JWT's: a route's `require` conditions judged on the
// answer's members, and `introspection.claims_to_headers` forwarding them to the origin. Against a
// real authorization server (oidc-provider, tests/support/introspection-as.mjs) whose answers carry
// extra claims (`extraTokenClaims`).

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, startEchoOrigin, problemOf } from "./harness.mjs";
import { startIntrospectionServer, introspectionSection, clientKey, BASIC_SECRET } from "../support/introspection-as.mjs";

const bearer = (t, headers = {}) => ({ headers: { authorization: `Bearer ${t}`, ...headers } });

let origin, as, requiring, forwarding;

function config(introspectionExtra = {}) {
  return {
    origin: origin.url,
    realm: "test",
    transport: { https: "allow" },
    introspection: introspectionSection(as, { cache_ttl_seconds: 60, negative_cache_ttl_seconds: 60, ...introspectionExtra }),
    routes: [
      { name: "tenant", methods: ["GET"], path: "/tenant/*", auth: ["jwt"], scopes: ["read:echo"],
        require: { "org.id": "acme", roles: { any: ["admin", "ops"] } } },
      { name: "api", methods: ["GET"], path: "/api/*", auth: ["jwt"], scopes: ["read:echo"] },
    ],
  };
}

async function call(gw, path, init) {
  const res = await gw.fetch(path, init);
  const p = await problemOf(res);
  return { status: res.status, code: p.code, body: p.body, headers: res.headers };
}

before(async () => {
  origin = await startEchoOrigin();
  as = await startIntrospectionServer({ gatewayPublicJwk: clientKey().publicJwk });
  const secret = { extraBindings: { PORTCULLIS_INTROSPECTION_SECRET: BASIC_SECRET } };
  requiring = await startGateway(config(), secret);
  forwarding = await startGateway(
    config({
      claims_to_headers: {
        "x-user-email": "email",
        "x-auth-tenant": "org.id",
        "x-user-roles": "roles",
        "x-auth-sub": "sub",
      },
    }),
    secret,
  );
});

after(async () => {
  await requiring?.dispose();
  await forwarding?.dispose();
  await as?.close();
  await origin?.close();
});

describe("require on an introspected token", () => {
  test("the answer's claims meet the route's conditions: 200, on a cache hit too", async () => {
    const token = await as.issueUserToken({ sub: "alice", extra: { org: { id: "acme" }, roles: ["ops"] } });
    const before = as.counts.introspection;
    for (let i = 0; i < 2; i++) {
      const r = await call(requiring, "/tenant/orders", bearer(token));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.headers["x-user-id"], "alice");
    }
    assert.equal(as.counts.introspection, before + 1, "the second request was a cache hit");
  });

  test("a wrong claim is 403 claim_requirement_failed naming the claim, never its value", async () => {
    const token = await as.issueUserToken({ sub: "bob", extra: { org: { id: "evil-corp" }, roles: ["ops"] } });
    const r = await call(requiring, "/tenant/orders", bearer(token));
    assert.equal(r.status, 403);
    assert.equal(r.code, "claim_requirement_failed");
    assert.equal(r.body.claim, "org.id");
    assert.doesNotMatch(JSON.stringify(r.body), /evil-corp/);
    const roles = await as.issueUserToken({ sub: "bob", extra: { org: { id: "acme" }, roles: ["viewer"] } });
    const r2 = await call(requiring, "/tenant/orders", bearer(roles));
    assert.equal(r2.status, 403);
    assert.equal(r2.code, "claim_requirement_failed");
    assert.equal(r2.body.claim, "roles");
  });

  test("a missing claim is 403 claim_requirement_failed; the route without conditions still admits the token", async () => {
    const token = await as.issueUserToken({ sub: "carol" });
    const r = await call(requiring, "/tenant/orders", bearer(token));
    assert.equal(r.status, 403);
    assert.equal(r.code, "claim_requirement_failed");
    assert.equal(r.body.claim, "org.id");
    assert.equal((await call(requiring, "/api/orders", bearer(token))).status, 200);
  });
});

describe("introspection.claims_to_headers", () => {
  test("the answer's claims reach the origin as headers; a client's copies are stripped", async () => {
    const token = await as.issueUserToken({
      sub: "dana",
      extra: { email: "dana@example.com", org: { id: "acme" }, roles: ["admin", "ops"] },
    });
    const forged = { "x-user-email": "forged@evil.example", "x-auth-tenant": "evil", "x_user_roles": "root" };
    for (let i = 0; i < 2; i++) {
      const r = await call(forwarding, "/api/orders", bearer(token, forged));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const seen = r.body.headers;
      assert.equal(seen["x-auth-method"], "introspection");
      assert.equal(seen["x-user-email"], "dana@example.com");
      assert.equal(seen["x-auth-tenant"], "acme");
      assert.equal(seen["x-user-roles"], "admin,ops");
      // A member the gateway reads itself may be forwarded too, as for a JWT.
      assert.equal(seen["x-auth-sub"], "dana");
      assert.equal(seen["x_user_roles"], undefined);
    }
    // The same conditions apply with claims_to_headers configured.
    assert.equal((await call(forwarding, "/tenant/orders", bearer(token))).status, 200);
  });

  test("an absent claim sends no header, and the client's copy is still stripped", async () => {
    const token = await as.issueUserToken({ sub: "erin" });
    const r = await call(forwarding, "/api/orders", bearer(token, { "x-user-email": "forged@evil.example" }));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.headers["x-user-email"], undefined);
    assert.equal(r.body.headers["x-auth-tenant"], undefined);
    assert.equal(r.body.headers["x-auth-sub"], "erin");
  });

  test("a claim that cannot travel as a header is 401 token_claim_invalid naming the claim; the refusal is cached", async () => {
    for (const [extra, claim] of [
      [{ email: "a@example.com\u0007x" }, "email"],
      [{ email: "a@example.com\r\nx-user-id: admin" }, "email"],
      [{ org: { id: { nested: true } } }, "org.id"],
      [{ org: "flat" }, "org.id"],
      [{ roles: ["admin", "a,b"] }, "roles"],
    ]) {
      const token = await as.issueUserToken({ sub: "mallory", extra });
      const before = as.counts.introspection;
      for (let i = 0; i < 2; i++) {
        const r = await call(forwarding, "/api/orders", bearer(token));
        assert.equal(r.status, 401, JSON.stringify(extra));
        assert.equal(r.code, "token_claim_invalid");
        assert.match(r.body.detail, new RegExp(`"${claim.replace(".", "\\.")}"`));
        assert.match(r.headers.get("www-authenticate"), /error="invalid_token"/);
      }
      assert.equal(as.counts.introspection, before + 1, "the refused answer is cached");
    }
  });
});
