// The default entry of @portcullis/pkce: the wasm travels inside this module (gzip, base64), so
// `import` works in every bundler with no asset handling, and init() makes no network request:
// a Content-Security-Policy needs only script-src 'wasm-unsafe-eval', no connect-src for it.
// portcullis_pkce.js is the same API loading the .wasm as a separate file.

import { initWith, initSync } from "./loader.js";
import WASM_GZIP_BASE64 from "./portcullis_pkce_wasm.js";

export * from "./pkce.js";
export { initSync };

async function embeddedModule() {
  const gz = Uint8Array.from(atob(WASM_GZIP_BASE64), (c) => c.charCodeAt(0));
  const inflated = new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(inflated).arrayBuffer());
}

/**
 * Compiles the embedded module (once; later calls return the same promise). `module_or_path`
 * loads another copy instead (a URL, Response, bytes or WebAssembly.Module).
 */
export default function init(options) {
  const other = options?.module_or_path;
  return initWith(other ? () => other : embeddedModule);
}
