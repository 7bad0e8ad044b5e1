// The error every part of the PKCE helper throws, built in plain JS so that `isPkceError` and the
// errors of the JS layer (not_initialized, the token request, the ID token) need no wasm.
// The wasm throws the same shape (wasm.rs `throw`): an Error named "PkceError" with a `code`.

/** An `Error` named "PkceError" with a stable `code` and optional extra fields. */
export function pkceError(code, message, extra) {
  const e = new Error(message);
  e.name = "PkceError";
  e.code = code;
  return extra ? Object.assign(e, extra) : e;
}

/** Narrows a caught value to a PkceError (also one thrown by the wasm, or from another realm). */
export function isPkceError(error) {
  return error != null && typeof error === "object" && error.name === "PkceError" && typeof error.code === "string";
}
