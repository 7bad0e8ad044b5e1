// "Log in with a password": the first-party session flow of issue 11. The form's JSON goes to the
// gateway's POST /auth/login, which forwards it to the demo login endpoint on the origin
// (tests/support/login-origin.mjs: alice / "correct horse battery staple", bob / "hunter2hunter2");
// the gateway answers with a short access token (kept in memory here) and sets the rotating
// refresh cookie (HttpOnly: this page never sees it). "Refresh" trades the cookie for a new access
// token and a new cookie; "Log out" ends the session.

const $ = (id) => document.getElementById(id);
let accessToken = null;

function gatewayOrigin(config) {
  try {
    return new URL(config.apiUrl).origin;
  } catch {
    return location.origin;
  }
}

function claimsOf(jwt) {
  const part = String(jwt).split(".")[1] ?? "";
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))));
}

async function post(url, body) {
  // The cookie endpoints require Content-Type: application/json and an allowed Origin (CSRF).
  const res = await fetch(url, {
    method: "POST",
    credentials: "include",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(body ?? {}),
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {}
  return { status: res.status, json };
}

function show(result, what) {
  const panel = $("password-result");
  panel.hidden = false;
  if (result.status === 200 && result.json?.access_token) {
    accessToken = result.json.access_token;
    $("password-status").textContent = `${what}: HTTP 200, session ${claimsOf(accessToken).sid}`;
    $("password-claims").textContent = JSON.stringify(claimsOf(accessToken), null, 2);
  } else {
    accessToken = result.status === 204 ? null : accessToken;
    $("password-status").textContent = `${what}: HTTP ${result.status}${result.json?.code ? ` ${result.json.code}` : ""}`;
    if (result.status === 204) $("password-claims").textContent = "";
  }
  document.getElementById("app").dataset.session = accessToken ? "signed-in" : "signed-out";
}

export function setUpPasswordLogin(config) {
  const gw = gatewayOrigin(config);
  $("password-panel").hidden = false;
  $("password-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { username: $("username").value, password: $("password").value };
    show(await post(`${gw}/auth/login`, body), "login");
  });
  $("password-refresh").addEventListener("click", async () => show(await post(`${gw}/auth/refresh`), "refresh"));
  $("password-logout").addEventListener("click", async () => show(await post(`${gw}/auth/logout`), "logout"));
  $("password-api").addEventListener("click", async () => {
    const res = await fetch(`${gw}/api/echo`, { headers: accessToken ? { authorization: `Bearer ${accessToken}` } : {} });
    $("password-status").textContent = `GET /api/echo: HTTP ${res.status}`;
  });
}
