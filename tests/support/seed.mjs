// API keys for end-to-end tests, made the way operators bootstrap them: `portcullis keys seed`
// prints a key and its KV entries, which go into the gateway's KV before any request.

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The CLI binary: $PORTCULLIS_CLI, or target/debug/portcullis (built here when missing). */
export function cliPath() {
  if (process.env.PORTCULLIS_CLI) return process.env.PORTCULLIS_CLI;
  const bin = path.join(ROOT, "target", "debug", "portcullis");
  if (!existsSync(bin)) {
    execFileSync("cargo", ["build", "--quiet", "-p", "portcullis-cli"], { cwd: ROOT, stdio: "inherit" });
  }
  return bin;
}

/** Seeds one key (`args` as for `portcullis keys seed`) into the gateway's KV; returns { key, kv }. */
export async function seedKey(gw, args) {
  const r = spawnSync(cliPath(), ["keys", "seed", "--json", ...args], { encoding: "utf8", timeout: 30_000 });
  if (r.status !== 0) throw new Error(`keys seed failed: ${r.stderr}`);
  const seeded = JSON.parse(r.stdout);
  const kv = await gw.mf.getKVNamespace("PORTCULLIS_KV");
  for (const e of seeded.kv) await kv.put(e.key, e.value);
  return seeded;
}
