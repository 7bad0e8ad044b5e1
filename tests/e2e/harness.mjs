// The end-to-end harness: the real built wasm (build/index.js + build/index_bg.wasm, from
// `make build`) in workerd through Miniflare 4, with real local KV (and Durable Objects), in front of
// real HTTP servers on 127.0.0.1. No mocks.

import { Miniflare } from "miniflare";
import { readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export { startEchoOrigin, startIssuer, startCountingServer, ALGS } from "../support/servers.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BUILD = path.join(ROOT, "build");

/** Reads `wrangler.toml`'s compatibility date so tests run the runtime production gets. */
function compatibilityDate() {
  const toml = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8");
  return /compatibility_date\s*=\s*"([^"]+)"/.exec(toml)?.[1] ?? "2026-04-01";
}

/** The worker modules `make build` writes (the bundled entry and its wasm), listed explicitly. */
export function workerModules() {
  if (!existsSync(path.join(BUILD, "index.js"))) {
    throw new Error("build/index.js is missing: run `make build` first");
  }
  return [
    { type: "ESModule", path: path.join(BUILD, "index.js") },
    { type: "CompiledWasm", path: path.join(BUILD, "index_bg.wasm") },
  ];
}

/** A minimal config in front of `origin`, trusting `issuer` (an object from startIssuer). */
export function baseConfig({ origin, issuer, audiences = ["https://api.portcullis.test"], algorithms = ["RS256", "RS384", "RS512", "PS256", "ES256", "EdDSA"], extra = {}, issuerExtra = {} }) {
  return {
    origin,
    realm: "test",
    transport: { https: "allow" },
    issuers: issuer
      ? [{ issuer: issuer.url, jwks_uri: issuer.jwksUri, audiences, algorithms, ...issuerExtra }]
      : [],
    routes: [
      { name: "health", methods: ["GET"], path: "/health", auth: ["public"] },
      { name: "read", methods: ["GET"], path: "/api/*", auth: ["jwt"], scopes: ["read:echo"] },
      { name: "write", methods: ["POST", "PUT", "DELETE"], path: "/api/*", auth: ["jwt"], scopes: ["write:echo"] },
    ],
    ...extra,
  };
}

/**
 * The Durable Object bindings of wrangler.toml: the revocation list, the rate limiters, the API-key
 * ledger, the DPoP replay cache, the session families, the TOTP subjects and the passkey store.
 */
export const DURABLE_OBJECTS = {
  PORTCULLIS_REVOCATION: { className: "RevocationStore", useSQLite: true },
  PORTCULLIS_RATE_LIMITER: { className: "RateLimiter", useSQLite: true },
  PORTCULLIS_API_KEYS: { className: "ApiKeyLedger", useSQLite: true },
  PORTCULLIS_DPOP: { className: "DpopReplay", useSQLite: true },
  PORTCULLIS_SESSIONS: { className: "SessionFamily", useSQLite: true },
  PORTCULLIS_MFA: { className: "MfaSubject", useSQLite: true },
  PORTCULLIS_PASSKEYS: { className: "PasskeyStore", useSQLite: true },
};

/**
 * Starts the gateway in workerd. `config` is the PORTCULLIS_CONFIG document (an object, or a JSON
 * string). Returns { url, fetch(path, init), mf, logs, dispose }.
 */
export async function startGateway(config, { extraBindings = {}, kvPersist = false, durableObjects = DURABLE_OBJECTS } = {}) {
  const logs = [];
  const mf = new Miniflare({
    modules: workerModules(),
    modulesRoot: BUILD,
    compatibilityDate: compatibilityDate(),
    kvNamespaces: ["PORTCULLIS_KV"],
    kvPersist,
    durableObjects,
    bindings: { PORTCULLIS_CONFIG: config, ...extraBindings },
    cf: false,
    // workerd's structured log stream: one record per console call, delivered promptly (plain
    // stdout from workerd is block-buffered through a pipe and can lag behind the test).
    handleStructuredLogs({ message }) {
      logs.push(message);
    },
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  return {
    url,
    mf,
    logs,
    /** dispatchFetch against the gateway; `path` may be a path or an absolute URL. */
    fetch(p, init = {}) {
      const target = /^https?:/.test(p) ? p : `http://gateway.test${p}`;
      return mf.dispatchFetch(target, { redirect: "manual", ...init });
    },
    /** Waits until workerd's log stream has been quiet for `quietMs`. */
    async settleLogs(quietMs = 100) {
      let n = -1;
      while (n !== logs.length) {
        n = logs.length;
        await new Promise((r) => setTimeout(r, quietMs));
      }
    },
    dispose: () => mf.dispose(),
  };
}

/** The `request` log lines (parsed) `gw` (of startGateway) has written since `logs[from]`, once its log is quiet. */
export async function requestLines(gw, from = 0) {
  await gw.settleLogs();
  return gw.logs.slice(from).flatMap((m) => {
    try {
      const line = JSON.parse(m);
      return line.event === "request" ? [line] : [];
    } catch {
      return [];
    }
  });
}

/** Parses a problem+json response and returns { status, code, body, headers }. */
export async function problemOf(res) {
  const text = await res.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, code: body?.code, body, headers: res.headers };
}
