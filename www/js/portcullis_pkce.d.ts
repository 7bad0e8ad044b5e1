// @portcullis/pkce/separate: the same API as the default entry, with the .wasm loaded as a
// separate file (`new URL("portcullis_pkce_bg.wasm", import.meta.url)` unless
// init({ module_or_path }) says otherwise). The CSP's connect-src must allow that URL.
export * from "./index.js";
export { default } from "./index.js";
