// A real, certified OpenID provider (npm `oidc-provider`) on 127.0.0.1 for the PKCE browser test
// and the PKCE demo: public SPA client (token_endpoint_auth_method "none"), PKCE required, RFC 9207
// `iss` in authorization responses, and RFC 8707 resource indicators that turn the access token
// into a JWT (RFC 9068) for the gateway's audience. The signing key is generated at start-up and
// lives only in memory.

import http from "node:http";
import { randomBytes } from "node:crypto";
import Provider, { errors } from "oidc-provider";
import { generateKeyPair, exportJWK } from "jose";

export const API_AUDIENCE = "https://api.portcullis.test";
export const API_SCOPE = "read:echo";
export const CLIENT_ID = "portcullis-spa-demo";

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server.address().port));
  });
}

/**
 * Starts the provider. `redirectUris` are the SPA's callback URLs (their origins also get CORS on
 * the token endpoint). Returns { issuer, jwksUri, tokenEndpoint, authorizationEndpoint, clientId,
 * audience, scope, provider, hooks, signingKey, close }; `signingKey` is the provider's private JWK,
 * for tests that re-sign a token it issued (e.g. with an expiry in the past).
 */
export async function startOidcProvider({
  port = 0,
  redirectUris,
  clientId = CLIENT_ID,
  audience = API_AUDIENCE,
  scope = API_SCOPE,
  accessTokenTTL = 300,
} = {}) {
  if (!Array.isArray(redirectUris) || redirectUris.length === 0) {
    throw new Error("startOidcProvider: redirectUris is required");
  }
  const server = http.createServer();
  const boundPort = await listen(server, port);
  const issuer = `http://127.0.0.1:${boundPort}`;

  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: `pkce-demo-${randomBytes(4).toString("hex")}`, alg: "RS256", use: "sig" };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        application_type: "web",
        token_endpoint_auth_method: "none",
        grant_types: ["authorization_code"],
        response_types: ["code"],
        redirect_uris: redirectUris,
      },
    ],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString("base64url")] },
    pkce: { required: () => true },
    scopes: ["openid"],
    claims: { openid: ["sub"] },
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    // Only the SPA's own origin may call the token endpoint from a browser.
    clientBasedCORS: (_ctx, origin, client) => client.redirectUris.some((uri) => new URL(uri).origin === origin),
    features: {
      // Login and consent pages built into oidc-provider (any username, any password).
      devInteractions: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // No default: a JWT for the API is issued only when the client asks for the resource,
        // both in the authorization request and in the token request.
        defaultResource: () => undefined,
        useGrantedResource: () => false,
        getResourceServerInfo: (_ctx, resourceIndicator) => {
          if (resourceIndicator !== audience) throw new errors.InvalidTarget();
          return {
            scope,
            audience,
            accessTokenTTL,
            accessTokenFormat: "jwt",
            jwt: { sign: { alg: "RS256" } },
          };
        },
      },
    },
  });
  provider.on("server_error", (_ctx, err) => console.error("oidc-provider server_error:", err));
  // Test hook: `hooks.rewriteRedirect(location)` may return a replacement for any redirect the
  // provider sends (e.g. an authorization response with a tampered state).
  const hooks = { rewriteRedirect: null };
  provider.use(async (ctx, next) => {
    await next();
    const location = ctx.response.get("location");
    const replacement = location && hooks.rewriteRedirect?.(location);
    if (replacement) ctx.response.set("location", replacement);
  });
  server.on("request", provider.callback());

  const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
  return {
    issuer,
    jwksUri: discovery.jwks_uri,
    tokenEndpoint: discovery.token_endpoint,
    authorizationEndpoint: discovery.authorization_endpoint,
    clientId,
    audience,
    scope,
    provider,
    hooks,
    signingKey,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
