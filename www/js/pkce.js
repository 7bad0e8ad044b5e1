// The PKCE helper's API, shared by both entries: the wasm exports (each gated on init()), the
// pure-JS error guard, and the code exchange with ID-token validation.

import * as core from "./portcullis_pkce_core.js";
import { gated } from "./loader.js";

export { isPkceError } from "./errors.js";
export { exchangeCode, validateIdToken } from "./exchange.js";

export const createPkcePair = /* @__PURE__ */ gated(core.createPkcePair);
export const codeChallengeS256 = /* @__PURE__ */ gated(core.codeChallengeS256);
export const randomState = /* @__PURE__ */ gated(core.randomState);
export const randomNonce = /* @__PURE__ */ gated(core.randomNonce);
export const buildAuthorizationUrl = /* @__PURE__ */ gated(core.buildAuthorizationUrl);
export const parseCallback = /* @__PURE__ */ gated(core.parseCallback);
export const buildTokenRequest = /* @__PURE__ */ gated(core.buildTokenRequest);
export const beginAuthorization = /* @__PURE__ */ gated(core.beginAuthorization);
export const completeAuthorization = /* @__PURE__ */ gated(core.completeAuthorization);
export const hasPendingAuthorization = /* @__PURE__ */ gated(core.hasPendingAuthorization);
export const clearPendingAuthorization = /* @__PURE__ */ gated(core.clearPendingAuthorization);
