// Passkeys (issue 12): register a passkey for the signed-in user, log in with it, step up with it,
// and call a route that requires a second factor; list the user's passkeys and delete one
// (GET /auth/passkeys, DELETE /auth/passkeys/{id}). The gateway runs the WebAuthn ceremonies
// (POST /auth/passkeys/…, docs/passkeys.md); this page only turns the JSON options into the
// browser's ArrayBuffers and the credential back into JSON.
//
// Registering needs a session: the page trades the refresh cookie of a password login for a fresh
// access token (POST /auth/refresh) and registers the passkey with it.

const $ = (id) => document.getElementById(id);
let accessToken = null;

const b64urlToBytes = (s) => {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(s.length / 4) * 4, "=");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
};
const bytesToB64url = (buf) =>
  btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

function claimsOf(jwt) {
  const part = String(jwt).split(".")[1] ?? "";
  return JSON.parse(new TextDecoder().decode(b64urlToBytes(part)));
}

function gatewayOrigin(config) {
  try {
    return new URL(config.apiUrl).origin;
  } catch {
    return location.origin;
  }
}

/** A credentialed call with the session's access token when there is one; a POST sends `body` as
 *  JSON, a GET or DELETE (the listing and the delete) none. */
async function send(method, url, token, body) {
  const headers = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const init = { method, credentials: "include", headers };
  if (method === "POST") {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(body ?? {});
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {}
  return { status: res.status, json };
}

const post = (url, body, token) => send("POST", url, token, body);

function creationOptions(o) {
  return {
    ...o,
    challenge: b64urlToBytes(o.challenge),
    user: { ...o.user, id: b64urlToBytes(o.user.id) },
    excludeCredentials: (o.excludeCredentials ?? []).map((c) => ({ ...c, id: b64urlToBytes(c.id) })),
  };
}

function requestOptions(o) {
  return {
    ...o,
    challenge: b64urlToBytes(o.challenge),
    allowCredentials: (o.allowCredentials ?? []).map((c) => ({ ...c, id: b64urlToBytes(c.id) })),
  };
}

function registrationJson(c) {
  return {
    id: c.id,
    rawId: bytesToB64url(c.rawId),
    type: c.type,
    response: {
      clientDataJSON: bytesToB64url(c.response.clientDataJSON),
      attestationObject: bytesToB64url(c.response.attestationObject),
      transports: c.response.getTransports?.() ?? [],
    },
    clientExtensionResults: c.getClientExtensionResults?.() ?? {},
  };
}

function assertionJson(c) {
  return {
    id: c.id,
    rawId: bytesToB64url(c.rawId),
    type: c.type,
    response: {
      clientDataJSON: bytesToB64url(c.response.clientDataJSON),
      authenticatorData: bytesToB64url(c.response.authenticatorData),
      signature: bytesToB64url(c.response.signature),
      userHandle: c.response.userHandle ? bytesToB64url(c.response.userHandle) : null,
    },
    clientExtensionResults: c.getClientExtensionResults?.() ?? {},
  };
}

function say(text) {
  $("passkey-status").textContent = text;
}

function failed(what, result) {
  say(`${what}: HTTP ${result.status}${result.json?.code ? ` ${result.json.code}` : ""}`);
  return null;
}

function signedIn(what, result) {
  if (result.status !== 200 || !result.json?.access_token) return failed(what, result);
  accessToken = result.json.access_token;
  const claims = claimsOf(accessToken);
  say(`${what}: HTTP 200, ${claims.sub} (amr ${claims.amr.join(" ")})`);
  $("passkey-claims").textContent = JSON.stringify(claims, null, 2);
  return claims;
}

export function setUpPasskeys(config) {
  const gw = gatewayOrigin(config);
  const mfaUrl = config.mfaApiUrl ?? `${gw}/api/mfa/echo`;
  $("passkey-panel").hidden = false;

  $("passkey-register").addEventListener("click", async () => {
    const session = await post(`${gw}/auth/refresh`);
    if (session.status !== 200) return failed("register (refresh)", session);
    const token = session.json.access_token;
    const options = await post(`${gw}/auth/passkeys/register/options`, {}, token);
    if (options.status !== 200) return failed("register options", options);
    let credential;
    try {
      credential = await navigator.credentials.create({ publicKey: creationOptions(options.json.publicKey) });
    } catch (e) {
      return say(`register: the browser refused (${e.name})`);
    }
    const verified = await post(`${gw}/auth/passkeys/register/verify`, registrationJson(credential), token);
    if (verified.status !== 201) return failed("register verify", verified);
    say(`registered: HTTP 201, passkey ${verified.json.credential_id} (${verified.json.alg})`);
  });

  $("passkey-login").addEventListener("click", async () => {
    const options = await post(`${gw}/auth/passkeys/login/options`);
    if (options.status !== 200) return failed("login options", options);
    let credential;
    try {
      credential = await navigator.credentials.get({ publicKey: requestOptions(options.json.publicKey) });
    } catch (e) {
      return say(`login: the browser refused (${e.name})`);
    }
    signedIn("passkey login", await post(`${gw}/auth/passkeys/login/verify`, assertionJson(credential)));
  });

  $("passkey-step-up").addEventListener("click", async () => {
    if (!accessToken) return say("step up: log in first");
    const options = await post(`${gw}/auth/passkeys/step-up/options`, {}, accessToken);
    if (options.status !== 200) return failed("step-up options", options);
    let credential;
    try {
      credential = await navigator.credentials.get({ publicKey: requestOptions(options.json.publicKey) });
    } catch (e) {
      return say(`step up: the browser refused (${e.name})`);
    }
    signedIn("step up", await post(`${gw}/auth/passkeys/step-up/verify`, assertionJson(credential), accessToken));
  });

  /** Lists the signed-in user's passkeys, each with a Delete button (text only: no markup from the answer). */
  async function list() {
    const listed = await send("GET", `${gw}/auth/passkeys`, accessToken);
    if (listed.status !== 200) return failed("list", listed);
    const items = $("passkey-items");
    items.replaceChildren();
    for (const p of listed.json.passkeys) {
      const li = document.createElement("li");
      li.dataset.credentialId = p.credential_id;
      const used = p.last_used_at ? new Date(p.last_used_at * 1000).toISOString() : "never";
      li.append(`${p.credential_id} (${p.alg}, ${p.backup_eligible ? "synced" : "device-bound"}, last used ${used}) `);
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "Delete";
      remove.addEventListener("click", async () => {
        const deleted = await send("DELETE", `${gw}/auth/passkeys/${encodeURIComponent(p.credential_id)}`, accessToken);
        if (deleted.status !== 204) return failed("delete", deleted);
        await list();
        say(`deleted: HTTP 204, passkey ${p.credential_id}`);
      });
      li.append(remove);
      items.append(li);
    }
    say(`listed: HTTP 200, ${listed.json.passkeys.length} passkey(s)`);
  }

  $("passkey-list").addEventListener("click", async () => {
    if (!accessToken) return say("list: log in first");
    await list();
  });

  $("passkey-api").addEventListener("click", async () => {
    const res = await fetch(mfaUrl, { headers: accessToken ? { authorization: `Bearer ${accessToken}` } : {} });
    const body = await res.json().catch(() => null);
    say(`GET ${new URL(mfaUrl).pathname}: HTTP ${res.status}${body?.code ? ` ${body.code}` : ""}`);
  });
}
