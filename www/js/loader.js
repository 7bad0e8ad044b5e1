// Holds the one wasm instance and gates every export on it: a call before `init()` has resolved
// throws a typed `not_initialized` PkceError instead of the glue's bare TypeError.
//
// The entries (index.js: the wasm embedded; portcullis_pkce.js: the wasm as a separate file) each
// give `initWith` a way to get the module bytes; everything else is shared.

import initCore, { initSync as initCoreSync } from "./portcullis_pkce_core.js";
import { pkceError } from "./errors.js";

let ready = false;
let loading = null;

function wasmUnavailable(cause) {
  return pkceError(
    "wasm_unavailable",
    "the PKCE helper's WebAssembly module could not be loaded (a Content-Security-Policy needs script-src 'wasm-unsafe-eval')",
    { cause },
  );
}

/** Loads the module once; `source` returns what wasm-bindgen's init accepts (URL, bytes, Response, Module). */
export function initWith(source) {
  loading ??= (async () => {
    try {
      await initCore({ module_or_path: await source() });
    } catch (cause) {
      loading = null; // a later init() may try again (e.g. after a network error)
      throw wasmUnavailable(cause);
    }
    ready = true;
  })();
  return loading;
}

/** Synchronous init from a `WebAssembly.Module` or bytes (browsers limit synchronous compiles on the main thread). */
export function initSync(module) {
  try {
    initCoreSync({ module: module?.module ?? module });
  } catch (cause) {
    throw wasmUnavailable(cause);
  }
  ready = true;
}

/** Wraps a wasm export so that calling it before init() throws `not_initialized`. */
export function gated(fn) {
  return function (...args) {
    if (!ready) throw pkceError("not_initialized", "call (and await) init() before using the PKCE helper");
    return fn(...args);
  };
}
