// Seeds the demo's API keys into the local KV that `wrangler dev` uses: a client key for the
// `/machine/*` route and an admin key for the admin API. Keys are generated once into .demo/
// (git-ignored) and printed; KV holds only their SHA-256 hashes.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { DEMO_DIR, ROOT } from "./keys.mjs";

const CLI = path.join(ROOT, "target", "debug", "portcullis");

function seed(name, args) {
  const keyFile = path.join(DEMO_DIR, `${name}-key`);
  const bulkFile = path.join(DEMO_DIR, `${name}-kv.json`);
  if (!existsSync(keyFile) || !existsSync(bulkFile)) {
    const out = JSON.parse(execFileSync(CLI, ["keys", "seed", "--json", "--bulk-file", bulkFile, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] }).toString());
    writeFileSync(keyFile, out.key + "\n", { mode: 0o600 });
  }
  execFileSync("npx", ["wrangler", "kv", "bulk", "put", bulkFile, "--binding", "PORTCULLIS_KV", "--local"], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
  });
  return readFileSync(keyFile, "utf8").trim();
}

export default async function seedDemoKeys() {
  execFileSync("cargo", ["build", "-q", "-p", "portcullis-cli"], { cwd: ROOT, stdio: "inherit" });
  const client = seed("client", ["--client-id", "demo-machine", "--name", "demo machine client", "--scopes", "read:echo", "--key-id", "key_DemoMachine00001"]);
  const admin = seed("admin", ["--client-id", "demo-admin", "--name", "demo admin", "--scopes", "portcullis:admin", "--key-id", "key_DemoAdmin0000001"]);
  console.log(`demo API key  ${client}   (also in .demo/client-key; scope read:echo)`);
  console.log(`admin API key ${admin}   (also in .demo/admin-key; scope portcullis:admin)`);
  return {};
}
