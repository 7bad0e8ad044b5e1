// `make dev` hook for the PKCE demo (also runnable alone: `node www/demo/dev.mjs`).
//
// Starts a real OpenID provider (oidc-provider, PKCE required, JWT access tokens for
// https://api.portcullis.test) on 127.0.0.1:8790 and the demo SPA on 127.0.0.1:8791, which calls
// GET /api/echo on the local gateway (127.0.0.1:8787 unless PORTCULLIS_GATEWAY_URL says otherwise).
// The gateway must trust issuer http://127.0.0.1:8790 (jwks_uri http://127.0.0.1:8790/jwks) and
// list http://127.0.0.1:8791 in cors.allowed_origins.

import { fileURLToPath } from "node:url";
import { startOidcProvider } from "../../tests/e2e/oidc-provider.mjs";
import { startDemoServer } from "./server.mjs";

export const PKCE_DEMO = { providerPort: 8790, spaPort: 8791, gatewayUrl: "http://127.0.0.1:8787" };

export default async function startPkceDemo({
  providerPort = PKCE_DEMO.providerPort,
  spaPort = PKCE_DEMO.spaPort,
  gatewayUrl = process.env.PORTCULLIS_GATEWAY_URL ?? PKCE_DEMO.gatewayUrl,
} = {}) {
  const spa = await startDemoServer({ port: spaPort });
  const op = await startOidcProvider({ port: providerPort, redirectUris: [spa.redirectUri] });
  spa.config = {
    issuer: op.issuer,
    clientId: op.clientId,
    scope: `openid ${op.scope}`,
    resource: op.audience,
    apiUrl: `${gatewayUrl}/api/echo`,
  };
  console.log(`PKCE issuer   ${op.issuer}  (oidc-provider; any login/password; JWKS ${op.jwksUri})`);
  console.log(`PKCE demo     ${spa.url}  (SPA; calls ${gatewayUrl}/api/echo)`);
  return {
    stop: async () => {
      await spa.close();
      await op.close();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const demo = await startPkceDemo();
  const stop = async () => {
    await demo.stop();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
