// A CPU profile of the gateway under load, through workerd's inspector: where the time goes on a
// public route, by category (wasm, the entry and wasm-bindgen glue, the runtime's builtins, GC) and
// by function, self and inclusive. Build with names kept first:
//   CARGO_PROFILE_RELEASE_STRIP=false make build && node bench/profile.mjs
//   PROFILE_ROUTE=fresh node bench/profile.mjs     a jwt route, a token it has not seen every request
//   PROFILE_ROUTE=warm node bench/profile.mjs      a jwt route, one token (verified-token cache hits)
//   PROFILE_WORKER=floor node bench/profile.mjs    the forward-floor worker (bench/workers/forward-floor.js)
//                                                  instead of the gateway, to compare samples per request
// Loopback only. Percentages are of the samples in which the isolate was not idle.
import autocannon from "autocannon";
import { Miniflare } from "miniflare";
import { startEchoOrigin, startIssuer, workerModules, BUILD } from "../tests/e2e/harness.mjs";
import { inspectorSession } from "./lib.mjs";
const origin = await startEchoOrigin();
const mode = process.env.PROFILE_ROUTE ?? "public";
if (!["public", "warm", "fresh"].includes(mode)) throw new Error(`PROFILE_ROUTE=${mode}: public, warm or fresh`);
const fresh = mode === "fresh";
const jwt = mode !== "public";
const issuer = jwt ? await startIssuer({ algs: ["RS256"] }) : null;
const tokens = jwt ? await Promise.all(Array.from({ length: fresh ? 500 : 1 }, () => issuer.mint({ ttl: 1800 }))) : [];
const routes = jwt
  ? [{ methods: ["GET"], path: "/*", auth: ["jwt"], scopes: ["read:echo"] }]
  : [{ methods: ["GET"], path: "/*", auth: ["public"] }];
const issuers = jwt ? [{ issuer: issuer.url, jwks_uri: issuer.jwksUri, audiences: ["https://api.portcullis.test"], algorithms: ["RS256"] }] : [];
let next = 0;
const headers = () => (jwt ? { authorization: `Bearer ${tokens[next++ % tokens.length]}` } : {});
const floor = process.env.PROFILE_WORKER === "floor";
if (floor && mode !== "public") throw new Error("PROFILE_WORKER=floor profiles the public request only");
const FLOOR_DIR = new URL("./workers/", import.meta.url).pathname;
const mf = new Miniflare({
  ...(floor
    ? { modules: [{ type: "ESModule", path: FLOOR_DIR + "forward-floor.js" }], modulesRoot: FLOOR_DIR }
    : { modules: workerModules(), modulesRoot: BUILD }),
  compatibilityDate: "2026-04-01", kvNamespaces: ["PORTCULLIS_KV"],
  durableObjects: { PORTCULLIS_REVOCATION: "RevocationStore", PORTCULLIS_RATE_LIMITER: "RateLimiter" },
  bindings: floor
    ? { ORIGIN: origin.url }
    : { PORTCULLIS_CONFIG: { origin: origin.url, transport: { https: "allow" }, issuers, routes, ...(fresh ? { token_cache: { max_entries: 1 } } : {}) } },
  cf: false, inspectorPort: 9339, handleStructuredLogs() {},
});
const url = (await mf.ready).toString().replace(/\/$/, "");
await fetch(url + "/warm", { headers: headers() });
const inspector = await inspectorSession(9339);
const send = inspector.send;
await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 50 });
await send("Profiler.start");
const res = await autocannon({
  url: url + "/api/bench",
  connections: 8,
  duration: 6,
  requests: [{ method: "GET", path: "/api/bench", setupRequest: (req) => ({ ...req, headers: { ...req.headers, ...headers() } }) }],
});
if (res.non2xx) throw new Error(`${res.non2xx} non-2xx responses: the profiled route is misconfigured`);
const result = await send("Profiler.stop");
const nodes = result.profile.nodes;
const byId = new Map(nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const counts = new Map();
for (const s of result.profile.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
let total = 0;
const cat = new Map(); const self = new Map(); const incl = new Map();
const catOf = (n) => { const u = n.callFrame.url; const f = n.callFrame.functionName; if (u.includes("wasm")) return "wasm"; if (u.endsWith("index.js")) return "glue/entry js"; if (["(idle)", "(program)", "(garbage collector)"].includes(f)) return f; if (!u) return "native/builtin"; return "other js " + u.split("/").pop(); };
for (const [nid, c] of counts) {
  const n = byId.get(nid); total += c;
  const k = catOf(n); cat.set(k, (cat.get(k) ?? 0) + c);
  const name = `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").pop()}`; self.set(name, (self.get(name) ?? 0) + c);
  // inclusive: walk up, count each distinct function name once
  const seen = new Set(); let id = nid;
  while (id != null) { const m = byId.get(id); const nm = `${m.callFrame.functionName || "(anon)"} ${m.callFrame.url.split("/").pop()}`; if (!seen.has(nm)) { seen.add(nm); incl.set(nm, (incl.get(nm) ?? 0) + c); } id = parent.get(id); }
}
console.log("requests", res.requests.total, "samples", total, "samples/req", (total / res.requests.total).toFixed(2));
const busy = total - (cat.get("(idle)") ?? 0);
console.log("-- by category (% of non-idle)");
for (const [k, c] of [...cat].sort((a, b) => b[1] - a[1])) console.log((100 * c / busy).toFixed(1).padStart(5), k);
console.log("-- self (% of non-idle)");
for (const [n, c] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log((100 * c / busy).toFixed(1).padStart(5), n.slice(0, 120));
console.log("-- self, wasm only (% of non-idle)");
for (const [n, c] of [...self].filter(([n]) => n.includes(".wasm")).sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log((100 * c / busy).toFixed(1).padStart(5), n.slice(0, 120));
console.log("-- self, entry and glue only (% of non-idle)");
for (const [n, c] of [...self].filter(([n]) => n.endsWith("index.js")).sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log((100 * c / busy).toFixed(1).padStart(5), n.slice(0, 120));
console.log("-- inclusive (% of non-idle)");
for (const [n, c] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log((100 * c / busy).toFixed(1).padStart(5), n.slice(0, 120));
inspector.close(); await mf.dispose(); await origin.close(); await issuer?.close();
