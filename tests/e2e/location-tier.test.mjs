// End-to-end: the location tier (`location_cache`, docs/scale.md). Several gateway isolates of one
// location (Miniflare workers sharing one Cache API, one revocation object and one JWKS server)
// with the tier on, beside the same set of isolates with it off: with the tier the revocation
// object sees one delta request per refresh interval for all isolates, and the JWKS server one
// fetch per TTL — without it, one per isolate. A revocation still reaches every isolate within
// the bound. A copy sealed with another key is never believed.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";
import { startIsolates } from "../support/isolates.mjs";

const REFRESH_MS = 400;
const MAX_STALENESS_MS = 2000;
const ISOLATES = 4;
const KEY = Buffer.alloc(32, 7).toString("base64");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowSecs = () => Math.floor(Date.now() / 1000);
const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });

let origin;

function config(issuer, locationCache) {
  const cfg = baseConfig({
    origin: origin.url,
    issuer,
    issuerExtra: { leeway_seconds: 0, max_token_lifetime_seconds: 3600 },
    extra: {
      revocation: { refresh_interval_ms: REFRESH_MS, max_staleness_ms: MAX_STALENESS_MS },
      admin: { enabled: true },
      ...(locationCache ? { location_cache: locationCache } : {}),
    },
  });
  return cfg;
}

/** A location: `ISOLATES` isolates, its own issuer (so JWKS counts are its own), tier on or off. */
async function startLocation({ tier, key = KEY }) {
  const issuer = await startIssuer({ algs: ["ES256"], cacheControl: "max-age=300" });
  const env = await startIsolates(config(issuer, tier ? { enabled: true } : undefined), {
    count: ISOLATES,
    flakyRevocation: true,
    extraBindings: tier ? { PORTCULLIS_LOCATION_CACHE_KEY: key } : {},
  });
  return { issuer, env, dispose: async () => { await env.dispose(); await issuer.close(); } };
}

/** Requests round-robin over the isolates, one at a time, for `ms`; every answer must be 200. */
async function traffic(env, token, ms, gapMs = 25) {
  const end = Date.now() + ms;
  let i = 0;
  while (Date.now() < end) {
    const iso = env.isolates[i++ % env.isolates.length];
    const res = await iso.fetch("/api/x", bearer(token));
    assert.equal(res.status, 200, await res.text());
    await sleep(gapMs);
  }
  return i;
}

before(async () => {
  origin = await startEchoOrigin();
});

after(async () => {
  await origin?.close();
});

describe("the location tier", () => {
  let on, off;
  before(async () => {
    [on, off] = await Promise.all([startLocation({ tier: true }), startLocation({ tier: false })]);
  });
  after(async () => {
    await on?.dispose();
    await off?.dispose();
  });

  test("cold isolates read the location's JWKS copy: one fetch from the identity provider for all of them", async (t) => {
    for (const loc of [on, off]) {
      const token = await loc.issuer.mint({ alg: "ES256" });
      for (const iso of loc.env.isolates) {
        const res = await iso.fetch("/api/x", bearer(token));
        assert.equal(res.status, 200);
        await res.text();
        // The fetching isolate leaves its copy in waitUntil, after its response.
        await sleep(50);
      }
    }
    t.diagnostic(`JWKS fetches for ${ISOLATES} cold isolates: tier on ${on.issuer.state.jwksRequests}, off ${off.issuer.state.jwksRequests}`);
    assert.equal(on.issuer.state.jwksRequests, 1);
    assert.equal(off.issuer.state.jwksRequests, ISOLATES);
  });

  test("the revocation object sees one delta request per refresh interval for the whole location", async (t) => {
    const durationMs = 4000;
    const counts = {};
    for (const [name, loc] of [["on", on], ["off", off]]) {
      const token = await loc.issuer.mint({ alg: "ES256" });
      const before = await loc.env.revocationSnapshots();
      const requests = await traffic(loc.env, token, durationMs);
      await sleep(100);
      counts[name] = { deltas: (await loc.env.revocationSnapshots()) - before, requests };
    }
    const intervals = Math.ceil(durationMs / REFRESH_MS);
    t.diagnostic(`${durationMs} ms of traffic over ${ISOLATES} isolates, refresh ${REFRESH_MS} ms (${intervals} intervals): delta requests with the tier ${counts.on.deltas} (${counts.on.requests} requests), without ${counts.off.deltas} (${counts.off.requests} requests)`);
    // One per interval for the location (plus the interval in progress); without the tier every
    // isolate asks every interval.
    assert.ok(counts.on.deltas <= intervals + 1, `${counts.on.deltas} delta requests for ${intervals} intervals`);
    assert.ok(counts.on.deltas >= intervals - 2, `${counts.on.deltas}: the snapshot kept being refreshed`);
    assert.ok(counts.off.deltas >= (ISOLATES - 1) * (intervals - 2), `${counts.off.deltas} without the tier`);
  });

  test("a revocation reaches every isolate of the location within max_staleness_ms", async (t) => {
    const token = await on.issuer.mint({ alg: "ES256", claims: { jti: "jti-location" } });
    const admin = await on.issuer.mint({ alg: "ES256", claims: { sub: "ops", scope: "portcullis:admin" }, ttl: 3600 });
    for (const iso of on.env.isolates) assert.equal((await iso.fetch("/api/x", bearer(token))).status, 200);
    const [A] = on.env.isolates;
    const r = await A.fetch("/admin/revocations/tokens", {
      method: "POST",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: JSON.stringify({ jti: "jti-location", exp: nowSecs() + 300 }),
    });
    assert.equal(r.status, 201, await r.text());
    const at = Date.now();
    const refusedAfter = [];
    for (const iso of on.env.isolates) {
      for (;;) {
        const res = await iso.fetch("/api/x", bearer(token));
        const p = await problemOf(res);
        if (res.status === 401) {
          assert.equal(p.code, "token_revoked");
          refusedAfter.push(Date.now() - at);
          break;
        }
        assert.equal(res.status, 200);
        assert.ok(Date.now() - at <= MAX_STALENESS_MS, `isolate ${iso.name} still admits the revoked token after ${Date.now() - at} ms`);
        await sleep(20);
      }
    }
    t.diagnostic(`refused by the ${ISOLATES} isolates after ${refusedAfter.join(", ")} ms (refresh ${REFRESH_MS} ms, bound ${MAX_STALENESS_MS} ms)`);
    await sleep(Math.max(0, at + MAX_STALENESS_MS - Date.now()));
    for (const iso of on.env.isolates) {
      assert.equal((await problemOf(await iso.fetch("/api/x", bearer(token)))).code, "token_revoked");
    }
  });
});

describe("a copy another Worker of the zone writes", () => {
  test("is not believed: a forged JWKS copy cannot inject a signing key", async () => {
    const loc = await startLocation({ tier: true });
    try {
      // The attacker's own key, published as the issuer's set at the gateway's cache URL with a
      // tag made with a key it does not have (it cannot know PORTCULLIS_LOCATION_CACHE_KEY).
      const evil = await startIssuer({ algs: ["ES256"] });
      const evilKey = evil.keyFor("ES256");
      const url = jwksCacheUrl(KEY, loc.issuer.url, loc.issuer.jwksUri);
      const now = Date.now();
      await loc.env.cachePut(url, JSON.stringify({
        v: 1, fetched_at_ms: now, fresh_until_ms: now + 600_000, label: loc.issuer.jwksUri,
        payload: JSON.stringify({ keys: [evilKey.publicJwk] }),
        tag: crypto.createHmac("sha256", Buffer.alloc(32, 9)).update("x").digest("base64url"),
      }));
      // A token the attacker signed, naming the real issuer.
      const forged = await evil.mint({ alg: "ES256", claims: { iss: loc.issuer.url } });
      const res = await loc.env.isolates[0].fetch("/api/x", bearer(forged));
      const p = await problemOf(res);
      assert.equal(res.status, 401);
      assert.equal(p.code, "token_key_unknown");
      assert.equal(loc.issuer.state.jwksRequests, 1, "the isolate fetched the real set instead");
      // The genuine issuer's tokens pass.
      const good = await loc.issuer.mint({ alg: "ES256" });
      assert.equal((await loc.env.isolates[1].fetch("/api/x", bearer(good))).status, 200);
      await evil.close();
    } finally {
      await loc.dispose();
    }
  });
});

/**
 * The cache URL of `issuer`'s JWKS copy from `jwksUri` (src/location_cache.rs: a digest of the key,
 * then of the issuer and the configured jwks_uri, length-prefixed).
 */
function jwksCacheUrl(keyB64, issuer, jwksUri) {
  const key = Buffer.from(keyB64, "base64");
  const id = crypto.createHash("sha256").update(Buffer.concat([Buffer.from("portcullis location cache\n"), key])).digest("hex").slice(0, 16);
  const len = Buffer.alloc(8);
  len.writeBigUInt64BE(BigInt(Buffer.byteLength(issuer)));
  const iss = crypto.createHash("sha256").update(Buffer.concat([len, Buffer.from(issuer), Buffer.from([1]), Buffer.from(jwksUri)])).digest("hex");
  return `https://portcullis-location-cache.internal/${id}/jwks/${iss}`;
}

describe("configuration", () => {
  test("location_cache.enabled without the secret, or with a short one, refuses to start with the secret named", async () => {
    const issuer = await startIssuer({ algs: ["ES256"] });
    try {
      for (const [bindings, message] of [
        [{}, /"path":"PORTCULLIS_LOCATION_CACHE_KEY","message":"is not set; location_cache.enabled needs it/],
        [{ PORTCULLIS_LOCATION_CACHE_KEY: Buffer.alloc(16, 1).toString("base64") }, /"path":"PORTCULLIS_LOCATION_CACHE_KEY","message":"decodes to 16 bytes; at least 32 are needed"/],
      ]) {
        const env = await startIsolates(config(issuer, { enabled: true }), { count: 1, extraBindings: bindings });
        try {
          const res = await env.isolates[0].fetch("/health");
          const p = await problemOf(res);
          assert.equal(res.status, 503);
          assert.equal(p.code, "gateway_misconfigured");
          await sleep(100);
          const line = env.logs.find((l) => l.includes("config_invalid"));
          assert.ok(line, env.logs.join("\n"));
          assert.match(line, message);
          assert.ok(!line.includes(bindings.PORTCULLIS_LOCATION_CACHE_KEY ?? "\u0000"), "the secret is never logged");
        } finally {
          await env.dispose();
        }
      }
    } finally {
      await issuer.close();
    }
  });
});
