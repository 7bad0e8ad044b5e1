// The demo issuer's signing keys: generated on first use into .demo/ (git-ignored), never committed.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { makeKey, exportKeyMaterial, importKeyMaterial } from "../tests/support/servers.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const DEMO_DIR = path.join(ROOT, ".demo");
const KEYS = path.join(DEMO_DIR, "issuer-keys.json");

export const DEMO = {
  issuerPort: 8789,
  originPort: 8788,
  gatewayPort: 8787,
  audience: "https://api.portcullis.test",
};
export const ISSUER_URL = `http://127.0.0.1:${DEMO.issuerPort}`;

export async function loadOrCreateDemoKeys() {
  if (!existsSync(KEYS)) {
    mkdirSync(DEMO_DIR, { recursive: true, mode: 0o700 });
    const material = [];
    for (const alg of ["RS256", "ES256", "EdDSA"]) material.push(await exportKeyMaterial(await makeKey(alg)));
    writeFileSync(KEYS, JSON.stringify(material, null, 2), { mode: 0o600 });
  }
  const material = JSON.parse(readFileSync(KEYS, "utf8"));
  return Promise.all(material.map(importKeyMaterial));
}
