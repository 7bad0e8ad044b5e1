// The demo SPA's "log in with a password" in a real browser (issue 11): headless Chromium (Debian's,
// driven by playwright-core) on the demo page (www/demo) logs in through the gateway's
// POST /auth/login (the real wasm in workerd, tests/e2e/harness.mjs) against the demo login endpoint
// (tests/support/login-origin.mjs), so the browser itself stores the HttpOnly refresh cookie, sends
// it cross-origin to /auth/refresh (CORS with credentials for the app origin), calls the API with
// the access token and logs out. Every browser request outside 127.0.0.1 is aborted.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "../support/chromium.mjs";
import { startOidcProvider } from "./oidc-provider.mjs";
import { startGateway, startEchoOrigin, baseConfig } from "./harness.mjs";
import { startDemoServer } from "../../www/demo/server.mjs";
import { startLoginOrigin, USERS } from "../support/login-origin.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const COOKIE = "__Host-portcullis_refresh";

if (!existsSync(path.join(ROOT, "www", "pkg", "portcullis_pkce_bg.wasm"))) {
  throw new Error("www/pkg is missing: run `make www` (www/build.sh) first");
}

let browser, spa, op, origin, login, gateway;

before(async () => {
  spa = await startDemoServer();
  op = await startOidcProvider({ redirectUris: [spa.redirectUri] });
  origin = await startEchoOrigin();
  const secret = randomBytes(32).toString("hex");
  login = await startLoginOrigin({ secret });
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const keys = JSON.stringify({ active: "k1", keys: [{ ...privateKey.export({ format: "jwk" }), kid: "k1", alg: "ES256" }] });
  const config = baseConfig({
    origin: origin.url,
    issuer: { url: op.issuer, jwksUri: op.jwksUri },
    audiences: [op.audience],
    algorithms: ["RS256"],
    extra: {
      cors: { allowed_origins: [spa.origin] },
      sessions: {
        enabled: true,
        issuer: "http://127.0.0.1:9/demo",
        audiences: [op.audience],
        app_origins: [spa.origin],
        login: { url: login.loginUrl },
      },
    },
  });
  gateway = await startGateway(JSON.stringify(config), { extraBindings: { PORTCULLIS_SIGNING_KEYS: keys, PORTCULLIS_LOGIN_SECRET: secret } });
  spa.config = { issuer: op.issuer, clientId: op.clientId, scope: `openid ${op.scope}`, resource: op.audience, apiUrl: `${gateway.url}/api/echo` };
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await gateway?.dispose();
  await login?.close();
  await origin?.close();
  await op?.close();
  await spa?.close();
});

const status = (page) => page.textContent("#password-status").then((t) => t.trim());

test("the demo logs in with a password, refreshes with the HttpOnly cookie, calls the API and logs out", async () => {
  const context = await browser.newContext();
  await context.route((url) => url.hostname !== "127.0.0.1", (route) => route.abort("blockedbyclient"));
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(spa.url);
  await page.waitForSelector("#password-panel:not([hidden])");
  await page.fill("#username", "alice");
  await page.fill("#password", USERS.alice.password);
  await page.click("#password-login");
  await page.waitForFunction(() => document.getElementById("app").dataset.session === "signed-in");
  assert.match(await status(page), /^login: HTTP 200, session [A-Za-z0-9_-]{22}$/);
  const sid = (await status(page)).split(" ").pop();

  // The browser holds the refresh cookie for the gateway, HttpOnly: the page cannot read it.
  const cookies = await context.cookies(gateway.url);
  const refresh = cookies.find((c) => c.name === COOKIE);
  assert.ok(refresh, `the refresh cookie is stored: ${JSON.stringify(cookies.map((c) => c.name))}`);
  assert.deepEqual([refresh.httpOnly, refresh.secure, refresh.sameSite, refresh.path], [true, true, "Strict", "/"]);
  assert.equal(await page.evaluate(() => document.cookie.includes("portcullis")), false);

  // Refresh: the cookie travels cross-origin (credentials), and rotates.
  await page.click("#password-refresh");
  await page.waitForFunction(() => document.getElementById("password-status").textContent.startsWith("refresh:"));
  assert.equal(await status(page), `refresh: HTTP 200, session ${sid}`);
  const rotated = (await context.cookies(gateway.url)).find((c) => c.name === COOKIE);
  assert.notEqual(rotated.value, refresh.value);

  await page.click("#password-api");
  await page.waitForFunction(() => document.getElementById("password-status").textContent.startsWith("GET"));
  assert.equal(await status(page), "GET /api/echo: HTTP 200");

  await page.click("#password-logout");
  await page.waitForFunction(() => document.getElementById("password-status").textContent.startsWith("logout:"));
  assert.equal(await status(page), "logout: HTTP 204");
  assert.equal((await context.cookies(gateway.url)).find((c) => c.name === COOKIE), undefined, "the cookie is cleared");
  await page.click("#password-refresh");
  await page.waitForFunction(() => document.getElementById("password-status").textContent.startsWith("refresh:"));
  assert.equal(await status(page), "refresh: HTTP 401 refresh_token_missing");
  assert.deepEqual(errors, []);
  await context.close();
});
