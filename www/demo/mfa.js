// TOTP in the demo SPA (docs/mfa.md): enroll an authenticator app (the gateway's QR code shown),
// confirm with its first code (the recovery codes shown once), and step up a session with a code
// — the stepped-up access token (amr + "otp", acr, auth_time) replaces the session's token.
//
// It needs one of the gateway's own access tokens (a session: POST /auth/login or the session
// client); a token of another issuer is refused by the endpoints (token_issuer_unknown). The page
// announces its token with
//   window.dispatchEvent(new CustomEvent("portcullis:access-token", { detail: { accessToken, authBase } }))
// where authBase is the gateway's sessions prefix ("/auth", or "https://gateway.example/auth").

const $ = (id) => document.getElementById(id);
let session = null;

function status(text) {
  $("mfa-status").textContent = text;
}

async function call(endpoint, body) {
  const res = await fetch(`${session.authBase}/mfa/totp/${endpoint}`, {
    method: "POST",
    headers: { authorization: `Bearer ${session.accessToken}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) {
    const retry = res.headers.get("retry-after");
    throw new Error(`${answer.code ?? res.status}: ${answer.detail ?? "refused"}${retry ? ` (retry in ${retry} s)` : ""}`);
  }
  return answer;
}

/** The gateway's SVG shown as an image, never as markup: an <img> runs no script. */
function showQr(svg) {
  const img = document.createElement("img");
  img.alt = "TOTP QR code: scan it with an authenticator app";
  img.width = 200;
  img.height = 200;
  img.src = `data:image/svg+xml;base64,${btoa(svg)}`;
  $("totp-qr").replaceChildren(img);
}

function claimsOf(jwt) {
  const part = String(jwt).split(".")[1] ?? "";
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))));
}

async function run(what, action) {
  try {
    await action();
  } catch (e) {
    status(`${what} refused — ${e.message}`);
  }
}

function wire() {
  $("totp-enroll").addEventListener("click", () =>
    run("enrollment", async () => {
      const e = await call("enroll");
      showQr(e.qr_svg);
      $("totp-secret").textContent = e.secret;
      $("totp-confirm-form").hidden = false;
      status("scan the QR code, then enter the first code");
    }),
  );
  $("totp-confirm").addEventListener("click", () =>
    run("confirmation", async () => {
      const c = await call("confirm", { code: $("totp-confirm-code").value.trim() });
      $("recovery-codes").replaceChildren(...c.recovery_codes.map((code) => Object.assign(document.createElement("li"), { textContent: code })));
      $("totp-qr").replaceChildren();
      $("totp-secret").textContent = "";
      $("totp-confirm-form").hidden = true;
      status("TOTP enrolled: keep the recovery codes somewhere safe, they are shown once");
    }),
  );
  $("totp-step-up").addEventListener("click", () =>
    run("step-up", async () => {
      const t = await call("verify", { code: $("totp-step-up-code").value.trim() });
      session.accessToken = t.access_token;
      $("step-up-claims").textContent = JSON.stringify(claimsOf(t.access_token), null, 2);
      status("stepped up: the new token carries amr otp");
      window.dispatchEvent(new CustomEvent("portcullis:stepped-up", { detail: { accessToken: t.access_token } }));
    }),
  );
}

window.addEventListener("portcullis:access-token", (event) => {
  const first = session === null;
  session = { accessToken: event.detail.accessToken, authBase: event.detail.authBase ?? "/auth" };
  $("mfa-panel").hidden = false;
  if (first) wire();
  status("signed in: enroll an authenticator, or step up with a code");
});
