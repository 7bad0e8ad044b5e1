// A CPU profile of the gateway under load, through workerd's inspector: which functions (wasm and
// JS glue) the time goes to on a public route. Build with names kept first:
//   CARGO_PROFILE_RELEASE_STRIP=false make build && node bench/profile.mjs
// Loopback only; prints the top 40 functions by self time.
import autocannon from "autocannon";
import { Miniflare } from "miniflare";
import { startEchoOrigin, workerModules, BUILD } from "../tests/e2e/harness.mjs";
import { inspectorSession } from "./lib.mjs";
const origin = await startEchoOrigin();
const mf = new Miniflare({
  modules: workerModules(), modulesRoot: BUILD, compatibilityDate: "2026-04-01", kvNamespaces: ["PORTCULLIS_KV"],
  durableObjects: { PORTCULLIS_REVOCATION: "RevocationStore", PORTCULLIS_RATE_LIMITER: "RateLimiter" },
  bindings: { PORTCULLIS_CONFIG: { origin: origin.url, transport: { https: "allow" }, routes: [{ methods: ["GET"], path: "/*", auth: ["public"] }] } },
  cf: false, inspectorPort: 9339, handleStructuredLogs() {},
});
const url = (await mf.ready).toString().replace(/\/$/, "");
await fetch(url + "/warm");
const inspector = await inspectorSession(9339);
const send = inspector.send;
await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 50 });
await send("Profiler.start");
const res = await autocannon({ url: url + "/api/bench", connections: 8, duration: 5 });
const result = await send("Profiler.stop");
const nodes = result.profile.nodes;
const byId = new Map(nodes.map((n) => [n.id, n]));
const self = new Map();
const counts = new Map();
for (const s of result.profile.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
let total = 0;
for (const [nid, c] of counts) { const n = byId.get(nid); const name = `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").pop()}`; self.set(name, (self.get(name) ?? 0) + c); total += c; }
console.log("requests", res.requests.total, "samples", total);
for (const [n, c] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log((100 * c / total).toFixed(1).padStart(5), n.slice(0, 140));
inspector.close(); await mf.dispose(); await origin.close();
