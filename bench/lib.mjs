// Helpers shared by the benchmarks (bench/run.mjs, bench/soak.mjs): the echo origin on its own
// thread, API keys from the `portcullis` CLI, HTTP from Node with a µs clock, statistics, process
// accounting from Linux /proc (CPU time, resident memory), and the machine / build description every
// result file carries. Loopback only.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { gzipSync } from "node:zlib";
import WebSocket from "ws";

export const BENCH = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(BENCH, "..");
export const RESULTS = path.join(BENCH, "results");

/** `wrangler.toml`'s compatibility date, so every benchmark runs the runtime production gets. */
export function compatibilityDate() {
  const toml = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8");
  return /compatibility_date\s*=\s*"([^"]+)"/.exec(toml)?.[1] ?? "2026-04-01";
}

// ------------------------------------------------------------------ fixtures

/** The echo origin on a Node worker thread (origin-thread.mjs): its own event loop, so it does not queue behind the load generator. */
export function startOrigin() {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./origin-thread.mjs", import.meta.url));
    worker.once("error", reject);
    worker.once("message", ({ url }) =>
      resolve({
        url,
        close: () => new Promise((r) => { worker.once("exit", r); worker.postMessage("close"); }),
      }),
    );
  });
}

/** The `portcullis` CLI: $PORTCULLIS_CLI, a release or debug build, or a debug build made now. */
export function cliPath() {
  if (process.env.PORTCULLIS_CLI) return process.env.PORTCULLIS_CLI;
  for (const profile of ["release", "debug"]) {
    const bin = path.join(ROOT, "target", profile, "portcullis");
    if (existsSync(bin)) return bin;
  }
  execFileSync("cargo", ["build", "--quiet", "-p", "portcullis-cli"], { cwd: ROOT, stdio: "inherit" });
  return path.join(ROOT, "target", "debug", "portcullis");
}

let CLI;
/** A new API key and its KV entries (`portcullis keys seed --json`): { key, key_id, kv: [{ key, value }] }. */
export function seedKey(clientId, scopes) {
  CLI ??= cliPath();
  const out = execFileSync(CLI, ["keys", "seed", "--json", "--client-id", clientId, "--scopes", scopes], { encoding: "utf8" });
  return JSON.parse(out);
}

// ------------------------------------------------------------------ HTTP from Node

/**
 * One request with a µs clock; the body is read (and returned) so timing covers the whole response.
 * Resolves { status, us, headers, body }. A transport error carries `reusedSocket`: whether the
 * request went out on a kept-alive connection (which the server may have closed as it was sent).
 */
export function request(url, { method = "GET", headers = {}, body, agent, timeoutMs } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.request(url, { method, agent, headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode,
          us: Number(process.hrtime.bigint() - t0) / 1000,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      res.on("error", reject);
    });
    req.on("error", (e) => {
      e.reusedSocket = req.reusedSocket;
      reject(e);
    });
    if (timeoutMs) req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.end(body);
  });
}

// ------------------------------------------------------------------ statistics

/** Nearest-rank percentile of an ascending array. */
export const percentile = (sorted, p) => (sorted.length ? sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] : NaN);
export const median = (sorted) => (sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2);
export const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
export const round = (x, d = 3) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : null);

/** Least-squares line through points [x, y]: { slope, intercept }, or null with fewer than two distinct x. */
export function linearFit(points) {
  if (points.length < 2) return null;
  const mx = mean(points.map(([x]) => x));
  const my = mean(points.map(([, y]) => y));
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  if (sxx === 0) return null;
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

// ------------------------------------------------------------------ process accounting (Linux /proc)
// Throughput on a shared machine moves with whatever else runs; CPU time and memory of the workerd
// processes under test do not. Elsewhere (no /proc) these are null.

export const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** pid → { ppid, ticks (user + system, all threads) } for every process, or null without /proc. */
export function processTable() {
  if (!existsSync("/proc/self/stat")) return null;
  const table = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // f[0] is field 3 (state)
      table.set(Number(name), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // the process exited while we looked
    }
  }
  return table;
}

export function descendantsOf(root, table) {
  const out = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of table) {
      if (!out.has(pid) && out.has(p.ppid)) {
        out.add(pid);
        grew = true;
      }
    }
  }
  return out;
}

/** CPU seconds used so far by `pids` (a Set), from a process table. */
export const cpuSecondsOf = (pids, table) => (table ? [...pids].reduce((t, pid) => t + (table.get(pid)?.ticks ?? 0), 0) / CLK_TCK : null);

/** Busy CPU seconds of the whole machine so far (all cores). */
export function machineBusySeconds() {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    return (f.slice(0, 8).reduce((a, b) => a + b, 0) - idle) / CLK_TCK;
  } catch {
    return null;
  }
}

/**
 * Resident memory of `pids` now, summed: { rss_bytes, peak_rss_bytes } from /proc/<pid>/status
 * (VmRSS, VmHWM), or null without /proc or when none of them is alive.
 */
export function residentMemoryOf(pids) {
  let rss = 0;
  let peak = 0;
  let alive = 0;
  for (const pid of pids) {
    let status;
    try {
      status = readFileSync(`/proc/${pid}/status`, "utf8");
    } catch {
      continue;
    }
    const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
    rss += kib("VmRSS") * 1024;
    peak += kib("VmHWM") * 1024;
    alive++;
  }
  return alive ? { rss_bytes: rss, peak_rss_bytes: peak } : null;
}

/** The workerd process(es) a setup() started: the runner's descendants that were not there before. */
export async function withNewProcesses(setup) {
  const before = processTable();
  const instance = await setup();
  const after = processTable();
  if (before && after) {
    const old = descendantsOf(process.pid, before);
    instance.pids = new Set([...descendantsOf(process.pid, after)].filter((pid) => !old.has(pid)));
  }
  return instance;
}

// ------------------------------------------------------------------ workerd's inspector

/** A free TCP port on 127.0.0.1 (for Miniflare's `inspectorPort`). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * A DevTools-protocol session with one isolate of a workerd started with `inspectorPort`: the first
 * target whose title contains `title` (Miniflare names the user worker `core:user:<name>`).
 * `send(method, params)` resolves the command's `result`.
 */
export async function inspectorSession(port, { title = "core:user:" } = {}) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl && (t.title ?? "").includes(title));
  if (!target) throw new Error(`no inspector target titled "${title}" among ${targets.map((t) => t.title).join(", ")}`);
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let id = 0;
  const pending = new Map();
  ws.on("message", (data) => {
    const msg = JSON.parse(data);
    const waiter = msg.id && pending.get(msg.id);
    if (!waiter) return;
    pending.delete(msg.id);
    if (msg.error) waiter.reject(new Error(`${waiter.method}: ${msg.error.message}`));
    else waiter.resolve(msg.result);
  });
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const i = ++id;
      pending.set(i, { method, resolve, reject });
      ws.send(JSON.stringify({ id: i, method, params }));
    });
  return { title: target.title, send, close: () => ws.close() };
}

/**
 * The isolate's JS heap right after a full garbage collection (live objects only), or null when the
 * isolate does not answer within `timeoutMs`. workerd serves these commands while the isolate is
 * handling requests: sample under load, seconds apart (each forces a GC).
 */
export async function isolateHeap(session, { timeoutMs = 2000 } = {}) {
  let timer;
  const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
  const sample = (async () => {
    await session.send("HeapProfiler.collectGarbage");
    const heap = await session.send("Runtime.getHeapUsage");
    return { used_bytes: heap.usedSize, total_bytes: heap.totalSize };
  })();
  try {
    return await Promise.race([sample, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ------------------------------------------------------------------ environment and artefacts

export function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(path.join(ROOT, "node_modules", name, "package.json"), "utf8")).version;
  } catch {
    return null;
  }
}

export function git(args) {
  try {
    return execFileSync("git", args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

export function machine() {
  const cpus = os.cpus();
  return {
    nproc: os.availableParallelism?.() ?? cpus.length,
    cpu_model: cpus[0]?.model ?? null,
    memory_gb: round(os.totalmem() / 2 ** 30, 1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    workerd: packageVersion("workerd"),
    miniflare: packageVersion("miniflare"),
    autocannon: packageVersion("autocannon"),
    jose: packageVersion("jose"),
    esbuild: packageVersion("esbuild"),
    loadavg_at_start: os.loadavg().map((x) => round(x, 2)),
  };
}

export function wasmSize(buildDir = path.join(ROOT, "build")) {
  const file = path.join(buildDir, "index_bg.wasm");
  const bytes = readFileSync(file);
  const built = statSync(file).mtimeMs;
  return {
    file: path.relative(ROOT, file),
    sha256: createHash("sha256").update(bytes).digest("hex"),
    raw_bytes: bytes.length,
    gzip_bytes: gzipSync(bytes, { level: 9 }).length,
    built_at: new Date(built).toISOString(),
    // A wasm older than the sources it is built from is not the code in the working tree.
    older_than_src: newestMtime(path.join(ROOT, "src")) > built,
  };
}

/** `2026-12-01T13-05-09Z`: an ISO date usable in a file name. */
export const fileStamp = (isoDate) => isoDate.replace(/\.\d+Z$/, "Z").replace(/:/g, "-");
