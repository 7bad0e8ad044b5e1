// Passkeys in a real browser: headless Chromium (Debian's, driven by playwright-core) with a CDP
// virtual authenticator (WebAuthn.addVirtualAuthenticator: ctap2, internal transport, resident
// keys, user verification) runs the demo SPA (www/demo) against the real gateway in workerd: a
// password login, registering a passkey, logging in with it, then a `mfa = "required"` route.
// The same page served from another origin (allowed for sessions, not for passkeys) is refused.
// Listing the user's passkeys and deleting one, through the browser's CORS preflights.
// The RP ID is `localhost` (an IP address cannot be one), so the page and the gateway are reached
// as http://localhost:<port>; every other browser request is aborted.

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
let origin, issuer, login, spa, other, gw, browser;
const local = (url) => url.replace("127.0.0.1", "localhost");

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["RS256"] });
  login = await startLoginOrigin({ secret });
  spa = await startDemoServer();
  other = await startDemoServer();
  const spaOrigin = local(spa.origin);
  const otherOrigin = local(other.origin);
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const keys = JSON.stringify({ active: "gw-1", keys: [{ ...privateKey.export({ format: "jwk" }), kid: "gw-1", alg: "ES256" }] });
  const config = baseConfig({
    origin: origin.url,
    issuer,
    extra: {
      cors: { allowed_origins: [spaOrigin, otherOrigin] },
      sessions: {
        enabled: true,
        issuer: "http://127.0.0.1:9/portcullis",
        audiences: ["https://api.portcullis.test"],
        app_origins: [spaOrigin, otherOrigin],
        login: { url: login.loginUrl },
      },
      passkeys: { enabled: true, rp_id: "localhost", allowed_origins: [spaOrigin], login_scope: "read:echo" },
    },
  });
  config.routes.unshift({ name: "mfa", methods: ["GET"], path: "/mfa/*", auth: ["jwt"], mfa: "required" });
  gw = await startGateway(config, { extraBindings: { PORTCULLIS_SIGNING_KEYS: keys, PORTCULLIS_LOGIN_SECRET: secret } });
  const pageConfig = {
    issuer: issuer.url,
    clientId: "demo",
    scope: "openid",
    resource: "https://api.portcullis.test",
    apiUrl: `${local(gw.url)}/api/echo`,
    mfaApiUrl: `${local(gw.url)}/mfa/echo`,
  };
  spa.config = pageConfig;
  other.config = pageConfig;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await gw?.dispose();
  await spa?.close();
  await other?.close();
  await origin?.close();
  await issuer?.close();
  await login?.close();
});

/** A page at `url` with a virtual platform authenticator, reaching localhost/127.0.0.1 only. */
async function pageWithAuthenticator(context, url) {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  await page.goto(url);
  await page.waitForSelector("#passkey-panel:not([hidden])");
  return { page, cdp, authenticatorId };
}

const statusIs = (page, pattern) =>
  page.waitForFunction((p) => new RegExp(p).test(document.getElementById("passkey-status").textContent), pattern.source, { timeout: 15000 });

/** A password session for `user` (the page keeps its refresh cookie), then a passkey registered. */
async function registerAfterPasswordLogin(page, user) {
  await page.fill("#username", user);
  await page.fill("#password", USERS[user].password);
  await page.click("#password-login");
  await page.waitForFunction(() => /login: HTTP 200/.test(document.getElementById("password-status").textContent));
  await page.click("#passkey-register");
  await statusIs(page, /^registered: HTTP 201/);
}

test("the demo registers a passkey, logs in with it and passes an mfa route; another origin is refused", async () => {
  const context = await browser.newContext();
  await context.route((url) => !["localhost", "127.0.0.1"].includes(url.hostname), (route) => route.abort("blockedbyclient"));
  const { page, cdp, authenticatorId } = await pageWithAuthenticator(context, `${local(spa.origin)}/`);

  // A password session (the page keeps its refresh cookie), then a passkey for alice.
  await registerAfterPasswordLogin(page, "alice");
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  assert.equal(credentials.length, 1);
  assert.equal(credentials[0].isResidentCredential, true);
  assert.equal(credentials[0].rpId, "localhost");

  // Not yet signed in with the passkey: the mfa route refuses.
  await page.click("#passkey-api");
  await statusIs(page, /^GET \/mfa\/echo: HTTP 401/);

  // Passkey login: a new session whose token carries a passkey factor and user verification.
  await page.click("#passkey-login");
  await statusIs(page, /^passkey login: HTTP 200/);
  const claims = JSON.parse(await page.textContent("#passkey-claims"));
  assert.equal(claims.sub, "alice");
  assert.ok(["hwk", "swk"].includes(claims.amr[0]), JSON.stringify(claims.amr));
  assert.equal(claims.amr[1], "user");
  assert.equal(claims.acr, "urn:portcullis:acr:mfa");
  await page.click("#passkey-api");
  await statusIs(page, /^GET \/mfa\/echo: HTTP 200/);

  // Step-up with the passkey on the passkey session: same sid.
  await page.click("#passkey-step-up");
  await statusIs(page, /^step up: HTTP 200/);
  assert.equal(JSON.parse(await page.textContent("#passkey-claims")).sid, claims.sid);

  // The same authenticator on another origin (allowed for sessions, not for passkeys): the
  // browser runs the ceremony, the gateway refuses it.
  const second = await context.newPage();
  const cdp2 = await context.newCDPSession(second);
  await cdp2.send("WebAuthn.enable");
  const { authenticatorId: id2 } = await cdp2.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  await cdp2.send("WebAuthn.addCredential", { authenticatorId: id2, credential: credentials[0] });
  await second.goto(`${local(other.origin)}/`);
  await second.waitForSelector("#passkey-panel:not([hidden])");
  await second.click("#passkey-login");
  await statusIs(second, /^passkey login: HTTP 403 passkey_origin_refused$/);
  await context.close();
});

// Listing and deleting from the demo: the page is another origin than the gateway (an app origin),
// so the GET and the DELETE go through the browser's CORS preflight for their own method, with
// credentials. A passkey login gives the fresh auth_time a delete needs.
test("the demo lists the user's passkey and deletes it; the deleted passkey no longer logs in", async () => {
  const context = await browser.newContext();
  await context.route((url) => !["localhost", "127.0.0.1"].includes(url.hostname), (route) => route.abort("blockedbyclient"));
  const { page, cdp, authenticatorId } = await pageWithAuthenticator(context, `${local(spa.origin)}/`);

  // Not signed in yet: nothing to list.
  await page.click("#passkey-list");
  await statusIs(page, /^list: log in first$/);

  // bob: the test above gave alice a passkey of her own.
  await registerAfterPasswordLogin(page, "bob");
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
