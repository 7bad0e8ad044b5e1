// `make dev` hook for first-party sessions (docs/sessions.md): the demo login endpoint on
// 127.0.0.1:8792 (tests/support/login-origin.mjs: alice / "correct horse battery staple",
// bob / "hunter2hunter2"), and the two Workers secrets the `[sessions]` section of the demo
// configuration needs, generated on first use into .demo/ (git-ignored) and handed to
// `wrangler dev` as vars: PORTCULLIS_LOGIN_SECRET (shared with the login endpoint) and
// PORTCULLIS_SIGNING_KEYS (one ES256 key).

import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { startLoginOrigin } from "../tests/support/login-origin.mjs";
import { DEMO_DIR } from "./keys.mjs";

export const LOGIN_PORT = 8792;
const SECRETS = path.join(DEMO_DIR, "session-secrets.json");

function loadOrCreateSecrets() {
  if (!existsSync(SECRETS)) {
    mkdirSync(DEMO_DIR, { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const keys = { active: "demo-1", keys: [{ ...privateKey.export({ format: "jwk" }), kid: "demo-1", alg: "ES256" }] };
    const secrets = { login: randomBytes(32).toString("hex"), signingKeys: JSON.stringify(keys) };
    writeFileSync(SECRETS, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  }
  return JSON.parse(readFileSync(SECRETS, "utf8"));
}

export default async function startLoginDemo() {
  const secrets = loadOrCreateSecrets();
  const login = await startLoginOrigin({ secret: secrets.login, port: LOGIN_PORT });
  console.log(`login endpoint ${login.loginUrl}  (POST /auth/login on the gateway forwards here)`);
  return {
    wranglerArgs: [
      "--var", `PORTCULLIS_LOGIN_SECRET:${secrets.login}`,
      "--var", `PORTCULLIS_SIGNING_KEYS:${secrets.signingKeys}`,
    ],
    stop: () => login.close(),
  };
}
