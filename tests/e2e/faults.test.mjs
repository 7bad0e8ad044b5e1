// Fault injection end to end (issue 8): the real wasm in workerd against real servers on 127.0.0.1
// that misbehave on a switch — a JWKS endpoint that is slow, fails, is oversized (with and without
// Content-Length), is not JSON or redirects; Workers KV missing or failing; the revocation and
// rate-limiter Durable Objects absent or throwing; clocks skewed. Each fault fails closed with its documented code, and nothing is
// half-applied: no request reaches the origin.
//
// Covered elsewhere and not repeated here: a JWKS outage (HTTP 503) with and without cached keys
// (jwks.test.mjs), the revocation object down behind a proxy (revocation.test.mjs), a limiter that
// answers 503 (ratelimit.test.mjs).
//
// Not here: a client disconnect cancelling the request that fetches the JWKS. Local workerd does not
// cancel a request when its client goes away (workerd PR #5062: "doesn't seem to work locally"; the
// disconnect was tried through dispatchFetch with an AbortSignal and through a raw socket closed
// mid-request — both requests ran to completion), so the in-flight marker's deadline and takeover are tested
// natively on a fake clock (src/jwks_cache.rs, `a_fetch_that_never_returns_is_taken_over_…`).

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { Miniflare } from "miniflare";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { startGateway, startEchoOrigin, startIssuer, baseConfig, problemOf, workerModules, BUILD, DURABLE_OBJECTS } from "./harness.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowSecs = () => Math.floor(Date.now() / 1000);
const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });

function compatibilityDate() {
  const toml = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8");
  return /compatibility_date\s*=\s*"([^"]+)"/.exec(toml)?.[1] ?? "2026-04-01";
}

async function eventually(cond, ms = 3000) {
  for (let waited = 0; waited < ms && !cond(); waited += 50) await sleep(50);
  return cond();
}

/**
 * A JWKS endpoint with a fault switch (`mode`), in front of the issuer's real key set:
 * - `ok`: the issuer's JWKS;
 * - `slow`: the response never comes (until the client gives up or the server closes);
 * - `500`, `invalid-json`, `redirect` (302 to /moved, which serves the real JWKS: it must never be
 *   requested), `oversized-length` (a Content-Length of 8 MiB), `oversized-chunked` (8 MiB of JSON
 *   streamed without Content-Length, honouring backpressure).
 * `streams` records for each chunked response whether the server wrote it all or saw the
 * connection closed first.
 */
async function startFaultyJwks(issuer) {
  const state = { mode: "ok", requests: 0, moved: 0, streams: [] };
  const realJwks = async () => (await fetch(issuer.jwksUri)).text();
  const server = http.createServer(async (req, res) => {
    if (req.url === "/moved") {
      state.moved++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(await realJwks());
      return;
    }
    state.requests++;
    switch (state.mode) {
      case "ok":
        res.writeHead(200, { "content-type": "application/jwk-set+json", "cache-control": "max-age=300" });
        res.end(await realJwks());
        return;
      case "slow":
        return; // never answered; closed by the client's abort or the server's shutdown
      case "500":
        res.writeHead(500, { "content-type": "application/json" });
        res.end(await realJwks()); // a valid JWKS body must not rescue an error status
        return;
      case "invalid-json":
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"keys": [ {"kty": "RSA", ');
        return;
      case "redirect":
        res.writeHead(302, { location: `http://127.0.0.1:${server.address().port}/moved` });
        res.end();
        return;
      case "oversized-length":
        res.writeHead(200, { "content-type": "application/json", "content-length": String(8 << 20) });
        res.write('{"keys":[');
        return; // the gateway must refuse on the header alone
      case "oversized-chunked": {
        const record = { finished: false, closedEarly: false, written: 0 };
        state.streams.push(record);
        res.on("close", () => {
          if (!record.finished) record.closedEarly = true;
        });
        res.writeHead(200, { "content-type": "application/json" }); // no Content-Length: chunked
        const chunk = Buffer.from(`{"kty":"oct","k":"${"A".repeat(16 * 1024)}"},`);
        if (!res.write('{"keys":[')) await drainOrClose(res);
        while (record.written < 8 << 20 && !res.destroyed) {
          record.written += chunk.length;
          if (!res.write(chunk)) await drainOrClose(res);
        }
        if (res.destroyed) return;
        res.end("{}]}");
        record.finished = true;
        return;
      }
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}/jwks.json`;
  return {
    url,
    state,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(r);
      }),
  };
}

/** Resolves when `res` can take more data or is closed. */
function drainOrClose(res) {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

/** Lines of the worker log that are JSON objects. */
function events(logs, name) {
  return logs
    .map((l) => {
      try {
        return JSON.parse(l.slice(l.indexOf("{")));
      } catch {
        return null;
      }
    })
    .filter((v) => v && v.event === name);
}

describe("JWKS endpoint faults (cold isolate: no cached key)", () => {
  let origin, issuer, jwks;
  before(async () => {
    origin = await startEchoOrigin();
    issuer = await startIssuer({ algs: ["RS256"] });
    jwks = await startFaultyJwks(issuer);
  });
  after(async () => {
    await jwks?.close();
    await origin?.close();
    await issuer?.close();
  });

  /** A fresh gateway (cold isolate) whose issuer's keys are at the faulty endpoint. */
  async function gateway(jwksSettings = {}) {
    return startGateway(
      baseConfig({
        origin: origin.url,
        issuer: { url: issuer.url, jwksUri: jwks.url },
        extra: { jwks: { fetch_timeout_ms: 1000, max_bytes: 65536, ...jwksSettings } },
      }),
    );
  }

  /** One request under `mode`: must be 503 jwks_unavailable with Retry-After, never forwarded. */
  async function expectUnavailable(mode, reasonPattern, jwksSettings) {
    jwks.state.mode = mode;
    const gw = await gateway(jwksSettings);
    try {
      const forwarded = origin.requests.length;
      const res = await gw.fetch("/api/x", bearer(await issuer.mint()));
      const p = await problemOf(res);
      assert.equal(p.status, 503, `${mode}: ${JSON.stringify(p.body)}`);
      assert.equal(p.code, "jwks_unavailable", mode);
      assert.match(res.headers.get("retry-after") ?? "", /^[1-9][0-9]*$/, `${mode}: Retry-After`);
      assert.equal(origin.requests.length, forwarded, `${mode}: nothing reached the origin`);
      assert.ok(
        await eventually(() => events(gw.logs, "jwks_fetch_failed").some((e) => reasonPattern.test(e.reason))),
        `${mode}: logged ${JSON.stringify(events(gw.logs, "jwks_fetch_failed"))}`,
      );
    } finally {
      await gw.dispose();
    }
  }

  test("slow: the fetch deadline ends the wait with 503 jwks_unavailable and Retry-After", async () => {
    await expectUnavailable("slow", /timed out/);
  });

  test("HTTP 500: refused even with a valid body", async () => {
    await expectUnavailable("500", /HTTP 500/);
  });

  test("not JSON: refused", async () => {
    await expectUnavailable("invalid-json", /invalid JWKS/);
  });

  test("a redirect is not followed", async () => {
    const moved = jwks.state.moved;
    await expectUnavailable("redirect", /HTTP 302/);
    assert.equal(jwks.state.moved, moved, "the redirect target was never requested");
  });

  test("oversized by Content-Length: refused on the header", async () => {
    await expectUnavailable("oversized-length", /exceeds jwks.max_bytes/);
  });

  test("oversized without Content-Length (chunked, 8 MiB against a 64 KiB cap): the read stops at the cap and the connection is cut", async () => {
    const streams = jwks.state.streams.length;
    await expectUnavailable("oversized-chunked", /exceeds jwks.max_bytes/);
    const record = jwks.state.streams[streams];
    assert.ok(record, "the endpoint was asked");
    assert.ok(await eventually(() => record.closedEarly || record.finished), "the response ended one way or the other");
    assert.equal(record.finished, false, `the whole body was read (${record.written} bytes written)`);
    assert.equal(record.closedEarly, true);
    assert.ok(record.written < 8 << 20);
  });

  test("the fetch is back: the same gateway recovers after the cooldown, and a good JWKS serves", async () => {
    jwks.state.mode = "500";
    const gw = await gateway({ refetch_cooldown_seconds: 1 });
    try {
      assert.equal((await problemOf(await gw.fetch("/api/x", bearer(await issuer.mint())))).code, "jwks_unavailable");
      jwks.state.mode = "ok";
      await sleep(1100);
      assert.equal((await gw.fetch("/api/x", bearer(await issuer.mint()))).status, 200);
    } finally {
      await gw.dispose();
    }
  });
});

describe("clock skew: iat and nbf within the leeway are accepted, beyond it refused", () => {
  let origin, issuer, gw;
  before(async () => {
    origin = await startEchoOrigin();
    issuer = await startIssuer({ algs: ["ES256"] });
    gw = await startGateway(baseConfig({ origin: origin.url, issuer, issuerExtra: { leeway_seconds: 30 } }));
  });
  after(async () => {
    await gw?.dispose();
    await origin?.close();
    await issuer?.close();
  });

  test("an issuer clock 20 s ahead is tolerated; 90 s ahead is not", async () => {
    const now = nowSecs();
    for (const claims of [{ iat: now + 20 }, { nbf: now + 20 }, { iat: now + 20, nbf: now + 20 }]) {
      const res = await gw.fetch("/api/x", bearer(await issuer.mint({ alg: "ES256", claims })));
      assert.equal(res.status, 200, `${JSON.stringify(claims)}: ${await res.text()}`);
    }
    const forwarded = origin.requests.length;
    for (const [claims, code] of [
      [{ iat: now + 90 }, "token_issued_in_future"],
      [{ nbf: now + 90 }, "token_not_yet_valid"],
      [{ iat: now - 60, exp: now - 31 }, "token_expired"],
    ]) {
      const p = await problemOf(await gw.fetch("/api/x", bearer(await issuer.mint({ alg: "ES256", claims }))));
      assert.equal(p.status, 401, JSON.stringify(claims));
      assert.equal(p.code, code, JSON.stringify(claims));
    }
    assert.equal(origin.requests.length, forwarded);
    // An exp 20 s in the past is still within the leeway.
    const late = await issuer.mint({ alg: "ES256", claims: { iat: now - 60, exp: now - 20 } });
    assert.equal((await gw.fetch("/api/x", bearer(late))).status, 200);
  });
});

// --- Workers KV and Durable Object faults: gateways built here with bindings missing or broken.

/** A KV namespace whose every operation fails, as a wrapped binding (same method names as KV). */
const BROKEN_KV = `
export default function () {
  const fail = async () => { throw new Error("KV GET failed: 500 Internal Server Error"); };
  return { get: fail, getWithMetadata: fail, put: fail, list: fail, delete: fail };
}
`;

/** Durable Object classes that throw from fetch (the object crashing on every call). */
const THROWING_OBJECTS = `
export class ThrowingRevocation { async fetch() { throw new Error("revocation object crashed"); } }
export class ThrowingLimiter { async fetch() { throw new Error("limiter object crashed"); } }
export default { async fetch() { return new Response("throwing objects", { status: 404 }); } };
`;

/**
 * The gateway with explicit bindings: `kv` is "local" (a real local namespace), "missing" or
 * "broken"; `durableObjects` is the binding map (default: the real classes).
 */
async function gatewayWith(config, { kv = "local", durableObjects = DURABLE_OBJECTS } = {}) {
  const logs = [];
  const gateway = {
    name: "gateway",
    modules: workerModules(),
    modulesRoot: BUILD,
    compatibilityDate: compatibilityDate(),
    durableObjects,
    bindings: { PORTCULLIS_CONFIG: config },
    ...(kv === "local" ? { kvNamespaces: ["PORTCULLIS_KV"] } : {}),
    ...(kv === "broken" ? { wrappedBindings: { PORTCULLIS_KV: { scriptName: "broken-kv" } } } : {}),
  };
  const workers = [
    gateway,
    // A wrapped binding runs with the compatibility date of the worker that binds it.
    { name: "broken-kv", modules: true, script: BROKEN_KV },
    { name: "throwing", modules: true, script: THROWING_OBJECTS, compatibilityDate: compatibilityDate() },
  ];
  const mf = new Miniflare({
    workers,
    cf: false,
    handleStructuredLogs({ message }) {
      logs.push(message);
    },
  });
  try {
    await mf.ready;
  } catch (e) {
    await mf.dispose();
    throw e;
  }
  const worker = await mf.getWorker("gateway");
  return {
    logs,
    fetch: (p, init = {}) => worker.fetch(`http://gateway.test${p}`, { redirect: "manual", ...init }),
    dispose: () => mf.dispose(),
  };
}

describe("Workers KV faults: API keys fail closed", () => {
  let origin, config;
  // A well-formed key (prefix, length, checksum) is needed to reach KV at all; any such key will do.
  const KEY_ROUTE = "/machine/x";
  let wellFormedKey;
  before(async () => {
    origin = await startEchoOrigin();
    config = baseConfig({
      origin: origin.url,
      issuer: null,
      extra: {
        admin: { enabled: true, credentials: ["api_key"] },
        api_keys: { prefix: "pc_test", accepted_prefixes: ["pc_test"] },
        routes: [{ name: "machine", methods: ["GET"], path: "/machine/*", auth: ["api_key"] }],
      },
    });
    // `portcullis keys seed` (the CLI) prints a valid key without touching any store.
    const { spawnSync } = await import("node:child_process");
    const { existsSync } = await import("node:fs");
    const bin = process.env.PORTCULLIS_CLI ?? path.join(ROOT, "target", "debug", "portcullis");
    if (!existsSync(bin)) {
      const { execFileSync } = await import("node:child_process");
      execFileSync("cargo", ["build", "--quiet", "-p", "portcullis-cli"], { cwd: ROOT, stdio: "inherit" });
    }
    const r = spawnSync(bin, ["keys", "seed", "--json", "--prefix", "pc_test", "--client-id", "m", "--scopes", "portcullis:admin"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    wellFormedKey = JSON.parse(r.stdout).key;
  });
  after(() => origin?.close());

  for (const [kv, reason] of [
    ["missing", /KV binding PORTCULLIS_KV is missing/],
    ["broken", /KV get failed: .*500 Internal Server Error/],
  ]) {
    test(`KV ${kv}: 503 credential_store_unavailable on the request path and the admin API, nothing forwarded, no key logged`, async () => {
      const gw = await gatewayWith(config, { kv });
      try {
        const forwarded = origin.requests.length;
        for (const p of [KEY_ROUTE, "/admin/keys"]) {
          const res = await gw.fetch(p, { headers: { "x-api-key": wellFormedKey } });
          const problem = await problemOf(res);
          assert.equal(problem.status, 503, `${p}: ${JSON.stringify(problem.body)}`);
          assert.equal(problem.code, "credential_store_unavailable", p);
          assert.equal(res.headers.get("content-type"), "application/problem+json");
        }
        assert.equal(origin.requests.length, forwarded);
        assert.ok(
          await eventually(() => events(gw.logs, "credential_store_unavailable").some((e) => reason.test(e.reason))),
          JSON.stringify(events(gw.logs, "credential_store_unavailable")),
        );
        assert.ok(!gw.logs.join("\n").includes(wellFormedKey), "the key reached the log");
        // A malformed key is refused before any KV read, whatever KV's state.
        const malformed = await problemOf(await gw.fetch(KEY_ROUTE, { headers: { "x-api-key": "pc_test_nope" } }));
        assert.equal(malformed.code, "api_key_malformed");
      } finally {
        await gw.dispose();
      }
    });
  }
});

describe("Durable Object faults: revocation and rate limits fail closed", () => {
  let origin, issuer;
  before(async () => {
    origin = await startEchoOrigin();
    issuer = await startIssuer({ algs: ["ES256"] });
  });
  after(async () => {
    await origin?.close();
    await issuer?.close();
  });

  const config = () => {
    const c = baseConfig({
      origin: origin.url,
      issuer,
      extra: { rate_limits: { per_user: "100 per 60 s" } },
    });
    c.routes.push(
      { name: "strict", methods: ["GET"], path: "/strict/*", auth: ["jwt"], scopes: ["read:echo"], revocation: "strict" },
      { name: "limited", methods: ["GET"], path: "/limited/*", auth: ["jwt"], scopes: ["read:echo"], rate_limit: "per_user" },
    );
    return c;
  };

  for (const [how, durableObjects] of [
    ["absent", { PORTCULLIS_RATE_LIMITER: DURABLE_OBJECTS.PORTCULLIS_RATE_LIMITER }],
    ["throwing", { ...DURABLE_OBJECTS, PORTCULLIS_REVOCATION: { className: "ThrowingRevocation", scriptName: "throwing" } }],
  ]) {
    test(`revocation object ${how}: a cold isolate refuses with 503 revocation_unavailable (snapshot and strict routes)`, async () => {
      const gw = await gatewayWith(config(), { durableObjects });
      try {
        const forwarded = origin.requests.length;
        const token = await issuer.mint({ alg: "ES256" });
        for (const p of ["/api/x", "/strict/x"]) {
          const res = await gw.fetch(p, bearer(token));
          const problem = await problemOf(res);
          assert.equal(problem.status, 503, `${p}: ${JSON.stringify(problem.body)}`);
          assert.equal(problem.code, "revocation_unavailable", p);
          assert.match(res.headers.get("retry-after") ?? "", /^[1-9][0-9]*$/);
        }
        assert.equal(origin.requests.length, forwarded);
      } finally {
        await gw.dispose();
      }
    });
  }

  for (const [how, durableObjects] of [
    ["absent", { PORTCULLIS_REVOCATION: DURABLE_OBJECTS.PORTCULLIS_REVOCATION }],
    ["throwing", { ...DURABLE_OBJECTS, PORTCULLIS_RATE_LIMITER: { className: "ThrowingLimiter", scriptName: "throwing" } }],
  ]) {
    test(`rate limiter ${how}: 503 rate_limiter_unavailable (on_error deny), other routes unaffected`, async () => {
      const gw = await gatewayWith(config(), { durableObjects });
      try {
        const token = await issuer.mint({ alg: "ES256" });
        const forwarded = origin.requests.length;
        const res = await gw.fetch("/limited/x", bearer(token));
        const problem = await problemOf(res);
        assert.equal(problem.status, 503, JSON.stringify(problem.body));
        assert.equal(problem.code, "rate_limiter_unavailable");
        assert.equal(origin.requests.length, forwarded);
        // A route without a limit still serves: the fault is confined to what needs the object.
        assert.equal((await gw.fetch("/api/x", bearer(token))).status, 200);
      } finally {
        await gw.dispose();
      }
    });
  }
});
