// The gateway's own sessions (docs/sessions.md) from the client's side, for the end-to-end tests:
// the signing key set secret, the login call, the refresh cookie and the access token's claims.

import { generateKeyPairSync } from "node:crypto";
import { baseConfig } from "../e2e/harness.mjs";
import { USERS } from "./login-origin.mjs";

/** The refresh token cookie's name. */
export const REFRESH_COOKIE = "__Host-portcullis_refresh";

/** The signing key set secret (PORTCULLIS_SIGNING_KEYS): one fresh ES256 key, `kid`, active. */
export function signingKeys(kid = "gw-1") {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = { ...privateKey.export({ format: "jwk" }), kid, alg: "ES256" };
  return JSON.stringify({ active: kid, keys: [jwk] });
}

/** The `iss` of the gateway's own tokens in these tests (nothing listens there). */
export const GATEWAY_ISSUER = "http://127.0.0.1:9/portcullis";

/**
 * The harness's base configuration in front of `origin` and `issuer`, with DPoP on and the
 * gateway's own sessions on (issuer GATEWAY_ISSUER, the harness's audience): `sessions` adds to
 * that section, `extra` adds other sections.
 */
export function dpopSessionsConfig({ origin, issuer, sessions = {}, extra = {} }) {
  return baseConfig({
    origin: origin.url,
    issuer,
    extra: {
      dpop: { enabled: true },
      sessions: { enabled: true, issuer: GATEWAY_ISSUER, audiences: ["https://api.portcullis.test"], ...sessions },
      ...extra,
    },
  });
}

/** The Workers secrets of a gateway with a login endpoint: a fresh signing key set and `loginSecret`. */
export const sessionSecrets = (loginSecret) => ({ PORTCULLIS_SIGNING_KEYS: signingKeys(), PORTCULLIS_LOGIN_SECRET: loginSecret });

/**
 * `POST url` (the gateway's `/auth/login`) as `username` with the login origin's password for it,
 * from `origin`, with a `DPoP` proof when `dpop` is given. Returns the response.
 */
export function postLogin(gw, url, { origin, username = "alice", dpop } = {}) {
  const headers = { "content-type": "application/json", origin, ...(dpop ? { dpop } : {}) };
  return gw.fetch(url, { method: "POST", headers, body: JSON.stringify({ username, password: USERS[username].password }) });
}

/** The refresh cookie's value a response sets, or undefined. */
export const refreshCookieOf = (res) => new RegExp(`^${REFRESH_COOKIE}=([^;]*)`).exec(res.headers.get("set-cookie") ?? "")?.[1];

/** A JWT's claims, unverified. */
export const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
