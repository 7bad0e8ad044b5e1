// Several gateway isolates sharing one set of Durable Objects, and injectable Durable Object faults,
// for the end-to-end tests and benchmarks that need more than one isolate or a failing object.
//
// Miniflare runs each worker in its own V8 isolate. Worker "a" defines every Durable Object class
// the gateway binds (the harness's DURABLE_OBJECTS, as in wrangler.toml: RevocationStore,
// RateLimiter, ApiKeyLedger, DpopReplay, SessionFamily, MfaSubject, PasskeyStore); workers "b",
// "c", … run the same wasm and bind to a's classes by `scriptName`, so they are separate isolates
// (separate snapshots, separate leases) in front of the same objects — what a Cloudflare location
// with several isolates looks like. A small JS worker,
// "faults", can stand between the gateways and the revocation object (a proxy that can be switched
// off) and can replace the rate limiter with one that always fails.

import { Miniflare } from "miniflare";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { workerModules, BUILD, DURABLE_OBJECTS } from "../e2e/harness.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function compatibilityDate() {
  const toml = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8");
  return /compatibility_date\s*=\s*"([^"]+)"/.exec(toml)?.[1] ?? "2026-04-01";
}

const FAULTS_WORKER = `
export class FlakyRevocation {
  constructor(state, env) { this.env = env; this.down = false; this.snapshots = 0; }
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/__fault") {
      this.down = (await request.json()).down;
      return new Response("ok");
    }
    if (url.pathname === "/__snapshots") return Response.json({ snapshots: this.snapshots });
    if (url.pathname === "/snapshot") this.snapshots++;
    if (this.down) return new Response('{"error":"simulated outage"}', { status: 503 });
    return this.env.REAL.get(this.env.REAL.idFromName("global")).fetch(request);
  }
}
export class FailingLimiter {
  async fetch() { return new Response('{"error":"simulated outage"}', { status: 503 }); }
}
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/revocation-fault") {
      const stub = env.FLAKY.get(env.FLAKY.idFromName("global"));
      return stub.fetch("http://fault/__fault", { method: "POST", body: await request.text() });
    }
    if (url.pathname === "/cache-put") {
      // Another Worker of the zone writing to the location's cache (the forged-copy tests).
      const { key, body } = await request.json();
      await caches.default.put(new Request(key), new Response(body, { headers: { "cache-control": "max-age=600" } }));
      return new Response("ok");
    }
    if (url.pathname === "/revocation-snapshots") {
      return env.FLAKY.get(env.FLAKY.idFromName("global")).fetch("http://fault/__snapshots");
    }
    return new Response("faults", { status: 404 });
  },
};
`;

const NAMES = "abcdefgh";

/**
 * Starts `count` gateway isolates with `config` (PORTCULLIS_CONFIG). Options:
 * - `flakyRevocation`: the revocation object sits behind a switchable proxy (`setRevocationDown`);
 * - `failingLimiter`: every rate-limiter call fails;
 * - `extraBindings`: more bindings for every gateway (Workers secrets such as
 *   PORTCULLIS_LOCATION_CACHE_KEY, PORTCULLIS_SIGNING_KEYS or PORTCULLIS_MFA_KEY);
 * - `configs`: a configuration per isolate, in place of `config` (two versions of a deployment
 *   side by side in one location, as during a rollout).
 * The isolates share one Cache API (`caches.default`), as the isolates of one location do.
 * Returns { isolates: [{ name, fetch(path, init) }], revocation(path, init), setRevocationDown(bool), logs, dispose }.
 */
export async function startIsolates(config, { count = 2, flakyRevocation = false, failingLimiter = false, extraBindings = {}, configs = [] } = {}) {
  const logs = [];
  const compat = compatibilityDate();
  // Every binding of wrangler.toml, to worker a's class; the revocation object and the rate
  // limiter may be swapped for the faults worker's.
  const shared = Object.fromEntries(Object.entries(DURABLE_OBJECTS).map(([binding, cls]) => [binding, { ...cls, scriptName: "a" }]));
  const revocationClass = shared.PORTCULLIS_REVOCATION;
  const bindingsFor = () => ({
    ...shared,
    PORTCULLIS_REVOCATION: flakyRevocation ? { className: "FlakyRevocation", scriptName: "faults" } : revocationClass,
    PORTCULLIS_RATE_LIMITER: failingLimiter ? { className: "FailingLimiter", scriptName: "faults" } : shared.PORTCULLIS_RATE_LIMITER,
  });
  const gateways = [];
  for (let i = 0; i < count; i++) {
    gateways.push({
      name: NAMES[i],
      modules: workerModules(),
      modulesRoot: BUILD,
      compatibilityDate: compat,
      kvNamespaces: ["PORTCULLIS_KV"],
      // Worker "a" always defines both classes (REAL in the faults worker points at them).
      durableObjects: i === 0
        ? { ...bindingsFor(), DEFINE_REVOCATION: { className: "RevocationStore", useSQLite: true }, DEFINE_LIMITER: { className: "RateLimiter", useSQLite: true } }
        : bindingsFor(),
      bindings: { PORTCULLIS_CONFIG: configs[i] ?? config, ...extraBindings },
    });
  }
  const faults = {
    name: "faults",
    modules: true,
    script: FAULTS_WORKER,
    compatibilityDate: compat,
    durableObjects: {
      FLAKY: "FlakyRevocation",
      FAILING: "FailingLimiter",
      REAL: revocationClass,
    },
  };
  const mf = new Miniflare({
    workers: [...gateways, faults],
    cf: false,
    handleStructuredLogs({ message }) {
      logs.push(message);
    },
  });
  await mf.ready;
  const fetchers = await Promise.all(gateways.map((g) => mf.getWorker(g.name)));
  const faultWorker = await mf.getWorker("faults");
  const revocationNs = await mf.getDurableObjectNamespace("DEFINE_REVOCATION", "a");
  return {
    mf,
    logs,
    isolates: gateways.map((g, i) => ({
      name: g.name,
      /** `p` is a path (on http://gateway.test) or an absolute URL. */
      fetch(p, init = {}) {
        const target = /^https?:/.test(p) ? p : `http://gateway.test${p}`;
        return fetchers[i].fetch(target, { redirect: "manual", ...init });
      },
    })),
    /** A call straight to the revocation object (its internal API), bypassing the gateways. */
    revocation(p, init = {}) {
      return revocationNs.get(revocationNs.idFromName("global")).fetch(`http://do${p}`, init);
    },
    /** Writes `body` at `key` in the location's cache, as any other Worker of the zone can. */
    async cachePut(key, body) {
      const r = await faultWorker.fetch("http://faults/cache-put", { method: "POST", body: JSON.stringify({ key, body }) });
      if (!r.ok) throw new Error(`cache put failed: ${r.status}`);
      await r.text();
    },
    /** How many snapshot (delta) requests reached the revocation object (with `flakyRevocation`). */
    async revocationSnapshots() {
      const r = await faultWorker.fetch("http://faults/revocation-snapshots");
      return (await r.json()).snapshots;
    },
    async setRevocationDown(down) {
      const r = await faultWorker.fetch("http://faults/revocation-fault", { method: "POST", body: JSON.stringify({ down }) });
      if (!r.ok) throw new Error(`fault switch failed: ${r.status}`);
      await r.text();
    },
    dispose: () => mf.dispose(),
  };
}
