// The origin's login endpoint that `POST /auth/login` forwards to (docs/sessions.md): it accepts
// only calls carrying the gateway's shared secret (compared in constant time), checks a username
// and password against a fixed table, and answers {sub, scopes, amr} or 401. The gateway never
// sees what a password means. Used by tests/e2e/sessions.test.mjs and the demo (`make dev`).

import http from "node:http";
import { timingSafeEqual, createHash } from "node:crypto";

export const LOGIN_SECRET_HEADER = "x-portcullis-login-secret";

/** Users of the demo: username → { password, sub, scopes }. */
export const USERS = {
  alice: { password: "correct horse battery staple", sub: "alice", scopes: ["read:echo", "write:echo"] },
  bob: { password: "hunter2hunter2", sub: "bob", scopes: ["read:echo"] },
  carol: { password: "carol-passphrase-9", sub: "carol", scopes: ["read:echo"] },
};

/** Constant-time comparison of two strings (hashed first, so lengths do not leak either). */
function sameSecret(a, b) {
  const h = (s) => createHash("sha256").update(String(s)).digest();
  return timingSafeEqual(h(a), h(b));
}

/**
 * Starts the login endpoint on 127.0.0.1. `secret` is what the gateway sends (PORTCULLIS_LOGIN_SECRET).
 * Returns { url, loginUrl, calls, mode, close } — `mode` ("normal" | "down" | "garbage") switches
 * failure injection; `calls` counts the requests that reached it.
 */
export async function startLoginOrigin({ secret, port = 0 }) {
  const state = { calls: 0, refusedSecret: 0, mode: "normal" };
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      state.calls++;
      const answer = (status, json) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(json));
      };
      if (req.method !== "POST" || req.url !== "/login") return answer(404, { error: "not found" });
      if (!sameSecret(req.headers[LOGIN_SECRET_HEADER] ?? "", secret)) {
        state.refusedSecret++;
        return answer(403, { error: "only the gateway may call this endpoint" });
      }
      if (state.mode === "down") return answer(500, { error: "database down" });
      if (state.mode === "garbage") return answer(200, { user: "alice" });
      let creds;
      try {
        creds = JSON.parse(body);
      } catch {
        return answer(400, { error: "not JSON" });
      }
      const user = USERS[creds?.username];
      if (!user || !sameSecret(creds.password ?? "", user.password)) return answer(401, { error: "invalid credentials" });
      return answer(200, { sub: user.sub, scopes: user.scopes, amr: ["pwd"] });
    });
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    loginUrl: `${url}/login`,
    state,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
