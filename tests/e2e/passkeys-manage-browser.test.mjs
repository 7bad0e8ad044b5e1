// Listing and deleting passkeys from a real browser: headless Chromium (Debian's, driven by
// playwright-core) with a CDP virtual authenticator runs the demo SPA (www/demo) against the real
// gateway in workerd, as passkeys-browser.test.mjs does. The page is another origin than the
// gateway (an app origin), so the GET and the DELETE go through the browser's CORS preflight for
// their own method, with credentials. Registering, logging in with the passkey (a fresh
// auth_time), listing it, deleting it (204), and the deleted passkey then refused at login.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "../support/chromium.mjs";
import { startGateway, startEchoOrigin, startIssuer, baseConfig } from "./harness.mjs";
import { startLoginOrigin, USERS } from "../support/login-origin.mjs";
import { startDemoServer } from "../../www/demo/server.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
if (!existsSync(path.join(ROOT, "www", "pkg", "portcullis_pkce_bg.wasm"))) {
  throw new Error("www/pkg is missing: run `make www` (www/build.sh) first");
}

const secret = randomBytes(32).toString("hex");
let origin, issuer, login, spa, gw, browser;
const local = (url) => url.replace("127.0.0.1", "localhost");

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["RS256"] });
  login = await startLoginOrigin({ secret });
  spa = await startDemoServer();
  const spaOrigin = local(spa.origin);
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const keys = JSON.stringify({ active: "gw-1", keys: [{ ...privateKey.export({ format: "jwk" }), kid: "gw-1", alg: "ES256" }] });
  const config = baseConfig({
    origin: origin.url,
    issuer,
    extra: {
      cors: { allowed_origins: [spaOrigin] },
      sessions: {
        enabled: true,
        issuer: "http://127.0.0.1:9/portcullis",
        audiences: ["https://api.portcullis.test"],
        app_origins: [spaOrigin],
        login: { url: login.loginUrl },
      },
      passkeys: { enabled: true, rp_id: "localhost", allowed_origins: [spaOrigin], login_scope: "read:echo" },
    },
  });
  gw = await startGateway(config, { extraBindings: { PORTCULLIS_SIGNING_KEYS: keys, PORTCULLIS_LOGIN_SECRET: secret } });
  spa.config = {
    issuer: issuer.url,
    clientId: "demo",
    scope: "openid",
    resource: "https://api.portcullis.test",
    apiUrl: `${local(gw.url)}/api/echo`,
  };
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await gw?.dispose();
  await spa?.close();
  await origin?.close();
  await issuer?.close();
  await login?.close();
});

const statusIs = (page, pattern) =>
  page.waitForFunction((p) => new RegExp(p).test(document.getElementById("passkey-status").textContent), pattern.source, { timeout: 15000 });

test("the demo lists the user's passkey and deletes it; the deleted passkey no longer logs in", async () => {
  const context = await browser.newContext();
  await context.route((url) => !["localhost", "127.0.0.1"].includes(url.hostname), (route) => route.abort("blockedbyclient"));
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  await page.goto(`${local(spa.origin)}/`);
  await page.waitForSelector("#passkey-panel:not([hidden])");

  // Not signed in yet: nothing to list.
  await page.click("#passkey-list");
  await statusIs(page, /^list: log in first$/);

  await page.fill("#username", "alice");
  await page.fill("#password", USERS.alice.password);
  await page.click("#password-login");
  await page.waitForFunction(() => /login: HTTP 200/.test(document.getElementById("password-status").textContent));
  await page.click("#passkey-register");
  await statusIs(page, /^registered: HTTP 201/);
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  assert.equal(credentials.length, 1);
  const id = Buffer.from(credentials[0].credentialId, "base64").toString("base64url");

  // A passkey login: a fresh auth_time, so the delete is allowed.
  await page.click("#passkey-login");
  await statusIs(page, /^passkey login: HTTP 200/);
  await page.click("#passkey-list");
  await statusIs(page, /^listed: HTTP 200, 1 passkey\(s\)$/);
  const items = await page.$$eval("#passkey-items li", (lis) => lis.map((li) => [li.dataset.credentialId, li.textContent]));
  assert.equal(items.length, 1);
  assert.equal(items[0][0], id);
  assert.match(items[0][1], new RegExp(`^${id} \\(ES256, (synced|device-bound), last used \\d{4}-\\d\\d-\\d\\dT`));

  await page.click("#passkey-items li button");
  await statusIs(page, new RegExp(`^deleted: HTTP 204, passkey ${id}$`));
  assert.equal(await page.$$eval("#passkey-items li", (lis) => lis.length), 0);

  // The authenticator still has the credential; the gateway no longer knows it.
  await page.click("#passkey-login");
  await statusIs(page, /^passkey login: HTTP 401 passkey_credential_unknown$/);
  await context.close();
});
