// The gateway with sessions enabled, for the browser session client's tests
// (tests/e2e/www-session.test.mjs): the real wasm in workerd (tests/e2e/harness.mjs) with a
// signing key set, the origin's login endpoint (tests/support/login-origin.mjs) and an echo
// origin behind `GET /api/*`, on 127.0.0.1. The app origin is allowed for the cookie endpoints
// (`sessions.app_origins`) and for CORS on the API.

import { randomBytes } from "node:crypto";
import { baseConfig, startEchoOrigin, startGateway } from "../e2e/harness.mjs";
import { startLoginOrigin, USERS } from "./login-origin.mjs";
import { signingKeys } from "./sessions.mjs";

/**
 * Starts it. Returns { url, credentials, subject, refreshesServed(), check(accessToken) → status
 * of GET /api/echo, stop }.
 */
export async function startSessionGateway({ appOrigin, accessTokenTtl }) {
  const secret = randomBytes(32).toString("hex");
  const login = await startLoginOrigin({ secret });
  const origin = await startEchoOrigin();
  const config = baseConfig({
    origin: origin.url,
    issuer: null,
    extra: {
      cors: { allowed_origins: [appOrigin], allowed_headers: ["authorization", "content-type", "x-demo"] },
      // Revocations (a logout puts the session's sid on the list) seen within about a second.
      revocation: { refresh_interval_ms: 200, max_staleness_ms: 1000 },
      sessions: {
        enabled: true,
        issuer: "http://127.0.0.1:9/portcullis",
        audiences: ["https://api.portcullis.test"],
        access_token_ttl_seconds: accessTokenTtl,
        app_origins: [appOrigin],
        login: { url: login.loginUrl },
        // Short, so that a replay a few seconds after the thief's refresh is past the grace
        // window (the default 10 s would hand the victim the thief's successor). The tabs' "exactly
        // one refresh" is counted, so it never leans on the grace window.
        reuse_grace_seconds: 2,
      },
    },
  });
  const gateway = await startGateway(JSON.stringify(config), {
    extraBindings: { PORTCULLIS_SIGNING_KEYS: signingKeys("www-1"), PORTCULLIS_LOGIN_SECRET: secret },
  });
  return {
    url: gateway.url,
    credentials: { username: "alice", password: USERS.alice.password },
    subject: USERS.alice.sub,
    /** How many POST {prefix}/refresh requests the gateway has served (its access log). */
    async refreshesServed() {
      await gateway.settleLogs();
      return gateway.logs.filter((line) => {
        try {
          const entry = JSON.parse(line);
          return entry.route === "session-refresh" && entry.method === "POST";
        } catch {
          return false;
        }
      }).length;
    },
    async check(accessToken) {
      const res = await gateway.fetch("/api/echo", { headers: { authorization: `Bearer ${accessToken}` } });
      await res.arrayBuffer();
      return res.status;
    },
    async stop() {
      await gateway.dispose();
      await origin.close();
      await login.close();
    },
  };
}
