// The separate-file entry of @portcullis/pkce (`@portcullis/pkce/separate`): the same API as the
// default entry, with the .wasm fetched beside this module. Bundlers that follow
// `new URL(…, import.meta.url)` (Vite, webpack) emit the file; elsewhere pass
// init({ module_or_path }) and allow that URL in the CSP's connect-src.

import { initWith, initSync } from "./loader.js";

export * from "./pkce.js";
export { initSync };

/** Fetches and compiles the module (once; later calls return the same promise). */
export default function init(options) {
  const source = options?.module_or_path;
  return initWith(() => source ?? new URL("portcullis_pkce_bg.wasm", import.meta.url));
}
