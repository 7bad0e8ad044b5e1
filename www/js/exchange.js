// The code exchange and the ID token: the token request the helper built, sent by the helper;
// the answer checked against RFC 6749 §5.1/§5.2; an ID token validated per OpenID Connect Core
// §3.1.3.7 — signature first (WebCrypto against the issuer's JWKS, cached), then iss, aud, azp,
// exp, iat and nonce. Each refusal is a PkceError with its own code. Pure JS: it is all fetch and
// crypto.subtle, which the wasm would only call back into.

import { pkceError } from "./errors.js";

const DEFAULT_LEEWAY_SECONDS = 60;
/** How long a fetched JWKS (or discovery document) is reused. */
const JWKS_TTL_MS = 10 * 60 * 1000;
/** An unknown `kid` refetches the JWKS (key rotation), but not more often than this. */
const JWKS_REFETCH_MIN_MS = 30 * 1000;

// alg → WebCrypto import and verify parameters. Symmetric algorithms and "none" are absent: a
// public client has no secret to check an HS256 token with, and "none" proves nothing.
const SHA = (n) => ({ name: `SHA-${n}` });
const ALGORITHMS = {
  RS256: [{ name: "RSASSA-PKCS1-v1_5", hash: SHA(256) }, { name: "RSASSA-PKCS1-v1_5" }, "RSA"],
  RS384: [{ name: "RSASSA-PKCS1-v1_5", hash: SHA(384) }, { name: "RSASSA-PKCS1-v1_5" }, "RSA"],
  RS512: [{ name: "RSASSA-PKCS1-v1_5", hash: SHA(512) }, { name: "RSASSA-PKCS1-v1_5" }, "RSA"],
  PS256: [{ name: "RSA-PSS", hash: SHA(256) }, { name: "RSA-PSS", saltLength: 32 }, "RSA"],
  PS384: [{ name: "RSA-PSS", hash: SHA(384) }, { name: "RSA-PSS", saltLength: 48 }, "RSA"],
  PS512: [{ name: "RSA-PSS", hash: SHA(512) }, { name: "RSA-PSS", saltLength: 64 }, "RSA"],
  ES256: [{ name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: SHA(256) }, "EC"],
  ES384: [{ name: "ECDSA", namedCurve: "P-384" }, { name: "ECDSA", hash: SHA(384) }, "EC"],
  ES512: [{ name: "ECDSA", namedCurve: "P-521" }, { name: "ECDSA", hash: SHA(512) }, "EC"],
  EdDSA: [{ name: "Ed25519" }, { name: "Ed25519" }, "OKP"],
  Ed25519: [{ name: "Ed25519" }, { name: "Ed25519" }, "OKP"],
};

const isString = (v) => typeof v === "string";
const isNonEmptyString = (v) => isString(v) && v.length > 0;
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

// ---- the token request ---------------------------------------------------------------------

/**
 * Sends the code exchange of a `completeAuthorization()` result and checks the answer; when it
 * carries an `id_token`, validates it. Resolves to the token response, plus `idTokenClaims` when
 * an ID token was validated.
 */
export async function exchangeCode(completed, options = {}) {
  if (!isObject(completed) || !isObject(completed.tokenRequest) || !isString(completed.nonce)) {
    throw pkceError("invalid_parameter", "completed must be the result of completeAuthorization()", { field: "completed" });
  }
  const doFetch = options.fetch ?? globalThis.fetch;
  const request = completed.tokenRequest;
  let res;
  try {
    res = await doFetch(request.url, {
      method: "POST",
      headers: request.headers,
      body: request.body,
      credentials: "omit",
      cache: "no-store",
      redirect: "error",
      signal: options.signal,
    });
  } catch (cause) {
    // Network failure, CORS refusal, CSP connect-src refusal, redirect, abort: the browser does
    // not say which.
    throw pkceError("token_request_failed", "the token request did not complete (network, CORS or connect-src)", { cause });
  }
  const tokens = await readTokenResponse(res);
  if (tokens.id_token === undefined) return tokens;
  const idTokenClaims = await validateIdToken(tokens.id_token, {
    issuer: completed.issuer,
    clientId: completed.clientId,
    nonce: completed.nonce,
    jwksUri: options.jwksUri,
    leewaySeconds: options.leewaySeconds,
    algorithms: options.algorithms,
    fetch: doFetch,
    now: options.now,
  });
  return { ...tokens, idTokenClaims };
}

async function readTokenResponse(res) {
  const text = await res.text().catch(() => null);
  let body = null;
  try {
    body = text === null ? null : JSON.parse(text);
  } catch {
    body = null;
  }
  if (!res.ok) {
    // RFC 6749 §5.2: an error response is JSON with `error`.
    if (isObject(body) && isNonEmptyString(body.error)) {
      throw pkceError("token_error", `the token endpoint refused the code: ${body.error}`, {
        status: res.status,
        error: body.error,
        errorDescription: isString(body.error_description) ? body.error_description : undefined,
        errorUri: isString(body.error_uri) ? body.error_uri : undefined,
      });
    }
    throw pkceError("invalid_token_response", `the token endpoint answered HTTP ${res.status} without an OAuth error`, { status: res.status });
  }
  const bad = (why) => pkceError("invalid_token_response", `the token response ${why}`, { status: res.status });
  if (!isObject(body)) throw bad("is not a JSON object");
  if (!isNonEmptyString(body.access_token)) throw bad("has no access_token");
  if (!isNonEmptyString(body.token_type)) throw bad("has no token_type");
  if (body.expires_in !== undefined && !(Number.isSafeInteger(body.expires_in) && body.expires_in > 0)) {
    throw bad("has an expires_in that is not a positive integer");
  }
  for (const name of ["refresh_token", "scope", "id_token"]) {
    if (body[name] !== undefined && !isString(body[name])) throw bad(`has a ${name} that is not a string`);
  }
  return body;
}

// ---- the ID token ----------------------------------------------------------------------------

function base64urlBytes(part) {
  if (!/^[A-Za-z0-9_-]*$/.test(part) || part.length % 4 === 1) return null;
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
  try {
    return Uint8Array.from(atob(b64 + "===".slice((b64.length + 3) % 4)), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

function jsonPart(part) {
  const bytes = base64urlBytes(part);
  if (!bytes) return null;
  try {
    const value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    return isObject(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * Validates an ID token: compact JWS signed with an asymmetric algorithm by a key of the issuer's
 * JWKS, then `iss` equal to `issuer`, `aud` containing `clientId`, `azp` (if present, or if there
 * are several audiences) equal to `clientId`, `exp` not passed and `iat` not in the future (both
 * with `leewaySeconds`, default 60), a non-empty `sub`, and `nonce` equal to `nonce`. Resolves to
 * the claims.
 */
export async function validateIdToken(idToken, expected) {
  const { issuer, clientId, nonce } = expected ?? {};
  for (const [field, value] of [["issuer", issuer], ["clientId", clientId], ["nonce", nonce]]) {
    if (!isNonEmptyString(value)) throw pkceError("invalid_parameter", `${field} is required to validate an ID token`, { field });
  }
  // Numbers only: a string leeway ("60" from a config) would make `exp + leeway` a concatenation
  // and a long-expired token pass; NaN or Infinity would switch the time checks off.
  const leeway = expected.leewaySeconds ?? DEFAULT_LEEWAY_SECONDS;
  if (typeof leeway !== "number" || !Number.isFinite(leeway) || leeway < 0) {
    throw pkceError("invalid_parameter", "leewaySeconds must be a finite number of seconds, 0 or more", { field: "leewaySeconds" });
  }
  const nowMs = expected.now ?? Date.now();
  if (typeof nowMs !== "number" || !Number.isFinite(nowMs)) {
    throw pkceError("invalid_parameter", "now must be a time in milliseconds since the epoch", { field: "now" });
  }
  const malformed = (why) => pkceError("id_token_malformed", `the ID token ${why}`);

  const parts = isString(idToken) ? idToken.split(".") : [];
  if (parts.length !== 3) throw malformed("is not a compact JWS (three dot-separated parts)");
  const header = jsonPart(parts[0]);
  const claims = jsonPart(parts[1]);
  const signature = base64urlBytes(parts[2]);
  if (!header) throw malformed("has an unreadable header");
  if (!claims) throw malformed("has an unreadable payload");
  if (!signature || signature.length === 0) throw malformed("has an unreadable signature");
  if (header.crit !== undefined) throw malformed("names critical header parameters this helper does not understand");

  const alg = header.alg;
  const allowed = expected.algorithms ?? Object.keys(ALGORITHMS);
  if (!isString(alg) || !Object.hasOwn(ALGORITHMS, alg) || !allowed.includes(alg)) {
    throw pkceError("id_token_algorithm_unsupported", `the ID token is signed with ${isString(alg) ? alg : "no algorithm"}, which is not accepted`);
  }

  // The signature before any claim is believed.
  const jwksUri = await jwksUriOf(issuer, expected);
  const signed = new TextEncoder().encode(`${parts[0]}.${parts[1]}`);
  const kid = isString(header.kid) ? header.kid : undefined;
  let keys = await keysFor(jwksUri, alg, kid, expected.fetch, false);
  if (keys.length === 0) keys = await keysFor(jwksUri, alg, kid, expected.fetch, true);
  if (keys.length === 0) throw pkceError("id_token_key_unknown", `the issuer's JWKS has no ${alg} key${kid ? ` with kid "${kid}"` : ""}`);
  let verified = false;
  for (const key of keys) {
    if (await crypto.subtle.verify(ALGORITHMS[alg][1], key, signature, signed).catch(() => false)) {
      verified = true;
      break;
    }
  }
  if (!verified) throw pkceError("id_token_signature_invalid", "the ID token's signature does not verify with the issuer's key");

  const now = Math.floor(nowMs / 1000);
  if (claims.iss !== issuer) throw pkceError("id_token_issuer_mismatch", "the ID token's iss is not the issuer the login was started with");
  const audiences = isString(claims.aud) ? [claims.aud] : Array.isArray(claims.aud) && claims.aud.every(isString) ? claims.aud : null;
  if (!audiences || !audiences.includes(clientId)) {
    throw pkceError("id_token_audience_mismatch", "the ID token's aud does not contain this client_id");
  }
  if (claims.azp !== undefined ? claims.azp !== clientId : audiences.length > 1) {
    throw pkceError("id_token_azp_mismatch", "the ID token's azp is not this client_id (or is missing with several audiences)");
  }
  if (typeof claims.exp !== "number" || !Number.isFinite(claims.exp)) throw malformed("has no numeric exp");
  if (typeof claims.iat !== "number" || !Number.isFinite(claims.iat)) throw malformed("has no numeric iat");
  if (now > claims.exp + leeway) throw pkceError("id_token_expired", "the ID token has expired");
  if (claims.iat > now + leeway) throw pkceError("id_token_issued_in_future", "the ID token's iat is in the future");
  if (!isNonEmptyString(claims.sub)) throw malformed("has no sub");
  if (claims.nonce !== nonce) throw pkceError("id_token_nonce_mismatch", "the ID token's nonce is not the one this login sent");
  return claims;
}

// ---- the issuer's keys -----------------------------------------------------------------------

/** Cached JSON documents (JWKS, discovery) and the keys imported from a JWKS, per URL. */
const documents = new Map();

async function getJson(url, doFetch, fresh) {
  const cached = documents.get(url);
  const now = Date.now();
  if (cached && now - cached.at < (fresh ? JWKS_REFETCH_MIN_MS : JWKS_TTL_MS)) return cached;
  let body;
  try {
    const res = await (doFetch ?? globalThis.fetch)(url, {
      headers: { accept: "application/json" },
      credentials: "omit",
      redirect: "error",
    });
    body = res.ok ? await res.json() : null;
  } catch {
    body = null;
  }
  if (!isObject(body)) {
    throw pkceError("jwks_unavailable", `could not fetch the issuer's keys from ${url} (network, CORS, connect-src or not JSON)`);
  }
  const entry = { at: now, body, imported: new Map() };
  documents.set(url, entry);
  return entry;
}

async function jwksUriOf(issuer, expected) {
  if (expected.jwksUri !== undefined) {
    if (!isNonEmptyString(expected.jwksUri)) throw pkceError("invalid_parameter", "jwksUri must be a URL", { field: "jwksUri" });
    return expected.jwksUri;
  }
  // OpenID Connect Discovery; the document must name the issuer asked for (Discovery §4.3).
  const { body } = await getJson(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`, expected.fetch, false);
  if (body.issuer !== issuer || !isNonEmptyString(body.jwks_uri)) {
    throw pkceError("jwks_unavailable", "the issuer's discovery document names another issuer or no jwks_uri");
  }
  return body.jwks_uri;
}

/** The issuer's usable keys for `alg` (and `kid`, when the token names one). */
async function keysFor(jwksUri, alg, kid, doFetch, refetch) {
  const entry = await getJson(jwksUri, doFetch, refetch);
  const list = Array.isArray(entry.body.keys) ? entry.body.keys : [];
  const [importParams, , kty] = ALGORITHMS[alg];
  const keys = [];
  for (const jwk of list) {
    if (!isObject(jwk) || jwk.kty !== kty) continue;
    if (kid !== undefined && jwk.kid !== kid) continue;
    if (jwk.alg !== undefined && jwk.alg !== alg) continue;
    if (jwk.use !== undefined && jwk.use !== "sig") continue;
    const cacheKey = `${alg}\u0000${list.indexOf(jwk)}`;
    let key = entry.imported.get(cacheKey);
    if (key === undefined) {
      // Only the public members: a JWKS that (wrongly) publishes a private key still imports as public.
      const { kty: t, n, e, crv, x, y } = jwk;
      key = await crypto.subtle
        .importKey("jwk", { kty: t, n, e, crv, x, y, ext: true }, importParams, false, ["verify"])
        .catch(() => null);
      entry.imported.set(cacheKey, key);
    }
    if (key) keys.push(key);
  }
  return keys;
}
