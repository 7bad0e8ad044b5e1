// Claims to headers (`issuers[].claims_to_headers`, `introspection.claims_to_headers`) in workerd
// (found by review 4): `identity_header_prefixes` may not open the client-certificate statements
// (`x-client-cert-*`, `x-ssl-client-*`, `x-ssl-cert`, …) to claims. An origin behind a
// TLS-terminating proxy reads those as the connection's verified certificate, and the gateway
// makes them from `request.cf` alone (docs/mtls.md); a prefix such as `x-client-cert-` or `x-ssl-`
// let a token's claim (or an introspection answer's member) speak for the TLS connection, next to
// or instead of the gateway's own `x-client-cert-subject`.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";
import { startIntrospectionServer, introspectionSection, clientKey, BASIC_SECRET } from "../support/introspection-as.mjs";

let origin;
let issuer;
let as;

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["ES256"] });
  as = await startIntrospectionServer({ gatewayPublicJwk: clientKey().publicJwk });
});

after(async () => {
  await origin?.close();
  await issuer?.close();
  await as?.close();
});

/** The `config_invalid` errors' paths a gateway logged. */
async function configErrors(gw) {
  await gw.settleLogs();
  const line = gw.logs
    .map((m) => {
      try {
        return JSON.parse(m);
      } catch {
        return null;
      }
    })
    .find((l) => l?.event === "config_invalid");
  return line?.errors.map((e) => e.path) ?? [];
}

test("an issuer's claim cannot be forwarded as a client-certificate statement: the prefix is refused (503 gateway_misconfigured)", async () => {
  for (const [prefix, header] of [
    ["x-client-cert-", "x-client-cert-subject"],
    ["x-ssl-", "x-ssl-client-verify"],
  ]) {
    const gw = await startGateway(
      baseConfig({
        origin: origin.url,
        issuer,
        algorithms: ["ES256"],
        issuerExtra: { claims_to_headers: { [header]: "cert" } },
        extra: { identity_header_prefixes: [prefix] },
      }),
    );
    try {
      const token = await issuer.mint({ alg: "ES256", claims: { cert: "SUCCESS" } });
      const res = await gw.fetch("/api/echo", { headers: { authorization: `Bearer ${token}` } });
      const { status, code, body } = await problemOf(res);
      assert.equal(status, 503, `${prefix}: ${JSON.stringify(body)}`);
      assert.equal(code, "gateway_misconfigured");
      assert.deepEqual(await configErrors(gw), ["identity_header_prefixes[0]"]);
    } finally {
      await gw.dispose();
    }
  }
});

test("an introspection answer's member cannot be forwarded as a client-certificate statement either", async () => {
  const gw = await startGateway(
    {
      origin: origin.url,
      realm: "test",
      transport: { https: "allow" },
      identity_header_prefixes: ["x-client-cert-"],
      introspection: introspectionSection(as, { claims_to_headers: { "x-client-cert-fingerprint": "fp" } }),
      routes: [{ name: "api", methods: ["GET"], path: "/api/*", auth: ["jwt"], scopes: ["read:echo"] }],
    },
    { extraBindings: { PORTCULLIS_INTROSPECTION_SECRET: BASIC_SECRET } },
  );
  try {
    const token = await as.issueUserToken({ sub: "alice", extra: { fp: "AA:BB" } });
    const { status, code, body } = await problemOf(await gw.fetch("/api/echo", { headers: { authorization: `Bearer ${token}` } }));
    assert.equal(status, 503, JSON.stringify(body));
    assert.equal(code, "gateway_misconfigured");
    assert.deepEqual(await configErrors(gw), ["identity_header_prefixes[0]"]);
  } finally {
    await gw.dispose();
  }
});

test("a prefix beside the certificate statements stays usable (x-client-app-)", async () => {
  const gw = await startGateway(
    baseConfig({
      origin: origin.url,
      issuer,
      algorithms: ["ES256"],
      issuerExtra: { claims_to_headers: { "x-client-app-name": "app" } },
      extra: { identity_header_prefixes: ["x-client-app-"] },
    }),
  );
  try {
    const token = await issuer.mint({ alg: "ES256", claims: { app: "billing" } });
    const res = await gw.fetch("/api/echo", { headers: { authorization: `Bearer ${token}`, "x-client-app-name": "forged" } });
    const { status, body } = await problemOf(res);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.headers["x-client-app-name"], "billing");
  } finally {
    await gw.dispose();
  }
});
