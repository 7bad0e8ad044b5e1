// Real HTTP servers on 127.0.0.1 for the end-to-end tests, the demo and the benchmarks:
// an echo origin, and an issuer (OpenID discovery + JWKS + token minting) whose keys are generated
// at start-up. No private key is ever written to the repository.

import http from "node:http";
import { generateKeyPair, exportJWK, importJWK, SignJWT, calculateJwkThumbprint } from "jose";

function listen(server) {
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${server.address().port}`));
  });
}

function listenOn(server, port) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(`http://127.0.0.1:${server.address().port}`));
  });
}

function close(server) {
  return new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
}

/** An origin that answers every request with what it received (method, URL, headers, body). */
export async function startEchoOrigin({ port = 0 } = {}) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const seen = { method: req.method, url: req.url, headers: req.headers, body };
      requests.push(seen);
      if (req.url.includes("/redirect")) {
        res.writeHead(302, { location: "https://elsewhere.example/" });
        res.end();
        return;
      }
      res.writeHead(200, {
        "content-type": "application/json",
        "x-origin": "echo",
        connection: "keep-alive, x-hop",
        "x-hop": "must-not-reach-client",
      });
      res.end(JSON.stringify(seen));
    });
  });
  const url = port ? await listenOn(server, port) : await listen(server);
  return { url, requests, close: () => close(server) };
}

export const ALGS = ["RS256", "RS384", "RS512", "PS256", "ES256", "EdDSA"];

async function makeKey(alg, kid) {
  const opts = alg === "EdDSA" ? { crv: "Ed25519", extractable: true } : { extractable: true };
  const { publicKey, privateKey } = await generateKeyPair(alg, opts);
  const jwk = await exportJWK(publicKey);
  jwk.kid = kid ?? `${alg.toLowerCase()}-${(await calculateJwkThumbprint(jwk)).slice(0, 8)}`;
  jwk.alg = alg;
  jwk.use = "sig";
  return { alg, kid: jwk.kid, publicJwk: jwk, privateKey, publicKey };
}

/** Serializable key material (private JWK included), for the demo's persisted keys. */
export async function exportKeyMaterial(k) {
  return { alg: k.alg, kid: k.kid, publicJwk: k.publicJwk, privateJwk: await exportJWK(k.privateKey) };
}

export async function importKeyMaterial(m) {
  return { alg: m.alg, kid: m.kid, publicJwk: m.publicJwk, privateKey: await importJWK(m.privateJwk, m.alg) };
}

export { makeKey };

/**
 * An OpenID-style issuer: `/.well-known/openid-configuration`, `/jwks.json`, request counters, key
 * rotation, outage simulation and a `mint()` that signs access tokens with its keys.
 */
export async function startIssuer({ algs = ALGS, port = 0, cacheControl = "max-age=300", discovery = true, keys: given } = {}) {
  const keys = given ? [...given] : [];
  if (!given) for (const alg of algs) keys.push(await makeKey(alg));
  const state = {
    keys,
    cacheControl,
    outage: false,
    jwksRequests: 0,
    discoveryRequests: 0,
    extraKeys: [],
  };
  let issuerUrl = "";
  const server = http.createServer((req, res) => {
    if (state.outage) {
      res.writeHead(503, { "content-type": "text/plain" });
      res.end("down");
      return;
    }
    if (req.url === "/.well-known/openid-configuration" && discovery) {
      state.discoveryRequests++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ issuer: issuerUrl, jwks_uri: `${issuerUrl}/jwks.json` }));
      return;
    }
    if (req.url === "/jwks.json") {
      state.jwksRequests++;
      const headers = { "content-type": "application/jwk-set+json" };
      if (state.cacheControl) headers["cache-control"] = state.cacheControl;
      res.writeHead(200, headers);
      res.end(JSON.stringify({ keys: [...state.keys.map((k) => k.publicJwk), ...state.extraKeys] }));
      return;
    }
    res.writeHead(404);
    res.end();
  });
  issuerUrl = port ? await listenOn(server, port) : await listen(server);

  const keyFor = (alg, kid) => {
    const k = kid ? state.keys.find((k) => k.kid === kid) : state.keys.find((k) => k.alg === alg);
    if (!k) throw new Error(`no key for ${alg}/${kid}`);
    return k;
  };

  return {
    url: issuerUrl,
    jwksUri: `${issuerUrl}/jwks.json`,
    state,
    keyFor,
    /** Adds a fresh key for `alg` (rotation step 1) and returns it. */
    async addKey(alg, kid) {
      const k = await makeKey(alg, kid);
      state.keys.push(k);
      return k;
    },
    /** Removes the key with `kid` from the published set (rotation step 2). */
    removeKey(kid) {
      state.keys = state.keys.filter((k) => k.kid !== kid);
    },
    /**
     * Signs an access token. `claims` override the defaults; `header` overrides the protected
     * header; `key` picks a key object (default: the first key for `alg`).
     */
    async mint({ alg = "RS256", claims = {}, header = {}, key, ttl = 300, audience = "https://api.portcullis.test" } = {}) {
      const k = key ?? keyFor(alg);
      const now = Math.floor(Date.now() / 1000);
      const body = { iss: issuerUrl, sub: "user-123", aud: audience, iat: now, exp: now + ttl, scope: "read:echo", jti: `jti-${Math.random().toString(36).slice(2)}`, ...claims };
      for (const [name, v] of Object.entries(body)) if (v === undefined) delete body[name];
      return new SignJWT(body)
        .setProtectedHeader({ alg: k.alg, kid: k.kid, typ: "at+jwt", ...header })
        .sign(k.privateKey);
    },
    close: () => close(server),
  };
}

/** A server that counts every request it gets (the attacker's `jku` target). */
export async function startCountingServer() {
  let count = 0;
  const server = http.createServer((req, res) => {
    count++;
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"keys":[]}');
  });
  const url = await listen(server);
  return { url, get count() { return count; }, close: () => close(server) };
}
