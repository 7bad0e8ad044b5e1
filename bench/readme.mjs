// Rewrites README.md's benchmark block (between the `bench:begin` and `bench:end` markers) from a
// `make bench` run, and records the wasm size in bench/results/size-history.json, so a rerun updates
// the README without hand edits. Prose about the figures lives outside the markers.
//
//   node bench/readme.mjs     rewrites the block from bench/results/latest.json
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { RATIOS, TARGETS } from "./goals.mjs";
import { BENCH, RESULTS } from "./lib.mjs";

const README = path.join(BENCH, "..", "README.md");
const HISTORY = path.join(RESULTS, "size-history.json");
const BEGIN = "<!-- bench:begin";
const END = "<!-- bench:end -->";

const fmt = (x, d = 0) => (x == null ? "—" : x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }));
const verdict = (ok) => (ok == null ? "" : ok ? "✓ met" : "✗ missed");

/** Appends this run's wasm to the size history unless it is the same file as the last entry. */
function sizeHistory(results) {
  const history = JSON.parse(readFileSync(HISTORY, "utf8"));
  const w = results.wasm;
  if (history.at(-1)?.sha256 !== w.sha256) {
    history.push({ date: results.date.slice(0, 10), what: `make bench, commit ${results.git.commit?.slice(0, 10) ?? "?"}`, raw_bytes: w.raw_bytes, gzip_bytes: w.gzip_bytes, sha256: w.sha256 });
    writeFileSync(HISTORY, JSON.stringify(history, null, 2) + "\n");
  }
  return history;
}

export function updateReadme(results, { ratios = RATIOS, targets = TARGETS } = {}) {
  const lines = [];
  const mc = results.machine.cpu_during_load_pass;
  // Timings from a machine other processes kept busy are not judged against the goals: the
  // interleaving spreads the disturbance, but not evenly enough for a verdict (the size is).
  const loaded = (mc?.other_processes_share ?? 0) > 0.1;
  const judge = (ok) => (loaded ? "— not judged: machine loaded" : verdict(ok));
  lines.push(`${BEGIN} (written by \`make bench\`, bench/readme.mjs: edits inside are overwritten) -->`);
  lines.push(
    `**Latest \`make bench\`:** ${results.date.slice(0, 10)}, commit ${results.git.commit?.slice(0, 10) ?? "?"}${results.git.dirty ? " (uncommitted changes)" : ""}, ${results.machine.nproc} cores${mc ? `, ${fmt(mc.other_processes_share * 100)}% of the machine taken by other processes during the load pass` : ""}; full table: [bench/results/latest.md](bench/results/latest.md).`,
  );
  lines.push("");
  lines.push("| ratio (issue 10) | median req/s | inverse workerd CPU/req | goal |");
  lines.push("|---|---:|---:|---|");
  for (const [key, , , label] of ratios) {
    const value = results.ratios[key];
    const cpu = results.ratios_from_cpu[key];
    const target = targets[key];
    if (target == null || (value == null && cpu == null)) continue;
    lines.push(`| ${label} | ${fmt(value, 2)} | ${fmt(cpu, 2)} | ≥ ${fmt(target, 2)} ${judge(value == null ? null : value >= target)} |`);
  }
  const w = results.wasm;
  lines.push(`| worker wasm, gzip -9 | ${fmt(w.gzip_bytes / 1000, 1)} kB | | ≤ ${fmt(targets.wasm_gzip_bytes / 1000, 0)} kB ${verdict(w.gzip_bytes <= targets.wasm_gzip_bytes)} |`);
  const cs = results.cold_start;
  if (cs) {
    lines.push(`| cold start, Portcullis / \`jose\` worker | ${fmt(cs.portcullis_over_jose, 2)}× | | ≤ ${fmt(targets.cold_start_over_jose, 1)}× ${judge(cs.portcullis_over_jose == null ? null : cs.portcullis_over_jose <= targets.cold_start_over_jose)} |`);
  }
  if (loaded) {
    lines.push("");
    lines.push(`**This run's timings are not a verdict:** other processes took ${fmt(mc.other_processes_share * 100)}% of the machine's CPU during the load pass, so requests/s moved with them (the inverse workerd CPU column is the steadier figure). Rerun \`make bench\` on a quiet machine.`);
  }
  lines.push("");
  lines.push("![requests/s and workerd CPU per request for every variant, with the pass-through and jose lines](bench/results/latest.svg)");
  lines.push("");
  if (cs) {
    const p = cs.workers.portcullis;
    const j = cs.workers["jose-js"];
    lines.push(
      `**Cold start** (medians over ${cs.rounds} fresh workerd instances each; a JWT route, first token): Portcullis ${fmt(p.cold_start_ms, 1)} ms (ready ${fmt(p.ready_ms, 1)} ms, first response ${fmt(p.first_response_ms, 1)} ms), \`jose\` worker ${fmt(j.cold_start_ms, 1)} ms (ready ${fmt(j.ready_ms, 1)} ms, first response ${fmt(j.first_response_ms, 1)} ms); the pass-through worker's ready time (${fmt(cs.workers.passthrough.ready_ms, 1)} ms, process start) is subtracted from both (a negative remainder is noise and counts as 0).`,
    );
    lines.push("");
  }
  lines.push("**Wasm size history** (`build/index_bg.wasm`, gzip -9):");
  lines.push("");
  lines.push("| date | what | raw bytes | gzip bytes |");
  lines.push("|---|---|---:|---:|");
  for (const h of sizeHistory(results)) lines.push(`| ${h.date} | ${h.what} | ${fmt(h.raw_bytes)} | ${fmt(h.gzip_bytes)} |`);
  lines.push(END);

  const readme = readFileSync(README, "utf8");
  const start = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error("README.md has no bench:begin … bench:end block");
  writeFileSync(README, readme.slice(0, start) + lines.join("\n") + readme.slice(end + END.length));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  updateReadme(JSON.parse(readFileSync(path.join(RESULTS, "latest.json"), "utf8")));
  console.error("README.md's benchmark block rewritten from bench/results/latest.json");
}
