// A real authorization server (npm `oidc-provider`) on 127.0.0.1 with RFC 7662 introspection and
// RFC 7009 revocation, for the gateway's opaque-token tests. Its access tokens are opaque (the
// provider's default format). Clients:
// - `gateway-basic` (client_secret_basic) and `gateway-jwt` (private_key_jwt, ES256): the gateway,
//   calling the introspection endpoint;
// - `app` (client_secret_basic, client_credentials): the application the tokens are issued to,
//   which may revoke them (RFC 7009 lets only the token's own client revoke it).
// User tokens (with a `sub`) are issued through the provider's own models (a Grant and an
// AccessToken saved in its store): the same tokens an authorization-code flow ends with, without a
// browser. Every request to the introspection endpoint is counted. A user token may carry extra
// claims (`issueUserToken({ extra })`): oidc-provider stores them with the token
// (`extraTokenClaims`) and its introspection answer lists them as top-level members.

import http from "node:http";
import { randomBytes, generateKeyPairSync } from "node:crypto";
import Provider from "oidc-provider";
import { generateKeyPair, exportJWK } from "jose";

export const API_AUDIENCE = "https://api.portcullis.test";
export const BASIC_SECRET = "gw-secret-" + randomBytes(8).toString("hex");
export const APP_SECRET = "app-secret-" + randomBytes(8).toString("hex");

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server.address().port));
  });
}

/** The gateway's `introspection` section for the server `as`: client_secret_basic as `gateway-basic`
 *  (its secret is `BASIC_SECRET`, bound as PORTCULLIS_INTROSPECTION_SECRET), the API audience;
 *  `extra` adds or overrides members. */
export function introspectionSection(as, extra = {}) {
  return {
    enabled: true,
    issuer: as.issuer,
    endpoint: as.introspectionEndpoint,
    client_id: "gateway-basic",
    client_auth: "client_secret_basic",
    audiences: [API_AUDIENCE],
    ...extra,
  };
}

/** An ES256 private JWK (with kid and alg) for the gateway's client assertion, and its public half. */
export function clientKey(kid = "gw-client-1") {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const priv = { ...privateKey.export({ format: "jwk" }), kid, alg: "ES256" };
  const { d, ...pub } = priv;
  return { privateJwk: priv, publicJwk: pub };
}

export async function startIntrospectionServer({ gatewayPublicJwk }) {
  const server = http.createServer();
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  // The extra claims of each user token, by its grant (one grant per token, below).
  const extraByGrant = new Map();
  const signingKey = { ...(await exportJWK(privateKey)), kid: "as-1", alg: "RS256", use: "sig" };
  const provider = new Provider(issuer, {
    clients: [
      { client_id: "gateway-basic", client_secret: BASIC_SECRET, token_endpoint_auth_method: "client_secret_basic", grant_types: ["client_credentials"], response_types: [], redirect_uris: [] },
      { client_id: "gateway-jwt", token_endpoint_auth_method: "private_key_jwt", token_endpoint_auth_signing_alg: "ES256", jwks: { keys: [gatewayPublicJwk] }, grant_types: ["client_credentials"], response_types: [], redirect_uris: [] },
      { client_id: "app", client_secret: APP_SECRET, token_endpoint_auth_method: "client_secret_basic", grant_types: ["client_credentials"], response_types: [], redirect_uris: [], scope: "read:echo write:echo portcullis:admin" },
    ],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString("base64url")] },
    scopes: ["openid", "read:echo", "write:echo", "portcullis:admin"],
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    extraTokenClaims: (_ctx, token) => extraByGrant.get(token.grantId),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: { enabled: false },
    },
  });
  provider.on("server_error", (_ctx, err) => console.error("oidc-provider server_error:", err));
  const counts = { introspection: 0, answers: [] };
  provider.use(async (ctx, next) => {
    const introspecting = ctx.path === "/token/introspection";
    if (introspecting) counts.introspection += 1;
    await next();
    if (introspecting) counts.answers.push({ status: ctx.status, body: ctx.body });
  });
  const callback = provider.callback();
  let down = false;
  server.on("request", (req, res) => {
    if (down && req.url.startsWith("/token/introspection")) {
      counts.introspection += 1;
      res.writeHead(503, { "content-type": "text/plain" });
      res.end("down");
      return;
    }
    callback(req, res);
  });
  const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();

  /**
   * An opaque access token for `sub` issued to `app`, saved in the provider's store; `extra`: claims
   * its introspection answer adds (the standard members — sub, scope, client_id, … — are the
   * provider's own and win).
   */
  async function issueUserToken({ sub, scope = "read:echo", ttl = 300, audience = API_AUDIENCE, extra }) {
    const client = await provider.Client.find("app");
    const grant = new provider.Grant({ accountId: sub, clientId: "app" });
    grant.addOIDCScope("openid");
    const grantId = await grant.save();
    if (extra) extraByGrant.set(grantId, extra);
    const token = new provider.AccessToken({ client, accountId: sub, grantId, scope, gty: "authorization_code", expiresIn: ttl });
    if (audience) token.setAudience(audience);
    return token.save();
  }

  /** A client-credentials token from the token endpoint (no `sub`: the client is the subject). */
  async function issueClientToken(scope = "read:echo") {
    const res = await fetch(discovery.token_endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: "Basic " + Buffer.from(`app:${APP_SECRET}`).toString("base64") },
      body: new URLSearchParams({ grant_type: "client_credentials", scope }),
    });
    const body = await res.json();
    if (res.status !== 200) throw new Error(`token endpoint: ${res.status} ${JSON.stringify(body)}`);
    return body.access_token;
  }

  /** RFC 7009: the app revokes its token at the server. */
  async function revoke(token) {
    const res = await fetch(discovery.revocation_endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: "Basic " + Buffer.from(`app:${APP_SECRET}`).toString("base64") },
      body: new URLSearchParams({ token, token_type_hint: "access_token" }),
    });
    if (res.status !== 200) throw new Error(`revocation endpoint: ${res.status} ${await res.text()}`);
  }

  return {
    issuer,
    introspectionEndpoint: discovery.introspection_endpoint,
    counts,
    issueUserToken,
    issueClientToken,
    revoke,
    setDown: (v) => { down = v; },
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}
