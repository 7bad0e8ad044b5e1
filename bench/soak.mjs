// Portcullis soak: mixed traffic at a steady rate for a long time against the real wasm in workerd
// (Miniflare 4, tests/e2e/harness.mjs), with a real echo origin and issuer on 127.0.0.1. Every kind
// of credential and refusal is in the mix; each traffic class has one expected outcome. See
// bench/README.md ("Soak").
//
//   make soak                          10 minutes; writes bench/results/soak-<UTC>.json, soak-latest.json
//   SOAK_SECONDS=60 node bench/soak.mjs   a short trial (still writes results)
//
// Requirements (exit 1 when one fails): no 5xx; every response the outcome its class expects; no
// panic or runtime fault in workerd's log; the workerd process's resident memory flat over the
// second half (slope of a least-squares line under a threshold); JWKS fetches within the bound the
// refetch cooldown sets, and none from a `jku` a token names. Requests/s and latency percentiles are
// reported, never required. Loopback only; every loop ends by the clock.

import { mkdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

import { Miniflare } from "miniflare";

import { BUILD, DURABLE_OBJECTS, baseConfig, startIssuer, workerModules } from "../tests/e2e/harness.mjs";
import {
  RESULTS,
  compatibilityDate,
  cpuSecondsOf,
  descendantsOf,
  fileStamp,
  freePort,
  git,
  inspectorSession,
  isolateHeap,
  linearFit,
  machine,
  machineBusySeconds,
  mean,
  median,
  percentile,
  processTable,
  request,
  residentMemoryOf,
  round,
  seedKey,
  startOrigin,
  wasmSize,
  withNewProcesses,
} from "./lib.mjs";

// ------------------------------------------------------------------ settings

function envNumber(name, fallback, { min, max, integer = true }) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
    console.error(`${name}=${JSON.stringify(raw)}: expected ${integer ? "an integer" : "a number"} in ${min}–${max}`);
    process.exit(2);
  }
  return n;
}

const SETTINGS = {
  seconds: envNumber("SOAK_SECONDS", 600, { min: 10, max: 86_400 }),
  warmupSeconds: envNumber("SOAK_WARMUP_SECONDS", 15, { min: 0, max: 600 }),
  rps: envNumber("SOAK_RPS", 200, { min: 1, max: 20_000 }),
  concurrency: envNumber("SOAK_CONCURRENCY", 16, { min: 1, max: 512 }),
  sampleSeconds: envNumber("SOAK_SAMPLE_SECONDS", 5, { min: 0.5, max: 600, integer: false }),
  // The gateway isolate's live JS heap (after a forced GC) may grow by at most this much per minute
  // over the second half; so may the workerd process's resident memory (which also holds the wasm
  // linear memory, the Durable Objects, Miniflare's own workers and the allocator's slack, so it
  // gets a looser bound).
  maxHeapSlopeMiBPerMin: envNumber("SOAK_MAX_HEAP_SLOPE_MIB_PER_MIN", 0.25, { min: 0, max: 1024, integer: false }),
  maxRssSlopeMiBPerMin: envNumber("SOAK_MAX_RSS_SLOPE_MIB_PER_MIN", 4, { min: 0, max: 1024, integer: false }),
  requestTimeoutMs: 10_000,
  // Small enough that the verified-token cache reaches its bound early (fresh tokens arrive all the
  // time), so the second half measures a full cache, not one still filling.
  tokenCacheEntries: 500,
  jwksRefetchCooldownSeconds: 30,
};

// A subset of the traffic classes, to find which one moves a figure; results are then not written.
const ONLY = process.env.SOAK_ONLY ? process.env.SOAK_ONLY.split(",").map((s) => s.trim()) : null;
const AUDIENCE = "https://api.portcullis.test";
const PREFLIGHT_ROUNDS = 12;
const ALGS = ["RS256", "ES256", "PS256", "EdDSA"];
const MIB = 2 ** 20;
const nowSecs = () => Math.floor(Date.now() / 1000);

// ------------------------------------------------------------------ the gateway under soak

/**
 * The gateway in workerd as `startGateway` (tests/e2e/harness.mjs) runs it — same modules, bindings
 * and Durable Objects — plus workerd's inspector, through which the isolate's heap is sampled.
 */
async function startSoakGateway(config, inspectorPort) {
  const logs = [];
  const mf = new Miniflare({
    modules: workerModules(),
    modulesRoot: BUILD,
    compatibilityDate: compatibilityDate(),
    kvNamespaces: ["PORTCULLIS_KV"],
    durableObjects: DURABLE_OBJECTS,
    bindings: { PORTCULLIS_CONFIG: config },
    cf: false,
    inspectorPort,
    handleStructuredLogs({ message }) {
      logs.push(message);
    },
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  return { url, mf, logs, dispose: () => mf.dispose() };
}

function soakConfig(origin, issuer) {
  return baseConfig({
    origin: origin.url,
    issuer,
    audiences: [AUDIENCE],
    extra: {
      token_cache: { max_entries: SETTINGS.tokenCacheEntries },
      jwks: { refetch_cooldown_seconds: SETTINGS.jwksRefetchCooldownSeconds },
      admin: { enabled: true },
      api_keys: {},
      rate_limits: { "soak-one-per-day": "1 per 86400 s" },
      routes: [
        { name: "health", methods: ["GET"], path: "/health", auth: ["public"] },
        { name: "read", methods: ["GET"], path: "/api/*", auth: ["jwt"], scopes: ["read:echo"] },
        { name: "write", methods: ["POST"], path: "/api/*", auth: ["jwt"], scopes: ["write:echo"] },
        { name: "machines", methods: ["GET"], path: "/machine/*", auth: ["api_key"], scopes: ["read:echo"] },
        { name: "limited", methods: ["GET"], path: "/limited/*", auth: ["jwt"], scopes: ["read:echo"], rate_limit: "soak-one-per-day" },
      ],
    },
  });
}

// ------------------------------------------------------------------ traffic classes
// A class is one kind of caller with one expected outcome: `expect` is the status, the problem
// `code` (null for a forwarded request) and, for a forwarded one, what the origin must have seen.
// `next()` gives the class's next request; `weight` is its share of the mix.

const bearer = (t) => ({ authorization: `Bearer ${t}` });
const apiKey = (k) => ({ "x-api-key": k });
const cycle = (list) => {
  let i = 0;
  return () => list[i++ % list.length];
};
/** A signature with its first character changed: the right length, the wrong bytes. */
const tamper = (jwt) => {
  const [h, p, s] = jwt.split(".");
  return `${h}.${p}.${s[0] === "A" ? "B" : "A"}${s.slice(1)}`;
};

async function traffic(f) {
  const ttl = SETTINGS.seconds + SETTINGS.warmupSeconds + 3600;
  const mint = (opts) => f.issuer.mint({ ttl, ...opts });
  // Clients send spoofed identity headers along with real credentials; the origin must see the real ones.
  const spoof = { "x-user-id": "spoofed-admin", "x-auth-method": "spoofed", "x-client-id": "spoofed" };
  const warm = {};
  for (const alg of ALGS) warm[alg] = cycle(await Promise.all([0, 1, 2].map(() => mint({ alg }))));

  const freshAlgs = cycle(["ES256", "EdDSA", "RS256", "PS256"]);
  const postToken = await mint({ alg: "ES256", claims: { sub: "writer", scope: "read:echo write:echo" } });
  const postBody = JSON.stringify({ soak: "x".repeat(480) });

  const apiKeys = cycle(f.keys.valid.map((k) => k.key));
  const revokedTokens = cycle([...f.revoked.jti, ...f.revoked.subject]);

  const untrusted = f.untrusted;
  const signedByOther = await untrusted.mint({ ttl, header: { kid: f.issuer.keyFor("RS256").kid, jku: untrusted.jwksUri }, claims: { iss: f.issuer.url } });
  const badSignatures = cycle([tamper(warm.RS256()), tamper(warm.ES256()), tamper(warm.EdDSA()), tamper(warm.PS256()), signedByOther]);
  // Distinct unknown kids, each naming the untrusted issuer's JWKS in `jku` (never to be fetched).
  const unknownKids = cycle(
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => untrusted.mint({ alg: "ES256", ttl, header: { kid: `soak-unknown-${i}`, jku: untrusted.jwksUri }, claims: { iss: f.issuer.url } })),
    ),
  );
  const now = nowSecs();
  const expired = cycle(await Promise.all(ALGS.map((alg) => f.issuer.mint({ alg, claims: { iat: now - 7200, exp: now - 3600 } }))));
  const noScope = cycle(await Promise.all(["RS256", "ES256"].map((alg) => mint({ alg, claims: { scope: "profile:read" } }))));
  const malformedTokens = cycle(["not-a-jwt", "a.b", "a.b.c.d", "e30.e30.e30.e30.e30", `${warm.ES256().split(".").slice(0, 2).join(".")}.!!!`]);
  const valid = f.keys.valid[0].key;
  const malformedKeys = cycle([
    "pc_test_short",
    `${valid.slice(0, -1)}${valid.at(-1) === "A" ? "B" : "A"}`, // checksum
    `pc_live_${valid.slice("pc_test_".length)}`, // prefix this gateway does not accept
    `${valid.slice(0, 12)}-${valid.slice(13)}`, // alphabet
    "x".repeat(300), // oversized
  ]);
  const unknownKeys = cycle(f.keys.unknown);
  const inUrl = cycle(["/api/x?access_token=abc", "/api/x?page=2&API_KEY=abc", "/health?ke%79=abc", "/machine/x?password=hunter2", "/api/x?to+ken=1&jwt=abc"]);
  const notFound = cycle([["GET", "/nowhere"], ["GET", "/apiary"], ["PATCH", "/api/x"], ["DELETE", "/health"], ["GET", "/machines"]]);
  const badPaths = cycle(["/api//x", "/api/a%2Fb", "/api/a%5Cb", "/api/a%00b"]);
  const limited = cycle(f.limited);

  const get = (p, headers = {}) => ({ method: "GET", path: p, headers });
  const seen = (auth, sub) => ({ "x-auth-method": auth, ...(sub ? { "x-user-id": sub } : {}) });
  const refusal = (status, code) => ({ status, code });

  return [
    { name: "public", weight: 9, what: "public route, spoofed identity headers", expect: { status: 200, code: null, origin: { "x-auth-method": "public", "x-user-id": undefined } }, next: () => get("/health", spoof) },
    ...ALGS.map((alg) => ({
      name: `jwt-${alg}`,
      weight: alg === "RS256" || alg === "ES256" ? 7 : 5,
      what: `valid ${alg} token, verified-token cache hit`,
      expect: { status: 200, code: null, origin: seen("jwt", "user-123") },
      next: () => get("/api/items", { ...bearer(warm[alg]()), ...spoof }),
    })),
    {
      name: "jwt-fresh",
      weight: 8,
      what: "a token never seen before (minted per request, ES256/EdDSA/RS256/PS256): cache miss, signature check",
      expect: { status: 200, code: null, origin: seen("jwt", "fresh-user") },
      next: async () => get("/api/items", bearer(await f.issuer.mint({ alg: freshAlgs(), ttl: 600, claims: { sub: "fresh-user" } }))),
    },
    {
      name: "jwt-post",
      weight: 4,
      what: "POST with a 0.5 KB body, write scope",
      expect: { status: 200, code: null, origin: seen("jwt", "writer"), body: postBody },
      next: () => ({ method: "POST", path: "/api/items", headers: { ...bearer(postToken), "content-type": "application/json" }, body: postBody }),
    },
    { name: "api-key", weight: 8, what: "valid API key (isolate cache, KV behind it)", expect: { status: 200, code: null, origin: { "x-auth-method": "api_key", "x-client-id": "soak" } }, next: () => get("/machine/items", { ...apiKey(apiKeys()), ...spoof }) },
    { name: "token-revoked", weight: 4, what: "valid tokens revoked by jti and by subject", expect: refusal(401, "token_revoked"), next: () => get("/api/items", bearer(revokedTokens())) },
    { name: "api-key-revoked", weight: 2, what: "valid API key revoked by key id", expect: refusal(401, "api_key_revoked"), next: () => get("/machine/items", apiKey(f.keys.revoked)) },
    { name: "token-expired", weight: 4, what: "tokens expired an hour ago, every algorithm", expect: refusal(401, "token_expired"), next: () => get("/api/items", bearer(expired())) },
    { name: "bad-signature", weight: 4, what: "tampered signatures; a token signed by another key under the trusted kid", expect: refusal(401, "token_signature_invalid"), next: () => get("/api/items", bearer(badSignatures())) },
    { name: "unknown-kid", weight: 4, what: "50 distinct unknown kids (refetches bounded by the cooldown), `jku` pointing elsewhere", expect: refusal(401, "token_key_unknown"), next: () => get("/api/items", bearer(unknownKids())) },
    { name: "token-malformed", weight: 3, what: "not a compact JWS", expect: refusal(401, "token_malformed"), next: () => get("/api/items", bearer(malformedTokens())) },
    { name: "api-key-malformed", weight: 4, what: "bad checksum, prefix, alphabet, length", expect: refusal(401, "api_key_malformed"), next: () => get("/machine/items", apiKey(malformedKeys())) },
    { name: "api-key-unknown", weight: 3, what: "well-formed keys never issued (negative cache)", expect: refusal(401, "api_key_invalid"), next: () => get("/machine/items", apiKey(unknownKeys())) },
    { name: "credentials-missing", weight: 4, what: "no credential on a jwt route", expect: refusal(401, "token_missing"), next: () => get("/api/items") },
    { name: "scope-missing", weight: 3, what: "valid token without the route's scope", expect: refusal(403, "insufficient_scope"), next: () => get("/api/items", bearer(noScope())) },
    { name: "credentials-in-url", weight: 3, what: "a credential in the query", expect: refusal(400, "credentials_in_url"), next: () => get(inUrl(), bearer(warm.ES256())) },
    { name: "route-not-found", weight: 3, what: "no route for method and path", expect: refusal(404, "route_not_found"), next: () => { const [method, p] = notFound(); return { method, path: p, headers: {} }; } },
    { name: "path-ambiguous", weight: 2, what: "`//`, encoded `/`, `\\`, NUL", expect: refusal(400, "request_invalid"), next: () => get(badPaths(), bearer(warm.ES256())) },
    { name: "rate-limited", weight: 4, what: "identities over their budget (1 per day, exact: a Durable Object call each)", expect: refusal(429, "rate_limited"), next: () => get("/limited/items", bearer(limited())) },
  ];
}

/** The class order: each class `weight` times per round, spread evenly (smooth weighted round-robin). */
function deck(classes) {
  const total = classes.reduce((n, c) => n + c.weight, 0);
  const credit = classes.map(() => 0);
  const out = [];
  for (let i = 0; i < total; i++) {
    classes.forEach((c, j) => (credit[j] += c.weight));
    let best = 0;
    for (let j = 1; j < classes.length; j++) if (credit[j] > credit[best]) best = j;
    credit[best] -= total;
    out.push(classes[best]);
  }
  return out;
}

// ------------------------------------------------------------------ fixtures

async function fixtures() {
  const origin = await startOrigin();
  const issuer = await startIssuer({ algs: ALGS });
  // Keys the gateway does not trust; its JWKS is named in `jku` headers and must never be fetched.
  const untrusted = await startIssuer({ algs: ["RS256", "ES256"] });
  const keys = {
    valid: [0, 1, 2].map(() => seedKey("soak", "read:echo")),
    unknown: [0, 1, 2, 3].map(() => seedKey("soak-unknown", "read:echo").key), // never written to KV
    revokedSeed: seedKey("soak-revoked", "read:echo"),
  };
  return { origin, issuer, untrusted, keys };
}

/** Writes the API keys, revokes what the revoked classes use, exhausts the limited identities. */
async function prepare(gw, f) {
  const kv = await gw.mf.getKVNamespace("PORTCULLIS_KV");
  for (const k of [...f.keys.valid, f.keys.revokedSeed]) for (const e of k.kv) await kv.put(e.key, e.value);
  f.keys.revoked = f.keys.revokedSeed.key;

  const ttl = SETTINGS.seconds + SETTINGS.warmupSeconds + 3600;
  const admin = await f.issuer.mint({ alg: "ES256", ttl, claims: { sub: "soak-ops", scope: "portcullis:admin" } });
  const adminCall = async (p, body) => {
    const res = await request(`${gw.url}/admin${p}`, { method: "POST", headers: { ...bearer(admin), "content-type": "application/json" }, body: JSON.stringify(body) });
    if (res.status !== 201 && res.status !== 200) throw new Error(`admin POST ${p}: ${res.status} ${res.body}`);
  };
  const jti = [];
  for (const [i, alg] of ALGS.entries()) {
    for (let n = 0; n < 3; n++) {
      const id = `soak-revoked-${alg}-${n}`;
      jti.push(await f.issuer.mint({ alg, ttl, claims: { jti: id, sub: `revoked-jti-${i}` } }));
      await adminCall("/revocations/tokens", { jti: id, exp: nowSecs() + ttl, iss: f.issuer.url });
    }
  }
  // Issued before the subject revocation: every one of them is refused.
  const subject = await Promise.all(ALGS.map((alg) => f.issuer.mint({ alg, ttl, claims: { sub: "soak-revoked-subject", iat: nowSecs() - 10 } })));
  await adminCall("/revocations/subjects", { sub: "soak-revoked-subject", iss: f.issuer.url });
  f.revoked = { jti, subject };
  await adminCall("/revocations/keys", { key_id: f.keys.revokedSeed.key_id });

  f.limited = await Promise.all([0, 1, 2].map((i) => f.issuer.mint({ alg: "ES256", ttl, claims: { sub: `soak-limited-${i}` } })));
  for (const t of f.limited) {
    const res = await request(`${gw.url}/limited/items`, { headers: bearer(t) });
    if (res.status !== 200) throw new Error(`exhausting a limited identity: expected 200 for its one request of the day, got ${res.status} ${res.body.slice(0, 200)}`);
  }
}

// ------------------------------------------------------------------ judging one response

/** null when the response is what the class expects, else what differs. */
function judge(expect, res) {
  let body = null;
  try {
    body = JSON.parse(res.body);
  } catch {
    // not JSON: only acceptable where nothing below reads it
  }
  const code = res.status >= 400 ? (typeof body?.code === "string" ? body.code : null) : null;
  const outcome = `${res.status} ${code ?? "-"}`;
  if (res.status !== expect.status || code !== expect.code) return { outcome, problem: `expected ${expect.status} ${expect.code ?? "-"}` };
  if (expect.origin) {
    if (res.headers["x-origin"] !== "echo" || !body?.headers) return { outcome, problem: "not answered by the echo origin" };
    for (const [name, value] of Object.entries(expect.origin)) {
      if (body.headers[name] !== value) return { outcome, problem: `origin saw ${name}: ${body.headers[name]}, expected ${value}` };
    }
    for (const name of ["authorization", "x-api-key"]) if (body.headers[name] !== undefined) return { outcome, problem: `${name} reached the origin` };
    if (expect.body !== undefined && body.body !== expect.body) return { outcome, problem: "the origin received a different body" };
  }
  return { outcome, problem: null };
}

// ------------------------------------------------------------------ the load

function newTally(classes) {
  const perClass = new Map(classes.map((c) => [c.name, { histogram: {}, latencies: [], mismatches: 0, mismatchExamples: [], errors: 0, errorExamples: [] }]));
  return { perClass, fiveXx: new Map(), completedAt: [], requests: 0, staleConnectionRetries: 0 };
}

/**
 * Sends the mix at `SETTINGS.rps` for `seconds`, at most `SETTINGS.concurrency` in flight: an open
 * schedule (request n is due at n / rps), so a slow answer does not slow the offered load unless the
 * in-flight cap is reached. A backlog of more than one second is dropped (counted as `late`), never
 * burst out. Resolves when the window has passed and every request in flight has ended.
 */
function drive({ url, agent, classes, order, seconds, tally }) {
  let sent = 0;
  let inflight = 0;
  let late = 0;
  let pos = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;

  const fire = async () => {
    const cls = order[pos++ % order.length];
    const c = tally.perClass.get(cls.name);
    try {
      const r = await cls.next();
      const send = () => request(url + r.path, { method: r.method, headers: r.headers, body: r.body, agent, timeoutMs: SETTINGS.requestTimeoutMs });
      // A kept-alive connection the server closed just as the request went out: the request never
      // reached it, and Node's documented remedy is to send it again. Idle connections expire
      // together, so the retry may meet another one; each attempt uses up one, so at most
      // `concurrency` retries, all counted. Any other error is a failure.
      let res;
      for (let attempt = 0; !res; attempt++) {
        try {
          res = await send();
        } catch (e) {
          if (!(e.reusedSocket && e.code === "ECONNRESET") || attempt >= SETTINGS.concurrency) throw e;
          tally.staleConnectionRetries++;
        }
      }
      const { outcome, problem } = judge(cls.expect, res);
      c.histogram[outcome] = (c.histogram[outcome] ?? 0) + 1;
      c.latencies.push(res.us / 1000);
      if (res.status >= 500) tally.fiveXx.set(`${cls.name}|${outcome}`, (tally.fiveXx.get(`${cls.name}|${outcome}`) ?? 0) + 1);
      if (problem) {
        c.mismatches++;
        if (c.mismatchExamples.length < 5) c.mismatchExamples.push({ got: outcome, problem, detail: res.body.slice(0, 300) });
      }
    } catch (e) {
      c.errors++;
      if (c.errorExamples.length < 5) c.errorExamples.push(String(e.message ?? e));
    }
    tally.requests++;
    tally.completedAt.push(performance.now() - t0);
  };

  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      if (now >= end) {
        if (inflight === 0) {
          clearInterval(timer);
          resolve({ seconds: (now - t0) / 1000, sent, late });
        }
        return;
      }
      const due = Math.floor(((now - t0) / 1000) * SETTINGS.rps);
      if (due - sent > SETTINGS.rps) {
        late += due - sent - SETTINGS.rps;
        sent = due - SETTINGS.rps;
      }
      while (sent < due && inflight < SETTINGS.concurrency) {
        sent++;
        inflight++;
        fire().finally(() => inflight--);
      }
    }, 2);
  });
}

// ------------------------------------------------------------------ memory and log sampling

/** Every `sampleSeconds`: the workerd process's resident memory and the gateway isolate's live heap. */
function sampler(pids, inspector, t0) {
  const samples = [];
  let busy = false;
  const take = async () => {
    if (busy) return; // a GC that has not answered yet: skip this tick rather than queue
    busy = true;
    try {
      const heap = inspector ? await isolateHeap(inspector).catch(() => null) : null;
      const m = residentMemoryOf(pids);
      samples.push({
        t_s: round((performance.now() - t0) / 1000, 1),
        rss_mib: m ? round(m.rss_bytes / MIB, 2) : null,
        peak_rss_mib: m ? round(m.peak_rss_bytes / MIB, 2) : null,
        heap_mib: heap ? round(heap.used_bytes / MIB, 3) : null,
      });
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(take, SETTINGS.sampleSeconds * 1000);
  return {
    samples,
    take,
    async stop() {
      clearInterval(timer);
      while (busy) await new Promise((r) => setTimeout(r, 50));
    },
  };
}

/** Counts workerd's log lines by `event`, and the lines that say the runtime itself went wrong. */
const ALARMING = /panicked|runtime_fault|Uncaught|RuntimeError|unreachable executed/i;

function logWatcher(gw) {
  const events = {};
  const alarming = { count: 0, examples: [] };
  const drain = () => {
    for (const line of gw.logs.splice(0)) {
      const text = String(line);
      const event = /"event":"([^"]+)"/.exec(text)?.[1] ?? /"audit":"([^"]+)"/.exec(text)?.[1] ?? "(other)";
      events[event] = (events[event] ?? 0) + 1;
      if (ALARMING.test(text)) {
        alarming.count++;
        if (alarming.examples.length < 10) alarming.examples.push(text.slice(0, 500));
      }
    }
  };
  const timer = setInterval(drain, 1000);
  return {
    events,
    alarming,
    stop() {
      clearInterval(timer);
      drain();
    },
  };
}

// ------------------------------------------------------------------ results

function latencySummary(values) {
  const s = Float64Array.from(values).sort();
  return s.length ? { p50: round(percentile(s, 50)), p90: round(percentile(s, 90)), p99: round(percentile(s, 99)), max: round(s.at(-1)), mean: round(mean(s)) } : null;
}

/** Start, max and end of one memory series over the measured window, and its slope over the second half. */
function seriesSummary(samples, key, measureStartS, threshold, what) {
  const window = samples.filter((s) => s.t_s >= measureStartS && s[key] != null);
  if (window.length < 2) return { what, measured: false, threshold_mib_per_min: threshold };
  const span = window.at(-1).t_s - window[0].t_s;
  const secondHalf = window.filter((s) => s.t_s >= window[0].t_s + span / 2);
  const fit = linearFit(secondHalf.map((s) => [s.t_s / 60, s[key]]));
  const values = window.map((s) => s[key]);
  return {
    what,
    measured: true,
    start_mib: values[0],
    max_mib: Math.max(...values),
    end_mib: values.at(-1),
    second_half: { from_s: secondHalf[0]?.t_s ?? null, to_s: window.at(-1).t_s, samples: secondHalf.length, slope_mib_per_min: fit ? round(fit.slope, 3) : null },
    threshold_mib_per_min: threshold,
  };
}

function memorySummary(samples, measureStartS) {
  const first = samples.find((s) => s.rss_mib != null);
  return {
    rss_at_startup_mib: first?.rss_mib ?? null,
    isolate_heap: seriesSummary(samples, "heap_mib", measureStartS, SETTINGS.maxHeapSlopeMiBPerMin, "live JS heap of the gateway isolate (core:user), sampled through workerd's inspector right after a forced full GC"),
    rss: seriesSummary(samples, "rss_mib", measureStartS, SETTINGS.maxRssSlopeMiBPerMin, "resident memory (VmRSS, /proc) of the workerd process: the gateway isolate with its wasm linear memory, the Durable Objects, KV, Miniflare's own workers and the allocator"),
    peak_rss_mib: samples.at(-1)?.peak_rss_mib ?? null,
    samples,
  };
}

function perSecondRates(completedAt, seconds) {
  const buckets = new Array(Math.max(1, Math.floor(seconds))).fill(0);
  for (const t of completedAt) {
    const s = Math.floor(t / 1000);
    if (s < buckets.length) buckets[s]++;
  }
  const sorted = [...buckets].sort((a, b) => a - b);
  return { min: sorted[0], median: median(sorted), max: sorted.at(-1) };
}

function markdown(r) {
  const lines = [];
  const fmtMs = (x) => (x == null ? "—" : x.toFixed(2));
  lines.push(`Portcullis soak, ${r.date} (commit ${r.git.commit?.slice(0, 10) ?? "?"}${r.git.dirty ? ", uncommitted changes" : ""}): ${r.settings.seconds} s measured after ${r.settings.warmup_seconds} s warm-up, ${r.settings.rps} req/s offered, ≤ ${r.settings.concurrency} in flight; workerd ${r.machine.workerd} via Miniflare ${r.machine.miniflare}, ${r.machine.nproc} cores; loopback only.`);
  lines.push("");
  const t = r.traffic;
  lines.push(`**Traffic**: ${t.requests} requests, ${t.achieved_rps} req/s achieved (per second: min ${t.per_second.min}, median ${t.per_second.median}, max ${t.per_second.max}; ${t.late} dropped from a backlog, ${t.stale_connection_retries} retried after the server closed a kept-alive connection). Latency p50 ${fmtMs(r.latency_ms?.p50)} ms, p90 ${fmtMs(r.latency_ms?.p90)} ms, p99 ${fmtMs(r.latency_ms?.p99)} ms, max ${fmtMs(r.latency_ms?.max)} ms.${r.cpu?.workerd_us_per_request != null ? ` workerd CPU ${r.cpu.workerd_us_per_request} µs per request.` : ""}`);
  const series = (name, x) => (x.measured ? `${name}: start ${x.start_mib}, max ${x.max_mib}, end ${x.end_mib} MiB; second-half slope ${x.second_half.slope_mib_per_min} MiB/min (limit ${x.threshold_mib_per_min})` : `${name}: not measured`);
  lines.push(`**Memory** — ${series("isolate JS heap after GC", r.memory.isolate_heap)}. ${series("workerd RSS", r.memory.rss)} (${r.memory.rss_at_startup_mib} MiB at start-up).`);
  lines.push(`**JWKS fetches**: ${r.jwks.fetches} (bound ${r.jwks.bound}); from the untrusted \`jku\`: ${r.jwks.untrusted_fetches}.`);
  lines.push("");
  lines.push("| class | expected | requests | outcomes | mismatches | p50 ms | p99 ms |");
  lines.push("|---|---|---:|---|---:|---:|---:|");
  for (const c of r.classes) {
    const outcomes = Object.entries(c.histogram).map(([k, v]) => `${k}: ${v}`).join(", ");
    lines.push(`| ${c.name} | ${c.expected} | ${c.requests} | ${outcomes} | ${c.mismatches + c.errors} | ${fmtMs(c.latency_ms?.p50)} | ${fmtMs(c.latency_ms?.p99)} |`);
  }
  lines.push("");
  for (const q of r.requirements) lines.push(`- ${q.ok ? "✓" : "✗"} ${q.name}: ${q.detail}`);
  lines.push("");
  lines.push(r.ok ? "**Soak passed.**" : "**Soak FAILED.**");
  return lines.join("\n") + "\n";
}

// ------------------------------------------------------------------ main

async function main() {
  const started = Date.now();
  const date = new Date().toISOString();
  const info = machine();
  const wasm = wasmSize();
  if (wasm.older_than_src) console.error("warning: build/index_bg.wasm is older than src/; run `make build` to soak the current code");
  console.error(`soak: ${SETTINGS.warmupSeconds} s warm-up + ${SETTINGS.seconds} s at ${SETTINGS.rps} req/s (≤ ${SETTINGS.concurrency} in flight)`);

  // Nothing may run past this, whatever happens: the soak stops by itself.
  const hardStopMs = (SETTINGS.seconds + SETTINGS.warmupSeconds + 300) * 1000;
  const hardStop = setTimeout(() => {
    console.error(`soak: still running ${hardStopMs / 1000} s after the start; giving up`);
    process.exit(1);
  }, hardStopMs);
  hardStop.unref();

  const f = await fixtures();
  let gw = null;
  const cleanup = async () => {
    await gw?.dispose().catch(() => {});
    await f.issuer.close();
    await f.untrusted.close();
    await f.origin.close();
  };
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.once(signal, () => {
      console.error(`soak: ${signal}, stopping`);
      cleanup().finally(() => process.exit(130));
    });
  }
  try {
    const gatewayStarted = performance.now();
    const inspectorPort = await freePort();
    gw = await withNewProcesses(() => startSoakGateway(soakConfig(f.origin, f.issuer), inspectorPort));
    if (!gw.pids?.size) console.error("note: no workerd process found in /proc; resident memory and CPU are not measured");
    const inspector = await inspectorSession(inspectorPort);
    const logs = logWatcher(gw);
    const memory = sampler(gw.pids ?? new Set(), inspector, gatewayStarted);
    await memory.take();
    await prepare(gw, f);
    const classes = (await traffic(f)).filter((c) => !ONLY || ONLY.includes(c.name));
    if (!classes.length) throw new Error("SOAK_ONLY matched no traffic class");
    const order = deck(classes);
    const agent = new http.Agent({ keepAlive: true, maxSockets: SETTINGS.concurrency });

    // Every variant of every class (no class cycles through more than PREFLIGHT_ROUNDS requests, the
    // unknown kids excepted), before any load: a soak that is misconfigured cannot pass.
    for (const cls of classes) {
      for (let i = 0; i < PREFLIGHT_ROUNDS; i++) {
        const r = await cls.next();
        const res = await request(gw.url + r.path, { method: r.method, headers: r.headers, body: r.body, agent });
        const { outcome, problem } = judge(cls.expect, res);
        if (problem) throw new Error(`the soak is misconfigured: class ${cls.name} (${r.method} ${r.path}) got ${outcome} (${problem}): ${res.body.slice(0, 300)}`);
      }
    }
    console.error(`  ${classes.length} traffic classes answer as expected`);

    const warmTally = newTally(classes);
    if (SETTINGS.warmupSeconds > 0) {
      console.error(`  warm-up ${SETTINGS.warmupSeconds} s…`);
      await drive({ url: gw.url, agent, classes, order, seconds: SETTINGS.warmupSeconds, tally: warmTally });
    }
    const measureStartS = (performance.now() - gatewayStarted) / 1000;
    const tally = newTally(classes);
    const busy0 = machineBusySeconds();
    const table0 = processTable();
    const progress = setInterval(() => {
      const last = memory.samples.at(-1);
      console.error(`  ${Math.round((performance.now() - gatewayStarted) / 1000 - measureStartS)} s: ${tally.requests} requests, ${tally.fiveXx.size ? "5xx seen, " : ""}isolate heap ${last?.heap_mib ?? "?"} MiB, workerd RSS ${last?.rss_mib ?? "?"} MiB`);
    }, 30_000);
    console.error(`  measuring ${SETTINGS.seconds} s…`);
    // The last sample is taken while the load still runs: the inspector answers only a busy isolate.
    const lastSample = setTimeout(() => memory.take(), Math.max(0, SETTINGS.seconds * 1000 - 1500));
    const run = await drive({ url: gw.url, agent, classes, order, seconds: SETTINGS.seconds, tally });
    clearInterval(progress);
    clearTimeout(lastSample);
    const table1 = processTable();
    const busy1 = machineBusySeconds();
    await memory.stop();
    inspector.close();
    logs.stop();
    agent.destroy();
    const gatewayLifetimeS = (performance.now() - gatewayStarted) / 1000;

    // ---------------------------------------------------------------- figures
    const allLatencies = [];
    const classResults = classes.map((cls) => {
      const c = tally.perClass.get(cls.name);
      const w = warmTally.perClass.get(cls.name);
      for (const l of c.latencies) allLatencies.push(l);
      return {
        name: cls.name,
        what: cls.what,
        weight: cls.weight,
        expected: `${cls.expect.status} ${cls.expect.code ?? "-"}`,
        requests: c.latencies.length + c.errors,
        histogram: c.histogram,
        mismatches: c.mismatches,
        mismatch_examples: c.mismatchExamples,
        errors: c.errors,
        error_examples: c.errorExamples,
        latency_ms: latencySummary(c.latencies),
        warmup: { requests: w.latencies.length + w.errors, histogram: w.histogram, mismatches: w.mismatches, errors: w.errors, mismatch_examples: w.mismatchExamples, error_examples: w.errorExamples },
      };
    });
    const fiveXx = [];
    for (const [phase, t] of [["warm-up", warmTally], ["measured", tally]]) {
      for (const [key, count] of t.fiveXx) {
        const [cls, outcome] = key.split("|");
        const [status, code] = outcome.split(" ");
        fiveXx.push({ phase, class: cls, status: Number(status), code: code === "-" ? null : code, count });
      }
    }
    const sum = (pick) => classResults.reduce((n, c) => n + pick(c), 0);
    const mismatches = sum((c) => c.mismatches) + sum((c) => c.warmup.mismatches);
    const errors = sum((c) => c.errors) + sum((c) => c.warmup.errors);
    const mem = memorySummary(memory.samples, measureStartS);
    let cpu = null;
    if (gw.pids?.size && table0 && table1) {
      const workerd = cpuSecondsOf(gw.pids, table1) - cpuSecondsOf(gw.pids, table0);
      const mine = descendantsOf(process.pid, table1);
      const own = cpuSecondsOf(mine, table1) - cpuSecondsOf(mine, table0);
      const capacity = run.seconds * info.nproc;
      cpu = {
        workerd_seconds: round(workerd, 2),
        workerd_us_per_request: round((workerd * 1e6) / Math.max(1, tally.requests), 0),
        machine_busy_share: busy0 != null ? round((busy1 - busy0) / capacity, 3) : null,
        soak_share: round(own / capacity, 3),
        other_processes_share: busy0 != null ? round(Math.max(0, busy1 - busy0 - own) / capacity, 3) : null,
      };
    }
    // One fetch at the first request, then at most one per cooldown (an unknown kid, or the set
    // going stale) — plus one in case a window boundary splits the count.
    const jwksBound = 2 + Math.ceil(gatewayLifetimeS / SETTINGS.jwksRefetchCooldownSeconds);
    const jwks = { fetches: f.issuer.state.jwksRequests, bound: jwksBound, untrusted_fetches: f.untrusted.state.jwksRequests + f.untrusted.state.discoveryRequests };
    const alarming = logs.alarming.count;

    const flat = (x) => x.measured && x.second_half.slope_mib_per_min != null && x.second_half.slope_mib_per_min <= x.threshold_mib_per_min;
    const slopeDetail = (x) => (x.measured ? `${x.second_half.slope_mib_per_min} MiB/min over the second half (limit ${x.threshold_mib_per_min}); start ${x.start_mib}, max ${x.max_mib}, end ${x.end_mib} MiB` : "not measured");
    const requirements = [
      { name: "no 5xx", ok: fiveXx.length === 0, detail: fiveXx.length ? fiveXx.map((x) => `${x.count} × ${x.status} ${x.code ?? "-"} (${x.class}, ${x.phase})`).join("; ") : "none" },
      { name: "every response as its class expects", ok: mismatches === 0 && errors === 0, detail: `${mismatches} mismatches, ${errors} transport errors or timeouts` },
      { name: "no panic or runtime fault in workerd's log", ok: alarming === 0, detail: alarming ? `${alarming} lines, e.g. ${logs.alarming.examples[0]}` : "none" },
      { name: "gateway isolate heap flat", ok: flat(mem.isolate_heap), detail: slopeDetail(mem.isolate_heap) },
      { name: "workerd resident memory flat", ok: flat(mem.rss), detail: slopeDetail(mem.rss) },
      { name: "JWKS fetches bounded by the refetch cooldown", ok: jwks.fetches <= jwks.bound, detail: `${jwks.fetches} fetches in ${Math.round(gatewayLifetimeS)} s (bound ${jwks.bound})` },
      { name: "no fetch from a token's `jku`", ok: jwks.untrusted_fetches === 0, detail: `${jwks.untrusted_fetches}` },
    ];
    const ok = requirements.every((q) => q.ok);
    const achieved = round(tally.requests / run.seconds, 1);
    if (achieved < SETTINGS.rps * 0.9) console.error(`note: ${achieved} req/s achieved of ${SETTINGS.rps} offered — the machine could not keep the load steady; the figures describe a lighter load`);

    const results = {
      date,
      duration_s: null,
      ok,
      requirements,
      machine: { ...info, loadavg_at_end: os.loadavg().map((x) => round(x, 2)) },
      git: { commit: git(["rev-parse", "HEAD"]), dirty: Boolean(git(["status", "--porcelain"])) },
      wasm,
      settings: {
        only: ONLY,
        seconds: SETTINGS.seconds,
        warmup_seconds: SETTINGS.warmupSeconds,
        rps: SETTINGS.rps,
        concurrency: SETTINGS.concurrency,
        sample_seconds: SETTINGS.sampleSeconds,
        max_heap_slope_mib_per_min: SETTINGS.maxHeapSlopeMiBPerMin,
        max_rss_slope_mib_per_min: SETTINGS.maxRssSlopeMiBPerMin,
        request_timeout_ms: SETTINGS.requestTimeoutMs,
        token_cache_max_entries: SETTINGS.tokenCacheEntries,
        jwks_refetch_cooldown_seconds: SETTINGS.jwksRefetchCooldownSeconds,
      },
      traffic: { offered_rps: SETTINGS.rps, achieved_rps: achieved, requests: tally.requests, late: run.late, stale_connection_retries: tally.staleConnectionRetries + warmTally.staleConnectionRetries, per_second: perSecondRates(tally.completedAt, run.seconds), warmup_requests: warmTally.requests },
      latency_ms: latencySummary(allLatencies),
      cpu,
      memory: mem,
      jwks,
      five_xx: fiveXx,
      classes: classResults,
      log_events: logs.events,
      log_alarming_examples: logs.alarming.examples,
    };
    results.duration_s = round((Date.now() - started) / 1000, 1);
    const md = markdown(results);
    process.stdout.write(md);
    if (ONLY) {
      console.error("(SOAK_ONLY: nothing written to bench/results/)");
    } else {
      mkdirSync(RESULTS, { recursive: true });
      const json = JSON.stringify(results, null, 2) + "\n";
      writeFileSync(path.join(RESULTS, `soak-${fileStamp(date)}.json`), json);
      writeFileSync(path.join(RESULTS, "soak-latest.json"), json);
      console.error(`results: bench/results/soak-${fileStamp(date)}.json, soak-latest.json (${results.duration_s} s)`);
    }
    return ok;
  } finally {
    await cleanup();
  }
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (e) => {
    console.error(`soak failed: ${e.stack ?? e}`);
    process.exit(1);
  },
);
