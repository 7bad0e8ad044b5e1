// Revocation propagation and rate-limit overshoot, measured in workerd (Miniflare 4) with the real
// Durable Objects and several gateway isolates sharing them (tests/support/isolates.mjs).
//
//   node bench/limits.mjs               the full run (~1 min); writes bench/results/limits-latest.{json,md}
//   BENCH_QUICK=1 node bench/limits.mjs fewer trials; writes nothing
//
// 1. Propagation: the time from an admin revocation (answered by isolate A) to the first refusal
//    by isolate B, a warm isolate serving the token every 20 ms, with the default settings
//    (refresh_interval_ms 1000, max_staleness_ms 5000). Each trial revokes a fresh jti at a random
//    moment of B's refresh cycle.
// 2. `fast` overshoot: admitted − limit when bursts of concurrent requests of one identity are
//    spread over 1, 2 and 4 isolates, for two lease sizes; the documented bound is isolates × lease.
// 3. `exact`: 50 concurrent requests against a limit of 10, many rounds: admitted must be 10.

import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { startEchoOrigin, startIssuer, baseConfig } from "../tests/e2e/harness.mjs";
import { startIsolates } from "../tests/support/isolates.mjs";

const QUICK = process.env.BENCH_QUICK === "1";
const RESULTS = path.join(path.dirname(fileURLToPath(import.meta.url)), "results");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowSecs = () => Math.floor(Date.now() / 1000);
const SETTINGS = {
  propagationTrials: QUICK ? 5 : 25,
  trafficEveryMs: 20,
  overshootRounds: QUICK ? 2 : 5,
  burst: 200,
  fastLimit: 50,
  exactRounds: QUICK ? 5 : 20,
};

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, min: s[0], median: q(0.5), p90: q(0.9), max: s[s.length - 1], mean: Math.round(s.reduce((a, b) => a + b, 0) / s.length) };
}

async function propagation(origin, issuer) {
  const cfg = baseConfig({ origin: origin.url, issuer, extra: { admin: { enabled: true } } });
  const env = await startIsolates(cfg, { count: 2 });
  const [A, B] = env.isolates;
  const admin = await issuer.mint({ claims: { sub: "ops", scope: "portcullis:admin" }, ttl: 3600 });
  const samples = [];
  try {
    for (let trial = 0; trial < SETTINGS.propagationTrials; trial++) {
      const jti = `propagation-${trial}-${Math.random().toString(36).slice(2)}`;
      const token = await issuer.mint({ claims: { jti }, ttl: 600 });
      // B serves the token continuously; the revocation lands at a random point of its cycle.
      let stop = false;
      let revokedAt = null;
      let refusedAt = null;
      const traffic = (async () => {
        while (!stop) {
          const started = Date.now();
          const r = await B.fetch("/api/x", { headers: { authorization: `Bearer ${token}` } });
          await r.text();
          if (r.status === 401 && revokedAt !== null) {
            refusedAt = started;
            return;
          }
          if (r.status !== 200) throw new Error(`unexpected ${r.status} before the revocation`);
          await sleep(SETTINGS.trafficEveryMs);
        }
      })();
      await sleep(1200 + Math.random() * 1000);
      const res = await A.fetch("/admin/revocations/tokens", {
        method: "POST",
        headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
        body: JSON.stringify({ jti, exp: nowSecs() + 600 }),
      });
      if (res.status !== 201) throw new Error(`revoke: ${res.status} ${await res.text()}`);
      await res.text();
      revokedAt = Date.now();
      const deadline = Date.now() + 10_000;
      while (refusedAt === null && Date.now() < deadline) await sleep(5);
      stop = true;
      await traffic;
      if (refusedAt === null) throw new Error("never refused");
      samples.push(Math.max(0, refusedAt - revokedAt));
    }
  } finally {
    await env.dispose();
  }
  return { settings: { refresh_interval_ms: 1000, max_staleness_ms: 5000, traffic_every_ms: SETTINGS.trafficEveryMs }, ms: stats(samples), samples };
}

async function overshoot(origin, issuer) {
  const out = [];
  for (const isolates of [1, 2, 4]) {
    for (const lease of [1, 5]) {
      const cfg = baseConfig({
        origin: origin.url,
        issuer,
        extra: { rate_limits: { fast: { rate: `${SETTINGS.fastLimit} per 3600 s`, mode: "fast", lease } } },
      });
      cfg.routes[1].rate_limit = "fast";
      const env = await startIsolates(cfg, { count: isolates });
      const rounds = [];
      const other = {};
      try {
        for (let round = 0; round < SETTINGS.overshootRounds; round++) {
          const token = await issuer.mint({ claims: { sub: `overshoot-${isolates}-${lease}-${round}` }, ttl: 3600 });
          const fire = (n) =>
            Promise.all(
              Array.from({ length: n }, (_, i) =>
                env.isolates[i % isolates].fetch("/api/x", { headers: { authorization: `Bearer ${token}` } }).then(async (r) => {
                  await r.text();
                  return r.status;
                }),
              ),
            );
          const count = (statuses) => {
            for (const s of statuses) if (s !== 200 && s !== 429) other[s] = (other[s] ?? 0) + 1;
            return statuses.filter((s) => s === 200).length;
          };
          let admitted = count(await fire(SETTINGS.burst));
          await sleep(300);
          // Drain what the background syncs leased, on every isolate, until two passes in a row
          // admit nothing.
          for (let quiet = 0, i = 0; quiet < 2 && i < 50; i++) {
            const more = count(await fire(isolates * 4));
            admitted += more;
            quiet = more === 0 ? quiet + 1 : 0;
            await sleep(50);
          }
          rounds.push(admitted - SETTINGS.fastLimit);
        }
      } finally {
        await env.dispose();
      }
      out.push({ isolates, lease, limit: SETTINGS.fastLimit, bound: isolates * lease, overshoot: stats(rounds), rounds, other_statuses: other });
    }
  }
  return out;
}

async function exact(origin, issuer) {
  const cfg = baseConfig({ origin: origin.url, issuer, extra: { rate_limits: { ten: "10 per 3600 s" } } });
  cfg.routes[1].rate_limit = "ten";
  const env = await startIsolates(cfg, { count: 2 });
  const admitted = [];
  try {
    for (let round = 0; round < SETTINGS.exactRounds; round++) {
      const token = await issuer.mint({ claims: { sub: `exact-${round}` }, ttl: 3600 });
      const statuses = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          env.isolates[i % 2].fetch("/api/x", { headers: { authorization: `Bearer ${token}` } }).then(async (r) => {
            await r.text();
            return r.status;
          }),
        ),
      );
      admitted.push(statuses.filter((s) => s === 200).length);
    }
  } finally {
    await env.dispose();
  }
  return { limit: 10, concurrent: 50, isolates: 2, rounds: admitted.length, admitted: stats(admitted) };
}

function markdown(r) {
  const p = r.propagation;
  const lines = [];
  lines.push(`Portcullis revocation and rate-limit bounds, ${r.date.slice(0, 10)} — workerd via Miniflare, ${r.machine.nproc} cores, Durable Objects in the same process (loopback).`);
  lines.push("");
  lines.push(`**Revocation propagation** to a warm isolate serving the token every ${p.settings.traffic_every_ms} ms (defaults: refresh ${p.settings.refresh_interval_ms} ms, max staleness ${p.settings.max_staleness_ms} ms), ${p.ms.n} trials: median ${p.ms.median} ms, p90 ${p.ms.p90} ms, max ${p.ms.max} ms (guaranteed bound: ${p.settings.max_staleness_ms} ms; under traffic: refresh interval + one round trip).`);
  lines.push("");
  lines.push("**`fast` overshoot** (admitted − limit; bursts of 200 concurrent requests of one identity spread over the isolates, then drained):");
  lines.push("");
  lines.push("| isolates | lease | limit | overshoot median | max | bound (isolates × lease) |");
  lines.push("|---:|---:|---:|---:|---:|---:|");
  for (const o of r.overshoot) lines.push(`| ${o.isolates} | ${o.lease} | ${o.limit} | ${o.overshoot.median} | ${o.overshoot.max} | ${o.bound} |`);
  lines.push("");
  const e = r.exact;
  lines.push(`**\`exact\`**: ${e.concurrent} concurrent requests over ${e.isolates} isolates against a limit of ${e.limit}, ${e.rounds} rounds: admitted min ${e.admitted.min}, max ${e.admitted.max}.`);
  return lines.join("\n") + "\n";
}

async function main() {
  const started = Date.now();
  const origin = await startEchoOrigin();
  const issuer = await startIssuer({ algs: ["ES256", "RS256"] });
  try {
    console.error(`propagation: ${SETTINGS.propagationTrials} trials…`);
    const prop = await propagation(origin, issuer);
    console.error(`  median ${prop.ms.median} ms, max ${prop.ms.max} ms`);
    console.error("fast overshoot: 1, 2, 4 isolates × lease 1, 5…");
    const over = await overshoot(origin, issuer);
    for (const o of over) {
      console.error(`  ${o.isolates} isolates, lease ${o.lease}: overshoot ${o.rounds.join(", ")} (bound ${o.bound})${Object.keys(o.other_statuses).length ? ` other statuses ${JSON.stringify(o.other_statuses)}` : ""}`);
      if (o.overshoot.max > o.bound) throw new Error(`overshoot ${o.overshoot.max} exceeds the documented bound ${o.bound}`);
      if (o.overshoot.min < 0) throw new Error(`undershoot ${o.overshoot.min}: leased units were lost`);
    }
    console.error(`exact: ${SETTINGS.exactRounds} rounds…`);
    const ex = await exact(origin, issuer);
    if (ex.admitted.min !== 10 || ex.admitted.max !== 10) throw new Error(`exact admitted ${JSON.stringify(ex.admitted)}`);
    const results = {
      date: new Date().toISOString(),
      duration_s: Math.round((Date.now() - started) / 100) / 10,
      machine: { nproc: os.cpus().length, node: process.version },
      settings: SETTINGS,
      propagation: prop,
      overshoot: over,
      exact: ex,
    };
    const md = markdown(results);
    process.stdout.write(md);
    if (!QUICK) {
      mkdirSync(RESULTS, { recursive: true });
      writeFileSync(path.join(RESULTS, "limits-latest.json"), JSON.stringify(results, null, 2) + "\n");
      writeFileSync(path.join(RESULTS, "limits-latest.md"), md);
      console.error("results: bench/results/limits-latest.json, limits-latest.md");
    }
  } finally {
    await origin.close();
    await issuer.close();
  }
}

main().catch((e) => {
  console.error(`bench failed: ${e.stack ?? e}`);
  process.exit(1);
});
