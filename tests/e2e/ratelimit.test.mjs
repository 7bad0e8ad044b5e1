// End-to-end: per-identity rate limits in workerd with the real rate-limiter Durable Objects.
// `exact` policies are asked of the identity's object on every request; `fast` ones are decided in
// the isolate from a leased share (tests/support/isolates.mjs runs several isolates against the
// same objects to measure the overshoot). Headers follow draft-ietf-httpapi-ratelimit-headers-11.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";
import { startIsolates } from "../support/isolates.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let origin, issuer;

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["ES256"] });
});

after(async () => {
  await origin?.close();
  await issuer?.close();
});

const FAST_LEASE = 2;

function config(extraRoutes = [], policies = {}) {
  const cfg = baseConfig({
    origin: origin.url,
    issuer,
    extra: {
      admin: { enabled: true },
      api_keys: {},
      rate_limits: {
        three: "3 per 60 s",
        ten: "10 per 600 s",
        "one-per-2s": "1 per 2 s",
        quick: { rate: "20 per 600 s", mode: "fast", lease: FAST_LEASE },
        machines: "2 per 600 s",
        anon: { rate: "2 per 600 s", key: "ip" },
        lenient: { rate: "1 per 600 s", on_error: "allow" },
        strict: { rate: "1 per 600 s", on_error: "deny" },
        "fast-lenient": { rate: "5 per 600 s", mode: "fast", on_error: "allow" },
        ...policies,
      },
    },
  });
  cfg.routes.push(
    { name: "three", methods: ["GET"], path: "/three/*", auth: ["jwt"], rate_limit: "three" },
    { name: "ten", methods: ["GET"], path: "/ten/*", auth: ["jwt"], rate_limit: "ten" },
    { name: "slow", methods: ["GET"], path: "/slow/*", auth: ["jwt"], rate_limit: "one-per-2s" },
    { name: "quick", methods: ["GET"], path: "/quick/*", auth: ["jwt"], rate_limit: "quick" },
    { name: "machines", methods: ["GET"], path: "/machines/*", auth: ["api_key", "jwt"], rate_limit: "machines" },
    { name: "anon", methods: ["GET"], path: "/anon/*", auth: ["public"], rate_limit: "anon" },
    { name: "lenient", methods: ["GET"], path: "/lenient/*", auth: ["jwt"], rate_limit: "lenient" },
    { name: "strict", methods: ["GET"], path: "/strict/*", auth: ["jwt"], rate_limit: "strict" },
    { name: "fast-lenient", methods: ["GET"], path: "/fast-lenient/*", auth: ["jwt"], rate_limit: "fast-lenient" },
    ...extraRoutes,
  );
  return cfg;
}

const as = (token, headers = {}) => ({ headers: { authorization: `Bearer ${token}`, ...headers } });
const tokenFor = (sub, scope = "read:echo") => issuer.mint({ alg: "ES256", claims: { sub, scope }, ttl: 3600 });

describe("one isolate", () => {
  let gw, adminToken;
  before(async () => {
    gw = await startGateway(config());
    adminToken = await tokenFor("ops", "portcullis:admin");
  });
  after(() => gw?.dispose());

  test("exact: 50 concurrent clients of one identity, 5 rounds: exactly the limit admitted every time", async (t) => {
    for (let round = 0; round < 5; round++) {
      const token = await tokenFor(`concurrent-${round}`);
      const started = Date.now();
      const results = await Promise.all(
        Array.from({ length: 50 }, () => gw.fetch("/ten/x", as(token)).then(async (r) => ({ status: r.status, retry: r.headers.get("retry-after"), body: await r.text() }))),
      );
      const admitted = results.filter((r) => r.status === 200).length;
      const limited = results.filter((r) => r.status === 429);
      assert.equal(admitted, 10, `round ${round}`);
      assert.equal(limited.length, 40, `round ${round}: ${JSON.stringify(results.filter((r) => r.status !== 200 && r.status !== 429))}`);
      // Retry-After is 60 s when the round starts and counts down as it goes on: a request
      // answered a second or more into the round (a loaded machine) is told 59.
      const elapsed = Math.ceil((Date.now() - started) / 1000);
      for (const r of limited) {
        assert.equal(JSON.parse(r.body).code, "rate_limited");
        const retry = Number(r.retry);
        assert.ok(retry <= 60 && retry >= 60 - elapsed, `Retry-After ${r.retry} after ${elapsed} s`);
      }
    }
    t.diagnostic("exact: 5 × 50 concurrent → exactly 10 admitted each round");
  });

  test("headers are exact, and the 429 carries Retry-After and the problem document", async () => {
    const token = await tokenFor("headers");
    const seen = [];
    for (let i = 0; i < 3; i++) {
      const r = await gw.fetch("/three/x", as(token));
      assert.equal(r.status, 200);
      seen.push([r.headers.get("ratelimit-policy"), r.headers.get("ratelimit")]);
      await r.text();
    }
    assert.deepEqual(seen, [
      ['"three";q=3;w=60', '"three";r=2;t=20'],
      ['"three";q=3;w=60', '"three";r=1;t=20'],
      ['"three";q=3;w=60', '"three";r=0;t=20'],
    ]);
    const r = await gw.fetch("/three/x", as(token));
    const p = await problemOf(r);
    assert.equal(r.status, 429);
    assert.equal(r.headers.get("retry-after"), "20");
    assert.equal(r.headers.get("ratelimit-policy"), '"three";q=3;w=60');
    assert.equal(r.headers.get("ratelimit"), '"three";r=0;t=20');
    assert.equal(r.headers.get("content-type"), "application/problem+json");
    assert.equal(r.headers.get("www-authenticate"), null);
    // `instance` names the request (issue 15): checked for shape, then compared as given.
    assert.match(p.body.instance, /^urn:portcullis:request:[0-9a-f]{32}$/);
    assert.deepEqual(p.body, {
      instance: p.body.instance,
      type: "urn:portcullis:problem:rate_limited",
      title: "Rate limit exceeded",
      status: 429,
      detail: "the three rate limit is used up; retry in 20 s",
      code: "rate_limited",
      "violated-policies": ["three"],
    });
    // The origin never saw the refused request, and routes without a policy carry no headers.
    const plain = await gw.fetch("/api/x", as(token));
    assert.equal(plain.status, 200);
    assert.equal(plain.headers.get("ratelimit"), null);
    assert.equal(plain.headers.get("ratelimit-policy"), null);
    await plain.text();
  });

  test("Retry-After is when the next request succeeds", async () => {
    const token = await tokenFor("retry-after");
    assert.equal((await gw.fetch("/slow/x", as(token))).status, 200);
    const r = await gw.fetch("/slow/x", as(token));
    assert.equal(r.status, 429);
    const wait = Number(r.headers.get("retry-after"));
    assert.equal(wait, 2);
    await r.text();
    await sleep(wait * 1000);
    const again = await gw.fetch("/slow/x", as(token));
    assert.equal(again.status, 200);
    assert.equal(again.headers.get("ratelimit"), '"one-per-2s";r=0;t=2');
    await again.text();
  });

  test("identities are isolated from each other", async () => {
    const alice = await tokenFor("iso-alice");
    const bob = await tokenFor("iso-bob");
    for (let i = 0; i < 3; i++) assert.equal((await gw.fetch("/three/x", as(alice))).status, 200);
    assert.equal((await gw.fetch("/three/x", as(alice))).status, 429);
    const r = await gw.fetch("/three/x", as(bob));
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("ratelimit"), '"three";r=2;t=20');
    // A second token of alice (another jti, another session) shares alice's budget.
    const alice2 = await tokenFor("iso-alice");
    assert.equal((await gw.fetch("/three/x", as(alice2))).status, 429);
  });

  test("limits are per key id and per subject, never per IP", async () => {
    const admin = async (body) => {
      const r = await gw.fetch("/admin/keys", { method: "POST", headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" }, body: JSON.stringify(body) });
      assert.equal(r.status, 201);
      return r.json();
    };
    const k1 = await admin({ client_id: "fleet", scopes: [] });
    const k2 = await admin({ client_id: "fleet", scopes: [] });
    const viaKey = (k, ip) => gw.fetch("/machines/x", { headers: { "x-api-key": k.key, "cf-connecting-ip": ip } });
    assert.equal((await viaKey(k1, "198.51.100.1")).status, 200);
    assert.equal((await viaKey(k1, "198.51.100.2")).status, 200);
    const third = await viaKey(k1, "198.51.100.3");
    assert.equal(third.status, 429, "a new IP does not refill the key's budget");
    assert.equal(third.headers.get("ratelimit"), '"machines";r=0;t=300');
    const other = await viaKey(k2, "198.51.100.1");
    assert.equal(other.status, 200, "another key of the same client, from the same IP, has its own budget");
    // JWT: the same subject from two addresses is one budget.
    const token = await tokenFor("roaming");
    assert.equal((await gw.fetch("/machines/x", as(token, { "cf-connecting-ip": "192.0.2.1" }))).status, 200);
    assert.equal((await gw.fetch("/machines/x", as(token, { "cf-connecting-ip": "192.0.2.2" }))).status, 200);
    assert.equal((await gw.fetch("/machines/x", as(token, { "cf-connecting-ip": "192.0.2.3" }))).status, 429);
  });

  test("an API key's own policy replaces the route's", async () => {
    const r = await gw.fetch("/admin/keys", {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ client_id: "gold", scopes: [], rate_limit_policy: "three" }),
    });
    const { key } = await r.json();
    const first = await gw.fetch("/machines/x", { headers: { "x-api-key": key } });
    assert.equal(first.headers.get("ratelimit-policy"), '"three";q=3;w=60');
    assert.equal(first.headers.get("ratelimit"), '"three";r=2;t=20');
  });

  test("anonymous callers are counted by IP only on a public route whose policy says so", async () => {
    const anon = (ip) => gw.fetch("/anon/x", { headers: { "cf-connecting-ip": ip } });
    assert.equal((await anon("203.0.113.7")).status, 200);
    assert.equal((await anon("203.0.113.7")).status, 200);
    const r = await anon("203.0.113.7");
    assert.equal(r.status, 429);
    assert.equal(r.headers.get("ratelimit"), '"anon";r=0;t=300');
    assert.equal((await anon("203.0.113.8")).status, 200);
  });
});

describe("the limiter unreachable", () => {
  let env, token;
  before(async () => {
    env = await startIsolates(config(), { count: 1, failingLimiter: true });
    token = await tokenFor("outage");
  });
  after(() => env?.dispose());

  test("on_error = deny (the default) refuses with 503 rate_limiter_unavailable", async () => {
    const r = await env.isolates[0].fetch("/strict/x", as(token));
    const p = await problemOf(r);
    assert.equal(r.status, 503);
    assert.equal(p.code, "rate_limiter_unavailable");
    assert.equal(r.headers.get("retry-after"), "1");
    const dflt = await env.isolates[0].fetch("/three/x", as(token));
    assert.equal(dflt.status, 503);
  });

  test("on_error = allow serves, announcing the policy but no quota", async () => {
    for (const path of ["/lenient/x", "/lenient/x", "/fast-lenient/x"]) {
      const r = await env.isolates[0].fetch(path, as(token));
      assert.equal(r.status, 200, path);
      const name = path.split("/")[1];
      assert.match(r.headers.get("ratelimit-policy"), new RegExp(`^"${name}";q=\\d+;w=600$`));
      if (path.startsWith("/lenient")) assert.equal(r.headers.get("ratelimit"), null);
      await r.text();
    }
    // fast + allow: credit first, then the failed inline asks are allowed too.
    for (let i = 0; i < 5; i++) {
      const r = await env.isolates[0].fetch("/fast-lenient/x", as(token));
      assert.equal(r.status, 200);
      await r.text();
    }
    await sleep(100);
    assert.ok(env.logs.some((l) => l.includes('"event":"rate_limiter_unavailable"') && l.includes('"on_error":"allow"')));
  });
});

describe("fast mode across isolates", () => {
  test("two isolates, 5 rounds of 100 concurrent requests: admitted within limit .. limit + 2 × lease", async (t) => {
    const env = await startIsolates(config(), { count: 2 });
    try {
      const overshoots = [];
      for (let round = 0; round < 5; round++) {
        const token = await tokenFor(`fast-${round}`);
        const fire = (n) =>
          Promise.all(
            Array.from({ length: n }, (_, i) => env.isolates[i % 2].fetch("/quick/x", as(token)).then(async (r) => {
              await r.text();
              return r.status;
            })),
          );
        const burst = await fire(100);
        assert.ok(burst.every((s) => s === 200 || s === 429), JSON.stringify(burst));
        let admitted = burst.filter((s) => s === 200).length;
        // Let the background syncs land, then drain whatever leases they brought, on both isolates.
        await sleep(200);
        for (let i = 0; i < 10; i++) {
          admitted += (await fire(4)).filter((s) => s === 200).length;
          await sleep(50);
        }
        const last = await fire(2);
        assert.deepEqual(last, [429, 429]);
        assert.ok(admitted >= 20, `round ${round}: ${admitted} admitted`);
        assert.ok(admitted <= 20 + 2 * FAST_LEASE, `round ${round}: ${admitted} admitted`);
        overshoots.push(admitted - 20);
      }
      t.diagnostic(`fast, limit 20, lease ${FAST_LEASE}, 2 isolates: overshoot per round ${overshoots.join(", ")} (bound ${2 * FAST_LEASE})`);
    } finally {
      await env.dispose();
    }
  });

  test("refusals in fast mode carry the same headers as exact ones", async () => {
    const tiny = { name: "tiny", methods: ["GET"], path: "/tiny/*", auth: ["jwt"], rate_limit: "tiny" };
    const env = await startIsolates(config([tiny], { tiny: { rate: "2 per 600 s", mode: "fast", lease: 1 } }), { count: 1 });
    try {
      const token = await tokenFor("fast-headers");
      const statuses = [];
      let refused;
      for (let i = 0; i < 6; i++) {
        const r = await env.isolates[0].fetch("/tiny/x", as(token));
        statuses.push(r.status);
        assert.equal(r.headers.get("ratelimit-policy"), '"tiny";q=2;w=600');
        if (r.status === 429) refused = r;
        await r.text();
        // Room for the background sync to land, so no lease is in flight when the next one comes.
        await sleep(100);
      }
      assert.deepEqual(statuses, [200, 200, 429, 429, 429, 429]);
      assert.match(refused.headers.get("ratelimit"), /^"tiny";r=0;t=(\d+)$/);
      const t = /t=(\d+)$/.exec(refused.headers.get("ratelimit"))[1];
      assert.equal(refused.headers.get("retry-after"), t);
      assert.ok(Number(t) > 0 && Number(t) <= 300, t);
    } finally {
      await env.dispose();
    }
  });
});
