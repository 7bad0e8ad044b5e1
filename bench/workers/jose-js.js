// Benchmark variant (d): what a team would write instead of Portcullis — a JavaScript worker using
// the `jose` npm package, bundled by the runner with esbuild the way wrangler bundles a worker.
//
// It does the same work as Portcullis's jwt route in the benchmark: one route (GET /api/*),
// credentials in the query string refused, Bearer token parsed, signature checked against the
// issuer's JWKS (fetched once and cached per isolate by createRemoteJWKSet), one algorithm (RS256, or
// the ALGORITHMS binding: the ES256 and EdDSA variants), iss / aud /
// exp / nbf / iat with 30 s of leeway, `typ` absent, JWT or at+jwt, required scope "read:echo"
// from the space-separated `scope` claim, the client's copies of the gateway's identity headers,
// hop-by-hop headers and the credential stripped, the same identity headers injected, redirects
// not followed, one JSON access-log line per request. Refusals are problem+json with a
// WWW-Authenticate challenge. Like Portcullis with `token_cache.max_entries = 1`, it verifies the
// signature on every request.
//
// Bindings: ORIGIN, ISSUER, JWKS_URI, AUDIENCES (JSON array), REALM, ALGORITHMS (JSON array, default
// ["RS256"]).

import { jwtVerify, createRemoteJWKSet } from "jose";

const REQUIRED_SCOPE = "read:echo";
const LEEWAY_SECONDS = 30;
const MAX_TOKEN_BYTES = 8192;

const HOP_BY_HOP = new Set([
  "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
  "te", "trailer", "transfer-encoding", "upgrade", "host",
]);
const RESPONSE_HOP_BY_HOP = new Set([
  "connection", "keep-alive", "proxy-authenticate", "proxy-connection", "trailer",
  "transfer-encoding", "upgrade",
]);
const OWN_PREFIXES = ["x-user-", "x-auth-", "x-token-", "x-portcullis-"];
const OWN_NAMES = new Set(["x-client-id", "x-key-id", "x-api-key", "authorization"]);
const CREDENTIAL_PARAMS = new Set([
  "access_token", "token", "id_token", "refresh_token", "api_key", "apikey", "key", "jwt",
  "client_secret", "password",
]);
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** Per isolate, like Portcullis's JwksCache: the JWKS and its imported keys are reused. */
let jwks;

function problem(status, code, detail, challenge) {
  const headers = { "content-type": "application/problem+json", "cache-control": "no-store" };
  if (challenge) headers["www-authenticate"] = challenge;
  const body = JSON.stringify({ type: `urn:portcullis:problem:${code}`, status, detail, code });
  return new Response(body, { status, headers });
}

function bearerChallenge(realm, error, description, scope) {
  let v = `Bearer realm="${realm}"`;
  if (error) v += `, error="${error}", error_description="${description}"`;
  if (scope) v += `, scope="${scope}"`;
  return v;
}

/** Returns { identity } or { refusal } — the authenticate and authorize stages. */
async function authenticate(request, env) {
  const realm = env.REALM;
  const auth = request.headers.get("authorization");
  if (auth === null) {
    return { refusal: problem(401, "token_missing", "this route requires a bearer token", bearerChallenge(realm)) };
  }
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(auth);
  if (!m) {
    return { refusal: problem(401, "authorization_scheme_unsupported", "the Authorization header must use the Bearer scheme", bearerChallenge(realm)) };
  }
  const token = m[1];
  const invalid = (detail) => ({
    refusal: problem(401, "token_invalid", detail, bearerChallenge(realm, "invalid_token", detail)),
  });
  if (token.length > MAX_TOKEN_BYTES) return invalid("the token is too large");

  jwks ??= createRemoteJWKSet(new URL(env.JWKS_URI), { timeoutDuration: 5000 });
  let payload;
  let protectedHeader;
  try {
    ({ payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: env.ISSUER,
      audience: JSON.parse(env.AUDIENCES),
      algorithms: JSON.parse(env.ALGORITHMS ?? '["RS256"]'),
      clockTolerance: LEEWAY_SECONDS,
      requiredClaims: ["iss", "sub", "aud", "exp"],
    }));
  } catch (e) {
    return invalid(`the token was refused (${e.code ?? "error"})`);
  }
  // typ: lenient, as Portcullis's default — absent, JWT or at+jwt ("application/" optional).
  if (protectedHeader.typ !== undefined) {
    const media = String(protectedHeader.typ).toLowerCase().replace(/^application\//, "");
    if (media !== "jwt" && media !== "at+jwt") return invalid('the token "typ" is neither JWT nor at+jwt');
  }
  if (typeof payload.sub !== "string" || payload.sub === "") return invalid('the "sub" claim is missing or empty');
  if (payload.iat !== undefined && payload.iat > Date.now() / 1000 + LEEWAY_SECONDS) {
    return invalid("the token was issued in the future");
  }
  if (payload.jti !== undefined && (typeof payload.jti !== "string" || payload.jti === "")) {
    return invalid('the "jti" claim is invalid');
  }
  let scopes = [];
  if (payload.scope !== undefined) {
    if (typeof payload.scope !== "string") return invalid('the "scope" claim has the wrong type');
    if (payload.scope !== "") {
      const parts = payload.scope.split(" ");
      if (!parts.every((s) => SCOPE_TOKEN.test(s))) return invalid('the "scope" claim is not a valid scope');
      scopes = [...new Set(parts)];
    }
  }
  if (!scopes.includes(REQUIRED_SCOPE)) {
    const detail = `this route requires the scope ${REQUIRED_SCOPE}`;
    return {
      refusal: problem(403, "insufficient_scope", detail, bearerChallenge(realm, "insufficient_scope", detail, REQUIRED_SCOPE)),
    };
  }
  return {
    identity: { subject: payload.sub, issuer: payload.iss, scopes, tokenId: payload.jti },
  };
}

function originHeaders(request, identity) {
  const connectionNamed = new Set(
    (request.headers.get("connection") ?? "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean),
  );
  const out = new Headers();
  for (const [name, value] of request.headers) {
    if (HOP_BY_HOP.has(name) || connectionNamed.has(name) || OWN_NAMES.has(name)) continue;
    if (OWN_PREFIXES.some((p) => name.startsWith(p))) continue;
    out.append(name, value);
  }
  const identityHeaders = [
    ["x-auth-method", "jwt"],
    ["x-user-id", identity.subject],
    ["x-user-scopes", identity.scopes.join(",")],
    ["x-auth-issuer", identity.issuer],
    ["x-token-id", identity.tokenId],
  ];
  // Claims are attacker-influenced: a value with control characters is dropped, not forwarded.
  for (const [n, v] of identityHeaders) if (v !== undefined && !/[\x00-\x1f\x7f]/.test(v)) out.set(n, v);
  return out;
}

async function forward(request, env, url, identity) {
  const resp = await fetch(env.ORIGIN + url.pathname + url.search, {
    method: request.method,
    headers: originHeaders(request, identity),
    body: request.body,
    redirect: "manual",
  });
  const dropNamed = new Set((resp.headers.get("connection") ?? "").split(",").map((s) => s.trim().toLowerCase()));
  const headers = new Headers();
  for (const [name, value] of resp.headers) {
    if (!RESPONSE_HOP_BY_HOP.has(name) && !dropNamed.has(name)) headers.append(name, value);
  }
  return new Response(resp.body, { status: resp.status, statusText: resp.statusText, headers });
}

async function handle(request, env, log) {
  const url = new URL(request.url);
  for (const name of url.searchParams.keys()) {
    if (CREDENTIAL_PARAMS.has(name.toLowerCase())) {
      return problem(400, "credentials_in_url", "credentials must not be sent in the URL");
    }
  }
  if (!url.pathname.startsWith("/api/")) return problem(404, "route_not_found", "no route matches this path");
  if (request.method !== "GET") return problem(405, "method_not_allowed", "this route accepts GET");
  log.route = "read";
  const { identity, refusal } = await authenticate(request, env);
  if (refusal) return refusal;
  log.credential = "jwt";
  log.subject = identity.subject;
  try {
    return await forward(request, env, url, identity);
  } catch {
    return problem(502, "origin_unreachable", "the origin did not answer");
  }
}

export default {
  async fetch(request, env) {
    const started = Date.now();
    const log = { route: null, credential: null, subject: null };
    const response = await handle(request, env, log);
    console.log(JSON.stringify({
      event: "request",
      method: request.method,
      path: new URL(request.url).pathname.slice(0, 200),
      ...log,
      key_id: null,
      status: response.status,
      duration_ms: Date.now() - started,
    }));
    return response;
  },
};
