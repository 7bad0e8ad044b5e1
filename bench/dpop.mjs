// A DPoP-bound request's cost beside a plain JWT's (issue 13), in workerd through Miniflare with
// the real DpopReplay Durable Object. Requests go one at a time (latency, not throughput); proofs
// and tokens are minted before the clock starts, so only the gateway's work is measured: for
// Bearer a verified-token cache hit; for DPoP the same cache hit plus proof parsing, a WebCrypto
// key import and verification and one replay-object round trip. A third series sends the DPoP
// token with a proof whose check fails at the replay cache (a replayed proof): the cost of the
// full proof path without the origin.
//
//   node bench/dpop.mjs                 writes bench/results/dpop-latest.{json,md}
//   BENCH_QUICK=1 node bench/dpop.mjs   fewer requests; writes nothing

import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createHash, randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { generateKeyPair, exportJWK, calculateJwkThumbprint, SignJWT } from "jose";

import { startEchoOrigin, startIssuer, startGateway, baseConfig } from "../tests/e2e/harness.mjs";

const QUICK = process.env.BENCH_QUICK === "1";
const RESULTS = path.join(path.dirname(fileURLToPath(import.meta.url)), "results");
const ROUNDS = QUICK ? 2 : 5;
const PER_ROUND = QUICK ? 50 : 200;
const WARMUP = 30;
const URL_PATH = "/api/bench";
const HTU = `http://gateway.test${URL_PATH}`;

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  const r = (x) => Math.round(x * 1000) / 1000;
  return { n: s.length, median_ms: r(q(0.5)), p90_ms: r(q(0.9)), p99_ms: r(q(0.99)) };
}

const origin = await startEchoOrigin();
const issuer = await startIssuer({ algs: ["ES256"] });
const gateway = await startGateway(baseConfig({ origin: origin.url, issuer, extra: { dpop: { enabled: true } } }));
try {
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = await exportJWK(publicKey);
  const jkt = await calculateJwkThumbprint(jwk, "sha256");
  const bearer = await issuer.mint({ alg: "ES256", ttl: 3600 });
  const bound = await issuer.mint({ alg: "ES256", ttl: 3600, claims: { cnf: { jkt } } });
  const ath = createHash("sha256").update(bound).digest("base64url");
  const proof = () =>
    new SignJWT({ jti: randomUUID(), htm: "GET", htu: HTU, iat: Math.floor(Date.now() / 1000), ath })
      .setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk })
      .sign(privateKey);

  async function timed(headers, expect) {
    const t0 = performance.now();
    const res = await gateway.fetch(URL_PATH, { headers });
    await res.arrayBuffer();
    const ms = performance.now() - t0;
    if (res.status !== expect) throw new Error(`expected ${expect}, got ${res.status}`);
    return ms;
  }

  const series = { bearer: [], dpop: [], dpop_replayed: [] };
  const replayed = await proof();
  await timed({ authorization: `DPoP ${bound}`, dpop: replayed }, 200);
  for (let i = 0; i < WARMUP; i++) {
    await timed({ authorization: `Bearer ${bearer}` }, 200);
    await timed({ authorization: `DPoP ${bound}`, dpop: await proof() }, 200);
  }
  for (let round = 0; round < ROUNDS; round++) {
    const proofs = [];
    for (let i = 0; i < PER_ROUND; i++) proofs.push(await proof());
    // Interleaved, so drift on a shared machine hits every series alike.
    for (let i = 0; i < PER_ROUND; i++) {
      series.bearer.push(await timed({ authorization: `Bearer ${bearer}` }, 200));
      series.dpop.push(await timed({ authorization: `DPoP ${bound}`, dpop: proofs[i] }, 200));
      series.dpop_replayed.push(await timed({ authorization: `DPoP ${bound}`, dpop: replayed }, 401));
    }
  }
  const result = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}`,
    requests_per_series: ROUNDS * PER_ROUND,
    bearer: stats(series.bearer),
    dpop: stats(series.dpop),
    dpop_replayed: stats(series.dpop_replayed),
  };
  result.dpop_over_bearer_median = Math.round((result.dpop.median_ms / result.bearer.median_ms) * 100) / 100;
  result.dpop_minus_bearer_median_ms = Math.round((result.dpop.median_ms - result.bearer.median_ms) * 1000) / 1000;
  console.log(JSON.stringify(result, null, 2));
  if (!QUICK) {
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(path.join(RESULTS, "dpop-latest.json"), JSON.stringify(result, null, 2) + "\n");
    const row = (name, s) => `| ${name} | ${s.n} | ${s.median_ms} | ${s.p90_ms} | ${s.p99_ms} |`;
    writeFileSync(
      path.join(RESULTS, "dpop-latest.md"),
      [
        `# DPoP-bound request vs plain JWT (${result.date})`,
        "",
        `Sequential requests through Miniflare (workerd) to a local echo origin; ${result.machine}.`,
        "",
        "| series | n | median ms | p90 ms | p99 ms |",
        "|---|---|---|---|---|",
        row("Bearer JWT (token cache hit)", result.bearer),
        row("DPoP-bound JWT + fresh proof", result.dpop),
        row("DPoP, replayed proof (refused at the replay cache)", result.dpop_replayed),
        "",
        `DPoP / Bearer median: ${result.dpop_over_bearer_median}× (+${result.dpop_minus_bearer_median_ms} ms).`,
        "",
      ].join("\n"),
    );
  }
} finally {
  await gateway.dispose();
  await origin.close();
  await issuer.close();
}
