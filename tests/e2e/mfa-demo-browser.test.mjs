// The demo SPA's TOTP panel (www/demo/mfa.js) in real headless Chromium against the gateway in
// workerd: "Enroll TOTP" shows the gateway's QR code (an SVG image, under the demo's CSP), the first
// code from an independent generator (npm otplib) confirms it and shows the 10 recovery codes, and
// "Step up with a code" replaces the session's token with one whose amr has "otp", which then
// passes a `mfa = "required"` route. The page gets one of the gateway's own access tokens (minted by
// the worker's code, `mintWithKeySet`) through the panel's `portcullis:access-token` event.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { launchChromium } from "../support/chromium.mjs";
import { generate } from "otplib";
import { startGateway, startEchoOrigin } from "./harness.mjs";
import { startDemoServer } from "../../www/demo/server.mjs";


const SESSIONS = { enabled: true, issuer: "https://gw.portcullis.test", audiences: ["https://api.portcullis.test"] };
const now = () => Math.floor(Date.now() / 1000);

/** Waits until at least `margin` seconds are left in the current 30 s step, so a code computed here
 * is still for the step the gateway reads a moment later. */
async function freshStep(margin = 6) {
  const left = 30 - (Date.now() / 1000) % 30;
  if (left < margin) await new Promise((r) => setTimeout(r, (left + 0.2) * 1000));
}

let browser, spa, origin, gw, keySet;

before(async () => {
  spa = await startDemoServer();
  origin = await startEchoOrigin();
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  keySet = JSON.stringify({ active: "k1", keys: [{ ...privateKey.export({ format: "jwk" }), kid: "k1", alg: "ES256" }] });
  gw = await startGateway(
    {
      origin: origin.url,
      realm: "demo",
      transport: { https: "allow" },
      sessions: SESSIONS,
      mfa: { enabled: true },
      cors: { allowed_origins: [spa.origin] },
      routes: [{ name: "transfer", methods: ["POST"], path: "/api/transfer", auth: ["jwt"], mfa: "required" }],
    },
    { extraBindings: { PORTCULLIS_SIGNING_KEYS: keySet, PORTCULLIS_MFA_KEY: randomBytes(32).toString("base64url") } },
  );
  // The PKCE part of the page is not under test here: its issuer is unreachable and it shows its
  // error panel; the TOTP panel works on its own.
  spa.config = { issuer: "http://127.0.0.1:9", clientId: "demo", scope: "openid", resource: "x", apiUrl: `${gw.url}/api/transfer` };
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await gw?.dispose();
  await origin?.close();
  await spa?.close();
});

test("the demo enrolls TOTP with the QR code shown, confirms it, and steps up with a code", async () => {
  const context = await browser.newContext();
  await context.route((url) => url.hostname !== "127.0.0.1", (route) => route.abort("blockedbyclient"));
  const page = await context.newPage();
  const cspViolations = [];
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  await page.goto(spa.url);
  const worker = await gw.mf.getWorker();
  const token = await worker.mintWithKeySet(
    keySet,
    JSON.stringify(SESSIONS),
    JSON.stringify({ sub: "demo-user", sid: "sid-demo", scope: "", amr: ["pwd"], auth_time: now() }),
  );
  await page.evaluate(
    ({ accessToken, authBase }) => window.dispatchEvent(new CustomEvent("portcullis:access-token", { detail: { accessToken, authBase } })),
    { accessToken: token, authBase: `${gw.url}/auth` },
  );
  await page.waitForSelector("#mfa-panel:not([hidden])");

  await page.click("#totp-enroll");
  await page.waitForSelector("#totp-qr img");
  // The SVG rendered: an image with its natural size, no CSP violation.
  await page.waitForFunction(() => document.querySelector("#totp-qr img").naturalWidth > 0);
  const secret = (await page.textContent("#totp-secret")).trim();
  assert.match(secret, /^[A-Z2-7]{32}$/);

  await freshStep();
  await page.fill("#totp-confirm-code", await generate({ secret, epoch: now() - 30 }));
  await page.click("#totp-confirm");
  await page.waitForFunction(() => document.querySelectorAll("#recovery-codes li").length === 10);
  assert.match(await page.textContent("#mfa-status"), /TOTP enrolled/);
  assert.equal((await page.textContent("#totp-secret")).trim(), "", "the secret is no longer shown");

  await page.evaluate(() => {
    window.addEventListener("portcullis:stepped-up", (e) => { window.steppedUp = e.detail.accessToken; });
  });
  await page.fill("#totp-step-up-code", await generate({ secret, epoch: now() }));
  await page.click("#totp-step-up");
  await page.waitForFunction(() => document.querySelector("#step-up-claims").textContent.includes('"otp"'));
  const claims = JSON.parse(await page.textContent("#step-up-claims"));
  assert.deepEqual(claims.amr, ["pwd", "otp"]);
  assert.equal(claims.sid, "sid-demo");
  assert.equal(claims.acr, "urn:portcullis:acr:mfa");

  // The stepped-up token (what the page now holds) passes the mfa route; the first one did not.
  const stepped = await page.evaluate(() => window.steppedUp);
  const refused = await gw.fetch("/api/transfer", { method: "POST", headers: { authorization: `Bearer ${token}` } });
  assert.equal(refused.status, 401);
  const passed = await gw.fetch("/api/transfer", { method: "POST", headers: { authorization: `Bearer ${stepped}` } });
  assert.equal(passed.status, 200, await passed.clone().text());
  assert.deepEqual(cspViolations, []);
  await context.close();
});
