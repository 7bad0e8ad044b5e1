// Issue 14 in a real browser: the packaged PKCE helper bundled by Vite, webpack, esbuild and
// Rollup, each app run in headless Chromium under exactly the documented Content-Security-Policy
// (script-src 'self' 'wasm-unsafe-eval'; connect-src the authorization server only) through a
// whole login against oidc-provider (and the /separate entry with Vite and webpack, connect-src
// adding 'self' for its .wasm); and exchangeCode() refusing a forged, an expired and a
// wrong-nonce ID token that reach the browser in the provider's real token response.

import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { launchChromium } from "../support/chromium.mjs";
import { SignJWT, importJWK, generateKeyPair, decodeJwt, decodeProtectedHeader } from "jose";
import { startOidcProvider } from "./oidc-provider.mjs";
import { buildApps, serveApps, filesUnder, BUNDLERS, SEPARATE } from "../support/www-apps.mjs";


let apps;
let server;
let op;
let browser;

before(async () => {
  apps = await buildApps();
  server = await serveApps(apps.dist);
  op = await startOidcProvider({ redirectUris: [...BUNDLERS, ...SEPARATE].map((b) => server.url(b)) });
  server.configure({ issuer: op.issuer, clientId: op.clientId }, [op.issuer]);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await op?.close();
  await server?.close();
  apps?.close();
});

async function freshPage() {
  const context = await browser.newContext();
  await context.route((url) => url.hostname !== "127.0.0.1", (route) => route.abort("blockedbyclient"));
  const page = await context.newPage();
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  return { context, page, requests, pageErrors };
}

async function signInAndConsent(page) {
  await page.waitForSelector('input[name="login"]');
  await page.fill('input[name="login"]', "alice");
  await page.fill('input[name="password"]', "any");
  await page.click('button[type="submit"]');
  await page.waitForSelector('input[name="prompt"][value="consent"]', { state: "attached" });
  await page.click('button[type="submit"]');
}

const outcome = (page) =>
  page.evaluate(() => ({ ...document.getElementById("out").dataset }));

/** Loads the app, logs in, and returns what the app reported once it settled. */
async function login(page, bundler) {
  await page.goto(server.url(bundler));
  await page.waitForSelector('#out[data-status="ready"], #out[data-status="error"]', { state: "attached" });
  const before = await outcome(page);
  assert.equal(before.status, "ready", `the ${bundler} app did not start: ${JSON.stringify(before)}`);
  await page.click("#login");
  await signInAndConsent(page);
  await page.waitForSelector('#out[data-status="signed-in"], #out[data-status="error"]', { state: "attached" });
  return { before, after: await outcome(page) };
}

describe("every bundler, under the documented CSP", () => {
  for (const bundler of BUNDLERS) {
    test(`${bundler}: the app imports @portcullis/pkce, signs in and validates the ID token`, async () => {
      // The embedded entry needs no asset: no bundler may have emitted (or needed) a .wasm file.
      assert.deepEqual(filesUnder(apps.dist(bundler)).filter((f) => f.endsWith(".wasm")), []);
      const { context, page, requests, pageErrors } = await freshPage();
      try {
        const { before, after } = await login(page, bundler);
        assert.equal(before.early, "not_initialized", "a call before init() is a typed PkceError");
        assert.equal(after.status, "signed-in", JSON.stringify(after));
        assert.equal(after.sub, "alice");
        assert.equal(after.nonce, "checked");
        assert.equal(after.violations, undefined, "no CSP violation");
        assert.deepEqual(pageErrors, []);
        // The only requests: the app's own files and the provider (whose login page also asks
        // for a web font, aborted: Chromium reaches 127.0.0.1 only).
        for (const url of requests.filter((u) => !u.startsWith("https://fonts.googleapis.com/"))) {
          assert.ok(url.startsWith(server.origin) || url.startsWith(op.issuer), `unexpected request ${url}`);
        }
        assert.equal(requests.filter((u) => u.endsWith(".wasm")).length, 0, "no .wasm fetched");
      } finally {
        await context.close();
      }
    });
  }

  for (const app of SEPARATE) {
    test(`${app}: the /separate entry — the bundler emits the .wasm, the app fetches it ('self' in connect-src) and signs in`, async () => {
      const emitted = filesUnder(apps.dist(app)).filter((f) => f.endsWith(".wasm"));
      assert.equal(emitted.length, 1, `one .wasm emitted: ${emitted}`);
      const { context, page, requests, pageErrors } = await freshPage();
      try {
        const { before, after } = await login(page, app);
        assert.equal(before.early, "not_initialized");
        assert.equal(after.status, "signed-in", JSON.stringify(after));
        assert.equal(after.sub, "alice");
        assert.equal(after.violations, undefined, "no CSP violation");
        assert.deepEqual(pageErrors, []);
        assert.equal(requests.filter((u) => u.endsWith(".wasm")).length, 2, "the .wasm fetched once per page load (login page, callback page)");
      } finally {
        await context.close();
      }
    });
  }

  test("without 'wasm-unsafe-eval' init() fails with a typed wasm_unavailable", async () => {
    const { context, page } = await freshPage();
    try {
      // The same app, its CSP header rewritten to drop 'wasm-unsafe-eval'.
      await page.route(`${server.url("esbuild")}`, async (route) => {
        const res = await route.fetch();
        const headers = { ...res.headers() };
        headers["content-security-policy"] = headers["content-security-policy"].replace(" 'wasm-unsafe-eval'", "");
        await route.fulfill({ response: res, headers });
      });
      await page.goto(server.url("esbuild"));
      await page.waitForSelector('#out[data-status="error"], #out[data-status="ready"]', { state: "attached" });
      const seen = await outcome(page);
      assert.equal(seen.status, "error");
      assert.equal(seen.error, "wasm_unavailable");
      assert.equal(seen.early, "not_initialized");
    } finally {
      await context.close();
    }
  });
});

describe("exchangeCode refuses a bad ID token in the provider's real token response", () => {
  /** Logs in with the esbuild app while `rewrite(idTokenClaims, header)` re-signs the ID token. */
  async function loginWithIdToken(sign) {
    const { context, page, requests } = await freshPage();
    const rewritten = [];
    await page.route(op.tokenEndpoint, async (route) => {
      const res = await route.fetch();
      const body = await res.json();
      if (res.status() === 200 && body.id_token) {
        body.id_token = await sign(decodeJwt(body.id_token), decodeProtectedHeader(body.id_token));
        rewritten.push(body.id_token);
      }
      await route.fulfill({ response: res, json: body });
    });
    try {
      const { after } = await login(page, "esbuild");
      assert.equal(rewritten.length, 1, "the provider's token response was rewritten once");
      return { after, requests };
    } finally {
      await context.close();
    }
  }

  const opKey = async () => importJWK(op.signingKey, "RS256");
  const resign = (claims, header, key) => new SignJWT(claims).setProtectedHeader(header).sign(key);

  test("the provider's own token, re-signed unchanged, is accepted (the rewriting itself is harmless)", async () => {
    const { after } = await loginWithIdToken(async (claims, header) => resign(claims, header, await opKey()));
    assert.equal(after.status, "signed-in", JSON.stringify(after));
  });

  test("forged: the same claims and kid signed by another key → id_token_signature_invalid", async () => {
    const { privateKey } = await generateKeyPair("RS256");
    const { after } = await loginWithIdToken((claims, header) => resign(claims, header, privateKey));
    assert.equal(after.status, "error");
    assert.equal(after.error, "id_token_signature_invalid");
  });

  test("expired: signed by the provider, exp an hour ago → id_token_expired", async () => {
    const now = Math.floor(Date.now() / 1000);
    const { after } = await loginWithIdToken(async (claims, header) =>
      resign({ ...claims, iat: now - 7200, exp: now - 3600 }, header, await opKey()),
    );
    assert.equal(after.status, "error");
    assert.equal(after.error, "id_token_expired");
  });

  test("wrong nonce: signed by the provider for another login → id_token_nonce_mismatch", async () => {
    const { after } = await loginWithIdToken(async (claims, header) =>
      resign({ ...claims, nonce: "another-login-nonce-0123456789abcdefghijkl" }, header, await opKey()),
    );
    assert.equal(after.status, "error");
    assert.equal(after.error, "id_token_nonce_mismatch");
  });
});
