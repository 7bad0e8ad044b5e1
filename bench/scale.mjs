// The location tier (`location_cache`, docs/scale.md), measured in workerd (Miniflare 4): several
// gateway isolates of one "location" (Miniflare workers sharing one Cache API, one revocation object
// and one JWKS server), with the tier on and off, side by side in one run.
//
//   node bench/scale.mjs               the full run (~1.5 min); writes bench/results/scale-latest.{json,md}
//   BENCH_QUICK=1 node bench/scale.mjs shorter; writes nothing
//
// For 2, 4 and 8 isolates and each tier setting:
// 1. Load on the sources: requests round-robin over the isolates (one at a time, every 10 ms) for
//    the measuring window; counted are the delta requests that reach the revocation object (a
//    counting proxy in front of it) and the JWKS fetches the issuer serves, per second and per
//    refresh interval. The model in docs/scale.md predicts one per location per interval with the
//    tier and one per isolate per interval without.
// 2. Cold start: each isolate's first request (a fresh Miniflare, so a new isolate with no snapshot
//    and no keys) — with the tier, all but the first read the location's copies.

import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { startEchoOrigin, startIssuer, baseConfig } from "../tests/e2e/harness.mjs";
import { startIsolates } from "../tests/support/isolates.mjs";

const QUICK = process.env.BENCH_QUICK === "1";
const RESULTS = path.join(path.dirname(fileURLToPath(import.meta.url)), "results");
const REFRESH_MS = 1000; // the default refresh_interval_ms
const WINDOW_MS = QUICK ? 3000 : 8000;
const GAP_MS = 10;
const COUNTS = [2, 4, 8];
const KEY = Buffer.alloc(32, 7).toString("base64");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function location(origin, count, tier) {
  const issuer = await startIssuer({ algs: ["ES256"], cacheControl: "max-age=300" });
  const config = baseConfig({
    origin: origin.url,
    issuer,
    issuerExtra: { max_token_lifetime_seconds: 3600 },
    extra: {
      revocation: { refresh_interval_ms: REFRESH_MS },
      ...(tier ? { location_cache: { enabled: true } } : {}),
    },
  });
  const env = await startIsolates(config, {
    count,
    flakyRevocation: true,
    extraBindings: tier ? { PORTCULLIS_LOCATION_CACHE_KEY: KEY } : {},
  });
  return { issuer, env, dispose: async () => { await env.dispose(); await issuer.close(); } };
}

async function measure(origin, count, tier) {
  const loc = await location(origin, count, tier);
  try {
    const token = await loc.issuer.mint({ alg: "ES256", ttl: 3600 });
    const bearer = { headers: { authorization: `Bearer ${token}` } };
    // Cold start: every isolate's first request, one after the other.
    const cold = [];
    for (const iso of loc.env.isolates) {
      const t0 = performance.now();
      const res = await iso.fetch("/api/x", bearer);
      await res.text();
      if (res.status !== 200) throw new Error(`cold request: ${res.status}`);
      cold.push(performance.now() - t0);
      await sleep(20);
    }
    // Load on the sources over the window.
    const deltas0 = await loc.env.revocationSnapshots();
    const jwks0 = loc.issuer.state.jwksRequests;
    const end = Date.now() + WINDOW_MS;
    let i = 0;
    while (Date.now() < end) {
      const res = await loc.env.isolates[i++ % count].fetch("/api/x", bearer);
      await res.text();
      if (res.status !== 200) throw new Error(`request: ${res.status}`);
      await sleep(GAP_MS);
    }
    await sleep(100);
    const deltas = (await loc.env.revocationSnapshots()) - deltas0;
    const intervals = WINDOW_MS / REFRESH_MS;
    return {
      isolates: count,
      tier,
      requests: i,
      delta_requests: deltas,
      delta_requests_per_interval: +(deltas / intervals).toFixed(2),
      jwks_fetches_cold: jwks0,
      jwks_fetches_window: loc.issuer.state.jwksRequests - jwks0,
      cold_first_ms_median: +median(cold).toFixed(1),
      cold_first_ms: cold.map((x) => +x.toFixed(1)),
    };
  } finally {
    await loc.dispose();
  }
}

function markdown(r) {
  const lines = [
    `Portcullis location tier, ${r.date} — workerd via Miniflare, ${r.machine}; isolates of one location share one Cache API, one revocation object and one JWKS server; refresh_interval_ms ${REFRESH_MS}, ${WINDOW_MS / 1000} s window, one request every ${GAP_MS} ms round-robin.`,
    "",
    "| isolates | tier | revocation deltas per interval | JWKS fetches (cold start) | cold first request, median ms |",
    "|---:|:---:|---:|---:|---:|",
  ];
  for (const x of r.runs) {
    lines.push(`| ${x.isolates} | ${x.tier ? "on" : "off"} | ${x.delta_requests_per_interval} | ${x.jwks_fetches_cold} | ${x.cold_first_ms_median} |`);
  }
  lines.push("", "With the tier the object sees about one delta request per interval for the whole location and the identity provider one JWKS fetch, whatever the number of isolates; without it, one per isolate. Cold-start latencies are local (Durable Object and JWKS server on loopback): on Cloudflare the saved hop is the round trip to wherever the object lives.");
  return lines.join("\n") + "\n";
}

const origin = await startEchoOrigin();
try {
  const runs = [];
  for (const count of COUNTS) {
    for (const tier of [false, true]) {
      const r = await measure(origin, count, tier);
      console.error(`${count} isolates, tier ${tier ? "on" : "off"}: ${r.delta_requests_per_interval} deltas/interval, ${r.jwks_fetches_cold} JWKS fetches, cold median ${r.cold_first_ms_median} ms`);
      runs.push(r);
    }
  }
  const results = {
    date: new Date().toISOString().slice(0, 10),
    machine: `${os.cpus().length} cores`,
    refresh_interval_ms: REFRESH_MS,
    window_ms: WINDOW_MS,
    runs,
  };
  const md = markdown(results);
  process.stdout.write(md);
  if (!QUICK) {
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(path.join(RESULTS, "scale-latest.json"), JSON.stringify(results, null, 2) + "\n");
    writeFileSync(path.join(RESULTS, "scale-latest.md"), md);
    console.error("results: bench/results/scale-latest.json, scale-latest.md");
  }
} finally {
  await origin.close();
}
