// Serves the PKCE demo SPA: www/demo/ at /, the built package www/pkg/ at /pkg/, and the page's
// config at /config.json. Used by `make dev` (www/demo/dev.mjs) and by the browser test. The page
// calls the gateway cross-origin, so the gateway's `cors.allowed_origins` must list this origin.
//
// Headers are what an SPA serving an authorization-code callback should send: a strict CSP
// (wasm needs 'wasm-unsafe-eval'), no Referer (the callback URL carries the code), no caching.

import http from "node:http";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const WWW = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DIRS = { demo: path.join(WWW, "demo"), pkg: path.join(WWW, "pkg") };
const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".ts": "text/plain; charset=utf-8",
};
// Only these demo files are served; the server code itself is not.
const DEMO_FILES = new Set(["index.html", "app.js", "mfa.js", "password-login.js", "style.css"]);

function originOf(url) {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}

function securityHeaders(config) {
  const connect = ["'self'", originOf(config?.issuer), originOf(config?.apiUrl)].filter(Boolean);
  return {
    "content-security-policy": [
      "default-src 'none'",
      "script-src 'self' 'wasm-unsafe-eval'",
      `connect-src ${[...new Set(connect)].join(" ")}`,
      "style-src 'self'",
      // The TOTP panel shows the gateway's QR code as a data: image (www/demo/mfa.js).
      "img-src data:",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join("; "),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
  };
}

/**
 * Starts the demo server on 127.0.0.1. `config` (the page's config.json) may be set later through
 * the returned object, since the OpenID provider needs this server's origin first.
 * Returns { url, origin, redirectUri, config, close }.
 */
export async function startDemoServer({ port = 0, config = null } = {}) {
  const state = { config };
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://localhost");
    const send = (status, type, body, extra = {}) => {
      res.writeHead(status, { "content-type": type, ...securityHeaders(state.config), ...extra });
      res.end(body);
    };
    try {
      if (req.method !== "GET" && req.method !== "HEAD") return send(405, "text/plain", "method not allowed", { allow: "GET, HEAD" });
      if (url.pathname === "/config.json") {
        if (!state.config) return send(503, "text/plain", "demo not configured yet");
        return send(200, TYPES[".json"], JSON.stringify(state.config));
      }
      let file = null;
      if (url.pathname === "/") file = path.join(DIRS.demo, "index.html");
      else if (DEMO_FILES.has(url.pathname.slice(1))) file = path.join(DIRS.demo, url.pathname.slice(1));
      else if (/^\/pkg\/[A-Za-z0-9_.-]+$/.test(url.pathname)) file = path.join(DIRS.pkg, url.pathname.slice(5));
      if (!file) return send(404, "text/plain", "not found");
      const body = await readFile(file).catch(() => null);
      if (!body) return send(404, "text/plain", url.pathname.startsWith("/pkg/") ? "not built: run make www" : "not found");
      return send(200, TYPES[path.extname(file)] ?? "application/octet-stream", body);
    } catch {
      if (!res.headersSent) send(500, "text/plain", "internal error");
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    url: `${origin}/`,
    origin,
    /** The page itself is the OAuth redirect URI. */
    redirectUri: `${origin}/`,
    get config() {
      return state.config;
    },
    set config(value) {
      state.config = value;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
