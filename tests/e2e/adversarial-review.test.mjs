// Adversarial review of the location tier, claims, request ids and signing (review1): each test
// here failed against the code before its fix.

import { test } from "node:test";
import assert from "node:assert/strict";
import { startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";
import { startIsolates } from "../support/isolates.mjs";

const KEY = Buffer.alloc(32, 7).toString("base64");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });

test("location tier: a JWKS copy fetched from another jwks_uri (the previous deployment's) is not trusted after jwks_uri changes", async () => {
  const origin = await startEchoOrigin();
  const issuer = await startIssuer({ algs: ["ES256"], cacheControl: "max-age=300" });
  // The host the issuer's keys used to be fetched from (moved away from, or compromised).
  const formerHost = await startIssuer({ algs: ["ES256"], cacheControl: "max-age=300" });
  const config = (jwksUri) => baseConfig({
    origin: origin.url,
    issuer,
    algorithms: ["ES256"],
    issuerExtra: { jwks_uri: jwksUri },
    extra: { location_cache: { enabled: true } },
  });
  // Isolate a runs the previous version of the deployment, b the new one: one location, one cache.
  const env = await startIsolates(null, {
    count: 2,
    configs: [config(formerHost.jwksUri), config(issuer.jwksUri)],
    extraBindings: { PORTCULLIS_LOCATION_CACHE_KEY: KEY },
  });
  try {
    const [previous, current] = env.isolates;
    const formerToken = await formerHost.mint({ alg: "ES256", claims: { iss: issuer.url } });
    const r1 = await previous.fetch("/api/x", bearer(formerToken));
    assert.equal(r1.status, 200, "the previous configuration trusts the former host's keys");
    await r1.text();
    // Its copy of the issuer's JWKS reaches the location's cache in waitUntil.
    await sleep(200);
    assert.equal(formerHost.state.jwksRequests, 1);

    const r2 = await current.fetch("/api/x", bearer(formerToken));
    const p = await problemOf(r2);
    assert.equal(r2.status, 401, "the new configuration must not trust keys from the jwks_uri it no longer names");
    assert.equal(p.code, "token_key_unknown");
    assert.equal(issuer.state.jwksRequests, 1, "the new configuration fetched its own jwks_uri");
    const good = await issuer.mint({ alg: "ES256" });
    assert.equal((await current.fetch("/api/x", bearer(good))).status, 200);
  } finally {
    await env.dispose();
    await issuer.close();
    await formerHost.close();
    await origin.close();
  }
});
