// Prints what an app ships for each budget of the browser helper (docs/pkce.md "Size"): the
// import bundled and minified by esbuild, then gzip -9, wasm included (embedded in the default
// entry; a separate file for the /separate entry). Called by www/build.sh, so `make www` prints
// both budgets on every build. Sizes are reported, never asserted (CONTRIBUTING.md).
//
//   node www/size.mjs www/pkg

import { build } from "esbuild";
import { readFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";

const pkg = path.resolve(process.argv[2] ?? "www/pkg");
const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;

const CASES = [
  {
    name: "PKCE only (default entry, wasm embedded)",
    budget: 25_000,
    code: `import init, { beginAuthorization, completeAuthorization, isPkceError } from "./index.js";
           export { init, beginAuthorization, completeAuthorization, isPkceError };`,
  },
  {
    name: "PKCE + ID-token validation + session client",
    budget: 35_000,
    code: `import init, { beginAuthorization, completeAuthorization, exchangeCode, isPkceError } from "./index.js";
           import { createSession, isSessionError } from "./session.js";
           export { init, beginAuthorization, completeAuthorization, exchangeCode, isPkceError, createSession, isSessionError };`,
  },
  {
    name: "PKCE only (/separate entry: JS + the .wasm file)",
    budget: 25_000,
    extra: "portcullis_pkce_bg.wasm",
    code: `import init, { beginAuthorization, completeAuthorization, isPkceError } from "./portcullis_pkce.js";
           export { init, beginAuthorization, completeAuthorization, isPkceError };`,
  },
];

for (const c of CASES) {
  const out = await build({
    stdin: { contents: c.code, resolveDir: pkg, loader: "js" },
    bundle: true,
    minify: true,
    format: "esm",
    target: "es2022",
    write: false,
    logLevel: "warning",
  });
  const js = out.outputFiles[0].contents;
  const wasm = c.extra ? readFileSync(path.join(pkg, c.extra)) : null;
  const total = gz(js) + (wasm ? gz(wasm) : 0);
  const parts = wasm ? ` (JS ${gz(js)} B + wasm ${gz(wasm)} B)` : "";
  const verdict = total <= c.budget ? "within" : "OVER";
  console.log(`www size: ${c.name}: ${total} B gzip${parts}, ${verdict} the ${c.budget / 1000} KB budget`);
}
