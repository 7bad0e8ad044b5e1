// The PKCE helper proven in a real browser against a real OpenID provider.
//
// Headless Chromium (Debian's, driven by playwright-core) runs the demo SPA (www/demo, with the
// built www/pkg) through the whole authorization code flow with PKCE against oidc-provider on
// 127.0.0.1 (PKCE required, JWT access tokens via resource indicators), then calls the API through
// the Portcullis gateway (the real wasm in workerd, tests/e2e/harness.mjs) with the access token.
// Every browser request outside 127.0.0.1 is aborted.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "../support/chromium.mjs";
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from "jose";
import { startOidcProvider } from "./oidc-provider.mjs";
import { startDemoServer } from "../../www/demo/server.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const STORAGE_KEY = "portcullis.pkce.transaction";
const USER = "alice";
const sha256url = (s) => createHash("sha256").update(s, "ascii").digest("base64url");

if (!existsSync(path.join(ROOT, "www", "pkg", "portcullis_pkce_bg.wasm"))) {
  throw new Error("www/pkg is missing: run `make www` (www/build.sh) first");
}

/**
 * The gateway step, adapted to the harness: the real worker in workerd in front of an echo origin,
 * trusting the provider's issuer and JWKS for the API audience, answering CORS for the SPA's
 * origin. A missing harness or worker build fails the run: the gateway step is part of the test.
 */
async function startGatewayFor({ issuer, jwksUri, audience, allowedOrigin }) {
  const harness = await import("./harness.mjs");
  const origin = await harness.startEchoOrigin();
  const gateway = await harness.startGateway(
    harness.baseConfig({
      origin: origin.url,
      issuer: { url: issuer, jwksUri },
      audiences: [audience],
      algorithms: ["RS256"],
      extra: { cors: { allowed_origins: [allowedOrigin] } },
    }),
  );
  return {
    url: gateway.url,
    fetch: gateway.fetch,
    originRequests: origin.requests,
    stop: async () => {
      await gateway.dispose();
      await origin.close();
    },
  };
}

let browser;
let op;
let spa;
let gateway;
let jwks;

before(async () => {
  spa = await startDemoServer();
  const manualCallback = `${spa.origin}/manual-callback`;
  op = await startOidcProvider({ redirectUris: [spa.redirectUri, manualCallback] });
  gateway = await startGatewayFor({ issuer: op.issuer, jwksUri: op.jwksUri, audience: op.audience, allowedOrigin: spa.origin });
  spa.config = {
    issuer: op.issuer,
    clientId: op.clientId,
    scope: `openid ${op.scope}`,
    resource: op.audience,
    apiUrl: `${gateway.url}/api/echo`,
  };
  jwks = createRemoteJWKSet(new URL(op.jwksUri));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
  await op?.close();
  await spa?.close();
});

/** A fresh browser profile (cookies, sessionStorage) that can reach 127.0.0.1 only. */
async function freshPage() {
  const context = await browser.newContext();
  await context.route(
    (url) => url.hostname !== "127.0.0.1",
    (route) => route.abort("blockedbyclient"),
  );
  const page = await context.newPage();
  const requests = [];
  page.on("request", (r) => requests.push({ url: r.url(), method: r.method(), body: r.postData() }));
  const consoleErrors = [];
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  return { context, page, requests, consoleErrors };
}

/** oidc-provider's development login and consent pages. */
async function signInAndConsent(page, { reloadLoginPage = false } = {}) {
  await page.waitForSelector('input[name="login"]');
  if (reloadLoginPage) {
    await page.reload();
    await page.waitForSelector('input[name="login"]');
  }
  await page.fill('input[name="login"]', USER);
  await page.fill('input[name="password"]', "correct horse battery staple");
  await page.click('button[type="submit"]');
  await page.waitForSelector('input[name="prompt"][value="consent"]', { state: "attached" });
  await page.click('button[type="submit"]');
}

async function storageOf(page) {
  return page.evaluate((key) => ({ length: sessionStorage.length, item: sessionStorage.getItem(key) }), STORAGE_KEY);
}

const text = (page, selector) => page.textContent(selector).then((t) => t.trim());

test("the demo signs in with PKCE against oidc-provider and calls the API through the gateway", async (t) => {
  const { context, page, requests, consoleErrors } = await freshPage();
  try {
    await page.goto(spa.url);
    await page.waitForSelector('main[data-status="ready"]');
    assert.equal(await text(page, "#issuer"), op.issuer);

    const tokenResponse = page.waitForResponse((r) => r.url() === op.tokenEndpoint && r.request().method() === "POST");
    const apiResponse = gateway && page.waitForResponse((r) => r.url() === `${gateway.url}/api/echo`);
    await page.click("#login");
    // The pending login lives in sessionStorage only, so reloading the provider's page is harmless.
    await signInAndConsent(page, { reloadLoginPage: true });
    const tokenRes = await tokenResponse;
    // Wait for the page to settle, then say why if it settled anywhere else than expected.
    const settled = ["api-ok", "api-error", "error"];
    await page.waitForSelector(settled.map((s) => `main[data-status="${s}"]`).join(", "));
    const status = await page.getAttribute("main", "data-status");
    const shown = await page.evaluate(() => document.querySelector("main").innerText);
    assert.equal(status, "api-ok", `the demo page ended with:\n${shown}`);

    // The authorization request the helper built.
    const authRequests = requests.filter((r) => r.url.startsWith(`${op.authorizationEndpoint}?`));
    assert.equal(authRequests.length, 1, "one authorization request");
    const auth = new URL(authRequests[0].url).searchParams;
    assert.equal(auth.get("response_type"), "code");
    assert.equal(auth.get("client_id"), op.clientId);
    assert.equal(auth.get("redirect_uri"), spa.redirectUri);
    assert.equal(auth.get("scope"), "openid read:echo");
    assert.equal(auth.get("resource"), op.audience);
    assert.equal(auth.get("code_challenge_method"), "S256");
    assert.match(auth.get("code_challenge"), /^[A-Za-z0-9_-]{43}$/);
    assert.match(auth.get("state"), /^[A-Za-z0-9_-]{43}$/);
    assert.match(auth.get("nonce"), /^[A-Za-z0-9_-]{43}$/);
    assert.equal(auth.get("code_verifier"), null, "the verifier never travels in the front channel");

    // The code exchange: the verifier the challenge was made from, and the resource.
    const tokenRequests = requests.filter((r) => r.url === op.tokenEndpoint && r.method === "POST");
    assert.equal(tokenRequests.length, 1, "one token request");
    const form = new URLSearchParams(tokenRequests[0].body);
    assert.equal(form.get("grant_type"), "authorization_code");
    assert.equal(form.get("client_id"), op.clientId);
    assert.equal(form.get("redirect_uri"), spa.redirectUri);
    assert.equal(form.get("resource"), op.audience);
    assert.match(form.get("code_verifier"), /^[A-Za-z0-9_-]{43}$/);
    assert.equal(sha256url(form.get("code_verifier")), auth.get("code_challenge"));

    // The tokens: a JWT access token for the API, and an ID token carrying our nonce.
    assert.equal(tokenRes.status(), 200);
    const tokens = await tokenRes.json();
    assert.equal(tokens.token_type, "Bearer");
    assert.equal(decodeProtectedHeader(tokens.access_token).typ, "at+jwt");
    const { payload: at } = await jwtVerify(tokens.access_token, jwks, {
      issuer: op.issuer,
      audience: op.audience,
      algorithms: ["RS256"],
      typ: "at+jwt",
    });
    assert.equal(at.sub, USER);
    assert.equal(at.scope, "read:echo");
    assert.equal(at.client_id, op.clientId);
    const { payload: id } = await jwtVerify(tokens.id_token, jwks, { issuer: op.issuer, audience: op.clientId });
    assert.equal(id.nonce, auth.get("nonce"));
    assert.equal(id.sub, USER);
    assert.equal(JSON.parse(await text(page, "#claims")).sub, USER);

    // After use: no transaction in storage, no code or state left in the address bar.
    assert.deepEqual(await storageOf(page), { length: 0, item: null });
    assert.equal(page.url(), spa.url);
    assert.deepEqual(consoleErrors, []);

    await t.test("the gateway verifies the token through the provider's JWKS; the origin sees x-user-id", async (t) => {
      // The page called the gateway itself, cross-origin, with the access token.
      const res = await apiResponse;
      assert.equal(res.status(), 200);
      assert.equal(res.headers()["access-control-allow-origin"], spa.origin);
      assert.equal(res.request().headers().authorization, `Bearer ${tokens.access_token}`);
      // What the page showed, from the gateway's answer.
      assert.equal(await text(page, "#api-status"), "200");
      assert.equal(await text(page, "#api-user"), USER);
      const shown = JSON.parse(await text(page, "#api-body"));
      assert.equal(shown.url, "/api/echo");
      // What the origin received.
      const seen = gateway.originRequests.filter((r) => r.url === "/api/echo");
      assert.equal(seen.length, 1, "the page's call reached the origin once");
      assert.equal(seen[0].headers["x-user-id"], USER);
      // The same gateway refuses the call without the token, and accepts it again with it.
      const anonymous = await gateway.fetch("/api/echo");
      assert.equal(anonymous.status, 401);
      await anonymous.arrayBuffer();
      const direct = await gateway.fetch("/api/echo", { headers: { authorization: `Bearer ${tokens.access_token}` } });
      assert.equal(direct.status, 200);
      assert.equal((await direct.json()).headers["x-user-id"], USER);
    });
  } finally {
    await context.close();
  }
});

test("a tampered state in the callback is refused by the helper; no code exchange happens", async () => {
  const { context, page, requests } = await freshPage();
  let original = null;
  let tampered = null;
  // The provider's real authorization response (a valid code), with one character of its state
  // changed on the way to the browser.
  op.hooks.rewriteRedirect = (location) => {
    if (original || !location.startsWith(`${spa.redirectUri}?`)) return null;
    const u = new URL(location);
    const state = u.searchParams.get("state");
    if (!u.searchParams.has("code") || !state) return null;
    original = location;
    u.searchParams.set("state", state.slice(0, -1) + (state.endsWith("A") ? "B" : "A"));
    tampered = u.href;
    return tampered;
  };
  try {
    await page.goto(spa.url);
    await page.waitForSelector('main[data-status="ready"]');
    await page.click("#login");
    await signInAndConsent(page);
    await page.waitForSelector('main[data-status="error"], main[data-status="signed-in"], main[data-status="api-ok"]');

    assert.ok(tampered, "the authorization response was rewritten");
    assert.ok(requests.some((r) => r.url === tampered), "the browser arrived with the tampered state");
    assert.equal(await text(page, "#error-code"), "state_mismatch");
    assert.equal(await text(page, "#error-message"), "callback state does not match the pending authorization request");
    assert.equal(requests.filter((r) => r.url === op.tokenEndpoint).length, 0, "no token request was made");
    assert.deepEqual(await storageOf(page), { length: 0, item: null });
    assert.equal(page.url(), spa.url, "code and state are gone from the address bar");
  } finally {
    op.hooks.rewriteRedirect = null;
    await context.close();
  }
});

test("the provider refuses a wrong or missing code_verifier and accepts the one the challenge came from", async () => {
  const { context, page } = await freshPage();
  const manual = `${spa.origin}/manual-callback`;
  try {
    // A bare page on the SPA's origin that drives the helper directly.
    await page.route(`${manual}**`, (route) =>
      route.fulfill({ status: 200, contentType: "text/html", body: "<!doctype html><title>manual</title>" }),
    );
    await page.goto(manual);
    const start = await page.evaluate(
      async ({ options }) => {
        const m = await import("/pkg/portcullis_pkce.js");
        await m.default();
        return m.beginAuthorization(options);
      },
      {
        options: {
          issuer: op.issuer,
          authorizationEndpoint: op.authorizationEndpoint,
          tokenEndpoint: op.tokenEndpoint,
          clientId: op.clientId,
          redirectUri: manual,
          scope: "openid read:echo",
          resource: op.audience,
          requireIss: true,
        },
      },
    );
    // The transaction survives a reload of the page that started it.
    await page.reload();
    assert.equal(
      await page.evaluate(async () => {
        const m = await import("/pkg/portcullis_pkce.js");
        await m.default();
        return m.hasPendingAuthorization();
      }),
      true,
    );

    await page.goto(start.url);
    await signInAndConsent(page);
    await page.waitForURL((u) => u.href.startsWith(`${manual}?`) && u.searchParams.has("code"));
    assert.equal(new URL(page.url()).searchParams.get("iss"), op.issuer, "RFC 9207 iss is in the response");

    const outcome = await page.evaluate(async (key) => {
      const m = await import("/pkg/portcullis_pkce.js");
      await m.default();
      const done = m.completeAuthorization(location.href);
      const storedAfterComplete = sessionStorage.getItem(key);
      const post = async (body) => {
        const res = await fetch(done.tokenRequest.url, { ...done.tokenRequest, body });
        return { status: res.status, json: await res.json() };
      };
      const form = new URLSearchParams(done.tokenRequest.body);
      const wrongVerifier = m.createPkcePair().codeVerifier;
      const wrong = new URLSearchParams(form);
      wrong.set("code_verifier", wrongVerifier);
      const missing = new URLSearchParams(form);
      missing.delete("code_verifier");
      return {
        challengeOfVerifier: m.codeChallengeS256(done.codeVerifier),
        storedAfterComplete,
        wrong: await post(wrong.toString()),
        missing: await post(missing.toString()),
        right: await post(done.tokenRequest.body),
      };
    }, STORAGE_KEY);

    assert.equal(outcome.storedAfterComplete, null, "completeAuthorization removed the transaction");
    assert.equal(outcome.challengeOfVerifier, new URL(start.url).searchParams.get("code_challenge"));
    assert.equal(outcome.wrong.status, 400);
    assert.equal(outcome.wrong.json.error, "invalid_grant");
    assert.equal(outcome.missing.status, 400);
    assert.equal(outcome.missing.json.error, "invalid_grant");
    // The same code is still redeemable with the right verifier: the refusals were about the verifier.
    assert.equal(outcome.right.status, 200);
    const { payload } = await jwtVerify(outcome.right.json.access_token, jwks, {
      issuer: op.issuer,
      audience: op.audience,
      algorithms: ["RS256"],
    });
    assert.equal(payload.sub, USER);
  } finally {
    await context.close();
  }
});
