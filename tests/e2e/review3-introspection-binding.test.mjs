// Review 3: a route with `binding = "required"` takes only sender-constrained tokens. An opaque
// token accepted by RFC 7662 introspection is never sender-constrained (the gateway refuses an
// introspection answer with `cnf`), so such a route must refuse it — 401 token_binding_required,
// as it refuses an unbound JWT — and forward nothing. Against a real authorization server
// (oidc-provider, tests/support/introspection-as.mjs).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, startEchoOrigin, problemOf } from "./harness.mjs";
import { startIntrospectionServer, introspectionSection, clientKey, BASIC_SECRET } from "../support/introspection-as.mjs";

let origin, as, gw;

before(async () => {
  origin = await startEchoOrigin();
  as = await startIntrospectionServer({ gatewayPublicJwk: clientKey().publicJwk });
  gw = await startGateway(
    {
      origin: origin.url,
      realm: "test",
      transport: { https: "allow" },
      introspection: introspectionSection(as),
      routes: [
        { name: "open", methods: ["GET"], path: "/api/*", auth: ["jwt"] },
        { name: "bound", methods: ["GET"], path: "/bound/*", auth: ["jwt"], binding: "required" },
      ],
    },
    { extraBindings: { PORTCULLIS_INTROSPECTION_SECRET: BASIC_SECRET } },
  );
});

after(async () => {
  await gw?.dispose();
  await as?.close();
  await origin?.close();
});

test("an introspected (opaque, unbound) token is refused on a binding = required route", async () => {
  const token = await as.issueUserToken({ sub: "alice" });
  const bearer = { headers: { authorization: `Bearer ${token}` } };
  // The token itself is good: an optional-binding route forwards it.
  const ok = await gw.fetch("/api/orders", bearer);
  assert.equal(ok.status, 200, await ok.clone().text());
  assert.equal((await ok.json()).headers["x-auth-method"], "introspection");

  const res = await gw.fetch("/bound/orders", bearer);
  const p = await problemOf(res);
  assert.equal(res.status, 401, JSON.stringify(p.body));
  assert.equal(p.code, "token_binding_required");
});
