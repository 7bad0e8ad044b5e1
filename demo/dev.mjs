// `make dev` — the local demo: the demo issuer (OpenID discovery + JWKS) on :8789, an echo origin on
// :8788, and the gateway under `wrangler dev` (workerd, local KV) on :8787. Ctrl-C stops all three.
import { spawn } from "node:child_process";
import { startEchoOrigin, startIssuer } from "../tests/support/servers.mjs";
import { loadOrCreateDemoKeys, DEMO, ROOT } from "./keys.mjs";

const keys = await loadOrCreateDemoKeys();
const issuer = await startIssuer({ keys, port: DEMO.issuerPort });
const origin = await startEchoOrigin({ port: DEMO.originPort });
console.log(`demo issuer   ${issuer.url}  (discovery: ${issuer.url}/.well-known/openid-configuration)`);
console.log(`echo origin   ${origin.url}`);

const extra = [];
for (const hook of ["./seed.mjs", "./www.mjs", "./login.mjs"]) {
  try {
    const mod = await import(hook);
    if (mod.default) extra.push(await mod.default({ issuer, origin }));
  } catch (e) {
    if (e.code !== "ERR_MODULE_NOT_FOUND") throw e;
  }
}

const wrangler = spawn(
  "npx",
  ["wrangler", "dev", "--ip", "127.0.0.1", "--port", String(DEMO.gatewayPort), "--local", ...extra.flatMap((x) => x?.wranglerArgs ?? [])],
  { cwd: ROOT, stdio: "inherit", detached: true, env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" } },
);
console.log(`gateway       http://127.0.0.1:${DEMO.gatewayPort}  (starting wrangler dev…)`);
console.log(`mint a token: make token`);

let stopping = false;
async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  // wrangler starts workerd as a child: stop the whole process group, not just npx.
  try { process.kill(-wrangler.pid, "SIGTERM"); } catch {}
  for (const x of extra) await x?.stop?.();
  await issuer.close();
  await origin.close();
  process.exit(code);
}
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));
wrangler.on("exit", (code) => stop(code ?? 0));
