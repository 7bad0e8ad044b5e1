// End-to-end: the isolate's JWKS cache against a real JWKS server — rotation, the unknown-kid
// refetch cooldown, shared in-flight fetches, stale-if-error, and failing closed.

import { test } from "node:test";
import assert from "node:assert/strict";
import { startGateway, startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function setup({ jwks = {}, cacheControl = "max-age=300", algs = ["RS256", "ES256"] } = {}) {
  const origin = await startEchoOrigin();
  const issuer = await startIssuer({ algs, cacheControl });
  const gw = await startGateway(baseConfig({ origin: origin.url, issuer, extra: { jwks } }));
  const call = (token) => gw.fetch("/api/x", { headers: { authorization: `Bearer ${token}` } });
  return {
    origin,
    issuer,
    gw,
    call,
    async close() {
      await gw.dispose();
      await origin.close();
      await issuer.close();
    },
  };
}

test("concurrent cold requests share one JWKS fetch", async () => {
  const s = await setup();
  try {
    const tokens = await Promise.all(Array.from({ length: 20 }, () => s.issuer.mint()));
    const results = await Promise.all(tokens.map((t) => s.call(t)));
    assert.deepEqual(results.map((r) => r.status), Array(20).fill(200));
    assert.equal(s.issuer.state.jwksRequests, 1);
  } finally {
    await s.close();
  }
});

test("an unknown-kid flood causes at most one refetch per cooldown", async () => {
  const s = await setup({ jwks: { refetch_cooldown_seconds: 30 } });
  try {
    assert.equal((await s.call(await s.issuer.mint())).status, 200);
    assert.equal(s.issuer.state.jwksRequests, 1);
    // The warm-up fetch started the cooldown: a burst of random kids now fetches nothing more.
    const rsa = s.issuer.keyFor("RS256");
    const forged = await Promise.all(
      Array.from({ length: 50 }, (_, i) => s.issuer.mint({ key: { ...rsa, kid: `unknown-${i}` } })),
    );
    const results = await Promise.all(forged.map((t) => s.call(t)));
    for (const r of results) {
      const p = await problemOf(r);
      assert.equal(p.status, 401);
      assert.equal(p.code, "token_key_unknown");
    }
    assert.equal(s.issuer.state.jwksRequests, 1);
  } finally {
    await s.close();
  }
});

test("after the cooldown, an unknown kid triggers exactly one refetch, shared by concurrent requests", async () => {
  const s = await setup({ jwks: { refetch_cooldown_seconds: 1 } });
  try {
    assert.equal((await s.call(await s.issuer.mint())).status, 200);
    await sleep(1100);
    const rsa = s.issuer.keyFor("RS256");
    const forged = await Promise.all(
      Array.from({ length: 30 }, (_, i) => s.issuer.mint({ key: { ...rsa, kid: `nope-${i}` } })),
    );
    const results = await Promise.all(forged.map((t) => s.call(t)));
    assert.deepEqual(results.map((r) => r.status), Array(30).fill(401));
    assert.equal(s.issuer.state.jwksRequests, 2);
  } finally {
    await s.close();
  }
});

test("key rotation: a new kid is picked up, a removed kid stops working", async () => {
  const s = await setup({
    jwks: { refetch_cooldown_seconds: 1, min_ttl_seconds: 1, default_ttl_seconds: 1 },
    cacheControl: "max-age=1",
  });
  try {
    const old = s.issuer.keyFor("RS256");
    assert.equal((await s.call(await s.issuer.mint({ key: old }))).status, 200);
    // Step 1: the issuer publishes a new key and starts signing with it.
    const fresh = await s.issuer.addKey("RS256", "rotated-2");
    await sleep(1100);
    assert.equal((await s.call(await s.issuer.mint({ key: fresh }))).status, 200);
    assert.equal((await s.call(await s.issuer.mint({ key: old }))).status, 200, "the old key still verifies during the overlap");
    // Step 2: the old key is withdrawn; once the cached set expires, tokens under it are refused.
    s.issuer.removeKey(old.kid);
    await sleep(1100);
    const p = await problemOf(await s.call(await s.issuer.mint({ key: old })));
    assert.equal(p.status, 401);
    assert.equal(p.code, "token_key_unknown");
    assert.equal((await s.call(await s.issuer.mint({ key: fresh }))).status, 200);
  } finally {
    await s.close();
  }
});

test("a JWKS outage after warm-up keeps serving the cached keys (stale-if-error)", async () => {
  const s = await setup({
    jwks: { refetch_cooldown_seconds: 1, min_ttl_seconds: 1, default_ttl_seconds: 1, stale_if_error_seconds: 3600 },
    cacheControl: "max-age=1",
  });
  try {
    assert.equal((await s.call(await s.issuer.mint())).status, 200);
    s.issuer.state.outage = true;
    await sleep(1100);
    // Fresh tokens (not in the verified-token cache) still verify with the stale keys.
    for (let i = 0; i < 3; i++) {
      assert.equal((await s.call(await s.issuer.mint({ alg: i % 2 ? "ES256" : "RS256" }))).status, 200);
    }
    assert.ok(s.gw.logs.some((l) => l.includes('"event":"jwks_fetch_failed"')));
  } finally {
    await s.close();
  }
});

test("no usable key at all: 503 jwks_unavailable with Retry-After, and the issuer is not hammered", async () => {
  const s = await setup({ jwks: { refetch_cooldown_seconds: 30 } });
  try {
    s.issuer.state.outage = true;
    const first = await s.call(await s.issuer.mint());
    const p = await problemOf(first);
    assert.equal(p.status, 503);
    assert.equal(p.code, "jwks_unavailable");
    const retry = Number(first.headers.get("retry-after"));
    assert.ok(retry >= 29 && retry <= 30, `Retry-After ${retry}`);
    for (let i = 0; i < 10; i++) {
      const r = await problemOf(await s.call(await s.issuer.mint()));
      assert.equal(r.code, "jwks_unavailable");
    }
    assert.equal(s.issuer.state.jwksRequests, 0, "an outage is not retried within the cooldown");
  } finally {
    await s.close();
  }
});

test("a reused token is verified once: the verified-token cache needs no key", async () => {
  const s = await setup({
    jwks: { refetch_cooldown_seconds: 1, min_ttl_seconds: 1, default_ttl_seconds: 1, stale_if_error_seconds: 0 },
    cacheControl: "max-age=1",
  });
  try {
    const token = await s.issuer.mint();
    assert.equal((await s.call(token)).status, 200);
    s.issuer.state.outage = true;
    await sleep(1100);
    // The keys are gone (stale limit 0) but the token was verified before: still admitted.
    assert.equal((await s.call(token)).status, 200);
    const p = await problemOf(await s.call(await s.issuer.mint()));
    assert.equal(p.code, "jwks_unavailable");
  } finally {
    await s.close();
  }
});
