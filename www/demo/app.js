// The PKCE demo SPA: "Log in" → authorization server → back here → code exchange → call the API
// through the Portcullis gateway with the access token → show the API's answer.
//
// Configuration comes from ./config.json (written by the server that serves this page):
//   { "issuer": "...", "clientId": "...", "scope": "openid read:echo",
//     "resource": "https://api.portcullis.test", "apiUrl": "/api/echo" | "https://gateway/api/echo" | null }
// The access token is kept in memory only; sessionStorage holds nothing but the pending login,
// which the helper removes when the callback is handled.

import init, {
  beginAuthorization,
  completeAuthorization,
  clearPendingAuthorization,
  isPkceError,
} from "./pkg/portcullis_pkce.js";
import { setUpPasswordLogin } from "./password-login.js";

const $ = (id) => document.getElementById(id);
const app = $("app");
let helperReady = false;

class DemoError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "DemoError";
    this.code = code;
  }
}

function setStatus(status, text = status) {
  app.dataset.status = status;
  $("status").textContent = text;
}

function showError(code, message) {
  $("error-code").textContent = code;
  $("error-message").textContent = message;
  $("error-panel").hidden = false;
  setStatus("error", "refused");
}

/** Claims of a JWT, for display and the nonce comparison only: the gateway verifies signatures. */
function jwtClaims(jwt) {
  const part = String(jwt).split(".")[1] ?? "";
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

async function fetchJson(url, what) {
  const res = await fetch(url, { cache: "no-store", headers: { accept: "application/json" } });
  if (!res.ok) throw new DemoError("config_error", `${what} answered HTTP ${res.status}`);
  return res.json();
}

/** OpenID Connect Discovery; the document must name the issuer we asked (Discovery §4.3). */
async function discover(issuer) {
  const meta = await fetchJson(`${issuer}/.well-known/openid-configuration`, "discovery");
  if (meta.issuer !== issuer) {
    throw new DemoError("discovery_issuer_mismatch", `discovery names issuer ${meta.issuer}, expected ${issuer}`);
  }
  if (!meta.code_challenge_methods_supported?.includes("S256")) {
    throw new DemoError("pkce_unsupported", "the authorization server does not advertise PKCE S256");
  }
  return meta;
}

function isCallback(url) {
  const p = url.searchParams;
  return p.has("state") || p.has("code") || p.has("error");
}

function showLogin(config, meta) {
  $("issuer").textContent = config.issuer;
  $("login-panel").hidden = false;
  setStatus("ready", "signed out");
  $("login").addEventListener("click", () => {
    try {
      const start = beginAuthorization({
        issuer: config.issuer,
        authorizationEndpoint: meta.authorization_endpoint,
        tokenEndpoint: meta.token_endpoint,
        clientId: config.clientId,
        redirectUri: location.origin + location.pathname,
        scope: config.scope,
        resource: config.resource,
        // RFC 9207: when the server promises `iss`, a response without it is refused.
        requireIss: meta.authorization_response_iss_parameter_supported === true,
      });
      setStatus("redirecting", "redirecting to the authorization server");
      location.assign(start.url);
    } catch (e) {
      report(e);
    }
  });
}

async function handleCallback(here, config) {
  let done;
  try {
    done = completeAuthorization(here.href);
  } finally {
    // Drop code and state from the address bar and the history, whatever the outcome.
    history.replaceState(null, "", here.pathname);
  }

  setStatus("exchanging", "exchanging the authorization code");
  const res = await fetch(done.tokenRequest.url, done.tokenRequest);
  const tokens = await res.json().catch(() => ({}));
  if (!res.ok) {
    throw new DemoError(tokens.error ?? "token_error", tokens.error_description ?? `token endpoint answered HTTP ${res.status}`);
  }
  if (String(tokens.token_type).toLowerCase() !== "bearer" || typeof tokens.access_token !== "string") {
    throw new DemoError("token_error", "the token response has no bearer access token");
  }
  if (tokens.id_token) {
    const id = jwtClaims(tokens.id_token);
    // OIDC Core §3.1.3.7: the ID token must carry the nonce this browser generated.
    if (id.nonce !== done.nonce) throw new DemoError("nonce_mismatch", "the ID token's nonce is not the one sent");
    if (id.iss !== config.issuer) throw new DemoError("id_token_issuer_mismatch", "the ID token names another issuer");
  }

  $("claims").textContent = JSON.stringify(jwtClaims(tokens.access_token), null, 2);
  $("token-panel").hidden = false;
  setStatus("signed-in", "signed in");

  if (config.apiUrl) await callApi(config.apiUrl, tokens.access_token);
}

async function callApi(url, accessToken) {
  $("api-request").textContent = `GET ${url}`;
  setStatus("calling-api", "calling the API through the gateway");
  const res = await fetch(url, { headers: { authorization: `Bearer ${accessToken}`, accept: "application/json" } });
  const text = await res.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {}
  $("api-status").textContent = String(res.status);
  $("api-user").textContent = body?.headers?.["x-user-id"] ?? "(none)";
  $("api-body").textContent = typeof body === "string" ? body : JSON.stringify(body, null, 2);
  $("api-panel").hidden = false;
  setStatus(res.ok ? "api-ok" : "api-error", res.ok ? "API call succeeded" : `API refused the call (HTTP ${res.status})`);
}

function report(e) {
  if (helperReady && isPkceError(e)) {
    showError(e.code, e.message);
  } else if (e instanceof DemoError) {
    showError(e.code, e.message);
  } else {
    showError("unexpected", String(e?.message ?? e));
  }
}

$("restart").addEventListener("click", () => {
  if (helperReady) clearPendingAuthorization();
  location.assign(location.pathname);
});

async function main() {
  await init();
  helperReady = true;
  const config = await fetchJson("./config.json", "config.json");
  setUpPasswordLogin(config);
  const meta = await discover(config.issuer);
  const here = new URL(location.href);
  if (isCallback(here)) {
    await handleCallback(here, config);
  } else {
    showLogin(config, meta);
  }
}

main().catch(report);
