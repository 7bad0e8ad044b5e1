// `make token` — mints a demo access token signed by the demo issuer's key.
//   make token                                   → RS256, sub demo-user, scope "read:echo", 1 h
//   make token ARGS="--scope 'read:echo write:echo' --sub alice --alg ES256 --ttl 600"
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { loadOrCreateDemoKeys, ISSUER_URL, DEMO } from "./keys.mjs";

const { values } = parseArgs({
  options: {
    alg: { type: "string", default: "RS256" },
    sub: { type: "string", default: "demo-user" },
    scope: { type: "string", default: "read:echo" },
    ttl: { type: "string", default: "3600" },
    aud: { type: "string", default: DEMO.audience },
  },
});
const keys = await loadOrCreateDemoKeys();
const key = keys.find((k) => k.alg === values.alg);
if (!key) {
  console.error(`no demo key for ${values.alg}; available: ${keys.map((k) => k.alg).join(", ")}`);
  process.exit(2);
}
const ttl = Number.parseInt(values.ttl, 10);
if (!Number.isFinite(ttl) || ttl <= 0) {
  console.error("--ttl must be a positive number of seconds");
  process.exit(2);
}
const now = Math.floor(Date.now() / 1000);
const token = await new SignJWT({ scope: values.scope, jti: crypto.randomUUID() })
  .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "at+jwt" })
  .setIssuer(ISSUER_URL)
  .setSubject(values.sub)
  .setAudience(values.aud)
  .setIssuedAt(now)
  .setExpirationTime(now + ttl)
  .sign(key.privateKey);
process.stdout.write(token + "\n");
