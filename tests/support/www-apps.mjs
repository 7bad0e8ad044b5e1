// Tiny single-page apps built from the packaged PKCE helper (www/pkg) by each of Vite, webpack,
// esbuild and Rollup (+ node-resolve), the way a new app would consume it: `import … from
// "@portcullis/pkce"` resolved from node_modules. Served by one static server on 127.0.0.1
// under exactly the Content-Security-Policy docs/pkce.md documents (script-src 'self'
// 'wasm-unsafe-eval', connect-src the authorization server and nothing else).

import http from "node:http";
import { cpSync, mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const PKG = path.join(ROOT, "www", "pkg");
export const BUNDLERS = ["vite", "webpack", "esbuild", "rollup"];
/** The /separate entry (the .wasm as a file), built by the bundlers that follow new URL(…, import.meta.url). */
export const SEPARATE = ["vite-separate", "webpack-separate"];

// The app: reports through data-* attributes on #out, so the test reads outcomes, not prose.
const MAIN_JS = `
import init, { beginAuthorization, completeAuthorization, createPkcePair, exchangeCode, isPkceError } from "@portcullis/pkce";

const out = document.getElementById("out");
const report = (key, value) => { out.dataset[key] = typeof value === "string" ? value : JSON.stringify(value); };
const violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  violations.push(e.violatedDirective + " " + e.blockedURI);
  report("violations", violations);
});

async function main() {
  const config = JSON.parse(document.querySelector('meta[name="app-config"]').content);
  try {
    createPkcePair();
    report("early", "no error");
  } catch (e) {
    report("early", isPkceError(e) ? e.code : "not a PkceError: " + e);
  }
  await init();
  const meta = await (await fetch(config.issuer + "/.well-known/openid-configuration")).json();
  const here = new URL(location.href);
  if (here.searchParams.has("code") || here.searchParams.has("error")) {
    const done = completeAuthorization(here.href);
    history.replaceState(null, "", here.pathname);
    const tokens = await exchangeCode(done, { jwksUri: meta.jwks_uri });
    report("sub", tokens.idTokenClaims.sub);
    report("nonce", tokens.idTokenClaims.nonce === done.nonce ? "checked" : "different");
    report("status", "signed-in");
  } else {
    const start = beginAuthorization({
      issuer: config.issuer,
      authorizationEndpoint: meta.authorization_endpoint,
      tokenEndpoint: meta.token_endpoint,
      clientId: config.clientId,
      redirectUri: location.origin + location.pathname,
      scope: "openid",
      requireIss: meta.authorization_response_iss_parameter_supported === true,
    });
    document.getElementById("login").addEventListener("click", () => location.assign(start.url));
    report("status", "ready");
  }
}

main().catch((e) => {
  report("error", isPkceError(e) ? e.code : "unexpected: " + (e && e.message));
  report("status", "error");
});
`;

const INDEX_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>app</title>
<script type="module" src="./main.js"></script>
</head><body><button id="login" type="button">Log in</button><output id="out"></output></body></html>
`;

/** Builds the app with each bundler into `<dir>/dist/<bundler>/`; returns { dir, dist(bundler) }. */
export async function buildApps() {
  if (!existsSync(path.join(PKG, "package.json"))) throw new Error("www/pkg is missing: run `make www` first");
  const dir = mkdtempSync(path.join(os.tmpdir(), "portcullis-www-apps-"));
  const src = path.join(dir, "src");
  mkdirSync(src);
  writeFileSync(path.join(src, "main.js"), MAIN_JS);
  writeFileSync(path.join(src, "index.html"), INDEX_HTML);
  // "Installed" the way npm would: a copy of the package under node_modules.
  cpSync(PKG, path.join(dir, "node_modules", "@portcullis", "pkce"), { recursive: true });
  const dist = (b) => path.join(dir, "dist", b);

  const vite = await import("vite");
  await vite.build({
    root: src,
    base: "./",
    configFile: false,
    logLevel: "error",
    build: { outDir: dist("vite"), emptyOutDir: true },
  });

  // The same app on the /separate entry, for the bundlers that emit the .wasm it points at.
  const separateSrc = path.join(dir, "src-separate");
  mkdirSync(separateSrc);
  writeFileSync(path.join(separateSrc, "main.js"), MAIN_JS.replace('from "@portcullis/pkce";', 'from "@portcullis/pkce/separate";'));
  writeFileSync(path.join(separateSrc, "index.html"), INDEX_HTML);
  await vite.build({
    root: separateSrc,
    base: "./",
    configFile: false,
    logLevel: "error",
    build: { outDir: dist("vite-separate"), emptyOutDir: true },
  });

  const { default: webpack } = await import("webpack");
  for (const [from, to] of [[src, "webpack"], [separateSrc, "webpack-separate"]]) {
    await new Promise((resolve, reject) =>
      webpack(
        {
          mode: "production",
          context: dir,
          entry: path.join(from, "main.js"),
          output: { path: dist(to), filename: "main.js" },
          resolve: { modules: [path.join(dir, "node_modules")] },
          performance: { hints: false },
        },
        (err, stats) => (err || stats.hasErrors() ? reject(err ?? new Error(stats.toString("errors-only"))) : resolve()),
      ),
    );
  }

  const esbuild = await import("esbuild");
  await esbuild.build({
    entryPoints: [path.join(src, "main.js")],
    bundle: true,
    minify: true,
    format: "esm",
    outfile: path.join(dist("esbuild"), "main.js"),
    logLevel: "error",
  });

  const { rollup } = await import("rollup");
  const { nodeResolve } = await import("@rollup/plugin-node-resolve");
  const bundle = await rollup({ input: path.join(src, "main.js"), plugins: [nodeResolve({ browser: true })], logLevel: "silent" });
  await bundle.write({ format: "es", file: path.join(dist("rollup"), "main.js") });
  await bundle.close();

  for (const b of ["webpack", "esbuild", "rollup", "webpack-separate"]) writeFileSync(path.join(dist(b), "index.html"), INDEX_HTML);
  return { dir, dist, close: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Every file under `dir`, relative. */
export function filesUnder(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath ?? e.path, e.name)));
}

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".wasm": "application/wasm", ".css": "text/css" };

/**
 * Serves `<dist>/<bundler>/` at `/<bundler>/` with the documented CSP; `config` (issuer,
 * clientId) is injected into each index.html as a meta tag, since connect-src does not allow
 * the app's own origin. Returns { origin, url(bundler), config, close }.
 */
export async function serveApps(dist) {
  const state = { config: null, connect: [] };
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://localhost");
    const [, bundler, ...rest] = url.pathname.split("/");
    const file = rest.join("/") || "index.html";
    const csp = [
      "default-src 'none'",
      "script-src 'self' 'wasm-unsafe-eval'",
      // The /separate entry fetches its .wasm from the app's origin: 'self' for those apps only.
      `connect-src ${[...(SEPARATE.includes(bundler) ? ["'self'"] : []), ...state.connect].join(" ") || "'none'"}`,
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join("; ");
    const headers = { "content-security-policy": csp, "referrer-policy": "no-referrer", "cache-control": "no-store" };
    if (![...BUNDLERS, ...SEPARATE].includes(bundler) || file.includes("..")) {
      res.writeHead(404, headers).end("not found");
      return;
    }
    let body = await readFile(path.join(dist(bundler), file)).catch(() => null);
    if (!body) {
      res.writeHead(404, headers).end("not found");
      return;
    }
    if (file === "index.html") {
      const meta = `<meta name="app-config" content="${JSON.stringify(state.config).replace(/"/g, "&quot;")}">`;
      body = body.toString("utf8").replace("<head>", `<head>${meta}`);
    }
    res.writeHead(200, { ...headers, "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" }).end(body);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    url: (bundler) => `${origin}/${bundler}/`,
    /** { issuer, clientId } for the page, and the origins connect-src allows. */
    configure(config, connect) {
      state.config = config;
      state.connect = connect;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

