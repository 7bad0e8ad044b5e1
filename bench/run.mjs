// Portcullis end-to-end benchmark: every variant in one run, on one machine, against one echo origin
// and one issuer on 127.0.0.1, each variant in its own workerd (Miniflare 4). See bench/README.md.
//
//   node bench/run.mjs                 the full run (< 3 min); writes bench/results/
//   BENCH_QUICK=1 node bench/run.mjs   short windows, for trying a change; writes nothing
//   BENCH_ONLY=passthrough,jose-js …   a subset (ratios need their variants); writes nothing
//
// Phases: start everything → check every variant answers right (and refuses right) → load pass
// (autocannon; one variant at a time, in short slices interleaved across variants; workerd CPU per
// request from /proc) → concurrency-1 pass (all variants interleaved, timed from Node with a µs
// clock) → raw crypto.subtle pass → results.
//
// Adding a variant: append an entry to VARIANTS — `setup(ctx)` returns { url, stop } (plus `mf`
// for Portcullis), `request(ctx)` returns a function giving the headers of the next request, and
// `identity` / `refusals(ctx)` / `check(instance, ctx)` say how to tell it is configured right.

import autocannon from "autocannon";
import { build as esbuild } from "esbuild";
import { Miniflare } from "miniflare";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

import { startGateway, startIssuer, baseConfig, DURABLE_OBJECTS } from "../tests/e2e/harness.mjs";
import { chartSvg } from "./chart.mjs";
import { RATIOS, TARGETS } from "./goals.mjs";
import { updateReadme } from "./readme.mjs";
import {
  BENCH,
  RESULTS,
  compatibilityDate,
  cpuSecondsOf,
  descendantsOf,
  fileStamp,
  git,
  machine,
  machineBusySeconds,
  mean,
  median,
  percentile,
  processTable,
  request,
  round,
  seedKey,
  startOrigin,
  wasmSize,
  withNewProcesses,
} from "./lib.mjs";

const WORKERS = path.join(BENCH, "workers");

const QUICK = process.env.BENCH_QUICK === "1";
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(",").map((s) => s.trim()) : null;

const SETTINGS = {
  connections: 16,
  pipelining: 1,
  warmupSeconds: QUICK ? 1 : 2,
  measureSeconds: QUICK ? 2 : 8,
  slices: QUICK ? 2 : 8,
  // Concurrency-1 pass: all variants interleaved round by round, so drift hits them alike.
  c1WarmupRounds: QUICK ? 20 : 100,
  c1Seconds: QUICK ? 3 : 12,
  // Raw crypto.subtle pass: requests verifying 0 and `verifyN` times, interleaved.
  verifyN: 200,
  verifyRounds: QUICK ? 60 : 300,
  // Distinct RS256 tokens for the signature-per-request variants (minted once, shared).
  tokenPool: QUICK ? 500 : 2000,
  tokenTtlSeconds: 1800,
  // Cold start: fresh workerd instances per worker, alternating.
  coldStartRounds: QUICK ? 3 : 9,
};

const PATH = "/api/bench";
const AUDIENCE = "https://api.portcullis.test";
const SCOPE = "read:echo";
/** `BENCH_BASELINE=<dir>`: also run the Portcullis variants on another build (build/index.js and
 * index_bg.wasm of an earlier commit), as `<name>@before`, for before/after ratios in one run. */
const BASELINE = process.env.BENCH_BASELINE ? path.resolve(process.env.BENCH_BASELINE) : null;
/** The fresh-token variants beside RS256, each against a `jose` worker limited to the same algorithm. */
const FRESH_ALGS = ["ES256", "EdDSA"];

// ------------------------------------------------------------------ request factories
// A factory is called once per pass and returns `next()`, the headers of the next request.
// autocannon rebuilds every request through it (setupRequest), so the load generator does the same
// work per request for every variant.

const fixed = (headers) => () => headers;
function roundRobin(list, toHeaders) {
  let i = 0;
  return () => toHeaders(list[i++ % list.length]);
}
const bearer = (token) => ({ authorization: `Bearer ${token}` });
const apiKey = (key) => ({ "x-api-key": key });

// ------------------------------------------------------------------ variants

/** What the origin must see from a variant that authenticates (the client sends spoofed copies). */
const JWT_IDENTITY = { "x-auth-method": "jwt", "x-user-id": "user-123", "x-user-scopes": SCOPE };
const KEY_IDENTITY = { "x-auth-method": "api_key", "x-client-id": "bench", "x-user-scopes": SCOPE };

const jwtRefusals = (ctx, alg = "RS256") => [
  { name: "no credential", headers: {}, status: 401 },
  { name: "tampered signature", headers: bearer(ctx.bad[alg].tampered), status: 401 },
  { name: "wrong audience", headers: bearer(ctx.bad[alg].wrongAudience), status: 401 },
  { name: "wrong issuer key", headers: bearer(ctx.bad[alg].foreignKey), status: 401 },
  { name: "scope missing", headers: bearer(ctx.bad[alg].noScope), status: 403 },
];
const keyRefusals = (ctx) => [
  { name: "no credential", headers: {}, status: 401 },
  { name: "unknown key", headers: apiKey(ctx.unknownKey), status: 401 },
];

const VARIANTS = [
  {
    name: "passthrough",
    what: "(a) JS worker forwarding to the origin, no auth",
    setup: (ctx) => startScriptWorker("passthrough", path.join(WORKERS, "passthrough.js"), { ORIGIN: ctx.originUrl }),
    request: () => fixed({}),
  },
  {
    name: "forward-floor",
    what: "(a0) JS worker doing only the forward's own work: strip and set the forwarding/identity headers, origin deadline, HSTS, one log line",
    setup: (ctx) => startScriptWorker("forward-floor", path.join(WORKERS, "forward-floor.js"), { ORIGIN: ctx.originUrl }),
    request: () => fixed({}),
    identity: { "x-auth-method": "public" },
  },
  {
    name: "portcullis-public",
    what: "(a′) Portcullis, public route: the gateway's fixed cost (parse, route, header rewrite, forward, log), no credential",
    setup: (ctx) => startPortcullis(ctx, { routes: [{ name: "open", methods: ["GET"], path: "/api/*", auth: ["public"] }] }),
    request: () => fixed({}),
    identity: { "x-auth-method": "public" },
  },
  {
    name: "portcullis-warm",
    what: "(b) Portcullis, jwt route, the same RS256 token every request (verified-token cache hit)",
    setup: (ctx) => startPortcullis(ctx, jwtRoute()),
    request: (ctx) => fixed(bearer(ctx.warmToken)),
    identity: JWT_IDENTITY,
    refusals: jwtRefusals,
  },
  {
    name: "portcullis-fresh",
    what: "(c) Portcullis, jwt route, a different RS256 token every request (token_cache.max_entries = 1): one signature check per request",
    setup: (ctx) => startPortcullis(ctx, { ...jwtRoute(), token_cache: { max_entries: 1 } }),
    request: (ctx) => roundRobin(ctx.tokens, bearer),
    identity: JWT_IDENTITY,
    refusals: jwtRefusals,
  },
  {
    name: "jose-js",
    what: "(d) JS worker with jose jwtVerify + createRemoteJWKSet, same checks and headers, same token pool as (c)",
    setup: (ctx) => startJoseWorker(ctx),
    request: (ctx) => roundRobin(ctx.tokens, bearer),
    identity: JWT_IDENTITY,
    refusals: jwtRefusals,
  },
  ...FRESH_ALGS.flatMap((alg) => {
    const tag = alg.toLowerCase();
    return [
      {
        name: `portcullis-fresh-${tag}`,
        what: `(c-${alg}) as (c) with ${alg} tokens (the issuer entry allows ${alg} only)`,
        setup: (ctx) => startPortcullis(ctx, { ...jwtRoute(), token_cache: { max_entries: 1 } }, { algorithms: [alg] }),
        request: (ctx) => roundRobin(ctx.tokensByAlg[alg], bearer),
        identity: JWT_IDENTITY,
        refusals: (ctx) => jwtRefusals(ctx, alg),
      },
      {
        name: `jose-js-${tag}`,
        what: `(d-${alg}) as (d), ${alg} only, same token pool as (c-${alg})`,
        setup: (ctx) => startJoseWorker(ctx, alg),
        request: (ctx) => roundRobin(ctx.tokensByAlg[alg], bearer),
        identity: JWT_IDENTITY,
        refusals: (ctx) => jwtRefusals(ctx, alg),
      },
    ];
  }),
  {
    name: "apikey-warm",
    what: "(e) Portcullis, api_key route, key record in the isolate cache (default positive_cache_ttl_secs = 30)",
    setup: (ctx) => startPortcullisWithKeys(ctx, keyRoute()),
    request: (ctx) => fixed(apiKey(ctx.apiKey.key)),
    identity: KEY_IDENTITY,
    refusals: keyRefusals,
    // Deleting a key's KV entries must not affect a key the isolate has cached.
    check: (instance, ctx) => probeKeyCache(instance, ctx, { afterDelete: 200 }),
  },
  {
    name: "apikey-cold",
    what: "(f) Portcullis, api_key route, positive_cache_ttl_secs = 0: a KV read every request",
    setup: (ctx) => startPortcullisWithKeys(ctx, keyRoute({ positive_cache_ttl_secs: 0 })),
    request: (ctx) => fixed(apiKey(ctx.apiKey.key)),
    identity: KEY_IDENTITY,
    refusals: keyRefusals,
    // With no positive caching, a key whose KV entries are gone is refused on the next request.
    check: (instance, ctx) => probeKeyCache(instance, ctx, { afterDelete: 401 }),
  },
  {
    name: "jwt-bare",
    what: "(b0) Portcullis, jwt route as (b) with revocation off (`revocation.enabled = false`) and no rate limit: the plain JWT route",
    setup: (ctx) => startPortcullis(ctx, { ...jwtRoute(), revocation: { enabled: false } }),
    request: (ctx) => fixed(bearer(ctx.warmToken)),
    identity: JWT_IDENTITY,
    refusals: jwtRefusals,
  },
  {
    name: "snapshot-fast",
    what: "(g) as (b0) plus revocation from the isolate snapshot (default 1 s refresh) and a `fast` rate limit (lease 100): no Durable Object call on the request path",
    setup: (ctx) => startPortcullis(ctx, limitedRoute("snapshot", { rate: "1000000 per 2592000 s", mode: "fast", lease: 100 })),
    request: (ctx) => fixed(bearer(ctx.warmToken)),
    identity: JWT_IDENTITY,
    refusals: jwtRefusals,
    check: (instance, ctx) => checkRateLimitHeaders(instance, ctx),
  },
  {
    name: "strict-exact",
    what: "(h) as (b0) plus `strict` revocation and an `exact` rate limit: two Durable Object calls per request (revocation list, the identity's limiter)",
    setup: (ctx) => startPortcullis(ctx, limitedRoute("strict", { rate: "1000000 per 2592000 s", mode: "exact" })),
    request: (ctx) => fixed(bearer(ctx.warmToken)),
    identity: JWT_IDENTITY,
    refusals: jwtRefusals,
    check: (instance, ctx) => checkRateLimitHeaders(instance, ctx),
  },
];

/** A jwt route with `revocation = mode` and the policy `bench`: a burst of 1 000 000 never refuses within a run, and at 1 000 000 per 30 days (one unit back every 2.6 s) the quota visibly counts down between two requests even on a slow machine. */
function limitedRoute(mode, policy) {
  return {
    rate_limits: { bench: policy },
    routes: [{ name: "read", methods: ["GET"], path: "/api/*", auth: ["jwt"], scopes: [SCOPE], revocation: mode, rate_limit: "bench" }],
  };
}

/** The limited variants must announce their policy and count down the quota. */
async function checkRateLimitHeaders(instance, ctx) {
  const first = await get(instance.url, bearer(ctx.warmToken));
  const second = await get(instance.url, bearer(ctx.warmToken));
  if (first.headers["ratelimit-policy"] !== '"bench";q=1000000;w=2592000') return `RateLimit-Policy: ${first.headers["ratelimit-policy"]}`;
  const r = (res) => Number(/;r=(\d+);/.exec(res.headers.ratelimit ?? "")?.[1]);
  if (!(r(second) < r(first))) return `RateLimit did not count down: ${first.headers.ratelimit} then ${second.headers.ratelimit}`;
  return null;
}

function jwtRoute() {
  return { routes: [{ name: "read", methods: ["GET"], path: "/api/*", auth: ["jwt"], scopes: [SCOPE] }] };
}

function keyRoute(apiKeys = {}) {
  return {
    api_keys: apiKeys,
    routes: [{ name: "machines", methods: ["GET"], path: "/api/*", auth: ["api_key"], scopes: [SCOPE] }],
  };
}

// ------------------------------------------------------------------ workers in workerd

/** A JS module worker in its own workerd, with the harness's options (structured logs, no cf). */
async function startWorker(name, modules, bindings) {
  const logs = [];
  const mf = new Miniflare({
    name,
    modules,
    modulesRoot: WORKERS,
    compatibilityDate: compatibilityDate(),
    bindings,
    cf: false,
    handleStructuredLogs({ message }) {
      logs.push(message);
    },
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  return { url, mf, logs, stop: () => mf.dispose() };
}

function startScriptWorker(name, file, bindings) {
  return startWorker(name, [{ type: "ESModule", path: file }], bindings);
}

/** Bundles the jose worker the way wrangler would (esbuild, ESM, worker/browser conditions). */
async function startJoseWorker(ctx, alg = "RS256") {
  const out = await esbuild({
    entryPoints: [path.join(WORKERS, "jose-js.js")],
    bundle: true,
    format: "esm",
    platform: "neutral",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["browser", "module", "main"],
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  const contents = out.outputFiles[0].text;
  ctx.joseBundleBytes = Buffer.byteLength(contents);
  return startWorker("jose-js", [{ type: "ESModule", path: path.join(WORKERS, "jose-js.bundle.js"), contents }], {
    ORIGIN: ctx.originUrl,
    ISSUER: ctx.issuer.url,
    JWKS_URI: ctx.issuer.jwksUri,
    AUDIENCES: JSON.stringify([AUDIENCE]),
    REALM: "test",
    ALGORITHMS: JSON.stringify([alg]),
  });
}

async function startPortcullis(ctx, extra, { algorithms = ["RS256"] } = {}) {
  const config = baseConfig({ origin: ctx.originUrl, issuer: ctx.issuer, audiences: [AUDIENCE], algorithms, extra });
  if (ctx.build) return startGatewayFrom(ctx.build, config);
  const gw = await startGateway(config);
  return { url: gw.url, mf: gw.mf, logs: gw.logs, stop: () => gw.dispose() };
}

/** The gateway as `startGateway` starts it, but from another build directory (`BENCH_BASELINE`). */
async function startGatewayFrom(buildDir, config) {
  const logs = [];
  const mf = new Miniflare({
    name: "baseline",
    modules: [
      { type: "ESModule", path: path.join(buildDir, "index.js") },
      { type: "CompiledWasm", path: path.join(buildDir, "index_bg.wasm") },
    ],
    modulesRoot: buildDir,
    compatibilityDate: compatibilityDate(),
    kvNamespaces: ["PORTCULLIS_KV"],
    durableObjects: DURABLE_OBJECTS,
    bindings: { PORTCULLIS_CONFIG: config },
    cf: false,
    handleStructuredLogs({ message }) {
      logs.push(message);
    },
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  return { url, mf, logs, stop: () => mf.dispose() };
}

async function startPortcullisWithKeys(ctx, extra) {
  const instance = await startPortcullis(ctx, extra);
  await putKv(instance.mf, ctx.apiKey.kv);
  return instance;
}

async function putKv(mf, entries) {
  const kv = await mf.getKVNamespace("PORTCULLIS_KV");
  for (const e of entries) await kv.put(e.key, e.value);
}

async function deleteKv(mf, entries) {
  const kv = await mf.getKVNamespace("PORTCULLIS_KV");
  for (const e of entries) await kv.delete(e.key);
}

/** A second key, used once, deleted from KV, used again: shows whether the isolate cache answers. */
async function probeKeyCache(instance, ctx, { afterDelete }) {
  const probe = seedKey("bench-probe", SCOPE);
  await putKv(instance.mf, probe.kv);
  const first = await get(instance.url, apiKey(probe.key));
  if (first.status !== 200) return `probe key: expected 200, got ${first.status}`;
  await deleteKv(instance.mf, probe.kv);
  const second = await get(instance.url, apiKey(probe.key));
  if (second.status !== afterDelete) return `probe key after KV delete: expected ${afterDelete}, got ${second.status}`;
  return null;
}

// ------------------------------------------------------------------ shared fixtures

async function mintPool(issuer, n, alg = "RS256") {
  const tokens = [];
  while (tokens.length < n) {
    const batch = Math.min(100, n - tokens.length);
    tokens.push(...(await Promise.all(Array.from({ length: batch }, () => issuer.mint({ alg, ttl: SETTINGS.tokenTtlSeconds })))));
  }
  if (new Set(tokens).size !== n) throw new Error("token pool has duplicates");
  return tokens;
}

async function fixtures() {
  const origin = await startOrigin();
  const algs = ["RS256", ...FRESH_ALGS];
  const issuer = await startIssuer({ algs });
  const other = await startIssuer({ algs }); // keys the gateway does not trust
  const t0 = Date.now();
  const tokens = await mintPool(issuer, SETTINGS.tokenPool);
  const mintMs = Date.now() - t0;
  const tokensByAlg = { RS256: tokens };
  for (const alg of FRESH_ALGS) tokensByAlg[alg] = await mintPool(issuer, SETTINGS.tokenPool, alg);
  const warmToken = await issuer.mint({ ttl: SETTINGS.tokenTtlSeconds });
  const bad = {};
  for (const alg of algs) {
    const good = (alg === "RS256" ? warmToken : await issuer.mint({ alg, ttl: SETTINGS.tokenTtlSeconds })).split(".");
    const flipped = good[2][0] === "A" ? "B" + good[2].slice(1) : "A" + good[2].slice(1);
    bad[alg] = {
      tampered: `${good[0]}.${good[1]}.${flipped}`,
      wrongAudience: await issuer.mint({ alg, audience: "https://elsewhere.test" }),
      noScope: await issuer.mint({ alg, claims: { scope: "write:echo" } }),
      // Signed by another key but naming the trusted issuer and its kid.
      foreignKey: await other.mint({ alg, ttl: SETTINGS.tokenTtlSeconds, header: { kid: issuer.keyFor(alg).kid }, claims: { iss: issuer.url } }),
    };
  }
  await other.close();
  return {
    origin,
    originUrl: origin.url,
    issuer,
    tokens,
    tokensByAlg,
    mintMs,
    warmToken,
    bad,
    apiKey: seedKey("bench", SCOPE),
    unknownKey: seedKey("bench-unknown", SCOPE).key, // never written to KV
    publicJwk: issuer.keyFor("RS256").publicJwk,
  };
}

// ------------------------------------------------------------------ HTTP from Node

/** One GET of `path` (default the benchmark path). */
const get = (baseUrl, headers, { agent, path: p = PATH } = {}) => request(baseUrl + p, { headers, agent });

// ------------------------------------------------------------------ phase 1: checks

/** Returns a list of problems; empty when the variant answers and refuses as it should. */
async function checkVariant(v, instance, ctx) {
  const problems = [];
  const headers = v.request(ctx)();
  const spoofed = v.identity ? { "x-user-id": "spoofed", "x-auth-method": "spoofed", "x-client-id": "spoofed" } : {};
  const res = await get(instance.url, { ...headers, ...spoofed });
  if (res.status !== 200) {
    problems.push(`bench request: expected 200, got ${res.status} ${res.body.slice(0, 200)}`);
    return problems;
  }
  let seen;
  try {
    seen = JSON.parse(res.body);
  } catch {
    problems.push("bench request: the response is not the echo origin's JSON");
    return problems;
  }
  if (seen.url !== PATH) problems.push(`origin saw ${seen.url}, expected ${PATH}`);
  for (const [name, value] of Object.entries(v.identity ?? {})) {
    if (seen.headers[name] !== value) problems.push(`origin saw ${name}: ${seen.headers[name]}, expected ${value}`);
  }
  if (v.identity) {
    for (const name of ["authorization", "x-api-key"]) {
      if (seen.headers[name] !== undefined) problems.push(`the credential header ${name} reached the origin`);
    }
  }
  for (const r of v.refusals?.(ctx) ?? []) {
    const res2 = await get(instance.url, r.headers);
    if (res2.status !== r.status) problems.push(`${r.name}: expected ${r.status}, got ${res2.status}`);
  }
  const extra = await v.check?.(instance, ctx);
  if (extra) problems.push(extra);
  return problems;
}

// ------------------------------------------------------------------ phase 2: load (autocannon)

function runAutocannon(url, next, seconds, onResponse) {
  const instance = autocannon({
    url: url + PATH,
    connections: SETTINGS.connections,
    pipelining: SETTINGS.pipelining,
    duration: seconds,
    timeout: 10,
    requests: [{ method: "GET", path: PATH, setupRequest: (req) => ({ ...req, headers: { ...req.headers, ...next() } }) }],
  });
  if (onResponse) instance.on("response", (_client, status, _bytes, ms) => onResponse(status, ms));
  return instance; // thenable
}

/**
 * Every variant gets a warm-up, then its measured seconds in `slices` slices, interleaved with the
 * other variants' (rotating order): background load on a shared machine then hits all variants
 * alike instead of whichever happened to run at the time.
 */
async function loadPass(running, ctx) {
  const acc = new Map();
  for (const { v, instance } of running) {
    console.error(`  warm-up ${v.name} (${SETTINGS.warmupSeconds} s)`);
    await runAutocannon(instance.url, v.request(ctx), SETTINGS.warmupSeconds);
    acc.set(v.name, { latencies: [], perSecond: [], statuses: {}, errors: 0, timeouts: 0, mismatches: 0, seconds: 0 });
  }
  const sliceSeconds = SETTINGS.measureSeconds / SETTINGS.slices;
  const wall0 = performance.now();
  const busy0 = machineBusySeconds();
  const ours0 = processTable();
  for (let slice = 0; slice < SETTINGS.slices; slice++) {
    for (let i = 0; i < running.length; i++) {
      const { v, instance } = running[(slice + i) % running.length];
      const a = acc.get(v.name);
      const buckets = new Array(sliceSeconds).fill(0);
      const cpu0 = instance.pids ? cpuSecondsOf(instance.pids, processTable()) : null;
      const t0 = performance.now();
      const result = await runAutocannon(instance.url, v.request(ctx), sliceSeconds, (status, ms) => {
        a.statuses[status] = (a.statuses[status] ?? 0) + 1;
        a.latencies.push(ms);
        const second = Math.floor((performance.now() - t0) / 1000);
        if (second < sliceSeconds) buckets[second]++;
      });
      if (cpu0 != null) a.cpuSeconds = (a.cpuSeconds ?? 0) + cpuSecondsOf(instance.pids, processTable()) - cpu0;
      a.perSecond.push(...buckets);
      a.seconds += sliceSeconds;
      a.errors += result.errors;
      a.timeouts += result.timeouts;
      a.mismatches += result.mismatches;
      a.non2xxAutocannon = (a.non2xxAutocannon ?? 0) + result.non2xx;
    }
    console.error(`  slice ${slice + 1}/${SETTINGS.slices} done`);
  }
  const ours1 = processTable();
  const busy1 = machineBusySeconds();
  const wallSeconds = (performance.now() - wall0) / 1000;
  let machineCpu = null;
  if (ours0 && ours1 && busy0 != null && busy1 != null) {
    // Our own processes: this runner (autocannon, the origin thread) and every workerd it started.
    const mine = descendantsOf(process.pid, ours1);
    const ownSeconds = cpuSecondsOf(mine, ours1) - cpuSecondsOf(mine, ours0);
    const capacity = wallSeconds * (os.availableParallelism?.() ?? os.cpus().length);
    machineCpu = {
      wall_seconds: round(wallSeconds, 1),
      busy_share: round((busy1 - busy0) / capacity, 3),
      bench_share: round(ownSeconds / capacity, 3),
      other_processes_share: round(Math.max(0, busy1 - busy0 - ownSeconds) / capacity, 3),
    };
  }
  const out = { machineCpu, variants: {} };
  for (const [name, a] of acc) {
    const lat = a.latencies.sort((x, y) => x - y);
    const perSecond = [...a.perSecond].sort((x, y) => x - y);
    const non2xx = Object.entries(a.statuses).reduce((n, [s, c]) => n + (s >= 200 && s < 300 ? 0 : c), 0);
    out.variants[name] = {
      requests: lat.length,
      seconds: a.seconds,
      workerd_cpu_us_per_request: a.cpuSeconds != null ? round((a.cpuSeconds * 1e6) / lat.length, 0) : null,
      rps: { median: round(median(perSecond), 1), mean: round(lat.length / a.seconds, 1), min: perSecond[0], max: perSecond.at(-1), per_second: a.perSecond },
      latency_ms: { p50: round(percentile(lat, 50)), p99: round(percentile(lat, 99)), mean: round(mean(lat)), max: round(lat.at(-1)) },
      errors: { non2xx: Math.max(non2xx, a.non2xxAutocannon), errors: a.errors, timeouts: a.timeouts, mismatches: a.mismatches },
      statuses: a.statuses,
    };
  }
  return out;
}

// ------------------------------------------------------------------ phase 3: concurrency 1

function keepAliveAgent() {
  return new http.Agent({ keepAlive: true, maxSockets: 1 });
}

async function concurrencyOnePass(running, ctx) {
  const lanes = running.map(({ v, instance }) => ({ v, instance, next: v.request(ctx), agent: keepAliveAgent(), us: [], bad: 0 }));
  const once = async (lane, record) => {
    const res = await get(lane.instance.url, lane.next(), { agent: lane.agent });
    if (res.status !== 200) lane.bad++;
    else if (record) lane.us.push(res.us);
  };
  for (let round = 0; round < SETTINGS.c1WarmupRounds; round++) for (const lane of lanes) await once(lane, false);
  const deadline = Date.now() + SETTINGS.c1Seconds * 1000;
  // The starting lane rotates each round so no variant always follows the same neighbour.
  for (let round = 0; Date.now() < deadline; round++) {
    for (let i = 0; i < lanes.length; i++) await once(lanes[(round + i) % lanes.length], true);
  }
  const out = {};
  for (const lane of lanes) {
    lane.agent.destroy();
    const s = [...lane.us].sort((a, b) => a - b);
    out[lane.v.name] = { samples: s.length, mean_us: round(mean(s), 1), p50_us: round(percentile(s, 50), 1), p99_us: round(percentile(s, 99), 1), non2xx: lane.bad };
  }
  return out;
}

// ------------------------------------------------------------------ phase 4: raw crypto.subtle

async function rawVerifyPass(ctx) {
  const w = await startScriptWorker("webcrypto", path.join(WORKERS, "webcrypto.js"), {
    TOKEN: ctx.warmToken,
    JWK: JSON.stringify(ctx.publicJwk),
  });
  const agent = keepAliveAgent();
  const n = SETTINGS.verifyN;
  const samples = { 0: [], [n]: [] };
  try {
    for (const k of [0, n]) {
      const r = await get(w.url, {}, { agent, path: `/?n=${k}` });
      if (r.status !== 200 || r.body !== `verified ${k}`) throw new Error(`webcrypto worker n=${k}: ${r.status} ${r.body}`);
    }
    for (let round = 0; round < 20; round++) for (const k of [0, n]) await get(w.url, {}, { agent, path: `/?n=${k}` });
    for (let round = 0; round < SETTINGS.verifyRounds; round++) {
      for (const k of round % 2 ? [0, n] : [n, 0]) {
        const r = await get(w.url, {}, { agent, path: `/?n=${k}` });
        if (r.status !== 200) throw new Error(`webcrypto worker n=${k}: ${r.status}`);
        samples[k].push(r.us);
      }
    }
  } finally {
    agent.destroy();
    await w.stop();
  }
  const s0 = [...samples[0]].sort((a, b) => a - b);
  const sN = [...samples[n]].sort((a, b) => a - b);
  return {
    n,
    rounds: SETTINGS.verifyRounds,
    request_mean_us: { n0: round(mean(s0), 1), nN: round(mean(sN), 1) },
    request_p50_us: { n0: round(percentile(s0, 50), 1), nN: round(percentile(sN, 50), 1) },
    us_per_verify: round((mean(sN) - mean(s0)) / n, 2),
    us_per_verify_from_medians: round((percentile(sN, 50) - percentile(s0, 50)) / n, 2),
  };
}

// ------------------------------------------------------------------ cold start

/**
 * A new isolate's first response: for each worker, fresh workerd instances (alternating workers,
 * `coldStartRounds` each), timing `ready` (process start, module load: the wasm compiled and
 * instantiated, or the JS bundle parsed) and the first request (for the JWT workers: the JWKS
 * fetched, the key imported, the token verified). The process start is the same for every worker,
 * so the cold-start figure is the worker's own part: median(first response) + max(0, median(ready)
 * − median(ready of the pass-through worker)). A worker cannot load faster than the pass-through's
 * one small module; on a loaded machine the difference of two ~250 ms medians can come out negative,
 * which is noise and counts as 0.
 */
async function coldStartPass(ctx) {
  const workers = [
    { name: "passthrough", setup: () => startScriptWorker("passthrough", path.join(WORKERS, "passthrough.js"), { ORIGIN: ctx.originUrl }), headers: {} },
    { name: "portcullis", setup: () => startPortcullis(ctx, jwtRoute()), headers: bearer(ctx.warmToken) },
    { name: "jose-js", setup: () => startJoseWorker(ctx), headers: bearer(ctx.warmToken) },
    // Diagnostic, not the goal's figure: the same without the first request's wait for the
    // revocation list (a Durable Object call), which the jose worker does not have.
    { name: "portcullis (revocation off)", setup: () => startPortcullis(ctx, { ...jwtRoute(), revocation: { enabled: false } }), headers: bearer(ctx.warmToken) },
  ];
  if (BASELINE) workers.push({ name: "portcullis@before", setup: () => startPortcullis({ ...ctx, build: BASELINE }, jwtRoute()), headers: bearer(ctx.warmToken) });
  const samples = Object.fromEntries(workers.map((w) => [w.name, { ready: [], first: [] }]));
  for (let round = 0; round < SETTINGS.coldStartRounds; round++) {
    for (let i = 0; i < workers.length; i++) {
      const w = workers[(round + i) % workers.length];
      const t0 = performance.now();
      const instance = await w.setup();
      const t1 = performance.now();
      try {
        const res = await get(instance.url, w.headers);
        const t2 = performance.now();
        if (res.status !== 200) throw new Error(`cold start ${w.name}: first response ${res.status} ${res.body.slice(0, 200)}`);
        samples[w.name].ready.push(t1 - t0);
        samples[w.name].first.push(t2 - t1);
      } finally {
        await instance.stop();
      }
    }
  }
  const out = { rounds: SETTINGS.coldStartRounds, workers: {} };
  const med = (xs) => median([...xs].sort((a, b) => a - b));
  const readyPass = med(samples.passthrough.ready);
  for (const [name, s2] of Object.entries(samples)) {
    const ready = med(s2.ready);
    const first = med(s2.first);
    out.workers[name] = { ready_ms: round(ready, 1), first_response_ms: round(first, 1), cold_start_ms: round(first + Math.max(0, ready - readyPass), 1) };
  }
  const ratioOf = (name) => (out.workers[name] && out.workers["jose-js"].cold_start_ms > 0 ? round(out.workers[name].cold_start_ms / out.workers["jose-js"].cold_start_ms, 3) : null);
  out.portcullis_over_jose = ratioOf("portcullis");
  if (BASELINE) out.before_over_jose = ratioOf("portcullis@before");
  out.what = "median first-response time plus median ready time beyond the pass-through worker's (0 if less), over fresh workerd instances (Miniflare), JWT route with a token neither has seen";
  return out;
}

// ------------------------------------------------------------------ report

const isPortcullis = (name) => name !== "passthrough" && !name.startsWith("jose-js");
/** The same ratio for the baseline build: its Portcullis variants over the same JS references. */
const before = (name) => (isPortcullis(name) ? `${name}@before` : name);

const fmt = (x, d = 0) => (x == null ? "—" : x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }));
const kb = (b) => `${fmt(b / 1000, 1)} kB`;
const verdict = (ok) => (ok == null ? "" : ok ? "✓" : "✗ missed");

function markdown(r) {
  const lines = [];
  const s = r.settings;
  lines.push(`Portcullis benchmark, ${r.date.slice(0, 10)} (commit ${r.git.commit?.slice(0, 10) ?? "?"}${r.git.dirty ? ", uncommitted changes" : ""}).`);
  lines.push(`workerd ${r.machine.workerd} via Miniflare ${r.machine.miniflare}, Node ${r.machine.node}, ${r.machine.nproc} cores (${r.machine.cpu_model}) shared by workerd, autocannon and the origin; loopback only.`);
  lines.push(`Load: autocannon, ${s.connections} connections, pipelining ${s.pipelining}, ${s.warmupSeconds} s warm-up, then ${s.measureSeconds} s measured per variant in ${s.slices} slices interleaved with the other variants; latency percentiles over every response in the window. c=1: one request at a time, variants interleaved, ${fmt(r.concurrency_one_samples)}+ requests each.`);
  lines.push("");
  const mc = r.machine.cpu_during_load_pass;
  if (mc) lines.push(`During the load pass the machine was ${fmt(mc.busy_share * 100)}% busy: ${fmt(mc.bench_share * 100)}% this benchmark, ${fmt(mc.other_processes_share * 100)}% other processes${mc.other_processes_share > 0.1 ? " — **throughput figures are disturbed; CPU per request is the steadier figure**" : ""}.`);
  lines.push("");
  lines.push("| variant | req/s (median) | p50 ms | p99 ms | workerd CPU µs/req | c=1 mean ms | c=1 added vs (a) |");
  lines.push("|---|---:|---:|---:|---:|---:|---:|");
  for (const v of r.variants) {
    const added = v.c1?.added_vs_passthrough_us;
    lines.push(
      `| **${v.name}** ${v.what} | ${fmt(v.load.rps.median)} | ${fmt(v.load.latency_ms.p50, 2)} | ${fmt(v.load.latency_ms.p99, 2)} | ${fmt(v.load.workerd_cpu_us_per_request)} | ${fmt(v.c1 ? v.c1.mean_us / 1000 : null, 3)} | ${added == null ? "—" : `${added >= 0 ? "+" : ""}${fmt(added)} µs`} |`,
    );
  }
  lines.push("");
  const withBefore = Boolean(r.ratios_before);
  lines.push(`| ratio | median req/s | inverse workerd CPU/req | goal (req/s) |${withBefore ? " before: req/s | before: inverse CPU |" : ""}`);
  lines.push(`|---|---:|---:|---|${withBefore ? "---:|---:|" : ""}`);
  for (const [key, , , label] of RATIOS) {
    const value = r.ratios[key];
    const cpu = r.ratios_from_cpu[key];
    if (value == null && cpu == null) continue;
    const target = TARGETS[key];
    const cells = [label, value == null ? "—" : fmt(value, 2), cpu == null ? "—" : fmt(cpu, 2), target == null ? "" : `≥ ${fmt(target, 2)} ${verdict(value == null ? null : value >= target)}`];
    if (withBefore) cells.push(fmt(r.ratios_before[key], 2), fmt(r.ratios_before_from_cpu[key], 2));
    lines.push(`| ${cells.join(" | ")} |`);
  }
  const cs = r.cold_start;
  if (cs) {
    lines.push("");
    lines.push(`Cold start (${cs.rounds} fresh workerd instances per worker, medians; ${cs.what}):`);
    lines.push("");
    lines.push("| worker | ready ms | first response ms | cold start ms (beyond the pass-through's ready) |");
    lines.push("|---|---:|---:|---:|");
    for (const [name, w] of Object.entries(cs.workers)) lines.push(`| ${name} | ${fmt(w.ready_ms, 1)} | ${fmt(w.first_response_ms, 1)} | ${fmt(w.cold_start_ms, 1)} |`);
    lines.push("");
    lines.push(`Portcullis / \`jose\` cold start: **${fmt(cs.portcullis_over_jose, 2)}×** — goal ≤ ${fmt(TARGETS.cold_start_over_jose, 1)}× ${verdict(cs.portcullis_over_jose == null ? null : cs.portcullis_over_jose <= TARGETS.cold_start_over_jose)}${cs.before_over_jose != null ? ` (baseline build: ${fmt(cs.before_over_jose, 2)}×)` : ""}.`);
  }
  lines.push("");
  const rv = r.raw_crypto_subtle;
  const pv = r.portcullis_verification;
  lines.push("| per RS256 verification | µs, from means | µs, from medians | what it is |");
  lines.push("|---|---:|---:|---|");
  if (rv) lines.push(`| raw \`crypto.subtle.verify\` in workerd | ${fmt(rv.us_per_verify, 1)} | ${fmt(rv.us_per_verify_from_medians, 1)} | (request time verifying ${rv.n}× − verifying 0×) / ${rv.n}, key imported once, timed from Node |`);
  if (pv) {
    lines.push(`| Portcullis, whole verification, latency | ${fmt(pv.us, 1)} | ${fmt(pv.us_from_medians, 1)} | c=1 latency of (c) − (b): token hash, cache miss and insert, JWS parse, key lookup, WebCrypto verify, claim checks |`);
    if (pv.cpu_us != null) lines.push(`| Portcullis, whole verification, CPU | ${fmt(pv.cpu_us, 0)} | | workerd CPU per request of (c) − (b) in the load pass |`);
  }
  lines.push("");
  const w = r.wasm;
  lines.push(`Deployed wasm (\`${w.file}\`): ${fmt(w.raw_bytes)} bytes, **${fmt(w.gzip_bytes)} bytes gzip -9 (${kb(w.gzip_bytes)})** — target ≤ ${kb(TARGETS.wasm_gzip_bytes)} ${verdict(w.gzip_bytes <= TARGETS.wasm_gzip_bytes)}${w.older_than_src ? " (built before the latest src/ changes)" : ""}.`);
  return lines.join("\n") + "\n";
}

// ------------------------------------------------------------------ main

async function main() {
  const started = Date.now();
  const date = new Date().toISOString();
  const chosen = ONLY ? VARIANTS.filter((v) => ONLY.includes(v.name)) : VARIANTS;
  if (BASELINE && !existsSync(path.join(BASELINE, "index_bg.wasm"))) throw new Error(`BENCH_BASELINE=${BASELINE} has no index_bg.wasm`);
  const variants = BASELINE
    ? [
        ...chosen,
        ...chosen
          .filter((v) => isPortcullis(v.name))
          .map((v) => ({ ...v, name: `${v.name}@before`, what: `${v.what} — baseline build (${BASELINE})`, setup: (ctx) => v.setup({ ...ctx, build: BASELINE }) })),
      ]
    : chosen;
  if (!variants.length) throw new Error(`BENCH_ONLY matched no variant (known: ${VARIANTS.map((v) => v.name).join(", ")})`);
  const info = machine();
  // The wasm every Portcullis instance loads at setup; measured now, checked again after setup.
  const wasm = wasmSize();
  if (info.loadavg_at_start[0] > 0.5) console.error(`note: 1-minute load average is ${info.loadavg_at_start[0]} before the run; figures will be noisy`);

  console.error(`minting ${SETTINGS.tokenPool} RS256 tokens, seeding API keys…`);
  const ctx = await fixtures();
  const running = [];
  const trimLogs = setInterval(() => {
    for (const { instance } of running) if (instance.logs?.length > 200) instance.logs.splice(0, instance.logs.length - 50);
  }, 1000);
  try {
    console.error(`starting ${variants.length} variants in workerd…`);
    for (const v of variants) running.push({ v, instance: await withNewProcesses(() => v.setup(ctx)) });
    if (wasmSize().sha256 !== wasm.sha256) throw new Error("build/index_bg.wasm changed while the variants started; run again on a stable build");

    for (const { v, instance } of running) {
      const problems = await checkVariant(v, instance, ctx);
      if (problems.length) {
        throw new Error(`${v.name} is not configured right:\n  ${problems.join("\n  ")}\n  last log lines:\n    ${(instance.logs ?? []).slice(-5).join("\n    ")}`);
      }
      console.error(`  ${v.name}: checks pass`);
    }

    console.error(`load: ${SETTINGS.connections} connections; ${SETTINGS.warmupSeconds} s warm-up, then ${SETTINGS.measureSeconds} s per variant in ${SETTINGS.slices} interleaved slices…`);
    const { machineCpu, variants: load } = await loadPass(running, ctx);
    if (machineCpu?.other_processes_share > 0.1) {
      console.error(`  note: other processes used ${fmt(machineCpu.other_processes_share * 100)}% of the machine's CPU during the load pass; throughput figures are disturbed`);
    }
    for (const { v, instance } of running) {
      const l = load[v.name];
      const failed = l.errors.non2xx + l.errors.errors + l.errors.timeouts + l.errors.mismatches;
      console.error(`  ${v.name}: ${fmt(l.rps.median)} req/s median, p50 ${l.latency_ms.p50} ms, p99 ${l.latency_ms.p99} ms`);
      if (failed > 0) {
        throw new Error(`${v.name}: ${failed} failed responses in the measured window ${JSON.stringify({ ...l.errors, statuses: l.statuses })}\n  last log lines:\n    ${(instance.logs ?? []).slice(-5).join("\n    ")}`);
      }
    }

    console.error(`concurrency 1: ${SETTINGS.c1Seconds} s, variants interleaved…`);
    const c1 = await concurrencyOnePass(running, ctx);
    for (const [name, c] of Object.entries(c1)) if (c.non2xx) throw new Error(`${name}: ${c.non2xx} non-2xx responses in the concurrency-1 pass`);

    console.error(`raw crypto.subtle: ${SETTINGS.verifyRounds} × (n=0, n=${SETTINGS.verifyN})…`);
    const raw = await rawVerifyPass(ctx);

    const by = (name) => load[name]?.rps.median ?? null;
    const cpuOf = (name) => load[name]?.workerd_cpu_us_per_request ?? null;
    const ratio = (x, y) => (by(x) && by(y) ? round(by(x) / by(y), 3) : null);
    // What the throughput ratio would be if the variant's workerd were the only bottleneck.
    const cpuRatio = (x, y) => (cpuOf(x) && cpuOf(y) ? round(cpuOf(y) / cpuOf(x), 3) : null);
    const ratios = { basis: "median requests/s, x over y" };
    const ratiosFromCpu = { basis: "workerd CPU µs per request of y over that of x (x/y in throughput if workerd were the only bottleneck)" };
    const ratiosBefore = BASELINE ? { basis: `as ratios, the Portcullis variants from ${BASELINE}` } : null;
    const ratiosBeforeFromCpu = BASELINE ? { basis: ratiosFromCpu.basis } : null;
    for (const [key, x, y] of RATIOS) {
      ratios[key] = ratio(x, y);
      ratiosFromCpu[key] = cpuRatio(x, y);
      if (BASELINE) {
        ratiosBefore[key] = ratio(before(x), before(y));
        ratiosBeforeFromCpu[key] = cpuRatio(before(x), before(y));
      }
    }

    console.error(`cold start: ${SETTINGS.coldStartRounds} fresh instances per worker…`);
    const coldStart = ONLY ? null : await coldStartPass(ctx);
    const passthroughC1 = c1.passthrough?.mean_us;
    const results = {
      date,
      duration_s: null,
      machine: { ...info, loadavg_at_end: os.loadavg().map((x) => round(x, 2)), cpu_during_load_pass: machineCpu },
      git: { commit: git(["rev-parse", "HEAD"]), dirty: Boolean(git(["status", "--porcelain"])) },
      settings: { ...SETTINGS, quick: QUICK, path: PATH, token_minting_ms: ctx.mintMs },
      caveats: [
        `${info.nproc} cores shared by workerd (the gateway under test), autocannon and the echo origin (a Node worker thread): absolute figures are a lower bound, ratios are the result`,
        "loopback HTTP only: no TLS, no real network latency",
        "every variant runs in its own workerd behind Miniflare's entry worker; the overhead of that hop is in every figure alike",
        "latency percentiles are over every response in the measured window, from autocannon's per-response times",
      ],
      concurrency_one_samples: Math.min(...Object.values(c1).map((c) => c.samples)),
      variants: running.map(({ v }) => ({
        name: v.name,
        what: v.what,
        load: load[v.name],
        c1: c1[v.name] && { ...c1[v.name], added_vs_passthrough_us: passthroughC1 != null ? round(c1[v.name].mean_us - passthroughC1, 1) : null },
      })),
      ratios,
      ratios_from_cpu: ratiosFromCpu,
      ...(BASELINE ? { baseline_build: BASELINE, ratios_before: ratiosBefore, ratios_before_from_cpu: ratiosBeforeFromCpu, wasm_before: wasmSize(BASELINE) } : {}),
      cold_start: coldStart,
      targets: TARGETS,
      raw_crypto_subtle: {
        ...raw,
        what: `µs per RS256 crypto.subtle.verify in workerd: (mean latency of a request verifying ${raw.n} times − one verifying 0 times) / ${raw.n}, key imported once, timed from Node (workerd's clocks do not advance during computation)`,
      },
      portcullis_verification:
        c1["portcullis-fresh"] && c1["portcullis-warm"]
          ? {
              us: round(c1["portcullis-fresh"].mean_us - c1["portcullis-warm"].mean_us, 1),
              us_from_medians: round(c1["portcullis-fresh"].p50_us - c1["portcullis-warm"].p50_us, 1),
              // The same difference in workerd CPU under load: steadier when the machine is busy
              // (a mean of ~1 ms latencies moves with every scheduling hiccup; CPU time does not).
              cpu_us: cpuOf("portcullis-fresh") != null && cpuOf("portcullis-warm") != null ? cpuOf("portcullis-fresh") - cpuOf("portcullis-warm") : null,
              what: "µs Portcullis spends per token it has not seen: concurrency-1 mean latency of portcullis-fresh − portcullis-warm (token hash, cache miss and insert, JWS parse, JWKS key lookup, WebCrypto verify, claim checks)",
            }
          : null,
      jose_bundle_bytes: ctx.joseBundleBytes ?? null,
      wasm,
    };
    results.duration_s = round((Date.now() - started) / 1000, 1);

    const md = markdown(results);
    process.stdout.write(md);
    if (process.env.BENCH_SVG) writeFileSync(process.env.BENCH_SVG, chartSvg(results));
    if (QUICK || ONLY || BASELINE) {
      console.error("(BENCH_QUICK / BENCH_ONLY / BENCH_BASELINE: nothing written to bench/results/ or README.md)");
      if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify(results, null, 2) + "\n");
    } else {
      mkdirSync(RESULTS, { recursive: true });
      const json = JSON.stringify(results, null, 2) + "\n";
      writeFileSync(path.join(RESULTS, "latest.json"), json);
      writeFileSync(path.join(RESULTS, `${fileStamp(date)}.json`), json);
      writeFileSync(path.join(RESULTS, "latest.md"), md);
      writeFileSync(path.join(RESULTS, "latest.svg"), chartSvg(results));
      updateReadme(results);
      console.error(`results: bench/results/latest.json, latest.md, latest.svg; README.md's benchmark block (${results.duration_s} s)`);
    }
    if (results.wasm.older_than_src) console.error("warning: build/index_bg.wasm is older than src/; run `make build` for figures of the current code");
  } finally {
    clearInterval(trimLogs);
    for (const { instance } of running) await instance.stop().catch(() => {});
    await ctx.issuer.close();
    await ctx.origin.close();
  }
}

main().catch((e) => {
  console.error(`bench failed: ${e.stack ?? e}`);
  process.exit(1);
});
