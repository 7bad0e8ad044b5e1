// Sessions in workerd (Miniflare 4, the built wasm, the real SessionFamily objects), one run:
//
//   node bench/sessions.mjs               the full run; writes bench/results/sessions-latest.{json,md}
//   BENCH_QUICK=1 node bench/sessions.mjs fewer samples; writes nothing
//
// 1. POST /auth/login (through the login endpoint on 127.0.0.1) — mints a session.
// 2. POST /auth/refresh — one rotation each, along a chain.
// 3. GET /api/x with a gateway-issued access token vs with an external issuer's token (same
//    route, same origin), interleaved so both see the same machine state: the verified-token
//    cache is on (the usual case) and both tokens are cached after their first use, so the figure
//    compares the per-request path; a second pair disables the cache (token_cache.max_entries 1,
//    alternating two tokens of each kind) to compare the signature checks themselves.
//
// Medians and ratios are reported; nothing is asserted (speed is never a test).

import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { startEchoOrigin, startIssuer, baseConfig, startGateway } from "../tests/e2e/harness.mjs";
import { startLoginOrigin, USERS } from "../tests/support/login-origin.mjs";

const QUICK = process.env.BENCH_QUICK === "1";
const RESULTS = path.join(path.dirname(fileURLToPath(import.meta.url)), "results");
const N = QUICK ? 30 : 300;
const GATEWAY = "http://gateway.test";
const COOKIE = "__Host-portcullis_refresh";

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  const r = (x) => Math.round(x * 10) / 10;
  return { n: s.length, median_ms: r(q(0.5)), p90_ms: r(q(0.9)), max_ms: r(s[s.length - 1]) };
}

async function timed(f) {
  const t0 = process.hrtime.bigint();
  const res = await f();
  await res.arrayBuffer();
  return { res, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

function signingKeys() {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return JSON.stringify({ active: "bench-1", keys: [{ ...privateKey.export({ format: "jwk" }), kid: "bench-1", alg: "ES256" }] });
}

async function run(tokenCacheEntries) {
  const origin = await startEchoOrigin();
  const issuer = await startIssuer({ algs: ["ES256"] });
  const secret = randomBytes(32).toString("hex");
  const login = await startLoginOrigin({ secret });
  const cfg = baseConfig({
    origin: origin.url,
    issuer,
    extra: {
      token_cache: { max_entries: tokenCacheEntries },
      sessions: { enabled: true, issuer: "http://127.0.0.1:9/bench", audiences: ["https://api.portcullis.test"], login: { url: login.loginUrl } },
    },
  });
  const gw = await startGateway(JSON.stringify(cfg), { extraBindings: { PORTCULLIS_SIGNING_KEYS: signingKeys(), PORTCULLIS_LOGIN_SECRET: secret } });
  const out = {};
  try {
    const loginInit = () => ({ method: "POST", headers: { origin: GATEWAY, "content-type": "application/json" }, body: JSON.stringify({ username: "alice", password: USERS.alice.password }) });
    const logins = [];
    let session;
    for (let i = 0; i < N; i++) {
      const { res, ms } = await timed(() => gw.fetch("/auth/login", loginInit()));
      if (res.status !== 200) throw new Error(`login answered ${res.status}`);
      logins.push(ms);
      session = res;
    }
    let cookie = /=([^;]*)/.exec(session.headers.get("set-cookie"))[1];
    const refreshes = [];
    const gatewayTokens = [];
    for (let i = 0; i < N; i++) {
      const { res, ms } = await timed(() => gw.fetch("/auth/refresh", { method: "POST", headers: { origin: GATEWAY, "content-type": "application/json", cookie: `${COOKIE}=${cookie}` }, body: "{}" }));
      if (res.status !== 200) throw new Error(`refresh answered ${res.status}`);
      refreshes.push(ms);
      cookie = /=([^;]*)/.exec(res.headers.get("set-cookie"))[1];
      if (gatewayTokens.length < 2) {
        const again = await gw.fetch("/auth/login", loginInit());
        gatewayTokens.push((await again.json()).access_token);
      }
    }
    const externalTokens = [await issuer.mint({ alg: "ES256", ttl: 3600 }), await issuer.mint({ alg: "ES256", ttl: 3600 })];
    const own = [];
    const ext = [];
    for (let i = 0; i < N; i++) {
      const a = await timed(() => gw.fetch("/api/x", { headers: { authorization: `Bearer ${gatewayTokens[i % 2]}` } }));
      const b = await timed(() => gw.fetch("/api/x", { headers: { authorization: `Bearer ${externalTokens[i % 2]}` } }));
      if (a.res.status !== 200 || b.res.status !== 200) throw new Error(`verify answered ${a.res.status}/${b.res.status}`);
      own.push(a.ms);
      ext.push(b.ms);
    }
    out.login = stats(logins);
    out.refresh = stats(refreshes);
    out.verify_gateway_token = stats(own);
    out.verify_external_token = stats(ext);
    out.ratio_gateway_to_external = Math.round((out.verify_gateway_token.median_ms / out.verify_external_token.median_ms) * 100) / 100;
  } finally {
    await gw.dispose();
    await login.close();
    await issuer.close();
    await origin.close();
  }
  return out;
}

const cached = await run(10000);
const uncached = await run(1);
const result = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
  samples: N,
  token_cache_on: cached,
  token_cache_off: uncached,
};
console.log(JSON.stringify(result, null, 2));
if (!QUICK) {
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(path.join(RESULTS, "sessions-latest.json"), JSON.stringify(result, null, 2) + "\n");
  const row = (name, s) => `| ${name} | ${s.median_ms} | ${s.p90_ms} | ${s.max_ms} |`;
  const md = [
    `# Sessions benchmark (${result.date})`,
    "",
    `workerd through Miniflare 4 (dispatchFetch), ${N} samples each, ${result.machine.cpus} CPUs, Node ${result.machine.node}. ES256 for both the gateway's key and the external issuer's.`,
    "",
    "| operation | median ms | p90 ms | max ms |",
    "|---|---|---|---|",
    row("login (incl. the login endpoint on 127.0.0.1)", cached.login),
    row("refresh (one rotation)", cached.refresh),
    row("verify: gateway-issued token, token cache on", cached.verify_gateway_token),
    row("verify: external token, token cache on", cached.verify_external_token),
    row("verify: gateway-issued token, token cache off", uncached.verify_gateway_token),
    row("verify: external token, token cache off", uncached.verify_external_token),
    "",
    `Gateway-issued / external verify (median): ${cached.ratio_gateway_to_external} with the cache, ${uncached.ratio_gateway_to_external} without.`,
    "",
  ].join("\n");
  writeFileSync(path.join(RESULTS, "sessions-latest.md"), md);
}
